import KilnCore
import KilnStore
import KilnSystem

/// The one rule by which kiln deletes what it wrote (SPEC 5, trust), for everything
/// that deletes outputs from records: stale outputs of a build, `kiln ninja -t clean`.
/// Records are untrusted (a `state.db` can be committed, copied or forged): a path is
/// deleted only when it is a plain path inside the workspace, outside `.kiln` and
/// `.git`, reached through no symlink, and only a regular file (or link) whose content
/// still has the recorded digest, or a folder the record lists that is empty. Never
/// recursively.
package struct OwnedOutputs: Sendable {
  /// What is at a recorded output's path now, as far as deleting it goes.
  package enum State: Sendable, Equatable {
    /// What kiln recorded: a file or link with the recorded digest, or a folder.
    case asRecorded
    /// Nothing is there.
    case absent
    /// Something else is there: other content, or another kind of file.
    case changed
    /// A folder kiln recorded, with something in it now.
    case notEmpty
    /// Not kiln's to touch: not a plain path inside the workspace, inside `.kiln` or
    /// `.git`, or reached through a symlink.
    case outside
    /// What kiln recorded, but the file system would not delete it.
    case undeletable
  }

  package let root: String
  package let fileSystem: any FileSystem
  package let statCache: StatCache

  package init(root: String, fileSystem: any FileSystem, statCache: StatCache) {
    self.root = root
    self.fileSystem = fileSystem
    self.statCache = statCache
  }

  /// Whether `output` still is what kiln recorded there (a folder: still a folder).
  package func state(of output: OutputEntry) -> State {
    let path = output.path
    guard Paths.isPlainRelative(path), !Paths.isReserved(path),
          fileSystem.firstNonFolder(above: path, in: root) == nil
    else { return .outside }
    guard let st = fileSystem.lstat(Paths.join(root, path)) else { return .absent }
    switch (output.kind, st.kind) {
    case (.file, .file):
      return (try? statCache.digest(of: path)) == output.digest ? .asRecorded : .changed
    case (.symlink, .symlink):
      return statCache.linkDigest(of: path) == output.digest ? .asRecorded : .changed
    case (.directory, .directory):
      return .asRecorded
    default:
      return .changed
    }
  }

  /// Deletes `output` when it is still what kiln recorded (a folder only when empty),
  /// and says what it found: `.asRecorded` means it is gone now.
  @discardableResult
  package func remove(_ output: OutputEntry) -> State {
    let found = state(of: output)
    guard found == .asRecorded else { return found }
    let abs = Paths.join(root, output.path)
    if output.kind == .directory, fileSystem.contents(ofDirectory: abs)?.isEmpty != true { return .notEmpty }
    do { try fileSystem.remove(abs) } catch { return .undeletable }
    statCache.forget(output.path)
    return .asRecorded
  }
}
