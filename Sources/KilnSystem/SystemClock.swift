#if canImport(Glibc)
import Glibc
#endif

/// The real clocks: CLOCK_MONOTONIC and CLOCK_REALTIME.
package struct SystemClock: TimeSource {
  package init() {}

  package func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
  }

  package func wallNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
  }
}
