import KilnCore
import KilnHash

/// What `stat` says about a path: enough for the stat cache and for restores.
package struct FileStat: Sendable, Hashable {
  package enum Kind: Sendable, Hashable { case file, directory, symlink, other }
  package var kind: Kind
  package var size: Int64
  /// Nanoseconds since the epoch.
  package var mtime: Int64
  package var ctime: Int64
  package var inode: UInt64
  /// Permission bits (0o777).
  package var permissions: UInt32

  package init(kind: Kind, size: Int64, mtime: Int64, ctime: Int64, inode: UInt64, permissions: UInt32) {
    self.kind = kind
    self.size = size
    self.mtime = mtime
    self.ctime = ctime
    self.inode = inode
    self.permissions = permissions
  }

  package var isExecutable: Bool { permissions & 0o100 != 0 }
}

/// A failed file operation: which path, and what the system said.
package struct FileSystemError: Error, Sendable, CustomStringConvertible {
  package var path: String
  package var message: String
  package init(_ path: String, _ message: String) {
    self.path = path
    self.message = message
  }
  package var description: String { "\(path): \(message)" }
}

/// The file operations the engine performs, and nothing more (ninja: DiskInterface).
/// Paths are absolute. `LocalFileSystem` is the real one; `InMemoryFileSystem` (in
/// KilnTestSupport) the fake for engine tests.
package protocol FileSystem: Sendable {
  /// Follows symlinks; nil when nothing is there.
  func stat(_ path: String) -> FileStat?
  /// Does not follow a final symlink.
  func lstat(_ path: String) -> FileStat?
  /// Streams the file's bytes through XXH3-128.
  func digest(of path: String) throws(FileSystemError) -> Digest
  /// The digest, and whether the bytes contain `needle` anywhere (one pass): used to
  /// find outputs that hold the workspace's absolute path.
  func digest(of path: String, scanningFor needle: [UInt8]) throws(FileSystemError) -> (Digest, Bool)
  /// XXH3-128 and SHA-256 of the same bytes, read once (what the remote cache keys by).
  func digests(of path: String) throws(FileSystemError) -> (Digest, SHA256Digest)
  /// Both digests and whether the bytes contain `needle`, in one read (an output that
  /// may be uploaded).
  func digests(of path: String, scanningFor needle: [UInt8]) throws(FileSystemError) -> (Digest, SHA256Digest, Bool)
  /// Names in a directory (not "." or ".."), unsorted; nil when not a directory.
  func contents(ofDirectory path: String) -> [String]?
  /// The same names, each with its kind where the listing gives it (readdir's
  /// `d_type`: no lstat per name), nil where it does not.
  func entries(ofDirectory path: String) -> [DirectoryEntry]?
  /// The entries of a directory whose names are not valid UTF-8, which
  /// `contents(ofDirectory:)` cannot give as they are; asked only when a listed name
  /// holds U+FFFD and names nothing on disk.
  func undecodableNames(inDirectory path: String) -> [UndecodableName]
  func read(_ path: String) throws(FileSystemError) -> [UInt8]
  /// Writes to a temporary name beside `path`, then renames over it.
  func writeAtomically(_ bytes: [UInt8], to path: String, permissions: UInt32) throws(FileSystemError)
  /// Copies `source` to `destination` (via a temporary name and a rename, never a hard
  /// link) and returns the digest of the bytes copied, so a copy is verified in one pass.
  func copy(_ source: String, to destination: String, permissions: UInt32) throws(FileSystemError) -> Digest
  func createDirectory(_ path: String) throws(FileSystemError)
  /// Removes a file or a whole directory tree; no error when absent.
  func remove(_ path: String) throws(FileSystemError)
  /// `remove`, the name freed at once, the work of freeing the file possibly later
  /// (before the process exits). Fakes remove at once.
  func removeLater(_ path: String) throws(FileSystemError)
  func rename(_ source: String, to destination: String) throws(FileSystemError)
  /// Sets mtime to now without changing content (LRU bookkeeping in the cache).
  func touch(_ path: String)
  /// Something that stats many names folder by folder (see `StatCursor`).
  func statCursor() -> any StatCursor
  /// The target text of the symlink at `path`.
  func readLink(_ path: String) throws(FileSystemError) -> String
  /// Makes `path` a symlink to `target`, replacing whatever file or link is there
  /// (a temporary name, then a rename).
  func createSymlink(_ target: String, at path: String) throws(FileSystemError)
}

/// A name in a folder, with its kind when the listing gave it (nil: ask lstat).
package struct DirectoryEntry: Sendable, Hashable {
  package var name: String
  package var kind: FileStat.Kind?
  package init(name: String, kind: FileStat.Kind?) {
    self.name = name
    self.kind = kind
  }
}

extension FileSystem {
  /// Names alone: every kind is asked of lstat.
  package func entries(ofDirectory path: String) -> [DirectoryEntry]? {
    contents(ofDirectory: path)?.map { DirectoryEntry(name: $0, kind: nil) }
  }

  package func digests(of path: String) throws(FileSystemError) -> (Digest, SHA256Digest) {
    let bytes = try read(path)
    return (Hasher.digest(bytes), SHA256Hasher.digest(bytes))
  }

  package func digests(of path: String, scanningFor needle: [UInt8]) throws(FileSystemError) -> (Digest, SHA256Digest, Bool) {
    let bytes = try read(path)
    let found = !needle.isEmpty && bytes.withUnsafeBytes { NeedleScanner.search($0, for: needle) }
    return (Hasher.digest(bytes), SHA256Hasher.digest(bytes), found)
  }
}

/// The permission bits kiln gives what it writes into a workspace: the executable bit
/// is the only one a cache entry or a record decides; the rest come from the umask,
/// as for any file the user's own command would create. Never setuid, setgid, sticky.
package enum FileMode {
  /// The process's umask, read once from /proc (calling umask(2) to read it would
  /// change it for a moment under other threads).
  package static let umask: UInt32 = {
    #if os(Linux)
    if let text = try? LocalFileSystem().read("/proc/self/status") {
      for line in String(decoding: text, as: UTF8.self).split(separator: "\n") where line.hasPrefix("Umask:") {
        if let value = UInt32(String(line.dropFirst(6).filter { !$0.isWhitespace }), radix: 8) { return value & 0o777 }
      }
    }
    #endif
    return 0o022
  }()

  /// The bits of a restored file: rwx or rw- for everyone, less the umask.
  package static func restored(executable: Bool) -> UInt32 {
    (executable ? 0o777 : 0o666) & ~umask
  }

  /// What is recorded of a file's mode: 0o755 when its owner may execute it, else 0o644.
  package static func recorded(_ permissions: UInt32) -> UInt32 {
    permissions & 0o100 != 0 ? 0o755 : 0o644
  }
}

/// Stats `name` inside `folder` (absolute): for runs of names in one folder, as when a
/// snapshot of thousands of files is checked. The real one keeps the folder open and
/// looks up one path component per name instead of every component of the path.
package protocol StatCursor {
  mutating func stat(_ name: String, in folder: String, followingLinks: Bool) -> FileStat?
}

/// Paths stat'ed through a `StatCursor`: a run of paths in one folder reuses its open
/// descriptor and its name (no string made for it per path). For many files in few
/// folders: the snapshot's comparison, a task's inputs checked after it ran. Relative
/// paths are taken under `root` (joined once per folder, not once per path).
package struct PathStats {
  private var cursor: any StatCursor
  private let root: String
  /// The folder of the last path, as it was written in it, and as the cursor takes it.
  private var parent = ""
  private var folder = ""

  /// `root`: where relative paths lie; without it, every path must be absolute.
  package init(_ fileSystem: any FileSystem, root: String = "") {
    cursor = fileSystem.statCursor()
    self.root = root
  }

  /// `path`'s stat (through links unless `followingLinks` is false); nil when nothing
  /// is there or `path` has no folder (relative, with no root).
  package mutating func stat(_ path: String, followingLinks: Bool = true) -> FileStat? {
    // The root itself (a listing of its folder).
    if path.isEmpty { return root.isEmpty ? nil : stat(root, followingLinks: followingLinks) }
    // Split on the last slash by bytes; the folder string is made once per run.
    let slash = path.utf8.lastIndex(of: UInt8(ascii: "/"))
    guard slash != nil || !root.isEmpty else { return nil }
    let above: Substring = slash.map { $0 == path.startIndex ? "/" : path[..<$0] } ?? ""
    if above != parent || folder.isEmpty {
      parent = String(above)
      folder = path.utf8.first == UInt8(ascii: "/") ? parent : parent.isEmpty ? root : Paths.join(root, parent)
    }
    let name = slash.map { String(path[path.utf8.index(after: $0)...]) } ?? path
    return cursor.stat(name, in: folder, followingLinks: followingLinks)
  }
}

/// A cursor that simply joins the path (fakes, and anywhere folders cannot be opened).
package struct PathStatCursor: StatCursor {
  let fileSystem: any FileSystem
  package init(_ fileSystem: any FileSystem) { self.fileSystem = fileSystem }
  package mutating func stat(_ name: String, in folder: String, followingLinks: Bool) -> FileStat? {
    let path = folder == "/" ? "/" + name : folder + "/" + name
    return followingLinks ? fileSystem.stat(path) : fileSystem.lstat(path)
  }
}

extension FileSystem {
  package func statCursor() -> any StatCursor { PathStatCursor(self) }

  package func removeLater(_ path: String) throws(FileSystemError) { try remove(path) }

  package func readLink(_ path: String) throws(FileSystemError) -> String {
    throw FileSystemError(path, "symlinks are not supported by this file system")
  }
  package func createSymlink(_ target: String, at path: String) throws(FileSystemError) {
    throw FileSystemError(path, "symlinks are not supported by this file system")
  }

  /// Fakes hold text names only.
  package func undecodableNames(inDirectory path: String) -> [UndecodableName] { [] }

  /// The first folder on the way from `root` down to workspace path `path` (`path`
  /// itself excluded) that is not a real folder: a symlink, a file, or nothing; nil when
  /// every one is a folder. What lies behind a symlink there is not the workspace's.
  package func firstNonFolder(above path: String, in root: String) -> (path: String, kind: FileStat.Kind?)? {
    var prefix = ""
    if Paths.isASCII(path) {
      // Every "/" byte is a separator Character: the same parts, split as bytes
      // (splitting into Characters cost more than the lstat calls).
      for part in path.utf8.split(separator: UInt8(ascii: "/")).dropLast() {
        let name = String(decoding: part, as: UTF8.self)
        prefix = prefix.isEmpty ? name : prefix + "/" + name
        let kind = lstat(Paths.join(root, prefix))?.kind
        if kind != .directory { return (prefix, kind) }
      }
      return nil
    }
    for part in path.split(separator: "/").dropLast() {
      prefix = prefix.isEmpty ? String(part) : prefix + "/" + part
      let kind = lstat(Paths.join(root, prefix))?.kind
      if kind != .directory { return (prefix, kind) }
    }
    return nil
  }

  /// `mkdir -p`.
  package func createDirectories(_ path: String) throws(FileSystemError) {
    if let st = stat(path) {
      if st.kind == .directory { return }
      throw FileSystemError(path, "exists and is not a directory")
    }
    let parent = Paths.parent(path)
    if !parent.isEmpty, parent != path { try createDirectories(parent) }
    do { try createDirectory(path) } catch {
      if stat(path)?.kind == .directory { return }  // a concurrent mkdir won
      throw error
    }
  }

  /// Every file (or symlink) under `path`, relative to it, sorted. Folders are walked
  /// by the kinds the listing gives (lstat where it gives none), so a symlinked folder
  /// is listed as an entry, not followed.
  package func files(under path: String) -> [String] {
    files(under: path, skipping: { _ in false })
  }

  /// `files(under:)`, not entering (nor listing) the paths `skip` says to leave out.
  package func files(under path: String, skipping skip: (String) -> Bool) -> [String] {
    listing(under: path, skipping: skip).files
  }

  /// `files(under:skipping:)`, and the entries whose names are not UTF-8 (neither
  /// listed nor entered: they have no text path).
  package func listing(under path: String, skipping skip: (String) -> Bool) -> FileListing {
    var result = FileListing()
    var pending: [String] = [""]
    while let rel = pending.popLast() {
      let abs = rel.isEmpty ? path : path + "/" + rel
      guard let entries = entries(ofDirectory: abs) else { continue }
      var hasUndecodable = false
      for entry in entries {
        let name = entry.name
        let childRel = rel.isEmpty ? name : rel + "/" + name
        if skip(childRel) { continue }
        // The listing's kind where it gives one: a file that became a folder (or a
        // link) changed its folder's listing too, which whoever noted it compares. A
        // name made text with U+FFFD is asked of lstat: it names nothing on disk
        // when it was not UTF-8.
        let repaired = name.unicodeScalars.contains("\u{FFFD}")
        switch repaired ? lstat(abs + "/" + name)?.kind : entry.kind ?? lstat(abs + "/" + name)?.kind {
        case .directory: pending.append(childRel)
        case .file, .symlink: if !Paths.isTemporary(name) { result.files.append(childRel) }
        case .other: break
        case nil:
          // Gone since the listing, or a name that is not UTF-8, made text with U+FFFD.
          if repaired { hasUndecodable = true }
        }
      }
      if hasUndecodable {
        let prefix = rel.isEmpty ? [] : Array(rel.utf8) + [UInt8(ascii: "/")]
        for entry in undecodableNames(inDirectory: abs) {
          result.undecodable.append(UndecodableName(bytes: prefix + entry.bytes, isDirectory: entry.isDirectory))
        }
      }
    }
    result.files.sort()
    return result
  }

  /// The workspace's files under `folder` (workspace-relative, sorted), never anything
  /// inside `.kiln` or `.git`: what globs are matched against.
  /// `.kiln` and `.git` are not even entered: kiln's own state changes at every
  /// command and must not count as a change of the workspace.
  package func workspaceFiles(root: String, under folder: String) -> [String] {
    workspaceListing(root: root, under: folder).files
  }

  /// `workspaceFiles(root:under:)`, and the entries under `folder` whose names are not
  /// UTF-8 (workspace-relative bytes): a glob that could match one must say so.
  package func workspaceListing(root: String, under folder: String) -> FileListing {
    if Paths.isReserved(folder) { return FileListing() }
    var result = listing(under: Paths.join(root, folder), skipping: { folder.isEmpty && Paths.isReserved($0) })
    if !folder.isEmpty {
      result.files = result.files.map { folder + "/" + $0 }
      let prefix = Array(folder.utf8) + [UInt8(ascii: "/")]
      result.undecodable = result.undecodable.map { UndecodableName(bytes: prefix + $0.bytes, isDirectory: $0.isDirectory) }
    }
    return result
  }
}
