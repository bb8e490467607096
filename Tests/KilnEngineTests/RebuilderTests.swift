import KilnCore
import KilnEngine
import KilnTestSupport
import Testing

/// The up to date / restored / ran decision, shaped like ninja's build_test.cc: build,
/// assert exactly what ran, change one thing, assert exactly what reran, null build.
@Suite struct RebuilderTests {
  static func compile(_ name: String, headers: [String] = []) -> TaskInstance {
    TaskInstance(id: TaskID(task: "compile", item: "src/\(name).c"),
                 command: "cc src/\(name).c > build/\(name).o deps build/\(name).d" + headers.map { " " + $0 }.joined(),
                 inputs: ["src/\(name).c"], outputs: ["build/\(name).o"], depfile: "build/\(name).d")
  }

  static let link = TaskInstance(id: TaskID(task: "link"), command: "cat build/a.o build/b.o > app",
                                 inputs: ["build/a.o", "build/b.o"], outputs: ["app"],
                                 dependencies: [TaskID(task: "compile", item: "src/a.c"), TaskID(task: "compile", item: "src/b.c")])

  static var graph: [TaskInstance] { [compile("a", headers: ["inc/a.h"]), compile("b", headers: ["inc/b.h"]), link] }

  func project() throws -> EngineHarness {
    let h = try EngineHarness()
    h.write("src/a.c", "int a;\n")
    h.write("src/b.c", "int b;\n")
    h.write("inc/a.h", "#define A 1\n")
    h.write("inc/b.h", "#define B 1\n")
    h.later()
    return h
  }

  @Test func coldBuildRunsEverythingThenNullBuildRunsNothing() async throws {
    let h = try project()
    let cold = try await h.build(Self.graph)
    #expect(cold.ran == [
      "cc src/a.c > build/a.o deps build/a.d inc/a.h",
      "cc src/b.c > build/b.o deps build/b.d inc/b.h",
      "cat build/a.o build/b.o > app",
    ])
    #expect(h.text("app") == "int a;\n#define A 1\nint b;\n#define B 1\n")
    h.later()
    let null = try await h.build(Self.graph)
    #expect(null.ran == [])
    #expect(null.result.summary.upToDate == 3)
    #expect(null.result.summary.hitRate == 1)
  }

  @Test func headerEditRerunsOnlyItsDependents() async throws {
    let h = try project()
    _ = try await h.build(Self.graph)
    h.later()
    h.write("inc/b.h", "#define B 2\n")
    h.later()
    let edit = try await h.build(Self.graph, observer: SilentObserver())
    #expect(edit.ran == ["cc src/b.c > build/b.o deps build/b.d inc/b.h", "cat build/a.o build/b.o > app"])
    let reasons = edit.result.reports.first { $0.id.item == "src/b.c" }?.reasons
    #expect(reasons == [.discoveredInputChanged("inc/b.h")])
    h.later()
    #expect(try await h.build(Self.graph).ran == [])
  }

  @Test func touchWithoutContentChangeRunsNothing() async throws {
    let h = try project()
    _ = try await h.build(Self.graph)
    h.later()
    h.fileSystem.setModified("/ws/src/a.c")
    h.fileSystem.setModified("/ws/inc/b.h")
    h.later()
    #expect(try await h.build(Self.graph).ran == [])
  }

  @Test func changedSourceNamesThePathAndEarlyCutoffStopsIdenticalOutputs() async throws {
    let h = try project()
    let upper = TaskInstance(id: TaskID(task: "copy"), command: "cat src/a.c > gen/a.txt", inputs: ["src/a.c"], outputs: ["gen/a.txt"])
    let lower = TaskInstance(id: TaskID(task: "use"), command: "cat gen/a.txt > out.txt", inputs: ["gen/a.txt"], outputs: ["out.txt"],
                             dependencies: [TaskID(task: "copy")])
    _ = try await h.build([upper, lower])
    h.later()
    h.write("src/a.c", "int A;\n")
    h.later()
    let changed = try await h.build([upper, lower])
    #expect(changed.ran == ["cat src/a.c > gen/a.txt", "cat gen/a.txt > out.txt"])
    #expect(changed.result.reports.first { $0.id.task == "copy" }?.reasons == [.inputChanged("src/a.c")])
    // A rerun whose output is byte-identical: the dependent stays up to date.
    let rerun = TaskInstance(id: upper.id, command: "cat src/a.c > gen/a.txt && print again", inputs: upper.inputs, outputs: upper.outputs)
    h.later()
    let cutoff = try await h.build([rerun, lower])
    #expect(cutoff.ran == ["cat src/a.c > gen/a.txt && print again"])
    #expect(cutoff.result.reports.first { $0.id.task == "copy" }?.reasons == [.commandChanged])
    #expect(cutoff.result.summary.upToDate == 1)
  }

  @Test func modifiedOrMissingOutputIsRestoredNotRun() async throws {
    let h = try project()
    _ = try await h.build(Self.graph)
    h.later()
    try h.fileSystem.remove("/ws/app")
    h.write("build/a.o", "tampered\n")
    h.later()
    let fixed = try await h.build(Self.graph)
    #expect(fixed.ran == [])
    #expect(fixed.result.summary.restored == 2)
    #expect(h.text("app") == "int a;\n#define A 1\nint b;\n#define B 1\n")
    #expect(h.text("build/a.o") == "int a;\n#define A 1\n")
  }

  @Test func racyCleanFileIsHashedAgain() async throws {
    let h = try project()
    let copy = TaskInstance(id: TaskID(task: "copy"), command: "cat src/a.c > out.txt", inputs: ["src/a.c"], outputs: ["out.txt"])
    h.write("src/a.c", "one\n")  // written at the very moment of the build: racy
    _ = try await h.build([copy])
    // Same size, same mtime, same inode: only the racy rule can notice.
    h.fileSystem.overwriteKeepingStat("/ws/src/a.c", "two\n")
    h.later()
    let second = try await h.build([copy])
    #expect(second.ran == ["cat src/a.c > out.txt"])
    #expect(h.text("out.txt") == "two\n")
  }

  @Test func envAndAlwaysAreReasons() async throws {
    let h = try project()
    var task = TaskInstance(id: TaskID(task: "t"), command: "echo x > t.txt", outputs: ["t.txt"],
                            environment: [EnvironmentVariable("MODE", "fast")])
    _ = try await h.build([task])
    task.environment = [EnvironmentVariable("MODE", "slow")]
    let env = try await h.build([task])
    #expect(env.result.reports.first?.reasons == [.environmentChanged("MODE")])
    #expect(env.result.summary.ran == 1)
    task.always = true
    task.cache = false
    let always = try await h.build([task])
    #expect(always.ran == ["echo x > t.txt"])
    #expect(always.result.reports.first?.reasons == [.always, .cacheDisabled])
  }

  @Test func hashEnvValueIsPartOfTheKey() async throws {
    let h = try project()
    let task = TaskInstance(id: TaskID(task: "t"), command: "echo x > t.txt", outputs: ["t.txt"], hashEnvironment: ["TARGET"])
    h.environment["TARGET"] = "arm"
    _ = try await h.build([task])
    #expect(try await h.build([task]).ran == [])
    h.environment["TARGET"] = "x86"
    let changed = try await h.build([task])
    #expect(changed.ran == ["echo x > t.txt"])
    #expect(changed.result.reports.first?.reasons == [.environmentChanged("TARGET")])
  }

  @Test func aCommandKeptOutOfTheKeyRerunsForItsInputsAlone() async throws {
    // ninja's generator edges: a new command line alone does not rebuild them.
    let h = try project()
    var task = TaskInstance(id: TaskID(task: "regen"), command: "cat src/a.c > gen.txt", inputs: ["src/a.c"],
                            outputs: ["gen.txt"], cache: false)
    task.commandInKey = false
    _ = try await h.build([task])
    task.command = "cat src/a.c src/b.c > gen.txt"
    #expect(try await h.build([task]).ran == [])
    h.write("src/a.c", "int a2;\n")
    h.later()
    let edited = try await h.build([task])
    #expect(edited.ran == ["cat src/a.c src/b.c > gen.txt"])
    #expect(edited.result.reports.first?.reasons == [.inputChanged("src/a.c"), .cacheDisabled])
  }
  /// Why a task with several inputs runs again: each input that changed, in the task's
  /// order (compared pairwise while the paths are the same), one added, one removed.
  @Test func everyChangedAddedOrRemovedInputIsNamed() async throws {
    let h = try project()
    h.write("src/c.c", "int c;\n")
    func joined(_ inputs: [String]) -> TaskInstance {
      TaskInstance(id: TaskID(task: "join"), command: "cat " + inputs.joined(separator: " ") + " > all.txt",
                   inputs: inputs, outputs: ["all.txt"])
    }
    let three = joined(["src/a.c", "src/b.c", "src/c.c"])
    _ = try await h.build([three])
    h.later()
    h.write("src/c.c", "int C;\n")
    h.write("src/a.c", "int A;\n")
    h.later()
    let edited = try await h.build([three])
    #expect(edited.result.reports.first?.reasons == [.inputChanged("src/a.c"), .inputChanged("src/c.c")])
    h.later()
    let four = joined(["src/a.c", "src/b.c", "src/c.c", "inc/a.h"])
    let added = try await h.build([four])
    #expect(added.result.reports.first?.reasons.contains(.inputAdded("inc/a.h")) == true)
    h.later()
    let two = joined(["src/a.c", "src/c.c"])
    let removed = try await h.build([two])
    #expect(removed.result.reports.first?.reasons.contains(.inputRemoved("src/b.c")) == true)
  }
}
