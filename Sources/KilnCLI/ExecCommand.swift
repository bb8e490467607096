import ArgumentParser
import KilnCore
import KilnEngine
import KilnHash
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
    let graph = try TaskGraph([instance])
    // Two steps writing one output at once must not hash each other's bytes.
    let lock = try context.lockCheckout(create: true)
    defer { withExtendedLifetime(lock) {} }
    let session = try Session(context)
    final class ExecObserver: BuildObserver {
      func buildStarted(total: Int) {}
      func taskStarted(_ instance: TaskInstance, reasons: [RerunReason]) {}
      func taskFinished(_ report: TaskReport, done: Int, total: Int) {
        Terminal.write(bytes: report.stdout, to: 1)
        Terminal.write(bytes: report.stderr, to: 2)
        // A non-zero exit speaks for itself (its status is passed on); say anything else.
        switch report.outcome {
        case .failed(.exitStatus): break
        case .failed(let failure): Terminal.error("kiln: exec: \(failure)")
        default: break
        }
        outcome = report.outcome
      }
      func warning(_ message: String) { Terminal.error("kiln: warning: \(message)") }
      var outcome: TaskOutcome?
    }
    let observer = ExecObserver()
    var options = BuildOptions(jobs: 1)
    options.removeStaleOutputs = false
    options.workspace = context.workspaceName
    session.beginWriting(graph)
    defer { session.endWriting() }
    let result = try await session.build(graph, observer: observer, useCache: !noCache).run(options)
    if result.interrupted { throw CLIError("kiln: interrupted", status: 130) }
    if case .failed(let failure) = observer.outcome {
      if case .exitStatus(let code) = failure { throw ExitCode(code) }
      throw ExitCode(1)
    }
  }
}
