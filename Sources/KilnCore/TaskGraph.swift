/// The expanded build: every task instance and the edges between them, acyclic.
///
/// Indices into `instances` are the engine's working currency; `index(of:)` maps a
/// `TaskID` back. Built by KilnConfig's expansion (or by hand in tests).
package struct TaskGraph: Sendable {
  package private(set) var instances: [TaskInstance]
  /// For each instance, the indices of the instances it waits for.
  package private(set) var dependencies: [[Int]]
  /// For each instance, the indices of the instances that wait for it.
  package private(set) var dependents: [[Int]]
  /// Declared output path -> index of the instance that declares it.
  package private(set) var producers: [String: Int]
  /// Task names a bare `kiln build` builds; nil means every task.
  package var defaultTasks: [String]?
  /// Every task the build file names, including foreach tasks that match nothing now:
  /// asking for one of those builds nothing rather than failing.
  package var taskNames: Set<String> = []
  private var byID: [TaskID: Int]

  /// Builds the edges from each instance's `dependencies`. Throws on an unknown
  /// dependency or a cycle; the message names the cycle.
  package init(_ instances: [TaskInstance], defaultTasks: [String]? = nil) throws(GraphError) {
    self.instances = instances
    self.defaultTasks = defaultTasks
    var byID: [TaskID: Int] = [:]
    byID.reserveCapacity(instances.count)
    var producers: [String: Int] = [:]
    // By index: `for instance in instances` copies each instance.
    for i in instances.indices {
      let id = instances[i].id
      if byID.updateValue(i, forKey: id) != nil { throw .duplicateInstance(id) }
      for output in instances[i].outputs {
        if let other = producers.updateValue(i, forKey: output) {
          throw .duplicateOutput(output, instances[other].id, id)
        }
      }
    }
    var dependencies = [[Int]](repeating: [], count: instances.count)
    var dependents = [[Int]](repeating: [], count: instances.count)
    for i in instances.indices {
      var seen = Set<Int>()
      for dep in instances[i].dependencies {
        guard let j = byID[dep] else { throw .unknownDependency(instances[i].id, dep) }
        if seen.insert(j).inserted {
          dependencies[i].append(j)
          dependents[j].append(i)
        }
      }
    }
    self.byID = byID
    self.producers = producers
    self.dependencies = dependencies
    self.dependents = dependents
    if let cycle = Self.findCycle(dependencies) {
      throw .cycle(cycle.map { instances[$0].id })
    }
  }

  package var count: Int { instances.count }

  package func index(of id: TaskID) -> Int? { byID[id] }

  package subscript(_ index: Int) -> TaskInstance { instances[index] }

  /// Indices of every instance of the named tasks and everything they need, in a
  /// dependency-respecting order. Unknown names come back in `unknown`.
  package func closure(ofTasks names: [String]?) -> (indices: [Int], unknown: [String]) {
    var roots: [Int] = []
    var unknown: [String] = []
    if let names {
      // By index, not `for instance in instances`: that copied every instance, and
      // with the instance names made for the second loop this was 3M instructions of
      // an edit build's 55M (two calls, 400 units).
      let wanted = Set(names)
      var found = Set<String>()
      for i in instances.indices where wanted.contains(instances[i].id.task) {
        roots.append(i)
        found.insert(instances[i].id.task)
      }
      // One instance named ("task item"): only names with a space can be one.
      if wanted.contains(where: { $0.utf8.contains(UInt8(ascii: " ")) }) {
        for i in instances.indices where instances[i].id.item != nil && !wanted.contains(instances[i].id.task) {
          let name = instances[i].id.description
          if wanted.contains(name) {
            roots.append(i)
            found.insert(name)
          }
        }
      }
      unknown = names.filter { !found.contains($0) && !taskNames.contains($0) }
    } else {
      roots = Array(instances.indices)
    }
    var visited = [Bool](repeating: false, count: instances.count)
    var order: [Int] = []
    // Iterative post-order DFS: dependencies before dependents.
    for root in roots where !visited[root] {
      var stack: [(Int, Int)] = [(root, 0)]
      visited[root] = true
      while let (node, next) = stack.last {
        if next < dependencies[node].count {
          stack[stack.count - 1].1 += 1
          let dep = dependencies[node][next]
          if !visited[dep] {
            visited[dep] = true
            stack.append((dep, 0))
          }
        } else {
          order.append(node)
          stack.removeLast()
        }
      }
    }
    return (order, unknown)
  }

  /// A cycle as a list of indices (first == last), or nil.
  private static func findCycle(_ dependencies: [[Int]]) -> [Int]? {
    // 0 = unvisited, 1 = on the stack, 2 = done.
    var state = [UInt8](repeating: 0, count: dependencies.count)
    for start in dependencies.indices where state[start] == 0 {
      var stack: [(Int, Int)] = [(start, 0)]
      state[start] = 1
      while let (node, next) = stack.last {
        if next < dependencies[node].count {
          stack[stack.count - 1].1 += 1
          let dep = dependencies[node][next]
          if state[dep] == 1 {
            let path = stack.map(\.0)
            let from = path.firstIndex(of: dep)!
            return Array(path[from...]) + [dep]
          }
          if state[dep] == 0 {
            state[dep] = 1
            stack.append((dep, 0))
          }
        } else {
          state[node] = 2
          stack.removeLast()
        }
      }
    }
    return nil
  }
}

/// Why a list of instances does not form a graph.
package enum GraphError: Error, Sendable, Hashable {
  case duplicateInstance(TaskID)
  case duplicateOutput(String, TaskID, TaskID)
  case unknownDependency(TaskID, TaskID)
  case cycle([TaskID])
}
