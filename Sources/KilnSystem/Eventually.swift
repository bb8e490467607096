import Synchronization

/// A value some thread will hand over once (`fulfil`), awaited by any number of tasks
/// (`value`): for work done on a thread outside Swift's cooperative pool, whose end a
/// task waits for later.
package final class Eventually<Value: Sendable>: Sendable {
  private enum State {
    case waiting([CheckedContinuation<Value, Never>])
    case done(Value)
  }

  private let state = Mutex(State.waiting([]))

  package init() {}

  /// Hands `value` to every task waiting and to every later `value`; a second call is ignored.
  package func fulfil(_ value: Value) {
    let waiting: [CheckedContinuation<Value, Never>] = state.withLock { state in
      guard case .waiting(let waiting) = state else { return [] }
      state = .done(value)
      return waiting
    }
    for continuation in waiting { continuation.resume(returning: value) }
  }

  package var value: Value {
    get async {
      await withCheckedContinuation { continuation in
        let ready: Value? = state.withLock { state in
          switch state {
          case .done(let value): return value
          case .waiting(let waiting):
            state = .waiting(waiting + [continuation])
            return nil
          }
        }
        if let ready { continuation.resume(returning: ready) }
      }
    }
  }
}
