#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KilnTestSupport

/// Runs `body` on a thread of its own and returns its result, or nil when it has not
/// returned after `seconds` (a generous bound, not a measurement): then `unblock` is
/// called to let the stuck call go, and the test fails with a message instead of
/// hanging the whole suite in a system call no time limit can interrupt.
func withoutBlocking<T: Sendable>(within seconds: Int = 30, _ body: @escaping @Sendable () -> T,
                                  unblock: () -> Void) async -> T? {
  let results = EventLog<T>()
  let record = results.record
  let thread = Thread { record(body()) }
  thread.start()
  let result = await withTaskGroup(of: T?.self) { group in
    group.addTask { await results.next() }
    group.addTask {
      try? await Task.sleep(for: .seconds(seconds))
      return nil
    }
    let first = await group.next() ?? nil
    group.cancelAll()
    return first
  }
  if result == nil { unblock() }
  return result
}

/// Opens `fifo` for writing and closes it again: a reader blocked in open(2) on it
/// goes on.
func releaseReader(of fifo: String) {
  let fd = open(fifo, O_WRONLY | O_NONBLOCK)
  if fd >= 0 { close(fd) }
}
