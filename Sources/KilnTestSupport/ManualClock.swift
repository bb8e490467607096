import KilnSystem
import Synchronization

/// A clock that moves only when told: tests advance it and never sleep.
package final class ManualClock: TimeSource, Sendable {
  private let nanoseconds: Atomic<Int64>

  /// Starts at an arbitrary, realistic wall-clock time (2026-01-01).
  package init(start: Int64 = 1_767_225_600_000_000_000) { nanoseconds = Atomic(start) }

  package func advance(by seconds: Double) {
    nanoseconds.add(Int64(seconds * 1e9), ordering: .sequentiallyConsistent)
  }

  package func monotonic() -> Double { Double(wallNanoseconds()) / 1e9 }
  package func wallNanoseconds() -> Int64 { nanoseconds.load(ordering: .sequentiallyConsistent) }
}
