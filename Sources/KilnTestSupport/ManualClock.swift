import KilnSystem

/// A clock that moves only when told: tests advance it and never sleep.
package final class ManualClock: TimeSource, @unchecked Sendable {
  private let lock = PThreadMutex()
  private var nanoseconds: Int64

  /// Starts at an arbitrary, realistic wall-clock time (2026-01-01).
  package init(start: Int64 = 1_767_225_600_000_000_000) { nanoseconds = start }

  package func advance(by seconds: Double) {
    lock.withLock { nanoseconds += Int64(seconds * 1e9) }
  }

  package func monotonic() -> Double { lock.withLock { Double(nanoseconds) / 1e9 } }
  package func wallNanoseconds() -> Int64 { lock.withLock { nanoseconds } }
}
