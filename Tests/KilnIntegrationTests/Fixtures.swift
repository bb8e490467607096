import KilnTestSupport
import Testing

/// Small shared pieces of the integration fixtures.
enum Fixture {
  /// A YAML single-quoted scalar: the text verbatim, `'` doubled. Commands full of
  /// `'`, `|`, `>`, `{...}` and `#` stay exactly what the shell will see.
  static func quoted(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
  }

  /// A marker no other process on the machine has in its command line: a fractional
  /// `sleep` argument such as `30.482913`, unique to one test run.
  static func uniqueFraction() -> String {
    String(Int.random(in: 100_000...999_999))
  }
}

extension KilnResult {
  /// "kiln: 2 ran, ..." -> 2: what kiln itself says ran (a cross-check of `.runs`).
  var ranCount: Int? {
    guard let line = stdout.split(separator: "\n").last(where: { $0.hasPrefix("kiln: ") && $0.contains(" ran, ") }) else {
      return nil
    }
    return Int(line.dropFirst("kiln: ".count).prefix { $0.isNumber })
  }
}
