import KilnCore
import KilnSystem
import Synchronization

/// Runs commands of a tiny language against an `InMemoryFileSystem` and records each
/// one, so engine tests can assert the exact list of commands that ran.
///
///   cat A B > OUT              OUT gets A's then B's bytes
///   echo TEXT > OUT            OUT gets TEXT
///   cc SRC > OUT deps D H...   OUT gets SRC's and the headers' bytes; D is a depfile
///                              naming SRC and H...
///   fail                       exit status 1
///   print TEXT                 prints TEXT on stdout
///   pwd > OUT                  OUT gets the absolute working directory
/// Commands join with ` && `. Every command takes `secondsPerCommand` of fake time.
package final class FakeProcessRunner: ProcessRunner, Sendable {
  private let fileSystem: InMemoryFileSystem
  private let root: String

  private struct State {
    var log: [String] = []
    var secondsPerCommand = 1.0
    var duringRun: (@Sendable (Invocation) -> Void)?
    var atStart: (@Sendable (Invocation) -> Void)?
  }

  private let state = Mutex(State())

  /// Fake seconds each command takes (default 1).
  package var secondsPerCommand: Double {
    get { state.withLock { $0.secondsPerCommand } }
    set { state.withLock { $0.secondsPerCommand = newValue } }
  }

  /// Called while a command runs, after the build loop has had its turn (as it goes on
  /// while a real command runs): lets a test edit files "during" a run.
  package var duringRun: (@Sendable (Invocation) -> Void)? {
    get { state.withLock { $0.duringRun } }
    set { state.withLock { $0.duringRun = newValue } }
  }

  /// Called as a command starts, before the build loop has had its turn.
  package var atStart: (@Sendable (Invocation) -> Void)? {
    get { state.withLock { $0.atStart } }
    set { state.withLock { $0.atStart = newValue } }
  }

  package init(fileSystem: InMemoryFileSystem, root: String) {
    self.fileSystem = fileSystem
    self.root = root
  }

  /// Commands run so far, in order.
  package var commands: [String] { state.withLock { $0.log } }

  /// Returns the commands run since the last call and forgets them.
  package func takeCommands() -> [String] {
    state.withLock { state in
      defer { state.log = [] }
      return state.log
    }
  }

  package func run(_ invocation: Invocation) async throws -> Completion {
    let (atStart, duringRun, seconds) = state.withLock { state in
      state.log.append(invocation.command)
      return (state.atStart, state.duringRun, state.secondsPerCommand)
    }
    atStart?(invocation)
    // A real command runs while the loop goes on deciding (on the same thread here).
    await Task.yield()
    duringRun?(invocation)
    fileSystem.clock.advance(by: seconds)
    var stdout: [UInt8] = []
    for part in invocation.command.components(separatedBy: " && ") {
      let words = part.split(separator: " ").map(String.init)
      guard let verb = words.first else { continue }
      func path(_ p: String) -> String { p.hasPrefix("/") ? p : Paths.join(invocation.workingDirectory, p) }
      switch verb {
      case "fail":
        return Completion(status: .exited(1), stdout: stdout, stderr: Array("failed\n".utf8))
      case "pwd":
        guard words.count == 3, words[1] == ">" else { continue }
        fileSystem.write(path(words[2]), invocation.workingDirectory + "\n")
      case "print":
        stdout += Array((words.dropFirst().joined(separator: " ") + "\n").utf8)
      case "echo":
        guard let gt = words.firstIndex(of: ">"), gt + 1 < words.count else { continue }
        fileSystem.write(path(words[gt + 1]), words[1..<gt].joined(separator: " "))
      case "cat":
        guard let gt = words.firstIndex(of: ">"), gt + 1 < words.count else { continue }
        var bytes: [UInt8] = []
        for input in words[1..<gt] {
          guard let b = try? fileSystem.read(path(input)) else {
            return Completion(status: .exited(1), stderr: Array("cat: \(input): missing\n".utf8))
          }
          bytes += b
        }
        fileSystem.write(path(words[gt + 1]), bytes)
      case "cc":
        guard words.count >= 6, words[2] == ">", words[4] == "deps" else { continue }
        let source = words[1], output = words[3], depfile = words[5]
        let headers = Array(words.dropFirst(6))
        var bytes: [UInt8] = []
        for input in [source] + headers {
          guard let b = try? fileSystem.read(path(input)) else {
            return Completion(status: .exited(1), stderr: Array("cc: \(input): missing\n".utf8))
          }
          bytes += b
        }
        fileSystem.write(path(output), bytes)
        fileSystem.write(path(depfile), "\(output): \(([source] + headers).joined(separator: " \\\n  "))\n")
      default:
        return Completion(status: .exited(127), stderr: Array("\(verb): not found\n".utf8))
      }
    }
    return Completion(status: .exited(0), stdout: stdout)
  }
}

extension String {
  /// Splits on a separator string (no Foundation).
  package func components(separatedBy separator: String) -> [String] {
    var parts: [String] = []
    var rest = self[...]
    while let range = rest.firstRange(of: separator) {
      parts.append(String(rest[..<range.lowerBound]))
      rest = rest[range.upperBound...]
    }
    parts.append(String(rest))
    return parts
  }
}
