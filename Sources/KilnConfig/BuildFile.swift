import KilnCore
import KilnSystem

/// A value from the build file with the position it was written at.
package struct Located<Value: Sendable & Hashable>: Sendable, Hashable {
  package var value: Value
  package var location: SourceLocation
  package init(_ value: Value, _ location: SourceLocation) {
    self.value = value
    self.location = location
  }
}

/// One task as written in `kiln.yml`, before expansion. Field meanings: SPEC section 1.
package struct TaskSpec: Sendable, Hashable {
  package var name: String
  package var location: SourceLocation
  package var run: Located<String>
  package var inputs: [Located<String>] = []
  package var outputs: [Located<String>] = []
  package var foreach: [Located<String>]? = nil
  package var deps: [Located<String>] = []
  package var depfile: Located<String>? = nil
  package var env: [EnvironmentVariable] = []
  package var hashEnv: [String] = []
  package var dir: Located<String>? = nil
  package var cache = true
  package var always = false
  package var isolate = false
  /// `remote: false`: never run on a remote worker (only isolated tasks may).
  package var remote = true
  package var timeout: Duration? = nil
  package var sla: Duration? = nil
  /// Programs whose content goes into the key (`tools`), as written.
  package var tools: [String] = []
  /// `batch`: nil when absent or false; its value nil for `true`, else the most items
  /// per command.
  package var batch: Located<Int?>? = nil
}

/// A parsed and checked `kiln.yml`: fields valid, names known. Expansion against the
/// disk (`Expander`) turns it into a `TaskGraph`.
package struct BuildFile: Sendable {
  /// The path as the user should see it in messages (`kiln.yml`, `../kiln.yml`).
  package var displayPath: String
  package var defaultTasks: [String]?
  package var env: [EnvironmentVariable] = []
  package var tasks: [TaskSpec] = []
  package var hooks: [String: [String]] = [:]
  package var remoteSettings: RemoteSettings?
  package var remote: String? { remoteSettings?.url }
  /// `tools` for every task.
  package var tools: [String] = []

  package func task(named name: String) -> TaskSpec? { tasks.first { $0.name == name } }
}

/// Git hooks `hooks:` may name.
package let knownGitHooks: Set<String> = [
  "applypatch-msg", "pre-applypatch", "post-applypatch", "pre-commit", "pre-merge-commit",
  "prepare-commit-msg", "commit-msg", "post-commit", "pre-rebase", "post-checkout",
  "post-merge", "pre-push", "pre-receive", "update", "post-receive", "post-update",
  "push-to-checkout", "pre-auto-gc", "post-rewrite",
]

extension Duration {
  /// Parses `30s`, `5m`, `1h`, `250ms`, `1m30s`, or a bare number of seconds.
  package static func parse(_ text: String) -> Duration? {
    let trimmed = text.trimmingWhitespace
    // Up to ten years: anything longer is a typo, and would overflow the conversion.
    let limit = 10 * 365 * 86400.0
    if let seconds = Double(trimmed) {
      guard seconds.isFinite, seconds >= 0, seconds <= limit else { return nil }
      return .milliseconds(Int64(seconds * 1000))
    }
    var total: Double = 0
    var number = ""
    var unit = ""
    var parsedAny = false
    func flush() -> Bool {
      guard let value = Double(number) else { return false }
      let scale: Double
      switch unit {
      case "ms": scale = 0.001
      case "s": scale = 1
      case "m": scale = 60
      case "h": scale = 3600
      default: return false
      }
      total += value * scale
      number = ""; unit = ""
      parsedAny = true
      return true
    }
    for c in trimmed {
      if c.isNumber || c == "." {
        if !unit.isEmpty { guard flush() else { return nil } }
        number.append(c)
      } else if c.isLetter {
        guard !number.isEmpty else { return nil }
        unit.append(c)
      } else {
        return nil
      }
    }
    if !number.isEmpty || !unit.isEmpty { guard flush() else { return nil } }
    guard parsedAny, total.isFinite, total <= limit else { return nil }
    return .milliseconds(Int64((total * 1000).rounded()))
  }
}

extension String {
  package var trimmingWhitespace: String {
    var s = self[...]
    while let f = s.first, f.isWhitespace { s = s.dropFirst() }
    while let l = s.last, l.isWhitespace { s = s.dropLast() }
    return String(s)
  }
}

extension BuildFile {
  /// `kiln build NAME=value`: each variable set as if `env:` said so at the top and in
  /// every task that sets it itself, as make's command-line variables override the
  /// makefile's. The values go into every key, as `env:`'s do.
  package func overriding(_ variables: [EnvironmentVariable]) -> BuildFile {
    guard !variables.isEmpty else { return self }
    var file = self
    for variable in variables {
      file.env.removeAll { $0.name == variable.name }
      file.env.append(variable)
      for i in file.tasks.indices where file.tasks[i].env.contains(where: { $0.name == variable.name }) {
        file.tasks[i].env = file.tasks[i].env.map { $0.name == variable.name ? variable : $0 }
      }
    }
    return file
  }

  /// Whether `argument` of `kiln build` is a `NAME=value` override: a shell variable
  /// name before the first `=` (a task or instance name never is one: `compile src/a=b.c`).
  package static func override(_ argument: String) -> EnvironmentVariable? {
    guard let equals = argument.firstIndex(of: "=") else { return nil }
    let name = argument[..<equals]
    guard DirectCommand.isShellName(name) else { return nil }
    return EnvironmentVariable(String(name), String(argument[argument.index(after: equals)...]))
  }
}

/// `remote:` in kiln.yml: where the team's cache is, whether this checkout may write to
/// it, and the public key entries must be signed with.
package struct RemoteSettings: Sendable, Hashable {
  /// The remote cache; empty when only `execute` is set.
  package var url: String
  package var write = false
  /// A PEM public key file, relative to the build file's folder.
  package var verifyKey: String?
  /// The REAPI endpoint isolated tasks run on (`grpc(s)://host[/instance]`), if any.
  package var execute: String?
  /// How many actions may be out on it at once (default `defaultExecuteJobs`).
  package var executeJobs: Int?
  package static let defaultExecuteJobs = 8

  package init(url: String, write: Bool = false, verifyKey: String? = nil) {
    self.url = url
    self.write = write
    self.verifyKey = verifyKey
  }
}
