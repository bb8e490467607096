#if canImport(Glibc)
import Glibc
#endif
import CSpawn
import KilnCore
import Synchronization

/// Runs commands with `/bin/sh -c` (or as the shell would, `DirectCommand`), each as the
/// leader of its own process group, so a timeout or Ctrl-C stops its children too.
/// Started without waiting for the child to begin its program (`Command.spawnAsync`);
/// through `posix_spawn` (STYLE §10) where that cannot be done or the program could not
/// be started that way, so the error, or the shell's answer, is what it always was.
/// Output goes to two anonymous in-memory files (memfd), not pipes: a grandchild that
/// keeps a pipe open cannot hold the build, and nothing is created on disk. One thread
/// (`ChildWatcher`) waits for every child.
package struct ShellProcessRunner: ProcessRunner {
  package init() {}

  package func run(_ invocation: Invocation) async throws -> Completion {
    try await run(invocation, exited: {})
  }

  package func run(_ invocation: Invocation, exited: @escaping @Sendable () -> Void) async throws -> Completion {
    let out = try Self.captureFile("kiln-stdout")
    defer { close(out) }
    let err = try Self.captureFile("kiln-stderr")
    defer { close(err) }

    let program = Program(invocation)
    // The child leads a new group whose id is its pid, registered as it starts: a
    // Ctrl-C that came before kills it here, a Ctrl-Z meanwhile stops it. Started
    // first without waiting for it to begin its program (`Command.spawnAsync`); where
    // that cannot be done, or the program did not begin (its attempt left nothing in
    // `out` and `err`), through `posix_spawn`, whose error, or the shell for a command
    // `DirectCommand` would have started alone, is the answer as it always was.
    var child: Command.AsyncChild?
    if let (pid, registered) = try? ProcessGroups.shared.start({ () throws(Command.SpawnErrno) -> pid_t in
      let started = try Command.spawnAsync(program.path, program.arguments, program.environment,
                                           in: invocation.workingDirectory, stdout: out, stderr: err).get()
      child = started
      return started.pid
    }), let child {
      let completion = await finish(pid, pidfd: child.pidfd, registered: registered, invocation, out: out, err: err,
                                    exited: exited)
      if child.end() == nil { return completion }
      _ = ftruncate(out, 0)
      _ = ftruncate(err, 0)
    }
    let (pid, registered) = try ProcessGroups.shared.start { () throws(SpawnError) -> pid_t in
      try Self.spawn(program, invocation, stdout: out, stderr: err)
    }
    return await finish(pid, pidfd: nil, registered: registered, invocation, out: out, err: err, exited: exited)
  }

  /// The started child `pid` (its `pidfd`, when the start gave one) awaited, under the
  /// invocation's timeout, and what it left in `out` and `err`.
  private func finish(_ pid: pid_t, pidfd: Int32?, registered: Bool, _ invocation: Invocation, out: Int32, err: Int32,
                      exited: @escaping @Sendable () -> Void) async -> Completion {
    let timedOut = OnceFlag()
    let timer = registered ? Self.timer(invocation.timeout, timedOut) { ProcessGroups.kill(group: pid) } : nil
    let (ended, peak) = await ChildWatcher.shared.wait(for: pid, pidfd: pidfd, exited: exited)
    timer?.cancel()
    ProcessGroups.shared.unregister(pid)
    return Completion(status: Self.status(ended, timedOut: timedOut), stdout: Command.readAll(out),
                      stderr: Command.readAll(err), peakMemory: peak > 0 ? Int64(peak) * 1024 : nil)
  }

  /// What `run` starts: the invocation's own arguments, the program alone where the
  /// shell would only start one (`DirectCommand`), else `/bin/sh -c`.
  private struct Program {
    enum Kind { case given, direct, shell }
    var kind: Kind
    var path: String
    var arguments: [String]
    var environment: [String: String]

    init(_ invocation: Invocation) {
      if let given = invocation.arguments, let first = given.first {
        (kind, path, arguments, environment) = (.given, first, given, invocation.environment)
      } else if let direct = DirectCommand.plan(invocation.command, environment: invocation.environment,
                                                workingDirectory: invocation.workingDirectory) {
        (kind, path, arguments, environment) = (.direct, direct.path, direct.arguments, direct.environment)
      } else {
        self = Self.shell(invocation)
      }
    }

    private init(kind: Kind, path: String, arguments: [String], environment: [String: String]) {
      (self.kind, self.path, self.arguments, self.environment) = (kind, path, arguments, environment)
    }

    static func shell(_ invocation: Invocation) -> Program {
      Program(kind: .shell, path: "/bin/sh", arguments: ["/bin/sh", "-c", invocation.command],
              environment: invocation.environment)
    }
  }

  /// A task that, unless cancelled first, sets `timedOut` and calls `kill` once `limit`
  /// has passed; nil without a limit.
  static func timer(_ limit: Duration?, _ timedOut: OnceFlag,
                    kill: @escaping @Sendable () -> Void) -> Task<Void, Never>? {
    guard let limit else { return nil }
    return Task {
      try? await Task.sleep(for: limit)
      if !Task.isCancelled {
        timedOut.set()
        kill()
      }
    }
  }

  /// How a command ended as kiln tells it: timed out or interrupted first, else `ended`.
  static func status(_ ended: Completion.Status, timedOut: OnceFlag) -> Completion.Status {
    if timedOut.isSet { return .timedOut }
    if ProcessGroups.shared.isInterrupted { return .interrupted }
    return ended
  }

  /// `program` started through `posix_spawn`; a program `DirectCommand` chose that cannot
  /// be started goes to the shell, which tries and answers as it would have.
  private static func spawn(_ program: Program, _ invocation: Invocation, stdout: Int32,
                            stderr: Int32) throws(SpawnError) -> pid_t {
    switch Command.spawn(program.path, program.arguments, program.environment, in: invocation.workingDirectory,
                         stdout: stdout, stderr: stderr) {
    case .success(let pid): return pid
    case .failure(let code):
      switch program.kind {
      case .direct: return try spawn(.shell(invocation), invocation, stdout: stdout, stderr: stderr)
      case .given: throw SpawnError(message: "cannot start \(program.path): \(String(cString: strerror(code.rawValue)))")
      case .shell:
        throw SpawnError(message: "cannot start /bin/sh in \(invocation.workingDirectory): \(String(cString: strerror(code.rawValue)))")
      }
    }
  }

  /// An unnamed in-memory file; an unlinked temporary file where memfd is missing.
  static func captureFile(_ name: String) throws(SpawnError) -> Int32 {
    let fd = kiln_memfd(name)
    if fd >= 0 { return fd }
    let dir = (getenv("TMPDIR").map { String(cString: $0) }) ?? "/tmp"
    var template = Array("\(dir)/kiln-out-XXXXXX".utf8CString)
    let tmp = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard tmp >= 0, fcntl(tmp, F_SETFD, FD_CLOEXEC) == 0 else {
      throw SpawnError(message: "cannot create a temporary file in \(dir): \(String(cString: strerror(errno)))")
    }
    template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    return tmp
  }

}

/// A process that could not be started.
package struct SpawnError: Error, Sendable, CustomStringConvertible {
  package var message: String
  package var description: String { message }
}

/// Waits for children: one thread blocks in `epoll_wait` on a pidfd per running child
/// and resumes the task that waits for it, so no thread of Swift's small cooperative
/// pool ever blocks on a process. Where the kernel has no pidfd (before 5.3), a
/// thread per child blocks in `waitpid`.
///
/// The same thread is a task executor (`TaskExecutor`): the build loop and its jobs
/// run on it (`Build`), so a child's exit, the collection of its outputs, the loop's
/// next decision and the next spawn all happen on the thread that saw the exit, with
/// no hand-over between threads. Each hand-over woke a thread that the scheduler
/// often placed on the busy core while the other went idle.
package final class ChildWatcher: TaskExecutor, @unchecked Sendable {
  package static let shared = ChildWatcher()

  private let epoll: Int32
  /// Written to wake the thread for a job enqueued from another thread.
  private let wakeFD: Int32
  /// The task waiting for each child's pidfd, and what to call once it has exited.
  private let waiting = Mutex<[Int32: (CheckedContinuation<ChildWatcher.Ended, Never>, @Sendable () -> Void)]>([:])
  private struct Queue {
    var jobs: [UnownedJob] = []
    /// The thread is in (or about to enter) `epoll_wait` with no job left.
    var sleeping = false
  }
  private let queue = Mutex(Queue())
  /// The thread's id once it runs; 0 when no thread could be started (jobs then go to
  /// the global executor).
  private let thread = Atomic<UInt>(0)
  private let running: Bool

  private init() {
    epoll = kiln_epoll_create()
    wakeFD = epoll >= 0 ? kiln_eventfd() : -1
    if wakeFD >= 0 { _ = kiln_epoll_add(epoll, wakeFD) }
    running = epoll >= 0 && wakeFD >= 0 && OwnThread.detached { ChildWatcher.shared.loop() }
  }

  /// Whether some child is being waited for here (its pidfd in the epoll): a command
  /// of the build runs. Asked by the worker thread's placement, in a build, where the
  /// watcher already runs (asking starts it otherwise).
  package static var hasChildren: Bool { shared.waiting.withLock { !$0.isEmpty } }

  /// This executor when its thread runs, else nil (the caller stays where it is).
  package static var executor: ChildWatcher? { shared.running ? shared : nil }

  package func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    let onThread = thread.load(ordering: .relaxed) == UInt(bitPattern: Int(bitPattern: pthread_self()))
    let wake = queue.withLock { q in
      q.jobs.append(job)
      let wake = q.sleeping && !onThread
      if wake { q.sleeping = false }
      return wake
    }
    if wake { kiln_eventfd_signal(wakeFD) }
  }

  /// How a child ended, and its peak resident memory in KiB (0: unknown).
  typealias Ended = (status: Completion.Status, peakKiB: Int)

  /// How `pid` (a child of this process) ended; it is reaped, after `exited` ran.
  func wait(for pid: pid_t, pidfd given: Int32? = nil, exited: @escaping @Sendable () -> Void) async -> Ended {
    let pidfd = given ?? kiln_pidfd_open(pid)
    return await withCheckedContinuation { continuation in
      guard pidfd >= 0, epoll >= 0 else {
        if pidfd >= 0 { close(pidfd) }
        Self.waitOnThread(pid, continuation, exited)
        return
      }
      waiting.withLock { $0[pidfd] = (continuation, exited) }
      if kiln_epoll_add(epoll, pidfd) != 0 {
        waiting.withLock { _ = $0.removeValue(forKey: pidfd) }
        close(pidfd)
        Self.waitOnThread(pid, continuation, exited)
      }
    }
  }

  private func loop() {
    thread.store(UInt(bitPattern: Int(bitPattern: pthread_self())), ordering: .relaxed)
    let me = asUnownedTaskExecutor()
    var ready = [Int32](repeating: -1, count: 32)
    while true {
      // Every job queued, and those they queue, before waiting.
      while true {
        let jobs = queue.withLock { q in
          let jobs = q.jobs
          q.jobs.removeAll(keepingCapacity: true)
          if jobs.isEmpty { q.sleeping = true }
          return jobs
        }
        if jobs.isEmpty { break }
        for job in jobs { job.runSynchronously(on: me) }
      }
      let n = kiln_epoll_wait(epoll, &ready, Int32(ready.count))
      queue.withLock { $0.sleeping = false }
      if n < 0 {
        if errno == EINTR { continue }
        return
      }
      for fd in ready[0..<Int(n)] {
        if fd == wakeFD {
          kiln_eventfd_clear(wakeFD)
          continue
        }
        reaped(fd)
      }
    }
  }

  /// `pidfd`'s child has exited: reaped, and its waiter resumed.
  private func reaped(_ pidfd: Int32) {
    // Taken before the descriptor is closed: once closed, its number may be handed
    // to the next child's pidfd at once.
    let entry = waiting.withLock { $0.removeValue(forKey: pidfd) }
    // Readable: the child is a zombie, not reaped yet.
    entry?.1()
    let continuation = entry?.0
    var code: Int32 = 0
    var value: Int32 = 0
    var peak = 0
    let reaped = kiln_pidfd_wait(pidfd, &code, &value, &peak)
    _ = kiln_epoll_remove(epoll, pidfd)
    close(pidfd)
    let status: Completion.Status = reaped != 0 ? .signaled(SIGKILL) : (code == CLD_EXITED ? .exited(value) : .signaled(value))
    continuation?.resume(returning: (status, reaped == 0 ? peak : 0))
  }

  private static func waitOnThread(_ pid: pid_t, _ continuation: CheckedContinuation<ChildWatcher.Ended, Never>,
                                   _ exited: @escaping @Sendable () -> Void) {
    if !OwnThread.detached({ continuation.resume(returning: ChildWatcher.reap(pid, exited)) }) {
      continuation.resume(returning: reap(pid, exited))
    }
  }

  /// Blocks until `pid` ends, calls `exited` while it is a zombie, and reaps it.
  private static func reap(_ pid: pid_t, _ exited: @Sendable () -> Void) -> Ended {
    var info = siginfo_t()
    while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0, errno == EINTR {}
    exited()
    var raw: Int32 = 0
    var peak = 0
    guard kiln_wait_pid(pid, &raw, &peak) == 0 else { return (.signaled(SIGKILL), 0) }
    return (raw & 0x7F == 0 ? .exited((raw >> 8) & 0xFF) : .signaled(raw & 0x7F), peak)
  }
}

/// A one-way boolean shared between tasks.
package final class OnceFlag: Sendable {
  private let value = Atomic<Bool>(false)
  package init() {}
  package func set() { value.store(true, ordering: .releasing) }
  package var isSet: Bool { value.load(ordering: .acquiring) }
}
