import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import KilnConfig
import KilnCore
import KilnSystem

/// `kiln ws ...`: isolated workspaces sharing one cache (SPEC §3; `Workspaces`).
struct WorkspaceCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ws", abstract: "Isolated workspaces (git worktrees) that share one cache.",
    subcommands: [New.self, Path.self, List.self, Remove.self, Run.self, Conflicts.self, Pool.self, Claim.self,
                  Release.self])

  /// The workspaces of the repository (or project) the caller stands in.
  static func open() throws -> Workspaces {
    let context = try? Context(requireBuildFile: false)
    return try Workspaces(directory: Context.currentDirectory(),
                          projectRoot: context?.buildFilePath != nil ? context?.root : nil,
                          environment: Context.currentEnvironment())
  }

  struct New: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "new", abstract: "Make a workspace on branch kiln/NAME (from HEAD or REF) and print its path.")
    @Argument(help: "The workspace's name.") var name: String
    @Option(help: "The commit (branch, tag, ...) to start from; default HEAD.") var from: String?

    func run() async throws {
      let ws = try WorkspaceCommand.open()
      let info = try ws.create(name, from: from)
      let buildFile = (try? Context(requireBuildFile: false))?.buildFilePath
      if let warning = ws.uncommittedBuildFileWarning(buildFile, in: info) { Terminal.error(warning) }
      Terminal.line(info.path)
    }
  }

  struct Path: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "path", abstract: "Print a workspace's path.")
    @Argument(help: "The workspace's name.") var name: String

    func run() async throws {
      Terminal.line(try WorkspaceCommand.open().existing(name).path)
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "list",
      abstract: "List workspaces: name, branch, files changed against the base, last build's hit rate, pool state, path.")
    @Flag(help: "A JSON array instead of a table.") var json = false

    func run() async throws {
      let ws = try WorkspaceCommand.open()
      Terminal.write(WorkspaceCommand.table(ws, ws.all().filter { !$0.creating }, json: json))
    }
  }

  /// `ws list`'s table (or JSON array) of `rows`.
  static func table(_ ws: Workspaces, _ rows: [WorkspaceInfo], json: Bool) -> String {
    var objects: [String] = []
    var lines: [[String]] = [["NAME", "BRANCH", "CHANGED", "HIT-RATE", "STATE", "PATH"]]
    for info in rows {
      let changed = ws.changedFiles(info)?.count
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

  struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "rm", abstract: "Remove a workspace (refused with uncommitted work unless --force).")
    @Argument(help: "The workspace's name.") var name: String
    @Flag(help: "Drop uncommitted work, or a claimed pool workspace.") var force = false

    func run() async throws {
      let ws = try WorkspaceCommand.open()
      let info = try ws.existing(name)
      if !force {
        if info.isClaimed, !info.ownerIsGone {
          throw CLIError("kiln: ws: '\(name)' is claimed; release it or use --force", status: 1)
        }
        let dirty = try ws.uncommitted(info)
        if !dirty.isEmpty {
          throw CLIError("kiln: ws: '\(name)' has \(dirty.count) uncommitted change\(dirty.count == 1 ? "" : "s") "
            + "(\(dirty.prefix(3).joined(separator: ", "))\(dirty.count > 3 ? ", ..." : "")); commit them or use --force",
            status: 1)
        }
      }
      for note in try ws.remove(info) { Terminal.error(note) }
    }
  }

  struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "run", abstract: "Run a command inside a workspace (KILN_WORKSPACE=NAME); exits with its status.")
    @Argument(help: "The workspace's name.") var name: String
    @Argument(parsing: .captureForPassthrough, help: "-- CMD ARGS...") var command: [String] = []

    func run() async throws {
      var argv = command
      if argv.first == "--" { argv.removeFirst() }
      guard !argv.isEmpty else { throw CLIError("kiln: ws run: no command (kiln ws run NAME -- CMD ARGS...)") }
      let ws = try WorkspaceCommand.open()
      let info = try ws.existing(name)
      // The caller's folder, mirrored; the top of the workspace if it has no such folder.
      let inside = Paths.join(info.path, ws.relativeDirectory)
      let directory = LocalFileSystem().stat(inside)?.kind == .directory ? inside : info.path
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

  struct Conflicts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "conflicts", abstract: "Files changed in more than one workspace (against their common base).")

    func run() async throws {
      let ws = try WorkspaceCommand.open()
      guard ws.isGit else { throw CLIError("kiln: ws conflicts needs a git repository") }
      let all = ws.all().filter { !$0.creating }
      var heads: [String: String] = [:]
      for info in all {
        let head = ws.git(["rev-parse", "HEAD"], in: info.path)
        if head.succeeded { heads[info.name] = head.text }
      }
      let present = all.filter { heads[$0.name] != nil }
      // Changed files per (workspace, base): most pairs share one base.
      var changedCache: [String: Set<String>] = [:]
      func changed(_ info: WorkspaceInfo, since base: String) -> Set<String> {
        let key = info.name + "\u{0}" + base
        if let hit = changedCache[key] { return hit }
        let files = Set(ws.changedFiles(info, against: base) ?? [])
        changedCache[key] = files
        return files
      }
      var owners: [String: Set<String>] = [:]
      for (i, a) in present.enumerated() {
        for b in present[(i + 1)...] {
          let base = ws.git(["merge-base", heads[a.name]!, heads[b.name]!]).text
          guard !base.isEmpty else { continue }
          for file in changed(a, since: base).intersection(changed(b, since: base)) {
            owners[file, default: []].formUnion([a.name, b.name])
          }
        }
      }
      var text = ""
      for file in owners.keys.sorted() {
        let names = owners[file]!.sorted { WorkspaceInfo.orderKey($0) < WorkspaceInfo.orderKey($1) }
        text += file + "\t" + names.joined(separator: ", ") + "\n"
      }
      Terminal.write(text)
    }
  }

  struct Pool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "pool", abstract: "Keep exactly N ready workspaces (pool-1...pool-N) for `ws claim`.")
    @Option(help: "How many workspaces the pool holds.") var size: Int
    @Option(help: "The commit new pool workspaces start from; default HEAD.") var from: String?

    func run() async throws {
      guard size >= 0 else { throw CLIError("kiln: ws pool: --size must be 0 or more") }
      let ws = try WorkspaceCommand.open()
      guard ws.isGit else { throw CLIError("kiln: ws pool needs a git repository") }
      for n in 1...max(size, 1) where n <= size {
        let name = "pool-\(n)"
        if let existing = ws.info(name) {
          if !existing.pool { throw CLIError("kiln: ws pool: '\(name)' exists and is not a pool workspace") }
          continue
        }
        try ws.create(name, from: from, pool: true)
      }
      // Shrinking: free ones above N go; claimed ones stay until released.
      for info in ws.all() where info.pool && !info.creating && info.sortKey.1 > size {
        if info.isClaimed, !info.ownerIsGone { continue }
        for note in try ws.remove(info) { Terminal.error(note) }
      }
      Terminal.write(WorkspaceCommand.table(ws, ws.all().filter { $0.pool && !$0.creating }, json: false))
    }
  }

  struct Claim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "claim", abstract: "Take a free pool workspace at once; print its name and path.")
    @Option(help: "Wait up to DURATION (5s, 2m) for one to be free.") var wait: String?
    @Option(help: "A process (the agent's) whose end gives the claim back; default: held until released.")
    var owner: Int32?

    func run() async throws {
      let ws = try WorkspaceCommand.open()
      guard ws.isGit else { throw CLIError("kiln: ws claim needs a git repository") }
      var deadline = 0.0
      if let wait {
        guard let d = Duration.parse(wait) else { throw CLIError("kiln: ws claim: --wait: '\(wait)' is not a duration like 5s or 2m") }
        deadline = SystemClock().monotonic() + Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
      }
      // Without --owner a claim lasts until `ws release`: kiln's own parent is often a
      // shell that ends at once (an agent's tool call, `$(kiln ws claim)`), and taking
      // its end for the agent's would hand the agent's work to someone else.
      var ownerStart: UInt64?
      if let owner {
        guard let start = Workspaces.processStart(owner) else { throw CLIError("kiln: ws claim: --owner: no process \(owner)") }
        ownerStart = start
      }
      while true {
        let (taken, notes, poolSize): (WorkspaceInfo?, [String], Int) = try ws.locked {
          let pool = ws.all().filter { $0.pool && !$0.creating }
          var notes: [String] = []
          for var info in pool where !info.isClaimed || info.ownerIsGone {
            if info.isClaimed {
              // Its claimer died: what it left is reset before anyone else gets it.
              notes += try ws.reset(info)
            }
            info.claimed = true
            info.owner = owner
            info.ownerStart = ownerStart
            info.claimedAt = Int64(time(nil))
            try ws.save(info)
            return (info, notes, pool.count)
          }
          return (nil, notes, pool.count)
        }
        for note in notes { Terminal.error(note) }
        if let taken {
          Terminal.line(taken.name + "\t" + taken.path)
          return
        }
        if poolSize == 0 { throw CLIError("kiln: ws claim: there is no pool (make one with kiln ws pool --size N)") }
        if SystemClock().monotonic() >= deadline {
          throw CLIError("kiln: no free workspace in the pool (\(poolSize) claimed)", status: 1)
        }
        usleep(100_000)
      }
    }
  }

  struct Release: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "release", abstract: "Reset a pool workspace to its base and give it back to the pool.")
    @Argument(help: "The workspace's name.") var name: String

    func run() async throws {
      let ws = try WorkspaceCommand.open()
      let notes: [String] = try ws.locked {
        var info = try ws.existing(name)
        guard info.pool else { throw CLIError("kiln: ws release: '\(name)' is not a pool workspace") }
        let notes = try ws.reset(info)
        info.claimed = false
        info.owner = nil
        info.ownerStart = nil
        info.claimedAt = nil
        try ws.save(info)
        return notes
      }
      for note in notes { Terminal.error(note) }
    }
  }
}

extension WorkspaceInfo {
  /// The pool's order for a bare name.
  static func orderKey(_ name: String) -> (String, Int) {
    WorkspaceInfo(name: name, path: "", branch: "", base: "").sortKey
  }
}
