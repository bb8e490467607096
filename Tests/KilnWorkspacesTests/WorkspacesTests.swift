import KilnTestSupport
import KilnWorkspaces
import Testing

@Suite struct WorkspacesTests {
  @Test func newWorkspaceIsAWorktreeOnItsOwnBranchAndIsRegistered() async throws {
    let repo = Repository()
    let ws = await repo.workspaces()
    let info = try await ws.create("a", from: nil)
    #expect(info.branch == "kiln/a")
    #expect(info.base == "c0")
    #expect(info.path == ws.path(of: "a"))
    #expect(repo.git.calls == ["worktree add \(info.path)"])
    #expect(ws.all() == [info])
    #expect(try ws.existing("a") == info)
  }

  @Test func aSecondWorkspaceOfTheSameNameIsRefused() async throws {
    let repo = Repository()
    let ws = await repo.workspaces()
    try await ws.create("a", from: nil)
    await #expect(throws: WorkspaceError.alreadyExists("a")) { try await ws.create("a", from: nil) }
  }

  @Test func namesThatAreNotPlainAreRefused() async throws {
    let repo = Repository()
    let ws = await repo.workspaces()
    for name in ["", ".hidden", "-x", "a/b", "a..b", "x.lock"] {
      await #expect(throws: WorkspaceError.invalidName(name)) { try await ws.create(name, from: nil) }
    }
  }

  @Test func fromMustNameACommit() async throws {
    let repo = Repository()
    let ws = await repo.workspaces()
    await #expect(throws: WorkspaceError.notACommit("nope")) { try await ws.create("a", from: "nope") }
    #expect(try await ws.create("b", from: "c1").base == "c1")
  }

  @Test func removeIsRefusedWhenGitCannotTellWhetherWorkIsUncommitted() async throws {
    let repo = Repository()
    let ws = await repo.workspaces()
    let info = try await ws.create("a", from: nil)
    repo.git.with { $0.statusFailures[info.path] = "fatal: index file corrupt" }
    await #expect(throws: WorkspaceError.statusUnknown(name: "a", reason: "index file corrupt")) {
      try await ws.remove("a", force: false)
    }
    #expect(ws.info("a") != nil)
    _ = try await ws.remove("a", force: true)
    #expect(ws.info("a") == nil)
  }

  @Test func removeIsRefusedWithUncommittedWork() async throws {
    let repo = Repository()
    let ws = await repo.workspaces()
    let info = try await ws.create("a", from: nil)
    repo.git.with { $0.uncommitted[info.path] = ["x.c", "y.c"] }
    await #expect(throws: WorkspaceError.uncommittedWork(name: "a", paths: ["x.c", "y.c"])) {
      try await ws.remove("a", force: false)
    }
    repo.git.with { $0.uncommitted[info.path] = [] }
    #expect(try await ws.remove("a", force: false) == [])
    #expect(repo.git.calls.contains("worktree remove \(info.path)"))
    #expect(repo.git.calls.contains("branch -D kiln/a"))
  }

  @Test func removeKeepsABranchThatHoldsCommitsBeyondTheBase() async throws {
    let repo = Repository()
    let ws = await repo.workspaces()
    try await ws.create("a", from: nil)
    repo.git.with {
      $0.refs["refs/heads/kiln/a"] = "c9"
      $0.commitsBeyondBase["c9"] = 2
    }
    #expect(try await ws.remove("a", force: false) == ["kiln: ws: kept branch kiln/a (2 commits beyond its base)"])
    #expect(!repo.git.calls.contains("branch -D kiln/a"))
  }

  @Test func resetKeepsTheBranchesCommitsThenChecksOutTheBaseAndCleans() async throws {
    let repo = Repository()
    let ws = await repo.workspaces()
    let info = try await ws.create("a", from: nil)
    repo.git.with {
      $0.refs["refs/heads/kiln/a"] = "c9"
      $0.commitsBeyondBase["c9"] = 1
      $0.uncommitted[info.path] = ["junk"]
    }
    let notes = try await ws.reset(info)
    #expect(notes == ["kiln: ws: kept 1 commit of a on branch kiln/a-20251124-160000"])
    #expect(Array(repo.git.calls.suffix(3))
      == ["branch kiln/a-20251124-160000 c9", "checkout kiln/a c0", "clean \(info.path)"])
    #expect(await repo.git.commit("refs/heads/kiln/a", in: "") == "c0")
  }

  @Test func resetKeepsCommitsMadeOnADetachedHead() async throws {
    let repo = Repository()
    let ws = await repo.workspaces()
    let info = try await ws.create("a", from: nil)
    repo.git.with {
      $0.worktrees[info.path] = (nil, "d1")
      $0.unreachable["d1"] = 3
    }
    let notes = try await ws.reset(info)
    #expect(notes == ["kiln: ws: kept 3 commits made on a detached HEAD in a on branch kiln/a-20251124-160000-detached"])
  }

  /// From the path, and for a git workspace two stats of the git folder above
  /// `kiln/ws` (`HEAD`, `objects/`): never from inside the workspace.
  @Test func theWorkspaceNameComesFromThePathAndTheGitFolder() {
    let fs = InMemoryFileSystem(clock: ManualClock())
    fs.write("/r/.git/HEAD", "ref: refs/heads/main\n")
    fs.write("/r/.git/objects/info/packs", "")
    #expect(Workspaces.name(containing: "/r/.git/kiln/ws/a/src", fileSystem: fs) == "a")
    #expect(Workspaces.name(containing: "/p/.kiln/ws/b", fileSystem: fs) == "b")
    #expect(Workspaces.name(containing: "/r/kiln/ws/a", fileSystem: fs) == nil)
    #expect(Workspaces.name(containing: "/r/src", fileSystem: fs) == nil)
    // A folder named `.git` that holds no repository is an ordinary folder.
    #expect(Workspaces.name(containing: "/q/.git/kiln/ws/a", fileSystem: fs) == nil)
  }

  /// A git folder not named `.git` (`git init --separate-git-dir`, a worktree's common
  /// folder) is one by its content: `HEAD` and `objects/`. The name and the root come
  /// from the same rule, and need nothing inside the workspace itself.
  @Test func aGitFolderNamedOtherwiseIsKnownByItsHEADAndObjects() {
    let fs = InMemoryFileSystem(clock: ManualClock())
    fs.write("/r/meta/HEAD", "ref: refs/heads/main\n")
    fs.write("/r/meta/objects/pack/x.pack", "")
    fs.write("/r/other/HEAD", "")
    fs.write("/r/.git/HEAD", "")
    fs.write("/r/.git/objects/x", "")
    #expect(Workspaces.name(containing: "/r/meta/kiln/ws/a/src/deep", fileSystem: fs) == "a")
    #expect(Workspaces.root(containing: "/r/meta/kiln/ws/a/src/deep", fileSystem: fs) == "/r/meta/kiln/ws/a")
    #expect(Workspaces.isRoot("/r/meta/kiln/ws/a", fileSystem: fs))
    #expect(!Workspaces.isRoot("/r/meta/kiln/ws/a/src", fileSystem: fs))
    // HEAD without objects/ is no git folder.
    #expect(Workspaces.name(containing: "/r/other/kiln/ws/a", fileSystem: fs) == nil)
    #expect(!Workspaces.isRoot("/r/other/kiln/ws/a", fileSystem: fs))
    // The innermost workspace holds the path: a copy made inside a git workspace.
    #expect(Workspaces.name(containing: "/r/.git/kiln/ws/b/.kiln/ws/d/src", fileSystem: fs) == "d")
    #expect(Workspaces.root(containing: "/r/.git/kiln/ws/b/x", fileSystem: fs) == "/r/.git/kiln/ws/b")
  }
}
