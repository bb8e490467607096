/// A path pattern: `*` and `?` within one path segment, `[...]` (with `!` or `^`
/// negation and ranges), and `**` as a whole segment for zero or more directories.
/// As in the shell, a wildcard never matches a leading `.` of a name, so hidden files
/// and folders (`.git`, `.kiln`, `.runs`) stay out unless named.
package struct Glob: Sendable, Hashable, CustomStringConvertible {
  package let pattern: String
  private let segments: [[UInt8]]

  package init(_ pattern: String) {
    self.pattern = pattern
    self.segments = pattern.split(separator: "/", omittingEmptySubsequences: true).map { Array($0.utf8) }
  }

  package var description: String { pattern }

  package static func hasWildcards(_ text: String) -> Bool {
    text.utf8.contains { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") }
  }

  package var hasWildcards: Bool { Self.hasWildcards(pattern) }

  /// The folders before the first segment with a wildcard ("" for the root); for a
  /// literal path, its parent folder. Every match lies inside it.
  package var literalPrefix: String {
    var parts: [String] = []
    for segment in segments.dropLast() {
      let text = String(decoding: segment, as: UTF8.self)
      if Self.hasWildcards(text) { break }
      parts.append(text)
    }
    return parts.joined(separator: "/")
  }

  /// Whether a normalised relative path matches the whole pattern.
  package func matches(_ path: String) -> Bool {
    let names = Array(path.utf8).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
    return Self.match(segments[...], names[...])
  }

  /// Whether a relative path given as bytes (a name that is not UTF-8 in it) matches.
  package func matches(bytes path: [UInt8]) -> Bool {
    let names = path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
    return Self.match(segments[...], names[...])
  }

  /// Whether the pattern could match something inside the folder `path` (bytes): a
  /// folder the walk cannot enter (its name is not UTF-8) may hide a match.
  package func mayMatchInside(bytes path: [UInt8]) -> Bool {
    let names = path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
    return Self.matchAbove(segments[...], names[...])
  }

  /// Whether `names` can be the first names of a path `pattern` matches, with at least
  /// one name still to come.
  private static func matchAbove(_ pattern: ArraySlice<[UInt8]>, _ names: ArraySlice<ArraySlice<UInt8>>) -> Bool {
    guard let first = pattern.first else { return false }
    guard let name = names.first else { return true }
    if isAnyFolders(first) {
      if matchAbove(pattern.dropFirst(), names) { return true }
      return name.first != UInt8(ascii: ".") && matchAbove(pattern, names.dropFirst())
    }
    return matchName(first[...], name) && matchAbove(pattern.dropFirst(), names.dropFirst())
  }

  private static func match(_ pattern: ArraySlice<[UInt8]>, _ names: ArraySlice<ArraySlice<UInt8>>) -> Bool {
    guard let first = pattern.first else { return names.isEmpty }
    if isAnyFolders(first) {
      let rest = pattern.dropFirst()
      // `**` matches zero or more names, none of them hidden.
      var remaining = names
      while true {
        if match(rest, remaining) { return true }
        guard let name = remaining.first, name.first != UInt8(ascii: ".") else { return false }
        remaining = remaining.dropFirst()
      }
    }
    guard let name = names.first, matchName(first[...], name) else { return false }
    return match(pattern.dropFirst(), names.dropFirst())
  }

  /// Whether a segment is `**` (compared in place: this runs once per segment of every
  /// path every glob is matched against).
  private static func isAnyFolders(_ segment: [UInt8]) -> Bool {
    segment.count == 2 && segment[0] == UInt8(ascii: "*") && segment[1] == UInt8(ascii: "*")
  }

  /// One name against one segment pattern.
  package static func matchName(_ pattern: ArraySlice<UInt8>, _ name: ArraySlice<UInt8>) -> Bool {
    if name.first == UInt8(ascii: "."), let p = pattern.first, p != UInt8(ascii: ".") { return false }
    var p = pattern.startIndex, n = name.startIndex
    var starP = -1, starN = -1
    while n < name.endIndex {
      if p < pattern.endIndex {
        let c = pattern[p]
        if c == UInt8(ascii: "*") {
          starP = p; starN = n; p += 1
          continue
        }
        if c == UInt8(ascii: "?") {
          p += 1; n += 1
          continue
        }
        if c == UInt8(ascii: "["), let (matched, next) = matchClass(pattern, p, name[n]) {
          if matched {
            p = next; n += 1
            continue
          }
        } else if c == UInt8(ascii: "\\"), p + 1 < pattern.endIndex, pattern[p + 1] == name[n] {
          p += 2; n += 1
          continue
        } else if c == name[n] {
          p += 1; n += 1
          continue
        }
      }
      guard starP >= 0 else { return false }
      p = starP + 1; starN += 1; n = starN
    }
    while p < pattern.endIndex, pattern[p] == UInt8(ascii: "*") { p += 1 }
    return p == pattern.endIndex
  }

  /// `[...]` at `start`: whether `c` is in the class, and the index after `]`.
  /// nil when the bracket is not closed (then it is a literal `[`).
  private static func matchClass(_ pattern: ArraySlice<UInt8>, _ start: Int, _ c: UInt8) -> (Bool, Int)? {
    var i = start + 1
    var negate = false
    if i < pattern.endIndex, pattern[i] == UInt8(ascii: "!") || pattern[i] == UInt8(ascii: "^") {
      negate = true; i += 1
    }
    var matched = false
    var first = true
    while i < pattern.endIndex {
      let lo = pattern[i]
      if lo == UInt8(ascii: "]"), !first { return (matched != negate, i + 1) }
      first = false
      if i + 2 < pattern.endIndex, pattern[i + 1] == UInt8(ascii: "-"), pattern[i + 2] != UInt8(ascii: "]") {
        if lo <= c && c <= pattern[i + 2] { matched = true }
        i += 3
      } else {
        if lo == c { matched = true }
        i += 1
      }
    }
    return nil
  }
}
