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
/// it with real ones).
@Suite struct MachineLimitsUnitTests {
  let cache = TempDirectory(prefix: "kiln-limits")

  func limits(slots: Int, reserve: Int64? = 0) throws -> SharedMachineLimits {
    let made = SharedMachineLimits(cacheRoot: cache.path, slots: slots, memoryReserve: reserve, isInterrupted: { false })
    return try #require(made)
  }

  @Test func slotsAreSharedBetweenProcesses() async throws {
    let a = try limits(slots: 2), b = try limits(slots: 2)
    let s1 = try #require(await a.acquireSlot(expectedMemory: nil))
    let s2 = try #require(await b.acquireSlot(expectedMemory: nil))
    #expect(s1.index != s2.index)
    // Both slots are taken: a third acquisition waits until one is given back.
    let waiter = Task { await a.acquireSlot(expectedMemory: nil) }
    try await Task.sleep(nanoseconds: 50_000_000)
    let gotEarly = OnceFlag()
    let watcher = Task {
      _ = await waiter.value
      gotEarly.set()
    }
    try await Task.sleep(nanoseconds: 50_000_000)
    #expect(!gotEarly.isSet, "a third slot was handed out while two of two were held")
    b.release(s2)
    let s3 = try #require(await waiter.value)
    #expect(s3.index == s2.index)
    _ = await watcher.value
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

  @Test func interruptedWaitGivesUp() async throws {
    let a = try limits(slots: 1)
    let flag = OnceFlag()
    let made = SharedMachineLimits(cacheRoot: cache.path, slots: 1, memoryReserve: 0, isInterrupted: { flag.isSet })
    let b = try #require(made)
    let held = try #require(await a.acquireSlot(expectedMemory: nil))
    let waiter = Task { await b.acquireSlot(expectedMemory: nil) }
    try await Task.sleep(nanoseconds: 30_000_000)
    flag.set()
    #expect(await waiter.value == nil)
    a.release(held)
  }

  @Test func memoryReserveHoldsASecondTaskButNeverTheFirst() async throws {
    // A reserve no machine has: the first task of a process still starts (it could
    // only wait for itself), a second waits while the first runs.
    let a = try limits(slots: 4, reserve: Int64(1) << 60)
    let first = try #require(await a.acquireSlot(expectedMemory: nil))
    let second = Task { await a.acquireSlot(expectedMemory: nil) }
    try await Task.sleep(nanoseconds: 60_000_000)
    let started = OnceFlag()
    let watcher = Task {
      _ = await second.value
      started.set()
    }
    try await Task.sleep(nanoseconds: 40_000_000)
    #expect(!started.isSet, "a second task started below the memory reserve")
    a.release(first)
    let next = try #require(await second.value)
    _ = await watcher.value
    a.release(next)
  }

  @Test func anActionInFlightIsRunOnceAndTheOtherWaits() async throws {
    let a = try limits(slots: 2), b = try limits(slots: 2)
    let key = Digest(high: 0x1234, low: 0x5678)
    let first = try #require(await a.claimAction(key))
    #expect(!first.waited)
    let second = Task { await b.claimAction(key) }
    try await Task.sleep(nanoseconds: 40_000_000)
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

  @Test func aWaitForAnActionEndsOnInterruptOrWhenItsHolderGoes() async throws {
    let a = try limits(slots: 1)
    let flag = OnceFlag()
    let made = SharedMachineLimits(cacheRoot: cache.path, slots: 1, memoryReserve: 0, isInterrupted: { flag.isSet })
    let b = try #require(made)
    let key = Digest(high: 42, low: 42)
    let held = try #require(await a.claimAction(key))
    let interrupted = Task { await b.claimAction(key) }
    try await Task.sleep(nanoseconds: 30_000_000)
    flag.set()
    #expect(await interrupted.value == nil, "an interrupted wait gives up")
    // A holder that goes without releasing (its descriptor closed, as when a process
    // dies) frees the key: the kernel drops the lock, the waiter's 20 ms wake finds it.
    let c = try limits(slots: 1)
    let waiting = Task { await c.claimAction(key) }
    try await Task.sleep(nanoseconds: 30_000_000)
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
