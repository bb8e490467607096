#if canImport(Glibc)
import Glibc
#endif
import KilnCore

/// The file system the shared cache is used through: `base`, except that no path in
/// the cache is followed through a symbolic link. A link there (a blob, an entry, a
/// folder) reads as what it is, is never read, hashed, touched or entered, and kiln
/// makes its folders with the mode `CacheTrust` gives. Writes already go to a fresh
/// temporary name (O_EXCL) renamed over the target, which replaces a link rather than
/// following it. A write the cache's disk refuses (full, read-only) is reported as the
/// cache's, not as a temporary file's. Paths outside the cache (the workspace side of
/// a store or restore) are `base`'s business.
package struct CacheFileSystem: FileSystem {
  package let base: any FileSystem
  package let root: String
  package let trust: CacheTrust

  package init(_ base: any FileSystem, root: String, trust: CacheTrust) {
    self.base = base
    self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
    self.trust = trust
  }

  private func inCache(_ path: String) -> Bool { path.hasPrefix(root + "/") || path == root }

  package func stat(_ path: String) -> FileStat? { inCache(path) ? base.lstat(path) : base.stat(path) }
  package func lstat(_ path: String) -> FileStat? { base.lstat(path) }

  package func digest(of path: String) throws(FileSystemError) -> Digest {
    if inCache(path) { try OwnFile.refuseLink(path) }
    return try base.digest(of: path)
  }

  package func digest(of path: String, scanningFor needle: [UInt8]) throws(FileSystemError) -> (Digest, Bool) {
    if inCache(path) { try OwnFile.refuseLink(path) }
    return try base.digest(of: path, scanningFor: needle)
  }

  package func contents(ofDirectory path: String) -> [String]? {
    if inCache(path), base.lstat(path)?.kind != .directory { return nil }
    return base.contents(ofDirectory: path)
  }

  package func read(_ path: String) throws(FileSystemError) -> [UInt8] {
    guard inCache(path) else { return try base.read(path) }
    guard let bytes = try OwnFile.read(path) else { throw FileSystemError(path, "cannot be read") }
    return bytes
  }

  package func writeAtomically(_ bytes: [UInt8], to path: String, permissions: UInt32) throws(FileSystemError) {
    do { try base.writeAtomically(bytes, to: path, permissions: permissions) } catch {
      throw inCache(path) ? error.explained(inCache: root) : error
    }
  }

  package func copy(_ source: String, to destination: String, permissions: UInt32) throws(FileSystemError) -> Digest {
    if inCache(source) { try OwnFile.refuseLink(source) }
    do { return try base.copy(source, to: destination, permissions: permissions) } catch {
      throw inCache(destination) ? error.explained(inCache: root) : error
    }
  }

  package func createDirectory(_ path: String) throws(FileSystemError) {
    guard inCache(path) else { return try base.createDirectory(path) }
    do { try OwnFile.folder(path, mode: trust.folderMode) } catch { throw error.explained(inCache: root) }
  }

  package func remove(_ path: String) throws(FileSystemError) { try base.remove(path) }
  package func removeLater(_ path: String) throws(FileSystemError) { try base.removeLater(path) }

  package func rename(_ source: String, to destination: String) throws(FileSystemError) {
    try base.rename(source, to: destination)
  }

  package func touch(_ path: String) {
    guard inCache(path) else { return base.touch(path) }
    _ = utimensat(AT_FDCWD, path, nil, AT_SYMLINK_NOFOLLOW)
  }

  package func statCursor() -> any StatCursor { base.statCursor() }

  package func readLink(_ path: String) throws(FileSystemError) -> String { try base.readLink(path) }
  package func createSymlink(_ target: String, at path: String) throws(FileSystemError) {
    try base.createSymlink(target, at: path)
  }
}
