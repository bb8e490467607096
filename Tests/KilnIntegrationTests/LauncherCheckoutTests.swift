import Foundation
import KilnTestSupport
import Testing

/// The launcher across checkouts (SPEC 5, "Across checkouts"): a second worktree of the
/// same project, sharing the cache, restores what the first compiled; an object that
/// holds its checkout's absolute path (debug info) is restored only to that path.
@Suite struct LauncherCheckoutTests {
  /// The project committed in git, and a worktree of it at another path.
  static func twoCheckouts() throws -> (LauncherProject, LauncherProject) {
    let main = try LauncherProject()
    try main.project.initGitRepository()
    let path = main.root + "/../second"
    try Git.run("worktree", "add", "-q", path, in: main.root)
    let second = LauncherProject(checkoutOf: main, at: URL(fileURLWithPath: path).standardizedFileURL.path)
    LauncherProject.settle()
    return (main, second)
  }

  static func contains(_ bytes: [UInt8], _ text: String) -> Bool {
    let needle = Array(text.utf8)
    guard bytes.count >= needle.count else { return false }
    return (0...(bytes.count - needle.count)).contains { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
  }

  @Test func aSecondCheckoutRestoresObjectsWithoutDebugInfo() throws {
    let (main, second) = try Self.twoCheckouts()
    try main.make([LauncherProject.launched])
    #expect(main.compiles.count == 4)
    let objects = main.files(under: "obj", endingIn: ".o")

    try second.make([LauncherProject.launched])
    #expect(second.compiles.isEmpty, "restored, not compiled: \(second.compiles)")
    #expect(second.preprocessorRuns.isEmpty, "direct-mode hits")
    #expect(second.counts(since: 5) == ["direct": 4, "uncacheable": 1], "\(second.outcomesWithReasons)")
    #expect(second.files(under: "obj", endingIn: ".o") == objects)
    #expect(try second.run("./app", []).stdout == "27\n")
  }

  @Test func debugInfoWithTheCheckoutsPathIsNotRestoredElsewhere() throws {
    let (main, second) = try Self.twoCheckouts()
    let flags = "CFLAGS=-O2 -g"
    try main.make([LauncherProject.launched, flags])
    #expect(main.compiles.count == 4)
    let mainObjects = main.files(under: "obj", endingIn: ".o")
    #expect(main.fileBytes(under: "obj", endingIn: ".o").values.allSatisfy { Self.contains($0, main.root) }, "the debug info names the checkout")

    try second.make([LauncherProject.launched, flags])
    #expect(second.sourcesCompiled(since: 0) == ["src/a.c", "src/b.c", "src/c.c", "src/main.c"],
            "compiled here, not restored with the other checkout's path")
    #expect(Array(second.outcomesWithReasons.dropFirst(5).prefix(4)) == ["a", "b", "c", "main"].map { _ in
      "miss: output holds another checkout's path (\(main.root))"
    }, "the miss says why")
    let secondObjects = second.files(under: "obj", endingIn: ".o")
    #expect(second.fileBytes(under: "obj", endingIn: ".o").values.allSatisfy { Self.contains($0, second.root) && !Self.contains($0, main.root) })

    // Each checkout now has its own entries: both rebuild from the cache.
    let (mainCompiles, secondCompiles) = (main.compiles.count, second.compiles.count)
    try main.rebuild([LauncherProject.launched, flags])
    try second.rebuild([LauncherProject.launched, flags])
    #expect(main.compiles.count == mainCompiles)
    #expect(second.compiles.count == secondCompiles)
    #expect(main.files(under: "obj", endingIn: ".o") == mainObjects)
    #expect(second.files(under: "obj", endingIn: ".o") == secondObjects)
  }

  @Test func aPrefixMapMakesDebugObjectsPortable() throws {
    let (main, second) = try Self.twoCheckouts()
    // make writes the checkout's own path in place of $(CURDIR); the key writes it out.
    let flags = "CFLAGS=-O2 -g -ffile-prefix-map=$(CURDIR)=."
    try main.make([LauncherProject.launched, flags])
    #expect(main.compiles.count == 4)
    #expect(main.compiles.allSatisfy { $0.contains("-ffile-prefix-map=\(main.root)=.") })
    let objects = main.files(under: "obj", endingIn: ".o")
    #expect(objects.count == 4 && main.fileBytes(under: "obj", endingIn: ".o").values.allSatisfy { !Self.contains($0, main.root) })

    try second.make([LauncherProject.launched, flags])
    #expect(second.compiles.isEmpty, "restored: \(second.compiles)")
    #expect(second.files(under: "obj", endingIn: ".o") == objects)
    #expect(try second.run("./app", []).stdout == "27\n")
  }
}
