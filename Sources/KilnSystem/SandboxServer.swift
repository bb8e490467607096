#if canImport(Glibc)
import Glibc
#endif
import CSpawn
import KilnCore
import Synchronization

/// One sandbox per build (issue 19): a process of kiln's own (`kiln --sandbox-server`,
/// `sandbox.c` in CSpawn) that made the user, network, IPC, UTS and PID namespaces
/// once, and per task clones a process with only a mount and a PID namespace of its
/// own, builds the view `Sandbox.arguments` describes (the same bubblewrap-style list)
/// and runs the command there. A task costs kiln about a millisecond instead of
/// bubblewrap's new namespaces (about 7 ms here).
///
/// A `ProcessRunner`: `run` takes an `Invocation` whose `arguments` are the sandbox's
/// arguments followed by the command. Stdout and stderr go to memfds kiln made and
/// passed over the socket. A time-out kills the task's PID namespace (everything the
/// command started). The server dies when kiln's end of the socket closes (kiln ended,
/// even by SIGKILL), taking every task with it; kiln puts its process group among
/// `ProcessGroups` so that Ctrl-C stops it at once.
package final class SandboxServer: ProcessRunner, Sendable {
  /// The server's outer process (its group's leader).
  package let pid: pid_t
  private let socket: Int32
  private let state = Mutex(State())
  private let writing = Mutex(())
  /// Ends when the server's outer process has ended and been reaped.
  private let reaped: Task<Void, Never>

  private struct State {
    var nextID: UInt64 = 1
    var waiting: [UInt64: CheckedContinuation<Reply?, Never>] = [:]
    var ended = false
  }

  /// One task's end as the server saw it.
  private struct Reply {
    var code: Int32
    var status: Int32
    var peakKiB: Int
  }

  /// Why a server could not start.
  package struct StartFailure: Error, Sendable, CustomStringConvertible {
    package var description: String
  }

  private init(pid: pid_t, socket: Int32, reaped: Task<Void, Never>) {
    self.pid = pid
    self.socket = socket
    self.reaped = reaped
  }

  /// `kiln --sandbox-server`: the server's own body (never returns until it is done).
  package static func serve() -> Int32 { kiln_sandbox_serve() }

  /// Starts a server from kiln's own executable; `label` goes on its command line (the
  /// workspace, so that a person, or a test, can tell whose it is).
  package static func start(label: String, executable: String = "/proc/self/exe") -> Result<SandboxServer, StartFailure> {
    var pair: [Int32] = [-1, -1]
    guard kiln_socketpair(&pair) == 0 else {
      return .failure(StartFailure(description: "cannot make a socket pair: \(String(cString: strerror(errno)))"))
    }
    let (ours, theirs) = (pair[0], pair[1])
    // Registered as it starts (`ProcessGroups.start`): a Ctrl-Z during the handshake
    // stops it with kiln.
    let spawned = try? ProcessGroups.shared.start { () throws(Command.SpawnErrno) -> pid_t in
      try Command.spawn(executable, ["kiln", "--sandbox-server", label], [:], in: "/",
                        stdin: theirs, stdout: theirs, stderr: 2).get()
    }
    close(theirs)
    guard let (pid, registered) = spawned else {
      close(ours)
      return .failure(StartFailure(description: "cannot start \(executable)"))
    }
    // The server's outer process is reaped whenever it ends.
    let reaped = Task.detached { _ = await ChildWatcher.shared.wait(for: pid, exited: {}) }
    var reply = [UInt8](repeating: 0, count: Int(KILN_SANDBOX_REPLY_SIZE))
    let got = reply.withUnsafeMutableBytes { kiln_read_fully(ours, $0.baseAddress, Int(KILN_SANDBOX_REPLY_SIZE)) }
    guard got == 1, reply[8] == UInt8(KILN_SANDBOX_READY) else {
      var why = "it ended before it was ready"
      if got == 1, reply[8] == UInt8(KILN_SANDBOX_FAILED) {
        var text = [UInt8](repeating: 0, count: Int(reply[20]) | Int(reply[21]) << 8)
        if text.isEmpty || text.withUnsafeMutableBytes({ kiln_read_fully(ours, $0.baseAddress, $0.count) }) == 1 {
          why = String(decoding: text, as: UTF8.self)
        }
      }
      close(ours)
      _ = Glibc.kill(pid, SIGKILL)
      ProcessGroups.shared.unregister(pid)
      return .failure(StartFailure(description: registered ? why : "the build was interrupted"))
    }
    let server = SandboxServer(pid: pid, socket: ours, reaped: reaped)
    guard registered else {
      server.shutdown()
      return .failure(StartFailure(description: "the build was interrupted"))
    }
    Self.startReader(server.socket, state: server)
    return .success(server)
  }

  /// Whether the server has gone (killed, or shut down): a new one is needed.
  package var hasEnded: Bool { state.withLock { $0.ended } }

  /// Ends the server: its end of the socket sees the end, and it exits with its tasks.
  package func shutdown() {
    _ = Glibc.shutdown(socket, Int32(SHUT_RDWR))
  }

  /// `shutdown`, then waits until the server has ended and kiln has reaped it (so its
  /// and its tasks' CPU time is counted in kiln's, as a plain task's is).
  package func shutdownAndWait() async {
    shutdown()
    await reaped.value
  }

  package func run(_ invocation: Invocation) async throws -> Completion {
    try await run(invocation, exited: {})
  }

  package func run(_ invocation: Invocation, exited: @escaping @Sendable () -> Void) async throws -> Completion {
    guard let arguments = invocation.arguments, !arguments.isEmpty else {
      throw SpawnError(message: "the sandbox server runs only a sandbox's arguments")
    }
    let out = try ShellProcessRunner.captureFile("kiln-stdout")
    defer { close(out) }
    let err = try ShellProcessRunner.captureFile("kiln-stderr")
    defer { close(err) }
    let id: UInt64? = state.withLock { state in
      guard !state.ended else { return nil }
      defer { state.nextID += 1 }
      return state.nextID
    }
    guard let id else { throw SpawnError(message: endedMessage) }
    let timedOut = OnceFlag()
    let timer = ShellProcessRunner.timer(invocation.timeout, timedOut) { self.kill(id) }
    let reply: Reply? = await withCheckedContinuation { continuation in
      let accepted = state.withLock { state in
        guard !state.ended else { return false }
        state.waiting[id] = continuation
        return true
      }
      guard accepted else { return continuation.resume(returning: nil) }
      if !send(Self.request(id: id, arguments: arguments, environment: invocation.environment), fds: [out, err]) {
        if let waiting = state.withLock({ $0.waiting.removeValue(forKey: id) }) { waiting.resume(returning: nil) }
      }
    }
    timer?.cancel()
    exited()
    guard let reply else {
      if ProcessGroups.shared.isInterrupted {
        return Completion(status: .interrupted, stdout: Command.readAll(out), stderr: Command.readAll(err))
      }
      throw SpawnError(message: endedMessage)
    }
    let status = ShellProcessRunner.status(reply.code == CLD_EXITED ? .exited(reply.status) : .signaled(reply.status),
                                           timedOut: timedOut)
    return Completion(status: status, stdout: Command.readAll(out), stderr: Command.readAll(err),
                      peakMemory: reply.peakKiB > 0 ? Int64(reply.peakKiB) * 1024 : nil)
  }

  private var endedMessage: String {
    "isolate: true: kiln's sandbox server (pid \(pid)) ended while the task was starting or running"
  }

  /// Kills task `id` with everything it started (its PID namespace).
  private func kill(_ id: UInt64) {
    _ = send(Self.header(length: 0, kind: UInt8(KILN_SANDBOX_KILL), id: id), fds: [])
  }

  private func send(_ bytes: [UInt8], fds: [Int32]) -> Bool {
    writing.withLock { _ in
      bytes.withUnsafeBytes { raw in
        fds.withUnsafeBufferPointer { kiln_send_with_fds(socket, raw.baseAddress, raw.count, $0.baseAddress, Int32($0.count)) }
      } == 0
    }
  }

  private static func header(length: Int, kind: UInt8, id: UInt64) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: Int(KILN_SANDBOX_HEADER_SIZE))
    for i in 0..<4 { bytes[i] = UInt8(truncatingIfNeeded: length >> (8 * i)) }
    bytes[4] = kind
    for i in 0..<8 { bytes[8 + i] = UInt8(truncatingIfNeeded: id >> (8 * UInt64(i))) }
    return bytes
  }

  /// A run request (cspawn.h): header, the counts, the arguments, the environment.
  static func request(id: UInt64, arguments: [String], environment: [String: String]) -> [UInt8] {
    var payload: [UInt8] = []
    for count in [arguments.count, environment.count] {
      for i in 0..<4 { payload.append(UInt8(truncatingIfNeeded: count >> (8 * i))) }
    }
    for argument in arguments {
      payload += argument.utf8
      payload.append(0)
    }
    for (name, value) in environment {
      payload += name.utf8
      payload.append(UInt8(ascii: "="))
      payload += value.utf8
      payload.append(0)
    }
    return header(length: payload.count, kind: UInt8(KILN_SANDBOX_RUN), id: id) + payload
  }

  /// A thread of its own reads the replies and resumes the task waiting for each; at
  /// the end of the stream (the server gone) every waiting task is resumed with nil.
  private static func startReader(_ socket: Int32, state server: SandboxServer) {
    if !OwnThread.detached({ server.readReplies() }) {
      server.shutdown()
      server.state.withLock { $0.ended = true }
    }
  }

  private func readReplies() {
    var reply = [UInt8](repeating: 0, count: Int(KILN_SANDBOX_REPLY_SIZE))
    while reply.withUnsafeMutableBytes({ kiln_read_fully(socket, $0.baseAddress, $0.count) }) == 1 {
      guard reply[8] == UInt8(KILN_SANDBOX_ENDED) else { continue }
      var id: UInt64 = 0
      for i in (0..<8).reversed() { id = id << 8 | UInt64(reply[i]) }
      var peak = 0
      for i in (24..<32).reversed() { peak = peak << 8 | Int(reply[i]) }
      let ended = Reply(code: Int32(reply[12]), status: Int32(reply[16]), peakKiB: peak)
      state.withLock { $0.waiting.removeValue(forKey: id) }?.resume(returning: ended)
    }
    let waiting = state.withLock { state in
      state.ended = true
      defer { state.waiting = [:] }
      return Array(state.waiting.values)
    }
    ProcessGroups.shared.unregister(pid)
    for continuation in waiting { continuation.resume(returning: nil) }
  }
}

/// The build's sandbox server, started at its first isolated task (a build with none
/// starts none); one that has ended (killed) is replaced at the next task. Once one
/// cannot start here (no user namespaces, say) the build stops trying: its isolated
/// tasks run in bubblewrap, one `bwrap` each, as before issue 19.
package final class OnDemandSandboxServer: Sendable {
  private let label: String
  private let state = Mutex<(server: SandboxServer?, failure: SandboxServer.StartFailure?, reported: Bool)>((nil, nil, false))

  /// `label`: shown on the server's command line (the workspace's root).
  package init(label: String) {
    self.label = label
  }

  deinit {
    state.withLock { $0.server?.shutdown() }
  }

  /// The line for the build's end when no server could start (once): the build's
  /// isolated tasks ran under bubblewrap instead.
  package func fallbackToReport() -> String? {
    state.withLock { state in
      guard let failure = state.failure, !state.reported else { return nil }
      state.reported = true
      return "isolate: true: kiln's sandbox server could not start (\(failure)); isolated tasks ran under bubblewrap, one bwrap each"
    }
  }

  /// Ends the build's server, if one was started, and waits for its end: the build is
  /// over. A later isolated task would start a new one.
  package func finish() async {
    let server = state.withLock { state in
      defer { state.server = nil }
      return state.server
    }
    await server?.shutdownAndWait()
  }

  /// The running server, started when there is none; why none can run here.
  package func current() -> Result<SandboxServer, SandboxServer.StartFailure> {
    state.withLock { state in
      if let server = state.server, !server.hasEnded { return .success(server) }
      if let failure = state.failure { return .failure(failure) }
      switch SandboxServer.start(label: label) {
      case .success(let server):
        state.server = server
        return .success(server)
      case .failure(let failure):
        state.failure = failure
        return .failure(failure)
      }
    }
  }
}
