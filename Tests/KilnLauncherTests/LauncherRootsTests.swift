import Foundation
import KilnLauncher
import KilnSystem
import KilnTestSupport
import Testing

/// `Launcher.roots`: the folders a compile's key is written out of, found from the
/// folder the compiler is called in.
@Suite struct LauncherRootsTests {
  let dir = TempDirectory(prefix: "kiln-launcher-roots")

  func make(_ path: String, file: String? = nil, contents: String = "") throws {
    try FileManager.default.createDirectory(atPath: dir.path + "/" + path, withIntermediateDirectories: true)
    if let file {
      try Data(contents.utf8).write(to: URL(fileURLWithPath: dir.path + "/" + path + "/" + file))
    }
  }

  func roots(_ directory: String, _ environment: [String: String] = [:]) -> [String] {
    Launcher.roots(directory: dir.path + "/" + directory, fileSystem: LocalFileSystem(), environment: environment).folders
  }

  @Test func theNearestCheckoutAboveTheFolder() throws {
    try make("proj/.git")
    try make("proj/src/sub")
    #expect(roots("proj/src/sub") == [dir.path + "/proj"])
    #expect(roots("proj") == [dir.path + "/proj"])
  }

  @Test func aWorktreesGitFileMarksItsCheckout() throws {
    try make("wt", file: ".git", contents: "gitdir: /elsewhere\n")
    try make("wt/lib")
    #expect(roots("wt/lib") == [dir.path + "/wt"])
  }

  @Test func aBuildFileMarksACheckout() throws {
    try make("proj", file: "kiln.yml", contents: "tasks: {}\n")
    try make("proj/a/b")
    #expect(roots("proj/a/b") == [dir.path + "/proj"])
  }

  @Test func kilnBaseDirWins() throws {
    try make("proj/.git")
    #expect(roots("proj", ["KILN_BASE_DIR": "/srv/base/"]) == ["/srv/base"])
    // A relative base is no base.
    #expect(roots("proj", ["KILN_BASE_DIR": "rel"]) == [dir.path + "/proj"])
  }

  @Test func aCMakeBuildFolderAddsItsSourceCheckout() throws {
    try make("src/.git")
    try make("src/lib")
    try make("out", file: "CMakeCache.txt", contents: "CMAKE_HOME_DIRECTORY:INTERNAL=\(dir.path)/src/lib\n")
    try make("out/lib/CMakeFiles")
    // The source folder's checkout, then the build folder.
    #expect(roots("out/lib/CMakeFiles") == [dir.path + "/src", dir.path + "/out"])
  }

  @Test func aBuildFolderInsideTheCheckoutKeepsBothRoles() throws {
    try make("proj/.git")
    try make("proj/build", file: "CMakeCache.txt", contents: "CMAKE_HOME_DIRECTORY:INTERNAL=\(dir.path)/proj\n")
    #expect(roots("proj/build") == [dir.path + "/proj", dir.path + "/proj/build"])
  }

  @Test func noCheckoutNoRoots() throws {
    try make("loose/folder")
    #expect(roots("loose/folder") == [])
  }

  @Test func aGitFolderIsNotItsOwnCheckout() throws {
    try make("proj/.git/hooks")
    #expect(roots("proj/.git/hooks") == [])
  }
}
