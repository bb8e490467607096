import Foundation
import KilnTestSupport
import Testing

/// Machine-wide limits (SPEC section 4): every kiln process on one cache draws its
/// running tasks from one pool of job slots (`KILN_MAX_JOBS`), no task starts below
/// the memory reserve (`KILN_MEM_RESERVE`), and two processes needing the same action
/// at once run it once.
///
/// Tasks log `start ID NS` and `end ID NS` (from `date +%s%N`, taken inside the
/// command) to a file outside the projects; the most intervals open at one time is a
/// lower bound of how many task commands really ran at once. Where a test needs tasks
/// to run side by side, they meet in a `ConcurrencyProbe`, so that is observed rather
/// than left to how long each task sleeps.
@Suite struct MachineLimitsTests {
  /// Six independent tasks that each log their interval and sleep 0.3 s (inside it,
  /// the `probe`, when given); `tag` makes the commands (so the keys) differ between
  /// projects.
  static func sleepers(tag: String, log: String, count: Int = 6, probe: ConcurrencyProbe? = nil) -> [String: String] {
    let meet = probe.map { $0.shell(id: "\(tag)-{stem}") + " && " } ?? ""
    let command = "echo \"start \(tag)-{stem} $(date +%s%N)\" >> \(log) && \(meet)sleep 0.3 && echo \"end \(tag)-{stem} $(date +%s%N)\" >> \(log) && cp {in} {out}"
    return Fixture.independentTasks(count: count, command: command) { "\(tag) \($0)\n" }
  }

  @Test func jobSlotsAreSharedAcrossProcesses() throws {
    let logs = TempDirectory(prefix: "kiln-it-log")
    let log = logs.path + "/intervals"
    let probe = ConcurrencyProbe(target: 2)
    let first = try TempProject(Self.sleepers(tag: "p1", log: log, probe: probe))
    let second = try TempProject(Self.sleepers(tag: "p2", log: log, probe: probe), sharingCacheWith: first)
    let third = try TempProject(Self.sleepers(tag: "p3", log: log, probe: probe), sharingCacheWith: first)
    let projects = [first, second, third]

    let builds = try projects.map { try $0.start(["build", "-j4", "--json"], environment: ["KILN_MAX_JOBS": "2"]) }
    for (i, build) in builds.enumerated() {
      let r = build.wait()
      #expect(r.status == 0, "p\(i + 1): \(r)")
      #expect(WorkspaceTests.summary(r)?["ran"] as? Int == 6, "p\(i + 1): \(r)")
    }
    for (i, p) in projects.enumerated() {
      for t in 1...6 { #expect(p.read("out/t\(t).txt") == "p\(i + 1) \(t)\n") }
    }

    let intervals = try Self.intervals(log)
    #expect(intervals.count == 18, "every task logged one interval: \(intervals.keys.sorted())")
    let overlap = Self.maxOverlap(intervals)
    #expect(overlap <= 2, "KILN_MAX_JOBS=2 across three processes, yet \(overlap) tasks ran at once")
    #expect(probe.mostSeen <= 2, "KILN_MAX_JOBS=2 across three processes, yet a task saw \(probe.mostSeen) running")
    #expect(probe.mostSeen == 2, "three -j4 builds with two slots never ran two tasks at once")
    #expect(overlap == 2)
  }

  @Test func memoryReserveRunsOneTaskAtATime() throws {
    let logs = TempDirectory(prefix: "kiln-it-log")
    let log = logs.path + "/intervals"
    let p = try TempProject(Self.sleepers(tag: "mem", log: log, count: 4))
    let r = try p.kiln(["build", "-j4", "--json"], environment: ["KILN_MEM_RESERVE": "100T", "KILN_MAX_JOBS": "4"])
    #expect(r.status == 0, "\(r)")
    #expect(WorkspaceTests.summary(r)?["ran"] as? Int == 4, "\(r)")
    let intervals = try Self.intervals(log)
    #expect(intervals.count == 4)
    #expect(Self.maxOverlap(intervals) == 1, "\(intervals)")

    // The same with a reserve that is always met does run tasks side by side.
    let freeLog = logs.path + "/free"
    let probe = ConcurrencyProbe(target: 2)
    let free = try TempProject(Self.sleepers(tag: "free", log: freeLog, count: 4, probe: probe))
    let unlimited = try free.kiln(["build", "-j4", "--json"], environment: ["KILN_MEM_RESERVE": "1K", "KILN_MAX_JOBS": "4"])
    #expect(unlimited.status == 0, "\(unlimited)")
    #expect(probe.wasReached, "with the reserve met, two tasks never ran at once")
    #expect(Self.maxOverlap(try Self.intervals(freeLog)) > 1)
  }

  /// Two processes on one cache reach the same slow action at once: it runs once, the
  /// other process waits and restores its result.
  @Test func sameActionInFlightRunsOnce() throws {
    let outside = TempDirectory(prefix: "kiln-it-inflight")
    let counter = outside.path + "/counter"
    let go = outside.path + "/go"
    // The task holds until the test says go (at most 30 s), so both builds are
    // certainly waiting on this action at the same time.
    let command = "echo x >> \(counter); i=0; while [ ! -f \(go) ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; tr a-z A-Z < {in} > {out}"
    let first = try TempProject([
      "kiln.yml": """
        tasks:
          slow:
            inputs: in.txt
            outputs: out.txt
            run: \(Fixture.quoted(command))
        """,
      "in.txt": "alpha\n",
    ])
    let second = try first.clone(sharingCache: true)

    let a = try first.start(["build", "--json"])
    let b = try second.start(["build", "--json"])
    let oneStarted = TempProject.waitUntil(seconds: 30) { Self.lines(counter) >= 1 }
    #expect(oneStarted, "neither build started the task")
    // The other build has reached the same action when it says it waits for it (after
    // two seconds of waiting): with no dedup it would have run it instead.
    let otherWaits = TempProject.waitUntil(seconds: 30) {
      [a, b].contains { $0.stderrSoFar.contains("is running the same action") }
    }
    #expect(otherWaits, "neither build waited for the other's action")
    #expect(Self.lines(counter) == 1, "both processes ran the action at once")
    #expect(FileManager.default.createFile(atPath: go, contents: nil))

    let ra = a.wait()
    let rb = b.wait()
    #expect(ra.status == 0, "\(ra)")
    #expect(rb.status == 0, "\(rb)")
    #expect(Self.lines(counter) == 1, "the action ran once")
    let outcomes = [WorkspaceTests.outcomes(ra)["slow"] ?? "?", WorkspaceTests.outcomes(rb)["slow"] ?? "?"].sorted()
    #expect(outcomes == ["ran", "restored"], "\(ra)\n\(rb)")
    #expect(first.read("out.txt") == "ALPHA\n")
    #expect(second.read("out.txt") == "ALPHA\n")
  }

  // MARK: - Helpers

  static func lines(_ path: String) -> Int {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").count
  }

  /// ID -> (start, end) in ns from the log; a missing or repeated half is an error.
  static func intervals(_ path: String) throws -> [String: (start: Int64, end: Int64)] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    var starts: [String: Int64] = [:]
    var ends: [String: Int64] = [:]
    for line in text.split(separator: "\n") {
      let parts = line.split(separator: " ")
      guard parts.count == 3, let ns = Int64(parts[2]) else { throw TempProjectError("bad log line: \(line)") }
      let id = String(parts[1])
      switch parts[0] {
      case "start":
        guard starts.updateValue(ns, forKey: id) == nil else { throw TempProjectError("started twice: \(id)") }
      case "end":
        guard ends.updateValue(ns, forKey: id) == nil else { throw TempProjectError("ended twice: \(id)") }
      default: throw TempProjectError("bad log line: \(line)")
      }
    }
    guard Set(starts.keys) == Set(ends.keys) else { throw TempProjectError("unfinished intervals in \(text)") }
    return starts.reduce(into: [:]) { $0[$1.key] = ($1.value, ends[$1.key]!) }
  }

  /// The most intervals open at one instant (an end at the same ns as a start closes first).
  static func maxOverlap(_ intervals: [String: (start: Int64, end: Int64)]) -> Int {
    var events: [(time: Int64, delta: Int)] = []
    for interval in intervals.values {
      events.append((interval.start, 1))
      events.append((interval.end, -1))
    }
    events.sort { a, b in a.time != b.time ? a.time < b.time : a.delta < b.delta }
    var open = 0
    var most = 0
    for (_, delta) in events {
      open += delta
      most = max(most, open)
    }
    return most
  }
}
