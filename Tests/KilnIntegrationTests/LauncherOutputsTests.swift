import Foundation
import KilnTestSupport
import Testing

/// The files a cached compile writes besides its object, restored as the compiler
/// writes them: the depfile of -MD/-MMD (also in another checkout, with absolute include
/// paths) and what the compile printed, with that checkout's paths.
@Suite struct LauncherOutputsTests {
  @Test func theDepfileIsRestoredAsGccWritesIt() throws {
    let p = try LauncherProject()
    try p.mkdir("obj")
    try p.mkdir("deps")
    let variants: [(String, [String], [String])] = [
      ("-MD -MP", ["-MD", "-MP", "-Iinclude", "-c", "src/b.c", "-o", "obj/b.o"], ["obj/b.o", "obj/b.d"]),
      ("-MMD -MF -MT", ["-MMD", "-MF", "deps/b.dep", "-MT", "custom-target", "-Iinclude", "-c", "src/b.c", "-o", "obj/b2.o"],
       ["obj/b2.o", "deps/b.dep"]),
      ("-MD without -o", ["-MD", "-Iinclude", "-c", "src/c.c"], ["c.o", "c.d"]),
    ]
    for (what, args, writes) in variants {
      let cold = try LauncherDirectRunTests.compare(p, "tools/gcc", args, writes: writes)
      cold.expectSame("\(what), compiled")
      #expect(writes.allSatisfy { cold.launchedFiles[$0] != nil }, "\(what) wrote \(writes)")
      let hit = try LauncherDirectRunTests.compare(p, "tools/gcc", args, writes: writes)
      hit.expectSame("\(what), restored")
      #expect(hit.launchedCalls == 0, "\(what): restored without running the compiler")
    }
    #expect(p.outcomes == ["miss", "direct", "miss", "direct", "miss", "direct"])
  }

  @Test func aSecondCheckoutGetsItsOwnPathsInTheDepfileAndInWarnings() throws {
    let main = try LauncherProject(extra: LauncherDirectRunTests.extra)
    try main.project.initGitRepository()
    let path = URL(fileURLWithPath: main.root + "/../second").standardizedFileURL.path
    try Git.run("worktree", "add", "-q", path, in: main.root)
    let second = LauncherProject(checkoutOf: main, at: path)
    LauncherProject.settle()

    func args(_ root: String) -> [String] {
      ["-Wall", "-MD", "-I\(root)/include", "-c", "\(root)/src/b.c", "-o", "obj/b.o"]
    }
    func warn(_ root: String) -> [String] { ["-Wall", "-c", "\(root)/src/warn.c", "-o", "obj/warn.o"] }
    for p in [main, second] { try p.mkdir("obj") }

    let first = try LauncherDirectRunTests.compare(main, "tools/gcc", args(main.root), writes: ["obj/b.o", "obj/b.d"])
    first.expectSame("first checkout")
    #expect(String(decoding: first.launchedFiles["obj/b.d"]!! , as: UTF8.self).contains(main.root + "/include/b.h"))
    let firstWarn = try LauncherDirectRunTests.compare(main, "tools/gcc", warn(main.root), writes: ["obj/warn.o"])
    firstWarn.expectSame("first checkout, warning")
    #expect(firstWarn.launched.stderr.contains(main.root + "/src/warn.c"))

    let other = try LauncherDirectRunTests.compare(second, "tools/gcc", args(second.root), writes: ["obj/b.o", "obj/b.d"])
    other.expectSame("second checkout")
    #expect(other.launchedCalls == 0, "restored in the second checkout")
    let depfile = String(decoding: other.launchedFiles["obj/b.d"]!!, as: UTF8.self)
    #expect(depfile.contains(second.root + "/include/b.h") && !depfile.contains(main.root + "/"), "\(depfile)")
    let otherWarn = try LauncherDirectRunTests.compare(second, "tools/gcc", warn(second.root), writes: ["obj/warn.o"])
    otherWarn.expectSame("second checkout, warning")
    #expect(otherWarn.launchedCalls == 0)
    #expect(otherWarn.launched.stderr.contains(second.root + "/src/warn.c"))
    #expect(main.outcomes == ["miss", "miss", "direct", "direct"])
  }

  @Test func splitDwarfAndCoverageNotesAreRestored() throws {
    let p = try LauncherProject()
    try p.mkdir("obj")
    // Flags that write a .dwo and a .gcno beside the object; with the checkout's path in
    // them, restored in this checkout.
    let variants: [(String, [String], [String])] = [
      ("-gsplit-dwarf", ["-g", "-gsplit-dwarf", "-Iinclude", "-c", "src/a.c", "-o", "obj/a.o"], ["obj/a.o", "obj/a.dwo"]),
      ("--coverage", ["--coverage", "-Iinclude", "-c", "src/b.c", "-o", "obj/b.o"], ["obj/b.o", "obj/b.gcno"]),
    ]
    for (what, args, writes) in variants {
      let cold = try LauncherDirectRunTests.compare(p, "tools/gcc", args, writes: writes)
      #expect(cold.launched.status == 0, "\(what): \(cold.launched)")
      #expect(writes.allSatisfy { cold.launchedFiles[$0] != nil && cold.directFiles[$0] != nil }, "\(what)")
      let hit = try LauncherDirectRunTests.compare(p, "tools/gcc", args, writes: writes)
      #expect(hit.launchedCalls == 0, "\(what): restored")
      #expect(hit.launchedFiles == cold.launchedFiles, "\(what): the same files as the compile wrote")
    }
  }
}
