import Glibc
import KilnTestSupport
import Testing

/// `kiln exec` caches one build step run from a script or a Makefile.
@Suite struct ExecTests {
  @Test func execRunsOnceUntilTheInputChanges() throws {
    // A build file anchors the workspace root here (exec does not read its tasks).
    let p = try TempProject([
      "kiln.yml": "tasks:\n  noop:\n    run: \"true\"\n",
      "a.txt": "hello\n",
    ])
    let args = ["exec", "--in", "a.txt", "--out", "b.txt", "--", "sh", "-c", "echo x >> .runs/exec; tr a-z A-Z < a.txt > b.txt"]
    let first = try p.kiln(args)
    #expect(first.status == 0, "\(first)")
    #expect(p.read("b.txt") == "HELLO\n")
    let second = try p.kiln(args)
    #expect(second.status == 0, "\(second)")
    #expect(p.runs("exec") == 1)

    try p.write("a.txt", "world\n")
    #expect(try p.kiln(args).status == 0)
    #expect(p.runs("exec") == 2)
    #expect(p.read("b.txt") == "WORLD\n")

    // Back to the first input: a cache hit.
    try p.write("a.txt", "hello\n")
    #expect(try p.kiln(args).status == 0)
    #expect(p.runs("exec") == 2)
    #expect(p.read("b.txt") == "HELLO\n")
  }

  @Test func execPassesOnTheCommandsFailure() throws {
    let p = try TempProject(["kiln.yml": "tasks:\n  noop:\n    run: \"true\"\n", "a.txt": "x\n"])
    let args = ["exec", "--in", "a.txt", "--out", "b.txt", "--", "sh", "-c", "echo x >> .runs/exec; exit 3"]
    let r = try p.kiln(args)
    #expect(r.status != 0, "\(r)")
    #expect(try p.kiln(args).status != 0)
    #expect(p.runs("exec") == 2)
  }

  @Test func fortyExecsAtOnceInOneFolderAllSucceedAndNoneWaitsForTheCheckout() throws {
    var files: [String: String] = [:]
    for i in 0..<40 { files["in\(i).txt"] = "\(i)\n" }
    let p = try TempProject(files)
    // Each step sleeps while it runs: with a checkout-wide lock they ran one after the
    // other and 39 printed "waiting for another kiln"; now they overlap.
    func start() throws -> [RunningKiln] {
      try (0..<40).map { i in
        try p.start(["exec", "--in", "in\(i).txt", "--out", "out\(i).txt", "--", "sh", "-c",
                     "echo x >> .runs/step\(i); date +%s%N > .runs/start\(i); sleep 0.2; cp in\(i).txt out\(i).txt; "
                       + "date +%s%N > .runs/end\(i)"])
      }
    }
    for (i, r) in try start().map({ $0.wait() }).enumerated() {
      #expect(r.status == 0 && r.stderr.isEmpty, "step \(i): \(r)")
      #expect(p.read("out\(i).txt") == "\(i)\n")
    }
    // They overlapped: some step started before another had ended (a lock that says
    // nothing would make each start after the one before it ended).
    func time(_ name: String) -> Int? { p.read(".runs/" + name).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }
    let spans = (0..<40).compactMap { i in time("start\(i)").flatMap { s in time("end\(i)").map { (s, $0) } } }
    #expect(spans.count == 40)
    let sorted = spans.sorted { $0.0 < $1.0 }
    #expect(zip(sorted, sorted.dropFirst()).contains { $1.0 < $0.1 }, "no two steps ran at the same time: \(sorted)")
    for i in 0..<40 { p.remove("out\(i).txt") }
    // All restored, none ran again.
    for (i, r) in try start().map({ $0.wait() }).enumerated() {
      #expect(r.status == 0 && r.stderr.isEmpty, "step \(i), again: \(r)")
      #expect(p.read("out\(i).txt") == "\(i)\n")
      #expect(p.runs("step\(i)") == 1)
    }
    // Counted with the launcher's calls.
    let stats = try p.kiln("cache", "stats", "--json")
    stats.expectSuccess()
    #expect(stats.stdout.contains("\"exec_restored\":40"), "\(stats)")
  }

  @Test func aCompileWithNothingDeclaredGoesToTheLauncher() throws {
    let p = try TempProject(["a.c": "int f(void) { return 4; }\n"])
    usleep(100_000)  // a source written within 50 ms of a compile is not stored (StatTrust)
    try p.kiln("exec", "--", "gcc", "-c", "a.c", "-o", "a.o").expectSuccess()
    let first = try #require(p.bytes("a.o"))
    p.remove("a.o")
    try p.kiln("exec", "--", "gcc", "-c", "a.c", "-o", "a.o").expectSuccess()
    #expect(p.bytes("a.o") == first)
    let stats = try p.kiln("cache", "stats", "--json")
    #expect(stats.stdout.contains("\"direct_hits\":1") && stats.stdout.contains("\"misses\":1"), "\(stats)")
  }
}
