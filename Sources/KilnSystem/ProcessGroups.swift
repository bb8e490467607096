#if canImport(Glibc)
import Glibc
#endif
import CSpawn
import Synchronization

/// Every running task's process group, so that Ctrl-C (or a timeout) can stop a task
/// with all its children. Each task is the leader of its own group, so a terminal's
/// SIGINT reaches only kiln, which then signals each group itself.
package final class ProcessGroups: Sendable {
  package static let shared = ProcessGroups()

  /// A set of its own (tests); kiln uses `shared`.
  package init() {}

  private struct State {
    var groups: Set<pid_t> = []
    var interrupted = false
    var suspendables: [WeakSuspendable] = []
    /// Between Ctrl-Z and the tasks' SIGCONT: a task started meanwhile stops at once.
    var stopping = false
    /// Groups being started (`starting`), not registered yet.
    var starting = 0
  }

  private let state = Mutex(State())

  /// Starts a process group with `spawn` (which returns its leader's pid) and registers
  /// it; whether it may run (false: the build was interrupted, and the group is killed).
  /// A Ctrl-Z that comes between the spawn and the registration waits for it
  /// (`stopForTerminal`): the child may be running already, and kiln must not stop
  /// with it running on, unregistered (seen in CI: the spawning thread stopped with
  /// kiln just before it registered the task, which ran on).
  package func start<Failure: Error>(_ spawn: () throws(Failure) -> pid_t) throws(Failure) -> (pid: pid_t, registered: Bool) {
    state.withLock { $0.starting += 1 }
    let pid: pid_t
    do {
      pid = try spawn()
    } catch {
      state.withLock { $0.starting -= 1 }
      throw error
    }
    let registered = state.withLock { state in
      state.starting -= 1
      if state.interrupted {
        _ = Glibc.kill(-pid, SIGKILL)
        return false
      }
      state.groups.insert(pid)
      if state.stopping { _ = Glibc.kill(-pid, SIGSTOP) }
      return true
    }
    return (pid, registered)
  }

  package func unregister(_ pgid: pid_t) {
    state.withLock { _ = $0.groups.remove(pgid) }
  }

  package var isInterrupted: Bool { state.withLock { $0.interrupted } }

  /// Marks the build interrupted and kills every running group: SIGTERM, then SIGKILL.
  package func interruptAll() {
    let pgids: Set<pid_t> = state.withLock { state in
      state.interrupted = true
      return state.groups
    }
    for pgid in pgids { _ = Glibc.kill(-pgid, SIGTERM) }
    for pgid in pgids { _ = Glibc.kill(-pgid, SIGCONT) }
    // Children that ignore SIGTERM get SIGKILL shortly after.
    let remaining = pgids
    if !remaining.isEmpty {
      var ts = timespec(tv_sec: 0, tv_nsec: 200_000_000)
      nanosleep(&ts, nil)
      for pgid in remaining { _ = Glibc.kill(-pgid, SIGKILL) }
    }
  }

  /// Gives `resource` back while kiln is stopped with Ctrl-Z (`stopForTerminal`).
  package func register(_ resource: any Suspendable) {
    state.withLock { state in
      state.suspendables.removeAll { $0.value == nil }
      state.suspendables.append(WeakSuspendable(value: resource))
    }
  }

  /// Ctrl-Z (SIGTSTP): kiln stops as a shell job does, tasks and all (each task is in
  /// a group of its own, which the terminal's signal does not reach), but first gives
  /// back what other kiln processes wait for (machine-wide job slots). Returns once
  /// continued (SIGCONT), after taking those back and continuing the tasks. `stop`
  /// stops kiln (a test passes its own).
  package func stopForTerminal(stop: () -> Void = { _ = raise(SIGSTOP) }) {
    let (pgids, resources) = markStopping()
    for pgid in pgids { _ = Glibc.kill(-pgid, SIGSTOP) }
    for resource in resources { resource.suspend() }
    // SIGSTOP cannot be caught: kiln stops here, and the shell sees a stopped job.
    // Sent to this thread (raise, not kill): a signal sent to the process may be
    // taken by another thread while this one runs on and takes the slots back.
    stop()
    for resource in resources { resource.resume() }
    let now: Set<pid_t> = state.withLock { state in
      state.stopping = false
      return state.groups
    }
    for pgid in now { _ = Glibc.kill(-pgid, SIGCONT) }
  }

  /// Sets `stopping` and returns the groups to stop and what to give back. A group
  /// being started (`start`) is waited for: once registered it is stopped either by
  /// `add` (`stopping` is set) or by the caller. Starting one takes microseconds.
  private func markStopping() -> (Set<pid_t>, [any Suspendable]) {
    while true {
      let taken: (Set<pid_t>, [any Suspendable])? = state.withLock { state in
        state.stopping = true
        guard state.starting == 0 else { return nil }
        return (state.groups, state.suspendables.compactMap(\.value))
      }
      if let taken { return taken }
      var ts = timespec(tv_sec: 0, tv_nsec: 100_000)
      nanosleep(&ts, nil)
    }
  }

  /// Installs the handler of Ctrl-C, SIGTERM, SIGHUP and Ctrl-Z, which only notes the
  /// signal (`kiln_catch_signals`): the thread that waits for them in `sigsuspend`, the
  /// only one not blocking them, acts on it when it wakes (`takeSignal`).
  package static func catchSignals() { _ = kiln_catch_signals() }

  /// The signal noted since the last call (an interrupt before Ctrl-Z), 0 for none.
  package static func takeSignal() -> Int32 { kiln_take_signal() }

  /// Kills one group at once (timeouts).
  package static func kill(group pgid: pid_t) {
    _ = Glibc.kill(-pgid, SIGKILL)
  }
}

/// Something other kiln processes wait for, given back while this one is stopped.
package protocol Suspendable: AnyObject, Sendable {
  /// Gives it back (kiln is about to stop).
  func suspend()
  /// Takes it back (kiln was continued); may wait for other processes.
  func resume()
}

private struct WeakSuspendable {
  weak var value: (any Suspendable)?
}
