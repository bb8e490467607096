import KilnCore
import KilnEngine
import KilnHash
import KilnStore
import KilnSystem
import KilnTestSupport
import Testing

/// A build that ran tasks leaves a snapshot although the outputs it just wrote are
/// racy (their stat cannot show an edit made within the file system's timestamp
/// granularity): such entries, and listed folders and inputs likewise too recent, are
/// marked to be compared by content, and the null build compares them every time until
/// their stat can be trusted. An edit that keeps the stat (`overwriteKeepingStat`, what
/// a coarse timestamp hides) must never be answered "up to date".
@Suite struct SnapshotRecheckTests {
  func copy(_ name: String, _ from: String, _ to: String, deps: [String] = []) -> TaskInstance {
    TaskInstance(id: TaskID(task: name), command: "cat \(from) > \(to)", inputs: [from], outputs: [to],
                 dependencies: deps.map { TaskID(task: $0) })
  }

  var graph: [TaskInstance] { [copy("one", "a.txt", "b.txt"), copy("two", "b.txt", "c.txt", deps: ["one"])] }

  /// The null build's answer from the snapshot the last build left (written where
  /// `NullBuild` reads it).
  func answer(_ h: EngineHarness) throws -> NullBuild.Answer? {
    let layout = StateLayout(root: h.root)
    try h.fileSystem.createDirectories(layout.folder)
    let snapshot = try #require(h.recorder.snapshot, "the build left no snapshot")
    try h.fileSystem.writeAtomically(snapshot.encode(), to: layout.snapshot, permissions: 0o644)
    return NullBuild(layout: layout, fileSystem: h.fileSystem, clock: h.fileSystem.clock, environment: [:])
      .answer(targets: nil, workspace: nil)
  }

  /// A harness holding a.txt and `path`, old enough to trust, and what `look` (given an
  /// observing file system and the root) saw, as the snapshot's expansion entries.
  func expansion(writing path: String, _ text: String, _ look: (ObservingFileSystem, String) -> Void) throws
    -> (EngineHarness, [SnapshotEntry])
  {
    let h = try EngineHarness()
    h.write("a.txt", "alpha")
    h.write(path, text)
    h.later()
    let observing = ObservingFileSystem(h.fileSystem, clock: h.fileSystem.clock)
    look(observing, h.root)
    return (h, observing.looks.map { SnapshotEntry($0, in: h.root) })
  }

  func entry(_ h: EngineHarness, _ path: String) -> SnapshotEntry? {
    h.recorder.snapshot?.entries.first { $0.path == path }
  }

  @Test func outputsJustWrittenAreComparedByContent() async throws {
    let h = try EngineHarness()
    h.write("a.txt", "alpha")
    h.later()
    let built = try await h.build(graph, snapshot: SnapshotRequest(expansion: [], warnings: []))
    #expect(built.ran.count == 2)
    // Each command wrote its output just before it was hashed.
    #expect(entry(h, "b.txt")?.recheck == true)
    #expect(entry(h, "c.txt")?.recheck == true)
    #expect(entry(h, "a.txt")?.recheck == false, "an input older than the window is trusted by its stat")

    let same = try #require(try answer(h), "unchanged outputs answer")
    #expect(same.rechecked == 2)
    #expect(same.touched == 0)
    #expect(same.entry.summary.upToDate == 2)

    // The same bytes count, the same stat: only the content tells.
    h.fileSystem.overwriteKeepingStat(Paths.join(h.root, "c.txt"), "ALPHA")
    #expect(try answer(h) == nil, "an output edited within its racy window was taken for up to date")
    let rebuilt = try await h.build(graph, snapshot: SnapshotRequest(expansion: [], warnings: []))
    #expect(rebuilt.result.summary.restored == 1, "the full build puts the output back")
    #expect(h.text("c.txt") == "alpha")
  }

  @Test func anInputEditedWithinItsRacyWindowIsSeen() async throws {
    let h = try EngineHarness()
    h.write("a.txt", "alpha")
    // Hashed at once: its stat is as recent as the edit.
    _ = try await h.build(graph, snapshot: SnapshotRequest(expansion: [], warnings: []))
    #expect(entry(h, "a.txt")?.recheck == true)
    #expect(try answer(h) != nil)
    h.fileSystem.overwriteKeepingStat(Paths.join(h.root, "a.txt"), "gamma")
    #expect(try answer(h) == nil, "an input edited within its racy window was taken for up to date")
    let rebuilt = try await h.build(graph)
    #expect(rebuilt.ran == ["cat a.txt > b.txt", "cat b.txt > c.txt"])
  }

  @Test func onceOldEnoughTheEntriesAreTrustedByStatAgain() async throws {
    let h = try EngineHarness()
    h.write("a.txt", "alpha")
    h.later()
    _ = try await h.build(graph, snapshot: SnapshotRequest(expansion: [], warnings: []))
    h.later()
    // A null build by the full path, long after: nothing is racy any more.
    let null = try await h.build(graph, snapshot: SnapshotRequest(expansion: [], warnings: []))
    #expect(null.ran.isEmpty)
    #expect(h.recorder.snapshot?.entries.contains { $0.recheck } == false)
    let answer = try #require(try answer(h))
    #expect(answer.rechecked == 0)
  }

  /// A run whose result was not recorded (its input was written again while it ran,
  /// here with the same bytes) leaves the record of the run before in the manifest: no
  /// snapshot may stand for it, although every file holds what the build saw.
  @Test func aRunLeftUnrecordedLeavesNoSnapshot() async throws {
    let h = try EngineHarness()
    let one = [copy("one", "a.txt", "b.txt")]
    h.write("a.txt", "first")
    h.later()
    _ = try await h.build(one, snapshot: SnapshotRequest(expansion: [], warnings: []))
    h.later()
    h.write("a.txt", "again")
    h.later()
    let fs = h.fileSystem
    let input = Paths.join(h.root, "a.txt")
    h.runner.duringRun = { _ in fs.write(input, "again") }
    let edited = try await h.build(one, snapshot: SnapshotRequest(expansion: [], warnings: []))
    h.runner.duringRun = nil
    #expect(edited.ran == ["cat a.txt > b.txt"])
    #expect(h.recorder.snapshot == nil, "a snapshot stood for a record the build did not write")
    let next = try await h.build(one)
    #expect(next.ran == ["cat a.txt > b.txt"], "the full build reruns it")
  }

  /// A folder glob expansion listed is settled by its names when its stat moved (kiln
  /// replaced an output in it) or was too recent to trust; any other name is a change.
  @Test func aListedFolderIsComparedByItsNames() async throws {
    let (h, looks) = try expansion(writing: "d/x.txt", "x") { _ = $0.contents(ofDirectory: $1 + "/d") }
    var listed = looks
    #expect(listed.first?.digest == ObservingFileSystem.listingDigest([DirectoryEntry(name: "x.txt", kind: nil)]))
    listed[0].recheck = true  // as if listed moments after a change
    _ = try await h.build(graph, snapshot: SnapshotRequest(expansion: listed, warnings: []))
    #expect(entry(h, "d")?.recheck == true)
    #expect(try answer(h) != nil, "the same names")
    h.write("d/y.txt", "y")
    #expect(try answer(h) == nil, "a name added to a listed folder was not seen")
  }

  /// What expansion only looked at the kind of (a name in a listed folder) is compared
  /// by kind: rewriting it (a depfile the compiler writes again) keeps the answer.
  @Test func aNameOnlyLookedAtIsComparedByKind() async throws {
    let (h, looked) = try expansion(writing: "d/x.d", "x.o: a.txt") { _ = $0.lstat($1 + "/d/x.d") }
    #expect(looked.first?.kindOnly == true)
    _ = try await h.build(graph, snapshot: SnapshotRequest(expansion: looked, warnings: []))
    h.write("d/x.d", "x.o: a.txt b.txt")
    #expect(try answer(h) != nil, "only the kind mattered")
    try h.fileSystem.remove(Paths.join(h.root, "d/x.d"))
    #expect(try answer(h) == nil, "a name gone is a change")
  }
}

/// The snapshot file's order (`ManifestRecorder.filed`): a run already in order kept
/// and the rest merged into it gives what a full sort gives, whatever the input.
@Suite struct SnapshotOrderTests {
  static func entry(_ path: String, late: Bool) -> SnapshotEntry {
    var e = SnapshotEntry(path: path, stat: nil, observedAt: 0)
    e.late = late
    return e
  }

  static func sortedFully(_ entries: [SnapshotEntry]) -> [String] {
    entries.sorted(by: SnapshotEntry.filedBefore).map { ($0.late ? "late " : "") + $0.path }
  }

  static func names(_ entries: [SnapshotEntry]) -> [String] { entries.map { ($0.late ? "late " : "") + $0.path } }

  @Test func aSortedRunAndATailMergeAsAFullSortWould() {
    var random = SplitMix64(seed: 16)
    for round in 0..<200 {
      let count = Int(random.next() % 40)
      var entries = (0..<count).map { _ in
        Self.entry("p\(random.next() % 30)/f\(random.next() % 5)", late: random.next() % 4 == 0)
      }
      // Most rounds: a sorted run (a patched snapshot's), then a few appended.
      if round % 3 != 0 {
        let run = Int(random.next() % UInt64(count + 1))
        let head = entries[..<run].sorted(by: SnapshotEntry.filedBefore)
        entries.replaceSubrange(..<run, with: head)
      }
      #expect(Self.names(ManifestRecorder.filed(entries)) == Self.sortedFully(entries), "round \(round)")
    }
    let sorted = [Self.entry("a", late: false), Self.entry("b", late: false), Self.entry("a", late: true)]
    #expect(Self.names(ManifestRecorder.filed(sorted)) == ["a", "b", "late a"])
    #expect(ManifestRecorder.filed([]).isEmpty)
  }
}
