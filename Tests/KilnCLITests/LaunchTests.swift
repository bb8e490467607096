#if canImport(Glibc)
import Glibc
#endif
@testable import KilnCLI
import Testing

/// `KilnMain.prepare`: kiln's own global options (-C, -f, -jN) taken out of the command
/// line before swift-argument-parser sees it. No test here changes the process's
/// working directory: `-C` is tested with `.` and with a folder that does not exist
/// (Context's side of `-C`, the launch directory, is in `ContextTests`).
@Suite struct LaunchTests {
  /// The arguments and the launch `prepare` hands on; nil when it exits instead.
  static func prepared(_ arguments: [String]) -> (args: [String], launch: Launch)? {
    guard case .ready(let launch, let args) = KilnMain.prepare(arguments) else { return nil }
    return (args, launch)
  }

  static func exitStatus(_ arguments: [String]) -> Int32? {
    guard case .exit(let status) = KilnMain.prepare(arguments) else { return nil }
    return status
  }

  @Test func attachedJobCountIsSplitForTheParser() {
    #expect(Self.prepared(["build", "-j4"])?.args == ["build", "-j", "4"])
    #expect(Self.prepared(["-j12", "build", "-k"])?.args == ["-j", "12", "build", "-k"])
    // Already split, or not a number: left as it is for the parser to judge.
    #expect(Self.prepared(["build", "-j", "4"])?.args == ["build", "-j", "4"])
    #expect(Self.prepared(["build", "-j"])?.args == ["build", "-j"])
    #expect(Self.prepared(["build", "-jx"])?.args == ["build", "-jx"])
  }

  @Test func buildFileGoesIntoTheInvocation() {
    let ready = Self.prepared(["-f", "ci.yml", "build", "-j2"])
    #expect(ready?.args == ["build", "-j", "2"])
    #expect(ready?.launch.buildFile == "ci.yml")
    #expect(Self.prepared(["build"])?.launch.buildFile == nil)
    // Where it comes on the line does not matter; the last one wins.
    let late = Self.prepared(["build", "-f", "a.yml", "-f", "b.yml", "all"])
    #expect(late?.args == ["build", "all"])
    #expect(late?.launch.buildFile == "b.yml")
  }

  @Test func theInvocationIsTheCurrentDirectoryAndEnvironment() {
    let ready = Self.prepared(["-C", ".", "tasks"])
    #expect(ready?.args == ["tasks"])
    #expect(ready?.launch.directory == Launch.currentDirectory())
    #expect(ready?.launch.directory.hasPrefix("/") == true)
    #expect(ready?.launch.environment["PATH"] == Launch.currentEnvironment()["PATH"])
    #expect(Self.prepared(["-C.", "tasks"])?.args == ["tasks"])
  }

  @Test func aMissingOptionArgumentIsBadUsage() {
    #expect(Self.exitStatus(["build", "-f"]) == 2)
    #expect(Self.exitStatus(["-C"]) == 2)
    #expect(Self.exitStatus(["build", "-C"]) == 2)
  }

  @Test func aFolderThatCannotBeEnteredIsBadUsage() {
    let before = Launch.currentDirectory()
    #expect(Self.exitStatus(["-C", "/nonexistent/kiln-cli-tests", "build"]) == 2)
    #expect(Self.exitStatus(["-C/nonexistent/kiln-cli-tests", "build"]) == 2)
    #expect(Launch.currentDirectory() == before)
  }

  @Test func doubleDashEndsKilnsOptions() {
    let exec = Self.prepared(["exec", "--out", "o", "--", "make", "-j4", "-C", "sub", "-f", "Makefile"])
    #expect(exec?.args == ["exec", "--out", "o", "--", "make", "-j4", "-C", "sub", "-f", "Makefile"])
    #expect(exec?.launch.buildFile == nil)
    // A second `--` is an argument like any other.
    #expect(Self.prepared(["ws", "run", "w", "--", "sh", "--", "-j2"])?.args == ["ws", "run", "w", "--", "sh", "--", "-j2"])
    // Before the `--`, kiln's options are still taken.
    let before = Self.prepared(["-f", "ci.yml", "exec", "--", "cc", "-f"])
    #expect(before?.args == ["exec", "--", "cc", "-f"])
    #expect(before?.launch.buildFile == "ci.yml")
  }
}
