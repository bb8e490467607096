import Foundation
import KilnStore
import KilnSystem
import Testing

/// A manifest of schema 5 (kiln before issue 17) keeps its history when this kiln opens
/// it: migrated in place to schema 6, its time saved recomputed from restores only; and
/// read as it is when it is another workspace's, opened read-only.
@Suite struct HistoryMigrationTests {
  func tempDir() -> String {
    let dir = NSTemporaryDirectory() + "kiln-migrate-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
  }

  /// The schema-5 tables exactly as kiln wrote them, with two builds: one restored a
  /// 3 s run in 0.5 s (and had 2 instances up to date, 4 s of recorded work, which
  /// schema 5 counted as saved: 7 s); the other had nothing to do (10 s "saved").
  func makeVersion5(_ path: String) throws {
    let db = try Database(path: path)
    try db.execute("""
      CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE stat_cache(
        path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
        ctime INTEGER NOT NULL, inode INTEGER NOT NULL, digest BLOB NOT NULL,
        recorded INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE task_records(
        task_id TEXT PRIMARY KEY, key BLOB NOT NULL, command TEXT NOT NULL,
        environment BLOB NOT NULL, inputs BLOB NOT NULL, discovered BLOB NOT NULL,
        outputs BLOB NOT NULL, declared BLOB NOT NULL, duration REAL NOT NULL,
        updated INTEGER NOT NULL, depfile TEXT, peak_memory INTEGER) WITHOUT ROWID;
      CREATE TABLE builds(
        id INTEGER PRIMARY KEY, started REAL NOT NULL, finished REAL, targets TEXT NOT NULL,
        workspace TEXT, exit_status INTEGER, ran INTEGER NOT NULL DEFAULT 0,
        restored INTEGER NOT NULL DEFAULT 0, up_to_date INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0,
        time_saved REAL NOT NULL DEFAULT 0, wall_time REAL NOT NULL DEFAULT 0);
      CREATE TABLE outcomes(
        build_id INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
        task_id TEXT NOT NULL, outcome TEXT NOT NULL, reasons TEXT NOT NULL,
        duration REAL NOT NULL, started REAL NOT NULL, finished REAL NOT NULL,
        peak_memory INTEGER, reason_kinds TEXT NOT NULL DEFAULT '',
        PRIMARY KEY(build_id, task_id)) WITHOUT ROWID;
      CREATE INDEX outcomes_by_task ON outcomes(task_id);
      CREATE TABLE lifetime_totals(
        workspace TEXT PRIMARY KEY, builds INTEGER NOT NULL, ran INTEGER NOT NULL,
        restored INTEGER NOT NULL, up_to_date INTEGER NOT NULL, failed INTEGER NOT NULL,
        skipped INTEGER NOT NULL, time_saved REAL NOT NULL) WITHOUT ROWID;
      CREATE TABLE up_to_date(
        build_id INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
        task TEXT NOT NULL, count INTEGER NOT NULL, time_saved REAL NOT NULL,
        PRIMARY KEY(build_id, task)) WITHOUT ROWID;
      INSERT INTO meta VALUES ('schema_version', '5');
      INSERT INTO builds VALUES (1, 100, 101, 'app', NULL, 0, 0, 1, 2, 0, 0, 7, 1);
      INSERT INTO outcomes VALUES (1, 'link', 'restored', '', 3, 0.25, 0.75, NULL, '');
      INSERT INTO up_to_date VALUES (1, 'compile', 2, 4);
      INSERT INTO builds VALUES (2, 200, 200.01, 'app', NULL, 0, 0, 0, 3, 0, 0, 10, 0.01);
      INSERT INTO up_to_date VALUES (2, 'compile', 3, 10);
      INSERT INTO lifetime_totals VALUES ('', 5, 9, 1, 5, 0, 0, 40);
      """)
  }

  @Test func aVersion5HistoryIsMigratedNotDropped() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/state.db"
    try makeVersion5(path)

    // Another workspace's manifest, read before its own kiln migrates it.
    let reader = try Manifest(readingOnly: path)
    let old = try reader.history(lastBuilds: 10)
    #expect(old.map(\.id) == [1, 2])
    #expect(old.first?.outcomes.first?.ready == nil)
    #expect(try reader.totalsByWorkspace(lastBuilds: 10).first?.nothingToDo == 1)

    let m = try Manifest(path: path)
    let rows = try m.history(lastBuilds: 10)
    #expect(rows.map(\.id) == [1, 2], "the history is kept")
    #expect(rows[0].summary.timeSaved == 2.5, "the 3 s run restored in 0.5 s; up-to-date work is no saving")
    #expect(rows[1].summary.timeSaved == 0)
    #expect(rows[0].upToDate["compile"]?.saved == 4, "the up-to-date work is still there, apart")
    #expect(rows[0].commit == nil && rows[0].jobs == nil && rows[0].cacheBytes == nil)
    // Lifetime: 40 less what the two builds still held over-counted (17 - 2.5).
    #expect(try m.lifetimeTotals().first?.summary.timeSaved == 25.5)

    // New builds record the new columns; the old rows stay readable beside them.
    var summary = BuildSummary()
    summary.ran = 1
    try m.append(BuildHistoryEntry(
      started: 300, finished: 301, targets: ["app"], workspace: nil, summary: summary, upToDate: [],
      outcomes: [OutcomeRow(task: "link", outcome: "ran", reasons: "input changed", duration: 1, started: 0.5,
                            finished: 1.5, ready: 0.25, queued: 0.125)],
      commit: String(repeating: "ab", count: 20), jobs: 2, cacheBytes: 4096))
    let after = try Manifest(path: path).history(lastBuilds: 10)
    #expect(after.count == 3)
    #expect(after[2].commit == String(repeating: "ab", count: 20))
    #expect(after[2].jobs == 2)
    #expect(after[2].cacheBytes == 4096)
    #expect(after[2].outcomes.first?.ready == 0.25)
    #expect(after[2].outcomes.first?.queued == 0.125)
    #expect(after[0].outcomes.first?.queued == nil)
  }

  @Test func historyFilterKeepsWorkspaceTimeAndTask() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let m = try Manifest(path: dir + "/state.db")
    func add(_ started: Double, _ workspace: String?, _ task: String) throws {
      var summary = BuildSummary()
      summary.ran = 1
      try m.append(BuildHistoryEntry(
        started: started, finished: started + 1, targets: [], workspace: workspace, summary: summary, upToDate: [],
        outcomes: [OutcomeRow(task: task, outcome: "ran", reasons: "", duration: 1, started: 0, finished: 1)]))
    }
    try add(100, nil, "compile src/a.c")
    try add(200, "agent-1", "link")
    try add(300, nil, "compiler")
    #expect(try m.history(lastBuilds: 10, matching: HistoryFilter(since: 150)).map(\.started) == [200, 300])
    #expect(try m.history(lastBuilds: 10, matching: HistoryFilter(until: 250)).map(\.started) == [100, 200])
    #expect(try m.history(lastBuilds: 10, matching: HistoryFilter(workspace: .some(nil))).map(\.started) == [100, 300])
    #expect(try m.history(lastBuilds: 10, matching: HistoryFilter(workspace: "agent-1")).map(\.started) == [200])
    #expect(try m.history(lastBuilds: 10, matching: HistoryFilter(task: "compile")).map(\.started) == [100],
            "compile's instances, not compiler's")
    #expect(try m.totalsByWorkspace(lastBuilds: 10, matching: HistoryFilter(since: 150)).map(\.builds) == [1, 1])
  }

  /// A null build's pending record written by the kiln before (`KILNHE1`, without the
  /// commit, -j, cache size and ready times) is still moved into the history.
  @Test func aPendingRecordOfTheFormerFormatIsImported() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/state.db"
    _ = try Manifest(path: path)
    var w = ByteWriter()
    w.double(500)
    w.double(500.25)
    w.strings(["app"])
    w.string("")
    w.varint(0)  // no workspace
    for n in [0, 0, 4, 0, 0] { w.varint(UInt64(n)) }  // ran, restored, up to date, failed, skipped
    w.varint(0)  // exit status
    w.double(3)  // time saved, as the former kiln counted it
    w.double(0.25)  // wall time
    w.varint(1)
    w.string("compile")
    w.varint(4)
    w.double(3)
    w.varint(0)  // outcomes
    w.varint(0)  // stat-cache entries
    let body = Seal.close(Array("KILNHE1".utf8), w.bytes)
    var record = ByteWriter()
    record.raw(body)
    try LocalFileSystem().writeAtomically(record.bytes, to: StateLayout.pending(ofManifest: path), permissions: 0o644)

    let rows = try Manifest(path: path).history(lastBuilds: 10)
    #expect(rows.count == 1)
    #expect(rows.first?.summary.upToDate == 4)
    #expect(rows.first?.upToDate["compile"]?.count == 4)
    #expect(rows.first?.commit == nil)
  }
}
