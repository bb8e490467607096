#if canImport(Glibc)
import Glibc
#endif
import KilnConfig

/// The moments `kiln stats --since` and `--until` take.
enum StatsFilter {
  /// Seconds since the epoch: `2h`, `30m`, `1h30m`, `90s`, `7d` ago from `now`, or a UTC
  /// date `2026-12-01` (its start; with `endOfDay`, its end, so `--until` a day
  /// includes it), `2026-12-01T14:00`, `2026-12-01 14:00`, `2026-12-01T14:00:30`.
  /// nil for anything else.
  static func moment(_ text: String, now: Double, endOfDay: Bool = false) -> Double? {
    if let days = text.hasSuffix("d") ? Double(text.dropLast()) : nil {
      guard days.isFinite, days >= 0, days <= 3650 else { return nil }
      return now - days * 86400
    }
    if let ago = Duration.parse(text), text.contains(where: \.isLetter) {
      let c = ago.components
      return now - (Double(c.seconds) + Double(c.attoseconds) / 1e18)
    }
    let bytes = Array(text.utf8)
    func number(_ range: Range<Int>) -> Int32? {
      guard range.upperBound <= bytes.count, bytes[range].allSatisfy({ (48...57).contains($0) }) else { return nil }
      return Int32(String(decoding: bytes[range], as: UTF8.self))
    }
    guard bytes.count >= 10, bytes[4] == 45, bytes[7] == 45,
          let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
          (1...12).contains(month), (1...31).contains(day)
    else { return nil }
    var parts = tm()
    parts.tm_year = year - 1900
    parts.tm_mon = month - 1
    parts.tm_mday = day
    if bytes.count == 10 {
      let start = Double(timegm(&parts))
      return endOfDay ? start + 86399 : start
    }
    guard bytes.count == 16 || bytes.count == 19, bytes[10] == 84 || bytes[10] == 32, bytes[13] == 58,
          let hour = number(11..<13), let minute = number(14..<16), hour < 24, minute < 60
    else { return nil }
    parts.tm_hour = hour
    parts.tm_min = minute
    if bytes.count == 19 {
      guard bytes[16] == 58, let second = number(17..<19), second < 60 else { return nil }
      parts.tm_sec = second
    }
    return Double(timegm(&parts))
  }
}
