import KilnCore
import KilnEngine
import KilnTestSupport
import Testing

/// A depfile the command did not write: a failure for a kiln.yml task, no dependencies
/// where the task allows it (`kiln ninja`, as ninja reads one).
@Suite struct MissingDepfileTests {
  func compile(mayBeMissing: Bool) -> TaskInstance {
    var t = TaskInstance(id: TaskID(task: "cc"), command: "cat a.c > a.o", inputs: ["a.c"], outputs: ["a.o"],
                         depfile: "a.o.d")
    t.depfileMayBeMissing = mayBeMissing
    return t
  }

  @Test func aKilnTaskFailsWhenItsDepfileIsNotWritten() async throws {
    let h = try EngineHarness()
    h.write("a.c", "int a;")
    let r = try await h.build([compile(mayBeMissing: false)])
    #expect(r.result.summary.failed == 1)
  }

  @Test func whereAllowedNoDepfileMeansNoDependencies() async throws {
    let h = try EngineHarness()
    h.write("a.c", "int a;")
    let first = try await h.build([compile(mayBeMissing: true)])
    #expect(first.result.summary.ran == 1 && first.result.summary.failed == 0)
    #expect(h.recorder.records[TaskID(task: "cc")]?.discovered.isEmpty == true)
    h.later()
    #expect(try await h.build([compile(mayBeMissing: true)]).ran.isEmpty, "and it is up to date after")
  }
}
