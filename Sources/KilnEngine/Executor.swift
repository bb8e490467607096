import KilnCore
import KilnHash
import KilnStore
import KilnSystem

/// What the build loop does with an instance that is not up to date: restore or run it
/// (`Job`), or only say which it would do (`DryRunExecutor`). Called off the loop, in
/// up to `-j` child tasks at once; it hands back values and touches no loop state.
package protocol TaskExecutor: Sendable {
  /// Restores `task` from the cache or runs it. `lookedUp`: `lookUp` already found no
  /// entry for it (only a claim another process held is waited for, then looked for).
  func perform(_ task: PreparedTask, reasons: [RerunReason], previous: TaskRecord?, lookedUp: Bool) async -> JobResult
  /// How many cache lookups may be in flight beside the job slots (`lookUp`): lookups
  /// that wait on a remote server rather than work, so a fresh checkout restoring from
  /// one is not limited to `-j` round trips at a time. 0: none, every lookup is part
  /// of `perform`.
  var lookupsAhead: Int { get }
  /// Whether `task` is looked up ahead (`lookUp`) rather than in `perform`.
  func looksUpAhead(_ task: PreparedTask) -> Bool
  /// How many commands may be out on a remote executor at once, beside the job slots
  /// (0: none is configured).
  var remoteJobs: Int { get }
  /// Whether `task`'s command goes to the remote executor (`Job.runsRemotely`).
  func runsRemotely(_ task: PreparedTask) -> Bool
  /// `task` restored from the cache, local then remote, or nil with the reasons it must
  /// run (for `perform(..., lookedUp: true)`) and the warnings to show (the remote failed).
  func lookUp(_ task: PreparedTask, reasons: [RerunReason]) async -> (JobResult?, [RerunReason], [String])
  /// A result this build stored under `key` turned out not to be its command's alone
  /// (another task changed an output afterwards): it must not be restored.
  func withdraw(_ key: Digest)
  /// An instance of a batched task: its result when restored (or predicted), else nil
  /// and the reasons it must run, with the others of its batch (`performBatch`); the
  /// warnings to show (the remote failed).
  func restoreBatched(_ task: PreparedTask, reasons: [RerunReason]) async -> (JobResult?, [RerunReason], [String])
  /// Runs instances of one batched task together; per item its result, or nil for one
  /// to be given to `perform` instead (another process is running it).
  func performBatch(_ items: [BatchItem]) async -> [JobResult?]
  /// Puts a result `perform` handed back unstored (`JobResult.pendingStore`) into the
  /// cache; the warnings to show when it could not.
  func store(_ pending: PendingStore) async -> [String]
  /// Stores results that are only entries (`PendingStore.isEntryOnly`: remote hits) in
  /// one step; the warnings to show when they could not be.
  func store(entriesOnly pendings: [PendingStore]) async -> [String]
  /// `store`, started now beside the caller; its warnings once done.
  func startStore(_ pending: PendingStore) -> Eventually<[String]>
  /// A result `perform` handed back unstored that will not be stored (its
  /// `JobResult.inputCheck` found an input changed): its claim released.
  func discard(_ pending: PendingStore)
}

extension TaskExecutor {
  package func discard(_ pending: PendingStore) {}

  package func startStore(_ pending: PendingStore) -> Eventually<[String]> {
    let done = Eventually<[String]>()
    Task { done.fulfil(await store(pending)) }
    return done
  }

  package func store(entriesOnly pendings: [PendingStore]) async -> [String] {
    var warnings: [String] = []
    for pending in pendings { warnings += await store(pending) }
    return warnings
  }
}

extension Job: TaskExecutor {
  package func withdraw(_ key: Digest) { actionCache.remove(key) }

  package func discard(_ pending: PendingStore) {
    if let claim = pending.claim { limits.release(claim) }
  }

  /// Remote lookups in flight beside the job slots: each waits on a round trip or two,
  /// and the helper runs them all at once.
  package var lookupsAhead: Int { remote == nil ? 0 : Self.remoteLookupsInFlight }
  package static let remoteLookupsInFlight = 16

  package var remoteJobs: Int { remoteExecutor?.jobs ?? 0 }
  package func runsRemotely(_ task: PreparedTask) -> Bool { runsRemotely(task.instance) }

  package func looksUpAhead(_ task: PreparedTask) -> Bool {
    guard let remote, remote.down == nil else { return false }
    let instance = task.instance
    return useCache && instance.cache && !instance.always && instance.batch == nil
  }

  package func lookUp(_ task: PreparedTask, reasons: [RerunReason]) async -> (JobResult?, [RerunReason], [String]) {
    var reasons = reasons
    if let result = await restoreAside(task, noting: &reasons) { return (result, reasons, []) }
    var warnings: [String] = []
    if let result = await restoreRemote(task, warnings: &warnings) {
      return (defersStores ? result : await storingNow(result), reasons, [])
    }
    return (nil, reasons, warnings)
  }
}

/// A dry run: the same match against the cache a real job would make, without
/// writing anything; the result is a prediction, never a record.
package struct DryRunExecutor: TaskExecutor {
  private let job: Job

  package init(_ job: Job) { self.job = job }

  package func perform(_ task: PreparedTask, reasons: [RerunReason], previous: TaskRecord?, lookedUp: Bool) async -> JobResult {
    let instance = task.instance
    let restorable = job.useCache && instance.cache && !instance.always
      && job.matchingEntry(for: task, removingDamaged: false).entry != nil
    var result = JobResult(outcome: restorable ? .restored(from: .local) : .ran(because: reasons, outputsChanged: true))
    result.predicted = true
    return result
  }

  package func withdraw(_ key: Digest) {}
  package var lookupsAhead: Int { 0 }
  package var remoteJobs: Int { 0 }
  package func runsRemotely(_ task: PreparedTask) -> Bool { false }
  package func looksUpAhead(_ task: PreparedTask) -> Bool { false }
  package func lookUp(_ task: PreparedTask, reasons: [RerunReason]) async -> (JobResult?, [RerunReason], [String]) {
    (nil, reasons, [])
  }

  package func restoreBatched(_ task: PreparedTask, reasons: [RerunReason]) async -> (JobResult?, [RerunReason], [String]) {
    (await perform(task, reasons: reasons, previous: nil, lookedUp: false), reasons, [])
  }

  package func performBatch(_ items: [BatchItem]) async -> [JobResult?] { items.map { _ in nil } }

  package func store(_ pending: PendingStore) async -> [String] { [] }
}
