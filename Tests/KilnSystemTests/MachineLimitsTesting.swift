import KilnSystem
import KilnTestSupport
import Testing

/// A `SharedMachineLimits` on `cache` for a test: no interrupt unless `isInterrupted`
/// says so, nothing printed, every event into `events`. Two made on one cache contend
/// as two kiln processes do.
func machineLimits(cache: TempDirectory, slots: Int, reserve: Int64? = 0,
                   events: EventLog<MachineLimitsEvent> = EventLog(),
                   isInterrupted: @escaping @Sendable () -> Bool = { false }) throws -> SharedMachineLimits {
  let made = SharedMachineLimits(cacheRoot: cache.path, slots: slots, memoryReserve: reserve, isInterrupted: isInterrupted,
                                 report: { _ in }, observe: events.record)
  return try #require(made)
}
