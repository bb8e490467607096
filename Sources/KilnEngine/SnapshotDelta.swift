import KilnCore
import KilnStore
import KilnSystem

/// What changed since the last build's snapshot when only a few files did, each used by
/// known instances (`SnapshotEntry.users`): the build decides those instances and what
/// depends on them, and takes every other as the snapshot found it, up to date, without
/// loading its record (an edited source: a few of the instances, not all of them).
///
/// The snapshot holds every file the last build's verdicts depended on, so an instance
/// none of whose files changed, and none of whose dependencies will be decided again,
/// would be found up to date by deciding it. Any doubt makes no delta and the build
/// decides everything: a change the build file's expansion depended on (the build file,
/// a folder a glob listed: the graph may change), a file no instance is known to use,
/// more than `limit` changes, a snapshot that does not say who used what. A file
/// outside the workspace is judged like one inside: its users are noted the same way
/// (a system header's are every compile that read it), and `kiln ninja` in CMake's
/// build folder names every source by its absolute path.
package struct SnapshotDelta: Sendable {
  /// The snapshot, read with its `users`.
  package var snapshot: BuildSnapshot
  /// Positions in `snapshot.entries` of the entries that changed.
  package var changed: [Int]
  /// The positions in `snapshot.instanceIDs` of the instances that used a changed
  /// entry: decided first.
  package var seedPositions: [Int32]
  /// Entries whose stat moved but which were found to hold what the snapshot says (a
  /// folder in which the last build replaced an object, a file touched), with their
  /// stat now and when it was taken: the patched snapshot keeps these stats, so the
  /// next build does not compare them by content again (every folder an edit build
  /// had compiled in was listed again by every build after it).
  package var held: [(index: Int, stat: FileStat, at: Int64)] = []

  /// More changes than this and the full build decides (a checkout of another branch).
  package static let limit = 64

  /// The delta for `changed` (positions in `snapshot`, which was read with its users);
  /// nil when a change leaves doubt.
  package init?(snapshot: BuildSnapshot, changed: [Int]) {
    guard !changed.isEmpty, !snapshot.instanceIDs.isEmpty, snapshot.hiddenDigest != nil else { return nil }
    var seeds = Set<Int32>()
    for n in changed {
      let e = snapshot.entries[n]
      guard !e.expansion, !e.kindOnly, !e.users.isEmpty else { return nil }
      seeds.formUnion(e.users)
    }
    self.snapshot = snapshot
    self.changed = changed
    seedPositions = seeds.sorted()
  }

  /// The instances (`TaskID` as text) that used a changed entry.
  package var seeds: [String] { seedPositions.map { snapshot.instanceIDs[Int($0)] } }

  /// The paths that changed (workspace-relative).
  package var changedPaths: [String] { changed.map { snapshot.entries[$0].path } }
}

/// One build's use of a `SnapshotDelta`: which instances of the graph it decides.
struct PartialBuild {
  let delta: SnapshotDelta
  /// By graph index: decided (a seed, or depends on one); the rest are up to date.
  let affected: [Bool]
  /// By graph index: its position in the snapshot's `instanceIDs` (-1: not selected).
  let position: [Int32]
  /// The seeds' graph indices.
  let seeds: [Int]
  /// How many instances are decided.
  let count: Int

  /// nil when the selection is not the one the snapshot was taken of, instance for
  /// instance in the same order (then the graph is not the one it describes, and the
  /// full build decides).
  init?(_ delta: SnapshotDelta, graph: TaskGraph, selected: [Int]) {
    let ids = delta.snapshot.instanceIDs
    guard ids.count == selected.count else { return nil }
    var position = [Int32](repeating: -1, count: graph.count)
    for (k, i) in selected.enumerated() {
      guard graph[i].id.description == ids[k] else { return nil }
      position[i] = Int32(k)
    }
    var affected = [Bool](repeating: false, count: graph.count)
    var pending: [Int] = []
    for k in delta.seedPositions {
      let i = selected[Int(k)]
      if !affected[i] {
        affected[i] = true
        pending.append(i)
      }
    }
    let seeds = pending
    var count = pending.count
    while let i = pending.popLast() {
      for d in graph.dependents[i] where position[d] >= 0 && !affected[d] {
        affected[d] = true
        count += 1
        pending.append(d)
      }
    }
    self.delta = delta
    self.affected = affected
    self.position = position
    self.seeds = seeds
    self.count = count
  }
}
