import KilnCore
import KilnEngine
import KilnStore

/// A recorder that keeps everything in memory, as one workspace's manifest would
/// across builds: records, stat-cache entries, the history, the last snapshot. For
/// engine tests, which need no SQLite.
package final class MemoryRecorder: BuildRecorder {
  package private(set) var records: [TaskID: TaskRecord] = [:]
  package private(set) var statEntries: [String: StatEntry] = [:]
  package private(set) var history: [BuildHistoryEntry] = []
  package private(set) var snapshot: BuildSnapshot?
  /// Whether a build is between `begin` and `finish`.
  package private(set) var open = false

  package init() {}

  package func begin() { open = true }

  package func put(_ record: TaskRecord) {
    precondition(open, "a record written outside a build")
    snapshot = nil
    records[record.id] = record
  }

  package func remove(_ id: TaskID) {
    precondition(open, "a record removed outside a build")
    snapshot = nil
    records[id] = nil
  }

  package func commit(_ entry: BuildHistoryEntry) {
    for s in entry.stats { statEntries[s.path] = s.entry }
    history.append(entry)
  }

  package func finish(snapshot update: SnapshotUpdate) {
    switch update {
    case .keep: break
    case .remove: snapshot = nil
    case .replace(let new): snapshot = new
    }
    open = false
  }
}
