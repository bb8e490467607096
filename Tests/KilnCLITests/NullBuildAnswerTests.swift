#if canImport(Glibc)
import Glibc
#endif
@testable import KilnCLI
import KilnStore
import KilnSystem
import KilnTestSupport
import Testing

/// `BuildCommand.answerFromSnapshot`, called in-process on a real checkout whose
/// snapshot the built `kiln` binary left (`KILN_BIN`): it answers (0) and appends one
/// record to the pending history when nothing changed, and declines (nil, recording
/// nothing) whenever only the full build can tell. Parsed with `-q`, an answer prints
/// nothing.
@Suite struct NullBuildAnswerTests {
  static let project = [
    "kiln.yml": """
      tasks:
        copy:
          inputs: [in.txt]
          outputs: out.txt
          run: echo x >> .runs/copy && cat in.txt > out.txt
        upper:
          inputs: [out.txt]
          outputs: upper.txt
          run: tr a-z A-Z < out.txt > upper.txt
      """,
    "in.txt": "one\n",
  ]

  /// A project built twice by the binary: the second, a full null build of files older
  /// than the racy window (50 ms), leaves the snapshot. And the Context kiln would make there.
  static func settled() throws -> (TempProject, Context) {
    let p = try TempProject(project)
    let cold = try p.kiln("build")
    #expect(cold.status == 0, "\(cold)")
    usleep(120_000)
    // The cold build leaves a snapshot too (its outputs to be compared by content),
    // which would answer this build and start the pending history; without it this one
    // takes the full path and records into the manifest.
    p.remove(".kiln/state.snapshot")
    let null = try p.kiln("build")
    #expect(null.status == 0, "\(null)")
    #expect(p.exists(".kiln/state.snapshot"), "no snapshot after a null build of old files")
    let environment = TestEnvironment.variables(home: p.home, cache: p.cache.path, p.environment)
    return (p, Context(Launch(directory: p.root, environment: environment)))
  }

  static func answer(_ arguments: [String], _ context: Context) throws -> Int32? {
    try BuildCommand.parse(arguments).answerFromSnapshot(context)
  }

  /// How many whole records the pending history holds (each a varint length, then that
  /// many bytes); 0 when there is no file.
  static func pendingRecords(_ context: Context) throws -> Int {
    guard let bytes = try OwnFile.read(context.layout.pending) else { return 0 }
    var reader = ByteReader(bytes)
    var count = 0
    while !reader.atEnd {
      _ = try reader.raw()
      count += 1
    }
    return count
  }

  @Test func answersWhenNothingChangedAndRecordsEachBuild() throws {
    let (p, context) = try Self.settled()
    #expect(try Self.pendingRecords(context) == 0)

    #expect(try Self.answer(["-q"], context) == 0)
    #expect(try Self.pendingRecords(context) == 1)
    #expect(try Self.answer(["-q"], context) == 0)
    #expect(try Self.pendingRecords(context) == 2)
    // The same default targets, named by the same empty list, with flags a null build
    // honours.
    #expect(try Self.answer(["-q", "-k", "-j", "3", "--no-cache"], context) == 0)
    #expect(try Self.pendingRecords(context) == 3)
    #expect(p.runs("copy") == 1)

    // The next opener of the manifest moves them into the history: three builds, every
    // instance up to date, under no workspace.
    let manifest = try Manifest(context.layout)
    let history = try manifest.history(lastBuilds: 10)
    #expect(history.count == 5)
    for row in history.suffix(3) {
      #expect(row.summary.upToDate == 2 && row.summary.ran == 0 && row.summary.restored == 0, "\(row.summary)")
      #expect(row.workspace == nil)
    }
    #expect(try Self.pendingRecords(context) == 0)
  }

  @Test func declinesWhatOnlyTheFullBuildCanTell() throws {
    let (p, context) = try Self.settled()
    // Each instance's report is wanted.
    #expect(try Self.answer(["--json"], context) == nil)
    #expect(try Self.answer(["-q", "--trace", p.root + "/trace.json"], context) == nil)
    #expect(!p.exists("trace.json"))
    // Other targets than the snapshot's (the default ones), even a subset of them.
    #expect(try Self.answer(["-q", "copy"], context) == nil)
    #expect(try Self.answer(["-q", "copy", "upper"], context) == nil)
    // A bad -j is the full path's to refuse.
    #expect(try Self.answer(["-q", "-j", "0"], context) == nil)
    // Another build holds the checkout.
    do {
      let held = try #require(try CheckoutLock.attempt(context.layout.lock, describing: "another build"))
      #expect(try Self.answer(["-q"], context) == nil)
      withExtendedLifetime(held) {}
    }
    #expect(try Self.pendingRecords(context) == 0, "declining records nothing")

    // A dry run answers but records nothing.
    #expect(try Self.answer(["-n"], context) == 0)
    #expect(try Self.pendingRecords(context) == 0)
    // And with nothing in the way, it does answer.
    #expect(try Self.answer(["-q"], context) == 0)
    #expect(try Self.pendingRecords(context) == 1)
  }

  @Test func declinesOnceAnInputChanged() throws {
    let (p, context) = try Self.settled()
    try p.write("in.txt", "two\n")
    #expect(try Self.answer(["-q"], context) == nil)
    #expect(try Self.pendingRecords(context) == 0)
    // The binary's full build then runs what changed.
    let rebuilt = try p.kiln("build", "-q")
    #expect(rebuilt.status == 0, "\(rebuilt)")
    #expect(p.runs("copy") == 2)
    #expect(p.read("upper.txt") == "TWO\n")
  }

  @Test func declinesWithoutASnapshotOrABuildFile() throws {
    let (p, context) = try Self.settled()
    p.remove(".kiln/state.snapshot")
    #expect(try Self.answer(["-q"], context) == nil)

    let empty = TempDirectory(prefix: "kiln-cli")
    let nowhere = Context(Launch(directory: empty.path, environment: TestEnvironment.variables(in: empty)))
    #expect(try Self.answer(["-q"], nowhere) == nil)
    #expect(try Self.pendingRecords(context) == 0)
  }

  /// The entry point reads a plain `build` command line itself, without the parser:
  /// what it reads must be what the parser reads, and anything else is the parser's.
  @Test func plainArgumentsAreReadAsTheParserReadsThem() throws {
    let plain: [[String]] = [
      [], ["-j", "2"], ["-k"], ["--explain"], ["-n"], ["--dry-run"], ["-q"], ["--quiet"], ["--no-cache"], ["app"],
      ["app", "compile src/a.c", "-j", "3", "--explain"], ["-k", "-j", "1", "--no-cache", "-q", "lint", "test"],
      ["--jobs", "4"], ["--jobs=2", "app"], ["--keep-going"], ["--keep-going", "--dry-run", "--jobs", "1"], ["-v"], ["--verbose", "app"],
      ["--no-cache", "app"], ["-k", "-n"],
    ]
    for arguments in plain {
      let read = try #require(SnapshotQuestion(plainArguments: arguments[...]), "\(arguments)")
      let parsed = try BuildCommand.parse(arguments)
      #expect(read.targets == (parsed.tasks.isEmpty ? nil : parsed.tasks), "\(arguments)")
      #expect(read.jobs == parsed.j, "\(arguments)")
      #expect(read.dryRun == parsed.dryRun && read.explain == parsed.explain && read.quiet == parsed.quiet,
              "\(arguments)")
      #expect(!parsed.json && parsed.trace == nil)
      // The whole build runs from what was read without the parser: every flag as parsed.
      #expect(read.request == parsed.request, "\(arguments)")
    }
    let others: [[String]] = [
      ["--json"], ["--trace", "t.json"], ["-j"], ["-j", "0"], ["-j", "-1"], ["-j", "x"], ["--help"], ["-h"],
      ["--"], ["--", "app"], ["-kq"], ["-k", "-k"], ["-n", "--dry-run"], ["-q", "--quiet"], ["-j", "1", "-j", "2"],
      ["--explain=1"], ["-x"], ["app", "-"], ["-j", "1", "--jobs", "2"], ["--jobs=0"], ["--jobs="], ["-k", "--keep-going"],
      ["--jobs"], ["-v", "--verbose"],
    ]
    for arguments in others {
      #expect(SnapshotQuestion(plainArguments: arguments[...]) == nil, "\(arguments) is the parser's to read")
    }
  }

  /// A touched but unchanged file (new mtime, same bytes) is hashed again and the
  /// build still answered.
  @Test func aTouchedButUnchangedInputStillAnswers() throws {
    let (p, context) = try Self.settled()
    try p.touch("in.txt", secondsFromNow: -3600)
    #expect(try Self.answer(["-q"], context) == 0)
    #expect(try Self.pendingRecords(context) == 1)
    #expect(p.runs("copy") == 1)
  }
}
