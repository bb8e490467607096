import KilnCore
import KilnEngine
import KilnStore
import KilnSystem

/// An engine on fakes: in-memory files, fake commands, a manual clock and an
/// in-memory recorder kept across builds, as one workspace's manifest would be.
package final class EngineHarness {
  package let clock = ManualClock()
  package let fileSystem: InMemoryFileSystem
  package let runner: FakeProcessRunner
  package let recorder = MemoryRecorder()
  package let root: String
  package let cacheRoot: String
  package var environment: [String: String] = [:]
  /// What the jobs claim their actions and slots from (none shared by default).
  package var limits: any MachineLimits = UnlimitedMachine()

  package init(root: String = "/ws", cacheRoot: String = "/cache", sharing other: EngineHarness? = nil) throws {
    self.root = root
    self.cacheRoot = cacheRoot
    fileSystem = other?.fileSystem ?? InMemoryFileSystem(clock: clock)
    runner = FakeProcessRunner(fileSystem: fileSystem, root: root)
    try fileSystem.createDirectories(root)
  }

  package func write(_ path: String, _ text: String) { fileSystem.write(Paths.join(root, path), text) }
  package func text(_ path: String) -> String? { fileSystem.text(Paths.join(root, path)) }
  /// Moves time on past the racy-clean window, as real time passes between edits.
  package func later(_ seconds: Double = 5) { fileSystem.clock.advance(by: seconds) }

  /// One build; returns its result and the commands that ran, in order.
  package func build(_ instances: [TaskInstance], targets: [String]? = nil, jobs: Int = 1,
                     keepGoing: Bool = false, useCache: Bool = true, dryRun: Bool = false,
                     snapshot: SnapshotRequest? = nil, decideFirst: [String] = [], delta: SnapshotDelta? = nil,
                     observer: any BuildObserver = SilentObserver()) async throws -> (result: BuildResult, ran: [String]) {
    _ = runner.takeCommands()
    let graph = try TaskGraph(instances)
    let statCache = StatCache(entries: recorder.statEntries, root: root, fileSystem: fileSystem, clock: fileSystem.clock)
    var job = Job(root: root, fileSystem: fileSystem, runner: runner, clock: fileSystem.clock, statCache: statCache,
                  contentStore: ContentStore(root: cacheRoot, fileSystem: fileSystem),
                  actionCache: ActionCache(root: cacheRoot, fileSystem: fileSystem),
                  environment: environment, useCache: useCache, limits: limits)
    // As `kiln build` does: results stored by the loop after the next commands start.
    job.defersStores = true
    let build = Build(graph: graph, root: root, fileSystem: fileSystem, clock: fileSystem.clock,
                      environment: environment, statCache: statCache,
                      recorder: dryRun ? DryRunRecorder(records: recorder.records) : recorder,
                      executor: dryRun ? DryRunExecutor(job) : job, observer: observer)
    var options = BuildOptions(jobs: jobs)
    options.targets = targets
    options.keepGoing = keepGoing
    options.removeStaleOutputs = !dryRun
    options.snapshot = snapshot
    options.decideFirst = decideFirst
    options.delta = delta
    options.isInterrupted = { false }
    let result = try await build.run(options)
    return (result, runner.takeCommands())
  }
}
