/// ninja's `-t` tools that read the manifest alone (`targets`, `query`, `inputs`,
/// `commands`, `compdb`, and what `clean` and `deps` are about), with ninja 1.11's
/// output: its graph walks, orders and formats, over the manifest's paths as written
/// (canonicalised, never made relative). Pure: text or paths out, no disk.
///
/// ninja's graph words: a path's *in-edge* is the edge producing it; its *out-edges*
/// are the edges naming it as an input (explicit, implicit or order-only), once each
/// time one names it; an edge's *inputs* are explicit, then implicit, then order-only;
/// its *outputs* explicit, then implicit.
package struct NinjaTools: Sendable {
  package let manifest: NinjaManifest
  private var producer: [String: Int] = [:]
  private var consumers: [String: [Int]] = [:]
  /// The edges naming a path as a validation (`|@`), which are not out-edges.
  private var validated: [String: [Int]] = [:]

  package init(_ manifest: NinjaManifest) {
    self.manifest = manifest
    for (i, edge) in manifest.edges.enumerated() {
      for output in Self.outputs(of: edge) { producer[output] = i }
      for input in Self.inputs(of: edge) { consumers[input, default: []].append(i) }
      for validation in edge.validations { validated[validation, default: []].append(i) }
    }
  }

  static func inputs(of edge: NinjaEdge) -> [String] { edge.inputs + edge.implicitInputs + edge.orderOnly }
  static func outputs(of edge: NinjaEdge) -> [String] { edge.outputs + edge.implicitOutputs }

  /// Whether any edge names `path` (as output, input or validation).
  private func isNode(_ path: String) -> Bool {
    producer[path] != nil || consumers[path] != nil || validated[path] != nil
  }

  // MARK: - Targets on the command line

  /// The path a command-line target names: canonicalised; `FILE^` is the first output
  /// of the first edge taking FILE as an input.
  package func node(named target: String) throws(NinjaToolError) -> String {
    var path = NinjaPath.canonical(target)
    let firstDependent = path.hasSuffix("^")
    if firstDependent { path.removeLast() }
    guard isNode(path) else { throw NinjaToolError("unknown target '\(path)'") }
    guard firstDependent else { return path }
    guard let edge = consumers[path]?.first else { throw NinjaToolError("'\(path)' has no out edge") }
    return manifest.edges[edge].outputs[0]
  }

  /// Every output no edge takes as an input, in file order.
  package func rootNodes() throws(NinjaToolError) -> [String] {
    let roots = manifest.edges.flatMap(Self.outputs).filter { consumers[$0] == nil }
    if roots.isEmpty, !manifest.edges.isEmpty { throw NinjaToolError("could not determine root nodes of build graph") }
    return roots
  }

  /// The named targets, else the `default`s, else the root nodes.
  package func targets(named targets: [String]) throws(NinjaToolError) -> [String] {
    guard targets.isEmpty else {
      var paths: [String] = []
      for target in targets { paths.append(try node(named: target)) }
      return paths
    }
    return manifest.defaults.isEmpty ? try rootNodes() : manifest.defaults
  }

  // MARK: - targets

  /// `-t targets [depth N | rule [NAME] | all]`.
  package func targets(_ arguments: [String]) throws(NinjaToolError) -> String {
    var depth = 1
    if let mode = arguments.first {
      switch mode {
      case "rule":
        guard arguments.count > 1, !arguments[1].isEmpty else { return lines(sources()) }
        return lines(outputs(ofRule: arguments[1]))
      case "depth":
        // ninja reads the number with atoi: 0 (everything) when it is not one.
        if arguments.count > 1 { depth = Self.leadingInteger(arguments[1]) }
      case "all":
        return lines(manifest.edges.flatMap { edge in Self.outputs(of: edge).map { "\($0): \(edge.rule)" } })
      default:
        throw NinjaToolError("unknown target tool mode '\(mode)'")
      }
    }
    var text = ""
    tree(try rootNodes(), depth: depth, indent: 0, into: &text)
    return text
  }

  private func tree(_ nodes: [String], depth: Int, indent: Int, into text: inout String) {
    for node in nodes {
      text += String(repeating: "  ", count: indent)
      guard let edge = producer[node].map({ manifest.edges[$0] }) else {
        text += node + "\n"
        continue
      }
      text += "\(node): \(edge.rule)\n"
      if depth != 1 { tree(Self.inputs(of: edge), depth: depth - 1, indent: indent + 1, into: &text) }
    }
  }

  /// Every input no edge produces, once per edge naming it, in file order.
  private func sources() -> [String] {
    manifest.edges.flatMap(Self.inputs).filter { producer[$0] == nil }
  }

  /// The outputs of the edges of `rule`, sorted, each once.
  private func outputs(ofRule rule: String) -> [String] {
    Self.sortedUnique(manifest.edges.filter { $0.rule == rule }.flatMap(Self.outputs))
  }

  // MARK: - query

  /// `-t query TARGET...`: each path's in-edge with its inputs, its validations, the
  /// outputs of its out-edges and of the edges it validates.
  package func query(_ targets: [String]) throws(NinjaToolError) -> String {
    guard !targets.isEmpty else { throw NinjaToolError("expected a target to query") }
    var text = ""
    for target in targets {
      let node = try node(named: target)
      text += "\(node):\n"
      if let edge = producer[node].map({ manifest.edges[$0] }) {
        text += "  input: \(edge.rule)\n"
        for input in edge.inputs { text += "    \(input)\n" }
        for input in edge.implicitInputs { text += "    | \(input)\n" }
        for input in edge.orderOnly { text += "    || \(input)\n" }
        if !edge.validations.isEmpty {
          text += "  validations:\n"
          for validation in edge.validations { text += "    \(validation)\n" }
        }
      }
      text += "  outputs:\n"
      for edge in consumers[node] ?? [] {
        for output in Self.outputs(of: manifest.edges[edge]) { text += "    \(output)\n" }
      }
      if let edges = validated[node] {
        text += "  validation for:\n"
        for edge in edges {
          for output in Self.outputs(of: manifest.edges[edge]) { text += "    \(output)\n" }
        }
      }
    }
    return text
  }

  // MARK: - inputs, commands

  /// `-t inputs [TARGET...]`: every input of every edge behind the targets (phony
  /// edges walked through, not listed), shell-quoted as in a command, sorted, each once.
  package func inputs(_ targets: [String]) throws(NinjaToolError) -> String {
    var result: [String] = []
    walk(from: try self.targets(named: targets)) { edge in
      if edge.rule != "phony" { result += Self.inputs(of: edge).map(NinjaPath.shellEscaped) }
    }
    return lines(Self.sortedUnique(result))
  }

  /// `-t commands [-s] [TARGET...]`: the commands building the targets, each edge's
  /// inputs' commands before its own; with `single`, only the targets' own.
  package func commands(_ targets: [String], single: Bool = false) throws(NinjaToolError) -> String {
    var text = ""
    let nodes = try self.targets(named: targets)
    if single {
      var seen = Set<Int>()
      for node in nodes {
        if let i = producer[node], seen.insert(i).inserted, manifest.edges[i].rule != "phony" {
          text += manifest.edges[i].command + "\n"
        }
      }
      return text
    }
    walk(from: nodes) { edge in
      if edge.rule != "phony" { text += edge.command + "\n" }
    }
    return text
  }

  /// Visits the in-edges of `nodes` depth first, each edge once, after the edges
  /// producing its inputs.
  private func walk(from nodes: [String], _ visit: (NinjaEdge) -> Void) {
    var seen = Set<Int>()
    func visitEdge(_ i: Int) {
      guard seen.insert(i).inserted else { return }
      for input in Self.inputs(of: manifest.edges[i]) {
        if let p = producer[input] { visitEdge(p) }
      }
      visit(manifest.edges[i])
    }
    for node in nodes {
      if let i = producer[node] { visitEdge(i) }
    }
  }

  // MARK: - compdb

  /// One entry of a compilation database (`-t compdb`); the directory is the caller's.
  package struct CompilationEntry: Sendable, Equatable {
    package var command: String
    package var file: String
    package var output: String

    package init(command: String, file: String, output: String) {
      self.command = command
      self.file = file
      self.output = output
    }
  }

  /// `-t compdb [-x] [RULE...]`: every edge with an input (phony ones too), in file
  /// order, or those of the named rules (an edge once per time its rule is named).
  /// `expandingRspfiles`: `@RSPFILE` in the command replaced by the response file's
  /// content, its line breaks made spaces.
  package func compilationDatabase(rules: [String], expandingRspfiles: Bool = false) -> [CompilationEntry] {
    var entries: [CompilationEntry] = []
    for edge in manifest.edges {
      guard let file = Self.inputs(of: edge).first else { continue }
      let times = rules.isEmpty ? 1 : rules.filter { $0 == edge.rule }.count
      let command = expandingRspfiles ? Self.expandingRspfile(edge) : edge.command
      for _ in 0..<times { entries.append(CompilationEntry(command: command, file: file, output: edge.outputs[0])) }
    }
    return entries
  }

  /// The command with its first mention of the rspfile, when `@` comes right before it
  /// (and it is not at the start), replaced by the rspfile's content.
  static func expandingRspfile(_ edge: NinjaEdge) -> String {
    guard let rspfile = edge.rspfile, !rspfile.isEmpty else { return edge.command }
    let command = Array(edge.command.utf8), name = Array(rspfile.utf8)
    guard let at = Self.firstIndex(of: name, in: command), at > 0, command[at - 1] == UInt8(ascii: "@") else {
      return edge.command
    }
    let content = (edge.rspfileContent ?? "").utf8.map { $0 == UInt8(ascii: "\n") ? UInt8(ascii: " ") : $0 }
    return String(decoding: command[..<(at - 1)] + content + command[(at + name.count)...], as: UTF8.self)
  }

  private static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard !needle.isEmpty, needle.count <= haystack.count else { return nil }
    for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
      return start
    }
    return nil
  }

  // MARK: - clean, deps

  /// What `-t clean` removes, in ninja's order, each path once: the outputs of every
  /// edge that runs a command (generator edges only with `generator`), then its depfile
  /// and rspfile; with `targets`, those targets and, walking their inputs, everything
  /// that builds them (a target's siblings and phony outputs stay); with `rules`, the
  /// edges of those rules.
  package func cleaning(targets: [String] = [], rules: Bool = false, generator: Bool = false) throws(NinjaToolError)
    -> [String]
  {
    var plan = CleanPlan()
    if rules {
      guard !targets.isEmpty else { throw NinjaToolError("expected a rule to clean") }
      for rule in targets where !manifest.edges.contains(where: { $0.rule == rule }) {
        throw NinjaToolError("unknown rule '\(rule)'")
      }
      for rule in targets {
        for edge in manifest.edges where edge.rule == rule {
          for output in Self.outputs(of: edge) {
            plan.add(output)
            plan.addFiles(of: edge)
          }
        }
      }
    } else if !targets.isEmpty {
      var nodes: [String] = []
      for target in targets {
        let path = NinjaPath.canonical(target)
        guard isNode(path) else { throw NinjaToolError("unknown target '\(path)'") }
        nodes.append(path)
      }
      var cleaned = Set<String>()
      func clean(_ node: String) {
        if let edge = producer[node].map({ manifest.edges[$0] }) {
          if edge.rule != "phony" {
            plan.add(node)
            plan.addFiles(of: edge)
          }
          for input in Self.inputs(of: edge) where !cleaned.contains(input) { clean(input) }
        }
        cleaned.insert(node)
      }
      for node in nodes { clean(node) }
    } else {
      for edge in manifest.edges where edge.rule != "phony" && (generator || !edge.generator) {
        for output in Self.outputs(of: edge) { plan.add(output) }
        plan.addFiles(of: edge)
      }
    }
    return plan.paths
  }

  private struct CleanPlan {
    var paths: [String] = []
    var seen = Set<String>()
    mutating func add(_ path: String) { if seen.insert(path).inserted { paths.append(path) } }
    mutating func addFiles(of edge: NinjaEdge) {
      if let depfile = edge.depfile { add(depfile) }
      if let rspfile = edge.rspfile { add(rspfile) }
    }
  }

  /// The outputs `-t deps` speaks of: the named targets, else every output of every
  /// edge with a depfile, in file order.
  package func depsOutputs(_ targets: [String]) throws(NinjaToolError) -> [String] {
    guard targets.isEmpty else { return try self.targets(named: targets) }
    return manifest.edges.filter { $0.depfile != nil }.flatMap(Self.outputs)
  }

  /// What the deps log says of one output (kiln: its manifest).
  package struct DepsEntry: Sendable, Equatable {
    package var output: String
    /// nil: nothing recorded.
    package var dependencies: [String]?
    package var mtime: Int64
    package var valid: Bool

    package init(output: String, dependencies: [String]?, mtime: Int64 = 0, valid: Bool = false) {
      self.output = output
      self.dependencies = dependencies
      self.mtime = mtime
      self.valid = valid
    }
  }

  /// `-t deps`'s text: per output, its dependency count, mtime and validity, then the
  /// dependencies indented and a blank line; "deps not found" when none are recorded.
  package static func deps(_ entries: [DepsEntry]) -> String {
    var text = ""
    for entry in entries {
      guard let dependencies = entry.dependencies else {
        text += "\(entry.output): deps not found\n"
        continue
      }
      text += "\(entry.output): #deps \(dependencies.count), deps mtime \(entry.mtime) (\(entry.valid ? "VALID" : "STALE"))\n"
      for dependency in dependencies { text += "    \(dependency)\n" }
      text += "\n"
    }
    return text
  }

  // MARK: - Text

  private func lines(_ items: [String]) -> String { items.map { $0 + "\n" }.joined() }

  /// Sorted by bytes (as ninja's std::string order), duplicates dropped.
  static func sortedUnique(_ items: [String]) -> [String] {
    Set(items).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
  }

  /// C's atoi: optional sign and the digits that follow; 0 when there are none.
  static func leadingInteger(_ text: String) -> Int {
    var chars = Substring(text.drop { $0 == " " || $0 == "\t" })
    var sign = 1
    if let first = chars.first, first == "-" || first == "+" {
      sign = first == "-" ? -1 : 1
      chars = chars.dropFirst()
    }
    return sign * (Int(chars.prefix { $0.isASCII && $0.isNumber }) ?? 0)
  }
}

/// A tool's refusal, in ninja's words (kiln adds its own prefix).
package struct NinjaToolError: Error, Sendable, Equatable, CustomStringConvertible {
  package var message: String
  package init(_ message: String) { self.message = message }
  package var description: String { message }
}
