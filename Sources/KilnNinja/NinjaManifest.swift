/// What a ninja manifest (`build.ninja` and the files it includes) declares, with every
/// path and rule variable evaluated the way ninja evaluates them.
package struct NinjaManifest: Sendable {
  /// In file order; `include`d and `subninja`ed edges appear where the statement stood.
  package var edges: [NinjaEdge] = []
  /// `default` targets, evaluated and canonicalised, in order; empty when none declared.
  package var defaults: [String] = []
  /// Declared pools and their depth (`console`, built in with depth 1, is not listed).
  package var pools: [String: Int] = [:]
  /// The top-level variables of the main file (and what its `include`s set) after parsing.
  package var bindings: [String: String] = [:]

  package init() {}
}

/// One `build` statement, its rule's variables evaluated in the edge's scope.
package struct NinjaEdge: Sendable {
  /// "phony" for phony edges.
  package var rule: String
  /// Explicit outputs (`$out`), evaluated and canonicalised.
  package var outputs: [String]
  /// After `|` on the output side; not in `$out`.
  package var implicitOutputs: [String]
  /// Explicit inputs (`$in`).
  package var inputs: [String]
  /// After `|`; not in `$in`.
  package var implicitInputs: [String]
  /// After `||`.
  package var orderOnly: [String]
  /// After `|@`.
  package var validations: [String]
  /// Fully evaluated; "" for phony edges.
  package var command: String
  package var description: String?
  package var depfile: String?
  /// "gcc" or "msvc".
  package var deps: String?
  package var msvcDepsPrefix: String?
  package var restat: Bool
  package var generator: Bool
  /// nil: the default pool.
  package var pool: String?
  package var rspfile: String?
  package var rspfileContent: String?
  package var dyndep: String?
  /// The manifest file that declared it, as named (e.g. "build.ninja", "sub/rules.ninja").
  package var file: String
  /// 1-based line of its `build` statement.
  package var line: Int
}

/// A manifest that ninja would refuse, with where and why (ninja's wording).
package struct NinjaError: Error, Sendable, CustomStringConvertible, Equatable {
  package var file: String
  /// 1-based; 0 when the error has no line (the main manifest cannot be read).
  package var line: Int
  package var message: String

  package init(file: String, line: Int, message: String) {
    self.file = file
    self.line = line
    self.message = message
  }

  package var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}

extension NinjaEdge {
  /// An edge of `rule` with nothing else set (what the parser fills in field by field).
  package init(rule: String, file: String = "build.ninja", line: Int = 0) {
    self.init(rule: rule, outputs: [], implicitOutputs: [], inputs: [], implicitInputs: [], orderOnly: [],
              validations: [], command: "", restat: false, generator: false, file: file, line: line)
  }
}
