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

  /// The command is started without waiting for it (`Command.spawnAsync`): it still
  /// inherits no descriptor but stdin, stdout and stderr, and every signal is at its
  /// default, none blocked, whatever kiln has open, ignores or blocks.
  @Test func theCommandInheritsNoDescriptorAndNoSignalState() async throws {
    let open = Glibc.open("/dev/null", O_RDONLY)  // not close-on-exec
    #expect(open >= 3)
    defer { close(open) }
    let previous = signal(SIGUSR2, SIG_IGN)
    defer { signal(SIGUSR2, previous) }
    // `ls` without a shell: its own listing of the folder is descriptor 3.
    let fds = try await run("ls /proc/self/fd")
    #expect(String(decoding: fds.stdout, as: UTF8.self).split(separator: "\n") == ["0", "1", "2", "3"])
    let status = try await run("grep -E '^Sig(Blk|Ign):' /proc/self/status")
    let lines = String(decoding: status.stdout, as: UTF8.self).split(separator: "\n")
    #expect(lines == ["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"], "\(lines)")
  }

  /// Each run gives back what it took: the pidfd, the pipe that says whether the
  /// program started, the two output files. (Other tests of this process open files
  /// meanwhile: a leak of one descriptor a run would be 200 more, not a few.)
  @Test func runsLeaveNoDescriptorOpen() async throws {
    func openCount() -> Int { LocalFileSystem().contents(ofDirectory: "/proc/self/fd")?.count ?? 0 }
    _ = try await run("true")
    let before = openCount()
    for k in 0..<200 {
      #expect(try await run(k % 2 == 0 ? "true" : "echo $((1 + 1))").status == .exited(0))
    }
    #expect(openCount() < before + 50, "\(before) descriptors before, \(openCount()) after")
  }

  /// A program that cannot be started in its folder (the folder is gone) is an error
  /// naming it, as before the start stopped waiting for the program, not an exit status.
  @Test func aProgramThatCannotStartIsAnError() async throws {
    let invocation = Invocation(command: "true", workingDirectory: scratch.path + "/missing", environment: [:],
                                arguments: ["/bin/true"])
    await #expect(throws: SpawnError.self) { try await runner.run(invocation) }
    let ran = try await runner.run(Invocation(command: "true", workingDirectory: scratch.path, environment: [:],
                                              arguments: ["/bin/sh", "-c", "exit 4"]))
    #expect(ran.status == .exited(4))
  }

  /// `Command.spawnAsync` returns before the child has begun its program; once it has
  /// exited, `end` says whether it had (nil) or why it could not (the errno; the child
  /// then exited with 127). Its pidfd is its own to close.
  @Test func aStartThatDoesNotWaitSaysAfterwardsWhetherTheProgramBegan() throws {
    try LocalFileSystem().writeAtomically(Array("just text\n".utf8), to: scratch.path + "/not-a-program", permissions: 0o755)
    #expect(chmod(scratch.path + "/not-a-program", 0o755) == 0)
    let out = Glibc.open("/dev/null", O_WRONLY | O_CLOEXEC), err = Glibc.open("/dev/null", O_WRONLY | O_CLOEXEC)
    defer {
      close(out)
      close(err)
    }
    func exit(_ child: Command.AsyncChild) -> Int32 {
      var raw: Int32 = 0
      while waitpid(child.pid, &raw, 0) < 0, errno == EINTR {}
      close(child.pidfd)
      return (raw >> 8) & 0xFF
    }
    let ran = try Command.spawnAsync("/bin/sh", ["/bin/sh", "-c", "exit 5"], [:], in: scratch.path,
                                     stdout: out, stderr: err).get()
    #expect(exit(ran) == 5)
    #expect(ran.end() == nil)
    let refused = try Command.spawnAsync(scratch.path + "/not-a-program", ["not-a-program"], [:], in: scratch.path,
                                         stdout: out, stderr: err).get()
    #expect(exit(refused) == 127)
    #expect(refused.end()?.rawValue == ENOEXEC)
    let nowhere = try Command.spawnAsync("/bin/true", ["true"], [:], in: scratch.path + "/missing",
                                         stdout: out, stderr: err).get()
    #expect(exit(nowhere) == 127)
    #expect(nowhere.end()?.rawValue == ENOENT)
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
