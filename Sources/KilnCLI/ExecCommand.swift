import ArgumentParser
import KilnCore
import KilnEngine
import KilnHash
import KilnLauncher
import KilnStore
import KilnWorkspaces
import KilnSystem

struct ExecCommand: KilnSubcommand {
  static let configuration = CommandConfiguration(
    commandName: "exec",
    abstract: "Run one build step with kiln's caching: kiln exec --in a.c --out a.o -- cc -c a.c -o a.o")

  @Option(name: .customLong("in"), help: "An input file or glob (repeatable).") var inputs: [String] = []
  @Option(name: .customLong("out"), help: "An output file or directory (repeatable).") var outputs: [String] = []
  @Option(help: "A make-style depfile the command writes.") var depfile: String?
  @Option(name: .customLong("env"), help: "A variable whose value goes into the key (repeatable).") var env: [String] = []
  @Flag(name: .customLong("no-cache"), help: "Neither restore from nor store into the cache.") var noCache = false
  @Argument(parsing: .postTerminator, help: "The command and its arguments.") var command: [String] = []

  func run(in context: Context) async throws {
    guard !command.isEmpty else { throw CLIError("kiln: exec needs a command after --") }
    // A compile with nothing declared: the launcher knows its inputs and outputs.
    if inputs.isEmpty, outputs.isEmpty, depfile == nil, !noCache, LauncherEntry.isCompiler(command[0]) {
      let status = LauncherEntry.run(compiler: command[0], arguments: Array(command.dropFirst()), masquerade: false)
      if status != 0 { throw ExitCode(status) }
      return
    }
    let cwd = context.launch.directory
    func relative(_ path: String) throws -> String {
      let abs = Paths.normalize(path.hasPrefix("/") ? path : Paths.join(cwd, path)) ?? path
      guard let rel = Paths.relative(abs, to: context.root), !rel.isEmpty else {
        throw CLIError("kiln: exec: '\(path)' is outside the workspace \(context.root)")
      }
      return rel
    }
    var inputPaths: [String] = []
    for pattern in inputs {
      let rel = try relative(pattern)
      if Glob.hasWildcards(rel) {
        let glob = Glob(rel)
        let listing = context.fileSystem.workspaceListing(root: context.root, under: glob.literalPrefix)
        // A name that is not UTF-8 cannot be keyed: refused, never silently left out.
        if let bad = listing.firstUndecodable(matching: glob) {
          throw CLIError("kiln: exec: file '\(bad.escaped)' (matched by '\(pattern)') has a name that is not UTF-8, which kiln cannot track; rename it")
        }
        inputPaths += listing.files.filter(glob.matches)
      } else {
        guard context.fileSystem.stat(Paths.join(context.root, rel)) != nil else {
          throw CLIError("kiln: exec: input '\(pattern)' does not exist")
        }
        inputPaths.append(rel)
      }
    }
    let outputPaths = try outputs.map(relative)
    let directory = Paths.relative(cwd, to: context.root) ?? ""
    let shell = command.map(Paths.shellQuote).joined(separator: " ")
    let idKey = KeyBuilder()
    idKey.field("C", shell)
    idKey.field("D", directory)
    for o in outputPaths { idKey.field("O", o) }
    // The program itself is keyed (a new compiler is a new result): a path is taken
    // from where the user stands, a bare name from PATH.
    var program = command[0]
    if program.contains("/") {
      let abs = Paths.normalize(program.hasPrefix("/") ? program : Paths.join(cwd, program)) ?? program
      program = Paths.relative(abs, to: context.root).map { "./" + $0 } ?? abs
    }
    // With no output there is nothing to restore nor to check: the step runs every time.
    let runsAlways = outputPaths.isEmpty
    let instance = TaskInstance(
      id: TaskID(task: "@exec", item: String(idKey.finalize().hex.prefix(12))), command: shell,
      inputs: inputPaths, outputs: outputPaths, depfile: try depfile.map(relative),
      directory: directory, hashEnvironment: env, cache: !runsAlways, always: runsAlways, tools: [program])
    _ = try TaskGraph([instance])
    try context.checkCache()
    // One step, one action: no checkout lock, no manifest. Steps writing the same file
    // take turns (`OutputLocks`); the same action in two processes runs once (the
    // machine's action claims, taken by `Job`); make's -j, not kiln's job slots, says how
    // many run at once.
    let locks = OutputLocks(
      cacheRoot: context.cacheRoot,
      paths: (outputPaths + (instance.depfile.map { [$0] } ?? [])).map { Paths.join(context.root, $0) },
      trust: context.cacheTrust)
    defer { withExtendedLifetime(locks) {} }
    let statCache = StatCache(entries: [:], root: context.root, fileSystem: context.fileSystem, clock: context.clock)
    var environment = context.environment
    environment[HookBuildResult.variable] = nil
    var job = Job(root: context.root, fileSystem: context.fileSystem, runner: ShellProcessRunner(), clock: context.clock,
                  statCache: statCache, contentStore: context.contentStore, actionCache: context.actionCache,
                  environment: environment, useCache: !noCache)
    job.keyRoots = context.keyRoots
    job.limits = ClaimsOnlyLimits(try context.machineLimits())
    let rebuilder = Rebuilder(statCache: statCache, inheritedEnvironment: environment, keyRoots: context.keyRoots)
    let task: PreparedTask
    do { task = try rebuilder.prepare(instance) } catch { throw CLIError("kiln: exec: \(error)") }
    let started = context.clock.monotonic()
    let result = await job.perform(task, reasons: [], previous: nil)
    // Counted with the launcher's calls (`kiln cache stats`, `kiln stats`).
    let outcome: (LaunchOutcome, String)
    switch result.outcome {
    case .restored: outcome = (.restored, "kiln exec")
    case .ran where runsAlways: outcome = (.uncacheable, "kiln exec without --out")
    case .ran where noCache: outcome = (.uncacheable, "kiln exec --no-cache")
    case .ran: outcome = (.miss, "kiln exec")
    default: outcome = (.failed, "kiln exec")
    }
    LauncherLog(cacheRoot: context.cacheRoot, trust: context.cacheTrust).append(LaunchRecord(
      time: Double(context.clock.wallNanoseconds()) / 1e9, outcome: outcome.0, reason: outcome.1,
      seconds: context.clock.monotonic() - started, compileSeconds: result.duration,
      // The project as `kiln stats` finds it from here (the launcher's rule), not the
      // workspace root, which is the current folder when there is no kiln.yml.
      project: Launcher.roots(directory: cwd, fileSystem: context.fileSystem, environment: context.environment)
        .folders.first ?? context.root))
    Terminal.write(bytes: result.stdout, to: 1)
    Terminal.write(bytes: result.stderr, to: 2)
    for warning in result.warnings { Terminal.error("kiln: warning: \(warning)") }
    switch result.outcome {
    case .failed(.exitStatus(let code)): throw ExitCode(code)
    case .failed(let failure):
      if ProcessGroups.shared.isInterrupted { throw CLIError("kiln: interrupted", status: 130) }
      Terminal.error("kiln: exec: \(failure)")
      throw ExitCode(1)
    default: break
    }
  }
}

/// The machine's action claims without its job slots: `kiln exec` runs one step that
/// make (or a script) started under its own -j.
struct ClaimsOnlyLimits: MachineLimits {
  let shared: any MachineLimits
  init(_ shared: any MachineLimits) { self.shared = shared }
  func acquireSlot(expectedMemory: Int64?) async -> JobSlot? { JobSlot(index: 0) }
  func release(_ slot: JobSlot) {}
  func claimAction(_ key: Digest) async -> ActionClaim? { await shared.claimAction(key) }
  func release(_ claim: ActionClaim) { shared.release(claim) }
  func claimActions(_ keys: [Digest]) -> ActionClaims { shared.claimActions(keys) }
  func release(_ claims: ActionClaims) { shared.release(claims) }
}
