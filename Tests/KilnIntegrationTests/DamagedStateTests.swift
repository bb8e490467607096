import Foundation
import KilnStore
import KilnTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `.kiln/state.db` is derived state (issue 12, item 17): a damaged one (garbage, cut
/// short, a table gone) is moved aside to `state.db.damaged-<time>` with one line on
/// stderr, and the build goes on: outputs come back from the cache, nothing reruns.
/// Before, every command exited 2 until `.kiln/` was deleted by hand.
@Suite struct DamagedStateTests {
  static let buildFile = """
    tasks:
      upper:
        foreach: "src/*.txt"
        outputs: out/{stem}.txt
        run: echo {in} >> .runs/upper && tr a-z A-Z < {in} > {out}
    """

  /// A built project whose outputs are then deleted, and whose manifest is all in the
  /// main file (checkpointed, no WAL), ready to be damaged.
  func builtProject() throws -> TempProject {
    let files = Dictionary(uniqueKeysWithValues: (0..<40).map { ("src/f\($0).txt", "file \($0)\n") })
    let p = try TempProject(files.merging(["kiln.yml": Self.buildFile]) { a, _ in a })
    #expect(try p.kiln("build").status == 0)
    #expect(p.runs("upper") == 40)
    let db = try Database(path: p.root + "/.kiln/state.db")
    try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    p.remove("out")
    p.remove(".kiln/state.snapshot")
    p.remove(".kiln/state.db-wal")
    p.remove(".kiln/state.db-shm")
    return p
  }

  func expectRecovered(_ p: TempProject, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(what): \(r)", sourceLocation: sourceLocation)
    let said = r.stderrLines.filter { $0.contains("was damaged") }
    #expect(said.count == 1 && said[0].contains(".kiln/state.db") && said[0].contains("moved it aside to .kiln/state.db.damaged-"),
            "\(what): \(r)", sourceLocation: sourceLocation)
    #expect(r.stdout.contains("40 restored"), "\(what): outputs restored, not rerun: \(r)", sourceLocation: sourceLocation)
    #expect(p.runs("upper") == 40, "\(what): nothing reran", sourceLocation: sourceLocation)
    #expect(p.read("out/f7.txt") == "FILE 7\n", sourceLocation: sourceLocation)
    let aside = (try? FileManager.default.contentsOfDirectory(atPath: p.root + "/.kiln")) ?? []
    #expect(aside.contains { $0.hasPrefix("state.db.damaged-") && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") },
            "\(what): \(aside)", sourceLocation: sourceLocation)
    let again = try p.kiln("build")
    #expect(again.status == 0 && !again.stderr.contains("damaged"), "\(what): said once: \(again)",
            sourceLocation: sourceLocation)
    #expect(try p.kiln("stats").status == 0, sourceLocation: sourceLocation)
  }

  @Test func aGarbageStateDatabaseIsMovedAsideAndTheBuildRestores() throws {
    let p = try builtProject()
    var random = SplitMix64(seed: 12)
    try p.write(".kiln/state.db", bytes: (0..<8192).map { _ in UInt8.random(in: 0...255, using: &random) })
    try expectRecovered(p, "garbage")
  }

  @Test func aTruncatedStateDatabaseIsMovedAsideAndTheBuildRestores() throws {
    let p = try builtProject()
    let path = p.root + "/.kiln/state.db"
    let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    #expect(size > 8192, "a manifest of several pages: \(size)")
    #expect(truncate(path, off_t(size / 2)) == 0)
    try expectRecovered(p, "truncated")
  }

  @Test func aStateDatabaseWithADroppedTableIsMovedAsideAndTheBuildRestores() throws {
    let p = try builtProject()
    do {
      let db = try Database(path: p.root + "/.kiln/state.db")
      try db.execute("DROP TABLE task_records")
    }
    try expectRecovered(p, "dropped table")
  }

  /// Other commands recover too, rather than exiting 2 until `.kiln/` is deleted.
  @Test func statsAfterDamageRecovers() throws {
    let p = try builtProject()
    try p.write(".kiln/state.db", "this is not a database, it is a text file\n" + String(repeating: "x", count: 5000))
    let r = try p.kiln("stats")
    #expect(r.status == 0, "\(r)")
    #expect(r.stderrLines.filter { $0.contains("was damaged") }.count == 1, "\(r)")
  }
}
