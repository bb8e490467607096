import KilnCore
import KilnStore
import KilnSystem

/// Deletes what kiln made for task instances that are no longer in the graph, where
/// the files still hold what kiln wrote (`OwnedOutputs`), so they cannot match a glob
/// any more.
struct StaleOutputs {
  let graph: TaskGraph
  let root: String
  let fileSystem: any FileSystem
  let statCache: StatCache

  /// Removes the outputs of every recorded instance gone from the graph (unless another
  /// instance declares them now), then its record.
  func remove(using recorder: any BuildRecorder) throws {
    let owned = OwnedOutputs(root: root, fileSystem: fileSystem, statCache: statCache)
    // Steps recorded by `kiln exec` ("@exec ...") are not the build file's to judge.
    for (id, record) in recorder.records where graph.index(of: id) == nil && !id.task.hasPrefix("@") {
      let stillDeclared = record.declaredOutputs.contains { graph.producers[$0] != nil }
      if !stillDeclared {
        if let depfile = record.depfile, let digest = record.depfileDigest, graph.producers[depfile] == nil {
          owned.remove(OutputEntry(path: depfile, kind: .file, permissions: 0o644, digest: digest))
        }
        for output in record.outputs.reversed() { owned.remove(output) }
      }
      try recorder.remove(id)
    }
  }
}
