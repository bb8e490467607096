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
    /// Files and folders checked, those touched but not changed (compared again by
    /// content), and those whose stat was too recent to trust (compared by content).
    package var checked: Int
    package var touched: Int
    package var rechecked: Int
    /// The snapshot with the new stats, when some moved or can now be trusted.
    fileprivate var refreshed: BuildSnapshot?
    fileprivate var startedAt: Double

    /// What `--explain` says of it.
    package var explanation: String {
      let touched = touched == 0 ? "" : ", \(touched) touched but not changed"
      let recent = rechecked == 0 ? "" : ", \(rechecked) compared by content (written too recently to trust their stat)"
      return "kiln: no file changed since the last build (\(checked) checked\(touched)\(recent))"
    }
  }

  /// The answer for a build of `targets` (nil: the default) recorded under `workspace`;
  /// nil when only the full build can tell.
  package func answer(targets: [String]?, workspace: String?, commit: String? = nil, jobs: Int? = nil) -> Answer? {
    var changed: String?
    return answer(targets: targets, workspace: workspace, commit: commit, jobs: jobs, changed: &changed)
  }

  /// The same, noting in `changed` the first path found changed when it cannot answer,
  /// and in `delta` what changed when a build can stand on the rest of the snapshot
  /// (`SnapshotDelta`; nil when it cannot).
  package func answer(targets: [String]?, workspace: String?, commit: String? = nil, jobs: Int? = nil,
                      changed: inout String?, delta: inout SnapshotDelta?) -> Answer? {
    answer(targets: targets, workspace: workspace, commit: commit, jobs: jobs, changed: &changed, delta: &delta,
           wantsDelta: true)
  }

  /// The same, noting in `changed` the first path found changed when it cannot answer
  /// (nil when it stopped before comparing files: no snapshot, other targets, another
  /// environment). Only a hint of what the full build should decide first.
  package func answer(targets: [String]?, workspace: String?, commit: String? = nil, jobs: Int? = nil,
                      changed: inout String?) -> Answer? {
    var delta: SnapshotDelta?
    return answer(targets: targets, workspace: workspace, commit: commit, jobs: jobs, changed: &changed, delta: &delta,
                  wantsDelta: false)
  }

  private func answer(targets: [String]?, workspace: String?, commit: String?, jobs: Int?,
                      changed: inout String?, delta: inout SnapshotDelta?, wantsDelta: Bool) -> Answer? {
    let startedAt = clock.monotonic()
    let started = Double(clock.wallNanoseconds()) / 1e9
    guard let bytes = try? fileSystem.read(layout.snapshot), var snapshot = BuildSnapshot.decode(bytes),
          snapshot.root == layout.root, snapshot.targets == BuildSnapshot.targetsKey(targets),
          snapshot.environmentDigest == BuildSnapshot.environmentDigest(snapshot.environmentNames, environment)
    else { return nil }
    // Files touched but not edited (new stat, same content) still hold, and so do
    // folders in which kiln replaced outputs under the same names, and files written
    // too recently to trust their stat whose content is what the build saw: compared
    // by content as they are met, so an edit ends the comparison where it is found.
    var hashedAt: [Int: Int64] = [:]
    let comparison = snapshot.compare(fileSystem: fileSystem, all: wantsDelta ? SnapshotDelta.limit : 0) { index, stat in
      let entry = snapshot.entries[index]
      hashedAt[index] = clock.wallNanoseconds()
      let abs = entry.path.hasPrefix("/") ? entry.path : Paths.join(layout.root, entry.path)
      return ObservingFileSystem.contentDigest(of: abs, kind: stat.kind, in: fileSystem,
                                               through: entry.filtered ? snapshot.filter : nil,
                                               root: layout.root) == entry.digest
    }
    let matched: [(index: Int, stat: FileStat)]
    switch comparison {
    case .changed(let path, let all, let held):
      changed = path
      // Read again with who used what: only a build that found a change needs it.
      var full = snapshot
      if let all, full.readUsers(from: bytes) {
        delta = SnapshotDelta(snapshot: full, changed: all)
        delta?.held = held.map { ($0.index, $0.stat, hashedAt[$0.index] ?? clock.wallNanoseconds()) }
      }
      return nil
    case .holds(let found): matched = found
    }
    var rehashed: [BuildHistoryEntry.PathStat] = []
    var touched = 0
    var refresh = false
    for (index, stat) in matched {
      let entry = snapshot.entries[index]
      let at = hashedAt[index] ?? clock.wallNanoseconds()
      if stat.kind == .file, let digest = entry.digest {
        rehashed.append(.init(path: entry.path, entry: StatEntry(size: stat.size, mtime: stat.mtime, ctime: stat.ctime,
                                                                 inode: stat.inode, digest: digest, recorded: at)))
      }
      if !StatTrust.same(stat, entry.stat) { touched += 1 }
      snapshot.entries[index].stat = stat
      snapshot.entries[index].observedAt = at
      snapshot.entries[index].recheck = snapshot.entries[index].isRacy
      // Worth writing back when the stat moved or can now be trusted.
      if !StatTrust.same(stat, entry.stat) || !snapshot.entries[index].recheck { refresh = true }
    }
    // Written back whole: who used what, which this answer did not read, read now.
    if refresh, !snapshot.readUsers(from: bytes) { return nil }
    var summary = BuildSummary()
    // Nothing restored, so nothing saved: the up-to-date work is counted per task.
    summary.upToDate = snapshot.total
    let entry = BuildHistoryEntry(
      started: started, finished: started, targets: snapshot.targetNames, workspace: workspace, summary: summary,
      upToDate: snapshot.tasks.map { .init(task: $0.name, count: $0.count, saved: $0.saved) }, stats: rehashed,
      commit: commit, jobs: jobs)
    return Answer(entry: entry, warnings: snapshot.warnings, checked: snapshot.entries.count, touched: touched,
                  rechecked: matched.count - touched, refreshed: refresh ? snapshot : nil, startedAt: startedAt)
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
