import Testing

/// `kiln ninja` on a real Meson project (fixtures/meson-project, configured by Debian's
/// meson): one copy built by the real ninja, one by kiln, which Meson itself runs as its
/// ninja (`NINJA=.../kiln-ninja`, so also through `meson compile`). Compiles are
/// counted by a compiler launcher (`CC="count-cc cc"`, which also keeps Meson from
/// adding ccache). The scenarios, and how products can be compared byte for byte
/// across copies in different folders: `SideBySide`; what they edit and delete:
/// `Generator`. Without `-ffile-prefix-map` (`pathsStayInTheirCheckout`) Meson's
/// commands hold no absolute path at all, so a second checkout's keys match the
/// first's: only kiln's check for outputs that embed their checkout's path keeps the
/// first checkout's objects out of the second.
@Suite struct NinjaMesonTests {
  @Test(arguments: SideBySide.Scenario.allCases)
  func kilnBuildsWhatNinjaBuilds(_ scenario: SideBySide.Scenario) throws {
    try scenario.run(.meson)
  }

  /// `meson setup` writes compile_commands.json through its ninja's `-t compdb`.
  @Test func setupThroughKilnWritesTheCompilationDatabase() throws {
    let copy = try GeneratedProject(.meson, builtBy: .kiln, tools: BuildTools())
    let database = copy.project.read("build/compile_commands.json") ?? ""
    #expect(database.contains("../src/main.c"), "build/compile_commands.json: \(database.isEmpty ? "missing" : database)")
  }
}
