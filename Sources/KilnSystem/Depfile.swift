/// Parses make-style depfiles as gcc and clang write them (`-MD -MF`): one or more
/// rules `targets: prerequisites`, lines continued with a backslash, `\ ` and `\#`
/// escapes, `$$` for `$`. Returns the prerequisites in order, without duplicates.
package enum Depfile {
  package struct ParseError: Error, Sendable, CustomStringConvertible {
    package var message: String
    package var description: String { message }
  }

  package static func prerequisites(of text: [UInt8]) throws(ParseError) -> [String] {
    var words: [(String, Bool)] = []  // (word, ends with an unescaped colon)
    var current: [UInt8] = []
    var i = 0
    func flush() {
      if !current.isEmpty {
        var colon = false
        if current.last == UInt8(ascii: ":") {
          colon = true
          current.removeLast()
        }
        words.append((String(decoding: current, as: UTF8.self), colon))
        if colon, current.isEmpty { words[words.count - 1].0 = "" }
        current.removeAll(keepingCapacity: true)
      }
    }
    var separators: [Int] = []  // word indices that start a new line (rule boundary)
    while i < text.count {
      let c = text[i]
      switch c {
      case UInt8(ascii: "\\"):
        if i + 1 < text.count {
          let next = text[i + 1]
          if next == UInt8(ascii: "\n") { flush(); i += 2; continue }
          if next == UInt8(ascii: "\r"), i + 2 < text.count, text[i + 2] == UInt8(ascii: "\n") { flush(); i += 3; continue }
          if next == UInt8(ascii: " ") || next == UInt8(ascii: "#") || next == UInt8(ascii: "\\") {
            current.append(next); i += 2; continue
          }
        }
        current.append(c); i += 1
      case UInt8(ascii: "$"):
        if i + 1 < text.count, text[i + 1] == UInt8(ascii: "$") { current.append(c); i += 2 } else { current.append(c); i += 1 }
      case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
        flush(); i += 1
      case UInt8(ascii: "\n"):
        flush(); separators.append(words.count); i += 1
      case UInt8(ascii: ":"):
        // A colon followed by whitespace, a line continuation or the end ends the
        // targets; any other colon (`a:b` in a file name) is part of the word.
        if i + 1 >= text.count || text[i + 1] == UInt8(ascii: " ") || text[i + 1] == UInt8(ascii: "\t")
          || text[i + 1] == UInt8(ascii: "\n") || text[i + 1] == UInt8(ascii: "\r") || text[i + 1] == UInt8(ascii: "\\")
        {
          current.append(c); flush(); i += 1
        } else {
          current.append(c); i += 1
        }
      default:
        current.append(c); i += 1
      }
    }
    flush()
    separators.append(words.count)
    var result: [String] = []
    var seen = Set<String>()
    var start = 0
    for end in separators {
      let line = words[start..<end]
      start = end
      guard !line.isEmpty else { continue }
      guard let colon = line.firstIndex(where: { $0.1 }) else {
        throw ParseError(message: "expected 'target: prerequisites', got '\(line.map(\.0).joined(separator: " "))'")
      }
      for (word, _) in line[(colon + 1)...] where !word.isEmpty && seen.insert(word).inserted {
        result.append(word)
      }
    }
    return result
  }
}
