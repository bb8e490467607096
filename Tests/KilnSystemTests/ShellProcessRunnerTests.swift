#if canImport(Glibc)
import Glibc
#endif
import KilnSystem
import KilnTestSupport
import Testing

/// `ShellProcessRunner`: `/bin/sh -c` in its own process group, with exactly the given
/// environment, output captured apart from the terminal; an exit status or a signal is
/// a `Completion`; a timeout kills the whole group, backgrounded children included.
@Suite(.timeLimit(.minutes(1))) struct ShellProcessRunnerTests {
  let scratch = TempDirectory(prefix: "kiln-runner")
  let runner = ShellProcessRunner()

  func run(_ command: String, environment: [String: String] = ["PATH": "/usr/bin:/bin"],
           timeout: Duration? = nil) async throws -> Completion {
    try await runner.run(Invocation(command: command, workingDirectory: scratch.path, environment: environment,
                                    timeout: timeout))
  }

  @Test func exitStatusIsTheCompletionNotAnError() async throws {
    #expect(try await run("true").status == .exited(0))
    #expect(try await run("exit 3").status == .exited(3))
    #expect(try await run("no-such-command-here").status == .exited(127))
  }

  @Test func aSignalIsReportedAsOne() async throws {
    #expect(try await run("kill -TERM $$").status == .signaled(SIGTERM))
    #expect(try await run("kill -KILL $$").status == .signaled(SIGKILL))
  }

  @Test func stdoutAndStderrAreCapturedApart() async throws {
    let big = 200_000  // more than a pipe holds: capture must not stall the command
    let completion = try await run("echo out; echo err >&2; head -c \(big) /dev/zero")
    #expect(completion.status == .exited(0))
    #expect(completion.stdout.prefix(4) == Array("out\n".utf8)[...])
    #expect(completion.stdout.count == 4 + big)
    #expect(completion.stderr == Array("err\n".utf8))
  }

  @Test func theCommandGetsExactlyItsEnvironmentAndFolder() async throws {
    setenv("KILN_RUNNER_TEST_LEAK", "leaked", 1)
    defer { unsetenv("KILN_RUNNER_TEST_LEAK") }
    let completion = try await run("printf '%s|%s|%s' \"$GREETING\" \"$KILN_RUNNER_TEST_LEAK\" \"$(pwd -P)\"",
                                   environment: ["PATH": "/usr/bin:/bin", "GREETING": "hello"])
    let folder = try #require(realpath(scratch.path, nil))
    defer { free(folder) }
    #expect(String(decoding: completion.stdout, as: UTF8.self) == "hello||\(String(cString: folder))")
  }

  @Test func theCommandLeadsAProcessGroupOfItsOwn() async throws {
    let completion = try await run("ps -o pgid= -p $$; echo $$")
    let lines = String(decoding: completion.stdout, as: UTF8.self).split(separator: "\n")
      .map { $0.trimmingPrefix(while: { $0 == " " }) }
    #expect(lines.count == 2 && lines[0] == lines[1], "\(lines)")
    #expect(lines.first.map { Int32($0) } != getpgrp())
  }

  @Test func exitedIsCalledOnceBeforeTheRunReturns() async throws {
    let calls = EventLog<Int>()
    _ = try await runner.run(Invocation(command: "true", workingDirectory: scratch.path, environment: [:]),
                             exited: { calls.record(1) })
    #expect(await calls.next() == 1)
  }

  /// Output goes to in-memory files, not pipes: a backgrounded child that keeps the
  /// command's stdout open cannot hold the run after the shell has exited.
  @Test func aBackgroundedChildDoesNotHoldTheRun() async throws {
    let completion = try await run("sleep 300 & echo $!")
    #expect(completion.status == .exited(0))
    let pid = try #require(Int32(String(decoding: completion.stdout, as: UTF8.self).split(separator: "\n").first ?? ""))
    #expect(ProcessStat(pid: pid) != nil, "the child is still running")
    kill(pid, SIGKILL)
  }

  /// A timeout kills the command's whole group: the shell and a child it backgrounded.
  @Test func aTimeoutKillsTheGroupBackgroundedChildrenIncluded() async throws {
    let pidFile = scratch.path + "/child"
    let completion = try await run("sleep 300 & echo $! > \(pidFile); wait", timeout: .milliseconds(300))
    #expect(completion.status == .timedOut)
    let text = try LocalFileSystem().read(pidFile)
    let pid = try #require(Int32(String(decoding: text, as: UTF8.self).split(separator: "\n").first ?? ""))
    // SIGKILL was sent to the group before the run returned; the child's end follows
    // in the kernel (a zombie until its new parent reaps it counts as ended).
    #expect(Self.waitForEnd(of: pid), "the backgrounded child outlived the timeout")
  }

  /// Whether `pid` is gone or a zombie, looking again until it is (at most 30 s).
  static func waitForEnd(of pid: Int32) -> Bool {
    for _ in 0..<3000 {
      guard let process = ProcessStat(pid: pid) else { return true }
      if process.state == "Z" { return true }
      usleep(10_000)
    }
    return false
  }
}
