import KilnCore
import KilnHash
import KilnStore
import KilnSystem
import Synchronization

/// The stats of a command's declared outputs at the moment it ended (set from the
/// process watcher's thread).
final class OutputStats: Sendable {
  private let stats = Mutex<[FileStat?]?>(nil)
  func take(_ value: [FileStat?]) { stats.withLock { $0 = value } }
  var value: [FileStat?]? { stats.withLock { $0 } }
}

/// What a job hands back to the build loop.
package struct JobResult: Sendable {
  package var outcome: TaskOutcome
  /// Set when the task ran or was restored and its result may be recorded.
  package var record: TaskRecord?
  package var stdout: [UInt8] = []
  package var stderr: [UInt8] = []
  package var duration: Double = 0
  package var warnings: [String] = []
  /// Bytes of resident memory the command used at its peak, when it ran.
  package var peakMemory: Int64?
  /// The outputs whose result was stored in the cache, with the stat each had when
  /// hashed: if one changes before the build ends, another task wrote it (`Build`).
  package var stored: [(String, FileStat)] = []
  /// A dry run's prediction of what the job would do: nothing was done.
  package var predicted = false
  /// Seconds the command waited for one of the machine-wide job slots (shared with
  /// every kiln process) before it started: part of the job's time, not of its run.
  package var queued: Double = 0
  /// The run's result still to be put into the cache (`Job.store`): with
  /// `Job.defersStores`, the build loop does it while the next commands start.
  package var pendingStore: PendingStore?
  /// Set when the command ran on a remote worker.
  package var ranRemotely: RemoteRunFacts?
  /// With `Job.defersStores`: the check that no declared input changed while the
  /// command ran, left to the build loop, which starts the dependents first and keeps
  /// `record` and `pendingStore` only if it answers nil (else the path of the input
  /// that changed). An archive's 400 inputs take about 0.9 ms to stat again, between
  /// its end and its link's start when done here.
  package var inputCheck: (@Sendable () -> String?)?
}

/// A run's result for the cache, not yet stored: the blobs to copy in (absolute path
/// and the digest its bytes had when hashed) and the action entry.
package struct PendingStore: Sendable {
  package var id: TaskID
  package var key: Digest
  package var blobs: [(String, Digest)]
  package var action: ActionEntry
  /// The machine-wide claim on the action, held until the entry is stored.
  package var claim: ActionClaim?
  /// The task, for its remote key when the result is uploaded.
  package var task: PreparedTask?
  /// The outputs' SHA-256, by XXH3 digest, taken with their XXH3 when the result may be uploaded.
  package var sha256: [Digest: SHA256Digest] = [:]

  /// Only an entry to write: no blob to copy, no claim to release, nothing to upload
  /// (a remote hit, whose blobs are in the content store already). Such stores are
  /// written together (`TaskExecutor.store(entriesOnly:)`).
  package var isEntryOnly: Bool { blobs.isEmpty && claim == nil && task == nil }
}

/// The work of one task instance that is not up to date, done off the build loop:
/// restore from the cache if an entry matches, else run the command, check and hash
/// its outputs, and store them. It touches only this instance's files, the shared
/// stat cache and the shared content-addressed cache.
package struct Job: Sendable {
  package var root: String
  package var fileSystem: any FileSystem
  package var runner: any ProcessRunner
  package var clock: any TimeSource
  package var statCache: StatCache
  package var contentStore: ContentStore
  package var actionCache: ActionCache
  package var environment: [String: String]
  package var useCache: Bool
  /// Job slots, the memory reserve and actions in flight, shared with every kiln
  /// process on the machine.
  package var limits: any MachineLimits = UnlimitedMachine()
  /// Folders written out of keys and of the depfile paths a cache entry keeps (the
  /// workspace root, and for `kiln ninja` the checkout); an output holding one of their
  /// paths is restored only where they are the same.
  package var keyRoots: KeyRoots
  /// A run's result is handed back with its cache store still to do (`JobResult.pendingStore`),
  /// for the build loop to do while the next command runs; else stored before `perform`
  /// returns (`kiln exec`).
  package var defersStores = false
  /// The remote cache behind the local one, when one is configured.
  package var remote: (any RemoteCache)?
  /// Where isolated tasks run when one is configured (`runsRemotely`).
  package var remoteExecutor: (any RemoteExecutor)?
  /// Where isolated tasks run: the build's sandbox server (`SandboxServer`, issue 19);
  /// nil, or `KILN_SANDBOX=bwrap` in the environment: bubblewrap, one `bwrap` a task.
  package var sandboxServer: OnDemandSandboxServer?
  /// The scratch folders of isolated runs, shared by the copies of this job.
  let scratchPool = ScratchPool()

  package init(root: String, fileSystem: any FileSystem, runner: any ProcessRunner, clock: any TimeSource,
               statCache: StatCache, contentStore: ContentStore, actionCache: ActionCache,
               environment: [String: String], useCache: Bool, limits: any MachineLimits = UnlimitedMachine()) {
    self.root = root
    self.fileSystem = fileSystem
    self.runner = runner
    self.clock = clock
    self.statCache = statCache
    self.contentStore = contentStore
    self.actionCache = actionCache
    self.environment = environment
    self.useCache = useCache
    self.limits = limits
    keyRoots = KeyRoots([root])
  }

  package func perform(_ task: PreparedTask, reasons: [RerunReason], previous: TaskRecord?, lookedUp: Bool = false) async -> JobResult {
    let instance = task.instance
    let cacheable = useCache && instance.cache
    // `always` means run: a restore would replay an old run instead.
    var reasons = reasons
    var claim: ActionClaim?
    var remoteWarnings: [String] = []
    if cacheable, !instance.always {
      if !lookedUp {
        let (restored, more, warnings) = await lookUp(task, reasons: reasons)
        if let restored { return restored }
        reasons = more
        remoteWarnings = warnings
      }
      // Another kiln process may be running this very action: wait for it, then look
      // again (it stored its result, or failed and left the run to this one).
      guard let held = await limits.claimAction(task.key) else { return Self.interrupted }
      claim = held
      if held.waited, !reasons.contains(where: { if case .pathDependentOutput = $0 { true } else { false } }),
         let result = restore(task, noting: &reasons)
      {
        limits.release(held)
        return result
      }
    }
    if !instance.cache { reasons.append(.cacheDisabled) }
    var result = await run(task, reasons: reasons, cacheable: cacheable, previous: previous)
    result.warnings = remoteWarnings + result.warnings
    if defersStores, result.pendingStore != nil {
      // The loop stores it (`store`) and releases the claim then.
      result.pendingStore?.claim = claim
      return result
    }
    result = await storingNow(result)
    if let claim { limits.release(claim) }
    return result
  }

  static let interrupted = JobResult(outcome: .failed(.signal(2)), record: nil)

  /// `restore(_:noting:)` with the files written aside (`restoreAside(_:from:touching:)`).
  func restoreAside(_ task: PreparedTask, noting reasons: inout [RerunReason]) async -> JobResult? {
    let (found, pathDependent, damaged) = matchingEntry(for: task)
    let outcome = if let entry = found { await restoreAside(task, from: entry) } else {
      Self.unmatched(pathDependent: pathDependent, damaged: damaged)
    }
    return Self.noting(outcome, in: &reasons)
  }

  /// `restore(_:from:touching:)` on Swift's global pool: the build loop and its jobs run
  /// on the thread that waits for the children (`ChildWatcher`), and restores, local or
  /// remote, start no command; their copies are best made several at once.
  func restoreAside(_ task: PreparedTask, from entry: ActionEntry, touching: Bool = true) async -> Restore {
    await withTaskExecutorPreference(globalConcurrentExecutor) { restore(task, from: entry, touching: touching) }
  }

  /// The restored result, if the cache has one; else nil, with why it did not restore
  /// added to `reasons` (another checkout's path-dependent entry, a damaged one).
  func restore(_ task: PreparedTask, noting reasons: inout [RerunReason]) -> JobResult? {
    Self.noting(restore(task), in: &reasons)
  }

  /// The result `outcome` restored, else nil with why not added to `reasons`.
  private static func noting(_ outcome: Restore, in reasons: inout [RerunReason]) -> JobResult? {
    switch outcome {
    case .restored(let result): return result
    case .pathDependent(let otherRoot): reasons.append(.pathDependentOutput(otherRoot))
    case .damaged: if !reasons.contains(.cacheEntryDamaged) { reasons.append(.cacheEntryDamaged) }
    case .miss: break
    }
    return nil
  }

  // MARK: - Restore

  enum Restore {
    case restored(JobResult)
    /// The only matching entries hold another workspace's absolute path.
    case pathDependent(String)
    /// The entry file failed its checksum, or a blob its content: deleted, so a miss.
    case damaged
    case miss
  }

  /// The first cache entry for the task's key that fits the task's declared outputs
  /// (`ActionEntry.fits`), whose depfile inputs still match, whose blobs are all present
  /// and that may be restored at this path; else the other workspace's root of a
  /// matching path-dependent entry, if there was one. `damaged` when the entry file
  /// failed its checksum or held an entry that does not fit (both deleted).
  package func matchingEntry(for task: PreparedTask, removingDamaged: Bool = true)
    -> (entry: ActionEntry?, pathDependentRoot: String?, damaged: Bool)
  {
    var pathDependent: String?
    let found = actionCache.lookup(task.key, removingDamaged: removingDamaged)
    var damaged = found.damaged
    for stored in found.entries {
      // Its paths as this checkout has them (`KeyRoots`): output and depfile paths.
      let entry = localized(stored)
      // Untrusted even with a good checksum: it decides nothing about where to write.
      guard entry.fits(declared: task.instance.outputs) else {
        damaged = true
        continue
      }
      let matches = entry.discovered.allSatisfy { (try? statCache.digest(of: $0.path)) == $0.digest }
      guard matches else { continue }
      if let other = entry.pathDependentRoot, other != keyRoots.identity {
        pathDependent = other
        continue
      }
      guard entry.outputs.allSatisfy({
        $0.kind != .file || entry.inline[$0.digest] != nil || contentStore.contains($0.digest)
      }) else { continue }
      return (entry, nil, damaged)
    }
    if damaged, removingDamaged { actionCache.remove(task.key) }
    return (nil, pathDependent, damaged)
  }

  /// `entry` with its paths as this checkout has them: stored with the checkout's
  /// folders as tokens (CMake names an object after its source's absolute path,
  /// `CMakeFiles/app.dir/home/u/proj/src/x.c.o`), resolved here; `fits` then checks
  /// them against this task's declared outputs like any other.
  private func localized(_ entry: ActionEntry) -> ActionEntry {
    var local = entry
    local.mapPaths(keyRoots.resolve)
    return local
  }

  /// Writes the entry's outputs back, at the task's declared output paths only (the
  /// entry fits them), with only the executable bit taken from the entry.
  func restore(_ task: PreparedTask) -> Restore {
    let (found, pathDependent, damaged) = matchingEntry(for: task)
    guard let entry = found else { return Self.unmatched(pathDependent: pathDependent, damaged: damaged) }
    return restore(task, from: entry)
  }

  /// Why no entry restored (`matchingEntry` found none): a damaged one, else another
  /// checkout's path-dependent one, else none at all.
  static func unmatched(pathDependent: String?, damaged: Bool) -> Restore {
    if damaged { return .damaged }
    return pathDependent.map { .pathDependent($0) } ?? .miss
  }

  /// Writes `entry` (localized, fitting the task's declared outputs, its depfile inputs
  /// matching) back as the task's outputs; `touching`: marks the local entry used (a
  /// remote hit's is stored after, with its time).
  func restore(_ task: PreparedTask, from entry: ActionEntry, touching: Bool = true) -> Restore {
    // Declared outputs are this task's to replace; a directory output is rebuilt whole.
    // Asked of the file system, not through the stat cache: what is there before the
    // restore is no input of any verdict, and noted for the snapshot it contradicted the
    // look at the restored file after it (the build that restored everything in a fresh
    // worktree took no snapshot, and the first edit after it decided every instance).
    for output in task.instance.outputs where mayClear(output) && fileSystem.stat(Paths.join(root, output))?.kind == .directory {
      try? fileSystem.remove(Paths.join(root, output))
    }
    var failure = Restore.miss
    var ok = true
    for output in entry.outputs {
      let abs = Paths.join(root, output.path)
      switch output.kind {
      case .directory:
        if let st = fileSystem.lstat(abs), st.kind != .directory { try? fileSystem.remove(abs) }
        if (try? fileSystem.createDirectories(abs)) == nil { ok = false }
      case .symlink:
        let target = String(decoding: entry.inline[output.digest] ?? [], as: UTF8.self)
        if (try? fileSystem.createDirectories(Paths.parent(abs))) == nil
          || (try? fileSystem.createSymlink(target, at: abs)) == nil
        {
          ok = false
        } else {
          // For the snapshot, as a restored file is remembered.
          let at = clock.wallNanoseconds()
          statCache.rememberLink(output.path, fileSystem.lstat(abs), observedAt: at)
        }
      case .file:
        let recorded = clock.wallNanoseconds()
        if (try? fileSystem.createDirectories(Paths.parent(abs))) == nil {
          ok = false
        } else if !restoreFile(output, from: entry, to: abs) {
          ok = false
          // Present a moment ago and now not matching its digest: damaged.
          if entry.inline[output.digest] == nil, !contentStore.contains(output.digest) { failure = .damaged }
        } else if let st = fileSystem.stat(abs) {
          statCache.remember(output.path, st, output.digest, recorded: recorded)
        }
      }
      if !ok { break }
    }
    // A failed copy (a blob vanished or went bad since the check) is a miss: the task runs.
    guard ok else { return failure }
    if touching { actionCache.touch(task.key) }
    let record = TaskRecord(
      id: task.instance.id, key: task.key, command: task.instance.command, environment: task.environment,
      inputs: task.inputs, discovered: entry.discovered,
      outputs: entry.outputs,
      declaredOutputs: task.instance.outputs, duration: entry.duration, depfile: task.instance.depfile)
    return .restored(JobResult(outcome: .restored(from: .local), record: record, stdout: entry.stdout,
                               stderr: entry.stderr, duration: entry.duration))
  }

  /// Whether kiln may delete declared output `path` before restoring or running: a
  /// plain path inside the workspace, not kiln's or git's, reached through no symlink.
  /// kiln.yml's expansion guarantees that of every output; a build.ninja does not (an
  /// output may be `../gen.c`, an absolute path, or lie behind a link), and what lies
  /// outside is left for the command to replace, as ninja leaves it.
  /// Nothing there: true at the cost of one lstat (a cold build's outputs), no walk.
  func mayClear(_ path: String) -> Bool {
    guard Paths.isPlainRelative(path), !Paths.isReserved(path) else { return false }
    guard fileSystem.lstat(Paths.join(root, path)) != nil else { return true }
    return fileSystem.firstNonFolder(above: path, in: root) == nil
  }

  // MARK: - Run

  private func run(_ task: PreparedTask, reasons: [RerunReason], cacheable: Bool, previous: TaskRecord?) async -> JobResult {
    let instance = task.instance
    if let failure = clearOutputs(of: instance) { return Self.failed(failure) }
    var warnings: [String] = []
    if runsRemotely(instance) {
      switch await executeRemotely(task) {
      case .success(let (ran, facts)):
        var result = ended(task, ran, reasons: reasons, cacheable: cacheable, previous: previous)
        result.ranRemotely = facts
        return result
      case .failure(let failure):
        // Once, visibly: this task runs here instead.
        warnings.append("\(instance.id): \(failure); running it here")
        if let failure = clearOutputs(of: instance) { return Self.failed(failure) }
      }
    }
    let spawned = await spawn(instance.command, for: instance, outputs: instance.outputs,
                              isolating: instance.isolate ? [task] : [],
                              expectedMemory: previous?.peakMemory)
    let ran: Ran
    switch spawned {
    case .success(let r): ran = r
    case .failure(.interrupted): return Self.interrupted
    case .failure(.launchFailed(let why)): return Self.failed(.launchFailed(why))
    }
    var result = ended(task, ran, reasons: reasons, cacheable: cacheable, previous: previous)
    result.queued = ran.queued
    result.warnings = warnings + result.warnings
    return result
  }

  /// The result of a command that ran to its end.
  private func ended(_ task: PreparedTask, _ ran: Ran, reasons: [RerunReason], cacheable: Bool,
                     previous: TaskRecord?) -> JobResult {
    let instance = task.instance
    let (out, err, duration) = (ran.completion.stdout, ran.completion.stderr, ran.duration)
    switch ran.completion.status {
    case .exited(0): break
    case .exited(let code): return Self.failed(.exitStatus(code), out, err, duration)
    case .signaled(let signal): return Self.failed(.signal(signal), out, err, duration)
    case .timedOut:
      removeOwnOutputs(of: instance)
      return Self.failed(.timedOut(instance.timeout ?? .zero), out, err, duration)
    case .interrupted:
      removeOwnOutputs(of: instance)
      return Self.failed(.signal(2), out, err, duration)
    }
    return collect(task, stdout: out, stderr: err, duration: duration, startWall: ran.startWall,
                   exitStats: ran.exitStats, peakMemory: ran.completion.peakMemory, reasons: reasons,
                   cacheable: cacheable, previous: previous, deferringInputCheck: defersStores)
  }

  static func failed(_ failure: TaskFailure, _ out: [UInt8] = [], _ err: [UInt8] = [], _ duration: Double = 0) -> JobResult {
    JobResult(outcome: .failed(failure), record: nil, stdout: out, stderr: err, duration: duration)
  }

  /// Outputs are this task's: cleared so a command that fails to write one is caught;
  /// their folders (and the depfile's) made. Why the task cannot start, if it cannot.
  func clearOutputs(of instance: TaskInstance) -> TaskFailure? {
    removeOwnOutputs(of: instance, later: true)
    do {
      for output in instance.outputs { try fileSystem.createDirectories(Paths.parent(Paths.join(root, output))) }
      if let depfile = instance.depfile { try fileSystem.createDirectories(Paths.parent(Paths.join(root, depfile))) }
    } catch {
      return .launchFailed("\(error)")
    }
    return nil
  }

  /// Removes the outputs and the depfile kiln may clear (`mayClear`; a generator's
  /// outputs are kept), and forgets every output's stat: before a command runs, and
  /// again after kiln stopped one (Ctrl-C, its time-out), whose half-written outputs
  /// are then the only thing there, as ninja removes those of the commands it
  /// interrupts. Outputs kiln may not clear (outside the workspace, behind a symlink
  /// the command made) are left as they are. `later`: each name is freed at once and
  /// the file unlinked off the path to the command (`FileSystem.removeLater`).
  func removeOwnOutputs(of instance: TaskInstance, later: Bool = false) {
    func remove(_ path: String) {
      let abs = Paths.join(root, path)
      if later { try? fileSystem.removeLater(abs) } else { try? fileSystem.remove(abs) }
    }
    for output in instance.outputs {
      if !instance.keepsOutputs, mayClear(output) { remove(output) }
      statCache.forget(output)
    }
    if let depfile = instance.depfile, mayClear(depfile) { remove(depfile) }
  }

  /// A command that ran to its end (whatever its status).
  struct Ran {
    var completion: Completion
    var duration: Double
    /// The wall clock when it started, nanoseconds.
    var startWall: Int64
    /// Seconds it waited for a machine-wide job slot before starting.
    var queued: Double = 0
    /// The lstat of each of `outputs` as the command left them (nil: none taken).
    var exitStats: [FileStat?]?
  }

  /// Runs `command` with `instance`'s folder, environment and time-out on a job slot;
  /// in a sandbox holding `isolating`'s declared files when they are given (`isolate:
  /// true`: the task, or a batch's items). `failure(nil)`: interrupted while waiting
  /// for the slot.
  func spawn(_ command: String, for instance: TaskInstance, outputs: [String], isolating: [PreparedTask] = [],
             expectedMemory: Int64?) async -> Result<Ran, SpawnFailure> {
    var env = environment
    for variable in instance.environment { env[variable.name] = variable.value }
    // The command runs on a job slot: a kiln it starts runs its first job on it.
    env[InheritedSlotLimits.variable] = "1"
    var invocation = Invocation(
      command: command, workingDirectory: Paths.join(root, instance.directory),
      environment: env, timeout: instance.timeout)
    var isolated: IsolatedRun?
    if !isolating.isEmpty {
      let run: IsolatedRun
      switch isolation(for: isolating, environment: env) {
      case .success(let made): run = made
      case .failure(let failure): return .failure(failure)
      }
      isolated = run
      // The sandbox's /tmp is its own; a TMPDIR elsewhere would not be there.
      env["TMPDIR"] = "/tmp"
      (invocation.arguments, invocation.environment) = sandboxed(command, in: run, environment: env)
    }
    defer { if let isolated { cleanUp(isolated) } }
    let asked = clock.monotonic()
    guard let slot = await limits.acquireSlot(expectedMemory: expectedMemory) else { return .failure(.interrupted) }
    defer { limits.release(slot) }
    let start = clock.monotonic()
    let startWall = clock.wallNanoseconds()
    var completion: Completion
    // The outputs as the command left them, taken before it is reaped: anything that
    // waits for its end (another task, a script) cannot have written them yet. An
    // isolated command's are in its scratch folders until moved, and nothing outlives
    // its sandbox: taken once they are in place.
    let atExit = OutputStats()
    let declared = outputs.map { Paths.join(root, $0) }
    let fs = fileSystem
    let inPlace = isolated == nil
    do {
      completion = try await (isolated?.runner ?? runner).run(invocation, exited: {
        if inPlace { atExit.take(declared.map { fs.lstat($0) }) }
      })
    } catch {
      return .failure(.launchFailed("\(error)"))
    }
    // The command's time, without the diagnosis run below.
    let duration = clock.monotonic() - start
    if let isolated {
      switch completion.status {
      case .exited(0):
        if let problem = deliver(isolated) { return .failure(.launchFailed(problem)) }
        atExit.take(declared.map { fs.lstat($0) })
      case .exited(let code):
        if let setup = Sandbox.setupFailure(status: code, stderr: completion.stderr) {
          return .failure(.launchFailed("isolate: true: \(isolated.launcherName) could not make the sandbox: \(setup)"))
        }
        let lines = await undeclaredReads(isolated, command: command, instance: instance, environment: env)
        for line in lines { completion.stderr += Array((line + "\n").utf8) }
      default: break
      }
    }
    return .success(Ran(completion: completion, duration: duration, startWall: startWall,
                        queued: start - asked, exitStats: atExit.value))
  }

  enum SpawnFailure: Error {
    case interrupted
    case launchFailed(String)
  }

  /// After a command that exited 0: the depfile read, the outputs checked, hashed and
  /// (when `cacheable`) stored; the record of the run. `exitStats`: the lstat of each
  /// declared output when the command ended.
  func collect(_ task: PreparedTask, stdout: [UInt8], stderr err: [UInt8], duration: Double, startWall: Int64,
               exitStats: [FileStat?]?, peakMemory: Int64?, reasons: [RerunReason], cacheable: Bool,
               previous: TaskRecord?, deferringInputCheck: Bool = false) -> JobResult {
    let instance = task.instance
    var out = stdout
    func failed(_ failure: TaskFailure, _ out: [UInt8] = [], _ err: [UInt8] = [], _ duration: Double = 0) -> JobResult {
      Self.failed(failure, out, err, duration)
    }
    // Depfile: the inputs the command discovered (headers), relative where inside.
    var discovered: [PathDigest] = []
    var discoveredStats: [String: FileStat] = [:]
    var depfileDigest: Digest?
    var names: [String] = []
    if let prefix = instance.includesPrefix {
      (names, out) = Self.takeIncludes(from: out, prefix: prefix)
    } else if let depfile = instance.depfile {
      let text: [UInt8]
      do { text = try fileSystem.read(Paths.join(root, depfile)) } catch {
        // Where missing is allowed (ninja's rule), none written means no dependencies.
        guard instance.depfileMayBeMissing, fileSystem.lstat(Paths.join(root, depfile)) == nil else {
          return failed(.depfileUnreadable("\(depfile) was not written"), out, err, duration)
        }
        text = []
      }
      depfileDigest = Hasher.digest(text)
      do { names = try Depfile.prerequisites(of: text) } catch {
        return failed(.depfileUnreadable("\(depfile): \(error)"), out, err, duration)
      }
    }
    if !names.isEmpty {
      var declared = Set(task.inputs.map(\.path))
      // An input named from a build folder beside the sources (Meson's `../src/a.c`) is
      // discovered under its absolute name: the same file, not a second input (two
      // names for one file made one edit "2 files changed").
      for input in task.inputs where input.path.hasPrefix("../") {
        if let absolute = Paths.normalize(Paths.join(root, input.path)) { declared.insert(absolute) }
      }
      var seen = Set<String>()
      for name in names {
        let path = normalizeDiscovered(name, directory: instance.directory)
        guard !declared.contains(path), seen.insert(path).inserted else { continue }
        // Looked at again: the build may have seen this header before the command ran.
        let observed = (try? statCache.observe(path, again: true)) ?? nil
        discovered.append(PathDigest(path, observed?.digest ?? .zero))
        discoveredStats[path] = observed?.stat
      }
    }

    // Outputs: present, hashed (and searched for this workspace's absolute path, which
    // would make them wrong anywhere else), then stored. A symlink is kept as a link,
    // and only when it points inside the workspace; nothing is read through a link or
    // through a folder the command replaced by one.
    var ingest = Ingest(keepsBytes: cacheable)
    ingest.takesSHA256 = cacheable && remote.map { $0.writes && $0.down == nil } ?? false
    var missingOutput: String?
    for output in instance.outputs {
      let abs = Paths.join(root, output)
      if let (through, kind) = fileSystem.firstNonFolder(above: output, in: root), kind == .symlink {
        return failed(.unsafeOutput("output \(output) is reached through the symlink \(through); kiln does not store what lies outside the workspace"), out, err, duration)
      }
      guard let st = fileSystem.lstat(abs) else {
        guard instance.outputsMayBeMissing else { return failed(.missingOutput(output), out, err, duration) }
        missingOutput = output
        continue
      }
      do {
        switch st.kind {
        case .directory:
          ingest.entries.append(OutputEntry(path: output, kind: .directory, permissions: 0o755, digest: .zero))
          try hashTree(output, into: &ingest)
        case .symlink:
          if let problem = hashLink(output, into: &ingest) { return failed(.unsafeOutput(problem), out, err, duration) }
        case .file:
          try hashFile(output, st, into: &ingest)
        case .other:
          return failed(.unsafeOutput("output \(output) is neither a file, a folder nor a symlink"), out, err, duration)
        }
      } catch {
        return failed(.launchFailed("cannot read output: \(error)"), out, err, duration)
      }
      if let problem = ingest.problem { return failed(.unsafeOutput(problem), out, err, duration) }
    }

    // Inputs edited while the command ran make its result unrepeatable: keep the
    // outputs on disk, but record and store nothing, so the next build reruns it.
    var warnings: [String] = []
    // Declared inputs are compared with the stats their digests were taken under (at
    // prepare time, possibly well before this job got a slot).
    var changedInput: String?
    // Left to the build loop, which starts the dependents first (`JobResult.inputCheck`).
    let inputCheck: (@Sendable () -> String?)?
    if deferringInputCheck {
      let (fileSystem, statCache) = (fileSystem, statCache)
      inputCheck = { Self.changedDeclaredInput(of: task, fileSystem: fileSystem, statCache: statCache) }
    } else {
      inputCheck = nil
      changedInput = Self.changedDeclaredInput(of: task, fileSystem: fileSystem, statCache: statCache)
    }
    if changedInput == nil {
      // Discovered inputs were not known before the run: one modified after the
      // command started may have been read in either version (ccache: "too new").
      for d in discovered {
        if let st = discoveredStats[d.path], st.mtime > startWall || st.ctime > startWall { changedInput = d.path; break }
      }
    }
    // An output written again while it was hashed (a process the command left behind,
    // or a task writing it without declaring it): the digest may not be of the bytes
    // the command wrote. Kept on disk, not recorded nor stored.
    var changedOutput: (path: String, when: String)?
    for (path, before) in ingest.hashedStats where fileSystem.lstat(Paths.join(root, path)) != before {
      changedOutput = (path, "while kiln hashed it")
      break
    }
    if changedOutput == nil, let exitStats {
      let hashed = Dictionary(ingest.hashedStats, uniquingKeysWith: { a, _ in a })
      for (output, st) in zip(instance.outputs, exitStats) {
        if let now = hashed[output], now != st { changedOutput = (output, "after its command ended"); break }
      }
    }
    if let (path, when) = changedOutput {
      warnings.append("\(instance.id): output \(path) changed \(when); its result is not cached")
      return JobResult(outcome: .ran(because: reasons, outputsChanged: true), record: nil,
                       stdout: out, stderr: err, duration: duration, warnings: warnings)
    }
    if missingOutput != nil {
      // Allowed to be missing (`outputsMayBeMissing`): nothing to record or store.
      return JobResult(outcome: .ran(because: reasons, outputsChanged: true), record: nil,
                       stdout: out, stderr: err, duration: duration, warnings: warnings)
    }
    if let path = changedInput {
      warnings.append(Self.inputChanged(instance.id, path))
      return JobResult(outcome: .ran(because: reasons, outputsChanged: true), record: nil,
                       stdout: out, stderr: err, duration: duration, warnings: warnings)
    }

    let entries = ingest.entries
    var pending: PendingStore?
    if cacheable {
      var action = ActionEntry(discovered: discovered, outputs: entries, declaredOutputs: instance.outputs,
                               stdout: out, stderr: err, duration: duration,
                               pathDependentRoot: ingest.pathDependent ? keyRoots.identity : nil, inline: ingest.inline)
      action.mapPaths(keyRoots.normalize)
      let blobs = entries.filter { $0.kind == .file && ingest.inline[$0.digest] == nil }
        .map { (Paths.join(root, $0.path), $0.digest) }
      pending = PendingStore(id: instance.id, key: task.key, blobs: blobs, action: action, task: task)
      pending?.sha256 = ingest.sha256
    }
    let record = TaskRecord(
      id: instance.id, key: task.key, command: instance.command, environment: task.environment,
      inputs: task.inputs, discovered: discovered, outputs: entries, declaredOutputs: instance.outputs,
      duration: duration, depfile: instance.depfile, depfileDigest: depfileDigest, peakMemory: peakMemory)
    let changed = previous.map { $0.outputs != entries } ?? true
    var result = JobResult(outcome: .ran(because: reasons, outputsChanged: changed), record: record,
                           stdout: out, stderr: err, duration: duration, warnings: warnings,
                           peakMemory: peakMemory, stored: cacheable ? ingest.hashedStats : [])
    result.pendingStore = pending
    result.inputCheck = inputCheck
    return result
  }

  /// The warning for a result not kept because input `path` changed while it ran.
  package static func inputChanged(_ id: TaskID, _ path: String) -> String {
    "\(id): input \(path) changed while the task ran; its result is not cached"
  }

  /// The first of `task`'s declared inputs whose stat is not the one its digest was
  /// taken under (at prepare time, possibly well before its job got a slot), if any.
  static func changedDeclaredInput(of task: PreparedTask, fileSystem: any FileSystem, statCache: StatCache) -> String? {
    // Folder by folder (an archive's 400 objects are in 16).
    var stats = PathStats(fileSystem)
    for (input, before) in zip(task.inputs, task.inputStats) {
      let now = stats.stat(statCache.absolute(input.path)).flatMap { $0.kind == .directory ? nil : $0 }
      if now != before { return input.path }
    }
    return nil
  }

  /// Puts a run's result into the cache: its large outputs as blobs (each copy checked
  /// against the digest taken when the command ended: bytes changed since are not
  /// stored, and neither is the entry), then the action entry. Releases the claim on
  /// the action once the entry is there, so a process waiting for it finds it. The
  /// warnings to show (nothing stored), if any.
  package func store(_ pending: PendingStore) async -> [String] {
    await startStore(pending).value
  }

  /// `store`, started at once on kiln's store thread (`WorkerThread`), outside Swift's
  /// pool: a task of the pool (or a job of Dispatch's global queue) that the build
  /// loop handed a store to while it was busy started only once the loop waited, and
  /// the build's last store ran after its snapshot was made instead of beside it. The
  /// upload, if any, runs as a task after it.
  package func startStore(_ pending: PendingStore) -> Eventually<[String]> {
    let done = Eventually<[String]>()
    let limits = limits
    @Sendable func releaseClaim() { if let claim = pending.claim { limits.release(claim) } }
    WorkerThread.shared.run {
      do {
        for (path, digest) in pending.blobs { try contentStore.store(path, as: digest) }
        try actionCache.store(pending.action, for: pending.key)
      } catch {
        releaseClaim()
        done.fulfil(["\(pending.id): not cached: \(error)"])
        return
      }
      guard remote?.writes == true else {
        releaseClaim()
        done.fulfil([])
        return
      }
      Task {
        let warnings = await uploadRemote(pending)
        releaseClaim()
        done.fulfil(warnings)
      }
    }
    return done
  }

  /// Entries only (remote hits), in one transaction of the action database.
  package func store(entriesOnly pendings: [PendingStore]) async -> [String] {
    do {
      try actionCache.store(pendings.map { ($0.action, $0.key) })
    } catch {
      return pendings.map { "\($0.id): not cached: \(error)" }
    }
    return []
  }

  /// `result` with its pending store done now (`kiln exec`, batches): the warnings of a
  /// failed store added.
  func storingNow(_ result: JobResult) async -> JobResult {
    guard let pending = result.pendingStore else { return result }
    var done = result
    done.pendingStore = nil
    done.warnings += await store(pending)
    return done
  }

  /// Writes one output back: from the entry when it holds the bytes (checked against
  /// the digest first: a damaged cache file must not become an output), else from the
  /// blob store.
  private func restoreFile(_ output: OutputEntry, from entry: ActionEntry, to abs: String) -> Bool {
    let mode = FileMode.restored(executable: output.permissions & 0o100 != 0)
    guard let bytes = entry.inline[output.digest] else {
      return contentStore.restore(output.digest, to: abs, permissions: mode)
    }
    guard Hasher.digest(bytes) == output.digest else { return false }
    return (try? fileSystem.writeAtomically(bytes, to: abs, permissions: mode)) != nil
  }

  /// What hashing a run's outputs found: their entries, whether one holds this
  /// workspace's path, and (when the result will be stored) the bytes of the small ones,
  /// read once to be hashed, searched and kept in the action entry.
  private struct Ingest {
    let keepsBytes: Bool
    /// Whether the result may be uploaded: each file's SHA-256 is taken in the same read.
    var takesSHA256 = false
    var sha256: [Digest: SHA256Digest] = [:]
    var entries: [OutputEntry] = []
    var pathDependent = false
    var inline: [Digest: [UInt8]] = [:]
    /// The lstat each file and link had just before it was hashed.
    var hashedStats: [(String, FileStat)] = []
    /// Why the result cannot be kept (a link leaving the workspace inside a folder output).
    var problem: String?
  }

  /// Records a symlink output as a link (its target text is its content); returns why
  /// not when it points outside the workspace.
  private func hashLink(_ path: String, into ingest: inout Ingest) -> String? {
    let abs = Paths.join(root, path)
    let at = clock.wallNanoseconds()
    guard let before = fileSystem.lstat(abs), let target = try? fileSystem.readLink(abs) else {
      return "output \(path) is a symlink kiln cannot read"
    }
    guard Paths.symlinkTarget(target, of: path) != nil else {
      return "output \(path) is a symlink to \(target), outside the workspace; kiln stores only links that stay inside it"
    }
    let bytes = Array(target.utf8)
    let digest = Hasher.digest(bytes)
    ingest.inline[digest] = bytes
    ingest.hashedStats.append((path, before))
    ingest.entries.append(OutputEntry(path: path, kind: .symlink, permissions: 0o755, digest: digest))
    // Looked at as a link for the snapshot, as a file output is remembered: else the
    // null check after this build would not see the link deleted.
    statCache.rememberLink(path, before, observedAt: at)
    return nil
  }

  /// Hashes one output file (and, when the result will be stored, searches it for the
  /// workspace path: such an output is wrong anywhere else).
  private func hashFile(_ path: String, _ st: FileStat, into ingest: inout Ingest) throws(FileSystemError) {
    let recorded = clock.wallNanoseconds()
    let needles = keyRoots.needleBytes
    let abs = Paths.join(root, path)
    let digest: Digest
    if ingest.keepsBytes, st.size <= ActionCache.inlineLimit {
      let bytes = try fileSystem.read(abs)
      digest = Hasher.digest(bytes)
      if ingest.takesSHA256 { ingest.sha256[digest] = SHA256Hasher.digest(bytes) }
      if bytes.withUnsafeBytes({ b in needles.contains { NeedleScanner.search(b, for: $0) } }) { ingest.pathDependent = true }
      ingest.inline[digest] = bytes
    } else if ingest.keepsBytes, ingest.takesSHA256 {
      let (d, sha, contains) = try fileSystem.digests(of: abs, scanningFor: needles.first ?? [])
      digest = d
      ingest.sha256[d] = sha
      if contains { ingest.pathDependent = true }
      for needle in needles.dropFirst() where !ingest.pathDependent {
        if try fileSystem.digest(of: abs, scanningFor: needle).1 { ingest.pathDependent = true }
      }
    } else if ingest.keepsBytes {
      let (d, contains) = try fileSystem.digest(of: abs, scanningFor: needles.first ?? [])
      digest = d
      if contains { ingest.pathDependent = true }
      // A build folder outside its checkout: a second read for the other folder.
      for needle in needles.dropFirst() where !ingest.pathDependent {
        if try fileSystem.digest(of: abs, scanningFor: needle).1 { ingest.pathDependent = true }
      }
    } else {
      digest = try fileSystem.digest(of: abs)
    }
    statCache.remember(path, st, digest, recorded: recorded)
    if let sha = ingest.sha256[digest] { statCache.remember(path, digest, sha256: sha) }
    ingest.hashedStats.append((path, st))
    ingest.entries.append(OutputEntry(path: path, kind: .file, permissions: FileMode.recorded(st.permissions), digest: digest))
  }

  private func hashTree(_ directory: String, into ingest: inout Ingest) throws(FileSystemError) {
    let abs = Paths.join(root, directory)
    var dirs = Set<String>()
    let listing = fileSystem.listing(under: abs, skipping: { _ in false })
    if let bad = listing.undecodable.first {
      ingest.problem = "output folder \(directory) holds '\(directory)/\(bad.escaped)', whose name is not UTF-8, which kiln cannot store; rename it"
      return
    }
    for rel in listing.files {
      var parent = Paths.parent(rel)
      var missing: [String] = []
      while !parent.isEmpty, !dirs.contains(parent) {
        missing.append(parent)
        dirs.insert(parent)
        parent = Paths.parent(parent)
      }
      for dir in missing.reversed() {
        ingest.entries.append(OutputEntry(path: directory + "/" + dir, kind: .directory, permissions: 0o755, digest: .zero))
      }
      let path = directory + "/" + rel
      guard let st = fileSystem.lstat(Paths.join(root, path)) else { continue }
      if st.kind == .symlink {
        if let problem = hashLink(path, into: &ingest) { ingest.problem = problem; return }
      } else {
        try hashFile(path, st, into: &ingest)
      }
    }
  }

  /// `deps = msvc`: the paths named by the lines of `output` that start with `prefix`
  /// (leading blanks after it dropped), and the output without those lines.
  static func takeIncludes(from output: [UInt8], prefix: String) -> (names: [String], rest: [UInt8]) {
    let marker = Array(prefix.utf8)
    var names: [String] = []
    var rest: [UInt8] = []
    rest.reserveCapacity(output.count)
    for line in output.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast(output.last == UInt8(ascii: "\n") ? 1 : 0) {
      if !marker.isEmpty, line.starts(with: marker) {
        var name = line.dropFirst(marker.count).drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        if name.last == UInt8(ascii: "\r") { name = name.dropLast() }
        if !name.isEmpty { names.append(String(decoding: name, as: UTF8.self)) }
      } else {
        rest += line
        rest.append(UInt8(ascii: "\n"))
      }
    }
    if output.last != UInt8(ascii: "\n"), rest.last == UInt8(ascii: "\n") { rest.removeLast() }
    return (names, rest)
  }

  private func normalizeDiscovered(_ name: String, directory: String) -> String {
    if name.hasPrefix("/") {
      let n = Paths.normalize(name) ?? name
      return Paths.relative(n, to: root) ?? n
    }
    let joined = directory.isEmpty ? name : directory + "/" + name
    return Paths.normalize(joined) ?? Paths.normalize(Paths.join(root, joined)) ?? joined
  }
}
