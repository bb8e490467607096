import KilnCore

/// Splits one manifest file into ninja's tokens and `$`-escaped strings (ninja's
/// `lexer.in.cc`), keeping the byte offset of the last token for error lines.
struct NinjaLexer {
  enum Token: Equatable {
    case build, rule, pool, defaultKeyword, include, subninja
    case identifier(String)
    case equals, colon, pipe, pipe2, pipeAt, newline, indent, eof
    case error(String)

    /// The name ninja's messages give the token ("expected newline, got '|'").
    var name: String {
      switch self {
      case .build: "'build'"
      case .rule: "'rule'"
      case .pool: "'pool'"
      case .defaultKeyword: "'default'"
      case .include: "'include'"
      case .subninja: "'subninja'"
      case .identifier: "identifier"
      case .equals: "'='"
      case .colon: "':'"
      case .pipe: "'|'"
      case .pipe2: "'||'"
      case .pipeAt: "'|@'"
      case .newline: "newline"
      case .indent: "indent"
      case .eof: "eof"
      case .error: "lexing error"
      }
    }
  }

  let file: String
  private let bytes: [UInt8]
  private var position = 0
  private var lastTokenStart = 0
  /// Byte offsets at which each line starts, for turning offsets into line numbers.
  private let lineStarts: LineStarts

  init(file: String, bytes: [UInt8]) {
    self.file = file
    self.bytes = bytes
    var starts = [0]
    for (offset, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") { starts.append(offset + 1) }
    lineStarts = LineStarts(starts)
  }

  /// The 1-based line of the last token read.
  var line: Int { line(at: lastTokenStart) }

  func line(at offset: Int) -> Int { lineStarts.line(containing: offset) + 1 }

  /// An error at the last token read.
  func error(_ message: String) -> NinjaError {
    NinjaError(file: file, line: line, message: message)
  }

  private func byte(at offset: Int) -> UInt8 { offset < bytes.count ? bytes[offset] : 0 }
  private var current: UInt8 { byte(at: position) }

  static func isIdentifierByte(_ byte: UInt8, allowingDot: Bool = true) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
      true
    case UInt8(ascii: "."): allowingDot
    default: false
    }
  }

  mutating func readToken() -> Token {
    while true {
      let start = position
      lastTokenStart = start
      var cursor = position
      while byte(at: cursor) == UInt8(ascii: " ") { cursor += 1 }
      let afterSpaces = byte(at: cursor)
      if afterSpaces == UInt8(ascii: "#") {
        // A comment line, with any indentation, is skipped whole.
        while cursor < bytes.count, bytes[cursor] != UInt8(ascii: "\n") { cursor += 1 }
        if cursor < bytes.count {
          position = cursor + 1
          continue
        }
      }
      if afterSpaces == UInt8(ascii: "\n") {
        position = cursor + 1
        return .newline
      }
      if afterSpaces == UInt8(ascii: "\r"), byte(at: cursor + 1) == UInt8(ascii: "\n") {
        position = cursor + 2
        return .newline
      }
      if cursor > start {
        position = cursor
        return .indent
      }
      let token: Token
      if Self.isIdentifierByte(afterSpaces) {
        while Self.isIdentifierByte(byte(at: cursor)) { cursor += 1 }
        let word = String(decoding: bytes[start..<cursor], as: UTF8.self)
        position = cursor
        switch word {
        case "build": token = .build
        case "rule": token = .rule
        case "pool": token = .pool
        case "default": token = .defaultKeyword
        case "include": token = .include
        case "subninja": token = .subninja
        default: token = .identifier(word)
        }
      } else if afterSpaces == UInt8(ascii: "=") {
        position += 1
        token = .equals
      } else if afterSpaces == UInt8(ascii: ":") {
        position += 1
        token = .colon
      } else if afterSpaces == UInt8(ascii: "|") {
        switch byte(at: position + 1) {
        case UInt8(ascii: "|"): position += 2; token = .pipe2
        case UInt8(ascii: "@"): position += 2; token = .pipeAt
        default: position += 1; token = .pipe
        }
      } else if position >= bytes.count {
        return .eof
      } else if afterSpaces == UInt8(ascii: "\t") {
        return .error("tabs are not allowed, use spaces")
      } else {
        return .error("lexing error")
      }
      eatWhitespace()
      return token
    }
  }

  /// Reads the next token and keeps it when it is `token`, else puts it back.
  mutating func peek(_ token: Token) -> Bool {
    let saved = (position, lastTokenStart)
    if readToken() == token { return true }
    (position, lastTokenStart) = saved
    return false
  }

  /// Puts back the token just read.
  mutating func unread() { position = lastTokenStart }

  mutating func expect(_ token: Token) throws(NinjaError) {
    let got = readToken()
    guard got == token else {
      if case .error(let message) = got { throw error(message) }
      let hint = token == .colon ? " ($ also escapes ':')" : ""
      throw error("expected \(token.name), got \(got.name)\(hint)")
    }
  }

  /// Spaces and `$`-newline continuations between tokens.
  private mutating func eatWhitespace() {
    while true {
      if current == UInt8(ascii: " ") {
        position += 1
      } else if current == UInt8(ascii: "$"), byte(at: position + 1) == UInt8(ascii: "\n") {
        position += 2
      } else if current == UInt8(ascii: "$"), byte(at: position + 1) == UInt8(ascii: "\r"),
        byte(at: position + 2) == UInt8(ascii: "\n")
      {
        position += 3
      } else {
        return
      }
    }
  }

  /// A variable, rule or pool name ([a-zA-Z0-9_.-]+), or nil (nothing consumed).
  mutating func readIdentifier() -> String? {
    let start = position
    lastTokenStart = start
    while Self.isIdentifierByte(current) { position += 1 }
    guard position > start else { return nil }
    let word = String(decoding: bytes[start..<position], as: UTF8.self)
    eatWhitespace()
    return word
  }

  /// A path (ends at a space, `:`, `|` or newline, which stay unread) or, with
  /// `path: false`, a value (ends at and consumes the newline), with `$` escapes applied
  /// and variable references kept.
  mutating func readEvalString(path: Bool) throws(NinjaError) -> NinjaEvalString {
    var result = NinjaEvalString()
    var literal: [UInt8] = []
    func flush() {
      if !literal.isEmpty {
        result.append(literal: String(decoding: literal, as: UTF8.self))
        literal.removeAll()
      }
    }
    loop: while true {
      let start = position
      let c = current
      switch c {
      case 0 where position >= bytes.count:
        lastTokenStart = start
        throw error("unexpected EOF")
      case UInt8(ascii: "\n"):
        if !path { position += 1 }
        break loop
      case UInt8(ascii: "\r") where byte(at: position + 1) == UInt8(ascii: "\n"):
        if !path { position += 2 }
        break loop
      case UInt8(ascii: "\r"):
        lastTokenStart = start
        throw error("lexing error")
      case _ where path && (c == UInt8(ascii: " ") || c == UInt8(ascii: ":") || c == UInt8(ascii: "|")):
        break loop
      case UInt8(ascii: "$"):
        let next = byte(at: position + 1)
        switch next {
        case UInt8(ascii: "$"), UInt8(ascii: " "), UInt8(ascii: ":"):
          literal.append(next)
          position += 2
        case UInt8(ascii: "\n"):
          position += 2
          while current == UInt8(ascii: " ") { position += 1 }
        case UInt8(ascii: "\r") where byte(at: position + 2) == UInt8(ascii: "\n"):
          position += 3
          while current == UInt8(ascii: " ") { position += 1 }
        case UInt8(ascii: "{"):
          var end = position + 2
          while Self.isIdentifierByte(byte(at: end)) { end += 1 }
          guard end > position + 2, byte(at: end) == UInt8(ascii: "}") else {
            lastTokenStart = start
            throw error("bad $-escape (literal $ must be written as $$)")
          }
          flush()
          result.append(variable: String(decoding: bytes[(position + 2)..<end], as: UTF8.self))
          position = end + 1
        case _ where Self.isIdentifierByte(next, allowingDot: false):
          var end = position + 1
          while Self.isIdentifierByte(byte(at: end), allowingDot: false) { end += 1 }
          flush()
          result.append(variable: String(decoding: bytes[(position + 1)..<end], as: UTF8.self))
          position = end
        default:
          lastTokenStart = start
          throw error("bad $-escape (literal $ must be written as $$)")
        }
      default:
        literal.append(c)
        position += 1
      }
    }
    flush()
    if path { eatWhitespace() }
    return result
  }
}
