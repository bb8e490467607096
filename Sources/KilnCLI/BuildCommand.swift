import ArgumentParser
import KilnConfig
import KilnCore
import KilnEngine
import KilnStore
import KilnSystem
import KilnWorkspaces

struct BuildCommand: KilnSubcommand {
  static let configuration = CommandConfiguration(
    commandName: "build", abstract: "Build the named tasks (default: the build file's 'default', else every task).")

  @Option(name: [.short, .customLong("jobs")], help: "Run N jobs at once (default: cores, or KILN_MAX_JOBS).") var j: Int?
  @Flag(name: [.short, .customLong("keep-going")], help: "Keep going after a task fails.") var k = false
  @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "Say what would restore or run; run nothing.") var dryRun = false
  @Flag(help: "Say why each task runs.") var explain = false
  @Flag(name: .customLong("no-cache"), help: "Neither restore from nor store into the cache.") var noCache = false
  @Flag(help: "Print a summary object on stdout.") var json = false
  @Flag(name: [.short, .long], help: "Print nothing but failures and warnings.") var quiet = false
  @Flag(name: [.short, .long], help: "Print each command that ran, its variables' values in place.") var verbose = false
  @Option(help: "Write a Chrome trace (JSON) of the build to FILE.") var trace: String?
  @Argument(help: "Tasks (or task instances, 'compile src/a.c') to build, and NAME=value to override env: for this build.",
            completion: .custom(BuildCommand.taskNames))
  var tasks: [String] = []

  /// Completion (`kiln build <TAB>`): the task names of the build file kiln would
  /// read here, those starting with what is typed; nothing when there is none or it
  /// does not parse.
  @Sendable static func taskNames(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
    let launch = Launch.current(buildFile: nil)
    let fs = LocalFileSystem()
    guard let path = Context.locate(from: launch.directory, fileSystem: fs), let bytes = try? fs.read(path),
          let file = try? BuildFileParser(displayPath: "kiln.yml").parse(bytes: bytes)
    else { return [] }
    return file.tasks.map(\.name).filter { $0.hasPrefix(prefix) }.sorted()
  }

  /// The flags as plain values: what `run` does, without the parser.
  var request: BuildRequest {
    BuildRequest(jobs: j, keepGoing: k, dryRun: dryRun, explain: explain, noCache: noCache, json: json, quiet: quiet,
                 verbose: verbose, trace: trace, tasks: tasks)
  }

  /// The build answered from the last build's snapshot (`NullBuild`): every task up to
  /// date, recorded and said as a full build would; nil when the snapshot cannot tell,
  /// or when the output asked for needs each instance's report (`--json`, `--trace`).
  /// Called before the full build, by the entry point itself so it needs no thread.
  func answerFromSnapshot(_ context: Context) -> Int32? {
    var changed: String?
    var delta: SnapshotDelta?
    return request.answerFromSnapshot(context, noting: &changed, delta: &delta)
  }

  /// The same, noting the first file the snapshot found changed (`NullBuild`), and
  /// what changed when the build can stand on the rest of it (`SnapshotDelta`).
  func answerFromSnapshot(_ context: Context, noting changed: inout String?, delta: inout SnapshotDelta?) -> Int32? {
    request.answerFromSnapshot(context, noting: &changed, delta: &delta)
  }

  func run(in context: Context) async throws { try await request.run(in: context) }
}

/// What `kiln build` was asked, as plain values: made by `BuildCommand` from what the
/// parser read, or for a plain command line (`SnapshotQuestion(plainArguments:)`) by
/// the entry point without the parser, whose reflection over the command types costs
/// about 7.5 million instructions (a fifth of a cold build of the demo).
struct BuildRequest: Equatable {
  var jobs: Int?
  var keepGoing = false
  var dryRun = false
  var explain = false
  var noCache = false
  var json = false
  var quiet = false
  var verbose = false
  var trace: String?
  /// Task names and `NAME=value` overrides, as given.
  var tasks: [String] = []

  /// The arguments that name tasks, not `NAME=value`.
  private var targets: [String]? {
    let names = tasks.filter { BuildFile.override($0) == nil }
    return names.isEmpty ? nil : names
  }
  /// `NAME=value` arguments, in order (a later one wins).
  private var overrides: [EnvironmentVariable] { tasks.compactMap(BuildFile.override) }

  /// `BuildCommand.answerFromSnapshot`, noting the first file the snapshot found
  /// changed (`NullBuild`), and what changed when the build can stand on the rest.
  func answerFromSnapshot(_ context: Context, noting changed: inout String?, delta: inout SnapshotDelta?) -> Int32? {
    guard !json, trace == nil, overrides.isEmpty else { return nil }
    return SnapshotQuestion(targets: targets, jobs: jobs, dryRun: dryRun, explain: explain, quiet: quiet)
      .answer(context, noting: &changed, delta: &delta)
  }

  /// The build, on the thread that waits for its children (`ChildWatcher`), where its
  /// loop runs: from reading the records to the process's end, with no hop between
  /// threads (each cost a wake-up, 0.1-0.4 ms on this 2-core machine, where the woken
  /// thread often waited for the one that woke it). A successful build ends the process
  /// there (`KilnMain.exitNow`).
  func run(in context: Context) async throws {
    try await withTaskExecutorPreference(ChildWatcher.executor) { try await runHere(in: context) }
  }

  private func runHere(in context: Context) async throws {
    if let jobs, jobs < 1 { throw CLIError("kiln: -j must be at least 1") }
    try context.requireBuildFile()
    var changed = context.changedPath
    var delta = context.snapshotDelta
    if !context.snapshotTried, let status = answerFromSnapshot(context, noting: &changed, delta: &delta) {
      if status != 0 { throw ExitCode(status) }
      return
    }
    // One build at a time per checkout (a dry run writes nothing): taken before the
    // records are read, so they are the last build's, not a concurrent one's.
    var lock = dryRun ? nil : try context.lockCheckout(create: false)
    // The graph cache is read and checked on another thread while the records load:
    // neither needs the other until the records' outputs are compared with the cache's.
    // Standing on the snapshot (`SnapshotDelta`): the records of the instances decided
    // are read alone, as they are, and the graph cache it was taken with is not checked
    // again.
    if !overrides.isEmpty || dryRun { delta = nil }
    let trusted = delta?.snapshot.graphSeal
    // On Swift's pool: a child task would wait here for this one (both on one thread).
    let candidate = Task(executorPreference: globalConcurrentExecutor) {
      Session.graphCacheCandidate(context, trusting: trusted)
    }
    // The snapshot did not answer: the cache's database is opened on another thread
    // meanwhile, for the first instance's lookup.
    let actionCache = context.actionCache
    if !noCache, !dryRun { Task.detached { actionCache.warm() } }
    let session = try Session(context, recordsAsNeeded: delta != nil, statsFrom: delta?.snapshot)
    // Kept until the process exits, which frees it at once: freeing its records one
    // by one costs a quarter of what loading them did (400 units: 6M instructions).
    _ = Unmanaged.passRetained(session)
    let (graph, looked) = try session.observedGraph(overriding: overrides, candidate: .some(await candidate.value),
                                                    hiddenDigest: delta?.snapshot.hiddenDigest)
    if !dryRun, lock == nil {
      lock = try context.lockCheckout(create: true)
      session.writeGraphCacheLeftUnwritten()
    }
    defer { withExtendedLifetime(lock) {} }
    // A foreach that matches nothing is legal (nothing to build yet) but is also what a
    // typo in its glob looks like, and it makes that task's old outputs stale.
    let instantiated = Set(graph.instances.map(\.id.task))
    var warnings: [String] = []
    for name in graph.taskNames.sorted() where !instantiated.contains(name) {
      warnings.append("kiln: warning: task '\(name)': its foreach matches no file")
    }
    for warning in warnings { Terminal.error(warning) }
    let observer = ConsoleObserver(explain: explain, json: json, quiet: quiet, verbose: verbose,
                                   environment: context.environment)
    var options = BuildOptions(jobs: jobs ?? context.cores)
    options.keepGoing = keepGoing
    options.targets = targets
    options.workspace = context.workspaceName
    options.commit = context.headCommit
    options.cacheSize = context.cacheSizeOnDisk
    options.decideFirst = changed.map { [$0] } ?? []
    // Only while the graph is the cache's the snapshot knows (the records unread).
    if session.recordsAsNeeded { options.delta = delta }
    if dryRun {
      options.removeStaleOutputs = false
    } else {
      // A build with overrides takes no snapshot: the next plain build is not this one.
      // The one there stays only while no record changes (the manifest drops it then).
      if overrides.isEmpty {
        options.snapshot = SnapshotRequest(expansion: looked, warnings: warnings)
        options.snapshot?.graphSeal = session.graphSeal
        options.snapshot?.filter = session.graphFilter
      }
      session.beginWriting(graph)
    }
    defer { if !dryRun { session.endWriting() } }
    let result: BuildResult
    do {
      let build = try session.build(graph, observer: observer, useCache: !noCache, dryRun: dryRun,
                                    actionCache: actionCache)
      if let remote = session.remote {
        // Nothing when it was configured but never asked. (Remote execution's bytes are
        // each run's own, in its outcome row.)
        options.remoteTraffic = { remote.traffic.lookups + remote.traffic.uploads > 0 ? remote.traffic : nil }
      }
      // A checkout that never built asks the remote for the whole build's entries at
      // once (`readRemoteBundle`); a writer uploads them after a successful build.
      let bundleKey = session.readRemoteBundle(graph, targets: targets)
      result = try await build.run(options)
      if let bundleKey {
        for warning in await session.writeRemoteBundle(bundleKey, after: result) { observer.warning(warning) }
      }
      // The sandbox server ends with the build, not after kiln.
      await session.sandboxServer?.finish()
      if let fallback = session.sandboxServer?.fallbackToReport() { observer.warning(fallback) }
      if let failure = session.remote?.failureToReport() { observer.warning(Job.remoteDown(failure)) }
    } catch let error as BuildError {
      throw CLIError("kiln: \(error)")
    }
    observer.finish()
    HookBuildResult.writeIfAsked(result, graph: graph, context: context)
    if dryRun {
      let total = graph.closure(ofTasks: targets ?? graph.defaultTasks).indices.count
      if json {
        Terminal.line(dryRunJSON(result, total: total))
        return
      }
      // -q: the answer alone, without the instances.
      for r in result.wouldRun where !quiet {
        let verb = if case .restored = r.outcome { "would restore" } else { "would run" }
        Terminal.line("\(verb): \(r.id) (\(r.reasons.map(\.description).joined(separator: ", ")))")
      }
      Terminal.line("kiln: dry run: \(result.wouldRun.count) of \(total) would restore or run")
      return
    }
    try report(result, context, trace: trace, json: json, quiet: quiet, remote: session.remote?.traffic)
    // Done, and nothing talks to a server or a helper process: the process ends here,
    // with the build's graph, records and results still held, which its end frees at
    // once (freed one by one, they took 0.3-0.5 ms after an edit build's last command).
    // The marker goes first, as the deferred `endWriting` would.
    guard session.remote == nil, session.remoteExecutor == nil, session.sandboxServer == nil else { return }
    if !dryRun { session.endWriting() }
    KilnMain.exitNow(0)
  }
}

/// What the null-build shortcut needs of a `kiln build` command line. Made by the
/// parsed command, or, for a command line of plain flags and task names only, read
/// straight from it: swift-argument-parser's parse costs more than the rest of a null
/// build of a small project (about 9 million instructions: its reflection over the
/// command types), and the shortcut is most of all builds.
struct SnapshotQuestion {
  var targets: [String]?
  var jobs: Int?
  var dryRun = false
  var explain = false
  var quiet = false
  /// Read from a plain command line only (the snapshot's answer does not depend on them).
  var keepGoing = false
  var noCache = false
  var verbose = false

  init(targets: [String]?, jobs: Int?, dryRun: Bool, explain: Bool, quiet: Bool) {
    self.targets = targets
    self.jobs = jobs
    self.dryRun = dryRun
    self.explain = explain
    self.quiet = quiet
  }

  /// `build`'s arguments read without the parser: `-j N`/`--jobs N`/`--jobs=N`,
  /// `-k`/`--keep-going`, `-n`/`--dry-run`, `--explain`, `--no-cache`, `-q`/`--quiet`,
  /// `-v`/`--verbose`, each at most once, and task names (not `NAME=value`). nil
  /// for anything else (another flag, `--json`, `--trace`, `--help`, `--`, a value or
  /// name starting with `-`): the parser reads those, and says what is wrong.
  init?(plainArguments arguments: ArraySlice<String>) {
    var seen = Set<String>()
    var tasks: [String] = []
    var rest = arguments[...]
    while let arg = rest.popFirst() {
      guard arg.hasPrefix("-") else {
        // NAME=value: the parser's (the snapshot is never this build's).
        if arg.contains("=") { return nil }
        tasks.append(arg)
        continue
      }
      guard seen.insert(arg).inserted else { return nil }
      switch arg {
      case "-j", "--jobs":
        guard seen.insert("jobs").inserted, let value = rest.popFirst(), !value.hasPrefix("-"), let n = Int(value),
              n >= 1 else { return nil }
        jobs = n
      case _ where arg.hasPrefix("--jobs="):
        guard seen.insert("jobs").inserted, let n = Int(arg.dropFirst("--jobs=".count)), n >= 1 else { return nil }
        jobs = n
      case "-k", "--keep-going":
        guard seen.insert("keep-going").inserted else { return nil }
        keepGoing = true
      case "--no-cache": noCache = true
      case "-n", "--dry-run":
        guard seen.insert("dry-run").inserted else { return nil }
        dryRun = true
      case "--explain": explain = true
      case "-v", "--verbose":
        guard seen.insert("verbose").inserted else { return nil }
        verbose = true
      case "-q", "--quiet":
        guard seen.insert("quiet").inserted else { return nil }
        quiet = true
      default: return nil
      }
    }
    targets = tasks.isEmpty ? nil : tasks
  }

  /// The whole build these arguments ask for, as the parser would have read them
  /// (`NullBuildAnswerTests.plainArgumentsAreReadAsTheParserReadsThem`).
  var request: BuildRequest {
    BuildRequest(jobs: jobs, keepGoing: keepGoing, dryRun: dryRun, explain: explain, noCache: noCache, quiet: quiet,
                 verbose: verbose, tasks: targets ?? [])
  }

  /// The answer (exit status 0), or nil when only the full build can tell; notes in
  /// `changed` the first file the snapshot found changed, for the full build to decide
  /// first (a hint: it changes what is decided first, no verdict).
  func answer(_ context: Context, noting changed: inout String?) -> Int32? {
    var delta: SnapshotDelta?
    return answer(context, noting: &changed, delta: &delta, wantsDelta: false)
  }

  /// The same, noting in `delta` what changed when the build can stand on the rest of
  /// the snapshot (`SnapshotDelta`; not for a dry run, which reads every record).
  func answer(_ context: Context, noting changed: inout String?, delta: inout SnapshotDelta?) -> Int32? {
    answer(context, noting: &changed, delta: &delta, wantsDelta: !dryRun)
  }

  private func answer(_ context: Context, noting changed: inout String?, delta: inout SnapshotDelta?,
                      wantsDelta: Bool) -> Int32? {
    // A bad KILN_HISTORY is said by the full path, which keeps the history.
    guard (jobs ?? 1) >= 1, context.buildFilePath != nil, (try? context.checkStateFolder()) != nil,
          (try? context.historyLimit()) != nil
    else { return nil }
    // Another build running in this checkout: the full path waits for it.
    var lock: CheckoutLock?
    if !dryRun {
      guard let held = try? CheckoutLock.attempt(context.layout.lock, describing: "kiln build") else { return nil }
      lock = held
    }
    defer { withExtendedLifetime(lock) {} }
    let null = NullBuild(layout: context.layout, fileSystem: context.fileSystem, clock: context.clock,
                         environment: context.environment)
    let found = wantsDelta
      ? null.answer(targets: targets, workspace: context.workspaceName, commit: context.headCommit,
                    jobs: jobs ?? context.cores, changed: &changed, delta: &delta)
      : null.answer(targets: targets, workspace: context.workspaceName, commit: context.headCommit,
                    jobs: jobs ?? context.cores, changed: &changed)
    guard let answer = found else { return nil }
    var summary = answer.entry.summary
    if !dryRun {
      // Not recorded, not done: the full build records it itself.
      guard let recorded = null.record(answer) else { return nil }
      summary = recorded.summary
    }
    for warning in answer.warnings { Terminal.error(warning) }
    if explain { Terminal.line(answer.explanation) }
    if dryRun {
      Terminal.line("kiln: dry run: 0 of \(summary.upToDate) would restore or run")
    } else if !quiet {
      Terminal.line(summaryLine(summary, color: Terminal.colors(1)))
    }
    return 0
  }
}

/// The end of a build that ran (`kiln build`, `kiln ninja`): the trace written if
/// asked, the summary said (a line, or the JSON object), and the exit status thrown.
func report(_ result: BuildResult, _ context: Context, trace: String?, json: Bool, quiet: Bool,
            remote: RemoteTraffic? = nil) throws {
  if let trace {
    do {
      try context.fileSystem.writeAtomically(Array(traceJSON(result).utf8), to: context.launch.absolute(trace),
                                             permissions: 0o644)
    } catch {
      Terminal.error("kiln: cannot write trace: \(error)")
    }
  }
  if json {
    Terminal.line(summaryJSON(result, remote: remote))
  } else if !quiet {
    Terminal.line(summaryLine(result.summary, color: Terminal.colors(1)))
  }
  if result.interrupted { throw CLIError("kiln: interrupted", status: 130) }
  if result.summary.exitStatus != 0 { throw ExitCode(result.summary.exitStatus) }
}
