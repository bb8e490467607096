import KilnCore

/// What happened to one task instance in one build, for observers and reports.
package struct TaskReport: Sendable {
  package var id: TaskID
  package var outcome: TaskOutcome
  package var reasons: [RerunReason]
  /// Run time of this build's work (0 when up to date).
  package var duration: Double
  /// What the task printed (when it ran) or recorded output (when restored).
  package var stdout: [UInt8]
  package var stderr: [UInt8]
  /// Monotonic seconds since the build started.
  package var started: Double
  package var finished: Double
  /// Recorded run time of a task that did not run: what the cache saved.
  package var saved: Double
  package var command: String
  /// Bytes of resident memory the command used at its peak, when it ran here.
  package var peakMemory: Int64?
  /// Monotonic seconds since the build started when it was ready to restore or run
  /// (its dependencies ended): `started - ready` it waited for a job slot.
  package var ready: Double?
  /// Seconds of `started...finished` it waited for a machine-wide job slot (one that
  /// every kiln process shares) before its command started.
  package var queued: Double = 0
  /// Set when its command ran on a remote worker.
  package var ranRemotely: RemoteRunFacts?

  package init(id: TaskID, outcome: TaskOutcome, reasons: [RerunReason] = [], duration: Double = 0,
               stdout: [UInt8] = [], stderr: [UInt8] = [], started: Double = 0, finished: Double = 0,
               saved: Double = 0, command: String = "", peakMemory: Int64? = nil, ready: Double? = nil) {
    self.ready = ready
    self.peakMemory = peakMemory
    self.id = id
    self.outcome = outcome
    self.reasons = reasons
    self.duration = duration
    self.stdout = stdout
    self.stderr = stderr
    self.started = started
    self.finished = finished
    self.saved = saved
    self.command = command
  }
}

/// Receives build events, always from the build loop (never concurrently).
package protocol BuildObserver: AnyObject {
  func buildStarted(total: Int)
  /// Each selected instance's run time at its last run here (0 when unknown) and the
  /// number of jobs: what an estimate of the time left starts from.
  func buildPlanned(expected: [TaskID: Double], jobs: Int)
  /// Whether `buildPlanned` is wanted (it costs a dictionary of every instance).
  var wantsPlan: Bool { get }
  /// A task instance takes a job slot (it will be restored or run).
  func taskStarted(_ instance: TaskInstance, reasons: [RerunReason])
  func taskFinished(_ report: TaskReport, done: Int, total: Int)
  func warning(_ message: String)
  /// The build stands on the last build's snapshot (`SnapshotDelta`): of `total`
  /// instances it decides `decided`, those that use one of `changed` (files, workspace-
  /// relative) and those that depend on them; the others are up to date.
  func buildStandsOnSnapshot(decided: Int, total: Int, changed: [String])
}

/// An observer that ignores everything.
package final class SilentObserver: BuildObserver {
  package init() {}
  package func buildStarted(total: Int) {}
  package func taskStarted(_ instance: TaskInstance, reasons: [RerunReason]) {}
  package func taskFinished(_ report: TaskReport, done: Int, total: Int) {}
  package func warning(_ message: String) {}
}

extension BuildObserver {
  package func buildPlanned(expected: [TaskID: Double], jobs: Int) {}
  package func buildStandsOnSnapshot(decided: Int, total: Int, changed: [String]) {}
  package var wantsPlan: Bool { false }
}
