import KilnCore
import KilnSystem

/// The content-addressed blob store shared by every workspace on the machine.
///
/// Layout: `<cache>/blobs/<first hex digit>/<32 hex digits>`, each blob the exact
/// bytes of one output file, mode 0444. A blob is written to a temporary name in the
/// same folder and renamed, so a concurrent reader sees the whole blob or none. A
/// blob's mtime is its last use (set on store and restore), which `cache gc` evicts by.
package struct ContentStore: Sendable {
  package let root: String
  package let fileSystem: any FileSystem

  package init(root: String, fileSystem: any FileSystem) {
    self.root = root
    self.fileSystem = fileSystem
  }

  package func path(of digest: Digest) -> String { Self.shardedPath(root, "blobs", digest) }

  /// `<root>/<folder>/<first hex digit>/<32 hex digits>`: the cache's file-per-digest
  /// layout (blobs, and the action files of kiln before issue 16).
  package static func shardedPath(_ root: String, _ folder: String, _ digest: Digest) -> String {
    let hex = digest.hex
    return "\(root)/\(folder)/\(hex.prefix(1))/\(hex)"
  }

  package func contains(_ digest: Digest) -> Bool {
    fileSystem.stat(path(of: digest)) != nil
  }

  /// Copies `file` in as the blob `digest`. Fails when the file no longer has that
  /// digest (it changed after it was hashed): nothing is stored then.
  package func store(_ file: String, as digest: Digest) throws(FileSystemError) {
    let blob = path(of: digest)
    if fileSystem.stat(blob) != nil {
      fileSystem.touch(blob)
      return
    }
    let copied: Digest
    do {
      try fileSystem.createDirectories(Paths.parent(blob))
      copied = try fileSystem.copy(file, to: blob, permissions: 0o444)
    } catch {
      throw error.explained(inCache: root)
    }
    if copied != digest {
      try? fileSystem.remove(blob)
      throw FileSystemError(file, "changed while it was being stored")
    }
  }

  /// Writes the blob to `destination` as a fresh copy (never a hard link: editing the
  /// output later must not touch the cache). Returns false, and removes both the
  /// copy and the blob, when the blob is missing or no longer matches its name.
  package func restore(_ digest: Digest, to destination: String, permissions: UInt32) -> Bool {
    let blob = path(of: digest)
    guard let copied = try? fileSystem.copy(blob, to: destination, permissions: permissions) else { return false }
    guard copied == digest else {
      try? fileSystem.remove(destination)
      try? fileSystem.remove(blob)
      return false
    }
    fileSystem.touch(blob)
    return true
  }
}
