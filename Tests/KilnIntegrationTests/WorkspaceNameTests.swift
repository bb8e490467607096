import Foundation
import KilnTestSupport
import Testing

/// The workspace a build is recorded under is the same whichever path answered it:
/// the full build and the null build from the snapshot both take it from the one
/// `Context` (`KILN_WORKSPACE`, empty counting as unset). Before the redesign the null
/// build recorded `KILN_WORKSPACE=""` as a workspace named "" and a full build as none,
/// so `kiln stats` showed the main checkout twice.
@Suite struct WorkspaceNameTests {
  /// Three builds with `KILN_WORKSPACE=value`: the cold one, a null build that leaves
  /// the snapshot (the full path: the cold build's outputs were too new to trust), and
  /// one answered from that snapshot. Returns `kiln stats --json`.
  static func threeBuilds(workspace value: String) throws -> [String: Any] {
    let p = try TempProject(Fixture.pipeline)
    p.environment["KILN_WORKSPACE"] = value
    let cold = try p.kiln("build")
    #expect(cold.status == 0, "\(cold)")
    NullBuildTests.pause()
    let full = try p.kiln("build", "--explain")
    #expect(full.status == 0, "\(full)")
    #expect(!NullBuildTests.tookShortcut(full), "\(full)")
    let answered = try p.kiln("build", "--explain")
    #expect(answered.status == 0, "\(answered)")
    #expect(answered.stdout.contains("kiln: no file changed since the last build"), "\(answered)")

    let stats = try p.kiln("stats", "--json")
    #expect(stats.status == 0, "\(stats)")
    return try #require(StatsTests.json(stats), "\(stats)")
  }

  /// Every build in `stats` is recorded under `workspace` (nil: the main checkout,
  /// `null` in the JSON and `(main)` in `per_workspace`).
  static func expectAllUnder(_ workspace: String?, _ stats: [String: Any]) throws {
    let history = try #require(stats["history"] as? [[String: Any]])
    #expect(history.count == 3)
    for build in history {
      if let workspace {
        #expect(build["workspace"] as? String == workspace, "\(build)")
      } else {
        #expect(build["workspace"] is NSNull, "\(build)")
      }
    }
    let perWorkspace = try #require(stats["per_workspace"] as? [[String: Any]])
    #expect(perWorkspace.map { $0["workspace"] as? String } == [workspace ?? "(main)"], "\(perWorkspace)")
    #expect(perWorkspace.first?["builds"] as? Int == 3, "\(perWorkspace)")
    #expect((stats["total"] as? [String: Any])?["builds"] as? Int == 3)
  }

  @Test func anEmptyWorkspaceNameIsTheMainCheckout() throws {
    try Self.expectAllUnder(nil, Self.threeBuilds(workspace: ""))
  }

  @Test func aNamedWorkspaceIsRecordedByBothPaths() throws {
    try Self.expectAllUnder("agent-7", Self.threeBuilds(workspace: "agent-7"))
  }
}
