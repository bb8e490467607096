#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import CSpawn
import KilnHash
import Synchronization
import SystemPackage

/// The real disk, through POSIX calls. Every error names its path.
package struct LocalFileSystem: FileSystem {
  package init() {}

  fileprivate static func fileStat(_ st: Glibc.stat) -> FileStat {
    let kind: FileStat.Kind
    switch Int32(st.st_mode) & Int32(Glibc.S_IFMT) {
    case Int32(Glibc.S_IFREG): kind = .file
    case Int32(Glibc.S_IFDIR): kind = .directory
    case Int32(Glibc.S_IFLNK): kind = .symlink
    default: kind = .other
    }
    return FileStat(
      kind: kind, size: Int64(st.st_size),
      mtime: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
      ctime: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec),
      inode: UInt64(st.st_ino), permissions: UInt32(st.st_mode & 0o7777))
  }

  package func stat(_ path: String) -> FileStat? {
    var st = Glibc.stat()
    guard followingStat(path, &st) == 0 else { return nil }
    return Self.fileStat(st)
  }

  package func lstat(_ path: String) -> FileStat? {
    var st = Glibc.stat()
    guard Glibc.lstat(path, &st) == 0 else { return nil }
    return Self.fileStat(st)
  }

  package func statCursor() -> any StatCursor { FolderStatCursor() }

  /// Keeps the last folder open (O_PATH) and stats names relative to it.
  final class FolderStatCursor: StatCursor {
    private var folder = ""
    private var fd: Int32 = -1

    deinit { if fd >= 0 { close(fd) } }

    func stat(_ name: String, in folder: String, followingLinks: Bool) -> FileStat? {
      if folder != self.folder {
        if fd >= 0 { close(fd) }
        fd = kiln_open_folder(folder)
        self.folder = folder
      }
      var st = Glibc.stat()
      let flags = followingLinks ? 0 : AT_SYMLINK_NOFOLLOW
      // A folder that cannot be opened: its names are absent (or say so the slow way).
      let rc: Int32
      if fd >= 0 {
        rc = fstatat(fd, name, &st, flags)
      } else {
        rc = followingLinks ? followingStat(folder + "/" + name, &st) : Glibc.lstat(folder + "/" + name, &st)
      }
      return rc == 0 ? LocalFileSystem.fileStat(st) : nil
    }
  }

  private static func error(_ path: String) -> FileSystemError {
    FileSystemError(path, Errno(rawValue: errno).description)
  }

  private static let chunk = 1 << 18
  /// FICLONE from <linux/fs.h>: _IOW(0x94, 9, int).
  private static let ficlone = UInt(0x4004_9409)

  // MARK: - Reading

  /// Opens a regular file for reading. Anything else (a FIFO, a device, a socket) is
  /// refused without blocking: a path kiln reads may come from a depfile, a record or a
  /// cache entry, and a FIFO there would hang the build in open(2) or read(2).
  private static func openForReading(_ path: String) throws(FileSystemError) -> (fd: Int32, size: Int) {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { throw error(path) }
    var st = Glibc.stat()
    guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
      close(fd)
      throw FileSystemError(path, "not a regular file")
    }
    return (fd, Int(st.st_size))
  }
  /// Reads `fd` to its end in chunks of `chunk` bytes, handing each to `body`: the one
  /// read loop behind hashing, scanning, reading and copying. A small file gets a
  /// buffer its size (plus one byte, to see the end in one read): a 256 KiB buffer is
  /// an mmap, page faults and an munmap per file, a fifth of kiln's own time when it
  /// runs thousands of tiny tasks.
  private static func forEachChunk(
    _ fd: Int32, path: String, size: Int, _ body: (UnsafeRawBufferPointer) throws(FileSystemError) -> Void
  ) throws(FileSystemError) {
    let capacity = min(chunk, max(64, size + 1))
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 64)
    defer { buffer.deallocate() }
    while true {
      let n = Glibc.read(fd, buffer.baseAddress, capacity)
      if n < 0 {
        if errno == EINTR { continue }
        throw error(path)
      }
      if n == 0 { return }
      try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
    }
  }

  package func digest(of path: String) throws(FileSystemError) -> Digest {
    let (fd, size) = try Self.openForReading(path)
    defer { close(fd) }
    if size >= 1 << 22 {
      // Large files: one mapping, hashed in place, is faster than read(2) copies.
      if let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED {
        defer { munmap(map, size) }
        _ = madvise(map, size, MADV_SEQUENTIAL)
        return Hasher.digest(UnsafeRawBufferPointer(start: map, count: size))
      }
    }
    let hasher = Hasher()
    try Self.forEachChunk(fd, path: path, size: size) { hasher.update($0) }
    return hasher.finalize()
  }

  package func digest(of path: String, scanningFor needle: [UInt8]) throws(FileSystemError) -> (Digest, Bool) {
    guard !needle.isEmpty else { return (try digest(of: path), false) }
    let (fd, size) = try Self.openForReading(path)
    defer { close(fd) }
    let hasher = Hasher()
    var scanner = NeedleScanner(needle)
    try Self.forEachChunk(fd, path: path, size: size) { piece in
      hasher.update(piece)
      scanner.feed(piece)
    }
    return (hasher.finalize(), scanner.found)
  }

  package func digests(of path: String) throws(FileSystemError) -> (Digest, SHA256Digest) {
    let (fd, size) = try Self.openForReading(path)
    defer { close(fd) }
    let hasher = Hasher(), sha = SHA256Hasher()
    try Self.forEachChunk(fd, path: path, size: size) { piece in
      hasher.update(piece)
      sha.update(piece)
    }
    return (hasher.finalize(), sha.finalize())
  }

  package func digests(of path: String, scanningFor needle: [UInt8]) throws(FileSystemError) -> (Digest, SHA256Digest, Bool) {
    let (fd, size) = try Self.openForReading(path)
    defer { close(fd) }
    let hasher = Hasher(), sha = SHA256Hasher()
    var scanner = NeedleScanner(needle)
    try Self.forEachChunk(fd, path: path, size: size) { piece in
      hasher.update(piece)
      sha.update(piece)
      if !needle.isEmpty { scanner.feed(piece) }
    }
    return (hasher.finalize(), sha.finalize(), !needle.isEmpty && scanner.found)
  }

  package func read(_ path: String) throws(FileSystemError) -> [UInt8] {
    let (fd, size) = try Self.openForReading(path)
    defer { close(fd) }
    var result: [UInt8] = []
    result.reserveCapacity(size)
    try Self.forEachChunk(fd, path: path, size: size) { result.append(contentsOf: $0) }
    return result
  }

  package func contents(ofDirectory path: String) -> [String]? {
    entries(ofDirectory: path)?.map(\.name)
  }

  package func entries(ofDirectory path: String) -> [DirectoryEntry]? {
    guard let dir = opendir(path) else { return nil }
    defer { closedir(dir) }
    var entries: [DirectoryEntry] = []
    while let entry = readdir(dir) {
      let name = withUnsafePointer(to: entry.pointee.d_name) {
        $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
      }
      if name == "." || name == ".." { continue }
      let kind: FileStat.Kind? = switch Int32(entry.pointee.d_type) {
      case Int32(DT_REG): .file
      case Int32(DT_DIR): .directory
      case Int32(DT_LNK): .symlink
      case Int32(DT_UNKNOWN): nil
      default: .other
      }
      entries.append(DirectoryEntry(name: name, kind: kind))
    }
    return entries
  }

  // MARK: - Writing

  /// A unique name beside `path` for write-then-rename. Beside, not in one shared
  /// folder: renames within a folder take no file-system-wide lock, and a clean rebuild
  /// restoring 400 files into one scratch folder and out again measured 3x slower.
  /// Globs never see these names (`Paths.isTemporary`), and a build after a killed one
  /// removes what the dead process left (`removeLeftovers(in:)`).
  private static func temporaryName(for path: String) -> String {
    "\(path)\(Paths.temporaryMarker)\(getpid())-\(TemporaryCounter.next())"
  }

  /// Removes the temporary files (`NAME.kiln-tmp-PID-N`) in `folder` whose process is
  /// gone (kill -9 between write and rename); returns how many.
  @discardableResult
  package func removeLeftovers(in folder: String) -> Int {
    var removed = 0
    for name in contents(ofDirectory: folder) ?? [] {
      guard let range = name.firstRange(of: Paths.temporaryMarker) else { continue }
      let parts = name[range.upperBound...].split(separator: "-")
      guard parts.count == 2, let pid = Int32(parts[0]), Int(parts[1]) != nil else { continue }
      if pid == getpid() || kill(pid, 0) == 0 || errno == EPERM { continue }
      if unlink(folder + "/" + name) == 0 { removed += 1 }
    }
    return removed
  }

  private static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(FileSystemError) {
    var offset = 0
    while offset < buffer.count {
      let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
      if n < 0 {
        if errno == EINTR { continue }
        throw error(path)
      }
      offset += n
    }
  }

  package func writeAtomically(_ bytes: [UInt8], to path: String, permissions: UInt32) throws(FileSystemError) {
    try Self.writeWhole(path, permissions: permissions) { (fd, name) throws(FileSystemError) in
      if bytes.isEmpty { return }
      try bytes.withUnsafeBytes { buf in Result { () throws(FileSystemError) in try Self.writeAll(fd, buf, path: name) } }
        .get()
    }
  }

  package func copy(_ source: String, to destination: String, permissions: UInt32) throws(FileSystemError) -> Digest {
    let (input, size) = try Self.openForReading(source)
    defer { close(input) }
    return try Self.writeWhole(destination, permissions: permissions) { (output, name) throws(FileSystemError) -> Digest in
      // From the start: a second try (see `writeWhole`) reads the source again.
      guard lseek(input, 0, SEEK_SET) == 0 else { throw Self.error(source) }
      return try fill(output, readBack: name, from: input, source: source, size: size)
    }
  }

  /// Linux's `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`; Glibc's macro does not reach Swift).
  private static let unnamedFile = O_DIRECTORY | 0o20000000
  /// Cleared when an unnamed file could not be linked in for want of /proc (or of
  /// `linkat` through it): every later write goes through a temporary name at once.
  private static let unnamedWorks = Atomic(true)

  /// `path` written by `write(fd, name)` (`name` reads the file back) and made
  /// `permissions`, appearing whole or not at all, never through a symlink at `path`
  /// (one is replaced). Where nothing is at `path` yet (a fresh worktree's restored
  /// outputs, a new blob), an unnamed file (`O_TMPFILE`) is written in its folder and
  /// linked in: one change to the folder instead of two (a temporary name made, then
  /// renamed), and two restores into one folder took turns on its lock
  /// (docs/benchmarks.md, issue 16). Something there, or an unnamed file refused: a
  /// temporary name beside it (`temporaryName`), renamed over it.
  private static func writeWhole<T>(_ path: String, permissions: UInt32,
                                    _ write: (Int32, String) throws(FileSystemError) -> T) throws(FileSystemError) -> T {
    var st = Glibc.stat()
    if unnamedWorks.load(ordering: .relaxed), Glibc.lstat(path, &st) != 0, errno == ENOENT {
      let folder = Paths.parent(path)
      let fd = open(folder.isEmpty ? "." : folder, unnamedFile | O_WRONLY | O_CLOEXEC, mode_t(0o600))
      if fd >= 0 {
        defer { close(fd) }
        let name = "/proc/self/fd/\(fd)"
        let value = try write(fd, name)
        fchmod(fd, mode_t(permissions))
        // linkat neither follows nor replaces what is at `path`.
        if linkat(AT_FDCWD, name, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 { return value }
        guard errno == EEXIST else {
          unnamedWorks.store(false, ordering: .relaxed)
          return try writeNamed(path, permissions: permissions, write)
        }
        // Something came there meanwhile: linked in under a temporary name, renamed over it.
        let tmp = temporaryName(for: path)
        guard linkat(AT_FDCWD, name, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0 else { throw error(tmp) }
        guard Glibc.rename(tmp, path) == 0 else {
          let failure = error(path)
          unlink(tmp)
          throw failure
        }
        return value
      }
    }
    return try writeNamed(path, permissions: permissions, write)
  }

  /// `writeWhole` through a temporary name beside `path`, renamed over it.
  private static func writeNamed<T>(_ path: String, permissions: UInt32,
                                    _ write: (Int32, String) throws(FileSystemError) -> T) throws(FileSystemError) -> T {
    let tmp = temporaryName(for: path)
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(0o600))
    guard fd >= 0 else { throw error(tmp) }
    let value: T
    do throws(FileSystemError) { value = try write(fd, tmp) } catch {
      close(fd)
      unlink(tmp)
      throw error
    }
    fchmod(fd, mode_t(permissions))
    close(fd)
    guard Glibc.rename(tmp, path) == 0 else {
      let failure = error(path)
      unlink(tmp)
      throw failure
    }
    return value
  }

  /// `input`'s bytes into `output` (whose path `readBack` reads it again), and their digest.
  private func fill(_ output: Int32, readBack: String, from input: Int32, source: String,
                    size: Int) throws(FileSystemError) -> Digest {
    // A reflink (btrfs, XFS) shares the blocks copy-on-write: as safe as a copy against
    // later in-place edits, and nearly free. ext4 refuses it; then the bytes are copied.
    if ioctl(output, Self.ficlone, input) == 0 { return try digest(of: readBack) }
    let hasher = Hasher()
    try Self.forEachChunk(input, path: source, size: size) { (piece) throws(FileSystemError) in
      hasher.update(piece)
      try Self.writeAll(output, piece, path: readBack)
    }
    return hasher.finalize()
  }

  package func createDirectory(_ path: String) throws(FileSystemError) {
    guard mkdir(path, 0o777) == 0 || errno == EEXIST else { throw Self.error(path) }
  }

  package func remove(_ path: String) throws(FileSystemError) {
    guard let st = lstat(path) else { return }
    if st.kind == .directory {
      for name in contents(ofDirectory: path) ?? [] { try remove(path + "/" + name) }
      guard rmdir(path) == 0 || errno == ENOENT else { throw Self.error(path) }
    } else {
      guard unlink(path) == 0 || errno == ENOENT else { throw Self.error(path) }
    }
  }

  /// A file is renamed aside (`NAME.kiln-tmp-PID-N`, which globs never see and a build
  /// after a killed one removes) and unlinked on kiln's worker thread, which the
  /// process waits for before it exits (`WorkerThread.drain`). An edit build clears
  /// the old object file before its compile and the old archive before the archiver
  /// runs: each unlink cost 0.4-0.9 ms on the way to the command, a rename 0.02.
  /// Folders, and whatever cannot be renamed, are removed at once.
  package func removeLater(_ path: String) throws(FileSystemError) {
    guard let st = lstat(path) else { return }
    if st.kind != .directory {
      let aside = Self.temporaryName(for: path)
      if Glibc.rename(path, aside) == 0 {
        WorkerThread.shared.run(placing: false) { _ = unlink(aside) }
        return
      }
      if errno == ENOENT { return }
    }
    try remove(path)
  }

  package func rename(_ source: String, to destination: String) throws(FileSystemError) {
    guard Glibc.rename(source, destination) == 0 else { throw Self.error(destination) }
  }

  package func touch(_ path: String) {
    _ = utimensat(AT_FDCWD, path, nil, 0)
  }

  package func readLink(_ path: String) throws(FileSystemError) -> String {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = buffer.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
    guard n >= 0 else { throw Self.error(path) }
    guard n < buffer.count else { throw FileSystemError(path, "symlink target too long") }
    let bytes = Array(buffer[0..<n])
    guard let text = String(validating: bytes, as: UTF8.self) else {
      throw FileSystemError(path, "symlink target is not UTF-8")
    }
    return text
  }

  package func createSymlink(_ target: String, at path: String) throws(FileSystemError) {
    let tmp = Self.temporaryName(for: path)
    guard symlink(target, tmp) == 0 else { throw Self.error(tmp) }
    guard Glibc.rename(tmp, path) == 0 else {
      let failure = Self.error(path)
      unlink(tmp)
      throw failure
    }
  }
}

/// Finds a byte string in a stream of chunks, including across chunk boundaries.
package struct NeedleScanner {
  let needle: [UInt8]
  /// The last needle.count - 1 bytes seen, to join with the next chunk.
  private var tail: [UInt8] = []
  private(set) var found = false

  init(_ needle: [UInt8]) { self.needle = needle }

  mutating func feed(_ chunk: UnsafeRawBufferPointer) {
    guard !found, !needle.isEmpty else { return }
    let keep = needle.count - 1
    if !tail.isEmpty {
      let joint = tail + chunk.prefix(keep)
      found = joint.withUnsafeBytes { Self.search($0, for: needle) }
    }
    if !found { found = Self.search(chunk, for: needle) }
    tail = chunk.count >= keep ? Array(chunk.suffix(keep)) : Array((tail + chunk).suffix(keep))
  }

  /// Whether `needle` occurs in `haystack` (memchr for the first byte, then memcmp;
  /// glibc's memmem is not visible without _GNU_SOURCE).
  package static func search(_ haystack: UnsafeRawBufferPointer, for needle: [UInt8]) -> Bool {
    guard let base = haystack.baseAddress, needle.count <= haystack.count, let first = needle.first else { return false }
    return needle.withUnsafeBytes { n in
      var offset = 0
      let last = haystack.count - needle.count
      while offset <= last {
        guard let hit = memchr(base + offset, Int32(first), last - offset + 1) else { return false }
        let at = base.distance(to: UnsafeRawPointer(hit))
        if memcmp(base + at, n.baseAddress!, needle.count) == 0 { return true }
        offset = at + 1
      }
      return false
    }
  }

}

/// stat(2); at file scope because inside `LocalFileSystem` the name means the method.
private func followingStat(_ path: String, _ st: inout Glibc.stat) -> Int32 {
  stat(path, &st)
}

/// A process-wide counter for unique temporary names.
package enum TemporaryCounter {
  private static let value = Atomic<Int>(0)
  package static func next() -> Int {
    value.add(1, ordering: .relaxed).newValue
  }
}
