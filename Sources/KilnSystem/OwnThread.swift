#if canImport(Glibc)
import Glibc
#endif

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
