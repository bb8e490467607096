import KilnCore
import KilnSystem

/// Turns a `BuildFile` into a `TaskGraph`: one instance per foreach match, globs
/// resolved over the files on disk and every task's declared outputs, placeholders
/// substituted, edges from `deps` and from inputs that other tasks produce.
///
/// Globs see disk files minus `hiddenOutputs` (what kiln made for instances that may no
/// longer exist) plus the outputs declared now; since a generated file can feed a
/// foreach whose outputs feed another, expansion repeats until the declared outputs
/// stop changing (a chain of depth d takes d + 1 rounds).
package struct Expander {
  package var file: BuildFile
  /// Absolute path of the workspace root.
  package var root: String
  package var fileSystem: any FileSystem
  /// Outputs recorded in the manifest: hidden from globs unless declared again.
  package var hiddenOutputs: Set<String>

  package init(file: BuildFile, root: String, fileSystem: any FileSystem, hiddenOutputs: Set<String> = []) {
    self.file = file
    self.root = root
    self.fileSystem = fileSystem
    self.hiddenOutputs = hiddenOutputs
  }

  private final class Listings {
    var byDirectory: [String: FileListing] = [:]
    /// Parent folders already checked not to be symlinks.
    var checkedParents = Set<String>()
    /// Per task: the matches of the previous round and the instances made from them.
    var previous: [String: (items: [String?], listed: [String], instances: [TaskInstance])] = [:]
    /// Literal inputs neither on disk nor declared, in the current round.
    var missing: [(path: String, task: String, location: SourceLocation)] = []
    /// Each template split once (`tokens`), not once per instance: the run line and the
    /// outputs of 300 instances were 600 splits, a quarter of the expansion's work.
    var tokens: [String: [Token]] = [:]
  }
  private let listings = Listings()

  package func expand() throws(ConfigError) -> TaskGraph {
    var declared = Declared()
    var instances: [TaskInstance] = []
    let maxRounds = file.tasks.count + 2
    for round in 0..<maxRounds {
      instances = []
      listings.missing = []
      var outputs = Set<String>()
      for spec in file.tasks {
        let made = try instantiate(spec, declared: declared)
        for instance in made { outputs.formUnion(instance.outputs) }
        instances += made
      }
      if outputs == declared.paths { break }
      if round == maxRounds - 1 {
        let grower = file.tasks.first { spec in instances.contains { $0.id.task == spec.name && $0.outputs.contains { !declared.paths.contains($0) } } }
        throw ConfigError(grower?.location ?? SourceLocation(file: file.displayPath, line: 1, column: 1),
                          "task '\(grower?.name ?? "?")' matches its own outputs: dependency cycle")
      }
      declared = Declared(outputs)
    }
    if let first = listings.missing.first {
      throw ConfigError(first.location, "input '\(first.path)' of task '\(first.task)' does not exist and no task declares it")
    }
    // Every glob matched: what each folder a walk listed means to them.
    (fileSystem as? ObservingFileSystem)?.settleWalks(root: root)
    try linkDependencies(&instances)
    do {
      var graph = try TaskGraph(instances, defaultTasks: file.defaultTasks)
      graph.taskNames = Set(file.tasks.map(\.name))
      return graph
    } catch {
      throw graphError(error, instances)
    }
  }

  // MARK: - One task

  private func instantiate(_ spec: TaskSpec, declared: Declared) throws(ConfigError) -> [TaskInstance] {
    var environment = Dictionary(file.env.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
    for variable in spec.env { environment[variable.name] = variable.value }
    let env = environment.sorted { $0.key < $1.key }.map { EnvironmentVariable($0.key, $0.value) }

    let listed = Self.unique(try resolve(spec.inputs, declared: declared, task: spec.name, mustExist: true))
    var directory = ""
    if let dir = spec.dir {
      guard let normalized = Paths.normalize(dir.value), !dir.value.hasPrefix("/") else {
        throw ConfigError(dir.location, "'dir' of task '\(spec.name)' is outside the workspace")
      }
      // As for outputs: a symlink on the way may lead anywhere, so none is accepted.
      if let link = symlink(atOrAbove: normalized) {
        throw ConfigError(dir.location, "'dir' of task '\(spec.name)' is outside the workspace (through the symlink '\(link)')")
      }
      directory = normalized
    }

    var items: [String?] = [nil]
    if let foreach = spec.foreach {
      items = Self.unique(try resolve(foreach, declared: declared, task: spec.name, mustExist: false))
    }
    if items.isEmpty {
      // No file matches yet: check the templates anyway, so that a bad one does not
      // wait for the first matching file to be reported.
      let values = ["in": "x/y.z", "stem": "y", "name": "y.z", "dir": "x"]
      for output in spec.outputs {
        _ = try substitute(output.value, values, at: output.location, task: spec.name, quote: false, inOut: false)
      }
      if let d = spec.depfile { _ = try substitute(d.value, values, at: d.location, task: spec.name, quote: false, inOut: false) }
    }
    var result: [TaskInstance] = []
    // Another round with the same matches makes the same instances; with the same
    // listed inputs, an item matched before makes the same instance as before (an
    // instance depends on nothing else: the round's declared outputs only change which
    // items and inputs there are), so only the new items are made.
    var made: [String: TaskInstance] = [:]
    if let last = listings.previous[spec.name], last.listed == listed {
      if last.items == items { return last.instances }
      for instance in last.instances { if let item = instance.id.item { made[item] = instance } }
    }
    defer { listings.previous[spec.name] = (items, listed, result) }

    result.reserveCapacity(items.count)
    let batch = try spec.batch.map { (b: Located<Int?>) throws(ConfigError) in try batchCommand(spec, limit: b.value) }
    for item in items {
      if let item, let instance = made[item] {
        result.append(instance)
        continue
      }
      var values: [String: String] = [:]
      if let item {
        values["in"] = item
        values["stem"] = Paths.stem(item)
        values["name"] = Paths.fileName(item)
        values["dir"] = Paths.parent(item).isEmpty ? "." : Paths.parent(item)
      }
      var outputs: [String] = []
      for output in spec.outputs {
        let path = try substitute(output.value, values, at: output.location, task: spec.name, quote: false, inOut: false)
        outputs.append(try checkedOutput(path, at: output.location, what: "output"))
      }
      var depfile: String?
      if let d = spec.depfile {
        let path = try substitute(d.value, values, at: d.location, task: spec.name, quote: false, inOut: false)
        depfile = try checkedOutput(path, at: d.location, what: "depfile")
      }
      var commandValues = values.mapValues { Paths.shellQuote($0) }
      commandValues["in"] = item.map { Paths.shellQuote($0) } ?? listed.map(Paths.shellQuote).joined(separator: " ")
      commandValues["out"] = outputs.map(Paths.shellQuote).joined(separator: " ")
      let command = try substitute(spec.run.value, commandValues, at: spec.run.location, task: spec.name, quote: true, inOut: true)
      var inputs = item.map { [$0] } ?? []
      inputs += listed
      result.append(TaskInstance(
        id: TaskID(task: spec.name, item: item), command: command, inputs: Self.unique(inputs),
        outputs: outputs, depfile: depfile, directory: directory, environment: env,
        hashEnvironment: spec.hashEnv, cache: spec.cache, always: spec.always, isolate: spec.isolate,
        timeout: spec.timeout, sla: spec.sla, tools: Self.unique(file.tools + spec.tools),
        dependencies: [], location: spec.location))
      result[result.count - 1].batch = batch
      result[result.count - 1].remote = spec.remote
    }
    return result
  }

  /// Adds `deps` outputs to inputs and computes each instance's dependencies.
  private func linkDependencies(_ instances: inout [TaskInstance]) throws(ConfigError) {
    let specs = Dictionary(file.tasks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    var producer: [String: Int] = [:]
    var byTask: [String: [Int]] = [:]
    for (i, instance) in instances.enumerated() {
      byTask[instance.id.task, default: []].append(i)
      for output in instance.outputs {
        if let other = producer[output] {
          // instance.outputs follows spec.outputs one to one: name the right list item.
          let spec = specs[instance.id.task]
          let index = instance.outputs.lastIndex(of: output) ?? 0
          let location = spec.flatMap { index < $0.outputs.count ? $0.outputs[index].location : nil } ?? instance.location!
          if other == i {
            throw ConfigError(location, "task '\(instance.id)' lists output '\(output)' twice")
          }
          throw ConfigError(location, "output '\(output)' is declared by both '\(instances[other].id)' and '\(instance.id)'")
        }
        producer[output] = i
      }
    }
    for i in instances.indices {
      guard let spec = specs[instances[i].id.task] else { continue }
      var dependencies: [TaskID] = []
      var extra: [String] = []
      for dep in spec.deps {
        for j in byTask[dep.value] ?? [] {
          dependencies.append(instances[j].id)
          extra += instances[j].outputs
        }
      }
      instances[i].inputs = Self.unique(instances[i].inputs + extra)
      for input in instances[i].inputs where !input.hasPrefix("/") {
        var path = input
        while !path.isEmpty {
          if let j = producer[path] {
            if j == i {
              throw ConfigError(spec.location, "dependency cycle: \(instances[i].id) -> \(instances[i].id)")
            }
            dependencies.append(instances[j].id)
            break
          }
          path = Paths.parent(path)
        }
      }
      instances[i].dependencies = Self.unique(dependencies)
    }
  }

  private func graphError(_ error: GraphError, _ instances: [TaskInstance]) -> ConfigError {
    func location(_ id: TaskID) -> SourceLocation {
      file.task(named: id.task)?.location ?? SourceLocation(file: file.displayPath, line: 1, column: 1)
    }
    switch error {
    case .cycle(let ids):
      return ConfigError(location(ids[0]), "dependency cycle: " + ids.map(\.description).joined(separator: " -> "))
    case .duplicateOutput(let path, let a, let b):
      return ConfigError(location(b), "output '\(path)' is declared by both '\(a)' and '\(b)'")
    case .duplicateInstance(let id):
      return ConfigError(location(id), "task instance '\(id)' is defined twice")
    case .unknownDependency(let a, let b):
      return ConfigError(location(a), "task '\(a)' depends on unknown task '\(b)'")
    }
  }

  // MARK: - Paths

  /// The outputs declared in the last round: a set for lookups, sorted for globs.
  private struct Declared {
    let paths: Set<String>
    private let sorted: [String]

    init(_ paths: Set<String> = []) {
      self.paths = paths
      sorted = paths.sorted()
    }

    /// The declared paths inside folder `prefix` ("" for all): a binary search, so a glob
    /// looks at its own folder's outputs, not at every output of the build.
    func under(_ prefix: String) -> ArraySlice<String> {
      guard !prefix.isEmpty else { return sorted[...] }
      let start = prefix + "/"
      var low = 0, high = sorted.count
      while low < high {
        let mid = (low + high) / 2
        if sorted[mid] < start { low = mid + 1 } else { high = mid }
      }
      var end = low
      while end < sorted.count, sorted[end].hasPrefix(start) { end += 1 }
      return sorted[low..<end]
    }
  }

  /// A list of `inputs` or `foreach`: each path or glob resolved in order, less what
  /// any `!pattern` of the list matches (wherever it stands in the list, as an
  /// exclusion: "every .c but these two" is `[src/*.c, "!src/old.c", "!src/test_*.c"]`).
  private func resolve(_ patterns: [Located<String>], declared: Declared, task: String,
                       mustExist: Bool) throws(ConfigError) -> [String] {
    var paths: [String] = []
    var exclusions: [(glob: Glob?, path: String)] = []
    for pattern in patterns {
      guard pattern.value.hasPrefix("!") else {
        paths += try resolve(pattern, declared: declared, task: task, mustExist: mustExist)
        continue
      }
      var text = String(pattern.value.dropFirst())
      if text.hasPrefix("/"), let rel = Paths.relative(text, to: root) { text = rel }
      guard !text.isEmpty, !text.hasPrefix("/"), let normalized = Paths.normalize(text), !normalized.isEmpty else {
        throw ConfigError(pattern.location, "exclusion '\(pattern.value)' of task '\(task)' must be a path or glob inside the workspace")
      }
      exclusions.append((Glob.hasWildcards(normalized) ? Glob(normalized) : nil, normalized))
    }
    guard !exclusions.isEmpty else { return paths }
    return paths.filter { path in !exclusions.contains { $0.glob?.matches(path) ?? ($0.path == path) } }
  }

  /// A literal path or a glob, resolved to sorted, normalised, workspace-relative paths.
  private func resolve(_ pattern: Located<String>, declared: Declared, task: String, mustExist: Bool) throws(ConfigError) -> [String] {
    var text = pattern.value
    if text.hasPrefix("/") {
      if let rel = Paths.relative(text, to: root) { text = rel } else {
        guard !Glob.hasWildcards(text) else {
          throw ConfigError(pattern.location, "glob '\(text)' must be relative to the workspace")
        }
        return [text]  // an absolute file outside the workspace (a system header, a tool)
      }
    }
    guard let normalized = Paths.normalize(text), !normalized.isEmpty else {
      throw ConfigError(pattern.location, "path '\(pattern.value)' is outside the workspace")
    }
    if !Glob.hasWildcards(normalized) {
      if declared.paths.contains(normalized) { return [normalized] }
      var parent = Paths.parent(normalized)
      while !parent.isEmpty {
        if declared.paths.contains(parent) { return [normalized] }  // inside a declared output folder
        parent = Paths.parent(parent)
      }
      if !hiddenOutputs.contains(normalized), fileSystem.stat(Paths.join(root, normalized)) != nil { return [normalized] }
      if mustExist {
        // A later round may declare it; only the last round's answer counts.
        listings.missing.append((normalized, task, pattern.location))
        return [normalized]
      }
      return []
    }
    let glob = Glob(normalized)
    (fileSystem as? ObservingFileSystem)?.noteGlob(normalized)
    let listing = files(under: glob.literalPrefix)
    var matches = Set<String>()
    for path in listing.files where glob.matches(path) && !hiddenOutputs.contains(path) {
      matches.insert(path)
    }
    // A file the glob would match but kiln cannot name: refused, never left out.
    if let entry = listing.firstUndecodable(matching: glob) {
      let what = entry.isDirectory ? "folder" : "file"
      throw ConfigError(pattern.location, "\(what) '\(entry.escaped)' (matched by '\(pattern.value)') has a name that is not UTF-8, which kiln cannot track; rename it")
    }
    for path in declared.under(glob.literalPrefix) where glob.matches(path) { matches.insert(path) }
    return matches.sorted()
  }

  /// Every file under a directory of the workspace, workspace-relative, listed once.
  private func files(under directory: String) -> FileListing {
    if let cached = listings.byDirectory[directory] { return cached }
    let result = if let observing = fileSystem as? ObservingFileSystem {
      observing.walking { observing.workspaceListing(root: root, under: directory) }
    } else {
      fileSystem.workspaceListing(root: root, under: directory)
    }
    listings.byDirectory[directory] = result
    return result
  }

  /// A declared output path: relative, inside the workspace, not through a symlink.
  private func checkedOutput(_ path: String, at location: SourceLocation, what: String) throws(ConfigError) -> String {
    if path.hasPrefix("/") {
      throw ConfigError(location, "\(what) '\(path)' is outside the workspace (an absolute path)")
    }
    if Glob.hasWildcards(path) {
      throw ConfigError(location, "\(what) '\(path)' must be a path, not a glob")
    }
    guard let normalized = Paths.normalize(path) else {
      throw ConfigError(location, "\(what) '\(path)' is outside the workspace (it climbs out with '..')")
    }
    if normalized.isEmpty {
      throw ConfigError(location, "\(what) '\(path)' is the workspace root; name a file or folder inside it")
    }
    if Paths.isReserved(normalized) {
      throw ConfigError(location, "\(what) '\(path)' is inside .kiln or .git, which belong to kiln and git")
    }
    if let link = symlink(atOrAbove: Paths.parent(normalized)) {
      throw ConfigError(location, "\(what) '\(path)' is outside the workspace (through the symlink '\(link)')")
    }
    return normalized
  }

  /// The first of `folder` and its parents (workspace-relative) that is a symlink, if
  /// any: a path through one may leave the workspace, wherever the link points now.
  private func symlink(atOrAbove folder: String) -> String? {
    var parent = folder
    while !parent.isEmpty, !listings.checkedParents.contains(parent) {
      if fileSystem.lstat(Paths.join(root, parent))?.kind == .symlink { return parent }
      listings.checkedParents.insert(parent)
      parent = Paths.parent(parent)
    }
    return nil
  }

  // MARK: - Placeholders

  static let placeholders: Set<String> = ["in", "out", "stem", "name", "dir"]

  /// A template's text and placeholders, in order.
  fileprivate enum Token {
    case text(Substring)
    case placeholder(String)
  }

  /// Splits at `{in}`, `{out}`, `{stem}`, `{name}`, `{dir}`; any other brace text
  /// (shell `${VAR}`, `{a,b}`, a brace group `{ cmd {in}; }`) is text, one character at
  /// a time, so a placeholder inside or after it is still found.
  private static func tokens(_ template: String) -> [Token] {
    guard template.contains("{") else { return [.text(template[...])] }
    var result: [Token] = []
    var rest = template[...]
    while let open = rest.firstIndex(of: "{") {
      result.append(.text(rest[..<open]))
      let afterOpen = rest.index(after: open)
      // A placeholder is `{` + a lower-case word + `}`; anything else is shell text.
      let wordEnd = rest[afterOpen...].firstIndex { !("a"..."z").contains($0) } ?? rest.endIndex
      let word = String(rest[afterOpen..<wordEnd])
      let closes = wordEnd < rest.endIndex && rest[wordEnd] == "}"
      let isShellVariable = open > template.startIndex && template[template.index(before: open)] == "$"
      guard closes, placeholders.contains(word) else {
        result.append(.text("{"))
        rest = rest[afterOpen...]
        continue
      }
      if isShellVariable {
        result.append(.text(rest[open...wordEnd]))  // `${in}` is the shell's variable named `in`
      } else {
        result.append(.placeholder(word))
      }
      rest = rest[rest.index(after: wordEnd)...]
    }
    result.append(.text(rest))
    return result
  }

  /// Replaces the placeholders of `template` by `values`.
  private func substitute(_ template: String, _ values: [String: String], at location: SourceLocation, task: String, quote: Bool, inOut: Bool) throws(ConfigError) -> String {
    // A byte search: a Character equal to "{" is that one byte (a Character search cost
    // 4,400 instructions a template); a "{" byte starting a longer Character splits
    // into text alone, the template as it is.
    guard template.utf8.contains(UInt8(ascii: "{")) else { return template }
    var result = ""
    let tokens: [Token]
    if let known = listings.tokens[template] {
      tokens = known
    } else {
      tokens = Self.tokens(template)
      listings.tokens[template] = tokens
    }
    for token in tokens {
      switch token {
      case .text(let text): result += text
      case .placeholder(let word):
        if !inOut, word == "out" {
          throw ConfigError(location, "placeholder {out} cannot be used in outputs or depfile")
        }
        guard let value = values[word] else {
          throw ConfigError(location, "placeholder {\(word)} needs 'foreach' (task '\(task)' has none)")
        }
        result += value
      }
    }
    return result
  }

  /// A batched task's `run`, split at `{in}` and `{out}`; any other placeholder names
  /// one item, which a command for many cannot hold.
  private func batchCommand(_ spec: TaskSpec, limit: Int?) throws(ConfigError) -> BatchCommand {
    var pieces: [BatchCommand.Piece] = []
    for token in Self.tokens(spec.run.value) {
      switch token {
      case .text(let text): if !text.isEmpty { pieces.append(.text(String(text))) }
      case .placeholder("in"): pieces.append(.inputs)
      case .placeholder("out"): pieces.append(.outputs)
      case .placeholder(let word):
        throw ConfigError(spec.run.location, "placeholder {\(word)} names one item, and task '\(spec.name)' runs items in batches ('batch'): its 'run' may use only {in} and {out}, the lists of a batch's items and outputs")
      }
    }
    return BatchCommand(pieces: pieces, limit: limit)
  }

  private static func unique<T: Hashable>(_ items: [T]) -> [T] {
    var seen = Set<T>()
    seen.reserveCapacity(items.count)
    return items.filter { seen.insert($0).inserted }
  }
}
