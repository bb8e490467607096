#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KilnTestSupport
import Testing

/// A failing pre-commit hook (issue 12, item 21): the build on the sparse snapshot (the
/// files the tasks declare) is run again on every staged file only when the snapshot
/// left a file out, and then both builds are shown, the first one's failures included,
/// with both times on the last line.
@Suite struct HookPassesTests {
  /// `check` fails on a file holding "BAD"; every run appends the file's name to `log`.
  static func files(log: String, withGitignore: Bool) -> [String: String] {
    var files = [
      "kiln.yml": """
        tasks:
          check:
            foreach: src/*.txt
            run: echo {in} >> \(log); ! grep -q BAD {in}
        hooks:
          pre-commit: [check]
        """,
      "src/a.txt": "alpha\n",
      "src/b.txt": "beta\n",
    ]
    if withGitignore { files[".gitignore"] = ".kiln/\n" }
    return files
  }

  static func environment(_ p: TempProject) -> [String: String] {
    var env = Git.environment
    env["KILN_CACHE_DIR"] = p.cache.path
    env["KILN_WORKSPACE"] = ""
    for (k, v) in p.environment { env[k] = v }
    return env
  }

  static func runs(_ log: String) -> [String] {
    ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
  }

  @Test func aFailureWithNothingLeftOutOfTheSnapshotBuildsOnce() throws {
    let scratch = TempDirectory(prefix: "kiln-hook-passes")
    let log = scratch.path + "/runs.log"
    // Every file in the repository is an input or the build file: nothing is left out.
    let p = try TempProject(Self.files(log: log, withGitignore: false))
    try p.initGitRepository()
    #expect(try p.kiln("hooks", "install", "pre-commit").status == 0)
    try p.write("src/b.txt", "BAD\n")
    try p.checkout.git("add", "src/b.txt")

    let commit = try Program.run("/usr/bin/git", ["commit", "-q", "-m", "bad"], in: p.root,
                                 environment: Self.environment(p))
    #expect(commit.status != 0, "\(commit)")
    #expect(Self.runs(log).filter { $0 == "src/b.txt" }.count == 1, "the failing task ran once: \(Self.runs(log))")
    #expect(!commit.stderr.contains("building again"), "\(commit)")
    #expect(commit.output.components(separatedBy: "FAILED: check src/b.txt").count == 2, "one failure shown: \(commit)")
    let last = commit.stderrLines.last ?? ""
    #expect(last.contains("failed on the staged changes (exit 1) in "), "\(commit)")
  }

  @Test func aFailureWithFilesLeftOutShowsBothBuildsAndBothTimes() throws {
    let scratch = TempDirectory(prefix: "kiln-hook-passes")
    let log = scratch.path + "/runs.log"
    // .gitignore is read by no task: the sparse snapshot leaves it out.
    let p = try TempProject(Self.files(log: log, withGitignore: true))
    try p.initGitRepository()
    #expect(try p.kiln("hooks", "install", "pre-commit").status == 0)
    try p.write("src/b.txt", "BAD\n")
    try p.checkout.git("add", "src/b.txt")

    let commit = try Program.run("/usr/bin/git", ["commit", "-q", "-m", "bad"], in: p.root,
                                 environment: Self.environment(p))
    #expect(commit.status != 0, "\(commit)")
    // The first build's failure is shown, then the line that says why it builds again.
    let output = commit.output
    #expect(output.components(separatedBy: "FAILED: check src/b.txt").count == 3, "both failures shown: \(commit)")
    let again = commit.stderrLines.filter { $0.contains("building again with every staged file") }
    #expect(again.count == 1, "\(commit)")
    #expect(again.first?.contains("1 staged file left out") == true, "\(commit)")
    // Only the failed task runs twice: the one that passed is up to date the second time.
    #expect(Self.runs(log).filter { $0 == "src/a.txt" }.count == 1, "\(Self.runs(log))")
    #expect(Self.runs(log).filter { $0 == "src/b.txt" }.count == 2, "\(Self.runs(log))")
    let last = commit.stderrLines.last ?? ""
    #expect(last.contains("with the declared files, then"), "both times on the last line: \(commit)")
    #expect(last.contains("with every staged file)"), "\(commit)")
  }

  @Test func aPassingHookSaysHowLongItTook() throws {
    let scratch = TempDirectory(prefix: "kiln-hook-passes")
    let log = scratch.path + "/runs.log"
    let p = try TempProject(Self.files(log: log, withGitignore: true))
    try p.initGitRepository()
    #expect(try p.kiln("hooks", "install", "pre-commit").status == 0)
    try p.write("src/b.txt", "fine\n")
    try p.checkout.git("add", "src/b.txt")
    let commit = try Program.run("/usr/bin/git", ["commit", "-q", "-m", "good"], in: p.root,
                                 environment: Self.environment(p))
    #expect(commit.status == 0, "\(commit)")
    let last = commit.stderrLines.last ?? ""
    #expect(last.range(of: #"built on the staged changes in \d+\.\d\ds$"#, options: .regularExpression) != nil, "\(commit)")
  }
}
