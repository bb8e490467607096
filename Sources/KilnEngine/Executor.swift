import KilnCore
import KilnHash
import KilnStore

/// What the build loop does with an instance that is not up to date: restore or run it
/// (`Job`), or only say which it would do (`DryRunExecutor`). Called off the loop, in
/// up to `-j` child tasks at once; it hands back values and touches no loop state.
package protocol TaskExecutor: Sendable {
  func perform(_ task: PreparedTask, reasons: [RerunReason], previous: TaskRecord?) async -> JobResult
  /// A result this build stored under `key` turned out not to be its command's alone
  /// (another task changed an output afterwards): it must not be restored.
  func withdraw(_ key: Digest)
  /// An instance of a batched task: its result when restored (or predicted), else nil
  /// and the reasons it must run, with the others of its batch (`performBatch`).
  func restoreBatched(_ task: PreparedTask, reasons: [RerunReason]) async -> (JobResult?, [RerunReason])
  /// Runs instances of one batched task together; per item its result, or nil for one
  /// to be given to `perform` instead (another process is running it).
  func performBatch(_ items: [BatchItem]) async -> [JobResult?]
  /// Puts a result `perform` handed back unstored (`JobResult.pendingStore`) into the
  /// cache; the warnings to show when it could not.
  func store(_ pending: PendingStore) async -> [String]
}

extension Job: TaskExecutor {
  package func withdraw(_ key: Digest) { actionCache.remove(key) }
}

/// A dry run: the same match against the cache a real job would make, without
/// writing anything; the result is a prediction, never a record.
package struct DryRunExecutor: TaskExecutor {
  private let job: Job

  package init(_ job: Job) { self.job = job }

  package func perform(_ task: PreparedTask, reasons: [RerunReason], previous: TaskRecord?) async -> JobResult {
    let instance = task.instance
    let restorable = job.useCache && instance.cache && !instance.always
      && job.matchingEntry(for: task, removingDamaged: false).entry != nil
    var result = JobResult(outcome: restorable ? .restored(from: .local) : .ran(because: reasons, outputsChanged: true))
    result.predicted = true
    return result
  }

  package func withdraw(_ key: Digest) {}

  package func restoreBatched(_ task: PreparedTask, reasons: [RerunReason]) async -> (JobResult?, [RerunReason]) {
    (await perform(task, reasons: reasons, previous: nil), reasons)
  }

  package func performBatch(_ items: [BatchItem]) async -> [JobResult?] { items.map { _ in nil } }

  package func store(_ pending: PendingStore) async -> [String] { [] }
}
