/// Why a task instance ran instead of being up to date or restored. Recorded where the
/// decision is made; `--explain`, `--json` and the run history only read it.
package enum RerunReason: Sendable, Hashable, CustomStringConvertible {
  case neverBuilt
  case commandChanged
  case environmentChanged(String)
  case inputChanged(String)
  case inputAdded(String)
  case inputRemoved(String)
  case discoveredInputChanged(String)
  case outputMissing(String)
  case outputModified(String)
  case always
  case cacheDisabled
  case dependencyWillRun(TaskID)
  case pathDependentOutput(String)
  case keyChanged
  /// A cache entry or blob for this key failed its checksum: it was deleted, and the
  /// task ran instead of restoring what the damaged bytes said.
  case cacheEntryDamaged

  /// A stable name for what kind of reason this is, without its path or name: how the
  /// history groups cache misses (`kiln stats`).
  package var kind: String {
    switch self {
    case .neverBuilt: "never-built"
    case .commandChanged: "command-changed"
    case .environmentChanged: "env-changed"
    case .inputChanged: "input-changed"
    case .inputAdded: "input-added"
    case .inputRemoved: "input-removed"
    case .discoveredInputChanged: "discovered-input-changed"
    case .outputMissing: "output-missing"
    case .outputModified: "output-modified"
    case .always: "always"
    case .cacheDisabled: "cache-disabled"
    case .dependencyWillRun: "dependency-ran"
    case .pathDependentOutput: "path-dependent-output"
    case .keyChanged: "key-changed"
    case .cacheEntryDamaged: "cache-entry-damaged"
    }
  }

  package var description: String {
    switch self {
    case .neverBuilt: "never built"
    case .commandChanged: "command changed"
    case .environmentChanged(let name): "env var \(name) changed"
    case .inputChanged(let path): "input \(path) changed"
    case .inputAdded(let path): "input \(path) added"
    case .inputRemoved(let path): "input \(path) removed"
    case .discoveredInputChanged(let path): "input \(path) (from depfile) changed"
    case .outputMissing(let path): "output \(path) missing"
    case .outputModified(let path): "output \(path) modified"
    case .always: "always: true"
    case .cacheDisabled: "cache disabled"
    case .dependencyWillRun(let id): "dependency \(id) would run"
    case .pathDependentOutput(let root): "cached output holds the absolute path \(root) of another workspace"
    case .keyChanged: "key changed"
    case .cacheEntryDamaged: "cache entry damaged (discarded)"
    }
  }
}

/// Where a restored result came from.
package enum CacheTier: String, Sendable, Hashable {
  case local
  case remote
}

/// Why a task instance failed.
package enum TaskFailure: Sendable, Hashable, CustomStringConvertible {
  case exitStatus(Int32)
  case signal(Int32)
  case timedOut(Duration)
  case missingOutput(String)
  case launchFailed(String)
  case depfileUnreadable(String)
  /// An output kiln will not store: a symlink leaving the workspace, a device, ...
  case unsafeOutput(String)

  package var description: String {
    switch self {
    case .exitStatus(let code): "exited with status \(code)"
    case .signal(let sig): "killed by signal \(sig)"
    case .timedOut(let limit): "timed out after \(limit.formattedSeconds)"
    case .missingOutput(let path): "did not create its declared output \(path)"
    case .launchFailed(let why): "could not start: \(why)"
    case .depfileUnreadable(let why): "depfile: \(why)"
    case .unsafeOutput(let why): why
    }
  }
}

/// What happened to one task instance, and why.
package enum TaskOutcome: Sendable, Hashable {
  case upToDate
  case restored(from: CacheTier)
  case ran(because: [RerunReason], outputsChanged: Bool)
  case failed(TaskFailure)
  case skipped(dependencyFailed: TaskID)

  /// A stable word: up-to-date, restored, ran, failed, skipped.
  package var kind: String {
    switch self {
    case .upToDate: "up-to-date"
    case .restored: "restored"
    case .ran: "ran"
    case .failed: "failed"
    case .skipped: "skipped"
    }
  }
}

extension Duration {
  /// Seconds as a Double.
  package var seconds: Double {
    let (s, atto) = components
    return Double(s) + Double(atto) / 1e18
  }

  /// `1.25s`, `120ms`: short, for people.
  package var formattedSeconds: String {
    let s = seconds
    if s < 1 { return "\(Int((s * 1000).rounded()))ms" }
    if s < 60 { return String(format2: s) + "s" }
    return "\(Int(s) / 60)m\(Int(s) % 60)s"
  }
}

extension String {
  /// Two decimals without Foundation: `-0.50`, `12.25`. The sign is written apart
  /// from the digits, since the whole part of a value between -1 and 0 is 0, not -0.
  package init(format2 value: Double) {
    let hundredths = Int((value * 100).rounded())
    let magnitude = hundredths.magnitude
    let frac = magnitude % 100
    self = "\(hundredths < 0 ? "-" : "")\(magnitude / 100).\(frac < 10 ? "0" : "")\(frac)"
  }
}
