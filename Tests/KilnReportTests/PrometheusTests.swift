import Foundation
import KilnReport
import KilnTestSupport
import Testing

/// `kiln stats --prometheus` on a hand-made history of three builds: two in the main
/// checkout, one in workspace `agent-1`.
@Suite struct PrometheusTests {
  /// A task whose name needs escaping in a label value.
  static let oddTask = #"quote"back\slash"#

  static func build(_ id: Int64, _ workspace: String?, wall: Double, _ counts: Counts,
                    _ outcomes: [HistoryOutcome], upToDate: [String: (count: Int, saved: Double)] = [:]) -> HistoryBuild {
    HistoryBuild(figures: BuildFigures(id: id, started: 1_700_000_000 + Double(id) * 100, wallTime: wall,
                                       workspace: workspace, exitStatus: counts.failed > 0 ? 1 : 0, counts: counts),
                 outcomes: outcomes, upToDate: upToDate)
  }

  static func counts(ran: Int = 0, restored: Int = 0, upToDate: Int = 0, failed: Int = 0, skipped: Int = 0,
                     saved: Double = 0) -> Counts {
    var c = Counts()
    c.ran = ran; c.restored = restored; c.upToDate = upToDate; c.failed = failed; c.skipped = skipped
    c.timeSaved = saved; c.builds = 1
    return c
  }

  static func outcome(_ id: String, _ outcome: String, _ start: Double, _ end: Double, _ reasons: [String] = [])
    -> HistoryOutcome
  {
    HistoryOutcome(id: id, task: String(id.split(separator: ":").first!), outcome: outcome, reasonKinds: reasons,
                   duration: end - start, started: start, finished: end)
  }

  static let history: [HistoryBuild] = [
    build(1, nil, wall: 3.0, counts(ran: 3), [
      outcome("compile:a", "ran", 0, 1.2, ["never-built"]),
      outcome("compile:b", "ran", 0, 0.9, ["never-built"]),
      outcome("link", "ran", 1.2, 1.7, ["never-built"]),
    ]),
    build(2, "agent-1", wall: 0.7, counts(ran: 2, restored: 1, saved: 1.2), [
      HistoryOutcome(id: "compile:a", task: "compile", outcome: "restored", duration: 1.2, started: 0, finished: 0.02),
      outcome("compile:b", "ran", 0, 0.3, ["input-changed"]),
      outcome("link", "ran", 0.3, 0.7, ["input-changed"]),
    ]),
    build(3, nil, wall: 2.0, counts(ran: 2, upToDate: 1, failed: 1, skipped: 1, saved: 0.5), [
      outcome("compile:a", "ran", 0, 1.2, ["input-changed"]),
      outcome("compile:b", "ran", 0, 0.9, ["input-changed"]),
      outcome(oddTask, "failed", 1.2, 1.25, ["always"]),
      outcome("deploy", "skipped", 1.25, 1.25),
    ], upToDate: ["link": (1, 0.5)]),
  ]

  static var report: StatsReport {
    var r = StatsReport(history: history, facts: TaskFacts(dependencies: [oddTask: ["compile:a"]], sla: ["compile": 1.0]),
                        window: 20)
    r.cacheBytes = 123_456_789
    r.cacheFiles = 42
    return r
  }

  static var lines: [String] { Prometheus.render(report).split(separator: "\n").map(String.init) }

  @Test func countsPerWorkspaceOverTheWindow() {
    let l = Self.lines
    for line in [
      #"kiln_builds_total{workspace="(main)"} 2"#,
      #"kiln_builds_total{workspace="agent-1"} 1"#,
      #"kiln_task_instances_total{workspace="(main)",outcome="ran"} 5"#,
      #"kiln_task_instances_total{workspace="(main)",outcome="restored"} 0"#,
      #"kiln_task_instances_total{workspace="(main)",outcome="up_to_date"} 1"#,
      #"kiln_task_instances_total{workspace="(main)",outcome="failed"} 1"#,
      #"kiln_task_instances_total{workspace="(main)",outcome="skipped"} 1"#,
      #"kiln_task_instances_total{workspace="agent-1",outcome="ran"} 2"#,
      #"kiln_task_instances_total{workspace="agent-1",outcome="restored"} 1"#,
      // Restores only, less the restore's time: build 2's 1.2 s run restored in 0.02 s;
      // build 3's up-to-date link saved nothing.
      #"kiln_time_saved_seconds_total{workspace="(main)"} 0"#,
      #"kiln_time_saved_seconds_total{workspace="agent-1"} 1.18"#,
      #"kiln_hit_rate{workspace="(main)"} 0.16666666666666666"#,
      #"kiln_hit_rate{workspace="agent-1"} 0.3333333333333333"#,
    ] {
      #expect(l.contains(line), "missing: \(line)")
    }
  }

  @Test func countsPerTaskAndReason() {
    let l = Self.lines
    for line in [
      #"kiln_window_task_outcomes{task="compile",outcome="ran"} 5"#,
      #"kiln_window_task_outcomes{task="compile",outcome="restored"} 1"#,
      #"kiln_window_task_outcomes{task="link",outcome="ran"} 2"#,
      #"kiln_window_task_outcomes{task="link",outcome="up_to_date"} 1"#,
      #"kiln_window_task_outcomes{task="deploy",outcome="skipped"} 1"#,
      #"kiln_window_task_time_saved_seconds{task="compile"} 1.18"#,
      #"kiln_window_task_time_saved_seconds{task="link"} 0"#,
      #"kiln_window_cache_misses{reason="input-changed"} 4"#,
      #"kiln_window_cache_misses{reason="never-built"} 3"#,
    ] {
      #expect(l.contains(line), "missing: \(line)")
    }
  }

  @Test func lastBuildGauges() {
    let l = Self.lines
    for line in [
      "kiln_last_build_timestamp_seconds 1700000300",
      "kiln_last_build_wall_seconds 2",
      "kiln_last_build_exit_status 1",
      #"kiln_last_build_task_instances{outcome="ran"} 2"#,
      #"kiln_last_build_task_instances{outcome="up_to_date"} 1"#,
      "kiln_last_build_hit_rate 0.3333333333333333",
      #"kiln_sla_violations{task="compile"} 1"#,
      #"kiln_sla_warnings{task="compile"} 1"#,
      #"kiln_sla_violations{task="link"} 0"#,
      "kiln_critical_path_seconds 1.25",
      "kiln_bottlenecks 0",
      "kiln_regressions 0",
      "kiln_cache_bytes 123456789",
      "kiln_cache_files 42",
    ] {
      #expect(l.contains(line), "missing: \(line)")
    }
  }

  @Test func labelValuesAreEscaped() {
    #expect(Self.lines.contains(#"kiln_window_task_outcomes{task="quote\"back\\slash",outcome="failed"} 1"#))
    #expect(Prometheus.quoted("a\"b\\c\nd") == #""a\"b\\c\nd""#)
  }

  @Test func numbersAreWhatPromtoolReads() {
    #expect(Prometheus.number(.infinity) == "+Inf")
    #expect(Prometheus.number(-.infinity) == "-Inf")
    #expect(Prometheus.number(.nan) == "NaN")
    #expect(Prometheus.number(3) == "3")
    #expect(Prometheus.number(-0.0) == "0")
    #expect(Prometheus.number(0.25) == "0.25")
    #expect(Prometheus.number(0.00001) == "1e-05")
  }

  @Test func buildDurationHistogramIsCumulative() {
    let l = Self.lines
    let main = l.filter { $0.hasPrefix(#"kiln_build_duration_seconds_bucket{workspace="(main)""#) }
    #expect(main == [
      #"kiln_build_duration_seconds_bucket{workspace="(main)",le="0.1"} 0"#,
      #"kiln_build_duration_seconds_bucket{workspace="(main)",le="0.5"} 0"#,
      #"kiln_build_duration_seconds_bucket{workspace="(main)",le="1"} 0"#,
      #"kiln_build_duration_seconds_bucket{workspace="(main)",le="5"} 2"#,
      #"kiln_build_duration_seconds_bucket{workspace="(main)",le="10"} 2"#,
      #"kiln_build_duration_seconds_bucket{workspace="(main)",le="30"} 2"#,
      #"kiln_build_duration_seconds_bucket{workspace="(main)",le="60"} 2"#,
      #"kiln_build_duration_seconds_bucket{workspace="(main)",le="300"} 2"#,
      #"kiln_build_duration_seconds_bucket{workspace="(main)",le="+Inf"} 2"#,
    ])
    #expect(l.contains(#"kiln_build_duration_seconds_sum{workspace="(main)"} 5"#))
    #expect(l.contains(#"kiln_build_duration_seconds_count{workspace="(main)"} 2"#))
    #expect(l.contains(#"kiln_build_duration_seconds_bucket{workspace="agent-1",le="0.5"} 0"#))
    #expect(l.contains(#"kiln_build_duration_seconds_bucket{workspace="agent-1",le="1"} 1"#))
    #expect(l.contains(#"kiln_build_duration_seconds_sum{workspace="agent-1"} 0.7"#))
    #expect(l.contains(#"kiln_build_duration_seconds_count{workspace="agent-1"} 1"#))
  }

  @Test func taskDurationHistogramOfTheLastBuild() {
    let l = Self.lines
    let compile = l.filter { $0.hasPrefix(#"kiln_task_duration_seconds_bucket{task="compile",outcome="ran""#) }
    #expect(compile.map { $0.split(separator: " ").last! } == ["0", "0", "0", "1", "2", "2", "2", "2"])
    #expect(l.contains(#"kiln_task_duration_seconds_sum{task="compile",outcome="ran"} 2.1"#))
    #expect(l.contains(#"kiln_task_duration_seconds_count{task="compile",outcome="ran"} 2"#))
    #expect(l.contains(#"kiln_task_duration_seconds_bucket{task="quote\"back\\slash",outcome="failed",le="0.1"} 1"#))
    // Skipped instances took no time: no series.
    #expect(!l.contains { $0.hasPrefix(#"kiln_task_duration_seconds_bucket{task="deploy""#) })
  }

  /// Every histogram's buckets never decrease, and `+Inf` equals `_count`.
  @Test func everyHistogramIsConsistent() {
    var buckets: [String: [Double]] = [:]
    var countOf: [String: Double] = [:]
    for line in Self.lines where !line.hasPrefix("#") {
      let value = Double(line.split(separator: " ").last!)!
      if let r = line.range(of: "_bucket{") {
        let name = String(line[..<r.lowerBound])
        let labels = line[r.upperBound...].replacing(/,?le="[^"]*"\}.*/, with: "")
        buckets[name + "{" + labels, default: []].append(value)
      } else if let r = line.range(of: "_count{") {
        let labels = line[r.upperBound...].replacing(/\}.*/, with: "")
        countOf[String(line[..<r.lowerBound]) + "{" + labels] = value
      }
    }
    #expect(buckets.count == 2 + 2)  // 2 workspaces; compile ran, quote"back\slash failed
    for (series, values) in buckets {
      #expect(values == values.sorted(), "\(series) decreases")
      #expect(values.last == countOf[series], "\(series): +Inf is not _count")
    }
  }

  /// One HELP and one TYPE per family, before its samples, and its samples together.
  @Test func familiesDoNotRepeat() {
    var typed: [String] = []
    var helped: Set<String> = []
    var current = ""
    for line in Self.lines {
      let words = line.split(separator: " ").map(String.init)
      if words[0] == "#" {
        if words[1] == "HELP" {
          #expect(helped.insert(words[2]).inserted, "two HELP lines for \(words[2])")
        } else {
          #expect(words[1] == "TYPE")
          #expect(!typed.contains(words[2]), "two TYPE lines for \(words[2])")
          #expect(helped.contains(words[2]), "TYPE before HELP for \(words[2])")
          typed.append(words[2])
          current = words[2]
          #expect(words[2].hasPrefix("kiln_"))
          #expect((words[3] == "counter") == words[2].hasSuffix("_total"), "\(words[2]) is a \(words[3])")
        }
        continue
      }
      let name = String(line.prefix { $0 != "{" && $0 != " " })
      let family = typed.last { name == $0 || name == $0 + "_bucket" || name == $0 + "_sum" || name == $0 + "_count" }
      #expect(family == current, "\(name) outside its family")
    }
    #expect(typed.count == 21)
  }

  @Test func emptyHistoryRendersNothing() {
    #expect(Prometheus.render(StatsReport(history: [], facts: TaskFacts(), window: 20)) == "")
    var r = StatsReport(window: 20)
    r.cacheBytes = 0
    #expect(Prometheus.render(r) == "# HELP kiln_cache_bytes Bytes in the local cache.\n# TYPE kiln_cache_bytes gauge\nkiln_cache_bytes 0\n")
  }

  /// The real parser and linter.
  @Test func promtoolAcceptsIt() throws {
    let candidates = TestTools.promtoolCandidates
    guard let promtool = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
      Issue.record("promtool not found at \(candidates.joined(separator: ", ")): `make test` extracts it from the Debian package prometheus into .build/test-tools")
      return
    }
    // A workspace name with a newline, a quote and a backslash in it, too.
    var odd = Self.history
    odd[1].figures.workspace = "new\nline \"and\\"
    let reports = [
      Self.report, StatsReport(history: Array(Self.history.prefix(1)), facts: TaskFacts(), window: 20),
      StatsReport(history: odd, facts: TaskFacts(), window: 20),
    ]
    #expect(Prometheus.render(reports[2]).contains(#"kiln_builds_total{workspace="new\nline \"and\\"} 1"#))
    for report in reports {
      let text = Prometheus.render(report)
      let process = Process()
      process.executableURL = URL(fileURLWithPath: promtool)
      process.arguments = ["check", "metrics"]
      let scratch = TempDirectory(prefix: "kiln-report-promtool")
      process.environment = TestEnvironment.variables(in: scratch)
      defer { withExtendedLifetime(scratch) {} }
      let input = Pipe()
      let output = Pipe()
      process.standardInput = input
      process.standardOutput = output
      process.standardError = output
      try process.run()
      input.fileHandleForWriting.write(Data(text.utf8))
      try input.fileHandleForWriting.close()
      let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      process.waitUntilExit()
      #expect(process.terminationStatus == 0, "promtool check metrics: \(said)")
    }
  }
}
