import Foundation
import KilnTestSupport
import Testing

/// A build after an edit stands on the last build's snapshot (`SnapshotDelta`): it
/// decides only the instances that use a changed file and what depends on them, reads
/// only their records, and patches the snapshot. Every verdict must be the one deciding
/// everything would give: the same commands run, the same outputs, a null build after.
@Suite struct SnapshotDeltaTests {
  /// The line `--explain` prints when the build stands on the snapshot.
  static func standing(_ r: KilnResult) -> String? {
    r.stderrLines.first { $0.contains("changed since the last build") && $0.contains("deciding the") }
  }

  /// The bytes of every output, built from scratch with the cache off in a copy of
  /// the project's sources as they are now.
  static func fromScratch(_ p: TempProject, outputs: [String]) throws -> [String: [UInt8]] {
    let fresh = try TempProject([:])
    for path in p.files() where !path.hasPrefix(".kiln") && !path.hasPrefix(".runs") && !outputs.contains(where: { path.hasPrefix($0) }) {
      try fresh.write(path, bytes: p.bytes(path)!)
    }
    let built = try fresh.kiln("build", "--no-cache")
    #expect(built.status == 0, "\(built)")
    var result: [String: [UInt8]] = [:]
    for path in fresh.files() where outputs.contains(where: { path.hasPrefix($0) }) && !path.hasSuffix(".d") {
      result[path] = fresh.bytes(path)
    }
    return result
  }

  static func outputs(_ p: TempProject, under prefixes: [String]) -> [String: [UInt8]] {
    var result: [String: [UInt8]] = [:]
    for path in p.files() where prefixes.contains(where: { path.hasPrefix($0) }) && !path.hasSuffix(".d") {
      result[path] = p.bytes(path)
    }
    return result
  }

  /// A new `src/c.c`, which a glob matches: judged as a full build would (not standing
  /// on the snapshot), compiled, every output as from scratch, and a null build after.
  static func expectNewSourceCompiled(_ p: TempProject) throws {
    try p.write("src/c.c", "int c(void) { return 0; }\n")
    let added = try p.kiln("build", "--explain")
    #expect(added.status == 0 && Self.standing(added) == nil, "\(added)")
    #expect(p.runLines("compile").last == "c", "\(added)")
    #expect(Self.outputs(p, under: ["build/", "app"]) == (try Self.fromScratch(p, outputs: ["build/", "app"])))
    #expect(try p.kiln("build").ranCount == 0)
  }

  @Test func anEditedSourceDecidesItsCompileAndWhatDependsOnIt() throws {
    let p = try TempProject(Fixture.cProject)
    #expect(try p.kiln("build").status == 0)
    #expect(try p.kiln("build").ranCount == 0)

    try p.write("src/b.c", "#include \"common.h\"\nint b(void) { return COMMON + 1; }\n")
    let edited = try p.kiln("build", "--explain")
    #expect(edited.status == 0, "\(edited)")
    let line = try #require(Self.standing(edited), "\(edited)")
    #expect(line.contains("src/b.c") && line.contains("deciding the 2 of 4 instances"), "\(line)")
    #expect(Array(p.runLines("compile").dropFirst(3)) == ["b"], "\(edited)")
    #expect(p.runs("link") == 2)
    #expect(edited.stdout.contains("2 ran, 0 restored, 2 up to date"), "\(edited)")
    #expect(Self.outputs(p, under: ["build/", "app"]) == (try Self.fromScratch(p, outputs: ["build/", "app"])))
    // The patched snapshot answers the next build, and stands for the next edit.
    let null = try p.kiln("build")
    #expect(null.ranCount == 0 && null.status == 0, "\(null)")
    try p.write("src/a.c", "#include \"a.h\"\n#include \"common.h\"\nint a(void) { return A_VALUE * 1; }\n")
    let again = try p.kiln("build", "--explain")
    #expect(Self.standing(again)?.contains("src/a.c") == true, "\(again)")
    #expect(Array(p.runLines("compile").dropFirst(4)) == ["a"], "\(again)")
    #expect(try p.kiln("build").ranCount == 0)
  }

  /// A header is a discovered input: the instances whose depfiles named it are
  /// decided, and only those.
  @Test func anEditedHeaderDecidesTheCompilesThatIncludedIt() throws {
    let p = try TempProject(Fixture.cProject)
    #expect(try p.kiln("build").status == 0)
    #expect(try p.kiln("build").ranCount == 0)
    try p.write("src/a.h", "#define A_VALUE 2\n")
    try p.write("src/main.c", "#include \"common.h\"\nint main(void) { return a() + b() - 3 * COMMON; }\n")
    let headers = try p.kiln("build", "--explain")
    #expect(headers.status == 0, "\(headers)")
    #expect(Self.standing(headers)?.contains("deciding the 3 of 4") == true, "\(headers)")
    #expect(Array(p.runLines("compile").dropFirst(3)).sorted() == ["a", "main"], "\(headers)")
    try p.write("src/common.h", "#define COMMON 1\nint a(void);\nint b(void);\n/* every file */\n")
    let common = try p.kiln("build", "--explain")
    #expect(Self.standing(common)?.contains("deciding the 4 of 4") == true, "\(common)")
    #expect(Array(p.runLines("compile").dropFirst(5)).sorted() == ["a", "b", "main"], "\(common)")
    #expect(Self.outputs(p, under: ["build/", "app"]) == (try Self.fromScratch(p, outputs: ["build/", "app"])))
    #expect(try p.kiln("build").ranCount == 0)
  }

  /// An output changed by hand is a change like any other: its instance is decided
  /// and puts it back (from the cache); the build file or a folder a glob lists
  /// changed, or a new source, and everything is decided.
  @Test func outputsBuildFileAndNewFilesAreJudgedAsAFullBuildWould() throws {
    let p = try TempProject(Fixture.cProject)
    #expect(try p.kiln("build").status == 0)
    #expect(try p.kiln("build").ranCount == 0)
    let good = p.bytes("build/a.o")
    try p.write("build/a.o", "not an object\n")
    let damaged = try p.kiln("build", "--explain")
    #expect(damaged.status == 0, "\(damaged)")
    #expect(Self.standing(damaged)?.contains("build/a.o") == true, "\(damaged)")
    #expect(p.bytes("build/a.o") == good)
    #expect(p.runLines("compile").count == 3, "restored, not run: \(damaged)")

    try p.append("kiln.yml", "\n# a comment\n")
    let file = try p.kiln("build", "--explain")
    #expect(file.status == 0 && Self.standing(file) == nil, "\(file)")

    try Self.expectNewSourceCompiled(p)
  }

  /// A restore from the cache writes no depfiles, so each compile after it writes its
  /// depfile as a new name in a folder a glob lists (`link`'s `build/*.o`). No glob
  /// matches it: the next edit still stands on the snapshot. The same for names an
  /// editor leaves beside the sources. A new name a glob matches is judged as a full
  /// build would, in a source folder and in the folder of the outputs alike.
  @Test func namesNoGlobMatchesLeaveTheNextEditStandingOnTheSnapshot() throws {
    let p = try TempProject(Fixture.cProject)
    #expect(try p.kiln("build").status == 0)
    p.remove("build")
    p.remove("app")
    let restored = try p.kiln("build")
    #expect(restored.stdout.contains("0 ran, 4 restored"), "\(restored)")
    #expect(p.bytes("build/b.d") == nil, "a restore writes no depfile")

    try p.write("src/b.c", "#include \"common.h\"\nint b(void) { return COMMON + 1; }\n")
    // (Expansion saw no build/ before the restore made it: this one decides everything.)
    let first = try p.kiln("build", "--explain")
    #expect(first.status == 0, "\(first)")
    #expect(p.bytes("build/b.d") != nil, "the compile wrote its depfile: a new name in build/")

    try p.write("src/a.c", "#include \"a.h\"\n#include \"common.h\"\nint a(void) { return A_VALUE * 1; }\n")
    let second = try p.kiln("build", "--explain")
    #expect(second.status == 0, "\(second)")
    let line = try #require(Self.standing(second), "the new depfile must not end the snapshot: \(second)")
    #expect(line.contains("src/a.c") && line.contains("deciding the 2 of 4"), "\(line)")
    #expect(Array(p.runLines("compile").dropFirst(4)) == ["a"], "\(second)")

    // An editor's swap file and notes beside the sources: nothing changed that counts.
    try p.write("src/.a.c.swp", "swap")
    try p.write("src/notes.txt", "notes")
    let null = try p.kiln("build", "--explain")
    #expect(null.ranCount == 0 && null.stdout.contains("4 up to date"), "\(null)")
    #expect((null.stdout + null.stderr).contains("no file changed since the last build"),
            "answered from the snapshot: \(null)")
    try p.write("src/b.c", "#include \"common.h\"\nint b(void) { return COMMON + 2; }\n")
    let third = try p.kiln("build", "--explain")
    #expect(Self.standing(third)?.contains("src/b.c") == true, "\(third)")

    // A name `build/*.o` matches, beside the outputs: link's inputs changed (no object
    // in it, so the link fails; that it ran is what counts here).
    let links = p.runs("link")
    try p.write("build/extra.o", "")
    let extra = try p.kiln("build", "--explain")
    #expect(Self.standing(extra) == nil && p.runs("link") == links + 1, "\(extra)")
    p.remove("build/extra.o")
    // A name `src/*.c` matches: a new compile.
    try Self.expectNewSourceCompiled(p)
  }

  /// A folder an edit build compiled in has a new stat, which the next edit build's
  /// comparison finds holding the same names: the snapshot it leaves keeps that stat,
  /// so the builds after it do not list the folder again (each edit's folder used to
  /// be compared by content by every build after it).
  @Test func aFolderFoundHoldingKeepsItsNewStat() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          compile:
            foreach: src/**/*.c
            outputs: build/{dir}/{stem}.o
            depfile: build/{dir}/{stem}.d
            run: echo {stem} >> .runs/compile && cc -MD -MF build/{dir}/{stem}.d -c {in} -o {out}
          link:
            inputs: build/**/*.o
            outputs: app
            run: echo x >> .runs/link && cc -o {out} {in}
        """,
      "src/x/a.c": "int a(void) { return 1; }\n",
      "src/y/b.c": "int b(void) { return 2; }\n",
      "src/main.c": "int a(void); int b(void);\nint main(void) { return a() + b() - 3; }\n",
    ])
    #expect(try p.kiln("build").status == 0)
    #expect(try p.kiln("build").ranCount == 0)
    try p.write("src/x/a.c", "int a(void) { return 2; }\n")
    let first = try p.kiln("build", "--explain")
    #expect(Self.standing(first) != nil && first.status == 0, "\(first)")
    try p.write("src/y/b.c", "int b(void) { return 1; }\n")
    let second = try p.kiln("build", "--explain")
    #expect(Self.standing(second) != nil && second.status == 0, "\(second)")
    #expect(Array(p.runLines("compile").suffix(2)) == ["a", "b"], "\(second)")
    // build/src/x moved in the first edit build and was found holding in the second:
    // only build/src/y, which the second rewrote, has moved since.
    let null = try p.kiln("build", "--explain")
    let said = null.stdout + null.stderr
    #expect(null.ranCount == 0 && said.contains("no file changed since the last build"), "\(null)")
    #expect(said.contains(", 1 touched but not changed"), "\(said)")
    #expect(Self.outputs(p, under: ["build/", "app"]) == (try Self.fromScratch(p, outputs: ["build/", "app"])))
  }

  /// `use` reads the header `gen` writes without declaring it (found through its
  /// depfile), and does not depend on `gen`.
  static func undeclaredReader() throws -> TempProject {
    try TempProject([
      "kiln.yml": """
        tasks:
          gen:
            inputs: spec.txt
            outputs: gen/value.h
            run: echo gen >> .runs/gen && cp spec.txt gen/value.h
          use:
            inputs: use.c
            outputs: build/use.o
            depfile: build/use.d
            run: echo use >> .runs/use && cc -Igen -MD -MF build/use.d -c use.c -o build/use.o
        """,
      "spec.txt": "#define VALUE 1\n",
      "use.c": "#include \"value.h\"\nint use(void) { return VALUE; }\n",
    ])
  }

  /// Builds until a build succeeds and runs nothing. The first build may run `use`
  /// beside `gen`, before the header is written: the compile then fails (no header
  /// yet) or reads the old one, and the next build runs it again. And the graph cache
  /// is written with the outputs recorded before the build (globs leave them out), so
  /// the first edit after the first builds decides everything.
  static func settle(_ p: TempProject) throws {
    var builds: [KilnResult] = []
    while builds.count < 5, builds.last.map({ $0.status != 0 || $0.ranCount != 0 }) ?? true {
      builds.append(try p.kiln("build"))
    }
    #expect(builds.last?.status == 0 && builds.last?.ranCount == 0, "\(builds)")
    // Only a race with the header can fail a build: never two in a row.
    #expect(!zip(builds, builds.dropFirst()).contains { $0.status != 0 && $1.status != 0 }, "\(builds)")
  }

  /// A file a decided instance wrote that an instance not decided read (a generated
  /// header included without being declared, so no dependency says so): the patched
  /// snapshot cannot stand for that reader, so none is kept and the next build decides
  /// everything, and reruns the reader, as a full build would.
  @Test func aFileWrittenUnderAnUndecidedReaderEndsTheSnapshot() throws {
    let p = try Self.undeclaredReader()
    let settle = { try Self.settle(p) }
    try settle()
    try p.write("spec.txt", "#define VALUE 2\n")
    try settle()
    let (gens, uses) = (p.runs("gen"), p.runs("use"))
    try p.write("spec.txt", "#define VALUE 3\n")
    let edited = try p.kiln("build", "--explain")
    #expect(edited.status == 0, "\(edited)")
    #expect(Self.standing(edited)?.contains("deciding the 1 of 2") == true, "\(edited)")
    #expect(p.runs("gen") == gens + 1 && p.runs("use") == uses, "\(edited)")
    let next = try p.kiln("build", "--explain")
    #expect(next.status == 0 && Self.standing(next) == nil, "\(next)")
    #expect(p.runs("use") == uses + 1, "the reader of the new header runs: \(next)")
    #expect(try p.kiln("build").ranCount == 0)
  }

  /// The same on a build that decides everything (the build file edited too): the
  /// reader is decided up to date before the header is written again, so the
  /// snapshot, which would hold the new header, must not be taken; the next build
  /// finds the reader's record older than the header and runs it.
  @Test func aFileWrittenAfterItsReaderWasDecidedEndsTheSnapshotOfAFullBuild() throws {
    let p = try Self.undeclaredReader()
    let settle = { try Self.settle(p) }
    try settle()
    let (gens, uses) = (p.runs("gen"), p.runs("use"))
    try p.write("spec.txt", "#define VALUE 2\n")
    try p.write("kiln.yml", try #require(p.read("kiln.yml")) + "\n# edited\n")
    let edited = try p.kiln("build", "--explain")
    #expect(edited.status == 0 && Self.standing(edited) == nil, "\(edited)")
    #expect(p.runs("gen") == gens + 1 && p.runs("use") == uses, "\(edited)")
    let next = try p.kiln("build")
    #expect(next.status == 0, "\(next)")
    #expect(p.runs("use") == uses + 1, "the reader of the new header runs: \(next)")
    #expect(try p.kiln("build").ranCount == 0)
  }

  /// A symlink output deleted after the build that made it (ran or restored) is seen by
  /// the next build's snapshot check and made again; before, the snapshot held no look
  /// at it when its task had run, and the next build said nothing changed.
  @Test func aDeletedSymlinkOutputIsMadeAgain() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          link:
            inputs: data.txt
            outputs: [copy.txt, link.txt]
            run: echo x >> .runs/link; cp data.txt copy.txt; ln -sf copy.txt link.txt

        """,
      "data.txt": "payload\n",
    ])
    #expect(try p.kiln("build").status == 0)
    p.remove("link.txt")
    let ran = try p.kiln("build", "--explain")
    #expect(ran.status == 0 && !ran.output.contains("no file changed"), "\(ran)")
    #expect(p.read("link.txt") == "payload\n", "\(ran)")
    // Made by a restore this time: deleted again, it is seen again.
    p.remove("link.txt")
    let restored = try p.kiln("build", "--explain")
    #expect(restored.status == 0 && !restored.output.contains("no file changed"), "\(restored)")
    #expect(p.read("link.txt") == "payload\n", "\(restored)")
    #expect(p.runs("link") == 1)
    #expect(try p.kiln("build").ranCount == 0)
  }

  /// A build that restored every output (a checkout at another path on a warm cache,
  /// as a fresh worktree is) leaves a snapshot and a graph cache: the null build after
  /// it is answered by the snapshot. Before, two looks taken before the outputs existed
  /// contradicted the build's looks at them after (the restore's own, and expansion's
  /// at an input a task declares), so the build took no snapshot; and the graph cache
  /// was not written because `.kiln/` did not exist yet when the build file expanded.
  /// (The first edit after it still decides every instance here: the graph cache was
  /// made before any record named the outputs, and a folder that appears during the
  /// build, or a glob over one the build writes names into, does the same; the objects'
  /// folder is part of the checkout in this test, and the link names its objects.)
  @Test func aBuildThatRestoredEverythingLeavesASnapshotAndAGraphCache() throws {
    var files = Fixture.cProject
    files["kiln.yml"] = files["kiln.yml"]!.replacingOccurrences(of: "inputs: build/*.o",
                                                                with: "inputs: [build/main.o, build/a.o, build/b.o]")
    files["build/.keep"] = ""
    let first = try TempProject(files)
    #expect(try first.kiln("build").status == 0)
    let p = try TempProject(files, sharingCacheWith: first)
    try p.write(".runs/.keep", "")
    let restored = try p.kiln("build")
    #expect(restored.status == 0 && restored.stdout.contains("0 ran, 4 restored"), "\(restored)")
    #expect(p.bytes(".kiln/state.snapshot") != nil, "the restoring build took no snapshot")
    #expect(p.bytes(".kiln/state.graph") != nil, "the restoring build wrote no graph cache")
    let null = try p.kiln("build", "--explain")
    #expect(null.ranCount == 0 && (null.stdout + null.stderr).contains("no file changed since the last build"),
            "answered from the snapshot: \(null)")
    try p.write("src/b.c", "#include \"common.h\"\nint b(void) { return COMMON + 2; }\n")
    let edited = try p.kiln("build")
    #expect(edited.status == 0 && p.runLines("compile") == ["b"] && p.runs("link") == 1, "\(edited)")
    #expect(Self.outputs(p, under: ["build/", "app"]).filter { $0.key != "build/.keep" }
      == (try Self.fromScratch(p, outputs: ["build/", "app"])))
    #expect(try p.kiln("build").ranCount == 0)
  }

  /// The same for `kiln ninja` (a second build folder of a CMake project): the build
  /// that restored every edge leaves a snapshot the first edit stands on.
  @Test func kilnNinjaAfterARestoreStandsOnTheSnapshot() throws {
    var files = Self.copyAndCat
    files[".runs/.keep"] = ""
    let first = try TempProject(files)
    #expect(try first.kiln("ninja").status == 0)
    let p = try TempProject(files, sharingCacheWith: first)
    let restored = try p.kiln("ninja")
    #expect(restored.status == 0 && restored.stdout.contains("0 ran, 3 restored"), "\(restored)")
    try p.write("a.txt", "ALPHA\n")
    let edited = try p.kiln("ninja", "--explain")
    #expect(edited.status == 0, "\(edited)")
    #expect(Self.standing(edited)?.contains("deciding the 2 of 3") == true, "\(edited)")
    #expect(p.runLines("cp") == ["out/a.txt"] && p.runs("cat") == 1, "\(edited)")
    #expect(p.read("all.txt") == "ALPHA\nbravo\n")
    #expect(try p.kiln("ninja").ranCount == 0)
  }

  /// Two copies and their concatenation, as a build.ninja.
  static let copyAndCat = [
    "build.ninja": """
      rule cp
        command = echo $out >> .runs/cp && cp $in $out
      rule cat
        command = echo $out >> .runs/cat && cat $in > $out
      build out/a.txt: cp a.txt
      build out/b.txt: cp b.txt
      build all.txt: cat out/a.txt out/b.txt

      """,
    "a.txt": "alpha\n",
    "b.txt": "bravo\n",
  ]

  /// `kiln ninja` stands on its snapshot too; a manifest edited decides everything.
  @Test func kilnNinjaDecidesTheEdgesThatUseTheEditedFile() throws {
    let p = try TempProject(Self.copyAndCat)
    #expect(try p.kiln("ninja").status == 0)
    #expect(try p.kiln("ninja").status == 0)
    #expect(p.runs("cp") == 2 && p.runs("cat") == 1)
    try p.write("a.txt", "ALPHA\n")
    let edited = try p.kiln("ninja", "--explain")
    #expect(edited.status == 0, "\(edited)")
    #expect(Self.standing(edited)?.contains("deciding the 2 of 3") == true, "\(edited)")
    #expect(Array(p.runLines("cp").dropFirst(2)) == ["out/a.txt"], "\(edited)")
    #expect(p.runs("cat") == 2 && p.read("all.txt") == "ALPHA\nbravo\n")
    let null = try p.kiln("ninja", "--explain")
    #expect(null.output.contains("no file changed since the last build"), "\(null)")

    try p.append("build.ninja", "build extra.txt: cp b.txt\n")
    let manifest = try p.kiln("ninja", "--explain")
    #expect(manifest.status == 0 && Self.standing(manifest) == nil, "\(manifest)")
    #expect(p.read("extra.txt") == "bravo\n")
  }

  /// As CMake writes it: the manifest in a build folder, every source named by its
  /// absolute path outside that folder. An edited source decides only the edges that
  /// use it (and what depends on them); so does an edited header outside; the objects
  /// are those of a plain compile of the sources as they are; a null build after.
  @Test func kilnNinjaStandsOnTheSnapshotForSourcesOutsideItsFolder() throws {
    let p = try TempProject([
      "src/a.c": "#include \"h.h\"\nint a(void) { return H; }\n",
      "src/b.c": "int b(void) { return 2; }\n",
      "src/h.h": "#define H 1\n",
    ])
    let src = p.root + "/src"
    try p.write("build/build.ninja", """
      rule cc
        command = echo $out >> .runs/cc && cc -MD -MF $out.d -c $in -o $out
        depfile = $out.d
        deps = gcc
      rule ar
        command = echo $out >> .runs/ar && rm -f $out && ar rcs $out $in
      build a.o: cc \(src)/a.c
      build b.o: cc \(src)/b.c
      build lib.a: ar a.o b.o

      """)
    try p.write("build/.runs/.keep", "")
    #expect(try p.kiln("ninja", "-C", "build").status == 0)
    #expect(try p.kiln("ninja", "-C", "build").ranCount == 0)
    #expect(p.read("build/.runs/cc")?.split(separator: "\n").count == 2)

    try p.write("src/b.c", "int b(void) { return 3; }\n")
    let edited = try p.kiln("ninja", "-C", "build", "--explain")
    #expect(edited.status == 0, "\(edited)")
    #expect(Self.standing(edited)?.contains("deciding the 2 of 3") == true, "\(edited)")
    #expect(p.read("build/.runs/cc")?.split(separator: "\n").last == "b.o", "\(edited)")
    #expect(p.read("build/.runs/cc")?.split(separator: "\n").count == 3)

    try p.write("src/h.h", "#define H 7\n")
    let header = try p.kiln("ninja", "-C", "build", "--explain")
    #expect(header.status == 0, "\(header)")
    #expect(Self.standing(header)?.contains("deciding the 2 of 3") == true, "\(header)")
    #expect(p.read("build/.runs/cc")?.split(separator: "\n").last == "a.o", "\(header)")
    #expect(p.read("build/.runs/ar")?.split(separator: "\n").count == 3)

    // The same objects as a plain compile of the sources as they are now.
    let fresh = try TempProject([:])
    for name in ["a.c", "b.c", "h.h"] { try fresh.write("src/" + name, bytes: p.bytes("src/" + name)!) }
    for name in ["a", "b"] {
      let cc = Process()
      cc.executableURL = URL(fileURLWithPath: "/bin/sh")
      cc.arguments = ["-c", "cc -c \(fresh.root)/src/\(name).c -o \(fresh.root)/\(name).o"]
      cc.environment = TestEnvironment.variables(home: fresh.home, cache: fresh.cache.path)
      try cc.run()
      cc.waitUntilExit()
      #expect(cc.terminationStatus == 0)
      #expect(fresh.bytes(name + ".o") != nil && fresh.bytes(name + ".o") == p.bytes("build/\(name).o"), "\(name).o")
    }
    let null = try p.kiln("ninja", "-C", "build", "--explain")
    #expect(null.output.contains("no file changed since the last build"), "\(null)")
  }

  /// Meson's layout: the build folder beside the sources, which build.ninja names as
  /// `../src/a.c`; the compiler's depfile names them so too, and kiln takes a depfile's
  /// path outside the folder by its absolute name. The source is the edge's own input,
  /// not a discovered one: an edit is one file changed, and `-t deps` does not list it.
  @Test func aSourceNamedFromBesideItsFolderIsOneFile() throws {
    let p = try TempProject([
      "src/a.c": "#include \"h.h\"\nint a(void) { return H; }\n",
      "src/h.h": "#define H 1\n",
      "build/build.ninja": """
        rule cc
          command = cc -MD -MF $out.d -c $in -o $out
          depfile = $out.d
          deps = gcc
        build a.o: cc ../src/a.c

        """,
    ])
    #expect(try p.kiln("ninja", "-C", "build").status == 0)
    #expect(try p.kiln("ninja", "-C", "build").ranCount == 0)
    let deps = try p.kiln("ninja", "-C", "build", "-t", "deps")
    #expect(deps.status == 0 && deps.stdout.contains("h.h") && !deps.stdout.contains("a.c"), "\(deps)")
    try p.write("src/a.c", "#include \"h.h\"\nint a(void) { return H + 1; }\n")
    let edited = try p.kiln("ninja", "-C", "build", "--explain")
    #expect(edited.status == 0 && edited.ranCount == 1, "\(edited)")
    #expect(Self.standing(edited)?.contains("1 file changed") == true, "\(edited)")
  }
}
