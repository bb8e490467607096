import Foundation
import KilnEngine
import KilnStore
import KilnTestSupport
import Testing

/// The null build from a snapshot: after a successful build whose files are old enough
/// to trust their stats, the next `kiln build` of the same targets checks those stats
/// and, when none changed, records an all-up-to-date build without parsing the build
/// file. Any change after the snapshot must be noticed (the full build runs, and does
/// exactly what it would have done without a snapshot); some builds must leave none.
///
/// Whether the shortcut was taken shows in `--explain`'s line
/// `kiln: no file changed since the last build (N checked)`.
///
/// A file looked at within 50 ms of its last change (racy: an output the build just
/// wrote) is kept in the snapshot to be compared by content, so a build that ran tasks
/// leaves one too (`firstNullBuildAfterABuildThatRan...`). Folders that appear during a
/// build (a cold build's output folders) still make the next build take the full path,
/// so the tests' pattern is: build, `pause()`, build again (the full path, which writes
/// the snapshot), then `build --explain` takes the shortcut (`settle`). Changes after
/// that are made right away: any change alters the stat.
@Suite struct NullBuildTests {
  static let shortcutLine = "kiln: no file changed since the last build ("

  // MARK: - The shortcut itself

  @Test func unchangedWorkspaceTakesTheShortcutAndRecordsIt() throws {
    let p = try TempProject(Fixture.pipeline)
    let cold = try p.kiln("build", "--explain")
    #expect(cold.status == 0, "\(cold)")
    #expect(!Self.tookShortcut(cold), "\(cold)")
    Self.expectSummary(cold, "3 ran, 0 restored, 0 up to date")

    Self.pause()
    let full = try p.kiln("build")
    #expect(full.status == 0, "\(full)")
    Self.expectSummary(full, "0 ran, 0 restored, 3 up to date")
    #expect(p.exists(".kiln/state.snapshot"), "a null build of old files leaves a snapshot")
    let fullBuild = try Self.lastBuild(p)

    let shortcut = try p.kiln("build", "--explain")
    #expect(shortcut.status == 0, "\(shortcut)")
    #expect(Self.tookShortcut(shortcut), "\(shortcut)")
    Self.expectSummary(shortcut, "0 ran, 0 restored, 3 up to date, hit rate 100.00% in ")
    // src/a.txt, src/b.txt, out/a.txt, out/b.txt, all.txt and kiln.yml at least.
    #expect((Self.checkedCount(shortcut) ?? 0) >= 6, "\(shortcut)")
    #expect(shortcut.stderr.isEmpty, "\(shortcut)")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)

    // The history has the build, as the full path would have recorded it.
    let recorded = try Self.lastBuild(p)
    #expect(recorded?.id == fullBuild.map { $0.id + 1 })
    if let s = recorded?.summary, let f = fullBuild?.summary {
      #expect(s.ran == 0 && s.restored == 0 && s.upToDate == 3 && s.failed == 0 && s.skipped == 0, "\(s)")
      #expect(s.exitStatus == 0)
      #expect(abs(s.timeSaved - f.timeSaved) < 1e-6, "time saved: shortcut \(s.timeSaved), full \(f.timeSaved)")
    }
    if let id = recorded?.id {
      #expect(try Self.outcomes(p, id).isEmpty)
    }

    // The flags a null build can honour keep the shortcut.
    let variants: [[String]] = [["-j1"], ["-j", "2"], ["-k"], ["--no-cache"], ["-k", "-j3", "--no-cache"]]
    for flags in variants {
      let r = try p.kiln(["build", "--explain"] + flags)
      #expect(r.status == 0, "\(flags): \(r)")
      #expect(Self.tookShortcut(r), "\(flags): \(r)")
      Self.expectSummary(r, "0 ran, 0 restored, 3 up to date")
    }
    #expect(try Self.lastBuild(p)?.id == recorded.map { $0.id + Int64(variants.count) })
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)
  }

  /// A glob at the root of the workspace (`*.txt`) is ordinary; its null build should
  /// take the shortcut too.
  @Test func rootLevelGlobTakesTheShortcut() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          upper:
            foreach: "*.txt"
            outputs: out/{stem}.up
            run: echo {stem} >> .runs/upper && tr a-z A-Z < {in} > {out}
        """,
      "a.txt": "alpha\n",
      "b.txt": "beta\n",
    ])
    #expect(try p.kiln("build").status == 0)
    // Two null builds of old files (one more than `settle` needs).
    Self.pause()
    #expect(try p.kiln("build").status == 0)
    Self.pause()
    #expect(try p.kiln("build").status == 0)
    let r = try p.kiln("build", "--explain")
    #expect(r.status == 0, "\(r)")
    #expect(Self.tookShortcut(r), "no shortcut with a root-level glob: \(r)")
    #expect(p.exists(".kiln/state.snapshot"))
    Self.expectSummary(r, "0 ran, 0 restored, 2 up to date")
    #expect(p.runs("upper") == 2)
  }

  // MARK: - Right after a build that ran tasks

  /// An edit rebuilt: the outputs just written are racy and the folder the glob lists
  /// has a new stat (kiln replaced out/a.txt in it), yet the null build right after it
  /// is answered from the snapshot, comparing those by content; once they are old
  /// enough, by their stats again.
  @Test func firstNullBuildAfterABuildThatRanTakesTheShortcut() throws {
    let p = try Self.editedAndRebuilt()
    let first = try p.kiln("build", "--explain")
    #expect(first.status == 0, "\(first)")
    #expect(Self.tookShortcut(first), "the null build right after an edit took the full path: \(first)")
    Self.expectSummary(first, "0 ran, 0 restored, 3 up to date")
    #expect(p.runs("upper") == 3)
    #expect(p.runs("all") == 2)

    Self.pause()
    #expect(Self.tookShortcut(try p.kiln("build", "--explain")))
    let settled = try p.kiln("build", "--explain")
    #expect(Self.tookShortcut(settled), "\(settled)")
    #expect(!settled.stdout.contains("compared by content"), "trusted by their stats by now: \(settled)")
    #expect(p.read("all.txt") == "GAMMA\nBETA\n")
  }

  /// Outputs written moments ago, edited at once (the same size): seen, and put back.
  @Test func anOutputEditedRightAfterTheBuildIsSeen() throws {
    let p = try Self.editedAndRebuilt()
    try p.write("out/a.txt", "GAMMX\n")
    try p.write("all.txt", "GAMMA\nBETX\n")
    try Self.expectFullPath(p, "0 ran, 2 restored, 1 up to date")
    #expect(p.read("out/a.txt") == "GAMMA\n")
    #expect(p.read("all.txt") == "GAMMA\nBETA\n")
  }

  /// A folder whose outputs kiln replaced keeps its names; a name added to it right
  /// after the build is a change (here: a new input of `all`).
  @Test func aFileAddedBesideReplacedOutputsIsSeen() throws {
    let p = try Self.editedAndRebuilt()
    try p.write("out/c.txt", "CHARLIE\n")
    try Self.expectFullPath(p, "1 ran, 0 restored, 2 up to date")
    #expect(p.read("all.txt") == "GAMMA\nBETA\nCHARLIE\n")
    #expect(p.runs("all") == 3)
  }

  /// The pipeline built and settled, then src/a.txt edited and built again (upper and
  /// all ran): what the tests above start from, moments after that build.
  static func editedAndRebuilt(sourceLocation: SourceLocation = #_sourceLocation) throws -> TempProject {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0, sourceLocation: sourceLocation)
    try settle(p, sourceLocation: sourceLocation)
    try p.write("src/a.txt", "gamma\n")
    let edit = try p.kiln("build")
    expectSummary(edit, "2 ran, 0 restored, 1 up to date", sourceLocation: sourceLocation)
    return p
  }

  /// `build --explain` succeeds by the full path, doing `counts`.
  static func expectFullPath(_ p: TempProject, _ counts: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let r = try p.kiln("build", "--explain")
    #expect(r.status == 0 && !tookShortcut(r), "\(r)", sourceLocation: sourceLocation)
    expectSummary(r, counts, sourceLocation: sourceLocation)
  }

  // MARK: - Every change after a snapshot is noticed

  /// Same size, new content, in a file inside the workspace and in an absolute input
  /// outside it.
  @Test func inputEditedKeepingItsSizeIsSeen() throws {
    let p = try TempProject(Fixture.pipeline)
    let external = (p.root as NSString).deletingLastPathComponent + "/external.txt"
    try p.write(external, "outside\n")
    try p.write("kiln.yml", Fixture.pipeline["kiln.yml"]! + """

        stamp:
          inputs: [\(external)]
          outputs: stamp.txt
          run: echo x >> .runs/stamp && cat {in} > {out}
      """)
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)

    try p.write("src/a.txt", "alphA\n")
    let r = try p.kiln("build", "--explain")
    #expect(r.status == 0, "\(r)")
    #expect(!Self.tookShortcut(r), "\(r)")
    #expect(r.stderr.contains("input src/a.txt changed"), "\(r)")
    #expect(p.runLines("upper") == ["a", "b", "a"] || p.runLines("upper") == ["b", "a", "a"])
    #expect(p.runs("all") == 1, "out/a.txt came out the same")
    #expect(p.runs("stamp") == 1)
    #expect(p.read("all.txt") == "ALPHA\nBETA\n")
    Self.expectSummary(r, "1 ran, 0 restored, 3 up to date")

    try Self.settle(p)
    try p.write(external, "OUTSIDE\n")
    let outside = try p.kiln("build", "--explain")
    #expect(outside.status == 0, "\(outside)")
    #expect(!Self.tookShortcut(outside), "\(outside)")
    #expect(p.runs("stamp") == 2)
    #expect(p.runs("upper") == 3)
    #expect(p.read("stamp.txt") == "OUTSIDE\n")
    Self.expectSummary(outside, "1 ran, 0 restored, 3 up to date")
  }

  /// `touch` changes a file's stat but not its content: the shortcut hashes just that
  /// file, finds what the build saw, and still runs nothing; an output touched likewise.
  /// The same touch with an edit (same size) is a change.
  @Test func touchedButUnchangedFilesKeepTheShortcut() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)

    try p.touch("src/a.txt", secondsFromNow: -10)
    try p.touch("out/b.txt", secondsFromNow: -10)
    Self.pause()  // the touch set ctime to now: let it age past the racy window
    let touched = try p.kiln("build", "--explain")
    #expect(touched.status == 0, "\(touched)")
    #expect(Self.tookShortcut(touched), "\(touched)")
    #expect(touched.stdout.contains("2 touched but not changed"), "\(touched)")
    Self.expectSummary(touched, "0 ran, 0 restored, 3 up to date")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)
    // The new stats were old enough to trust, so they were kept: the next shortcut has
    // nothing to hash.
    let again = try p.kiln("build", "--explain")
    #expect(Self.tookShortcut(again), "\(again)")
    #expect(!again.stdout.contains("touched"), "\(again)")

    try p.write("src/a.txt", "ALPHA\n")
    let edited = try p.kiln("build", "--explain")
    #expect(!Self.tookShortcut(edited), "\(edited)")
    #expect(p.runs("upper") == 3)
    #expect(p.read("out/a.txt") == "ALPHA\n")
  }

  /// A file a foreach glob matches is added (a new instance), one is deleted (its
  /// instance goes, its output with it), in the top folder and deep under `**`.
  @Test func filesAddedOrRemovedUnderAGlobAreSeen() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          upper:
            foreach: src/**/*.txt
            outputs: out/{stem}.txt
            run: echo {stem} >> .runs/upper && tr a-z A-Z < {in} > {out}
          all:
            inputs: out/*.txt
            outputs: all.txt
            run: echo x >> .runs/all && cat {in} > {out}
        """,
      "src/a.txt": "alpha\n",
      "src/deep/er/b.txt": "beta\n",
    ])
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)

    try p.write("src/c.txt", "gamma\n")
    let added = try p.kiln("build", "--explain")
    #expect(added.status == 0, "\(added)")
    #expect(!Self.tookShortcut(added), "\(added)")
    #expect(p.runLines("upper").dropFirst(2) == ["c"])
    #expect(p.runs("all") == 2)
    #expect(p.read("all.txt") == "ALPHA\nBETA\nGAMMA\n")
    Self.expectSummary(added, "2 ran, 0 restored, 2 up to date")

    try Self.settle(p)
    try p.write("src/deep/er/d.txt", "delta\n")
    let deep = try p.kiln("build", "--explain")
    #expect(deep.status == 0, "\(deep)")
    #expect(!Self.tookShortcut(deep), "\(deep)")
    #expect(p.runLines("upper").dropFirst(3) == ["d"])
    #expect(p.runs("all") == 3)
    #expect(p.read("all.txt") == "ALPHA\nBETA\nGAMMA\nDELTA\n")

    try Self.settle(p)
    p.remove("src/a.txt")
    let removed = try p.kiln("build", "--explain")
    #expect(removed.status == 0, "\(removed)")
    #expect(!Self.tookShortcut(removed), "\(removed)")
    #expect(!p.exists("out/a.txt"))
    #expect(p.runs("upper") == 4)
    #expect(p.runs("all") == 4)
    #expect(p.read("all.txt") == "BETA\nGAMMA\nDELTA\n")
  }

  /// An input that is a symlink, pointed at another file.
  @Test func retargetedSymlinkInputIsSeen() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          copy:
            inputs: link.txt
            outputs: copy.txt
            run: echo x >> .runs/copy && cat {in} > {out}
        """,
      "a.txt": "alpha\n",
      "b.txt": "bravo\n",
    ])
    try FileManager.default.createSymbolicLink(atPath: p.absolute("link.txt"), withDestinationPath: "a.txt")
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)

    p.remove("link.txt")
    try FileManager.default.createSymbolicLink(atPath: p.absolute("link.txt"), withDestinationPath: "b.txt")
    let r = try p.kiln("build", "--explain")
    #expect(r.status == 0, "\(r)")
    #expect(!Self.tookShortcut(r), "\(r)")
    #expect(p.runs("copy") == 2)
    #expect(p.read("copy.txt") == "bravo\n")

    // The file it points to, edited.
    try Self.settle(p)
    try p.write("b.txt", "BRAVO\n")
    let edited = try p.kiln("build", "--explain")
    #expect(!Self.tookShortcut(edited), "\(edited)")
    #expect(p.runs("copy") == 3)
    #expect(p.read("copy.txt") == "BRAVO\n")
  }

  @Test func deletedOutputIsRestored() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)

    p.remove("out/a.txt")
    let r = try p.kiln("build", "--explain")
    #expect(r.status == 0, "\(r)")
    #expect(!Self.tookShortcut(r), "\(r)")
    #expect(r.stderr.contains("output out/a.txt missing"), "\(r)")
    Self.expectSummary(r, "0 ran, 1 restored, 2 up to date")
    #expect(p.read("out/a.txt") == "ALPHA\n")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)

    // The final output too.
    try Self.settle(p)
    p.remove("all.txt")
    let last = try p.kiln("build", "--explain")
    #expect(!Self.tookShortcut(last), "\(last)")
    Self.expectSummary(last, "0 ran, 1 restored, 2 up to date")
    #expect(p.read("all.txt") == "ALPHA\nBETA\n")
  }

  @Test func modifiedOutputIsRestored() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)

    try p.write("out/b.txt", "BETX\n")  // same size
    let r = try p.kiln("build", "--explain")
    #expect(r.status == 0, "\(r)")
    #expect(!Self.tookShortcut(r), "\(r)")
    #expect(r.stderr.contains("output out/b.txt modified"), "\(r)")
    Self.expectSummary(r, "0 ran, 1 restored, 2 up to date")
    #expect(p.read("out/b.txt") == "BETA\n")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)
  }

  /// A file inside a folder output, edited by hand.
  @Test func fileInsideAFolderOutputModifiedIsSeen() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          gen:
            inputs: src/a.txt
            outputs: gendir
            run: echo x >> .runs/gen && mkdir -p gendir/sub && cp {in} gendir/sub/one.txt && cp {in} gendir/two.txt
        """,
      "src/a.txt": "alpha\n",
    ])
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)

    try p.write("gendir/sub/one.txt", "ALPHA\n")
    let r = try p.kiln("build", "--explain")
    #expect(r.status == 0, "\(r)")
    #expect(!Self.tookShortcut(r), "\(r)")
    Self.expectSummary(r, "0 ran, 1 restored, 0 up to date")
    #expect(p.read("gendir/sub/one.txt") == "alpha\n")
    #expect(p.runs("gen") == 1)
  }

  @Test func buildFileEditIsSeen() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)

    // Same size: `tr a-y A-Y` instead of `tr a-z A-Z`. Both commands change; their
    // outputs do not (no z), so `all` stays up to date.
    let yaml = Fixture.pipeline["kiln.yml"]!.replacingOccurrences(of: "tr a-z A-Z", with: "tr a-y A-Y")
    #expect(yaml.utf8.count == Fixture.pipeline["kiln.yml"]!.utf8.count)
    try p.write("kiln.yml", yaml)
    let r = try p.kiln("build", "--explain")
    #expect(r.status == 0, "\(r)")
    #expect(!Self.tookShortcut(r), "\(r)")
    #expect(r.stderr.contains("command changed"), "\(r)")
    #expect(p.runs("upper") == 4)
    #expect(p.runs("all") == 1)
    Self.expectSummary(r, "2 ran, 0 restored, 1 up to date")
  }

  @Test func hashEnvChangeIsSeen() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          tagged:
            outputs: tagged.txt
            hash_env: [KILN_IT_TAG]
            run: echo x >> .runs/tagged && echo "$KILN_IT_TAG" > {out}
          plain:
            outputs: plain.txt
            run: echo x >> .runs/plain && echo plain > {out}
        """
    ])
    p.environment["KILN_IT_TAG"] = "one"
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)

    // A variable no key reads: still nothing to do (and still the shortcut).
    let unrelated = try p.kiln("build", "--explain", environment: ["KILN_IT_UNRELATED": "x"])
    #expect(unrelated.status == 0, "\(unrelated)")
    #expect(Self.tookShortcut(unrelated), "\(unrelated)")

    p.environment["KILN_IT_TAG"] = "two"
    let r = try p.kiln("build", "--explain")
    #expect(r.status == 0, "\(r)")
    #expect(!Self.tookShortcut(r), "\(r)")
    #expect(r.stderr.contains("env var KILN_IT_TAG changed"), "\(r)")
    #expect(p.runs("tagged") == 2)
    #expect(p.runs("plain") == 1)
    #expect(p.read("tagged.txt") == "two\n")
    Self.expectSummary(r, "1 ran, 0 restored, 1 up to date")

    // Back to the old value (a second snapshot first): restored from the cache.
    try Self.settle(p)
    p.environment["KILN_IT_TAG"] = "one"
    let back = try p.kiln("build", "--explain")
    #expect(!Self.tookShortcut(back), "\(back)")
    Self.expectSummary(back, "0 ran, 1 restored, 1 up to date")
    #expect(p.read("tagged.txt") == "one\n")
  }

  /// A header known only through a depfile (no glob lists it, its folder's listing does
  /// not change when it is edited in place).
  @Test func headerFromADepfileEditIsSeen() throws {
    let p = try TempProject(Fixture.cProject)
    let cold = try p.kiln("build")
    #expect(cold.status == 0, "\(cold)")
    try Self.settle(p)

    try p.write("src/a.h", "#define A_VALUE 2\n")  // same size
    let r = try p.kiln("build", "--explain")
    #expect(r.status == 0, "\(r)")
    #expect(!Self.tookShortcut(r), "\(r)")
    #expect(r.stderr.contains("input src/a.h (from depfile) changed"), "\(r)")
    #expect(Array(p.runLines("compile").dropFirst(3)) == ["a"])
    #expect(p.runs("link") == 2)
    Self.expectSummary(r, "2 ran, 0 restored, 2 up to date")
  }

  /// The snapshot is of one target set: another set is never answered from it, and
  /// gets its own once built.
  @Test func otherTargetsDoNotTakeTheShortcut() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)

    let upper = try p.kiln("build", "upper", "--explain")
    #expect(upper.status == 0, "\(upper)")
    #expect(!Self.tookShortcut(upper), "never built with these targets: \(upper)")
    Self.expectSummary(upper, "0 ran, 0 restored, 2 up to date")

    let again = try p.kiln("build", "upper", "--explain")
    #expect(Self.tookShortcut(again), "\(again)")
    Self.expectSummary(again, "0 ran, 0 restored, 2 up to date")

    let one = try p.kiln("build", "upper src/a.txt", "--explain")
    #expect(!Self.tookShortcut(one), "\(one)")
    Self.expectSummary(one, "0 ran, 0 restored, 1 up to date")

    let both = try p.kiln("build", "upper", "all", "--explain")
    #expect(!Self.tookShortcut(both), "\(both)")
    Self.expectSummary(both, "0 ran, 0 restored, 3 up to date")

    let byDefault = try p.kiln("build", "--explain")
    #expect(!Self.tookShortcut(byDefault), "the last snapshot is of 'upper all': \(byDefault)")
    Self.expectSummary(byDefault, "0 ran, 0 restored, 3 up to date")
    let defaultAgain = try p.kiln("build", "--explain")
    #expect(Self.tookShortcut(defaultAgain), "\(defaultAgain)")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)

    // Arguments the full path rejects are still rejected.
    let zeroJobs = try p.kiln("build", "-j", "0")
    #expect(zeroJobs.status == 2, "\(zeroJobs)")
    #expect(zeroJobs.stderr.contains("-j must be at least 1"), "\(zeroJobs)")
    let unknown = try p.kiln("build", "nosuchtask")
    #expect(unknown.status == 2, "\(unknown)")
    #expect(unknown.stderr.contains("unknown task 'nosuchtask'"), "\(unknown)")
    let flag = try p.kiln("build", "--no-such-flag")
    #expect(flag.status == 2, "\(flag)")
  }

  /// A deleted manifest (one of the snapshot's entries): the snapshot is not used, every task is
  /// restored from the cache (kiln no longer knows they are up to date).
  @Test func deletedManifestRestoresEverything() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)

    // `rm .kiln/state.db`, as a user would: the WAL and shared-memory files stay.
    p.remove(".kiln/state.db")
    let r = try p.kiln("build", "--explain")
    #expect(r.status == 0, "\(r)")
    #expect(!Self.tookShortcut(r), "\(r)")
    Self.expectSummary(r, "0 ran, 3 restored, 0 up to date")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)

    try Self.settle(p)
    for file in ["state.db", "state.db-wal", "state.db-shm"] { p.remove(".kiln/" + file) }
    let all = try p.kiln("build", "--explain")
    #expect(all.status == 0, "\(all)")
    #expect(!Self.tookShortcut(all), "\(all)")
    Self.expectSummary(all, "0 ran, 3 restored, 0 up to date")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)
    #expect(p.read("all.txt") == "ALPHA\nBETA\n")
  }

  /// A damaged snapshot file: the full build, no crash, and a good snapshot after it.
  @Test func corruptSnapshotFallsBackToTheFullBuild() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)
    let good = try #require(p.bytes(".kiln/state.snapshot"))
    #expect(good.count > 16)

    // The good snapshot up to its entry count, then a count of 2^62 entries.
    let decoded = try #require(BuildSnapshot.decode(good))
    var noEntries = decoded
    noEntries.entries = []
    var hugeCount = ByteWriter()
    hugeCount.varint(1 << 62)
    let manyEntries = Array(noEntries.encode().dropLast()) + hugeCount.bytes
    var flipped = good
    flipped[flipped.count - 1] ^= 0xFF
    var generator = SystemRandomNumberGenerator()
    let corruptions: [(String, [UInt8])] = [
      ("garbage", (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) }),
      ("empty", []),
      // A first length (the version string's) of 2^64 - 1, then of 2^63 - 1.
      ("magic then garbage", Array("KILNSNP1".utf8) + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3]),
      ("magic then a huge length", Array("KILNSNP1".utf8) + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3]),
      ("truncated", Array(good.prefix(good.count / 2))),
      ("an entry count of 2^62", manyEntries),
      ("last byte flipped", flipped),
      ("trailing bytes", good + [0]),
    ]
    for (name, bytes) in corruptions {
      try p.write(".kiln/state.snapshot", bytes: bytes)
      let r = try p.kiln("build", "--explain")
      #expect(r.status == 0, "\(name): \(r)")
      #expect(!Self.tookShortcut(r), "\(name): \(r)")
      #expect(r.stderr.isEmpty, "\(name): \(r)")
      Self.expectSummary(r, "0 ran, 0 restored, 3 up to date")
      // The full build wrote a good one.
      let next = try p.kiln("build", "--explain")
      #expect(Self.tookShortcut(next), "\(name): \(next)")
    }
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)
  }

  // MARK: - Builds that leave no snapshot

  /// A failed build leaves no snapshot: with nothing changed since, the next build runs
  /// the failed task again. The failure here does not come from a file (a variable no
  /// key reads), so only "no snapshot after a failure" keeps the next build honest.
  @Test func failedBuildLeavesNoSnapshot() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          check:
            inputs: in.txt
            outputs: checked.txt
            run: echo x >> .runs/check && test "$KILN_IT_FAIL" != 1 && cp {in} {out}
          fine:
            inputs: other.txt
            outputs: fine.txt
            run: echo x >> .runs/fine && cp {in} {out}
        """,
      "in.txt": "one\n",
      "other.txt": "other\n",
    ])
    p.environment["KILN_IT_FAIL"] = "0"
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)

    try p.write("in.txt", "two\n")
    p.environment["KILN_IT_FAIL"] = "1"
    Self.pause()  // in.txt is old enough: a snapshot could be taken if kiln allowed one
    let failed = try p.kiln("build", "-k")
    #expect(failed.status == 1, "\(failed)")
    #expect(p.runs("check") == 2)
    #expect(!p.exists(".kiln/state.snapshot"), "a failed build leaves no snapshot")

    let again = try p.kiln("build", "-k", "--explain")
    #expect(again.status == 1, "\(again)")
    #expect(!Self.tookShortcut(again), "\(again)")
    #expect(p.runs("check") == 3)
    #expect(p.runs("fine") == 1)

    // Fixed: the build right after the failure runs the task.
    p.environment["KILN_IT_FAIL"] = "0"
    let fixed = try p.kiln("build", "--explain")
    #expect(fixed.status == 0, "\(fixed)")
    #expect(!Self.tookShortcut(fixed), "\(fixed)")
    #expect(p.runs("check") == 4)
    #expect(p.read("checked.txt") == "two\n")
    Self.expectSummary(fixed, "1 ran, 0 restored, 1 up to date")

    // And with the failure fixed, the shortcut comes back.
    try Self.settle(p)
    #expect(p.runs("check") == 4)
  }

  /// An `always` task runs at every build: a build that selects it leaves no snapshot.
  /// (It writes no output, so nothing racy stands in the way of one.)
  @Test func alwaysTaskLeavesNoSnapshot() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          stamp:
            always: true
            run: echo x >> .runs/stamp
          copy:
            inputs: in.txt
            outputs: copy.txt
            run: echo x >> .runs/copy && cp {in} {out}
        """,
      "in.txt": "one\n",
    ])
    #expect(try p.kiln("build").status == 0)
    Self.pause()
    #expect(try p.kiln("build").status == 0)
    let r = try p.kiln("build", "--explain")
    #expect(r.status == 0, "\(r)")
    #expect(!Self.tookShortcut(r), "\(r)")
    #expect(!p.exists(".kiln/state.snapshot"))
    #expect(p.runs("stamp") == 3)
    #expect(p.runs("copy") == 1)

    // Without it in the targets, the build may be a null build again.
    try Self.settle(p, ["copy"])
    #expect(p.runs("stamp") == 3)
    let withIt = try p.kiln("build", "--explain")
    #expect(!Self.tookShortcut(withIt), "\(withIt)")
    #expect(p.runs("stamp") == 4)
  }

  /// A folder input is hashed as a tree: its own stat does not change when a file deep
  /// inside it is edited, so such a build leaves no snapshot.
  @Test func folderInputLeavesNoSnapshot() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          pack:
            inputs: [assets]
            outputs: pack.txt
            run: echo x >> .runs/pack && cat assets/one.txt assets/sub/two.txt > {out}
        """,
      "assets/one.txt": "one\n",
      "assets/sub/two.txt": "two\n",
    ])
    #expect(try p.kiln("build").status == 0)
    Self.pause()
    #expect(try p.kiln("build").status == 0)
    let null = try p.kiln("build", "--explain")
    #expect(null.status == 0, "\(null)")
    #expect(!Self.tookShortcut(null), "\(null)")
    #expect(!p.exists(".kiln/state.snapshot"))
    Self.expectSummary(null, "0 ran, 0 restored, 1 up to date")

    try p.write("assets/sub/two.txt", "TWO\n")
    let edited = try p.kiln("build", "--explain")
    #expect(edited.status == 0, "\(edited)")
    #expect(!Self.tookShortcut(edited), "\(edited)")
    #expect(p.runs("pack") == 2)
    #expect(p.read("pack.txt") == "one\nTWO\n")
  }

  // MARK: - Flags that always take the full path

  @Test func jsonAndTraceTakeTheFullPath() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)

    let r = try p.kiln("build", "--json", "--explain")
    #expect(r.status == 0, "\(r)")
    #expect(!Self.tookShortcut(r), "\(r)")
    let lines = r.stdout.split(separator: "\n")
    #expect(lines.count == 1, "one JSON object on stdout: \(r)")
    let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    #expect(object?["up_to_date"] as? Int == 3, "\(r)")
    #expect(object?["ran"] as? Int == 0, "\(r)")
    #expect(object?["restored"] as? Int == 0, "\(r)")
    let tasks = object?["tasks"] as? [[String: Any]] ?? []
    #expect(tasks.count == 3, "\(r)")
    #expect(tasks.allSatisfy { $0["outcome"] as? String == "up-to-date" }, "\(r)")
    #expect(Set(tasks.compactMap { $0["id"] as? String }) == ["upper src/a.txt", "upper src/b.txt", "all"], "\(r)")

    let trace = try p.kiln("build", "--trace", "trace.json", "--explain")
    #expect(trace.status == 0, "\(trace)")
    #expect(!Self.tookShortcut(trace), "\(trace)")
    #expect(p.exists("trace.json"), "\(trace)")
    Self.expectSummary(trace, "0 ran, 0 restored, 3 up to date")

    // Those full builds left a snapshot in turn.
    let after = try p.kiln("build", "--explain")
    #expect(Self.tookShortcut(after), "\(after)")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)
  }

  // MARK: - Two build files in one folder

  /// `-f other.yml` keeps its own snapshot beside its own manifest; building with one
  /// build file, which writes a file the other's build reads, never leaves the other a
  /// wrong shortcut.
  @Test func eachBuildFileHasItsOwnSnapshot() throws {
    let p = try TempProject([
      // kiln.yml reads what other.yml makes.
      "kiln.yml": """
        tasks:
          main:
            inputs: [a.txt, gen/o2.txt]
            outputs: main.txt
            run: echo x >> .runs/main && cat {in} > {out}
        """,
      "other.yml": """
        tasks:
          other1:
            inputs: b.txt
            outputs: gen/o1.txt
            run: echo x >> .runs/other1 && cp {in} {out}
          other2:
            inputs: gen/o1.txt
            outputs: gen/o2.txt
            run: echo x >> .runs/other2 && cp {in} {out}
        """,
      "a.txt": "alpha\n",
      "b.txt": "beta\n",
    ])
    #expect(try p.kiln("-f", "other.yml", "build").status == 0)
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p, ["-f", "other.yml"])
    try Self.settle(p)
    #expect(p.exists(".kiln/state.snapshot"))
    #expect(p.exists(".kiln/state-other.yml.snapshot"))

    let mine = try p.kiln("build", "--explain")
    #expect(Self.tookShortcut(mine), "\(mine)")
    Self.expectSummary(mine, "0 ran, 0 restored, 1 up to date")
    let theirs = try p.kiln("-f", "other.yml", "build", "--explain")
    #expect(Self.tookShortcut(theirs), "\(theirs)")
    Self.expectSummary(theirs, "0 ran, 0 restored, 2 up to date")

    // A full build of kiln.yml leaves other.yml's snapshot alone.
    #expect(try p.kiln("build", "--json").status == 0)
    let stillTheirs = try p.kiln("-f", "other.yml", "build", "--explain")
    #expect(Self.tookShortcut(stillTheirs), "\(stillTheirs)")
    Self.expectSummary(stillTheirs, "0 ran, 0 restored, 2 up to date")

    // other.yml's build changes gen/o2.txt, an input of kiln.yml.
    try p.write("b.txt", "BETA\n")
    let rebuilt = try p.kiln("-f", "other.yml", "build", "--explain")
    #expect(rebuilt.status == 0, "\(rebuilt)")
    #expect(!Self.tookShortcut(rebuilt), "\(rebuilt)")
    #expect(p.runs("other1") == 2)
    #expect(p.runs("other2") == 2)
    let after = try p.kiln("build", "--explain")
    #expect(after.status == 0, "\(after)")
    #expect(!Self.tookShortcut(after), "\(after)")
    #expect(p.runs("main") == 2)
    #expect(p.read("main.txt") == "alpha\nBETA\n")
    Self.expectSummary(after, "1 ran, 0 restored, 0 up to date")

    // And the other way: kiln.yml's input edited, other.yml's build unaffected.
    try Self.settle(p, ["-f", "other.yml"])
    try p.write("a.txt", "ALPHA\n")
    let unaffected = try p.kiln("-f", "other.yml", "build", "--explain")
    #expect(unaffected.status == 0, "\(unaffected)")
    Self.expectSummary(unaffected, "0 ran, 0 restored, 2 up to date")
    let mineAgain = try p.kiln("build", "--explain")
    #expect(!Self.tookShortcut(mineAgain), "\(mineAgain)")
    #expect(p.runs("main") == 3)
    #expect(p.read("main.txt") == "ALPHA\nBETA\n")
  }

  // MARK: - Dry run

  @Test func dryRunOnTheShortcutRecordsNothing() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    try Self.settle(p)
    let before = try Self.lastBuild(p)

    let explained = try p.kiln("build", "-n", "--explain")
    #expect(explained.status == 0, "\(explained)")
    #expect(Self.tookShortcut(explained), "\(explained)")
    #expect(explained.stdout.contains("kiln: dry run: 0 of 3 would restore or run"), "\(explained)")
    let plain = try p.kiln("build", "-n")
    #expect(plain.status == 0, "\(plain)")
    #expect(plain.stdout == "kiln: dry run: 0 of 3 would restore or run\n", "\(plain)")
    let long = try p.kiln("build", "--dry-run")
    #expect(long.stdout == "kiln: dry run: 0 of 3 would restore or run\n", "\(long)")
    #expect(try Self.lastBuild(p)?.id == before?.id, "a dry run records no build")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)

    // A change: the dry run says what would run and still runs nothing.
    try p.write("src/b.txt", "betA\n")
    let changed = try p.kiln("build", "-n", "--explain")
    #expect(changed.status == 0, "\(changed)")
    #expect(!Self.tookShortcut(changed), "\(changed)")
    #expect(changed.stdout.contains("would run: upper src/b.txt"), "\(changed)")
    #expect(p.runs("upper") == 2)
    #expect(try Self.lastBuild(p)?.id == before?.id)
    let real = try p.kiln("build")
    #expect(real.status == 0, "\(real)")
    #expect(p.runs("upper") == 3)
  }

  // MARK: - Helpers

  static func tookShortcut(_ r: KilnResult) -> Bool { r.stdout.contains(shortcutLine) }

  /// N in the shortcut line's "(N checked)".
  static func checkedCount(_ r: KilnResult) -> Int? {
    guard let line = r.stdout.split(separator: "\n").first(where: { $0.hasPrefix(shortcutLine) }) else { return nil }
    return Int(line.dropFirst(shortcutLine.count).prefix { $0.isNumber })
  }

  /// Waits until every file written so far is older than the racy window (50 ms).
  static func pause() { usleep(120_000) }

  /// Leaves a snapshot for `kiln build ARGS`: waits, builds (the full path writes one),
  /// then checks that `build --explain ARGS` takes the shortcut and runs nothing.
  static func settle(_ p: TempProject, _ args: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws {
    pause()
    let full = try p.kiln(["build"] + args)
    #expect(full.status == 0, "\(full)", sourceLocation: sourceLocation)
    let shortcut = try p.kiln(["build", "--explain"] + args)
    #expect(shortcut.status == 0, "\(shortcut)", sourceLocation: sourceLocation)
    #expect(tookShortcut(shortcut), "no snapshot after a null build of old files: \(shortcut)", sourceLocation: sourceLocation)
    #expect(shortcut.ranCount == 0, "\(shortcut)", sourceLocation: sourceLocation)
  }

  /// The summary line starts "kiln: COUNTS, " (then the hit rate, or failed/skipped).
  static func expectSummary(_ r: KilnResult, _ counts: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let line = r.stdout.split(separator: "\n").last(where: { $0.hasPrefix("kiln: ") && $0.contains(" ran, ") })
    let prefix = "kiln: " + counts + (counts.hasSuffix(" ") ? "" : ",")
    #expect(line?.hasPrefix(prefix) == true, "expected '\(prefix)...': \(r)", sourceLocation: sourceLocation)
  }

  static func lastBuild(_ p: TempProject) throws -> (id: Int64, summary: BuildSummary)? {
    try Manifest(path: p.absolute(".kiln/state.db")).lastBuild()
  }

  static func outcomes(_ p: TempProject, _ build: Int64) throws -> [OutcomeRow] {
    try Manifest(path: p.absolute(".kiln/state.db")).outcomes(ofBuild: build)
  }
}
