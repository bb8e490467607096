import Foundation
import KilnTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The launcher with clang, its reports for a project without kiln.yml, and two
/// different compiles racing for one object.
@Suite struct LauncherStatsAndRaceTests {
  /// The first `name` on PATH, or nil.
  static func onPath(_ name: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
      let candidate = "\(dir)/\(name)"
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
  }

  /// Runs a program in the project and waits.
  static func run(_ p: TempProject, _ argv: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: argv[0])
    process.arguments = Array(argv.dropFirst())
    process.currentDirectoryURL = URL(fileURLWithPath: p.root)
    process.environment = TestEnvironment.variables(home: p.home, cache: p.cache.path)
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
  }

  static let source = """
    #include <stdio.h>
    static int twice(int x) { return 2 * x; }
    int shown(int x) { unused: return twice(x); }

    """

  @Test func clangIsCachedLikeGcc() throws {
    // The Swift toolchain ships clang; Debian's clang package is not needed.
    let clang = try #require(Self.onPath("clang"), "clang is not on PATH")
    let p = try TempProject(["a.c": Self.source])
    usleep(120_000)
    // The compile warns (an unused label): the warning is replayed on the hit.
    let plain = try Self.run(p, [clang, "-O2", "-Wall", "-c", "a.c", "-o", "plain.o"])
    #expect(plain.status == 0 && plain.stderr.contains("unused"), "\(plain)")
    let first = try p.kiln("clang", "-O2", "-Wall", "-c", "a.c", "-o", "a.o")
    first.expectSuccess()
    #expect(first.stderr == plain.stderr.replacingOccurrences(of: "plain.o", with: "a.o"))
    p.remove("a.o")
    let second = try p.kiln("clang", "-O2", "-Wall", "-c", "a.c", "-o", "a.o")
    second.expectSuccess()
    #expect(second.stderr == first.stderr)
    #expect(p.bytes("a.o") == p.bytes("plain.o"))
    let stats = try p.kiln("cache", "stats", "--json")
    #expect(stats.stdout.contains("\"direct_hits\":1") && stats.stdout.contains("\"misses\":1"), "\(stats)")
  }

  @Test func statsWithoutKilnYmlInEveryFormAndZero() throws {
    let p = try TempProject(["a.c": Self.source, "b.c": "int b(void) { return 1; }\n"])
    try p.write(".git/HEAD", "ref: refs/heads/main\n")  // a checkout: the project is its root
    usleep(120_000)
    try p.kiln("gcc", "-c", "a.c", "-o", "a.o").expectSuccess()
    p.remove("a.o")
    try p.kiln("gcc", "-c", "a.c", "-o", "a.o").expectSuccess()
    try p.kiln("gcc", "-c", "b.c", "-o", "b.o").expectSuccess()
    // A link: uncacheable, with its reason.
    let link = try p.kiln("gcc", "-shared", "-o", "lib.so", "a.o", "b.o")
    link.expectSuccess()

    let text = try p.kiln("stats")
    text.expectSuccess()
    #expect(text.stdout.contains("compiler launcher and kiln exec in \(p.root): 4 calls"), "\(text)")
    #expect(text.stdout.contains("direct 1, preprocessed 0"), "\(text)")
    #expect(text.stdout.contains("uncacheable: link  1"), "\(text)")

    // From a subfolder: the same project.
    try p.write("sub/keep", "")
    let json = try p.kiln(["stats", "--json"], in: p.root + "/sub")
    json.expectSuccess()
    let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
    #expect(doc["project"] as? String == p.root)
    let launcher = try #require(doc["launcher"] as? [String: Any])
    #expect(launcher["calls"] as? Int == 4)
    #expect(launcher["direct_hits"] as? Int == 1)
    #expect(launcher["misses"] as? Int == 2)
    #expect(launcher["uncacheable"] as? Int == 1)
    #expect((launcher["reasons"] as? [String: Int])?["uncacheable: link"] == 1)

    let prom = try p.kiln("stats", "--prometheus")
    prom.expectSuccess()
    #expect(prom.stdout.contains("kiln_launcher_calls_total{project=\"\(p.root)\",outcome=\"direct\"} 1"), "\(prom)")
    if let promtool = PromtoolLocation.find() {
      let checked = try Self.runWithInput(p, [promtool, "check", "metrics"], input: prom.stdout)
      #expect(checked.status == 0, "promtool: \(checked)")
    } else {
      Issue.record("promtool not found: `make test` extracts it into .build/test-tools")
    }

    try p.kiln("stats", "--html", "report.html").expectSuccess()
    let page = try #require(p.read("report.html"))
    #expect(page.hasPrefix("<!DOCTYPE html>") && page.contains("direct hits</th><td>1<"), "\(page)")

    // ccache -z: the counts go, the entries stay (the next call is still a hit).
    try p.kiln("cache", "stats", "--zero").expectSuccess()
    #expect(try p.kiln("stats").status == 2)
    p.remove("b.o")
    try p.kiln("gcc", "-c", "b.c", "-o", "b.o").expectSuccess()
    #expect(try p.kiln("cache", "stats", "--json").stdout.contains("\"calls\":1,\"hits\":1"))
  }

  static func runWithInput(_ p: TempProject, _ argv: [String], input: String) throws
    -> (status: Int32, stdout: String, stderr: String)
  {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: argv[0])
    process.arguments = Array(argv.dropFirst())
    process.currentDirectoryURL = URL(fileURLWithPath: p.root)
    process.environment = TestEnvironment.variables(home: p.home, cache: p.cache.path)
    let inPipe = Pipe()
    let out = Pipe()
    process.standardInput = inPipe
    process.standardOutput = out
    process.standardError = out
    try process.run()
    inPipe.fileHandleForWriting.write(Data(input.utf8))
    try inPipe.fileHandleForWriting.close()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), "")
  }

  @Test func twoDifferentCompilesWritingOneObjectNeverStoreEachOthersBytes() throws {
    // Two rules of a broken Makefile (or two builds) compile different code into the
    // same object at the same time. Each call holds the object's lock while it
    // compiles and stores, so whatever a later build restores is its own command's.
    let p = try TempProject(["a.c": "int value(void) { return VALUE; }\n"])
    usleep(120_000)
    for round in 0..<6 {
      let one = try p.start(["gcc", "-DVALUE=\(round)", "-c", "a.c", "-o", "a.o"])
      let two = try p.start(["gcc", "-DVALUE=\(round + 100)", "-c", "a.c", "-o", "a.o"])
      #expect(one.wait().status == 0)
      #expect(two.wait().status == 0)
    }
    // Each variant, restored into a fresh object, is what gcc makes of it.
    for round in 0..<6 {
      for value in [round, round + 100] {
        _ = try Self.run(p, ["/usr/bin/gcc", "-DVALUE=\(value)", "-c", "a.c", "-o", "want.o"])
        p.remove("a.o")
        try p.kiln("gcc", "-DVALUE=\(value)", "-c", "a.c", "-o", "a.o").expectSuccess()
        #expect(p.bytes("a.o") == p.bytes("want.o"), "VALUE=\(value)")
      }
    }
  }
}

/// Where promtool is (as PrometheusTests looks for it).
enum PromtoolLocation {
  static func find() -> String? {
    var candidates: [String] = []
    if let given = ProcessInfo.processInfo.environment["KILN_PROMTOOL"], !given.isEmpty { candidates.append(given) }
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().path
    candidates += [packageRoot + "/.build/test-tools/promtool", "/usr/bin/promtool"]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
  }
}
