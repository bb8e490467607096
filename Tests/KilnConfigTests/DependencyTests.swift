import KilnConfig
import KilnCore
import Testing

/// Edges: from `deps`, and from inputs that other tasks declare as outputs.
@Suite struct DependencyTests {
  @Test func depsAddTheDepsOutputsToInputsAndEdges() throws {
    let graph = try expand("""
      tasks:
        gen:
          foreach: "*.t"
          outputs: "{stem}.c"
          run: render {in} > {out}
        app:
          deps: [gen]
          inputs: main.c
          outputs: app
          run: cc -o {out} {in}
      """, files: ["a.t", "b.t", "main.c"])
    let app = try #require(graph.instance("app"))
    #expect(app.inputs == ["main.c", "a.c", "b.c"])
    #expect(Set(app.dependencies) == [TaskID(task: "gen", item: "a.t"), TaskID(task: "gen", item: "b.t")])
    // {in} is expanded before deps are linked: the deps' outputs are inputs for the
    // key, not words of the command.
    #expect(app.command == "cc -o app main.c")
  }

  @Test func aDepWithoutOutputsStillOrdersTheTask() throws {
    let graph = try expand("""
      tasks:
        setup:
          run: mkdir -p tmp
        test:
          deps: setup
          run: ./run-tests
      """)
    let test = try #require(graph.instance("test"))
    #expect(test.dependencies == [TaskID(task: "setup")])
    #expect(test.inputs == [])
    let setup = try #require(graph.index(of: TaskID(task: "setup")))
    #expect(graph.dependents[setup] == [try #require(graph.index(of: TaskID(task: "test")))])
  }

  @Test func anInputAnotherTaskProducesIsAnEdge() throws {
    let graph = try expand("""
      tasks:
        compile:
          outputs: build/main.o
          run: cc -c main.c -o {out}
        link:
          inputs: [build/main.o, libfoo.a]
          outputs: app
          run: cc -o {out} {in}
      """, files: ["libfoo.a"])
    #expect(graph.instance("link")?.dependencies == [TaskID(task: "compile")])
    #expect(graph.instance("compile")?.dependencies == [])
  }

  /// `deploy` reads a file inside the folder `bundle` declares as its output.
  static let bundleThenDeploy = """
    tasks:
      bundle:
        outputs: dist
        run: webpack --out {out}
      deploy:
        inputs: dist/bundle.js
        run: upload {in}
    """

  @Test func anInputInsideADeclaredOutputDirectoryDependsOnItsProducer() throws {
    let scratch = ScratchDirectory(files: ["dist/bundle.js"])
    let graph = try scratch.graph(Self.bundleThenDeploy)
    #expect(graph.instance("deploy")?.dependencies == [TaskID(task: "bundle")])
  }

  @Test func anInputInsideADeclaredOutputDirectoryNeedNotExistYet() throws {
    // A clean checkout: dist/ is made by `bundle`, so dist/bundle.js is not on disk.
    let graph = try expand(Self.bundleThenDeploy)
    #expect(graph.instance("deploy")?.dependencies == [TaskID(task: "bundle")])
  }

  @Test func aCycleThroughFilesIsReportedWithItsPath() {
    let error = expansionError("""
      tasks:
        a:
          inputs: b.out
          outputs: a.out
          run: cp {in} {out}
        b:
          inputs: a.out
          outputs: b.out
          run: cp {in} {out}
      """)
    #expect(error?.message == "dependency cycle: a -> b -> a")
  }

  @Test func aTaskThatDependsOnItselfIsACycle() {
    let error = expansionError("""
      tasks:
        a:
          deps: a
          run: echo a
      """)
    #expect(error?.description == "kiln.yml:2:3: dependency cycle: a -> a")
  }
}
