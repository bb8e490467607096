#if canImport(Glibc)
import Glibc
#endif
@testable import KilnSystem
import KilnTestSupport
import Testing

/// `MemoryGauge.read`: MemTotal and MemAvailable of /proc/meminfo, in bytes, read as
/// bytes and only as far as those two lines. Checked against a plain reading of the
/// same file (the values move between the two reads, so within a margin).
@Suite struct MemoryGaugeTests {
  func field(_ name: String) throws -> Int64 {
    let text = String(decoding: try LocalFileSystem().read("/proc/meminfo"), as: UTF8.self)
    let line = try #require(text.split(separator: "\n").first { $0.hasPrefix(name + ":") })
    let kib = try #require(Int64(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    return kib * 1024
  }

  @Test func readsTotalAndAvailableBytes() throws {
    let (total, available) = MemoryGauge.read()
    #expect(total == (try field("MemTotal")))
    #expect(available > 0 && available <= total)
    #expect(abs(available - (try field("MemAvailable"))) < total / 10, "\(available)")
  }
}
