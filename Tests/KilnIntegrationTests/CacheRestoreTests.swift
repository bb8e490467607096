import KilnTestSupport
import Testing

/// Restores from the shared cache: byte-identical outputs, permissions kept, into the
/// same workspace or a fresh clone elsewhere; and a failure never reaches the cache.
@Suite struct CacheRestoreTests {
  static let project: [String: String] = [
    "kiln.yml": """
      tasks:
        upper:
          foreach: src/*.txt
          outputs: out/{stem}.txt
          run: echo {stem} >> .runs/upper && tr a-z A-Z < {in} > {out}
        script:
          inputs: out/*.txt
          outputs: bin/show
          run: echo x >> .runs/script && (echo '#!/bin/sh' && sed 's/^/echo /' {in}) > {out} && chmod +x {out} && echo made-the-script
      """,
    "src/a.txt": "alpha\n",
    "src/b.txt": "beta\n",
  ]
  static let outputs = ["out/a.txt", "out/b.txt", "bin/show"]

  @Test func deletedOutputsAreRestoredNotRun() throws {
    let p = try TempProject(Self.project)
    let first = try p.kiln("build")
    #expect(first.status == 0, "\(first)")
    #expect(p.isExecutable("bin/show"))
    #expect(!p.isExecutable("out/a.txt"))
    let before = Self.outputs.map { p.bytes($0) }
    #expect(p.read("bin/show") == "#!/bin/sh\necho ALPHA\necho BETA\n")

    for output in Self.outputs { p.remove(output) }
    p.remove("out")
    p.remove("bin")
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout.contains("restored"), "\(r)")
    #expect(r.stdout.contains("made-the-script"), "a restore replays the task's output: \(r)")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("script") == 1)
    #expect(Self.outputs.map { p.bytes($0) } == before)
    #expect(p.isExecutable("bin/show"))
    #expect(!p.isExecutable("out/a.txt"))

    // A modified output is put back as well.
    try p.write("out/a.txt", "tampered\n")
    #expect(try p.kiln("build").status == 0)
    #expect(p.read("out/a.txt") == "ALPHA\n")
    #expect(p.runs("upper") == 2)

    let null = try p.kiln("build")
    #expect(null.ranCount == 0, "\(null)")
  }

  @Test func freshCloneElsewhereRestoresEverything() throws {
    let p = try TempProject(Self.project)
    #expect(try p.kiln("build").status == 0)
    let clone = try p.clone(sharingCache: true)
    #expect(clone.root != p.root)
    #expect(!clone.exists(".kiln"))
    #expect(!clone.exists("bin/show"))

    let r = try clone.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(clone.runs("upper") == 0)
    #expect(clone.runs("script") == 0)
    #expect(clone.snapshot() == p.snapshot())
    #expect(clone.isExecutable("bin/show"))
    #expect(r.stdout.contains("made-the-script"), "a restore replays the task's output: \(r)")

    // And the clone is then up to date on its own.
    let null = try clone.kiln("build")
    #expect(null.ranCount == 0, "\(null)")
    #expect(!null.stdout.contains("(restored)"), "\(null)")
  }

  /// Copies in.txt, says what it read, and fails unless it reads "good".
  static let check = """
    tasks:
      check:
        inputs: in.txt
        outputs: out.txt
        run: echo x >> .runs/check && cp {in} {out} && echo check-said-$(cat {in}) && grep -q good {in}
    """

  @Test func failureStoresNothing() throws {
    let p = try TempProject(["kiln.yml": Self.check, "in.txt": "bad\n"])
    let first = try p.kiln("build")
    #expect(first.status == 1, "\(first)")
    #expect(first.output.contains("check-said-bad"), "\(first)")
    #expect(p.runs("check") == 1)

    let again = try p.kiln("build")
    #expect(again.status == 1, "\(again)")
    #expect(p.runs("check") == 2)

    let clone = try p.clone(sharingCache: true)
    let inClone = try clone.kiln("build")
    #expect(inClone.status == 1, "\(inClone)")
    #expect(clone.runs("check") == 1)
    #expect(inClone.output.contains("check-said-bad"), "\(inClone)")
  }

  /// A failure leaves the previous record alone: going back to the inputs that last
  /// succeeded is a cache hit, not a run.
  @Test func failureKeepsThePreviousResult() throws {
    let p = try TempProject([
      "kiln.yml": Self.check,
      "in.txt": "good\n",
    ])
    #expect(try p.kiln("build").status == 0)
    try p.write("in.txt", "bad\n")
    #expect(try p.kiln("build").status == 1)
    #expect(p.runs("check") == 2)
    try p.write("in.txt", "good\n")
    let back = try p.kiln("build")
    #expect(back.status == 0, "\(back)")
    #expect(p.runs("check") == 2)
    #expect(p.read("out.txt") == "good\n")
  }

  /// Depfile inputs travel with the cache entry: a clone that restored everything
  /// still reruns exactly the compile whose header it then edits.
  @Test func restoredTasksKeepTheirDepfileInputs() throws {
    let p = try TempProject(Fixture.cProject)
    #expect(try p.kiln("build").status == 0)
    let clone = try p.clone(sharingCache: true)
    let restored = try clone.kiln("build")
    #expect(restored.status == 0, "\(restored)")
    #expect(clone.runs("compile") == 0)
    #expect(clone.runs("link") == 0)
    #expect(clone.bytes("app") == p.bytes("app"))
    #expect(clone.isExecutable("app"))

    try clone.write("src/a.h", "#define A_VALUE 7\n")
    let edited = try clone.kiln("build")
    #expect(edited.status == 0, "\(edited)")
    #expect(clone.runLines("compile") == ["a"])
    #expect(clone.runs("link") == 1)
  }

  /// An output holding the workspace's absolute path is not restored into a
  /// workspace at another path: there the task runs (SPEC section 2).
  @Test func pathDependentOutputRunsElsewhere() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          where:
            outputs: where.txt
            run: echo x >> .runs/where && pwd > {out}
          plain:
            outputs: plain.txt
            run: echo x >> .runs/plain && echo same > {out}
        """
    ])
    #expect(try p.kiln("build").status == 0)
    #expect(p.read("where.txt") == p.root + "\n")

    let clone = try p.clone(sharingCache: true)
    let r = try clone.kiln("build", "--explain")
    #expect(r.status == 0, "\(r)")
    #expect(clone.read("where.txt") == clone.root + "\n", "\(r)")
    #expect(clone.runs("where") == 1)
    #expect(clone.runs("plain") == 0)
    #expect(r.output.contains("absolute path"), "--explain says why: \(r)")

    // At the original path the entry is still good.
    p.remove("where.txt")
    #expect(try p.kiln("build").status == 0)
    #expect(p.runs("where") == 1)
    #expect(p.read("where.txt") == p.root + "\n")
  }

  /// `cache: false` is never restored (it runs), but is still up to date when nothing
  /// changed; `always: true` runs on every build.
  @Test func cacheFalseAndAlways() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          private:
            inputs: in.txt
            outputs: private.txt
            cache: false
            run: echo x >> .runs/private && cat {in} > {out}
          every:
            inputs: in.txt
            always: true
            run: echo x >> .runs/every
        """,
      "in.txt": "one\n",
    ])
    #expect(try p.kiln("build").status == 0)
    #expect(try p.kiln("build").status == 0)
    #expect(p.runs("private") == 1)
    #expect(p.runs("every") == 2)

    p.remove("private.txt")
    #expect(try p.kiln("build").status == 0)
    #expect(p.runs("private") == 2)
    #expect(p.read("private.txt") == "one\n")

    let clone = try p.clone(sharingCache: true)
    #expect(try clone.kiln("build").status == 0)
    #expect(clone.runs("private") == 1)
    #expect(clone.runs("every") == 1)
  }

  /// A directory output is restored whole: every file, its bytes and its mode; and a
  /// rerun that makes fewer files leaves none of the old ones behind.
  @Test func directoryOutputsRoundTrip() throws {
    let yaml = """
      tasks:
        site:
          inputs: pages.txt
          outputs: site
          run: echo x >> .runs/site && mkdir -p site/bin && for p in $(cat {in}); do echo "<h1>$p</h1>" > site/$p.html; done && printf '#!/bin/sh\\necho run\\n' > site/bin/run.sh && chmod +x site/bin/run.sh
      """
    let p = try TempProject(["kiln.yml": yaml, "pages.txt": "index\nabout\n"])
    let first = try p.kiln("build")
    #expect(first.status == 0, "\(first)")
    let built = p.snapshot()
    #expect(built["site/about.html"] == Array("<h1>about</h1>\n".utf8))
    #expect(p.isExecutable("site/bin/run.sh"))

    p.remove("site")
    let restored = try p.kiln("build")
    #expect(restored.status == 0, "\(restored)")
    #expect(p.runs("site") == 1)
    #expect(p.snapshot() == built)
    #expect(p.isExecutable("site/bin/run.sh"))
    #expect(!p.isExecutable("site/index.html"))

    try p.write("pages.txt", "index\n")
    #expect(try p.kiln("build").status == 0)
    #expect(p.runs("site") == 2)
    #expect(!p.exists("site/about.html"))
    #expect(p.exists("site/index.html"))
  }
}
