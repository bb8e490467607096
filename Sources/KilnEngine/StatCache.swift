import KilnCore
import KilnHash
import KilnStore
import KilnSystem
import Synchronization

/// File digests, re-hashed only when a file's stat changed.
///
/// An entry is trusted when size, mtime, ctime and inode all match and the file was
/// not racy when hashed (`StatTrust`: modified within the file system's timestamp
/// granularity of that moment, it could change again without its stat moving), so a
/// racy one is hashed again next time.
/// Files this process hashed itself are trusted for the rest of the build.
/// Shared by the build loop and the job tasks: a mutex guards the maps, never I/O.
/// One per build, made by whoever runs it (`Session`); what it learned leaves it once,
/// in the build's history entry (`changes`).
package final class StatCache: Sendable {
  private let root: String
  package let fileSystem: any FileSystem
  private let clock: any TimeSource
  private let state: Mutex<State>

  private struct State {
    /// The entries the build started with, never written: the session holds the same
    /// table, and a write would copy all of it. What this build hashed is in `fresh`,
    /// which overrides them; what it forgot, in `forgotten`.
    var entries: [String: StatEntry]
    var fresh: [String: StatEntry] = [:]
    var forgotten = Set<String>()
    var changed: [String: StatEntry?] = [:]
    /// Files already looked at in this process: each is stat'ed once per build, however
    /// many tasks name it (a header in every depfile, a system header in all of them).
    /// Writes by kiln itself (`remember`, `forget`) keep it current.
    var seen: [String: Observed?] = [:]
    /// Whether some input was a folder, hashed as a tree: its listing is not in `seen`.
    var hashedTrees = false
    /// Paths whose kind (not content) a verdict depended on: folder outputs.
    var probed: [String: SnapshotEntry] = [:]
    /// SHA-256 of files, by path, with the XXH3 digest of the same bytes (remote keys).
    var sha256: [String: (Digest, SHA256Digest)] = [:]
  }

  /// A file's digest with the stat it was taken (or trusted) under.
  package struct Observed: Sendable {
    package var digest: Digest
    package var stat: FileStat
    /// Wall-clock nanoseconds when `stat` was taken.
    package var at: Int64 = 0
  }
  /// Whether each file hashed also gets its SHA-256 in the same read (when a remote
  /// cache is configured).
  package let takesSHA256: Bool

  package init(entries: [String: StatEntry], root: String, fileSystem: any FileSystem, clock: any TimeSource,
               takesSHA256: Bool = false) {
    self.takesSHA256 = takesSHA256
    state = Mutex(State(entries: entries))
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
    StatTrust.isRacy(mtime: e.mtime, ctime: e.ctime, observedAt: e.recorded)
  }

  /// The digest of a file (or of a directory tree) at `path` (workspace-relative or
  /// absolute); nil when nothing is there.
  package func digest(of path: String) throws(FileSystemError) -> Digest? {
    try observe(path)?.digest
  }

  /// The digest and the stat it belongs to. With `again`, the file is stat'ed even if
  /// this build looked at it before (after a command ran: it may have been edited since).
  package func observe(_ path: String, again: Bool = false) throws(FileSystemError) -> Observed? {
    if !again, let known = state.withLock({ $0.seen[path] }) { return known }
    let abs = absolute(path)
    let at = clock.wallNanoseconds()
    guard let st = fileSystem.stat(abs) else {
      state.withLock { $0.seen[path] = .some(nil) }
      return nil
    }
    // Directory trees are not memoised: files inside them may be written during the build.
    if st.kind == .directory {
      state.withLock { $0.hashedTrees = true }
      return Observed(digest: try treeDigest(path), stat: st, at: at)
    }
    let cached: StatEntry? = state.withLock {
      if let f = $0.fresh[path], Self.matches(f, st) { return f }
      if let e = $0.entries[path], Self.matches(e, st), !Self.isRacy(e), !$0.forgotten.contains(path) { return e }
      return nil
    }
    if let cached {
      let observed = Observed(digest: cached.digest, stat: st, at: at)
      state.withLock { $0.seen[path] = observed }
      return observed
    }
    let digest: Digest
    if takesSHA256 {
      // A remote cache is configured: its key will want the SHA-256 of the same bytes.
      let (d, sha) = try fileSystem.digests(of: abs)
      digest = d
      state.withLock { $0.sha256[path] = (d, sha) }
    } else {
      digest = try fileSystem.digest(of: abs)
    }
    remember(path, st, digest, recorded: at)
    return Observed(digest: digest, stat: st, at: at)
  }

  /// The SHA-256 of the file at `path` whose content has XXH3 digest `expected` (what
  /// its action key used): both hashed in one read, once per content in this process.
  /// Nil when the file no longer holds that content or cannot be read: then no remote
  /// key may be made from it.
  package func sha256(of path: String, expecting expected: Digest) -> SHA256Digest? {
    if let (digest, sha) = state.withLock({ $0.sha256[path] }), digest == expected { return sha }
    guard let (digest, sha) = try? fileSystem.digests(of: absolute(path)), digest == expected else { return nil }
    state.withLock { $0.sha256[path] = (digest, sha) }
    return sha
  }

  /// Records the SHA-256 this process took of a file with content `digest` (an output,
  /// hashed as it was stored): a later task's remote key does not read it again.
  package func remember(_ path: String, _ digest: Digest, sha256: SHA256Digest) {
    state.withLock { $0.sha256[path] = (digest, sha256) }
  }

  /// Records a digest this process just computed for a file with stat `st`.
  package func remember(_ path: String, _ st: FileStat, _ digest: Digest, recorded: Int64) {
    let entry = StatEntry(size: st.size, mtime: st.mtime, ctime: st.ctime, inode: st.inode, digest: digest, recorded: recorded)
    // Not into `entries`, which `fresh` overrides: that table is the session's too, and
    // the first write into it copied all of it (a row per file ever hashed).
    state.withLock {
      $0.seen[path] = Observed(digest: digest, stat: st, at: recorded)
      $0.fresh[path] = entry
      $0.changed[path] = entry
    }
  }

  /// What is at `path` now (file, directory, ...), not memoised (but remembered for
  /// the snapshot).
  package func fileSystemKind(_ path: String) -> FileStat.Kind? {
    let at = clock.wallNanoseconds()
    let st = fileSystem.stat(absolute(path))
    state.withLock { $0.probed[path] = SnapshotEntry(path: path, stat: st, observedAt: at, kindOnly: true) }
    return st?.kind
  }

  /// The digest of the target text of the symlink at `path` (how a symlink output is
  /// recorded); nil when no symlink is there. Not memoised; remembered for the snapshot
  /// as an lstat.
  package func linkDigest(of path: String) -> Digest? {
    let at = clock.wallNanoseconds()
    let abs = absolute(path)
    let st = fileSystem.lstat(abs)
    rememberLink(path, st, observedAt: at)
    guard st?.kind == .symlink, let target = try? fileSystem.readLink(abs) else { return nil }
    return Hasher.digest(Array(target.utf8))
  }

  /// Records the lstat this process took of `path` (a symlink output it just made or
  /// hashed, with the time taken before the lstat), for the snapshot: as `remember` does
  /// for a file, so the next build's check sees the link deleted or replaced.
  package func rememberLink(_ path: String, _ st: FileStat?, observedAt at: Int64) {
    state.withLock { $0.probed["l:" + path] = SnapshotEntry(path: path, followsLinks: false, stat: st, observedAt: at) }
  }

  package func forget(_ path: String) {
    state.withLock {
      let remembered = $0.fresh.removeValue(forKey: path) != nil
      $0.seen[path] = nil
      let known = $0.entries[path] != nil && $0.forgotten.insert(path).inserted
      if remembered || known { $0.changed[path] = .some(nil) }
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
    state.withLock {
      if $0.hashedTrees { return nil }
      var result = $0.seen.map { path, observed in
        SnapshotEntry(path: path, stat: observed?.stat, observedAt: observed?.at ?? 0, digest: observed?.digest)
      }
      result.append(contentsOf: $0.probed.values)
      return result
    }
  }

  /// Every entry that changed since the last call (nil entry: forgotten), for the
  /// build's history entry, which carries them into the manifest.
  package func changes() -> [BuildHistoryEntry.PathStat] {
    let pending = state.withLock {
      let c = $0.changed
      $0.changed = [:]
      return c
    }
    return pending.map { BuildHistoryEntry.PathStat(path: $0.key, entry: $0.value) }.sorted { $0.path < $1.path }
  }
}
