import Foundation
import KilnTestSupport
import Testing

/// `kiln stats` in its forms on real builds with known hits and misses: the text, the
/// JSON document and the Prometheus exposition agree with the builds' own counts; the
/// history is bounded; `build --quiet`; colour and `NO_COLOR` on a real terminal.
@Suite struct StatsTests {
  static let project: [String: String] = [
    "kiln.yml": """
      tasks:
        upper:
          foreach: src/*.txt
          outputs: out/{stem}.txt
          run: echo {stem} >> .runs/upper && tr a-z A-Z < {in} > {out}
        slow:
          inputs: out/*.txt
          outputs: all.txt
          sla: 10s
          run: echo x >> .runs/slow && sleep 0.2 && cat {in} > {out}
      """,
    "src/a.txt": "alpha\n",
    "src/b.txt": "beta\n",
    "src/c.txt": "gamma\n",
  ]

  static func json(_ r: KilnResult) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any]
  }

  /// What `command` (run by sh in the project) wrote to a real terminal: a pty from
  /// util-linux `script`, its session logged to a file.
  static func onTerminal(_ p: TempProject, _ command: String) throws -> String {
    let log = p.root + "/tty.log"
    let script = Process()
    script.executableURL = URL(fileURLWithPath: "/usr/bin/script")
    script.arguments = ["-qec", command, log]
    script.currentDirectoryURL = URL(fileURLWithPath: p.root)
    // The project's home and cache, as for every kiln it runs: `script` runs kiln
    // itself, so without these it used ~/.cache/kiln (issue 12).
    script.environment = TestEnvironment.variables(home: p.home, cache: p.cache.path, p.environment, removing: ["NO_COLOR"])
    script.standardInput = FileHandle.nullDevice
    script.standardOutput = FileHandle.nullDevice
    try script.run()
    script.waitUntilExit()
    #expect(script.terminationStatus == 0)
    return p.read("tty.log") ?? ""
  }

  /// Three builds: cold (4 ran), an edit of a.txt (upper a and slow ran, 2 up to
  /// date), then everything deleted and restored (4 restored).
  func threeBuilds() throws -> TempProject {
    let p = try TempProject(Self.project)
    #expect(try p.kiln("build").status == 0)
    try p.write("src/a.txt", "alpha!\n")
    #expect(try p.kiln("build").status == 0)
    p.remove("out")
    p.remove("all.txt")
    #expect(try p.kiln("build").status == 0)
    return p
  }

  @Test func textJSONAndPrometheusAgreeWithTheBuilds() throws {
    let p = try threeBuilds()
    let r = try p.kiln("stats", "--json")
    #expect(r.status == 0, "\(r)")
    let doc = try #require(Self.json(r), "\(r)")
    #expect(doc["schema"] as? String == "kiln-stats")
    #expect(doc["version"] as? Int == 2)
    let total = try #require(doc["total"] as? [String: Any])
    #expect(total["builds"] as? Int == 3)
    #expect(total["ran"] as? Int == 6, "4 cold + 2 after the edit")
    #expect(total["restored"] as? Int == 4)
    #expect(total["up_to_date"] as? Int == 2)
    #expect(total["hit_rate"] as? Double == 0.5)
    let last = try #require(doc["last_build"] as? [String: Any])
    #expect(last["restored"] as? Int == 4)
    #expect(last["ran"] as? Int == 0)
    #expect((doc["history"] as? [[String: Any]])?.map { $0["ran"] as? Int } == [4, 2, 0])
    let perTask = (doc["per_task"] as? [[String: Any]]) ?? []
    let upper = perTask.first { $0["task"] as? String == "upper" }
    #expect(upper?["ran"] as? Int == 4)
    #expect(upper?["up_to_date"] as? Int == 2)
    #expect(upper?["restored"] as? Int == 3)
    let reasons = (doc["miss_reasons"] as? [[String: Any]]) ?? []
    #expect(reasons.first { $0["kind"] as? String == "never-built" }?["count"] as? Int == 4)
    #expect(reasons.first { $0["kind"] as? String == "input-changed" }?["count"] as? Int == 2)
    // The last build restored 4: its timeline has them, the critical path ends at slow.
    #expect(((doc["timeline"] as? [[String: Any]]) ?? []).count == 4)
    let path = try #require(doc["critical_path"] as? [String: Any])
    #expect(((path["steps"] as? [[String: Any]]) ?? []).last?["id"] as? String == "slow")
    #expect((doc["cache"] as? [String: Any])?["files"] as? Int ?? 0 > 0)

    let text = try p.kiln("stats")
    #expect(text.status == 0, "\(text)")
    #expect(text.stdout.contains("last 3 builds: 6 ran, 4 restored, 2 up to date"), "\(text)")
    #expect(text.stdout.contains("hit rate 50.00%"), "\(text)")
    let neverBuilt = text.stdout.split(separator: "\n").first { $0.hasPrefix("  never-built ") }
    #expect(neverBuilt?.split(separator: " ").dropFirst().first == "4", "\(text)")

    let prom = try p.kiln("stats", "--prometheus")
    #expect(prom.status == 0, "\(prom)")
    for line in ["kiln_builds_total{workspace=\"(main)\"} 3",
                 "kiln_task_instances_total{workspace=\"(main)\",outcome=\"ran\"} 6",
                 "kiln_task_instances_total{workspace=\"(main)\",outcome=\"restored\"} 4",
                 "kiln_task_instances_total{workspace=\"(main)\",outcome=\"up_to_date\"} 2"] {
      #expect(prom.stdout.contains(line + "\n"), "missing \(line): \(prom)")
    }
  }

  @Test func slaFindingsComeFromTheBuildFile() throws {
    var files = Self.project
    files["kiln.yml"] = files["kiln.yml"]!.replacingOccurrences(of: "sla: 10s", with: "sla: 100ms")
    let p = try TempProject(files)
    #expect(try p.kiln("build").status == 0)
    let doc = try #require(Self.json(try p.kiln("stats", "--json")))
    let sla = (doc["sla"] as? [[String: Any]]) ?? []
    #expect(sla.count == 1, "\(sla)")
    #expect(sla.first?["id"] as? String == "slow")
    #expect(sla.first?["level"] as? String == "violation", "0.2 s against an sla of 0.1 s")
    let text = try p.kiln("stats")
    #expect(text.stdout.contains("VIOLATION  slow"), "\(text)")
  }

  @Test func historyIsBoundedByKilnHistory() throws {
    let p = try TempProject(Self.project)
    for i in 0..<5 {
      try p.write("src/a.txt", "alpha \(i)\n")
      #expect(try p.kiln(["build"], environment: ["KILN_HISTORY": "3"]).status == 0)
    }
    let doc = try #require(Self.json(try p.kiln("stats", "--json")))
    #expect((doc["history"] as? [[String: Any]])?.count == 3, "only the last 3 builds are kept")
    // The Prometheus counters count every build since the manifest was made.
    let prom = try p.kiln("stats", "--prometheus")
    #expect(prom.stdout.contains("kiln_builds_total{workspace=\"(main)\"} 5\n"), "\(prom)")
    let bad = try p.kiln(["build"], environment: ["KILN_HISTORY": "zero"])
    #expect(bad.status == 2, "\(bad)")
    #expect(bad.stderrLines.count == 1, "\(bad)")
  }

  @Test func quietPrintsNothingButFailures() throws {
    let p = try TempProject(Self.project)
    let ok = try p.kiln("build", "--quiet")
    #expect(ok.status == 0, "\(ok)")
    #expect(ok.output.isEmpty, "\(ok)")
    #expect(p.runs("upper") == 3)
    let null = try p.kiln("build", "-q")
    #expect(null.output.isEmpty, "a null build is quiet too: \(null)")
    try p.write("kiln.yml", Self.project["kiln.yml"]!.replacingOccurrences(of: "sleep 0.2 &&", with: "exit 3 &&"))
    let failed = try p.kiln("build", "-q")
    #expect(failed.status == 1, "\(failed)")
    #expect(failed.output.contains("FAILED: slow"), "\(failed)")
  }

  /// On a real terminal (a pty from `script`): the status line and colour; with
  /// NO_COLOR, the status line but no colour.
  @Test func colourOnlyOnATerminalAndNeverWithNoColor() throws {
    let p = try TempProject(Self.project)
    #expect(try p.kiln("build").status == 0)
    p.remove("out")
    p.remove("all.txt")
    func onTerminal(_ extra: String) throws -> String {
      try Self.onTerminal(p, "\(extra) TERM=xterm \(TempProject.kilnBinary) build")
    }
    let colored = try onTerminal("")
    #expect(colored.contains("\u{1B}[32m4 restored"), "the summary is coloured on a terminal: \(colored.debugDescription)")
    p.remove("out")
    p.remove("all.txt")
    let plain = try onTerminal("NO_COLOR=1")
    #expect(plain.contains("4 restored"), "\(plain.debugDescription)")
    #expect(!plain.contains("\u{1B}[32m"), "NO_COLOR: no colour: \(plain.debugDescription)")
    #expect(plain.contains("\u{1B}[K"), "the status line is still drawn in place")
  }

  /// `--trace FILE`: Chrome trace JSON, one complete event per instance with its
  /// outcome in args, agreeing with the build's own `--json` outcomes.
  @Test func traceHasOneCompleteEventPerInstance() throws {
    let p = try TempProject(Self.project)
    #expect(try p.kiln("build").status == 0)
    try p.write("src/b.txt", "beta!\n")
    let r = try p.kiln("build", "--json", "--trace", "trace.json")
    #expect(r.status == 0, "\(r)")
    let summary = try #require(Self.json(r))
    let outcomes = Dictionary(uniqueKeysWithValues: ((summary["tasks"] as? [[String: Any]]) ?? []).map {
      (($0["id"] as? String) ?? "", ($0["outcome"] as? String) ?? "")
    })
    let trace = try #require(p.read("trace.json"))
    let doc = try #require((try? JSONSerialization.jsonObject(with: Data(trace.utf8))) as? [String: Any])
    let events = (doc["traceEvents"] as? [[String: Any]]) ?? []
    #expect(events.count == 4, "upper a, b, c and slow: \(trace)")
    #expect(events.allSatisfy { $0["ph"] as? String == "X" && $0["ts"] is NSNumber && $0["dur"] is NSNumber })
    for event in events {
      let name = try #require(event["name"] as? String)
      let outcome = (event["args"] as? [String: Any])?["outcome"] as? String
      #expect(outcome == outcomes[name], "\(name): \(String(describing: outcome)) vs \(String(describing: outcomes[name]))")
    }
    #expect(outcomes["upper src/b.txt"] == "ran")
    #expect(outcomes["upper src/a.txt"] == "up-to-date")
  }

  /// `--html FILE` on real builds: a page with no external resource that draws one bar
  /// per instance of the JSON timeline, critical ones marked, and the same counts.
  @Test func htmlDrawsTheTimelineTheJSONDescribes() throws {
    let p = try threeBuilds()
    try p.write("src/c.txt", "gamma!\n")
    #expect(try p.kiln("build").status == 0)
    let doc = try #require(Self.json(try p.kiln("stats", "--json")))
    let r = try p.kiln("stats", "--html", "report.html")
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout.isEmpty, "the page goes to the file only: \(r)")
    let page = try #require(p.read("report.html"))
    #expect(page.hasPrefix("<!DOCTYPE html>"), "\(page.prefix(80))")
    #expect(!page.contains("://"), "no external resource")
    let timeline = (doc["timeline"] as? [[String: Any]]) ?? []
    #expect(timeline.count == 2, "upper c and slow ran: \(timeline)")
    for bar in timeline {
      let id = try #require(bar["id"] as? String)
      let critical = bar["critical"] as? Bool == true
      let outcome = try #require(bar["outcome"] as? String)
      #expect(page.contains("class=\"bar \(outcome)\(critical ? " critical" : "")\""), "\(id)")
      #expect(page.contains("data-id=\"\(id)\""), "\(id) is drawn")
    }
    #expect(page.components(separatedBy: "data-id=").count - 1 == timeline.count, "one bar per instance")
  }

  /// On a terminal the status line estimates the time left from the last run times:
  /// four 0.6 s tasks one at a time, the second build (nothing cached) says so once
  /// the first has finished.
  @Test func statusLineEstimatesTheTimeLeftFromTheHistory() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          wait:
            foreach: src/*.txt
            outputs: out/{stem}.txt
            run: sleep 0.6 && cp {in} {out}
        """,
      "src/a.txt": "a\n", "src/b.txt": "b\n", "src/c.txt": "c\n", "src/d.txt": "d\n",
    ])
    #expect(try p.kiln("build", "-j1").status == 0)
    p.remove("out")
    let screen = try Self.onTerminal(p, "TERM=xterm \(TempProject.kilnBinary) build -j1 --no-cache")
    // After the first: three tasks of about 0.6 s to go, one at a time (about 1.8 s);
    // after the second, two (about 1.2 s). Each build's own run times make the figure.
    func estimate(after done: Int) -> Double? {
      guard let line = screen.components(separatedBy: "\r").first(where: { $0.hasPrefix("[\(done)/4] wait src/") }),
            let about = line.range(of: ", about ") else { return nil }
      return Double(line[about.upperBound...].prefix { $0.isNumber || $0 == "." })
    }
    let first = try #require(estimate(after: 1), "\(screen.debugDescription)")
    let second = try #require(estimate(after: 2), "\(screen.debugDescription)")
    // Sleeps never take less than asked, so these lower bounds hold on a loaded machine.
    #expect(first > 1.5, "\(first)")
    #expect(second > 1.0, "\(second)")
    #expect(second < first)
  }
}
