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
      case "restored": counts.restored += 1; counts.timeSaved += r.2
      case "failed": counts.failed += 1
      default: counts.skipped += 1
      }
    }
    for (_, u) in upToDate { counts.upToDate += u.0; counts.timeSaved += u.1 }
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
    // Build 1: 2 ran, 1 restored (saved 3 s). Build 2: 1 ran, 5 up to date (saved 7 s).
    let b1 = build(1, [("cc a", "ran", 1, 0, 1, ["never-built"]), ("cc b", "ran", 2, 0, 2, ["never-built"]),
                       ("ld", "restored", 3, 2, 2.1, [])])
    let b2 = build(2, workspace: "w1", upToDate: ["cc": (2, 3), "ld": (3, 4)],
                   [("gen x", "ran", 0.5, 0, 0.5, ["input-changed"])])
    let r = StatsReport(history: [b1, b2], facts: TaskFacts(), window: 20)
    #expect(r.total.ran == 3)
    #expect(r.total.restored == 1)
    #expect(r.total.upToDate == 5)
    #expect(r.total.hitRate == 6.0 / 9.0)
    #expect(r.total.timeSaved == 10)
    #expect(r.last?.id == 2)
    #expect(r.last?.counts.hitRate == 5.0 / 6.0)
    let cc = r.perTask.first { $0.name == "cc" }
    #expect(cc?.counts.ran == 2)
    #expect(cc?.counts.upToDate == 2)
    #expect(cc?.counts.hitRate == 0.5)
    #expect(cc?.meanRunTime == 1.5)
    #expect(r.perTask.first { $0.name == "ld" }?.counts.timeSaved == 7)
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

  @Test func bottlenecksAreAboveOneAndAHalfTimesTheMean() {
    // cc: 1, 1, 1, 5 -> mean 2; 5 > 3 is a bottleneck, the 1s are not.
    // ld runs once: compared with the mean of all ran instances (1+1+1+5+9)/5 = 3.4; 9 > 5.1.
    // gen runs once at 2: not above 5.1.
    let b = build(1, [("cc a", "ran", 1, 0, 1, []), ("cc b", "ran", 1, 0, 1, []), ("cc c", "ran", 1, 1, 2, []),
                      ("cc d", "ran", 5, 1, 6, []), ("ld", "ran", 9, 6, 15, []), ("gen", "restored", 20, 0, 0.1, [])])
    let r = StatsReport(history: [b], facts: TaskFacts(), window: 20)
    #expect(r.bottlenecks.map(\.id) == ["ld", "cc d"])
    #expect(r.bottlenecks.first { $0.id == "cc d" }?.mean == 2)
    #expect(r.bottlenecks.first { $0.id == "cc d" }?.basis == "task")
    #expect(r.bottlenecks.first { $0.id == "ld" }?.basis == "all")
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
}
