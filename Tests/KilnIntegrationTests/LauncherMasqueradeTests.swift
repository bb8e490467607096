import Foundation
import KilnTestSupport
import Testing

/// kiln under a compiler's name: a folder of links (`gcc`, `cc` -> kiln) first on PATH.
/// kiln then runs the next file of that name on PATH that is not kiln itself, and says
/// in one line, with status 127, when there is none.
@Suite struct LauncherMasqueradeTests {
  /// `folder/NAME -> kiln` for each name.
  static func links(_ p: LauncherProject, _ folder: String, _ names: [String]) throws {
    try p.mkdir(folder)
    for name in names {
      try FileManager.default.createSymbolicLink(atPath: p.absolute(folder + "/" + name),
                                                 withDestinationPath: LauncherProject.kiln)
    }
  }

  /// The links first, then the counting compiler's folder (its `gcc`), then the system.
  static func path(_ p: LauncherProject, _ folders: [String]) -> [String: String] {
    ["PATH": (folders.map(p.absolute) + ["/usr/bin", "/bin"]).joined(separator: ":")]
  }

  @Test func makeWithTheLinksFirstOnPathCaches() throws {
    let p = try LauncherProject()
    try Self.links(p, "mask", ["gcc", "cc"])
    let env = Self.path(p, ["mask", "tools"])
    try p.make(["CC=gcc"], environment: env)
    #expect(p.compiles.count == 4, "the real compiler (the next gcc on PATH) compiled")
    #expect(p.counts(since: 0) == ["miss": 4, "uncacheable": 1], "\(p.outcomesWithReasons)")
    let objects = p.files(under: "obj", endingIn: ".o")
    try p.rebuild(["CC=gcc"], environment: env)
    #expect(p.compiles.count == 4, "restored")
    #expect(p.counts(since: 5) == ["direct": 4, "uncacheable": 1], "\(p.outcomesWithReasons)")
    #expect(p.files(under: "obj", endingIn: ".o") == objects)
    #expect(try p.run("./app", []).stdout == "27\n")
  }

  @Test func twoFoldersOfLinksAreBothSkipped() throws {
    let p = try LauncherProject()
    try Self.links(p, "mask", ["gcc"])
    try Self.links(p, "mask2", ["gcc"])
    try p.make(["CC=gcc"], environment: Self.path(p, ["mask", "mask2", "tools"]))
    #expect(p.compiles.count == 4)
    #expect(p.counts(since: 0) == ["miss": 4, "uncacheable": 1], "\(p.outcomesWithReasons)")
  }

  @Test func aLinkWithoutARealCompilerOnPathSaysSoInOneLine() throws {
    let p = try LauncherProject()
    try Self.links(p, "mask", ["gcc", "x86_64-linux-gnu-gcc-99"])
    for (name, folders) in [("x86_64-linux-gnu-gcc-99", ["mask", "tools"]), ("gcc", ["mask"])] {
      // Only kiln's link has this name (the system folders are on PATH, but no gcc
      // there for the second case).
      var env = Self.path(p, folders)
      if name == "gcc" { env["PATH"] = p.absolute("mask") }
      let r = try p.run(name, ["-c", "src/a.c", "-o", "a.o"], environment: env, timeout: 20)
      #expect(r.status == 127, "\(name): \(r)")
      #expect(r.stderrLines.count == 1, "\(name): \(r)")
      #expect(r.stderrLines.first?.contains(name) == true, "\(name): \(r)")
      #expect(r.stdout.isEmpty)
      #expect(!p.exists("a.o"))
    }
    #expect(p.compilerCalls.isEmpty)
  }

  @Test func kilnGccWithTheLinksFirstOnPathDoesNotRecurse() throws {
    let p = try LauncherProject()
    try Self.links(p, "mask", ["gcc", "cc"])
    try p.mkdir("obj")
    let env = Self.path(p, ["mask", "tools"])
    let r = try p.run(LauncherProject.kiln, ["gcc", "-Iinclude", "-c", "src/a.c", "-o", "obj/a.o"], environment: env,
                      timeout: 20)
    #expect(r.status == 0, "\(r)")
    #expect(p.compiles.count == 1, "the counting gcc, once")
    #expect(p.exists("obj/a.o"))
    // The link itself named as the compiler: kiln refuses it rather than call itself.
    let itself = try p.run(LauncherProject.kiln, [p.absolute("mask/gcc"), "-c", "src/a.c", "-o", "obj/b.o"],
                           environment: env, timeout: 20)
    #expect(itself.status == 127, "\(itself)")
    #expect(itself.stderrLines.count == 1, "\(itself)")
    #expect(!p.exists("obj/b.o"))
    // A masquerade link called through `kiln --`.
    let dashed = try p.run(LauncherProject.kiln, ["--", "gcc", "-Iinclude", "-c", "src/b.c", "-o", "obj/b.o"],
                           environment: env, timeout: 20)
    #expect(dashed.status == 0, "\(dashed)")
    #expect(p.exists("obj/b.o"))
    #expect(p.compiles.count == 2)
  }
}
