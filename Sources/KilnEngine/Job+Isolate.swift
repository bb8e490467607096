#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnStore
import KilnSystem
import Synchronization

/// One run of a command with `isolate: true` (`Sandbox`): the sandbox, and where the
/// command leaves each file it declares.
struct IsolatedRun: Sendable {
  /// What builds the sandbox and runs the command in it.
  enum Launcher: Sendable {
    /// The build's sandbox server (`SandboxServer`).
    case server(SandboxServer)
    /// bubblewrap, as found on the task's PATH: one `bwrap` process per run.
    case bwrap(String, runner: any ProcessRunner)
  }
  var launcher: Launcher
  var sandbox: Sandbox
  /// This run's folder under `.kiln/sandbox/`: emptied when the run is over.
  var scratch: String
  /// Each declared output and depfile (relative), with the scratch path the command
  /// writes it at.
  var deliveries: [(path: String, from: String)]
  /// The declared inputs, outputs and depfiles (relative), tools (absolute when outside).
  var declared: Set<String>

  /// The arguments that run `command` (argv) in the sandbox: bubblewrap's, with
  /// bubblewrap first when it is the launcher.
  func arguments(running command: [String]) -> [String] {
    switch launcher {
    case .server: sandbox.arguments(running: command)
    case .bwrap(let bwrap, _): [bwrap] + sandbox.arguments(running: command)
    }
  }

  /// Who runs `arguments(running:)`.
  var runner: any ProcessRunner {
    switch launcher {
    case .server(let server): server
    case .bwrap(_, let runner): runner
    }
  }

  /// For messages: what made the sandbox.
  var launcherName: String {
    switch launcher {
    case .server: "kiln's sandbox server"
    case .bwrap: "bubblewrap"
    }
  }
}

extension Job {
  /// The sandbox for the command of `tasks` (one task, or the items of a batch) with
  /// its scratch folders made; or why the command cannot run isolated.
  func isolation(for tasks: [PreparedTask], environment: [String: String]) -> Result<IsolatedRun, SpawnFailure> {
    let launcher: IsolatedRun.Launcher
    if self.environment["KILN_SANDBOX"] != "bwrap", case .success(let server)? = sandboxServer?.current() {
      launcher = .server(server)
    } else if let bwrap = Command.resolve("bwrap", environment["PATH"]) {
      launcher = .bwrap(bwrap, runner: runner)
    } else {
      return .failure(.launchFailed(
        "isolate: true needs bubblewrap (bwrap), which is not on PATH; install it: apt-get install bubblewrap"))
    }
    let scratch = scratchPool.take(under: StateLayout(root: root).sandboxes, fileSystem: fileSystem)
    var folders: [String: String] = [:]
    var deliveries: [(path: String, from: String)] = []
    var declared = Set<String>()
    for task in tasks {
      let writes = task.instance.outputs + (task.instance.depfile.map { [$0] } ?? [])
      for path in writes {
        let folder = Paths.parent(path)
        let behind = folders[folder] ?? scratch + "/\(folders.count)"
        folders[folder] = behind
        deliveries.append((path, behind + "/" + Paths.fileName(path)))
        declared.insert(path)
      }
      for input in task.inputs { declared.insert(input.path) }
    }
    do {
      for folder in folders.values { try fileSystem.createDirectories(folder) }
    } catch {
      scratchPool.discard(scratch, fileSystem: fileSystem)
      return .failure(.launchFailed("isolate: true: cannot make a scratch folder: \(error)"))
    }
    let sandbox = Sandbox(
      system: Sandbox.systemLayout(on: fileSystem),
      inputs: declared.subtracting(deliveries.map(\.path)).sorted().map { Paths.join(root, $0) },
      writable: folders.map { Sandbox.Mount(folder: Paths.join(root, $0.key), scratch: $0.value) },
      workingDirectory: Paths.join(root, tasks[0].instance.directory))
    return .success(IsolatedRun(launcher: launcher, sandbox: sandbox, scratch: scratch, deliveries: deliveries, declared: declared))
  }

  /// The argv that runs `command` in `run`'s sandbox: the program itself when the shell
  /// would only start it and it is one of the system's (`DirectCommand`), else
  /// `/bin/sh -c`; with the environment to give bubblewrap.
  func sandboxed(_ command: String, in run: IsolatedRun, environment: [String: String]) -> ([String], [String: String]) {
    if let direct = DirectCommand.plan(command, environment: environment, workingDirectory: run.sandbox.workingDirectory),
       direct.path.hasPrefix("/"), Sandbox.isSystem(direct.path)
    {
      return (run.arguments(running: [direct.path] + direct.arguments.dropFirst()), direct.environment)
    }
    return (run.arguments(running: ["/bin/sh", "-c", command]), environment)
  }

  /// Moves the declared files the command wrote from the scratch folders to their
  /// places in the workspace (a rename: same file system). Why one could not be moved,
  /// if one could not; one the command did not write is left for `collect` to name.
  func deliver(_ run: IsolatedRun) -> String? {
    for (path, from) in run.deliveries where fileSystem.lstat(from) != nil {
      do { try fileSystem.rename(from, to: Paths.join(root, path)) } catch {
        return "isolate: true: cannot move \(path) out of the sandbox: \(error)"
      }
    }
    return nil
  }

  /// Empties the run's scratch folder of what the command wrote there and did not
  /// declare, and keeps it for the next run (`ScratchPool`).
  func cleanUp(_ run: IsolatedRun) {
    scratchPool.giveBack(run.scratch, fileSystem: fileSystem)
  }

  /// Lines for the standard error of an isolated command that failed: the files it
  /// looked for in vain that a declaration would have given it, one line each. Found
  /// by running it once more in the same sandbox under strace (`SandboxTrace`), so a
  /// build that succeeds pays nothing for them.
  func undeclaredReads(_ run: IsolatedRun, command: String, instance: TaskInstance,
                       environment: [String: String]) async -> [String] {
    let id = instance.id
    guard let strace = Command.resolve("strace", environment["PATH"]) else {
      return ["kiln: task \(id) failed in its sandbox (isolate: true); install strace (apt-get install strace) for kiln to name the undeclared files it looked for"]
    }
    // Empty scratch folders again: what the first run wrote must not change the second.
    for folder in Set(run.deliveries.map { Paths.parent($0.from) }) {
      try? fileSystem.remove(folder)
      try? fileSystem.createDirectories(folder)
    }
    let traceFolder = run.scratch + "/trace"
    guard (try? fileSystem.createDirectories(traceFolder)) != nil else { return [] }
    var traced = run
    traced.sandbox.inputs.append(strace)
    traced.sandbox.extraBinds = [Sandbox.Mount(folder: "/.kiln-trace", scratch: traceFolder)]
    let argv = traced.arguments(running: [strace, "-f", "-qq", "-y", "-e", "trace=%file", "-e", "status=failed",
                                          "-o", "/.kiln-trace/log", "/bin/sh", "-c", command])
    let invocation = Invocation(command: command, workingDirectory: run.sandbox.workingDirectory,
                                environment: environment, timeout: instance.timeout, arguments: argv)
    guard (try? await run.runner.run(invocation)) != nil, let log = try? fileSystem.read(traceFolder + "/log") else { return [] }
    let missing = SandboxTrace.missingPaths(in: log, workingDirectory: run.sandbox.workingDirectory)
    let fs = fileSystem
    let (inside, outside) = SandboxTrace.undeclared(missing, root: root, declared: run.declared,
                                                    exists: { fs.lstat($0) != nil })
    return inside.map { "kiln: task \(id) read \($0), which is not among its inputs; declare it in inputs: (isolate: true)" }
      + outside.map { "kiln: task \(id) read \($0), which is outside its sandbox; declare it in tools: (isolate: true)" }
  }
}
