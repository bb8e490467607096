import KilnStore
import KilnSystem

/// Where each checkout keeps its manifests, for reports over every workspace
/// (`ws list`, `kiln stats`).
extension Workspaces {
  /// Where the checkout at `checkoutRoot` keeps the manifest called `fileName`, in the
  /// folder the caller stands in (mirrored).
  package func manifestPath(in checkoutRoot: String, fileName: String = "state.db") -> String {
    StateLayout(root: Paths.join(checkoutRoot, relativeDirectory)).manifest(named: fileName)
  }

  /// The manifests called `fileName` of the main checkout and of every workspace.
  package func allManifestPaths(fileName: String) -> [String] {
    var paths: [String] = []
    switch kind {
    case .git(let common) where Paths.fileName(common) == ".git":
      paths.append(manifestPath(in: Paths.parent(common), fileName: fileName))
    case .copies(let origin): paths.append(manifestPath(in: origin, fileName: fileName))
    default: break
    }
    for info in all() where !info.creating { paths.append(manifestPath(in: info.path, fileName: fileName)) }
    return paths
  }

  /// The last build's hit rate in the workspace's manifest: nil when it has no
  /// manifest, `.some(nil)` when it never built.
  package func lastHitRate(_ info: WorkspaceInfo) -> Double?? {
    let db = manifestPath(in: info.path)
    // Another workspace's manifest: read, never written, migrated or reset.
    guard fileSystem.stat(db)?.kind == .file, let manifest = try? Manifest(readingOnly: db),
          let last = try? manifest.lastBuild()
    else { return nil }
    return .some(last.summary.hitRate)
  }
}
