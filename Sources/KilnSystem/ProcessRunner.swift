import KilnCore

/// One command to run: `/bin/sh -c command` in `workingDirectory` with exactly
/// `environment`, killed with its whole process group after `timeout`.
package struct Invocation: Sendable, Hashable {
  package var command: String
  /// Absolute.
  package var workingDirectory: String
  package var environment: [String: String]
  package var timeout: Duration?
  /// When set, the program to start instead of the shell: its absolute path first, then
  /// its arguments (an isolated task: bubblewrap, its sandbox, then the shell running
  /// `command`, which stays what the task's command is).
  package var arguments: [String]?

  package init(command: String, workingDirectory: String, environment: [String: String], timeout: Duration? = nil,
               arguments: [String]? = nil) {
    self.command = command
    self.workingDirectory = workingDirectory
    self.environment = environment
    self.timeout = timeout
    self.arguments = arguments
  }
}

/// How a process ended, and what it printed.
package struct Completion: Sendable, Hashable {
  package enum Status: Sendable, Hashable {
    case exited(Int32)
    case signaled(Int32)
    case timedOut
    /// The build was interrupted (Ctrl-C) while it ran.
    case interrupted
  }
  package var status: Status
  package var stdout: [UInt8]
  package var stderr: [UInt8]
  /// The peak resident memory of the command and the processes it waited for, in
  /// bytes, where the kernel reported it.
  package var peakMemory: Int64?

  package init(status: Status, stdout: [UInt8] = [], stderr: [UInt8] = [], peakMemory: Int64? = nil) {
    self.status = status
    self.stdout = stdout
    self.stderr = stderr
    self.peakMemory = peakMemory
  }
}

/// The only way kiln starts a process. A non-zero exit is a `Completion`, not an error;
/// `run` throws only when the process could not be started.
package protocol ProcessRunner: Sendable {
  func run(_ invocation: Invocation) async throws -> Completion
  /// `run`, calling `exited` once the command has ended but before it is reaped (while
  /// it is a zombie): what its outputs are at that moment is what the command wrote,
  /// since nobody waiting for its end can have seen it end yet.
  func run(_ invocation: Invocation, exited: @escaping @Sendable () -> Void) async throws -> Completion
}

extension ProcessRunner {
  /// Fakes: the hook runs after the fake command, which is as early as they can tell.
  package func run(_ invocation: Invocation, exited: @escaping @Sendable () -> Void) async throws -> Completion {
    let completion = try await run(invocation)
    exited()
    return completion
  }
}

/// A source of time: monotonic seconds for durations, wall-clock nanoseconds for the
/// stat cache and history. `SystemClock` is real; tests use `ManualClock`.
package protocol TimeSource: Sendable {
  /// Monotonic seconds, for durations.
  func monotonic() -> Double
  /// Nanoseconds since the epoch, comparable with file mtimes.
  func wallNanoseconds() -> Int64
}
