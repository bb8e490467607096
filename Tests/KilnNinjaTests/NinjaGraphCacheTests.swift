import KilnCore
import KilnEngine
import KilnHash
import KilnNinja
import KilnTestSupport
import Testing

/// A ninja manifest's graph kept in the graph cache comes back whole: the instances'
/// ninja-only fields, the targets phony names stand for, defaults, validations, pools.
@Suite struct NinjaGraphCacheTests {
  static let manifest = """
    pool link
      depth = 2
    rule cc
      command = cc -c $in -o $out
      depfile = $out.d
    rule cl
      command = cl $in
      deps = msvc
      msvc_deps_prefix = Includes:
    rule link
      command = cc $in -o $out
      pool = link
      description = Linking $out
    rule gen
      command = ./gen > $out
      generator = 1
    build a.o: cc a.c
    build b.obj: cl b.c
    build app | app.map: link a.o b.obj |@ lint
    build lint: cc a.c
    build build.ninja: gen | gen.in
    build all: phony app
    build missing-phony: phony
    default all

    """

  func parsed() throws -> NinjaGraph {
    return try NinjaGraph(parse(Self.manifest), directory: "/project") { ["a.c", "b.c", "gen.in"].contains($0) }
  }

  @Test func aNinjaGraphRoundTripsThroughTheGraphCache() throws {
    let ninja = try parsed()
    let cache = GraphCache(root: "/project", hiddenDigest: Hasher.digest("h"), looks: [], graph: ninja.graph,
                           extra: ninja.encodedExtras())
    let decoded = try #require(GraphCache.decode(cache.encode()))
    let back = try #require(NinjaGraph(graph: decoded.graph, extras: decoded.extra))
    #expect(back.graph.instances == ninja.graph.instances)
    #expect(back.targets == ninja.targets)
    #expect(back.defaults == ninja.defaults)
    #expect(back.validations == ninja.validations)
    #expect(back.pools == ninja.pools)
    #expect(back.producers == ninja.producers)
    // What the round trip must carry, seen in the original.
    let link = try #require(ninja.graph.instances.first { $0.id.task == "link" })
    #expect(link.pool == "link" && ninja.pools["link"] == 2)
    #expect(ninja.graph.instances.contains { $0.includesPrefix == "Includes:" })
    #expect(ninja.graph.instances.contains { $0.keepsOutputs && !$0.commandInKey && $0.id.task == "gen" })
    #expect(ninja.validations[link.id] == [TaskID(task: "cc", item: "lint")])
    #expect(ninja.targets["all"] == [link.id])
    #expect(link.label == "Linking app")
  }

  @Test func extrasThatAreNotNinjasAreRefused() throws {
    let ninja = try parsed()
    var extras = ninja.encodedExtras()
    extras.append(0)
    #expect(NinjaGraph(graph: ninja.graph, extras: extras) == nil)
    #expect(NinjaGraph(graph: ninja.graph, extras: Array(extras.dropLast(3))) == nil)
  }
}
