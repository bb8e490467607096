import CYAML
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

/// Reads the YAML of build files with libyaml's event API (Debian libyaml-dev, the C
/// library under PyYAML and Yams; no Foundation). What kiln adds on top:
/// - one document per file; no directives, anchors, aliases or tags (refused with a clear
///   line); a duplicate key is an error at its second occurrence;
/// - lists and mappings nest at most `maxDepth` levels, counted while the events arrive;
/// - marks in kiln's terms: 1-based lines, columns counting bytes (libyaml counts
///   characters), an empty list item marked at its `-`;
/// - libyaml's error messages turned into kiln's wording, at the place to fix.
///
/// Two spellings that YAML 1.2 and PyYAML accept but libyaml 0.2 refuses are read by
/// editing the text and parsing again: a tab after the indentation on the first line
/// of a block scalar (`|\n  \tx`), and `key:` right before `,`, `]` or `}` in a flow
/// collection (`{empty:, k: v}`). Each edit costs a parse of the whole text, so a file
/// gets at most `maxEdits`; past them these spellings are errors that say how to write them.
package enum YAMLParser {
  /// How deep lists and mappings may nest. Build files nest four or five levels; a
  /// hostile file (30,000 `[` in 60 KB) must end in one line, not in memory or time.
  /// Past the limit: `nesting too deep`.
  package static let maxDepth = 256

  /// How many times the text may be edited and parsed again.
  package static let maxEdits = 64

  package static func parse(_ source: String) throws(YAMLError) -> YAMLNode? {
    let original = SourceText(Array(source.utf8))
    var edits = Edits(original)
    while true {
      var reader = EventReader(original: original, edits: edits)
      switch try reader.read() {
      case .parsed(let root): return root
      case .retry(let edited): edits = edited
      }
    }
  }
}

// MARK: - Positions

/// Bytes of a text and where its lines start, to turn libyaml's marks (counted in
/// characters, a leading byte order mark not counted) into byte offsets and kiln's marks.
private struct SourceText {
  let bytes: [UInt8]
  /// The byte offset of each character, when the text is not all ASCII.
  private let characterOffsets: [Int]?
  private let lineStarts: LineStarts

  init(_ bytes: [UInt8]) {
    self.bytes = bytes
    let bom = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    if bytes.allSatisfy({ $0 < 0x80 }) {
      characterOffsets = nil
    } else {
      var offsets: [Int] = []
      offsets.reserveCapacity(bytes.count)
      for i in bom..<bytes.count where bytes[i] & 0xC0 != 0x80 { offsets.append(i) }
      characterOffsets = offsets
    }
    var starts = [bom]
    var i = bom
    while i < bytes.count {
      let b = bytes[i]
      i += 1
      if b == 0x0A || (b == 0x0D && (i == bytes.count || bytes[i] != 0x0A)) { starts.append(i) }
    }
    lineStarts = LineStarts(starts)
  }

  /// The byte offset of libyaml's character index.
  func offset(ofCharacter index: Int) -> Int {
    guard let characterOffsets else { return min(index, bytes.count) }
    return index < characterOffsets.count ? characterOffsets[index] : bytes.count
  }

  /// The character index of a byte offset (of the character holding that byte).
  func character(atOffset offset: Int) -> Int {
    guard let characterOffsets else { return offset }
    if offset >= bytes.count { return characterOffsets.count }
    var low = 0
    var high = characterOffsets.count
    while low < high {
      let mid = (low + high) / 2
      if characterOffsets[mid] <= offset { low = mid + 1 } else { high = mid }
    }
    return max(low - 1, 0)
  }

  /// The mark of `offset`, on 0-based line `line` (libyaml's count) if it is there.
  func mark(atOffset offset: Int, line: Int) -> Mark {
    let starts = lineStarts.offsets
    if line < starts.count, starts[line] <= offset, line + 1 == starts.count || starts[line + 1] > offset {
      return Mark(line: line + 1, column: offset - starts[line] + 1)
    }
    return mark(atOffset: offset)
  }

  func mark(atOffset offset: Int) -> Mark {
    let line = lineStarts.line(containing: offset)
    return Mark(line: line + 1, column: max(offset - lineStarts.offsets[line], 0) + 1)
  }

  func byte(_ offset: Int) -> UInt8 { offset >= 0 && offset < bytes.count ? bytes[offset] : 0 }

  /// The character starting at `offset`, for a message.
  func text(at offset: Int) -> String {
    guard offset < bytes.count else { return "" }
    var end = offset + 1
    while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
    return String(decoding: bytes[offset..<end], as: UTF8.self)
  }

  /// Whether only blanks, line breaks and comments follow `offset`.
  func onlyCommentsFollow(_ offset: Int) -> Bool {
    var i = offset
    while i < bytes.count {
      switch bytes[i] {
      case 0x20, 0x09, 0x0A, 0x0D: i += 1
      case 0x23 where i == 0 || [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i - 1]):
        while i < bytes.count, bytes[i] != 0x0A, bytes[i] != 0x0D { i += 1 }
      default: return false
      }
    }
    return true
  }

  /// Whether `offset` starts a line (after any byte order mark).
  func startsLine(_ offset: Int) -> Bool { mark(atOffset: offset).column == 1 }

  /// Whether the line holding `offset` has only spaces before it.
  func onlySpacesBefore(_ offset: Int) -> Bool {
    var i = offset - 1
    while i >= 0, bytes[i] == 0x20 { i -= 1 }
    return i < 0 || bytes[i] == 0x0A || bytes[i] == 0x0D || (i == 2 && bytes.starts(with: [0xEF, 0xBB, 0xBF]))
  }
}

/// The text libyaml reads: the source with kiln's edits, and the way back to the
/// source's positions and characters.
private struct Edits {
  let original: SourceText
  /// The edited text.
  private(set) var text: SourceText
  /// Character indices, in the edited text, of the spaces kiln inserted (ascending).
  private var insertions: [Int] = []
  /// The character that stands for a tab kiln took out of a block scalar's indentation
  /// line (libyaml refuses it there), nil if none: one the source does not hold.
  private(set) var tabStandIn: [UInt8]?
  /// How many edits were made.
  private(set) var count = 0

  init(_ original: SourceText) {
    self.original = original
    text = original
  }

  /// The source's byte offset of libyaml's character index in the edited text.
  func originalOffset(ofCharacter index: Int) -> Int {
    var shift = 0
    while shift < insertions.count, insertions[shift] < index { shift += 1 }
    return original.offset(ofCharacter: index - shift)
  }

  /// The source's byte offset of a byte offset of the edited text.
  func originalOffset(ofEditedOffset offset: Int) -> Int {
    originalOffset(ofCharacter: text.character(atOffset: offset))
  }

  /// The source's mark of libyaml's mark in the edited text (edits add no lines).
  func mark(_ m: yaml_mark_t) -> Mark {
    original.mark(atOffset: originalOffset(ofCharacter: Int(m.index)), line: Int(m.line))
  }

  /// A space after the character at `index` (of the edited text).
  mutating func insertSpace(afterCharacter index: Int) {
    let at = text.offset(ofCharacter: index + 1)
    var bytes = text.bytes
    bytes.insert(0x20, at: at)
    text = SourceText(bytes)
    for k in insertions.indices where insertions[k] > index { insertions[k] += 1 }
    insertions.append(index + 1)
    insertions.sort()
    count += 1
  }

  /// The tab at character `index` (of the edited text) replaced by a stand-in that
  /// libyaml takes as content; `restoringTabs` puts the tab back into scalar values.
  mutating func replaceTab(atCharacter index: Int) {
    if tabStandIn == nil {
      // A private-use character (U+E000...) the source does not hold.
      var candidate: UInt32 = 0xE000
      while true {
        let utf8 = Array(String(Character(Unicode.Scalar(candidate)!)).utf8)
        if !containsSequence(original.bytes, utf8) {
          tabStandIn = utf8
          break
        }
        candidate += 1
      }
    }
    let at = text.offset(ofCharacter: index)
    var bytes = text.bytes
    bytes.replaceSubrange(at...at, with: tabStandIn!)
    text = SourceText(bytes)
    count += 1
  }

  /// A scalar's bytes as the source had them.
  func restoringTabs(_ value: UnsafeBufferPointer<UInt8>) -> String {
    guard let standIn = tabStandIn, containsSequence(value, standIn) else {
      return String(decoding: value, as: UTF8.self)
    }
    var out: [UInt8] = []
    out.reserveCapacity(value.count)
    var i = 0
    while i < value.count {
      if value[i] == standIn[0], i + standIn.count <= value.count, value[i..<(i + standIn.count)].elementsEqual(standIn) {
        out.append(0x09)
        i += standIn.count
      } else {
        out.append(value[i])
        i += 1
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}

private func containsSequence<C: Collection<UInt8>>(_ haystack: C, _ needle: [UInt8]) -> Bool where C.Index == Int {
  guard needle.count <= haystack.count else { return false }
  var i = haystack.startIndex
  while i + needle.count <= haystack.endIndex {
    if haystack[i] == needle[0], haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
    i += 1
  }
  return false
}

// MARK: - Events to nodes

/// A list or mapping whose end event has not come yet.
private struct OpenCollection {
  var isMapping: Bool
  var isFlow: Bool
  var mark: Mark
  var items: [YAMLNode] = []
  var pairs: [(key: YAMLNode, value: YAMLNode)] = []
  var pendingKey: YAMLNode?
  /// The keys so far, once there are enough of them that a set beats a scan.
  var keys: Set<String> = []

  /// Adds `name` to the keys; false if it was there already.
  mutating func insertKey(_ name: String) -> Bool {
    if pairs.count < 8 { return !pairs.contains { $0.key.string == name } }
    if keys.isEmpty { keys = Set(pairs.compactMap(\.key.string)) }
    return keys.insert(name).inserted
  }
}

/// The last node completed, for errors about what follows it on its line.
private struct CompletedNode {
  enum Kind { case flowSequence, flowMapping, quoted, other }
  var kind: Kind
  var mark: Mark
  /// The source's byte offset just past the node.
  var end: Int
}

private enum ReadResult {
  case parsed(YAMLNode?)
  /// Parse again with these edits.
  case retry(Edits)
}

private struct EventReader {
  let original: SourceText
  let edits: Edits
  private var stack: [OpenCollection] = []
  private var root: YAMLNode?
  private var documents = 0
  private var last: CompletedNode?

  init(original: SourceText, edits: Edits) {
    self.original = original
    self.edits = edits
  }

  mutating func read() throws(YAMLError) -> ReadResult {
    var parser = yaml_parser_t()
    guard yaml_parser_initialize(&parser) == 1 else {
      throw YAMLError(mark: Mark(line: 1, column: 1), message: "YAML parser: out of memory")
    }
    defer { yaml_parser_delete(&parser) }
    let bytes = edits.text.bytes
    return try bytes.withUnsafeBufferPointer { (input) throws(YAMLError) -> ReadResult in
      yaml_parser_set_input_string(&parser, input.baseAddress, input.count)
      var event = yaml_event_t()
      while true {
        guard yaml_parser_parse(&parser, &event) == 1 else { return try failure(parser) }
        defer { yaml_event_delete(&event) }
        if case .end(let root) = try handle(event) { return .parsed(root) }
      }
    }
  }

  private func mark(_ m: yaml_mark_t) -> Mark { edits.mark(m) }
  private func offset(_ m: yaml_mark_t) -> Int { edits.originalOffset(ofCharacter: Int(m.index)) }

  private func refuse(_ message: String, at m: yaml_mark_t) -> YAMLError {
    YAMLError(mark: mark(m), message: message)
  }

  private static let notSupported = "YAML anchors (&), aliases (*) and tags (!) are not supported in a build file"

  /// `notSupported`, for what starts at `m`; a plain glob such as `*.c` reads as an
  /// alias to YAML, so one that starts with `*` is told to quote it.
  private func unsupported(at m: yaml_mark_t) -> YAMLError {
    let at = offset(m)
    let first = original.byte(at)
    guard first == 0x2A || first == 0x21 else { return refuse(Self.notSupported, at: m) }
    var end = at
    while end < original.bytes.count, ![0x20, 0x09, 0x0A, 0x0D, 0x2C, 0x5D, 0x7D].contains(original.byte(end)) { end += 1 }
    let text = String(decoding: original.bytes[at..<end], as: UTF8.self)
    if first == 0x2A {
      return refuse("quote globs that start with '*' in YAML: \"\(text)\" (unquoted, YAML reads \(text) as an alias)", at: m)
    }
    return refuse("quote patterns that start with '!' in YAML: \"\(text)\" (unquoted, YAML reads \(text) as a tag)", at: m)
  }

  private enum Step {
    case more
    /// The stream ended: the document's root, nil for an empty document.
    case end(YAMLNode?)
  }

  private mutating func handle(_ event: yaml_event_t) throws(YAMLError) -> Step {
    switch event.type {
    case YAML_DOCUMENT_START_EVENT:
      if documents > 0 {
        throw refuse("YAML syntax error: a build file holds one document, not several", at: event.start_mark)
      }
      let start = event.data.document_start
      if start.version_directive != nil || start.tag_directives.start != start.tag_directives.end {
        throw refuse("YAML syntax error: directives (%) are not supported", at: event.start_mark)
      }
      documents += 1
    case YAML_STREAM_END_EVENT:
      // `---` alone is an empty document, as an empty file is.
      if case .scalar("", true, _)? = root { return .end(nil) }
      return .end(root)
    case YAML_ALIAS_EVENT:
      throw unsupported(at: event.start_mark)
    case YAML_SCALAR_EVENT:
      let scalar = event.data.scalar
      if scalar.anchor != nil || scalar.tag != nil { throw unsupported(at: event.start_mark) }
      let plain = scalar.style == YAML_PLAIN_SCALAR_STYLE
      var start = offset(event.start_mark)
      // An empty list item is marked at its '-', not after it.
      if plain, scalar.length == 0, let parent = stack.last, !parent.isMapping, !parent.isFlow,
        original.byte(start - 1) == 0x2D
      {
        start -= 1
      }
      let text = edits.restoringTabs(UnsafeBufferPointer(start: scalar.value, count: Int(scalar.length)))
      let node = YAMLNode.scalar(text, plain: plain, original.mark(atOffset: start, line: Int(event.start_mark.line)))
      last = CompletedNode(kind: plain ? .other : .quoted, mark: node.mark, end: offset(event.end_mark))
      try add(node)
    case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
      let isMapping = event.type == YAML_MAPPING_START_EVENT
      let (anchor, tag) =
        isMapping
        ? (event.data.mapping_start.anchor, event.data.mapping_start.tag)
        : (event.data.sequence_start.anchor, event.data.sequence_start.tag)
      if anchor != nil || tag != nil { throw unsupported(at: event.start_mark) }
      if stack.count >= YAMLParser.maxDepth { throw refuse("nesting too deep", at: event.start_mark) }
      let isFlow =
        isMapping
        ? event.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
        : event.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE
      stack.append(OpenCollection(isMapping: isMapping, isFlow: isFlow, mark: mark(event.start_mark)))
    case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
      let done = stack.removeLast()
      let node: YAMLNode = done.isMapping ? .mapping(done.pairs, done.mark) : .sequence(done.items, done.mark)
      let kind: CompletedNode.Kind = !done.isFlow ? .other : (done.isMapping ? .flowMapping : .flowSequence)
      last = CompletedNode(kind: kind, mark: done.mark, end: offset(event.end_mark))
      try add(node)
    default:
      break
    }
    return .more
  }

  /// A completed node into the open collection (or as the root).
  private mutating func add(_ node: YAMLNode) throws(YAMLError) {
    guard !stack.isEmpty else {
      root = node
      return
    }
    let top = stack.count - 1
    if !stack[top].isMapping {
      stack[top].items.append(node)
    } else if let key = stack[top].pendingKey {
      stack[top].pairs.append((key, node))
      stack[top].pendingKey = nil
    } else {
      if let name = node.string, !stack[top].insertKey(name) {
        throw YAMLError(mark: node.mark, message: "duplicate key '\(name)'")
      }
      stack[top].pendingKey = node
    }
  }

  // MARK: - Errors in kiln's words

  private func failure(_ parser: yaml_parser_t) throws(YAMLError) -> ReadResult {
    let problem = parser.problem.map { String(cString: $0) } ?? "unknown error"
    let context = parser.context.map { String(cString: $0) } ?? ""
    if parser.error == YAML_READER_ERROR {
      let at = edits.originalOffset(ofEditedOffset: Int(parser.problem_offset))
      var message = "YAML syntax error: \(problem)"
      if problem.hasPrefix("control characters"), parser.problem_value >= 0 {
        message = "YAML syntax error: control character \(hex(parser.problem_value)) is not allowed; write it as an escape in a double-quoted value"
      }
      throw YAMLError(mark: original.mark(atOffset: at), message: message)
    }
    if parser.error == YAML_MEMORY_ERROR {
      throw YAMLError(mark: Mark(line: 1, column: 1), message: "YAML parser: out of memory")
    }
    let problemMark = parser.problem_mark
    let contextMark = parser.context != nil ? parser.context_mark : parser.problem_mark
    let at = offset(problemMark)
    let byte = original.byte(at)
    func fail(_ message: String, _ m: yaml_mark_t? = nil) -> YAMLError {
      YAMLError(mark: m.map(mark) ?? original.mark(atOffset: at), message: "YAML syntax error: " + message)
    }
    let tabs = "tabs cannot indent; use spaces"

    switch problem {
    case "found character that cannot start any token":
      if byte == 0x09 { throw fail(tabs) }
      if byte == 0x25 || byte == 0x40 || byte == 0x60 {
        throw fail("a plain value cannot start with '\(original.text(at: at))'; quote it")
      }
      throw fail("a value cannot start with '\(original.text(at: at))'; quote it")
    case "found a tab character where an indentation space is expected":
      if let retry = tabInBlockScalarContent(problemMark, contextMark) { return .retry(retry) }
      throw fail(tabs)
    case _ where problem.contains("tab character"):
      throw fail(tabs)
    case "found unexpected end of stream" where context.contains("quoted scalar"):
      throw fail("this quoted value is never closed", contextMark)
    case "found unknown escape character":
      // The backslash is the last byte of the file: the quote is never closed.
      if at + 1 >= original.bytes.count { throw fail("this quoted value is never closed", contextMark) }
      throw fail("unknown escape '\\\(original.text(at: at + 1))' in a double-quoted value")
    case "did not find expected hexdecimal number", "found invalid Unicode character escape code":
      // libyaml points at the first digit; kiln at the backslash.
      let backslash = edits.originalOffset(ofCharacter: Int(problemMark.index) - 2)
      let letter = original.byte(backslash + 1)
      let digits = letter == 0x78 ? 2 : (letter == 0x75 ? 4 : 8)
      let what = problem.hasPrefix("did not") ? "expected \(digits) hex digits" : "not a character"
      throw YAMLError(mark: original.mark(atOffset: backslash), message: "YAML syntax error: bad escape: \(what)")
    case "found unexpected ':'":
      // `key:` right before ',', ']' or '}' in a flow collection: an empty value.
      if [0x2C, 0x5D, 0x7D].contains(original.byte(at + 1)), edits.count < YAMLParser.maxEdits {
        var edited = edits
        edited.insertSpace(afterCharacter: Int(problemMark.index))
        return .retry(edited)
      }
      throw fail("':' inside [...] or {...} must be followed by a space; or quote the value")
    case "mapping values are not allowed in this context":
      throw fail("': ' inside a plain value; quote the value (run: \"echo a: b\") or write it as a block (run: |, the command on the next line)")
    case "block sequence entries are not allowed in this context":
      throw fail("a list cannot start on the line of its key; put '- ' items on the lines below")
    case "did not find expected node content":
      if original.onlyCommentsFollow(at), let open = stack.last(where: \.isFlow) {
        throw YAMLError(mark: open.mark, message: "YAML syntax error: '\(open.isMapping ? "{" : "[")' is never closed")
      }
      if byte == 0x2C || byte == 0x5D || byte == 0x7D { throw fail("an empty item") }
      // `...` before any content: an empty document followed by whatever.
      if root == nil, stack.isEmpty, isDocumentEndMarker(at) { return .parsed(nil) }
      throw fail("expected a value here")
    case "did not find expected ',' or ']'", "did not find expected ',' or '}'":
      let opening = problem.hasSuffix("']'") ? "[" : "{"
      let closing = problem.hasSuffix("']'") ? "]" : "}"
      if original.onlyCommentsFollow(at) { throw fail("'\(opening)' is never closed", contextMark) }
      if byte == 0x7B, opening == "[" { throw fail("a '{' inside [...] must be quoted") }
      if byte == 0x5D || byte == 0x7D {
        throw fail("expected ',' or '\(closing)' before '\(original.text(at: at))' (is one missing?)")
      }
      throw fail("expected ',' or '\(closing)'")
    case "did not find expected key", "did not find expected '-' indicator":
      throw misplaced(isMapping: problem.hasSuffix("key"), at: at, parent: mark(contextMark))
    case "could not find expected ':'":
      throw fail("expected 'key: value' at this indentation", contextMark)
    case "did not find expected <document start>":
      throw fail("unexpected text after the end of the document ('...')")
    case "did not find expected comment or line break" where context.contains("block scalar"):
      throw fail("unexpected text after '\(original.text(at: offset(contextMark)))'")
    default:
      if problem.contains("directive") || context.contains("directive") {
        throw fail("directives (%) are not supported", contextMark)
      }
      if context.contains("anchor") || context.contains("alias") || context.contains("tag") || problem.contains("tag") {
        throw unsupported(at: contextMark)
      }
      throw fail(problem)
    }
  }

  /// Text where libyaml expected the next key of a block mapping (`isMapping`) or the
  /// next `- ` of a block list that starts at `parent`.
  private func misplaced(isMapping: Bool, at: Int, parent: Mark) -> YAMLError {
    let here = original.mark(atOffset: at)
    func fail(_ message: String, _ m: Mark? = nil) -> YAMLError {
      YAMLError(mark: m ?? here, message: "YAML syntax error: " + message)
    }
    // What follows a node on its own line.
    if let last, last.end <= at, original.mark(atOffset: last.end).line == here.line {
      switch last.kind {
      case .flowMapping:
        return fail("a value that starts with '{' must be quoted (YAML reads {...} as a mapping)", last.mark)
      case .flowSequence: return fail("unexpected text after ']'")
      case .quoted: return fail("unexpected text after the closing quote")
      case .other: break
      }
    }
    if here.column > parent.column {
      return fail("this line is indented more than the \(isMapping ? "keys" : "list item") above it")
    }
    if here.column == parent.column {
      return fail(isMapping ? "expected 'key: value' at this indentation" : "expected another '- ' item of the list at this indentation")
    }
    return fail("unexpected text (is it indented the same as what it belongs to?)")
  }

  /// libyaml refuses a tab after the spaces of a block scalar's first content line (it
  /// is still finding the indentation there); YAML 1.2 reads it as content when the
  /// spaces before it indent the line more than the enclosing block. Then: the edits
  /// that parse it so.
  private func tabInBlockScalarContent(_ problem: yaml_mark_t, _ header: yaml_mark_t) -> Edits? {
    let tab = offset(problem)
    guard edits.count < YAMLParser.maxEdits, original.byte(tab) == 0x09, original.onlySpacesBefore(tab) else { return nil }
    let tabMark = original.mark(atOffset: tab)
    let headerLine = original.mark(atOffset: offset(header)).line
    // Only lines of spaces between the header and this line: it is the first.
    var i = tab - (tabMark.column - 1) - 1
    while i > 0 {
      let b = original.byte(i)
      if b == 0x0A || b == 0x0D || b == 0x20 {
        if original.mark(atOffset: i).line <= headerLine { break }
        i -= 1
      } else {
        return nil
      }
    }
    let parentColumn = stack.last(where: { !$0.isFlow })?.mark.column ?? 0
    guard tabMark.column > parentColumn else { return nil }
    var edited = edits
    edited.replaceTab(atCharacter: Int(problem.index))
    return edited
  }

  /// Whether `offset` starts a `...` line.
  private func isDocumentEndMarker(_ offset: Int) -> Bool {
    original.startsLine(offset) && original.byte(offset) == 0x2E && original.byte(offset + 1) == 0x2E
      && original.byte(offset + 2) == 0x2E && [0, 0x20, 0x09, 0x0A, 0x0D].contains(original.byte(offset + 3))
  }

  private func hex(_ value: Int32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: max(0, 2 - digits.count)) + digits
  }
}
