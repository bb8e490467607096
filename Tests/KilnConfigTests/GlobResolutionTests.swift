import KilnConfig
import KilnCore
import Testing

/// How input and foreach globs resolve against the disk and declared outputs.
@Suite struct GlobResolutionTests {
  static let sources = [
    "a.c", "src/b.c", "src/x/c.c", "src/x/y/d.c", "src/x/y/notes.txt", "lib/e.c",
  ]

  private func inputs(_ pattern: String, files: [String], hiddenOutputs: Set<String> = []) throws -> [String] {
    let graph = try expand("""
      tasks:
        t:
          inputs: "\(pattern)"
          run: echo {in}
      """, files: files, hiddenOutputs: hiddenOutputs)
    return graph[0].inputs
  }

  @Test func doubleStarMatchesNestedDirectories() throws {
    #expect(try inputs("src/**/*.c", files: Self.sources) == ["src/b.c", "src/x/c.c", "src/x/y/d.c"])
  }

  @Test func doubleStarMatchesZeroDirectories() throws {
    #expect(try inputs("src/**/b.c", files: Self.sources) == ["src/b.c"])
    #expect(try inputs("**/*.c", files: Self.sources) == ["a.c", "lib/e.c", "src/b.c", "src/x/c.c", "src/x/y/d.c"])
  }

  @Test func starStaysInsideOneDirectory() throws {
    #expect(try inputs("src/*.c", files: Self.sources) == ["src/b.c"])
    #expect(try inputs("*/*.c", files: Self.sources) == ["lib/e.c", "src/b.c"])
  }

  @Test func eachGlobsMatchesAreSortedAndListsKeepTheirOrder() throws {
    let graph = try expand("""
      tasks:
        t:
          inputs: [z.txt, "src/*.c", a.txt]
          run: cat {in}
      """, files: ["z.txt", "a.txt", "src/c.c", "src/a.c", "src/b.c"])
    #expect(graph[0].inputs == ["z.txt", "src/a.c", "src/b.c", "src/c.c", "a.txt"])
    #expect(graph[0].command == "cat z.txt src/a.c src/b.c src/c.c a.txt")
  }

  @Test func hiddenFilesAreNotMatchedByStarOrDoubleStar() throws {
    let files = ["a.c", ".hidden.c", "src/.cache/b.c", "src/c.c", ".config/d.c"]
    #expect(try inputs("*.c", files: files) == ["a.c"])
    #expect(try inputs("**/*.c", files: files) == ["a.c", "src/c.c"])
    #expect(try inputs("src/*/*.c", files: files) == [])
  }

  @Test func hiddenNamesMatchWhenNamed() throws {
    let files = ["a.c", ".hidden.c", ".config/d.c"]
    #expect(try inputs(".*.c", files: files) == [".hidden.c"])
    #expect(try inputs(".config/*.c", files: files) == [".config/d.c"])
  }

  @Test func kilnAndGitFoldersAreNeverMatched() throws {
    let files = ["a.txt", ".kiln/state.txt", ".git/HEAD.txt", ".git/refs/x.txt"]
    #expect(try inputs("**/*.txt", files: files) == ["a.txt"])
    #expect(try inputs("**", files: files) == ["a.txt"])
  }

  @Test func globsMatchOtherTasksDeclaredOutputs() throws {
    let graph = try expand("""
      tasks:
        gen:
          foreach: templates/*.tmpl
          outputs: gen/{stem}.c
          run: render {in} > {out}
        app:
          inputs: gen/*.c
          outputs: app
          run: cc -o {out} {in}
      """, files: ["templates/x.tmpl", "templates/y.tmpl"])
    let app = try #require(graph.instance("app"))
    #expect(app.inputs == ["gen/x.c", "gen/y.c"])
    #expect(Set(app.dependencies) == [TaskID(task: "gen", item: "templates/x.tmpl"), TaskID(task: "gen", item: "templates/y.tmpl")])
  }

  @Test func generatedFilesChainThroughThreeLevelsInAnyTaskOrder() throws {
    // Consumers are written before producers: expansion must repeat until it settles.
    let graph = try expand("""
      tasks:
        link:
          inputs: build/*.o
          outputs: bin/app
          run: cc -o {out} {in}
        compile:
          foreach: gen/*.c
          outputs: build/{stem}.o
          run: cc -c {in} -o {out}
        gen:
          foreach: templates/*.tmpl
          outputs: gen/{stem}.c
          run: render {in} > {out}
      """, files: ["templates/a.tmpl", "templates/b.tmpl"])
    #expect(graph.ids.sorted() == [
      "compile gen/a.c", "compile gen/b.c", "gen templates/a.tmpl", "gen templates/b.tmpl", "link",
    ])
    #expect(graph.instance("compile gen/a.c")?.dependencies == [TaskID(task: "gen", item: "templates/a.tmpl")])
    #expect(graph.instance("link")?.inputs == ["build/a.o", "build/b.o"])
    #expect(Set(graph.instance("link")?.dependencies ?? []) == [
      TaskID(task: "compile", item: "gen/a.c"), TaskID(task: "compile", item: "gen/b.c"),
    ])
  }

  @Test func aDeclaredOutputAlsoOnDiskIsMatchedOnce() throws {
    let graph = try expand("""
      tasks:
        gen:
          outputs: gen/a.c
          run: render > {out}
        app:
          inputs: gen/*.c
          run: cc {in}
      """, files: ["gen/a.c", "gen/b.c"])
    #expect(graph.instance("app")?.inputs == ["gen/a.c", "gen/b.c"])
    #expect(graph.instance("app")?.dependencies == [TaskID(task: "gen")])
  }

  @Test func aLiteralInputDeclaredByAnotherTaskNeedNotExist() throws {
    let graph = try expand("""
      tasks:
        app:
          inputs: build/main.o
          outputs: app
          run: cc -o {out} {in}
        compile:
          outputs: build/main.o
          run: cc -c main.c -o {out}
      """)
    #expect(graph.instance("app")?.dependencies == [TaskID(task: "compile")])
  }

  @Test func hiddenOutputsAreNotMatchedUnlessDeclaredAgain() throws {
    // gen/old.c is a stale output kiln made for a template that is gone.
    let graph = try expand("""
      tasks:
        gen:
          foreach: templates/*.tmpl
          outputs: gen/{stem}.c
          run: render {in} > {out}
        compile:
          foreach: gen/*.c
          outputs: build/{stem}.o
          run: cc -c {in} -o {out}
      """, files: ["templates/a.tmpl", "gen/a.c", "gen/old.c", "gen/handwritten.c"],
      hiddenOutputs: ["gen/a.c", "gen/old.c"])
    #expect(graph.ids.filter { $0.hasPrefix("compile") } == ["compile gen/a.c", "compile gen/handwritten.c"])
  }

  @Test func aHiddenOutputIsNotALiteralInput() throws {
    let scratch = ScratchDirectory(files: ["gen/old.c"])
    #expect(throws: ConfigError.self) {
      try scratch.graph("""
        tasks:
          app:
            inputs: gen/old.c
            run: cc {in}
        """, hiddenOutputs: ["gen/old.c"])
    }
  }

  @Test func anAbsoluteInputInsideTheWorkspaceBecomesRelative() throws {
    let scratch = ScratchDirectory(files: ["src/a.c"])
    let graph = try scratch.graph("""
      tasks:
        app:
          inputs: ["\(scratch.path)/src/a.c", /usr/include/stdio.h]
          run: cc {in}
      """)
    // A file outside the workspace (a system header) stays absolute.
    #expect(graph[0].inputs == ["src/a.c", "/usr/include/stdio.h"])
  }

  @Test func literalInputsAreNormalised() throws {
    let graph = try expand("""
      tasks:
        app:
          inputs: [./src/../src/a.c, "src//b.c"]
          run: cc {in}
      """, files: ["src/a.c", "src/b.c"])
    #expect(graph[0].inputs == ["src/a.c", "src/b.c"])
  }
}
