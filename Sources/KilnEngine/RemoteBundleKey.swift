import KilnCore
import KilnHash

extension Rebuilder {
  /// The key of the bundle a build of `selected` (instances of `graph`) reads, and
  /// uploads when it may write (`RemoteCache.readBundle`, `writeBundle`): SHA-256 of
  /// `remoteBundleTag` and the sorted remote keys (`PreparedTask.remoteKey`) of the
  /// instances among `selected` that depend on no other instance. Those keys rest only
  /// on the checkout's sources, so a checkout with the same sources makes the same key
  /// before its first lookup, and a writer at its start the key readers will ask for.
  /// Nil when there is no such instance or one has no remote key (an input missing or
  /// a folder).
  package func remoteBundleKey(_ graph: TaskGraph, selected: [Int]) -> SHA256Digest? {
    var keys: [SHA256Digest] = []
    for i in selected where graph.dependencies[i].isEmpty {
      guard let task = try? prepare(graph[i]), let key = task.remoteKey(statCache: statCache, keyRoots: keyRoots) else {
        return nil
      }
      keys.append(key)
    }
    guard !keys.isEmpty else { return nil }
    keys.sort()
    let sha = SHA256Hasher()
    sha.update(Self.remoteBundleTag)
    for key in keys { sha.update(key.bytes) }
    return sha.finalize()
  }

  /// The bundle key's domain tag: no remote key of a task is made from these bytes.
  /// Bump when the bundle's key or layout changes.
  package static let remoteBundleTag = "kiln-remote-bundle-2\u{0}"
}
