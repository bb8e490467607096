import KilnReport
import Testing

/// Every figure of `StatsReport` on hand-made histories whose answers are known.
@Suite struct StatsReportTests {
  /// A build of instances: (id, outcome, duration, started, finished, reasons).
  func build(_ id: Int64, workspace: String? = nil, wall: Double = 10, upToDate: [String: (Int, Double)] = [:],
             _ rows: [(String, String, Double, Double, Double, [String])]) -> HistoryBuild {
    var counts = Counts()
    counts.builds = 1
    for r in rows {
      switch r.1 {
      case "ran": counts.ran += 1
      case "restored": counts.restored += 1; counts.timeSaved += max(0, r.2 - (r.4 - r.3))
      case "failed": counts.failed += 1
      default: counts.skipped += 1
      }
    }
    for (_, u) in upToDate { counts.upToDate += u.0; counts.upToDateWork += u.1 }
    let outcomes = rows.map { r in
      HistoryOutcome(id: r.0, task: String(r.0.split(separator: " ").first!), outcome: r.1, reasonKinds: r.5,
                     duration: r.2, started: r.3, finished: r.4)
    }
    return HistoryBuild(
      figures: BuildFigures(id: id, started: 1_700_000_000 + Double(id), wallTime: wall, workspace: workspace,
                            exitStatus: counts.failed > 0 ? 1 : 0, counts: counts),
      outcomes: outcomes, upToDate: upToDate.mapValues { (count: $0.0, saved: $0.1) })
  }

  @Test func emptyHistoryHasNoLastBuild() {
    let r = StatsReport(history: [], facts: TaskFacts(), window: 20)
    #expect(r.last == nil)
    #expect(r.total.hitRate == nil)
    #expect(r.criticalPath == nil)
  }

  @Test func hitRateAndTimeSavedFollowTheSpecFormula() {
    // Build 1: 2 ran, 1 restored (a 3 s run restored in 0.1 s: saved 2.9 s). Build 2: 1
    // ran, 5 up to date (7 s of earlier work, which saved nothing in this build).
    let b1 = build(1, [("cc a", "ran", 1, 0, 1, ["never-built"]), ("cc b", "ran", 2, 0, 2, ["never-built"]),
                       ("ld", "restored", 3, 2, 2.1, [])])
    let b2 = build(2, workspace: "w1", upToDate: ["cc": (2, 3), "ld": (3, 4)],
                   [("gen x", "ran", 0.5, 0, 0.5, ["input-changed"])])
    let r = StatsReport(history: [b1, b2], facts: TaskFacts(), window: 20)
    #expect(r.total.ran == 3)
    #expect(r.total.restored == 1)
    #expect(r.total.upToDate == 5)
    #expect(r.total.hitRate == 6.0 / 9.0)
    #expect(abs(r.total.timeSaved - 2.9) < 1e-9)
    #expect(r.total.upToDateWork == 7)
    #expect(r.total.nothingToDo == 0)
    #expect(r.last?.id == 2)
    #expect(r.last?.counts.hitRate == 5.0 / 6.0)
    let cc = r.perTask.first { $0.name == "cc" }
    #expect(cc?.counts.ran == 2)
    #expect(cc?.counts.upToDate == 2)
    #expect(cc?.counts.hitRate == 0.5)
    #expect(cc?.meanRunTime == 1.5)
    #expect(abs((r.perTask.first { $0.name == "ld" }?.counts.timeSaved ?? 0) - 2.9) < 1e-9)
    #expect(r.perTask.first { $0.name == "ld" }?.counts.upToDateWork == 4)
    #expect(r.perWorkspace.map(\.name) == ["(main)", "w1"])
    #expect(r.perWorkspace.map(\.counts.builds) == [1, 1])
    #expect(r.perWorkspace[1].counts.hitRate == 5.0 / 6.0)
    // Misses by reason kind, most first.
    #expect(r.missReasons.map(\.kind) == ["never-built", "input-changed"])
    #expect(r.missReasons.first?.count == 2)
    #expect(r.missReasons.first?.examples == ["cc a", "cc b"])
  }

  @Test func windowKeepsTheLatestBuilds() {
    let builds = (1...5).map { i in build(Int64(i), [("t", "ran", 1, 0, 1, [])]) }
    let r = StatsReport(history: builds, facts: TaskFacts(), window: 2)
    #expect(r.history.map(\.id) == [4, 5])
    #expect(r.total.builds == 2)
    #expect(r.total.ran == 2)
  }

  @Test func bottlenecksAreAboveOneAndAHalfTimesTheMeanOfTheirPeers() {
    // cc (a foreach): 1, 1, 1, 5 -> mean 2; 5 > 3 is a bottleneck, the 1s are not.
    // Tasks of one instance that ran: ld 9, lint 1 -> mean 5; 9 > 7.5 is one.
    // gen restored: not compared. Nothing is compared across kinds: cc d (5) is not
    // set against ld, nor ld against cc's instances.
    let b = build(1, [("cc a", "ran", 1, 0, 1, []), ("cc b", "ran", 1, 0, 1, []), ("cc c", "ran", 1, 1, 2, []),
                      ("cc d", "ran", 5, 1, 6, []), ("ld", "ran", 9, 6, 15, []), ("lint", "ran", 1, 0, 1, []),
                      ("gen", "restored", 20, 0, 0.1, [])])
    let r = StatsReport(history: [b], facts: TaskFacts(), window: 20)
    #expect(r.bottlenecks.map(\.id) == ["cc d", "ld"])
    #expect(r.bottlenecks.first { $0.id == "cc d" }?.mean == 2)
    #expect(r.bottlenecks.first { $0.id == "cc d" }?.basis == "task")
    #expect(r.bottlenecks.first { $0.id == "cc d" }?.peers == 4)
    #expect(r.bottlenecks.first { $0.id == "ld" }?.basis == "tasks")
    #expect(r.bottlenecks.first { $0.id == "ld" }?.mean == 5)
    // Slowest: what each took in this build (a restore's copy, not its saved run).
    #expect(r.slowest.map(\.id).prefix(3) == ["ld", "cc d", "cc a"])
    #expect(r.slowest.last?.id == "gen")
  }

  @Test func slaWarnsPastEightyPercentAndFlagsPastAHundred() {
    let b = build(1, [("test", "ran", 11, 0, 11, []), ("lint", "ran", 8.5, 0, 8.5, []), ("fmt", "ran", 7.9, 0, 7.9, []),
                      ("doc", "ran", 100, 0, 100, [])])
    let facts = TaskFacts(sla: ["test": 10, "lint": 10, "fmt": 10])
    let r = StatsReport(history: [b], facts: facts, window: 20)
    #expect(r.sla.map(\.id) == ["test", "lint"], "fmt is at 79%, doc has no sla")
    #expect(r.sla[0].violation)
    #expect(!r.sla[1].violation)
    #expect(r.sla[1].fraction == 0.85)
  }

  @Test func criticalPathFollowsTheLatestFinishingDependency() {
    // a (0-2) -> c (2-5); b (0-4) -> c would be later... c depends on a and b:
    // the chain ends at d (6-9), whose deps are c (4-6) and e (0-1); c's deps a (0-2), b (0-4).
    let b = build(1, wall: 9.5, [("a", "ran", 2, 0, 2, []), ("b", "ran", 4, 0, 4, []), ("c", "ran", 2, 4, 6, []),
                                 ("e", "restored", 1, 0, 1, []), ("d", "ran", 3, 6, 9, [])])
    let facts = TaskFacts(dependencies: ["c": ["a", "b"], "d": ["c", "e"]])
    let r = StatsReport(history: [b], facts: facts, window: 20)
    #expect(r.criticalPath?.steps.map(\.id) == ["b", "c", "d"])
    #expect(r.criticalPath?.length == 9)
    #expect(r.criticalPath?.wallTime == 9.5)
    #expect(r.timeline.filter(\.onCriticalPath).map(\.id).sorted() == ["b", "c", "d"])
    // Lanes: a and b overlap from 0; e too; c starts at 4 in a freed lane.
    #expect(Set(r.timeline.filter { $0.started == 0 }.map(\.lane)).count == 3)
  }

  @Test func regressionsNeedThreeEarlierRunsAndAClearMargin() {
    var builds = (1...4).map { i in build(Int64(i), [("cc a", "ran", 1.0, 0, 1, []), ("cc b", "ran", 0.01, 0, 0.01, [])]) }
    builds.append(build(5, [("cc a", "ran", 2.0, 0, 2, []), ("cc b", "ran", 0.04, 0, 0.04, []), ("cc new", "ran", 9, 0, 9, [])]))
    let r = StatsReport(history: builds, facts: TaskFacts(), window: 20)
    // cc a: 2.0 against a median of 1.0 (4 runs): a regression. cc b: 4x but only 30 ms
    // more: noise. cc new: no history.
    #expect(r.regressions.map(\.id) == ["cc a"])
    #expect(r.regressions.first?.median == 1.0)
    #expect(r.regressions.first?.samples == 4)
    #expect(r.regressions.first?.ratio == 2.0)
  }

  @Test func medianOfEvenAndOddCounts() {
    #expect(StatsReport.median([3, 1, 2]) == 2)
    #expect(StatsReport.median([4, 1, 2, 3]) == 2.5)
    #expect(StatsReport.median([]) == 0)
  }

  @Test func aForeachsLargestSourceIsNotABottleneckNextToWholeTasks() {
    // One big source among equal ones of its task, and one task of one instance alone:
    // the instance is compared with its task's, the lone task with no one.
    let b = build(1, [("cc a", "ran", 1, 0, 1, []), ("cc b", "ran", 1.2, 0, 1.2, []), ("ld", "ran", 30, 2, 32, [])])
    let r = StatsReport(history: [b], facts: TaskFacts(), window: 20)
    #expect(r.bottlenecks.isEmpty, "\(r.bottlenecks)")
  }

  /// Twenty builds, nineteen of which had nothing to do: their up-to-date instances do
  /// not make the hit rate, nor their recorded run time the time saved.
  @Test func buildsWithNothingToDoAreKeptApart() {
    var builds = [build(1, [("cc a", "ran", 30, 0, 30, []), ("ld", "ran", 4, 30, 34, [])])]
    for i in 2...20 { builds.append(build(Int64(i), upToDate: ["cc": (1, 30), "ld": (1, 4)], [])) }
    let r = StatsReport(history: builds, facts: TaskFacts(), window: 20)
    #expect(r.total.nothingToDo == 19)
    #expect(r.total.timeSaved == 0, "nothing was restored")
    #expect(r.total.upToDateWork == 19 * 34)
    #expect(r.total.hitRate == 0, "the one build with something to do ran everything")
    #expect(r.last?.counts.hitRate == nil, "a build with nothing to do has no hit rate")
    #expect(r.last?.counts.isNothingToDo == true)
    #expect(r.perTask.first { $0.name == "cc" }?.counts.hitRate == 0)
    #expect(r.perWorkspace.first?.counts.nothingToDo == 19)
    // A restore in the mix: saved is its recorded run less the copy.
    builds.append(build(21, upToDate: ["ld": (1, 4)], [("cc a", "restored", 30, 0, 0.5, [])]))
    let after = StatsReport(history: builds, facts: TaskFacts(), window: 20)
    #expect(after.total.timeSaved == 29.5)
    #expect(after.total.hitRate == 1, "builds 2 to 21: the one with something to do restored and kept one up to date")
  }

  /// Two job slots, three long independent tasks and a short one: the third long one
  /// waits for a slot, and the report says by how much that lengthened the build.
  @Test func criticalPathCountsTheTimeWaitedForAJobSlot() {
    var b = build(1, wall: 4.1, [])
    b.figures.jobs = 2
    b.outcomes = [
      HistoryOutcome(id: "a", task: "a", outcome: "ran", duration: 2, started: 0, finished: 2, ready: 0),
      HistoryOutcome(id: "b", task: "b", outcome: "ran", duration: 2, started: 0, finished: 2, ready: 0),
      HistoryOutcome(id: "d", task: "d", outcome: "ran", duration: 0.1, started: 2, finished: 2.1, ready: 0),
      HistoryOutcome(id: "c", task: "c", outcome: "ran", duration: 2, started: 2, finished: 4, ready: 0),
    ]
    b.figures.counts.ran = 4
    let r = StatsReport(history: [b], facts: TaskFacts(), window: 20)
    let path = try! #require(r.criticalPath)
    #expect(path.steps.map(\.id) == ["c"])
    #expect(path.steps.first?.waited == 2)
    #expect(path.slotWait == 2)
    #expect(path.slotLimited)
    #expect(path.jobs == 2)
    #expect(r.busy.map(\.running) == [2, 2, 1, 0] || r.busy.map(\.running) == [2, 1, 0], "\(r.busy)")
    #expect(r.busy.map(\.running).max() == 2)
    // Without waiting (ready when started), the chain alone set the length.
    for i in b.outcomes.indices { b.outcomes[i].ready = b.outcomes[i].started }
    let unhurried = StatsReport(history: [b], facts: TaskFacts(), window: 20)
    #expect(unhurried.criticalPath?.slotWait == 0)
    #expect(unhurried.criticalPath?.slotLimited == false)
  }

  @Test func busyStepsFollowTheInstancesRunning() {
    let b = build(1, wall: 5, [("a", "ran", 2, 0, 2, []), ("b", "ran", 3, 1, 4, []), ("c", "restored", 9, 2, 2.5, []),
                               ("s", "skipped", 0, 4, 4, [])])
    let r = StatsReport(history: [b], facts: TaskFacts(), window: 20)
    // 0: a; 1: a b; 2: a ends as c starts (b c); 2.5: b; 4: none.
    #expect(r.busy == [BusyStep(time: 0, running: 1), BusyStep(time: 1, running: 2), BusyStep(time: 2.5, running: 1),
                       BusyStep(time: 4, running: 0)])
  }

  @Test func aTaskFilterKeepsThatTasksInstancesOnly() {
    let b1 = build(1, [("cc a", "ran", 1, 0, 1, ["never-built"]), ("ld", "ran", 2, 1, 3, ["never-built"])])
    let b2 = build(2, upToDate: ["cc": (1, 1)], [("ld", "ran", 2, 0, 2, ["input-changed"])])
    let b3 = build(3, [("gen x", "ran", 1, 0, 1, [])])
    let r = StatsReport(history: [b1, b2, b3], facts: TaskFacts(), window: 20, task: "cc")
    #expect(r.history.map(\.id) == [1, 2], "build 3 had no instance of cc")
    #expect(r.total.ran == 1)
    #expect(r.total.upToDate == 1)
    #expect(r.perTask.map(\.name) == ["cc"])
    #expect(r.last?.counts.isNothingToDo == true, "for cc, build 2 had nothing to do")
    #expect(r.missReasons.map(\.kind) == ["never-built"])
    #expect(r.timeline.isEmpty, "cc had no instance that ran in build 2")
  }
}
