import KilnCore
import KilnEngine
import KilnTestSupport
import Synchronization
import Testing

/// The loop decides instances in the order they would start and starts a command as
/// soon as its instance is decided; files known to have changed (`decideFirst`, the
/// snapshot's first find) put the instances that read or write them first. These are
/// orders only: every verdict is still the rebuilder's, so a wrong or partial hint
/// must never make an instance up to date that is not, nor run one that is.
@Suite struct DecideOrderTests {
  static let names = ["a", "b", "c", "d"]
  static let link = "cat build/a.o build/b.o build/c.o build/d.o > app"

  func compile(_ name: String) -> TaskInstance {
    TaskInstance(id: TaskID(task: "compile", item: "src/\(name).c"), command: "cat src/\(name).c > build/\(name).o",
                 inputs: ["src/\(name).c"], outputs: ["build/\(name).o"])
  }

  var graph: [TaskInstance] {
    var all = Self.names.map(compile)
    all.append(TaskInstance(id: TaskID(task: "link"), command: Self.link,
                            inputs: Self.names.map { "build/\($0).o" }, outputs: ["app"],
                            dependencies: all.map(\.id)))
    return all
  }

  func settled() async throws -> EngineHarness {
    let h = try EngineHarness()
    for name in Self.names { h.write("src/\(name).c", name) }
    _ = try await h.build(graph)
    h.later()
    #expect(try await h.build(graph).ran.isEmpty)
    return h
  }

  /// With one job slot, the instance that reads the changed file starts before any
  /// other, whatever its place in the graph.
  @Test func theInstanceReadingAChangedFileIsDecidedAndStartedFirst() async throws {
    let h = try await settled()
    h.write("src/c.c", "c2")
    h.write("src/a.c", "a2")
    h.later()
    let hinted = try await h.build(graph, decideFirst: ["src/c.c"])
    #expect(hinted.ran == ["cat src/c.c > build/c.o", "cat src/a.c > build/a.o", Self.link])
    #expect(hinted.result.summary.ran == 3 && hinted.result.summary.upToDate == 2)
    #expect(h.text("app") == "a2bc2d")
    h.write("src/c.c", "c3")
    h.write("src/a.c", "a3")
    h.later()
    let other = try await h.build(graph, decideFirst: ["src/a.c"])
    #expect(other.ran == ["cat src/a.c > build/a.o", "cat src/c.c > build/c.o", Self.link])
  }

  /// A hint that names a file nothing changed in, or only one of two edits, changes
  /// nothing but the order: the named instance stays up to date, the edit the hint
  /// missed (found later by the full build) still runs, as an unhinted build would.
  @Test func aHintIsNeverAVerdict() async throws {
    let h = try await settled()
    h.write("src/b.c", "b2")
    h.later()
    let hinted = try await h.build(graph, decideFirst: ["src/d.c", "no/such/file"])
    #expect(hinted.ran == ["cat src/b.c > build/b.o", Self.link])
    #expect(h.text("app") == "ab2cd")
    h.later()
    #expect(try await h.build(graph, decideFirst: ["src/b.c"]).ran.isEmpty, "nothing changed: nothing runs")
    // An edit with the same size, which only its content tells; the hint names another file.
    h.write("src/a.c", "A")
    h.later()
    let sameSize = try await h.build(graph, decideFirst: ["src/c.c"])
    #expect(sameSize.ran == ["cat src/a.c > build/a.o", Self.link])
    #expect(h.text("app") == "Ab2cd")
  }

  /// A header named only by the last run's depfile: the instance whose record
  /// discovered it is decided first, and only it reruns.
  @Test func aChangedHeaderPutsItsIncludersFirst() async throws {
    let h = try EngineHarness()
    func cc(_ name: String, _ header: String) -> TaskInstance {
      var t = TaskInstance(id: TaskID(task: "compile", item: "src/\(name).c"),
                           command: "cc src/\(name).c > build/\(name).o deps build/\(name).d inc/\(header).h",
                           inputs: ["src/\(name).c"], outputs: ["build/\(name).o"])
      t.depfile = "build/\(name).d"
      return t
    }
    let graph = [cc("a", "x"), cc("b", "y"), cc("c", "x")]
    for name in ["a", "b", "c"] { h.write("src/\(name).c", name) }
    h.write("inc/x.h", "1")
    h.write("inc/y.h", "1")
    _ = try await h.build(graph)
    h.later()
    h.write("inc/x.h", "2")
    h.later()
    let hinted = try await h.build(graph, decideFirst: ["inc/x.h"])
    #expect(Set(hinted.ran) == ["cc src/a.c > build/a.o deps build/a.d inc/x.h",
                                "cc src/c.c > build/c.o deps build/c.d inc/x.h"])
    h.write("inc/y.h", "2")
    h.later()
    #expect(try await h.build(graph, decideFirst: ["inc/x.h"]).ran == ["cc src/b.c > build/b.o deps build/b.d inc/y.h"])
  }

  /// A command starts as soon as its instance is decided, before the rest are: on the
  /// loop's thread (`ChildWatcher`) the job it started ran only once the loop let go of
  /// the thread, which it did only after deciding every other instance (an edit build
  /// of 400 units decided 416 instances up to date before it started its one compile).
  @Test func aDecidedCommandStartsBeforeTheRestAreDecided() async throws {
    let names = (0..<20).map { "u\($0)" }
    let graph = names.map(compile)
    let h = try EngineHarness()
    for name in names { h.write("src/\(name).c", name) }
    _ = try await h.build(graph)
    h.later()
    h.write("src/u7.c", "u7 edited")
    h.later()
    let counter = UpToDateCounter()
    let decidedWhenItRan = Mutex<Int?>(nil)
    h.runner.atStart = { _ in decidedWhenItRan.withLock { $0 = counter.count } }
    let edit = try await h.build(graph, jobs: 2, decideFirst: ["src/u7.c"], observer: counter)
    #expect(edit.ran == ["cat src/u7.c > build/u7.o"])
    #expect(edit.result.summary.upToDate == 19)
    let decided = try #require(decidedWhenItRan.withLock { $0 })
    #expect(decided < 19, "the command ran after \(decided) of the 19 other instances were decided")
  }
}

/// Counts the instances found up to date, as the loop reports them.
private final class UpToDateCounter: BuildObserver, @unchecked Sendable {
  private let upToDate = Mutex(0)
  var count: Int { upToDate.withLock { $0 } }
  func buildStarted(total: Int) {}
  func taskStarted(_ instance: TaskInstance, reasons: [RerunReason]) {}
  func taskFinished(_ report: TaskReport, done: Int, total: Int) {
    if report.outcome == .upToDate { upToDate.withLock { $0 += 1 } }
  }
  func warning(_ message: String) {}
}
