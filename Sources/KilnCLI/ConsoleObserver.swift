import KilnCore
import KilnEngine

/// What a person sees during a build: on a terminal one status line updated in place,
/// otherwise one plain line per task that restored or ran; a failing task's output
/// in full; restored tasks' recorded output replayed; `--explain` reasons.
final class ConsoleObserver: BuildObserver {
  private let tty: Bool
  private let explain: Bool
  /// With `--json` stdout belongs to the JSON document: everything else goes to stderr.
  private let out: Int32
  private var total = 0
  private var done = 0
  private var running: [TaskID: String] = [:]
  private var statusShown = false

  init(explain: Bool, json: Bool) {
    self.explain = explain
    self.out = json ? 2 : 1
    self.tty = Terminal.isTerminal(json ? 2 : 1) && !json
  }

  func buildStarted(total: Int) { self.total = total }

  func taskStarted(_ instance: TaskInstance, reasons: [RerunReason]) {
    running[instance.id] = instance.id.description
    if tty { showStatus(instance.id.description) }
  }

  func taskFinished(_ report: TaskReport, done: Int, total: Int) {
    self.done = done
    running[report.id] = nil
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
      announce("\(report.id) (restored)")
      replay(report)
    case .ran:
      announce(report.id.description)
      replay(report)
    case .failed(let failure):
      clearStatus()
      Terminal.write("FAILED: \(report.id): \(failure)\n\(report.command)\n", to: out)
      replay(report)
    }
    if tty {
      if let next = running.values.first { showStatus(next) } else { clearStatus() }
    }
  }

  func warning(_ message: String) {
    clearStatus()
    Terminal.error("kiln: warning: \(message)")
  }

  func finish() { clearStatus() }

  private func replay(_ report: TaskReport) {
    guard !report.stdout.isEmpty || !report.stderr.isEmpty else { return }
    clearStatus()
    Terminal.write(bytes: report.stdout, to: out)
    Terminal.write(bytes: report.stderr, to: 2)
  }

  /// A task that restored or ran: the status line on a terminal, else a plain line.
  private func announce(_ name: String) {
    if tty {
      showStatus(name)
    } else {
      Terminal.write("[\(done)/\(total)] \(name)\n", to: out)
    }
  }

  private func showStatus(_ name: String) {
    var line = "[\(done)/\(total)] \(name)"
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
