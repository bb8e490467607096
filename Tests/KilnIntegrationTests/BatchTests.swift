#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KilnTestSupport
import Testing

/// `batch:` on a foreach task: the instances that must run share as few commands as
/// there are job slots (or `batch: N` items each), every instance keeps its own key,
/// cache entry and verdict, and a failing batch is split until the failing items are
/// named. The checker records one line per command it ran: the items it was given.
@Suite struct BatchTests {
  /// Per item: "BAD" fails it (exit 1 for the command), "WARN" prints a warning naming
  /// it, "NOOUT" passes without writing its output.
  static let checker = """
    echo "$*" >> .runs/check
    status=0
    for f in "$@"; do
      if grep -q BAD "$f"; then echo "$f:1: bad line" >&2; status=1; continue; fi
      if grep -q WARN "$f"; then echo "$f:1: warning: suspicious"; fi
      if grep -q NOOUT "$f"; then continue; fi
      mkdir -p out && echo "checked $f" > "out/$(basename "$f" .txt).ok"
    done
    exit $status
    """

  static func project(items: Int, batch: String = "true", contents: [Int: String] = [:]) -> [String: String] {
    var files = [
      "check.sh": checker,
      "kiln.yml": """
        tasks:
          check:
            foreach: src/*.txt
            batch: \(batch)
            inputs: [check.sh]
            outputs: out/{stem}.ok
            run: sh check.sh {in}
        hooks:
          pre-commit: [check]
        """,
    ]
    for i in 1...items { files["src/f\(i < 10 ? "0" : "")\(i).txt"] = contents[i] ?? "item \(i)\n" }
    return files
  }

  /// The commands the checker ran, each as its list of items.
  func batches(_ p: TempProject) -> [[String]] {
    p.runLines("check").map { $0.split(separator: " ").map(String.init) }
  }

  @Test func theInstancesThatMustRunShareOneCommandPerJobSlot() throws {
    let p = try TempProject(Self.project(items: 12))
    let cold = try p.kiln("build", "-j3")
    #expect(cold.status == 0, "\(cold)")
    #expect(cold.output.contains("12 ran"), "\(cold)")
    let runs = batches(p)
    #expect(runs.count == 3, "three slots, three commands: \(runs)")
    #expect(runs.map(\.count) == [4, 4, 4], "\(runs)")
    #expect(Set(runs.flatMap { $0 }).count == 12, "every item in exactly one batch: \(runs)")
    for i in 1...12 { #expect(p.exists("out/f\(i < 10 ? "0" : "")\(i).ok")) }

    let again = try p.kiln("build", "-j3")
    #expect(again.output.contains("12 up to date"), "\(again)")
    #expect(batches(p).count == 3)

    // Each instance has its own cache entry: a fresh checkout restores all twelve.
    let other = try p.clone()
    let restored = try other.kiln("build", "-j3")
    #expect(restored.status == 0, "\(restored)")
    #expect(restored.output.contains("12 restored"), "\(restored)")
    #expect(batches(other).isEmpty, "nothing ran: \(batches(other))")
    #expect(other.read("out/f07.ok") == "checked src/f07.txt\n")
  }

  @Test func onlyTheEditedItemsRunAndTheyRunTogether() throws {
    let p = try TempProject(Self.project(items: 10))
    #expect(try p.kiln("build", "-j2").status == 0)
    try p.write("src/f03.txt", "edited 3\n")
    try p.write("src/f08.txt", "edited 8\n")
    try p.write("src/f09.txt", "edited 9\n")
    let r = try p.kiln("build", "-j1")
    #expect(r.status == 0, "\(r)")
    #expect(r.output.contains("3 ran"), "\(r)")
    #expect(batches(p).last == ["src/f03.txt", "src/f08.txt", "src/f09.txt"], "one slot, one command: \(batches(p))")
  }

  @Test func aNumberBoundsTheItemsPerCommand() throws {
    let p = try TempProject(Self.project(items: 11, batch: "4"))
    let r = try p.kiln("build", "-j2")
    #expect(r.status == 0, "\(r)")
    let runs = batches(p)
    #expect(runs.allSatisfy { $0.count <= 4 }, "\(runs)")
    #expect(runs.count == 3, "11 items, at most 4 each: \(runs)")
    #expect(runs.flatMap { $0 }.sorted() == (1...11).map { "src/f\($0 < 10 ? "0" : "")\($0).txt" })
  }

  @Test func aFailingBatchIsSplitUntilTheFailingItemIsNamedAndThePassingOnesAreKept() throws {
    let p = try TempProject(Self.project(items: 8, contents: [5: "BAD\n"]))
    let r = try p.kiln("build", "-j1")
    #expect(r.status == 1, "\(r)")
    #expect(r.output.contains("FAILED: check src/f05.txt"), "\(r)")
    #expect(r.output.contains("src/f05.txt:1: bad line"), "the item's own output: \(r)")
    #expect(!r.output.contains("FAILED: check src/f04.txt"), "\(r)")
    #expect(r.output.contains("7 ran") && r.output.contains("1 failed"), "\(r)")
    let runs = batches(p)
    #expect(runs.first?.count == 8, "\(runs)")
    // Halves: 8, then 4 + 4, then 2 + 2 of the failing half, then 1 + 1: 7 commands.
    #expect(runs.count == 7, "\(runs)")
    #expect(runs.last == ["src/f06.txt"] || runs.contains(["src/f05.txt"]), "\(runs)")
    #expect(!p.exists("out/f05.ok"))
    for i in [1, 2, 3, 4, 6, 7, 8] { #expect(p.exists("out/f0\(i).ok"), "f0\(i) passed and is kept") }

    // The passing items were recorded: only the failing one runs again.
    let again = try p.kiln("build", "-j1")
    #expect(again.status == 1, "\(again)")
    #expect(batches(p).last == ["src/f05.txt"], "\(batches(p))")
    #expect(batches(p).count == 8)

    try p.write("src/f05.txt", "fixed\n")
    let fixed = try p.kiln("build", "-j1")
    #expect(fixed.status == 0, "\(fixed)")
    #expect(fixed.output.contains("1 ran") && fixed.output.contains("7 up to date"), "\(fixed)")
  }

  @Test func keepGoingRunsEveryBatchAndNamesEveryFailure() throws {
    let p = try TempProject(Self.project(items: 9, contents: [2: "BAD\n", 9: "BAD\n"]))
    let r = try p.kiln("build", "-k", "-j2")
    #expect(r.status == 1, "\(r)")
    #expect(r.output.contains("FAILED: check src/f02.txt"), "\(r)")
    #expect(r.output.contains("FAILED: check src/f09.txt"), "\(r)")
    #expect(r.output.contains("7 ran") && r.output.contains("2 failed"), "\(r)")
  }

  @Test func anItemWhoseOutputTheBatchDidNotWriteFailsAlone() throws {
    let p = try TempProject(Self.project(items: 6, contents: [3: "NOOUT\n"]))
    let r = try p.kiln("build", "-j1", "-k")
    #expect(r.status == 1, "\(r)")
    #expect(r.output.contains("FAILED: check src/f03.txt"), "\(r)")
    #expect(r.output.contains("out/f03.ok"), "names the missing output: \(r)")
    #expect(batches(p).count == 1, "exit 0: nothing to split: \(batches(p))")
    #expect(r.output.contains("5 ran"), "\(r)")
  }

  @Test func anItemsWarningIsItsOwnAndIsReplayedWhenRestored() throws {
    let p = try TempProject(Self.project(items: 6, contents: [4: "WARN\n"]))
    let r = try p.kiln("build", "-j1")
    #expect(r.status == 0, "\(r)")
    #expect(r.output.contains("src/f04.txt:1: warning: suspicious"), "\(r)")
    let other = try p.clone()
    let restored = try other.kiln("build", "-j1")
    #expect(restored.output.contains("6 restored"), "\(restored)")
    #expect(restored.output.contains("src/f04.txt:1: warning: suspicious"), "replayed: \(restored)")
    let lines = restored.output.split(separator: "\n").filter { $0.contains("warning: suspicious") }
    #expect(lines.count == 1, "once, not once per item: \(restored)")
  }

  @Test func aBatchedResultIsNotTakenForAnUnbatchedOne() throws {
    let p = try TempProject(Self.project(items: 4))
    #expect(try p.kiln("build").status == 0)
    try p.write("kiln.yml", try #require(p.read("kiln.yml")).replacingOccurrences(of: "    batch: true\n", with: ""))
    let r = try p.kiln("build", "-j1")
    #expect(r.output.contains("4 ran"), "another step, another key: \(r)")
    #expect(batches(p).suffix(4).allSatisfy { $0.count == 1 }, "\(batches(p))")
  }

  @Test func aDryRunRunsNothing() throws {
    let p = try TempProject(Self.project(items: 5))
    let r = try p.kiln("build", "-n")
    #expect(r.status == 0, "\(r)")
    #expect(batches(p).isEmpty)
    #expect(!p.exists("out"))
  }

  @Test func theHookNamesTheStagedFileEachFailingItemConcerns() throws {
    let p = try TempProject(Self.project(items: 6))
    try p.write(".gitignore", ".kiln/\nout/\n.runs/\n")
    _ = try p.initGitRepository()
    #expect(try p.kiln("hooks", "install").status == 0)
    try p.write("src/f02.txt", "BAD\n")
    try p.write("src/f05.txt", "BAD too\n")
    try p.write("src/f06.txt", "fine\n")
    try p.checkout.git("add", "src")
    var env = Git.environment
    env["KILN_CACHE_DIR"] = p.cache.path
    env["KILN_WORKSPACE"] = ""
    let commit = try Program.run("/usr/bin/git", ["commit", "-q", "-m", "x"], in: p.root, environment: env)
    #expect(commit.status != 0, "\(commit)")
    #expect(commit.output.contains("kiln: hooks: check src/f02.txt: concerns src/f02.txt"), "\(commit)")
    #expect(commit.output.contains("kiln: hooks: check src/f05.txt: concerns src/f05.txt"), "\(commit)")
    #expect(!commit.output.contains("check src/f06.txt: concerns"), "\(commit)")
  }

  /// Ctrl-C during a batch: exit 130, the batch is not split and run again, and no item
  /// is recorded, so the next build runs them all.
  @Test func anInterruptedBatchIsNeitherSplitNorRecorded() throws {
    var files = Self.project(items: 4)
    files["check.sh"] = "if [ -f slow ]; then echo \"$*\" >> .runs/check; touch .runs/started; sleep 30; fi\n" + Self.checker
    files["slow"] = ""
    let p = try TempProject(files)
    let running = try p.start(["build", "-j1"], timeout: 60)
    #expect(TempProject.waitUntil(seconds: 20) { p.exists(".runs/started") }, "the batch never started")
    running.send(SIGINT)
    let r = running.wait()
    #expect(r.status == 130, "\(r)")
    #expect(batches(p).count == 1, "not split after an interrupt: \(batches(p))")
    p.remove("slow")
    let again = try p.kiln("build", "-j1")
    #expect(again.status == 0, "\(again)")
    #expect(again.output.contains("4 ran"), "nothing was recorded: \(again)")
  }
}
