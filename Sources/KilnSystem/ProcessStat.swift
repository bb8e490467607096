#if canImport(Glibc)
import Glibc
#endif

/// What `/proc/PID/stat` says of a process: its command name, state letter, parent and
/// start time. One parser for the checkout lock (is the holder an ancestor?), the job
/// slots (is the holder stopped?) and workspace claims (is the owner the same process?).
package struct ProcessStat: Sendable {
  package var name: String
  /// R, S, D, T (stopped), t (traced), Z, ...
  package var state: Character
  package var parent: Int32
  /// Clock ticks since boot.
  package var startTime: UInt64

  package var isStopped: Bool { state == "T" || state == "t" }

  /// nil when there is no such process (or /proc cannot say).
  package init?(pid: Int32) {
    guard pid > 0 else { return nil }
    let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 1024)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return nil }
    // "pid (comm) state ppid ... starttime(22) ...": comm may hold spaces and
    // parentheses, so the last ')' ends it.
    let text = String(decoding: buffer[0..<n], as: UTF8.self)
    guard let left = text.firstIndex(of: "("), let right = text.lastIndex(of: ")"), left < right else { return nil }
    let fields = text[text.index(after: right)...].split(separator: " ")
    guard fields.count > 19, let state = fields[0].first, let parent = Int32(fields[1]),
          let start = UInt64(fields[19])
    else { return nil }
    self.name = String(text[text.index(after: left)..<right])
    self.state = state
    self.parent = parent
    self.startTime = start
  }
}
