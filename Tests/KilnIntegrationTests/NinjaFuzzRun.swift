import Foundation
import KilnTestSupport

/// A problem found at one step: what differs, with both tools' output.
struct NinjaFuzzFailure: Error, CustomStringConvertible {
  var description: String
}

/// One seed of `NinjaDifferentialTests`: the two copies, the random steps, and what
/// kiln's copy holds as the test sees it (the key of each edge's last build, the keys
/// stored in kiln's cache, the outputs deleted since).
struct NinjaFuzzRun {
  /// One change to both copies before a build.
  struct Step {
    var description: String
    /// A source given the line `BROKEN` on purpose: the build may fail, and fails
    /// when an edge it needs checks that source.
    var broken: String?
  }

  var manifest: NinjaFuzzManifest
  let byNinja: TempProject
  let byKiln: TempProject
  var random: SplitMix64
  /// The current contents of the sources, and every content each one had.
  var contents: [String: String]
  var earlier: [String: [String]] = [:]
  /// Each edge's content key at its last build in kiln's copy.
  var lastKey: [Int: String] = [:]
  /// The keys kiln stored in its cache, per edge.
  var stored: [Int: Set<String>] = [:]
  /// Edges with an output deleted since their last build.
  var outputsGone: Set<Int> = []
  /// After a build that failed: the broken source's content before, which the next
  /// step puts back before building the same targets.
  var repair: (path: String, text: String, targets: [String])?
  /// What ninja ran in a build that failed: ninja may have gone further than kiln,
  /// and then holds up to date what kiln still has to build.
  var ranByNinjaBeforeFailing: Set<Int> = []
  var history: [String] = []

  init(_ manifest: NinjaFuzzManifest) throws {
    self.manifest = manifest
    let files = manifest.files.merging(manifest.sources) { $1 }
    byNinja = try TempProject(files)
    byKiln = try TempProject(files)
    random = SplitMix64(seed: manifest.seed ^ 0x5eed)
    contents = manifest.sources
  }

  mutating func go(steps: Int) throws {
    try build(Step(description: "cold build"), targets: [])
    for _ in 0..<steps {
      if let repair {
        try set(repair.path, repair.text, remembering: false)
        self.repair = nil
        try build(Step(description: "repair \(repair.path)"), targets: repair.targets)
        continue
      }
      let before = contents
      let step = try changeSomething()
      var targets: [String] = []
      if Double.random(in: 0..<1, using: &random) < 0.3 {
        // Mostly something to build; now and then a source (nothing to do).
        let built = manifest.targets.filter { !manifest.sources.keys.contains($0) }
        for _ in 0..<Int.random(in: 1...2, using: &random) {
          let target = (Double.random(in: 0..<1, using: &random) < 0.9 ? built : manifest.targets).randomElement(using: &random)!
          targets.append(Bool.random(using: &random) ? "./" + target : target)
        }
      }
      let failed = try build(step, targets: targets)
      if let path = step.broken {
        if failed {
          repair = (path, before[path]!, targets)
        } else {
          try set(path, before[path]!, remembering: false)
          history.append("     (\(path) put back)")
        }
      }
    }
  }

  // MARK: - Steps

  /// Applies one random change to both copies.
  mutating func changeSomething() throws -> Step {
    let sources = contents.keys.filter { $0.hasPrefix("src/") }.sorted()
    // The headers some depfile names, when there are any.
    let read = manifest.headers.filter { h in manifest.edges.contains { $0.headers.contains(h) } }
    let headers = read.isEmpty ? manifest.headers : read
    switch Int.random(in: 0...12, using: &random) {
    case 0:
      return Step(description: "null build")
    case 1:
      let path = (sources + headers).randomElement(using: &random)!
      for p in [byNinja, byKiln] { try p.touch(path, secondsFromNow: 0) }
      return Step(description: "touch \(path)")
    case 2, 3:
      let path = sources.randomElement(using: &random)!
      let version = (earlier[path]?.count ?? 0) + 1
      try set(path, NinjaFuzzManifest.sourceText(path, version: version, random: &random))
      return Step(description: "edit \(path)")
    case 4:
      let path = sources.randomElement(using: &random)!
      try set(path, NinjaFuzzManifest.laterLinesEdited(contents[path]!, random: &random))
      return Step(description: "edit later lines of \(path)")
    case 5:
      let path = (sources + headers).randomElement(using: &random)!
      guard let old = earlier[path]?.randomElement(using: &random) else { return Step(description: "null build") }
      try set(path, old)
      return Step(description: "revert \(path)")
    case 6, 7:
      let path = headers.randomElement(using: &random)!
      try set(path, NinjaFuzzManifest.sourceText(path, version: (earlier[path]?.count ?? 0) + 1, random: &random))
      return Step(description: "edit \(path) (read through depfiles)")
    case 8:
      let breakable = sources.filter { !manifest.checkers(reading: $0).isEmpty }
      guard let path = breakable.randomElement(using: &random) else { return Step(description: "null build") }
      try set(path, contents[path]! + "BROKEN\n", remembering: false)
      return Step(description: "break \(path) (its checkers fail)", broken: path)
    case 9:
      var stamped = manifest.edges.indices.filter { manifest.edges[$0].stamp != nil }
      // Now and then a generator edge, which a new command alone does not rebuild.
      let generators = stamped.filter { manifest.edges[$0].generator }
      if !generators.isEmpty, Bool.random(using: &random) { stamped = generators }
      guard let e = stamped.randomElement(using: &random) else { return Step(description: "null build") }
      let version = (0...3).filter { "s\($0)-e\(e)" != manifest.edges[e].stamp }.randomElement(using: &random)!
      let file = manifest.restamp(e, version: version)
      for p in [byNinja, byKiln] { try p.write(file, manifest.files[file]!) }
      return Step(description: "change the command of \(manifest.edges[e].id) (stamp s\(version) in \(file))")
    default:
      var present = manifest.edges.indices.flatMap { e in manifest.edges[e].allOutputs.map { (e, $0) } }
        .filter { byKiln.exists($0.1) }
      // Now and then one kiln never caches, which must run again, not be restored.
      let uncached = present.filter { !manifest.edges[$0.0].cacheable }
      if !uncached.isEmpty, Bool.random(using: &random) { present = uncached }
      guard let (edge, path) = present.randomElement(using: &random) else { return Step(description: "null build") }
      for p in [byNinja, byKiln] { p.remove(path) }
      outputsGone.insert(edge)
      return Step(description: "delete \(path)")
    }
  }

  /// Writes `text` to `path` in both copies; `remembering`: a content a later revert
  /// may go back to (a broken one is not).
  mutating func set(_ path: String, _ text: String, remembering: Bool = true) throws {
    if remembering { earlier[path, default: []].append(contents[path]!) }
    contents[path] = text
    for p in [byNinja, byKiln] { try p.write(path, text) }
  }

  // MARK: - One build on both sides

  /// Builds `targets` with both tools and checks the invariant of
  /// `NinjaDifferentialTests`; returns whether the build failed (as it may when the
  /// step broke a source).
  @discardableResult
  mutating func build(_ step: Step, targets: [String]) throws -> Bool {
    let stepName = "\(step.description), then build \(targets.isEmpty ? "the defaults" : targets.joined(separator: " "))"
    history.append("  \(history.count): " + stepName)
    let ninjaBefore = byNinja.runLines("log").count
    let kilnBefore = byKiln.runLines("log").count
    let ninja = try Program.run(NinjaDifferentialTests.ninja, targets, in: byNinja.root)
    // --json: each edge's outcome by its name (the console shows descriptions).
    let kiln = try byKiln.kiln(["ninja", "--json"] + targets)
    func failure(_ problems: [String]) -> NinjaFuzzFailure {
      NinjaFuzzFailure(description: "at \(stepName):\n" + problems.map { "- " + $0 }.joined(separator: "\n")
        + "\nninja: \(ninja)\nkiln: \(kiln)")
    }
    let failed = ninja.status != 0
    guard ninja.status == kiln.status, !failed || (step.broken != nil && ninja.status == 1) else {
      throw failure(["exit statuses: ninja \(ninja.status), kiln \(kiln.status)"])
    }
    let wanted = manifest.wanted(targets.map(NinjaFuzzManifest.canonical))
    var problems: [String] = []
    if let broken = step.broken, !failed, let e = manifest.checkers(reading: broken).first(where: wanted.contains) {
      problems.append("\(manifest.edges[e].id) reads the broken \(broken), yet the build succeeded")
    }

    // Outputs: the same bytes, once both builds have finished what they were asked.
    for path in manifest.edges.flatMap(\.allOutputs) where !failed && byNinja.bytes(path) != byKiln.bytes(path) {
      func show(_ text: String?) -> String { text.map { String(reflecting: $0) } ?? "(absent)" }
      problems.append("\(path): ninja wrote \(show(byNinja.read(path))), kiln \(show(byKiln.read(path)))")
    }
    for (name, p) in [("ninja", byNinja), ("kiln", byKiln)] {
      if p.exists(".runs/overlap") { problems.append("\(name) ran edges of the depth-1 pool p1 at the same time") }
      if let early = p.read(".runs/early") { problems.append("\(name) ran a command before these were built: \(early)") }
    }

    // Commands: what kiln must run and restore, from the content keys.
    let ninjaRan = try edges(ranIn: Array(byNinja.runLines("log").dropFirst(ninjaBefore)))
    let kilnRan = try edges(ranIn: Array(byKiln.runLines("log").dropFirst(kilnBefore)))
    let kilnRestored = edges(withOutcome: "restored", in: kiln.stdout)
    var shouldRun: Set<Int> = []
    var shouldRestore: Set<Int> = []
    var keys: [Int: String] = [:]
    for e in wanted {
      let edge = manifest.edges[e]
      // A generator edge's command is not in it: ninja does not rebuild one for that alone.
      let key = (edge.generator ? "" : "stamp \(edge.stamp ?? "")\n")
        + manifest.keyFiles(e).map { "\($0)=\(byKiln.read($0) ?? "(absent)")" }.joined(separator: "\n")
      keys[e] = key
      let always = manifest.dependsOnForce(e)
      guard lastKey[e] != key || outputsGone.contains(e) || always else { continue }
      if edge.cacheable, !always, stored[e, default: []].contains(key) {
        shouldRestore.insert(e)
      } else {
        shouldRun.insert(e)
      }
    }
    func names(_ edges: Set<Int>) -> String { edges.sorted().map { manifest.edges[$0].id }.description }
    var kilnFailed: Set<Int> = []
    if failed {
      // Each tool stopped somewhere: kiln did part of its work, and nothing else.
      kilnFailed = edges(withOutcome: "failed", in: kiln.stdout)
      if !kilnRan.isSubset(of: shouldRun) { problems.append("kiln ran \(names(kilnRan.subtracting(shouldRun))) needlessly") }
      if !kilnRestored.isSubset(of: shouldRestore) {
        problems.append("kiln restored \(names(kilnRestored.subtracting(shouldRestore))) needlessly")
      }
      for e in kilnFailed where !manifest.edges[e].inputs.explicit.contains(where: { byKiln.read($0)?.contains("BROKEN") == true }) {
        problems.append("kiln failed \(manifest.edges[e].id), which reads nothing broken")
      }
      if kilnFailed.isEmpty { problems.append("kiln failed, naming no edge that did") }
    } else {
      if kilnRan != shouldRun { problems.append("kiln ran \(names(kilnRan)), expected \(names(shouldRun))") }
      if kilnRestored != shouldRestore {
        problems.append("kiln restored \(names(kilnRestored)), expected \(names(shouldRestore))")
      }
      let needWork = shouldRun.union(shouldRestore).subtracting(ranByNinjaBeforeFailing)
      if !needWork.isSubset(of: ninjaRan) {
        problems.append("ninja did not run \(names(needWork.subtracting(ninjaRan))), whose inputs changed (a test bug?)")
      }
    }
    if !ninjaRan.isSubset(of: wanted) {
      problems.append("ninja ran \(names(ninjaRan.subtracting(wanted))), which the targets do not need (a test bug?)")
    }
    if !problems.isEmpty { throw failure(problems) }

    // What kiln's copy now holds: after a failure, only what kiln finished; a failed
    // edge keeps its last record, its outputs as the failure left them.
    let finished = failed ? kilnRan.union(kilnRestored) : Set(keys.keys)
    for e in finished {
      if kilnRan.contains(e), manifest.edges[e].cacheable { stored[e, default: []].insert(keys[e]!) }
      lastKey[e] = keys[e]
      outputsGone.remove(e)
    }
    for e in kilnFailed where manifest.edges[e].allOutputs.contains(where: { !byKiln.exists($0) }) {
      outputsGone.insert(e)
    }
    ranByNinjaBeforeFailing = failed ? ninjaRan : []
    return failed
  }

  /// The edges whose command appended these lines to `.runs/log`; each at most once.
  func edges(ranIn lines: [String]) throws -> Set<Int> {
    var result: Set<Int> = []
    for line in lines {
      guard let e = manifest.edges.firstIndex(where: { $0.logLine == line }) else {
        throw NinjaFuzzFailure(description: "an unknown line in .runs/log: \(line)")
      }
      guard result.insert(e).inserted else { throw NinjaFuzzFailure(description: "\(line) ran twice in one build") }
    }
    return result
  }

  /// The edges whose outcome in kiln's `--json` summary (the last line of its stdout)
  /// is `outcome` ("restored", "failed").
  func edges(withOutcome outcome: String, in stdout: String) -> Set<Int> {
    guard let line = stdout.split(separator: "\n").last,
          let summary = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
          let tasks = summary["tasks"] as? [[String: Any]]
    else { return [] }
    let ids = Set(tasks.filter { $0["outcome"] as? String == outcome }.compactMap { $0["id"] as? String })
    return Set(manifest.edges.indices.filter { ids.contains(manifest.edges[$0].id) })
  }
}
