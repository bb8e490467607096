import Foundation
import KilnTestSupport
import Testing

/// The parts of ninja's language that change what runs and when: regeneration of
/// the manifest, pools, validations, `deps = msvc`, phony edges without inputs, and the
/// null build answered from the snapshot before the manifest is parsed.
@Suite struct NinjaFeaturesTests {
  /// A generator edge writes build.ninja from `spec` (one output name per line): when
  /// spec changes, kiln runs the generator, reads the new manifest and builds it.
  static let regenerating: [String: String] = [
    "gen.sh": """
      #!/bin/sh
      # Writes build.ninja: one edge per name in spec, plus the edge that writes it.
      echo x >> .runs/gen
      {
        printf 'rule gen\\n  command = sh gen.sh\\n  generator = 1\\n'
        printf 'rule w\\n  command = echo $out > $out && echo x >> .runs/w\\n'
        printf 'build build.ninja: gen | gen.sh spec\\n'
        all=""
        while read -r name; do printf 'build %s: w\\n' "$name"; all="$all $name"; done < spec
        printf 'build all: phony%s\\ndefault all\\n' "$all"
      } > build.ninja.tmp && mv build.ninja.tmp build.ninja

      """,
    "spec": "a.txt\n",
  ]

  static func regeneratingProject() throws -> TempProject {
    let p = try TempProject(regenerating)
    #expect(try Program.run("/bin/sh", ["gen.sh"], in: p.root).status == 0)
    // As after cmake: the manifest is newer than what it was made from.
    try p.touch("build.ninja", secondsFromNow: 10)
    return p
  }

  @Test func anEditedGeneratorInputRegeneratesTheManifestAndTheBuildGoesOn() throws {
    let p = try Self.regeneratingProject()
    let first = try p.kiln("ninja")
    #expect(first.status == 0, "\(first)")
    #expect([p.runs("gen"), p.runs("w")] == [1, 1] as [Int], "a fresh manifest is not regenerated: \(first)")

    try p.write("spec", "a.txt\nb.txt\n")
    try p.touch("spec", secondsFromNow: 20)
    let second = try p.kiln("ninja")
    #expect(second.status == 0, "\(second)")
    #expect(p.runs("gen") == 2, "\(second)")
    #expect(p.read("b.txt") == "b.txt\n", "the new edge was built in the same run: \(second)")
    #expect(p.runs("w") == 2)

    let third = try p.kiln("ninja")
    #expect(third.status == 0 && p.runs("gen") == 2 && p.runs("w") == 2, "\(third)")
  }

  @Test func aFailedRegenerationKeepsTheOldManifest() throws {
    let p = try Self.regeneratingProject()
    #expect(try p.kiln("ninja").status == 0)
    let before = p.read("build.ninja")
    try p.write("gen.sh", "#!/bin/sh\necho x >> .runs/gen\nexit 3\n")
    try p.touch("gen.sh", secondsFromNow: 20)
    let r = try p.kiln("ninja")
    #expect(r.status == 1, "\(r)")
    #expect(p.read("build.ninja") == before, "kiln must not delete the manifest before its generator runs")
    // Fixed: the next run regenerates and builds.
    try p.write("gen.sh", Self.regenerating["gen.sh"]!)
    try p.touch("gen.sh", secondsFromNow: 30)
    #expect(try p.kiln("ninja").status == 0)
  }

  @Test func aPoolOfDepthOneRunsItsEdgesOneAtATime() throws {
    // Each edge takes a folder as a lock; two at once would find it taken and fail.
    var manifest = """
      pool one
        depth = 1
      rule serial
        command = mkdir held && sleep 0.2 && rmdir held && echo $out > $out
        pool = one

      """
    for i in 0..<4 { manifest += "build out\(i): serial\n" }
    let p = try TempProject(["build.ninja": manifest])
    let r = try p.kiln("ninja", "-j", "4")
    #expect(r.status == 0, "\(r)")
    for i in 0..<4 { #expect(p.read("out\(i)") == "out\(i)\n") }

    // The same edges without the pool do overlap (so the lock above can fail).
    let free = try TempProject(["build.ninja": manifest.replacingOccurrences(of: "  pool = one\n", with: "")])
    let overlapped = try free.kiln("ninja", "-j", "4", "-k", "0")
    #expect(overlapped.status == 1, "\(overlapped)")
  }

  @Test func aPoolOfDepthZeroIsUnbounded() throws {
    // ninja reads depth 0 as no bound; kiln once held such edges back and built nothing.
    let p = try TempProject([
      "build.ninja": "pool free\n  depth = 0\nrule w\n  command = echo $out > $out\n  pool = free\nbuild a: w\nbuild b: w\n",
    ])
    let r = try p.kiln("ninja", "-j", "2")
    #expect(r.status == 0 && p.read("a") == "a\n" && p.read("b") == "b\n", "\(r)")
  }

  @Test func aValidationIsBuiltWheneverItsEdgeIs() throws {
    let p = try TempProject([
      "build.ninja": """
        rule w
          command = echo $out > $out && echo x >> .runs/$out
        build lib: w |@ lint
        build lint: w
        build other: w
        build app: w lib

        """,
    ])
    let r = try p.kiln("ninja", "app")
    #expect(r.status == 0, "\(r)")
    #expect([p.runs("app"), p.runs("lib"), p.runs("lint"), p.runs("other")] == [1, 1, 1, 0] as [Int], "\(r)")
  }

  @Test func depsMsvcTakesIncludesFromTheOutput() throws {
    let p = try TempProject([
      "build.ninja": """
        rule cl
          command = cat $in > $out && cat inc.h >> $out && echo 'Note: including file:   inc.h' && echo compiled && echo x >> .runs/cl
          deps = msvc
        build a.obj: cl a.c

        """,
      "a.c": "a\n", "inc.h": "1\n",
    ])
    let r = try p.kiln("ninja")
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout.contains("compiled") && !r.stdout.contains("Note: including file"), "\(r)")
    #expect(try p.kiln("ninja").status == 0)
    #expect(p.runs("cl") == 1)
    try p.write("inc.h", "2\n")
    let edited = try p.kiln("ninja", "--explain")
    #expect(edited.status == 0, "\(edited)")
    #expect(p.runs("cl") == 2, "an include named on the output is an input: \(edited)")
    #expect(p.read("a.obj") == "a\n2\n")
  }

  @Test func aPhonyWithoutInputsNamesAFileThatMayBeMissing() throws {
    // CMake declares each input of its regeneration edge so.
    let p = try TempProject([
      "build.ninja": """
        rule c
          command = cat $in > $out 2>/dev/null; echo x >> .runs/c
        build out: c present | maybe
        build maybe present: phony

        """,
      "present": "p\n", "maybe": "m\n",
    ])
    #expect(try p.kiln("ninja").status == 0)
    try p.write("maybe", "changed\n")
    let edited = try p.kiln("ninja")
    #expect(edited.status == 0 && p.runs("c") == 2, "a file behind an empty phony is an input by content: \(edited)")
    p.remove("maybe")
    let missing = try p.kiln("ninja")
    #expect(missing.status == 0 && p.runs("c") == 3, "\(missing)")
  }

  @Test func anEdgeOnAMissingInputlessPhonyRunsEveryTimeAndMayWriteNothing() throws {
    // Meson's test target: `build meson-internal__test: CUSTOM_COMMAND all PHONY`,
    // `build PHONY: phony`, and a command that writes no file.
    let p = try TempProject([
      "build.ninja": """
        rule custom
          command = echo x >> .runs/test
        rule w
          command = echo $out > $out && echo x >> .runs/w
        build all: w
        build run-tests: custom all PHONY
        build PHONY: phony
        build test: phony run-tests

        """,
    ])
    for n in 1...2 {
      let r = try p.kiln("ninja", "test")
      #expect(r.status == 0, "\(r)")
      #expect([p.runs("test"), p.runs("w")] == [n, 1] as [Int], "\(r)")
    }
    // An ordinary edge that leaves its output unwritten is out of date, not failed.
    let q = try TempProject(["build.ninja": "rule none\n  command = echo x >> .runs/none\nbuild never: none\n"])
    for n in 1...2 {
      let r = try q.kiln("ninja")
      #expect(r.status == 0 && q.runs("none") == n, "\(r)")
    }
  }

  @Test func theGraphCacheServesAnUnchangedManifestAndNeverAnEditedOne() throws {
    let p = try TempProject(NinjaDropInTests.files)
    NullBuildTests.pause()
    #expect(try p.kiln("ninja").status == 0)
    #expect(p.exists(".kiln/state-build.ninja.graph"), "an unchanged manifest is not parsed again")
    try p.write("src/util.c", "int util(void) { return 11; }\n")
    let edited = try p.kiln("ninja", "--json")
    #expect(edited.status == 0 && edited.stdout.contains("\"ran\":2"), "\(edited)")
    // The manifest edited: a new edge, built.
    try p.append("build.ninja", "build extra.txt: gen\ndefault extra.txt\n")
    let grown = try p.kiln("ninja")
    #expect(grown.status == 0 && p.exists("extra.txt"), "\(grown)")
  }

  @Test func theConsoleShowsDescriptionsAndMinusKStopsAfterNFailures() throws {
    let p = try TempProject([
      "build.ninja": """
        rule fail
          command = echo x >> .runs/fail && exit 1
          description = FAILING $out
        rule ok
          command = echo $out > $out
          description = Writing $out
        build f1: fail
        build f2: fail
        build f3: fail
        build f4: fail
        build good: ok

        """,
    ])
    let r = try p.kiln("ninja", "-j", "1", "-k", "2")
    #expect(r.status == 1, "\(r)")
    #expect(p.runs("fail") == 2, "-k 2: two failures, then nothing more starts: \(r)")
    let q = try TempProject(["build.ninja": "rule ok\n  command = echo $out > $out\n  description = Writing $out\nbuild good: ok\n"])
    let ok = try q.kiln("ninja")
    #expect(ok.status == 0 && ok.stdout.contains("[1/1] Writing good\n"), "\(ok)")
    let all = try p.kiln("ninja", "-k", "0")
    #expect(all.status == 1 && p.runs("fail") == 6, "-k 0: every edge is tried: \(all)")
  }

  @Test func statsAndTheManifestReadANinjaFoldersRecords() throws {
    let p = try TempProject(NinjaDropInTests.files)
    #expect(try p.kiln("ninja").status == 0)
    let stats = try p.kiln("stats")
    #expect(stats.status == 0 && stats.stdout.contains("4 ran"), "\(stats)")
    let manifest = try p.kiln("manifest")
    #expect(manifest.status == 0 && manifest.stdout.contains("  app\n"), "\(manifest)")
    // Building it is kiln ninja's: kiln build says so.
    let build = try p.kiln("build")
    #expect(build.status == 2 && build.stderr.contains("this folder has a build.ninja: kiln ninja builds it"), "\(build)")
  }

  @Test func aNullBuildIsAnsweredFromTheSnapshot() throws {
    let p = try TempProject(NinjaDropInTests.files)
    #expect(try p.kiln("ninja").status == 0)
    // The outputs were written moments ago (racy): the snapshot compares them by
    // content, so the null build right after the build is answered from it too.
    let null = try p.kiln("ninja", "--explain")
    #expect(null.status == 0, "\(null)")
    #expect(null.stdout.contains("no file changed since the last build"), "\(null)")
    #expect(null.stdout.contains("compared by content"), "\(null)")
    // Another target is another build: not answered from this snapshot.
    let other = try p.kiln("ninja", "--explain", "obj/util.o")
    #expect(other.status == 0 && !other.stdout.contains("no file changed"), "\(other)")
    // An edit is seen by the snapshot's stats.
    try p.write("src/util.c", "int util(void) { return 9; }\n")
    let edited = try p.kiln("ninja", "--json")
    #expect(edited.status == 0 && edited.stdout.contains("\"ran\":2"), "\(edited)")
  }

  /// `kiln ninja build.ninja` (what `meson test` asks for first) regenerates the
  /// manifest only when it is older than what it is made from, as ninja does; decided
  /// as any edge, the generator ran every time.
  @Test func askingForTheManifestRunsItsGeneratorOnlyWhenItIsOutOfDate() throws {
    let p = try Self.regeneratingProject()
    for _ in 0..<2 {
      let asked = try p.kiln("ninja", "build.ninja")
      #expect(asked.status == 0 && p.runs("gen") == 1, "\(asked)")
    }
    try p.touch("spec", secondsFromNow: 20)
    let stale = try p.kiln("ninja", "build.ninja")
    #expect(stale.status == 0 && p.runs("gen") == 2, "\(stale)")
    let again = try p.kiln("ninja", "build.ninja")
    #expect(again.status == 0 && p.runs("gen") == 2, "\(again)")
    #expect(p.runs("w") == 0, "only the manifest was asked for")
  }

  /// CMake's `clean` target runs `<make program> -t clean`, Meson's `<ninja> -t clean`:
  /// with kiln as that program, a kiln inside a task of the build that holds the
  /// checkout, which could only fail. kiln runs its clean tool itself: what it wrote is
  /// deleted, a file it did not write is kept, and the next build restores.
  @Test(arguments: ["cmake", "meson"])
  func theCleanTargetRunsKilnsCleanTool(_ generator: String) throws {
    let p = try TempProject(["in.txt": "payload\n", "mine.txt": "not kiln's\n"])
    let link = p.root + "/bin/kiln-ninja"
    try FileManager.default.createDirectory(atPath: p.root + "/bin", withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: TempProject.kilnBinary)
    let clean = generator == "cmake"
      ? "rule CLEAN\n  command = \(link) $FILE_ARG -t clean $TARGETS\nbuild clean: CLEAN\n"
      : "rule CUSTOM_COMMAND\n  command = $COMMAND\nbuild meson-internal__clean: CUSTOM_COMMAND PHONY\n"
        + "  COMMAND = \(link) -t clean\nbuild clean: phony meson-internal__clean\nbuild PHONY: phony\n"
    try p.write("build.ninja", """
      rule cp
        command = echo $out >> .runs/cp && cp $in $out
      build out/a.txt: cp in.txt
      build out/b.txt: cp out/a.txt
      default out/b.txt

      """ + clean)
    #expect(try p.kiln("ninja").status == 0)
    #expect(p.read("out/b.txt") == "payload\n")
    let cleaned = try p.kiln("ninja", "clean")
    #expect(cleaned.status == 0 && cleaned.stdout.contains("Cleaning... 2 files."), "\(cleaned)")
    #expect(!p.exists("out/a.txt") && !p.exists("out/b.txt") && p.read("mine.txt") == "not kiln's\n", "\(cleaned)")
    let rebuilt = try p.kiln("ninja")
    #expect(rebuilt.status == 0 && rebuilt.stdout.contains("0 ran, 2 restored"), "\(rebuilt)")
    #expect(p.read("out/b.txt") == "payload\n" && p.runs("cp") == 2)
  }
}
