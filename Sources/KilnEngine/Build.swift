import KilnCore
import KilnStore
import KilnSystem

/// How to build: what `kiln build`'s flags say.
package struct BuildOptions: Sendable {
  package var jobs: Int
  package var keepGoing = false
  /// With `keepGoing`, stop starting tasks once this many have failed (ninja's `-k N`);
  /// nil: never.
  package var failureLimit: Int? = nil
  /// Task names or instance names; nil builds the graph's default.
  package var targets: [String]? = nil
  /// The workspace the build is recorded under (nil: the main checkout).
  package var workspace: String? = nil
  /// Delete what kiln made for instances gone from the graph (not for `kiln exec`,
  /// whose graph is one step, not the whole build, nor for a dry run).
  package var removeStaleOutputs = true
  /// Depths of the pools instances name (`TaskInstance.pool`, ninja's `pool`).
  package var pools: [String: Int] = [:]
  /// What the snapshot for the next build's "nothing changed" check needs from the
  /// caller; nil: no snapshot.
  package var snapshot: SnapshotRequest? = nil
  /// The checkout's HEAD commit, recorded with the build.
  package var commit: String? = nil
  /// The local cache's size on disk, asked once at the end of a build that stored
  /// something in the cache (nil: not measured).
  package var cacheSize: (@Sendable () -> Int64?)? = nil
  /// What the remote cache did during the build, asked once at its end; nil: none
  /// configured (or it was never asked).
  package var remoteTraffic: (@Sendable () -> RemoteTraffic?)? = nil
  /// Files known to have changed since the last build (the snapshot's first find):
  /// the instances that read or write one are decided first, so their commands start
  /// while the others are decided. Only the order changes; nothing is taken as decided.
  package var decideFirst: [String] = []
  /// What changed since the last build's snapshot, when a build can stand on the rest
  /// of it (`SnapshotDelta`): only the instances that used a changed file, and what
  /// depends on them, are decided; the others are up to date without their records
  /// being read; the snapshot is patched, not taken anew. Needs `snapshot`.
  package var delta: SnapshotDelta? = nil
  /// Whether this build was interrupted (Ctrl-C); polled by the loop.
  package var isInterrupted: @Sendable () -> Bool = { ProcessGroups.shared.isInterrupted }

  package init(jobs: Int) {
    self.jobs = max(1, jobs)
  }
}

/// What `Build` needs to write a `BuildSnapshot`.
package struct SnapshotRequest: Sendable {
  /// What parsing and expanding the build file looked at (the file, folders listed).
  package var expansion: [SnapshotEntry]
  /// Printed before the build; printed again when the snapshot stands in for it.
  package var warnings: [String]
  /// Which build the snapshot answers for (`BuildSnapshot.targetsKey`); nil: the
  /// build's own targets. `kiln ninja` asks before parsing, by its command line's.
  package var targetsKey: String?
  /// The seal of the graph cache file the graph came from (`BuildSnapshot.graphSeal`).
  package var graphSeal: Digest?
  /// The globs expansion matched (`BuildSnapshot.filter`).
  package var filter = ListingFilter([])

  package init(expansion: [SnapshotEntry], warnings: [String]) {
    self.expansion = expansion
    self.warnings = warnings
  }
}

/// What a build did.
package struct BuildResult: Sendable {
  package var summary = BuildSummary()
  package var reports: [TaskReport] = []
  package var interrupted = false
  /// Instances a dry run predicted would restore or run, dependencies first.
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

/// The driver: one loop that owns the build's state. It asks the plan (`BuildPlan`)
/// what to decide and what to start, decides up-to-dateness itself (`Rebuilder`),
/// hands the rest to the executor in up to `jobs` child tasks, and gives every result
/// to the recorder (ninja's Builder). A dry run is the same loop with a
/// `DryRunExecutor` and a `DryRunRecorder`.
package final class Build {
  private let graph: TaskGraph
  private let root: String
  private let fileSystem: any FileSystem
  private let clock: any TimeSource
  private let environment: [String: String]
  private let statCache: StatCache
  private let recorder: any BuildRecorder
  private let executor: any TaskExecutor
  private let observer: any BuildObserver
  private let keyRoots: KeyRoots

  /// `keyRoots`: folders written out of keys; default: the workspace root.
  package init(graph: TaskGraph, root: String, fileSystem: any FileSystem, clock: any TimeSource,
               environment: [String: String], statCache: StatCache, recorder: any BuildRecorder,
               executor: any TaskExecutor, observer: any BuildObserver, keyRoots: KeyRoots? = nil) {
    self.keyRoots = keyRoots ?? KeyRoots([root])
    self.graph = graph
    self.root = root
    self.fileSystem = fileSystem
    self.clock = clock
    self.environment = environment
    self.statCache = statCache
    self.recorder = recorder
    self.executor = executor
    self.observer = observer
  }

  package func run(_ options: BuildOptions) async throws -> BuildResult {
    // Standing on the snapshot: the instances it found unchanged need no record.
    let graph = self.graph
    let recorder = self.recorder
    var partial: PartialBuild?
    if let delta = options.delta, options.snapshot != nil {
      partial = PartialBuild(delta, graph: graph, selected: graph.closure(ofTasks: options.targets ?? graph.defaultTasks).indices)
      // Not this graph's: every instance is decided, so every record is read, at once.
      if partial == nil { _ = recorder.records }
    }
    var plan = try BuildPlan(graph: graph, targets: options.targets, pools: options.pools, durationAt: { i in
      if let partial, !partial.affected[i] { return nil }
      return recorder.record(graph[i].id)?.duration
    })
    if let partial {
      plan.preferForDeciding(partial.seeds)
    } else if !options.decideFirst.isEmpty {
      plan.preferForDeciding(instances(touching: options.decideFirst, in: plan.selected))
    }
    let started = clock.wallNanoseconds()
    try recorder.begin()
    // Stale outputs went when the snapshot was taken, and the graph is the same.
    if options.removeStaleOutputs, partial == nil {
      try StaleOutputs(graph: graph, root: root, fileSystem: fileSystem, statCache: statCache).remove(using: recorder)
    }
    if let partial {
      observer.buildStandsOnSnapshot(decided: partial.count, total: plan.total, changed: partial.delta.changedPaths)
    }
    let loop = Loop(build: self, plan: plan, options: options, partial: partial)
    // On the thread that waits for the children (`ChildWatcher`): a child's exit, its
    // collection, the loop's next decision and the next spawn happen there, with no
    // hand-over between threads (docs/benchmarks.md, issue 16's fifteenth round).
    try await withTaskExecutorPreference(ChildWatcher.executor) { try await loop.drive() }
    plan = loop.plan
    var result = loop.result
    if let partial {
      // What the instances taken as up to date saved: the snapshot's sum per task, less
      // what the decided ones had recorded (they counted themselves).
      var less: [String: Double] = [:]
      for p in loop.previous { less[graph[p.i].id.task, default: 0] += p.duration }
      for t in partial.delta.snapshot.tasks where loop.upToDate.count[t.name] != nil {
        loop.upToDate.saved[t.name, default: 0] += max(0, t.saved - less[t.name, default: 0])
      }
    }
    result.summary.wallTime = clock.monotonic() - loop.startTime
    result.summary.exitStatus = result.interrupted ? 130 : (result.summary.failed > 0 ? 1 : 0)
    result.wouldRun.sort { graph.index(of: $0.id) ?? 0 < graph.index(of: $1.id) ?? 0 }
    var entry = BuildHistoryEntry(
      started: Double(started) / 1e9, finished: Double(clock.wallNanoseconds()) / 1e9,
      targets: options.targets ?? graph.defaultTasks ?? [], workspace: options.workspace, summary: result.summary,
      upToDate: loop.upToDate.order.map { .init(task: $0, count: loop.upToDate.count[$0]!, saved: loop.upToDate.saved[$0]!) },
      outcomes: loop.outcomes, stats: statCache.changes(), commit: options.commit, jobs: options.jobs)
    // The records the snapshot describes, read before the recorder is handed over.
    let decidedRecords = partial.map { partial in
      plan.selected.filter { partial.affected[$0] }.map { (i: $0, record: recorder.record(graph[$0].id)) }
    }
    let allRecords = options.snapshot != nil && partial == nil ? recorder.records : [:]
    // The records and the history entry are committed on kiln's worker thread, after
    // the stores handed to it (the entry counts the cache's size once they are in),
    // while this thread makes the snapshot; the loop is over, and nothing else uses
    // the recorder meanwhile. With a remote cache, the entry counts the uploads too,
    // so it waits for them here.
    let commit: Eventually<(any Error)?>?
    if options.remoteTraffic == nil {
      let handed = Handed(recorder)
      let cacheSize = loop.stored.isEmpty ? nil : options.cacheSize
      let committing = entry
      let done = Eventually<(any Error)?>()
      WorkerThread.shared.run {
        var entry = committing
        entry.cacheBytes = cacheSize?()
        do {
          try handed.value.commit(entry)
          done.fulfil(nil)
        } catch {
          done.fulfil(error)
        }
      }
      commit = done
    } else {
      commit = nil
    }
    var snapshot = SnapshotUpdate.keep
    if let request = options.snapshot {
      let taken = if let partial, let decidedRecords {
        patchSnapshot(partial, for: request, plan: plan, result: result, previous: loop.previous,
                      records: decidedRecords)
      } else {
        takeSnapshot(for: request, plan: plan, result: result, records: allRecords, options: options)
      }
      snapshot = loop.unrecorded ? .remove : taken.map { .replace($0) } ?? .remove
    }
    for warning in await loop.finishStores() { observer.warning(warning) }
    // Once every store is done: an entry withdrawn is not stored after.
    loop.withdrawOverwritten()
    if let commit {
      if let error = await commit.value { throw error }
    } else {
      entry.cacheBytes = loop.stored.isEmpty ? nil : options.cacheSize?()
      entry.remote = options.remoteTraffic?()
      try recorder.commit(entry)
    }
    recorder.finish(snapshot: snapshot)
    return result
  }

  /// The instances among `selected` that read or write one of `paths` (a few): a
  /// declared input, an input their last run discovered (a header), an output or the
  /// depfile. Compared with `==`, not hashed: 400 compiles' depfiles name 16,000 paths,
  /// and hashing them cost more than deciding the edited instance saves.
  private func instances(touching paths: [String], in selected: [Int]) -> [Int] {
    return selected.filter { i in
      let instance = graph[i]
      if instance.inputs.contains(where: paths.contains) || instance.outputs.contains(where: paths.contains) { return true }
      if let depfile = instance.depfile, paths.contains(depfile) { return true }
      return recorder.record(instance.id)?.discovered.contains { paths.contains($0.path) } ?? false
    }
  }

  /// The loop's state for one run: the plan, what has been decided, what ended.
  private final class Loop {
    let build: Build
    var plan: BuildPlan
    let options: BuildOptions
    let startTime: Double
    let rebuilder: Rebuilder
    var result = BuildResult()
    var stopping = false
    var failures = 0
    var prepared: [Int: (PreparedTask, [RerunReason])] = [:]
    /// When each instance that must restore or run became ready to (seconds since the
    /// start): what it then waited for a job slot is its start less this.
    var readyAt: [Int: Double] = [:]
    /// Per task name, in first-seen order: instances up to date and their recorded time.
    var upToDate: (order: [String], count: [String: Int], saved: [String: Double]) = ([], [:], [:])
    var outcomes: [OutcomeRow] = []
    /// Whether an instance ran without its result being recorded.
    var unrecorded = false
    /// The cache stores started and not yet waited for (`handOffStores`).
    var storing: [Eventually<[String]>] = []
    /// Results that ended and whose declared inputs are still to be checked
    /// (`verified`): their record, and the job's result with its check.
    var unverified: [(record: TaskRecord, result: JobResult, check: @Sendable () -> String?)] = []
    /// Results stored in the cache by this build: key, instance, outputs with the stat
    /// each had when hashed.
    var stored: [(key: Digest, id: TaskID, outputs: [(String, FileStat)])] = []
    /// Batched instances the cache could not restore, per task, waiting for their batch.
    var toBatch: [String: [(i: Int, item: BatchItem)]] = [:]
    /// Per batched task: instances ready, not yet looked up in the cache.
    var probing: [String: Int] = [:]
    /// Batches made, waiting for a job slot.
    var formed: [[(i: Int, item: BatchItem)]] = []
    /// Results handed back unstored, to be stored once the commands they let start have
    /// started (`drive`).
    var toStore: [PendingStore] = []
    /// Instances a batch handed back (another process runs them): performed alone.
    var unbatched: [(i: Int, item: BatchItem)] = []
    var handedBack = Set<Int>()
    /// Lookups in flight beside the job slots (`TaskExecutor.lookUp`), and the instances
    /// they found no entry for, waiting for a job slot to run on.
    var lookingUp = 0
    var missed: [(i: Int, item: BatchItem)] = []
    /// Commands out on the remote executor: its own limit, not the job slots.
    var runningRemotely = 0
    /// An instance taken from the plan when no job slot was free (it could not be
    /// looked up ahead): the first to start.
    var held: (i: Int, item: BatchItem)?
    /// Standing on the snapshot: the instances to decide; the rest are up to date.
    let partial: PartialBuild?
    /// Standing on the snapshot: each decided instance's record before this build, as
    /// far as the snapshot counted it (its duration, in the sums per task) and the graph
    /// cache (its outputs).
    struct Previous {
      var i: Int
      var duration: Double
      var outputs: [String]?
    }
    var previous: [Previous] = []

    init(build: Build, plan: BuildPlan, options: BuildOptions, partial: PartialBuild?) {
      self.build = build
      self.plan = plan
      self.options = options
      self.partial = partial
      startTime = build.clock.monotonic()
      rebuilder = Rebuilder(statCache: build.statCache, inheritedEnvironment: build.environment, keyRoots: build.keyRoots)
    }

    var now: Double { build.clock.monotonic() - startTime }

    func drive() async throws {
      let observer = build.observer
      observer.buildStarted(total: plan.total)
      if observer.wantsPlan {
        var expected: [TaskID: Double] = [:]
        for i in plan.selected where partial?.affected[i] ?? true {
          expected[build.graph[i].id] = build.recorder.record(build.graph[i].id)?.duration ?? 0
        }
        observer.buildPlanned(expected: expected, jobs: options.jobs)
      }
      try await withThrowingTaskGroup(of: Finished.self) { group in
        var running = 0
        // Results whose declared inputs are being checked (`JobResult.inputCheck`).
        var verifying = 0
        // Whether a store of entries alone is in flight (at most one).
        var storingEntries = false
        // Standing on the snapshot: the files the instances still waiting to be decided
        // will look at, stat'ed while the first commands run (deciding everything did it
        // then; now it would fall between a command's end and the next one's start).
        var warming = partial.map { self.filesToWarm($0) } ?? []
        while true {
          while let i = plan.nextToDecide() {
            if stopping { plan.abandon(i) } else { try decide(i) }
            // A command that must run starts as soon as it is decided: it runs while
            // the rest are decided (they are decided in the order they would start).
            if running < options.jobs || lookingUp < build.executor.lookupsAhead
              || runningRemotely < build.executor.remoteJobs, plan.hasReady {
              let out = running + lookingUp + runningRemotely
              start(in: &group, running: &running)
              // The job just added runs on this thread (`ChildWatcher`) only once this
              // task lets go of it: now, so that its command starts before the rest are
              // decided, not after (an edit build decided 416 instances up to date
              // before it started the one compile it had to run).
              if running + lookingUp + runningRemotely > out { await Task.yield() }
            }
          }
          if !warming.isEmpty {
            let statCache = build.statCache
            let paths = warming
            warming = []
            // Beside the loop: on Swift's pool, not on the loop's thread (`ChildWatcher`).
            group.addTask(executorPreference: globalConcurrentExecutor) {
              for path in paths { _ = try? statCache.observe(path) }
              return .warmed
            }
          }
          if options.isInterrupted() { interrupt() }
          if !stopping { formBatches() }
          start(in: &group, running: &running)
          // Results whose inputs are still to be checked, after what they let start
          // (a child task: on another thread when one is free, else after the starts).
          for (record, r, check) in unverified {
            group.addTask { .verified(record, r, check()) }
            verifying += 1
          }
          unverified.removeAll()
          // The records of what ended, once what it let start has started.
          try build.recorder.flush()
          handOffStores()
          // Entries alone (remote hits) are stored together, one such store at a time
          // (a transaction of the action database each): those that come meanwhile
          // wait for the next.
          if !toStore.isEmpty, !storingEntries {
            let entries = toStore, executor = build.executor
            group.addTask { .storedEntries(await executor.store(entriesOnly: entries)) }
            storingEntries = true
            toStore.removeAll()
          }
          if running == 0 && lookingUp == 0 && runningRemotely == 0 && verifying == 0 && !storingEntries {
            // Stopping: what waited to run in a batch or for a slot never starts.
            for (_, waiting) in toBatch { for w in waiting { plan.abandon(w.i) } }
            for batch in formed { for w in batch { plan.abandon(w.i) } }
            for w in unbatched + missed { plan.abandon(w.i) }
            if let held { plan.abandon(held.i) }
            break
          }
          guard let finished = try await group.next() else { break }
          switch finished {
          case .warmed: continue
          case .storedEntries(let warnings):
            storingEntries = false
            for w in warnings { observer.warning(w) }
            continue
          case .verified(let record, let r, let changed):
            verifying -= 1
            try verified(record, r, changed: changed)
            continue
          case .remote(let i, let r, let reasons, let started, let end):
            runningRemotely -= 1
            try ended(i, r, startReasons: reasons, started: started - startTime, finished: end - startTime)
            continue
          case .lookedUp(let i, let r, let warnings, let item, let started, let end):
            lookingUp -= 1
            for w in warnings { observer.warning(w) }
            if let r {
              try ended(i, r, startReasons: item.reasons, started: started - startTime, finished: end - startTime)
            } else {
              missed.append((i, item))
            }
            continue
          default: running -= 1
          }
          switch finished {
          case .lookedUp, .remote, .warmed, .verified, .storedEntries: break
          case .one(let i, let r, let reasons, let started, let end):
            try ended(i, r, startReasons: reasons, started: started - startTime, finished: end - startTime)
          case .probed(let i, let r, let reasons, let warnings, let item, let started, let end):
            probing[item.task.instance.id.task, default: 1] -= 1
            for w in warnings { observer.warning(w) }
            if let r {
              try ended(i, r, startReasons: reasons, started: started - startTime, finished: end - startTime)
            } else {
              toBatch[item.task.instance.id.task, default: []].append((i, item))
            }
          case .batch(let batch, let results, let started, let end):
            for (k, (i, item)) in batch.enumerated() {
              if let r = results[k] {
                try ended(i, r, startReasons: item.reasons, started: started - startTime, finished: end - startTime)
              } else {
                // Another kiln process runs it now: waited for alone, like any instance.
                handedBack.insert(i)
                unbatched.append((i, item))
              }
            }
          }
        }
      }
    }

    /// Starts what may start, up to `options.jobs` running: formed batches, instances
    /// a batch handed back, instances a lookup found no entry for, then ready instances,
    /// longest path first; those the executor looks up ahead go to a lookup while
    /// fewer than its `lookupsAhead` are in flight, slot or none.
    private func start(in group: inout ThrowingTaskGroup<Finished, any Error>, running: inout Int) {
      let executor = build.executor
      let clock = build.clock
      let ahead = executor.lookupsAhead
      let remoteSlots = executor.remoteJobs
      while !stopping {
        let slot = running < options.jobs
        let remoteSlot = runningRemotely < remoteSlots
        if slot, !formed.isEmpty {
          let batch = formed.removeFirst()
          running += 1
          group.addTask {
            let started = clock.monotonic()
            let results = await executor.performBatch(batch.map(\.item))
            return .batch(batch, results, started, clock.monotonic())
          }
          continue
        }
        let i: Int, item: BatchItem
        if slot, let handed = unbatched.popLast() {
          (i, item) = handed
        } else if let k = missed.firstIndex(where: { slot || (remoteSlot && executor.runsRemotely($0.item.task)) }) {
          (i, item) = missed.remove(at: k)
          perform(i, item, lookedUp: true, remotely: remoteSlot && executor.runsRemotely(item.task), in: &group, running: &running)
          continue
        } else if let taken = held {
          (i, item) = taken
          held = nil
        } else if slot || remoteSlot || lookingUp < ahead, let next = plan.nextToStart() {
          let (task, reasons) = prepared.removeValue(forKey: next)!
          (i, item) = (next, BatchItem(task: task, reasons: reasons, previous: build.recorder.record(task.instance.id)))
          build.observer.taskStarted(task.instance, reasons: reasons)
        } else {
          break
        }
        let task = item.task, reasons = item.reasons, previous = item.previous
        if lookingUp < ahead, !handedBack.contains(i), executor.looksUpAhead(task) {
          lookingUp += 1
          group.addTask {
            let started = clock.monotonic()
            let (r, more, warnings) = await executor.lookUp(task, reasons: reasons)
            return .lookedUp(i, r, warnings, BatchItem(task: task, reasons: more, previous: previous), started, clock.monotonic())
          }
          continue
        }
        if remoteSlot, !handedBack.contains(i), executor.runsRemotely(task) {
          perform(i, item, lookedUp: false, remotely: true, in: &group, running: &running)
          continue
        }
        guard slot else {
          held = (i, item)
          break
        }
        if task.instance.batch != nil, !handedBack.contains(i) {
          running += 1
          group.addTask {
            let started = clock.monotonic()
            let (r, more, warnings) = await executor.restoreBatched(task, reasons: reasons)
            return .probed(i, r, more, warnings, BatchItem(task: task, reasons: more, previous: previous), started, clock.monotonic())
          }
          continue
        }
        perform(i, item, lookedUp: false, remotely: false, in: &group, running: &running)
      }
    }

    /// Starts `item` on a job slot (`running`) or, `remotely`, on one of the remote
    /// executor's (`runningRemotely`).
    private func perform(_ i: Int, _ item: BatchItem, lookedUp: Bool, remotely: Bool,
                         in group: inout ThrowingTaskGroup<Finished, any Error>, running: inout Int) {
      let executor = build.executor
      let clock = build.clock
      if remotely { runningRemotely += 1 } else { running += 1 }
      group.addTask {
        let started = clock.monotonic()
        let r = await executor.perform(item.task, reasons: item.reasons, previous: item.previous, lookedUp: lookedUp)
        return remotely ? .remote(i, r, item.reasons, started, clock.monotonic())
          : .one(i, r, item.reasons, started, clock.monotonic())
      }
    }

    /// What a child task of the loop hands back.
    enum Finished: Sendable {
      /// An instance performed alone.
      case one(Int, JobResult, [RerunReason], Double, Double)
      /// A batched instance looked up in the cache: its result if restored, else nil and
      /// what its batch needs; the warnings to show.
      case probed(Int, JobResult?, [RerunReason], [String], BatchItem, Double, Double)
      /// An instance performed on the remote executor's slots (`TaskExecutor.runsRemotely`).
      case remote(Int, JobResult, [RerunReason], Double, Double)
      /// An instance looked up ahead of a job slot: its result if restored, else nil
      /// (it waits for a slot to run on, with the reasons in the item); the warnings.
      case lookedUp(Int, JobResult?, [String], BatchItem, Double, Double)
      /// A batch's instances and their results (nil: to be performed alone).
      case batch([(i: Int, item: BatchItem)], [JobResult?], Double, Double)
      /// Entries alone stored together (`TaskExecutor.store(entriesOnly:)`); the warnings.
      case storedEntries([String])
      /// Files stat'ed ahead of the instances that will look at them.
      case warmed
      /// A result's declared inputs checked (`JobResult.inputCheck`): the one that
      /// changed while its command ran, if any.
      case verified(TaskRecord, JobResult, String?)
    }

    /// The declared inputs and outputs of the instances a build standing on the snapshot
    /// will decide once their dependencies end, but those a decided instance writes.
    private func filesToWarm(_ partial: PartialBuild) -> [String] {
      let graph = build.graph
      var paths: [String] = []
      for i in plan.selected where partial.affected[i] && !graph.dependencies[i].isEmpty {
        for path in graph[i].inputs + graph[i].outputs {
          if let p = graph.producers[path], partial.affected[p], p != i { continue }
          paths.append(path)
        }
      }
      return paths
    }

    /// Puts the batched instances that must run into batches: all of a task's at once
    /// when none of its ready instances is still being looked up, shared out over the
    /// job slots (`batch: true`), or `batch: N` at a time as soon as there are N.
    private func formBatches() {
      for (name, waiting) in toBatch where !waiting.isEmpty {
        guard let limit = waiting[0].item.task.instance.batch.map({ $0.limit }) else { continue }
        let settled = probing[name, default: 0] == 0
        guard settled || (limit.map { waiting.count >= $0 } ?? false) else { continue }
        let size = limit ?? (waiting.count + options.jobs - 1) / options.jobs
        // In the foreach's order (the graph's), whatever order the lookups ended in.
        var rest = waiting.sorted { $0.i < $1.i }[...]
        while rest.count >= size || (settled && !rest.isEmpty) {
          formed.append(Array(rest.prefix(size)))
          rest = rest.dropFirst(size)
        }
        toBatch[name] = Array(rest)
      }
    }

    /// A task failed: the build stops starting others unless it keeps going, and then
    /// only up to the failure limit.
    private func failed() {
      failures += 1
      if !options.keepGoing || options.failureLimit.map({ failures >= $0 }) == true { stopping = true }
    }

    private func interrupt() {
      stopping = true
      result.interrupted = true
    }

    /// Decides an instance whose dependencies have ended: skipped, predicted, up to
    /// date (ended at once), or ready for the executor.
    private func decide(_ i: Int) throws {
      let instance = build.graph[i]
      let at = now
      if let broken = plan.brokenDependency(of: i) {
        try end(i, TaskReport(id: instance.id, outcome: .skipped(dependencyFailed: build.graph[broken].id),
                              started: at, finished: at, command: instance.command), .skipped)
        return
      }
      if let dep = plan.predictedDependency(of: i) {
        // Its inputs would change: predicted without looking.
        let reasons: [RerunReason] = [.dependencyWillRun(build.graph[dep].id)]
        predict(i, TaskReport(id: instance.id, outcome: .ran(because: reasons, outputsChanged: true),
                              reasons: reasons, command: instance.command))
        return
      }
      if let partial, !partial.affected[i] {
        // Nothing it used changed, nor will any of its dependencies run: as the
        // snapshot found it.
        try end(i, TaskReport(id: instance.id, outcome: .upToDate, started: at, finished: at, command: instance.command),
                .succeeded)
        return
      }
      let task: PreparedTask
      do { task = try rebuilder.prepare(instance) } catch {
        try end(i, TaskReport(id: instance.id, outcome: .failed(.launchFailed("cannot hash inputs: \(error)")),
                              started: at, finished: at, command: instance.command), .failed)
        failed()
        return
      }
      let record = build.recorder.record(instance.id)
      if partial != nil { previous.append(Previous(i: i, duration: record?.duration ?? 0, outputs: record?.outputs.map(\.path))) }
      let reasons = rebuilder.reasons(task, record: record)
      if reasons.isEmpty {
        try end(i, TaskReport(id: instance.id, outcome: .upToDate, started: at, finished: at,
                              saved: record?.duration ?? 0, command: instance.command), .succeeded)
        return
      }
      prepared[i] = (task, reasons)
      readyAt[i] = now
      plan.markReady(i)
      // Counted until looked up in the cache: its batch waits for it.
      if instance.batch != nil { probing[instance.id.task, default: 0] += 1 }
    }

    /// A job came back.
    private func ended(_ i: Int, _ r: JobResult, startReasons: [RerunReason], started: Double, finished: Double) throws {
      if options.isInterrupted() {
        // Nothing half-done is recorded: a job that ended because of Ctrl-C counts
        // as not run; one that completed before it may still be kept.
        interrupt()
        if case .failed = r.outcome {
          plan.abandon(i)
          return
        }
      }
      for w in r.warnings { build.observer.warning(w) }
      let instance = build.graph[i]
      // A run may add reasons the loop could not know (cache disabled, path-dependent).
      let reasons: [RerunReason]
      if case .ran(let because, _) = r.outcome { reasons = because } else { reasons = startReasons }
      var report = TaskReport(id: instance.id, outcome: r.outcome, reasons: reasons, duration: r.duration,
                              stdout: r.stdout, stderr: r.stderr, started: started, finished: finished,
                              saved: { if case .restored = r.outcome { r.duration } else { 0 } }(),
                              command: instance.command, peakMemory: r.peakMemory, ready: readyAt[i])
      report.queued = r.queued
      report.ranRemotely = r.ranRemotely
      if r.predicted {
        predict(i, report)
      } else if case .failed = r.outcome {
        try end(i, report, .failed)
        failed()
      } else {
        if let record = r.record, let check = r.inputCheck {
          // Kept once checked, after its dependents have started (`verified`).
          unverified.append((record, r, check))
        } else if let record = r.record {
          try keep(record, r)
        } else {
          // Ran, but kept no record (an input or output changed meanwhile): the
          // manifest still holds the run before, which no snapshot may stand for.
          unrecorded = true
        }
        try end(i, report, .succeeded)
      }
    }

    /// Starts the stores of `toStore` but entries alone (remote hits, which the loop
    /// stores together), after the commands just started, so they start first; a store
    /// takes no job slot. They run beside the loop, which does not wait for them: the
    /// build's last stores run while its snapshot is made (`finishStores`).
    private func handOffStores() {
      let executor = build.executor
      for pending in toStore where !pending.isEntryOnly {
        storing.append(executor.startStore(pending))
      }
      toStore.removeAll { !$0.isEntryOnly }
    }

    /// Waits for every store `handOffStores` started; the warnings of those that
    /// failed (nothing stored).
    func finishStores() async -> [String] {
      var warnings: [String] = []
      for store in storing { warnings += await store.value }
      storing.removeAll()
      return warnings
    }

    /// A result's record put, and its outputs noted and handed to be stored.
    private func keep(_ record: TaskRecord, _ r: JobResult) throws {
      try build.recorder.put(record)
      if !r.stored.isEmpty { stored.append((record.key, record.id, r.stored)) }
      if let pending = r.pendingStore { toStore.append(pending) }
    }

    /// A result whose declared inputs were checked after its dependents started
    /// (`JobResult.inputCheck`): kept, or, where one changed while the command ran,
    /// neither recorded nor stored (the next build runs it again), as `Job.collect`
    /// does when it checks them itself.
    private func verified(_ record: TaskRecord, _ r: JobResult, changed: String?) throws {
      if let path = changed {
        build.observer.warning(Job.inputChanged(record.id, path))
        unrecorded = true
        if let pending = r.pendingStore { build.executor.discard(pending) }
      } else {
        try keep(record, r)
      }
    }

    /// A dry run's verdict for `i`: it would restore or run.
    private func predict(_ i: Int, _ report: TaskReport) {
      result.wouldRun.append(report)
      plan.finish(i, .predicted)
    }

    /// `i` ended: counted, its history row kept, the observer told.
    private func end(_ i: Int, _ report: TaskReport, _ state: BuildPlan.State) throws {
      switch report.outcome {
      case .upToDate:
        // Work done by an earlier build, not saved by this one: counted apart.
        result.summary.upToDate += 1
        let task = report.id.task
        if upToDate.count[task] == nil { upToDate.order.append(task) }
        upToDate.count[task, default: 0] += 1
        upToDate.saved[task, default: 0] += report.saved
      case .restored(let tier):
        // What the cache saved: the recorded run less the restore's own time.
        result.summary.restored += 1
        if tier == .remote { result.summary.restoredRemote += 1 }
        result.summary.timeSaved += max(0, report.saved - (report.finished - report.started))
      case .ran:
        result.summary.ran += 1
        if report.ranRemotely != nil { result.summary.ranRemotely += 1 }
      case .failed: result.summary.failed += 1
      case .skipped: result.summary.skipped += 1
      }
      if case .upToDate = report.outcome {} else {
        outcomes.append(OutcomeRow(
          task: report.id.description, outcome: report.outcome.kind,
          reasons: report.reasons.map(\.description).joined(separator: "; "),
          duration: report.duration, started: report.started, finished: report.finished,
          peakMemory: report.peakMemory, reasonKinds: report.reasons.map(\.kind).joined(separator: " "),
          ready: report.ready, queued: report.queued > 0 ? report.queued : nil))
        if let remote = report.ranRemotely {
          outcomes[outcomes.count - 1].ranOn = "remote"
          outcomes[outcomes.count - 1].remoteQueued = remote.queued
          outcomes[outcomes.count - 1].remoteExecuted = remote.executed
          outcomes[outcomes.count - 1].remoteUp = remote.bytesUp
          outcomes[outcomes.count - 1].remoteDown = remote.bytesDown
        }
      }
      result.reports.append(report)
      plan.finish(i, state)
      build.observer.taskFinished(report, done: plan.done, total: plan.total)
    }

    /// A stored output that changed after its task hashed it was written by something
    /// else in this build (a task writing it without declaring it): the cached bytes
    /// may not be its own command's. The entry goes; the record's digest no longer
    /// matches the file, so the next build runs the task again.
    func withdrawOverwritten() {
      for s in stored {
        guard let (path, _) = s.outputs.first(where: { build.fileSystem.lstat(Paths.join(build.root, $0.0)) != $0.1 })
        else { continue }
        build.executor.withdraw(s.key)
        build.observer.warning("\(s.id): output \(path) was changed by another task of this build after \(s.id) wrote it (an undeclared output?); its result is not cached")
      }
    }
  }

  /// The snapshot of a build that left every selected instance up to date; nil when
  /// there is none to take (a failure, an `always` task, a folder input, a file changed
  /// during the build, or one too recently changed to trust its stat whose content the
  /// build did not see). A file or listed folder too recent to trust is kept to be
  /// compared by content (`SnapshotEntry.recheck`): the outputs this build wrote are.
  /// Each entry names the instances that used it (`SnapshotEntry.users`), for the next
  /// build to decide those alone when it changes (`SnapshotDelta`).
  /// The recorder adds the manifest's own stat once it has committed.
  private func takeSnapshot(for request: SnapshotRequest, plan: BuildPlan, result: BuildResult,
                            records: [TaskID: TaskRecord], options: BuildOptions) -> BuildSnapshot? {
    guard Self.succeeded(result), let observed = statCache.observations() else { return nil }
    var tasks: [String: (count: Int, saved: Double)] = [:]
    var order: [String] = []
    var names = Set<String>()
    for i in plan.selected {
      let instance = graph[i]
      guard !instance.always, let record = records[instance.id] else { return nil }
      if tasks[instance.id.task] == nil { order.append(instance.id.task) }
      tasks[instance.id.task, default: (0, 0)].count += 1
      tasks[instance.id.task, default: (0, 0)].saved += record.duration
      names.formUnion(instance.hashEnvironment)
      // Tools are found on PATH: another PATH may name other programs.
      if !instance.tools.isEmpty { names.insert("PATH") }
    }
    guard var looks = merged(request.expansion, observed) else { return nil }
    for (k, i) in plan.selected.enumerated() {
      guard looks.attach(Int32(k), to: graph[i], records[graph[i].id]!) else { return nil }
    }
    var hidden = Set<String>()
    for record in records.values {
      for output in record.outputs { hidden.insert(output.path) }
    }
    let environmentNames = names.sorted()
    var snapshot = BuildSnapshot(
      root: root,
      targets: request.targetsKey ?? BuildSnapshot.targetsKey(options.targets), targetNames: options.targets ?? graph.defaultTasks ?? [],
      environmentNames: environmentNames,
      environmentDigest: BuildSnapshot.environmentDigest(environmentNames, environment),
      tasks: order.map { ($0, tasks[$0]!.count, tasks[$0]!.saved) }, warnings: request.warnings,
      entries: looks.entries)
    snapshot.instanceIDs = plan.selected.map { graph[$0].id.description }
    snapshot.hiddenDigest = GraphCache.digest(ofHidden: hidden)
    snapshot.graphSeal = request.graphSeal
    snapshot.filter = request.filter
    return snapshot
  }

  /// The snapshot of a build that stood on the last one (`SnapshotDelta`): the last
  /// snapshot with what this build looked at in place of what it held, and the decided
  /// instances' uses replaced by their new ones. nil as for `takeSnapshot`, and when a
  /// file this build looked at changed from what the snapshot held while an instance
  /// that used it was not decided (a file written that some undecided instance read
  /// without declaring it): the next build then decides everything.
  private func patchSnapshot(_ partial: PartialBuild, for request: SnapshotRequest, plan: BuildPlan,
                             result: BuildResult, previous: [Loop.Previous],
                             records known: [(i: Int, record: TaskRecord?)]) -> BuildSnapshot? {
    guard Self.succeeded(result), let observed = statCache.observations() else { return nil }
    var snapshot = partial.delta.snapshot
    // The snapshot's positions of the decided instances.
    var decided = [Bool](repeating: false, count: snapshot.instanceIDs.count)
    var decidedIndices: [(k: Int32, i: Int)] = []
    for i in plan.selected where partial.affected[i] {
      let k = partial.position[i]
      guard k >= 0 else { return nil }
      decided[Int(k)] = true
      decidedIndices.append((k, i))
    }
    // Expansion's looks are the snapshot's own (the delta found none changed): kept.
    guard let fresh = merged([], observed) else { return nil }
    // The last snapshot's entries, their decided users taken off, each replaced by
    // what this build looked at where it looked; then what it looked at anew.
    var entries: [SnapshotEntry] = []
    entries.reserveCapacity(snapshot.entries.count + fresh.entries.count)
    // Where each of this build's looks went among `entries`.
    var placed = [Int](repeating: -1, count: fresh.entries.count)
    // Entries changed, or used by decided instances alone, that this build did not look
    // at again: dropped if no decided instance's new record names them either.
    var unusedUnlessNamed = Set<Int>()
    let changed = Set(partial.delta.changed)
    // Found to hold with another stat by the snapshot's comparison: kept with it.
    var held: [Int: (stat: FileStat, at: Int64)] = [:]
    for h in partial.delta.held { held[h.index] = (h.stat, h.at) }
    for (n, var e) in snapshot.entries.enumerated() {
      if let h = held[n] {
        e.stat = h.stat
        e.observedAt = h.at
        e.recheck = e.isRacy
      }
      let users = e.users
      // Only where a decided instance is among them: removing from the rest would copy
      // every entry's list (a thousand allocations for the one that changed).
      if users.contains(where: { decided[Int($0)] }) { e.users.removeAll { decided[Int($0)] } }
      guard let j = fresh.position(of: e.path, followsLinks: e.followsLinks) else {
        if e.users.isEmpty, changed.contains(n) || (!users.isEmpty && !e.expansion) {
          unusedUnlessNamed.insert(entries.count)
        }
        entries.append(e)
        continue
      }
      let f = fresh.entries[j]
      placed[j] = entries.count
      if f.kindOnly {
        if e.stat?.kind != f.stat?.kind { return nil }
        entries.append(e)
        continue
      }
      // Changed under an instance this build did not decide: it may read other bytes now.
      if !e.users.isEmpty, !StatTrust.same(e.stat, f.stat), e.digest != f.digest || f.digest == nil { return nil }
      var looked = f
      looked.users = e.users
      looked.expansion = e.expansion || f.expansion
      entries.append(looked)
    }
    for (j, f) in fresh.entries.enumerated() where placed[j] < 0 {
      placed[j] = entries.count
      entries.append(f)
    }
    // The decided instances' uses: their paths were looked at by this build (found
    // through its looks); any other is looked for among all the entries.
    var all: Looks?
    let listed = entries
    var byIndex: [Int: TaskRecord?] = [:]
    for k in known { byIndex[k.i] = k.record }
    let records = decidedIndices.map { byIndex[$0.i] ?? nil }
    for ((k, i), record) in zip(decidedIndices, records) {
      guard let record, !graph[i].always else { return nil }
      let agrees = Looks.attach(k, to: graph[i], record, in: &entries) { path in
        let stat = fresh.position(of: path, followsLinks: true), lstat = fresh.position(of: path, followsLinks: false)
        if stat != nil || lstat != nil { return (stat.map { placed[$0] }, lstat.map { placed[$0] }) }
        if all == nil {
          var index = Looks(capacity: listed.count)
          for e in listed { index.add(e) }
          all = index
        }
        return (all?.position(of: path, followsLinks: true), all?.position(of: path, followsLinks: false))
      }
      guard agrees else { return nil }
    }
    if !unusedUnlessNamed.isEmpty {
      entries = entries.indices.compactMap { unusedUnlessNamed.contains($0) && entries[$0].users.isEmpty ? nil : entries[$0] }
    }
    // The graph cache is compared with the records' outputs: the same while no decided
    // instance's changed; else the next build reads them all (no delta without it).
    var outputsBefore: [Int: [String]] = [:]
    for p in previous { outputsBefore[p.i] = p.outputs }
    for ((_, i), record) in zip(decidedIndices, records) where record?.outputs.map(\.path) != outputsBefore[i] {
      snapshot.hiddenDigest = nil
    }
    var saved: [String: Double] = [:]
    for p in previous { saved[graph[p.i].id.task, default: 0] -= p.duration }
    for ((_, i), record) in zip(decidedIndices, records) { saved[graph[i].id.task, default: 0] += record?.duration ?? 0 }
    snapshot.tasks = snapshot.tasks.map { ($0.name, $0.count, max(0, $0.saved + saved[$0.name, default: 0])) }
    snapshot.warnings = request.warnings
    snapshot.graphSeal = request.graphSeal
    snapshot.entries = entries
    return snapshot
  }

  private static func succeeded(_ result: BuildResult) -> Bool {
    let s = result.summary
    return !result.interrupted && s.exitStatus == 0 && s.failed == 0 && s.skipped == 0 && result.wouldRun.isEmpty
  }

  /// The looks of expansion (`expansion`) and of the build (`observed`) as snapshot
  /// entries, one per path and way of looking; nil when a path looked at twice was
  /// found different (it changed while the build ran) or is too recent to trust and
  /// has no digest to compare.
  private func merged(_ expansion: [SnapshotEntry], _ observed: [SnapshotEntry]) -> Looks? {
    var looks = Looks(capacity: expansion.count + observed.count)
    for (n, var e) in (expansion + observed).enumerated() {
      if n < expansion.count, !e.kindOnly { e.expansion = true }
      if !e.kindOnly, e.isRacy {
        // Changed moments before it was looked at (an output this build wrote): its
        // stat cannot show the next change, so the null build compares its content.
        guard e.digest != nil, e.stat?.kind == .file || e.stat?.kind == .directory else { return nil }
        e.recheck = true
      }
      if let j = looks.position(of: e.path, followsLinks: e.followsLinks) {
        let old = looks.entries[j]
        // Another kind the second time: it changed while the build ran. But for a file
        // this graph's tasks declare, found missing by a look at its kind alone and a
        // file when the build looked at it: the build made it (expansion asks whether an
        // input is there before a later round declares it, and the graph is the same
        // whatever it found). Kept as the file the build saw; before, a cold build or a
        // restore took no snapshot, and the first edit after it decided every instance.
        if old.stat?.kind != e.stat?.kind {
          guard old.kindOnly, old.stat == nil, !e.kindOnly, e.stat?.kind == .file, graph.producers[e.path] != nil
          else { return nil }
          looks.entries[j] = e
          continue
        }
        if e.kindOnly { continue }
        // Only its kind mattered to expansion; the build's verdicts need the rest.
        if old.kindOnly {
          looks.entries[j] = e
          continue
        }
        // Looked at twice and found different: it changed while the build ran.
        if !StatTrust.same(old.stat, e.stat) { return nil }
        // A folder a walk listed and the build looked at too: the build saw every name.
        if old.digest == nil || (old.filtered && !e.filtered && e.digest != nil) {
          looks.entries[j].digest = e.digest
          looks.entries[j].filtered = e.filtered
        }
        looks.entries[j].recheck = old.recheck || e.recheck
        looks.entries[j].expansion = old.expansion || e.expansion
        continue
      }
      looks.add(e)
    }
    // Outputs, and names only looked at (a depfile beside an object), after the
    // sources (`late`): the first change a comparison names is the edited source.
    for j in looks.entries.indices where looks.entries[j].kindOnly || graph.producers[looks.entries[j].path] != nil {
      looks.entries[j].late = true
    }
    return looks
  }
}

/// Snapshot entries being gathered, found by path: one map for stats and one for
/// lstats (no key string to build per entry).
private struct Looks {
  var entries: [SnapshotEntry] = []
  private var index: [String: Int] = [:], linkIndex: [String: Int] = [:]

  init(capacity: Int = 0) {
    entries.reserveCapacity(capacity)
    index.reserveCapacity(capacity)
  }

  func position(of path: String, followsLinks: Bool) -> Int? {
    followsLinks ? index[path] : linkIndex[path]
  }

  mutating func add(_ e: SnapshotEntry) {
    if e.followsLinks { index[e.path] = entries.count } else { linkIndex[e.path] = entries.count }
    entries.append(e)
  }

  /// Notes `user` (a position in the snapshot's `instanceIDs`) on the entries of every
  /// path its verdict reads: its declared inputs, outputs and depfile, and what its
  /// record holds (the inputs with the tools found, the discovered inputs, the outputs),
  /// each as a stat and as an lstat. False when the record holds another digest for a
  /// file than its entry: the file was written after the verdict read it (by a task
  /// that writes what another reads without declaring it), so the next build must
  /// find the instance out of date, and no snapshot may say otherwise.
  mutating func attach(_ user: Int32, to instance: TaskInstance, _ record: TaskRecord) -> Bool {
    let (index, linkIndex) = (self.index, self.linkIndex)
    return Self.attach(user, to: instance, record, in: &entries) { path in (index[path], linkIndex[path]) }
  }

  /// `attach` over `entries`, a path's found by `position(path)` (as a stat, as an lstat).
  static func attach(_ user: Int32, to instance: TaskInstance, _ record: TaskRecord, in entries: inout [SnapshotEntry],
                     position: (String) -> (Int?, Int?)) -> Bool {
    var agrees = true
    func note(_ path: String, digest: Digest? = nil) {
      let (stat, lstat) = position(path)
      if let digest, let j = stat, !entries[j].kindOnly {
        // A missing file is recorded as the zero digest.
        let now = entries[j].digest ?? (entries[j].stat == nil ? .zero : nil)
        if let now, now != digest { agrees = false }
      }
      for j in [stat, lstat] {
        guard let j, entries[j].users.last != user else { continue }
        entries[j].users.append(user)
      }
    }
    for path in instance.inputs { note(path) }
    for path in instance.outputs { note(path) }
    if let depfile = instance.depfile { note(depfile) }
    for input in record.inputs { note(input.path, digest: input.digest) }
    for input in record.discovered { note(input.path, digest: input.digest) }
    for output in record.outputs { note(output.path, digest: output.kind == .file ? output.digest : nil) }
    return agrees
  }
}
