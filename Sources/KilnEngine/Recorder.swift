import KilnCore
import KilnStore
import KilnSystem

/// Where a build's results go, and what earlier builds left: the records it decides
/// against (ninja's build log). Called from the build loop only, never concurrently.
///
/// `ManifestRecorder` keeps them in the SQLite manifest; `DryRunRecorder` keeps nothing
/// (a dry run writes nothing); engine tests use an in-memory one (KilnTestSupport).
package protocol BuildRecorder: AnyObject {
  /// The last recorded result of each instance.
  var records: [TaskID: TaskRecord] { get }
  /// The last recorded result of one instance (a build that decides a few instances
  /// reads those alone: `ManifestRecorder(loadingAsNeeded:)`).
  func record(_ id: TaskID) -> TaskRecord?
  /// A build starts writing.
  func begin() throws
  /// An instance's new result: read back by `record` at once, written by `flush` at
  /// the latest.
  func put(_ record: TaskRecord) throws
  /// Writes the results put since the last flush. The build loop calls it once the
  /// commands a finished one let start have started: writing a record (an archive's
  /// names 400 inputs) is then off the path from one command to the next.
  func flush() throws
  /// An instance gone from the graph.
  func remove(_ id: TaskID) throws
  /// The build ended: what it put not yet written, and its history entry. Called
  /// on kiln's worker thread while the build makes its snapshot (nothing else calls
  /// the recorder meanwhile).
  func commit(_ entry: BuildHistoryEntry) throws
  /// After `commit`: what becomes of the snapshot that may answer the next build of
  /// the same targets.
  func finish(snapshot: SnapshotUpdate)
}

/// A value handed to another thread that the sender no longer touches until it is
/// handed back (`Build.run`'s recorder, given to the worker thread for the commit).
struct Handed<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}

extension BuildRecorder {
  package func record(_ id: TaskID) -> TaskRecord? { records[id] }
  package func flush() throws {}
}

/// What a build does to the snapshot when it ends.
package enum SnapshotUpdate: Sendable {
  /// Leave it (a build that takes none: `kiln exec`, a dry run). One there still holds:
  /// the records it describes have not changed (the manifest deletes it when one does).
  case keep
  /// This build's replaces it.
  case replace(BuildSnapshot)
  /// This build could take none (a failure, a racy stat): none stays.
  case remove
}

/// The records of the SQLite manifest. The manifest deletes the snapshot before the
/// first record changes (`Manifest.putRecord`); this writes the new one after the
/// build's commit, with the manifest's own stat among its entries.
package final class ManifestRecorder: BuildRecorder {
  /// Every record once all are read; else those read or written so far.
  private var known: [TaskID: TaskRecord]
  /// Whether `known` holds every record; if not, the ids in it or read and absent.
  private var complete: Bool
  private var asked = Set<TaskID>()
  /// Put and not yet written (`flush`), each with the time it was put.
  private var unwritten: [(record: TaskRecord, at: Int64)] = []
  private let manifest: Manifest
  private let snapshotPath: String
  private let root: String
  private let fileSystem: any FileSystem
  private let clock: any TimeSource

  package init(manifest: Manifest, records: [TaskID: TaskRecord], snapshotPath: String, root: String,
               fileSystem: any FileSystem, clock: any TimeSource) {
    self.manifest = manifest
    known = records
    complete = true
    self.snapshotPath = snapshotPath
    self.root = root
    self.fileSystem = fileSystem
    self.clock = clock
  }

  /// A recorder that reads each record from the manifest when first asked for it
  /// (`record`), and all of them only if `records` is asked for.
  package init(loadingAsNeeded manifest: Manifest, snapshotPath: String, root: String, fileSystem: any FileSystem,
               clock: any TimeSource) {
    self.manifest = manifest
    known = [:]
    complete = false
    self.snapshotPath = snapshotPath
    self.root = root
    self.fileSystem = fileSystem
    self.clock = clock
  }

  package var records: [TaskID: TaskRecord] {
    if !complete {
      // Read from the manifest as it is now (this build's writes included); one that
      // cannot be read counts as none, as at the start of a build.
      try? flush()
      known = (try? manifest.loadRecords()) ?? known
      complete = true
    }
    return known
  }

  package func record(_ id: TaskID) -> TaskRecord? {
    if complete || asked.contains(id) { return known[id] }
    asked.insert(id)
    known[id] = (try? manifest.loadRecord(id)) ?? nil
    return known[id]
  }

  package func begin() throws { try manifest.begin() }

  package func put(_ record: TaskRecord) throws {
    known[record.id] = record
    asked.insert(record.id)
    unwritten.append((record, clock.wallNanoseconds()))
  }

  /// What fails to be written stays to be written (and to fail) again: at `finish` at
  /// the latest, whose error fails the build.
  package func flush() throws {
    var written = 0
    defer { unwritten.removeFirst(written) }
    for (record, at) in unwritten {
      try manifest.putRecord(record, now: at)
      written += 1
    }
  }

  package func remove(_ id: TaskID) throws {
    try flush()
    known[id] = nil
    asked.insert(id)
    try manifest.deleteRecord(id)
  }

  package func commit(_ entry: BuildHistoryEntry) throws {
    try flush()
    try manifest.append(entry)
    try manifest.commit()
    manifest.checkpointIfLarge()
  }

  package func finish(snapshot update: SnapshotUpdate) {
    var snapshot: BuildSnapshot
    switch update {
    case .keep: return
    case .remove:
      try? fileSystem.remove(snapshotPath)
      return
    case .replace(let new): snapshot = new
    }
    // After the commit and the checkpoint: the manifest file's stat is final. Deleted,
    // rebuilt or checkpointed by another command, the manifest no longer holds the
    // records this snapshot describes. Exempt from the racy rule: it was just written.
    let manifestPath = Paths.relative(manifest.path, to: root) ?? manifest.path
    snapshot.entries.removeAll { $0.path == manifestPath }
    snapshot.entries.append(SnapshotEntry(path: manifestPath, stat: fileSystem.stat(manifest.path),
                                          observedAt: clock.wallNanoseconds()))
    snapshot.entries = Self.filed(snapshot.entries)
    try? fileSystem.writeAtomically(snapshot.encode(), to: snapshotPath, permissions: 0o644)
  }
}

extension ManifestRecorder {
  /// `entries` in the snapshot file's order (`SnapshotEntry.filedBefore`). Sorted as
  /// positions, then moved once: an entry is a hundred bytes, and a sort moves what it
  /// sorts many times over (4M of an edit build's 120M instructions). A patched
  /// snapshot is the last one's entries, in order, then the few looked at anew: the run
  /// already in order is kept, the rest sorted and merged into it (a full sort of a
  /// thousand paths compared them ten thousand times).
  package static func filed(_ entries: [SnapshotEntry]) -> [SnapshotEntry] {
    var run = entries.isEmpty ? 0 : 1
    while run < entries.count, !SnapshotEntry.filedBefore(entries[run], entries[run - 1]) { run += 1 }
    if run == entries.count { return entries }
    let rest = (run..<entries.count).sorted { SnapshotEntry.filedBefore(entries[$0], entries[$1]) }
    var order: [Int] = []
    order.reserveCapacity(entries.count)
    var i = 0, j = 0
    while i < run, j < rest.count {
      // The earlier run first when neither goes before the other: a stable merge.
      if SnapshotEntry.filedBefore(entries[rest[j]], entries[i]) {
        order.append(rest[j])
        j += 1
      } else {
        order.append(i)
        i += 1
      }
    }
    order.append(contentsOf: i..<run)
    order.append(contentsOf: rest[j...])
    return order.map { entries[$0] }
  }
}

/// A dry run's recorder: the records to decide against, and nothing written.
package final class DryRunRecorder: BuildRecorder {
  package let records: [TaskID: TaskRecord]
  package init(records: [TaskID: TaskRecord]) { self.records = records }
  package func begin() {}
  package func put(_ record: TaskRecord) {}
  package func remove(_ id: TaskID) {}
  package func commit(_ entry: BuildHistoryEntry) {}
  package func finish(snapshot: SnapshotUpdate) {}
}
