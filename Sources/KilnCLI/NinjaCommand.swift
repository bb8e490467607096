#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import KilnCore
import KilnEngine
import KilnNinja
import KilnStore
import KilnSystem

/// `kiln ninja`: runs a `build.ninja` (CMake, Meson, GN) with kiln's engine, as a
/// drop-in ninja: content keys, the shared cache, the manifest and its stats. Invoked
/// as `ninja` or `kiln-ninja` (a link to kiln), kiln is this command.
///
/// A run: the last build's snapshot answers a null build before anything is parsed;
/// else the manifest is read, regenerated first when the edge that writes it is out of
/// date (and read again), and the wanted edges are built.
struct NinjaCommand: KilnSubcommand {
  static let configuration = CommandConfiguration(
    commandName: "ninja", abstract: "Build a build.ninja (CMake, Meson, GN) with kiln's cache: a drop-in ninja.")

  /// The ninja version kiln speaks (CMake and Meson check it).
  static let ninjaVersion = "1.11.1"

  @Option(name: .short, help: "Run N jobs at once (default: cores).") var j: Int?
  @Option(name: .short, help: "Keep going until N jobs fail (0: never stop).") var k: Int?
  @Option(name: .short, help: "Accepted for ninja's sake; kiln's machine-wide slots bound the load.") var l: Double?
  @Flag(name: .short, help: "Dry run: say what would restore or run.") var n = false
  @Flag(name: .short, help: "Show every command that runs.") var v = false
  @Option(name: .short, help: "Debugging: 'explain' says why each edge runs.") var d: [String] = []
  @Option(name: .short, help: "Run a ninja tool (-t list); what follows it is the tool's.") var t: String?
  @Flag(name: .customLong("version"), help: "Print the ninja version kiln speaks.") var version = false
  @Flag(help: "Say why each edge runs (as -d explain).") var explain = false
  @Flag(help: "Print a summary object on stdout.") var json = false
  @Option(help: "Write a Chrome trace (JSON) of the build to FILE.") var trace: String?
  @Flag(name: [.short, .long], help: "Print only errors.") var quiet = false
  @Argument(help: "Targets (outputs or phony names); default: the manifest's defaults, else everything.")
  var targets: [String] = []

  private var explaining: Bool { explain || d.contains("explain") }

  /// The state of a build of `file` in `directory`.
  private static func state(_ context: Context, base: String? = nil) -> Context {
    Context(context.launch, root: context.launch.directory, buildFile: context.launch.buildFile ?? "build.ninja",
            base: base)
  }

  /// What the snapshot is keyed by: this command line's targets, known before parsing.
  private var snapshotTargets: [String] { ["\u{0}ninja"] + targets }

  /// A null build answered from the last build's snapshot (`NullBuild`), before the
  /// manifest is parsed: every wanted edge, the manifest's files and the generator's
  /// inputs unchanged. nil when only a full build can tell. Notes the first file the
  /// snapshot found changed (`NullBuild`), and what changed when the build can stand
  /// on the rest of the snapshot (`SnapshotDelta`).
  func answerFromSnapshot(_ context: Context, noting changed: inout String?, delta: inout SnapshotDelta?) -> Int32? {
    guard !version, t == nil, !json, trace == nil, !n, (j ?? 1) >= 1, d.allSatisfy({ $0 == "explain" }) else { return nil }
    let state = Self.state(context)
    guard (try? state.checkStateFolder()) != nil, (try? state.historyLimit()) != nil,
          let lock = try? CheckoutLock.attempt(state.layout.lock, describing: "kiln ninja")
    else { return nil }
    defer { withExtendedLifetime(lock) {} }
    let null = NullBuild(layout: state.layout, fileSystem: state.fileSystem, clock: state.clock,
                         environment: state.environment)
    guard let answer = null.answer(targets: snapshotTargets, workspace: state.workspaceName, commit: state.headCommit,
                                   jobs: j ?? state.cores, changed: &changed, delta: &delta),
          let recorded = null.record(answer)
    else { return nil }
    if explaining {
      Terminal.line(answer.explanation)
    }
    if !quiet { Terminal.line(summaryLine(recorded.summary, color: Terminal.colors(1))) }
    return 0
  }

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
    var changed = context.changedPath
    var delta = context.snapshotDelta
    if !context.snapshotTried, let status = answerFromSnapshot(context, noting: &changed, delta: &delta) {
      if status != 0 { throw ExitCode(status) }
      return
    }
    let directory = context.launch.directory
    let base = NinjaBase.find(buildFolder: directory, fileSystem: context.fileSystem, environment: context.environment)
    let state = Self.state(context, base: base)
    let lock = n ? nil : try state.lockCheckout(create: true)
    defer { withExtendedLifetime(lock) {} }
    let file = context.launch.buildFile ?? "build.ninja"
    // The graph cache is read and checked on another thread while the records load
    // (the manifest's errors are still said before the records' are).
    // Standing on the snapshot (`SnapshotDelta`): the records of the edges decided are
    // read alone, and the graph cache the snapshot was taken with is not checked again.
    let trusted = delta?.snapshot.graphSeal
    async let candidate = Session.graphCacheCandidate(state, trusting: trusted)
    let asNeeded = delta != nil
    let opened = Result { try Session(state, recordsAsNeeded: asNeeded, statsFrom: delta?.snapshot) }
    var loaded = try load(file, state, candidate: .some(await candidate))
    var session = try opened.get()
    let observer = ConsoleObserver(explain: explaining, json: json, quiet: quiet, verbose: v)
    let manifestPath = NinjaGraph.relative(Paths.normalize(Paths.join(directory, file)) ?? file, to: directory)
    let generator = loaded.ninja.producers[manifestPath]
    // Regeneration, as ninja does it: the edge that writes the manifest first, then
    // the manifest read again (twice at most: a generator that never settles).
    if !n, let generator {
      for round in 0..<2 where regenerationNeeded(generator, loaded.ninja, state) {
        let result = try await build(loaded.ninja, targets: [generator], session, observer, snapshot: nil)
        guard result.summary.exitStatus == 0, !result.interrupted else { return try finish(result, observer, context) }
        // Another manifest: the snapshot describes the graph before.
        delta = nil
        loaded = try load(file, state)
        session = try Session(state)
        if round == 1 { Terminal.error("kiln ninja: warning: \(manifestPath) is still out of date after regenerating twice") }
      }
    }
    var wanted: [TaskID]?
    if !targets.isEmpty {
      wanted = []
      for target in targets {
        let path = NinjaGraph.relative(Paths.normalize(target) ?? target, to: directory)
        guard let built = loaded.ninja.targets[path] else { throw CLIError("kiln ninja: unknown target '\(target)'") }
        // The manifest itself (`meson test` asks for it first): the step above has
        // decided its edge by ninja's rule; decided again as any edge, it would run every
        // time (the generator rewrites inputs of its own, and is never cached).
        wanted! += built.filter { n || $0 != generator }
      }
    } else if let defaults = loaded.ninja.defaults {
      wanted = defaults
    } else if let generator {
      // Everything but the generator, which the step above has decided.
      wanted = loaded.ninja.graph.instances.map(\.id).filter { $0 != generator }
    }
    // `ninja clean` in CMake's and Meson's build folders runs an edge whose command is
    // this ninja's `-t clean`: a kiln in a task of this build, which would wait for the
    // lock this build holds. The tool runs here instead, and the edge's dependencies are
    // built as it would have had them built.
    if !targets.isEmpty, var ids = wanted {
      var cleans: [[String]] = []
      var needed: [TaskID] = []
      ids.removeAll { id in
        guard let i = loaded.ninja.graph.index(of: id),
              let arguments = Self.selfClean(loaded.ninja.graph[i].command, manifest: file, environment: context.environment)
        else { return false }
        cleans.append(arguments)
        needed += loaded.ninja.graph[i].dependencies
        return true
      }
      if !cleans.isEmpty {
        for arguments in cleans {
          try NinjaToolCommand(tool: "clean", arguments: arguments, dryRun: n, verbose: v, holdingLock: true).run(in: context)
        }
        ids += needed.filter { !ids.contains($0) }
        if ids.isEmpty { return }
        wanted = ids
      }
    }
    var request = SnapshotRequest(expansion: loaded.looks + generatorEntries(generator, loaded.ninja, state), warnings: [])
    request.targetsKey = BuildSnapshot.targetsKey(snapshotTargets)
    request.graphSeal = loaded.seal
    let result = try await build(loaded.ninja, targets: loaded.ninja.addingValidations(wanted), session, observer,
                                 snapshot: n ? nil : request, decideFirst: changed.map { [$0] } ?? [],
                                 delta: session.recordsAsNeeded ? delta : nil)
    try finish(result, observer, context)
  }

  /// The arguments of ninja's clean tool when `command` runs this kiln as that tool on
  /// this manifest: CMake's `clean` edge (`<make program> $FILE_ARG -t clean $TARGETS`),
  /// Meson's (`<ninja> -t clean`); nil for anything else, or a command the shell would
  /// read otherwise than as plain words.
  static func selfClean(_ command: String, manifest: String, environment: [String: String]) -> [String]? {
    // Every edge asked for passes here: the cheap test first.
    guard command.contains(" -t clean") else { return nil }
    let special = Set("'\"\\$`;&|<>(){}*?[]#~=\n\t")
    guard !command.contains(where: { special.contains($0) }) else { return nil }
    var words = command.split(separator: " ").map(String.init)[...]
    guard let program = words.popFirst(), Self.isThisKiln(program, environment: environment) else { return nil }
    if Paths.fileName(program) == "kiln" {
      guard words.popFirst() == "ninja" else { return nil }
    }
    if words.first == "-f" {
      words.removeFirst()
      guard words.popFirst() == manifest else { return nil }
    }
    guard words.popFirst() == "-t", words.popFirst() == "clean" else { return nil }
    return Array(words)
  }

  /// Whether `program` (a path, or a name looked up on PATH) is the executable running.
  private static func isThisKiln(_ program: String, environment: [String: String]) -> Bool {
    guard let me = realpath("/proc/self/exe", nil) else { return false }
    defer { free(me) }
    let candidates = program.contains("/") ? [program]
      : (environment["PATH"] ?? "").split(separator: ":").map { $0 + "/" + program }
    for candidate in candidates {
      guard let resolved = realpath(candidate, nil) else { continue }
      defer { free(resolved) }
      return strcmp(resolved, me) == 0
    }
    return false
  }

  /// The manifest read and made a graph, with every file reading it looked at; from
  /// the graph cache when those files are as they were (`GraphCache`), else parsed and
  /// the cache written again.
  /// `candidate`: the graph cache already read and checked on disk; nil: read here.
  private func load(_ file: String, _ state: Context, candidate: GraphCache.Candidate?? = nil) throws
    -> (ninja: NinjaGraph, looks: [SnapshotEntry], seal: Digest?) {
    let directory = state.root
    let fs = state.fileSystem
    let cachePath = state.layout.graphCache
    let hidden = GraphCache.digest(ofHidden: [])
    if let (cache, entries, seal) = GraphCache.reuseSealed(candidate ?? Session.graphCacheCandidate(state), at: cachePath,
                                                           hiddenDigest: hidden, fileSystem: fs),
       let ninja = NinjaGraph(graph: cache.graph, extras: cache.extra) {
      return (ninja, entries, seal)
    }
    let observing = ObservingFileSystem(fs, clock: state.clock)
    let ninja: NinjaGraph
    do {
      let manifest = try NinjaParser(fileSystem: observing, directory: directory).parse(file)
      ninja = try NinjaGraph(manifest, directory: directory) { observing.lstat(Paths.join(directory, $0)) != nil }
    } catch {
      throw CLIError("kiln: \(error)")
    }
    guard fs.stat(state.layout.folder)?.kind == .directory else {
      return (ninja, observing.looks.map { SnapshotEntry($0, in: directory) }, nil)
    }
    let stored = GraphCache.storeSealed(at: cachePath, root: directory, hiddenDigest: hidden, observing: observing,
                                        graph: ninja.graph, extra: ninja.encodedExtras(), fileSystem: fs)
    return (ninja, stored.entries, stored.seal)
  }

  /// Whether the edge writing the manifest must run: ninja's rule, by modification
  /// times (an output missing or older than an input), whether or not kiln ran it
  /// before. Content would not do: cmake rewrites the edge's own input list when it
  /// regenerates, so the record kiln kept of the run before never matches the edge read
  /// after it, and cmake or meson run by hand rewrite the outputs.
  private func regenerationNeeded(_ id: TaskID, _ ninja: NinjaGraph, _ state: Context) -> Bool {
    guard let i = ninja.graph.index(of: id) else { return false }
    let instance = ninja.graph[i]
    let fs = state.fileSystem
    var oldest = Int64.max
    for output in instance.outputs {
      guard let st = fs.stat(Paths.join(state.root, output)) else { return true }
      oldest = min(oldest, st.mtime)
    }
    return instance.inputs.contains { (fs.stat(Paths.join(state.root, $0))?.mtime ?? .max) > oldest }
  }

  /// The generator's inputs, for the snapshot: an edited CMakeLists.txt is no null build.
  private func generatorEntries(_ id: TaskID?, _ ninja: NinjaGraph, _ state: Context) -> [SnapshotEntry] {
    guard let id, let i = ninja.graph.index(of: id) else { return [] }
    let at = state.clock.wallNanoseconds()
    return ninja.graph[i].inputs.map {
      SnapshotEntry(looking: Paths.join(state.root, $0), in: state.root, followsLinks: true,
                    stat: state.fileSystem.stat(Paths.join(state.root, $0)), at: at)
    }
  }

  /// One build of `targets` (nil: every edge) of `ninja`.
  private func build(_ ninja: NinjaGraph, targets: [TaskID]?, _ session: Session, _ observer: ConsoleObserver,
                     snapshot: SnapshotRequest?, decideFirst: [String] = [],
                     delta: SnapshotDelta? = nil) async throws -> BuildResult {
    let state = session.context
    var options = BuildOptions(jobs: j ?? state.cores)
    // ninja's -k N: stop after N failures; 0: never.
    options.keepGoing = k.map { $0 != 1 } ?? false
    options.failureLimit = k.flatMap { $0 > 1 ? $0 : nil }
    options.targets = targets.map { $0.map(\.description) }
    options.workspace = state.workspaceName
    options.commit = state.headCommit
    options.cacheSize = state.cacheSizeOnDisk
    options.removeStaleOutputs = !n
    options.pools = ninja.pools
    options.snapshot = snapshot
    options.decideFirst = decideFirst
    options.delta = delta
    if !n { session.beginWriting(ninja.graph) }
    defer { if !n { session.endWriting() } }
    do {
      return try await session.build(ninja.graph, observer: observer, dryRun: n).run(options)
    } catch let error as BuildError {
      throw CLIError("kiln ninja: \(error)")
    }
  }

  /// Says how the build went, as `kiln build` does, and exits with its status.
  private func finish(_ result: BuildResult, _ observer: ConsoleObserver, _ context: Context) throws {
    observer.finish()
    if n {
      for r in result.wouldRun {
        let verb = if case .restored = r.outcome { "would restore" } else { "would run" }
        Terminal.line("\(verb): \(r.id)")
      }
      return
    }
    try report(result, context, trace: trace, json: json, quiet: quiet)
  }
}
