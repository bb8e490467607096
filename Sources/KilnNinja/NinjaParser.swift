import KilnSystem

/// Reads a ninja manifest and the files it includes into a `NinjaManifest`, with
/// ninja's grammar, scoping and error messages ("Ninja file reference" in the manual).
package struct NinjaParser {
  /// The ninja version whose manifests this parser reads (for `ninja_required_version`).
  package static let version = (major: 1, minor: 11)

  package let fileSystem: any FileSystem
  package let directory: String

  /// `directory`: the folder ninja runs in (-C); paths in the manifest and
  /// `include`/`subninja` are relative to it.
  package init(fileSystem: any FileSystem, directory: String) {
    self.fileSystem = fileSystem
    self.directory = directory
  }

  package func parse(_ file: String = "build.ninja") throws(NinjaError) -> NinjaManifest {
    guard let bytes = read(file) else {
      throw NinjaError(file: file, line: 0, message: "loading '\(file)': No such file or directory")
    }
    let root = NinjaScope(parent: nil)
    root.rules[NinjaRule.phony.name] = .phony
    var state = NinjaParseState(parser: self)
    try state.parse(NinjaLexer(file: file, bytes: bytes), in: root)
    return try state.manifest(root: root)
  }

  func read(_ file: String) -> [UInt8]? {
    try? fileSystem.read(Paths.join(directory, file))
  }
}

/// An edge as parsed: paths evaluated, rule variables not yet (ninja evaluates them
/// when it builds, after the whole manifest is read).
struct NinjaPendingEdge {
  var rule: NinjaRule
  var scope: NinjaScope
  var outputs: [String] = []
  var implicitOutputs: [String] = []
  var inputs: [String] = []
  var implicitInputs: [String] = []
  var orderOnly: [String] = []
  var validations: [String] = []
  var pool: String?
  var dyndep: String?
  var file: String
  var line: Int
}

/// What one `parse` call has gathered so far, across the included files.
struct NinjaParseState {
  let parser: NinjaParser
  var edges: [NinjaPendingEdge] = []
  var defaults: [String] = []
  var pools: [String: Int] = [:]
  /// Every output so far: a second edge producing one is an error.
  var outputs: Set<String> = []
  /// Every path named by an edge so far: what `default` may name.
  var nodes: Set<String> = []

  init(parser: NinjaParser) { self.parser = parser }

  mutating func parse(_ lexer: NinjaLexer, in scope: NinjaScope) throws(NinjaError) {
    var lexer = lexer
    while true {
      let token = lexer.readToken()
      switch token {
      case .pool: try parsePool(&lexer, in: scope)
      case .build: try parseEdge(&lexer, in: scope)
      case .rule: try parseRule(&lexer, in: scope)
      case .defaultKeyword: try parseDefault(&lexer, in: scope)
      case .include, .subninja: try parseInclude(&lexer, in: scope, newScope: token == .subninja)
      case .identifier:
        lexer.unread()
        let line = lexer.line
        let (name, value) = try parseLet(&lexer)
        let evaluated = value.evaluate(in: scope)
        if name == "ninja_required_version" {
          try checkRequiredVersion(evaluated, file: lexer.file, line: line)
        }
        scope.bindings[name] = evaluated
      case .newline: continue
      case .eof: return
      case .error(let message): throw lexer.error(message)
      default: throw lexer.error("unexpected \(token.name)")
      }
    }
  }

  func parseLet(_ lexer: inout NinjaLexer) throws(NinjaError) -> (String, NinjaEvalString) {
    guard let name = lexer.readIdentifier() else { throw lexer.error("expected variable name") }
    try lexer.expect(.equals)
    return (name, try lexer.readEvalString(path: false))
  }

  private mutating func parsePool(_ lexer: inout NinjaLexer, in scope: NinjaScope) throws(NinjaError) {
    let line = lexer.line
    guard let name = lexer.readIdentifier() else { throw lexer.error("expected pool name") }
    try lexer.expect(.newline)
    if pools[name] != nil || name == "console" { throw NinjaError(file: lexer.file, line: line, message: "duplicate pool '\(name)'") }
    var depth: Int?
    while lexer.peek(.indent) {
      let (key, value) = try parseLet(&lexer)
      guard key == "depth" else { throw lexer.error("unexpected variable '\(key)'") }
      guard let number = Int(value.evaluate(in: scope)), number >= 0 else { throw lexer.error("invalid pool depth") }
      depth = number
    }
    guard let depth else { throw NinjaError(file: lexer.file, line: line, message: "expected 'depth =' line") }
    pools[name] = depth
  }

  private func parseRule(_ lexer: inout NinjaLexer, in scope: NinjaScope) throws(NinjaError) {
    let line = lexer.line
    guard let name = lexer.readIdentifier() else { throw lexer.error("expected rule name") }
    try lexer.expect(.newline)
    // Only the current scope: a subninja may declare a rule its parent has.
    if scope.rules[name] != nil { throw NinjaError(file: lexer.file, line: line, message: "duplicate rule '\(name)'") }
    var rule = NinjaRule(name: name, bindings: [:], line: line)
    while lexer.peek(.indent) {
      let (key, value) = try parseLet(&lexer)
      guard NinjaRule.reservedVariables.contains(key) else { throw lexer.error("unexpected variable '\(key)'") }
      rule.bindings[key] = value
    }
    let hasRspfile = !(rule.bindings["rspfile"]?.isEmpty ?? true)
    let hasRspfileContent = !(rule.bindings["rspfile_content"]?.isEmpty ?? true)
    if hasRspfile != hasRspfileContent {
      throw NinjaError(file: lexer.file, line: line, message: "rspfile and rspfile_content need to be both specified")
    }
    if rule.bindings["command"]?.isEmpty ?? true {
      throw NinjaError(file: lexer.file, line: line, message: "expected 'command =' line")
    }
    scope.rules[name] = rule
  }

  private mutating func parseDefault(_ lexer: inout NinjaLexer, in scope: NinjaScope) throws(NinjaError) {
    var target = try lexer.readEvalString(path: true)
    if target.isEmpty { throw lexer.error("expected target name") }
    repeat {
      let path = target.evaluate(in: scope)
      if path.isEmpty { throw lexer.error("empty path") }
      let canonical = NinjaPath.canonical(path)
      guard nodes.contains(canonical) else { throw lexer.error("unknown target '\(canonical)'") }
      defaults.append(canonical)
      target = try lexer.readEvalString(path: true)
    } while !target.isEmpty
    try lexer.expect(.newline)
  }

  private mutating func parseInclude(_ lexer: inout NinjaLexer, in scope: NinjaScope, newScope: Bool) throws(NinjaError) {
    let path = try lexer.readEvalString(path: true)
    if path.isEmpty { throw lexer.error("expected path") }
    let file = path.evaluate(in: scope)
    guard let bytes = parser.read(file) else { throw lexer.error("loading '\(file)': No such file or directory") }
    try parse(NinjaLexer(file: file, bytes: bytes), in: newScope ? NinjaScope(parent: scope) : scope)
    try lexer.expect(.newline)
  }

  private func checkRequiredVersion(_ required: String, file: String, line: Int) throws(NinjaError) {
    // ninja reads "major.minor" with atoi: digits up to the first non-digit, else 0.
    func number(_ part: Substring?) -> Int { Int(part?.prefix { $0.isASCII && $0.isNumber } ?? "") ?? 0 }
    let parts = required.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
    let major = number(parts.first)
    let minor = parts.count > 1 ? number(parts[1]) : 0
    let ours = NinjaParser.version
    if major > ours.major || (major == ours.major && minor > ours.minor) {
      throw NinjaError(
        file: file, line: line,
        message: "ninja version (\(ours.major).\(ours.minor)) incompatible with build file ninja_required_version version (\(required)).")
    }
  }
}
