import KilnCore
import KilnStore
import KilnSystem

/// Deletes what kiln made for task instances that are no longer in the graph, where
/// the files still hold what kiln wrote, so they cannot match a glob any more.
/// Records are untrusted (a `state.db` can be committed, copied or forged): a path is
/// deleted only when it is a plain path inside the workspace reached through no
/// symlink, and only a regular file (or link) whose content still has the recorded
/// digest, or a folder the record lists that is empty. Never recursively.
struct StaleOutputs {
  let graph: TaskGraph
  let root: String
  let fileSystem: any FileSystem
  let statCache: StatCache

  /// Removes the outputs of every recorded instance gone from the graph (unless another
  /// instance declares them now), then its record.
  func remove(using recorder: any BuildRecorder) throws {
    // Steps recorded by `kiln exec` ("@exec ...") are not the build file's to judge.
    for (id, record) in recorder.records where graph.index(of: id) == nil && !id.task.hasPrefix("@") {
      let stillDeclared = record.declaredOutputs.contains { graph.producers[$0] != nil }
      if !stillDeclared {
        if let depfile = record.depfile, let digest = record.depfileDigest, graph.producers[depfile] == nil {
          removeIfUnchanged(OutputEntry(path: depfile, kind: .file, permissions: 0o644, digest: digest))
        }
        for output in record.outputs.reversed() { removeIfUnchanged(output) }
      }
      try recorder.remove(id)
    }
  }

  /// Removes one file, link or empty folder kiln recorded, if it is still what kiln
  /// recorded and lies inside the workspace.
  private func removeIfUnchanged(_ output: OutputEntry) {
    let path = output.path
    guard Paths.isPlainRelative(path), !Paths.isReserved(path),
          fileSystem.firstNonFolder(above: path, in: root) == nil
    else { return }
    let abs = Paths.join(root, path)
    guard let st = fileSystem.lstat(abs) else { return }
    switch (output.kind, st.kind) {
    case (.file, .file):
      if (try? statCache.digest(of: path)) == output.digest {
        try? fileSystem.remove(abs)
        statCache.forget(path)
      }
    case (.symlink, .symlink):
      if statCache.linkDigest(of: path) == output.digest { try? fileSystem.remove(abs) }
    case (.directory, .directory):
      if fileSystem.contents(ofDirectory: abs)?.isEmpty == true { try? fileSystem.remove(abs) }
    default:
      break
    }
  }
}
