import Testing

/// `kiln ninja` on a real CMake project (fixtures/cmake-project, configured by Debian's
/// cmake with `-G Ninja`): one copy built by the real ninja, one by kiln, which CMake
/// itself runs as its make program (`-DCMAKE_MAKE_PROGRAM=.../kiln-ninja`, so also
/// through `cmake --build`). Compiles are counted by a compiler launcher
/// (`-DCMAKE_C_COMPILER_LAUNCHER`). The scenarios, and how products can be compared
/// byte for byte across copies in different folders: `SideBySide`; what they edit and
/// delete: `Generator`.
@Suite struct NinjaCMakeTests {
  @Test(arguments: SideBySide.Scenario.allCases)
  func kilnBuildsWhatNinjaBuilds(_ scenario: SideBySide.Scenario) throws {
    try scenario.run(.cmake)
  }
}
