#if canImport(Glibc)
import Glibc
#endif

/// Writes to stdout and stderr without Foundation, and knows whether each is a terminal.
package enum Terminal {
  package static func write(_ text: String, to fd: Int32 = 1) {
    var s = text
    s.withUTF8 { buf in
      var offset = 0
      while offset < buf.count {
        let n = Glibc.write(fd, buf.baseAddress! + offset, buf.count - offset)
        if n < 0 { if errno == EINTR { continue } else { return } }
        offset += n
      }
    }
  }

  package static func write(bytes: [UInt8], to fd: Int32 = 1) {
    bytes.withUnsafeBytes { buf in
      var offset = 0
      while offset < buf.count {
        let n = Glibc.write(fd, buf.baseAddress! + offset, buf.count - offset)
        if n < 0 { if errno == EINTR { continue } else { return } }
        offset += n
      }
    }
  }

  package static func line(_ text: String) { write(text + "\n", to: 1) }
  package static func error(_ text: String) { write(text + "\n", to: 2) }

  package static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

  /// Whether to colour what goes to `fd`: a terminal, not `TERM=dumb`, and no
  /// `NO_COLOR` (no-color.org: set and not empty).
  package static func colors(_ fd: Int32) -> Bool {
    guard isTerminal(fd) else { return false }
    if let noColor = getenv("NO_COLOR"), noColor.pointee != 0 { return false }
    if let term = getenv("TERM"), String(cString: term) == "dumb" { return false }
    return true
  }

  package static var width: Int {
    var size = winsize()
    if ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    return 80
  }
}

/// A minimal JSON writer: kiln's JSON output is small and flat.
package enum JSON {
  package static func string(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if scalar.value < 0x20 {
          let hex = String(scalar.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }

  package static func number(_ d: Double) -> String {
    if d.isNaN || d.isInfinite { return "null" }
    let rounded = (d * 1_000_000).rounded() / 1_000_000
    if rounded == rounded.rounded(), abs(rounded) < 1e15 { return String(Int64(rounded)) }
    return String(rounded)
  }

  package static func object(_ pairs: [(String, String)]) -> String {
    "{" + pairs.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
  }

  package static func array(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }
}

/// Rows as aligned columns, two spaces apart (the last column is not padded).
func columns(_ rows: [[String]], indent: String = "") -> String {
  var widths: [Int] = []
  for row in rows {
    for (i, cell) in row.enumerated() {
      if i == widths.count { widths.append(0) }
      widths[i] = max(widths[i], cell.count)
    }
  }
  return rows.map { row in
    indent + row.enumerated().map { i, cell in
      i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count + 2)
    }.joined() + "\n"
  }.joined()
}

/// A moment (seconds since the epoch) in UTC, each field zero-padded (month to second
/// two digits), without Foundation.
func utcFields(_ epochSeconds: Double) -> (year: String, month: String, day: String, hour: String, minute: String,
                                           second: String) {
  var t = time_t(epochSeconds)
  var parts = tm()
  gmtime_r(&t, &parts)
  func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
  return ("\(parts.tm_year + 1900)", two(parts.tm_mon + 1), two(parts.tm_mday), two(parts.tm_hour), two(parts.tm_min),
          two(parts.tm_sec))
}
