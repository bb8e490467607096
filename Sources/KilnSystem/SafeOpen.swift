#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import SystemPackage

/// kiln's own files, in the cache and in `.kiln/`, opened without following a symbolic
/// link: a link planted where kiln keeps a file (committed to a repository, or made by
/// another user of a shared folder) would otherwise make kiln write, truncate or read
/// whatever it points to. kiln never makes links there, so one found there is refused.
package enum OwnFile {
  /// The error for a symbolic link where kiln keeps its own file or folder.
  package static func linkRefused(_ path: String) -> FileSystemError {
    FileSystemError(path, "is a symbolic link, which kiln never makes here; kiln does not follow it (remove it and run again)")
  }

  /// open(2) with O_NOFOLLOW and O_CLOEXEC; nil when nothing is there (without O_CREAT)
  /// or it cannot be opened. A symbolic link at `path` throws `linkRefused`.
  package static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(FileSystemError) -> Int32? {
    let fd = Glibc.open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode)
    if fd >= 0 { return fd }
    if errno == ELOOP || isLink(path) { throw linkRefused(path) }
    return nil
  }

  /// Releases the `flock` on `fd`, then closes it. A close alone is not enough: a child
  /// another thread is spawning holds a copy of every descriptor until its `closefrom`,
  /// and the lock lives as long as that copy (seen in CI as a git call "under the
  /// lock" of the workspace registry, and as a checkout lock still held after release).
  package static func unlockAndClose(_ fd: Int32) {
    flock(fd, LOCK_UN)
    close(fd)
  }

  /// Whether `path` itself is a symbolic link (lstat).
  package static func isLink(_ path: String) -> Bool {
    var st = Glibc.stat()
    return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
  }

  /// Throws when `path` is a symbolic link; nothing there, or anything else, is fine.
  package static func refuseLink(_ path: String) throws(FileSystemError) {
    if isLink(path) { throw linkRefused(path) }
  }

  /// The whole file, never read through a link; nil when it is absent or unreadable.
  package static func read(_ path: String) throws(FileSystemError) -> [UInt8]? {
    // O_NONBLOCK: a FIFO without a writer would block open(2) itself, before the
    // check below; on a regular file the flag changes nothing.
    guard let fd = try open(path, O_RDONLY | O_NONBLOCK) else { return nil }
    defer { close(fd) }
    var st = Glibc.stat()
    // Only a regular file: a fifo or a device would block or never end.
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(Int(st.st_size))
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if n < 0, errno == EINTR { continue }
      if n <= 0 { return n == 0 ? bytes : nil }
      bytes += buffer[0..<n]
    }
  }

  /// Makes the folder (one level, `mode` under the umask) unless it exists; throws when
  /// it is a symbolic link or not a folder, or cannot be made.
  package static func folder(_ path: String, mode: mode_t = 0o777) throws(FileSystemError) {
    _ = try makeFolder(path, mode: mode)
  }

  /// A checkout's `.kiln/` (`folder`): when this call made it, it also gets a
  /// `.gitignore` holding `*`, so nothing in it ever shows in `git status`, as Python's
  /// venv and pytest's cache do with theirs.
  package static func stateFolder(_ path: String) throws(FileSystemError) {
    guard try makeFolder(path, mode: 0o777) else { return }
    let fd = Glibc.open(path + "/.gitignore", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o666)
    guard fd >= 0 else { return }
    let text = "# Made by kiln: everything in .kiln/ is this checkout's own state.\n*\n"
    _ = text.utf8CString.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress, $0.count - 1) }
    close(fd)
  }

  /// `folder`, saying whether this call made it.
  private static func makeFolder(_ path: String, mode: mode_t) throws(FileSystemError) -> Bool {
    let made = mkdir(path, mode) == 0
    if !made, errno != EEXIST {
      throw FileSystemError(path, Errno(rawValue: errno).description)
    }
    var st = Glibc.stat()
    guard lstat(path, &st) == 0 else { throw FileSystemError(path, Errno(rawValue: errno).description) }
    switch st.st_mode & S_IFMT {
    case S_IFDIR: return made
    case S_IFLNK: throw linkRefused(path)
    default: throw FileSystemError(path, "exists and is not a folder")
    }
  }
}

/// Who kiln lets write the cache it uses (SPEC §5). By default the cache is private:
/// its folder, its direct subfolders and the files kiln opens there must be owned by
/// this user and writable by no one else, so no other user can plant an entry that
/// another user's build would restore. `KILN_CACHE_SHARED=1` says the cache is shared:
/// then any owner and the group write bit are accepted (everyone who can write the
/// cache is trusted, as with ccache and Bazel's disk cache), but never the write bit
/// for every user, sticky or not (a group says who is trusted; "everyone" does not).
package struct CacheTrust: Sendable, Hashable {
  package var shared: Bool
  package var user: UInt32

  package init(shared: Bool, user: UInt32 = geteuid()) {
    self.shared = shared
    self.user = user
  }

  /// From `KILN_CACHE_SHARED` (1, true or yes: shared).
  package init(environment: [String: String]) {
    let value = environment["KILN_CACHE_SHARED"]?.lowercased() ?? ""
    self.init(shared: ["1", "true", "yes"].contains(value))
  }

  /// The mode kiln makes cache folders with: private unless shared (then the umask,
  /// and a setgid folder's group, decide).
  package var folderMode: mode_t { shared ? 0o777 : 0o755 }
  /// The mode of the lock files every kiln process sharing the cache opens for writing.
  package var lockFileMode: mode_t { shared ? 0o666 : 0o644 }

  /// Checks one folder or file of the cache by lstat: nil when absent, else what is
  /// wrong with it as a thrown error naming the path.
  package func check(_ path: String, folder: Bool) throws(FileSystemError) {
    var st = Glibc.stat()
    guard lstat(path, &st) == 0 else { return }
    try check(path, st, folder: folder)
  }

  /// `check(_:folder:)` on a stat already taken (an fstat of an open file).
  package func check(_ path: String, _ st: Glibc.stat, folder: Bool) throws(FileSystemError) {
    let type = st.st_mode & S_IFMT
    if type == S_IFLNK { throw OwnFile.linkRefused(path) }
    if type != (folder ? S_IFDIR : S_IFREG) {
      throw FileSystemError(path, "is not a \(folder ? "folder" : "regular file"); kiln does not use it as its cache")
    }
    let mode = String(UInt32(st.st_mode & 0o7777), radix: 8)
    if !shared, st.st_uid != user {
      throw FileSystemError(path, "is owned by user \(st.st_uid), not by you (\(user)); kiln uses only a cache it owns "
        + "(set KILN_CACHE_SHARED=1 if this cache is shared on purpose, or use another KILN_CACHE_DIR)")
    }
    if st.st_mode & 0o002 != 0 {
      throw FileSystemError(path, "can be written by every user (mode \(mode)); kiln refuses such a cache, even a shared one "
        + "(chmod o-w it)")
    }
    if !shared, st.st_mode & 0o020 != 0 {
      throw FileSystemError(path, "can be written by other users (mode \(mode)); kiln refuses a cache others can change "
        + "(chmod g-w it, or set KILN_CACHE_SHARED=1 if your group shares this cache on purpose)")
    }
  }
}

extension FileSystemError {
  /// Whether the system said the disk (or the user's quota) is full.
  package var isNoSpace: Bool {
    message == Errno.noSpace.description || message == Errno.diskQuotaExceeded.description
  }

  /// Whether the system said the file or its file system cannot be written.
  package var isNotWritable: Bool {
    message == Errno.readOnlyFileSystem.description || message == Errno.permissionDenied.description
  }

  /// The cache at `root` refusing a write because its disk is full or read-only, as
  /// `explained(inCache:)` words it (for a write that is not a file's: a database's).
  package static func cache(_ root: String, full: Bool) -> FileSystemError {
    FileSystemError(root, (full ? Errno.noSpace : Errno.readOnlyFileSystem).description).explained(inCache: root)
  }

  /// A failure to write into the cache at `root` as the user can act on it: a full or
  /// read-only cache is named as such, with what to do, rather than by the temporary
  /// file's path; any other error as it is.
  package func explained(inCache root: String) -> FileSystemError {
    if isNoSpace {
      return FileSystemError(root, "the cache is full (\(message)); free space on its disk or shrink it with "
        + "`kiln cache gc --max-size SIZE`")
    }
    if isNotWritable {
      return FileSystemError(root, "the cache cannot be written (\(message)); make it writable or set "
        + "KILN_CACHE_DIR to a folder you can write")
    }
    return self
  }
}

/// The shared cache's folder made and checked before anything in it is opened.
package enum CacheSetup {
  /// Makes the cache folder and its subfolders if missing, and checks that they (and
  /// the lock files every kiln process opens) are not symbolic links and are owned and
  /// writable as `trust` allows: a few lstat calls, once per process, never a look at
  /// every blob.
  package static func prepare(root: String, trust: CacheTrust, fileSystem: any FileSystem) throws(FileSystemError) {
    if fileSystem.lstat(root) == nil {
      let parent = Paths.parent(root)
      if !parent.isEmpty { try fileSystem.createDirectories(parent) }
      // Private unless shared: the cache holds every output's bytes.
      try OwnFile.folder(root, mode: trust.shared ? 0o777 : 0o700)
    }
    try trust.check(root, folder: true)
    // A cache kiln cannot write (a read-only mount of a filled cache) still serves
    // restores: what cannot be made is left out, and only what exists is checked.
    for name in ["blobs", "actions", "locks", "launcher"] {
      _ = mkdir(root + "/" + name, trust.folderMode)
      try trust.check(root + "/" + name, folder: true)
    }
    for name in ["locks/jobs", "locks/actions", "locks/outputs"] {
      let path = root + "/" + name
      if let fd = try OwnFile.open(path, O_RDWR | O_CREAT, mode: trust.lockFileMode) {
        close(fd)
      }
      try trust.check(path, folder: false)
    }
    // The action entries' database and SQLite's files beside it, when there
    // (`ActionDatabase` makes it at its first use).
    for suffix in ["", "-wal", "-shm", "-journal"] {
      try trust.check(root + "/actions.db" + suffix, folder: false)
    }
  }
}
