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

  /// Runs a program (not kiln) in the project and waits.
  static func run(_ p: TempProject, _ argv: [String], environment: [String: String] = [:]) throws -> KilnResult {
    try Program.run(argv[0], Array(argv.dropFirst()), in: p.root,
                    environment: ["KILN_CACHE_DIR": p.cache.path].merging(environment) { $1 })
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
    if let promtool = TestTools.promtool {
      try p.write("metrics.prom", prom.stdout)
      let checked = try Self.run(p, ["/bin/sh", "-c", "\"$0\" check metrics < metrics.prom", promtool])
      #expect(checked.status == 0, "promtool: \(checked)")
    } else {
      Issue.record("promtool not found: `make test` extracts it into .build/test-tools")
    }

    try p.kiln("stats", "--html", "report.html").expectSuccess()
    let page = try #require(p.read("report.html"))
    #expect(page.hasPrefix("<!DOCTYPE html>") && page.contains("direct hits</th><td>1<"), "\(page)")

    // ccache -z: the counts go, the entries stay (the next call is still a hit).
    try p.kiln("cache", "stats", "--zero").expectSuccess()
    let none = try p.kiln("stats")
    #expect(none.status == 2 && none.stderrLines == [
      "kiln: stats: no kiln.yml here, and no compiler launcher or kiln exec call recorded for \(p.root) (since the counts were last cleared)",
    ], "\(none)")
    p.remove("b.o")
    try p.kiln("gcc", "-c", "b.c", "-o", "b.o").expectSuccess()
    #expect(try p.kiln("cache", "stats", "--json").stdout.contains("\"calls\":1,\"hits\":1"))
  }

  /// Compiles `source` `times` times through `kiln gcc`, the object removed before each.
  static func compileRepeatedly(_ p: TempProject, _ source: String, _ object: String, times: Int) throws {
    usleep(120_000)  // older than the launcher's race window, so it may be stored
    for _ in 0..<times {
      p.remove(object)
      try p.kiln("gcc", "-c", source, "-o", object).expectSuccess()
    }
  }

  /// The outcomes the launcher logged, in order.
  static func outcomes(_ p: TempProject) -> [String] {
    (p.read(p.cache.path + "/launcher/log") ?? "").split(separator: "\n").map { String($0.split(separator: "\t")[2]) }
  }

  @Test func aSourceNamingTheDateNeverGetsADirectEntryEvenFromAPreprocessedHit() throws {
    // The preprocessed text holds today's date, so it keys the object; a direct entry
    // (source and header bytes) would serve yesterday's date tomorrow.
    let p = try TempProject(["d.c": "const char *built = __DATE__;\n"])
    try Self.compileRepeatedly(p, "d.c", "d.o", times: 3)
    #expect(Self.outcomes(p) == ["miss", "preprocessed", "preprocessed"])
  }

  @Test func aSourceWithLineMarkersNamingAbsentFilesIsStillCached() throws {
    // bison's and flex's output: `#line` names the grammar, which is not here.
    let p = try TempProject(["y.c": "#line 1 \"grammar/parser.y\"\nint parse(void) { return 0; }\n"])
    try Self.compileRepeatedly(p, "y.c", "y.o", times: 2)
    // No direct entry (it could not list what the compile read): the second call is a
    // preprocessor-mode hit.
    #expect(Self.outcomes(p) == ["miss", "preprocessed"])
  }

  @Test func aDamagedEntryIsAMissThatStatsName() throws {
    let p = try TempProject(["a.c": "int f(void) { return 1; }\n"])
    usleep(120_000)
    try p.kiln("gcc", "-c", "a.c", "-o", "a.o").expectSuccess()
    let want = try #require(p.bytes("a.o"))
    // Every action entry of the cache gets one byte flipped.
    #expect(!CacheEntries.all(in: p.cache.path).isEmpty)
    try CacheEntries.rewriteAll(in: p.cache.path) { _, bytes in bytes[bytes.count - 1] ^= 0xFF }
    p.remove("a.o")
    try p.kiln("gcc", "-c", "a.c", "-o", "a.o").expectSuccess()
    #expect(p.bytes("a.o") == want)
    let stats = try p.kiln("cache", "stats")
    #expect(stats.stdout.contains("miss: cache entry damaged, deleted  1"), "\(stats)")
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

extension LauncherStatsAndRaceTests {
  @Test func anotherWrappersMasqueradeFolderBesideKilnsEndsAtTheRealCompiler() throws {
    // A wrapper that, like ccache's /usr/lib/ccache, runs the next `gcc` on PATH after
    // its own folder. Beside kiln's link, each found the other for ever (100% CPU, no
    // word) until kiln passed down the compilers chosen above it.
    let wrapper = """
      #!/bin/sh
      echo x >> "$RUNS/wrapper"
      self=$(cd "$(dirname "$0")" && pwd)
      IFS=:
      for d in $PATH; do
        [ "$d" = "$self" ] && continue
        [ -x "$d/gcc" ] && exec "$d/gcc" "$@"
      done
      exit 127

      """
    let p = try TempProject(["a.c": "int f(void) { return 1; }\n", "wrap/gcc": wrapper], executable: ["wrap/gcc"])
    try FileManager.default.createDirectory(atPath: p.root + "/kbin", withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: p.root + "/kbin/gcc", withDestinationPath: TempProject.kilnBinary)
    try FileManager.default.createDirectory(atPath: p.root + "/.runs", withIntermediateDirectories: true)
    usleep(120_000)
    for order in ["kbin:wrap", "wrap:kbin"] {
      let path = order.split(separator: ":").map { p.root + "/" + $0 }.joined(separator: ":") + ":/usr/bin:/bin"
      p.remove("a.o")
      let r = try Self.run(p, ["/usr/bin/env", "gcc", "-O1", "-c", "a.c", "-o", "a.o"],
                           environment: ["PATH": path, "RUNS": p.root + "/.runs"])
      #expect(r.status == 0 && r.stderr.isEmpty, "\(order): \(r)")
      #expect(p.exists("a.o"), "\(order)")
    }
    // The wrapper ran a bounded number of times (twice per call at most: a compile and
    // kiln's -E, or once and once through kiln again), never in a loop.
    #expect(p.runs("wrapper") <= 6, "\(p.runs("wrapper"))")
    let stats = try p.kiln("cache", "stats", "--json")
    #expect(stats.stdout.contains("\"calls\":2"), "\(stats)")
  }

  @Test func coloursAskedForOnATerminalAreNotReplayedElsewhere() throws {
    // `script` gives the call a terminal: kiln asks gcc for colour, and stores the
    // coloured warnings; replayed to a pipe, they come out as gcc writes them there.
    // (NO_COLOR, which the test runner may set, would turn colour off.)
    let p = try TempProject(["w.c": "int w(void) { int unused; return 0; }\n"])
    usleep(120_000)
    let kiln = TempProject.kilnBinary
    let onTerminal = try Self.run(p, ["/usr/bin/script", "-qec", "env -u NO_COLOR \(kiln) gcc -Wall -c w.c -o w.o", "/dev/null"])
    #expect(onTerminal.status == 0 && onTerminal.stdout.contains("\u{1B}["), "\(onTerminal)")
    let plain = try Self.run(p, ["/usr/bin/gcc", "-Wall", "-c", "w.c", "-o", "plain.o"])
    p.remove("w.o")
    let hit = try p.kiln("gcc", "-Wall", "-c", "w.c", "-o", "w.o")
    hit.expectSuccess()
    #expect(hit.stderr == plain.stderr.replacingOccurrences(of: "plain.o", with: "w.o"), "\(hit)")
    #expect(!hit.stderr.contains("\u{1B}"))
    #expect(p.bytes("w.o") == p.bytes("plain.o"))
    // The command's own colour flag is the command's: replayed as stored.
    let forced = try p.kiln("gcc", "-fdiagnostics-color=always", "-Wall", "-c", "w.c", "-o", "w.o")
    #expect(forced.stderr.contains("\u{1B}["), "\(forced)")
  }
}
