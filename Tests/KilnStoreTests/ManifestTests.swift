import Foundation
import KilnCore
import KilnHash
import KilnStore
import KilnSystem
import Testing

/// Store tests on real SQLite files in temporary directories: no fake database.
@Suite struct ManifestTests {
  func tempDir() -> String {
    let dir = NSTemporaryDirectory() + "kiln-store-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
  }

  func record(_ name: String) -> TaskRecord {
    TaskRecord(id: TaskID(task: "compile", item: "src/\(name) x.c"), key: Hasher.digest(name), command: "cc \(name)",
               environment: ["CC=cc"], inputs: [PathDigest("src/\(name).c", Hasher.digest("src"))],
               discovered: [PathDigest("/usr/include/stdio.h", Hasher.digest("h"))],
               outputs: [OutputEntry(path: "build/\(name).o", kind: .file, permissions: 0o755, digest: Hasher.digest("o"))],
               declaredOutputs: ["build/\(name).o"], duration: 1.5)
  }

  @Test func recordsAndStatCacheSurviveReopening() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/state.db"
    do {
      let m = try Manifest(path: path)
      try m.begin()
      try m.putRecord(record("a"), now: 1)
      try m.putRecord(record("b"), now: 1)
      try m.putStat("src/a.c", StatEntry(size: 3, mtime: 10, ctime: 11, inode: 12, digest: Hasher.digest("x"), recorded: 99))
      try m.commit()
    }
    let m = try Manifest(path: path)
    let records = try m.loadRecords()
    #expect(records.count == 2)
    #expect(records[TaskID(task: "compile", item: "src/a x.c")] == record("a"))
    #expect(try m.loadStatCache()["src/a.c"]?.recorded == 99)
    try m.deleteRecord(TaskID(task: "compile", item: "src/a x.c"))
    #expect(try m.loadRecords().count == 1)
  }

  @Test func usesWriteAheadLogging() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let m = try Manifest(path: dir + "/state.db")
    try m.begin()
    try m.putRecord(record("a"), now: 1)
    try m.commit()
    #expect(FileManager.default.fileExists(atPath: dir + "/state.db-wal"))
  }

  /// No database kiln writes ever syncs (derived state and a cache): new or reopened,
  /// WAL at `synchronous=OFF`; what one connection commits another reads.
  @Test func databasesNeverSync() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    func pragma(_ db: Database, _ name: String) throws -> String {
      let s = try db.statement("PRAGMA \(name)")
      #expect(try s.step())
      let value = s.text(0)
      _ = try? s.step()
      return value
    }
    let db = try Database(path: dir + "/new.db")
    #expect(try pragma(db, "synchronous") == "0")
    #expect(try pragma(db, "journal_mode") == "wal")
    try db.execute("CREATE TABLE t(x)")
    let again = try Database(path: dir + "/new.db")
    #expect(try pragma(again, "synchronous") == "0")
    #expect(try pragma(again, "journal_mode") == "wal")
    let m = try Manifest(path: dir + "/state.db")
    try m.begin()
    try m.putRecord(record("a"), now: 1)
    try m.commit()
    let reopened = try Database(path: dir + "/state.db")
    #expect(try pragma(reopened, "synchronous") == "0")
    #expect(try Manifest(path: dir + "/state.db").loadRecords().count == 1)
  }

  @Test func aSchemaMismatchRebuildsDerivedState() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/state.db"
    do {
      let m = try Manifest(path: path)
      try m.putRecord(record("a"), now: 1)
    }
    let db = try Database(path: path)
    try db.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    let reopened = try Manifest(path: path)
    #expect(try reopened.loadRecords().isEmpty)
  }

  @Test func historyRecordsBuildsAndOutcomes() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let m = try Manifest(path: dir + "/state.db")
    var summary = BuildSummary()
    summary.ran = 1
    summary.upToDate = 3
    try m.append(BuildHistoryEntry(
      started: 100, finished: 102, targets: ["app"], workspace: "agent-1", summary: summary,
      upToDate: [.init(task: "link", count: 3, saved: 1.5)],
      outcomes: [OutcomeRow(task: "compile src/a.c", outcome: "ran", reasons: "never built", duration: 2, started: 0, finished: 2)]))
    let id = try #require(try m.lastBuild()).id
    #expect(try m.outcomes(ofBuild: id).map(\.task) == ["compile src/a.c"])
    let last = try #require(try m.lastBuild())
    #expect(last.summary.upToDate == 3)
    #expect(last.summary.hitRate == 0.75)
  }

  @Test func byteEncodingRejectsTruncatedInput() {
    var w = ByteWriter()
    w.string("hello")
    var r = ByteReader(Array(w.bytes.dropLast()))
    #expect(throws: ByteReader.Truncated.self) { try r.string() }
  }

  /// `kiln stats` reads the outcomes and up-to-date rows of the window's builds by a
  /// range of the primary key, never by a scan of the whole history (a year of builds).
  @Test func historyQueriesSearchTheKeyNotScanTheTable() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/state.db"
    _ = try Manifest(path: path)
    let db = try Database(path: path)
    for sql in [Manifest.historyOutcomesSQL, Manifest.historyUpToDateSQL] {
      let plan = try db.statement("EXPLAIN QUERY PLAN " + sql).bind([.integer(1)])
      var details: [String] = []
      while try plan.step() { details.append(plan.text(3)) }
      #expect(details.contains { $0.hasPrefix("SEARCH") && $0.contains("PRIMARY KEY") }, "\(sql): \(details)")
      #expect(!details.contains { $0.hasPrefix("SCAN") }, "\(sql): \(details)")
    }
  }
}
