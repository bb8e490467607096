import KilnCore
import KilnEngine
import KilnSystem

/// What a person sees during a build: on a terminal one status line updated in place
/// (done / total, the running tasks, an estimate of the time left from the history),
/// otherwise one plain line per task that restored or ran; a failing task's output
/// in full; restored tasks' recorded output replayed; `--explain` reasons. `--quiet`
/// keeps only failures and warnings. Colour only on a terminal, never with `NO_COLOR`.
final class ConsoleObserver: BuildObserver {
  private let tty: Bool
  private let explain: Bool
  private let quiet: Bool
  private let color: Bool
  /// With `--json` stdout belongs to the JSON document: everything else goes to stderr.
  private let out: Int32
  private var total = 0
  private var done = 0
  private var running: [TaskID: Double] = [:]
  /// Every instance started, in order; the status line names the oldest still running,
  /// found by moving `oldest` past the finished ones (a removal from the array at each
  /// end was quadratic: 300 batched instances cost 20 million instructions).
  private var order: [TaskID] = []
  private var oldest = 0
  private var statusShown = false
  private let clock = SystemClock()
  // The estimate: each instance's last run time, the ones not finished yet, and how
  // many of the finished ones had to run (the rest were up to date or restored).
  private var expected: [TaskID: Double] = [:]
  private var unfinishedExpected = 0.0
  private var finishedCount = 0
  private var ranCount = 0
  private var jobs = 1
  /// Each command that ran shown whole, as it was run (`kiln ninja -v`).
  private let verbose: Bool
  /// What to show for an instance instead of its name (`TaskInstance.label`).
  private var labels: [TaskID: String] = [:]
  /// kiln's environment, and each started instance's own `env:`: a command is shown
  /// with its variables' values (`ShownCommand`).
  private let environment: [String: String]
  private var taskEnvironments: [TaskID: [EnvironmentVariable]] = [:]

  init(explain: Bool, json: Bool, quiet: Bool = false, verbose: Bool = false, environment: [String: String] = [:]) {
    self.explain = explain
    self.verbose = verbose
    self.environment = environment
    self.quiet = quiet
    self.out = json ? 2 : 1
    self.tty = Terminal.isTerminal(json ? 2 : 1) && !json && !quiet
    self.color = Terminal.colors(json ? 2 : 1)
  }

  var wantsPlan: Bool { tty }

  func buildStarted(total: Int) { self.total = total }

  func buildPlanned(expected: [TaskID: Double], jobs: Int) {
    self.expected = expected
    self.jobs = max(1, jobs)
    unfinishedExpected = expected.values.reduce(0, +)
  }

  func taskStarted(_ instance: TaskInstance, reasons: [RerunReason]) {
    running[instance.id] = clock.monotonic()
    if let label = instance.label { labels[instance.id] = label }
    if !instance.environment.isEmpty { taskEnvironments[instance.id] = instance.environment }
    order.append(instance.id)
    if tty { showStatus() }
  }

  func buildStandsOnSnapshot(decided: Int, total: Int, changed: [String]) {
    guard explain else { return }
    let shown = changed.prefix(3).joined(separator: ", ") + (changed.count > 3 ? ", ..." : "")
    Terminal.error("kiln explain: \(changed.count) file\(changed.count == 1 ? "" : "s") changed since the last build (\(shown)): "
      + "deciding the \(decided) of \(total) instances that use \(changed.count == 1 ? "it" : "them") or depend on those")
  }

  func taskFinished(_ report: TaskReport, done: Int, total: Int) {
    self.done = done
    running[report.id] = nil
    finishedCount += 1
    unfinishedExpected -= expected[report.id] ?? 0
    if case .ran = report.outcome { ranCount += 1 }
    if explain, !report.reasons.isEmpty {
      // Printed when the task ends: only then are all reasons known (a cached result
      // that holds another workspace's path is found by the job).
      clearStatus()
      Terminal.error("kiln explain: \(report.id): \(report.reasons.map(\.description).joined(separator: ", "))")
    }
    switch report.outcome {
    case .upToDate, .skipped:
      if tty, done == total { clearStatus() }
      return
    case .restored:
      announce("\(labels[report.id] ?? report.id.description) " + paint("(restored)", "32"))
      replay(report)
    case .ran:
      let name = verbose ? shown(report) : labels[report.id] ?? report.id.description
      announce(report.ranRemotely != nil ? name + " (ran remotely)" : name)
      replay(report)
    case .failed(let failure):
      clearStatus()
      Terminal.write(paint("FAILED", "1;31") + ": \(report.id): \(failure)\n\(shown(report))\n", to: out)
      replay(report)
    }
    if tty {
      if running.isEmpty { clearStatus() } else { showStatus() }
    }
  }

  /// The command as it ran, its variables' values in place.
  private func shown(_ report: TaskReport) -> String {
    let own = taskEnvironments[report.id] ?? []
    return ShownCommand.expand(report.command) { name in
      own.first { $0.name == name }?.value ?? environment[name]
    }
  }

  func warning(_ message: String) {
    clearStatus()
    Terminal.error("kiln: warning: \(message)")
  }

  func finish() { clearStatus() }

  private func paint(_ text: String, _ code: String) -> String {
    color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
  }

  private func replay(_ report: TaskReport) {
    guard !report.stdout.isEmpty || !report.stderr.isEmpty else { return }
    clearStatus()
    Terminal.write(bytes: report.stdout, to: out)
    Terminal.write(bytes: report.stderr, to: 2)
  }

  /// A task that restored or ran: the status line on a terminal, else a plain line.
  private func announce(_ name: String) {
    if quiet { return }
    if tty {
      showStatus()
    } else {
      Terminal.write("[\(done)/\(total)] \(name)\n", to: out)
    }
  }

  /// Seconds left, from the history: what the running tasks have still to go by their
  /// last run time, plus the unfinished rest weighted by the share of finished tasks
  /// that had to run, over the jobs. Nil until there is something to go on.
  func estimate(now: Double) -> Double? {
    guard finishedCount > 0, unfinishedExpected > 0 else { return nil }
    var left = 0.0
    var runningExpected = 0.0
    for (id, started) in running {
      let e = expected[id] ?? 0
      runningExpected += e
      left += max(0, e - (now - started))
    }
    let share = Double(ranCount) / Double(finishedCount)
    left += max(0, unfinishedExpected - runningExpected) * share
    return left / Double(jobs)
  }

  private func showStatus() {
    var line = "[\(done)/\(total)]"
    while oldest < order.count, running[order[oldest]] == nil { oldest += 1 }
    if oldest < order.count {
      line += " " + order[oldest].description
      if running.count > 1 { line += " (+\(running.count - 1) running)" }
    }
    if let left = estimate(now: clock.monotonic()), left >= 1 {
      line += ", about \(Duration.milliseconds(Int64(left * 1000)).formattedSeconds) left"
    }
    let width = Terminal.width
    if line.count >= width { line = String(line.prefix(width - 1)) }
    Terminal.write("\r" + line + "\u{1B}[K", to: out)
    statusShown = true
  }

  private func clearStatus() {
    guard statusShown else { return }
    Terminal.write("\r\u{1B}[K", to: out)
    statusShown = false
  }
}
