import KilnCore

/// One input file of a remotely executed action: where it goes in the input root (a
/// path relative to the workspace root), its content's SHA-256 and size, its executable
/// bit, and the file on this machine holding those bytes (uploaded when the server
/// lacks them).
package struct RemoteActionInput: Sendable, Hashable {
  package var path: String
  package var sha256: SHA256Digest
  package var size: Int64
  package var executable: Bool
  package var source: String

  package init(path: String, sha256: SHA256Digest, size: Int64, executable: Bool, source: String) {
    self.path = path
    self.sha256 = sha256
    self.size = size
    self.executable = executable
    self.source = source
  }
}

/// What a remote worker is asked to run (REAPI's `Command` and the input root of its
/// `Action`): the arguments, the whole environment, the output files, every input file.
/// Paths are relative to the workspace root (the executor places it in the input root).
package struct RemoteAction: Sendable, Hashable {
  package var arguments: [String]
  /// Sorted by name, as REAPI requires.
  package var environment: [EnvironmentVariable]
  package var outputs: [String]
  package var inputs: [RemoteActionInput]
  package var timeout: Duration?

  package init(arguments: [String], environment: [EnvironmentVariable], outputs: [String],
               inputs: [RemoteActionInput], timeout: Duration?) {
    self.arguments = arguments
    self.environment = environment.sorted { $0.name < $1.name }
    self.outputs = outputs
    self.inputs = inputs
    self.timeout = timeout
  }
}

/// How a remote execution went: the command's exit code and output, each output file
/// written (checked against its SHA-256) to a scratch path the caller moves into place,
/// and where the time went.
package struct RemoteRun: Sendable {
  package var exitCode: Int32
  package var stdout: [UInt8]
  package var stderr: [UInt8]
  /// Per output path the worker produced (relative to the input root): the scratch
  /// file holding its checked bytes, and its executable bit. A declared output the
  /// worker did not produce is absent.
  package var outputs: [String: (scratch: String, executable: Bool)]
  /// Seconds the action waited on the server before a worker took it, and ran there
  /// (from the worker's execution metadata; 0 when the server gave none).
  package var queued: Double
  package var executed: Double
  /// Whether the server answered from its own action cache without running it.
  package var cached: Bool
  /// The worker killed the command at the action's time-out (REAPI's DEADLINE_EXCEEDED):
  /// the task timed out, as it would here.
  package var timedOut = false
  /// Bytes this action sent (blobs the server lacked) and received (outputs, stdout, stderr).
  package var bytesUp: Int64 = 0
  package var bytesDown: Int64 = 0

  package init(exitCode: Int32, stdout: [UInt8], stderr: [UInt8], outputs: [String: (scratch: String, executable: Bool)],
               queued: Double, executed: Double, cached: Bool) {
    self.exitCode = exitCode
    self.stdout = stdout
    self.stderr = stderr
    self.outputs = outputs
    self.queued = queued
    self.executed = executed
    self.cached = cached
  }
}

/// Runs actions on remote workers (REAPI's Execution service). Every failure of the
/// server, the transport or the worker (not the command's own exit code) throws
/// `RemoteFailure`; the engine then runs the task here instead, once, visibly. After a
/// failure of the server itself the executor is `down`: nothing more is sent to it.
package protocol RemoteExecutor: Sendable {
  var down: RemoteFailure? { get }
  /// How many actions may be out on the server at once (not the local job slots).
  var jobs: Int { get }
  /// Uploads what the server lacks, executes `action`, waits for it, downloads its
  /// outputs into scratch files under `scratch` (a folder on the workspace's file
  /// system).
  func execute(_ action: RemoteAction, scratch: String) async throws(RemoteFailure) -> RemoteRun
  var traffic: RemoteTraffic { get }
}
