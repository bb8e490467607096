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

  /// The hit rate of the last build in the workspace's manifest that had something to
  /// do (a build where everything was up to date has none worth showing: it would
  /// always say 100%): nil when it has no manifest, `.some(nil)` when no build did.
  package func lastHitRate(_ info: WorkspaceInfo) -> Double?? {
    let db = manifestPath(in: info.path)
    // Another workspace's manifest: read, never written, migrated or reset.
    guard fileSystem.stat(db)?.kind == .file, let manifest = try? Manifest(readingOnly: db),
          let last = try? manifest.lastBuild(doingWork: true)
    else { return nil }
    return .some(last.summary.hitRate)
  }
}
