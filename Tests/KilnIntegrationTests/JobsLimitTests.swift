import Foundation
import KilnTestSupport
import Testing

/// `-j N` bounds the task commands running at once (SPEC: the build's own limit, under
/// the machine's). Eight independent tasks, each a `ConcurrencyProbe`d command: with
/// `-j N` no command ever sees more than N running, and N of them do meet. The
/// machine's slots (`KILN_MAX_JOBS`) and memory reserve are set so they never bind.
@Suite struct JobsLimitTests {
  static let taskCount = 8

  static func project(_ probe: ConcurrencyProbe) throws -> TempProject {
    let command = "echo {stem} >> .runs/work && " + probe.shell(id: "{stem}") + " && cp {in} {out}"
    return try TempProject(Fixture.independentTasks(count: taskCount, command: command) { "task \($0)\n" })
  }

  @Test(arguments: [1, 2, 3])
  func dashJBoundsTheRunningTasks(_ jobs: Int) throws {
    let probe = ConcurrencyProbe(target: jobs)
    let p = try Self.project(probe)
    let r = try p.kiln(["build", "-j\(jobs)", "--json"], environment: ["KILN_MAX_JOBS": "16", "KILN_MEM_RESERVE": "1K"])
    #expect(r.status == 0, "\(r)")
    #expect(WorkspaceTests.summary(r)?["ran"] as? Int == Self.taskCount, "\(r)")

    let stems = (1...Self.taskCount).map { "t\($0)" }
    #expect(p.runLines("work").sorted() == stems, "each command ran exactly once")
    #expect(probe.runsPerID == Dictionary(uniqueKeysWithValues: stems.map { ($0, 1) }))
    for i in 1...Self.taskCount { #expect(p.read("out/t\(i).txt") == "task \(i)\n") }

    #expect(probe.mostSeen <= jobs, "-j\(jobs), yet a command saw \(probe.mostSeen) running: \(probe.notes())")
    #expect(probe.mostSeen == jobs, "-j\(jobs) with \(Self.taskCount) independent tasks never ran \(jobs) at once")
    #expect(probe.wasReached)
  }
}
