#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KilnTestSupport
import Testing

/// A stopped kiln and the machine-wide job slots (issue 12, item 18): a build waiting
/// for slots that a stopped process holds says so, naming the process; a kiln stopped
/// with Ctrl-Z (SIGTSTP) gives its slots back, stops its tasks with it, and takes the
/// slots again when continued.
///
/// The first build's one task writes its pid to a file outside the projects and then
/// waits (at most 60 s) for the test to create a `go` file; the second build, on the
/// same cache with one slot machine-wide, needs that slot.
@Suite struct StoppedBuildTests {
  struct Setup {
    let first: TempProject
    let second: TempProject
    let started: String
    let go: String
    let scratch: TempDirectory
  }

  static func setUp() throws -> Setup {
    let scratch = TempDirectory(prefix: "kiln-it-stopped")
    let started = scratch.path + "/started"
    let go = scratch.path + "/go"
    let slow = "echo $$ > \(started); i=0; while [ ! -f \(go) ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; cp {in} {out}"
    let first = try TempProject([
      "kiln.yml": """
        tasks:
          slow:
            inputs: in.txt
            outputs: out.txt
            run: \(Fixture.quoted(slow))
        """,
      "in.txt": "first\n",
    ])
    let second = try TempProject([
      "kiln.yml": """
        tasks:
          quick:
            inputs: in.txt
            outputs: out.txt
            run: tr a-z A-Z < {in} > {out}
        """,
      "in.txt": "second\n",
    ], sharingCacheWith: first)
    return Setup(first: first, second: second, started: started, go: go, scratch: scratch)
  }

  /// The state letter of process `pid` (R, S, T, ...), or nil.
  static func state(_ pid: Int32) -> Character? {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
    let text = String(decoding: data, as: UTF8.self)
    guard let close = text.lastIndex(of: ")") else { return nil }
    return text[text.index(after: close)...].first { $0 != " " }
  }

  static func taskPid(_ s: Setup) -> Int32? {
    (try? String(contentsOfFile: s.started, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
  }

  @Test func aWaitingBuildNamesTheStoppedProcessThatHoldsTheSlots() throws {
    let s = try Self.setUp()
    let a = try s.first.start(["build"], environment: ["KILN_MAX_JOBS": "1"])
    defer { a.send(SIGCONT); a.send(SIGKILL) }
    #expect(TempProject.waitUntil(seconds: 30) { Self.taskPid(s) != nil }, "the first build's task never started")
    a.send(SIGSTOP)
    #expect(TempProject.waitUntil(seconds: 10) { Self.state(a.pid) == "T" })

    let b = try s.second.start(["build"], environment: ["KILN_MAX_JOBS": "1"], timeout: 90)
    defer { b.send(SIGKILL) }
    let named = TempProject.waitUntil(seconds: 15) {
      b.stderrSoFar.contains("process \(a.pid)") && b.stderrSoFar.contains("stopped")
    }
    #expect(named, "the waiting build never named the stopped holder: \(b.stderrSoFar)")
    #expect(b.isRunning, "the slot is held, so the second build waits")
    let lines = b.stderrSoFar.split(separator: "\n").filter { $0.contains("stopped") }
    #expect(lines.count == 1, "said once: \(b.stderrSoFar)")

    a.send(SIGCONT)
    #expect(FileManager.default.createFile(atPath: s.go, contents: nil))
    let ra = a.wait()
    let rb = b.wait()
    #expect(ra.status == 0, "\(ra)")
    #expect(rb.status == 0, "\(rb)")
    #expect(s.first.read("out.txt") == "first\n")
    #expect(s.second.read("out.txt") == "SECOND\n")
  }

  @Test func ctrlZGivesTheSlotsBackAndContinueTakesThemAgain() throws {
    let s = try Self.setUp()
    let a = try s.first.start(["build"], environment: ["KILN_MAX_JOBS": "1"])
    defer { a.send(SIGCONT); a.send(SIGKILL) }
    #expect(TempProject.waitUntil(seconds: 30) { Self.taskPid(s) != nil }, "the first build's task never started")
    a.send(SIGTSTP)
    #expect(TempProject.waitUntil(seconds: 10) { Self.state(a.pid) == "T" }, "kiln stops on SIGTSTP")
    if let task = Self.taskPid(s) {
      #expect(TempProject.waitUntil(seconds: 10) { Self.state(task) == "T" }, "its task stops with it")
    }

    // With kiln stopped, its slot is free: the second build runs and ends.
    let b = try s.second.start(["build"], environment: ["KILN_MAX_JOBS": "1"], timeout: 90)
    defer { b.send(SIGKILL) }
    let finished = TempProject.waitUntil(seconds: 30) { !b.isRunning }
    #expect(finished, "the second build still waits for the stopped build's slot: \(b.stderrSoFar)")
    if finished {
      let rb = b.wait()
      #expect(rb.status == 0, "\(rb)")
      #expect(s.second.read("out.txt") == "SECOND\n")
    }
    #expect(Self.state(a.pid) == "T", "the first build is still stopped")

    // Continued, it takes its slot again, its task goes on, and it ends well.
    #expect(FileManager.default.createFile(atPath: s.go, contents: nil))
    a.send(SIGCONT)
    let ra = a.wait()
    #expect(ra.status == 0, "\(ra)")
    #expect(s.first.read("out.txt") == "first\n")
  }

  @Test func aBuildWaitingForTheSameActionNamesTheStoppedKilnThatRunsIt() throws {
    let s = try Self.setUp()
    // The same project twice on one cache: one action key, claimed by the first build.
    let twin = try s.first.clone()
    let a = try s.first.start(["build"])
    defer { a.send(SIGCONT); a.send(SIGKILL) }
    #expect(TempProject.waitUntil(seconds: 30) { Self.taskPid(s) != nil }, "the first build's task never started")
    a.send(SIGTSTP)
    #expect(TempProject.waitUntil(seconds: 10) { Self.state(a.pid) == "T" }, "kiln stops on SIGTSTP")

    let b = try twin.start(["build"], timeout: 90)
    defer { b.send(SIGKILL) }
    // Other tests of this suite may have a kiln stopped too: the line names every one.
    let named = TempProject.waitUntil(seconds: 20) {
      b.stderrSoFar.split(separator: "\n").contains {
        $0.contains("running the same action") && $0.contains("stopped")
          && $0.split(whereSeparator: { !$0.isNumber }).contains(Substring("\(a.pid)"))
      }
    }
    #expect(named, "the build waiting for the action never named the stopped kiln: \(b.stderrSoFar)")
    #expect(b.isRunning, "the action is claimed, so the second build waits for it")

    #expect(FileManager.default.createFile(atPath: s.go, contents: nil))
    a.send(SIGCONT)
    let ra = a.wait()
    let rb = b.wait()
    #expect(ra.status == 0, "\(ra)")
    #expect(rb.status == 0, "\(rb)")
    #expect(rb.stdout.contains("1 restored"), "the second build restores the first one's result: \(rb)")
    #expect(twin.read("out.txt") == "first\n")
  }
}
