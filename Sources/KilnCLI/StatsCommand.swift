import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnLauncher
import KilnReport
import KilnStore
import KilnSystem
import KilnWorkspaces

/// `kiln stats`: what the run history says (SPEC §3), as text, `--json`,
/// `--prometheus` or a `--html FILE` page: one `StatsReport`, every form.
struct StatsCommand: KilnSubcommand {
  static let configuration = CommandConfiguration(
    commandName: "stats",
    abstract: "Hit rates, time saved, slowest tasks, bottlenecks, SLAs, critical path, regressions, misses.")
  @Option(help: "How many of the latest builds the history figures cover.") var last = 20
  @Flag(help: "One JSON document (docs/stats-schema.md).") var json = false
  @Flag(help: "Prometheus text exposition format (docs/prometheus.md).") var prometheus = false
  @Option(help: "Write a self-contained HTML report to FILE.") var html: String?
  @Option(help: "Only builds recorded under this workspace ('(main)': the main checkout).") var workspace: String?
  @Option(help: "Only this task's instances.") var task: String?
  @Option(help: "Only builds started since: 2h, 30m, 7d, 2026-12-01, 2026-12-01T14:00 (UTC).") var since: String?
  @Option(help: "Only builds started until: the same forms as --since.") var until: String?

  func run(in context: Context) async throws {
    guard last >= 1 else { throw CLIError("kiln: stats: --last must be at least 1") }
    let now = Double(context.clock.wallNanoseconds()) / 1e9
    var filter = HistoryFilter()
    if let workspace { filter.workspace = .some(workspace == "(main)" ? nil : workspace) }
    for (flag, text) in [("--since", since), ("--until", until)] {
      guard let text else { continue }
      guard let moment = StatsFilter.moment(text, now: now, endOfDay: flag == "--until") else {
        throw CLIError("kiln: stats: \(flag): '\(text)' is neither a time ago (2h, 30m, 7d) nor a UTC date (2026-12-01, 2026-12-01T14:00)")
      }
      if flag == "--since" { filter.since = moment } else { filter.until = moment }
    }
    if let task, task.isEmpty || task.contains(" ") { throw CLIError("kiln: stats: --task: '\(task)' is not a task name") }
    filter.task = task
    if json && prometheus { throw CLIError("kiln: stats: --json and --prometheus are two different forms; pick one") }
    if (try? context.requireBuildFile(orNinjaFolder: true)) == nil {
      // No kiln.yml: a project built through the launcher (`CC="kiln gcc" make`).
      if try launcherReport(context) { return }
      let project = Launcher.roots(directory: context.launch.directory, fileSystem: context.fileSystem,
                                   environment: context.environment).folders.first ?? context.launch.directory
      throw CLIError("kiln: stats: no kiln.yml here, and no compiler launcher or kiln exec call recorded for "
        + "\(project) (since the counts were last cleared)")
    }
    let report = try await Self.report(context, last: last, filter: filter)
    if let html {
      let path = context.launch.absolute(html)
      let title = "kiln stats: " + Paths.fileName(context.root)
      do {
        try context.fileSystem.writeAtomically(Array(HTMLReport.render(report, title: title).utf8), to: path,
                                               permissions: 0o644)
      } catch {
        throw CLIError("kiln: stats: cannot write \(html): \(error)")
      }
    }
    if json {
      Terminal.write(StatsJSON.render(report))
    } else if prometheus {
      Terminal.write(Prometheus.render(report))
    } else if html == nil {
      Terminal.write(StatsText.render(report, filter: filterDescription(filter)))
    }
  }

  /// `task compile, workspace (main), started since 2026-12-01 00:00 UTC`, or nil with
  /// no filter.
  private func filterDescription(_ filter: HistoryFilter) -> String? {
    var parts: [String] = []
    if let task { parts.append("task " + task) }
    if let workspace { parts.append("workspace " + workspace) }
    if let since = filter.since { parts.append("started since " + StatsText.utcTime(since)) }
    if let until = filter.until { parts.append("started until " + StatsText.utcTime(until)) }
    return parts.isEmpty ? nil : parts.joined(separator: ", ")
  }

  /// The launcher's counts for the project the current folder belongs to; false when
  /// the log has none (then the missing build file is the error to show).
  private func launcherReport(_ context: Context) throws -> Bool {
    try context.checkCache()
    let cwd = context.launch.directory
    let roots = Launcher.roots(directory: cwd, fileSystem: context.fileSystem, environment: context.environment)
    let project = roots.folders.first ?? cwd
    let records = LauncherLog(cacheRoot: context.cacheRoot).records(fileSystem: context.cacheFileSystem)
      .filter { $0.project == project }
    guard !records.isEmpty else { return false }
    let summary = LaunchSummary(records)
    if let html {
      do {
        try context.fileSystem.writeAtomically(Array(LauncherStats.html(summary, project: project).utf8),
                                               to: context.launch.absolute(html), permissions: 0o644)
      } catch {
        throw CLIError("kiln: stats: cannot write \(html): \(error)")
      }
    }
    if json {
      Terminal.write(JSON.object([("project", JSON.string(project)), ("launcher", LauncherStats.json(summary))]) + "\n")
    } else if prometheus {
      Terminal.write(LauncherStats.prometheus(summary, project: project))
    } else if html == nil {
      Terminal.write(LauncherStats.text(summary, title: "compiler launcher and kiln exec in \(project)"))
    }
    return true
  }

  /// The report of this build file's history: its last `last` builds, the build file's
  /// dependencies and SLAs, hit rates of every workspace of the repository, the cache.
  static func report(_ context: Context, last: Int, filter: HistoryFilter = HistoryFilter()) async throws -> StatsReport {
    // One session: the manifest opened, and its records read, once for everything below.
    let session = try Session(context, statCache: false)
    let manifest = try session.manifest
    let paths = [context.layout.manifest]
      + (await WorkspaceCommand.open(context)).allManifestPaths(fileName: Paths.fileName(context.layout.manifest))
    var rows: [HistoryRow]
    do { rows = try manifest.history(lastBuilds: last, matching: filter) } catch { throw CLIError("kiln: stats: \(error.message)") }
    if filter.workspace != nil {
      // One workspace's builds are in its own manifest: every manifest is looked in.
      rows += manifests(context, manifest: manifest, paths).dropFirst().flatMap { (try? $0.history(lastBuilds: last, matching: filter)) ?? [] }
      rows = Array(rows.sorted { $0.started < $1.started }.suffix(last))
    }
    var report = StatsReport(history: rows.map(historyBuild), facts: facts(session), window: last, task: filter.task)
    for row in rows {
      guard let traffic = row.remote else { continue }
      var figures = report.remote ?? RemoteFigures()
      figures.builds += 1
      figures.restored += row.summary.restoredRemote
      figures.bytesDown += traffic.bytesDown
      figures.bytesUp += traffic.bytesUp
      figures.seconds += traffic.seconds
      report.remote = figures
    }
    var execution = ExecutionFigures()
    for row in rows {
      for o in row.outcomes where o.outcome == "ran" || o.outcome == "failed" {
        if o.ranOn == "remote" {
          execution.remote += 1
          execution.remoteSeconds += o.remoteExecuted ?? 0
          execution.remoteQueued += o.remoteQueued ?? 0
          execution.bytesUp += o.remoteUp ?? 0
          execution.bytesDown += o.remoteDown ?? 0
        } else {
          execution.local += 1
          execution.localSeconds += o.duration
        }
      }
    }
    if execution.remote > 0 { report.execution = execution }
    if filter.task == nil {
      report.perWorkspace = workspaceFigures(context, manifest: manifest, paths) { try $0.totalsByWorkspace(lastBuilds: last, matching: filter) }
    } else {
      // Per workspace, that task's instances: each manifest's builds counted as the report counts them.
      var totals: [String: Counts] = [:]
      for m in manifests(context, manifest: manifest, paths) {
        let builds = ((try? m.history(lastBuilds: last, matching: filter)) ?? []).map(historyBuild)
        for g in StatsReport(history: builds, facts: TaskFacts(), window: last, task: filter.task).perWorkspace {
          totals[g.name] = (totals[g.name] ?? Counts()) + g.counts
        }
      }
      report.perWorkspace = totals.keys.sorted { ($0 == "(main)" ? "" : $0) < ($1 == "(main)" ? "" : $1) }
        .map { GroupFigures(name: $0, counts: totals[$0]!) }
    }
    report.lifetime = workspaceFigures(context, manifest: manifest, paths) { try $0.lifetimeTotals() }
    // The entries' database only when there and a regular file: `stats` makes nothing in the cache.
    let database = context.fileSystem.lstat(context.cacheRoot + "/" + ActionDatabase.fileName)?.kind == .file
      ? ActionDatabase(cacheRoot: context.cacheRoot, mode: context.cacheTrust.lockFileMode) : nil
    let cache = CacheMaintenance(root: context.cacheRoot, fileSystem: context.fileSystem, actions: database).stats()
    report.cacheBytes = cache.totalBytes
    report.cacheFiles = cache.blobs + cache.actions
    return report
  }

  /// The store's totals in the report's terms (KilnReport does not see KilnStore).
  private static func counts(_ s: BuildSummary, builds: Int) -> Counts {
    var c = Counts()
    c.ran = s.ran; c.restored = s.restored; c.upToDate = s.upToDate
    c.failed = s.failed; c.skipped = s.skipped; c.timeSaved = s.timeSaved
    c.builds = builds
    return c
  }

  /// One history row in the report's terms.
  private static func historyBuild(_ row: HistoryRow) -> HistoryBuild {
    HistoryBuild(
      figures: BuildFigures(id: row.id, started: row.started, wallTime: row.summary.wallTime, workspace: row.workspace,
                            exitStatus: row.summary.exitStatus, counts: counts(row.summary, builds: 1),
                            targets: row.targets, commit: row.commit, jobs: row.jobs, cacheBytes: row.cacheBytes),
      outcomes: row.outcomes.map { o in
        HistoryOutcome(id: o.task, task: TaskID(parsing: o.task).task, outcome: o.outcome,
                       reasonKinds: o.reasonKinds.split(separator: " ").map(String.init), duration: o.duration,
                       started: o.started, finished: o.finished, ready: o.ready, queued: o.queued ?? 0)
      },
      upToDate: row.upToDate)
  }

  /// This manifest, then every other existing one of `paths` opened read-only, each once.
  private static func manifests(_ context: Context, manifest: Manifest, _ paths: [String]) -> [Manifest] {
    var seen = Set<String>()
    var result: [Manifest] = []
    for path in paths where seen.insert(Paths.normalize(path) ?? path).inserted {
      if path == context.layout.manifest {
        result.insert(manifest, at: 0)
        continue
      }
      guard context.fileSystem.stat(path)?.kind == .file, let m = try? Manifest(readingOnly: path) else { continue }
      result.append(m)
    }
    return result
  }

  /// Dependencies and SLAs from the build file as it is now; none when it does not
  /// parse (the history's figures still stand).
  private static func facts(_ session: Session) -> TaskFacts {
    guard let graph = try? session.graph() else { return TaskFacts() }
    var facts = TaskFacts()
    for (i, instance) in graph.instances.enumerated() {
      facts.dependencies[instance.id.description] = graph.dependencies[i].map { graph[$0].id.description }
      if let sla = instance.sla { facts.sla[instance.id.task] = sla.seconds }
    }
    return facts
  }

  /// Figures per workspace, added up from what `read` gives for each manifest: this
  /// one, the main checkout's and every workspace's, each read once.
  private static func workspaceFigures(_ context: Context, manifest: Manifest, _ paths: [String],
                                       _ read: (Manifest) throws -> [WorkspaceTotals]) -> [GroupFigures] {
    var seen = Set<String>()
    var totals: [String: Counts] = [:]
    for path in paths where seen.insert(Paths.normalize(path) ?? path).inserted {
      guard context.fileSystem.stat(path)?.kind == .file,
            // Another checkout's manifest is read, never written, migrated or reset.
            let m = path == context.layout.manifest ? manifest : try? Manifest(readingOnly: path),
            let rows = try? read(m)
      else { continue }
      for row in rows {
        let name = row.workspace ?? "(main)"
        var c = counts(row.summary, builds: row.builds)
        c.nothingToDo = row.nothingToDo
        c.nothingToDoUpToDate = row.nothingToDoUpToDate
        totals[name] = (totals[name] ?? Counts()) + c
      }
    }
    let names: [String] = totals.keys.sorted { (a: String, b: String) -> Bool in
      (a == "(main)" ? "" : a) < (b == "(main)" ? "" : b)
    }
    return names.map { (name: String) -> GroupFigures in GroupFigures(name: name, counts: totals[name]!, meanRunTime: nil) }
  }
}

/// `kiln stats` as text.
enum StatsText {
  static func render(_ r: StatsReport, filter: String? = nil) -> String {
    guard let last = r.last else {
      return filter.map { "kiln: no build recorded here matches: \($0)\n" } ?? "kiln: no build recorded here yet\n"
    }
    var t = filter.map { "only: \($0)\n" } ?? ""
    var about = [last.workspace.map { "workspace \($0)" }, utcTime(last.started), last.commit.map { "commit " + $0.prefix(12) }]
      .compactMap { $0 }.joined(separator: ", ")
    if let jobs = last.jobs { about += ", -j \(jobs)" }
    t += "last build #\(last.id) (\(about)): " + counts(last.counts) + "; \(seconds(last.wallTime))\n"
    t += "last \(r.history.count) build\(r.history.count == 1 ? "" : "s"): " + counts(r.total) + "\n"
    if r.total.nothingToDo > 0 {
      t += "  \(r.total.nothingToDo) of them had nothing to do (every instance up to date): left out of the hit rate\n"
    }

    t += "\nhit rate per workspace (last \(r.window) builds of each):\n"
    t += columns([["WORKSPACE", "BUILDS", "NOTHING-TO-DO", "RAN", "RESTORED", "UP-TO-DATE", "HIT-RATE", "SAVED"]]
      + r.perWorkspace.map { g in
        [g.name, "\(g.counts.builds)", "\(g.counts.nothingToDo)", "\(g.counts.ran)", "\(g.counts.restored)",
         "\(g.counts.upToDate)", percent(g.counts.hitRate), seconds(g.counts.timeSaved)]
      }, indent: "  ")
    t += "\nhit rate per task (last \(r.history.count) builds):\n"
    t += columns([["TASK", "RAN", "RESTORED", "UP-TO-DATE", "FAILED", "HIT-RATE", "MEAN RUN", "SAVED", "UP-TO-DATE WORK"]]
      + r.perTask.map { g in
        [g.name, "\(g.counts.ran)", "\(g.counts.restored)", "\(g.counts.upToDate)", "\(g.counts.failed)",
         percent(g.counts.hitRate), g.meanRunTime.map(seconds) ?? "-", seconds(g.counts.timeSaved),
         seconds(g.counts.upToDateWork)]
      }, indent: "  ")

    if !r.slowest.isEmpty {
      t += "\nslowest (last build):\n"
      t += columns(r.slowest.map { [$0.id, $0.outcome, seconds($0.duration)] }, indent: "  ")
    }
    if let line = busyLine(r) { t += "\n" + line + "\n" }
    t += "\nbottlenecks (last build, > \(String(format2: StatsReport.bottleneckFactor))x the mean of their peers):"
    if r.bottlenecks.isEmpty { t += " none\n" } else {
      t += "\n" + columns(r.bottlenecks.map { b in
        let peers = b.basis == "task" ? "\(b.task)'s \(b.peers) instances" : "the \(b.peers) tasks of one instance"
        return [b.id, seconds(b.duration), "\(String(format2: b.ratio))x the mean of \(peers) (\(seconds(b.mean)))"]
      }, indent: "  ")
    }
    t += "\nSLA (last build):"
    if r.sla.isEmpty { t += " no task past 80% of its sla\n" } else {
      t += "\n" + columns(r.sla.map { f in
        [f.violation ? "VIOLATION" : "warning", f.id, "\(seconds(f.duration)) of \(seconds(f.sla))",
         "\(Int((f.fraction * 100).rounded()))%"]
      }, indent: "  ")
    }
    if let path = r.criticalPath {
      t += "\ncritical path (last build): \(seconds(path.length)) of \(seconds(path.wallTime)) wall time"
      if path.slotLimited {
        t += "; waiting for a job slot lengthened it by \(seconds(path.slotWait))\(path.jobs.map { " (-j \($0))" } ?? "")"
      }
      t += "\n  " + path.steps.map { step in
        "\(step.id) (\(seconds(step.duration))" + (step.waited >= 0.005 ? ", waited \(seconds(step.waited)) for a slot" : "") + ")"
      }.joined(separator: " -> ") + "\n"
    }
    t += "\nregressions (last build against the median of earlier runs):"
    if r.regressions.isEmpty { t += " none\n" } else {
      t += "\n" + columns(r.regressions.map { g in
        [g.id, "\(seconds(g.duration)) against \(seconds(g.median)) (median of \(g.samples))", "\(String(format2: g.ratio))x"]
      }, indent: "  ")
    }
    t += "\ncache misses by reason (last \(r.history.count) builds):"
    if r.missReasons.isEmpty { t += " none\n" } else {
      t += "\n" + columns(r.missReasons.map { [$0.kind, "\($0.count)", $0.examples.joined(separator: ", ")] }, indent: "  ")
    }
    if let bytes = r.cacheBytes {
      t += "\ncache: \(r.cacheFiles ?? 0) files, \(formatBytes(bytes))\n"
    }
    if let remote = r.remote {
      let local = (r.history.map { $0.counts.restored }.reduce(0, +)) - remote.restored
      t += "remote cache (\(remote.builds) of the last \(r.history.count) builds asked it): \(remote.restored) restored from the remote, \(local) from the local cache; \(formatBytes(remote.bytesDown)) down, \(formatBytes(remote.bytesUp)) up, \(seconds(remote.seconds)) on the network\n"
    }
    if let e = r.execution {
      t += "remote execution (last \(r.history.count) builds): \(e.remote) commands ran on remote workers, \(seconds(e.remoteSeconds)) there and \(seconds(e.remoteQueued)) queued for a worker, \(formatBytes(e.bytesUp)) up and \(formatBytes(e.bytesDown)) down; \(e.local) ran here, \(seconds(e.localSeconds))\n"
    }
    return t
  }

  /// `job slots (last build, -j 2): at most 2 busy, 1.50 on average over 4.01s`.
  static func busyLine(_ r: StatsReport) -> String? {
    guard let last = r.last, !r.busy.isEmpty, last.wallTime > 0 else { return nil }
    let peak = r.busy.map(\.running).max() ?? 0
    var area = 0.0
    for (a, b) in zip(r.busy, r.busy.dropFirst() + [BusyStep(time: max(last.wallTime, r.busy.last!.time), running: 0)]) {
      area += Double(a.running) * max(0, b.time - a.time)
    }
    let jobs = last.jobs.map { ", -j \($0)" } ?? ""
    return "job slots (last build\(jobs)): at most \(peak) busy, \(String(format2: area / last.wallTime)) on average over \(seconds(last.wallTime))"
  }

  static func counts(_ c: Counts) -> String {
    var parts = ["\(c.ran) ran", "\(c.restored) restored", "\(c.upToDate) up to date"]
    if c.failed > 0 { parts.append("\(c.failed) failed") }
    if c.skipped > 0 { parts.append("\(c.skipped) skipped") }
    let rate = c.hitRate == nil && c.nothingToDo > 0 ? "nothing to do" : "hit rate \(percent(c.hitRate))"
    return parts.joined(separator: ", ") + "; \(rate); saved \(seconds(c.timeSaved))"
      + (c.upToDateWork > 0 ? "; up-to-date work \(seconds(c.upToDateWork))" : "")
  }

  static func percent(_ rate: Double?) -> String { rate.map { String(format2: $0 * 100) + "%" } ?? "-" }
  static func seconds(_ s: Double) -> String { String(format2: s) + "s" }

  /// `2026-11-25 17:20 UTC`.
  static func utcTime(_ epochSeconds: Double) -> String {
    let t = utcFields(epochSeconds)
    return "\(t.year)-\(t.month)-\(t.day) \(t.hour):\(t.minute) UTC"
  }
}
