import KilnCore
import KilnHash
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
    /// What the reader got, for an exact look: a file's content digest, a folder's
    /// `listingDigest`. A later stat that differs (kiln rewrote an output in a listed
    /// folder) or that cannot be trusted (racy) is settled by comparing it again.
    package var digest: Digest? = nil
    /// `digest` is of what counts to the build's globs (`ListingFilter`), not of every
    /// name: a folder listed by glob expansion's walk.
    package var filtered = false
    /// A walk's listing until expansion has matched every glob (`settleWalks`).
    fileprivate var walked: [DirectoryEntry]? = nil
  }

  private let base: any FileSystem
  private let clock: any TimeSource
  private let noted = Mutex<[Look]>([])
  /// Walks of glob expansion under way, and the globs it matched so far.
  private let walks = Mutex<(depth: Int, globs: Set<String>)>((0, []))

  package init(_ base: any FileSystem, clock: any TimeSource) {
    self.base = base
    self.clock = clock
  }

  /// Everything looked at so far, in order (a path may appear more than once).
  package var looks: [Look] { noted.withLock { $0 } }

  /// Notes the path's stat now; returns it, and the look's index for its digest.
  @discardableResult
  private func note(_ path: String, followsLinks: Bool = true, exact: Bool = false) -> (stat: FileStat?, index: Int) {
    let at = clock.wallNanoseconds()
    let st = followsLinks ? base.stat(path) : base.lstat(path)
    let index = noted.withLock {
      $0.append(Look(path: path, followsLinks: followsLinks, stat: st, at: at, exact: exact))
      return $0.count - 1
    }
    return (st, index)
  }

  private func noteDigest(_ digest: Digest, at index: Int) {
    noted.withLock { $0[index].digest = digest }
  }

  /// A folder's listing as one digest: its names, sorted (readdir's order is not
  /// the folder's content), each with the kind the listing gave (a listing walked by
  /// these kinds noted no look of each name: a name that became a folder must change
  /// the digest).
  package static func listingDigest(_ entries: [DirectoryEntry]) -> Digest {
    let key = KeyBuilder()
    for entry in entries.sorted(by: { $0.name < $1.name }) {
      let kind = switch entry.kind {
      case .file: "f"
      case .directory: "d"
      case .symlink: "l"
      case .other: "o"
      case nil: "?"
      }
      key.field("N", entry.name)
      key.field("K", kind)
    }
    return key.finalize()
  }

  /// The content digest of what an exact look at a `kind` saw, taken again: a file's
  /// bytes, a folder's names (through `filter`, with the workspace at `root`, when the
  /// look was a walk's: `Look.filtered`); nil for anything else or when it cannot be read.
  package static func contentDigest(of path: String, kind: FileStat.Kind, in fileSystem: any FileSystem,
                                    through filter: ListingFilter? = nil, root: String = "") -> Digest? {
    switch kind {
    case .file: try? fileSystem.digest(of: path)
    case .directory:
      if let filter { filter.digest(ofFolder: path, root: root, in: fileSystem) } else {
        fileSystem.entries(ofDirectory: path).map(listingDigest)
      }
    case .symlink, .other: nil
    }
  }

  package func stat(_ path: String) -> FileStat? { note(path).stat }
  package func lstat(_ path: String) -> FileStat? { note(path, followsLinks: false).stat }

  package func digest(of path: String) throws(FileSystemError) -> Digest {
    let index = note(path, exact: true).index
    let digest = try base.digest(of: path)
    noteDigest(digest, at: index)
    return digest
  }

  package func digest(of path: String, scanningFor needle: [UInt8]) throws(FileSystemError) -> (Digest, Bool) {
    let index = note(path, exact: true).index
    let result = try base.digest(of: path, scanningFor: needle)
    noteDigest(result.0, at: index)
    return result
  }

  /// The folder's stat is noted before it is listed: adding, removing or renaming an
  /// entry changes its mtime.
  package func contents(ofDirectory path: String) -> [String]? {
    entries(ofDirectory: path)?.map(\.name)
  }

  package func entries(ofDirectory path: String) -> [DirectoryEntry]? {
    let index = note(path, exact: true).index
    let entries = base.entries(ofDirectory: path)
    if let entries {
      // A walk's listing is digested once expansion knows its globs (`settleWalks`).
      if walks.withLock({ $0.depth > 0 }) {
        noted.withLock { $0[index].walked = entries }
      } else {
        noteDigest(Self.listingDigest(entries), at: index)
      }
    }
    return entries
  }

  // MARK: - Glob expansion's walks

  /// Runs `body`, a walk of glob expansion (`FileSystem.workspaceListing`): the folders
  /// it lists depend only on what the build's globs can match (`settleWalks`).
  package func walking<T>(_ body: () throws -> T) rethrows -> T {
    walks.withLock { $0.depth += 1 }
    defer { walks.withLock { $0.depth -= 1 } }
    return try body()
  }

  /// Notes a glob expansion matched against a walk's files (normalised, relative to
  /// the workspace).
  package func noteGlob(_ pattern: String) {
    _ = walks.withLock { $0.globs.insert(pattern) }
  }

  /// The globs noted, as one filter.
  package var listingFilter: ListingFilter { ListingFilter(walks.withLock { Array($0.globs) }) }

  /// Once expansion matched every glob: each folder a walk listed inside `root` keeps the
  /// digest of what counts to those globs (`ListingFilter`) instead of its whole listing.
  package func settleWalks(root: String) {
    let filter = listingFilter
    noted.withLock { looks in
      for i in looks.indices {
        guard let entries = looks[i].walked else { continue }
        looks[i].walked = nil
        guard let folder = Paths.relative(looks[i].path, to: root) else {
          looks[i].digest = Self.listingDigest(entries)
          continue
        }
        looks[i].digest = filter.digest(of: entries, in: folder)
        looks[i].filtered = true
      }
    }
  }

  package func undecodableNames(inDirectory path: String) -> [UndecodableName] {
    base.undecodableNames(inDirectory: path)
  }

  package func read(_ path: String) throws(FileSystemError) -> [UInt8] {
    let index = note(path, exact: true).index
    let bytes = try base.read(path)
    noteDigest(Hasher.digest(bytes), at: index)
    return bytes
  }

  package func writeAtomically(_ bytes: [UInt8], to path: String, permissions: UInt32) throws(FileSystemError) {
    try base.writeAtomically(bytes, to: path, permissions: permissions)
  }

  package func copy(_ source: String, to destination: String, permissions: UInt32) throws(FileSystemError) -> Digest {
    try base.copy(source, to: destination, permissions: permissions)
  }

  package func createDirectory(_ path: String) throws(FileSystemError) { try base.createDirectory(path) }
  package func remove(_ path: String) throws(FileSystemError) { try base.remove(path) }
  package func removeLater(_ path: String) throws(FileSystemError) { try base.removeLater(path) }
  package func rename(_ source: String, to destination: String) throws(FileSystemError) {
    try base.rename(source, to: destination)
  }
  package func touch(_ path: String) { base.touch(path) }
  package func readLink(_ path: String) throws(FileSystemError) -> String { try base.readLink(path) }
  package func createSymlink(_ target: String, at path: String) throws(FileSystemError) {
    try base.createSymlink(target, at: path)
  }
}
