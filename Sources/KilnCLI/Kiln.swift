import ArgumentParser
import Dispatch
import KilnCore
import KilnEngine
import KilnStore
import KilnSystem
#if canImport(Glibc)
import Glibc
#endif

/// kiln's version, printed by `--version`.
package let kilnVersion = "0.1.0"

struct KilnCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kiln",
    abstract: "Incremental, parallel, cached builds from kiln.yml.",
    discussion: "Global options, before the command: -C DIR (change directory first), -f FILE (another build file).",
    version: kilnVersion,
    subcommands: [BuildCommand.self, InitCommand.self, NinjaCommand.self, ExecCommand.self, TasksCommand.self, GraphCommand.self, CleanCommand.self,
                  ManifestCommand.self, CacheCommand.self, WorkspaceCommand.self, StatsCommand.self, HooksCommand.self])
}

/// A subcommand that runs in the `Context` the entry point made for it.
protocol KilnSubcommand: ParsableCommand {
  func run(in context: Context) async throws
}

/// The entry point: global options, Ctrl-C, and the one place that turns errors into
/// one stderr line and an exit status (0 ok, 1 a task failed, 2 usage or build file,
/// 130 interrupted).
package enum KilnMain {
  /// What to do after `start`: exit now, or run the parsed command.
  package enum Started {
    case exit(Int32)
    case run(() async -> Int32)
  }

  /// Synchronous: kiln's global options (-C, -f, -jN), the `Launch` and the
  /// `Context` made once, the command line parsed, and a `kiln build` that the last
  /// build's snapshot answers answered, all before Swift's concurrency runtime starts
  /// a thread.
  package static func start(_ arguments: [String], as name: String = "kiln") -> Started {
    // kiln's own sandbox server (issue 19), which a build starts from this executable.
    if arguments.first == "--sandbox-server" { return .exit(SandboxServer.serve()) }
    // Under ninja's name (a link to kiln: `-DCMAKE_MAKE_PROGRAM=.../kiln-ninja`),
    // kiln is `kiln ninja`.
    if name == "ninja" || name == "kiln-ninja" { return start(["ninja"] + arguments) }
    // In front of a compiler (`kiln gcc ...`, or a link named `gcc`): no parsing, no
    // Context, no concurrency runtime.
    if let call = LauncherEntry.call(arguments, as: name) {
      return .exit(LauncherEntry.run(compiler: call.compiler, arguments: call.arguments, masquerade: call.masquerade))
    }
    let launch: Launch
    var args: [String]
    switch prepare(NinjaToolCommand.separatingToolArguments(arguments)) {
    case .exit(let status): return .exit(status)
    case .ready(let prepared, let rest): (launch, args) = (prepared, rest)
    }
    // A bare `kiln` builds the default, as a bare make or ninja does (help: --help);
    // `kiln -j4` and `kiln -k` too.
    if args.isEmpty || (args.first.map { $0.hasPrefix("-") && !rootFlags.contains($0) } ?? false) {
      args.insert("build", at: 0)
    }
    var context = Context(launch)
    // `kiln build` with plain flags: the snapshot is asked before the parser's cost,
    // and if it cannot answer, the build runs from what `SnapshotQuestion` read, which
    // is what the parser would read; the parser's reflection over the command types
    // would cost more than the rest of a small project's cold build does.
    if args.first == "build", let question = SnapshotQuestion(plainArguments: args.dropFirst()) {
      var changed: String?
      var delta: SnapshotDelta?
      if let status = question.answer(context, noting: &changed, delta: &delta) { return .exit(status) }
      context.snapshotTried = true
      context.changedPath = changed
      context.snapshotDelta = delta
      let ready = context
      let request = question.request
      return running { try await request.run(in: ready) }
    }
    // A git hook's `kiln hooks run HOOK` (every commit): no parser either.
    if let hook = HooksCommand.Run.plainHook(args) {
      let ready = context
      return running { try await HooksCommand.Run.run(hook, in: ready) }
    }
    // Asked here, after the two paths above (whose first words are commands): listing
    // the commands builds each one's configuration, 5% of a small project's null build.
    if let first = args.first, first != "ninja", !first.hasPrefix("-"), !subcommandNames.contains(first) {
      return .exit(unknownCommand(first))
    }
    let command: any ParsableCommand
    do {
      command = try parse(args)
    } catch {
      return .exit(report(error))
    }
    if !context.snapshotTried, let build = command as? BuildCommand {
      var changed: String?
      var delta: SnapshotDelta?
      if let status = build.answerFromSnapshot(context, noting: &changed, delta: &delta) { return .exit(status) }
      context.snapshotTried = true
      context.changedPath = changed
      context.snapshotDelta = delta
    }
    if let ninja = command as? NinjaCommand {
      var changed: String?
      var delta: SnapshotDelta?
      if let status = ninja.answerFromSnapshot(context, noting: &changed, delta: &delta) { return .exit(status) }
      context.snapshotTried = true
      context.changedPath = changed
      context.snapshotDelta = delta
    }
    let ready = context
    let parsed = command
    return running {
      if let subcommand = parsed as? any KilnSubcommand {
        try await subcommand.run(in: ready)
      } else if var asyncCommand = parsed as? any AsyncParsableCommand {
        try await asyncCommand.run()
      } else {
        var command = parsed
        try command.run()
      }
    }
  }

  /// The command `args` ask for. `kiln ninja` (CMake's make program, every build) is
  /// read by its own parser alone, without the configuration of every other command
  /// that the root's parse builds first (1.1 ms of a 3.9 ms null build); help, and any
  /// line its parser refuses, go through the root, which names it `kiln ninja`.
  static func parse(_ args: [String]) throws -> any ParsableCommand {
    if args.first == "ninja", !args.contains(where: { $0 == "-h" || $0 == "--help" || $0 == "-help" }),
       let plain = try? NinjaCommand.parse(Array(args.dropFirst())) {
      return plain
    }
    return try KilnCommand.parseAsRoot(args)
  }

  /// Ends the process now with `status`, what kiln's worker thread still holds done
  /// first (as `running` does): what the command still holds is freed by the process's
  /// end at once, not object by object.
  static func exitNow(_ status: Int32) -> Never {
    WorkerThread.shared.drain()
    exit(status)
  }

  /// A command to run with Ctrl-C handled, its error turned into a line and a status.
  private static func running(_ body: @escaping () async throws -> Void) -> Started {
    .run {
      // What kiln's worker thread still holds (old outputs to unlink,
      // `FileSystem.removeLater`) is done before the process exits.
      defer { WorkerThread.shared.drain() }
      do {
        try await body()
        return 0
      } catch {
        return report(error)
      }
    }
  }

  /// The command line with kiln's own global options (-C, -f, -jN) taken out: the
  /// folder to stand in and the build file go into the `Launch`.
  enum Prepared {
    case ready(Launch, [String])
    case exit(Int32)
  }

  static func prepare(_ arguments: [String]) -> Prepared {
    var args: [String] = []
    var iterator = arguments.makeIterator()
    var afterTerminator = false
    var directory: String?
    var buildFile: String?
    while let arg = iterator.next() {
      if afterTerminator { args.append(arg); continue }
      switch arg {
      case "--": afterTerminator = true; args.append(arg)
      case "-C", "--directory":
        guard let dir = iterator.next() else { return .exit(usage("\(arg) needs a directory")) }
        directory = dir
      case "-f", "--file":
        guard let file = iterator.next() else { return .exit(usage("\(arg) needs a file")) }
        buildFile = file
      default:
        if arg.hasPrefix("--directory=") {
          directory = String(arg.dropFirst("--directory=".count))
        } else if arg.hasPrefix("--file=") {
          buildFile = String(arg.dropFirst("--file=".count))
        } else if arg.hasPrefix("-j"), arg.count > 2, Int(arg.dropFirst(2)) != nil {
          args += ["-j", String(arg.dropFirst(2))]
        } else if arg.hasPrefix("-C"), arg.count > 2 {
          directory = String(arg.dropFirst(2))
        } else {
          args.append(arg)
        }
      }
    }
    // Tools kiln starts in no named folder see the same directory as kiln's own paths.
    if let directory, chdir(directory) != 0 { return .exit(usage("cannot change to directory '\(directory)'")) }
    return .ready(Launch.current(buildFile: buildFile), args)
  }

  /// The one place an error becomes a line on stderr and an exit status.
  private static func report(_ error: any Error) -> Int32 {
    switch error {
    case let error as CLIError:
      Terminal.error(error.message)
      return error.status
    case let error as ConfigError:
      Terminal.error(error.description)
      return 2
    case let error as ExitCode:
      return error.rawValue
    case let error as DatabaseError:
      // The state database could not be read or written (full, read-only, damaged):
      // its own line says which file and what to do.
      Terminal.error("kiln: \(error)")
      return 2
    default:
      let code = KilnCommand.exitCode(for: error)
      if code == .success {
        Terminal.write(KilnCommand.fullMessage(for: error) + "\n")
        return 0
      }
      let message = KilnCommand.message(for: error)
      let first = message.split(separator: "\n").first.map(String.init) ?? "\(error)"
      Terminal.error(first.hasPrefix("kiln") ? first : "kiln: \(first)")
      return code == .validationFailure || code.rawValue == 64 ? 2 : (code.rawValue == 1 ? 1 : 2)
    }
  }

  /// The root command's own flags: everything else before a command is `build`'s.
  static let rootFlags: Set<String> = ["-h", "--help", "--version", "--generate-completion-script", "---completion",
                                       "--experimental-dump-help"]
  static var subcommandNames: [String] {
    KilnCommand.configuration.subcommands.map { $0._commandName } + ["help"]
  }

  /// `kiln biuld`: one line naming the command meant, when one is close, exit 2.
  static func unknownCommand(_ word: String) -> Int32 {
    let near = subcommandNames.map { ($0, editDistance($0, word)) }.filter { $0.1 <= (word.count >= 4 ? 2 : 1) }
      .min { $0.1 < $1.1 }
    if let near {
      return usage("unknown command '\(word)'; did you mean '\(near.0)'? (kiln --help lists the commands)")
    }
    return usage("unknown command '\(word)'; kiln --help lists the commands (to build a task: kiln build \(word))")
  }

  /// Edits (insert, delete, replace, swap two neighbours) from `a` to `b`: the optimal
  /// string alignment distance, on characters (command names are a few letters long).
  static func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
      for j in 1...b.count {
        d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
      }
    }
    return d[a.count][b.count]
  }

  private static func usage(_ message: String) -> Int32 {
    Terminal.error("kiln: \(message)")
    return 2
  }

  /// Ctrl-C, SIGTERM, SIGHUP and Ctrl-Z while a command runs (`Started.run`): their
  /// handler only notes them (`kiln_catch_signals`); the main thread, which blocks them
  /// but while it waits in `sigsuspend`, acts on them when it wakes (`takeSignals`).
  /// Three Dispatch signal sources and a thread of their own did it before, at 5-7 ms
  /// before every build's first line.
  package static func catchSignals() {
    ProcessGroups.catchSignals()
  }

  /// What the main thread does for the signals noted since it last asked, outside the
  /// handler. Ctrl-C (and SIGTERM, SIGHUP): stop every running task's process group;
  /// the build loop records nothing half-done and kiln exits 130; a second one, or two
  /// seconds later, exits at once. Ctrl-Z: `ProcessGroups.stopForTerminal` (returns
  /// once continued).
  package static func takeSignals() {
    while true {
      let signo = ProcessGroups.takeSignal()
      if signo == 0 { return }
      if signo == SIGTSTP {
        ProcessGroups.shared.stopForTerminal()
        continue
      }
      if ProcessGroups.shared.isInterrupted { exit(130) }  // a second Ctrl-C: leave now
      // The build loop notices within one job's end; anything else (expansion, a
      // command that runs no tasks) is simply ended. An open SQLite transaction is
      // rolled back by the next opener, so nothing half-done is recorded.
      ProcessGroups.shared.interruptAll()
      DispatchQueue.global().asyncAfter(deadline: .now() + 2) { exit(130) }
    }
  }
}
