import Foundation
import KilnTestSupport
import Testing

/// kiln as CMake's compiler launcher (`-DCMAKE_C_COMPILER_LAUNCHER=kiln`, Unix
/// Makefiles) on fixtures/cmake-project: it builds, its objects are those of a build
/// without the launcher, and a build folder made again from nothing is filled from
/// the cache.
@Suite struct LauncherCMakeTests {
  static func fixture() throws -> [String: String] {
    let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("fixtures/cmake-project").path
    guard let walker = FileManager.default.enumerator(atPath: folder) else { throw TempProjectError("no \(folder)") }
    var files: [String: String] = [:]
    for case let rel as String in walker {
      var isFolder: ObjCBool = false
      guard FileManager.default.fileExists(atPath: folder + "/" + rel, isDirectory: &isFolder), !isFolder.boolValue
      else { continue }
      files[rel] = try String(contentsOfFile: folder + "/" + rel, encoding: .utf8)
    }
    return files
  }

  func cmake(_ p: LauncherProject, _ args: [String]) throws {
    let r = try p.run("/usr/bin/cmake", args, timeout: 300)
    #expect(r.status == 0, "cmake \(args.joined(separator: " ")): \(r)")
  }

  func configure(_ p: LauncherProject, _ build: String, launcher: Bool) throws {
    var args = ["-S", ".", "-B", build, "-G", "Unix Makefiles", "-DCMAKE_C_COMPILER=\(p.root)/tools/gcc"]
    if launcher { args.append("-DCMAKE_C_COMPILER_LAUNCHER=\(LauncherProject.kiln)") }
    try cmake(p, args)
    LauncherProject.settle()
  }

  @Test func aCMakeBuildFolderMadeAgainIsFilledFromTheCache() throws {
    let p = try LauncherProject(try Self.fixture())
    // The reference, in a build folder of the same name: the debug info names it.
    try configure(p, "build", launcher: false)
    var before = p.compiles.count
    try cmake(p, ["--build", "build"])
    let units = p.compiles.count - before
    #expect(units == 5, "gentable, arith, greet, main, cli")
    let reference = p.files(under: "build", endingIn: ".o")
    #expect(reference.count == 5)
    p.remove("build")

    try configure(p, "build", launcher: true)
    before = p.compiles.count
    var logged = p.outcomes.count
    try cmake(p, ["--build", "build"])
    #expect(p.compiles.count - before == units)
    // arith.c includes lib's squares.h, which the build writes just before compiling it.
    #expect(p.counts(since: logged)["miss"] == units, "\(p.outcomesWithReasons.dropFirst(logged))")
    #expect(p.files(under: "build", endingIn: ".o") == reference, "objects identical to a build without kiln")
    let run = try p.run(p.absolute("build/calc"), ["2", "3", "4"])
    #expect(run.stdout == "9\n", "\(run)")

    // The build folder removed and configured again: every object from the cache.
    p.remove("build")
    try configure(p, "build", launcher: true)
    before = p.compiles.count
    logged = p.outcomes.count
    try cmake(p, ["--build", "build"])
    #expect(p.sourcesCompiled(since: before) == [], "\(p.outcomesWithReasons.dropFirst(logged))")
    #expect(p.counts(since: logged)["direct", default: 0] + p.counts(since: logged)["preprocessed", default: 0] == units,
            "\(p.outcomesWithReasons.dropFirst(logged))")
    #expect(p.files(under: "build", endingIn: ".o") == reference)
    #expect(try p.run(p.absolute("build/calc"), ["2", "3", "4"]).stdout == "9\n")

    // `make clean` in the build folder, then a build: the same.
    try cmake(p, ["--build", "build", "--target", "clean"])
    LauncherProject.settle()
    before = p.compiles.count
    logged = p.outcomes.count
    try cmake(p, ["--build", "build"])
    #expect(p.sourcesCompiled(since: before) == [], "\(p.outcomesWithReasons.dropFirst(logged))")
    #expect(p.files(under: "build", endingIn: ".o") == reference)
  }
}
