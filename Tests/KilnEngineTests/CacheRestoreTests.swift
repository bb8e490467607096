import KilnCore
import KilnEngine
import KilnSystem
import KilnTestSupport
import Synchronization
import Testing

@Suite struct CacheRestoreTests {
  static let compile = TaskInstance(
    id: TaskID(task: "compile", item: "src/a.c"), command: "cc src/a.c > build/a.o deps build/a.d inc/a.h",
    inputs: ["src/a.c"], outputs: ["build/a.o"], depfile: "build/a.d")

  @Test func anotherWorkspaceAtAnotherPathRestoresEverything() async throws {
    let one = try EngineHarness(root: "/one")
    one.write("src/a.c", "int a;\n")
    one.write("inc/a.h", "#define A\n")
    one.later()
    #expect(try await one.build([Self.compile]).ran.count == 1)

    let two = try EngineHarness(root: "/two", sharing: one)
    two.write("src/a.c", "int a;\n")
    two.write("inc/a.h", "#define A\n")
    two.later()
    let restored = try await two.build([Self.compile])
    #expect(restored.ran == [])
    #expect(restored.result.summary.restored == 1)
    #expect(two.text("build/a.o") == one.text("build/a.o"))
  }

  @Test func anOutputHoldingTheWorkspacePathIsNeverRestoredElsewhere() async throws {
    let task = TaskInstance(id: TaskID(task: "where"), command: "pwd > where.txt", outputs: ["where.txt"])
    let one = try EngineHarness(root: "/one")
    _ = try await one.build([task])
    #expect(one.text("where.txt") == "/one\n")
    let two = try EngineHarness(root: "/two", sharing: one)
    let elsewhere = try await two.build([task])
    #expect(elsewhere.ran == ["pwd > where.txt"])
    #expect(elsewhere.result.reports.first?.reasons == [.neverBuilt, .pathDependentOutput("/one")])
    #expect(two.text("where.txt") == "/two\n")
    // At its own path the entry is fine: deleting the output restores it there.
    try one.fileSystem.remove("/one/where.txt")
    let home = try await one.build([task])
    #expect(home.ran == [])
    #expect(one.text("where.txt") == "/one\n")
  }

  @Test func depfileInputsAreASecondLevelKey() async throws {
    let h = try EngineHarness()
    h.write("src/a.c", "int a;\n")
    h.write("inc/a.h", "#define A 1\n")
    h.later()
    _ = try await h.build([Self.compile])
    // Same primary key (command, src), different header: a miss, not a wrong restore.
    h.write("inc/a.h", "#define A 2\n")
    h.later()
    #expect(try await h.build([Self.compile]).ran.count == 1)
    #expect(h.text("build/a.o") == "int a;\n#define A 2\n")
    // Back to the first header: both entries are stored, so this one restores.
    h.write("inc/a.h", "#define A 1\n")
    h.later()
    let back = try await h.build([Self.compile])
    #expect(back.ran == [])
    #expect(back.result.summary.restored == 1)
    #expect(h.text("build/a.o") == "int a;\n#define A 1\n")
  }

  @Test func noCacheNeitherRestoresNorStores() async throws {
    let h = try EngineHarness()
    h.write("src/a.c", "int a;\n")
    h.write("inc/a.h", "#define A 1\n")
    h.later()
    _ = try await h.build([Self.compile], useCache: false)
    #expect(h.fileSystem.allFiles(under: "/cache").isEmpty)
    try h.fileSystem.remove("/ws/build/a.o")
    #expect(try await h.build([Self.compile], useCache: false).ran.count == 1)
  }

  @Test func restoredTaskReplaysItsOutput() async throws {
    let h = try EngineHarness()
    let task = TaskInstance(id: TaskID(task: "t"), command: "print hello && echo x > t.txt", outputs: ["t.txt"])
    let first = try await h.build([task])
    #expect(first.result.reports.first?.stdout == Array("hello\n".utf8))
    try h.fileSystem.remove("/ws/t.txt")
    let again = try await h.build([task])
    #expect(again.ran == [])
    #expect(again.result.reports.first?.stdout == Array("hello\n".utf8))
  }

  @Test func inputEditedDuringTheRunIsNotCached() async throws {
    let h = try EngineHarness()
    h.write("in.txt", "v1\n")
    h.later()
    let task = TaskInstance(id: TaskID(task: "t"), command: "cat in.txt > out.txt", inputs: ["in.txt"], outputs: ["out.txt"])
    let fs = h.fileSystem
    h.runner.duringRun = { _ in fs.write("/ws/in.txt", "v2\n") }
    let warnings = WarningCollector()
    _ = try await h.build([task], observer: warnings)
    #expect(warnings.messages.count == 1)
    #expect(warnings.messages.first?.contains("changed while the task ran") == true)
    #expect(h.fileSystem.allFiles(under: "/cache/actions").isEmpty)
    h.runner.duringRun = nil
    h.later()
    #expect(try await h.build([task]).ran == ["cat in.txt > out.txt"])
  }
}

extension CacheRestoreTests {
  /// B's key is computed when B becomes ready; with one job slot it then waits while A
  /// runs, and A edits B's input. B reads the new bytes under the old key: its result
  /// must not be cached, or restoring the old input would bring back the new output.
  @Test func inputEditedWhileWaitingForASlotIsNotCached() async throws {
    let h = try EngineHarness()
    h.write("a.txt", "a1\n")
    h.write("b.txt", "b1\n")
    h.later()
    let a = TaskInstance(id: TaskID(task: "a"), command: "cat a.txt > outa.txt", inputs: ["a.txt"], outputs: ["outa.txt"])
    let b = TaskInstance(id: TaskID(task: "b"), command: "cat b.txt > outb.txt", inputs: ["b.txt"], outputs: ["outb.txt"])
    let fs = h.fileSystem
    h.runner.duringRun = { invocation in
      if invocation.command.hasPrefix("cat a.txt") { fs.write("/ws/b.txt", "b2\n") }
    }
    let warnings = WarningCollector()
    let first = try await h.build([a, b], jobs: 1, observer: warnings)
    #expect(first.ran == ["cat a.txt > outa.txt", "cat b.txt > outb.txt"])
    #expect(warnings.messages.contains { $0.contains("input b.txt changed while the task ran") })
    h.runner.duringRun = nil
    h.later()
    h.write("b.txt", "b1\n")
    try h.fileSystem.remove("/ws/outb.txt")
    h.later()
    let second = try await h.build([a, b], jobs: 1)
    #expect(second.ran == ["cat b.txt > outb.txt"])
    #expect(h.text("outb.txt") == "b1\n")
  }
}

final class WarningCollector: BuildObserver {
  var messages: [String] = []
  func buildStarted(total: Int) {}
  func taskStarted(_ instance: TaskInstance, reasons: [RerunReason]) {}
  func taskFinished(_ report: TaskReport, done: Int, total: Int) {}
  func warning(_ message: String) { messages.append(message) }
}

extension CacheRestoreTests {
  /// The build loop checks a result's declared inputs once what it let start has
  /// started (`JobResult.inputCheck`). A result found changed then is neither recorded
  /// nor stored, and the machine-wide claim on its action is let go (a process waiting
  /// for that action would otherwise wait for a store that never comes); one found
  /// unchanged is stored and its claim let go after the store. (Not a dependent here:
  /// on the fake clock, a file written by one command and read at once by the next is
  /// too recent to trust its stat, so the dependent is never cached.)
  @Test func aResultCheckedByTheLoopReleasesItsClaimEitherWay() async throws {
    let h = try EngineHarness()
    let limits = CountingClaims()
    h.limits = limits
    h.write("in.txt", "v1\n")
    h.write("other.txt", "o\n")
    h.later()
    let a = TaskInstance(id: TaskID(task: "a"), command: "cat in.txt > a.txt", inputs: ["in.txt"], outputs: ["a.txt"])
    let b = TaskInstance(id: TaskID(task: "b"), command: "cat other.txt > b.txt", inputs: ["other.txt"], outputs: ["b.txt"])
    let fs = h.fileSystem
    h.runner.duringRun = { invocation in
      if invocation.command.hasPrefix("cat in.txt") { fs.write("/ws/in.txt", "v2\n") }
    }
    let warnings = WarningCollector()
    let first = try await h.build([a, b], observer: warnings)
    #expect(first.ran == ["cat in.txt > a.txt", "cat other.txt > b.txt"])
    #expect(warnings.messages == ["a: input in.txt changed while the task ran; its result is not cached"])
    #expect(limits.claimed == 2)
    #expect(limits.released == 2)
    #expect(h.recorder.records[TaskID(task: "a")] == nil)
    #expect(h.recorder.records[TaskID(task: "b")] != nil)
    // Only b's entry is in the cache: a runs again, b is up to date.
    h.runner.duringRun = nil
    h.later()
    let second = try await h.build([a, b])
    #expect(second.ran == ["cat in.txt > a.txt"])
    #expect(limits.claimed == 3)
    #expect(limits.released == 3)
    #expect(h.recorder.records[TaskID(task: "a")] != nil)
  }
}

/// Machine limits that hold nothing but count the claims taken and let go.
final class CountingClaims: MachineLimits {
  private let counts = Mutex((claimed: 0, released: 0))
  var claimed: Int { counts.withLock { $0.claimed } }
  var released: Int { counts.withLock { $0.released } }
  func acquireSlot(expectedMemory: Int64?) async -> JobSlot? { JobSlot(index: 0) }
  func release(_ slot: JobSlot) {}
  func claimAction(_ key: Digest) async -> ActionClaim? {
    counts.withLock { $0.claimed += 1 }
    return ActionClaim(key: key, waited: false)
  }
  func release(_ claim: ActionClaim) { counts.withLock { $0.released += 1 } }
}
