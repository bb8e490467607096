#if canImport(Glibc)
import Glibc
#endif
import KilnSystem
import Synchronization

/// One running kiln-remote and the socket to it: requests go out as frames from the
/// callers' threads, answers come back on a thread of its own that resumes each waiting
/// caller by id, so any number of requests are in flight at once.
///
/// Nothing here can hang kiln or kill it: the socket is written with `MSG_NOSIGNAL`
/// (kiln keeps SIGPIPE's default action, which would end it); a write that makes no
/// progress and a request the helper has not answered within its own limits plus ten
/// seconds end the helper; the helper's death, garbage on the socket or a call to
/// `end(_:)` fail every request in flight with one `RemoteError`, and every later one.
final class HelperConnection: Sendable {
  let path: String
  let pid: pid_t
  private let socket: Int32
  /// The read end of the helper's stderr, drained by the reader so the helper never
  /// blocks on it; its first line explains a crash.
  private let errors: Int32
  private let patience: Duration

  private struct Waiter: Sendable {
    let continuation: CheckedContinuation<Result<HelperFrame, RemoteError>, Never>
    let deadline: ContinuousClock.Instant
  }
  private struct State: Sendable {
    var waiting: [UInt32: Waiter] = [:]
    var nextID: UInt32 = 1
    var ended: RemoteError?
    /// Set (under the lock) before the reader reaps the helper: from then on its pid
    /// may belong to another process and is never signalled.
    var reaping = false
  }
  private let state = Mutex(State())
  /// Held while a frame is written (frames never interleave); false once the reader
  /// closed the socket, so a late writer never writes to a reused descriptor number.
  private let writable = Mutex(true)

  private init(path: String, pid: pid_t, socket: Int32, errors: Int32, patience: Duration) {
    self.path = path
    self.pid = pid
    self.socket = socket
    self.errors = errors
    self.patience = patience
  }

  /// Starts `path` with a clean environment in `/`, its stdin and stdout one end of a
  /// socket pair, and sends it `configure` first.
  static func start(path: String, configure: HelperFrame, patience: Duration) throws(RemoteError) -> HelperConnection {
    var pair: [Int32] = [-1, -1]
    var errorPipe: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
      throw .helperNotStarted(path: path, reason: "socketpair: \(String(cString: strerror(errno)))")
    }
    // A second socket pair rather than a pipe: the same close-on-exec flag at creation.
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &errorPipe) == 0 else {
      let reason = String(cString: strerror(errno))
      close(pair[0])
      close(pair[1])
      throw .helperNotStarted(path: path, reason: "socketpair: \(reason)")
    }
    // No inherited variable reaches the helper (no proxy setting, no secret); only a
    // crash report kept to one line, which kiln shows.
    let started = Command.spawn(path, [path], ["SWIFT_BACKTRACE": "enable=no"], in: "/",
                                stdin: pair[1], stdout: pair[1], stderr: errorPipe[1])
    close(pair[1])
    close(errorPipe[1])
    let pid: pid_t
    switch started {
    case .success(let child): pid = child
    case .failure(let code):
      close(pair[0])
      close(errorPipe[0])
      throw .helperNotStarted(path: path, reason: String(cString: strerror(code.rawValue)))
    }
    for fd in [pair[0], errorPipe[0]] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    let connection = HelperConnection(path: path, pid: pid, socket: pair[0], errors: errorPipe[0], patience: patience)
    connection.startReader()
    if let problem = connection.write(configure.encoded()) { connection.end(problem) }
    return connection
  }

  /// Sends `request` (its id is chosen here) and waits for its answer frame.
  func exchange(_ request: HelperFrame) async -> Result<HelperFrame, RemoteError> {
    await withCheckedContinuation { continuation in
      let registered: Result<UInt32, RemoteError> = state.withLock { state in
        if let ended = state.ended { return .failure(ended) }
        let id = state.nextID
        state.nextID = state.nextID == UInt32.max ? 1 : state.nextID + 1
        state.waiting[id] = Waiter(continuation: continuation, deadline: .now + patience)
        return .success(id)
      }
      switch registered {
      case .failure(let error): continuation.resume(returning: .failure(error))
      case .success(let id):
        var frame = request
        frame.id = id
        if let problem = write(frame.encoded()) { end(problem) }
      }
    }
  }

  /// Fails every request in flight and every later one with `error`, and kills the
  /// helper (the reader then reaps it and closes the socket).
  func end(_ error: RemoteError) {
    let waiters: [Waiter] = state.withLock { state in
      if state.ended == nil { state.ended = error }
      if !state.reaping { kill(pid, SIGKILL) }
      defer { state.waiting = [:] }
      return Array(state.waiting.values)
    }
    let reported = state.withLock { $0.ended ?? error }
    for waiter in waiters { waiter.continuation.resume(returning: .failure(reported)) }
  }

  /// Writes a whole frame; an error when the helper takes nothing for as long as it may
  /// take to answer. A closed socket is not reported here: the reader sees the helper's
  /// end and reports how it ended.
  private func write(_ bytes: [UInt8]) -> RemoteError? {
    writable.withLock { open -> RemoteError? in
      guard open else { return nil }
      var at = 0
      while at < bytes.count {
        let n = bytes.withUnsafeBytes { send(socket, $0.baseAddress! + at, $0.count - at, Int32(MSG_NOSIGNAL)) }
        if n > 0 {
          at += n
        } else if n < 0, errno == EINTR {
          continue
        } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK {
          var waiting = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
          let milliseconds = Int32(clamping: patience.components.seconds * 1000)
          if poll(&waiting, 1, milliseconds) == 0 { return .helperUnresponsive(path: path) }
        } else {
          return nil
        }
      }
      return nil
    }
  }

  private func startReader() {
    if !OwnThread.detached({ self.readUntilEnd() }) {
      end(.helperNotStarted(path: path, reason: "no thread to read its answers"))
      reap(stderrText: [])
    }
  }

  /// The reader: answers to their callers, until the helper ends or misbehaves; then it
  /// reaps the helper and closes the socket.
  private func readUntilEnd() {
    var frames = HelperFrame.Reader()
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    var stderrText: [UInt8] = []
    while true {
      var watched = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0), pollfd(fd: errors, events: Int16(POLLIN), revents: 0)]
      _ = poll(&watched, 2, 250)
      drain(errors, into: &stderrText, &buffer)
      var closed = false
      while true {
        let n = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
        if n > 0 {
          buffer.withUnsafeBytes { frames.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        } else if n < 0, errno == EINTR {
          continue
        } else {
          closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)
          break
        }
      }
      do {
        while let frame = try frames.next() { deliver(frame) }
      } catch {
        end(.helperGarbage(path: path, detail: error.description))
        return reap(stderrText: stderrText)
      }
      if closed {
        drain(errors, into: &stderrText, &buffer)
        return reap(stderrText: stderrText)
      }
      let now = ContinuousClock.now
      let late = state.withLock { state in state.waiting.values.contains { $0.deadline < now } }
      if late { end(.helperUnresponsive(path: path)) }
    }
  }

  private func deliver(_ frame: HelperFrame) {
    guard frame.kind == .response || frame.kind == .failure else {
      return end(.helperGarbage(path: path, detail: "a frame only kiln sends"))
    }
    // An id nobody waits for is a request already failed: its answer is dropped.
    let waiter = state.withLock { $0.waiting.removeValue(forKey: frame.id) }
    waiter?.continuation.resume(returning: .success(frame))
  }

  /// Up to 4 KiB of what the helper wrote to stderr.
  private func drain(_ fd: Int32, into text: inout [UInt8], _ buffer: inout [UInt8]) {
    while true {
      let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0, errno == EINTR { continue }
      guard n > 0 else { return }
      text += buffer[0..<min(n, max(0, 4096 - text.count))]
    }
  }

  /// After the helper's end: its exit status and first line of stderr become the error
  /// of what was still waiting; the descriptors are closed.
  private func reap(stderrText: [UInt8]) {
    state.withLock { state in
      state.reaping = true
      kill(pid, SIGKILL)
    }
    var raw: Int32 = 0
    while waitpid(pid, &raw, 0) < 0, errno == EINTR {}
    var how = raw & 0x7F == 0 ? "exit status \((raw >> 8) & 0xFF)" : "killed by signal \(raw & 0x7F)"
    let line = String(decoding: stderrText, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
    if !line.isEmpty { how += ": \(line)" }
    end(.helperExited(path: path, how: how))
    writable.withLock { open in
      close(socket)
      open = false
    }
    close(errors)
  }
}
