import Foundation
import KilnTestSupport
import Testing

/// What reruns after what change: nothing on a null build or a touch, exactly the
/// dependents of an edited header, nothing downstream of a byte-identical output.
@Suite struct IncrementalTests {

  @Test func nullBuildRunsNothing() throws {
    let p = try TempProject(Fixture.pipeline)
    let first = try p.kiln("build")
    #expect(first.status == 0, "\(first)")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)
    #expect(p.read("all.txt") == "ALPHA\nBETA\n")

    let second = try p.kiln("build")
    #expect(second.status == 0, "\(second)")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)
    #expect(second.ranCount == 0, "\(second)")
  }

  @Test func touchWithoutEditRunsNothing() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    // A later mtime (and a new ctime), same bytes: the stat cache must fall back to
    // the content hash and find nothing changed.
    try p.touch("src/a.txt", secondsFromNow: 3600)
    try p.touch("out/b.txt", secondsFromNow: 3600)
    let afterFuture = try p.kiln("build")
    #expect(afterFuture.status == 0, "\(afterFuture)")
    try p.touch("src/b.txt", secondsFromNow: -3600)
    let afterPast = try p.kiln("build")
    #expect(afterPast.status == 0, "\(afterPast)")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)
  }

  /// A C project whose headers are found through depfiles: editing a header reruns
  /// exactly the compiles that include it, and the link only when an object changed.
  @Test func headerEditRerunsExactlyItsDependents() throws {
    let p = try TempProject(Fixture.cProject)
    let first = try p.kiln("build")
    #expect(first.status == 0, "\(first)")
    #expect(p.runLines("compile").sorted() == ["a", "b", "main"])
    #expect(p.runs("link") == 1)
    #expect(p.isExecutable("app"))

    // A new value: a.o changes, so the link reruns too.
    try p.write("src/a.h", "#define A_VALUE 2\n")
    let valueEdit = try p.kiln("build")
    #expect(valueEdit.status == 0, "\(valueEdit)")
    #expect(Array(p.runLines("compile").dropFirst(3)) == ["a"])
    #expect(p.runs("link") == 2)

    // A comment: a.c recompiles to the same object, so the link does not rerun.
    try p.write("src/a.h", "/* the value of a() */\n#define A_VALUE 2\n")
    let commentEdit = try p.kiln("build")
    #expect(commentEdit.status == 0, "\(commentEdit)")
    #expect(Array(p.runLines("compile").dropFirst(4)) == ["a"])
    #expect(p.runs("link") == 2)

    // The header everyone includes: every compile, and the link (main.o and b.o change).
    try p.write("src/common.h", "#define COMMON 3\nint a(void);\nint b(void);\n")
    let commonEdit = try p.kiln("build")
    #expect(commonEdit.status == 0, "\(commonEdit)")
    #expect(Array(p.runLines("compile").dropFirst(5)).sorted() == ["a", "b", "main"])
    #expect(p.runs("link") == 3)

    let null = try p.kiln("build")
    #expect(null.status == 0, "\(null)")
    #expect(p.runs("compile") == 8)
    #expect(p.runs("link") == 3)

    // A header the depfile names is deleted along with its #include: no error about
    // a missing input; a.c recompiles (to the same object, so no link).
    p.remove("src/a.h")
    try p.write("src/a.c", "#include \"common.h\"\nint a(void) { return 2; }\n")
    let deleted = try p.kiln("build")
    #expect(deleted.status == 0, "\(deleted)")
    #expect(Array(p.runLines("compile").dropFirst(8)) == ["a"])
    #expect(p.runs("link") == 3)
  }

  /// Early cutoff: an edit that leaves A's output byte-identical does not rerun B.
  @Test func earlyCutoffStopsAtIdenticalOutput() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          squeeze:
            inputs: in.txt
            outputs: gen/squeezed.txt
            run: echo x >> .runs/squeeze && tr -d ' ' < {in} > {out}
          double:
            inputs: gen/squeezed.txt
            outputs: gen/double.txt
            run: echo x >> .runs/double && cat {in} {in} > {out}
        """,
      "in.txt": "a b c\n",
    ])
    #expect(try p.kiln("build").status == 0)
    try p.write("in.txt", "a  b   c\n")
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(p.runs("squeeze") == 2)
    #expect(p.runs("double") == 1)
    #expect(p.read("gen/double.txt") == "abc\nabc\n")

    // A real change still goes all the way down.
    try p.write("in.txt", "a b d\n")
    #expect(try p.kiln("build").status == 0)
    #expect(p.runs("squeeze") == 3)
    #expect(p.runs("double") == 2)
    #expect(p.read("gen/double.txt") == "abd\nabd\n")
  }

  /// A task that edits its own input while it runs has no repeatable result: kiln
  /// warns, records nothing, and the next build runs it again.
  @Test func inputEditedDuringRunIsNotCached() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          grow:
            inputs: in.txt
            outputs: out.txt
            run: echo x >> .runs/grow && cat {in} > {out} && echo more >> {in}
        """,
      "in.txt": "start\n",
    ])
    let first = try p.kiln("build")
    #expect(first.status == 0, "\(first)")
    #expect(first.stderr.contains("changed while"), "\(first)")
    #expect(p.runs("grow") == 1)

    let second = try p.kiln("build")
    #expect(second.stderr.contains("changed while"), "\(second)")
    #expect(p.runs("grow") == 2)
  }

  /// Deleting a foreach source deletes what kiln made for it, so a glob over the
  /// outputs no longer sees it: the incremental build equals a clean one.
  @Test func staleOutputsAreDeleted() throws {
    let p = try TempProject(Fixture.pipeline.merging(["src/c.txt": "gamma\n"]) { $1 })
    #expect(try p.kiln("build").status == 0)
    #expect(p.read("all.txt") == "ALPHA\nBETA\nGAMMA\n")

    p.remove("src/b.txt")
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(!p.exists("out/b.txt"))
    #expect(p.read("all.txt") == "ALPHA\nGAMMA\n")
    #expect(p.runs("upper") == 3)
    #expect(p.runs("all") == 2)

    let clean = try p.clone(sharingCache: false)
    #expect(try clean.kiln("build").status == 0)
    #expect(clean.snapshot() == p.snapshot())

    // An undeclared file kiln did not make is never deleted.
    try p.write("out/mine.txt", "mine\n")
    p.remove("src/c.txt")
    #expect(try p.kiln("build").status == 0)
    #expect(!p.exists("out/c.txt"))
    #expect(p.read("out/mine.txt") == "mine\n")

    // A task removed from the build file: its output goes too.
    try p.write("kiln.yml", Fixture.pipeline["kiln.yml"]!.components(separatedBy: "  all:")[0])
    let removed = try p.kiln("build")
    #expect(removed.status == 0, "\(removed)")
    #expect(!p.exists("all.txt"))
    #expect(p.exists("out/a.txt"))
  }

  /// Paths with spaces and quotes reach the shell quoted.
  @Test func awkwardFileNamesAreQuoted() throws {
    let p = try TempProject(Fixture.pipeline.merging(["src/my file's.txt": "spaced\n"]) { $1 })
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(p.read("out/my file's.txt") == "SPACED\n")
    #expect(p.read("all.txt") == "ALPHA\nBETA\nSPACED\n")
    #expect(p.runLines("upper").sorted() == ["a", "b", "my file's"])
    #expect(try p.kiln("build").ranCount == 0)
  }

  /// A copy that keeps the old mtime (`cp -p`, `tar x`, `rsync -t`) still changes the
  /// ctime: kiln must not trust the stat cache and miss the edit.
  @Test func editWithPreservedMtimeIsSeen() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    let old = try FileManager.default.attributesOfItem(atPath: p.absolute("src/a.txt"))[.modificationDate] as! Date
    try p.write("src/a.txt", "ALPHA\n")  // same size
    try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: p.absolute("src/a.txt"))
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(p.runs("upper") == 3)
    #expect(p.read("all.txt") == "ALPHA\nBETA\n")
  }

  /// Values of `env` (top level and per task) and of `hash_env` variables are part
  /// of the key; other inherited variables are not.
  @Test func environmentIsPartOfTheKey() throws {
    let yaml = """
      env:
        SHARED: same
      tasks:
        greet:
          outputs: greet.txt
          env:
            GREETING: hello
          run: echo x >> .runs/greet && echo $GREETING > {out}
        tagged:
          outputs: tagged.txt
          hash_env: [KILN_IT_TAG]
          run: echo x >> .runs/tagged && echo "$KILN_IT_TAG" > {out}
      """
    let p = try TempProject(["kiln.yml": yaml])
    p.environment["KILN_IT_TAG"] = "one"
    #expect(try p.kiln("build").status == 0)
    #expect(p.read("greet.txt") == "hello\n")
    #expect(p.read("tagged.txt") == "one\n")

    try p.write("kiln.yml", yaml.replacingOccurrences(of: "GREETING: hello", with: "GREETING: howdy"))
    #expect(try p.kiln("build").status == 0)
    #expect(p.runs("greet") == 2)
    #expect(p.runs("tagged") == 1)
    #expect(p.read("greet.txt") == "howdy\n")

    p.environment["KILN_IT_TAG"] = "two"
    #expect(try p.kiln("build").status == 0)
    #expect(p.runs("greet") == 2)
    #expect(p.runs("tagged") == 2)
    #expect(p.read("tagged.txt") == "two\n")

    // Other variables are not in the key.
    p.environment["KILN_IT_UNRELATED"] = "whatever"
    #expect(try p.kiln("build").status == 0)
    #expect(p.runs("greet") == 2)
    #expect(p.runs("tagged") == 2)

    // The top-level env is in every task's key.
    try p.write("kiln.yml", yaml.replacingOccurrences(of: "GREETING: hello", with: "GREETING: howdy")
      .replacingOccurrences(of: "SHARED: same", with: "SHARED: different"))
    #expect(try p.kiln("build").status == 0)
    #expect(p.runs("greet") == 3)
    #expect(p.runs("tagged") == 3)
  }
}
