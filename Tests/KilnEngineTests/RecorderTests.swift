import KilnCore
import KilnEngine
import KilnStore
import KilnTestSupport
import Testing

/// What the driver hands the recorder: records as they are made, one history entry
/// per build, the snapshot; and what a dry run hands it (nothing). No SQLite here.
@Suite struct RecorderTests {
  func copy(_ name: String, _ from: String, _ to: String, deps: [String] = []) -> TaskInstance {
    TaskInstance(id: TaskID(task: name), command: "cat \(from) > \(to)", inputs: [from], outputs: [to],
                 dependencies: deps.map { TaskID(task: $0) })
  }

  @Test func everyBuildLeavesOneHistoryEntryWithItsOutcomes() async throws {
    let h = try EngineHarness()
    h.write("a.txt", "a")
    let graph = [copy("one", "a.txt", "b.txt"), copy("two", "b.txt", "c.txt", deps: ["one"])]
    let cold = try await h.build(graph)
    #expect(cold.ran.count == 2)
    #expect(Set(h.recorder.records.keys) == [TaskID(task: "one"), TaskID(task: "two")])
    let first = try #require(h.recorder.history.last)
    #expect(first.summary.ran == 2)
    #expect(first.outcomes.map(\.task) == ["one", "two"])
    #expect(first.outcomes.allSatisfy { $0.outcome == "ran" && $0.reasonKinds == "never-built" })
    #expect(first.stats.map(\.path).contains("a.txt"), "what was hashed goes to the stat cache")

    h.later()
    let warm = try await h.build(graph)
    #expect(warm.ran.isEmpty)
    let second = try #require(h.recorder.history.last)
    #expect(h.recorder.history.count == 2)
    #expect(second.outcomes.isEmpty, "up-to-date instances have no outcome rows")
    #expect(second.upToDate.map(\.task) == ["one", "two"])
    #expect(second.summary.upToDate == 2)
  }

  @Test func aDryRunWritesNothingAndPredictsDependentsWithoutLooking() async throws {
    let h = try EngineHarness()
    h.write("a.txt", "a")
    let graph = [copy("one", "a.txt", "b.txt"), copy("two", "b.txt", "c.txt", deps: ["one"])]
    _ = try await h.build(graph)
    h.later()
    h.write("a.txt", "changed")
    let records = h.recorder.records
    let dry = try await h.build(graph, dryRun: true)
    #expect(dry.ran.isEmpty, "a dry run runs nothing")
    #expect(h.recorder.history.count == 1, "and records no build")
    #expect(h.recorder.records.map(\.value.key) == records.map(\.value.key))
    #expect(dry.result.wouldRun.map(\.id.task) == ["one", "two"])
    #expect(dry.result.wouldRun[1].reasons == [.dependencyWillRun(TaskID(task: "one"))])
    #expect(h.text("b.txt") == "a", "nothing restored or written")
  }

  @Test func aTaskGoneFromTheGraphLosesItsRecordAndItsOutputs() async throws {
    let h = try EngineHarness()
    h.write("a.txt", "a")
    _ = try await h.build([copy("one", "a.txt", "b.txt"), copy("gone", "a.txt", "old.txt")])
    #expect(h.text("old.txt") == "a")
    h.later()
    _ = try await h.build([copy("one", "a.txt", "b.txt")])
    #expect(h.recorder.records[TaskID(task: "gone")] == nil)
    #expect(h.text("old.txt") == nil, "kiln made it, unchanged since: removed")
  }
}
