#if canImport(Glibc)
import Glibc
#endif
import KilnConfig
import KilnCore
import KilnEngine
import KilnRemoteCache
import KilnStore
import KilnSystem
import KilnWorkspaces

/// Everything a command needs to build: the manifest (opened once, created on first
/// use), its records and stat-cache entries loaded, the graph expanded, a `Build`
/// wired to the real executor or the dry-run one.
final class Session {
  let context: Context
  /// Every record; empty while `recordsAsNeeded`.
  private(set) var records: [TaskID: TaskRecord]
  /// The records are read as the build asks for them (`ManifestRecorder(loadingAsNeeded:)`),
  /// not all at once: a build standing on the snapshot (`SnapshotDelta`).
  private(set) var recordsAsNeeded = false
  let statEntries: [String: StatEntry]
  private var opened: Manifest?
  /// The remote cache of the last `build`, when one is configured.
  private(set) var remote: NetworkRemoteCache?
  /// The remote executor of the last `build`, when remote execution is configured.
  private(set) var remoteExecutor: NetworkRemoteExecutor?
  /// The build's sandbox server (`isolate: true`), started at its first isolated task.
  private(set) var sandboxServer: OnDemandSandboxServer?
  /// The stat cache and environment of the last `build` (`readRemoteBundle`).
  private(set) var buildStatCache: StatCache?
  private(set) var buildEnvironment: [String: String] = [:]

  /// Reads the manifest if the checkout has one; creates nothing. `.kiln/` is made
  /// only once the build file has been read and expanded without error (`manifest`).
  /// `readOnly` (commands that only look: `tasks`, `graph`, `manifest`): the manifest
  /// is opened for reading and never written, migrated or moved aside; one that cannot
  /// be read counts as empty.
  /// `statCache`: false for commands that build nothing (`kiln stats`), which need no
  /// stat-cache entries (a table of one row per file ever hashed).
  /// `recordsAsNeeded`: no record is read here (`recordsAsNeeded`).
  /// `statsFrom`: the snapshot a build stands on (`SnapshotDelta`), whose every entry
  /// was just compared with the disk: its files' digests stand in for the stat-cache
  /// table, which is not read (a row per file ever hashed; a quarter of a 400-unit
  /// edit build's time to its first command).
  init(_ context: Context, readOnly: Bool = false, statCache: Bool = true, recordsAsNeeded: Bool = false,
       statsFrom snapshot: BuildSnapshot? = nil) throws {
    self.context = context
    try context.checkStateFolder()
    var records: [TaskID: TaskRecord] = [:]
    var stats: [String: StatEntry] = [:]
    if readOnly {
      if context.fileSystem.lstat(context.layout.manifest) != nil,
         let manifest = try? Manifest(readingOnly: context.layout.manifest) {
        records = (try? manifest.loadRecords()) ?? [:]
      }
      self.records = records
      statEntries = [:]
      return
    }
    if context.fileSystem.lstat(context.layout.manifest) != nil {
      var manifest = try Self.open(context)
      do {
        if recordsAsNeeded {
          self.recordsAsNeeded = true
        } else {
          records = try manifest.loadRecords()
        }
        if let snapshot {
          stats = Self.statEntries(of: snapshot, trustedAt: context.clock.wallNanoseconds())
        } else if statCache {
          stats = try manifest.loadStatCache()
        }
      } catch {
        // Damage found only by reading (a malformed page): moved aside, start anew.
        records = [:]
        self.recordsAsNeeded = false
        stats = [:]
        guard error.movedAside != nil else { throw CLIError("kiln: \(error)") }
        Self.sayMovedAside(error, context)
        manifest = try Self.open(context)
      }
      opened = manifest
    }
    self.records = records
    statEntries = stats
  }

  /// The stat-cache entries a snapshot's files give: those looked at with links
  /// followed, files with a digest, not to be compared again (`recheck`). Each was
  /// found unchanged just now, and was old enough to trust when the snapshot took it
  /// (else it would be `recheck`). The file keeps that verdict, not the moment
  /// (`observedAt` reads back 0): recorded as of `now`, when it was compared.
  static func statEntries(of snapshot: BuildSnapshot, trustedAt now: Int64) -> [String: StatEntry] {
    var stats: [String: StatEntry] = [:]
    stats.reserveCapacity(snapshot.entries.count)
    for e in snapshot.entries where e.followsLinks && !e.kindOnly && !e.recheck {
      guard let digest = e.digest, let st = e.stat, st.kind == .file else { continue }
      stats[e.path] = StatEntry(size: st.size, mtime: st.mtime, ctime: st.ctime, inode: st.inode, digest: digest,
                                recorded: now)
    }
    return stats
  }

  /// The manifest, created on first use.
  var manifest: Manifest {
    get throws {
      if let opened { return opened }
      let m = try Self.open(context)
      opened = m
      return m
    }
  }

  /// Opens (creating) the manifest; a damaged one is moved aside, said, and started anew.
  private static func open(_ context: Context) throws -> Manifest {
    do { try OwnFile.stateFolder(context.layout.folder) } catch { throw CLIError("kiln: \(error)") }
    let keep = try context.historyLimit()
    let m: Manifest
    do {
      m = try Manifest(context.layout)
    } catch where error.movedAside != nil {
      // Derived state: a damaged file is set aside and the build goes on with a new one.
      sayMovedAside(error, context)
      do { m = try Manifest(context.layout) } catch { throw CLIError("kiln: \(error)") }
    } catch {
      throw CLIError("kiln: \(error)")
    }
    m.keepBuilds = keep
    return m
  }

  private static func sayMovedAside(_ error: DatabaseError, _ context: Context) {
    guard error.movedAside != "" else { return }  // the process that moved it said so
    func shown(_ path: String) -> String { Paths.relative(path, to: context.root).flatMap { $0.isEmpty ? nil : $0 } ?? path }
    Terminal.error("kiln: \(shown(error.path)) was damaged (\(error.message)); moved it aside to "
      + "\(shown(error.movedAside ?? "")) and started a new one (outputs come back from the cache)")
  }

  func graph() throws -> TaskGraph {
    loadAllRecords()
    return try context.graph(hiding: hiddenOutputs)
  }

  /// Reads every record, if they were left to be read as needed.
  private func loadAllRecords() {
    guard recordsAsNeeded else { return }
    recordsAsNeeded = false
    if let opened { records = (try? opened.loadRecords()) ?? [:] }
  }

  /// The one way commands delete what kiln wrote (`OwnedOutputs`), over this session's
  /// stat-cache entries.
  var ownedOutputs: OwnedOutputs {
    let statCache = StatCache(entries: statEntries, root: context.root, fileSystem: context.fileSystem, clock: context.clock)
    return OwnedOutputs(root: context.root, fileSystem: context.fileSystem, statCache: statCache)
  }

  /// Every output the records name: globs leave them out unless declared again.
  var hiddenOutputs: Set<String> {
    var hidden = Set<String>()
    for record in records.values {
      for output in record.outputs { hidden.insert(output.path) }
    }
    return hidden
  }

  /// The graph, and every file and folder reading the build file and expanding its
  /// globs looked at (workspace-relative where inside the workspace), for the snapshot.
  /// From the graph cache when the build file and the folders it globs are unchanged.
  /// `overrides` (`kiln build NAME=value`): the graph of this build alone, expanded
  /// anew, neither read from nor kept in the graph cache. `candidate`: the graph cache
  /// already read and checked on disk (`graphCacheCandidate`, while the records
  /// loaded); nil: read here.
  /// `recordsAsNeeded`: the graph cache is compared with `hiddenDigest`, the snapshot's
  /// digest of the records' outputs (`BuildSnapshot.hiddenDigest`); if it does not hold,
  /// every record is read and `recordsAsNeeded` is false after.
  func observedGraph(overriding overrides: [EnvironmentVariable] = [],
                     candidate: GraphCache.Candidate?? = nil, hiddenDigest known: Digest? = nil) throws -> (TaskGraph, [SnapshotEntry]) {
    let fs = context.fileSystem
    graphSeal = nil
    graphFilter = ListingFilter([])
    if recordsAsNeeded, overrides.isEmpty, let known,
       let (cache, entries, seal) = GraphCache.reuseSealed(candidate ?? Self.graphCacheCandidate(context),
                                                           at: context.layout.graphCache, hiddenDigest: known,
                                                           fileSystem: fs) {
      graphSeal = seal
      graphFilter = cache.filter
      return (cache.graph, entries)
    }
    loadAllRecords()
    let hidden = hiddenOutputs
    if !overrides.isEmpty { return (try context.graph(hiding: hidden, overriding: overrides), []) }
    let hiddenDigest = GraphCache.digest(ofHidden: hidden)
    let cachePath = context.layout.graphCache
    let found = candidate ?? Self.graphCacheCandidate(context)
    if let (cache, entries, seal) = GraphCache.reuseSealed(found, at: cachePath, hiddenDigest: hiddenDigest, fileSystem: fs) {
      graphSeal = seal
      graphFilter = cache.filter
      return (cache.graph, entries)
    }
    let observing = ObservingFileSystem(fs, clock: context.clock)
    let graph = try context.graph(hiding: hidden, using: observing)
    graphFilter = observing.listingFilter
    guard fs.stat(context.layout.folder)?.kind == .directory else {
      unwrittenGraphCache = (observing, graph, hiddenDigest)
      return (graph, observing.looks.map { SnapshotEntry($0, in: context.root) })
    }
    let stored = GraphCache.storeSealed(at: cachePath, root: context.root, hiddenDigest: hiddenDigest,
                                        observing: observing, graph: graph, fileSystem: fs)
    graphSeal = stored.seal
    return (graph, stored.entries)
  }

  /// The graph cache `observedGraph` did not write for want of the state folder (the
  /// first build of a fresh checkout makes `.kiln/` only once its build file expanded).
  private var unwrittenGraphCache: (ObservingFileSystem, TaskGraph, Digest)?

  /// Writes the graph cache `observedGraph` left unwritten, now that the build made the
  /// state folder: else the build after, the first edit in a fresh worktree, found no
  /// graph cache, read every record and decided every instance.
  func writeGraphCacheLeftUnwritten() {
    guard let (observing, graph, hidden) = unwrittenGraphCache,
          context.fileSystem.stat(context.layout.folder)?.kind == .directory
    else { return }
    unwrittenGraphCache = nil
    graphSeal = GraphCache.storeSealed(at: context.layout.graphCache, root: context.root, hiddenDigest: hidden,
                                       observing: observing, graph: graph, fileSystem: context.fileSystem).seal
  }

  /// The seal (`Seal.digest(of:)`) of the graph cache file the last `observedGraph`
  /// came from or wrote, as it is on disk; nil when there is none or it is not known.
  private(set) var graphSeal: Digest?
  /// The globs of the graph the last `observedGraph` gave (`ListingFilter`): what its
  /// entries of folders a walk listed were digested through.
  private(set) var graphFilter = ListingFilter([])

  /// The graph cache of `context`'s build file, read and checked against the disk: all
  /// of `observedGraph`'s use of it but the comparison with the records' outputs, so it
  /// can run beside `Session.init` (each is about a fifth of an edit build's own work).
  /// `trusting`: the seal of the cache a snapshot just found unchanged was taken with
  /// (`GraphCache.candidate(at:root:fileSystem:clock:trusting:)`).
  static func graphCacheCandidate(_ context: Context, trusting seal: Digest? = nil) -> GraphCache.Candidate? {
    GraphCache.candidate(at: context.layout.graphCache, root: context.root, fileSystem: context.fileSystem,
                         clock: context.clock, trusting: seal)
  }

  /// `.kiln/unfinished` (`StateLayout.unfinished`): there while a build that writes
  /// outputs runs. Found at the start of the next one, it means that build was killed,
  /// perhaps between writing a temporary file beside an output and renaming it: the
  /// folders of the declared outputs (and folder outputs, whole) are cleared of what
  /// dead kiln processes left.
  func beginWriting(_ graph: TaskGraph) {
    let fs = context.fileSystem
    let marker = context.layout.unfinished
    if fs.lstat(marker) != nil {
      var folders = Set<String>()
      for instance in graph.instances {
        for output in instance.outputs + (instance.depfile.map { [$0] } ?? []) {
          folders.insert(Paths.parent(output))
          if fs.lstat(Paths.join(context.root, output))?.kind == .directory { folders.insert(output) }
        }
      }
      for folder in folders {
        let abs = Paths.join(context.root, folder)
        fs.removeLeftovers(in: abs)
        // Inside a folder output, every level (lstat walk: never through a link).
        if graph.producers[folder] != nil {
          var pending = [abs]
          while let dir = pending.popLast() {
            for name in fs.contents(ofDirectory: dir) ?? [] where fs.lstat(dir + "/" + name)?.kind == .directory {
              pending.append(dir + "/" + name)
              fs.removeLeftovers(in: dir + "/" + name)
            }
          }
        }
      }
    }
    _ = try? OwnFile.open(marker, O_WRONLY | O_CREAT, mode: 0o644).map { close($0) }
  }

  /// The build ended (failed or not) without being killed. The old outputs it renamed
  /// aside are unlinked first (`FileSystem.removeLater`, on the worker thread): once
  /// the marker is gone, a kill would leave them where no build sweeps them.
  func endWriting() {
    WorkerThread.shared.drain()
    try? context.fileSystem.remove(context.layout.unfinished)
  }

  /// A build of `graph`: restoring and running for real (recording into the manifest),
  /// or, with `dryRun`, only predicting, with nothing written.
  /// `actionCache`: the one to use (one opened ahead, `ActionCache.warm`); nil: the
  /// context's.
  func build(_ graph: TaskGraph, observer: any BuildObserver, useCache: Bool = true, dryRun: Bool = false,
             actionCache: ActionCache? = nil) throws -> Build {
    // Where a hook asked for this build's result is the hook's business, not the tasks'.
    var environment = context.environment
    environment[HookBuildResult.variable] = nil
    // The remote cache, when one is configured (nothing is asked of it yet).
    let remote = !dryRun && useCache ? try RemoteSetup.make(context) : nil
    self.remote = remote
    // Remote execution, when configured (it needs SHA-256 of every input it uploads).
    let remoteExecutor = !dryRun ? try RemoteSetup.makeExecutor(context) : nil
    self.remoteExecutor = remoteExecutor
    let statCache = StatCache(entries: statEntries, root: context.root, fileSystem: context.fileSystem, clock: context.clock,
                              takesSHA256: remote != nil || remoteExecutor != nil)
    buildStatCache = statCache
    buildEnvironment = environment
    var job = Job(root: context.root, fileSystem: context.fileSystem, runner: ShellProcessRunner(), clock: context.clock,
                  statCache: statCache, contentStore: context.contentStore,
                  actionCache: actionCache ?? context.actionCache, environment: environment, useCache: useCache)
    job.keyRoots = context.keyRoots
    let executor: any TaskExecutor
    let recorder: any BuildRecorder
    if dryRun {
      try context.checkCache()
      executor = DryRunExecutor(job)
      loadAllRecords()
      recorder = DryRunRecorder(records: records)
    } else {
      job.limits = try context.machineLimits()
      job.defersStores = true
      job.remote = remote
      job.remoteExecutor = remoteExecutor
      let sandboxServer = OnDemandSandboxServer(label: context.root)
      self.sandboxServer = sandboxServer
      job.sandboxServer = sandboxServer
      executor = job
      recorder = recordsAsNeeded
        ? ManifestRecorder(loadingAsNeeded: try manifest, snapshotPath: context.layout.snapshot, root: context.root,
                           fileSystem: context.fileSystem, clock: context.clock)
        : ManifestRecorder(manifest: try manifest, records: records, snapshotPath: context.layout.snapshot,
                           root: context.root, fileSystem: context.fileSystem, clock: context.clock)
    }
    return Build(graph: graph, root: context.root, fileSystem: context.fileSystem, clock: context.clock,
                 environment: environment, statCache: statCache, recorder: recorder, executor: executor,
                 observer: observer, keyRoots: context.keyRoots)
  }
}

/// The end-of-build line: counts and hit rate.
/// With `color`, what the cache saved is green and failures red.
func summaryLine(_ s: BuildSummary, color: Bool = false) -> String {
  func paint(_ text: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
  var parts = [s.ranRemotely > 0 ? "\(s.ran) ran (\(s.ranRemotely) remotely)" : "\(s.ran) ran", paint("\(s.restored) restored", "32"), paint("\(s.upToDate) up to date", "32")]
  if s.failed > 0 { parts.append(paint("\(s.failed) failed", "1;31")) }
  if s.skipped > 0 { parts.append("\(s.skipped) skipped") }
  let rate = s.hitRate.map { "hit rate \(String(format2: $0 * 100))%" } ?? "hit rate n/a"
  return "kiln: " + parts.joined(separator: ", ") + ", \(rate) in \(Duration.milliseconds(Int64(s.wallTime * 1000)).formattedSeconds)"
}

/// `--json`: one summary object; `remote`: what the remote cache did, when one was asked.
func summaryJSON(_ result: BuildResult, remote: RemoteTraffic? = nil) -> String {
  let s = result.summary
  let tasks = result.reports.map { r in
    JSON.object([
      ("id", JSON.string(r.id.description)), ("task", JSON.string(r.id.task)),
      ("outcome", JSON.string(r.outcome.kind)),
    ] + { if case .restored(let tier) = r.outcome { [("from", JSON.string(tier.rawValue))] } else { [] } }()
      + (r.ranRemotely.map { [("ran_on", JSON.string("remote")), ("remote_queued", JSON.number($0.queued)),
                               ("remote_executed", JSON.number($0.executed))] } ?? []) + [
      ("reasons", JSON.array(r.reasons.map { JSON.string($0.description) })),
      ("duration", JSON.number(r.duration)), ("started", JSON.number(r.started)),
      ("finished", JSON.number(r.finished)),
    ])
  }
  return JSON.object([
    ("version", "1"),
    ("exit_status", String(s.exitStatus)),
    ("ran", String(s.ran)), ("ran_remotely", String(s.ranRemotely)), ("restored", String(s.restored)),
    ("restored_remote", String(s.restoredRemote)), ("up_to_date", String(s.upToDate)),
    ("failed", String(s.failed)), ("skipped", String(s.skipped)),
    ("hit_rate", s.hitRate.map(JSON.number) ?? "null"),
    ("time_saved", JSON.number(s.timeSaved)), ("wall_time", JSON.number(s.wallTime)),
    ("interrupted", result.interrupted ? "true" : "false"),
    ("tasks", JSON.array(tasks)),
  ] + remoteJSON(remote))
}

/// `--json`'s `remote` object: lookups (`from_bundle` of them answered by the build's
/// bundle, the rest asked of the server one by one), hits, uploads, bundles uploaded,
/// requests the server was sent (HTTP requests or gRPC calls, of every kind).
private func remoteJSON(_ traffic: RemoteTraffic?) -> [(String, String)] {
  guard let t = traffic, t.lookups + t.uploads > 0 else { return [] }
  return [("remote", JSON.object([
    ("lookups", String(t.lookups)), ("from_bundle", String(t.bundled)), ("hits", String(t.hits)),
    ("uploads", String(t.uploads)), ("bundles_uploaded", String(t.bundles)), ("requests", String(t.requests)),
    ("bytes_down", String(t.bytesDown)), ("bytes_up", String(t.bytesUp)),
  ]))]
}

/// `kiln build -n --json`: what would restore and what would run, and why; `total` is
/// how many instances the targets hold.
func dryRunJSON(_ result: BuildResult, total: Int) -> String {
  func isRestore(_ r: TaskReport) -> Bool { if case .restored = r.outcome { true } else { false } }
  let tasks = result.wouldRun.map { r in
    JSON.object([
      ("id", JSON.string(r.id.description)), ("task", JSON.string(r.id.task)),
      ("outcome", JSON.string(isRestore(r) ? "would_restore" : "would_run")),
      ("reasons", JSON.array(r.reasons.map { JSON.string($0.description) })),
    ])
  }
  let restoring = result.wouldRun.filter(isRestore).count
  return JSON.object([
    ("version", "1"), ("dry_run", "true"), ("total", String(total)),
    ("would_restore", String(restoring)), ("would_run", String(result.wouldRun.count - restoring)),
    ("up_to_date", String(total - result.wouldRun.count)),
    ("tasks", JSON.array(tasks)),
  ])
}

/// Chrome trace JSON (chrome://tracing, Perfetto): one complete event per task.
/// Lanes (`tid`) are like job slots: a task takes the first lane free when it starts.
/// Up-to-date instances (no work done: zero-length events) share one lane of their own
/// below those, so none shows inside a task that ran, nor keeps a task off a lane.
func traceJSON(_ result: BuildResult) -> String {
  var laneEnds: [Double] = []
  var placed: [(report: TaskReport, lane: Int?)] = []
  for r in result.reports.sorted(by: { $0.started < $1.started }) {
    if case .upToDate = r.outcome {
      placed.append((r, nil))
      continue
    }
    let lane = laneEnds.firstIndex { $0 <= r.started } ?? laneEnds.count
    if lane == laneEnds.count { laneEnds.append(0) }
    laneEnds[lane] = max(r.finished, r.started + 0.000001)
    placed.append((r, lane))
  }
  let events = placed.map { r, lane in
    JSON.object([
      ("name", JSON.string(r.id.description)), ("cat", JSON.string(r.outcome.kind)), ("ph", JSON.string("X")),
      ("ts", JSON.number(r.started * 1e6)), ("dur", JSON.number(max(0, r.finished - r.started) * 1e6)),
      ("pid", "1"), ("tid", String((lane ?? laneEnds.count) + 1)),
      ("args", JSON.object([("outcome", JSON.string(r.outcome.kind)),
                            ("reasons", JSON.string(r.reasons.map(\.description).joined(separator: "; ")))])),
    ])
  }
  return JSON.object([("traceEvents", JSON.array(events)), ("displayTimeUnit", JSON.string("ms"))]) + "\n"
}
