#if canImport(Glibc)
import Glibc
#endif
import KilnConfig
import KilnCore
import KilnEngine
import KilnStore
import KilnSystem
import KilnWorkspaces

/// `kiln hooks run HOOK`: builds the tasks `hooks:` lists for HOOK, not in the working
/// tree but in a private snapshot of what git is about to record (`HookSnapshot`): the
/// index for pre-commit (the one git passes in `GIT_INDEX_FILE`, so `git commit -a` and
/// `git commit PATH` are checked as they will be committed), each pushed commit for
/// pre-push. The working tree and the index are only read (no stash). The build runs as
/// a child `kiln build` in the snapshot, which hands back its failures as data
/// (`HookBuildResult`), not as console text.
struct HookRun {
  let context: Context
  let hook: String
  let targets: [String]
  let git: any Git

  init(context: Context, hook: String, targets: [String]) {
    self.context = context
    self.hook = hook
    self.targets = targets
    git = LocalGit(environment: context.environment)
  }

  /// The environment of the child build and its tasks: git's hook variables left out.
  private var childEnvironment: [String: String] {
    var env = context.environment
    for name in gitHookVariables { env[name] = nil }
    return env
  }

  func run() async throws -> Int32 {
    let repo = try await HookRepository.locate(context.root, git: git)
    let snapshot = HookSnapshot(folder: repo.snapshot(for: hook), repository: repo, git: git,
                                fileSystem: context.fileSystem)
    let privateIndex = snapshot.folder + ".index"
    switch hook {
    case "pre-push":
      let commits = try await PrePush.commits(pushed: readStandardInput(), git: git, in: repo.topLevel)
      if commits.isEmpty {
        Terminal.error("kiln: hooks: pre-push: no new commit to check")
        return 0
      }
      do { try context.fileSystem.createDirectories(Paths.parent(privateIndex)) } catch {
        throw HookError.cannotCreate(Paths.parent(privateIndex))
      }
      // Every pushed commit, oldest first, up to the first that fails.
      for sha in commits {
        do { try await git.readTree(sha, into: privateIndex, in: repo.topLevel) } catch {
          throw HookError.prePush(GitFailure("git " + error.subcommand, error.message))
        }
        let status = try await check(snapshot, index: privateIndex, label: "commit \(sha.prefix(12))", against: sha + "^")
        if status != 0 { return status }
      }
      return 0
    default:
      // pre-commit and every other hook: the index git is about to commit, named by
      // git's own variable (which the child build's environment leaves out).
      let index = context.environment["GIT_INDEX_FILE"].map { $0.hasPrefix("/") ? $0 : Paths.join(repo.topLevel, $0) }
        ?? (repo.gitDirectory + "/index")
      try copy(index, to: privateIndex)
      return try await check(snapshot, index: privateIndex, label: "staged changes", against: "HEAD")
    }
  }

  /// Builds the hook's targets in the snapshot, with git's hook variables gone, the
  /// build's own output passed through, and a last line that says what was checked.
  /// Syncs the snapshot with only the files the hook's tasks can read (`selection`)
  /// and builds. When that fails, the failure can come from a file the snapshot left
  /// out (a task reading a file it does not declare) only if it left one out: then
  /// its output is shown as it is, everything is synced and the build runs again (the
  /// tasks that passed are up to date, so only the failed ones run twice), so a task
  /// that reads an undeclared file is never failed by the snapshot. With nothing left
  /// out the first build is the answer. The last line gives both builds' times.
  /// `against`: the commit whose files the "concerns" lines of a failure compare with
  /// (asked of git only when something failed).
  private func check(_ snapshot: HookSnapshot, index: String, label: String, against: String) async throws
    -> Int32
  {
    let changed = { await git.changedPaths(of: index, against: against, in: snapshot.repository.topLevel) }
    let clock = context.clock
    var first: Double?
    if let selection = await selection(snapshot.repository, index: index) {
      let leftOut = try await snapshot.sync(index: index, only: selection.contains)
      let started = clock.monotonic()
      let sparse = await runBuild(snapshot)
      let seconds = clock.monotonic() - started
      if sparse.output.status == 0 || leftOut == 0 {
        return await report(sparse, snapshot.repository, label: label, changed: changed, seconds: seconds)
      }
      Terminal.write(bytes: sparse.output.stdout, to: 1)
      Terminal.write(bytes: sparse.output.stderr, to: 2)
      Terminal.error("kiln: hooks: \(hook): failed with only the files its tasks declare (\(leftOut) staged "
        + "file\(leftOut == 1 ? "" : "s") left out); building again with every staged file, in case a task reads "
        + "one it does not declare")
      first = seconds
    }
    try await snapshot.sync(index: index)
    let started = clock.monotonic()
    let full = await runBuild(snapshot)
    return await report(full, snapshot.repository, label: label, changed: changed, seconds: clock.monotonic() - started,
                  firstPass: first)
  }

  /// Which files of `index` the tasks can read (`HookSelection`), from the index's own
  /// build file and the inputs the working tree's last builds discovered. Nil when the
  /// index's build file cannot be read or parsed: then everything is written.
  private func selection(_ repo: HookRepository, index: String) async -> HookSelection? {
    let name = context.launch.buildFile.map(Paths.fileName) ?? "kiln.yml"
    let prefix = repo.buildDirectory.isEmpty ? "" : repo.buildDirectory + "/"
    guard let blob = await git.stagedBlob(prefix + name, of: index, in: repo.topLevel),
          let file = try? BuildFileParser(displayPath: name).parse(bytes: blob)
    else { return nil }
    let patterns = file.tasks.flatMap { task in task.inputs.map(\.value) + (task.foreach ?? []).map(\.value) }
    var discovered = Set<String>()
    // Only an existing manifest: a hook must not create state in the working tree.
    if context.fileSystem.stat(context.layout.manifest)?.kind == .file,
       let records = try? Manifest(readingOnly: context.layout.manifest).loadRecords() {
      for record in records.values { for d in record.discovered where !d.path.hasPrefix("/") { discovered.insert(d.path) } }
    }
    return HookSelection(buildFileName: name, buildDirectory: repo.buildDirectory, patterns: patterns,
                         discovered: discovered)
  }

  /// The inputs the working tree's builds discovered (headers named by depfiles), per
  /// instance: a failure concerns a staged header its compile includes even when the
  /// snapshot never built that instance before. Read only; empty without a manifest.
  private func workingTreeDiscovered() -> [String: [String]] {
    guard context.fileSystem.stat(context.layout.manifest)?.kind == .file,
          let records = try? Manifest(readingOnly: context.layout.manifest).loadRecords() else { return [:] }
    var result: [String: [String]] = [:]
    for (id, record) in records {
      result[id.description] = record.discovered.map(\.path).filter { !$0.hasPrefix("/") }
    }
    return result
  }

  /// A child `kiln build` of the targets in the snapshot, and the result it hands back.
  private func runBuild(_ snapshot: HookSnapshot) async -> (output: Command.Output, result: HookBuildResult?) {
    let directory = Paths.join(snapshot.folder, snapshot.repository.buildDirectory)
    var argv = [HooksCommand.executablePath(), "-C", directory]
    if let file = context.launch.buildFile { argv += ["-f", file] }
    argv += ["build"] + targets
    let resultFile = snapshot.folder + ".result"
    try? context.fileSystem.remove(resultFile)
    var env = childEnvironment
    env[HookBuildResult.variable] = resultFile
    let output = await Command.run(argv, in: directory, environment: env)
    let result = HookBuildResult.read(resultFile, startedBy: getpid(), fileSystem: context.fileSystem)
    try? context.fileSystem.remove(resultFile)
    return (output, result)
  }

  /// Prints the build's output and the hook's last line: what was checked, how it
  /// ended, and how long it took (`firstPass`: the failed build on the declared files
  /// that came before this one, whose time counts too). For each failed instance, the
  /// staged files among its inputs: "which staged file it concerns".
  private func report(_ build: (output: Command.Output, result: HookBuildResult?), _ repo: HookRepository,
                      label: String, changed: () async -> Set<String>, seconds: Double,
                      firstPass: Double? = nil) async -> Int32 {
    let out = build.output
    Terminal.write(bytes: out.stdout, to: 1)
    Terminal.write(bytes: out.stderr, to: 2)
    let time = firstPass.map {
      "in \(Self.seconds($0 + seconds)) (\(Self.seconds($0)) with the declared files, then \(Self.seconds(seconds)) "
        + "with every staged file)"
    } ?? "in \(Self.seconds(seconds))"
    if out.status == 0 {
      Terminal.error("kiln: hooks: \(hook): \(targets.joined(separator: " ")) built on the \(label) \(time)")
    } else {
      let failures = build.result?.failures ?? []
      let discovered = failures.isEmpty ? [:] : workingTreeDiscovered()
      let changed = failures.isEmpty ? [] : await changed()
      for failure in failures {
        let inputs = failure.inputs + (discovered[failure.id] ?? []).filter { !failure.inputs.contains($0) }
        let staged = inputs.map { repo.buildDirectory.isEmpty ? $0 : repo.buildDirectory + "/" + $0 }
          .filter(changed.contains)
        Terminal.error(staged.isEmpty
          ? "kiln: hooks: \(failure.id): none of its inputs changed; it fails on the content as a whole"
          : "kiln: hooks: \(failure.id): concerns \(staged.sorted().joined(separator: ", "))")
      }
      Terminal.error("kiln: hooks: \(hook): \(targets.joined(separator: " ")) failed on the \(label) (exit \(out.status)) "
        + "\(time); the files it names are as staged, not as in the working tree")
    }
    return out.status
  }

  /// `2.05s`.
  private static func seconds(_ value: Double) -> String { String(format2: value) + "s" }

  private func copy(_ from: String, to: String) throws(HookError) {
    let fs = context.fileSystem
    guard let bytes = try? fs.read(from) else { throw .cannotReadIndex(from) }
    do {
      try fs.createDirectories(Paths.parent(to))
      try fs.writeAtomically(bytes, to: to, permissions: 0o644)
    } catch {
      throw .cannotCopyIndex(to: to, reason: "\(error)")
    }
  }

  /// What git passed on stdin (a file: the hook script saves it first).
  private func readStandardInput() -> String {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = buffer.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
      if n < 0, errno == EINTR { continue }
      if n <= 0 { break }
      bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

extension HookBuildResult {
  /// When a hook started this build (`variable` names a file in its environment),
  /// writes there which instances failed and their inputs; a write that fails leaves
  /// the hook without the "concerns" lines, nothing more. Called by `kiln build` once
  /// the build has finished.
  /// Whether `path` is where a hook asks for a result (`<git-dir>/kiln/hooks/HOOK.result`):
  /// a variable left in some environment must not have a build replace any other file.
  static func isHookResultPath(_ path: String) -> Bool {
    let folder = Paths.parent(path)
    return path.hasPrefix("/") && path.hasSuffix(".result") && Paths.fileName(folder) == "hooks"
      && Paths.fileName(Paths.parent(folder)) == "kiln"
  }

  static func writeIfAsked(_ result: BuildResult, graph: TaskGraph, context: Context) {
    guard let path = context.environment[variable], isHookResultPath(path) else { return }
    var failures: [Failure] = []
    for report in result.reports {
      guard case .failed = report.outcome else { continue }
      var inputs = graph.index(of: report.id).map { graph[$0].inputs } ?? []
      // A header found through the depfile is an input too: a staged header that breaks
      // the compile is what the failure concerns.
      for case .discoveredInputChanged(let path) in report.reasons where !inputs.contains(path) { inputs.append(path) }
      failures.append(Failure(id: report.id.description, inputs: inputs))
    }
    let answer = HookBuildResult(parent: getppid(), failures: failures)
    try? context.fileSystem.writeAtomically(answer.encoded(), to: path, permissions: 0o600)
  }
}
