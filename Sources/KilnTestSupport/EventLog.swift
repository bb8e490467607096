/// Events that code under test reports from any thread, read in order by a test that
/// waits for the event it needs ("the waiter is waiting now") instead of sleeping and
/// hoping the other side got there. Pass `record` as the code's observer.
package final class EventLog<Event: Sendable>: Sendable {
  private let stream: AsyncStream<Event>
  private let continuation: AsyncStream<Event>.Continuation

  package init() {
    (stream, continuation) = AsyncStream.makeStream(of: Event.self)
  }

  deinit { continuation.finish() }

  /// Appends an event; callable from any thread.
  package var record: @Sendable (Event) -> Void {
    { [continuation] event in continuation.yield(event) }
  }

  /// The next event not read yet, waiting for it. Read from one task at a time.
  package func next() async -> Event? {
    var iterator = stream.makeAsyncIterator()
    return await iterator.next()
  }

  /// The next event that satisfies `isWanted`, waiting for it; the events before it are
  /// read and dropped.
  package func next(where isWanted: (Event) -> Bool) async -> Event? {
    while let event = await next() {
      if isWanted(event) { return event }
    }
    return nil
  }
}
