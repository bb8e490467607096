#if canImport(Glibc)
import Glibc
#endif
import KilnSystem
import Synchronization
import Testing

/// `WorkerThread`: the jobs handed to it run in the order given, on a thread that is
/// not the caller's, while the caller goes on; `Eventually` hands one value to every
/// task that waits for it, before or after it is there.
@Suite struct WorkerThreadTests {
  @Test func jobsRunInOrderBesideTheCaller() async {
    let worker = WorkerThread()
    let log = Mutex<[Int]>([])
    let caller = pthread_self()
    let onCaller = Mutex(false)
    // The first job waits until the caller lets it go: it runs while the caller runs.
    let released = Mutex(false)
    worker.run {
      if pthread_equal(pthread_self(), caller) != 0 { onCaller.withLock { $0 = true } }
      while !released.withLock({ $0 }) { usleep(1000) }
      log.withLock { $0.append(0) }
    }
    let done = Eventually<[Int]>()
    for n in 1...50 {
      worker.run {
        log.withLock { $0.append(n) }
        if n == 50 { done.fulfil(log.withLock { $0 }) }
      }
    }
    // Handing the jobs over did not wait for the first, which is still held.
    #expect(log.withLock { $0 }.isEmpty)
    released.withLock { $0 = true }
    #expect(await done.value == Array(0...50))
    #expect(!onCaller.withLock { $0 })
  }

  /// The worker runs as SCHED_BATCH: a job handed to it does not take the CPU from the
  /// thread that handed it over (the build loop), which a woken thread of the same
  /// weight did at once.
  @Test func theWorkerDoesNotPreemptWhoHandsItWork() async {
    let worker = WorkerThread()
    let policy = Eventually<Int32>()
    worker.run { policy.fulfil(sched_getscheduler(0)) }
    #expect(await policy.value == 3)  // SCHED_BATCH
    // The caller's own policy is untouched.
    #expect(sched_getscheduler(0) == SCHED_OTHER)
  }

  /// Once running, the worker keeps off the core of the thread that hands it a job
  /// while no command runs, where the process may run on two cores or more (the
  /// scheduler woke it there, and it waited for that thread while another core idled),
  /// and may run anywhere again once one runs; a job handed over unplaced moves nothing.
  @Test func theWorkerKeepsOffTheCoreOfWhoHandsItWorkWhileNoCommandRuns() async {
    let commandRuns = Mutex(false)
    let worker = WorkerThread(apart: { !commandRuns.withLock { $0 } })
    let started = Eventually<Void>()
    worker.run { started.fulfil(()) }
    await started.value
    let mine = WorkerThread.coresAllowedHere
    func allowed(placing: Bool = true) async -> Int {
      let seen = Eventually<Int>()
      worker.run(placing: placing) { seen.fulfil(WorkerThread.coresAllowedHere) }
      return await seen.value
    }
    #expect(await allowed() == (mine >= 2 ? mine - 1 : mine))
    #expect(worker.allowedCores == (mine >= 2 ? mine - 1 : mine))
    commandRuns.withLock { $0 = true }
    #expect(await allowed(placing: false) == (mine >= 2 ? mine - 1 : mine))
    #expect(await allowed() == mine)
  }

  /// `drain` waits for the job running and the jobs queued behind it, and a second
  /// drain, with nothing left, returns as well (it keeps no job of its own).
  @Test func drainWaitsForEveryJobHandedInBefore() {
    let worker = WorkerThread()
    worker.drain()  // never started: nothing to wait for
    let ran = Mutex<[Int]>([])
    worker.run {
      usleep(100_000)
      ran.withLock { $0.append(1) }
    }
    worker.run { ran.withLock { $0.append(2) } }
    worker.drain()
    #expect(ran.withLock { $0 } == [1, 2])
    worker.drain()
    worker.run { ran.withLock { $0.append(3) } }
    worker.drain()
    #expect(ran.withLock { $0 } == [1, 2, 3])
  }

  @Test func everyWaiterGetsTheValueBeforeOrAfterItIsThere() async {
    let value = Eventually<String>()
    async let first = value.value
    async let second = value.value
    OwnThreadHelper.later { value.fulfil("done") }
    #expect(await first == "done")
    #expect(await second == "done")
    // After: at once; a second fulfil changes nothing.
    value.fulfil("other")
    #expect(await value.value == "done")
  }
}

enum OwnThreadHelper {
  /// `body` on another thread after a moment.
  static func later(_ body: @escaping @Sendable () -> Void) {
    _ = OwnThread.detached {
      usleep(20_000)
      body()
    }
  }
}
