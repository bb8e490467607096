import KilnCore
import KilnEngine
import KilnRemoteCache
import KilnStore

/// The remote's bundle around a build (`NetworkRemoteCache+Bundle`): asked for by a
/// checkout that has never built (no record), where every task is to be restored or
/// run; uploaded after a writer's successful build.
extension Session {
  /// Starts reading the bundle for a build of `targets` of `graph` and returns its key;
  /// nil (nothing is asked) unless this checkout has no record of
  /// any build (never a null build: the remote is not touched there), the build holds
  /// enough instances for a bundle, and the local cache lacks the first instances'
  /// entries (a new workspace on a warm local cache restores from it alone, as it did
  /// task by task). The helper is started first: its start overlaps the hashing of the
  /// sources the key needs.
  func readRemoteBundle(_ graph: TaskGraph, targets: [String]?) -> SHA256Digest? {
    guard let remote, remote.down == nil, !recordsAsNeeded, records.isEmpty,
          let statCache = buildStatCache
    else { return nil }
    let selected = graph.closure(ofTasks: targets ?? graph.defaultTasks).indices
    guard selected.count >= NetworkRemoteCache.bundleMinimum else { return nil }
    let rebuilder = Rebuilder(statCache: statCache, inheritedEnvironment: buildEnvironment, keyRoots: context.keyRoots)
    for i in selected.lazy.filter({ graph.dependencies[$0].isEmpty }).prefix(Self.localProbes) {
      guard let task = try? rebuilder.prepare(graph[i]) else { return nil }
      if !context.actionCache.lookup(task.key, removingDamaged: false).entries.isEmpty { return nil }
    }
    remote.client.startHelper()
    guard let key = rebuilder.remoteBundleKey(graph, selected: selected) else { return nil }
    remote.readBundle(key)
    return key
  }

  /// How many of the build's first instances the local cache is asked about before a
  /// bundle is read.
  static let localProbes = 4

  /// Uploads the bundle under `key` after a successful build when this process may
  /// write; the warning to show when the remote failed.
  func writeRemoteBundle(_ key: SHA256Digest, after result: BuildResult) async -> [String] {
    guard let remote, remote.writes, result.summary.exitStatus == 0, !result.interrupted else { return [] }
    do { try await remote.writeBundle(key) } catch {
      return remote.failureToReport().map { [Job.remoteDown($0)] } ?? []
    }
    return []
  }
}
