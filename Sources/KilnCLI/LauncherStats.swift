import KilnLauncher
import KilnReport
import KilnSystem

/// What the launcher's log says (`kiln gcc ...`, `kiln exec`): in `kiln cache stats`
/// for every project sharing the cache, and in `kiln stats` for a project that has no
/// kiln.yml, as text, JSON, Prometheus text or an HTML page.
enum LauncherStats {
  /// Counts per project, busiest first.
  static func perProject(_ records: [LaunchRecord]) -> [(project: String, summary: LaunchSummary)] {
    Dictionary(grouping: records, by: \.project)
      .map { ($0.key, LaunchSummary($0.value)) }
      .sorted { ($0.1.calls, $1.0) > ($1.1.calls, $0.0) }
  }

  static func percent(_ rate: Double?) -> String { StatsText.percent(rate) }
  static func seconds(_ s: Double) -> String { StatsText.seconds(s) }

  /// The summary block, each line indented by `indent`.
  static func text(_ s: LaunchSummary, title: String, indent: String = "  ") -> String {
    guard s.calls > 0 else { return title + ": none recorded\n" }
    var t = title + ": \(s.calls) call\(s.calls == 1 ? "" : "s")"
    if let first = s.first { t += " since \(StatsText.utcTime(first))" }
    t += "\n"
    var rows: [[String]] = [
      ["hits", "\(s.hits)", "direct \(s.count(.direct)), preprocessed \(s.count(.preprocessed)), kiln exec \(s.count(.restored))"],
      ["misses", "\(s.count(.miss) + s.count(.unstored))", "stored \(s.count(.miss)), not stored \(s.count(.unstored))"],
      ["hit rate", percent(s.hitRate), "of cacheable calls"],
      ["uncacheable", "\(s.count(.uncacheable))", "run directly"],
      ["failed", "\(s.count(.failed))", "compiler errors, not stored"],
      ["errors", "\(s.count(.error))", "compiler unreadable; run directly"],
      ["time saved", seconds(s.saved), "compile time of misses \(seconds(s.compileSeconds))"],
    ]
    rows = rows.map { [$0[0] + ":", $0[1], $0[2]] }
    t += columns(rows, indent: indent)
    if !s.reasons.isEmpty {
      t += indent + "by reason:\n"
      t += columns(s.reasons.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { [$0.key, "\($0.value)"] },
                   indent: indent + "  ")
    }
    if s.pathDependentMisses > 0 {
      t += indent + "hint: \(s.pathDependentMisses) miss\(s.pathDependentMisses == 1 ? "" : "es") found an object made in "
        + "another checkout that holds its path (debug info): add -ffile-prefix-map=<checkout>=. to the compile flags to "
        + "share them between checkouts\n"
    }
    return t
  }

  /// The per-project table.
  static func projectsText(_ projects: [(project: String, summary: LaunchSummary)], indent: String = "  ") -> String {
    guard !projects.isEmpty else { return "" }
    return "launcher calls per project:\n" + columns(
      [["PROJECT", "CALLS", "HITS", "MISSES", "UNCACHEABLE", "HIT-RATE", "SAVED"]]
        + projects.map { p in
          let s = p.summary
          return [p.project, "\(s.calls)", "\(s.hits)", "\(s.count(.miss) + s.count(.unstored))",
                  "\(s.count(.uncacheable))", percent(s.hitRate), seconds(s.saved)]
        }, indent: indent)
  }

  static func json(_ s: LaunchSummary) -> String {
    JSON.object([
      ("calls", "\(s.calls)"),
      ("hits", "\(s.hits)"),
      ("direct_hits", "\(s.count(.direct))"),
      ("preprocessed_hits", "\(s.count(.preprocessed))"),
      ("exec_restored", "\(s.count(.restored))"),
      ("misses", "\(s.count(.miss))"),
      ("not_stored", "\(s.count(.unstored))"),
      ("uncacheable", "\(s.count(.uncacheable))"),
      ("failed", "\(s.count(.failed))"),
      ("errors", "\(s.count(.error))"),
      ("hit_rate", s.hitRate.map(JSON.number) ?? "null"),
      ("time_saved_seconds", JSON.number(s.saved)),
      ("compile_seconds", JSON.number(s.compileSeconds)),
      ("path_dependent_misses", "\(s.pathDependentMisses)"),
      ("reasons", JSON.object(s.reasons.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") })),
      ("first", s.first.map(JSON.number) ?? "null"),
      ("last", s.last.map(JSON.number) ?? "null"),
    ])
  }

  static func projectsJSON(_ projects: [(project: String, summary: LaunchSummary)]) -> String {
    "[" + projects.map { p in
      JSON.object([("project", JSON.string(p.project)), ("launcher", json(p.summary))])
    }.joined(separator: ",") + "]"
  }

  /// Prometheus text exposition: counters over the log's records.
  static func prometheus(_ s: LaunchSummary, project: String) -> String {
    func label(_ v: String) -> String {
      v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        .replacingOccurrences(of: "\n", with: "\\n")
    }
    let p = "project=\"\(label(project))\""
    var out = "# HELP kiln_launcher_calls_total Compiler launcher and kiln exec calls, by outcome.\n"
    out += "# TYPE kiln_launcher_calls_total counter\n"
    for outcome in LaunchOutcome.allCases {
      out += "kiln_launcher_calls_total{\(p),outcome=\"\(outcome.rawValue)\"} \(s.count(outcome))\n"
    }
    if !s.reasons.isEmpty {
      out += "# HELP kiln_launcher_reason_total Calls not served from or stored in the cache, by reason.\n"
      out += "# TYPE kiln_launcher_reason_total counter\n"
      for (reason, n) in s.reasons.sorted(by: { $0.key < $1.key }) {
        out += "kiln_launcher_reason_total{\(p),reason=\"\(label(reason))\"} \(n)\n"
      }
    }
    out += "# HELP kiln_launcher_time_saved_seconds_total Compile time saved by hits, less the restores' time.\n"
    out += "# TYPE kiln_launcher_time_saved_seconds_total counter\n"
    out += "kiln_launcher_time_saved_seconds_total{\(p)} \(JSON.number(s.saved))\n"
    if let rate = s.hitRate {
      out += "# HELP kiln_launcher_hit_ratio Hits over cacheable calls.\n"
      out += "# TYPE kiln_launcher_hit_ratio gauge\n"
      out += "kiln_launcher_hit_ratio{\(p)} \(JSON.number(rate))\n"
    }
    return out
  }

  /// A self-contained page: the summary and the reasons.
  static func html(_ s: LaunchSummary, project: String) -> String {
    func esc(_ t: String) -> String {
      t.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
    let rows: [(String, String)] = [
      ("calls", "\(s.calls)"), ("direct hits", "\(s.count(.direct))"),
      ("preprocessed hits", "\(s.count(.preprocessed))"), ("kiln exec restored", "\(s.count(.restored))"),
      ("misses (stored)", "\(s.count(.miss))"), ("misses (not stored)", "\(s.count(.unstored))"),
      ("hit rate", percent(s.hitRate)), ("uncacheable", "\(s.count(.uncacheable))"),
      ("failed", "\(s.count(.failed))"), ("errors", "\(s.count(.error))"), ("time saved", seconds(s.saved)),
    ]
    var page = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>kiln stats: \(esc(project))</title>"
    page += "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    page += "td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}</style></head><body>"
    page += "<h1>kiln launcher: \(esc(project))</h1><table>"
    for (k, v) in rows { page += "<tr><th>\(esc(k))</th><td>\(esc(v))</td></tr>" }
    page += "</table>"
    if !s.reasons.isEmpty {
      page += "<h2>Not served from the cache, by reason</h2><table><tr><th>reason</th><th>calls</th></tr>"
      for (reason, n) in s.reasons.sorted(by: { $0.value > $1.value }) {
        page += "<tr><td>\(esc(reason))</td><td>\(n)</td></tr>"
      }
      page += "</table>"
    }
    return page + "</body></html>\n"
  }
}
