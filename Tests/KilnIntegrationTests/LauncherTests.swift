import Foundation
import KilnTestSupport
import Testing

/// kiln as a compiler launcher in a Makefile project (`CC="kiln tools/gcc"`): objects
/// restored from the cache after `make clean`, direct mode versus preprocessor mode,
/// and what a header edit recompiles. See `LauncherProject` for the counting compiler.
@Suite struct LauncherTests {
  @Test func makeCleanThenMakeRestoresEveryObjectWithoutACompile() throws {
    let p = try LauncherProject()
    // What gcc itself writes, without kiln.
    try p.make(["CC=tools/gcc"])
    let reference = p.files(under: "obj", endingIn: ".o")
    #expect(reference.count == 4)
    #expect(p.compiles.count == 4)
    try p.make(["clean"])

    try p.make([LauncherProject.launched])
    #expect(p.compiles.count == 8, "the cold build compiles every unit")
    #expect(p.counts(since: 0) == ["miss": 4, "uncacheable": 1], "\(p.outcomesWithReasons)")
    #expect(p.outcomesWithReasons.last == "uncacheable: link")
    #expect(p.files(under: "obj", endingIn: ".o") == reference)

    let calls = p.compilerCalls.count
    try p.rebuild([LauncherProject.launched])
    #expect(p.compiles.count == 8, "no compile after make clean")
    #expect(p.preprocessorRuns.count == 4, "direct-mode hits run no preprocessor: \(p.preprocessorRuns)")
    #expect(p.compilerCalls.count == calls + 1, "only the link ran")
    #expect(p.counts(since: 5) == ["direct": 4, "uncacheable": 1], "\(p.outcomesWithReasons)")
    #expect(p.files(under: "obj", endingIn: ".o") == reference, "objects byte-identical to gcc's own")
    let app = try p.run("./app", [])
    #expect(app.status == 0 && app.stdout == "27\n", "\(app)")
  }

  @Test func aCommentOnlyHeaderEditHitsInPreprocessorMode() throws {
    let p = try LauncherProject()
    try p.make([LauncherProject.launched])
    let objects = p.files(under: "obj", endingIn: ".o")
    #expect(p.compiles.count == 4)

    // Same lines, another comment: the preprocessed text is the same.
    try p.write("include/common.h", LauncherProject.files["include/common.h"]!
      .replacingOccurrences(of: "version 1", with: "version 2, reworded"))
    let (compiles, cpp, logged) = (p.compiles.count, p.preprocessorRuns.count, p.outcomes.count)
    try p.rebuild([LauncherProject.launched])
    #expect(p.compiles.count == compiles, "nothing compiles: \(p.compiles.dropFirst(compiles))")
    #expect(p.preprocessorRuns.count == cpp + 4, "one -E per unit")
    #expect(p.counts(since: logged) == ["preprocessed": 4, "uncacheable": 1], "\(p.outcomesWithReasons)")
    #expect(p.files(under: "obj", endingIn: ".o") == objects)

    // The preprocessor-mode hit stored direct entries for the edited header.
    let cpp2 = p.preprocessorRuns.count
    try p.rebuild([LauncherProject.launched])
    #expect(p.preprocessorRuns.count == cpp2, "direct hits now")
    #expect(p.compiles.count == compiles)
    #expect(p.counts(since: logged + 5) == ["direct": 4, "uncacheable": 1], "\(p.outcomesWithReasons)")
  }

  @Test func aRealHeaderChangeRecompilesExactlyTheUnitsIncludingIt() throws {
    let p = try LauncherProject()
    try p.make([LauncherProject.launched])
    #expect(try p.run("./app", []).stdout == "27\n")

    try p.write("include/b.h", "#define B_VALUE 3\n")
    let (compiles, cpp, logged) = (p.compiles.count, p.preprocessorRuns.count, p.outcomes.count)
    try p.rebuild([LauncherProject.launched])
    #expect(p.sourcesCompiled(since: compiles) == ["src/b.c", "src/c.c"])
    #expect(p.preprocessorRuns.count == cpp + 2, "the units without b.h hit in direct mode")
    #expect(p.counts(since: logged) == ["direct": 2, "miss": 2, "uncacheable": 1], "\(p.outcomesWithReasons)")
    #expect(try p.run("./app", []).stdout == "30\n")

    // Back to the first contents: every unit is in the cache again.
    try p.write("include/b.h", "#define B_VALUE 2\n")
    let compiles2 = p.compiles.count
    try p.rebuild([LauncherProject.launched])
    #expect(p.compiles.count == compiles2)
    #expect(try p.run("./app", []).stdout == "27\n")
  }

  @Test func aSourceEditRecompilesThatUnitOnly() throws {
    let p = try LauncherProject()
    try p.make([LauncherProject.launched])
    try p.write("src/a.c", "#include \"common.h\"\nint a(void) { return BASE + 2; }\n")
    let compiles = p.compiles.count
    try p.rebuild([LauncherProject.launched])
    #expect(p.sourcesCompiled(since: compiles) == ["src/a.c"])
    #expect(try p.run("./app", []).stdout == "28\n")
  }

  @Test func otherFlagsAreAnotherKey() throws {
    let p = try LauncherProject()
    try p.make([LauncherProject.launched])
    let compiles = p.compiles.count
    try p.rebuild([LauncherProject.launched, "CFLAGS=-O0 -Wall"])
    #expect(p.compiles.count == compiles + 4)
    try p.rebuild([LauncherProject.launched, "CFLAGS=-O0 -DEXTRA=1"])
    #expect(p.compiles.count == compiles + 8, "a define changes the key even when no source uses it")
    try p.rebuild([LauncherProject.launched])
    #expect(p.compiles.count == compiles + 8, "the first flags are still in the cache")
  }

  @Test func keyedVariablesAreAnotherKey() throws {
    let p = try LauncherProject()
    try p.make([LauncherProject.launched])
    let compiles = p.compiles.count
    // An include path from the environment: the same files, another search.
    try p.rebuild([LauncherProject.launched], environment: ["CPATH": p.root + "/include"])
    #expect(p.compiles.count == compiles + 4)
    // A variable that is not keyed changes nothing.
    try p.rebuild([LauncherProject.launched], environment: ["UNRELATED_VARIABLE": "1"])
    #expect(p.compiles.count == compiles + 4)
  }

  @Test func kilnDisableRunsTheCompilerDirectlyAndLogsNothing() throws {
    let p = try LauncherProject()
    try p.make([LauncherProject.launched], environment: ["KILN_DISABLE": "1"])
    #expect(p.compiles.count == 4)
    #expect(p.preprocessorRuns.isEmpty)
    #expect(p.outcomes.isEmpty)
    try p.rebuild([LauncherProject.launched], environment: ["KILN_DISABLE": "1"])
    #expect(p.compiles.count == 8, "nothing was stored")
    #expect(try p.run("./app", []).stdout == "27\n")
  }

  /// 200 units in one folder under `make -j8`: every call is its own process, with no
  /// lock between them, all writing the same cache and log.
  @Test func twoHundredUnitsUnderMakeJ8() throws {
    let n = 200
    var files = LauncherProject.files.filter { !$0.key.hasPrefix("src/") }
    files["include/common.h"] = "#define BASE 10\n"
    var main = "#include <stdio.h>\n"
    for i in 0..<n {
      files[String(format: "src/u%03d.c", i)] = "#include \"common.h\"\nint u\(i)(void) { return BASE + \(i); }\n"
      main += "int u\(i)(void);\n"
    }
    main += "int main(void) {\n  long s = 0;\n"
    for i in 0..<n { main += "  s += u\(i)();\n" }
    main += "  printf(\"%ld\\n\", s);\n  return 0;\n}\n"
    files["src/zmain.c"] = main
    let p = try LauncherProject(files)
    let expected = "\((0..<n).reduce(0) { $0 + 10 + $1 })\n"
    let units = n + 1

    try p.make(["-j8", LauncherProject.launched])
    #expect(p.compiles.count == units)
    #expect(p.counts(since: 0) == ["miss": units, "uncacheable": 1], "\(p.counts(since: 0))")
    let objects = p.files(under: "obj", endingIn: ".o")
    #expect(objects.count == units)
    #expect(try p.run("./app", []).stdout == expected)

    try p.rebuild(["-j8", LauncherProject.launched])
    #expect(p.compiles.count == units, "all restored")
    #expect(p.counts(since: units + 1) == ["direct": units, "uncacheable": 1], "\(p.counts(since: units + 1))")
    #expect(p.files(under: "obj", endingIn: ".o") == objects)
    #expect(try p.run("./app", []).stdout == expected)
  }
}
