import KilnCore
import KilnEngine
import KilnStore
import KilnSystem
import KilnTestSupport
import Testing

/// When the snapshot cannot answer, it says which file it found changed first, for the
/// full build to decide the instances that read it first (`DecideOrderTests`). It stops
/// at that file: the full build judges every file anyway. Sources are written before
/// outputs, so an edited source is found before the outputs are stat'ed.
@Suite struct SnapshotChangeTests {
  var graph: [TaskInstance] { CopyChain.graph }

  func answer(_ h: EngineHarness, changed: inout String?) throws -> NullBuild.Answer? {
    try #require(try CopyChain.nullBuild(h), "the build left no snapshot").answer(targets: nil, workspace: nil, changed: &changed)
  }

  func settled() async throws -> EngineHarness { try await CopyChain.settled() }

  @Test func outputsAreWrittenAfterSources() async throws {
    let h = try await settled()
    let entries = try #require(h.recorder.snapshot).entries
    let late = Set(entries.filter(\.late).map(\.path))
    #expect(late == ["b.txt", "c.txt", "y.txt"], "outputs (b.txt is also an input) come last")
    let sorted = entries.sorted(by: SnapshotEntry.filedBefore).map(\.path)
    #expect(sorted == ["a.txt", "z.txt", "b.txt", "c.txt", "y.txt"])
    let names = ["b", "a/b", "a", "ab", "a0", "\u{e9}", "e", "A"].map { SnapshotEntry(path: $0, stat: nil, observedAt: 0) }
    #expect(names.sorted(by: SnapshotEntry.filedBefore).map(\.path) == ["A", "a", "a/b", "a0", "ab", "b", "e", "\u{e9}"],
            "by path: a folder's names together")
  }

  @Test func theFirstChangedFileIsNamed() async throws {
    let h = try await settled()
    var changed: String?
    #expect(try answer(h, changed: &changed) != nil)
    #expect(changed == nil, "nothing changed, nothing named")

    // Touched, same bytes: still answered, nothing named.
    h.write("z.txt", "zulu")
    h.later()
    #expect(try answer(h, changed: &changed) != nil)
    #expect(changed == nil)

    // Edited: named, whichever other file is touched or edited after it in the file.
    h.write("a.txt", "ALPHA")
    h.write("z.txt", "zulu")
    h.later()
    #expect(try answer(h, changed: &changed) == nil)
    #expect(changed == "a.txt")

    // An edit the stat cannot show (same size, same stat): found by content, named.
    _ = try await h.build(graph, snapshot: SnapshotRequest(expansion: [], warnings: []))
    h.later()
    changed = nil
    #expect(try answer(h, changed: &changed) != nil)
    h.fileSystem.overwriteKeepingStat(Paths.join(h.root, "c.txt"), "XLPHA")
    #expect(try answer(h, changed: &changed) == nil, "an output edited keeping its stat was taken for up to date")
    // c.txt was written by the build just now (recheck): compared by content, named.
    #expect(changed == "c.txt")
    // The full build, told the wrong file or the right one, puts c.txt back.
    let rebuilt = try await h.build(graph, snapshot: SnapshotRequest(expansion: [], warnings: []),
                                    decideFirst: ["z.txt"])
    #expect(rebuilt.result.summary.restored == 1 && h.text("c.txt") == "ALPHA")
  }
}
