import KilnCore

/// What is ready, in what order: one build's scheduling state, and nothing else (ninja's
/// Plan). Pure: no file, no process, no clock. The driver (`Build`) asks it which
/// instance to decide next and which to start next, and tells it how each ended.
///
/// An instance moves waiting -> (decided) -> ready -> running -> an end state, or
/// straight from waiting to an end state when it is up to date, skipped or predicted.
/// Ready instances start longest path first: the recorded durations of an instance and
/// of the longest chain of dependents after it (critical-path priority). Instances are
/// decided in the same order, so that one that must run can start as soon as it is
/// decided (`Build`) and still start in priority order; those the caller expects to
/// run (`preferForDeciding`: their files changed) are decided first.
package struct BuildPlan: Sendable {
  package enum State: Sendable, Equatable {
    case waiting, ready, running, succeeded, failed, skipped, notStarted
    /// A dry run's verdict: it would restore or run.
    case predicted
  }

  private let graph: TaskGraph
  /// The selected instances, dependencies before dependents.
  package let selected: [Int]
  private var inSelection: [Bool]
  private var priority: [Double]
  private var pending: [Int]
  package private(set) var state: [State]
  /// Instances whose dependencies have all ended, not yet decided, best first.
  private var undecided = PriorityQueue()
  /// Decided before the others (`preferForDeciding`).
  private var preferred: [Bool]
  private var ready = PriorityQueue()
  /// Pool depths (ninja's `pool`), and per pool how many of its instances run and which
  /// ready ones wait for room, best first when room is made.
  private let depths: [String: Int]
  private var inPool: [String: Int] = [:]
  private var delayed: [String: PriorityQueue] = [:]
  /// How many selected instances reached an end state.
  package private(set) var done = 0
  package var total: Int { selected.count }

  /// The plan for `targets` (nil: the graph's default), instances weighted by `duration`
  /// (nil when never recorded). Throws the first name that matches no task.
  /// `pools`: the depth of each pool an instance may name (`TaskInstance.pool`); an
  /// instance in a pool not listed is bound by the job count alone.
  package init(graph: TaskGraph, targets: [String]?, pools: [String: Int] = [:],
               duration: (TaskID) -> Double?) throws(BuildError) {
    try self.init(graph: graph, targets: targets, pools: pools, durationAt: { duration(graph[$0].id) })
  }

  /// The same, each instance's duration asked by its index in the graph.
  package init(graph: TaskGraph, targets: [String]?, pools: [String: Int] = [:],
               durationAt duration: (Int) -> Double?) throws(BuildError) {
    self.graph = graph
    depths = pools
    let (selected, unknown) = graph.closure(ofTasks: targets ?? graph.defaultTasks)
    if let name = unknown.first { throw BuildError.unknownTarget(name) }
    self.selected = selected
    inSelection = [Bool](repeating: false, count: graph.count)
    for i in selected { inSelection[i] = true }
    priority = [Double](repeating: 0, count: graph.count)
    for i in selected.reversed() {
      var longest = 0.0
      for d in graph.dependents[i] where inSelection[d] { longest = max(longest, priority[d]) }
      priority[i] = (duration(i) ?? 0.5) + longest
    }
    pending = [Int](repeating: 0, count: graph.count)
    state = [State](repeating: .waiting, count: graph.count)
    preferred = [Bool](repeating: false, count: graph.count)
    for i in selected {
      pending[i] = graph.dependencies[i].count
      if pending[i] == 0 { undecided.push(i, priority: priority[i]) }
    }
  }

  /// The next instance whose dependencies have all ended, to be decided: a preferred
  /// one, else the one on the longest remaining path.
  package mutating func nextToDecide() -> Int? { undecided.pop() }

  /// Decide `indices` before any other instance once their dependencies have ended
  /// (the files they read or write changed, so they will most likely run: started
  /// first, their commands overlap the deciding of the rest). Only the order changes:
  /// every instance is still decided, each after its dependencies.
  package mutating func preferForDeciding(_ indices: some Sequence<Int>) {
    var any = false
    for i in indices where i >= 0 && i < preferred.count && inSelection[i] && !preferred[i] {
      preferred[i] = true
      any = true
    }
    guard any else { return }
    var waiting: [Int] = []
    while let i = undecided.pop() { waiting.append(i) }
    for i in waiting { undecided.push(i, priority: decidingPriority(i)) }
  }

  private func decidingPriority(_ i: Int) -> Double { preferred[i] ? .infinity : priority[i] }

  /// `i` must be restored or run: it waits for a job slot.
  package mutating func markReady(_ i: Int) {
    state[i] = .ready
    ready.push(i, priority: priority[i])
  }

  /// Whether some instance is ready (it may still wait for room in its pool).
  package var hasReady: Bool { !ready.isEmpty }

  /// The ready instance on the longest remaining path whose pool has room, now running.
  package mutating func nextToStart() -> Int? {
    while let i = ready.pop() {
      // ninja's depth 0 is no bound; a build file or a forged graph cache saying less
      // must not hold an edge back for ever.
      if let pool = graph[i].pool, let depth = depths[pool], depth > 0 {
        guard inPool[pool, default: 0] < depth else {
          delayed[pool, default: PriorityQueue()].push(i, priority: priority[i])
          continue
        }
        inPool[pool, default: 0] += 1
      }
      state[i] = .running
      return i
    }
    return nil
  }

  /// `i` ended in `end`: its dependents whose last dependency it was can be decided.
  package mutating func finish(_ i: Int, _ end: State) {
    if state[i] == .running, let pool = graph[i].pool, let depth = depths[pool], depth > 0 {
      inPool[pool, default: 1] -= 1
      if let next = delayed[pool]?.pop() { ready.push(next, priority: priority[next]) }
    }
    state[i] = end
    done += 1
    for d in graph.dependents[i] where inSelection[d] {
      pending[d] -= 1
      if pending[d] == 0 { undecided.push(d, priority: decidingPriority(d)) }
    }
  }

  /// `i` will not start (the build is stopping); its dependents are never decided.
  package mutating func abandon(_ i: Int) { state[i] = .notStarted }

  /// A dependency of `i` that failed or was skipped, if any.
  package func brokenDependency(of i: Int) -> Int? {
    graph.dependencies[i].first { state[$0] == .failed || state[$0] == .skipped }
  }

  /// A dependency of `i` that a dry run predicted would restore or run, if any.
  package func predictedDependency(of i: Int) -> Int? {
    graph.dependencies[i].first { state[$0] == .predicted }
  }
}

/// A max-heap of instance indices by priority (ties: lower index first, for stable order).
struct PriorityQueue: Sendable {
  private var heap: [(priority: Double, index: Int)] = []

  var isEmpty: Bool { heap.isEmpty }

  private static func before(_ a: (priority: Double, index: Int), _ b: (priority: Double, index: Int)) -> Bool {
    a.priority != b.priority ? a.priority > b.priority : a.index < b.index
  }

  mutating func push(_ index: Int, priority: Double) {
    heap.append((priority, index))
    var child = heap.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard Self.before(heap[child], heap[parent]) else { break }
      heap.swapAt(child, parent)
      child = parent
    }
  }

  mutating func pop() -> Int? {
    guard !heap.isEmpty else { return nil }
    heap.swapAt(0, heap.count - 1)
    let top = heap.removeLast()
    var parent = 0
    while true {
      let left = 2 * parent + 1, right = left + 1
      var best = parent
      if left < heap.count, Self.before(heap[left], heap[best]) { best = left }
      if right < heap.count, Self.before(heap[right], heap[best]) { best = right }
      if best == parent { break }
      heap.swapAt(parent, best)
      parent = best
    }
    return top.index
  }
}
