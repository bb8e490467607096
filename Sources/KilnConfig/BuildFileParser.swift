import KilnCore

/// Reads `kiln.yml` text into a checked `BuildFile`. Every error carries the line and
/// column of the offending node, from `YAMLParser`'s node marks.
package struct BuildFileParser {
  package var displayPath: String

  package init(displayPath: String) {
    self.displayPath = displayPath
  }

  static let topLevelFields: Set<String> = ["default", "env", "tasks", "hooks", "remote", "tools"]
  static let taskFields: Set<String> = [
    "run", "inputs", "outputs", "foreach", "deps", "depfile", "env", "hash_env", "dir",
    "cache", "always", "isolate", "remote", "timeout", "sla", "tools", "batch",
  ]

  /// Reads the build file's bytes: text that is not UTF-8 is refused at its first bad
  /// byte, rather than read with U+FFFD in place of it (which would change a command).
  package func parse(bytes: [UInt8]) throws(ConfigError) -> BuildFile {
    if let offset = Self.firstInvalidUTF8(bytes) {
      var line = 1
      var lineStart = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
      for i in lineStart..<offset where bytes[i] == 0x0A || (bytes[i] == 0x0D && bytes[i + 1] != 0x0A) {
        line += 1
        lineStart = i + 1
      }
      let byte = String(bytes[offset], radix: 16, uppercase: true)
      throw ConfigError(SourceLocation(file: displayPath, line: line, column: offset - lineStart + 1),
                        "the build file is not UTF-8 text (byte 0x\(byte.count == 1 ? "0" : "")\(byte)); save it as UTF-8")
    }
    return try parse(String(decoding: bytes, as: UTF8.self))
  }

  /// The offset of the first byte that does not start or continue a valid UTF-8
  /// sequence, or nil when all of `bytes` is UTF-8.
  static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
    var iterator = bytes.makeIterator()
    var parser = Unicode.UTF8.ForwardParser()
    var offset = 0
    while true {
      switch parser.parseScalar(from: &iterator) {
      case .valid(let scalar): offset += scalar.count
      case .emptyInput: return nil
      case .error: return offset
      }
    }
  }

  package func parse(_ text: String) throws(ConfigError) -> BuildFile {
    let root: YAMLNode?
    do {
      root = try YAMLParser.parse(text)
    } catch {
      throw ConfigError(SourceLocation(file: displayPath, line: error.mark.line, column: error.mark.column), error.message)
    }
    var file = BuildFile(displayPath: displayPath)
    guard let root else { throw ConfigError(at(nil), "the build file is empty: it needs a 'tasks' mapping") }
    guard case .mapping(let top, _) = root else {
      throw ConfigError(at(root), "the build file must be a mapping with a 'tasks' field")
    }
    var tasksNode: YAMLNode?
    var defaultNode: YAMLNode?
    var hooksNode: YAMLNode?
    for (keyNode, value) in try pairs(top) {
      let key = keyNode.string ?? ""
      switch key {
      case "tasks": tasksNode = value
      case "default": defaultNode = value
      case "hooks": hooksNode = value
      case "env": file.env = try environment(value, field: "env")
      case "remote": file.remoteSettings = try remote(value)
      case "tools": file.tools = try tools(value)
      default: throw ConfigError(at(keyNode), "unknown field '\(key)' (expected one of: \(Self.topLevelFields.sorted().joined(separator: ", ")))")
      }
    }
    guard let tasksNode else { throw ConfigError(at(root), "missing field 'tasks'") }
    guard case .mapping(let taskMap, _) = tasksNode else {
      throw ConfigError(at(tasksNode), "'tasks' must be a mapping of task names to tasks")
    }
    for (nameNode, body) in try pairs(taskMap) {
      file.tasks.append(try task(nameNode, body))
    }
    let names = Set(file.tasks.map(\.name))
    for task in file.tasks {
      for dep in task.deps where !names.contains(dep.value) {
        throw ConfigError(dep.location, "task '\(task.name)' depends on unknown task '\(dep.value)'")
      }
    }
    if let defaultNode {
      let list = try strings(defaultNode, field: "default")
      for item in list where !names.contains(item.value) {
        throw ConfigError(item.location, "'default' names unknown task '\(item.value)'")
      }
      file.defaultTasks = list.map(\.value)
    }
    if let hooksNode {
      guard case .mapping(let hookMap, _) = hooksNode else {
        throw ConfigError(at(hooksNode), "'hooks' must be a mapping of git hook names to task lists")
      }
      for (hookNode, value) in try pairs(hookMap) {
        let hook = hookNode.string ?? ""
        guard knownGitHooks.contains(hook) else {
          throw ConfigError(at(hookNode), "unknown git hook '\(hook)'")
        }
        let list = try strings(value, field: "hooks.\(hook)")
        for item in list where !names.contains(item.value) {
          throw ConfigError(item.location, "hook '\(hook)' names unknown task '\(item.value)'")
        }
        file.hooks[hook] = list.map(\.value)
      }
    }
    return file
  }

  // MARK: - Tasks

  private func task(_ nameNode: YAMLNode, _ body: YAMLNode) throws(ConfigError) -> TaskSpec {
    let name = nameNode.string ?? ""
    guard !name.isEmpty, name.utf8.allSatisfy({ c in
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
        || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
    }) else {
      throw ConfigError(at(nameNode), "task name '\(name)' may use only letters, digits, '_', '-' and '.'")
    }
    guard case .mapping(let fields, _) = body else {
      throw ConfigError(at(body), "task '\(name)' must be a mapping of fields")
    }
    var spec = TaskSpec(name: name, location: at(nameNode), run: Located("", at(nameNode)))
    var sawRun = false
    for (keyNode, value) in try pairs(fields) {
      let key = keyNode.string ?? ""
      switch key {
      case "run":
        sawRun = true
        let text = try scalar(value, field: "run")
        spec.run = Located(text, at(value))
        if text.trimmingWhitespace.isEmpty { throw ConfigError(at(value), "task '\(name)' has an empty 'run'") }
      case "inputs": spec.inputs = try strings(value, field: key)
      case "outputs": spec.outputs = try strings(value, field: key)
      case "foreach":
        let list = try strings(value, field: key)
        if list.isEmpty { throw ConfigError(at(value), "'foreach' of task '\(name)' is empty") }
        spec.foreach = list
      case "deps": spec.deps = try strings(value, field: key)
      case "depfile": spec.depfile = Located(try scalar(value, field: key), at(value))
      case "env": spec.env = try environment(value, field: key)
      case "hash_env": spec.hashEnv = try strings(value, field: key).map(\.value)
      case "dir": spec.dir = Located(try scalar(value, field: key), at(value))
      case "cache": spec.cache = try bool(value, field: key)
      case "always": spec.always = try bool(value, field: key)
      case "isolate": spec.isolate = try bool(value, field: key)
      case "remote": spec.remote = try bool(value, field: key)
      case "timeout": spec.timeout = try duration(value, field: key)
      case "sla": spec.sla = try duration(value, field: key)
      case "tools": spec.tools = try tools(value)
      case "batch": spec.batch = try batch(value)
      default:
        throw ConfigError(at(keyNode), "unknown field '\(key)' in task '\(name)' (expected one of: \(Self.taskFields.sorted().joined(separator: ", ")))")
      }
    }
    if !sawRun { throw ConfigError(at(nameNode), "task '\(name)' has no 'run'") }
    if let batch = spec.batch {
      if spec.foreach == nil {
        throw ConfigError(batch.location, "'batch' needs 'foreach': task '\(name)' has one instance, nothing to batch")
      }
      if spec.depfile != nil {
        throw ConfigError(batch.location, "task '\(name)' cannot have both 'batch' and 'depfile': one command writes one depfile, not one per item")
      }
    }
    return spec
  }

  /// `batch`: true, false, or the most items per command (a whole number, 1 or more).
  private func batch(_ node: YAMLNode) throws(ConfigError) -> Located<Int?>? {
    if case .scalar(let text, true, _) = node, let limit = Int(text) {
      guard limit >= 1 else { throw ConfigError(at(node), "'batch' must be true, false or a number of items of 1 or more, got \(text)") }
      return Located(limit, at(node))
    }
    guard case .scalar = node, let value = node.bool else {
      throw ConfigError(at(node), "'batch' must be true, false or a number of items of 1 or more")
    }
    return value ? Located(nil, at(node)) : nil
  }

  /// `tools`: command names (looked up on PATH when the task is keyed) or paths.
  private func tools(_ node: YAMLNode) throws(ConfigError) -> [String] {
    let list = try strings(node, field: "tools")
    for item in list where item.value.trimmingWhitespace.isEmpty || item.value.utf8.contains(0) {
      throw ConfigError(item.location, "'tools' lists an empty name")
    }
    return list.map(\.value)
  }

  // MARK: - Node helpers

  private func at(_ node: YAMLNode?) -> SourceLocation {
    SourceLocation(file: displayPath, line: node?.mark.line ?? 1, column: node?.mark.column ?? 1)
  }

  /// Mapping pairs with plain (scalar) keys. Duplicate keys never get here: the YAML
  /// parser rejects them at their second occurrence.
  private func pairs(_ mapping: [(key: YAMLNode, value: YAMLNode)]) throws(ConfigError) -> [(YAMLNode, YAMLNode)] {
    var result: [(YAMLNode, YAMLNode)] = []
    for (key, value) in mapping {
      guard case .scalar = key else { throw ConfigError(at(key), "keys must be plain names") }
      result.append((key, value))
    }
    return result
  }

  /// YAML's spellings of null, for a plain scalar.
  private static let nullSpellings: Set<String> = ["~", "null", "Null", "NULL", ""]

  private func scalar(_ node: YAMLNode, field: String) throws(ConfigError) -> String {
    guard case .scalar(let text, let plain, _) = node else {
      throw ConfigError(at(node), "'\(field)' must be a string")
    }
    if plain, Self.nullSpellings.contains(text) { return "" }
    return text
  }

  /// A string or a list of strings (SPEC: every list field takes a single string too).
  private func strings(_ node: YAMLNode, field: String) throws(ConfigError) -> [Located<String>] {
    switch node {
    case .scalar(let text, let plain, _):
      if plain, Self.nullSpellings.contains(text) { return [] }
      return [Located(text, at(node))]
    case .sequence(let seq, _):
      var out: [Located<String>] = []
      for item in seq {
        guard case .scalar(let text, _, _) = item else {
          if case .mapping = item {
            throw ConfigError(at(item), "'\(field)' must list strings; a '{' inside [...] must be quoted")
          }
          throw ConfigError(at(item), "'\(field)' must list strings")
        }
        out.append(Located(text, at(item)))
      }
      return out
    case .mapping:
      throw ConfigError(at(node), "'\(field)' must be a string or a list of strings; a value that starts with '{' must be quoted")
    }
  }

  /// `remote: URL`, or a mapping: `url`, `write` (CI only: this checkout may upload),
  /// `verify_key` (a PEM public key file, relative to the build file's folder: only
  /// entries it signed are used). Credentials are never read from here.
  private func remote(_ node: YAMLNode) throws(ConfigError) -> RemoteSettings {
    if case .mapping(let map, _) = node {
      var settings = RemoteSettings(url: "")
      var sawURL = false
      for (keyNode, value) in try pairs(map) {
        switch keyNode.string ?? "" {
        case "url":
          settings.url = try scalar(value, field: "remote.url")
          sawURL = true
        case "write": settings.write = try bool(value, field: "remote.write")
        case "verify_key": settings.verifyKey = try scalar(value, field: "remote.verify_key")
        case "execute": settings.execute = try scalar(value, field: "remote.execute")
        case "execute_jobs":
          let text = try scalar(value, field: "remote.execute_jobs")
          guard let n = Int(text), n >= 1, n <= 1024 else {
            throw ConfigError(at(value), "'remote.execute_jobs' must be a whole number from 1 to 1024, got '\(text)'")
          }
          settings.executeJobs = n
        default:
          throw ConfigError(at(keyNode), "unknown field 'remote.\(keyNode.string ?? "")' (expected one of: execute, execute_jobs, url, verify_key, write; credentials come from the environment, never from kiln.yml)")
        }
      }
      guard sawURL || settings.execute != nil else { throw ConfigError(at(node), "'remote' needs a 'url' or an 'execute'") }
      return settings
    }
    return RemoteSettings(url: try scalar(node, field: "remote"))
  }

  private func bool(_ node: YAMLNode, field: String) throws(ConfigError) -> Bool {
    guard case .scalar = node, let value = node.bool else {
      throw ConfigError(at(node), "'\(field)' must be true or false")
    }
    return value
  }

  private func duration(_ node: YAMLNode, field: String) throws(ConfigError) -> Duration {
    let text = try scalar(node, field: field)
    guard let value = Duration.parse(text), value > .zero else {
      throw ConfigError(at(node), "'\(field)' must be a duration like 30s or 5m, got '\(text)'")
    }
    return value
  }

  private func environment(_ node: YAMLNode, field: String) throws(ConfigError) -> [EnvironmentVariable] {
    guard case .mapping(let map, _) = node else {
      throw ConfigError(at(node), "'\(field)' must be a mapping of variable names to values")
    }
    var result: [EnvironmentVariable] = []
    for (key, value) in try pairs(map) {
      let name = key.string ?? ""
      guard !name.isEmpty, !name.contains("="), name.first?.isNumber == false else {
        throw ConfigError(at(key), "'\(name)' is not a valid environment variable name")
      }
      result.append(EnvironmentVariable(name, try scalar(value, field: "\(field).\(name)")))
    }
    return result
  }
}
