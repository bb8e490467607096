#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnSystem
import KilnTestSupport
import Testing

/// `SharedMachineLimits` keeps its state in byte-range locks owned by open files, so two
/// instances in one process contend exactly as two kiln processes do: these tests use
/// that to check the pool's rules without starting processes (the integration tests do
/// it with real ones). Where a test needs the other side to be waiting, it waits for
/// the instance to say so (`MachineLimitsEvent`), never for a length of time; a wait
/// that never comes ends the test at its time limit, as a failure.
@Suite(.timeLimit(.minutes(1))) struct MachineLimitsUnitTests {
  let cache = TempDirectory(prefix: "kiln-limits")

  func limits(slots: Int, reserve: Int64? = 0, events: EventLog<MachineLimitsEvent> = EventLog(),
              isInterrupted: @escaping @Sendable () -> Bool = { false }) throws -> SharedMachineLimits {
    try machineLimits(cache: cache, slots: slots, reserve: reserve, events: events, isInterrupted: isInterrupted)
  }

  @Test func slotsAreSharedBetweenProcesses() async throws {
    let events = EventLog<MachineLimitsEvent>()
    let a = try limits(slots: 2, events: events), b = try limits(slots: 2)
    let s1 = try #require(await a.acquireSlot(expectedMemory: nil))
    #expect(await events.next() == .slotGranted(s1.index))
    let s2 = try #require(await b.acquireSlot(expectedMemory: nil))
    #expect(s1.index != s2.index)
    // Both slots are taken: a third acquisition looks, finds none, and waits.
    let waiter = Task { await a.acquireSlot(expectedMemory: nil) }
    #expect(await events.next() == .noSlotFree, "a third slot was handed out while two of two were held")
    b.release(s2)
    let s3 = try #require(await waiter.value)
    #expect(s3.index == s2.index)
    #expect(await events.next(where: { $0 != .noSlotFree }) == .slotGranted(s2.index))
    a.release(s1)
    a.release(s3)
  }

  @Test func oneProcessNeverHoldsOneSlotTwice() async throws {
    let a = try limits(slots: 3)
    var held: [JobSlot] = []
    for _ in 0..<3 { held.append(try #require(await a.acquireSlot(expectedMemory: nil))) }
    #expect(Set(held.map(\.index)) == [0, 1, 2])
    for slot in held { a.release(slot) }
  }

  /// Slot accounting across two instances on one cache folder: each hands out only
  /// slots the other does not hold, and a released slot is free to either.
  @Test func twoInstancesNeverHoldTheSameSlot() async throws {
    let a = try limits(slots: 4), b = try limits(slots: 4)
    let fromA = [try #require(await a.acquireSlot(expectedMemory: nil)), try #require(await a.acquireSlot(expectedMemory: nil))]
    let fromB = [try #require(await b.acquireSlot(expectedMemory: nil)), try #require(await b.acquireSlot(expectedMemory: nil))]
    #expect(Set((fromA + fromB).map(\.index)) == [0, 1, 2, 3])
    // The holder of each slot is recorded for other processes to read; none is stopped.
    #expect(a.stoppedHolders().isEmpty)
    a.release(fromA[1])
    let again = try #require(await b.acquireSlot(expectedMemory: nil))
    #expect(again.index == fromA[1].index)
    // Releasing a slot this instance does not hold changes nothing.
    a.release(again)
    let events = EventLog<MachineLimitsEvent>()
    let c = try limits(slots: 4, events: events)
    let waiter = Task { await c.acquireSlot(expectedMemory: nil) }
    #expect(await events.next() == .noSlotFree, "a slot held by another instance was released by one that did not hold it")
    b.release(again)
    let got = try #require(await waiter.value)
    #expect(got.index == again.index)
    c.release(got)
    for slot in fromA.prefix(1) { a.release(slot) }
    for slot in fromB { b.release(slot) }
  }

  @Test func interruptedWaitGivesUp() async throws {
    let a = try limits(slots: 1)
    let flag = OnceFlag()
    let events = EventLog<MachineLimitsEvent>()
    let b = try limits(slots: 1, events: events, isInterrupted: { flag.isSet })
    let held = try #require(await a.acquireSlot(expectedMemory: nil))
    let waiter = Task { await b.acquireSlot(expectedMemory: nil) }
    #expect(await events.next() == .noSlotFree)
    flag.set()
    #expect(await waiter.value == nil)
    a.release(held)
  }

  @Test func memoryReserveHoldsASecondTaskButNeverTheFirst() async throws {
    // A reserve no machine has: the first task of a process still starts (it could
    // only wait for itself), a second waits while the first runs.
    let events = EventLog<MachineLimitsEvent>()
    let a = try limits(slots: 4, reserve: Int64(1) << 60, events: events)
    let first = try #require(await a.acquireSlot(expectedMemory: nil))
    #expect(await events.next() == .slotGranted(first.index))
    let second = Task { await a.acquireSlot(expectedMemory: nil) }
    #expect(await events.next() == .noSlotFree, "a second task started below the memory reserve")
    a.release(first)
    let next = try #require(await second.value)
    a.release(next)
  }

  @Test func anActionInFlightIsRunOnceAndTheOtherWaits() async throws {
    let events = EventLog<MachineLimitsEvent>()
    let a = try limits(slots: 2), b = try limits(slots: 2, events: events)
    let key = Digest(high: 0x1234, low: 0x5678)
    let first = try #require(await a.claimAction(key))
    #expect(!first.waited)
    let second = Task { await b.claimAction(key) }
    #expect(await events.next() == .actionHeld(key))
    // A different key is not held up.
    let other = try #require(await b.claimAction(Digest(high: 0x9999, low: 1)))
    #expect(!other.waited)
    b.release(other)
    a.release(first)
    let got = try #require(await second.value)
    #expect(got.waited)
    b.release(got)
    // Released: the next claim does not wait.
    let again = try #require(await a.claimAction(key))
    #expect(!again.waited)
    a.release(again)
  }

  /// A batch claims its items at once, without waiting: a key another process holds is
  /// left out (that process's result is waited for alone), the others are held until
  /// the batch's release, and a waiter on one of them is woken by it.
  @Test func aBatchClaimsTheKeysNobodyElseHolds() async throws {
    let events = EventLog<MachineLimitsEvent>()
    let a = try limits(slots: 2), b = try limits(slots: 2, events: events)
    let busy = Digest(high: 7, low: 7), free1 = Digest(high: 8, low: 8), free2 = Digest(high: 9, low: 9)
    let held = try #require(await a.claimAction(busy))
    let claims = b.claimActions([free1, busy, free2])
    #expect(claims.held == [true, false, true])
    let waiter = Task { await a.claimAction(free2) }
    try await Task.sleep(for: .milliseconds(50))
    b.release(claims)
    let got = try #require(await waiter.value)
    #expect(got.waited, "free2 was the batch's until its release")
    a.release(got)
    a.release(held)
    let again = b.claimActions([busy])
    #expect(again.held == [true])
    b.release(again)
  }

  @Test func aWaitForAnActionEndsOnInterruptOrWhenItsHolderGoes() async throws {
    let a = try limits(slots: 1)
    let flag = OnceFlag()
    let events = EventLog<MachineLimitsEvent>()
    let b = try limits(slots: 1, events: events, isInterrupted: { flag.isSet })
    let key = Digest(high: 42, low: 42)
    let held = try #require(await a.claimAction(key))
    let interrupted = Task { await b.claimAction(key) }
    #expect(await events.next() == .actionHeld(key))
    flag.set()
    #expect(await interrupted.value == nil, "an interrupted wait gives up")
    // A holder that goes without releasing (its descriptor closed, as when a process
    // dies) frees the key: the kernel drops the lock, the waiter's 20 ms wake finds it.
    let waits = EventLog<MachineLimitsEvent>()
    let c = try limits(slots: 1, events: waits)
    let waiting = Task { await c.claimAction(key) }
    #expect(await waits.next() == .actionHeld(key))
    close(held.descriptorForTesting)
    let got = try #require(await waiting.value)
    #expect(got.waited)
    c.release(got)
  }

  @Test(arguments: [("512M", Int64(512) << 20), ("1.5G", Int64(3) << 29), ("2GiB", Int64(2) << 30),
                    ("100", 100), ("7kb", 7 << 10), ("1T", Int64(1) << 40)])
  func byteCounts(_ text: String, _ bytes: Int64) {
    #expect(parseByteCount(text) == bytes)
  }

  @Test(arguments: ["", "G", "-1M", "12Q", "1.2.3"])
  func notByteCounts(_ text: String) {
    #expect(parseByteCount(text) == nil)
  }
}
