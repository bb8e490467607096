import KilnSystem
import KilnTestSupport
import KilnWorkspaces
import Testing

/// `GitHead` reads the commit HEAD names from git's own files, as `git rev-parse HEAD`
/// would answer: a branch's loose ref, a packed ref, a detached HEAD, a linked
/// worktree (whose `.git` is a file), from a folder below the top; nil outside git.
@Suite struct GitHeadTests {
  let head = GitHead(fileSystem: LocalFileSystem())

  @Test func agreesWithGitRevParse() throws {
    let dir = TempDirectory(prefix: "kiln-githead")
    let root = dir.path
    #expect(head.commit(containing: root) == nil, "not a repository")
    try Git.run("init", "-q", "-b", "main", in: root)
    #expect(head.commit(containing: root) == nil, "a branch with no commit yet")
    try Checkout(root).write("sub/a.txt", "a\n")
    let first = try Checkout(root).commitAll("first")
    #expect(head.commit(containing: root) == first)
    #expect(head.commit(containing: root + "/sub") == first, "from a folder below the top")

    try Git.run("pack-refs", "--all", in: root)
    #expect(head.commit(containing: root) == first, "a packed ref")

    try Checkout(root).write("b.txt", "b\n")
    let second = try Checkout(root).commitAll("second")
    try Git.run("worktree", "add", "-q", "-b", "other", root + "/wt", first, in: root)
    #expect(head.commit(containing: root + "/wt") == first, "a linked worktree, through its .git file")
    #expect(head.commit(containing: root) == second)

    try Git.run("checkout", "-q", "--detach", first, in: root)
    #expect(head.commit(containing: root) == first, "a detached HEAD")
  }
}
