import ArgumentParser
import KilnCore
import KilnEngine
import KilnNinja
import KilnSystem

/// `kiln ninja`: runs a `build.ninja` (CMake, Meson, GN) with kiln's engine, as a
/// drop-in ninja: content keys, the shared cache, the manifest and its stats. Invoked
/// as `ninja` or `kiln-ninja` (a link to kiln), kiln is this command.
struct NinjaCommand: KilnSubcommand {
  static let configuration = CommandConfiguration(
    commandName: "ninja", abstract: "Build a build.ninja (CMake, Meson, GN) with kiln's cache: a drop-in ninja.")

  /// The ninja version kiln speaks (CMake and Meson check it).
  static let ninjaVersion = "1.11.1"

  @Option(name: .short, help: "Run N jobs at once (default: cores).") var j: Int?
  @Option(name: .short, help: "Keep going until N jobs fail (0: never stop).") var k: Int?
  @Option(name: .short, help: "Accepted for ninja's sake; kiln's machine-wide slots bound the load.") var l: Double?
  @Flag(name: .short, help: "Dry run: say what would restore or run.") var n = false
  @Flag(name: .short, help: "Show every command.") var v = false
  @Option(name: .short, help: "Debugging: 'explain' says why each edge runs.") var d: [String] = []
  @Option(name: .short, help: "Run a ninja tool (-t list); what follows it is the tool's.") var t: String?
  @Flag(name: .customLong("version"), help: "Print the ninja version kiln speaks.") var version = false
  @Argument(help: "Targets (outputs or phony names); default: the manifest's defaults, else everything.")
  var targets: [String] = []

  func run(in context: Context) async throws {
    if version {
      Terminal.line(Self.ninjaVersion)
      return
    }
    if let t {
      return try NinjaToolCommand(tool: t, arguments: targets, dryRun: n, verbose: v).run(in: context)
    }
    if let j, j < 1 { throw CLIError("kiln ninja: -j must be at least 1") }
    for mode in d where mode != "explain" { throw CLIError("kiln ninja: -d \(mode) is not supported (only explain)") }
    let directory = context.launch.directory
    let file = context.launch.buildFile ?? "build.ninja"
    let fs = context.fileSystem
    let ninja: NinjaGraph
    do {
      let manifest = try NinjaParser(fileSystem: fs, directory: directory).parse(file)
      ninja = try NinjaGraph(manifest, directory: directory) { fs.lstat(Paths.join(directory, $0)) != nil }
    } catch {
      throw CLIError("kiln: \(error)")
    }
    var wanted: [String]?
    if !targets.isEmpty {
      var ids: [String] = []
      for target in targets {
        let path = NinjaGraph.relative(Paths.normalize(target) ?? target, to: directory)
        guard let built = ninja.targets[path] else { throw CLIError("kiln ninja: unknown target '\(target)'") }
        ids += built.map(\.description)
      }
      wanted = ids
    } else {
      wanted = ninja.defaults?.map(\.description)
    }
    let state = Context(context.launch, root: directory, buildFile: file)
    let lock = n ? nil : try state.lockCheckout(create: true)
    defer { withExtendedLifetime(lock) {} }
    let session = try Session(state)
    let observer = ConsoleObserver(explain: d.contains("explain"), json: false, quiet: false)
    var options = BuildOptions(jobs: j ?? state.cores)
    options.keepGoing = k.map { $0 != 1 } ?? false
    options.targets = wanted.map { $0.isEmpty ? [] : $0 }
    options.workspace = state.workspaceName
    options.removeStaleOutputs = !n
    if !n { session.beginWriting(ninja.graph) }
    defer { if !n { session.endWriting() } }
    let result: BuildResult
    do {
      result = try await session.build(ninja.graph, observer: observer, dryRun: n).run(options)
    } catch let error as BuildError {
      throw CLIError("kiln ninja: \(error)")
    }
    observer.finish()
    if n {
      for r in result.wouldRun { Terminal.line("would run: \(r.id)") }
      return
    }
    Terminal.line(summaryLine(result.summary, color: Terminal.colors(1)))
    if result.interrupted { throw CLIError("kiln: interrupted", status: 130) }
    if result.summary.exitStatus != 0 { throw ExitCode(result.summary.exitStatus) }
  }
}
