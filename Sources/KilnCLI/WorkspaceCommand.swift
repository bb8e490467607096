import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import KilnConfig
import KilnCore
import KilnSystem
import KilnWorkspaces

/// `kiln ws ...`: isolated workspaces sharing one cache (SPEC §3). The commands parse,
/// call `Workspaces` (KilnWorkspaces) and print.
struct WorkspaceCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ws", abstract: "Isolated workspaces (git worktrees) that share one cache.",
    subcommands: [New.self, Path.self, List.self, Remove.self, Run.self, Conflicts.self, Pool.self, Claim.self,
                  Release.self])

  /// The workspaces of the repository (or project) the caller stands in.
  static func open(_ context: Context) async -> Workspaces {
    let project = context.buildFilePath != nil && (try? context.checkStateFolder()) != nil ? context.root : nil
    return await Workspaces.open(directory: context.launch.directory, projectRoot: project,
                                 environment: context.environment)
  }

  struct New: KilnSubcommand {
    static let configuration = CommandConfiguration(
      commandName: "new", abstract: "Make a workspace on branch kiln/NAME (from HEAD or REF) and print its path.")
    @Argument(help: "The workspace's name.") var name: String
    @Option(help: "The commit (branch, tag, ...) to start from; default HEAD.") var from: String?

    func run(in context: Context) async throws {
      try await reportingDomainErrors {
        let ws = await WorkspaceCommand.open(context)
        let info = try await ws.create(name, from: from)
        let buildFile = context.buildFilePath
        if let warning = await ws.uncommittedBuildFileWarning(buildFile, in: info) { Terminal.error(warning) }
        Terminal.line(info.path)
      }
    }
  }

  struct Path: KilnSubcommand {
    static let configuration = CommandConfiguration(commandName: "path", abstract: "Print a workspace's path.")
    @Argument(help: "The workspace's name.") var name: String

    func run(in context: Context) async throws {
      try await reportingDomainErrors { Terminal.line(try await WorkspaceCommand.open(context).existing(name).path) }
    }
  }

  struct List: KilnSubcommand {
    static let configuration = CommandConfiguration(
      commandName: "list",
      abstract: "List workspaces: name, branch, files changed against the base, last build's hit rate, pool state, path.")
    @Flag(help: "A JSON array instead of a table.") var json = false

    func run(in context: Context) async throws {
      let ws = await WorkspaceCommand.open(context)
      Terminal.write(await WorkspaceCommand.table(ws, ws.all().filter { !$0.creating }, json: json))
    }
  }

  /// `ws list`'s table (or JSON array) of `rows`.
  static func table(_ ws: Workspaces, _ rows: [WorkspaceInfo], json: Bool) async -> String {
    var objects: [String] = []
    var lines: [[String]] = [["NAME", "BRANCH", "CHANGED", "HIT-RATE", "STATE", "PATH"]]
    for info in rows {
      let changed = await ws.changedFiles(info)?.count
      let rate = ws.lastHitRate(info)
      let state: String
      if !info.pool {
        state = "-"
      } else if info.claimed {
        state = info.owner.map { info.ownerIsGone ? "claimed(pid \($0), gone)" : "claimed(pid \($0))" } ?? "claimed"
      } else {
        state = "free"
      }
      if json {
        let rateJSON = rate.flatMap { $0 }.map { String($0) } ?? "null"
        objects.append("{\"name\":\(JSON.string(info.name)),\"path\":\(JSON.string(info.path)),"
          + "\"branch\":\(JSON.string(info.branch)),\"base\":\(JSON.string(info.base)),"
          + "\"changed\":\(changed.map(String.init) ?? "null"),\"hitRate\":\(rateJSON),"
          + "\"pool\":\(info.pool),\"state\":\(JSON.string(state))}")
      } else {
        let rateText = rate.flatMap { $0 }.map { "\(Int(($0 * 100).rounded()))%" } ?? "-"
        lines.append([info.name, info.branch.isEmpty ? "-" : info.branch, changed.map(String.init) ?? "?",
                      rateText, state, info.path])
      }
    }
    if json { return "[" + objects.joined(separator: ",\n ") + "]\n" }
    return columns(lines)
  }

  struct Remove: KilnSubcommand {
    static let configuration = CommandConfiguration(
      commandName: "rm", abstract: "Remove a workspace (refused with uncommitted work unless --force).")
    @Argument(help: "The workspace's name.") var name: String
    @Flag(help: "Drop uncommitted work, or a claimed pool workspace.") var force = false

    func run(in context: Context) async throws {
      try await reportingDomainErrors {
        for note in try await WorkspaceCommand.open(context).remove(name, force: force) { Terminal.error(note) }
      }
    }
  }

  struct Run: KilnSubcommand {
    static let configuration = CommandConfiguration(
      commandName: "run", abstract: "Run a command inside a workspace (KILN_WORKSPACE=NAME); exits with its status.")
    @Argument(help: "The workspace's name.") var name: String
    @Argument(parsing: .captureForPassthrough, help: "-- CMD ARGS...") var command: [String] = []

    func run(in context: Context) async throws {
      var argv = command
      if argv.first == "--" { argv.removeFirst() }
      guard !argv.isEmpty else { throw CLIError("kiln: ws run: no command (kiln ws run NAME -- CMD ARGS...)") }
      let ws = await WorkspaceCommand.open(context)
      let info = try await reportingDomainErrors { try ws.existing(name) }
      // The caller's folder, mirrored; the top of the workspace if it has no such folder.
      let inside = Paths.join(info.path, ws.relativeDirectory)
      let directory = LocalFileSystem().stat(inside)?.kind == .directory ? inside : info.path
      // This process becomes the command (execvp below): changing its folder and
      // environment changes only the command's.
      guard chdir(directory) == 0 else { throw CLIError("kiln: ws run: cannot enter \(directory)") }
      setenv("KILN_WORKSPACE", name, 1)
      // The command gets what a shell would give it: default signal handling (kiln
      // ignores SIGINT and friends itself) and no blocked signals.
      for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { signal(sig, SIG_DFL) }
      var none = sigset_t()
      sigemptyset(&none)
      pthread_sigmask(SIG_SETMASK, &none, nil)
      let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
      execvp(argv[0], cArgs)
      let reason = String(cString: strerror(errno))
      Terminal.error("kiln: ws run: cannot run \(argv[0]): \(reason)")
      throw ExitCode(errno == ENOENT ? 127 : 126)
    }
  }

  struct Conflicts: KilnSubcommand {
    static let configuration = CommandConfiguration(
      commandName: "conflicts", abstract: "Files changed in more than one workspace (against their common base).")

    func run(in context: Context) async throws {
      try await reportingDomainErrors {
        let conflicts = try await WorkspaceCommand.open(context).conflicts()
        Terminal.write(conflicts.map { $0.file + "\t" + $0.workspaces.joined(separator: ", ") + "\n" }.joined())
      }
    }
  }

  struct Pool: KilnSubcommand {
    static let configuration = CommandConfiguration(
      commandName: "pool", abstract: "Keep exactly N ready workspaces (pool-1...pool-N) for `ws claim`.")
    @Option(help: "How many workspaces the pool holds.") var size: Int
    @Option(help: "The commit new pool workspaces start from; default HEAD.") var from: String?

    func run(in context: Context) async throws {
      guard size >= 0 else { throw CLIError("kiln: ws pool: --size must be 0 or more") }
      try await reportingDomainErrors {
        let ws = await WorkspaceCommand.open(context)
        for note in try await ws.resizePool(to: size, from: from) { Terminal.error(note) }
        Terminal.write(await WorkspaceCommand.table(ws, ws.pool(), json: false))
      }
    }
  }

  struct Claim: KilnSubcommand {
    static let configuration = CommandConfiguration(
      commandName: "claim", abstract: "Take a free pool workspace at once; print its name and path.")
    @Option(help: "Wait up to DURATION (5s, 2m) for one to be free.") var wait: String?
    @Option(help: "A process (the agent's) whose end gives the claim back; default: held until released.")
    var owner: Int32?

    func run(in context: Context) async throws {
      try await reportingDomainErrors {
        let ws = await WorkspaceCommand.open(context)
        guard ws.isGit else { throw WorkspaceError.needsGit(command: "ws claim") }
        let clock = SystemClock()
        var deadline = 0.0
        if let wait {
          guard let d = Duration.parse(wait) else {
            throw CLIError("kiln: ws claim: --wait: '\(wait)' is not a duration like 5s or 2m")
          }
          deadline = clock.monotonic() + Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        // Without --owner a claim lasts until `ws release`: kiln's own parent is often a
        // shell that ends at once (an agent's tool call, `$(kiln ws claim)`), and taking
        // its end for the agent's would hand the agent's work to someone else.
        var ownerIdentity: ProcessIdentity?
        if let owner {
          guard let identity = ProcessIdentity.of(owner) else { throw CLIError("kiln: ws claim: --owner: no process \(owner)") }
          ownerIdentity = identity
        }
        while true {
          switch try await ws.claim(owner: ownerIdentity) {
          case .claimed(let info, let notes):
            for note in notes { Terminal.error(note) }
            Terminal.line(info.name + "\t" + info.path)
            return
          case .allHeld(let poolSize):
            if clock.monotonic() >= deadline { throw WorkspaceError.poolExhausted(claimed: poolSize) }
            try await Task.sleep(for: .milliseconds(100))
          }
        }
      }
    }
  }

  struct Release: KilnSubcommand {
    static let configuration = CommandConfiguration(
      commandName: "release", abstract: "Reset a pool workspace to its base and give it back to the pool.")
    @Argument(help: "The workspace's name.") var name: String

    func run(in context: Context) async throws {
      try await reportingDomainErrors {
        for note in try await WorkspaceCommand.open(context).release(name) { Terminal.error(note) }
      }
    }
  }
}
