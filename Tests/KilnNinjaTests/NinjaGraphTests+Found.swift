import KilnCore
import KilnNinja
import Testing

/// What `NinjaDifferentialTests` found kiln doing differently from ninja: a phony with
/// no inputs is its own file when there is one, always out of date when there is none;
/// a source is a target too; a generator edge's new command alone does not rebuild it.
extension NinjaGraphTests {
  @Test func aPhonyWithNoInputsNamingAFileStandsForTheFile() throws {
    // CMake names the files it reads so (`build CMakeLists.txt: phony`): an edit to
    // the file still rebuilds what reads it, so the file is in the key.
    let g = try graph([
      edge("phony", ["a.c"]),
      edge("cc", ["a.o"], ["a.c"]),
      edge("cc", ["b.o"], ["b.c"], implicit: ["a.c"]),
    ])
    let a = try #require(g.graph.instances.first { $0.id.item == "a.o" })
    let b = try #require(g.graph.instances.first { $0.id.item == "b.o" })
    #expect(a.inputs == ["a.c"] && a.dependencies.isEmpty && !a.always)
    #expect(b.inputs == ["b.c", "a.c"] && !b.always)
  }

  @Test func aPhonyWithNoInputsAndNoFileMakesWhatDependsOnItAlwaysRun() throws {
    // ninja's FORCE idiom, through a phony group too; an order-only FORCE orders only.
    let g = try graph([
      edge("phony", ["FORCE"]),
      edge("phony", ["forced"], ["FORCE"]),
      edge("stamp", ["v.h"], implicit: ["FORCE"]),
      edge("cc", ["a.o"], ["a.c"], implicit: ["forced"]),
      edge("cc", ["b.o"], ["b.c"], orderOnly: ["FORCE"]),
    ])
    let stamp = try #require(g.graph.instances.first { $0.id.task == "stamp" })
    let a = try #require(g.graph.instances.first { $0.id.item == "a.o" })
    let b = try #require(g.graph.instances.first { $0.id.item == "b.o" })
    #expect(stamp.always && stamp.inputs.isEmpty)
    #expect(a.always && a.inputs == ["a.c"])
    #expect(!b.always)
    #expect(g.targets["FORCE"] == [])
  }

  @Test func aSourceTheManifestNamesIsATargetThatBuildsNothing() throws {
    // `ninja a.c` says "no work to do"; a path the manifest never names is unknown.
    let g = try graph([edge("cc", ["a.o"], ["a.c"], implicit: ["x.h"], orderOnly: ["dir"])])
    #expect(g.targets["a.c"] == [] && g.targets["x.h"] == [] && g.targets["dir"] == [])
    #expect(g.targets["b.c"] == nil)
  }

  @Test func aGeneratorEdgesCommandIsNotInItsKey() throws {
    // The ninja manual: generator edges are not rebuilt when only their command changes.
    var regen = edge("regen", ["build.ninja"], ["a.c"])
    regen.generator = true
    let g = try graph([regen, edge("cc", ["a.o"], ["a.c"])])
    let instances = g.graph.instances
    #expect(instances.first { $0.id.task == "regen" }.map { !$0.commandInKey && !$0.cache } == true)
    #expect(instances.first { $0.id.task == "cc" }?.commandInKey == true)
  }
}
