#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import KilnSystem
import KilnTestSupport
import Synchronization
import Testing

/// Ctrl-Z and the task groups (`ProcessGroups`). CI once saw a task run on while kiln
/// was stopped: the thread that had just spawned it stopped with kiln before it
/// registered the task's group, so Ctrl-Z did not know the group. A group being
/// started is now waited for.
@Suite(.timeLimit(.minutes(1))) struct ProcessGroupsTests {
  /// The state letter of process `pid` (R, S, T, ...), or nil.
  static func state(_ pid: pid_t) -> Character? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return nil }
    return text[text.index(after: close)...].first { $0 != " " }
  }

  /// Whether `condition` holds within five seconds (polled).
  static func within(_ condition: () -> Bool) -> Bool {
    for _ in 0..<500 {
      if condition() { return true }
      usleep(10_000)
    }
    return condition()
  }

  @Test func aCtrlZWhileATaskIsStartingStopsTheTaskToo() throws {
    let groups = ProcessGroups()
    let spawned = DispatchSemaphore(value: 0)
    let child = Mutex<pid_t>(0)
    let returned = Mutex(false)
    let registered = Mutex<Bool?>(nil)
    // The spawning thread starts the child, then is slow to return (as a thread
    // descheduled right after the spawn returned is). The child's environment is
    // empty: no HOME to leak (HermeticTests).
    let thread = try #require(OwnThread.start {
      let started = try? groups.start { () throws(Command.SpawnErrno) -> pid_t in
        let pid = try Command.spawn("/bin/sleep", ["sleep", "30"], [:], in: "/", stdout: 1, stderr: 2).get()
        child.withLock { $0 = pid }
        spawned.signal()
        usleep(300_000)
        returned.withLock { $0 = true }
        return pid
      }
      registered.withLock { $0 = started?.registered }
      if started == nil { spawned.signal() }
    })
    spawned.wait()
    let pid = child.withLock { $0 }
    try #require(pid > 0, "the child could not be started")
    defer {
      _ = kill(pid, SIGKILL)
      var status: Int32 = 0
      _ = waitpid(pid, &status, 0)
    }

    var returnedWhenStopped = false
    var stoppedWithKiln = false
    groups.stopForTerminal {
      // Here kiln itself stops: every thread of it, the spawning one included.
      returnedWhenStopped = returned.withLock { $0 }
      stoppedWithKiln = Self.within { Self.state(pid) == "T" }
    }
    #expect(returnedWhenStopped, "kiln stopped while a task it had spawned was not registered yet")
    #expect(stoppedWithKiln, "the task did not stop with kiln")
    #expect(Self.within { Self.state(pid).map { $0 != "T" } ?? false }, "continued, the task runs again")
    pthread_join(thread, nil)
    #expect(registered.withLock { $0 } == true)
  }

  @Test func aTaskStartedAfterAnInterruptIsKilledAndNotRegistered() throws {
    let groups = ProcessGroups()
    groups.interruptAll()
    let (pid, registered) = try groups.start { () throws(Command.SpawnErrno) -> pid_t in
      try Command.spawn("/bin/sleep", ["sleep", "30"], [:], in: "/", stdout: 1, stderr: 2).get()
    }
    #expect(!registered)
    var status: Int32 = 0
    #expect(waitpid(pid, &status, 0) == pid)
    #expect((status & 0x7f) == SIGKILL, "the child was killed at once")
  }
}
