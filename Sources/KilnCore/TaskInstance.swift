/// One runnable step after expansion: every placeholder substituted, every glob resolved.
/// Paths are relative to the workspace root; nothing here holds an absolute path.
package struct TaskInstance: Sendable, Hashable {
  package var id: TaskID
  /// The shell command after substitution, run by `/bin/sh -c`.
  package var command: String
  /// Inputs in key order: the foreach item, listed inputs, then outputs of `deps` tasks.
  package var inputs: [String]
  /// Declared outputs, files or directories.
  package var outputs: [String]
  package var depfile: String?
  /// A depfile the command did not write counts as no dependencies, as ninja reads it
  /// (a CMake try-compile declares one and compiles without -MD); else it fails the
  /// task. Only `kiln ninja` sets it (kiln.yml has no such field); `kiln ninja`'s graph
  /// cache keeps it with the other ninja-only flags.
  package var depfileMayBeMissing = false
  /// Outputs are left in place for the command to replace, not cleared before it runs:
  /// ninja's generator edge rewrites build.ninja, and one that fails must leave the old
  /// manifest to retry with. Only `kiln ninja` sets it (for uncached edges).
  package var keepsOutputs = false
  /// An output the command did not write does not fail it: the run is neither recorded
  /// nor stored, so the instance runs again next time (ninja's rule: Meson's test and
  /// install edges never write theirs). Only `kiln ninja` sets it.
  package var outputsMayBeMissing = false
  /// The pool whose depth bounds how many instances in it run at once (a ninja
  /// `pool`); nil: only the build's job count. Only `kiln ninja` sets it.
  package var pool: String?
  /// ninja's `deps = msvc`: lines of the command's standard output that start with
  /// this prefix (cl.exe's `/showIncludes`) name the files it read, like a depfile,
  /// and are taken out of the output. Only `kiln ninja` sets it.
  package var includesPrefix: String?
  /// What the console shows for it instead of its name (ninja's `description`, as
  /// `Building C object ...`). Only `kiln ninja` sets it.
  package var label: String?
  /// Whether a change of the command alone makes the task run again. ninja does not
  /// rebuild a `generator` edge when only its command line changed, so `kiln ninja`
  /// clears it for those (never cached either); kiln.yml has no such field.
  package var commandInKey = true
  /// Working directory relative to the workspace root ("" is the root).
  package var directory: String
  /// Variables set for the command and hashed into its key, sorted by name.
  package var environment: [EnvironmentVariable]
  /// Names of inherited variables whose values are hashed into the key.
  package var hashEnvironment: [String]
  package var cache: Bool
  package var always: Bool
  package var isolate: Bool
  /// `remote: false`: an isolated task that must run here, never on a remote worker.
  package var remote = true
  package var timeout: Duration?
  package var sla: Duration?
  /// Programs whose content digests go into the key: names looked up on PATH (the
  /// task's own `PATH` from `env`, else kiln's) or paths (relative to the workspace).
  package var tools: [String]
  /// Instances that must finish first (explicit `deps` and producers of inputs).
  package var dependencies: [TaskID]
  /// A `foreach` task's `batch`: its instances that must run share commands. nil: one
  /// command per instance (`command`, which stays what the instance's key hashes).
  package var batch: BatchCommand?
  package var location: SourceLocation?

  package init(
    id: TaskID, command: String, inputs: [String] = [], outputs: [String] = [],
    depfile: String? = nil, directory: String = "", environment: [EnvironmentVariable] = [],
    hashEnvironment: [String] = [], cache: Bool = true, always: Bool = false,
    isolate: Bool = false, timeout: Duration? = nil, sla: Duration? = nil, tools: [String] = [],
    dependencies: [TaskID] = [], location: SourceLocation? = nil
  ) {
    self.tools = tools
    self.id = id
    self.command = command
    self.inputs = inputs
    self.outputs = outputs
    self.depfile = depfile
    self.directory = directory
    self.environment = environment
    self.hashEnvironment = hashEnvironment
    self.cache = cache
    self.always = always
    self.isolate = isolate
    self.timeout = timeout
    self.sla = sla
    self.dependencies = dependencies
    self.location = location
  }
}

/// How the instances of a batched `foreach` task are run together: the task's `run`
/// split at its `{in}` and `{out}` placeholders, which a batch fills with the lists of
/// its items and of their outputs (no other placeholder names one item, so none is
/// allowed). Every instance of the task holds the same value.
package struct BatchCommand: Sendable, Hashable {
  package enum Piece: Sendable, Hashable {
    case text(String)
    /// `{in}`: the batch's foreach items.
    case inputs
    /// `{out}`: their declared outputs, item by item.
    case outputs
  }

  package var pieces: [Piece]
  /// Most instances in one command (`batch: N`); nil (`batch: true`): the instances to
  /// run are shared out over the job slots.
  package var limit: Int?

  package init(pieces: [Piece], limit: Int?) {
    self.pieces = pieces
    self.limit = limit
  }
}

/// One `NAME: value` pair of `env`.
package struct EnvironmentVariable: Sendable, Hashable {
  package var name: String
  package var value: String
  package init(_ name: String, _ value: String) {
    self.name = name
    self.value = value
  }
}
