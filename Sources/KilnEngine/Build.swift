import KilnCore
import KilnStore
import KilnSystem

/// How to build: what `kiln build`'s flags say.
package struct BuildOptions: Sendable {
  package var jobs: Int
  package var keepGoing = false
  package var dryRun = false
  package var useCache = true
  /// Task names or instance names; nil builds the graph's default.
  package var targets: [String]? = nil
  package var workspace: String? = nil
  /// Delete what kiln made for instances gone from the graph (not for `kiln exec`,
  /// whose graph is one step, not the whole build).
  package var removeStaleOutputs = true
  /// Where to leave a snapshot for the next build's "nothing changed" check, and what
  /// reading the build file depended on; nil: no snapshot.
  package var snapshot: SnapshotRequest? = nil
  /// Whether this build was interrupted (Ctrl-C); polled by the loop.
  package var isInterrupted: @Sendable () -> Bool = { ProcessGroups.shared.isInterrupted }

  package init(jobs: Int) {
    self.jobs = max(1, jobs)
  }
}

/// What `Build` needs to write a `BuildSnapshot`.
package struct SnapshotRequest: Sendable {
  package var path: String
  /// What parsing and expanding the build file looked at (the file, folders listed).
  package var expansion: [SnapshotEntry]
  /// Printed before the build; printed again when the snapshot stands in for it.
  package var warnings: [String]

  package init(path: String, expansion: [SnapshotEntry], warnings: [String]) {
    self.path = path
    self.expansion = expansion
    self.warnings = warnings
  }
}

/// What a build did.
package struct BuildResult: Sendable {
  package var summary = BuildSummary()
  package var reports: [TaskReport] = []
  package var interrupted = false
  /// Instances a dry run found would restore or run.
  package var wouldRun: [TaskReport] = []
}

/// Why a build could not start.
package enum BuildError: Error, Sendable, CustomStringConvertible {
  case unknownTarget(String)
  case state(String)

  package var description: String {
    switch self {
    case .unknownTarget(let name): "unknown task '\(name)'"
    case .state(let message): message
    }
  }
}

/// The scheduler: one loop that owns the graph's state, starts up to `jobs` jobs in
/// longest-path-first order, decides up-to-dateness inline, and records every result.
/// Jobs (`Job`) only restore or run and hand back values (ninja's Builder + Plan).
package final class Build {
  private let graph: TaskGraph
  private let root: String
  private let fileSystem: any FileSystem
  private let runner: any ProcessRunner
  private let clock: any TimeSource
  private let manifest: Manifest
  private let contentStore: ContentStore
  private let actionCache: ActionCache
  private let environment: [String: String]
  private let observer: any BuildObserver
  private var records: [TaskID: TaskRecord]
  private let statCache: StatCache
  /// Job slots, memory and actions in flight, shared machine-wide (SPEC §4).
  package var limits: any MachineLimits = UnlimitedMachine()

  package init(graph: TaskGraph, root: String, fileSystem: any FileSystem, runner: any ProcessRunner,
               clock: any TimeSource, manifest: Manifest, records: [TaskID: TaskRecord], statCache: StatCache,
               contentStore: ContentStore, actionCache: ActionCache, environment: [String: String],
               observer: any BuildObserver) {
    self.graph = graph
    self.root = root
    self.fileSystem = fileSystem
    self.runner = runner
    self.clock = clock
    self.manifest = manifest
    self.records = records
    self.statCache = statCache
    self.contentStore = contentStore
    self.actionCache = actionCache
    self.environment = environment
    self.observer = observer
  }

  private enum State { case waiting, ready, running, succeeded, wouldRun, failed, skipped, notStarted }

  package func run(_ options: BuildOptions) async throws -> BuildResult {
    let (selected, unknown) = graph.closure(ofTasks: options.targets ?? graph.defaultTasks)
    if let name = unknown.first { throw BuildError.unknownTarget(name) }
    let startTime = clock.monotonic()
    var result = BuildResult()
    let buildID: Int64?
    if options.dryRun {
      buildID = nil
    } else {
      try manifest.begin()
      // Records may change from here on: no snapshot describes them until the end.
      if let request = options.snapshot { try? fileSystem.remove(request.path) }
      if options.removeStaleOutputs { try removeStaleOutputs() }
      buildID = try manifest.beginBuild(targets: options.targets ?? graph.defaultTasks ?? [], workspace: options.workspace, started: Double(clock.wallNanoseconds()) / 1e9)
    }

    // Longest path to the end of the build, weighted by recorded durations.
    var inSelection = [Bool](repeating: false, count: graph.count)
    for i in selected { inSelection[i] = true }
    var priority = [Double](repeating: 0, count: graph.count)
    for i in selected.reversed() {
      let weight = records[graph[i].id]?.duration ?? 0.5
      var longest = 0.0
      for d in graph.dependents[i] where inSelection[d] { longest = max(longest, priority[d]) }
      priority[i] = weight + longest
    }
    var pending = [Int](repeating: 0, count: graph.count)
    var state = [State](repeating: .waiting, count: graph.count)
    var worklist: [Int] = []
    for i in selected {
      pending[i] = graph.dependencies[i].count
      if pending[i] == 0 { worklist.append(i) }
    }
    var ready = PriorityQueue()
    var prepared: [Int: (PreparedTask, [RerunReason])] = [:]
    let rebuilder = Rebuilder(statCache: statCache, inheritedEnvironment: environment)
    let job = Job(root: root, fileSystem: fileSystem, runner: runner, clock: clock, statCache: statCache,
                  contentStore: contentStore, actionCache: actionCache, environment: environment,
                  useCache: options.useCache, limits: limits)
    var stopping = false
    var done = 0
    let total = selected.count
    var upToDateByTask: [String: (count: Int, saved: Double)] = [:]
    /// Results stored in the cache by this build: key, instance, outputs with the stat
    /// each had when hashed.
    var stored: [(key: Digest, id: TaskID, outputs: [(String, FileStat)])] = []
    observer.buildStarted(total: total)
    if observer.wantsPlan {
      var expected: [TaskID: Double] = [:]
      for i in selected { expected[graph[i].id] = records[graph[i].id]?.duration ?? 0 }
      observer.buildPlanned(expected: expected, jobs: options.jobs)
    }

    /// Counts `i` as done and makes the dependents whose last dependency it was ready.
    func release(_ i: Int) {
      done += 1
      for d in graph.dependents[i] where inSelection[d] {
        pending[d] -= 1
        if pending[d] == 0 { worklist.append(d) }
      }
    }

    /// A dry run's verdict for `i`: it would restore or run.
    func wouldRun(_ i: Int, _ report: TaskReport) {
      result.wouldRun.append(report)
      state[i] = .wouldRun
      release(i)
    }

    func finish(_ i: Int, _ report: TaskReport, _ newState: State) throws {
      state[i] = newState
      switch report.outcome {
      case .upToDate:
        result.summary.upToDate += 1
        result.summary.timeSaved += report.saved
        upToDateByTask[report.id.task, default: (0, 0)].count += 1
        upToDateByTask[report.id.task, default: (0, 0)].saved += report.saved
      case .restored:
        result.summary.restored += 1
        result.summary.timeSaved += report.saved
      case .ran: result.summary.ran += 1
      case .failed: result.summary.failed += 1
      case .skipped: result.summary.skipped += 1
      }
      if case .upToDate = report.outcome {} else if let buildID {
        try manifest.recordOutcome(build: buildID, OutcomeRow(
          task: report.id.description, outcome: report.outcome.kind,
          reasons: report.reasons.map(\.description).joined(separator: "; "),
          duration: report.duration, started: report.started, finished: report.finished,
          peakMemory: report.peakMemory, reasonKinds: report.reasons.map(\.kind).joined(separator: " ")))
      }
      result.reports.append(report)
      release(i)
      observer.taskFinished(report, done: done, total: total)
    }

    /// Decides a ready instance: up to date (finished at once), or queued for a job.
    func evaluate(_ i: Int) throws {
      let instance = graph[i]
      let now = clock.monotonic() - startTime
      if let failedDep = graph.dependencies[i].first(where: { state[$0] == .failed || state[$0] == .skipped }) {
        try finish(i, TaskReport(id: instance.id, outcome: .skipped(dependencyFailed: graph[failedDep].id),
                                 started: now, finished: now, command: instance.command), .skipped)
        return
      }
      if options.dryRun, let dep = graph.dependencies[i].first(where: { state[$0] == .wouldRun }) {
        let reasons: [RerunReason] = [.dependencyWillRun(graph[dep].id)]
        wouldRun(i, TaskReport(id: instance.id, outcome: .ran(because: reasons, outputsChanged: true),
                               reasons: reasons, command: instance.command))
        return
      }
      let task: PreparedTask
      do { task = try rebuilder.prepare(instance) } catch {
        try finish(i, TaskReport(id: instance.id, outcome: .failed(.launchFailed("cannot hash inputs: \(error)")),
                                 started: now, finished: now, command: instance.command), .failed)
        if !options.keepGoing { stopping = true }
        return
      }
      let record = records[instance.id]
      let reasons = rebuilder.reasons(task, record: record)
      if reasons.isEmpty {
        try finish(i, TaskReport(id: instance.id, outcome: .upToDate, started: now, finished: now,
                                 saved: record?.duration ?? 0, command: instance.command), .succeeded)
        return
      }
      if options.dryRun {
        // The same match a real build's job would make, without writing anything.
        let restorable = options.useCache && instance.cache && !instance.always && job.matchingEntry(for: task, removingDamaged: false).entry != nil
        let outcome: TaskOutcome = restorable ? .restored(from: .local) : .ran(because: reasons, outputsChanged: true)
        wouldRun(i, TaskReport(id: instance.id, outcome: outcome, reasons: reasons, command: instance.command))
        return
      }
      prepared[i] = (task, reasons)
      state[i] = .ready
      ready.push(i, priority: priority[i])
    }

    try await withThrowingTaskGroup(of: (Int, JobResult, [RerunReason], Double, Double).self) { group in
      var running = 0
      while true {
        while let i = worklist.popLast() {
          if stopping { state[i] = .notStarted; continue }
          try evaluate(i)
        }
        if options.isInterrupted() { stopping = true; result.interrupted = true }
        while !stopping, running < options.jobs, let i = ready.pop() {
          let (task, reasons) = prepared.removeValue(forKey: i)!
          state[i] = .running
          observer.taskStarted(task.instance, reasons: reasons)
          let previous = records[task.instance.id]
          running += 1
          group.addTask {
            let started = job.clock.monotonic()
            let r = await job.perform(task, reasons: reasons, previous: previous)
            return (i, r, reasons, started, job.clock.monotonic())
          }
        }
        if running == 0 { break }
        guard let (i, r, startReasons, started, finished) = try await group.next() else { break }
        running -= 1
        if options.isInterrupted() {
          // Nothing half-done is recorded: a job that ended because of Ctrl-C counts
          // as not run; one that completed before it may still be kept.
          stopping = true
          result.interrupted = true
          if case .failed = r.outcome { state[i] = .notStarted; continue }
        }
        for w in r.warnings { observer.warning(w) }
        let instance = graph[i]
        let reasons: [RerunReason]
        // A run may add reasons the loop could not know (cache disabled, path-dependent).
        if case .ran(let because, _) = r.outcome { reasons = because } else { reasons = startReasons }
        let report = TaskReport(id: instance.id, outcome: r.outcome, reasons: reasons, duration: r.duration,
                                stdout: r.stdout, stderr: r.stderr, started: started - startTime,
                                finished: finished - startTime,
                                saved: { if case .restored = r.outcome { r.duration } else { 0 } }(),
                                command: instance.command, peakMemory: r.peakMemory)
        if case .failed = r.outcome {
          try finish(i, report, .failed)
          if !options.keepGoing { stopping = true }
        } else {
          if let record = r.record {
            records[instance.id] = record
            try manifest.putRecord(record, now: clock.wallNanoseconds())
            if !r.stored.isEmpty { stored.append((record.key, instance.id, r.stored)) }
          }
          try finish(i, report, .succeeded)
        }
      }
    }

    // A stored output that changed after its task hashed it was written by something
    // else in this build (a task writing it without declaring it): the cached bytes may
    // not be its own command's. The entry goes; the record's digest no longer matches
    // the file, so the next build runs the task again.
    for s in stored {
      guard let (path, _) = s.outputs.first(where: { fileSystem.lstat(Paths.join(root, $0.0)) != $0.1 }) else { continue }
      actionCache.remove(s.key)
      observer.warning("\(s.id): output \(path) was changed by another task of this build after \(s.id) wrote it (an undeclared output?); its result is not cached")
    }

    result.summary.wallTime = clock.monotonic() - startTime
    result.summary.exitStatus = result.interrupted ? 130 : (result.summary.failed > 0 ? 1 : 0)
    if let buildID {
      for (task, value) in upToDateByTask {
        try manifest.recordUpToDate(build: buildID, task: task, count: value.count, timeSaved: value.saved)
      }
      try statCache.flush(to: manifest)
      try manifest.finishBuild(buildID, result.summary, finished: Double(clock.wallNanoseconds()) / 1e9)
      try manifest.commit()
      manifest.checkpointIfLarge()
      // After the commit and the checkpoint: the manifest file's stat, one of the
      // snapshot's entries, is final.
      if let request = options.snapshot,
         let snapshot = takeSnapshot(for: request, selected: selected, result: result, options: options) {
        try? fileSystem.writeAtomically(snapshot.encode(), to: request.path, permissions: 0o644)
      }
    }
    return result
  }

  /// The snapshot of a build that left every selected instance up to date with stats
  /// that can be trusted; nil when there is none to take (a failure, an `always` task,
  /// a folder input, a file changed during the build or too recently to trust its stat).
  private func takeSnapshot(for request: SnapshotRequest, selected: [Int], result: BuildResult,
                        options: BuildOptions) -> BuildSnapshot? {
    let s = result.summary
    guard !result.interrupted, s.exitStatus == 0, s.failed == 0, s.skipped == 0 else { return nil }
    guard let observed = statCache.observations() else { return nil }
    var tasks: [String: (count: Int, saved: Double)] = [:]
    var order: [String] = []
    var names = Set<String>()
    for i in selected {
      let instance = graph[i]
      guard !instance.always, let record = records[instance.id] else { return nil }
      if tasks[instance.id.task] == nil { order.append(instance.id.task) }
      tasks[instance.id.task, default: (0, 0)].count += 1
      tasks[instance.id.task, default: (0, 0)].saved += record.duration
      names.formUnion(instance.hashEnvironment)
      // Tools are found on PATH: another PATH may name other programs.
      if !instance.tools.isEmpty { names.insert("PATH") }
    }
    var entries: [SnapshotEntry] = []
    var index: [String: Int] = [:]
    for e in request.expansion + observed {
      if e.isRacy { return nil }
      let key = (e.followsLinks ? "s" : "l") + e.path
      if let j = index[key] {
        // Looked at twice and found different: it changed while the build ran.
        if !SnapshotEntry.same(entries[j].stat, e.stat) { return nil }
        if entries[j].digest == nil { entries[j].digest = e.digest }
        continue
      }
      index[key] = entries.count
      entries.append(e)
    }
    // The manifest itself: deleted, rebuilt or checkpointed by another command, it no
    // longer holds the records this snapshot describes. Exempt from the racy rule (it
    // was just written); a build that changes records removes the snapshot first.
    let manifestPath = Paths.relative(manifest.path, to: root) ?? manifest.path
    entries.removeAll { $0.path == manifestPath }
    entries.append(SnapshotEntry(path: manifestPath, stat: fileSystem.stat(manifest.path), observedAt: clock.wallNanoseconds()))
    entries.sort { $0.path < $1.path }
    let environmentNames = names.sorted()
    return BuildSnapshot(
      root: root,
      targets: BuildSnapshot.targetsKey(options.targets), targetNames: options.targets ?? graph.defaultTasks ?? [],
      environmentNames: environmentNames,
      environmentDigest: BuildSnapshot.environmentDigest(environmentNames, environment),
      tasks: order.map { ($0, tasks[$0]!.count, tasks[$0]!.saved) }, warnings: request.warnings,
      entries: entries)
  }

  /// Deletes what kiln made for task instances that are no longer in the graph, where
  /// the files still hold what kiln wrote, so they cannot match a glob any more.
  /// Records are untrusted (a `state.db` can be committed, copied or forged): a path is
  /// deleted only when it is a plain path inside the workspace reached through no
  /// symlink, and only a regular file (or link) whose content still has the recorded
  /// digest, or a folder the record lists that is empty. Never recursively.
  private func removeStaleOutputs() throws {
    // Steps recorded by `kiln exec` ("@exec ...") are not the build file's to judge.
    for (id, record) in records where graph.index(of: id) == nil && !id.task.hasPrefix("@") {
      let stillDeclared = record.declaredOutputs.contains { graph.producers[$0] != nil }
      if !stillDeclared {
        if let depfile = record.depfile, let digest = record.depfileDigest, graph.producers[depfile] == nil {
          removeIfUnchanged(OutputEntry(path: depfile, kind: .file, permissions: 0o644, digest: digest))
        }
        for output in record.outputs.reversed() { removeIfUnchanged(output) }
      }
      records[id] = nil
      try manifest.deleteRecord(id)
    }
  }

  /// Removes one file, link or empty folder kiln recorded, if it is still what kiln
  /// recorded and lies inside the workspace (see `removeStaleOutputs`).
  private func removeIfUnchanged(_ output: OutputEntry) {
    let path = output.path
    guard Paths.isPlainRelative(path), !Paths.isReserved(path),
          fileSystem.firstNonFolder(above: path, in: root) == nil
    else { return }
    let abs = Paths.join(root, path)
    guard let st = fileSystem.lstat(abs) else { return }
    switch (output.kind, st.kind) {
    case (.file, .file):
      if (try? statCache.digest(of: path)) == output.digest {
        try? fileSystem.remove(abs)
        statCache.forget(path)
      }
    case (.symlink, .symlink):
      if statCache.linkDigest(of: path) == output.digest { try? fileSystem.remove(abs) }
    case (.directory, .directory):
      if fileSystem.contents(ofDirectory: abs)?.isEmpty == true { try? fileSystem.remove(abs) }
    default:
      break
    }
  }
}

/// A max-heap of instance indices by priority (ties: lower index first, for stable order).
struct PriorityQueue {
  private var heap: [(priority: Double, index: Int)] = []

  private static func before(_ a: (priority: Double, index: Int), _ b: (priority: Double, index: Int)) -> Bool {
    a.priority != b.priority ? a.priority > b.priority : a.index < b.index
  }

  mutating func push(_ index: Int, priority: Double) {
    heap.append((priority, index))
    var child = heap.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard Self.before(heap[child], heap[parent]) else { break }
      heap.swapAt(child, parent)
      child = parent
    }
  }

  mutating func pop() -> Int? {
    guard !heap.isEmpty else { return nil }
    heap.swapAt(0, heap.count - 1)
    let top = heap.removeLast()
    var parent = 0
    while true {
      let left = 2 * parent + 1, right = left + 1
      var best = parent
      if left < heap.count, Self.before(heap[left], heap[best]) { best = left }
      if right < heap.count, Self.before(heap[right], heap[best]) { best = right }
      if best == parent { break }
      heap.swapAt(parent, best)
      parent = best
    }
    return top.index
  }
}
