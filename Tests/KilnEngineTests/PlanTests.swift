import KilnCore
import KilnEngine
import Testing

/// The plan alone: which instance is decided and started next, with no files, no
/// processes and no clock.
@Suite struct PlanTests {
  func task(_ name: String, deps: [String] = []) -> TaskInstance {
    TaskInstance(id: TaskID(task: name), command: "true", dependencies: deps.map { TaskID(task: $0) })
  }

  /// Decides every undecided instance as "ready", then starts one: the started order.
  func startOrder(_ plan: inout BuildPlan) -> [Int] {
    var started: [Int] = []
    while true {
      while let i = plan.nextToDecide() { plan.markReady(i) }
      guard let i = plan.nextToStart() else { break }
      started.append(i)
      plan.finish(i, .succeeded)
    }
    return started
  }

  @Test func anInstanceIsDecidedOnlyOnceEveryDependencyEnded() throws {
    let graph = try TaskGraph([task("a"), task("b", deps: ["a"]), task("c", deps: ["a", "b"])])
    var plan = try BuildPlan(graph: graph, targets: nil, duration: { _ in nil })
    #expect(plan.nextToDecide() == 0)
    #expect(plan.nextToDecide() == nil, "b and c wait for a")
    plan.finish(0, .succeeded)
    #expect(plan.nextToDecide() == 1)
    #expect(plan.nextToDecide() == nil, "c still waits for b")
    plan.finish(1, .succeeded)
    #expect(plan.nextToDecide() == 2)
    plan.finish(2, .succeeded)
    #expect(plan.done == 3 && plan.total == 3)
  }

  @Test func theLongestRecordedPathStartsFirst() throws {
    // Two chains: slow (10 s recorded) -> tail, and quick alone (1 s).
    let graph = try TaskGraph([task("quick"), task("slow"), task("tail", deps: ["slow"])])
    let recorded: [String: Double] = ["quick": 1, "slow": 10, "tail": 1]
    var plan = try BuildPlan(graph: graph, targets: nil, duration: { recorded[$0.task] })
    #expect(startOrder(&plan) == [1, 0, 2])
    // Unrecorded instances weigh the same: file order decides between equals.
    var unweighted = try BuildPlan(graph: graph, targets: nil, duration: { _ in nil })
    #expect(startOrder(&unweighted) == [1, 0, 2], "the chain slow -> tail is longer by one step")
  }

  @Test func targetsSelectTheirDependencyClosureOnly() throws {
    let graph = try TaskGraph([task("a"), task("b", deps: ["a"]), task("other")])
    var plan = try BuildPlan(graph: graph, targets: ["b"], duration: { _ in nil })
    #expect(plan.total == 2)
    #expect(startOrder(&plan) == [0, 1])
    #expect(throws: BuildError.self) { try BuildPlan(graph: graph, targets: ["nope"], duration: { _ in nil }) }
  }

  @Test func aBrokenOrPredictedDependencyIsNamed() throws {
    let graph = try TaskGraph([task("a"), task("b"), task("c", deps: ["a", "b"])])
    var plan = try BuildPlan(graph: graph, targets: nil, duration: { _ in nil })
    _ = plan.nextToDecide()
    _ = plan.nextToDecide()
    plan.finish(0, .succeeded)
    #expect(plan.brokenDependency(of: 2) == nil)
    plan.finish(1, .failed)
    #expect(plan.brokenDependency(of: 2) == 1)
    #expect(plan.predictedDependency(of: 2) == nil)

    var dry = try BuildPlan(graph: graph, targets: nil, duration: { _ in nil })
    dry.finish(0, .predicted)
    #expect(dry.predictedDependency(of: 2) == 0)
    #expect(dry.brokenDependency(of: 2) == nil)
  }

  @Test func anAbandonedInstanceReleasesNothing() throws {
    let graph = try TaskGraph([task("a"), task("b", deps: ["a"])])
    var plan = try BuildPlan(graph: graph, targets: nil, duration: { _ in nil })
    let next = plan.nextToDecide()
    let first = try #require(next)
    plan.abandon(first)
    #expect(plan.state[first] == .notStarted)
    #expect(plan.nextToDecide() == nil)
    #expect(plan.done == 0)
  }
}
