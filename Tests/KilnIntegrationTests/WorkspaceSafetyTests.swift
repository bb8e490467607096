#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KilnTestSupport
import Testing

/// `kiln ws` never builds somewhere else than the workspace it is asked about and never
/// loses a user's work (issue 12, items 10, 12 and 14): the search for kiln.yml stops
/// at a workspace's root, `ws rm` refuses when git cannot say the tree is clean, and
/// `ws release` / `ws rm` keep commits made on a detached HEAD.
@Suite struct WorkspaceSafetyTests {
  // MARK: - Item 10: the build file never comes from above a workspace

  @Test func aWorkspaceWithoutACommittedBuildFileNeverBuildsTheMainCheckout() throws {
    // kiln.yml is in the main checkout but was never committed.
    let p = try TempProject([
      "README": "x\n",
      "src/a.txt": "alpha\n",
      ".gitignore": ".kiln/\n.runs/\nout.txt\nkiln.yml\n",
    ])
    try p.initGitRepository()
    try p.write("kiln.yml", """
      tasks:
        copy:
          inputs: src/a.txt
          outputs: out.txt
          run: mkdir -p .runs && echo x >> .runs/copy && cp {in} {out}
      """)

    let made = try p.kiln("ws", "new", "w")
    #expect(made.status == 0, "\(made)")
    #expect(made.stderrLines.count == 1, "one warning line: \(made)")
    #expect(made.stderr.contains("kiln.yml is not committed"), "\(made)")
    let ws = Checkout(made.stdout.trimmingCharacters(in: .newlines))
    #expect(!ws.exists("kiln.yml"))

    let direct = try p.kiln("-C", ws.root, "build")
    #expect(direct.status == 2, "\(direct)")
    #expect(direct.stderr == "kiln: no kiln.yml in \(ws.root) or any parent directory (kiln init writes a starting one)\n", "\(direct)")
    let viaRun = try p.kiln(["ws", "run", "w", "--", TempProject.kilnBinary, "build"])
    #expect(viaRun.status == 2, "\(viaRun)")
    #expect(viaRun.stderrLines.count == 1 && viaRun.stderr.contains("no kiln.yml"), "\(viaRun)")
    // From a folder inside the workspace too.
    try ws.write("src/deeper/x.txt", "x\n")
    let deeper = try p.kiln("-C", ws.root + "/src/deeper", "build")
    #expect(deeper.status == 2 && deeper.stderr.contains("no kiln.yml"), "\(deeper)")

    #expect(!p.exists("out.txt"), "the main checkout was not built")
    #expect(!p.exists(".runs/copy"))
    #expect(!p.exists(".kiln/state.db"), "nothing recorded in the main checkout")

    // Committed, the build file is the workspace's own, and no warning.
    var ignore = p.read(".gitignore") ?? ""
    ignore = ignore.replacingOccurrences(of: "kiln.yml\n", with: "")
    try p.write(".gitignore", ignore)
    try p.checkout.commitAll("add kiln.yml")
    let second = try p.kiln("ws", "new", "v")
    #expect(second.status == 0 && second.stderr.isEmpty, "\(second)")
    let built = try p.kiln("-C", second.stdout.trimmingCharacters(in: .newlines), "build")
    #expect(built.status == 0, "\(built)")
    #expect(!p.exists("out.txt"), "built in the workspace, not the main checkout")
  }

  @Test func aCopyWithoutABuildFileNeverBuildsTheProjectItCameFrom() throws {
    // Outside git: the copy lives under the project's .kiln/ws/NAME.
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          copy:
            inputs: in.txt
            outputs: out.txt
            run: cp {in} {out}
        """,
      "in.txt": "x\n",
    ])
    let made = try p.kiln("ws", "new", "c")
    #expect(made.status == 0, "\(made)")
    let ws = Checkout(made.stdout.trimmingCharacters(in: .newlines))
    #expect(ws.root == p.root + "/.kiln/ws/c", "\(made)")
    ws.remove("kiln.yml")
    let r = try p.kiln("-C", ws.root, "build")
    #expect(r.status == 2, "\(r)")
    #expect(r.stderr == "kiln: no kiln.yml in \(ws.root) or any parent directory (kiln init writes a starting one)\n", "\(r)")
    #expect(!p.exists("out.txt"), "the project was not built")
  }

  @Test func newWarnsWhenTheBuildFileHasUncommittedChanges() throws {
    let p = try WorkspaceTests.repo()
    try p.append("kiln.yml", "\n# edited, not committed\n")
    let made = try p.kiln("ws", "new", "w")
    #expect(made.status == 0, "\(made)")
    #expect(made.stderrLines.count == 1, "\(made)")
    #expect(made.stderr.contains("kiln.yml has changes that are not committed"), "\(made)")
  }

  // MARK: - Item 12: ws rm refuses when git cannot say the tree is clean

  @Test func rmRefusesWhenGitStatusFailsOnADamagedGitFile() throws {
    let p = try WorkspaceTests.repo()
    let ws = try WorkspaceTests.newWorkspace(p, "w")
    try ws.write("notes.txt", "uncommitted work\n")
    try ws.write(".git", "gitdir: /nonexistent/kiln-test\n")

    let r = try p.kiln("ws", "rm", "w")
    #expect(r.status == 1, "\(r)")
    #expect(r.stderrLines.count == 1, "\(r)")
    #expect(r.stderr.contains("cannot tell whether 'w' has uncommitted work"), "\(r)")
    #expect(ws.read("notes.txt") == "uncommitted work\n", "nothing deleted")
    #expect(try p.kiln("ws", "path", "w").status == 0, "still registered")

    let forced = try p.kiln("ws", "rm", "--force", "w")
    #expect(forced.status == 0, "\(forced)")
    #expect(!FileManager.default.fileExists(atPath: ws.root))
  }

  @Test func rmRefusesWhenGitStatusFailsOnACorruptIndex() throws {
    let p = try WorkspaceTests.repo()
    let ws = try WorkspaceTests.newWorkspace(p, "w")
    try ws.write("src/a.txt", "edited, uncommitted\n")
    let gitDirectory = try ws.git("rev-parse", "--absolute-git-dir")
    try Checkout(gitDirectory).write("index", "DIRC this is not an index")

    let r = try p.kiln("ws", "rm", "w")
    #expect(r.status == 1, "\(r)")
    #expect(r.stderrLines.count == 1, "\(r)")
    #expect(r.stderr.contains("cannot tell whether 'w' has uncommitted work"), "\(r)")
    #expect(ws.read("src/a.txt") == "edited, uncommitted\n", "nothing deleted")
  }

  @Test(.enabled(if: getuid() == 0, "needs root to hand the workspace to another user"))
  func rmRefusesWhenGitDistrustsTheWorkspacesOwner() throws {
    let p = try WorkspaceTests.repo()
    let ws = try WorkspaceTests.newWorkspace(p, "w")
    try ws.write("notes.txt", "uncommitted work\n")
    #expect(chown(ws.root, 65534, 65534) == 0)

    let r = try p.kiln("ws", "rm", "w")
    #expect(r.status == 1, "\(r)")
    #expect(r.stderrLines.count == 1, "\(r)")
    #expect(r.stderr.contains("dubious ownership"), "\(r)")
    #expect(ws.read("notes.txt") == "uncommitted work\n", "nothing deleted")
  }

  @Test func rmOfAWorkspaceDeletedByHandStillWorks() throws {
    let p = try WorkspaceTests.repo()
    let ws = try WorkspaceTests.newWorkspace(p, "w")
    TempDirectory.removeTree(ws.root)
    let r = try p.kiln("ws", "rm", "w")
    #expect(r.status == 0, "\(r)")
    #expect(try p.kiln("ws", "path", "w").status == 2)
  }

  // MARK: - Item 14: commits on a detached HEAD are kept

  @Test func releaseKeepsCommitsMadeOnADetachedHead() throws {
    let p = try WorkspaceTests.repo()
    #expect(try p.kiln("ws", "pool", "--size", "1").status == 0)
    let claim = try p.kiln("ws", "claim")
    #expect(claim.status == 0, "\(claim)")
    let fields = claim.stdout.trimmingCharacters(in: .newlines).split(separator: "\t").map(String.init)
    try #require(fields.count == 2)
    let ws = Checkout(fields[1])
    try ws.git("checkout", "-q", "--detach")
    try ws.write("src/c.txt", "gamma\n")
    try ws.commitAll("detached one")
    try ws.write("src/d.txt", "delta\n")
    let tip = try ws.commitAll("detached two")

    let release = try p.kiln("ws", "release", fields[0])
    #expect(release.status == 0, "\(release)")
    let kept = try Self.branches(p, containing: tip)
    #expect(kept.count == 1, "one branch keeps the detached commits: \(kept)")
    if let name = kept.first {
      #expect(release.stderr.contains(name), "release names the branch: \(release)")
      #expect(release.stderr.contains("2 commits"), "\(release)")
    }
    #expect(try ws.git("rev-parse", "--abbrev-ref", "HEAD") == "kiln/\(fields[0])", "reset onto its branch")
  }

  @Test func releaseKeepsBothTheBranchAndDetachedCommits() throws {
    let p = try WorkspaceTests.repo()
    #expect(try p.kiln("ws", "pool", "--size", "1").status == 0)
    let claim = try p.kiln("ws", "claim")
    let fields = claim.stdout.trimmingCharacters(in: .newlines).split(separator: "\t").map(String.init)
    try #require(fields.count == 2, "\(claim)")
    let ws = Checkout(fields[1])
    try ws.write("src/c.txt", "gamma\n")
    let onBranch = try ws.commitAll("on the branch")
    try ws.git("checkout", "-q", "--detach")
    try ws.write("src/d.txt", "delta\n")
    let detached = try ws.commitAll("detached")

    let release = try p.kiln("ws", "release", fields[0])
    #expect(release.status == 0, "\(release)")
    #expect(release.stderrLines.count == 2, "one line per kept branch: \(release)")
    #expect(try !Self.branches(p, containing: onBranch).filter { $0 != "kiln/\(fields[0])" }.isEmpty, "\(release)")
    #expect(try !Self.branches(p, containing: detached).isEmpty, "\(release)")
  }

  @Test func rmKeepsCommitsMadeOnADetachedHead() throws {
    let p = try WorkspaceTests.repo()
    let ws = try WorkspaceTests.newWorkspace(p, "w")
    try ws.git("checkout", "-q", "--detach")
    try ws.write("src/c.txt", "gamma\n")
    let tip = try ws.commitAll("detached")

    let r = try p.kiln("ws", "rm", "w")
    #expect(r.status == 0, "\(r)")
    #expect(!FileManager.default.fileExists(atPath: ws.root))
    let kept = try Self.branches(p, containing: tip)
    #expect(kept.count == 1, "\(kept)")
    if let name = kept.first { #expect(r.stderr.contains(name), "\(r)") }
  }

  @Test func releaseOfADetachedHeadWithNoNewCommitsKeepsNothing() throws {
    let p = try WorkspaceTests.repo()
    #expect(try p.kiln("ws", "pool", "--size", "1").status == 0)
    let claim = try p.kiln("ws", "claim")
    let fields = claim.stdout.trimmingCharacters(in: .newlines).split(separator: "\t").map(String.init)
    try #require(fields.count == 2, "\(claim)")
    try Checkout(fields[1]).git("checkout", "-q", "--detach")
    let release = try p.kiln("ws", "release", fields[0])
    #expect(release.status == 0 && release.stderr.isEmpty, "\(release)")
  }

  /// The local branches whose history holds `commit`.
  static func branches(_ p: TempProject, containing commit: String) throws -> [String] {
    try p.checkout.git("branch", "--format=%(refname:short)", "--contains", commit)
      .split(separator: "\n").map(String.init)
  }
}
