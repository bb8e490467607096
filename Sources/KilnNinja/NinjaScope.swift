/// A string read from a manifest with its `$var` references not yet substituted
/// (ninja's `EvalString`): rule variables are kept like this until an edge evaluates them.
struct NinjaEvalString: Sendable {
  enum Piece: Sendable {
    case literal(String)
    case variable(String)
  }

  var pieces: [Piece] = []
  var isEmpty: Bool { pieces.isEmpty }

  mutating func append(literal text: String) {
    if case .literal(let previous) = pieces.last {
      pieces[pieces.count - 1] = .literal(previous + text)
    } else {
      pieces.append(.literal(text))
    }
  }

  mutating func append(variable name: String) { pieces.append(.variable(name)) }

  /// Substitutes each variable with what `lookup` gives for it.
  func evaluate(_ lookup: (String) throws(NinjaError) -> String) throws(NinjaError) -> String {
    var result = ""
    for piece in pieces {
      switch piece {
      case .literal(let text): result += text
      case .variable(let name): result += try lookup(name)
      }
    }
    return result
  }

  /// Substitutes from a scope chain (top-level and build-statement variables).
  func evaluate(in scope: NinjaScope) -> String {
    var result = ""
    for piece in pieces {
      switch piece {
      case .literal(let text): result += text
      case .variable(let name): result += scope.lookup(name)
      }
    }
    return result
  }
}

/// A `rule` block: its name and its variables, unevaluated.
struct NinjaRule {
  /// The variables a `rule` block may set; anything else is an error, `in`, `in_newline`
  /// and `out` too (ninja's `Rule::IsReservedBinding`).
  static let reservedVariables: Set<String> = [
    "command", "depfile", "deps", "msvc_deps_prefix", "description", "dyndep", "generator",
    "restat", "rspfile", "rspfile_content", "pool",
  ]
  static let phony = NinjaRule(name: "phony", bindings: [:], line: 0)

  var name: String
  var bindings: [String: NinjaEvalString]
  var line: Int
}

/// One level of variables and rules (ninja's `BindingEnv`): the main file's, a
/// subninja's, or a build statement's own. Lookups that miss fall through to the parent.
/// A class because ninja's scopes are shared and mutated in place: a top-level variable
/// set after a `build` statement is what that edge's command sees.
final class NinjaScope {
  var bindings: [String: String] = [:]
  var rules: [String: NinjaRule] = [:]
  let parent: NinjaScope?

  init(parent: NinjaScope?) { self.parent = parent }

  func lookup(_ name: String) -> String {
    if let value = bindings[name] { return value }
    return parent?.lookup(name) ?? ""
  }

  func rule(named name: String) -> NinjaRule? {
    rules[name] ?? parent?.rule(named: name)
  }
}
