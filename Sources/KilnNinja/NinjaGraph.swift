import KilnCore
import KilnSystem

/// A ninja manifest as kiln's task graph: one task instance per edge that runs a
/// command (named `RULE FIRST-OUTPUT`), phony edges resolved away.
///
/// - An instance's inputs, which go into its key, are its explicit and implicit inputs,
///   a phony input standing for everything behind it. Order-only inputs order the
///   build and are not in the key. A phony with no inputs stands for its own file
///   (CMake names files it reads so); with no file there (ninja's `FORCE`), what
///   depends on it always runs.
/// - Its outputs are its explicit and implicit outputs.
/// - `generator` edges and edges in the `console` pool are never cached; a generator
///   edge does not run again when only its command changed, as under ninja.
/// - An `rspfile` is written by the command itself, before the edge's own command
///   (and removed after it succeeded),
///   so its content is part of the key; a depfile the command did not write means no
///   dependencies (`TaskInstance.depfileMayBeMissing`), as ninja reads it.
package struct NinjaGraph: Sendable {
  package var graph: TaskGraph
  /// Each path a target may name (every path the manifest names: outputs, phony ones
  /// included, and sources, which build nothing) and the instances building it means.
  package var targets: [String: [TaskID]]
  /// What a build with no target builds: the `default` targets; nil: every instance.
  package var defaults: [TaskID]?
  /// Per instance, the instances its validations (`|@`) name: built whenever it is,
  /// and depended on by nothing.
  package var validations: [TaskID: [TaskID]]
  /// Pool depths, `console` (depth 1) included.
  package var pools: [String: Int]
  /// Per output of an edge, that edge's instance (phony edges have none).
  package var producers: [String: TaskID]

  /// `directory`: where ninja runs (absolute); a path under it is made relative, as
  /// CMake writes some absolute. `exists`: whether a path that no edge produces is
  /// there (a source file).
  package init(_ manifest: NinjaManifest, directory: String = "", exists: (String) -> Bool) throws(NinjaError) {
    let edges = manifest.edges.map { Self.relative($0, to: directory) }
    var producer: [String: Int] = [:]
    for (i, edge) in edges.enumerated() {
      for output in edge.outputs + edge.implicitOutputs {
        // kiln's own state and git's are never a build's to write or to replace.
        if Paths.isReserved(output) {
          throw NinjaError(file: edge.file, line: edge.line, message: "output '\(output)' is inside .kiln or .git")
        }
        // CMake names a custom command's output twice, relative and absolute
        // (`build gen.h | /abs/build/gen.h:`): one path once made relative.
        if let other = producer.updateValue(i, forKey: output), other != i {
          throw NinjaError(file: edge.file, line: edge.line, message: "multiple rules generate \(output)")
        }
      }
    }
    // A phony edge with no inputs names a file that may be missing without error (CMake
    // declares every input of its regeneration edge so): where the file is, it is a
    // source like any other, its content in the keys of the edges that read it.
    var mayBeMissing = Set<String>()
    for edge in edges where edge.rule == "phony" && edge.inputs.isEmpty && edge.implicitInputs.isEmpty && edge.orderOnly.isEmpty {
      for output in edge.outputs + edge.implicitOutputs {
        producer[output] = nil
        mayBeMissing.insert(output)
      }
    }
    func id(_ i: Int) -> TaskID {
      TaskID(task: edges[i].rule, item: edges[i].outputs.first ?? edges[i].implicitOutputs.first)
    }
    // What a phony output stands for: the paths behind it, phonies resolved (sources
    // and outputs of real edges). `ordering`: its order-only inputs too, which order
    // what depends on it but never go into a key (CMake orders every compile after
    // its object folder this way, a folder no edge makes).
    var resolved: [Bool: [Int: [String]]] = [true: [:], false: [:]]
    func behind(_ phony: Int, ordering: Bool, _ visiting: inout Set<Int>) throws(NinjaError) -> [String] {
      if let known = resolved[ordering]?[phony] { return known }
      guard visiting.insert(phony).inserted else {
        throw NinjaError(file: edges[phony].file, line: edges[phony].line,
                         message: "dependency cycle through phony '\(edges[phony].outputs.first ?? "")'")
      }
      var paths: [String] = []
      var seen = Set<String>()
      let e = edges[phony]
      // With no inputs at all it stands for its own path: a file CMake names so, or
      // ninja's `FORCE` when no file is there (see the instances below).
      if e.inputs.isEmpty, e.implicitInputs.isEmpty, e.orderOnly.isEmpty { paths = e.outputs }
      for input in e.inputs + e.implicitInputs + (ordering ? e.orderOnly : []) {
        if let p = producer[input], edges[p].rule == "phony" {
          for path in try behind(p, ordering: ordering, &visiting) where seen.insert(path).inserted { paths.append(path) }
        } else if seen.insert(input).inserted {
          paths.append(input)
        }
      }
      visiting.remove(phony)
      resolved[ordering, default: [:]][phony] = paths
      return paths
    }
    func expand(_ paths: [String], ordering: Bool = false) throws(NinjaError) -> [String] {
      var result: [String] = []
      var seen = Set<String>()
      for path in paths {
        if let p = producer[path], edges[p].rule == "phony" {
          var visiting = Set<Int>()
          for inner in try behind(p, ordering: ordering, &visiting) where seen.insert(inner).inserted { result.append(inner) }
        } else if seen.insert(path).inserted {
          result.append(path)
        }
      }
      return result
    }

    var instances: [TaskInstance] = []
    var targets: [String: [TaskID]] = [:]
    var validations: [TaskID: [TaskID]] = [:]
    for (i, edge) in edges.enumerated() where edge.rule != "phony" {
      if edge.dyndep != nil {
        throw NinjaError(file: edge.file, line: edge.line, message: "dyndep is not supported by kiln ninja yet (edge '\(id(i))')")
      }
      var inputs: [String] = []
      var dependencies: [TaskID] = []
      var seen = Set<Int>()
      // ninja's "always run" idiom: an input named by a phony without inputs and not
      // there (`FORCE`, Meson's `PHONY`) is out of date at every build, and so is this
      // edge; it names no file, so it is no input.
      var alwaysDirty = false
      for path in try expand(edge.inputs + edge.implicitInputs) {
        if let p = producer[path] {
          if seen.insert(p).inserted { dependencies.append(id(p)) }
        } else if mayBeMissing.contains(path), !exists(path) {
          alwaysDirty = true
          continue
        } else if !mayBeMissing.contains(path), !exists(path) {
          throw NinjaError(file: edge.file, line: edge.line,
                           message: "'\(path)', needed by '\(edge.outputs.first ?? "")', missing and no known rule to make it")
        }
        inputs.append(path)
      }
      // Everything behind the inputs and the order-only inputs, for order alone.
      for path in try expand(edge.inputs + edge.implicitInputs + edge.orderOnly, ordering: true) {
        if let p = producer[path], edges[p].rule != "phony", seen.insert(p).inserted { dependencies.append(id(p)) }
      }
      var command = edge.command
      let depfile = edge.deps == "msvc" ? nil : edge.depfile
      if let rspfile = edge.rspfile {
        // Written first, removed after success and kept after a failure, as ninja does;
        // the edge's command in a group of its own line (it may end in a comment).
        let rsp = Paths.shellQuote(rspfile)
        command = "printf '%s' \(Paths.shellQuote(edge.rspfileContent ?? "")) > \(rsp) && {\n\(command)\n} && rm -f \(rsp)"
      }
      var instance = TaskInstance(
        id: id(i), command: command, inputs: inputs, outputs: edge.outputs + edge.implicitOutputs,
        depfile: depfile,
        // An output outside the build folder (`../src/gen.c`, an absolute path) is the
        // command's to write; the cache restores only plain paths inside it.
        cache: !edge.generator && edge.pool != "console"
          && (edge.outputs + edge.implicitOutputs).allSatisfy(Paths.isPlainRelative),
        dependencies: dependencies,
        location: SourceLocation(file: edge.file, line: edge.line, column: 1))
      // ninja reads a depfile the command did not write as no dependencies, and an
      // output the command did not write as out of date next time.
      instance.depfileMayBeMissing = true
      instance.outputsMayBeMissing = true
      instance.always = alwaysDirty
      // A generator rewrites build.ninja in place; a failed run keeps the old one.
      instance.keepsOutputs = edge.generator && !instance.cache
      instance.pool = edge.pool.flatMap { $0.isEmpty ? nil : $0 }
      instance.label = edge.description.flatMap { $0.isEmpty ? nil : $0 }
      // cl.exe's default /showIncludes prefix, as ninja's.
      if edge.deps == "msvc" { instance.includesPrefix = edge.msvcDepsPrefix ?? "Note: including file:" }
      var checks: [TaskID] = []
      for path in try expand(edge.validations, ordering: true) {
        if let p = producer[path], edges[p].rule != "phony", !checks.contains(id(p)) { checks.append(id(p)) }
      }
      if !checks.isEmpty { validations[id(i)] = checks }
      instance.commandInKey = !edge.generator
      instances.append(instance)
      for output in instance.outputs { targets[output] = [instance.id] }
    }
    for edge in edges where edge.rule == "phony" {
      var ids: [TaskID] = []
      var seen = Set<TaskID>()
      for path in try expand(edge.outputs, ordering: true) {
        guard let p = producer[path], edges[p].rule != "phony" else { continue }
        if seen.insert(id(p)).inserted { ids.append(id(p)) }
      }
      for output in edge.outputs + edge.implicitOutputs { targets[output] = ids }
    }
    // ninja takes any path the manifest names for a target: a source builds nothing.
    for edge in edges {
      for path in edge.inputs + edge.implicitInputs + edge.orderOnly + edge.validations where targets[path] == nil {
        targets[path] = []
      }
    }
    do {
      graph = try TaskGraph(instances)
    } catch {
      throw NinjaError(file: "build.ninja", line: 0, message: "\(error)")
    }
    self.targets = targets
    self.validations = validations
    pools = manifest.pools.merging(["console": 1]) { a, _ in a }
    producers = [:]
    for (output, p) in producer where edges[p].rule != "phony" { producers[output] = id(p) }
    if manifest.defaults.isEmpty {
      defaults = nil
    } else {
      var ids: [TaskID] = []
      for path in manifest.defaults.map({ Self.relative($0, to: directory) }) {
        guard let built = targets[path] else {
          throw NinjaError(file: "build.ninja", line: 0, message: "unknown target '\(path)'")
        }
        ids += built
      }
      defaults = ids
    }
  }

  /// `wanted` and every instance a validation of one of them, or of what they need,
  /// names (ninja builds an edge's validations whenever it builds the edge), with what
  /// those need in turn. nil (everything) stays nil.
  package func addingValidations(_ wanted: [TaskID]?) -> [TaskID]? {
    guard let wanted, !validations.isEmpty else { return wanted }
    var result = wanted
    var seen = Set(wanted)
    var frontier = wanted
    while !frontier.isEmpty {
      let (closure, _) = graph.closure(ofTasks: frontier.map(\.description))
      frontier = []
      for i in closure {
        for check in validations[graph[i].id] ?? [] where seen.insert(check).inserted {
          result.append(check)
          frontier.append(check)
        }
      }
    }
    return result
  }

  /// Parts already worked out (`NinjaGraph+Cache`).
  init(graph: TaskGraph, targets: [String: [TaskID]], defaults: [TaskID]?, validations: [TaskID: [TaskID]],
       pools: [String: Int], producers: [String: TaskID]) {
    self.graph = graph
    self.targets = targets
    self.defaults = defaults
    self.validations = validations
    self.pools = pools
    self.producers = producers
  }

  /// `path` relative to `directory` when it lies inside it.
  package static func relative(_ path: String, to directory: String) -> String {
    guard !directory.isEmpty, path.hasPrefix("/"), let rel = Paths.relative(path, to: directory), !rel.isEmpty else {
      return path
    }
    return rel
  }

  /// `edge` with every path inside `directory` made relative.
  private static func relative(_ edge: NinjaEdge, to directory: String) -> NinjaEdge {
    guard !directory.isEmpty else { return edge }
    var e = edge
    func fix(_ paths: [String]) -> [String] { paths.map { relative($0, to: directory) } }
    // Two spellings of one file (`build /abs/b/gen.h gen.h:`, or one explicit and one
    // implicit) are one output once relative: kept once, in order.
    var seen = Set<String>()
    e.outputs = fix(e.outputs).filter { seen.insert($0).inserted }
    e.implicitOutputs = fix(e.implicitOutputs).filter { seen.insert($0).inserted }
    e.inputs = fix(e.inputs)
    e.implicitInputs = fix(e.implicitInputs)
    e.orderOnly = fix(e.orderOnly)
    e.validations = fix(e.validations)
    e.depfile = e.depfile.map { relative($0, to: directory) }
    e.rspfile = e.rspfile.map { relative($0, to: directory) }
    return e
  }
}
