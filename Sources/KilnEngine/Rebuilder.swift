import KilnCore
import KilnHash
import KilnStore
import KilnSystem
import Synchronization

/// A task instance with its inputs hashed and its action key computed.
package struct PreparedTask: Sendable {
  package var instance: TaskInstance
  package var key: Digest
  package var inputs: [PathDigest]
  /// `NAME=value` lines of env and hash_env, as recorded.
  package var environment: [String]
  /// The stat each input had when its digest was taken, aligned with `inputs` (nil when
  /// absent or a folder): if one differs after the command ran, the command may have
  /// read other bytes than the key says.
  package var inputStats: [FileStat?]
}

/// The one decision of the build, per task instance: up to date, or not (and why).
/// Restoring and running are `Job`'s; recording the result is the `BuildRecorder`'s.
package struct Rebuilder {
  package var statCache: StatCache
  /// kiln's own environment, for `hash_env`.
  package var inheritedEnvironment: [String: String]
  /// Folders written out of keys (the workspace root, and for `kiln ninja` the checkout).
  package var keyRoots: KeyRoots
  /// Where each (tool name, PATH) resolved in this build: looked up once, not once per
  /// instance (a foreach of 2,000 compiles names `cc` 2,000 times).
  private let toolPaths = ToolPaths()

  package init(statCache: StatCache, inheritedEnvironment: [String: String], keyRoots: KeyRoots? = nil) {
    self.statCache = statCache
    self.inheritedEnvironment = inheritedEnvironment
    self.keyRoots = keyRoots ?? KeyRoots([statCache.absolute("")])
  }

  /// Hashes the inputs and builds the action key. A missing input is hashed as absent
  /// (the command will most likely fail and say so itself).
  package func prepare(_ instance: TaskInstance) throws(FileSystemError) -> PreparedTask {
    var inputs: [PathDigest] = []
    var stats: [FileStat?] = []
    inputs.reserveCapacity(instance.inputs.count)
    stats.reserveCapacity(instance.inputs.count)
    for path in instance.inputs {
      let observed = try statCache.observe(path)
      inputs.append(PathDigest(path, observed?.digest ?? .zero))
      stats.append(observed.flatMap { $0.stat.kind == .directory ? nil : $0.stat })
    }
    // Tools: the programs' contents, stat-cached like inputs; recorded as inputs (by
    // path), so a changed compiler is named by --explain like a changed source.
    var tools: [(path: String, digest: Digest, stat: FileStat?, found: Bool)] = []
    if !instance.tools.isEmpty {
      let searchPath = instance.environment.last(where: { $0.name == "PATH" })?.value ?? inheritedEnvironment["PATH"] ?? ""
      for name in instance.tools {
        guard let path = toolPaths.resolve(name, searchPath: searchPath, by: resolveTool) else {
          tools.append(("\(name) (not found)", .zero, nil, false))
          continue
        }
        let observed = try statCache.observe(path)
        tools.append((path, observed?.digest ?? .zero, observed?.stat, true))
      }
    }
    var environment = instance.environment.map { "\($0.name)=\($0.value)" }
    for name in instance.hashEnvironment.sorted() {
      environment.append(inheritedEnvironment[name].map { "$\(name)=\($0)" } ?? "$\(name) unset")
    }
    let key = KeyBuilder()
    // Absolute paths of this checkout are not part of what the step is (`KeyRoots`).
    key.field("C", instance.commandInKey ? keyRoots.normalize(instance.command) : "")
    key.field("D", instance.directory)
    for line in environment { key.field("E", line) }
    for input in inputs { key.field("I", keyRoots.normalize(input.path), input.digest) }
    for output in instance.outputs { key.field("O", keyRoots.normalize(output)) }
    if let depfile = instance.depfile { key.field("F", keyRoots.normalize(depfile)) }
    // Run with other items in one command: not the same step as the command alone.
    if instance.batch != nil { key.field("B", "batch") }
    // Run in a sandbox: a hit must come from a run made that way. Only when true, so
    // the keys of tasks that are not isolated stay what they were.
    if instance.isolate { key.field("S", "isolate") }
    for tool in tools { key.field("T", keyRoots.normalize(tool.path), tool.digest) }
    if !tools.isEmpty {
      var listed = Set(inputs.map(\.path))
      for tool in tools where tool.found && listed.insert(tool.path).inserted {
        inputs.append(PathDigest(tool.path, tool.digest))
        stats.append(tool.stat)
      }
    }
    return PreparedTask(instance: instance, key: key.finalize(), inputs: inputs, environment: environment,
                        inputStats: stats)
  }

  /// Where a tool is: a name with a slash is a path (relative to the workspace root);
  /// a bare name is looked up in `searchPath` like the shell does (the first executable
  /// file). Workspace-relative when inside the workspace, else absolute.
  package func resolveTool(_ name: String, searchPath: String) -> String? {
    let fs = statCache.fileSystem
    if name.contains("/") {
      guard let normal = Paths.normalize(name) else { return nil }
      // Never the workspace's absolute path in a key: inside it, a tool is relative.
      let path = Paths.relative(normal, to: statCache.absolute("")) ?? normal
      guard !path.isEmpty, fs.stat(statCache.absolute(path))?.kind == .file else { return nil }
      return path
    }
    for folder in searchPath.split(separator: ":", omittingEmptySubsequences: false) {
      let dir = folder.isEmpty ? "." : String(folder)
      let candidate = Paths.normalize(dir.hasPrefix("/") ? dir + "/" + name : statCache.absolute(dir + "/" + name))
      guard let candidate, let st = fs.stat(candidate), st.kind == .file, st.permissions & 0o111 != 0 else { continue }
      return Paths.relative(candidate, to: statCache.absolute("")) ?? candidate
    }
    return nil
  }

  /// Why the task must be restored or run; empty means up to date.
  package func reasons(_ task: PreparedTask, record: TaskRecord?) -> [RerunReason] {
    guard let record else { return [.neverBuilt] }
    var reasons: [RerunReason] = []
    if record.key != task.key {
      if task.instance.commandInKey, record.command != task.instance.command { reasons.append(.commandChanged) }
      if record.environment != task.environment {
        let old = Set(record.environment), new = Set(task.environment)
        let names = Set(old.symmetricDifference(new).map { line -> String in
          let name = line.hasPrefix("$") ? String(line.dropFirst()) : line
          return String(name.prefix { $0 != "=" && $0 != " " })
        })
        for name in names.sorted() { reasons.append(.environmentChanged(name)) }
      }
      // The same paths in the same order (an edit): compared pairwise, without the
      // tables (an archive's 400 inputs: a fifth of the time between its object's
      // compile ending and its own command starting).
      if record.inputs.count == task.inputs.count,
         zip(record.inputs, task.inputs).allSatisfy({ $0.path == $1.path }) {
        for (before, now) in zip(record.inputs, task.inputs) where before.digest != now.digest {
          reasons.append(.inputChanged(now.path))
        }
      } else {
        let old = Dictionary(record.inputs.map { ($0.path, $0.digest) }, uniquingKeysWith: { a, _ in a })
        var seen = Set<String>()
        for input in task.inputs {
          seen.insert(input.path)
          if let before = old[input.path] {
            if before != input.digest { reasons.append(.inputChanged(input.path)) }
          } else {
            reasons.append(.inputAdded(input.path))
          }
        }
        for input in record.inputs where !seen.contains(input.path) { reasons.append(.inputRemoved(input.path)) }
      }
      if reasons.isEmpty { reasons.append(.keyChanged) }
      return reasons
    }
    for input in record.discovered {
      let now = (try? statCache.digest(of: input.path)) ?? nil
      if now != input.digest {
        reasons.append(.discoveredInputChanged(input.path))
        break
      }
    }
    if let problem = outputProblem(record) { reasons.append(problem) }
    if task.instance.always { reasons.append(.always) }
    return reasons
  }

  /// The first output that is missing or no longer holds what was recorded.
  package func outputProblem(_ record: TaskRecord) -> RerunReason? {
    for output in record.outputs {
      switch output.kind {
      case .directory:
        if statCache.fileSystemKind(output.path) != .directory { return .outputMissing(output.path) }
      case .file:
        guard let now = try? statCache.digest(of: output.path) else { return .outputMissing(output.path) }
        if now != output.digest { return .outputModified(output.path) }
      case .symlink:
        guard let now = statCache.linkDigest(of: output.path) else { return .outputMissing(output.path) }
        if now != output.digest { return .outputModified(output.path) }
      }
    }
    return nil
  }
}

/// Tool lookups of one build, by name and search path (`Rebuilder.resolveTool`).
private final class ToolPaths: Sendable {
  private let known = Mutex<[String: String?]>([:])

  func resolve(_ name: String, searchPath: String, by lookUp: (String, String) -> String?) -> String? {
    let key = searchPath + "\u{0}" + name
    if let hit = known.withLock({ $0[key] }) { return hit }
    let path = lookUp(name, searchPath)
    known.withLock { $0[key] = .some(path) }
    return path
  }
}
