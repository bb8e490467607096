import Foundation
import KilnReport
import KilnTestSupport
import Testing

/// `kiln stats --html`: the page's content on hand-made reports, and what a person sees
/// when Chromium (Debian's `chromium` package; `make test` installs it) renders it.
@Suite struct HTMLReportTests {
  // MARK: - The page's content

  @Test func escapesEveryTextFromTheHistory() {
    var report = Self.tinyReport()
    report.timeline[0].id = "check <script>alert('x')</script> & \"more\""
    report.slowest[0].id = report.timeline[0].id
    let html = HTMLReport.render(report, title: "kiln stats: <demo> & co")
    #expect(!html.contains("<script"))
    #expect(!html.contains("alert('x')"))
    #expect(html.contains("check &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;"))
    #expect(html.contains("<title>kiln stats: &lt;demo&gt; &amp; co</title>"))
    #expect(HTMLReport.escape("a&b<c>d\"e'f") == "a&amp;b&lt;c&gt;d&quot;e&#39;f")
  }

  @Test func oneBarPerTimelineEntryAndTheCriticalPathMarked() {
    let report = Self.tinyReport()
    let html = HTMLReport.render(report, title: "t")
    #expect(html.contains("id=\"timeline\""))
    #expect(Self.count("class=\"bar ", in: html) == report.timeline.count)
    #expect(Self.count(" critical\" ", in: html) == report.timeline.filter(\.onCriticalPath).count)
    #expect(html.contains("<rect class=\"bar ran critical\""))
    #expect(html.contains("<rect class=\"bar restored\""))
    #expect(html.contains("<rect class=\"bar failed critical\""))
    for bar in report.timeline { #expect(html.contains("data-id=\"\(bar.id)\" data-task=\"\(bar.task)\"")) }
    // One hit-rate bar per build of the history.
    #expect(Self.count("<rect class=\"build hit", in: html) == report.history.count)
  }

  @Test func selfContained() {
    let html = HTMLReport.render(Self.sample(), title: "kiln stats: demo")
    for external in ["://", "src=", "href=", "url(", "@import", "<script", "<link", "<img", "<iframe"] {
      #expect(!html.contains(external), "the page must load nothing: found \(external)")
    }
    #expect(html.contains("Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\""))
    #expect(html.hasPrefix("<!DOCTYPE html>"))
  }

  @Test func slaStatesStyled() {
    let html = HTMLReport.render(Self.tinyReport(), title: "t")
    #expect(html.contains("<tr class=\"sla-warning\"><td><span class=\"id\">test</span>"))
    #expect(html.contains("<tr class=\"sla-violation\"><td><span class=\"id\">link</span>"))
  }

  @Test func sampleShowsEveryFigure() {
    let report = Self.sample()
    // The sample is what docs/stats-report.png shows; these keep it showing everything.
    // Like with like: table.c against compile's other sources, test against the other
    // tasks of one instance.
    #expect(report.bottlenecks.map(\.id) == ["test", "compile src/lib/table.c"])
    #expect(report.bottlenecks.map(\.basis) == ["tasks", "task"])
    #expect(report.sla.map(\.id) == ["test"])
    #expect(report.regressions.map(\.id) == ["compile src/lib/table.c"])
    #expect(report.criticalPath?.steps.map(\.id) == ["compile src/lib/table.c", "archive", "link", "test"])
    #expect(report.history.count == 10)
    let html = HTMLReport.render(report, title: "kiln stats: demo")
    for id in ["slowest", "critical-path", "bottlenecks", "sla", "regressions", "misses", "per-task", "per-workspace"] {
      #expect(html.contains("<section id=\"\(id)\""))
    }
    // Two job slots, at most two busy; the cache's size after the builds that stored.
    #expect(html.contains("<svg id=\"busy-slots\""))
    #expect(html.contains("class=\"jobs-line\""))
    #expect(!html.contains("data-running=\"3\""), "never more than -j 2")
    #expect(html.contains("<svg id=\"cache-size\""))
    #expect(html.components(separatedBy: "class=\"build cache\"").count - 1
            == report.history.filter { $0.cacheBytes != nil }.count)
    #expect(html.contains("<span class=\"status ok\">succeeded</span>"))
    #expect(html.contains("agent-1"))
  }

  @Test func emptyReport() {
    let html = HTMLReport.render(StatsReport(history: [], facts: TaskFacts(), window: 20), title: "kiln stats: x")
    #expect(html.contains("No builds recorded yet."))
    #expect(!html.contains("id=\"timeline\""))
    #expect(html.hasSuffix("</html>\n"))
  }

  @Test func nullBuildHasNoBarsButSaysWhy() {
    var report = Self.tinyReport()
    report.timeline = []
    report.criticalPath = nil
    let html = HTMLReport.render(report, title: "t")
    #expect(!html.contains("class=\"bar "))
    #expect(html.contains("every task was up to date"))
  }

  @Test func numbers() {
    #expect(HTMLReport.duration(0.0423) == "42 ms")
    #expect(HTMLReport.duration(0.0002) == "<1 ms")
    #expect(HTMLReport.duration(0) == "0 ms")
    #expect(HTMLReport.duration(1.234) == "1.23 s")
    #expect(HTMLReport.duration(12.34) == "12.3 s")
    #expect(HTMLReport.duration(125) == "2 m 05 s")
    #expect(HTMLReport.duration(3720) == "1 h 02 m")
    #expect(HTMLReport.duration(.nan) == "–")
    #expect(HTMLReport.percent(0.625) == "63%")
    #expect(HTMLReport.percent(0.999) == "99%")
    #expect(HTMLReport.percent(1) == "100%")
    #expect(HTMLReport.percent(nil) == "–")
    #expect(HTMLReport.fixed(-0.04, 1) == "0.0")
    #expect(HTMLReport.fixed(2.5, 2) == "2.50")
    #expect(HTMLReport.date(0) == "1970-01-01 00:00 UTC")
    #expect(HTMLReport.date(1_767_225_600 + 13 * 3600 + 30 * 60) == "2026-01-01 13:30 UTC")
    #expect(HTMLReport.date(951_782_400) == "2000-02-29 00:00 UTC")
  }

  // MARK: - In a real browser

  /// Chromium loads the page with no console message at all (a blocked load, a script
  /// error or an injected script would each log one), and its DOM holds every task.
  /// A second run takes a screenshot: a page that draws nothing would be a few KB.
  /// `KILN_REPORT_SCREENSHOT=docs/stats-report.png swift test --filter HTMLReportTests`
  /// also writes the screenshot there (the sample below; the README shows it), and
  /// `KILN_REPORT_HTML=FILE` the page.
  @Test func rendersInHeadlessChromium() async throws {
    guard let chromium = Self.chromium() else {
      Issue.record("""
        chromium is not installed: install Debian's `chromium` package \
        (apt-get install -y chromium; `make test` installs it)
        """)
      return
    }
    var report = Self.sample()
    // An instance id that would run a script if it were not escaped.
    report.timeline[1].id = "check <script>console.error('injected')</script> & co"
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-html-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let page = dir.appendingPathComponent("report.html")
    try HTMLReport.render(report, title: "kiln stats: demo").write(to: page, atomically: true, encoding: .utf8)
    let clean = dir.appendingPathComponent("clean.html")
    try HTMLReport.render(Self.sample(), title: "kiln stats: demo").write(to: clean, atomically: true, encoding: .utf8)
    let png = dir.appendingPathComponent("report.png")

    // Both at once: each Chromium start is about a second.
    async let dumped = Self.run(chromium, ["--dump-dom", page.absoluteString],
                                profile: dir.appendingPathComponent("p1"))
    async let shot = Self.run(chromium, ["--screenshot=\(png.path)", "--window-size=1200,900", "--hide-scrollbars",
                                         clean.absoluteString], profile: dir.appendingPathComponent("p2"))
    let dom = try await dumped
    let screenshot = try await shot

    for result in [dom, screenshot] {
      #expect(result.status == 0, "chromium exited \(result.status): \(result.stderr.suffix(2000))")
      let complaints = result.stderr.split(separator: "\n")
        .filter { $0.contains(":CONSOLE") || $0.contains("Uncaught") }
      #expect(complaints.isEmpty, "the page logged: \(complaints.joined(separator: "\n"))")
    }
    #expect(dom.stdout.contains("<svg id=\"timeline\""))
    // The job slots busy over the last build, and the cache's size per build.
    #expect(dom.stdout.contains("<svg id=\"busy-slots\""))
    #expect(Self.count("<rect class=\"busy\"", in: dom.stdout) > 0)
    #expect(Self.count("class=\"build cache\"", in: dom.stdout) == report.history.filter { $0.cacheBytes != nil }.count)
    #expect(Self.count("<rect class=\"bar ", in: dom.stdout) == report.timeline.count)
    #expect(Self.count("class=\"bar ran critical\"", in: dom.stdout) == 4)
    for bar in report.timeline where !bar.id.contains("<") {
      #expect(dom.stdout.contains("data-id=\"\(bar.id)\""), "the page does not show \(bar.id)")
    }
    #expect(dom.stdout.contains("check &lt;script&gt;console.error('injected')&lt;/script&gt; &amp; co"))
    #expect(!dom.stdout.contains("<script"))
    for task in report.perTask { #expect(dom.stdout.contains(">\(task.name)</span>")) }

    let bytes = try Data(contentsOf: png)
    #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "no PNG written")
    #expect(bytes.count > 40_000, "the screenshot is \(bytes.count) bytes: is the page blank?")
    for (variable, file) in [("KILN_REPORT_SCREENSHOT", png), ("KILN_REPORT_HTML", clean)] {
      guard let keep = ProcessInfo.processInfo.environment[variable], !keep.isEmpty else { continue }
      try? FileManager.default.removeItem(atPath: keep)
      try FileManager.default.copyItem(at: file, to: URL(fileURLWithPath: keep))
    }
  }

  // MARK: - Chromium

  struct Run: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  static func chromium() -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") + ["/usr/bin"] {
      for name in ["chromium", "chromium-browser"] {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      }
    }
    return nil
  }

  /// Headless Chromium with a profile of its own (two can run at once), as root too
  /// (`--no-sandbox`), console messages on stderr; killed after a minute.
  static func run(_ chromium: String, _ arguments: [String], profile: URL) async throws -> Run {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: chromium)
    process.arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--enable-logging=stderr", "--no-first-run", "--user-data-dir=\(profile.path)"] + arguments
    // Chromium writes under HOME (~/.cache, ~/.config, ~/.pki) whatever its profile.
    process.environment = TestEnvironment.variables(home: profile.path + "-home", cache: profile.path + "-home/.cache/kiln")
    let out = profile.appendingPathExtension("out"), err = profile.appendingPathExtension("err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
    process.standardOutput = outHandle
    process.standardError = errHandle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let started = Date()
    while process.isRunning {
      let waited = Date().timeIntervalSince(started)
      if waited > 70 { kill(process.processIdentifier, SIGKILL) } else if waited > 60 { process.terminate() }
      try await Task.sleep(for: .milliseconds(20))
    }
    try outHandle.close()
    try errHandle.close()
    return Run(status: process.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8),
               stderr: try String(contentsOf: err, encoding: .utf8))
  }

  // MARK: - Reports

  static func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

  /// A small report from a hand-made history: two builds, two lanes, a failure, an SLA
  /// warning (test) and a violation (link).
  static func tinyReport() -> StatsReport {
    func build(_ id: Int64, exit: Int32, _ outcomes: [HistoryOutcome]) -> HistoryBuild {
      var counts = Counts()
      counts.builds = 1
      counts.upToDate = 3
      counts.ran = outcomes.filter { $0.outcome == "ran" }.count
      counts.restored = outcomes.filter { $0.outcome == "restored" }.count
      counts.failed = outcomes.filter { $0.outcome == "failed" }.count
      return HistoryBuild(
        figures: BuildFigures(id: id, started: 1_767_225_600 + Double(id) * 600, wallTime: 4, workspace: nil,
                              exitStatus: exit, counts: counts, targets: "test"),
        outcomes: outcomes, upToDate: ["lint": (3, 0.3)])
    }
    let last = [
      HistoryOutcome(id: "compile a.c", task: "compile", outcome: "ran", reasonKinds: ["input-changed"], duration: 1.5,
                     started: 0, finished: 1.5),
      HistoryOutcome(id: "compile b.c", task: "compile", outcome: "restored", duration: 1.2, started: 0, finished: 0.1),
      HistoryOutcome(id: "link", task: "link", outcome: "ran", reasonKinds: ["input-changed"], duration: 1,
                     started: 1.5, finished: 2.5),
      HistoryOutcome(id: "test", task: "test", outcome: "failed", duration: 1.5, started: 2.5, finished: 4),
    ]
    let facts = TaskFacts(dependencies: ["link": ["compile a.c", "compile b.c"], "test": ["link"]],
                          sla: ["link": 0.5, "test": 1.8])
    return StatsReport(history: [build(6, exit: 0, Array(last.prefix(3))), build(7, exit: 1, last)], facts: facts,
                       window: 20)
  }

  /// A realistic report: the demo's shape (render x3, registry, compile x8,
  /// compile-main, archive, link, test) over ten builds on two job slots, computed by
  /// `StatsReport` itself. The last build changed a template and src/lib/table.c, whose
  /// compile got slow: a bottleneck, a regression and the head of the critical path;
  /// the test nears its sla.
  static func sample() -> StatsReport {
    let sampleInstances: [(id: String, task: String, deps: [String], seconds: Double)] = [
      ("compile src/lib/table.c", "compile", [], 1.1),
      ("render templates/circle.tmpl", "render", [], 0.12),
      ("render templates/square.tmpl", "render", [], 0.11),
      ("render templates/hexagon.tmpl", "render", [], 0.13),
      ("registry", "registry", [], 0.08),
      ("compile src/lib/area.c", "compile", [], 0.92),
      ("compile src/lib/perimeter.c", "compile", [], 0.85),
      ("compile src/lib/shape.c", "compile", [], 1.05),
      ("compile gen/circle.c", "compile", ["render templates/circle.tmpl"], 0.6),
      ("compile gen/square.c", "compile", ["render templates/square.tmpl"], 0.58),
      ("compile gen/hexagon.c", "compile", ["render templates/hexagon.tmpl"], 0.63),
      ("compile gen/registry.c", "compile", ["registry"], 0.5),
      ("compile-main", "compile-main", [], 0.8),
      ("archive", "archive", compiles, 0.15),
      ("link", "link", ["archive", "compile-main"], 0.45),
      ("test", "test", ["link"], 1.3),
    ]
    let downstream = ["archive", "link", "test"]
    // What each build did to each instance: r ran, s restored, f failed, k skipped, else up to date.
    typealias Plan = (workspace: String?, reason: String, outcomes: [String: Character], exit: Int32)
    let allRan = Dictionary(uniqueKeysWithValues: sampleInstances.map { ($0.id, Character("r")) })
    let allRestored = Dictionary(uniqueKeysWithValues: sampleInstances.map { ($0.id, Character("s")) })
    func edit(_ ids: [String], _ then: Character = "r") -> [String: Character] {
      Dictionary(uniqueKeysWithValues: ids.map { ($0, Character("r")) } + downstream.map { ($0, then) })
    }
    var seventh = allRestored
    for id in ["compile-main", "link", "test"] { seventh[id] = "r" }
    var failing = edit(["compile src/lib/shape.c"], "k")
    failing["compile src/lib/shape.c"] = "f"
    var last = edit(["render templates/circle.tmpl", "compile gen/circle.c", "compile src/lib/table.c"])
    for id in ["compile src/lib/area.c", "compile src/lib/perimeter.c", "compile src/lib/shape.c",
               "compile gen/square.c", "compile gen/hexagon.c", "compile gen/registry.c", "compile-main"] {
      last[id] = "s"
    }
    let plans: [Plan] = [
      (nil, "never-built", allRan, 0),
      (nil, "input-changed", edit(["compile src/lib/table.c"]), 0),
      ("agent-1", "", allRestored, 0),
      (nil, "input-changed", edit(["render templates/square.tmpl", "compile gen/square.c"]), 0),
      (nil, "input-changed", failing, 1),
      (nil, "input-changed", edit(["compile src/lib/shape.c"]), 0),
      ("agent-1", "input-changed", seventh, 0),
      (nil, "env-changed", edit(compiles), 0),
      (nil, "", [:], 0),
      (nil, "input-changed", last, 0),
    ]

    var history: [HistoryBuild] = []
    for (b, plan) in plans.enumerated() {
      var slots = [0.0, 0.0]
      var finished: [String: Double] = [:]
      var outcomes: [HistoryOutcome] = []
      var upToDate: [String: (count: Int, saved: Double)] = [:]
      var counts = Counts()
      counts.builds = 1
      for (i, instance) in sampleInstances.enumerated() {
        var seconds = instance.seconds * (1 + 0.08 * Double((b * 7 + i * 3) % 5 - 2) / 2)
        if b == plans.count - 1 && instance.id == "compile src/lib/table.c" { seconds = 3.2 }
        if b == plans.count - 1 && instance.id == "test" { seconds = 1.45 }
        let kind = plan.outcomes[instance.id] ?? "u"
        if kind == "u" {
          upToDate[instance.task, default: (0, 0)].count += 1
          upToDate[instance.task, default: (0, 0)].saved += seconds
          counts.upToDate += 1
          counts.timeSaved += seconds
          finished[instance.id] = 0
          continue
        }
        let ready = instance.deps.map { finished[$0] ?? 0 }.max() ?? 0
        let slot = slots[0] <= slots[1] ? 0 : 1
        let start = kind == "k" ? ready : max(ready, slots[slot])
        let took = kind == "s" ? 0.03 + 0.01 * Double(i % 3) : kind == "k" ? 0 : seconds
        if kind != "k" { slots[slot] = start + took }
        finished[instance.id] = start + took
        let outcome = ["r": "ran", "s": "restored", "f": "failed", "k": "skipped"][kind]!
        switch kind {
        case "r": counts.ran += 1
        case "s": counts.restored += 1; counts.timeSaved += seconds
        case "f": counts.failed += 1
        default: counts.skipped += 1
        }
        outcomes.append(HistoryOutcome(id: instance.id, task: instance.task, outcome: outcome,
                                       reasonKinds: kind == "r" ? [plan.reason] : [],
                                       duration: kind == "s" ? seconds : took, started: start, finished: start + took,
                                       ready: ready))
      }
      let wall = (finished.values.max() ?? 0) + 0.04
      let figures = BuildFigures(id: Int64(31 + b), started: 1_767_225_600 + Double(b) * 5_400, wallTime: wall,
                                 workspace: plan.workspace, exitStatus: plan.exit, counts: counts, targets: "link test",
                                 commit: String(repeating: Array("0123456789abcdef")[b % 16], count: 40), jobs: 2,
                                 cacheBytes: counts.ran > 0 ? 43_500_000 + Int64(b) * 580_000 : nil)
      history.append(HistoryBuild(figures: figures, outcomes: outcomes, upToDate: upToDate))
    }
    let facts = TaskFacts(dependencies: Dictionary(uniqueKeysWithValues: sampleInstances.map { ($0.id, $0.deps) }),
                          sla: ["test": 1.7, "link": 2])
    var report = StatsReport(history: history, facts: facts, window: 20)
    report.cacheBytes = 48_734_208
    report.cacheFiles = 212
    return report
  }

  static let compiles = [
    "compile src/lib/table.c", "compile src/lib/area.c", "compile src/lib/perimeter.c", "compile src/lib/shape.c",
    "compile gen/circle.c", "compile gen/square.c", "compile gen/hexagon.c", "compile gen/registry.c",
  ]
}
