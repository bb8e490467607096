import KilnCore
import KilnStore

/// What a `NinjaGraph` holds besides its task graph, as bytes for the graph cache
/// (`GraphCache.extra`), so that a build whose manifest files did not change skips
/// parsing them (a third of a non-null `kiln ninja` run on a 400-unit CMake project).
/// Targets that an edge's own outputs name are derived from the graph again; only the
/// others (phony names) are written.
extension NinjaGraph {
  package func encodedExtras() -> [UInt8] {
    var w = ByteWriter()
    let derived = Self.outputTargets(graph)
    let named = targets.filter { derived[$0.key] != $0.value }.sorted { $0.key < $1.key }
    w.varint(UInt64(named.count))
    for (path, ids) in named {
      w.string(path)
      Self.put(ids, &w)
    }
    w.varint(defaults == nil ? 0 : 1)
    Self.put(defaults ?? [], &w)
    let checks = validations.sorted { $0.key.description < $1.key.description }
    w.varint(UInt64(checks.count))
    for (id, ids) in checks {
      Self.put([id], &w)
      Self.put(ids, &w)
    }
    let depths = pools.sorted { $0.key < $1.key }
    w.varint(UInt64(depths.count))
    for (name, depth) in depths {
      w.string(name)
      w.varint(UInt64(max(0, depth)))
    }
    return w.bytes
  }

  /// The graph read back with its extras; nil when they are not what `encodedExtras`
  /// writes.
  package init?(graph: TaskGraph, extras: [UInt8]) {
    var r = ByteReader(extras)
    do throws(ByteReader.Truncated) {
      var targets = Self.outputTargets(graph)
      for _ in 0..<(try r.count()) {
        let path = try r.string()
        targets[path] = try Self.ids(&r)
      }
      let hasDefaults = try r.varint() == 1
      let defaults = try Self.ids(&r)
      var validations: [TaskID: [TaskID]] = [:]
      for _ in 0..<(try r.count()) {
        guard let id = try Self.ids(&r).first else { return nil }
        validations[id] = try Self.ids(&r)
      }
      var pools: [String: Int] = [:]
      for _ in 0..<(try r.count()) {
        let name = try r.string()
        pools[name] = Int(truncatingIfNeeded: try r.varint())
      }
      guard r.atEnd else { return nil }
      var producers: [String: TaskID] = [:]
      for instance in graph.instances {
        for output in instance.outputs { producers[output] = instance.id }
      }
      self.init(graph: graph, targets: targets, defaults: hasDefaults ? defaults : nil, validations: validations,
                pools: pools, producers: producers)
    } catch {
      return nil
    }
  }

  /// Each output of an edge naming that edge.
  private static func outputTargets(_ graph: TaskGraph) -> [String: [TaskID]] {
    var targets: [String: [TaskID]] = [:]
    for instance in graph.instances {
      for output in instance.outputs { targets[output] = [instance.id] }
    }
    return targets
  }

  private static func put(_ ids: [TaskID], _ w: inout ByteWriter) {
    w.varint(UInt64(ids.count))
    for id in ids {
      w.string(id.task)
      w.varint(id.item == nil ? 0 : 1)
      w.string(id.item ?? "")
    }
  }

  private static func ids(_ r: inout ByteReader) throws(ByteReader.Truncated) -> [TaskID] {
    var ids: [TaskID] = []
    for _ in 0..<(try r.count()) {
      let task = try r.string()
      let hasItem = try r.varint() == 1
      let item = try r.string()
      ids.append(TaskID(task: task, item: hasItem ? item : nil))
    }
    return ids
  }
}
