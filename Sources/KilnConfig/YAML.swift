import KilnCore

/// Where a YAML node starts: 1-based line and column (columns count bytes).
package struct Mark: Sendable, Hashable {
  package var line: Int
  package var column: Int
}

/// A node of the YAML that build files are written in, with its position.
package indirect enum YAMLNode: Sendable {
  /// `plain`: written without quotes, so YAML's null and boolean spellings apply.
  case scalar(String, plain: Bool, Mark)
  case sequence([YAMLNode], Mark)
  case mapping([(key: YAMLNode, value: YAMLNode)], Mark)

  package var mark: Mark {
    switch self {
    case .scalar(_, _, let m), .sequence(_, let m), .mapping(_, let m): m
    }
  }

  /// The text of a scalar; nil for collections.
  package var string: String? {
    if case .scalar(let s, _, _) = self { return s }
    return nil
  }

  /// YAML 1.1's boolean spellings (`true`, `yes`, `on`, ... and their capitalised forms).
  package var bool: Bool? {
    guard case .scalar(let s, _, _) = self else { return nil }
    switch s {
    case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": return true
    case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": return false
    default: return nil
    }
  }
}

/// A YAML text kiln cannot read, and where.
package struct YAMLError: Error, Sendable {
  package var mark: Mark
  package var message: String
}

/// Reads the YAML of build files: block mappings and sequences by indentation, flow
/// `[...]` and `{...}`, plain, single- and double-quoted scalars (folded over lines),
/// literal `|` and folded `>` block scalars, comments, `---` and `...`. Anchors, aliases,
/// tags and several documents in one file are refused with a clear line. Duplicate keys
/// are an error at their second occurrence.
///
/// kiln's own parser rather than a YAML library: Yams needs the whole of Foundation,
/// which costs about 3 ms at every start of every kiln command (the entire budget of a
/// null build; docs/architecture.md), for a file format this small.
package struct YAMLParser {
  private let text: [UInt8]
  private var i = 0
  /// Offset where the line holding `i` starts, and its 1-based number.
  private var lineStart = 0
  private var line = 1
  /// How many lists and mappings (block or flow) enclose the current position.
  private var depth = 0

  /// How deep lists and mappings may nest. Build files nest four or five levels; the
  /// parser is a recursive descent, and a hostile file (30,000 `[` in 60 KB) used to
  /// run it off the end of the stack. Past the limit: `nesting too deep`.
  package static let maxDepth = 256

  package static func parse(_ source: String) throws(YAMLError) -> YAMLNode? {
    var parser = YAMLParser(Array(source.utf8))
    return try parser.document()
  }

  private init(_ text: [UInt8]) { self.text = text }

  // MARK: - Positions

  private var atEnd: Bool { i >= text.count }
  private var c: UInt8 { i < text.count ? text[i] : 0 }
  private func peek(_ k: Int) -> UInt8 { i + k < text.count ? text[i + k] : 0 }
  private var column: Int { i - lineStart }
  private var mark: Mark { Mark(line: line, column: column + 1) }

  private func error(_ message: String, at m: Mark? = nil) -> YAMLError {
    YAMLError(mark: m ?? mark, message: message)
  }

  private static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
  private static func isBreak(_ b: UInt8) -> Bool { b == 0x0A || b == 0x0D }
  /// Space, line break or the end: what must follow `-` and `:` to make them indicators.
  private func isSeparatorAt(_ k: Int) -> Bool {
    let b = peek(k)
    return b == 0 || Self.isBlank(b) || Self.isBreak(b)
  }

  private mutating func newline() {
    if c == 0x0D, peek(1) == 0x0A { i += 1 }
    i += 1
    lineStart = i
    line += 1
  }

  private mutating func skipBlanks() {
    while Self.isBlank(c) { i += 1 }
  }

  /// Past the indentation and any lines holding only blanks: how many such lines (a
  /// folded scalar keeps one line break for each).
  private mutating func skipEmptyLines() -> Int {
    var breaks = 0
    while true {
      skipBlanks()
      guard Self.isBreak(c) else { return breaks }
      breaks += 1
      newline()
    }
  }

  /// Past blanks, comments and line breaks, to the next content (or the end).
  private mutating func skipToContent() throws(YAMLError) {
    while !atEnd {
      if c == 0x20 {
        i += 1
      } else if c == 0x09 {
        if text[lineStart..<i].allSatisfy(Self.isBlank) {
          // A tab in indentation is legal only on a line with nothing else.
          var k = i
          while k < text.count, Self.isBlank(text[k]) { k += 1 }
          if k < text.count, !Self.isBreak(text[k]), text[k] != 0x23 {
            throw error("YAML syntax error: tabs cannot indent; use spaces")
          }
        }
        i += 1
      } else if c == 0x23 {
        while !atEnd, !Self.isBreak(c) { i += 1 }
      } else if Self.isBreak(c) {
        newline()
      } else {
        return
      }
    }
  }

  /// After a value on its line: only blanks and a comment may follow.
  private mutating func endOfLine(_ what: String) throws(YAMLError) {
    skipBlanks()
    if c == 0x23 || Self.isBreak(c) || atEnd { return }
    throw error("YAML syntax error: unexpected text after \(what)")
  }

  /// Counts one more enclosing collection, opened at `m`; the caller undoes it with
  /// `depth -= 1` in a `defer`, on every way out.
  private mutating func enterCollection(at m: Mark) throws(YAMLError) {
    depth += 1
    if depth > Self.maxDepth { throw error("nesting too deep", at: m) }
  }

  private func startsDocumentMarker(_ marker: UInt8) -> Bool {
    column == 0 && c == marker && peek(1) == marker && peek(2) == marker && isSeparatorAt(3)
  }

  // MARK: - Document

  private mutating func document() throws(YAMLError) -> YAMLNode? {
    if text.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3; lineStart = 3 }
    try skipToContent()
    if startsDocumentMarker(0x2D) {
      i += 3
      try skipToContent()
    }
    if atEnd || startsDocumentMarker(0x2E) { return nil }
    if c == 0x25 { throw error("YAML syntax error: directives (%) are not supported") }
    let root = try blockNode(parentIndent: -1)
    try skipToContent()
    if startsDocumentMarker(0x2E) {
      i += 3
      try skipToContent()
    }
    if startsDocumentMarker(0x2D) { throw error("YAML syntax error: a build file holds one document, not several") }
    if !atEnd {
      if case .sequence = root { throw error("YAML syntax error: expected another '- ' item of the list at this indentation") }
      throw error("YAML syntax error: unexpected text (is it indented the same as what it belongs to?)")
    }
    return root
  }

  // MARK: - Block structure

  /// The node starting at the current position (content, possibly on a line of its
  /// own), belonging to a parent indented by `parentIndent`.
  private mutating func blockNode(parentIndent: Int) throws(YAMLError) -> YAMLNode {
    let indent = column
    if c == 0x2D, isSeparatorAt(1) { return try blockSequence(indent: indent) }
    if try looksLikeKey() { return try blockMapping(indent: indent) }
    return try inlineValue(parentIndent: parentIndent)
  }

  private mutating func blockSequence(indent: Int) throws(YAMLError) -> YAMLNode {
    let start = mark
    defer { depth -= 1 }
    try enterCollection(at: start)
    var items: [YAMLNode] = []
    while true {
      let itemMark = mark
      i += 1  // "-"
      skipBlanks()
      if c == 0x23 || Self.isBreak(c) || atEnd {
        try skipToContent()
        if !atEnd, column > indent {
          items.append(try blockNode(parentIndent: indent))
        } else {
          items.append(.scalar("", plain: true, itemMark))
        }
      } else {
        items.append(try blockNode(parentIndent: indent))
      }
      try skipToContent()
      if atEnd || column < indent || startsDocumentMarker(0x2D) || startsDocumentMarker(0x2E) { break }
      if column > indent { throw error("YAML syntax error: this line is indented more than the list item above it") }
      // Anything else at this indentation ends the list: the next key of the mapping
      // whose value it was (`key:` then `- a` at the key's own indentation).
      guard c == 0x2D, isSeparatorAt(1) else { break }
    }
    return .sequence(items, start)
  }

  private mutating func blockMapping(indent: Int) throws(YAMLError) -> YAMLNode {
    let start = mark
    defer { depth -= 1 }
    try enterCollection(at: start)
    var pairs: [(key: YAMLNode, value: YAMLNode)] = []
    var seen = Set<String>()
    while true {
      let key = try mappingKey()
      if let name = key.string {
        if !seen.insert(name).inserted { throw error("duplicate key '\(name)'", at: key.mark) }
      }
      // At ':'.
      let colon = mark
      i += 1
      skipBlanks()
      let value: YAMLNode
      if c == 0x23 || Self.isBreak(c) || atEnd {
        try skipToContent()
        if !atEnd, column > indent, !startsDocumentMarker(0x2D), !startsDocumentMarker(0x2E) {
          value = try blockNode(parentIndent: indent)
        } else if !atEnd, column == indent, c == 0x2D, isSeparatorAt(1) {
          value = try blockSequence(indent: indent)  // "key:\n- a\n- b": a list may sit at the key's indentation
        } else {
          value = .scalar("", plain: true, Mark(line: colon.line, column: colon.column + 1))
        }
      } else {
        value = try inlineValue(parentIndent: indent)
      }
      pairs.append((key, value))
      try skipToContent()
      if atEnd || column < indent || startsDocumentMarker(0x2D) || startsDocumentMarker(0x2E) { break }
      if column > indent { throw error("YAML syntax error: this line is indented more than the keys above it") }
      guard try looksLikeKey() else {
        throw error("YAML syntax error: expected 'key: value' at this indentation")
      }
    }
    return .mapping(pairs, start)
  }

  /// Whether the current line, from here, is `key:` followed by a space or its end.
  private mutating func looksLikeKey() throws(YAMLError) -> Bool {
    let save = (i, lineStart, line)
    defer { (i, lineStart, line) = save }
    switch c {
    case 0x22, 0x27:
      guard (try? quoted()) != nil else { return false }
      skipBlanks()
      return c == 0x3A && isSeparatorAt(1)
    case 0x5B, 0x7B:
      let startLine = line
      guard (try? flowCollection()) != nil, line == startLine else { return false }
      skipBlanks()
      return c == 0x3A && isSeparatorAt(1)
    default:
      while !atEnd, !Self.isBreak(c) {
        if c == 0x3A, isSeparatorAt(1) { return true }
        if c == 0x23, i > 0, Self.isBlank(text[i - 1]) { return false }
        i += 1
      }
      return false
    }
  }

  /// A key, left at its ':'.
  private mutating func mappingKey() throws(YAMLError) -> YAMLNode {
    let start = mark
    switch c {
    case 0x22, 0x27:
      let key = try quoted()
      skipBlanks()
      return key
    case 0x5B, 0x7B:
      let key = try flowCollection()
      skipBlanks()
      return key
    case 0x26, 0x2A, 0x21:
      throw error("YAML anchors (&), aliases (*) and tags (!) are not supported in a build file")
    default:
      let from = i
      var end = i
      while !(c == 0x3A && isSeparatorAt(1)) {
        i += 1
        if !Self.isBlank(text[i - 1]) { end = i }
      }
      return .scalar(String(decoding: text[from..<end], as: UTF8.self), plain: true, start)
    }
  }

  // MARK: - Values on a line

  /// A scalar or flow collection starting here, in a block whose parent is indented
  /// by `parentIndent` (plain and quoted scalars may continue on more indented lines).
  private mutating func inlineValue(parentIndent: Int) throws(YAMLError) -> YAMLNode {
    switch c {
    case 0x5B, 0x7B:
      let opening = c
      let node = try flowCollection()
      skipBlanks()
      if !(c == 0x23 || Self.isBreak(c) || atEnd) {
        if opening == 0x7B {
          throw error("YAML syntax error: a value that starts with '{' must be quoted (YAML reads {...} as a mapping)", at: node.mark)
        }
        throw error("YAML syntax error: unexpected text after ']'")
      }
      return node
    case 0x22, 0x27:
      let node = try quoted()
      try endOfLine("the closing quote")
      return node
    case 0x7C, 0x3E:
      return try blockScalar(parentIndent: parentIndent)
    case 0x26, 0x2A, 0x21:
      throw error("YAML anchors (&), aliases (*) and tags (!) are not supported in a build file")
    case 0x25, 0x40, 0x60:
      throw error("YAML syntax error: a plain value cannot start with '\(Character(Unicode.Scalar(c)))'; quote it")
    case 0x2D where isSeparatorAt(1):
      throw error("YAML syntax error: a list cannot start on the line of its key; put '- ' items on the lines below")
    default:
      return try plainScalar(parentIndent: parentIndent)
    }
  }

  /// A plain scalar in block context: to the end of its line or a ` #` comment, folded
  /// with the following lines indented more than its parent.
  private mutating func plainScalar(parentIndent: Int) throws(YAMLError) -> YAMLNode {
    let start = mark
    var result: [UInt8] = []
    var pendingBreaks = 0
    while true {
      // One line's worth.
      var lineBytes: [UInt8] = []
      while !atEnd, !Self.isBreak(c) {
        if c == 0x23, i > 0, Self.isBlank(text[i - 1]) { break }
        if c == 0x3A, isSeparatorAt(1) {
          throw error("YAML syntax error: ': ' inside a plain value; quote the value")
        }
        lineBytes.append(c)
        i += 1
      }
      while let last = lineBytes.last, Self.isBlank(last) { lineBytes.removeLast() }
      if !lineBytes.isEmpty {
        if !result.isEmpty {
          if pendingBreaks == 0 { result.append(0x20) } else { result += Array(repeating: 0x0A, count: pendingBreaks) }
        }
        result += lineBytes
      }
      // Continue on the next line if it is more indented than the parent; a comment
      // ends the value.
      if c == 0x23 || atEnd { break }
      let save = (i, lineStart, line)
      newline()
      let breaks = skipEmptyLines()
      if atEnd || column <= parentIndent || c == 0x23 || startsDocumentMarker(0x2D) || startsDocumentMarker(0x2E) {
        (i, lineStart, line) = save
        break
      }
      if text[lineStart..<i].contains(0x09) {
        throw error("YAML syntax error: tabs cannot indent; use spaces", at: Mark(line: line, column: 1))
      }
      pendingBreaks = breaks
    }
    return .scalar(String(decoding: result, as: UTF8.self), plain: true, start)
  }

  /// `'...'` (`''` is a quote) or `"..."` (backslash escapes); line breaks fold to a space.
  private mutating func quoted() throws(YAMLError) -> YAMLNode {
    let start = mark
    let quote = c
    i += 1
    var result: [UInt8] = []
    // Bytes up to here came from escapes: folding never trims them.
    var kept = 0
    while true {
      if atEnd || (quote == 0x22 && c == 0x5C && i + 1 >= text.count) {
        throw error("YAML syntax error: this quoted value is never closed", at: start)
      }
      let b = c
      if quote == 0x27, b == 0x27 {
        if peek(1) == 0x27 {
          result.append(0x27)
          i += 2
          continue
        }
        i += 1
        break
      }
      if quote == 0x22, b == 0x22 {
        i += 1
        break
      }
      if quote == 0x22, b == 0x5C {
        try escape(into: &result)
        kept = result.count
        continue
      }
      if Self.isBreak(b) {
        while result.count > kept, let last = result.last, Self.isBlank(last) { result.removeLast() }
        newline()
        let breaks = skipEmptyLines()
        if breaks == 0 { result.append(0x20) } else { result += Array(repeating: 0x0A, count: breaks) }
        continue
      }
      result.append(b)
      i += 1
    }
    return .scalar(String(decoding: result, as: UTF8.self), plain: false, start)
  }

  private mutating func escape(into result: inout [UInt8]) throws(YAMLError) {
    let at = mark
    i += 1
    let e = c
    i += 1
    switch e {
    case 0x30: result.append(0)
    case 0x61: result.append(0x07)
    case 0x62: result.append(0x08)
    case 0x74, 0x09: result.append(0x09)
    case 0x6E: result.append(0x0A)
    case 0x76: result.append(0x0B)
    case 0x66: result.append(0x0C)
    case 0x72: result.append(0x0D)
    case 0x65: result.append(0x1B)
    case 0x20, 0x22, 0x2F, 0x5C: result.append(e)
    case 0x78, 0x75, 0x55:
      let digits = e == 0x78 ? 2 : (e == 0x75 ? 4 : 8)
      var value: UInt32 = 0
      for _ in 0..<digits {
        guard let d = Self.hexValue(c) else { throw error("YAML syntax error: bad escape: expected \(digits) hex digits", at: at) }
        value = value << 4 | d
        i += 1
      }
      guard let scalar = Unicode.Scalar(value) else { throw error("YAML syntax error: bad escape: not a character", at: at) }
      result += Array(String(Character(scalar)).utf8)
    case 0x0A, 0x0D:
      // An escaped line break joins the lines without a space.
      i -= 1
      newline()
      skipBlanks()
    default:
      throw error("YAML syntax error: unknown escape '\\\(Character(Unicode.Scalar(e)))' in a double-quoted value", at: at)
    }
  }

  private static func hexValue(_ b: UInt8) -> UInt32? {
    switch b {
    case 0x30...0x39: UInt32(b - 0x30)
    case 0x61...0x66: UInt32(b - 0x61 + 10)
    case 0x41...0x46: UInt32(b - 0x41 + 10)
    default: nil
    }
  }

  /// `|` (literal) or `>` (folded), with optional chomping (`-`, `+`) and indentation
  /// indicators; the content is every following line indented more than the parent.
  /// Folding follows YAML 1.2: a line break between two lines that start with text is
  /// a space, unless blank lines follow it (they give one line break each); around a
  /// more-indented line, breaks are kept.
  private mutating func blockScalar(parentIndent: Int) throws(YAMLError) -> YAMLNode {
    let start = mark
    let folded = c == 0x3E
    i += 1
    var chomp: UInt8 = 0
    var explicitIndent: Int?
    for _ in 0..<2 {
      if c == 0x2D || c == 0x2B {
        chomp = c
        i += 1
      } else if c >= 0x31, c <= 0x39 {
        explicitIndent = Int(c - 0x30)
        i += 1
      }
    }
    try endOfLine("'\(folded ? ">" : "|")'")
    while !atEnd, !Self.isBreak(c) { i += 1 }
    var contentIndent = explicitIndent.map { max(parentIndent, 0) + $0 }
    // Text lines with the count of empty lines before each; empty lines at the end.
    var lines: [(emptyBefore: Int, text: ArraySlice<UInt8>)] = []
    var empty = 0
    var endsWithBreak = false
    var lastContentEnd = (i, lineStart, line)
    while !atEnd {
      newline()  // past the break that ends the header or the previous line
      var k = i
      while k < text.count, text[k] == 0x20 { k += 1 }
      if k >= text.count {
        // The end of the file, after a line break: no further line.
        i = k
        break
      }
      let spaces = k - i
      let blank = Self.isBreak(text[k])
      if contentIndent == nil, !blank {
        guard spaces > parentIndent else {
          i = lineStart
          break
        }
        contentIndent = spaces
      }
      if blank, spaces <= (contentIndent ?? Int.max) {
        empty += 1
        i = k
        continue
      }
      guard spaces >= contentIndent! else {
        i = lineStart
        break
      }
      var end = k
      while end < text.count, !Self.isBreak(text[end]) { end += 1 }
      lines.append((empty, text[(i + contentIndent!)..<end]))
      empty = 0
      i = end
      endsWithBreak = !atEnd
      lastContentEnd = (i, lineStart, line)
    }
    // The position goes back to the end of the last content line, so the caller finds
    // the next node where it starts.
    (i, lineStart, line) = lastContentEnd
    var content: [UInt8] = []
    var previousStartsWithText = false
    for (n, l) in lines.enumerated() {
      let startsWithText = !(l.text.first.map(Self.isBlank) ?? false)
      if n == 0 {
        content += Array(repeating: 0x0A, count: l.emptyBefore)
      } else if folded, previousStartsWithText, startsWithText {
        if l.emptyBefore == 0 { content.append(0x20) } else { content += Array(repeating: 0x0A, count: l.emptyBefore) }
      } else {
        content += Array(repeating: 0x0A, count: 1 + l.emptyBefore)
      }
      content += l.text
      previousStartsWithText = startsWithText
    }
    switch chomp {
    case 0x2D: break
    case 0x2B:
      if !lines.isEmpty, endsWithBreak { content.append(0x0A) }
      content += Array(repeating: 0x0A, count: empty)
    default:
      if !lines.isEmpty, endsWithBreak { content.append(0x0A) }
    }
    return .scalar(String(decoding: content, as: UTF8.self), plain: false, start)
  }

  // MARK: - Flow collections

  /// `[a, b]` or `{k: v, ...}`, over as many lines as it takes.
  private mutating func flowCollection() throws(YAMLError) -> YAMLNode {
    let start = mark
    defer { depth -= 1 }
    try enterCollection(at: start)
    let isSequence = c == 0x5B
    let closing: UInt8 = isSequence ? 0x5D : 0x7D
    i += 1
    var items: [YAMLNode] = []
    var pairs: [(key: YAMLNode, value: YAMLNode)] = []
    var seen = Set<String>()
    while true {
      try skipToContent()
      if atEnd { throw error("YAML syntax error: '\(isSequence ? "[" : "{")' is never closed", at: start) }
      if c == closing {
        i += 1
        break
      }
      let item = try flowNode(inSequence: isSequence)
      try skipToContent()
      if atEnd { throw error("YAML syntax error: '\(isSequence ? "[" : "{")' is never closed", at: start) }
      if isSequence {
        items.append(item)
      } else {
        if let name = item.string, !seen.insert(name).inserted { throw error("duplicate key '\(name)'", at: item.mark) }
        var value: YAMLNode = .scalar("", plain: true, item.mark)
        if c == 0x3A {
          i += 1
          try skipToContent()
          if c != 0x2C, c != closing { value = try flowNode(inSequence: false) }
          try skipToContent()
          if atEnd { throw error("YAML syntax error: '{' is never closed", at: start) }
        }
        pairs.append((item, value))
      }
      if c == 0x2C {
        i += 1
        continue
      }
      if c == closing {
        i += 1
        break
      }
      if isSequence, c == 0x7B {
        throw error("YAML syntax error: a '{' inside [...] must be quoted")
      }
      if c == 0x5D || c == 0x7D {
        throw error("YAML syntax error: expected ',' or '\(Character(Unicode.Scalar(closing)))' before '\(Character(Unicode.Scalar(c)))' (is one missing?)")
      }
      throw error("YAML syntax error: expected ',' or '\(Character(Unicode.Scalar(closing)))'")
    }
    return isSequence ? .sequence(items, start) : .mapping(pairs, start)
  }

  private mutating func flowNode(inSequence: Bool) throws(YAMLError) -> YAMLNode {
    switch c {
    case 0x5B, 0x7B: return try flowCollection()
    case 0x22, 0x27: return try quoted()
    case 0x26, 0x2A, 0x21:
      throw error("YAML anchors (&), aliases (*) and tags (!) are not supported in a build file")
    case 0x2C, 0x5D, 0x7D:
      throw error("YAML syntax error: an empty item")
    default:
      let start = mark
      var bytes: [UInt8] = []
      while !atEnd {
        let b = c
        if b == 0x2C || b == 0x5B || b == 0x5D || b == 0x7B || b == 0x7D { break }
        if b == 0x3A, isSeparatorAt(1) || [0x2C, 0x5D, 0x7D].contains(peek(1)) { break }
        if b == 0x23, let last = bytes.last, Self.isBlank(last) { break }
        if Self.isBreak(b) {
          // Folds onto the next line unless the item ends there.
          try skipToContent()
          if atEnd || [0x2C, 0x5D, 0x7D, 0x3A].contains(c) { break }
          bytes.append(0x20)
          continue
        }
        bytes.append(b)
        i += 1
      }
      while let last = bytes.last, Self.isBlank(last) { bytes.removeLast() }
      return .scalar(String(decoding: bytes, as: UTF8.self), plain: true, start)
    }
  }
}
