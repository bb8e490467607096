/// `kiln stats --prometheus`: the report in the Prometheus text exposition format,
/// version 0.0.4, for node_exporter's textfile collector (`docs/prometheus.md` lists
/// every metric and how to wire it).
///
/// Format constraints kept here: every family is written once, with one `# HELP` and
/// one `# TYPE` line and all its samples together; a family with no samples is left
/// out; names start with `kiln_` and counters end in `_total`; label values escape
/// backslash, double quote and newline; numbers are what Go's `ParseFloat` reads
/// (`+Inf`, `-Inf`, `NaN`, never `inf`/`nan`); no sample carries a timestamp (the
/// textfile collector refuses them).
///
/// The counters (`_total`) are totals since each manifest was made
/// (`StatsReport.lifetime`), so they only grow (a deleted `.kiln/` is a counter reset,
/// which Prometheus handles). Figures over the window (the last N builds, `--last N`)
/// are gauges.
package enum Prometheus {
  /// Upper bounds, seconds, of `kiln_build_duration_seconds`'s buckets (+Inf added).
  package static let buildBuckets: [Double] = [0.1, 0.5, 1, 5, 10, 30, 60, 300]
  /// Upper bounds, seconds, of `kiln_task_duration_seconds`'s buckets (+Inf added).
  package static let taskBuckets: [Double] = [0.01, 0.1, 0.5, 1, 5, 30, 120]

  /// The whole exposition, ending in a newline (empty when there is nothing to say).
  package static func render(_ report: StatsReport) -> String {
    var out = ""
    for family in families(report) where !family.samples.isEmpty { family.write(to: &out) }
    return out
  }

  /// The label value of each outcome, in the order they are written.
  static var outcomes: [(label: String, count: (Counts) -> Int)] {
    [("ran", \.ran), ("restored", \.restored), ("up_to_date", \.upToDate), ("failed", \.failed), ("skipped", \.skipped)]
  }

  private static func families(_ r: StatsReport) -> [Family] {
    var all: [Family] = []

    // Since each manifest was made, per workspace: counters.
    var builds = Family("kiln_builds_total", .counter, "Builds, per workspace.")
    var instances = Family("kiln_task_instances_total", .counter, "Task instances, per workspace and outcome.")
    var saved = Family(
      "kiln_time_saved_seconds_total", .counter,
      "What restoring saved (each restored instance's recorded run time less its restore's), per workspace.")
    for w in r.lifetime {
      let ws = [("workspace", w.name)]
      builds.add(Double(w.counts.builds), ws)
      for o in outcomes { instances.add(Double(o.count(w.counts)), ws + [("outcome", o.label)]) }
      saved.add(w.counts.timeSaved, ws)
    }
    // Over the window, per workspace.
    var hitRate = Family(
      "kiln_hit_rate", .gauge,
      "(up to date + restored) / (up to date + restored + ran) over the window's builds that had something to do, per workspace.")
    for w in r.perWorkspace {
      if let h = w.counts.hitRate { hitRate.add(h, [("workspace", w.name)]) }
    }
    all += [builds, instances, saved, hitRate]

    // Over the window, per task.
    var taskOutcomes = Family(
      "kiln_window_task_outcomes", .gauge, "Task instances in the history window, per task and outcome.")
    var taskSaved = Family(
      "kiln_window_task_time_saved_seconds", .gauge,
      "What restoring the task's instances saved in the history window (recorded run time less the restore's).")
    for t in r.perTask {
      for o in outcomes { taskOutcomes.add(Double(o.count(t.counts)), [("task", t.name), ("outcome", o.label)]) }
      taskSaved.add(t.counts.timeSaved, [("task", t.name)])
    }
    var misses = Family(
      "kiln_window_cache_misses", .gauge,
      "Task instances that ran in the history window, per kind of reason (once for each kind an instance had).")
    for m in r.missReasons { misses.add(Double(m.count), [("reason", m.kind)]) }
    all += [taskOutcomes, taskSaved, misses]

    // The last build.
    if let last = r.last {
      all.append(Family("kiln_last_build_timestamp_seconds", .gauge, "When the last build started, seconds since the epoch.",
                        value: last.started))
      all.append(Family("kiln_last_build_wall_seconds", .gauge, "Wall time of the last build.", value: last.wallTime))
      all.append(Family("kiln_last_build_exit_status", .gauge, "Exit status of the last build (0 success, 1 a task failed, 130 interrupted).",
                        value: Double(last.exitStatus)))
      var lastInstances = Family("kiln_last_build_task_instances", .gauge, "Task instances of the last build, per outcome.")
      for o in outcomes { lastInstances.add(Double(o.count(last.counts)), [("outcome", o.label)]) }
      all.append(lastInstances)
      var lastHitRate = Family("kiln_last_build_hit_rate", .gauge, "Hit rate of the last build, 0 to 1.")
      if let h = last.counts.hitRate { lastHitRate.add(h) }
      all.append(lastHitRate)

      var violations = Family(
        "kiln_sla_violations", .gauge, "Instances of the task that took longer than its sla in the last build.")
      var warnings = Family(
        "kiln_sla_warnings", .gauge,
        "Instances of the task that took more than 80% of its sla, but not more than all of it, in the last build.")
      // Every task of the window gets a sample (0 when none), so a series does not
      // vanish when its task is back within its sla.
      let tasks = Set(r.perTask.map(\.name)).union(r.sla.map(\.task)).sorted()
      for task in tasks {
        let findings = r.sla.filter { $0.task == task }
        violations.add(Double(findings.filter(\.violation).count), [("task", task)])
        warnings.add(Double(findings.filter { !$0.violation }.count), [("task", task)])
      }
      all += [violations, warnings]
      if let path = r.criticalPath {
        all.append(Family("kiln_critical_path_seconds", .gauge,
                          "Length of the last build's critical path: the durations along it, added up.", value: path.length))
      }
      all.append(Family("kiln_bottlenecks", .gauge,
                        "Task instances of the last build that took more than 1.5x the mean of their task (or of all).",
                        value: Double(r.bottlenecks.count)))
      all.append(Family("kiln_regressions", .gauge,
                        "Task instances of the last build that ran well longer than the median of their earlier runs.",
                        value: Double(r.regressions.count)))
    }

    // The local cache.
    if let bytes = r.cacheBytes {
      all.append(Family("kiln_cache_bytes", .gauge, "Bytes in the local cache.", value: Double(bytes)))
    }
    if let files = r.cacheFiles {
      all.append(Family("kiln_cache_files", .gauge, "Files in the local cache.", value: Double(files)))
    }

    // Durations.
    var buildDuration = Family(
      "kiln_build_duration_seconds", .histogram, "Wall time of the builds in the history window, per workspace.")
    var byWorkspace: [String: [Double]] = [:]
    for b in r.history { byWorkspace[b.workspace ?? "(main)", default: []].append(b.wallTime) }
    for (w, times) in byWorkspace.sorted(by: { workspaceOrder($0.key, $1.key) }) {
      buildDuration.observe(times, buckets: buildBuckets, [("workspace", w)])
    }
    var taskDuration = Family(
      "kiln_task_duration_seconds", .histogram,
      "Time each task instance that ran, restored or failed took in the last build, per task and outcome.")
    var byTask: [String: [Double]] = [:]
    var keys: [String: (task: String, outcome: String)] = [:]
    for bar in r.timeline where bar.outcome != "skipped" {
      let key = bar.task + "\u{0}" + bar.outcome
      byTask[key, default: []].append(max(0, bar.finished - bar.started))
      keys[key] = (bar.task, bar.outcome)
    }
    for key in byTask.keys.sorted() {
      taskDuration.observe(byTask[key]!, buckets: taskBuckets, [("task", keys[key]!.task), ("outcome", keys[key]!.outcome)])
    }
    all += [buildDuration, taskDuration]
    return all
  }

  /// The report's order of workspaces: the main checkout first, then by name.
  private static func workspaceOrder(_ a: String, _ b: String) -> Bool {
    (a == "(main)" ? "" : a) < (b == "(main)" ? "" : b)
  }

  /// A number as the exposition format writes it: integers without a fraction,
  /// otherwise Swift's shortest round-tripping form, which Go's `ParseFloat` reads.
  package static func number(_ x: Double) -> String {
    if x.isNaN { return "NaN" }
    if x.isInfinite { return x > 0 ? "+Inf" : "-Inf" }
    if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
    return "\(x)"
  }

  /// A label value between double quotes: backslash, double quote and newline escaped.
  package static func quoted(_ value: String) -> String {
    var out = "\""
    for c in value.unicodeScalars {
      switch c {
      case "\\": out += "\\\\"
      case "\"": out += "\\\""
      case "\n": out += "\\n"
      default: out.unicodeScalars.append(c)
      }
    }
    return out + "\""
  }
}

/// One metric family: its name, type, help and samples, written together.
private struct Family {
  enum Kind: String { case counter, gauge, histogram }

  struct Sample {
    /// `_bucket`, `_sum`, `_count` for a histogram; empty otherwise.
    var suffix: String
    var labels: [(String, String)]
    var value: Double
  }

  var name: String
  var kind: Kind
  var help: String
  var samples: [Sample] = []

  init(_ name: String, _ kind: Kind, _ help: String) {
    self.name = name
    self.kind = kind
    self.help = help
  }

  /// A family of one unlabelled sample.
  init(_ name: String, _ kind: Kind, _ help: String, value: Double) {
    self.init(name, kind, help)
    add(value)
  }

  mutating func add(_ value: Double, _ labels: [(String, String)] = []) {
    samples.append(Sample(suffix: "", labels: labels, value: value))
  }

  /// A histogram's series for one label set: a cumulative `_bucket` per bound and
  /// `+Inf`, then `_sum` and `_count`.
  mutating func observe(_ values: [Double], buckets: [Double], _ labels: [(String, String)]) {
    for bound in buckets {
      let n = values.filter { $0 <= bound }.count
      samples.append(Sample(suffix: "_bucket", labels: labels + [("le", Prometheus.number(bound))], value: Double(n)))
    }
    samples.append(Sample(suffix: "_bucket", labels: labels + [("le", "+Inf")], value: Double(values.count)))
    samples.append(Sample(suffix: "_sum", labels: labels, value: values.reduce(0, +)))
    samples.append(Sample(suffix: "_count", labels: labels, value: Double(values.count)))
  }

  func write(to out: inout String) {
    // HELP text escapes backslash and newline (not double quotes).
    let escapedHelp = help.unicodeScalars.map { $0 == "\\" ? "\\\\" : $0 == "\n" ? "\\n" : String($0) }.joined()
    out += "# HELP \(name) \(escapedHelp)\n# TYPE \(name) \(kind.rawValue)\n"
    for s in samples {
      out += name + s.suffix
      if !s.labels.isEmpty {
        out += "{" + s.labels.map { "\($0.0)=\(Prometheus.quoted($0.1))" }.joined(separator: ",") + "}"
      }
      out += " \(Prometheus.number(s.value))\n"
    }
  }
}
