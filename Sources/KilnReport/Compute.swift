/// One build as the history recorded it: what `Manifest` reads back, in plain values.
package struct HistoryBuild: Sendable, Hashable {
  package var figures: BuildFigures
  /// Every instance that ran, restored, failed or was skipped.
  package var outcomes: [HistoryOutcome]
  /// Instances that stayed up to date, counted per task name.
  package var upToDate: [String: (count: Int, saved: Double)]

  package init(figures: BuildFigures, outcomes: [HistoryOutcome], upToDate: [String: (count: Int, saved: Double)]) {
    self.figures = figures
    self.outcomes = outcomes
    self.upToDate = upToDate
  }

  package static func == (a: HistoryBuild, b: HistoryBuild) -> Bool {
    a.figures == b.figures && a.outcomes == b.outcomes
      && a.upToDate.mapValues { [Double($0.count), $0.saved] } == b.upToDate.mapValues { [Double($0.count), $0.saved] }
  }

  package func hash(into hasher: inout Hasher) {
    hasher.combine(figures)
    hasher.combine(outcomes)
  }
}

/// One instance's row.
package struct HistoryOutcome: Sendable, Hashable {
  package var id: String
  package var task: String
  /// "ran", "restored", "failed" or "skipped".
  package var outcome: String
  /// `RerunReason.kind` of each reason it had to run.
  package var reasonKinds: [String]
  /// Run time (ran, failed) or recorded run time (restored), seconds.
  package var duration: Double
  /// Seconds since its build started.
  package var started: Double
  package var finished: Double
  /// Seconds since its build started when it was ready to start; nil when not recorded.
  package var ready: Double?
  /// Seconds of `started...finished` it waited for a machine-wide job slot.
  package var queued: Double

  package init(id: String, task: String, outcome: String, reasonKinds: [String] = [], duration: Double,
               started: Double, finished: Double, ready: Double? = nil, queued: Double = 0) {
    self.ready = ready
    self.queued = queued
    self.id = id
    self.task = task
    self.outcome = outcome
    self.reasonKinds = reasonKinds
    self.duration = duration
    self.started = started
    self.finished = finished
  }
}

/// What the build file says that the history does not: each instance's dependencies
/// (for the critical path) and each task's `sla`.
package struct TaskFacts: Sendable {
  /// Instance id -> the ids of its dependencies.
  package var dependencies: [String: [String]]
  /// Task name -> seconds.
  package var sla: [String: Double]

  package init(dependencies: [String: [String]] = [:], sla: [String: Double] = [:]) {
    self.dependencies = dependencies
    self.sla = sla
  }
}

extension StatsReport {
  /// How many of the slowest instances are listed.
  package static let slowestCount = 10
  /// Bottleneck: more than this times the mean.
  package static let bottleneckFactor = 1.5
  /// Regression: more than this times the median of at least `regressionSamples`
  /// earlier runs, and at least `regressionFloor` seconds more.
  package static let regressionFactor = 1.5
  package static let regressionSamples = 3
  package static let regressionFloor = 0.05

  /// The figures of `history` (oldest build first; its last build is "the last build").
  /// `task`: only that task's instances count (a build without any is left out).
  package init(history: [HistoryBuild], facts: TaskFacts, window: Int, task: String? = nil) {
    self.init(window: window)
    self.task = task
    let builds = Array(history.compactMap { Self.normalized($0, task: task) }.suffix(window))
    self.history = builds.map(\.figures)
    guard let lastBuild = builds.last else { return }
    last = lastBuild.figures

    // Totals, per task and per workspace, over the window.
    var tasks: [String: Counts] = [:]
    var runTimes: [String: (sum: Double, n: Int)] = [:]
    var workspaces: [String: Counts] = [:]
    var reasons: [String: (count: Int, examples: [String])] = [:]
    for build in builds {
      total = total + build.figures.counts
      workspaces[build.figures.workspace ?? "(main)", default: Counts()] = workspaces[build.figures.workspace ?? "(main)", default: Counts()] + build.figures.counts
      for o in build.outcomes {
        var c = tasks[o.task, default: Counts()]
        switch o.outcome {
        case "ran":
          c.ran += 1
          runTimes[o.task, default: (0, 0)].sum += o.duration
          runTimes[o.task, default: (0, 0)].n += 1
          for kind in Set(o.reasonKinds) {
            reasons[kind, default: (0, [])].count += 1
            if reasons[kind]!.examples.count < 3, !reasons[kind]!.examples.contains(o.id) {
              reasons[kind]!.examples.append(o.id)
            }
          }
        case "restored":
          c.restored += 1
          c.timeSaved += Self.saved(o)
        case "failed": c.failed += 1
        default: c.skipped += 1
        }
        tasks[o.task] = c
      }
      let idle = build.figures.counts.isNothingToDo
      for (task, u) in build.upToDate {
        tasks[task, default: Counts()].upToDate += u.count
        tasks[task, default: Counts()].upToDateWork += u.saved
        if idle { tasks[task, default: Counts()].nothingToDoUpToDate += u.count }
      }
    }
    perTask = tasks.keys.sorted().map { name in
      let r = runTimes[name]
      return GroupFigures(name: name, counts: tasks[name]!, meanRunTime: r.map { $0.sum / Double($0.n) })
    }
    perWorkspace = workspaces.keys.sorted { ($0 == "(main)" ? "" : $0) < ($1 == "(main)" ? "" : $1) }
      .map { GroupFigures(name: $0, counts: workspaces[$0]!, meanRunTime: nil) }
    // Until the caller knows better (the manifest's own totals), what the window holds.
    lifetime = perWorkspace
    missReasons = reasons.map { ReasonCount(kind: $0.key, count: $0.value.count, examples: $0.value.examples) }
      .sorted { $0.count != $1.count ? $0.count > $1.count : $0.kind < $1.kind }

    // The last build: slowest, bottlenecks, SLA, critical path, timeline.
    let worked = lastBuild.outcomes.filter { $0.outcome != "skipped" }
    // What each took in this build: a restore's time is the copy, not the run it saved.
    func spent(_ o: HistoryOutcome) -> Double { o.outcome == "restored" ? o.finished - o.started : o.duration }
    slowest = worked.sorted { spent($0) != spent($1) ? spent($0) > spent($1) : $0.id < $1.id }
      .prefix(Self.slowestCount)
      .map { InstanceFigure(id: $0.id, task: $0.task, outcome: $0.outcome, duration: spent($0)) }
    bottlenecks = Self.bottlenecks(worked.filter { $0.outcome == "ran" || $0.outcome == "failed" })
    sla = worked.filter { $0.outcome == "ran" || $0.outcome == "failed" }.compactMap { o in
      guard let limit = facts.sla[o.task], limit > 0, o.duration > 0.8 * limit else { return nil }
      return SLAFinding(id: o.id, task: o.task, duration: o.duration, sla: limit, violation: o.duration > limit)
    }.sorted { $0.fraction > $1.fraction }
    criticalPath = Self.criticalPath(lastBuild, facts)
    let onPath = Set(criticalPath?.steps.map(\.id) ?? [])
    timeline = Self.lanes(lastBuild.outcomes, onPath)
    busy = Self.busy(lastBuild.outcomes)
    regressions = Self.regressions(builds)
  }

  /// What restoring `o` saved: its recorded run time less the restore's own.
  package static func saved(_ o: HistoryOutcome) -> Double {
    o.outcome == "restored" ? max(0, o.duration - (o.finished - o.started)) : 0
  }

  /// `build` with its counts as the report counts them (time saved by restores only,
  /// up-to-date work apart, "nothing to do" marked); with `task`, only that task's rows
  /// and counts, or nil when the task had no instance in it.
  static func normalized(_ build: HistoryBuild, task: String?) -> HistoryBuild? {
    var b = build
    var c = b.figures.counts
    if let task {
      b.outcomes = b.outcomes.filter { $0.task == task }
      b.upToDate = b.upToDate.filter { $0.key == task }
      guard !b.outcomes.isEmpty || !b.upToDate.isEmpty else { return nil }
      let builds = c.builds
      c = Counts()
      c.builds = builds
      for o in b.outcomes {
        switch o.outcome {
        case "ran": c.ran += 1
        case "restored": c.restored += 1
        case "failed": c.failed += 1
        default: c.skipped += 1
        }
      }
      c.upToDate = b.upToDate.values.reduce(0) { $0 + $1.count }
    }
    c.builds = max(c.builds, 1)
    c.timeSaved = b.outcomes.reduce(0) { $0 + saved($1) }
    c.upToDateWork = b.upToDate.values.reduce(0) { $0 + $1.saved }
    c.nothingToDo = c.isNothingToDo ? 1 : 0
    c.nothingToDoUpToDate = c.isNothingToDo ? c.upToDate : 0
    b.figures.counts = c
    return b
  }

  /// Like with like. An instance of a `foreach` task (its id names an item) against the
  /// mean of its task's instances that ran in the build; a task of one instance against
  /// the mean of the build's tasks of one instance. Never an instance against whole
  /// tasks: a task's largest source is not a bottleneck next to a link. At least two to
  /// compare, the one compared included in the mean.
  private static func bottlenecks(_ ran: [HistoryOutcome]) -> [Bottleneck] {
    guard !ran.isEmpty else { return [] }
    let single = ran.filter { $0.id == $0.task }
    let singleMean = single.reduce(0) { $0 + $1.duration } / Double(max(single.count, 1))
    var byTask: [String: [HistoryOutcome]] = [:]
    for o in ran where o.id != o.task { byTask[o.task, default: []].append(o) }
    var found: [Bottleneck] = []
    for o in ran {
      let isSingle = o.id == o.task
      let peers = isSingle ? single.count : byTask[o.task]!.count
      guard peers >= 2 else { continue }
      let mean = isSingle ? singleMean : byTask[o.task]!.reduce(0) { $0 + $1.duration } / Double(peers)
      if mean > 0, o.duration > bottleneckFactor * mean {
        found.append(Bottleneck(id: o.id, task: o.task, duration: o.duration, mean: mean,
                                basis: isSingle ? "tasks" : "task", peers: peers))
      }
    }
    return found.sorted { $0.ratio != $1.ratio ? $0.ratio > $1.ratio : $0.id < $1.id }
  }

  /// From the instance that finished last, back through each one's dependency that
  /// finished last, as far as the dependencies that worked in this build go. Each step
  /// says how long it waited for a job slot once ready (its start less its ready time,
  /// as recorded, and then for a machine-wide slot shared with other kiln processes):
  /// that waiting is time the chain alone does not explain, and not in its duration.
  private static func criticalPath(_ build: HistoryBuild, _ facts: TaskFacts) -> CriticalPath? {
    let worked = build.outcomes.filter { $0.outcome != "skipped" }
    guard var current = worked.max(by: { $0.finished < $1.finished }) else { return nil }
    let byID = Dictionary(worked.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    var chain = [current]
    var seen: Set<String> = [current.id]
    while let previous = (facts.dependencies[current.id] ?? []).compactMap({ byID[$0] })
      .filter({ !seen.contains($0.id) }).max(by: { $0.finished < $1.finished })
    {
      chain.append(previous)
      seen.insert(previous.id)
      current = previous
    }
    chain.reverse()
    // For a -j slot (ready until started), then for a machine-wide one (inside its time).
    func waited(_ o: HistoryOutcome) -> Double { (o.ready.map { max(0, o.started - $0) } ?? 0) + o.queued }
    func took(_ o: HistoryOutcome) -> Double { max(0, o.finished - o.started - o.queued) }
    return CriticalPath(
      steps: chain.map {
        InstanceFigure(id: $0.id, task: $0.task, outcome: $0.outcome, duration: took($0), waited: waited($0))
      },
      length: chain.reduce(0) { $0 + took($1) }, wallTime: build.figures.wallTime,
      slotWait: chain.reduce(0) { $0 + waited($1) }, jobs: build.figures.jobs)
  }

  /// Rows for a timeline: each instance in the first row free at its start.
  private static func lanes(_ outcomes: [HistoryOutcome], _ onPath: Set<String>) -> [TimelineBar] {
    var laneEnds: [Double] = []
    return outcomes.sorted { $0.started != $1.started ? $0.started < $1.started : $0.id < $1.id }.map { o in
      let lane = laneEnds.firstIndex { $0 <= o.started } ?? laneEnds.count
      if lane == laneEnds.count { laneEnds.append(0) }
      laneEnds[lane] = max(o.finished, o.started + 1e-6)
      return TimelineBar(id: o.id, task: o.task, outcome: o.outcome, started: o.started, finished: o.finished,
                         lane: lane, onCriticalPath: onPath.contains(o.id))
    }
  }

  /// The number of instances restoring or running over the build, a step at each
  /// change (an instance that ends as another starts is not counted twice).
  private static func busy(_ outcomes: [HistoryOutcome]) -> [BusyStep] {
    var events: [(time: Double, delta: Int)] = []
    for o in outcomes where o.outcome != "skipped" && o.finished > o.started {
      events.append((o.started, 1))
      events.append((o.finished, -1))
    }
    guard !events.isEmpty else { return [] }
    // Ends before starts at the same moment.
    events.sort { $0.time != $1.time ? $0.time < $1.time : $0.delta < $1.delta }
    var steps: [BusyStep] = [BusyStep(time: 0, running: 0)]
    var running = 0
    for e in events {
      running += e.delta
      if steps.last!.time == e.time { steps[steps.count - 1].running = running } else {
        steps.append(BusyStep(time: e.time, running: running))
      }
    }
    // Drop steps that change nothing.
    var merged: [BusyStep] = []
    for s in steps where merged.last?.running != s.running { merged.append(s) }
    return merged
  }

  /// Instances whose run in the last build took well longer than the median of their
  /// earlier runs in the window.
  private static func regressions(_ builds: [HistoryBuild]) -> [Regression] {
    guard let last = builds.last else { return [] }
    var earlier: [String: [Double]] = [:]
    for build in builds.dropLast() {
      for o in build.outcomes where o.outcome == "ran" { earlier[o.id, default: []].append(o.duration) }
    }
    var found: [Regression] = []
    for o in last.outcomes where o.outcome == "ran" {
      guard let runs = earlier[o.id], runs.count >= regressionSamples else { continue }
      let m = median(runs)
      if o.duration > regressionFactor * m, o.duration - m >= regressionFloor {
        found.append(Regression(id: o.id, task: o.task, duration: o.duration, median: m, samples: runs.count))
      }
    }
    return found.sorted { $0.ratio != $1.ratio ? $0.ratio > $1.ratio : $0.id < $1.id }
  }

  package static func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  }
}
