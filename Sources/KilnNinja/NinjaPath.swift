/// The two path transformations ninja applies: canonicalisation of every path it reads,
/// and POSIX shell quoting of the paths it substitutes for `$in` and `$out`.
enum NinjaPath {
  /// Collapses `.` and `x/..` components and repeated slashes, drops a trailing slash,
  /// keeps leading `..` components (ninja's `CanonicalizePath`); "." when nothing is left.
  static func canonical(_ path: String) -> String {
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
