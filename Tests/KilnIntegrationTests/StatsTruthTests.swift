import Foundation
import KilnTestSupport
import Testing

/// Issue 17, "reports that tell the truth", on real builds: time saved counts restores
/// only, builds with nothing to do stay out of the hit rate, the critical path says
/// when waiting for a job slot lengthened the build, the history records the commit,
/// and `kiln stats` filters by workspace, task and time.
@Suite struct StatsTruthTests {
  // StatsTests' project: upper (a foreach of 3 files) and slow (one instance), each
  // upper sleeping long enough that a restore's copy is always shorter than its run.
  static let project: [String: String] = {
    var files = StatsTests.project
    files["kiln.yml"] = files["kiln.yml"]!.replacingOccurrences(of: "run: echo {stem}", with: "run: sleep 0.1 && echo {stem}")
    return files
  }()
  static func json(_ r: KilnResult) -> [String: Any]? { StatsTests.json(r) }

  @Test func upToDateBuildsSaveNothingAndStayOutOfTheHitRate() throws {
    let p = try TempProject(Self.project)
    #expect(try p.kiln("build").status == 0)
    for _ in 0..<4 { #expect(try p.kiln("build").status == 0) }
    let doc = try #require(Self.json(try p.kiln("stats", "--json")))
    let total = try #require(doc["total"] as? [String: Any])
    #expect(total["builds"] as? Int == 5)
    #expect(total["nothing_to_do"] as? Int == 4, "\(total)")
    #expect(total["time_saved"] as? Double == 0, "nothing was restored: \(total)")
    #expect((total["up_to_date_work"] as? Double ?? 0) > 0, "the up-to-date work is shown apart: \(total)")
    #expect(total["hit_rate"] as? Double == 0, "only the cold build had something to do: \(total)")
    let last = try #require(doc["last_build"] as? [String: Any])
    #expect(last["hit_rate"] is NSNull, "\(last)")
    #expect(last["nothing_to_do"] as? Int == 1)
    // The cold build stored its results and measured the cache; the others stored nothing.
    let sizes = ((doc["history"] as? [[String: Any]]) ?? []).map { $0["cache_bytes"] as? Int }
    #expect((sizes.first ?? nil).map { $0 > 0 } == true, "\(sizes)")
    #expect(sizes.dropFirst().allSatisfy { $0 == nil }, "\(sizes)")
    let text = try p.kiln("stats")
    #expect(text.stdout.contains("; nothing to do; saved 0.00s; up-to-date work "), "\(text)")
    #expect(text.stdout.contains("4 of them had nothing to do"), "\(text)")

    // Everything deleted and restored: what the restores saved is their recorded run
    // time less their own, so less than the recorded run time.
    p.remove("out")
    p.remove("all.txt")
    #expect(try p.kiln("build").status == 0)
    let after = try #require(Self.json(try p.kiln("stats", "--json")))
    let restored = try #require(after["last_build"] as? [String: Any])
    #expect(restored["restored"] as? Int == 4)
    let saved = try #require(restored["time_saved"] as? Double)
    // Each instance ran once, in the cold build: its recorded run time is its task's
    // mean run time. The restores' own times are their bars on the timeline.
    let perTask = (after["per_task"] as? [[String: Any]]) ?? []
    let recorded = perTask.reduce(0.0) { $0 + ($1["mean_run_time"] as? Double ?? 0) * Double($1["ran"] as? Int ?? 0) }
    let bars = (after["timeline"] as? [[String: Any]]) ?? []
    #expect(bars.count == 4 && bars.allSatisfy { $0["outcome"] as? String == "restored" }, "\(bars)")
    let copying = bars.reduce(0.0) { $0 + ($1["finished"] as? Double ?? 0) - ($1["started"] as? Double ?? 0) }
    #expect(saved > 0, "\(restored)")
    // JSON gives microseconds: a few rounded figures added up.
    #expect(abs(saved - (recorded - copying)) < 2e-5, "saved \(saved): recorded \(recorded) less the copies' \(copying)")
    #expect((restored["up_to_date_work"] as? Double) == 0)
  }

  /// Two slots, three long independent tasks and a short one: the third long task
  /// waits for a slot, so the build is longer than its longest chain.
  @Test func criticalPathSaysWaitingForASlotLengthenedTheBuild() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          a:
            outputs: a.out
            run: sleep 0.6 && echo a > a.out
          b:
            outputs: b.out
            run: sleep 0.6 && echo b > b.out
          c:
            outputs: c.out
            run: sleep 0.6 && echo c > c.out
          d:
            outputs: d.out
            run: echo d > d.out
        """,
    ])
    #expect(try p.kiln(["build", "-j2", "--no-cache"], environment: ["KILN_MAX_JOBS": "8"]).status == 0)
    let doc = try #require(Self.json(try p.kiln("stats", "--json")))
    let path = try #require(doc["critical_path"] as? [String: Any])
    #expect(path["slot_limited"] as? Bool == true, "\(path)")
    #expect(path["jobs"] as? Int == 2)
    let wait = try #require(path["slot_wait"] as? Double)
    let length = try #require(path["length"] as? Double)
    let wall = try #require(path["wall_time"] as? Double)
    #expect(wait > 0 && length + wait <= wall + 1e-6, "the wait is part of the wall time: \(path)")
    #expect(length < wall, "the build is longer than its longest chain: \(path)")
    let steps = try #require(path["steps"] as? [[String: Any]])
    #expect((steps.last?["waited"] as? Double ?? 0) > 0, "the step that ended last waited: \(steps)")
    let text = try p.kiln("stats")
    #expect(text.stdout.contains("; waiting for a job slot lengthened it by "), "\(text)")
    #expect(text.stdout.contains("s (-j 2)\n"), "\(text)")
    #expect(text.stdout.contains("for a slot)"), "\(text)")
    let busy = (doc["busy"] as? [[String: Any]]) ?? []
    #expect(busy.map { $0["running"] as? Int ?? 0 }.max() == 2, "never more than -j: \(busy)")

    // Enough slots: nothing waits, and the page says nothing else matters.
    p.remove("a.out")
    #expect(try p.kiln(["build", "-j8", "--no-cache", "a", "b", "c", "d"], environment: ["KILN_MAX_JOBS": "8"]).status == 0)
    p.remove("a.out"); p.remove("b.out"); p.remove("c.out"); p.remove("d.out")
    #expect(try p.kiln(["build", "-j8", "--no-cache"], environment: ["KILN_MAX_JOBS": "8"]).status == 0)
    let wide = try #require(Self.json(try p.kiln("stats", "--json")))
    let widePath = try #require(wide["critical_path"] as? [String: Any])
    #expect(widePath["slot_limited"] as? Bool == false, "\(widePath)")
    #expect(widePath["jobs"] as? Int == 8)
    let html = p.root + "/report.html"
    #expect(try p.kiln("stats", "--html", html).status == 0)
    let page = p.read("report.html") ?? ""
    #expect(page.contains("id=\"busy-slots\""))
    #expect(page.contains("No step waited for a job slot"), "the chain alone set the length")

    // Eight slots for this build, but two for the machine (every kiln process's): the
    // third long task waits inside its job, for a machine-wide slot; that counts too.
    p.remove("a.out"); p.remove("b.out"); p.remove("c.out"); p.remove("d.out")
    #expect(try p.kiln(["build", "-j8", "--no-cache"], environment: ["KILN_MAX_JOBS": "2"]).status == 0)
    let shared = try #require(Self.json(try p.kiln("stats", "--json")))
    let sharedPath = try #require(shared["critical_path"] as? [String: Any])
    #expect(sharedPath["slot_limited"] as? Bool == true, "\(sharedPath)")
    let sharedSteps = try #require(sharedPath["steps"] as? [[String: Any]])
    let lastStep = try #require(sharedSteps.last)
    let waited = try #require(lastStep["waited"] as? Double)
    #expect(waited > 0, "\(sharedSteps)")
    // Its duration is its run, not its wait: its bar (the job's time) is longer.
    let bar = try #require(((shared["timeline"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == lastStep["id"] as? String })
    let span = (bar["finished"] as? Double ?? 0) - (bar["started"] as? Double ?? 0)
    #expect((lastStep["duration"] as? Double ?? 0) < span, "\(lastStep) in \(bar)")
  }

  @Test func historyRecordsTheCommitOfEachBuild() throws {
    let p = try TempProject(Self.project)
    let first = try p.initGitRepository()
    #expect(try p.kiln("build").status == 0)
    try p.write("src/a.txt", "alpha 2\n")
    let second = try p.checkout.commitAll("edit")
    #expect(try p.kiln("build").status == 0)
    // A null build reads it too (from the snapshot's shortcut), and after `git gc`
    // packs the refs.
    try p.checkout.git("pack-refs", "--all")
    #expect(try p.kiln("build").status == 0)
    let doc = try #require(Self.json(try p.kiln("stats", "--json")))
    let commits = ((doc["history"] as? [[String: Any]]) ?? []).map { $0["commit"] as? String }
    #expect(commits == [first, second, second], "\(commits)")
    let text = try p.kiln("stats")
    #expect(text.stdout.contains("commit \(second.prefix(12))"), "\(text)")
  }

  @Test func statsFiltersByTaskTimeAndWorkspace() throws {
    let p = try TempProject(Self.project)
    #expect(try p.kiln("build").status == 0)
    try p.write("src/a.txt", "alpha 2\n")
    #expect(try p.kiln("build").status == 0)

    let task = try #require(Self.json(try p.kiln("stats", "--json", "--task", "upper")))
    #expect(task["task"] as? String == "upper")
    #expect(((task["per_task"] as? [[String: Any]]) ?? []).map { $0["task"] as? String } == ["upper"])
    let total = try #require(task["total"] as? [String: Any])
    #expect(total["ran"] as? Int == 4, "3 cold, then a.txt: \(total)")
    #expect(total["up_to_date"] as? Int == 2)
    #expect(((task["timeline"] as? [[String: Any]]) ?? []).allSatisfy { $0["task"] as? String == "upper" })

    let future = try p.kiln("stats", "--since", "2999-01-01")
    #expect(future.status == 0, "\(future)")
    #expect(future.stdout.contains("kiln: no build recorded here matches: started since 2999-01-01 00:00 UTC"), "\(future)")
    let task2 = try p.kiln("stats", "--task", "upper", "--workspace", "(main)")
    #expect(task2.stdout.hasPrefix("only: task upper, workspace (main)\n"), "\(task2)")
    let recent = try #require(Self.json(try p.kiln("stats", "--json", "--since", "1h", "--until", "2999-01-01")))
    #expect((recent["history"] as? [[String: Any]])?.count == 2)
    let past = try #require(Self.json(try p.kiln("stats", "--json", "--until", "2000-01-01")))
    #expect((past["history"] as? [[String: Any]])?.isEmpty == true)

    let main = try #require(Self.json(try p.kiln("stats", "--json", "--workspace", "(main)")))
    #expect((main["history"] as? [[String: Any]])?.count == 2)
    let other = try #require(Self.json(try p.kiln("stats", "--json", "--workspace", "agent-x")))
    #expect((other["history"] as? [[String: Any]])?.isEmpty == true)

    let bad = try p.kiln("stats", "--since", "yesterday")
    #expect(bad.status == 2, "\(bad)")
    #expect(bad.stderrLines.count == 1, "\(bad)")
  }
}
