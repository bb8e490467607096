import ArgumentParser
import Dispatch
import KilnCore
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
    subcommands: [BuildCommand.self, ExecCommand.self, TasksCommand.self, GraphCommand.self, CleanCommand.self,
                  ManifestCommand.self, CacheCommand.self, WorkspaceCommand.self, StatsCommand.self, HooksCommand.self])
}

/// The entry point: global options, Ctrl-C, and the one place that turns errors into
/// one stderr line and an exit status (0 ok, 1 a task failed, 2 usage or build file,
/// 130 interrupted).
package enum KilnMain {
  /// The command line after kiln's own global options (-C, -f, -jN) are taken out and
  /// applied (the directory changed, the build file noted), or the exit status of a
  /// usage error. Synchronous, like `nullBuild`: together they answer a null build
  /// before Swift's concurrency runtime starts a thread.
  package enum Prepared {
    case arguments([String])
    case exit(Int32)
  }

  package static func prepare(_ arguments: [String]) -> Prepared {
    var args: [String] = []
    var iterator = arguments.makeIterator()
    var afterTerminator = false
    var directory: String?
    while let arg = iterator.next() {
      if afterTerminator { args.append(arg); continue }
      switch arg {
      case "--": afterTerminator = true; args.append(arg)
      case "-C":
        guard let dir = iterator.next() else { return .exit(usage("-C needs a directory")) }
        directory = dir
      case "-f":
        guard let file = iterator.next() else { return .exit(usage("-f needs a file")) }
        Context.globalBuildFile = file
      default:
        if arg.hasPrefix("-j"), arg.count > 2, Int(arg.dropFirst(2)) != nil {
          args += ["-j", String(arg.dropFirst(2))]
        } else if arg.hasPrefix("-C"), arg.count > 2 {
          directory = String(arg.dropFirst(2))
        } else {
          args.append(arg)
        }
      }
    }
    if let directory, chdir(directory) != 0 { return .exit(usage("cannot change to directory '\(directory)'")) }
    return .arguments(args)
  }

  /// `kiln build` answered from the last build's snapshot (`NullBuild`); nil when it
  /// cannot be, and the full command must run.
  package static func nullBuild(_ args: [String]) -> Int32? {
    guard let options = nullBuildOptions(args), let context = try? Context(), NullBuild.attempt(context, options) else {
      return nil
    }
    return 0
  }

  /// The command line after `prepare` (and a `nullBuild` that did not answer).
  package static func run(prepared args: [String]) async -> Int32 {
    installInterruptHandler()
    do {
      var command = try KilnCommand.parseAsRoot(args)
      if var asyncCommand = command as? any AsyncParsableCommand {
        try await asyncCommand.run()
      } else {
        try command.run()
      }
      return 0
    } catch let error as CLIError {
      Terminal.error(error.message)
      return error.status
    } catch let error as ConfigError {
      Terminal.error(error.description)
      return 2
    } catch let error as ExitCode {
      return error.rawValue
    } catch let error as DatabaseError {
      // The state database could not be read or written (full, read-only, damaged):
      // its own line says which file and what to do.
      Terminal.error("kiln: \(error)")
      return 2
    } catch {
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

  /// `kiln build` with only the flags a null build can honour (-j, -k, -n, --explain,
  /// --no-cache) and task names: tried against the last build's snapshot before the
  /// argument parser and the build file are even loaded. Anything else, or anything
  /// the parser would reject, goes the usual way.
  private static func nullBuildOptions(_ args: [String]) -> NullBuild.Options? {
    guard args.first == "build" else { return nil }
    var options = NullBuild.Options()
    var tasks: [String] = []
    var i = 1
    while i < args.count {
      switch args[i] {
      case "-k", "--no-cache": break
      case "-n", "--dry-run": options.dryRun = true
      case "--explain": options.explain = true
      case "-q", "--quiet": options.quiet = true
      case "-j":
        guard i + 1 < args.count, let n = Int(args[i + 1]), n >= 1 else { return nil }
        i += 1
      case let arg where arg.hasPrefix("-") || arg.isEmpty: return nil
      case let task: tasks.append(task)
      }
      i += 1
    }
    options.targets = tasks.isEmpty ? nil : tasks
    options.workspace = getenv("KILN_WORKSPACE").map { String(cString: $0) }
    return options
  }

  private static func usage(_ message: String) -> Int32 {
    Terminal.error("kiln: \(message)")
    return 2
  }

  nonisolated(unsafe) private static var signalSources: [any DispatchSourceSignal] = []

  /// Ctrl-C (and SIGTERM): stop every running task's process group; the build loop
  /// records nothing half-done and kiln exits 130.
  private static func installInterruptHandler() {
    for sig in [SIGINT, SIGTERM, SIGHUP] {
      signal(sig, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
      source.setEventHandler {
        if ProcessGroups.shared.isInterrupted { exit(130) }  // a second Ctrl-C: leave now
        ProcessGroups.shared.interruptAll()
        // The build loop notices within one job's end; anything else (expansion, a
        // command that runs no tasks) is simply ended. An open SQLite transaction is
        // rolled back by the next opener, so nothing half-done is recorded.
        DispatchQueue.global().asyncAfter(deadline: .now() + 2) { exit(130) }
      }
      source.resume()
      signalSources.append(source)
    }
    // Ctrl-Z: give the machine-wide job slots back, stop with the tasks, take them
    // again when continued (ProcessGroups.stopForTerminal).
    ProcessGroups.shared.catchTerminalStop()
  }
}
