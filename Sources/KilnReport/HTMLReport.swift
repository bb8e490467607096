/// `kiln stats --html FILE`: the report as one self-contained page. Inline CSS and
/// inline SVG only: no script, no font, no image, no URL; the page's
/// Content-Security-Policy allows nothing else, so a browser refuses (and reports) any
/// load that slipped in. Every text from the history is escaped. The same report always
/// gives the same bytes (no "generated at" date), so pages can be compared.
///
/// Hooks for tests and scripts: `id="summary"`, `id="timeline"` (one
/// `<rect class="bar OUTCOME[ critical]" data-id data-task data-lane>` per instance),
/// `id="hit-rate"` and `id="wall-time"` (one `class="build ..." data-build` per build),
/// `id="busy-slots"` (the last build's running instances over time: one
/// `<rect class="busy" data-running data-start data-end>` per step, and the `-j` line
/// `class="jobs-line"`), `id="cache-size"` (one `<circle class="build cache"
/// data-build data-bytes>` per build that recorded the cache's size),
/// and one `<section id="...">` per table (`slowest`, `critical-path`, `bottlenecks`,
/// `sla`, `regressions`, `misses`, `per-task`, `per-workspace`).
package enum HTMLReport {
  package static func render(_ report: StatsReport, title: String) -> String {
    var html = head(title)
    html += "<main>\n"
    html += summary(report, title: title)
    if report.last != nil {
      html += timeline(report)
      html += "<div class=\"grid\">\n"
      html += busyChart(report) + cacheSizeChart(report)
      html += hitRateChart(report) + wallTimeChart(report)
      html += slowest(report) + criticalPath(report) + bottlenecks(report) + sla(report)
      html += regressions(report) + misses(report) + perTask(report) + perWorkspace(report)
      html += "</div>\n"
    }
    html += footer(report)
    html += "</main>\n</body>\n</html>\n"
    return html
  }

  /// Text for HTML content and attribute values: `&`, `<`, `>`, `"` and `'` escaped,
  /// control characters (which HTML forbids) replaced.
  package static func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for c in text.unicodeScalars {
      switch c {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      case "\t", "\n": out.unicodeScalars.append(c)
      default:
        if c.value < 0x20 || c.value == 0x7F { out += "\u{FFFD}" } else { out.unicodeScalars.append(c) }
      }
    }
    return out
  }
}

// MARK: - Page and summary

extension HTMLReport {
  private static func head(_ title: String) -> String {
    """
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
    <meta name="generator" content="kiln stats">
    <title>\(escape(title))</title>
    <style>\(css)</style>
    </head>
    <body>

    """
  }

  private static let css = """

    :root{--ran:#4e79a7;--restored:#59a14f;--uptodate:#a6d49b;--failed:#e15759;--skipped:#bab0ac;
      --critical:#f28e2b;--ink:#1f2328;--muted:#5f6a76;--faint:#8c959f;--line:#d8dee4;--bg:#f3f5f7;--card:#fff;
      --zebra:#f6f8fa;--warn:#8a5a00;--warn-bg:#fff4d6;--bad:#b42318;--bad-bg:#fde8e6;--ok:#1a7f37;--ok-bg:#dcf5e2}
    *{box-sizing:border-box}
    body{margin:0;background:var(--bg);color:var(--ink);
      font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
    main{max-width:1200px;margin:0 auto;padding:20px 24px 32px}
    h1{font-size:21px;margin:0;font-weight:650}
    h2{font-size:15px;margin:0 0 2px;font-weight:620}
    .panel{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin-top:16px;
      min-width:0}
    .grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:16px;margin-top:16px}
    .grid>.panel{margin-top:0}
    .wide{grid-column:1/-1}
    @media (max-width:820px){.grid{grid-template-columns:minmax(0,1fr)}}
    .note{color:var(--muted);margin:0 0 10px;font-size:13px}
    .empty{color:var(--faint);margin:6px 0 2px;font-style:italic}
    .title-row{display:flex;align-items:center;gap:12px;flex-wrap:wrap}
    .status{font-size:12px;font-weight:600;padding:2px 10px;border-radius:11px}
    .status.ok{color:var(--ok);background:var(--ok-bg)}
    .status.failed{color:var(--bad);background:var(--bad-bg)}
    .meta{color:var(--muted);margin:4px 0 14px;font-size:13px}
    .cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(118px,1fr));gap:10px}
    .card{border:1px solid var(--line);border-radius:6px;padding:8px 12px 9px;border-top:3px solid var(--line)}
    .card .value{font-size:23px;font-weight:620;font-variant-numeric:tabular-nums;white-space:nowrap}
    .card .label{color:var(--muted);font-size:11.5px;text-transform:uppercase;letter-spacing:.05em}
    .card .sub{color:var(--faint);font-size:12px}
    .card.hit{border-top-color:var(--restored)} .card.ran{border-top-color:var(--ran)}
    .card.restored{border-top-color:var(--restored)} .card.up-to-date{border-top-color:var(--uptodate)}
    .card.failed{border-top-color:var(--failed)} .card.skipped{border-top-color:var(--skipped)}
    .card.failed.some .value{color:var(--bad)}
    .stack{display:flex;height:10px;border-radius:5px;overflow:hidden;margin-top:12px;background:var(--zebra)}
    .stack>span{display:block;height:100%}
    .seg-ran{background:var(--ran)} .seg-restored{background:var(--restored)}
    .seg-up-to-date{background:var(--uptodate)}
    .seg-failed{background:var(--failed)} .seg-skipped{background:var(--skipped)}
    .legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin-top:8px;font-size:12.5px;color:var(--muted)}
    .legend .sw{display:inline-block;width:12px;height:12px;border-radius:3px;vertical-align:-2px;margin-right:6px}
    .legend .sw.critical{background:#fff;border:2.5px solid var(--critical)}
    svg.chart{display:block;width:100%;height:auto;overflow:visible}
    svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;font-size:11px;fill:var(--muted)}
    svg .lane-bg{fill:var(--zebra)} svg .grid-line{stroke:#e6eaee;stroke-width:1}
    svg .axis{stroke:var(--faint);stroke-width:1}
    .bar.ran,.build.ran{fill:var(--ran)} .bar.restored{fill:var(--restored)} .bar.up-to-date{fill:var(--uptodate)}
    .bar.failed{fill:var(--failed)} .bar.skipped{fill:var(--skipped)}
    .bar.critical{stroke:var(--critical);stroke-width:2.5}
    svg text.bar-label{fill:#fff;font-size:11px;pointer-events:none}
    svg text.bar-label.dark{fill:var(--ink)}
    .critical-link{stroke:var(--critical);stroke-width:1.5;stroke-dasharray:4 3;fill:none}
    .build.hit{fill:var(--restored)} .build.none{fill:var(--skipped)}
    svg text.failed-label{fill:var(--bad);font-weight:650}
    .build.hit.last{stroke:var(--ink);stroke-width:1.5}
    .wall-line{fill:none;stroke:var(--ran);stroke-width:2} .wall-area{fill:var(--ran);opacity:.12}
    .saved-line{fill:none;stroke:var(--restored);stroke-width:2;stroke-dasharray:5 3}
    .build.dot{fill:#fff;stroke:var(--ran);stroke-width:2} .build.dot.failed{stroke:var(--failed);fill:var(--failed)}
    .build.saved{fill:var(--restored)}
    svg text.value-label{fill:var(--ink);font-size:10.5px}
    table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums;margin-top:6px}
    th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #edf0f3;vertical-align:middle}
    th{font-size:11.5px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.04em;
      border-bottom:1px solid var(--line)}
    tr:last-child td{border-bottom:none}
    .num{text-align:right;white-space:nowrap} .nowrap{white-space:nowrap}
    .id{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12.5px;
      overflow-wrap:anywhere}
    .badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:550;white-space:nowrap}
    .badge.ran{background:#e2eaf3;color:#2f5378} .badge.restored{background:#e0f0dc;color:#2e6b27}
    .badge.up-to-date{background:#eef7eb;color:#3f7a35} .badge.failed{background:var(--bad-bg);color:var(--bad)}
    .badge.skipped{background:#efedec;color:#6b635f}
    .badge.warning{background:var(--warn-bg);color:var(--warn)}
    .badge.violation{background:var(--bad-bg);color:var(--bad)}
    tr.sla-warning td{background:#fffbeb} tr.sla-violation td{background:#fff5f4}
    .meter{display:inline-block;width:90px;height:8px;background:#edf0f3;border-radius:4px;overflow:hidden;
      vertical-align:middle;margin-right:8px}
    .meter>span{display:block;height:100%;background:var(--restored);border-radius:4px}
    .meter.duration>span{background:var(--ran)} .meter.warning>span{background:#e5a50a}
    .meter.violation>span{background:var(--failed)}
    .key{display:inline-block;width:18px;height:0;border-top:2px solid var(--ran);vertical-align:middle;
      margin-right:5px}
    .key.saved{border-top:2px dashed var(--restored)}
    .chain{display:flex;flex-wrap:wrap;align-items:center;gap:4px 6px;margin:4px 0 8px}
    .chain .step{border:1.5px solid var(--critical);border-radius:5px;padding:1px 7px;font-size:12.5px}
    .chain .arrow{color:var(--faint)}
    footer{color:var(--faint);font-size:12px;margin-top:18px;text-align:center}
    svg .busy{fill:var(--ran);opacity:.85} svg .jobs-line{stroke:var(--critical);stroke-width:1.5;stroke-dasharray:5 3}
    .cache-line{fill:none;stroke:var(--restored);stroke-width:2} .build.cache{fill:#fff;stroke:var(--restored);stroke-width:2}

    """

  private static func summary(_ r: StatsReport, title: String) -> String {
    var s = "<header id=\"summary\" class=\"panel\">\n<div class=\"title-row\"><h1>\(escape(title))</h1>"
    guard let last = r.last else {
      s += "</div>\n<p class=\"meta\">No builds recorded yet.</p>\n"
      s += "<p class=\"empty\">Run <span class=\"id\">kiln build</span>, then "
      s += "<span class=\"id\">kiln stats --html</span> again: "
      s += "this page shows the last build's timeline, hit rates over the history, the slowest tasks, "
      s += "bottlenecks and SLAs.</p>\n</header>\n"
      return s
    }
    s += last.exitStatus == 0
      ? "<span class=\"status ok\">succeeded</span>"
      : "<span class=\"status failed\">failed (exit \(last.exitStatus))</span>"
    s += "</div>\n<p class=\"meta\">"
    var meta = ["build #\(last.id)", date(last.started)]
    if let commit = last.commit { meta.append("commit " + commit.prefix(12)) }
    if let jobs = last.jobs { meta.append("-j \(jobs)") }
    if !last.targets.isEmpty { meta.append("targets: " + last.targets) }
    meta.append("workspace: " + (last.workspace ?? "(main)"))
    meta.append("history: last \(r.history.count) build\(r.history.count == 1 ? "" : "s")")
    s += meta.map(escape).joined(separator: " &middot; ") + "</p>\n<div class=\"cards\">\n"

    let c = last.counts
    let idle = r.total.nothingToDo > 0 ? " (\(r.total.nothingToDo) with nothing to do left out)" : ""
    let nothing = c.isNothingToDo && c.upToDate > 0
    s += card("hit", "hit rate", nothing ? "–" : percent(c.hitRate),
              (nothing ? "nothing to do; " : "") + "over \(r.history.count): " + percent(r.total.hitRate) + idle)
    s += card("wall", "wall time", duration(last.wallTime),
              r.criticalPath.map { "critical path " + duration($0.length) } ?? "")
    s += card("saved", "time saved", duration(c.timeSaved),
              "by restoring; over \(r.history.count): " + duration(r.total.timeSaved))
    s += card("ran", "ran", "\(c.ran)", "")
    s += card("restored", "restored", "\(c.restored)", "from the cache")
    s += card("up-to-date", "up to date", "\(c.upToDate)",
              c.upToDateWork > 0 ? "earlier work: " + duration(c.upToDateWork) : "nothing to do")
    s += card("failed" + (c.failed > 0 ? " some" : ""), "failed", "\(c.failed)",
              c.skipped > 0 ? "\(c.skipped) skipped" : "")
    s += "</div>\n"

    let parts: [(String, String, Int)] = [("ran", "ran", c.ran), ("restored", "restored", c.restored),
                                          ("up-to-date", "up to date", c.upToDate), ("failed", "failed", c.failed),
                                          ("skipped", "skipped", c.skipped)]
    let all = parts.reduce(0) { $0 + $1.2 }
    if all > 0 {
      s += "<div class=\"stack\" id=\"outcome-stack\">"
      for (cls, name, n) in parts where n > 0 {
        s += "<span class=\"seg-\(cls)\" style=\"width:\(fixed(100 * Double(n) / Double(all), 3))%\" "
        s += "title=\"\(n) \(name)\"></span>"
      }
      s += "</div>\n<div class=\"legend\">"
      for (cls, name, n) in parts {
        s += "<span><span class=\"sw seg-\(cls)\"></span>\(n) \(name)</span>"
      }
      s += "</div>\n"
    }
    return s + "</header>\n"
  }

  private static func card(_ cls: String, _ label: String, _ value: String, _ sub: String) -> String {
    "<div class=\"card \(cls)\"><div class=\"label\">\(escape(label))</div><div class=\"value\">\(escape(value))</div>"
      + "<div class=\"sub\">\(sub.isEmpty ? "&nbsp;" : escape(sub))</div></div>\n"
  }

  private static func footer(_ r: StatsReport) -> String {
    var parts = ["kiln stats", "schema \(StatsReport.schemaVersion)", "window: the last \(r.window) builds"]
    if let bytes = r.cacheBytes {
      parts.append("local cache: " + self.bytes(bytes) + (r.cacheFiles.map { " in \($0) files" } ?? ""))
    }
    return "<footer>" + parts.map(escape).joined(separator: " &middot; ") + "</footer>\n"
  }
}

// MARK: - Charts

extension HTMLReport {
  /// One row per job slot, one bar per instance, x = seconds since the build started.
  private static func timeline(_ r: StatsReport) -> String {
    var s = "<section id=\"timeline-section\" class=\"panel\">\n<h2>Timeline of the last build</h2>\n"
    let bars = r.timeline
    guard !bars.isEmpty else {
      s += "<p class=\"empty\">Nothing ran, restored or failed in this build: every task was up to date.</p>\n"
      return s + "</section>\n"
    }
    let lanes = (bars.map(\.lane).max() ?? 0) + 1
    let span = max(r.last?.wallTime ?? 0, bars.map(\.finished).max() ?? 0, 0.001)
    var note = "\(bars.count) task instance\(bars.count == 1 ? "" : "s") on \(lanes) job slot\(lanes == 1 ? "" : "s")"
    note += ", wall time " + duration(r.last?.wallTime ?? span)
    if let path = r.criticalPath, !path.steps.isEmpty {
      note += "; the critical path (outlined) takes " + duration(path.length)
      if path.wallTime > 0 { note += ", " + percent(path.length / path.wallTime) + " of it" }
    }
    s += "<p class=\"note\">" + escape(note) + ". Hover a bar for its figures.</p>\n"

    let width = 1110.0, left = 58.0, right = 12.0, top = 4.0, laneH = 32.0, barH = 24.0
    let plot = width - left - right
    let axisY = top + Double(lanes) * laneH
    let height = axisY + 24
    func x(_ t: Double) -> Double { left + plot * min(max(t.isFinite ? t : 0, 0), span) / span }
    func y(_ lane: Int) -> Double { top + Double(lane) * laneH + (laneH - barH) / 2 }

    s += "<svg id=\"timeline\" class=\"chart\" viewBox=\"0 0 \(n(width)) \(n(height))\" role=\"img\" "
    s += "aria-label=\"Timeline of the last build\">\n"
    for lane in 0..<lanes {
      if lane % 2 == 0 {
        s += "<rect class=\"lane-bg\" x=\"\(n(left))\" y=\"\(n(top + Double(lane) * laneH))\" width=\"\(n(plot))\" "
        s += "height=\"\(n(laneH))\"/>"
      }
      s += "<text x=\"\(n(left - 8))\" y=\"\(n(top + Double(lane) * laneH + laneH / 2 + 4))\" text-anchor=\"end\">"
      s += "slot \(lane + 1)</text>\n"
    }
    let step = niceStep(span / 10)
    var t = 0.0
    while t <= span + step * 1e-9 {
      let tx = x(t)
      s += "<line class=\"grid-line\" x1=\"\(n(tx))\" y1=\"\(n(top))\" x2=\"\(n(tx))\" y2=\"\(n(axisY))\"/>"
      s += "<line class=\"axis\" x1=\"\(n(tx))\" y1=\"\(n(axisY))\" x2=\"\(n(tx))\" y2=\"\(n(axisY + 4))\"/>"
      s += "<text x=\"\(n(tx))\" y=\"\(n(axisY + 16))\" text-anchor=\"middle\">\(escape(tick(t, step: step)))</text>\n"
      t += step
    }
    s += "<line class=\"axis\" x1=\"\(n(left))\" y1=\"\(n(axisY))\" x2=\"\(n(left + plot))\" y2=\"\(n(axisY))\"/>\n"

    // The critical path's hand-offs, drawn under the bars.
    let byID = Dictionary(bars.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    let chain = (r.criticalPath?.steps ?? []).compactMap { byID[$0.id] }
    for (a, b) in zip(chain, chain.dropFirst()) {
      s += "<path class=\"critical-link\" d=\"M\(n(x(a.finished))),\(n(y(a.lane) + barH / 2)) "
      s += "L\(n(x(b.started))),\(n(y(b.lane) + barH / 2))\"/>\n"
    }

    for bar in bars {
      let x0 = x(bar.started)
      let w = max(x(bar.finished) - x0, 2.5)
      let cls = "bar \(outcomeClass(bar.outcome))" + (bar.onCriticalPath ? " critical" : "")
      var tip = "\(bar.id): \(outcomeName(bar.outcome)), \(duration(bar.finished - bar.started))"
      tip += "\n\(duration(bar.started)) to \(duration(bar.finished)) after the start, slot \(bar.lane + 1)"
      if bar.onCriticalPath { tip += "\non the critical path" }
      s += "<rect class=\"\(cls)\" x=\"\(n(x0))\" y=\"\(n(y(bar.lane)))\" width=\"\(n(w))\" height=\"\(n(barH))\" "
      s += "rx=\"3\" data-id=\"\(escape(bar.id))\" data-task=\"\(escape(bar.task))\" data-lane=\"\(bar.lane)\">"
      s += "<title>\(escape(tip))</title></rect>"
      if let label = fit(bar.id, width: w - 10) {
        let dark = bar.outcome == "skipped" || bar.outcome == "up-to-date" ? " dark" : ""
        s += "<text class=\"bar-label\(dark)\" x=\"\(n(x0 + 5))\" y=\"\(n(y(bar.lane) + barH / 2 + 4))\">"
        s += escape(label) + "</text>"
      }
      s += "\n"
    }
    s += "</svg>\n<div class=\"legend\" id=\"timeline-legend\">"
    for (cls, name) in [("ran", "ran"), ("restored", "restored"), ("failed", "failed"), ("skipped", "skipped")] {
      let count = bars.filter { outcomeClass($0.outcome) == cls }.count
      s += "<span><span class=\"sw seg-\(cls)\"></span>\(name) (\(count))</span>"
    }
    s += "<span><span class=\"sw critical\"></span>critical path</span>"
    if let up = r.last?.counts.upToDate, up > 0 {
      s += "<span>\(up) up to date: no time spent, not drawn</span>"
    }
    return s + "</div>\n</section>\n"
  }

  /// The last build's running instances over its wall time, a step chart, against its `-j`.
  private static func busyChart(_ r: StatsReport) -> String {
    var s = "<section id=\"busy-section\" class=\"panel\">\n<h2>Busy job slots in the last build</h2>\n"
    let steps = r.busy
    let jobs = r.last?.jobs
    let span = max(r.last?.wallTime ?? 0, steps.last?.time ?? 0, 0.001)
    guard !steps.isEmpty else {
      s += "<p class=\"empty\">No instance ran or restored in the last build: no job slot was used.</p>\n"
      return s + "</section>\n"
    }
    var area = 0.0
    for (a, b) in zip(steps, steps.dropFirst() + [BusyStep(time: span, running: 0)]) {
      area += Double(a.running) * max(0, b.time - a.time)
    }
    let peak = steps.map(\.running).max() ?? 0
    var note = "Instances running or restoring over the build: at most \(peak), \(fixed(area / span, 2)) on average"
    note += jobs.map { " of \($0) job slot\($0 == 1 ? "" : "s") (-j \($0))" } ?? ""
    note += "."
    s += "<p class=\"note\">" + escape(note) + "</p>\n"
    let width = 520.0, height = 190.0, left = 38.0, right = 8.0, top = 14.0, bottom = 22.0
    let plotW = width - left - right, plotH = height - top - bottom
    let ceiling = Double(max(peak, jobs ?? 0, 1))
    func x(_ t: Double) -> Double { left + plotW * min(max(t, 0), span) / span }
    func y(_ v: Double) -> Double { top + plotH * (1 - min(max(v, 0), ceiling) / ceiling) }
    s += "<svg id=\"busy-slots\" class=\"chart\" viewBox=\"0 0 \(n(width)) \(n(height))\" role=\"img\" "
    s += "aria-label=\"Busy job slots in the last build\">\n"
    let every = max(1, Int(ceiling) / 4)
    for v in stride(from: 0, through: Int(ceiling), by: every) {
      s += "<line class=\"grid-line\" x1=\"\(n(left))\" y1=\"\(n(y(Double(v))))\" x2=\"\(n(left + plotW))\" y2=\"\(n(y(Double(v))))\"/>"
      s += "<text x=\"\(n(left - 6))\" y=\"\(n(y(Double(v)) + 4))\" text-anchor=\"end\">\(v)</text>\n"
    }
    for (a, b) in zip(steps, steps.dropFirst() + [BusyStep(time: span, running: 0)]) where a.running > 0 {
      let x0 = x(a.time), w = max(x(b.time) - x0, 0.5)
      let tip = "\(a.running) running from \(duration(a.time)) to \(duration(b.time)) after the start"
      s += "<rect class=\"busy\" x=\"\(n(x0))\" y=\"\(n(y(Double(a.running))))\" width=\"\(n(w))\" "
      s += "height=\"\(n(y(0) - y(Double(a.running))))\" data-running=\"\(a.running)\" data-start=\"\(fixed(a.time, 3))\" "
      s += "data-end=\"\(fixed(b.time, 3))\"><title>\(escape(tip))</title></rect>\n"
    }
    if let jobs {
      s += "<line class=\"jobs-line\" x1=\"\(n(left))\" y1=\"\(n(y(Double(jobs))))\" x2=\"\(n(left + plotW))\" "
      s += "y2=\"\(n(y(Double(jobs))))\"><title>-j \(jobs)</title></line>\n"
    }
    let step = niceStep(span / 5)
    var t = 0.0
    while t <= span + step * 1e-9 {
      s += "<text x=\"\(n(x(t)))\" y=\"\(n(height - 6))\" text-anchor=\"middle\">\(escape(tick(t, step: step)))</text>"
      t += step
    }
    s += "\n<line class=\"axis\" x1=\"\(n(left))\" y1=\"\(n(y(0)))\" x2=\"\(n(left + plotW))\" y2=\"\(n(y(0)))\"/>\n"
    return s + "</svg>\n</section>\n"
  }

  /// The local cache's size after each build of the window that measured it (those that
  /// stored something in the cache).
  private static func cacheSizeChart(_ r: StatsReport) -> String {
    var s = "<section id=\"cache-section\" class=\"panel\">\n<h2>Cache size</h2>\n"
    let points = r.history.enumerated().compactMap { i, b in b.cacheBytes.map { (i, b, $0) } }
    guard !points.isEmpty else {
      s += "<p class=\"empty\">No build of the window stored anything in the cache, so none measured its size.</p>\n"
      return s + "</section>\n"
    }
    s += "<p class=\"note\">The local cache's size on disk (blobs, actions.db and its write-ahead log) after each "
    s += "build that stored something in it. Its entries and blobs now: " + escape(r.cacheBytes.map(bytes) ?? "unknown")
    s += ".</p>\n"
    let width = 520.0, height = 190.0, left = 62.0, right = 10.0, top = 14.0, bottom = 22.0
    let plotW = width - left - right, plotH = height - top - bottom
    let peak = Double(max(points.map(\.2).max() ?? 0, 1))
    let slot = plotW / Double(max(r.history.count, 1))
    func x(_ i: Int) -> Double { left + slot * (Double(i) + 0.5) }
    func y(_ v: Double) -> Double { top + plotH * (1 - min(max(v, 0), peak) / peak) }
    s += "<svg id=\"cache-size\" class=\"chart\" viewBox=\"0 0 \(n(width)) \(n(height))\" role=\"img\" "
    s += "aria-label=\"Cache size per build\">\n"
    for f in [0.0, 0.5, 1.0] {
      s += "<line class=\"grid-line\" x1=\"\(n(left))\" y1=\"\(n(y(peak * f)))\" x2=\"\(n(left + plotW))\" y2=\"\(n(y(peak * f)))\"/>"
      s += "<text x=\"\(n(left - 6))\" y=\"\(n(y(peak * f) + 4))\" text-anchor=\"end\">\(escape(bytes(Int64(peak * f))))</text>\n"
    }
    s += "<polyline class=\"cache-line\" points=\"\(points.map { "\(n(x($0.0))),\(n(y(Double($0.2))))" }.joined(separator: " "))\"/>\n"
    let every = labelEvery(r.history.count)
    for (i, b, size) in points {
      let tip = "build #\(b.id), \(date(b.started)): cache \(bytes(size))"
      s += "<circle class=\"build cache\" data-build=\"\(b.id)\" data-bytes=\"\(size)\" cx=\"\(n(x(i)))\" "
      s += "cy=\"\(n(y(Double(size))))\" r=\"3.5\"><title>\(escape(tip))</title></circle>"
      if i % every == 0 || i == r.history.count - 1 { s += buildLabel(b, x: x(i), y: height - 6) }
      s += "\n"
    }
    s += "<line class=\"axis\" x1=\"\(n(left))\" y1=\"\(n(y(0)))\" x2=\"\(n(left + plotW))\" y2=\"\(n(y(0)))\"/>\n"
    return s + "</svg>\n</section>\n"
  }

  /// Hit rate per build of the window, oldest first, as bars from 0 to 100%.
  private static func hitRateChart(_ r: StatsReport) -> String {
    var s = "<section id=\"history\" class=\"panel\">\n<h2>Hit rate per build</h2>\n"
    s += "<p class=\"note\">(up to date + restored) / (up to date + restored + ran); red: the build failed; "
    s += "a grey line: nothing to do (every instance up to date), left out of the hit rates.</p>\n"
    let builds = r.history
    let width = 520.0, height = 190.0, left = 38.0, right = 6.0, top = 14.0, bottom = 22.0
    let plotW = width - left - right, plotH = height - top - bottom
    func y(_ v: Double) -> Double { top + plotH * (1 - min(max(v, 0), 1)) }
    s += "<svg id=\"hit-rate\" class=\"chart\" viewBox=\"0 0 \(n(width)) \(n(height))\" role=\"img\" "
    s += "aria-label=\"Hit rate per build\">\n"
    for v in [0.0, 0.25, 0.5, 0.75, 1.0] {
      s += "<line class=\"grid-line\" x1=\"\(n(left))\" y1=\"\(n(y(v)))\" x2=\"\(n(left + plotW))\" y2=\"\(n(y(v)))\"/>"
      s += "<text x=\"\(n(left - 6))\" y=\"\(n(y(v) + 4))\" text-anchor=\"end\">\(escape(percent(v)))</text>\n"
    }
    let slot = plotW / Double(max(builds.count, 1))
    let barW = max(min(34, slot * 0.7), 1)
    let every = labelEvery(builds.count)
    for (i, b) in builds.enumerated() {
      let cx = left + slot * (Double(i) + 0.5)
      let isLast = i == builds.count - 1
      let tip = escape(buildTip(b))
      if let rate = b.counts.hitRate {
        let cls = "build hit" + (b.exitStatus != 0 ? " failed" : "") + (isLast ? " last" : "")
        let h = max(y(0) - y(rate), 1)
        s += "<rect class=\"\(cls)\" data-build=\"\(b.id)\" x=\"\(n(cx - barW / 2))\" y=\"\(n(y(0) - h))\" "
        s += "width=\"\(n(barW))\" height=\"\(n(h))\" rx=\"2\"><title>\(tip)</title></rect>"
        if builds.count <= 16 {
          s += "<text class=\"value-label\" x=\"\(n(cx))\" y=\"\(n(y(0) - h - 4))\" text-anchor=\"middle\">"
          s += "\(escape(percent(rate)))</text>"
        }
      } else {
        s += "<rect class=\"build none\(b.counts.isNothingToDo ? " nothing-to-do" : "")\" data-build=\"\(b.id)\" x=\"\(n(cx - barW / 2))\" y=\"\(n(y(0) - 2))\" "
        s += "width=\"\(n(barW))\" height=\"2\"><title>\(tip)</title></rect>"
      }
      if i % every == 0 || isLast || b.exitStatus != 0 {
        s += buildLabel(b, x: cx, y: height - 6)
      }
      s += "\n"
    }
    s += "<line class=\"axis\" x1=\"\(n(left))\" y1=\"\(n(y(0)))\" x2=\"\(n(left + plotW))\" y2=\"\(n(y(0)))\"/>\n"
    return s + "</svg>\n</section>\n"
  }

  /// Wall time and time saved per build: is the build getting slower, is the cache paying?
  private static func wallTimeChart(_ r: StatsReport) -> String {
    var s = "<section id=\"wall-time-section\" class=\"panel\">\n<h2>Wall time and time saved per build</h2>\n"
    s += "<p class=\"note\"><span class=\"key wall\"></span>wall time &nbsp; <span class=\"key saved\"></span>"
    s += "time saved by the cache; red: the build failed.</p>\n"
    let builds = r.history
    let width = 520.0, height = 190.0, left = 50.0, right = 10.0, top = 14.0, bottom = 22.0
    let plotW = width - left - right, plotH = height - top - bottom
    let peak = max(builds.map(\.wallTime).max() ?? 0, builds.map(\.counts.timeSaved).max() ?? 0, 0.001)
    let step = niceStep(peak / 4)
    let top_ = (peak / step).rounded(.up) * step
    func y(_ v: Double) -> Double { top + plotH * (1 - min(max(v.isFinite ? v : 0, 0), top_) / top_) }
    let slot = plotW / Double(max(builds.count, 1))
    func x(_ i: Int) -> Double { left + slot * (Double(i) + 0.5) }
    s += "<svg id=\"wall-time\" class=\"chart\" viewBox=\"0 0 \(n(width)) \(n(height))\" role=\"img\" "
    s += "aria-label=\"Wall time and time saved per build\">\n"
    var v = 0.0
    while v <= top_ + step * 1e-9 {
      s += "<line class=\"grid-line\" x1=\"\(n(left))\" y1=\"\(n(y(v)))\" x2=\"\(n(left + plotW))\" y2=\"\(n(y(v)))\"/>"
      s += "<text x=\"\(n(left - 6))\" y=\"\(n(y(v) + 4))\" text-anchor=\"end\">\(escape(tick(v, step: step)))</text>\n"
      v += step
    }
    if !builds.isEmpty {
      let wall = builds.indices.map { "\(n(x($0))),\(n(y(builds[$0].wallTime)))" }
      s += "<path class=\"wall-area\" d=\"M\(n(x(0))),\(n(y(0))) L\(wall.joined(separator: " L")) "
      s += "L\(n(x(builds.count - 1))),\(n(y(0))) Z\"/>\n"
      s += "<polyline class=\"wall-line\" points=\"\(wall.joined(separator: " "))\"/>\n"
      let saved = builds.indices.map { "\(n(x($0))),\(n(y(builds[$0].counts.timeSaved)))" }
      s += "<polyline class=\"saved-line\" points=\"\(saved.joined(separator: " "))\"/>\n"
    }
    let every = labelEvery(builds.count)
    let radius = builds.count > 40 ? 2.0 : 3.5
    for (i, b) in builds.enumerated() {
      let tip = escape(buildTip(b))
      s += "<circle class=\"build saved\" data-build=\"\(b.id)\" cx=\"\(n(x(i)))\" cy=\"\(n(y(b.counts.timeSaved)))\" "
      s += "r=\"\(n(radius * 0.7))\"><title>\(tip)</title></circle>"
      s += "<circle class=\"build dot\(b.exitStatus != 0 ? " failed" : "")\" data-build=\"\(b.id)\" cx=\"\(n(x(i)))\" "
      s += "cy=\"\(n(y(b.wallTime)))\" r=\"\(n(radius))\"><title>\(tip)</title></circle>"
      if i % every == 0 || i == builds.count - 1 || b.exitStatus != 0 {
        s += buildLabel(b, x: x(i), y: height - 6)
      }
      s += "\n"
    }
    s += "<line class=\"axis\" x1=\"\(n(left))\" y1=\"\(n(y(0)))\" x2=\"\(n(left + plotW))\" y2=\"\(n(y(0)))\"/>\n"
    return s + "</svg>\n</section>\n"
  }

  private static func buildLabel(_ b: BuildFigures, x: Double, y: Double) -> String {
    let cls = b.exitStatus != 0 ? " class=\"failed-label\"" : ""
    return "<text\(cls) x=\"\(n(x))\" y=\"\(n(y))\" text-anchor=\"middle\">#\(b.id)</text>"
  }

  private static func buildTip(_ b: BuildFigures) -> String {
    let c = b.counts
    var tip = "build #\(b.id), \(date(b.started))" + (b.exitStatus != 0 ? ", failed (exit \(b.exitStatus))" : "")
    tip += c.isNothingToDo ? "\nnothing to do: \(c.upToDate) up to date" :
      "\nhit rate \(percent(c.hitRate)): \(c.ran) ran, \(c.restored) restored, \(c.upToDate) up to date"
    if c.failed > 0 || c.skipped > 0 { tip += ", \(c.failed) failed, \(c.skipped) skipped" }
    tip += "\nwall time \(duration(b.wallTime)), time saved \(duration(c.timeSaved))"
    if let commit = b.commit { tip += "\ncommit \(commit.prefix(12))" }
    if let w = b.workspace { tip += "\nworkspace \(w)" }
    return tip
  }

  /// Label every k-th build so that about a dozen labels show.
  private static func labelEvery(_ count: Int) -> Int { max(1, (count + 11) / 12) }

  /// `text`, or as much of it as fits `width` pixels at 11px (with an ellipsis); nil
  /// when not even a few characters fit.
  private static func fit(_ text: String, width: Double) -> String? {
    let perChar = 6.3
    let room = Int(max(width, 0) / perChar)
    if text.count <= room { return text }
    if room < 4 { return nil }
    return String(text.prefix(room - 1)) + "\u{2026}"
  }
}

// MARK: - Tables

extension HTMLReport {
  private static func slowest(_ r: StatsReport) -> String {
    let top = r.slowest.first?.duration ?? 0
    let rows = r.slowest.map { f in
      row([id(f.id), badge(f.outcome), num(duration(f.duration)), meter(top > 0 ? f.duration / top : 0, "duration")])
    }
    let note = "The last build's instances that ran, restored or failed, slowest first "
      + "(restored: the time of the copy, not of the run it saved)."
    return panel("slowest", "Slowest task instances", note: note, head: ["instance", "outcome", "#duration", ""],
                 rows: rows, empty: "No instance ran, restored or failed.")
  }

  private static func criticalPath(_ r: StatsReport) -> String {
    guard let path = r.criticalPath, !path.steps.isEmpty else {
      return panel("critical-path", "Critical path", note: nil, head: [], rows: [],
                   empty: "No critical path: nothing ran, restored or failed in the last build.")
    }
    var note = "The chain that ended last: \(duration(path.length)) of the build's \(duration(path.wallTime)) wall time"
    if path.wallTime > 0 { note += " (" + percent(path.length / path.wallTime) + ")" }
    if path.slotLimited {
      note += ". Waiting for a job slot (one of the build's" + (path.jobs.map { " \($0)" } ?? "")
      note += ", or of the machine's, which every kiln process shares) lengthened the build by " + duration(path.slotWait)
      note += ": more job slots, or faster instances elsewhere, would shorten it."
    } else {
      note += ". No step waited for a job slot: making anything else faster does not shorten the build."
    }
    var chain = "<div class=\"chain\">"
    chain += path.steps.map { "<span class=\"step id\">\(escape($0.id))</span>" }
      .joined(separator: "<span class=\"arrow\">&rarr;</span>")
    chain += "</div>\n"
    let rows = path.steps.map { f in
      row([id(f.id), badge(f.outcome), num(duration(f.duration)),
           num(path.length > 0 ? percent(f.duration / path.length) : "–"), num(f.waited >= 0.001 ? duration(f.waited) : "–")])
    }
    return panel("critical-path", "Critical path", note: note,
                 head: ["step", "outcome", "#duration", "#share", "#waited for a slot"],
                 rows: rows, empty: "", before: chain)
  }

  private static func bottlenecks(_ r: StatsReport) -> String {
    let rows = r.bottlenecks.map { b in
      row([id(b.id), num(duration(b.duration)), num(duration(b.mean)),
           num(fixed(b.ratio, 1) + "\u{00D7}"),
           b.basis == "task" ? id(b.task) + escape(" (\(b.peers) instances)") : escape("\(b.peers) tasks of one instance")])
    }
    let factor = fixed(StatsReport.bottleneckFactor, 1) + "\u{00D7}"
    let note = "Like with like: instances of a foreach task that took more than \(factor) the mean of "
      + "that task's instances, and tasks of one instance that took more than \(factor) the mean of such tasks."
    return panel("bottlenecks", "Bottlenecks", note: note,
                 head: ["instance", "#duration", "#mean", "#ratio", "mean of"], rows: rows,
                 empty: "No bottleneck: no instance took more than \(factor) the mean of its peers.")
  }

  private static func sla(_ r: StatsReport) -> String {
    let rows = r.sla.map { f in
      let state = f.violation ? "violation" : "warning"
      let share = "<span class=\"nowrap\">" + meter(min(f.fraction, 1), state) + escape(percent(f.fraction)) + "</span>"
      return row([id(f.id), num(duration(f.duration)), num(duration(f.sla)), share,
                  "<span class=\"badge \(state)\">\(state)</span>"], cls: "sla-\(state)")
    }
    let violations = r.sla.filter(\.violation).count
    let warnings = r.sla.count - violations
    let note = r.sla.isEmpty ? "Tasks with an sla: warnings past 80% of it, violations past 100%."
      : "\(violations) violation\(violations == 1 ? "" : "s") (past 100% of the task's sla), "
        + "\(warnings) warning\(warnings == 1 ? "" : "s") (past 80%)."
    return panel("sla", "SLAs", note: note, head: ["instance", "#duration", "#sla", "of the sla", "state"], rows: rows,
                 empty: "Every instance with an sla finished within 80% of it.")
  }

  private static func regressions(_ r: StatsReport) -> String {
    let rows = r.regressions.map { g in
      row([id(g.id), num(duration(g.duration)), num(duration(g.median)), num(fixed(g.ratio, 1) + "\u{00D7}"),
           num("\(g.samples)")])
    }
    let note = "Instances whose last run took more than \(fixed(StatsReport.regressionFactor, 1))\u{00D7} "
      + "the median of their earlier runs."
    return panel("regressions", "Regressions", note: note,
                 head: ["instance", "#last run", "#median", "#ratio", "#runs"], rows: rows,
                 empty: "No regression: every instance ran about as fast as it used to.")
  }

  private static func misses(_ r: StatsReport) -> String {
    let most = r.missReasons.first?.count ?? 0
    let rows = r.missReasons.map { m in
      row(["<span class=\"badge ran\">\(escape(m.kind))</span>",
           "<span class=\"nowrap\">" + meter(most > 0 ? Double(m.count) / Double(most) : 0, "duration")
             + "\(m.count)</span>",
           m.examples.map(id).joined(separator: ", ")])
    }
    let note = "Why instances had to run, over the last \(r.history.count) builds "
      + "(kiln build --explain names each one)."
    return panel("misses", "Cache misses by reason", note: note, head: ["reason", "instances", "for example"],
                 rows: rows, empty: "No instance had to run.")
  }

  private static func perTask(_ r: StatsReport) -> String {
    let rows = r.perTask.map { g in
      row([id(g.name), num("\(g.counts.ran)"), num("\(g.counts.restored)"), num("\(g.counts.upToDate)"),
           num("\(g.counts.failed)"), hitMeter(g.counts.hitRate), num(duration(g.counts.timeSaved)),
           num(g.meanRunTime.map(duration) ?? "–")])
    }
    return panel("per-task", "Per task", note: "Over the last \(r.history.count) builds.",
                 head: ["task", "#ran", "#restored", "#up to date", "#failed", "hit rate", "#time saved", "#mean run"],
                 rows: rows, empty: "No task instances recorded.", wide: true)
  }

  private static func perWorkspace(_ r: StatsReport) -> String {
    let rows = r.perWorkspace.map { g in
      row([id(g.name), num("\(g.counts.builds)"), num("\(g.counts.ran)"), num("\(g.counts.restored)"),
           num("\(g.counts.upToDate)"), num("\(g.counts.failed)"), hitMeter(g.counts.hitRate),
           num(duration(g.counts.timeSaved))])
    }
    let head = ["workspace", "#builds", "#ran", "#restored", "#up to date", "#failed", "hit rate", "#time saved"]
    return panel("per-workspace", "Per workspace", note: "Builds of each workspace (git worktree) in the window.",
                 head: head, rows: rows, empty: "No builds recorded.", wide: true)
  }

  /// A panel with a table; a heading that starts with `#` is a numeric column.
  private static func panel(_ id: String, _ title: String, note: String?, head: [String], rows: [String],
                            empty: String, before: String = "", wide: Bool = false) -> String {
    var s = "<section id=\"\(id)\" class=\"panel\(wide ? " wide" : "")\">\n<h2>\(escape(title))</h2>\n"
    if let note { s += "<p class=\"note\">\(escape(note))</p>\n" }
    s += before
    if rows.isEmpty {
      if !empty.isEmpty { s += "<p class=\"empty\">\(escape(empty))</p>\n" }
      return s + "</section>\n"
    }
    s += "<table>\n<thead><tr>"
    for h in head {
      s += h.hasPrefix("#") ? "<th class=\"num\">\(escape(String(h.dropFirst())))</th>" : "<th>\(escape(h))</th>"
    }
    s += "</tr></thead>\n<tbody>\n" + rows.joined() + "</tbody>\n</table>\n"
    return s + "</section>\n"
  }

  /// Cells are HTML already; `num` cells carry their own `<td class="num">`.
  private static func row(_ cells: [String], cls: String? = nil) -> String {
    var s = cls.map { "<tr class=\"\($0)\">" } ?? "<tr>"
    for c in cells { s += c.hasPrefix("<td") ? c : "<td>\(c)</td>" }
    return s + "</tr>\n"
  }

  private static func num(_ text: String) -> String { "<td class=\"num\">\(escape(text))</td>" }
  private static func id(_ text: String) -> String { "<span class=\"id\">\(escape(text))</span>" }

  private static func badge(_ outcome: String) -> String {
    "<span class=\"badge \(outcomeClass(outcome))\">\(escape(outcomeName(outcome)))</span>"
  }

  private static func meter(_ fraction: Double, _ cls: String) -> String {
    let f = fraction.isFinite ? min(max(fraction, 0), 1) : 0
    return "<span class=\"meter \(cls)\"><span style=\"width:\(fixed(100 * f, 1))%\"></span></span>"
  }

  private static func hitMeter(_ rate: Double?) -> String {
    guard let rate else { return "<span class=\"meter\"></span>–" }
    return "<span class=\"nowrap\">" + meter(rate, "hit") + escape(percent(rate)) + "</span>"
  }

  /// A CSS class for an outcome word; anything unknown is drawn as skipped.
  private static func outcomeClass(_ outcome: String) -> String {
    switch outcome {
    case "ran", "restored", "failed", "skipped", "up-to-date": outcome
    case "up to date", "upToDate": "up-to-date"
    default: "skipped"
    }
  }

  private static func outcomeName(_ outcome: String) -> String {
    outcomeClass(outcome) == "up-to-date" ? "up to date" : outcome
  }
}

// MARK: - Numbers and dates

extension HTMLReport {
  /// `x` with `digits` decimals, without Foundation.
  package static func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "–" }
    var scale = 1
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(x) * Double(scale)).rounded()
    guard scaled < 1e15 else { return x < 0 ? "-\u{221E}" : "\u{221E}" }
    let i = Int(scaled)
    var s = (x < 0 && i != 0 ? "-" : "") + String(i / scale)
    if digits > 0 {
      let frac = String(i % scale)
      s += "." + String(repeating: "0", count: digits - frac.count) + frac
    }
    return s
  }

  /// An SVG coordinate: one decimal at most.
  private static func n(_ x: Double) -> String {
    let s = fixed(x, 1)
    return s.hasSuffix(".0") ? String(s.dropLast(2)) : s
  }

  /// `<1 ms`, `340 ms`, `1.25 s`, `12.5 s`, `2 m 05 s`, `1 h 02 m` (not escaped).
  package static func duration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "–" }
    if seconds > 0 && seconds < 0.0005 { return "<1 ms" }
    if seconds < 0.9995 { return "\(Int((seconds * 1000).rounded())) ms" }
    if seconds < 9.995 { return fixed(seconds, 2) + " s" }
    if seconds < 59.95 { return fixed(seconds, 1) + " s" }
    guard seconds < 1e12 else { return "\u{221E}" }
    let t = Int(seconds.rounded())
    if t < 3600 { return "\(t / 60) m \(pad(t % 60)) s" }
    return "\(t / 3600) h \(pad(t % 3600 / 60)) m"
  }

  /// `87%`; never `100%` unless it is all, never `0%` unless it is none (`<1%`; not
  /// escaped).
  package static func percent(_ rate: Double?) -> String {
    guard let rate, rate.isFinite else { return "–" }
    var p = Int((min(max(rate, -10), 10) * 100).rounded())
    if p == 100 && rate < 1 { p = 99 }
    if p == 0 && rate > 0 { return "<1%" }
    return "\(p)%"
  }

  private static func bytes(_ count: Int64) -> String {
    var value = Double(count)
    for unit in ["bytes", "KiB", "MiB", "GiB"] {
      if value < 1024 { return unit == "bytes" ? "\(count) bytes" : fixed(value, 1) + " " + unit }
      value /= 1024
    }
    return fixed(value, 1) + " TiB"
  }

  /// A step of 1, 2 or 5 times a power of ten (or whole minutes and hours) near `raw`.
  private static func niceStep(_ raw: Double) -> Double {
    guard raw.isFinite, raw > 0 else { return 1 }
    var base = 0.001
    while base < 30 {
      for m in [1.0, 2.0, 5.0] where base * m >= raw { return base * m }
      base *= 10
    }
    for s in [60.0, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400] where s >= raw { return s }
    return (raw / 86400).rounded(.up) * 86400
  }

  /// An axis label for `t` seconds when ticks are `step` apart.
  private static func tick(_ t: Double, step: Double) -> String {
    if t == 0 { return "0" }
    if step < 0.1 && t < 1 { return n(t * 1000) + " ms" }
    if step < 60 {
      let digits = step >= 1 ? 0 : step >= 0.1 ? 1 : 2
      return fixed(t, digits) + " s"
    }
    if step < 3600 { return fixed(t / 60, step.truncatingRemainder(dividingBy: 60) == 0 ? 0 : 1) + " m" }
    return fixed(t / 3600, step.truncatingRemainder(dividingBy: 3600) == 0 ? 0 : 1) + " h"
  }

  /// `2026-01-12 14:03 UTC` from seconds since the epoch (days to civil date:
  /// Howard Hinnant's algorithm), without Foundation.
  package static func date(_ epoch: Double) -> String {
    guard epoch.isFinite, abs(epoch) < 1e13 else { return "–" }
    let secs = Int(epoch.rounded(.down))
    var days = secs / 86400
    var rem = secs % 86400
    if rem < 0 { rem += 86400; days -= 1 }
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    return "\(year)-\(pad(month))-\(pad(day)) \(pad(rem / 3600)):\(pad(rem % 3600 / 60)) UTC"
  }

  private static func pad(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
}
