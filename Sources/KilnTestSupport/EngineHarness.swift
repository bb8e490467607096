import KilnCore
import KilnEngine
import KilnStore
import KilnSystem

/// An engine on fakes: in-memory files, fake commands, a manual clock and a real
/// in-memory SQLite manifest kept across builds, as one workspace would have.
package final class EngineHarness {
  package let clock = ManualClock()
  package let fileSystem: InMemoryFileSystem
  package let runner: FakeProcessRunner
  package let manifest: Manifest
  package let root: String
  package let cacheRoot: String
  package var environment: [String: String] = [:]

  package init(root: String = "/ws", cacheRoot: String = "/cache", sharing other: EngineHarness? = nil) throws {
    self.root = root
    self.cacheRoot = cacheRoot
    fileSystem = other?.fileSystem ?? InMemoryFileSystem(clock: clock)
    runner = FakeProcessRunner(fileSystem: fileSystem, root: root)
    manifest = try Manifest(path: ":memory:")
    try fileSystem.createDirectories(root)
  }

  package func write(_ path: String, _ text: String) { fileSystem.write(Paths.join(root, path), text) }
  package func text(_ path: String) -> String? { fileSystem.text(Paths.join(root, path)) }
  /// Moves time on past the racy-clean window, as real time passes between edits.
  package func later(_ seconds: Double = 5) { fileSystem.clock.advance(by: seconds) }

  /// One build; returns its result and the commands that ran, in order.
  package func build(_ instances: [TaskInstance], targets: [String]? = nil, jobs: Int = 1,
                     keepGoing: Bool = false, useCache: Bool = true, dryRun: Bool = false,
                     observer: any BuildObserver = SilentObserver()) async throws -> (result: BuildResult, ran: [String]) {
    _ = runner.takeCommands()
    let graph = try TaskGraph(instances)
    let statCache = StatCache(entries: try manifest.loadStatCache(), root: root, fileSystem: fileSystem, clock: fileSystem.clock)
    let build = Build(graph: graph, root: root, fileSystem: fileSystem, runner: runner, clock: fileSystem.clock,
                      manifest: manifest, records: try manifest.loadRecords(), statCache: statCache,
                      contentStore: ContentStore(root: cacheRoot, fileSystem: fileSystem),
                      actionCache: ActionCache(root: cacheRoot, fileSystem: fileSystem),
                      environment: environment, observer: observer)
    var options = BuildOptions(jobs: jobs)
    options.targets = targets
    options.keepGoing = keepGoing
    options.useCache = useCache
    options.dryRun = dryRun
    options.isInterrupted = { false }
    let result = try await build.run(options)
    return (result, runner.takeCommands())
  }
}
