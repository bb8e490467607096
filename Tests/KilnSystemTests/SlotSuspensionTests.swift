#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnSystem
import KilnTestSupport
import Testing

/// What a kiln stopped with Ctrl-Z does with its job slots (issue 12, item 18), checked
/// in one process with two `SharedMachineLimits` on one cache, which contend as two
/// processes do: `suspend()` gives the slots back, `resume()` takes the same ones again
/// (waiting for one another holder took meanwhile), and a slot released while given
/// back is simply gone. Each test waits for the waiting side to say it waits
/// (`MachineLimitsEvent`), not for a length of time.
@Suite(.timeLimit(.minutes(1))) struct SlotSuspensionTests {
  let cache = TempDirectory(prefix: "kiln-suspend")

  func limits(slots: Int, events: EventLog<MachineLimitsEvent> = EventLog()) throws -> SharedMachineLimits {
    try machineLimits(cache: cache, slots: slots, events: events)
  }

  @Test func suspendGivesTheSlotsBackAndResumeTakesThemAgain() async throws {
    let stoppedEvents = EventLog<MachineLimitsEvent>(), otherEvents = EventLog<MachineLimitsEvent>()
    let stopped = try limits(slots: 1, events: stoppedEvents), other = try limits(slots: 1, events: otherEvents)
    let held = try #require(await stopped.acquireSlot(expectedMemory: nil))
    stopped.suspend()
    // The other "process" gets the slot at once.
    let taken = try #require(await other.acquireSlot(expectedMemory: nil))
    #expect(taken.index == held.index)
    #expect(await otherEvents.next() == .slotGranted(taken.index))
    // Resuming waits for it to be given back, then holds it again.
    let resumed = Task { stopped.resume() }
    #expect(await stoppedEvents.next(where: { $0 != .slotGranted(held.index) }) == .resumeWaits)
    other.release(taken)
    await resumed.value
    let waiter = Task { await other.acquireSlot(expectedMemory: nil) }
    #expect(await otherEvents.next() == .noSlotFree, "the resumed holder's slot was handed out")
    stopped.release(held)
    let after = try #require(await waiter.value)
    other.release(after)
  }

  @Test func aSlotReleasedWhileGivenBackIsNotTakenAgain() async throws {
    let stopped = try limits(slots: 1), other = try limits(slots: 1)
    let held = try #require(await stopped.acquireSlot(expectedMemory: nil))
    stopped.suspend()
    stopped.release(held)  // its command ended while kiln was stopped
    stopped.resume()       // nothing to take back: returns at once
    let taken = try #require(await other.acquireSlot(expectedMemory: nil))
    #expect(taken.index == held.index)
    other.release(taken)
  }

  @Test func noSlotIsTakenWhileSuspended() async throws {
    let events = EventLog<MachineLimitsEvent>()
    let stopped = try limits(slots: 2, events: events)
    stopped.suspend()
    let waiter = Task { await stopped.acquireSlot(expectedMemory: nil) }
    #expect(await events.next() == .noSlotFree, "a stopped kiln took a slot")
    stopped.resume()
    let slot = try #require(await waiter.value)
    stopped.release(slot)
  }
}
