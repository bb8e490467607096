#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// A thread of kiln's own for work that blocks (a reader of a socket, a waiter on a
/// futex) or that runs beside the caller (`StatAll`), outside Swift's small cooperative
/// pool.
package enum OwnThread {
  private final class Body: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
  }

  /// Starts `body` on a detached thread; false when no thread could be started (the
  /// caller does the work another way).
  package static func detached(_ body: @escaping @Sendable () -> Void) -> Bool {
    guard let thread = start(body) else { return false }
    pthread_detach(thread)
    return true
  }

  /// Starts `body` on a thread the caller joins (`pthread_join`); nil when none could
  /// be started.
  package static func start(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
    let context = Unmanaged.passRetained(Body(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { context in
      Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
      return nil
    }, context)
    guard rc == 0 else {
      Unmanaged<Body>.fromOpaque(context).release()
      return nil
    }
    return thread
  }
}

/// One thread of kiln's own that runs the jobs handed to it (`run`), in order: work a
/// caller wants done beside it at once. Swift's cooperative pool (and Dispatch's
/// global queues, on the same threads here) took such work only once the caller's
/// thread waited. Started at the first job; when no thread can be started, each job
/// runs in the caller.
package final class WorkerThread: Sendable {
  private struct State {
    var jobs: [@Sendable () -> Void] = []
    var next = 0
    /// Jobs handed to the thread that have not finished running.
    var unfinished = 0
    var started = false
    var failed = false
  }

  private let state = Mutex(State())
  private let wake = DispatchSemaphore(value: 0)

  package init() {}

  /// Linux's SCHED_BATCH (not exported by Glibc's module).
  private static let schedBatch: Int32 = 3

  /// The process's one worker: the build's cache stores, then its commit.
  package static let shared = WorkerThread()

  package func run(_ job: @escaping @Sendable () -> Void) {
    let (start, inline) = state.withLock { state -> (Bool, Bool) in
      if state.failed { return (false, true) }
      state.jobs.append(job)
      state.unfinished += 1
      defer { state.started = true }
      return (!state.started, false)
    }
    if inline { return job() }
    if start, !OwnThread.detached({ self.loop() }) {
      // No thread: this job, and every later one, in the caller.
      let left = state.withLock { state -> [@Sendable () -> Void] in
        state.failed = true
        defer { state.jobs = [] }
        return state.jobs
      }
      for job in left { job() }
      return
    }
    wake.signal()
  }

  /// Returns once every job handed in before the call has run (the process is about
  /// to exit: work left in the queue would be lost); at once when all of them have (a
  /// build drains twice: before its marker goes, and as the process ends).
  package func drain() {
    let idle = state.withLock { !$0.started || $0.failed || $0.unfinished == 0 }
    if idle { return }
    let done = DispatchSemaphore(value: 0)
    run { done.signal() }
    done.wait()
  }

  private func loop() {
    // SCHED_BATCH: a job handed here does not take the CPU from the thread that handed
    // it over (a woken thread of the same weight did, at once). On a 2-core machine the
    // scheduler mostly woke this thread on the core of the build loop that woke it,
    // while the other idled: the last command's store and the commit then ran first,
    // and the snapshot after them. Children are not started from this thread.
    var param = sched_param()
    _ = sched_setscheduler(0, Self.schedBatch, &param)
    while true {
      wake.wait()
      let job = state.withLock { state -> (@Sendable () -> Void)? in
        guard state.next < state.jobs.count else { return nil }
        let job = state.jobs[state.next]
        state.next += 1
        if state.next == state.jobs.count {
          state.jobs.removeAll(keepingCapacity: true)
          state.next = 0
        }
        return job
      }
      guard let job else { continue }
      job()
      state.withLock { $0.unfinished -= 1 }
    }
  }
}
