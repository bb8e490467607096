import KilnCore
import KilnSystem

/// A ninja manifest as kiln's task graph: one task instance per edge that runs a
/// command (named `RULE FIRST-OUTPUT`), phony edges resolved away.
///
/// - An instance's inputs, which go into its key, are its explicit and implicit inputs,
///   a phony input standing for everything behind it. Order-only inputs order the
///   build and are not in the key.
/// - Its outputs are its explicit and implicit outputs.
/// - `generator` edges and edges in the `console` pool are never cached.
/// - An `rspfile` is written by the command itself, before the edge's own command,
///   so its content is part of the key; a depfile the command did not write is left
///   empty by it (ninja reads a missing one as no dependencies).
package struct NinjaGraph: Sendable {
  package var graph: TaskGraph
  /// Each path a target may name (every output, phony ones included) and the instances
  /// building it means.
  package var targets: [String: [TaskID]]
  /// What a build with no target builds: the `default` targets; nil: every instance.
  package var defaults: [TaskID]?

  /// `exists`: whether a path that no edge produces is there (a source file).
  package init(_ manifest: NinjaManifest, exists: (String) -> Bool) throws(NinjaError) {
    var producer: [String: Int] = [:]
    for (i, edge) in manifest.edges.enumerated() {
      for output in edge.outputs + edge.implicitOutputs {
        if producer.updateValue(i, forKey: output) != nil {
          throw NinjaError(file: edge.file, line: edge.line, message: "multiple rules generate \(output)")
        }
      }
    }
    let edges = manifest.edges
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
    for (i, edge) in edges.enumerated() where edge.rule != "phony" {
      if edge.dyndep != nil {
        throw NinjaError(file: edge.file, line: edge.line, message: "dyndep is not supported by kiln ninja yet (edge '\(id(i))')")
      }
      if edge.deps == "msvc" {
        throw NinjaError(file: edge.file, line: edge.line, message: "deps = msvc is not supported by kiln ninja yet (edge '\(id(i))')")
      }
      let inputs = try expand(edge.inputs + edge.implicitInputs)
      var dependencies: [TaskID] = []
      var seen = Set<Int>()
      for path in inputs {
        if let p = producer[path] {
          if seen.insert(p).inserted { dependencies.append(id(p)) }
        } else if !exists(path) {
          throw NinjaError(file: edge.file, line: edge.line,
                           message: "'\(path)', needed by '\(edge.outputs.first ?? "")', missing and no known rule to make it")
        }
      }
      // Everything behind the inputs and the order-only inputs, for order alone.
      for path in try expand(edge.inputs + edge.implicitInputs + edge.orderOnly, ordering: true) {
        if let p = producer[path], seen.insert(p).inserted { dependencies.append(id(p)) }
      }
      var command = edge.command
      let depfile = edge.deps == nil || edge.deps == "gcc" ? edge.depfile : nil
      if let depfile {
        // ninja takes a depfile the command did not write for no dependencies (a
        // CMake try-compile declares one and compiles without -MD); kiln's engine
        // fails such a task, so the command leaves an empty one.
        let quoted = Paths.shellQuote(depfile)
        command = "(\(command)) && { [ -e \(quoted) ] || : > \(quoted); }"
      }
      if let rspfile = edge.rspfile {
        command = "printf '%s' \(Paths.shellQuote(edge.rspfileContent ?? "")) > \(Paths.shellQuote(rspfile)) && " + command
      }
      let instance = TaskInstance(
        id: id(i), command: command, inputs: inputs, outputs: edge.outputs + edge.implicitOutputs,
        depfile: depfile,
        cache: !edge.generator && edge.pool != "console", dependencies: dependencies,
        location: SourceLocation(file: edge.file, line: edge.line, column: 1))
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
    do {
      graph = try TaskGraph(instances)
    } catch {
      throw NinjaError(file: "build.ninja", line: 0, message: "\(error)")
    }
    self.targets = targets
    if manifest.defaults.isEmpty {
      defaults = nil
    } else {
      var ids: [TaskID] = []
      for path in manifest.defaults {
        guard let built = targets[path] else {
          throw NinjaError(file: "build.ninja", line: 0, message: "unknown target '\(path)'")
        }
        ids += built
      }
      defaults = ids
    }
  }
}
