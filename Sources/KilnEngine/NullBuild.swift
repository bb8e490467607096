import KilnCore
import KilnStore
import KilnSystem

/// "Is everything up to date?", answered from the last build's snapshot with stats
/// alone, before the build file is parsed or a record loaded (ninja's null build, with
/// content hashes behind it). Every `kiln build` asks it first; any doubt (no
/// snapshot, other targets, another environment, a file changed) is a nil answer and
/// the full build decides. An answered build is recorded with the same history entry a
/// full build writes, appended to the pending file instead of SQLite.
package struct NullBuild {
  package var layout: StateLayout
  package var fileSystem: any FileSystem
  package var clock: any TimeSource
  package var environment: [String: String]

  package init(layout: StateLayout, fileSystem: any FileSystem, clock: any TimeSource, environment: [String: String]) {
    self.layout = layout
    self.fileSystem = fileSystem
    self.clock = clock
    self.environment = environment
  }

  /// A build every selected instance of which is up to date.
  package struct Answer: Sendable {
    /// The history entry to record: every instance up to date.
    package var entry: BuildHistoryEntry
    /// Lines the build printed on stderr before starting, printed again.
    package var warnings: [String]
    /// Files and folders checked, and those touched but not changed (hashed again).
    package var checked: Int
    package var touched: Int
    /// The snapshot with the touched files' new stats, when they can be trusted.
    fileprivate var refreshed: BuildSnapshot?
    fileprivate var startedAt: Double
  }

  /// The answer for a build of `targets` (nil: the default) recorded under `workspace`;
  /// nil when only the full build can tell.
  package func answer(targets: [String]?, workspace: String?) -> Answer? {
    let startedAt = clock.monotonic()
    let started = Double(clock.wallNanoseconds()) / 1e9
    guard let bytes = try? fileSystem.read(layout.snapshot), var snapshot = BuildSnapshot.decode(bytes),
          snapshot.root == layout.root, snapshot.targets == BuildSnapshot.targetsKey(targets),
          snapshot.environmentDigest == BuildSnapshot.environmentDigest(snapshot.environmentNames, environment),
          let changed = snapshot.changedFiles(fileSystem: fileSystem)
    else { return nil }
    // Files touched but not edited (new stat, same content) still hold: hash them.
    var rehashed: [BuildHistoryEntry.PathStat] = []
    var trustworthy = true
    for (index, stat) in changed {
      let path = snapshot.entries[index].path
      let hashedAt = clock.wallNanoseconds()
      guard let digest = try? fileSystem.digest(of: path.hasPrefix("/") ? path : Paths.join(layout.root, path)),
            digest == snapshot.entries[index].digest
      else { return nil }
      rehashed.append(.init(path: path, entry: StatEntry(size: stat.size, mtime: stat.mtime, ctime: stat.ctime,
                                                         inode: stat.inode, digest: digest, recorded: hashedAt)))
      snapshot.entries[index].stat = stat
      snapshot.entries[index].observedAt = hashedAt
      if snapshot.entries[index].isRacy { trustworthy = false }
    }
    var summary = BuildSummary()
    summary.upToDate = snapshot.total
    summary.timeSaved = snapshot.tasks.reduce(0) { $0 + $1.saved }
    let entry = BuildHistoryEntry(
      started: started, finished: started, targets: snapshot.targetNames, workspace: workspace, summary: summary,
      upToDate: snapshot.tasks.map { .init(task: $0.name, count: $0.count, saved: $0.saved) }, stats: rehashed)
    return Answer(entry: entry, warnings: snapshot.warnings, checked: snapshot.entries.count, touched: rehashed.count,
                  refreshed: !rehashed.isEmpty && trustworthy ? snapshot : nil, startedAt: startedAt)
  }

  /// Records an answered build: its history entry appended to the pending file, the
  /// snapshot refreshed with the touched files' stats. Returns the entry as recorded;
  /// nil when it could not be (the full build then records itself).
  package func record(_ answer: Answer) -> BuildHistoryEntry? {
    var entry = answer.entry
    entry.summary.wallTime = clock.monotonic() - answer.startedAt
    entry.finished = Double(clock.wallNanoseconds()) / 1e9
    guard PendingHistory.append(entry, manifest: layout.manifest) else { return nil }
    if let refreshed = answer.refreshed {
      try? fileSystem.writeAtomically(refreshed.encode(), to: layout.snapshot, permissions: 0o644)
    }
    entry.summary.wallTime = clock.monotonic() - answer.startedAt
    return entry
  }
}
