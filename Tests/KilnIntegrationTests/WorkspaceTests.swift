#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KilnStore
import KilnTestSupport
import Testing

/// `kiln ws`: isolated git worktrees under `.git/kiln/ws/NAME` that share one cache,
/// a pool of them to claim and release, and what the shared cache and job slots must
/// survive when several builds run at once (SPEC sections 3 and 4, issue 5).
///
/// Everything is real: a git repository in a temporary directory, `/usr/bin/git`, the
/// built `kiln`. Task commands start with `mkdir -p .runs` because a new worktree has
/// no `.runs/`; `.gitignore` keeps `.kiln/`, `.runs/` and the outputs out of git.
@Suite struct WorkspaceTests {
  static let project: [String: String] = [
    "kiln.yml": """
      tasks:
        upper:
          foreach: src/*.txt
          outputs: out/{stem}.txt
          run: mkdir -p .runs && echo {stem} >> .runs/upper && tr a-z A-Z < {in} > {out}
        all:
          inputs: out/*.txt
          outputs: all.txt
          run: mkdir -p .runs && echo x >> .runs/all && cat {in} > {out}
      """,
    ".gitignore": ".kiln/\n.runs/\nout/\nall.txt\n",
    "src/a.txt": "alpha\n",
    "src/b.txt": "beta\n",
  ]

  // MARK: - new, path, list

  @Test func newMakesAWorktreeOnItsOwnBranch() throws {
    let p = try Self.repo([
      "kiln.yml": """
        tasks:
          list:
            inputs: "**/*.txt"
            outputs: list.out
            run: echo {in} > {out}
        """,
      ".gitignore": ".kiln/\n.runs/\nlist.out\n",
      "src/a.txt": "alpha\n",
      "src/b.txt": "beta\n",
    ])
    let main = p.checkout
    let head = try main.git("rev-parse", "HEAD")

    let r = try p.kiln("ws", "new", "alpha")
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout.split(separator: "\n").count == 1, "one line, the path: \(r)")
    let ws = Checkout(r.stdout.trimmingCharacters(in: .newlines))
    #expect(ws.root == p.root + "/.git/kiln/ws/alpha", "\(r)")
    #expect(ws.read("kiln.yml") == main.read("kiln.yml"))
    #expect(ws.snapshot() == main.snapshot())
    #expect(try ws.git("rev-parse", "--abbrev-ref", "HEAD") == "kiln/alpha")
    #expect(try ws.git("rev-parse", "HEAD") == head)
    #expect(try ws.git("rev-parse", "--git-common-dir") == p.root + "/.git")
    #expect(try main.gitStatus() == "", "the main checkout sees no change")
    #expect(try main.git("rev-parse", "--abbrev-ref", "HEAD") == "main")

    // Neither git nor kiln's globs see the workspace.
    let built = try p.kiln("build")
    #expect(built.status == 0, "\(built)")
    #expect(main.read("list.out") == "src/a.txt src/b.txt\n", "\(built)")
    #expect(try main.gitStatus() == "")

    let path = try p.kiln("ws", "path", "alpha")
    #expect(path.status == 0, "\(path)")
    #expect(path.stdout == ws.root + "\n", "\(path)")
    // The registry is shared: the same answers from inside the workspace.
    let inside = try p.kiln(["ws", "path", "alpha"], in: ws.root)
    #expect(inside.status == 0 && inside.stdout == ws.root + "\n", "\(inside)")

    let list = try p.kiln("ws", "list")
    #expect(list.status == 0, "\(list)")
    let table = Self.table(list)
    #expect(table.header == ["NAME", "BRANCH", "CHANGED", "HIT-RATE", "STATE", "PATH"], "\(list)")
    #expect(table.rows == [["alpha", "kiln/alpha", "0", "-", "-", ws.root]], "\(list)")
    let fromInside = try p.kiln(["ws", "list"], in: ws.root)
    #expect(Self.table(fromInside).rows == table.rows, "\(fromInside)")

    let json = try Self.listJSON(p)
    #expect(json.count == 1)
    if let row = json.first {
      #expect(row["name"] as? String == "alpha")
      #expect(row["path"] as? String == ws.root)
      #expect(row["branch"] as? String == "kiln/alpha")
      #expect(row["base"] as? String == head)
      #expect(row["changed"] as? Int == 0)
      #expect(row["hitRate"] is NSNull, "no build yet: \(row)")
      #expect(row["pool"] as? Bool == false)
    }

    // CHANGED counts committed, uncommitted and untracked files, not ignored ones.
    try ws.write("src/a.txt", "ALPHA\n")
    try ws.commitAll("edit a")
    try ws.write("src/b.txt", "BETA\n")
    try ws.write("notes.md", "new\n")
    try ws.write(".runs/ignored", "x\n")
    let changed = try p.kiln("ws", "list")
    #expect(Self.table(changed).rows.first?[2] == "3", "\(changed)")
    #expect(try Self.listJSON(p).first?["changed"] as? Int == 3)

    // --from REF
    try main.write("src/c.txt", "gamma\n")
    let second = try main.commitAll("add c")
    let old = try p.kiln("ws", "new", "old", "--from", head)
    #expect(old.status == 0, "\(old)")
    let oldWs = Checkout(old.stdout.trimmingCharacters(in: .newlines))
    #expect(try oldWs.git("rev-parse", "HEAD") == head)
    #expect(!oldWs.exists("src/c.txt"))
    let latest = try p.kiln("ws", "new", "latest")
    #expect(latest.status == 0, "\(latest)")
    #expect(try Checkout(latest.stdout.trimmingCharacters(in: .newlines)).git("rev-parse", "HEAD") == second)

    // Bad names and duplicates: exit 2, one line, nothing made.
    for bad in ["", ".hidden", "..", "-x", "a/b", "a b", "caf\u{e9}", "x:y"] {
      let b = try p.kiln("ws", "new", bad)
      #expect(b.status == 2, "ws new '\(bad)': \(b)")
      #expect(b.stderrLines.count == 1, "ws new '\(bad)': \(b)")
      #expect(b.stdout.isEmpty, "ws new '\(bad)': \(b)")
    }
    let duplicate = try p.kiln("ws", "new", "alpha")
    #expect(duplicate.status == 2, "\(duplicate)")
    #expect(duplicate.stderrLines.count == 1, "\(duplicate)")
    #expect(ws.read("src/a.txt") == "ALPHA\n", "the existing workspace is untouched")
    #expect(try Self.listJSON(p).map { $0["name"] as? String } == ["alpha", "latest", "old"])
    let unknown = try p.kiln("ws", "path", "nope")
    #expect(unknown.status == 2, "\(unknown)")
    #expect(unknown.stderrLines.count == 1, "\(unknown)")
    #expect(try main.gitStatus() == "")
  }

  /// Editing, committing and building in one workspace changes no byte in another or
  /// in the main checkout, hidden state (`.kiln/`, `.runs/`) included.
  @Test func workspacesAreIsolated() throws {
    let p = try Self.repo()
    let main = p.checkout
    #expect(try p.kiln("build").status == 0)
    let a = try Self.newWorkspace(p, "a")
    let b = try Self.newWorkspace(p, "b")
    let builtB = try Self.build(p, "b")
    #expect(builtB.status == 0, "\(builtB)")
    let mainBefore = main.snapshot(includingHidden: true)
    let bBefore = b.snapshot(includingHidden: true)
    #expect(mainBefore["all.txt"] == Array("ALPHA\nBETA\n".utf8))
    #expect(bBefore["all.txt"] == Array("ALPHA\nBETA\n".utf8))

    try a.write("src/a.txt", "aleph\n")
    try a.write("src/c.txt", "gimel\n")
    let built = try Self.build(p, "a")
    #expect(built.status == 0, "\(built)")
    #expect(a.read("all.txt") == "ALEPH\nBETA\nGIMEL\n")
    try a.commitAll("a's work")
    try a.write("src/b.txt", "bet\n")
    a.remove("src/c.txt")
    let again = try p.kiln(["build"], in: a.root)
    #expect(again.status == 0, "\(again)")
    #expect(a.read("all.txt") == "ALEPH\nBET\n")
    #expect(!a.exists("out/c.txt"))

    #expect(main.snapshot(includingHidden: true) == mainBefore, "the main checkout changed")
    #expect(b.snapshot(includingHidden: true) == bBefore, "workspace b changed")
    #expect(try main.gitStatus() == "")
    #expect(try b.gitStatus() == "")
    #expect(try main.git("rev-parse", "HEAD") == b.git("rev-parse", "HEAD"))

    // b still builds its own sources: up to date, nothing ran.
    let null = try Self.build(p, "b", "--json")
    #expect(Self.summary(null)?["ran"] as? Int == 0, "\(null)")
    #expect(b.read("all.txt") == "ALPHA\nBETA\n")
  }

  // MARK: - Sharing the cache

  /// A new workspace on a commit the main checkout already built restores every task:
  /// nothing runs there.
  @Test func firstBuildInANewWorkspaceRunsNothing() throws {
    let p = try Self.repo()
    let cold = try p.kiln("build", "--json")
    #expect(Self.summary(cold)?["ran"] as? Int == 3, "\(cold)")
    let ws = try Self.newWorkspace(p, "fresh")
    #expect(!ws.exists("all.txt"))

    let r = try Self.build(p, "fresh", "--json")
    #expect(r.status == 0, "\(r)")
    let s = Self.summary(r)
    #expect(s?["ran"] as? Int == 0, "\(r)")
    #expect(s?["restored"] as? Int == 3, "every task restored: \(r)")
    #expect(s?["up_to_date"] as? Int == 0, "\(r)")
    #expect(s?["hit_rate"] as? Double == 1, "\(r)")
    #expect(ws.runs("upper") == 0)
    #expect(ws.runs("all") == 0)
    #expect(ws.snapshot() == p.checkout.snapshot())

    // Then it is up to date on its own, through -C as well as ws run.
    let null = try p.kiln("-C", ws.root, "build", "--json")
    #expect(Self.summary(null)?["up_to_date"] as? Int == 3, "\(null)")
    #expect(Self.summary(null)?["ran"] as? Int == 0, "\(null)")
  }

  /// An output holding the absolute path of the checkout it was built in is not
  /// restored into a workspace elsewhere: the task runs there and `--explain` says why.
  @Test func pathDependentOutputRunsInEachWorkspace() throws {
    let p = try Self.repo([
      "kiln.yml": """
        tasks:
          where:
            outputs: where.txt
            run: mkdir -p .runs && echo x >> .runs/where && pwd > {out}
          plain:
            outputs: plain.txt
            run: mkdir -p .runs && echo x >> .runs/plain && echo same > {out}
        """,
      ".gitignore": ".kiln/\n.runs/\n*.txt\n",
    ])
    #expect(try p.kiln("build").status == 0)
    #expect(p.read("where.txt") == p.root + "\n")

    let ws = try Self.newWorkspace(p, "elsewhere")
    let r = try Self.build(p, "elsewhere", "--explain")
    #expect(r.status == 0, "\(r)")
    #expect(ws.runs("where") == 1, "\(r)")
    #expect(ws.runs("plain") == 0, "\(r)")
    #expect(ws.read("where.txt") == ws.root + "\n", "\(r)")
    #expect(ws.read("plain.txt") == "same\n")
    let whereLine = r.stderrLines.first { $0.hasPrefix("kiln explain: where: ") } ?? ""
    #expect(whereLine.contains("cached output holds the absolute path \(p.root) of another workspace"), "\(r)")

    // A second workspace: the same again, with neither earlier path.
    let other = try Self.newWorkspace(p, "other")
    let second = try Self.build(p, "other", "--json")
    #expect(second.status == 0, "\(second)")
    #expect(other.runs("where") == 1)
    #expect(other.runs("plain") == 0)
    #expect(other.read("where.txt") == other.root + "\n")
    #expect(Self.outcomes(second) == ["plain": "restored", "where": "ran"], "\(second)")
    #expect(p.read("where.txt") == p.root + "\n", "the main checkout's output is untouched")
  }

  /// Four builds at once in four workspaces sharing one cold cache, with sources shared
  /// and edited differently: each ends exactly as a clean sequential build of its own
  /// sources; each distinct action ran once in all (the cache and in-flight dedup);
  /// the cache is sound afterwards.
  @Test func concurrentBuildsInFourWorkspaces() throws {
    var files = Self.project
    files["kiln.yml"] = """
      tasks:
        upper:
          foreach: src/*.txt
          outputs: out/{stem}.txt
          run: mkdir -p .runs && echo {stem} >> .runs/upper && sleep 0.1 && tr a-z A-Z < {in} > {out}
        all:
          inputs: out/*.txt
          outputs: all.txt
          run: mkdir -p .runs && echo x >> .runs/all && cat {in} > {out}
      """
    files["src/c.txt"] = "gamma\n"
    files["src/d.txt"] = "delta\n"
    let p = try Self.repo(files)
    let edits: [String: [String: String]] = [
      "w1": ["src/a.txt": "one\n"],
      "w2": ["src/b.txt": "two\n", "src/e.txt": "epsilon\n"],
      "w3": ["src/a.txt": "three\n"],
      "w4": [:],
    ]
    var workspaces: [String: Checkout] = [:]
    for (name, changes) in edits.sorted(by: { $0.key < $1.key }) {
      let ws = try Self.newWorkspace(p, name)
      for (path, text) in changes { try ws.write(path, text) }
      workspaces[name] = ws
    }

    let running = try edits.keys.sorted().map { name in
      (name, try p.start(["ws", "run", name, "--", TempProject.kilnBinary, "build", "--json"]))
    }
    for (name, build) in running {
      let r = build.wait()
      #expect(r.status == 0, "\(name): \(r)")
      #expect(Self.summary(r)?["failed"] as? Int == 0, "\(name): \(r)")
    }

    for (name, changes) in edits.sorted(by: { $0.key < $1.key }) {
      let ws = workspaces[name]!
      var sources = files.filter { !$0.key.hasPrefix(".") }
      for (path, text) in changes { sources[path] = text }
      let reference = try TempProject(sources)
      let clean = try reference.kiln("build", "-j1")
      #expect(clean.status == 0, "\(clean)")
      #expect(ws.snapshot() == reference.checkout.snapshot(), "\(name) differs from a clean build of its sources")
    }
    #expect(workspaces["w1"]?.read("all.txt") == "ONE\nBETA\nGAMMA\nDELTA\n")
    #expect(workspaces["w2"]?.read("all.txt") == "ALPHA\nTWO\nGAMMA\nDELTA\nEPSILON\n")

    // upper: a in 3 versions, b in 2, c, d, e: 8 distinct actions; all: 4 different inputs.
    let upperRuns = workspaces.values.map { $0.runs("upper") }.reduce(0, +)
    let allRuns = workspaces.values.map { $0.runs("all") }.reduce(0, +)
    #expect(upperRuns == 8, "each distinct upper action runs once in all: \(workspaces.mapValues { $0.runLines("upper") })")
    #expect(allRuns == 4, "\(workspaces.mapValues { $0.runs("all") })")

    let verify = try p.kiln("cache", "verify")
    #expect(verify.status == 0, "\(verify)")
    #expect(!verify.stdout.contains("CORRUPT"), "\(verify)")
    #expect(verify.stdout.hasSuffix(" cache files checked, 0 corrupt\n"), "\(verify)")
    #expect(try p.checkout.gitStatus() == "")
  }

  // MARK: - run

  @Test func runPassesTheExitStatusAndNamesTheWorkspace() throws {
    let p = try Self.repo()
    let ws = try Self.newWorkspace(p, "runner")

    let seven = try p.kiln("ws", "run", "runner", "--", "sh", "-c", "exit 7")
    #expect(seven.status == 7, "\(seven)")
    let killed = try p.kiln("ws", "run", "runner", "--", "sh", "-c", "kill -9 $$")
    #expect(killed.status == 128 + 9, "\(killed)")
    let env = try p.kiln("ws", "run", "runner", "--", "sh", "-c", "echo \"[$KILN_WORKSPACE]\"; pwd")
    #expect(env.status == 0, "\(env)")
    #expect(env.stdout == "[runner]\n\(ws.root)\n", "\(env)")
    // Exec'd directly: no shell re-splits or expands the arguments.
    let args = try p.kiln("ws", "run", "runner", "--", "printf", "%s|", "a b", "$HOME", "*")
    #expect(args.status == 0, "\(args)")
    #expect(args.stdout == "a b|$HOME|*|", "\(args)")
    let missing = try p.kiln("ws", "run", "nope", "--", "true")
    #expect(missing.status != 0, "\(missing)")
    #expect(missing.stderrLines.count == 1, "\(missing)")
  }

  /// With kiln.yml in a subfolder of the repository, `ws run` starts in that subfolder
  /// of the workspace, so `kiln build` there finds the same build file.
  @Test func runStartsInTheBuildFilesFolder() throws {
    let p = try TempProject([
      "app/kiln.yml": """
        tasks:
          copy:
            inputs: in.txt
            outputs: out.txt
            run: cat {in} > {out}
        """,
      "app/in.txt": "inside\n",
      ".gitignore": ".kiln/\n.runs/\nout.txt\n",
    ])
    try p.initGitRepository()
    let made = try p.kiln(["ws", "new", "sub"], in: "app")
    #expect(made.status == 0, "\(made)")
    let ws = Checkout(made.stdout.trimmingCharacters(in: .newlines))
    #expect(ws.root == p.root + "/.git/kiln/ws/sub", "\(made)")
    let pwd = try p.kiln(["ws", "run", "sub", "--", "pwd"], in: "app")
    #expect(pwd.stdout == ws.root + "/app\n", "\(pwd)")
    let built = try p.kiln(["ws", "run", "sub", "--", TempProject.kilnBinary, "build"], in: "app")
    #expect(built.status == 0, "\(built)")
    #expect(ws.read("app/out.txt") == "inside\n")
    #expect(!p.exists("app/out.txt"))
  }

  /// The run history of a build started through `ws run` records the workspace, and
  /// `ws list` shows each workspace's last hit rate.
  @Test func historyRecordsTheWorkspaceAndItsHitRate() throws {
    let p = try Self.repo()
    #expect(try p.kiln("build").status == 0)
    let same = try Self.newWorkspace(p, "same")
    let edited = try Self.newWorkspace(p, "edited")
    _ = try Self.newWorkspace(p, "idle")
    try edited.write("src/a.txt", "aleph\n")

    let r1 = try Self.build(p, "same", "--json")
    #expect(Self.summary(r1)?["restored"] as? Int == 3, "\(r1)")
    let r2 = try Self.build(p, "edited", "--json")
    // upper a and all ran, upper b was restored: 1/3.
    #expect(Self.summary(r2)?["ran"] as? Int == 2, "\(r2)")
    #expect(Self.summary(r2)?["restored"] as? Int == 1, "\(r2)")

    #expect(try Self.lastBuildWorkspace(same) == "same")
    #expect(try Self.lastBuildWorkspace(edited) == "edited")
    #expect(try Self.lastBuildWorkspace(p.checkout) == .some(nil), "a build outside ws run names no workspace")

    let list = try p.kiln("ws", "list")
    #expect(list.status == 0, "\(list)")
    let rows = Dictionary(Self.table(list).rows.map { ($0.first ?? "", $0) }, uniquingKeysWith: { a, _ in a })
    #expect(rows["same"]?[3] == "100%", "\(list)")
    #expect(rows["edited"]?[3].hasPrefix("33") == true && rows["edited"]?[3].hasSuffix("%") == true, "\(list)")
    #expect(rows["idle"]?[3] == "-", "\(list)")
    #expect(rows["edited"]?[2] == "1", "CHANGED: \(list)")

    let json = Dictionary(try Self.listJSON(p).map { (($0["name"] as? String) ?? "", $0) }, uniquingKeysWith: { a, _ in a })
    #expect(json["same"]?["hitRate"] as? Double == 1)
    #expect(abs((json["edited"]?["hitRate"] as? Double ?? -1) - 1.0 / 3) < 0.001, "\(json)")
    #expect(json["idle"]?["hitRate"] is NSNull)

    // A build with nothing to do (everything up to date) does not turn edited's rate
    // into 100%: the column shows the last build that restored or ran something.
    let nothing = try Self.build(p, "edited", "--json")
    #expect(Self.summary(nothing)?["ran"] as? Int == 0 && Self.summary(nothing)?["restored"] as? Int == 0, "\(nothing)")
    let again = Dictionary(try Self.listJSON(p).map { (($0["name"] as? String) ?? "", $0) }, uniquingKeysWith: { a, _ in a })
    #expect(abs((again["edited"]?["hitRate"] as? Double ?? -1) - 1.0 / 3) < 0.001, "\(again)")
  }

  // MARK: - rm

  @Test func rmRefusesUncommittedWorkUnlessForced() throws {
    let p = try Self.repo()
    let main = p.checkout
    let ws = try Self.newWorkspace(p, "w")

    try ws.write("notes.txt", "untracked\n")
    let untracked = try p.kiln("ws", "rm", "w")
    #expect(untracked.status == 1, "\(untracked)")
    #expect(untracked.stderrLines.count == 1, "\(untracked)")
    #expect(ws.read("notes.txt") == "untracked\n")
    ws.remove("notes.txt")
    try ws.write("src/a.txt", "edited\n")
    let modified = try p.kiln("ws", "rm", "w")
    #expect(modified.status == 1, "\(modified)")
    #expect(modified.stderrLines.count == 1, "\(modified)")
    #expect(ws.read("src/a.txt") == "edited\n")
    #expect(try p.kiln("ws", "path", "w").status == 0)

    let forced = try p.kiln("ws", "rm", "w", "--force")
    #expect(forced.status == 0, "\(forced)")
    #expect(!FileManager.default.fileExists(atPath: ws.root))
    #expect(try p.kiln("ws", "path", "w").status == 2)
    #expect(try Self.branchTip(p, "kiln/w") == nil, "no commits: the branch goes too")
    #expect(try !main.git("worktree", "list", "--porcelain").contains(ws.root))
    #expect(try main.gitStatus() == "")
    // The name is free again.
    let again = try p.kiln("ws", "new", "w")
    #expect(again.status == 0, "\(again)")

    // Ignored files (outputs, .kiln/, .runs/) are no reason to refuse.
    let built = try Self.newWorkspace(p, "built")
    #expect(try Self.build(p, "built").status == 0)
    #expect(built.exists("all.txt"))
    let rmBuilt = try p.kiln("ws", "rm", "built")
    #expect(rmBuilt.status == 0, "\(rmBuilt)")
    #expect(!FileManager.default.fileExists(atPath: built.root))

    // Committed work: removed without --force, the branch kept with the commit.
    let kept = try Self.newWorkspace(p, "kept")
    try kept.write("src/c.txt", "gamma\n")
    let commit = try kept.commitAll("kept work")
    let rmKept = try p.kiln("ws", "rm", "kept")
    #expect(rmKept.status == 0, "\(rmKept)")
    #expect(!FileManager.default.fileExists(atPath: kept.root))
    #expect(try Self.branchTip(p, "kiln/kept") == commit)
    #expect(rmKept.output.contains("kiln/kept"), "a line says the branch is kept: \(rmKept)")
    #expect(try Self.listJSON(p).map { $0["name"] as? String } == ["w"])
    #expect(main.read("src/a.txt") == "alpha\n")
    #expect(try main.gitStatus() == "")
  }

  // MARK: - conflicts

  @Test func conflictsNameFilesChangedInMoreThanOneWorkspace() throws {
    var files = Self.project
    files["src/c.txt"] = "gamma\n"
    let p = try Self.repo(files)
    let one = try Self.newWorkspace(p, "one")
    let two = try Self.newWorkspace(p, "two")
    let three = try Self.newWorkspace(p, "three")

    let none = try p.kiln("ws", "conflicts")
    #expect(none.status == 0, "\(none)")
    #expect(none.stdout.isEmpty, "\(none)")

    try one.write("src/a.txt", "one's a\n")
    try one.commitAll("one edits a")
    try one.write("src/c.txt", "one's c\n")  // only here
    try two.write("src/a.txt", "two's a\n")  // uncommitted
    try two.write("new.txt", "two's new\n")  // untracked
    try three.write("new.txt", "three's new\n")
    try three.write("src/b.txt", "three's b\n")  // only here
    // Both build: their outputs are ignored files, never conflicts.
    #expect(try Self.build(p, "one").status == 0)
    #expect(try Self.build(p, "two").status == 0)

    let r = try p.kiln("ws", "conflicts")
    #expect(r.status == 0, "\(r)")
    let lines = r.stdout.split(separator: "\n").map { line in
      let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
      return (parts.first ?? "", Set((parts.count > 1 ? parts[1] : "").components(separatedBy: ", ")))
    }
    #expect(lines.map(\.0) == ["new.txt", "src/a.txt"], "\(r)")
    #expect(lines.first?.1 == ["three", "two"], "\(r)")
    #expect(lines.last?.1 == ["one", "two"], "\(r)")
  }

  // MARK: - pool

  @Test func poolClaimAndRelease() throws {
    let p = try Self.repo()
    let pool = try p.kiln("ws", "pool", "--size", "2")
    #expect(pool.status == 0, "\(pool)")
    let poolRows = Self.table(pool).rows
    #expect(poolRows.map { $0.first ?? "" } == ["pool-1", "pool-2"], "\(pool)")
    #expect(poolRows.map { $0.count > 4 ? $0[4] : "" } == ["free", "free"], "\(pool)")
    let listed = try Self.listJSON(p)
    #expect(listed.map { $0["pool"] as? Bool } == [true, true])
    #expect(listed.map { $0["state"] as? String } == ["free", "free"])

    // Two claims at the same moment get different workspaces.
    let first = try p.start(["ws", "claim"])
    let second = try p.start(["ws", "claim"])
    let c1 = first.wait()
    let c2 = second.wait()
    #expect(c1.status == 0, "\(c1)")
    #expect(c2.status == 0, "\(c2)")
    let claims = [Self.claimed(c1), Self.claimed(c2)]
    #expect(Set(claims.map(\.name)) == ["pool-1", "pool-2"], "\(c1)\n\(c2)")
    for claim in claims {
      #expect(try p.kiln("ws", "path", claim.name).stdout == claim.path + "\n")
    }
    // No --owner: the claims last until released, tied to no process.
    let states = try Self.listJSON(p).map { $0["state"] as? String }
    #expect(states == ["claimed", "claimed"], "\(states)")

    let third = try p.kiln("ws", "claim")
    #expect(third.status == 1, "\(third)")
    #expect(third.stderr == "kiln: no free workspace in the pool (2 claimed)\n", "\(third)")
    #expect(third.stdout.isEmpty, "\(third)")
    let expired = try p.kiln("ws", "claim", "--wait", "1s")
    #expect(expired.status == 1, "\(expired)")
    #expect(expired.stderr == "kiln: no free workspace in the pool (2 claimed)\n", "\(expired)")

    // The claimer works: edits, an untracked and an ignored file, a build, a commit.
    let name = claims[1].name
    let ws = Checkout(claims[1].path)
    let base = try ws.git("rev-parse", "HEAD")
    // The base commit's files, as the main checkout (never built here) has them.
    let pristine = p.checkout.snapshot(includingHidden: true)
    try ws.write("src/c.txt", "gamma\n")
    let commit = try ws.commitAll("agent's commit")
    try ws.write("src/a.txt", "scribbled\n")
    try ws.write("scratch.txt", "untracked\n")
    try ws.write("out/junk.txt", "ignored\n")
    #expect(try Self.build(p, name).status == 0)
    #expect(ws.exists(".kiln"))

    // A waiting claim gets it once it is released.
    let waiter = try p.start(["ws", "claim", "--wait", "30s"])
    usleep(500_000)
    #expect(waiter.isRunning, "nothing is free, so the claim waits")
    let release = try p.kiln("ws", "release", name)
    #expect(release.status == 0, "\(release)")
    let waited = waiter.wait()
    #expect(waited.status == 0, "\(waited)")
    #expect(Self.claimed(waited).name == name, "\(waited)")

    // Released = reset to the base: tracked edits, untracked and ignored files gone,
    // .kiln/ kept; the agent's commit kept on a dated branch.
    #expect(try ws.git("rev-parse", "HEAD") == base)
    #expect(try ws.git("rev-parse", "--abbrev-ref", "HEAD") == "kiln/\(name)")
    #expect(ws.snapshot(includingHidden: true).filter { !$0.key.hasPrefix(".kiln/") } == pristine, "\(ws.files(includingHidden: true))")
    #expect(ws.exists(".kiln/state.db"), ".kiln/ is kept")
    #expect(try ws.gitStatus() == "")
    let keptBranches = try p.checkout.git("for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/kiln/")
      .split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
      .filter { $0[0].hasPrefix("kiln/\(name)-") }
    #expect(keptBranches.count == 1, "\(keptBranches)")
    if let kept = keptBranches.first {
      #expect(kept[0].range(of: #"^kiln/pool-\d-\d{8}-\d{6}$"#, options: .regularExpression) != nil, "\(kept)")
      #expect(kept[1] == commit)
      #expect(release.output.contains(kept[0]), "a line names the kept branch: \(release)")
    }

    // Release both: both free, claimable again.
    for claim in claims {
      let r = try p.kiln("ws", "release", claim.name)
      #expect(r.status == 0, "\(r)")
    }
    #expect(try Self.listJSON(p).map { $0["state"] as? String } == ["free", "free"])
    _ = try Self.newWorkspace(p, "plain")
    let releasePlain = try p.kiln("ws", "release", "plain")
    #expect(releasePlain.status == 2, "not a pool workspace: \(releasePlain)")

    // A claim whose owner died is handed out again, reset first.
    let owner = Process()
    owner.executableURL = URL(fileURLWithPath: "/bin/sleep")
    owner.arguments = ["120"]
    owner.environment = TestEnvironment.variables(home: p.home, cache: p.cache.path)
    try owner.run()
    let ownerPid = owner.processIdentifier
    let orphaned = try p.kiln("ws", "claim", "--owner", String(ownerPid))
    #expect(orphaned.status == 0, "\(orphaned)")
    let lost = Self.claimed(orphaned)
    let held = try p.kiln("ws", "claim")
    #expect(held.status == 0, "\(held)")
    #expect(Self.claimed(held).name != lost.name)
    try Checkout(lost.path).write("leftover.txt", "from the dead agent\n")
    let stillOwned = try p.kiln("ws", "claim")
    #expect(stillOwned.status == 1, "the owner is alive: \(stillOwned)")

    kill(ownerPid, SIGKILL)
    owner.waitUntilExit()
    let listing = try p.kiln("ws", "list")
    let lostRow = Self.table(listing).rows.first { $0.first == lost.name }
    #expect(lostRow?[4] == "claimed(pid \(ownerPid), gone)", "\(listing)")
    let reclaimed = try p.kiln("ws", "claim")
    #expect(reclaimed.status == 0, "\(reclaimed)")
    #expect(Self.claimed(reclaimed).name == lost.name, "\(reclaimed)")
    #expect(!Checkout(lost.path).exists("leftover.txt"), "reset before it is handed out again")
    #expect(try p.checkout.gitStatus() == "")
  }

  /// `ws pool --size N` makes exactly `pool-1`..`pool-N`, never removing a claimed one.
  @Test func poolResizesAroundClaims() throws {
    let p = try Self.repo()
    #expect(try p.kiln("ws", "pool", "--size", "2").status == 0)
    let first = try p.kiln("ws", "claim")
    let second = try p.kiln("ws", "claim")
    #expect(first.status == 0 && second.status == 0, "\(first)\n\(second)")

    let keep = try p.kiln("ws", "pool", "--size", "1")
    #expect(keep.status == 0, "\(keep)")
    #expect(try Self.listJSON(p).compactMap { $0["name"] as? String } == ["pool-1", "pool-2"], "both are claimed")
    #expect(FileManager.default.fileExists(atPath: p.root + "/.git/kiln/ws/pool-2"))

    #expect(try p.kiln("ws", "release", "pool-2").status == 0)
    let shrink = try p.kiln("ws", "pool", "--size", "1")
    #expect(shrink.status == 0, "\(shrink)")
    #expect(try Self.listJSON(p).compactMap { $0["name"] as? String } == ["pool-1"], "the free one above 1 goes")
    #expect(!FileManager.default.fileExists(atPath: p.root + "/.git/kiln/ws/pool-2"))
    #expect(Self.table(shrink).rows.map { $0.first ?? "" } == ["pool-1"], "\(shrink)")

    let grow = try p.kiln("ws", "pool", "--size", "3")
    #expect(grow.status == 0, "\(grow)")
    #expect(Self.table(grow).rows.map { $0.first ?? "" } == ["pool-1", "pool-2", "pool-3"], "\(grow)")
    let states = try Self.listJSON(p).map { $0["state"] as? String }
    #expect(states == ["claimed", "free", "free"], "\(states)")
    #expect(try p.checkout.gitStatus() == "")
  }

  // MARK: - kill -9

  /// A build killed with SIGKILL in one workspace (while it runs a long task that the
  /// other workspace needs too) leaves the other's concurrent build unharmed: it
  /// completes, correct, without waiting for the dead build's orphaned task; and the
  /// killed workspace builds fine afterwards.
  @Test func killedBuildHarmsNoOtherWorkspace() throws {
    let fraction = Fixture.uniqueFraction()
    var files = Self.project
    files["kiln.yml"] = Self.project["kiln.yml"]! + """

        slow:
          inputs: src/a.txt
          outputs: slow.txt
          run: mkdir -p .runs && echo x >> .runs/slow && if [ -f slow ]; then sleep 60.\(fraction); fi; cat {in} > {out}
      """
    files[".gitignore"] = Self.project[".gitignore"]! + "slow\nslow.txt\n"
    let p = try Self.repo(files)
    let victim = try Self.newWorkspace(p, "victim")
    let other = try Self.newWorkspace(p, "other")
    try victim.write("slow", "")
    try other.write("src/b.txt", "bet\n")
    defer {
      for pid in TempProject.processes(matching: "\\.\(fraction)") { kill(pid, SIGKILL) }
    }

    let doomed = try p.start(["build"], in: victim.root)
    let sleeping = TempProject.waitUntil(seconds: 30) {
      !TempProject.processes(matching: "^sleep 60\\.\(fraction)").isEmpty
    }
    #expect(sleeping, "the slow task never started")
    let survivor = try p.start(["build", "--json"], in: other.root)
    usleep(500_000)
    doomed.send(SIGKILL)
    let dead = doomed.wait()
    #expect(dead.status == 128 + SIGKILL, "\(dead)")

    let r = survivor.wait()
    #expect(r.status == 0, "\(r)")
    #expect(Self.summary(r)?["failed"] as? Int == 0, "\(r)")
    let orphans = TempProject.processes(matching: "^sleep 60\\.\(fraction)")
    #expect(!orphans.isEmpty, "the other build finished only after the killed build's orphaned task ended: it held a slot or the in-flight lock")
    #expect(other.read("slow.txt") == "alpha\n")
    #expect(other.read("all.txt") == "ALPHA\nBET\n")
    #expect(other.runs("slow") == 1, "the killed build stored nothing, so the other one ran it")

    for pid in TempProject.processes(matching: "\\.\(fraction)") { kill(pid, SIGKILL) }
    #expect(TempProject.waitUntil(seconds: 10) { TempProject.processes(matching: "\\.\(fraction)").isEmpty })

    victim.remove("slow")
    let later = try Self.build(p, "victim", "--json")
    #expect(later.status == 0, "\(later)")
    #expect(victim.read("slow.txt") == "alpha\n")
    #expect(victim.read("all.txt") == "ALPHA\nBETA\n")
    #expect(victim.runs("slow") == 1, "restored from the other build, not run again: \(later)")
    let verify = try p.kiln("cache", "verify")
    #expect(verify.status == 0, "\(verify)")
  }

  // MARK: - Helpers

  /// A committed git repository holding `files`.
  /// Outside git a workspace is a copy of the project (without `.kiln`) under
  /// `.kiln/ws/NAME`: isolated, restored from the shared cache, recorded under its name,
  /// and removed only with --force once it holds work the project does not.
  @Test func outsideGitAWorkspaceIsACopy() throws {
    let p = try TempProject(Self.project)
    let cold = try p.kiln("build", "--json")
    #expect(Self.summary(cold)?["ran"] as? Int == 3, "\(cold)")
    let ws = try Self.newWorkspace(p, "copy")
    #expect(ws.root == p.root + "/.kiln/ws/copy", "\(ws.root)")
    #expect(!FileManager.default.fileExists(atPath: ws.root + "/.kiln/state.db"), "kiln's state is not copied")
    #expect(try p.kiln("ws", "new", "copy", "--from", "HEAD").status == 2, "--from needs git")

    let r = try Self.build(p, "copy", "--json")
    #expect(Self.summary(r)?["ran"] as? Int == 0, "\(r)")
    #expect(Self.summary(r)?["restored"] as? Int == 3, "\(r)")
    #expect(ws.read("all.txt") == p.read("all.txt"))

    // The project's globs never see the copy: a main build is still a null build.
    let null = try p.kiln("build", "--json")
    #expect(Self.summary(null)?["up_to_date"] as? Int == 3, "\(null)")

    // An edit in the copy stays there; rm refuses it without --force.
    try ws.write("src/a.txt", "changed\n")
    #expect(p.read("src/a.txt") == "alpha\n")
    let listed = try p.kiln("ws", "list")
    #expect(listed.stdout.contains("copy"), "\(listed)")
    let refused = try p.kiln("ws", "rm", "copy")
    #expect(refused.status == 1, "\(refused)")
    #expect(ws.read("src/a.txt") == "changed\n", "nothing removed")
    let forced = try p.kiln("ws", "rm", "--force", "copy")
    #expect(forced.status == 0, "\(forced)")
    #expect(!FileManager.default.fileExists(atPath: ws.root))
    #expect(p.read("src/a.txt") == "alpha\n")
  }

  static func repo(_ files: [String: String] = project) throws -> TempProject {
    let p = try TempProject(files)
    try p.initGitRepository()
    return p
  }

  /// `kiln ws new NAME`: the new workspace, or a recorded failure.
  static func newWorkspace(_ p: TempProject, _ name: String) throws -> Checkout {
    let r = try p.kiln("ws", "new", name)
    try #require(r.status == 0, "ws new \(name): \(r)")
    return Checkout(r.stdout.trimmingCharacters(in: .newlines))
  }

  /// `kiln ws run NAME -- kiln build ARGS...`.
  static func build(_ p: TempProject, _ name: String, _ args: String...) throws -> KilnResult {
    try p.kiln(["ws", "run", name, "--", TempProject.kilnBinary, "build"] + args)
  }

  /// The object `kiln build --json` printed (its last line of stdout).
  static func summary(_ r: KilnResult) -> [String: Any]? {
    guard let line = r.stdout.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else { return nil }
    return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
  }

  /// Task instance id -> outcome, from `kiln build --json`.
  static func outcomes(_ r: KilnResult) -> [String: String] {
    let tasks = summary(r)?["tasks"] as? [[String: Any]] ?? []
    return Dictionary(tasks.map { (($0["id"] as? String) ?? "", ($0["outcome"] as? String) ?? "") }, uniquingKeysWith: { a, _ in a })
  }

  /// `kiln ws list`: the header's columns and each row's, split at two or more spaces.
  static func table(_ r: KilnResult) -> (header: [String], rows: [[String]]) {
    let lines = r.stdout.split(separator: "\n").map(columns)
    return (lines.first ?? [], Array(lines.dropFirst()))
  }

  static func columns(_ line: Substring) -> [String] {
    var result: [String] = []
    var current = ""
    var spaces = 0
    for ch in line {
      if ch == " " {
        spaces += 1
        continue
      }
      if spaces >= 2, !current.isEmpty {
        result.append(current)
        current = ""
      } else if spaces == 1, !current.isEmpty {
        current.append(" ")
      }
      spaces = 0
      current.append(ch)
    }
    if !current.isEmpty { result.append(current) }
    return result
  }

  /// `kiln ws list --json`, sorted by name.
  static func listJSON(_ p: TempProject) throws -> [[String: Any]] {
    let r = try p.kiln("ws", "list", "--json")
    try #require(r.status == 0, "\(r)")
    let array = try #require(
      (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [[String: Any]], "not a JSON array: \(r)")
    return array.sorted { ($0["name"] as? String ?? "") < ($1["name"] as? String ?? "") }
  }

  /// `NAME<TAB>PATH` from `kiln ws claim`.
  static func claimed(_ r: KilnResult) -> (name: String, path: String) {
    let parts = r.stdout.trimmingCharacters(in: .newlines).split(separator: "\t", maxSplits: 1).map(String.init)
    return (parts.first ?? "", parts.count > 1 ? parts[1] : "")
  }

  /// The commit a branch points at, nil when there is no such branch.
  static func branchTip(_ p: TempProject, _ branch: String) throws -> String? {
    let r = try Git.result(["rev-parse", "--verify", "-q", "refs/heads/" + branch], in: p.root)
    return r.status == 0 ? r.stdout.trimmingCharacters(in: .newlines) : nil
  }

  /// The `workspace` column of the checkout's last recorded build: .some(nil) when
  /// the build named none; nil when there is no build.
  static func lastBuildWorkspace(_ checkout: Checkout) throws -> String?? {
    let db = try Database(path: checkout.absolute(".kiln/state.db"))
    let row = try db.statement("SELECT workspace FROM builds ORDER BY id DESC LIMIT 1")
    guard try row.step() else { return nil }
    return .some(row.isNull(0) ? nil : row.text(0))
  }
}
