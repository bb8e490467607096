/// What `kiln stats` reports, in every form (text, JSON, Prometheus, HTML): computed
/// once from the run history by `StatsReport.init(history:facts:window:)`, so every
/// form shows the same figures. Plain values only; no I/O.
package struct StatsReport: Sendable, Hashable {
  /// The JSON schema's version (`docs/stats-schema.md`).
  package static let schemaVersion = 2

  /// How many of the latest builds the figures over "the history" cover.
  package var window: Int
  package var last: BuildFigures?
  /// The builds of the window, oldest first.
  package var history: [BuildFigures] = []
  /// Totals over the window.
  package var total = Counts()
  package var perTask: [GroupFigures] = []
  package var perWorkspace: [GroupFigures] = []
  /// Per workspace since each manifest was made, not bounded by the history: what only
  /// grows (Prometheus counters).
  package var lifetime: [GroupFigures] = []
  /// The last build's slowest instances that ran, restored or failed, slowest first.
  package var slowest: [InstanceFigure] = []
  package var bottlenecks: [Bottleneck] = []
  package var sla: [SLAFinding] = []
  package var criticalPath: CriticalPath?
  package var regressions: [Regression] = []
  /// Instances that ran in the window, grouped by why (`RerunReason.kind`), most first.
  package var missReasons: [ReasonCount] = []
  /// The last build's instances that ran, restored, failed or were skipped, with the
  /// job slot each used (for a timeline), in start order.
  package var timeline: [TimelineBar] = []
  /// How many of the last build's instances were running (restoring or running) over
  /// its wall time: a step each time the number changed, from 0 s.
  package var busy: [BusyStep] = []
  /// The task `--task` kept (the figures are of its instances only), or nil.
  package var task: String?
  /// Bytes in the local cache and its files, when known.
  package var cacheBytes: Int64?
  package var cacheFiles: Int?
  /// What the remote cache did over the window; nil when no build asked one.
  package var remote: RemoteFigures?
  /// Where the window's commands ran (issue 19); nil when none ran on a remote worker.
  package var execution: ExecutionFigures?

  package init(window: Int) { self.window = window }
}

/// Commands run here and on remote workers over the window: how many, the seconds they
/// took (here: the run; remote: the worker's run, and the wait for a worker).
package struct ExecutionFigures: Sendable, Hashable {
  package var local = 0
  package var localSeconds = 0.0
  package var remote = 0
  package var remoteSeconds = 0.0
  package var remoteQueued = 0.0
  package var bytesUp: Int64 = 0
  package var bytesDown: Int64 = 0
  package init() {}
}

/// The remote cache's part of the window's builds (issue 18): the restores it gave, the
/// bytes it moved each way, the time spent on the network.
package struct RemoteFigures: Sendable, Hashable {
  /// Builds that asked the remote.
  package var builds = 0
  package var restored = 0
  package var bytesDown: Int64 = 0
  package var bytesUp: Int64 = 0
  package var seconds = 0.0
  package init() {}
}

/// ran / restored / up to date / failed / skipped, and what they add up to.
package struct Counts: Sendable, Hashable {
  package var ran = 0
  package var restored = 0
  package var upToDate = 0
  package var failed = 0
  package var skipped = 0
  /// Seconds the cache saved: each restored instance's recorded run time less what
  /// its restore took. Up-to-date instances saved nothing (their work was done by an
  /// earlier build): see `upToDateWork`.
  package var timeSaved = 0.0
  /// Seconds: the recorded run time of the instances that stayed up to date.
  package var upToDateWork = 0.0
  package var builds = 0
  /// Of `builds`, those in which every instance was up to date ("nothing to do"), and
  /// the up-to-date instances they hold: left out of `hitRate`.
  package var nothingToDo = 0
  package var nothingToDoUpToDate = 0

  package init() {}

  /// SPEC's (up to date + restored) / (up to date + restored + ran), over the builds
  /// that had something to do: a build where everything was up to date adds nothing
  /// (20 such builds would otherwise turn any hit rate into nearly 100%). nil when none.
  package var hitRate: Double? {
    let upToDate = self.upToDate - nothingToDoUpToDate
    let decided = upToDate + restored + ran
    return decided == 0 ? nil : Double(upToDate + restored) / Double(decided)
  }

  /// Whether these are one build's, in which every instance was up to date.
  package var isNothingToDo: Bool { ran + restored + failed + skipped == 0 }

  package static func + (a: Counts, b: Counts) -> Counts {
    var c = a
    c.ran += b.ran; c.restored += b.restored; c.upToDate += b.upToDate
    c.failed += b.failed; c.skipped += b.skipped; c.timeSaved += b.timeSaved; c.builds += b.builds
    c.upToDateWork += b.upToDateWork; c.nothingToDo += b.nothingToDo; c.nothingToDoUpToDate += b.nothingToDoUpToDate
    return c
  }
}

/// One build of the history.
package struct BuildFigures: Sendable, Hashable {
  package var id: Int64
  /// Seconds since the epoch.
  package var started: Double
  package var wallTime: Double
  package var workspace: String?
  package var exitStatus: Int32
  package var counts: Counts
  package var targets: String
  /// The checkout's HEAD commit (hex), its `-j`, and the local cache's size on disk
  /// after it (recorded only by a build that stored in the cache); nil when unknown.
  package var commit: String?
  package var jobs: Int?
  package var cacheBytes: Int64?

  package init(id: Int64, started: Double, wallTime: Double, workspace: String?, exitStatus: Int32, counts: Counts,
               targets: String = "", commit: String? = nil, jobs: Int? = nil, cacheBytes: Int64? = nil) {
    self.commit = commit
    self.jobs = jobs
    self.cacheBytes = cacheBytes
    self.id = id
    self.started = started
    self.wallTime = wallTime
    self.workspace = workspace
    self.exitStatus = exitStatus
    self.counts = counts
    self.targets = targets
  }
}

/// Figures for one task name or one workspace, over the window.
package struct GroupFigures: Sendable, Hashable {
  package var name: String
  package var counts: Counts
  /// Mean seconds of the instances that ran.
  package var meanRunTime: Double?

  package init(name: String, counts: Counts, meanRunTime: Double? = nil) {
    self.name = name
    self.counts = counts
    self.meanRunTime = meanRunTime
  }
}

/// One task instance of the last build.
package struct InstanceFigure: Sendable, Hashable {
  package var id: String
  package var task: String
  package var outcome: String
  package var duration: Double
  /// Seconds it waited for a job slot once ready to start (on the critical path).
  package var waited: Double = 0
}

/// Like compared with like: an instance of a `foreach` task that took more than 1.5x
/// the mean of its task's instances, or a task of one instance that took more than
/// 1.5x the mean of the build's other tasks of one instance.
package struct Bottleneck: Sendable, Hashable {
  package var id: String
  package var task: String
  package var duration: Double
  package var mean: Double
  /// "task": the mean of its task's instances; "tasks": of the tasks of one instance.
  package var basis: String
  /// How many durations the mean is of (this one included).
  package var peers: Int = 0
  package var ratio: Double { mean > 0 ? duration / mean : 0 }
}

/// An instance past 80% of its task's `sla` (a warning) or past 100% (a violation).
package struct SLAFinding: Sendable, Hashable {
  package var id: String
  package var task: String
  package var duration: Double
  package var sla: Double
  package var violation: Bool
  package var fraction: Double { sla > 0 ? duration / sla : 0 }
}

/// The chain of the last build that ended last: each instance's latest-finishing
/// dependency, back to the start.
package struct CriticalPath: Sendable, Hashable {
  package var steps: [InstanceFigure]
  /// Seconds: the durations along the chain, added up.
  package var length: Double
  package var wallTime: Double
  /// Seconds the steps waited for a job slot once ready, added up: how much longer
  /// than its chain the build was because every slot was busy.
  package var slotWait: Double = 0
  /// The build's `-j`, when recorded.
  package var jobs: Int?

  /// Whether waiting for a slot lengthened the build noticeably (1 ms, and 1% of it).
  package var slotLimited: Bool { slotWait >= 0.001 && slotWait >= 0.01 * wallTime }
}

/// From `time` on (seconds since the build started), `running` instances ran or restored.
package struct BusyStep: Sendable, Hashable {
  package var time: Double
  package var running: Int
  package init(time: Double, running: Int) {
    self.time = time
    self.running = running
  }
}

/// A task instance whose last run took well longer than its history's median.
package struct Regression: Sendable, Hashable {
  package var id: String
  package var task: String
  package var duration: Double
  package var median: Double
  /// How many earlier runs the median is of.
  package var samples: Int
  package var ratio: Double { median > 0 ? duration / median : 0 }
}

/// How many instances ran for one kind of reason, with a few of them.
package struct ReasonCount: Sendable, Hashable {
  package var kind: String
  package var count: Int
  package var examples: [String]
}

/// One instance on the last build's timeline.
package struct TimelineBar: Sendable, Hashable {
  package var id: String
  package var task: String
  package var outcome: String
  /// Seconds since the build started.
  package var started: Double
  package var finished: Double
  /// The row it is drawn in: overlapping instances get different rows (job slots).
  package var lane: Int
  package var onCriticalPath: Bool
}
