import Foundation
import KilnTestSupport
import Testing

/// What the launcher runs as it is: the compiler runs once, and its stdout, stderr,
/// exit status and files are exactly those of the same command without kiln. And what
/// a cached compile prints is printed again on a hit, byte for byte; a failed compile
/// is never cached.
@Suite struct LauncherDirectRunTests {
  static let extra: [String: String] = [
    "src/warn.c": "int warn(void) { int unused; return 0; }\n",
    "src/bad.c": "int bad(void) { return undeclared_name; }\n",
    "src/nomain.c": "int helper(void) { return 1; }\n",
  ]

  /// The same command without kiln and with it, in the same folder, the files it
  /// writes removed before each; the files each wrote.
  struct Pair {
    var direct: KilnResult
    var launched: KilnResult
    var directFiles: [String: [UInt8]?]
    var launchedFiles: [String: [UInt8]?]
    var launchedCalls: Int

    func expectSame(_ what: String) {
      #expect(launched.status == direct.status, "\(what): status\n\(launched)\n\(direct)")
      #expect(launched.stdout == direct.stdout, "\(what): stdout")
      #expect(launched.stderr == direct.stderr, "\(what): stderr\n\(launched.stderr)\n---\n\(direct.stderr)")
      #expect(launchedFiles == directFiles, "\(what): files written")
    }
  }

  static func compare(_ p: LauncherProject, _ program: String, _ args: [String], writes: [String],
                      forced: Bool = false) throws -> Pair {
    for f in writes { p.remove(f) }
    let direct = try p.run(program, args)
    let directFiles = Dictionary(uniqueKeysWithValues: writes.map { ($0, p.bytes($0)) })
    for f in writes { p.remove(f) }
    let before = p.compilerCalls.count
    let launched = try p.kiln((forced ? ["--", program] : [program]) + args)
    let launchedFiles = Dictionary(uniqueKeysWithValues: writes.map { ($0, p.bytes($0)) })
    return Pair(direct: direct, launched: launched, directFiles: directFiles, launchedFiles: launchedFiles,
                launchedCalls: p.compilerCalls.count - before)
  }

  @Test func uncacheableCommandsRunOnceExactlyAsWithoutKiln() throws {
    let p = try LauncherProject(extra: Self.extra)
    try p.mkdir("obj")
    let cases: [(String, [String], [String], String)] = [
      ("link", ["-Iinclude", "src/main.c", "src/a.c", "src/b.c", "src/c.c", "-o", "app"], [], "link"),
      ("failing link", ["src/nomain.c", "-o", "app2"], ["app2"], "link"),
      ("-E to stdout", ["-Iinclude", "-E", "src/b.c"], [], "preprocessing only (-E)"),
      ("-M", ["-Iinclude", "-M", "src/b.c"], [], "dependencies only (-M)"),
      ("-MM into a file", ["-Iinclude", "-MM", "src/b.c", "-MF", "obj/b.deps"], ["obj/b.deps"], "dependencies only (-MM)"),
      ("two sources", ["-Iinclude", "-c", "src/a.c", "src/b.c"], ["a.o", "b.o"], "several sources"),
      ("-save-temps", ["-Iinclude", "-save-temps", "-c", "src/a.c", "-o", "obj/a.o"], ["obj/a.o", "obj/a.i", "obj/a.s"],
       "keeps temporary files (-save-temps)"),
      ("--version", ["--version"], [], "no compile (--version)"),
      ("no source", ["-c"], [], "no source"),
      ("missing source", ["-c", "src/missing.c", "-o", "obj/missing.o"], ["obj/missing.o"], "source not readable"),
    ]
    for (what, args, writes, reason) in cases {
      let logged = p.outcomes.count
      let pair = try Self.compare(p, "tools/gcc", args, writes: writes)
      pair.expectSame(what)
      #expect(pair.launchedCalls == 1, "\(what): the compiler ran \(pair.launchedCalls) times under kiln")
      let lines = Array(p.outcomesWithReasons.dropFirst(logged))
      #expect(lines == ["uncacheable: \(reason)"], "\(what)")
    }
    // The link wrote a program that runs.
    #expect(try p.run("./app", []).stdout == "27\n")
  }

  @Test func aProgramThatIsNoCompilerRunsAsItIs() throws {
    let p = try LauncherProject()
    // A word that is not a compiler's name is left to kiln's own parser (a mistyped
    // command); `kiln -- PROGRAM` runs any program through the launcher.
    let mistyped = try p.kiln(["cp", "src/a.c", "copy.c"])
    #expect(mistyped.status == 2 && !p.exists("copy.c"), "\(mistyped)")
    let copy = try Self.compare(p, "cp", ["src/a.c", "copy.c"], writes: ["copy.c"], forced: true)
    copy.expectSame("kiln cp")
    #expect(p.bytes("copy.c") == p.bytes("src/a.c"))
    let missing = try Self.compare(p, "cp", ["no-such-file", "copy2.c"], writes: ["copy2.c"], forced: true)
    missing.expectSame("kiln cp of a missing file")
    #expect(missing.launched.status == 1)
    let script = ["-c", "echo out; echo err >&2; exit 3"]
    let sh = try Self.compare(p, "sh", script, writes: [], forced: true)
    sh.expectSame("kiln sh -c")
    #expect(sh.launched.status == 3 && sh.launched.stdout == "out\n" && sh.launched.stderr == "err\n")
    #expect(p.outcomesWithReasons == ["uncacheable: not gcc or clang (cp)", "uncacheable: not gcc or clang (cp)",
                                      "uncacheable: not gcc or clang (sh)"])
  }

  @Test func aCompileWithWarningsPrintsThemOnAHitToo() throws {
    let p = try LauncherProject(extra: Self.extra)
    try p.mkdir("obj")
    let args = ["-Wall", "-c", "src/warn.c", "-o", "obj/warn.o"]
    let cold = try Self.compare(p, "tools/gcc", args, writes: ["obj/warn.o"])
    cold.expectSame("cold compile with a warning")
    #expect(cold.launched.stderr.contains("unused variable"), "\(cold.launched)")
    #expect(p.outcomes == ["miss"])

    let compiles = p.compiles.count
    let hit = try Self.compare(p, "tools/gcc", args, writes: ["obj/warn.o"])
    hit.expectSame("hit with a warning")
    #expect(p.compiles.count == compiles + 1, "only the direct run compiled")
    #expect(hit.launchedCalls == 0, "restored")
    #expect(p.outcomes == ["miss", "direct"])
  }

  @Test func aFailingCompileIsPassedOnAndNeverCached() throws {
    let p = try LauncherProject(extra: Self.extra)
    try p.mkdir("obj")
    let args = ["-c", "src/bad.c", "-o", "obj/bad.o"]
    let first = try Self.compare(p, "tools/gcc", args, writes: ["obj/bad.o"])
    first.expectSame("failing compile")
    #expect(first.launched.status == 1)
    #expect(first.launched.stderr.contains("undeclared_name"))
    let compiles = p.compiles.count
    let second = try p.kiln(["tools/gcc"] + args)
    #expect(second.status == 1)
    #expect(second.stderr == first.direct.stderr)
    #expect(p.compiles.count == compiles + 1, "it ran again")
    #expect(!p.exists("obj/bad.o"))
    #expect(p.outcomesWithReasons == ["failed: exit 1", "failed: exit 1"])
  }

  @Test func aMissingHeaderFailsAsTheCompilerSaysIt() throws {
    let p = try LauncherProject(extra: ["src/nohdr.c": "#include \"no-such-header.h\"\nint x;\n"])
    try p.mkdir("obj")
    let pair = try Self.compare(p, "tools/gcc", ["-c", "src/nohdr.c", "-o", "obj/nohdr.o"], writes: ["obj/nohdr.o"])
    pair.expectSame("missing header")
    #expect(pair.launched.status == 1)
    // The -E that failed is not shown; the compile's own message is, once.
    #expect(pair.launched.stderr.components(separatedBy: "no-such-header.h").count == pair.direct.stderr
      .components(separatedBy: "no-such-header.h").count)
  }

  @Test func theCompilersStatusAndStdoutPassThroughOnACachedCompile() throws {
    // -S -o - is refused; -S to a file is cached and prints nothing.
    let p = try LauncherProject()
    let pair = try Self.compare(p, "tools/gcc", ["-Iinclude", "-S", "src/a.c", "-o", "a.s"], writes: ["a.s"])
    pair.expectSame("-S")
    let again = try Self.compare(p, "tools/gcc", ["-Iinclude", "-S", "src/a.c", "-o", "a.s"], writes: ["a.s"])
    again.expectSame("-S from the cache")
    #expect(again.launchedCalls == 0)
    let stdout = try Self.compare(p, "tools/gcc", ["-Iinclude", "-S", "src/a.c", "-o", "-"], writes: [])
    stdout.expectSame("-S -o -")
    #expect(stdout.launched.stdout.contains(".globl\ta"))
    #expect(p.outcomesWithReasons.last == "uncacheable: output on stdout (-o -)")
  }
}
