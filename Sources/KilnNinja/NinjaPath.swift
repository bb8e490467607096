/// The two path transformations ninja applies: canonicalisation of every path it reads,
/// and POSIX shell quoting of the paths it substitutes for `$in` and `$out`.
package enum NinjaPath {
  /// Collapses `.` and `x/..` components and repeated slashes, drops a trailing slash,
  /// keeps leading `..` components (ninja's `CanonicalizePath`); "." when nothing is left.
  package static func canonical(_ path: String) -> String {
    isCanonical(path) ? path : collapsed(path)
  }

  /// `canonical`'s work, component by component (what the fast path skips).
  package static func collapsed(_ path: String) -> String {
    let absolute = path.hasPrefix("/")
    var parts: [Substring] = []
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
      if part == "." { continue }
      if part == "..", let last = parts.last, last != ".." {
        parts.removeLast()
        continue
      }
      parts.append(part)
    }
    let joined = parts.joined(separator: "/")
    if absolute { return "/" + joined }
    return joined.isEmpty ? "." : joined
  }

  /// Whether `canonical` would return `path` itself (most paths in a manifest): no
  /// empty, `.` or (past the leading ones) `..` component, no trailing slash. One pass
  /// over the bytes, no allocation.
  package static func isCanonical(_ path: String) -> Bool {
    path.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
      let n = bytes.count
      guard n > 0 else { return false }
      let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
      var start = bytes[0] == slash ? 1 : 0
      if start == 1, n == 1 { return true }
      var leading = true  // still in the leading `..` components
      while start <= n {
        var end = start
        while end < n, bytes[end] != slash { end += 1 }
        let length = end - start
        if length == 0 { return false }
        if length == 1, bytes[start] == dot { return false }
        if length == 2, bytes[start] == dot, bytes[start + 1] == dot {
          if !leading || start == 1 { return false }
        } else {
          leading = false
        }
        if end == n { return true }
        start = end + 1
      }
      return false
    } ?? false
  }

  /// The path as one shell word: unchanged when every byte is one ninja knows is safe
  /// ([A-Za-z0-9_+-./]), else single-quoted with each `'` written `'\''`.
  static func shellEscaped(_ path: String) -> String {
    if path.utf8.allSatisfy(isShellSafe) { return path }
    var quoted = "'"
    for character in path {
      if character == "'" { quoted += "'\\''" } else { quoted.append(character) }
    }
    return quoted + "'"
  }

  private static func isShellSafe(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"):
      return true
    case UInt8(ascii: "_"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "/"):
      return true
    default:
      return false
    }
  }
}
