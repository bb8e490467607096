import KilnCore
import KilnEngine
import KilnTestSupport
import Testing

@Suite struct SchedulerTests {
  func task(_ name: String, _ command: String, inputs: [String] = [], outputs: [String] = [], deps: [String] = []) -> TaskInstance {
    TaskInstance(id: TaskID(task: name), command: command, inputs: inputs, outputs: outputs,
                 dependencies: deps.map { TaskID(task: $0) })
  }

  @Test func dependenciesRunFirstAndLongestPathGoesFirst() async throws {
    let h = try EngineHarness()
    // Chain c1 -> c2 -> c3 is longer than the lone task `solo`: with one job slot the
    // chain's head starts first, even though `solo` comes first in the file. Once only
    // c3 remains of the chain, c3 and solo have equal paths and file order decides.
    let graph = [
      task("solo", "echo s > solo.txt", outputs: ["solo.txt"]),
      task("c1", "echo 1 > c1.txt", outputs: ["c1.txt"]),
      task("c2", "cat c1.txt > c2.txt", inputs: ["c1.txt"], outputs: ["c2.txt"], deps: ["c1"]),
      task("c3", "cat c2.txt > c3.txt", inputs: ["c2.txt"], outputs: ["c3.txt"], deps: ["c2"]),
    ]
    let cold = try await h.build(graph)
    #expect(cold.ran == ["echo 1 > c1.txt", "cat c1.txt > c2.txt", "echo s > solo.txt", "cat c2.txt > c3.txt"])
  }

  @Test func failureStopsTheBuildAndStoresNothing() async throws {
    let h = try EngineHarness()
    let graph = [
      task("bad", "fail", outputs: ["bad.txt"]),
      task("after", "cat bad.txt > after.txt", inputs: ["bad.txt"], outputs: ["after.txt"], deps: ["bad"]),
    ]
    let first = try await h.build(graph)
    #expect(first.ran == ["fail"])
    #expect(first.result.summary.failed == 1)
    // Without -k the build stops: the dependent is neither run nor counted.
    #expect(first.result.summary.skipped == 0)
    #expect(first.result.reports.count == 1)
    #expect(first.result.summary.exitStatus == 1)
    #expect(h.fileSystem.allFiles(under: "/cache/actions").isEmpty)
    // Nothing was recorded: the failing task runs again.
    #expect(try await h.build(graph).ran == ["fail"])
  }

  @Test func keepGoingRunsIndependentTasks() async throws {
    let h = try EngineHarness()
    let graph = [
      task("bad", "fail", outputs: ["bad.txt"]),
      task("dependent", "cat bad.txt > d.txt", inputs: ["bad.txt"], outputs: ["d.txt"], deps: ["bad"]),
      task("good", "echo g > good.txt", outputs: ["good.txt"]),
    ]
    let stop = try await h.build(graph, jobs: 1)
    #expect(stop.ran == ["fail"])
    let keepGoing = try await h.build(graph, jobs: 1, keepGoing: true)
    #expect(keepGoing.ran == ["fail", "echo g > good.txt"])
    #expect(keepGoing.result.summary.skipped == 1)
    #expect(keepGoing.result.summary.exitStatus == 1)
  }

  @Test func missingDeclaredOutputFails() async throws {
    let h = try EngineHarness()
    let result = try await h.build([task("t", "echo x > other.txt", outputs: ["wanted.txt"])])
    #expect(result.result.reports.first?.outcome == .failed(.missingOutput("wanted.txt")))
  }

  @Test func targetsSelectTheirClosureOnly() async throws {
    let h = try EngineHarness()
    let graph = [
      task("a", "echo a > a.txt", outputs: ["a.txt"]),
      task("b", "cat a.txt > b.txt", inputs: ["a.txt"], outputs: ["b.txt"], deps: ["a"]),
      task("c", "echo c > c.txt", outputs: ["c.txt"]),
    ]
    #expect(try await h.build(graph, targets: ["b"]).ran == ["echo a > a.txt", "cat a.txt > b.txt"])
    await #expect(throws: BuildError.self) { try await h.build(graph, targets: ["nope"]) }
  }

  @Test func parallelJobsAllComplete() async throws {
    let h = try EngineHarness()
    var graph: [TaskInstance] = []
    for i in 0..<20 { graph.append(task("t\(i)", "echo \(i) > out/\(i).txt", outputs: ["out/\(i).txt"])) }
    graph.append(TaskInstance(id: TaskID(task: "all"), command: "cat " + (0..<20).map { "out/\($0).txt" }.joined(separator: " ") + " > all.txt",
                              inputs: (0..<20).map { "out/\($0).txt" }, outputs: ["all.txt"],
                              dependencies: (0..<20).map { TaskID(task: "t\($0)") }))
    let cold = try await h.build(graph, jobs: 4)
    #expect(cold.ran.count == 21)
    #expect(cold.ran.last?.hasPrefix("cat ") == true)
    #expect(h.text("all.txt") == (0..<20).map(String.init).joined())
    #expect(try await h.build(graph, jobs: 4).ran == [])
  }

  @Test func dryRunRunsNothingAndListsWhatWould() async throws {
    let h = try EngineHarness()
    let graph = [task("a", "echo a > a.txt", outputs: ["a.txt"]),
                 task("b", "cat a.txt > b.txt", inputs: ["a.txt"], outputs: ["b.txt"], deps: ["a"])]
    let dry = try await h.build(graph, dryRun: true)
    #expect(dry.ran == [])
    #expect(dry.result.wouldRun.map(\.id.task) == ["a", "b"])
    #expect(!h.fileSystem.exists("/ws/a.txt"))
  }
}
