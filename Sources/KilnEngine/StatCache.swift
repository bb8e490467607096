import KilnCore
import KilnHash
import KilnStore
import KilnSystem

/// File digests, re-hashed only when a file's stat changed.
///
/// An entry is trusted when size, mtime, ctime and inode all match and the file's mtime
/// lies clearly before the moment it was hashed: a file modified within the
/// filesystem's timestamp granularity of that moment could change again without its
/// mtime moving (git's "racy clean" problem), so it is hashed again next time.
/// Files this process hashed itself are trusted for the rest of the build.
/// Shared by the build loop and the job tasks: a lock guards the maps, never I/O.
package final class StatCache: @unchecked Sendable {
  /// Nanoseconds: how close to its hashing a file's mtime may be before it is racy.
  /// 50 ms covers the kernel's coarse clock tick; filesystems with whole-second
  /// mtimes (their nanoseconds are 0) get 2 s.
  package static let racyWindow: Int64 = 50_000_000
  package static let coarseRacyWindow: Int64 = 2_000_000_000

  private let root: String
  package let fileSystem: any FileSystem
  private let clock: any TimeSource
  private let lock = PThreadMutex()
  private var entries: [String: StatEntry]
  private var fresh: [String: StatEntry] = [:]
  private var changed: [String: StatEntry?] = [:]
  /// Files already looked at in this process: each is stat'ed once per build, however
  /// many tasks name it (a header in every depfile, a system header in all of them).
  /// Writes by kiln itself (`remember`, `forget`) keep it current.
  private var seen: [String: Observed?] = [:]
  /// Whether some input was a folder, hashed as a tree: its listing is not in `seen`.
  private var hashedTrees = false
  /// Paths whose kind (not content) a verdict depended on: folder outputs.
  private var probed: [String: SnapshotEntry] = [:]

  /// A file's digest with the stat it was taken (or trusted) under.
  package struct Observed: Sendable {
    package var digest: Digest
    package var stat: FileStat
    /// Wall-clock nanoseconds when `stat` was taken.
    package var at: Int64 = 0
  }
  /// Files hashed (not served from the cache) by this process: for tests and benches.
  package private(set) var hashCount = 0

  package init(entries: [String: StatEntry], root: String, fileSystem: any FileSystem, clock: any TimeSource) {
    self.entries = entries
    self.root = root
    self.fileSystem = fileSystem
    self.clock = clock
  }

  package func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : Paths.join(root, path)
  }

  private static func matches(_ e: StatEntry, _ st: FileStat) -> Bool {
    e.size == st.size && e.mtime == st.mtime && e.ctime == st.ctime && e.inode == st.inode
  }

  private static func isRacy(_ e: StatEntry) -> Bool {
    let window = e.mtime % 1_000_000_000 == 0 ? coarseRacyWindow : racyWindow
    return e.mtime >= e.recorded - window
  }

  /// The digest of a file (or of a directory tree) at `path` (workspace-relative or
  /// absolute); nil when nothing is there.
  package func digest(of path: String) throws(FileSystemError) -> Digest? {
    try observe(path)?.digest
  }

  /// The digest and the stat it belongs to. With `again`, the file is stat'ed even if
  /// this build looked at it before (after a command ran: it may have been edited since).
  package func observe(_ path: String, again: Bool = false) throws(FileSystemError) -> Observed? {
    if !again, let known = lock.withLock({ seen[path] }) { return known }
    let abs = absolute(path)
    let at = clock.wallNanoseconds()
    guard let st = fileSystem.stat(abs) else {
      lock.withLock { seen[path] = .some(nil) }
      return nil
    }
    // Directory trees are not memoised: files inside them may be written during the build.
    if st.kind == .directory {
      lock.withLock { hashedTrees = true }
      return Observed(digest: try treeDigest(path), stat: st, at: at)
    }
    let cached: StatEntry? = lock.withLock {
      if let f = fresh[path], Self.matches(f, st) { return f }
      if let e = entries[path], Self.matches(e, st), !Self.isRacy(e) { return e }
      return nil
    }
    if let cached {
      let observed = Observed(digest: cached.digest, stat: st, at: at)
      lock.withLock { seen[path] = observed }
      return observed
    }
    let digest = try fileSystem.digest(of: abs)
    remember(path, st, digest, recorded: at)
    return Observed(digest: digest, stat: st, at: at)
  }

  /// Records a digest this process just computed for a file with stat `st`.
  package func remember(_ path: String, _ st: FileStat, _ digest: Digest, recorded: Int64) {
    let entry = StatEntry(size: st.size, mtime: st.mtime, ctime: st.ctime, inode: st.inode, digest: digest, recorded: recorded)
    lock.withLock {
      hashCount += 1
      seen[path] = Observed(digest: digest, stat: st, at: recorded)
      fresh[path] = entry
      entries[path] = entry
      changed[path] = entry
    }
  }

  /// What is at `path` now (file, directory, ...), not memoised (but remembered for
  /// the snapshot).
  package func fileSystemKind(_ path: String) -> FileStat.Kind? {
    let at = clock.wallNanoseconds()
    let st = fileSystem.stat(absolute(path))
    lock.withLock { probed[path] = SnapshotEntry(path: path, stat: st, observedAt: at) }
    return st?.kind
  }

  /// The digest of the target text of the symlink at `path` (how a symlink output is
  /// recorded); nil when no symlink is there. Not memoised; remembered for the snapshot
  /// as an lstat.
  package func linkDigest(of path: String) -> Digest? {
    let at = clock.wallNanoseconds()
    let abs = absolute(path)
    let st = fileSystem.lstat(abs)
    lock.withLock { probed["l:" + path] = SnapshotEntry(path: path, followsLinks: false, stat: st, observedAt: at) }
    guard st?.kind == .symlink, let target = try? fileSystem.readLink(abs) else { return nil }
    return Hasher.digest(Array(target.utf8))
  }

  package func forget(_ path: String) {
    lock.withLock {
      fresh[path] = nil
      seen[path] = nil
      if entries.removeValue(forKey: path) != nil { changed[path] = .some(nil) }
    }
  }

  /// Digest of a directory: its sorted files' relative paths, executable bits and digests.
  package func treeDigest(_ path: String) throws(FileSystemError) -> Digest {
    let key = KeyBuilder()
    for rel in fileSystem.files(under: absolute(path)) {
      let child = path.hasSuffix("/") ? path + rel : path + "/" + rel
      let exec = fileSystem.stat(absolute(child))?.isExecutable == true
      key.field(exec ? "X" : "I", rel, try digest(of: child) ?? .zero)
    }
    return key.finalize()
  }

  /// Every file this build looked at, with the stat its verdicts used; nil when some
  /// input was a folder (its listing is not among them), so no snapshot can be made.
  package func observations() -> [SnapshotEntry]? {
    lock.withLock {
      if hashedTrees { return nil }
      var result = seen.map { path, observed in
        SnapshotEntry(path: path, stat: observed?.stat, observedAt: observed?.at ?? 0, digest: observed?.digest)
      }
      result.append(contentsOf: probed.values)
      return result
    }
  }

  /// Writes every entry that changed in this process to the manifest.
  package func flush(to manifest: Manifest) throws(DatabaseError) {
    let pending = lock.withLock {
      let c = changed
      changed = [:]
      return c
    }
    for (path, entry) in pending {
      if let entry { try manifest.putStat(path, entry) } else { try manifest.deleteStat(path) }
    }
  }
}
