import ArgumentParser
import KilnCore
import KilnEngine
import KilnSystem
import KilnWorkspaces

struct BuildCommand: AsyncParsableCommand {
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

  func run() async throws {
    if let j, j < 1 { throw CLIError("kiln: -j must be at least 1") }
    let context = try Context()
    let workspace = context.workspaceName
    // One build at a time per checkout (a dry run writes nothing): taken before the
    // records are read, so they are the last build's, not a concurrent one's.
    var lock = dryRun ? nil : try context.lockCheckout(create: false)
    let session = try Session(context)
    let (graph, looked) = try session.observedGraph()
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
    var options = BuildOptions(jobs: j ?? Context.cores)
    options.keepGoing = k
    options.dryRun = dryRun
    options.useCache = !noCache
    options.targets = tasks.isEmpty ? nil : tasks
    options.workspace = workspace
    options.snapshot = SnapshotRequest(path: context.snapshotPath, expansion: looked, warnings: warnings)
    let result: BuildResult
    if !dryRun { session.beginWriting(graph) }
    defer { if !dryRun { session.endWriting() } }
    do {
      result = try await session.build(graph, observer: observer).run(options)
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
      Terminal.line("kiln: dry run: \(result.wouldRun.count) of \(graph.closure(ofTasks: options.targets ?? graph.defaultTasks).indices.count) would restore or run")
      return
    }
    if let trace {
      do {
        try context.fileSystem.writeAtomically(Array(traceJSON(result).utf8), to: trace.hasPrefix("/") ? trace : Paths.join(Context.currentDirectory(), trace), permissions: 0o644)
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
}
