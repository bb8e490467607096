#if canImport(Glibc)
import Glibc
#endif

/// Every running task's process group, so that Ctrl-C (or a timeout) can stop a task
/// with all its children. Each task is the leader of its own group, so a terminal's
/// SIGINT reaches only kiln, which then signals each group itself.
package final class ProcessGroups: @unchecked Sendable {
  package static let shared = ProcessGroups()

  private let lock = PThreadMutex()
  private var groups: Set<pid_t> = []
  private var interrupted = false

  package func register(_ pgid: pid_t) -> Bool {
    lock.withLock {
      if interrupted {
        _ = Glibc.kill(-pgid, SIGKILL)
        return false
      }
      groups.insert(pgid)
      return true
    }
  }

  package func unregister(_ pgid: pid_t) {
    lock.withLock { _ = groups.remove(pgid) }
  }

  package var isInterrupted: Bool { lock.withLock { interrupted } }

  /// Marks the build interrupted and kills every running group: SIGTERM, then SIGKILL.
  package func interruptAll() {
    let pgids: Set<pid_t> = lock.withLock {
      interrupted = true
      return groups
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

  /// Kills one group at once (timeouts).
  package static func kill(group pgid: pid_t) {
    _ = Glibc.kill(-pgid, SIGKILL)
  }
}
