#if canImport(Glibc)
import Glibc
#endif
@testable import KilnCLI
import KilnStore
import KilnSystem
import Testing

/// The composition root made from an `Launch`: which build file and checkout it
/// finds, how it names the state and the cache, and the environment variables it reads.
/// Each test builds a folder tree of its own; no test reads the real HOME or cache.
@Suite struct ContextTests {
  /// A Context launched in `directory` of `tree`, with `-f file` when given, and only
  /// the variables a test sets (HOME inside the tree).
  static func context(_ tree: ScratchTree, in directory: String = "", buildFile: String? = nil,
                      _ environment: [String: String] = [:]) -> Context {
    let env = ["HOME": tree.absolute("home")].merging(environment) { $1 }
    return Context(Launch(directory: tree.absolute(directory), buildFile: buildFile, environment: env))
  }

  // MARK: - Finding the build file

  @Test func findsTheBuildFileInTheNearestParent() throws {
    let tree = try ScratchTree(files: ["kiln.yml", "lib/kiln.yml"], folders: ["lib/src/deep", "docs"])

    let deep = Self.context(tree, in: "lib/src/deep")
    #expect(deep.buildFilePath == tree.absolute("lib/kiln.yml"))
    #expect(deep.root == tree.absolute("lib"))
    #expect(deep.layout.manifest == tree.absolute("lib/.kiln/state.db"))
    #expect(throws: Never.self) { try deep.requireBuildFile() }

    let docs = Self.context(tree, in: "docs")
    #expect(docs.buildFilePath == tree.absolute("kiln.yml"))
    #expect(docs.root == tree.path)
  }

  @Test func noBuildFileAnywhereSaysWhereItLooked() throws {
    let tree = try ScratchTree()
    try tree.folder("empty")
    let context = Self.context(tree, in: "empty")
    #expect(context.buildFilePath == nil)
    // Without a build file the checkout is where kiln stands.
    #expect(context.root == tree.absolute("empty"))
    let error = #expect(throws: CLIError.self) { try context.requireBuildFile() }
    #expect(error?.message == "kiln: no kiln.yml in \(tree.absolute("empty")) or any parent directory (kiln init writes a starting one)")
    #expect(error?.status == 2)
  }

  /// A copy workspace (`<project>/.kiln/ws/NAME`) without a kiln.yml of its own must
  /// not build the project that holds it.
  @Test func lookupStopsAtTheRootOfACopyWorkspace() throws {
    let tree = try ScratchTree(files: ["kiln.yml"])
    try tree.folder(".kiln/ws/w1/src")
    #expect(Self.context(tree, in: ".kiln/ws/w1/src").buildFilePath == nil)
    #expect(Self.context(tree, in: ".kiln/ws/w1").buildFilePath == nil)

    // Its own build file is found, from inside it too.
    try tree.file(".kiln/ws/w1/kiln.yml")
    let inside = Self.context(tree, in: ".kiln/ws/w1/src")
    #expect(inside.buildFilePath == tree.absolute(".kiln/ws/w1/kiln.yml"))
    #expect(inside.root == tree.absolute(".kiln/ws/w1"))
  }

  /// A git workspace lives in `<git-common-dir>/kiln/ws/NAME`; the lookup stops there
  /// only when the folder above `kiln/ws` is a git folder (HEAD and objects/).
  @Test func lookupStopsAtTheRootOfAGitWorkspace() throws {
    let tree = try ScratchTree(files: ["repo/kiln.yml"])
    try tree.folder("repo/.git/kiln/ws/w2/sub")
    // Not a git folder yet: an ordinary path, and the repository's kiln.yml is found.
    #expect(Self.context(tree, in: "repo/.git/kiln/ws/w2/sub").buildFilePath == tree.absolute("repo/kiln.yml"))

    try tree.file("repo/.git/HEAD", "ref: refs/heads/main\n")
    try tree.folder("repo/.git/objects")
    #expect(Self.context(tree, in: "repo/.git/kiln/ws/w2/sub").buildFilePath == nil)
    #expect(Self.context(tree, in: "repo/.git/kiln/ws/w2").buildFilePath == nil)
    // Above the workspace root the lookup is the ordinary one.
    #expect(Self.context(tree, in: "repo/.git/kiln/ws").buildFilePath == tree.absolute("repo/kiln.yml"))
  }

  @Test func dashFIsTakenFromTheLaunchDirectory() throws {
    let tree = try ScratchTree(files: ["ci.yml", "sub/ci.yml"], folders: ["sub/deeper"])

    let up = Self.context(tree, in: "sub/deeper", buildFile: "../../ci.yml")
    #expect(up.buildFilePath == tree.absolute("ci.yml"))
    #expect(up.root == tree.path)
    // Not the nearest parent's: -f names one file, taken from where kiln stands.
    let here = Self.context(tree, in: "sub", buildFile: "ci.yml")
    #expect(here.buildFilePath == tree.absolute("sub/ci.yml"))
    #expect(here.displayPath == "ci.yml")
    let absolute = Self.context(tree, in: "sub/deeper", buildFile: tree.absolute("ci.yml"))
    #expect(absolute.buildFilePath == tree.absolute("ci.yml"))
  }

  @Test func dashFNamingNoFileSaysWhichFile() throws {
    let tree = try ScratchTree(files: ["kiln.yml"])
    try tree.folder("a-folder.yml")
    for name in ["missing.yml", "a-folder.yml"] {
      let context = Self.context(tree, buildFile: name)
      #expect(context.buildFilePath == nil, "\(name)")
      let error = #expect(throws: CLIError.self) { try context.requireBuildFile() }
      #expect(error?.message == "kiln: build file '\(name)' not found")
      #expect(error?.status == 2)
    }
  }

  @Test func displayPathIsRelativeBelowTheLaunchDirectoryElseAbsolute() throws {
    let tree = try ScratchTree(files: ["kiln.yml"])
    try tree.file("sub/ci.yml")
    #expect(Self.context(tree).displayPath == "kiln.yml")
    #expect(Self.context(tree, buildFile: "sub/ci.yml").displayPath == "sub/ci.yml")
    try tree.folder("other")
    #expect(Self.context(tree, in: "other").displayPath == tree.absolute("kiln.yml"))
  }

  // MARK: - State layout

  @Test func anotherBuildFileKeepsItsOwnStateFiles() throws {
    let tree = try ScratchTree(files: ["ci.yml"])
    let layout = Self.context(tree, buildFile: "ci.yml").layout
    let kiln = tree.absolute(".kiln")
    #expect(layout.folder == kiln)
    #expect(layout.manifest == kiln + "/state-ci.yml.db")
    #expect(layout.snapshot == kiln + "/state-ci.yml.snapshot")
    #expect(layout.graphCache == kiln + "/state-ci.yml.graph")
    #expect(layout.pending == kiln + "/state-ci.yml.db-pending")
    // Shared by every build file of the checkout: one build at a time.
    #expect(layout.lock == kiln + "/lock")

    try tree.file("kiln.yml")
    let plain = Self.context(tree).layout
    #expect(plain.manifest == kiln + "/state.db")
    #expect(plain.snapshot == kiln + "/state.snapshot")
    #expect(plain.graphCache == kiln + "/state.graph")
    #expect(Set(plain.keptFiles).isDisjoint(with: layout.keptFiles))
  }

  // MARK: - The cache's place

  @Test func cacheDirectoryComesFirstWithoutTrailingSlashes() {
    let all = ["KILN_CACHE_DIR": "/c/kiln///", "XDG_CACHE_HOME": "/x", "HOME": "/h"]
    #expect(Context.cacheLocation(all) == "/c/kiln")
    #expect(Context.cacheLocation(["KILN_CACHE_DIR": "/c/kiln"]) == "/c/kiln")
    // The root itself keeps its one slash.
    #expect(Context.cacheLocation(["KILN_CACHE_DIR": "///"]) == "/")
    // Empty counts as unset.
    #expect(Context.cacheLocation(["KILN_CACHE_DIR": "", "XDG_CACHE_HOME": "/x"]) == "/x/kiln")
  }

  @Test func thenXDGCacheHomeThenHome() {
    #expect(Context.cacheLocation(["XDG_CACHE_HOME": "/x", "HOME": "/h"]) == "/x/kiln")
    #expect(Context.cacheLocation(["XDG_CACHE_HOME": "", "HOME": "/h"]) == "/h/.cache/kiln")
    #expect(Context.cacheLocation(["HOME": "/h"]) == "/h/.cache/kiln")
  }

  @Test func withNeitherHomeNorXDGAFolderOfThisUserInTMPDIR() {
    let uid = geteuid()
    #expect(Context.cacheLocation(["TMPDIR": "/scratch"]) == "/scratch/kiln-cache-\(uid)")
    #expect(Context.cacheLocation(["TMPDIR": "", "HOME": ""]) == "/tmp/kiln-cache-\(uid)")
    #expect(Context.cacheLocation([:]) == "/tmp/kiln-cache-\(uid)")
  }

  @Test func contextUsesTheCacheLocationOfItsEnvironment() throws {
    let tree = try ScratchTree(files: ["kiln.yml"])
    let context = Self.context(tree, ["KILN_CACHE_DIR": tree.absolute("cache/")])
    #expect(context.cacheRoot == tree.absolute("cache"))
    #expect(Self.context(tree).cacheRoot == tree.absolute("home") + "/.cache/kiln")
    #expect(!tree.exists("cache"), "making a Context creates nothing")
  }

  // MARK: - Environment variables

  @Test func workspaceNameFromKILNWORKSPACEElseFromThePath() throws {
    let tree = try ScratchTree(files: ["kiln.yml", ".kiln/ws/w1/kiln.yml", "repo/.git/kiln/ws/w2/kiln.yml",
                                       "repo/.git/HEAD"], folders: ["repo/.git/objects"])

    #expect(Self.context(tree).workspaceName == nil)
    #expect(Self.context(tree, ["KILN_WORKSPACE": "agent-7"]).workspaceName == "agent-7")
    // Empty counts as unset: the main checkout, not a workspace named "".
    #expect(Self.context(tree, ["KILN_WORKSPACE": ""]).workspaceName == nil)

    #expect(Self.context(tree, in: ".kiln/ws/w1").workspaceName == "w1")
    #expect(Self.context(tree, in: ".kiln/ws/w1", ["KILN_WORKSPACE": ""]).workspaceName == "w1")
    #expect(Self.context(tree, in: ".kiln/ws/w1", ["KILN_WORKSPACE": "agent-7"]).workspaceName == "agent-7")
    #expect(Self.context(tree, in: "repo/.git/kiln/ws/w2").workspaceName == "w2")
  }

  /// A worktree of a repository whose git folder is not named `.git` (`git init
  /// --separate-git-dir`): the lookup stops at the workspace, and a build there is
  /// recorded under it. One rule (`Workspaces.isRoot`) answers both.
  @Test func aWorkspaceUnderAGitFolderNamedOtherwiseIsOneForLookupAndName() throws {
    let tree = try ScratchTree(files: ["kiln.yml", "gitdir/HEAD", "gitdir/kiln/ws/w3/kiln.yml"],
                               folders: ["gitdir/objects", "gitdir/kiln/ws/w4/src"])
    let w3 = Self.context(tree, in: "gitdir/kiln/ws/w3")
    #expect(w3.buildFilePath == tree.absolute("gitdir/kiln/ws/w3/kiln.yml"))
    #expect(w3.workspaceName == "w3")
    // Without a build file of its own, the workspace does not build the checkout above.
    #expect(Self.context(tree, in: "gitdir/kiln/ws/w4/src").buildFilePath == nil)
    // A folder that only looks like a workspace's, under no git folder, is none.
    try tree.file("plain/kiln/ws/w5/kiln.yml")
    #expect(Self.context(tree, in: "plain/kiln/ws/w5").workspaceName == nil)
  }

  @Test func coresFromKILNMAXJOBSWhenAPositiveNumber() throws {
    let tree = try ScratchTree()
    let online = Self.context(tree).cores
    #expect(online >= 1)
    #expect(Self.context(tree, ["KILN_MAX_JOBS": "3"]).cores == 3)
    #expect(Self.context(tree, ["KILN_MAX_JOBS": "1"]).cores == 1)
    for ignored in ["0", "-2", "four", ""] {
      #expect(Self.context(tree, ["KILN_MAX_JOBS": ignored]).cores == online, "KILN_MAX_JOBS=\(ignored)")
    }
  }

  @Test func aBadMemoryReserveIsOneLine() throws {
    let tree = try ScratchTree(files: ["kiln.yml"])
    let env = ["KILN_CACHE_DIR": tree.absolute("cache"), "KILN_MEM_RESERVE": "lots"]
    let error = #expect(throws: CLIError.self) { _ = try Self.context(tree, env).machineLimits() }
    #expect(error?.message == "kiln: KILN_MEM_RESERVE: 'lots' is not a size (like 512M or 2G)")
    #expect(error?.status == 2)
    // Refused before the cache is touched.
    #expect(!tree.exists("cache"))

    var good = env
    good["KILN_MEM_RESERVE"] = "1K"
    #expect(throws: Never.self) { _ = try Self.context(tree, good).machineLimits() }
    #expect(tree.exists("cache/locks/jobs"))
  }

  // MARK: - .kiln must not be a symbolic link

  @Test func aMissingOrRealStateFolderPasses() throws {
    let tree = try ScratchTree(files: ["kiln.yml"])
    let context = Self.context(tree)
    #expect(throws: Never.self) { try context.checkStateFolder() }
    #expect(!tree.exists(".kiln"), "the check makes nothing")
    try tree.file(".kiln/state.db")
    // Links that are not kiln's own files are none of its business.
    try tree.link(".kiln/notes", to: "/etc/hostname")
    #expect(throws: Never.self) { try context.checkStateFolder() }
  }

  @Test func aSymlinkedStateFolderIsRefused() throws {
    let tree = try ScratchTree(files: ["kiln.yml"])
    try tree.folder("elsewhere")
    try tree.link(".kiln", to: tree.absolute("elsewhere"))
    let error = #expect(throws: CLIError.self) { try Self.context(tree).checkStateFolder() }
    #expect(error?.message.hasPrefix("kiln: \(tree.absolute(".kiln")): is a symbolic link") == true, "\(String(describing: error))")
    #expect(error?.status == 2)
  }

  @Test func aDanglingSymlinkedStateFolderIsRefused() throws {
    let tree = try ScratchTree(files: ["kiln.yml"])
    try tree.link(".kiln", to: tree.absolute("nowhere"))
    let error = #expect(throws: CLIError.self) { try Self.context(tree).checkStateFolder() }
    #expect(error?.message.contains("is a symbolic link") == true, "\(String(describing: error))")
  }

  @Test func aSymlinkedStateFileIsRefused() throws {
    let tree = try ScratchTree(files: ["kiln.yml", "ci.yml", "target.db"], folders: [".kiln"])
    try tree.link(".kiln/state-ci.yml.db", to: tree.absolute("target.db"))
    // Only the build file whose state it is refuses it.
    #expect(throws: Never.self) { try Self.context(tree).checkStateFolder() }
    let error = #expect(throws: CLIError.self) { try Self.context(tree, buildFile: "ci.yml").checkStateFolder() }
    #expect(error?.message.hasPrefix("kiln: \(tree.absolute(".kiln/state-ci.yml.db")): is a symbolic link") == true,
            "\(String(describing: error))")

    for name in ["state.db", "state.db-wal", "state.snapshot", "state.graph", "state.db-pending"] {
      let scratch = try ScratchTree(files: ["kiln.yml", "target"], folders: [".kiln"])
      try scratch.link(".kiln/" + name, to: scratch.absolute("target"))
      let refused = #expect(throws: CLIError.self, "\(name)") { try Self.context(scratch).checkStateFolder() }
      #expect(refused?.message.contains(".kiln/\(name): is a symbolic link") == true, "\(String(describing: refused))")
    }
  }
}
