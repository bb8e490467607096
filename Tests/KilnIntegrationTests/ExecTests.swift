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
}
