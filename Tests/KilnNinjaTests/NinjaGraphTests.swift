import KilnCore
import KilnNinja
import Testing

/// A manifest's edges as kiln task instances: what goes into an instance's key, what
/// only orders it, what a target names.
@Suite struct NinjaGraphTests {
  func edge(_ rule: String, _ outputs: [String], _ inputs: [String] = [], implicit: [String] = [],
            orderOnly: [String] = [], command: String = "run") -> NinjaEdge {
    var e = NinjaEdge(rule: rule)
    e.outputs = outputs
    e.inputs = inputs
    e.implicitInputs = implicit
    e.orderOnly = orderOnly
    e.command = rule == "phony" ? "" : command
    e.line = 1
    return e
  }

  func graph(_ edges: [NinjaEdge], sources: Set<String> = ["a.c", "b.c", "x.h"]) throws -> NinjaGraph {
    var manifest = NinjaManifest()
    manifest.edges = edges
    return try NinjaGraph(manifest) { sources.contains($0) }
  }

  @Test func anOutputNamedTwiceByOneEdgeIsOneOutput() throws {
    // CMake: `build version.h | /abs/build/version.h: CUSTOM_COMMAND ...`.
    var e = edge("gen", ["version.h"])
    e.implicitOutputs = ["/abs/build/version.h"]
    var manifest = NinjaManifest()
    manifest.edges = [e, edge("cc", ["a.o"], ["a.c"], implicit: ["version.h"])]
    let g = try NinjaGraph(manifest, directory: "/abs/build") { $0 == "a.c" }
    let gen = try #require(g.graph.instances.first { $0.id.task == "gen" })
    #expect(gen.outputs == ["version.h"])
    // Both spellings among the explicit outputs, or twice among the implicit ones.
    var twice = edge("gen", ["/abs/build/version.h", "version.h"])
    twice.implicitOutputs = ["stamp", "/abs/build/stamp"]
    manifest.edges = [twice]
    let g2 = try NinjaGraph(manifest, directory: "/abs/build") { _ in true }
    #expect(g2.graph.instances.first?.outputs == ["version.h", "stamp"])
    // Two edges naming one path is still an error.
    manifest.edges = [e, edge("other", ["version.h"])]
    #expect(throws: NinjaError.self) { try NinjaGraph(manifest, directory: "/abs/build") { _ in true } }
  }

  @Test func orderOnlyInputsOrderButAreNotKeyed() throws {
    let g = try graph([
      edge("gen", ["gen.h"]),
      edge("cc", ["a.o"], ["a.c"], implicit: ["x.h"], orderOnly: ["gen.h"]),
    ])
    let cc = try #require(g.graph.instances.first { $0.id.task == "cc" })
    #expect(cc.inputs == ["a.c", "x.h"])
    #expect(cc.dependencies == [TaskID(task: "gen", item: "gen.h")])
  }

  @Test func aPhonyStandsForWhatIsBehindIt() throws {
    let g = try graph([
      edge("cc", ["a.o"], ["a.c"]),
      edge("cc", ["b.o"], ["b.c"]),
      edge("phony", ["objs"], ["a.o", "b.o"]),
      edge("phony", ["all"], ["objs"]),
      edge("link", ["app"], ["objs"]),
    ])
    let link = try #require(g.graph.instances.first { $0.id.task == "link" })
    #expect(link.inputs == ["a.o", "b.o"], "the phony's paths, not the phony")
    #expect(Set(link.dependencies) == [TaskID(task: "cc", item: "a.o"), TaskID(task: "cc", item: "b.o")])
    #expect(Set(g.targets["all"] ?? []) == [TaskID(task: "cc", item: "a.o"), TaskID(task: "cc", item: "b.o")])
    #expect(g.defaults == nil, "no default: everything")
  }

  @Test func aPhonysOrderOnlyInputsOrderOnlyAndMayBeMissing() throws {
    // CMake: every compile waits for `cmake_object_order_depends_target_T`, a phony
    // whose order-only input is the object folder, which no edge makes.
    let g = try graph([
      edge("gen", ["gen.h"]),
      edge("phony", ["order_T"], orderOnly: ["CMakeFiles/T.dir", "gen.h"]),
      edge("cc", ["a.o"], ["a.c"], orderOnly: ["order_T"]),
    ])
    let cc = try #require(g.graph.instances.first { $0.id.task == "cc" })
    #expect(cc.inputs == ["a.c"])
    #expect(cc.dependencies == [TaskID(task: "gen", item: "gen.h")])
  }

  @Test func kilnsAndGitsStateAreNoEdgesOutputs() throws {
    for reserved in [".kiln/state.db", ".git/HEAD", ".kiln"] {
      #expect(throws: NinjaError(file: "build.ninja", line: 1, message: "output '\(reserved)' is inside .kiln or .git")) {
        try self.graph([self.edge("cc", [reserved], ["a.c"])])
      }
    }
  }

  @Test func pathsInsideTheBuildFolderAreMadeRelativeAndOutsideOnesAreNeverCached() throws {
    var manifest = NinjaManifest()
    manifest.edges = [
      edge("cc", ["/build/a.o"], ["/build/a.c"]),
      edge("gen", ["../src/gen.c"], ["/build/a.c"]),
    ]
    manifest.defaults = ["/build/a.o"]
    let g = try NinjaGraph(manifest, directory: "/build") { $0 == "a.c" }
    #expect(g.graph.instances.map(\.outputs) == [["a.o"], ["../src/gen.c"]])
    #expect(g.graph.instances.map(\.inputs) == [["a.c"], ["a.c"]])
    #expect(g.defaults == [TaskID(task: "cc", item: "a.o")])
    #expect(g.graph.instances.map(\.cache) == [true, false], "the cache restores only plain paths inside the folder")
  }

  @Test func generatorAndConsoleEdgesAreNeverCached() throws {
    var regen = edge("RERUN", ["build.ninja"], ["a.c"])
    regen.generator = true
    var console = edge("test", ["t.ok"], ["a.c"])
    console.pool = "console"
    let g = try graph([regen, console, edge("cc", ["a.o"], ["a.c"])])
    #expect(g.graph.instances.map(\.cache) == [false, false, true])
  }

  @Test func aMissingSourceIsAnErrorAtItsEdge() throws {
    var e = edge("cc", ["a.o"], ["gone.c"])
    e.file = "sub.ninja"
    e.line = 7
    #expect(throws: NinjaError(file: "sub.ninja", line: 7,
                               message: "'gone.c', needed by 'a.o', missing and no known rule to make it")) {
      try self.graph([e])
    }
  }

  @Test func aDepfileTheCommandMayNotWriteMeansNoDependencies() throws {
    var e = edge("cc", ["a.o"], ["a.c"], command: "cc -c a.c")
    e.depfile = "a.o.d"
    e.deps = "gcc"
    let g = try graph([e])
    #expect(g.graph.instances[0].command == "cc -c a.c", "the command is ninja's, unwrapped")
    #expect(g.graph.instances[0].depfile == "a.o.d")
    #expect(g.graph.instances[0].depfileMayBeMissing)
  }
}
