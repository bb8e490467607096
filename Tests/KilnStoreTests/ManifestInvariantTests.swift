import Foundation
import KilnCore
import KilnStore
import Testing

/// The manifest keeps its own invariants: no snapshot outlives a change to the records
/// it describes, whoever makes the change; a read-only open writes nothing anywhere.
@Suite struct ManifestInvariantTests {
  func tempDir() -> String {
    let dir = NSTemporaryDirectory() + "kiln-manifest-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: dir + "/.kiln", withIntermediateDirectories: true)
    return dir
  }

  func record(_ name: String) -> TaskRecord {
    TaskRecord(id: TaskID(task: name), key: Digest(high: 1, low: 2), command: "c", environment: [], inputs: [],
               discovered: [], outputs: [], declaredOutputs: [], duration: 1)
  }

  func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

  @Test func anyRecordChangeDeletesTheSnapshotFirst() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let layout = StateLayout(root: dir)
    let m = try Manifest(layout)
    func leaveSnapshot() { FileManager.default.createFile(atPath: layout.snapshot, contents: Data("s".utf8)) }

    leaveSnapshot()
    try m.begin()
    try m.putStat("a.c", StatEntry(size: 1, mtime: 2, ctime: 3, inode: 4, digest: Digest(high: 5, low: 6), recorded: 7))
    try m.commit()
    #expect(exists(layout.snapshot), "stats are not records: the snapshot still holds")

    try m.begin()
    try m.putRecord(record("a"), now: 1)
    #expect(!exists(layout.snapshot), "gone before the change is even committed")
    try m.commit()

    leaveSnapshot()
    try m.begin()
    try m.deleteRecord(TaskID(task: "a"))
    #expect(!exists(layout.snapshot))
    try m.commit()

    // A manifest opened without naming a snapshot (tests, `kiln exec` elsewhere) leaves it.
    leaveSnapshot()
    let plain = try Manifest(path: layout.manifest)
    try plain.putRecord(record("b"), now: 1)
    #expect(exists(layout.snapshot))
  }

  @Test func aReadOnlyOpenNeverWritesMigratesOrImports() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let layout = StateLayout(root: dir)
    #expect(throws: DatabaseError.self) { try Manifest(readingOnly: layout.manifest) }
    #expect(!exists(layout.manifest), "a missing manifest is not created")

    let m = try Manifest(layout)
    try m.putRecord(record("a"), now: 1)
    var summary = BuildSummary()
    summary.upToDate = 4
    #expect(PendingHistory.append(BuildHistoryEntry(started: 1, finished: 2, targets: ["t"], workspace: nil,
                                                    summary: summary, upToDate: []), manifest: layout.manifest))
    let pendingBefore = try Data(contentsOf: URL(fileURLWithPath: layout.pending))

    let reader = try Manifest(readingOnly: layout.manifest)
    #expect(reader.isReadOnly)
    #expect(try reader.loadRecords().keys.map(\.task) == ["a"])
    #expect(try reader.history(lastBuilds: 10).isEmpty, "the pending build is left for its own manifest to import")
    #expect(try Data(contentsOf: URL(fileURLWithPath: layout.pending)) == pendingBefore)
    #expect(throws: DatabaseError.self) { try reader.putRecord(self.record("b"), now: 2) }

    // Another schema: refused as unreadable, and left exactly as it was.
    let db = try Database(path: layout.manifest)
    try db.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    #expect(throws: DatabaseError.self) { try Manifest(readingOnly: layout.manifest) }
    let check = try Database(path: layout.manifest, readOnly: true)
    let version = try check.statement("SELECT value FROM meta WHERE key = 'schema_version'")
    #expect(try version.step() && version.text(0) == "0", "not migrated")
    let records = try check.statement("SELECT count(*) FROM task_records")
    #expect(try records.step() && records.int(0) == 1, "not reset")
  }

  @Test func aHistoryEntrySurvivesThePendingFileIntact() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let layout = StateLayout(root: dir)
    _ = try Manifest(layout)
    var summary = BuildSummary()
    summary.ran = 1
    summary.upToDate = 2
    summary.exitStatus = 0
    summary.wallTime = 0.25
    let entry = BuildHistoryEntry(
      started: 10, finished: 11, targets: ["app"], workspace: "agent-1", summary: summary,
      upToDate: [.init(task: "cc", count: 2, saved: 3)],
      outcomes: [OutcomeRow(task: "link", outcome: "ran", reasons: "input changed: a.o", duration: 0.5, started: 0,
                            finished: 0.5, peakMemory: 1024, reasonKinds: "input-changed")],
      stats: [.init(path: "gone.c", entry: nil)])
    #expect(PendingHistory.append(entry, manifest: layout.manifest))
    let m = try Manifest(layout)
    let row = try #require(try m.history(lastBuilds: 1).first)
    #expect(row.workspace == "agent-1" && row.targets == "app")
    #expect(row.summary == summary)
    #expect(row.outcomes.map(\.peakMemory) == [1024])
    #expect(row.upToDate["cc"]?.count == 2)
  }
}
