#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KilnTestSupport
import Testing

/// `kiln hooks`: real repositories, real `git commit` and `git push` running the hooks
/// kiln wrote, tasks counting their runs in a log outside the repository (they run in
/// the hook's private snapshot, not in the working tree).
@Suite struct HooksTests {
  /// `check` fails on a file holding "BAD"; every run appends the file's name to $LOG.
  static func project(log: String) -> [String: String] {
    [
      "kiln.yml": """
        env:
          LOG: \(log)
        tasks:
          check:
            foreach: src/*.txt
            outputs: out/{stem}.ok
            run: echo {in} >> $LOG && env | grep -c '^GIT_INDEX_FILE=\\|^GIT_DIR=' > {out}; ! grep -q BAD {in}
        hooks:
          pre-commit: [check]
          pre-push: [check]
        """,
      ".gitignore": ".kiln/\nout/\n",
      "src/a.txt": "alpha\n",
      "src/b.txt": "beta\n",
    ]
  }

  final class Repo {
    let scratch = TempDirectory(prefix: "kiln-hooks")
    let p: TempProject
    var log: String { scratch.path + "/runs.log" }

    init(_ files: [String: String]? = nil) throws {
      p = try TempProject(files ?? HooksTests.project(log: scratch.path + "/runs.log"))
      try p.initGitRepository()
    }

    /// The instances checked so far, in order.
    var runs: [String] { (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? [] }

    /// `git ARGS` in `directory` (default the repository) with kiln's environment, so
    /// the hooks it runs use this test's cache.
    func git(_ args: [String], in directory: String? = nil, input: String? = nil) throws -> KilnResult {
      try Program.run("/usr/bin/git", args, in: directory ?? p.root, environment: environment)
    }

    /// git's and kiln's: this test's identity and cache, and no workspace name.
    var environment: [String: String] {
      var env = Git.environment
      env["KILN_CACHE_DIR"] = p.cache.path
      env["KILN_WORKSPACE"] = ""
      for (k, v) in p.environment { env[k] = v }
      return env
    }
  }

  @Test func aBadStagedChangeIsRefusedThoughTheWorkingTreeIsFixed() throws {
    let r = try Repo()
    #expect(try r.p.kiln("hooks", "install").status == 0)
    try r.p.write("src/b.txt", "BAD\n")
    try r.p.checkout.git("add", "src/b.txt")
    try r.p.write("src/b.txt", "fixed\n")
    let commit = try r.git(["commit", "-q", "-m", "bad"])
    #expect(commit.status != 0, "\(commit)")
    #expect(commit.output.contains("FAILED: check src/b.txt"), "\(commit)")
    #expect(commit.output.contains("kiln: hooks: check src/b.txt: concerns src/b.txt"), "names the staged file: \(commit)")
    #expect(r.p.read("src/b.txt") == "fixed\n", "the working tree is untouched")
    #expect(try r.p.checkout.git("show", ":src/b.txt") == "BAD", "the index is untouched")
    #expect(try r.p.checkout.git("rev-list", "--count", "HEAD") == "1", "nothing was committed")
  }

  /// The hook learns which instances failed from the build itself, not from its console
  /// text: a task that prints a line like kiln's own FAILED line names no failure.
  @Test func aHookResultVariableLeftInTheEnvironmentReplacesNoOtherFile() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          broken:
            run: exit 3

        """,
      "victim.txt": "precious\n",
    ])
    let r = try p.kiln("build", environment: ["KILN_HOOK_RESULT": p.absolute("victim.txt")])
    #expect(r.status == 1, "\(r)")
    #expect(p.read("victim.txt") == "precious\n")
  }

  @Test func whatAFailingTaskPrintsIsNotTakenForTheBuildsVerdict() throws {
    let r = try Repo([
      "kiln.yml": """
        tasks:
          check:
            foreach: src/*.txt
            outputs: out/{stem}.ok
            run: "echo 'FAILED: check src/a.txt: made up'; ! grep -q BAD {in} && touch {out}"
        hooks:
          pre-commit: [check]
        """,
      ".gitignore": ".kiln/\nout/\n",
      "src/a.txt": "alpha\n",
      "src/b.txt": "beta\n",
    ])
    #expect(try r.p.kiln("hooks", "install").status == 0)
    try r.p.write("src/b.txt", "BAD\n")
    try r.p.checkout.git("add", "src/b.txt")
    let commit = try r.git(["commit", "-q", "-m", "bad"])
    #expect(commit.status != 0, "\(commit)")
    #expect(commit.output.contains("kiln: hooks: check src/b.txt: concerns src/b.txt"), "\(commit)")
    #expect(!commit.output.contains("kiln: hooks: check src/a.txt:"), "a printed line is no failure: \(commit)")
  }

  @Test func aTaskEditingTheSnapshotInPlaceCannotMakeTheNextHookPassBadContent() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          fmt:
            foreach: src/*.txt
            outputs: out/{stem}.ok
            run: "if grep -q BAD {in}; then echo fine > {in}; exit 1; fi; touch {out}"
        hooks:
          pre-commit: [fmt]
        """,
      ".gitignore": ".kiln/\nout/\n",
      "src/a.txt": "alpha\n",
    ])
    try p.initGitRepository()
    var env = Git.environment
    env["KILN_CACHE_DIR"] = p.cache.path
    env["KILN_WORKSPACE"] = ""
    for (k, v) in p.environment { env[k] = v }
    #expect(try p.kiln("hooks", "install").status == 0)
    try p.write("src/a.txt", "BAD\n")
    try p.checkout.git("add", "src/a.txt")
    // The first refusal: the task also "formats" its input in the hook's snapshot.
    let first = try Program.run("/usr/bin/git", ["commit", "-q", "-m", "bad"], in: p.root, environment: env)
    #expect(first.status != 0, "\(first)")
    // The same staged bytes again: still refused, not judged on the snapshot's edited copy.
    let second = try Program.run("/usr/bin/git", ["commit", "-q", "-m", "bad again"], in: p.root, environment: env)
    #expect(second.status != 0, "the second hook judged the snapshot's edited copy: \(second)")
    #expect(try p.checkout.git("rev-list", "--count", "HEAD") == "1", "nothing was committed")
  }

  /// A staged header that breaks a compile is what the failure concerns, though only
  /// the depfile names it: the hook used to say "none of its inputs changed".
  @Test func aFailureNamesTheStagedHeaderItsDepfileFound() throws {
    let r = try Repo([
      "kiln.yml": """
        tasks:
          compile:
            foreach: src/*.c
            outputs: out/{stem}.o
            depfile: out/{stem}.d
            run: "! grep -q BAD inc/h.h && cat {in} inc/h.h > {out} && echo '{out}: {in} inc/h.h' > out/{stem}.d"
        hooks:
          pre-commit: [compile]
        """,
      ".gitignore": ".kiln/\nout/\n",
      "src/a.c": "a\n",
      "inc/h.h": "h\n",
    ])
    #expect(try r.p.kiln("build").status == 0, "the working tree's build finds inc/h.h")
    #expect(try r.p.kiln("hooks", "install").status == 0)
    try r.p.write("inc/h.h", "BAD\n")
    try r.p.checkout.git("add", "inc/h.h")
    let commit = try r.git(["commit", "-q", "-m", "bad header"])
    #expect(commit.status != 0, "\(commit)")
    #expect(commit.output.contains("kiln: hooks: compile src/a.c: concerns inc/h.h"), "\(commit)")
    #expect(!commit.output.contains("none of its inputs changed"), "\(commit)")
  }

  @Test func aStagedNameThatIsNotUTF8IsRefusedWithTheFileNamed() throws {
    let r = try Repo()
    #expect(try r.p.kiln("hooks", "install").status == 0)
    let name: [UInt8] = Array((r.p.root + "/src/x-").utf8) + [0xFF] + Array(".txt".utf8) + [0]
    let fd = name.withUnsafeBufferPointer {
      open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_WRONLY | O_CREAT, 0o644)
    }
    try #require(fd >= 0)
    _ = Glibc.write(fd, "x\n", 2)
    close(fd)
    try r.p.checkout.git("add", "-A")
    let commit = try r.git(["commit", "-q", "-m", "odd name"])
    #expect(commit.status != 0, "\(commit)")
    #expect(commit.output.contains("kiln: hooks: the index holds 'src/x-\\xff.txt', whose name is not UTF-8"), "\(commit)")
  }

  @Test func aGoodStagedChangeWithABrokenUnstagedEditIsAccepted() throws {
    let r = try Repo()
    #expect(try r.p.kiln("hooks", "install").status == 0)
    try r.p.write("src/a.txt", "alpha 2\n")
    try r.p.checkout.git("add", "src/a.txt")
    let broken: [UInt8] = Array("BAD and unstaged\n".utf8) + [0, 255, 10]
    try r.p.write("src/a.txt", bytes: broken)
    let commit = try r.git(["commit", "-q", "-m", "good"])
    #expect(commit.status == 0, "\(commit)")
    #expect(r.p.bytes("src/a.txt") == broken, "the unstaged edit is still there, byte for byte")
    #expect(try r.p.checkout.git("show", "HEAD:src/a.txt") == "alpha 2")
    #expect(try r.p.checkout.gitStatus() == " M src/a.txt")
    // The tasks did not see git's hook variables (GIT_INDEX_FILE, GIT_DIR).
    let snapshotOutput = try r.p.checkout.git("rev-parse", "--git-dir") + "/kiln/hooks/pre-commit/out/a.ok"
    let seen = try String(contentsOfFile: r.p.absolute(snapshotOutput), encoding: .utf8)
    #expect(seen == "0\n", "\(seen)")
  }

  @Test func aCommitTouchingNothingRelevantRunsNoTask() throws {
    let r = try Repo()
    #expect(try r.p.kiln("hooks", "install").status == 0)
    try r.p.write("src/a.txt", "alpha 2\n")
    #expect(try r.git(["commit", "-qam", "first"]).status == 0)
    #expect(r.runs.sorted() == ["src/a.txt", "src/b.txt"], "the first run checks everything: \(r.runs)")
    try r.p.write("README", "words\n")
    try r.p.checkout.git("add", "README")
    let second = try r.git(["commit", "-q", "-m", "docs"])
    #expect(second.status == 0, "\(second)")
    #expect(r.runs.count == 2, "README is no task's input: \(r.runs)")
    // The same staged content as a state built before anywhere (here: the working
    // tree's own build) restores instead of running.
    try r.p.write("src/b.txt", "beta 2\n")
    #expect(try r.p.kiln("build").status == 0)
    let before = r.runs.count
    #expect(try r.git(["commit", "-qam", "b"]).status == 0)
    #expect(r.runs.count == before, "built in the working tree first: restored in the hook: \(r.runs)")
  }

  @Test func aHookThatWasThereRunsFirstAndUninstallPutsItBack() throws {
    let r = try Repo()
    let hooks = r.p.root + "/.git/hooks"
    let original = "#!/bin/sh\necho old >> \(r.log)\nexit ${OLD_HOOK_STATUS:-0}\n"
    try r.p.write(".git/hooks/pre-commit", original)
    chmod(hooks + "/pre-commit", 0o750)
    #expect(try r.p.kiln("hooks", "install").status == 0)
    let again = try r.p.kiln("hooks", "install")
    #expect(again.status == 0 && again.stdout.contains("already installed"), "\(again)")
    #expect(FileManager.default.fileExists(atPath: hooks + "/pre-commit.kiln-chained"))

    try r.p.write("src/a.txt", "alpha 2\n")
    #expect(try r.git(["commit", "-qam", "one"]).status == 0)
    #expect(r.runs.first == "old", "the old hook ran first: \(r.runs)")
    #expect(r.runs.contains("src/a.txt"))

    // Its failure stops the commit before kiln runs.
    try r.p.write("src/b.txt", "beta 2\n")
    let runsBefore = r.runs.count
    var env = r.environment
    env["OLD_HOOK_STATUS"] = "3"
    let stopped = try Program.run("/usr/bin/git", ["commit", "-qam", "two"], in: r.p.root, environment: env)
    #expect(stopped.status != 0, "\(stopped)")
    #expect(r.runs.count == runsBefore + 1 && r.runs.last == "old", "kiln did not run: \(r.runs)")

    #expect(try r.p.kiln("hooks", "uninstall").status == 0)
    #expect(r.p.read(".git/hooks/pre-commit") == original, "byte for byte")
    var st = stat()
    stat(hooks + "/pre-commit", &st)
    #expect(st.st_mode & 0o777 == 0o750, "and its mode")
    #expect(!FileManager.default.fileExists(atPath: hooks + "/pre-commit.kiln-chained"))
    #expect(!FileManager.default.fileExists(atPath: hooks + "/pre-push"), "a hook kiln added alone is gone")
  }

  @Test func coreHooksPathIsRespected() throws {
    let r = try Repo()
    try r.p.checkout.git("config", "core.hooksPath", "githooks")
    #expect(try r.p.kiln("hooks", "install", "pre-commit").status == 0)
    #expect(FileManager.default.fileExists(atPath: r.p.root + "/githooks/pre-commit"))
    #expect(!FileManager.default.fileExists(atPath: r.p.root + "/.git/hooks/pre-commit"))
    try r.p.write("src/a.txt", "BAD\n")
    #expect(try r.git(["commit", "-qam", "bad"]).status != 0, "git runs it from core.hooksPath")
  }

  @Test func aLinkedWorktreeChecksItsOwnIndex() throws {
    let r = try Repo()
    let linked = r.scratch.path + "/linked"
    try r.p.checkout.git("worktree", "add", "-q", "-b", "side", linked)
    // Installed from inside the linked worktree: into the shared hooks folder.
    #expect(try r.p.kiln(["hooks", "install"], in: linked).status == 0)
    #expect(FileManager.default.fileExists(atPath: r.p.root + "/.git/hooks/pre-commit"))
    let side = Checkout(linked)
    try side.write("src/b.txt", "BAD\n")
    let refused = try r.git(["commit", "-qam", "bad"], in: linked)
    #expect(refused.status != 0, "\(refused)")
    try side.write("src/b.txt", "beta on the side\n")
    #expect(try r.git(["commit", "-qam", "good"], in: linked).status == 0)
    #expect(try side.git("show", "HEAD:src/b.txt") == "beta on the side")
    #expect(r.p.read("src/b.txt") == "beta\n", "the main worktree is untouched")
  }

  @Test func prePushChecksEveryCommitBeingPushed() throws {
    let r = try Repo()
    let remote = r.scratch.path + "/remote.git"
    try Git.run("init", "-q", "--bare", remote, in: r.scratch.path)
    try r.p.checkout.git("remote", "add", "origin", remote)
    #expect(try r.p.kiln("hooks", "install", "pre-push").status == 0)
    #expect(try r.git(["push", "-q", "origin", "main"]).status == 0)
    // Three commits: the middle one is bad, the last fixes it. Each is checked.
    try r.p.write("src/a.txt", "alpha 2\n")
    try r.p.checkout.commitAll("good")
    try r.p.write("src/b.txt", "BAD\n")
    try r.p.checkout.commitAll("bad")
    try r.p.write("src/b.txt", "beta 3\n")
    try r.p.checkout.commitAll("fixed")
    let push = try r.git(["push", "-q", "origin", "main"])
    #expect(push.status != 0, "the bad commit in the range blocks the push: \(push)")
    #expect(push.output.contains("FAILED: check src/b.txt"), "\(push)")
    #expect(try Git.run("rev-list", "--count", "main", in: remote) == "1", "nothing new reached the remote")
    // Without the bad commit in the range, the push goes through.
    try r.p.checkout.git("reset", "-q", "--hard", "HEAD~2")
    let again = try r.git(["push", "-q", "origin", "main"])
    #expect(again.status == 0, "\(again)")
  }

  /// The snapshot gets only what the tasks can read (the build file, what their globs
  /// match, headers the working tree's builds discovered); a task that reads a file it
  /// does not declare still passes, from a full snapshot made when the sparse one fails.
  @Test func theSnapshotHoldsOnlyWhatTheTasksRead() throws {
    let r = try Repo()
    try r.p.write("docs/manual.txt", "not an input of anything\n")
    try r.p.checkout.commitAll("docs")
    #expect(try r.p.kiln("hooks", "install", "pre-commit").status == 0)
    try r.p.write("src/a.txt", "alpha 2\n")
    #expect(try r.git(["commit", "-qam", "a"]).status == 0)
    let snapshot = r.p.root + "/.git/kiln/hooks/pre-commit"
    #expect(FileManager.default.fileExists(atPath: snapshot + "/src/a.txt"))
    #expect(FileManager.default.fileExists(atPath: snapshot + "/kiln.yml"))
    #expect(!FileManager.default.fileExists(atPath: snapshot + "/docs/manual.txt"), "no task reads it")

    // A task that reads an undeclared file: the sparse snapshot fails it, the full one not.
    let yml = try #require(r.p.read("kiln.yml"))
    try r.p.write("kiln.yml", yml.replacingOccurrences(of: "! grep -q BAD {in}", with: "! grep -q BAD {in} && cat docs/manual.txt > /dev/null"))
    let commit = try r.git(["commit", "-qam", "reads docs"])
    #expect(commit.status == 0, "\(commit)")
    #expect(FileManager.default.fileExists(atPath: snapshot + "/docs/manual.txt"))
  }

  /// Ctrl-C during a hook stops the hook's nested `kiln build` and its tasks: that
  /// build leads a process group of its own (the terminal's signal does not reach it),
  /// so the hook must signal it, as a build signals its tasks.
  @Test func ctrlCDuringAHookStopsItsNestedBuildAndTasks() throws {
    let scratch = TempDirectory(prefix: "kiln-hooks-int")
    let pidFile = scratch.path + "/task.pid"
    let r = try Repo([
      "kiln.yml": """
        tasks:
          block:
            inputs: [src/a.txt]
            outputs: out/block.ok
            run: echo $$ > \(pidFile).tmp && mv \(pidFile).tmp \(pidFile) && exec sleep 30
        hooks:
          pre-commit: [block]
        """,
      ".gitignore": ".kiln/\nout/\n",
      "src/a.txt": "alpha\n",
    ])
    try r.p.write("src/a.txt", "alpha 2\n")
    try r.p.checkout.git("add", "src/a.txt")
    let hook = try r.p.start(["hooks", "run", "pre-commit"], environment: r.environment, timeout: 60)
    let started = TempProject.waitUntil(seconds: 30) { FileManager.default.fileExists(atPath: pidFile) }
    #expect(started, "the task never started: \(hook.stderrSoFar)")
    let text = (try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? ""
    let task = try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), "pid file: '\(text)'")
    #expect(Self.isRunning(task), "the task runs before the Ctrl-C")
    hook.send(SIGINT)
    let ended = hook.wait()
    #expect(ended.status != 0 && ended.status != -1, "\(ended)")
    let gone = TempProject.waitUntil(seconds: 10) { !Self.isRunning(task) }
    #expect(gone, "the hook's task \(task) still runs after the hook ended: \(ended)")
    if !gone { _ = kill(task, SIGKILL) }
  }

  /// Whether `pid` is a process that runs (a zombie has ended; it waits to be reaped).
  static func isRunning(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0, let stat = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return false }
    let text = String(decoding: stat, as: UTF8.self)
    guard let close = text.lastIndex(of: ")") else { return true }
    return !text[close...].hasPrefix(") Z")
  }
}
