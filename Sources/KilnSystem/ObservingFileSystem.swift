import KilnCore
import Synchronization

/// A file system that notes what it was asked to look at: each stat, lstat, folder
/// listing and read, with the stat the path had just before. Whatever read through it
/// (the build file parser, glob expansion) depended on exactly these paths' states.
/// Writes pass through and are not noted.
package final class ObservingFileSystem: FileSystem, Sendable {
  /// One look: absolute path, whether links were followed, the stat then (nil: absent).
  package struct Look: Sendable {
    package var path: String
    package var followsLinks: Bool
    package var stat: FileStat?
    /// Wall-clock nanoseconds.
    package var at: Int64
    /// Whether the reader depended on the whole stat (a folder it listed, a file it
    /// read) rather than only on what kind of thing is there.
    package var exact: Bool
  }

  private let base: any FileSystem
  private let clock: any TimeSource
  private let noted = Mutex<[Look]>([])

  package init(_ base: any FileSystem, clock: any TimeSource) {
    self.base = base
    self.clock = clock
  }

  /// Everything looked at so far, in order (a path may appear more than once).
  package var looks: [Look] { noted.withLock { $0 } }

  @discardableResult
  private func note(_ path: String, followsLinks: Bool = true, exact: Bool = false) -> FileStat? {
    let at = clock.wallNanoseconds()
    let st = followsLinks ? base.stat(path) : base.lstat(path)
    noted.withLock { $0.append(Look(path: path, followsLinks: followsLinks, stat: st, at: at, exact: exact)) }
    return st
  }

  package func stat(_ path: String) -> FileStat? { note(path) }
  package func lstat(_ path: String) -> FileStat? { note(path, followsLinks: false) }

  package func digest(of path: String) throws(FileSystemError) -> Digest {
    note(path, exact: true)
    return try base.digest(of: path)
  }

  package func digest(of path: String, scanningFor needle: [UInt8]) throws(FileSystemError) -> (Digest, Bool) {
    note(path, exact: true)
    return try base.digest(of: path, scanningFor: needle)
  }

  /// The folder's stat is noted before it is listed: adding, removing or renaming an
  /// entry changes its mtime.
  package func contents(ofDirectory path: String) -> [String]? {
    note(path, exact: true)
    return base.contents(ofDirectory: path)
  }

  package func undecodableNames(inDirectory path: String) -> [UndecodableName] {
    base.undecodableNames(inDirectory: path)
  }

  package func read(_ path: String) throws(FileSystemError) -> [UInt8] {
    note(path, exact: true)
    return try base.read(path)
  }

  package func writeAtomically(_ bytes: [UInt8], to path: String, permissions: UInt32) throws(FileSystemError) {
    try base.writeAtomically(bytes, to: path, permissions: permissions)
  }

  package func copy(_ source: String, to destination: String, permissions: UInt32) throws(FileSystemError) -> Digest {
    try base.copy(source, to: destination, permissions: permissions)
  }

  package func createDirectory(_ path: String) throws(FileSystemError) { try base.createDirectory(path) }
  package func remove(_ path: String) throws(FileSystemError) { try base.remove(path) }
  package func rename(_ source: String, to destination: String) throws(FileSystemError) {
    try base.rename(source, to: destination)
  }
  package func touch(_ path: String) { base.touch(path) }
  package func readLink(_ path: String) throws(FileSystemError) -> String { try base.readLink(path) }
  package func createSymlink(_ target: String, at path: String) throws(FileSystemError) {
    try base.createSymlink(target, at: path)
  }
}
