import ArgumentParser
import KilnCore
import KilnEngine
import KilnStore
import KilnSystem
import KilnWorkspaces

struct BuildCommand: KilnSubcommand {
  static let configuration = CommandConfiguration(
    commandName: "build", abstract: "Build the named tasks (default: the build file's 'default', else every task).")

  @Option(name: .short, help: "Run N jobs at once (default: cores, or KILN_MAX_JOBS).") var j: Int?
  @Flag(name: .short, help: "Keep going after a task fails.") var k = false
  @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "Say what would restore or run; run nothing.") var dryRun = false
  @Flag(help: "Say why each task runs.") var explain = false
  @Flag(name: .customLong("no-cache"), help: "Neither restore from nor store into the cache.") var noCache = false
  @Flag(help: "Print a summary object on stdout.") var json = false
  @Flag(name: [.short, .long], help: "Print nothing but failures and warnings.") var quiet = false
  @Option(help: "Write a Chrome trace (JSON) of the build to FILE.") var trace: String?
  @Argument(help: "Tasks (or task instances, 'compile src/a.c') to build.") var tasks: [String] = []

  private var targets: [String]? { tasks.isEmpty ? nil : tasks }

  /// The build answered from the last build's snapshot (`NullBuild`): every task up to
  /// date, recorded and said as a full build would; nil when the snapshot cannot tell,
  /// or when the output asked for needs each instance's report (`--json`, `--trace`).
  /// Called before the full build, by the entry point itself so it needs no thread.
  func answerFromSnapshot(_ context: Context) -> Int32? {
    var changed: String?
    return answerFromSnapshot(context, noting: &changed)
  }

  /// The same, noting the first file the snapshot found changed (`NullBuild`).
  func answerFromSnapshot(_ context: Context, noting changed: inout String?) -> Int32? {
    guard !json, trace == nil else { return nil }
    return SnapshotQuestion(targets: targets, jobs: j, dryRun: dryRun, explain: explain, quiet: quiet)
      .answer(context, noting: &changed)
  }

  func run(in context: Context) async throws {
    if let j, j < 1 { throw CLIError("kiln: -j must be at least 1") }
    try context.requireBuildFile()
    var changed = context.changedPath
    if !context.snapshotTried, let status = answerFromSnapshot(context, noting: &changed) {
      if status != 0 { throw ExitCode(status) }
      return
    }
    // One build at a time per checkout (a dry run writes nothing): taken before the
    // records are read, so they are the last build's, not a concurrent one's.
    var lock = dryRun ? nil : try context.lockCheckout(create: false)
    // The graph cache is read and checked on another thread while the records load:
    // neither needs the other until the records' outputs are compared with the cache's.
    async let candidate = Session.graphCacheCandidate(context)
    let session = try Session(context)
    // Kept until the process exits, which frees it at once: freeing its records one
    // by one costs a quarter of what loading them did (400 units: 6M instructions).
    _ = Unmanaged.passRetained(session)
    let (graph, looked) = try session.observedGraph(candidate: .some(await candidate))
    if !dryRun, lock == nil { lock = try context.lockCheckout(create: true) }
    defer { withExtendedLifetime(lock) {} }
    // A foreach that matches nothing is legal (nothing to build yet) but is also what a
    // typo in its glob looks like, and it makes that task's old outputs stale.
    let instantiated = Set(graph.instances.map(\.id.task))
    var warnings: [String] = []
    for name in graph.taskNames.sorted() where !instantiated.contains(name) {
      warnings.append("kiln: warning: task '\(name)': its foreach matches no file")
    }
    for warning in warnings { Terminal.error(warning) }
    let observer = ConsoleObserver(explain: explain, json: json, quiet: quiet)
    var options = BuildOptions(jobs: j ?? context.cores)
    options.keepGoing = k
    options.targets = targets
    options.workspace = context.workspaceName
    options.decideFirst = changed.map { [$0] } ?? []
    if dryRun {
      options.removeStaleOutputs = false
    } else {
      options.snapshot = SnapshotRequest(expansion: looked, warnings: warnings)
      session.beginWriting(graph)
    }
    defer { if !dryRun { session.endWriting() } }
    let result: BuildResult
    do {
      result = try await session.build(graph, observer: observer, useCache: !noCache, dryRun: dryRun).run(options)
    } catch let error as BuildError {
      throw CLIError("kiln: \(error)")
    }
    observer.finish()
    HookBuildResult.writeIfAsked(result, graph: graph, context: context)
    if dryRun {
      for r in result.wouldRun {
        let verb = if case .restored = r.outcome { "would restore" } else { "would run" }
        Terminal.line("\(verb): \(r.id) (\(r.reasons.map(\.description).joined(separator: ", ")))")
      }
      let total = graph.closure(ofTasks: targets ?? graph.defaultTasks).indices.count
      Terminal.line("kiln: dry run: \(result.wouldRun.count) of \(total) would restore or run")
      return
    }
    try report(result, context, trace: trace, json: json, quiet: quiet)
  }
}

extension BuildCommand {
  /// The command a plain command line means (`SnapshotQuestion(plainArguments:)`),
  /// made without the parser: its parse of `build` alone is about 7 million
  /// instructions of reflection, on the path of every build that runs something.
  /// `NullBuildAnswerTests` checks that it equals what the parser makes of the line.
  /// (Not an initializer: there, assigning a wrapped property after `self.init()`
  /// makes its wrapper anew, unparsed, instead of setting its value.)
  static func plain(_ question: SnapshotQuestion) -> BuildCommand {
    var command = BuildCommand()
    command.j = question.jobs
    command.k = question.keepGoing
    command.dryRun = question.dryRun
    command.explain = question.explain
    command.noCache = question.noCache
    command.json = false
    command.quiet = question.quiet
    command.trace = nil
    command.tasks = question.targets ?? []
    return command
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
  /// Not the snapshot's business, kept for the command made from a plain line.
  var keepGoing = false
  var noCache = false

  init(targets: [String]?, jobs: Int?, dryRun: Bool, explain: Bool, quiet: Bool) {
    self.targets = targets
    self.jobs = jobs
    self.dryRun = dryRun
    self.explain = explain
    self.quiet = quiet
  }

  /// `build`'s arguments read without the parser: `-j N`, `-k`, `-n`/`--dry-run`,
  /// `--explain`, `--no-cache`, `-q`/`--quiet`, each at most once, and task names. nil
  /// for anything else (another flag, `--json`, `--trace`, `--help`, `--`, a value or
  /// name starting with `-`): the parser reads those, and says what is wrong.
  init?(plainArguments arguments: ArraySlice<String>) {
    var seen = Set<String>()
    var tasks: [String] = []
    var rest = arguments[...]
    while let arg = rest.popFirst() {
      guard arg.hasPrefix("-") else {
        tasks.append(arg)
        continue
      }
      guard seen.insert(arg).inserted else { return nil }
      switch arg {
      case "-j":
        guard let value = rest.popFirst(), !value.hasPrefix("-"), let n = Int(value), n >= 1 else { return nil }
        jobs = n
      case "-k": keepGoing = true
      case "--no-cache": noCache = true
      case "-n", "--dry-run":
        guard seen.insert("dry-run").inserted else { return nil }
        dryRun = true
      case "--explain": explain = true
      case "-q", "--quiet":
        guard seen.insert("quiet").inserted else { return nil }
        quiet = true
      default: return nil
      }
    }
    targets = tasks.isEmpty ? nil : tasks
  }

  /// The answer (exit status 0), or nil when only the full build can tell.
  func answer(_ context: Context) -> Int32? {
    var changed: String?
    return answer(context, noting: &changed)
  }

  /// The same, noting in `changed` the first file the snapshot found changed, for the
  /// full build to decide first (a hint: it changes what is decided first, no verdict).
  func answer(_ context: Context, noting changed: inout String?) -> Int32? {
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
    guard let answer = null.answer(targets: targets, workspace: context.workspaceName, changed: &changed) else { return nil }
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
func report(_ result: BuildResult, _ context: Context, trace: String?, json: Bool, quiet: Bool) throws {
  if let trace {
    do {
      try context.fileSystem.writeAtomically(Array(traceJSON(result).utf8), to: context.launch.absolute(trace),
                                             permissions: 0o644)
    } catch {
      Terminal.error("kiln: cannot write trace: \(error)")
    }
  }
  if json {
    Terminal.line(summaryJSON(result))
  } else if !quiet {
    Terminal.line(summaryLine(result.summary, color: Terminal.colors(1)))
  }
  if result.interrupted { throw CLIError("kiln: interrupted", status: 130) }
  if result.summary.exitStatus != 0 { throw ExitCode(result.summary.exitStatus) }
}
