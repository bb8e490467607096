#if canImport(Glibc)
import Glibc
#endif
import CSpawn
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
  /// The thread's id once it runs (0 before).
  private let threadID = Atomic<Int32>(0)
  /// Where the thread was last placed (`place`, `kiln_place_thread`'s answer): anywhere
  /// (as it started), a core it is kept off, or never (one core only).
  private let placed = Atomic<Int32>(WorkerThread.anywhere)
  private static let anywhere: Int32 = -3, oneCore: Int32 = -2, unchanged: Int32 = -1

  /// Whether a job handed over now should run apart from the caller's core (`place`).
  private let apart: @Sendable () -> Bool

  /// `apart`: when the thread keeps off the core of the caller that hands it a job;
  /// by default while no command of the build runs.
  package init(apart: @escaping @Sendable () -> Bool = { !ChildWatcher.hasChildren }) {
    self.apart = apart
  }

  /// Linux's SCHED_BATCH (not exported by Glibc's module).
  private static let schedBatch: Int32 = 3

  /// The process's one worker: the build's cache stores, then its commit.
  package static let shared = WorkerThread()

  /// Runs `job` on the thread, after those handed in before. `placing`: the thread is
  /// placed for it (`place`); an unlink handed over just before a command starts is not
  /// (placed apart then, the thread took the core the command was about to start on).
  package func run(placing: Bool = true, _ job: @escaping @Sendable () -> Void) {
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
    if placing { place() }
    wake.signal()
  }

  /// While no command of the build runs, the thread keeps off the core of the caller
  /// that hands it a job (asked again only when that core changes); while one runs, it
  /// may run anywhere. On two cores the scheduler woke it on the caller's core with the
  /// other idle: after an edit build's last command, its store and the commit waited for
  /// the loop's own work (the snapshot) instead of running beside it. Kept off the
  /// loop's core while a command ran, it took the core the next command was about to
  /// start on.
  private func place() {
    let was = placed.load(ordering: .relaxed)
    let id = threadID.load(ordering: .acquiring)
    let apart = self.apart()
    guard was != Self.oneCore, id > 0, apart || was != Self.anywhere else { return }
    let now = kiln_place_thread(id, apart ? 1 : 0, was)
    if now != Self.unchanged { placed.store(now, ordering: .relaxed) }
  }

  /// How many cores the thread may run on (tests); nil before it runs.
  package var allowedCores: Int? {
    let id = threadID.load(ordering: .acquiring)
    return id > 0 ? Int(kiln_allowed_cores(id)) : nil
  }

  /// How many cores the calling thread may run on.
  package static var coresAllowedHere: Int { Int(kiln_allowed_cores(0)) }

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
    threadID.store(kiln_thread_id(), ordering: .releasing)
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
