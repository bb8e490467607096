/// `build` statements: their paths at parse time, their rule variables at the end.
extension NinjaParseState {
  mutating func parseEdge(_ lexer: inout NinjaLexer, in scope: NinjaScope) throws(NinjaError) {
    let line = lexer.line
    func paths(_ lexer: inout NinjaLexer) throws(NinjaError) -> [NinjaEvalString] {
      var paths: [NinjaEvalString] = []
      while true {
        let path = try lexer.readEvalString(path: true)
        if path.isEmpty { return paths }
        paths.append(path)
      }
    }
    let outs = try paths(&lexer)
    let implicitOuts = lexer.peek(.pipe) ? try paths(&lexer) : []
    if outs.isEmpty { throw lexer.error("expected path") }
    try lexer.expect(.colon)
    guard let ruleName = lexer.readIdentifier() else { throw lexer.error("expected build command name") }
    guard let rule = scope.rule(named: ruleName) else { throw lexer.error("unknown build rule '\(ruleName)'") }
    let ins = try paths(&lexer)
    let implicitIns = lexer.peek(.pipe) ? try paths(&lexer) : []
    let orderOnly = lexer.peek(.pipe2) ? try paths(&lexer) : []
    let validations = lexer.peek(.pipeAt) ? try paths(&lexer) : []
    try lexer.expect(.newline)

    // Like ninja, an edge without bindings of its own uses the file's scope itself, so a
    // top-level variable then shadows the rule's (ninja's LookupWithFallback order).
    var edgeScope = scope
    if lexer.peek(.indent) {
      edgeScope = NinjaScope(parent: scope)
      repeat {
        let (key, value) = try parseLet(&lexer)
        // Evaluated in the file's scope: one binding of an edge cannot see another.
        edgeScope.bindings[key] = value.evaluate(in: scope)
      } while lexer.peek(.indent)
    }
    func error(_ message: String) -> NinjaError { NinjaError(file: lexer.file, line: line, message: message) }
    func evaluated(_ paths: [NinjaEvalString]) throws(NinjaError) -> [String] {
      var result: [String] = []
      for path in paths {
        let value = path.evaluate(in: edgeScope)
        if value.isEmpty { throw error("empty path") }
        result.append(NinjaPath.canonical(value))
      }
      return result
    }

    var edge = NinjaPendingEdge(rule: rule, scope: edgeScope, file: lexer.file, line: line)
    edge.outputs = try evaluated(outs)
    edge.implicitOutputs = try evaluated(implicitOuts)
    for output in edge.outputs + edge.implicitOutputs {
      guard outputs.insert(output).inserted else { throw error("multiple rules generate \(output)") }
    }
    edge.inputs = try evaluated(ins)
    edge.implicitInputs = try evaluated(implicitIns)
    edge.orderOnly = try evaluated(orderOnly)
    edge.validations = try evaluated(validations)
    if rule.name == NinjaRule.phony.name, edge.outputs.count == 1, edge.implicitOutputs.isEmpty,
      edge.implicitInputs.isEmpty
    {
      // ninja (-w phonycycle=warn, the default) drops a phony edge's input naming itself.
      edge.inputs.removeAll { $0 == edge.outputs[0] }
    }
    for path in edge.outputs + edge.implicitOutputs + edge.inputs + edge.implicitInputs + edge.orderOnly
      + edge.validations
    {
      nodes.insert(path)
    }

    let pool = try edge.value(of: "pool", escapingPaths: true)
    if !pool.isEmpty {
      guard pool == "console" || pools[pool] != nil else { throw error("unknown pool name '\(pool)'") }
      edge.pool = pool
    }
    let dyndep = try edge.value(of: "dyndep", escapingPaths: false)
    if !dyndep.isEmpty {
      let canonical = NinjaPath.canonical(dyndep)
      guard (edge.inputs + edge.implicitInputs + edge.orderOnly).contains(canonical) else {
        throw error("dyndep '\(canonical)' is not an input")
      }
      edge.dyndep = canonical
    }
    edges.append(edge)
  }

  /// The manifest, with each edge's rule variables evaluated now that every top-level
  /// variable has its final value.
  func manifest(root: NinjaScope) throws(NinjaError) -> NinjaManifest {
    var manifest = NinjaManifest()
    manifest.defaults = defaults
    manifest.pools = pools
    manifest.bindings = root.bindings
    manifest.edges.reserveCapacity(edges.count)
    for edge in edges {
      func text(_ name: String, escapingPaths: Bool = true) throws(NinjaError) -> String? {
        let value = try edge.value(of: name, escapingPaths: escapingPaths)
        return value.isEmpty ? nil : value
      }
      let phony = edge.rule.name == NinjaRule.phony.name
      manifest.edges.append(
        NinjaEdge(
          rule: edge.rule.name, outputs: edge.outputs, implicitOutputs: edge.implicitOutputs,
          inputs: edge.inputs, implicitInputs: edge.implicitInputs, orderOnly: edge.orderOnly,
          validations: edge.validations,
          command: phony ? "" : try edge.value(of: "command", escapingPaths: true),
          description: try text("description"),
          depfile: try text("depfile", escapingPaths: false),
          deps: try text("deps"), msvcDepsPrefix: try text("msvc_deps_prefix"),
          restat: try text("restat") != nil, generator: try text("generator") != nil,
          pool: edge.pool,
          rspfile: try text("rspfile", escapingPaths: false), rspfileContent: try text("rspfile_content"),
          dyndep: edge.dyndep, file: edge.file, line: edge.line))
    }
    return manifest
  }
}

extension NinjaPendingEdge {
  /// A rule variable as ninja's `EdgeEnv` gives it: `$in`/`$out` from the edge's paths
  /// (shell-quoted or not), then the edge's scope, then the rule's binding evaluated in
  /// this same way, then the enclosing scopes.
  func value(of name: String, escapingPaths: Bool) throws(NinjaError) -> String {
    var chain: [String] = []
    return try value(of: name, escapingPaths: escapingPaths, chain: &chain)
  }

  private func value(of name: String, escapingPaths: Bool, chain: inout [String]) throws(NinjaError) -> String {
    func joined(_ paths: [String], by separator: String) -> String {
      (escapingPaths ? paths.map(NinjaPath.shellEscaped) : paths).joined(separator: separator)
    }
    switch name {
    case "in": return joined(inputs, by: " ")
    case "in_newline": return joined(inputs, by: "\n")
    case "out": return joined(outputs, by: " ")
    default: break
    }
    let ruleValue = rule.bindings[name]
    if ruleValue != nil, let start = chain.firstIndex(of: name) {
      throw NinjaError(
        file: file, line: line, message: "cycle in rule variables: " + (chain[start...] + [name]).joined(separator: " -> "))
    }
    if let value = scope.bindings[name] { return value }
    guard let ruleValue else { return scope.parent?.lookup(name) ?? "" }
    chain.append(name)
    defer { chain.removeLast() }
    return try ruleValue.evaluate { (variable: String) throws(NinjaError) -> String in
      try value(of: variable, escapingPaths: escapingPaths, chain: &chain)
    }
  }
}
