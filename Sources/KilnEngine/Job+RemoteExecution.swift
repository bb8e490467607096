#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnHash
import KilnStore
import KilnSystem

/// Where a run happened when it was not here: a remote worker (issue 19).
package struct RemoteRunFacts: Sendable, Hashable {
  /// Seconds the action waited on the server for a worker, and ran on it (the worker's
  /// own figures; 0 when the server gave none).
  package var queued: Double
  package var executed: Double
  /// Whether the server answered from its own action cache.
  package var cached: Bool
  /// Bytes sent for it (the blobs the server lacked, the request) and received.
  package var bytesUp: Int64 = 0
  package var bytesDown: Int64 = 0

  package init(queued: Double, executed: Double, cached: Bool) {
    self.queued = queued
    self.executed = executed
    self.cached = cached
  }
}

/// Remote execution (SPEC section 5, issue 19): an isolated task may run on a REAPI
/// worker instead of here. Its input root is its declared inputs at their paths in the
/// workspace, its command `/bin/sh -c` with its `run`, its environment its `env` and
/// `hash_env` values and a fixed PATH (`remotePath`): what an isolated task may see
/// here, as far as a worker that offers the same system folders shows it. The outputs
/// come back checked against their SHA-256 into scratch files, and are moved into place
/// only when every one arrived; then the run is collected (hashed, stored, recorded)
/// exactly as a local run is. Any failure of the server, the transport or the worker is
/// one warning and a local run of that task.
extension Job {
  /// The PATH a remote command gets: the system folders a worker offers.
  package static let remotePath = "/usr/local/bin:/usr/bin:/bin"

  /// Whether `instance` goes to the remote executor: isolated (hermetic: its declared
  /// inputs are all it reads), not `remote: false`, in the workspace root (no `dir`),
  /// without a depfile (its discovered inputs would be the worker's), not batched, and
  /// the executor up.
  package func runsRemotely(_ instance: TaskInstance) -> Bool {
    guard let remoteExecutor, remoteExecutor.down == nil else { return false }
    return instance.isolate && instance.remote && instance.directory.isEmpty && instance.depfile == nil
      && instance.batch == nil && instance.includesPrefix == nil
  }

  /// The action a worker is asked to run for `task`; nil when an input cannot be
  /// placed in an input root (outside the workspace) or changed since it was hashed.
  func remoteAction(_ task: PreparedTask) -> RemoteAction? {
    let instance = task.instance
    var inputs: [RemoteActionInput] = []
    for (input, stat) in zip(task.inputs, task.inputStats) {
      guard !input.path.hasPrefix("/"), !input.path.hasPrefix("../"), let stat, stat.kind == .file,
            let sha = statCache.sha256(of: input.path, expecting: input.digest)
      else { return nil }
      inputs.append(RemoteActionInput(path: input.path, sha256: sha, size: stat.size,
                                      executable: stat.permissions & 0o100 != 0, source: statCache.absolute(input.path)))
    }
    var env = [EnvironmentVariable("PATH", Self.remotePath)]
    for name in instance.hashEnvironment { if let value = environment[name] { env.append(EnvironmentVariable(name, value)) } }
    for variable in instance.environment {
      env.removeAll { $0.name == variable.name }
      env.append(variable)
    }
    return RemoteAction(arguments: ["/bin/sh", "-c", instance.command], environment: env,
                        outputs: instance.outputs, inputs: inputs, timeout: instance.timeout)
  }

  /// Runs `task` on the remote executor: its outputs in place and how it went, or the
  /// failure to warn about before running it here (nothing of it is left in the
  /// workspace then: outputs were cleared before, and scratch files are removed).
  func executeRemotely(_ task: PreparedTask) async -> Result<(Ran, RemoteRunFacts), RemoteFailure> {
    guard let remoteExecutor else { return .failure(RemoteFailure("remote execution: not configured")) }
    guard let action = remoteAction(task) else {
      return .failure(RemoteFailure("remote execution: an input is outside the workspace or changed while it was read"))
    }
    let scratch = StateLayout(root: root).folder
    let start = clock.monotonic()
    let startWall = clock.wallNanoseconds()
    let run: RemoteRun
    do { run = try await remoteExecutor.execute(action, scratch: scratch) } catch {
      return .failure(error)
    }
    // Every output arrived and was checked: now they replace what was there, when the
    // command succeeded (a failed one leaves nothing, as in a local sandbox).
    var placed: [String] = []
    if run.timedOut || run.exitCode != 0 {
      for (_, got) in run.outputs { try? fileSystem.remove(got.scratch) }
    }
    for output in task.instance.outputs where !run.timedOut && run.exitCode == 0 {
      guard let got = run.outputs[output] else { continue }
      let abs = Paths.join(root, output)
      let mode = FileMode.restored(executable: got.executable)
      guard chmod(got.scratch, mode_t(mode)) == 0, (try? fileSystem.createDirectories(Paths.parent(abs))) != nil,
            rename(got.scratch, abs) == 0
      else {
        for (_, other) in run.outputs { try? fileSystem.remove(other.scratch) }
        for path in placed { try? fileSystem.remove(path) }
        return .failure(RemoteFailure("remote execution: cannot put \(output) in place: \(String(cString: strerror(errno)))"))
      }
      placed.append(abs)
    }
    let exitStats = task.instance.outputs.map { fileSystem.lstat(Paths.join(root, $0)) }
    var stderr = run.stderr
    if !run.timedOut, run.exitCode != 0 {
      // The same lines a local isolated run that failed gives: the undeclared files it
      // looked for, found by running it again here in the local sandbox under strace.
      for line in await diagnosed(task) { stderr += Array((line + "\n").utf8) }
    }
    let completion = Completion(status: run.timedOut ? .timedOut : .exited(run.exitCode), stdout: run.stdout, stderr: stderr)
    let ran = Ran(completion: completion, duration: clock.monotonic() - start, startWall: startWall, queued: 0,
                  exitStats: exitStats)
    var facts = RemoteRunFacts(queued: run.queued, executed: run.executed, cached: run.cached)
    facts.bytesUp = run.bytesUp
    facts.bytesDown = run.bytesDown
    return .success((ran, facts))
  }

  /// The undeclared reads of `task`'s command, from a rerun in the local sandbox
  /// (`undeclaredReads`); none when the sandbox cannot be made here.
  private func diagnosed(_ task: PreparedTask) async -> [String] {
    let instance = task.instance
    var env = environment
    for variable in instance.environment { env[variable.name] = variable.value }
    guard case .success(let isolated) = isolation(for: [task], environment: env) else { return [] }
    defer { cleanUp(isolated) }
    env["TMPDIR"] = "/tmp"
    return await undeclaredReads(isolated, command: instance.command, instance: instance, environment: env)
  }
}
