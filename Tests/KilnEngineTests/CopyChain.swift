import KilnCore
import KilnEngine
import KilnStore
import KilnTestSupport

/// The graph the snapshot tests build: `one` copies a.txt to b.txt, `two` b.txt to
/// c.txt after it, `three` z.txt to y.txt, each with `cat`.
enum CopyChain {
  static func copy(_ name: String, _ from: String, _ to: String, deps: [String] = []) -> TaskInstance {
    TaskInstance(id: TaskID(task: name), command: "cat \(from) > \(to)", inputs: [from], outputs: [to],
                 dependencies: deps.map { TaskID(task: $0) })
  }

  static var graph: [TaskInstance] {
    [copy("one", "a.txt", "b.txt"), copy("two", "b.txt", "c.txt", deps: ["one"]), copy("three", "z.txt", "y.txt")]
  }

  /// A harness with the sources written and built once, with a snapshot, time moved on.
  static func settled() async throws -> EngineHarness {
    let h = try EngineHarness()
    h.write("a.txt", "alpha")
    h.write("z.txt", "zulu")
    h.later()
    _ = try await h.build(graph, snapshot: SnapshotRequest(expansion: [], warnings: []))
    h.later()
    return h
  }

  /// The null build of `h`'s last snapshot, filed as `ManifestRecorder` files it (by
  /// path, outputs last); nil when `h` has none.
  static func nullBuild(_ h: EngineHarness) throws -> NullBuild? {
    let layout = StateLayout(root: h.root)
    try h.fileSystem.createDirectories(layout.folder)
    guard var snapshot = h.recorder.snapshot else { return nil }
    snapshot.entries.sort(by: SnapshotEntry.filedBefore)
    try h.fileSystem.writeAtomically(snapshot.encode(), to: layout.snapshot, permissions: 0o644)
    return NullBuild(layout: layout, fileSystem: h.fileSystem, clock: h.fileSystem.clock, environment: [:])
  }
}
