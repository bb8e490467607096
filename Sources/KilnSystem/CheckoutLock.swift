#if canImport(Glibc)
import Glibc
#endif

/// One build (or `kiln exec`) at a time per checkout, as cargo locks its build folder.
///
/// Two builds in one checkout (`kiln build` and `kiln -f ci.yml build`, two `kiln exec`
/// writing one file) would otherwise write the same output files at once, and each
/// could hash and store the other's bytes as its own: the shared cache would then hand
/// that wrong result to every checkout. With the lock, the outputs a build hashes were
/// written by its own commands only (a task writing another task's output without
/// declaring it is caught afterwards, see `Build`).
///
/// Layout: `.kiln/lock`, opened without following symlinks; an exclusive `flock` for the
/// life of the process (the kernel drops it when the process dies, kill -9 included).
/// The holder writes `pid command line` into it, which a waiter prints once.
package final class CheckoutLock: Sendable {
  private let fd: Int32
  package let path: String

  private init(fd: Int32, path: String) {
    self.fd = fd
    self.path = path
  }

  deinit { OwnFile.unlockAndClose(fd) }

  /// What can stop a lock from being taken.
  package enum Failure: Error, CustomStringConvertible {
    case cannotOpen(String, String)
    case interrupted
    /// The holder is this process's ancestor: a task of that build runs kiln in its own
    /// checkout, which would wait for itself forever.
    case heldByAncestor(String)

    package var description: String {
      switch self {
      case .cannotOpen(let path, let why): "cannot lock \(path): \(why)"
      case .interrupted: "interrupted while waiting for the checkout lock"
      case .heldByAncestor(let holder):
        "this kiln runs inside a task of the build that holds this checkout (\(holder)); a build cannot wait for itself: run the nested build in a workspace (kiln ws new)"
      }
    }
  }

  private static func open(_ path: String) throws(Failure) -> Int32 {
    let fd = Glibc.open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      let folder = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
      switch errno {
      case ELOOP: throw .cannotOpen(path, "it is a symlink, which kiln does not follow in .kiln")
      case EROFS, EACCES, EPERM:
        throw .cannotOpen(path, "\(folder) is read-only (\(String(cString: strerror(errno)))); make \(folder) writable and run again")
      case ENOSPC, EDQUOT:
        throw .cannotOpen(path, "the disk holding \(folder) is full; free space there and run again")
      default: throw .cannotOpen(path, String(cString: strerror(errno)))
      }
    }
    return fd
  }

  /// Takes the lock if nobody holds it; nil when another process does.
  package static func attempt(_ path: String, describing holder: String) throws(Failure) -> CheckoutLock? {
    let fd = try open(path)
    guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
      close(fd)
      return nil
    }
    let lock = CheckoutLock(fd: fd, path: path)
    lock.describe(holder)
    return lock
  }

  /// Takes the lock, waiting for the process that holds it; `waiting` is called once,
  /// with what the holder wrote, when the lock is busy. Polls (every 20 ms) so that
  /// Ctrl-C stops the wait.
  package static func acquire(_ path: String, describing holder: String, waiting: (String) -> Void,
                              isInterrupted: () -> Bool) throws(Failure) -> CheckoutLock {
    let fd = try open(path)
    var told = false
    while flock(fd, LOCK_EX | LOCK_NB) != 0 {
      guard errno == EWOULDBLOCK || errno == EINTR else {
        let why = String(cString: strerror(errno))
        close(fd)
        throw .cannotOpen(path, why)
      }
      if isInterrupted() {
        close(fd)
        throw .interrupted
      }
      if !told {
        told = true
        let holder = readHolder(fd)
        if let pid = holder.pid, isAncestor(pid) {
          close(fd)
          throw .heldByAncestor(holder.text)
        }
        waiting(holder.text)
      }
      usleep(20_000)
    }
    let lock = CheckoutLock(fd: fd, path: path)
    lock.describe(holder)
    return lock
  }

  private func describe(_ holder: String) {
    let text = Array("\(getpid()) \(holder)\n".utf8)
    _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    // Written over the last holder's line, then cut only if that was longer: a
    // truncation to nothing frees the file's block and costs ext4 a journal
    // transaction (0.3-0.8 ms here, a tenth of a small project's null build).
    var st = Glibc.stat()
    if fstat(fd, &st) == 0, st.st_size > text.count { _ = ftruncate(fd, off_t(text.count)) }
  }

  /// Whether `pid` is this process's parent, grandparent, ...
  private static func isAncestor(_ pid: Int32) -> Bool {
    var current = getppid()
    for _ in 0..<64 where current > 1 {
      if current == pid { return true }
      guard let parent = ProcessStat(pid: current)?.parent else { return false }
      current = parent
    }
    return false
  }

  /// What the holder wrote (`PID command line`): its pid and how to name it, read once.
  private static func readHolder(_ fd: Int32) -> (pid: Int32?, text: String) {
    var buffer = [UInt8](repeating: 0, count: 512)
    let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
    guard n > 0 else { return (nil, "another kiln") }
    let line = String(decoding: buffer[0..<n].prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    // Untrusted text for a terminal: printable characters only.
    let printable = line.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
    guard printable, let space = line.firstIndex(of: " "), let pid = Int32(line[..<space]) else {
      return (nil, "another kiln")
    }
    return (pid, "pid \(pid): \(line[line.index(after: space)...])")
  }
}
