#if canImport(Glibc)
import Glibc
#endif
import KilnSystem

/// A process as a claim names it: its pid and its start time (clock ticks since boot),
/// so a pid reused by a later process is not taken for the one that claimed.
package struct ProcessIdentity: Sendable, Hashable {
  package var pid: Int32
  package var start: UInt64

  package init(pid: Int32, start: UInt64) {
    self.pid = pid
    self.start = start
  }

  /// The running process `pid`; nil when there is none.
  package static func of(_ pid: Int32) -> ProcessIdentity? {
    ProcessStat(pid: pid).map { ProcessIdentity(pid: pid, start: $0.startTime) }
  }

  /// This process.
  package static var current: ProcessIdentity {
    of(getpid()) ?? ProcessIdentity(pid: getpid(), start: 0)
  }

  /// No such process any more, or its pid now names a process started later.
  package var isGone: Bool {
    guard let now = ProcessStat(pid: pid) else { return true }
    return start != 0 && now.startTime != start
  }
}
