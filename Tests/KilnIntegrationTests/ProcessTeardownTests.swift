#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KilnTestSupport
import Testing

/// A timeout or a Ctrl-C stops a task with everything it started, and records nothing.
@Suite struct ProcessTeardownTests {
  /// A task whose shell starts a background grandchild that would write `.runs/late`
  /// after `lateAfter` seconds, then sleeps for 30 s itself. Both sleeps carry the
  /// unique `fraction`, so `pgrep -f` finds exactly this test's processes.
  static func sleeper(fraction: String, lateAfter: Int, extra: String = "") -> String {
    """
    tasks:
      sleeper:
        outputs: out.txt
    \(extra)    run: echo x >> .runs/sleeper; if [ -f slow ]; then (sleep \(lateAfter).\(fraction); echo late > .runs/late) & sleep 30.\(fraction); fi; echo done > {out}
    """
  }

  @Test func timeoutKillsTheTaskAndItsGrandchildren() throws {
    let fraction = Fixture.uniqueFraction()
    let p = try TempProject([
      "kiln.yml": Self.sleeper(fraction: fraction, lateAfter: 3, extra: "    timeout: 1s\n"),
      "slow": "",
    ])
    let started = Date()
    let r = try p.kiln("build")
    #expect(r.status == 1, "\(r)")
    #expect(r.output.contains("timed out"), "\(r)")
    #expect(p.runs("sleeper") == 1)
    let gone = TempProject.waitUntil(seconds: 5) { TempProject.processes(matching: "\\.\(fraction)").isEmpty }
    #expect(gone, "processes left behind: \(TempProject.processes(matching: "\\.\(fraction)"))")
    // The grandchild would have written .runs/late 3 s after the start.
    let wait = 4 - Date().timeIntervalSince(started)
    if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
    #expect(!p.exists(".runs/late"))

    // Nothing was recorded: without the slow path the task runs and succeeds.
    p.remove("slow")
    let again = try p.kiln("build")
    #expect(again.status == 0, "\(again)")
    #expect(p.runs("sleeper") == 2)
  }

  /// A command kiln stops leaves no half-written output, as ninja leaves none: its
  /// declared output and depfile are removed; a file it wrote without declaring it is
  /// not kiln's and stays. `ctrlC`: SIGINT sent to kiln, else the task's time-out.
  @Test(arguments: [true, false])
  func aStoppedCommandsHalfWrittenOutputIsRemoved(ctrlC: Bool) throws {
    let fraction = Fixture.uniqueFraction()
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          writer:
            outputs: out.txt
            depfile: out.d
        \(ctrlC ? "" : "    timeout: 1s\n")    run: |
              echo x >> .runs/writer; echo 'out.txt: kiln.yml' > out.d; echo undeclared > kept.txt; echo partial > {out}; sleep 30.\(fraction); echo full >> {out}
        """,
    ])
    if ctrlC {
      let running = try p.start(["build"], timeout: 60)
      let up = TempProject.waitUntil(seconds: 20) {
        p.exists("out.txt") && !TempProject.processes(matching: "^sleep 30\\.\(fraction)").isEmpty
      }
      #expect(up, "the task never started")
      running.send(SIGINT)
      let r = running.wait()
      #expect(r.status == 130, "\(r)")
    } else {
      let r = try p.kiln("build")
      #expect(r.status == 1, "\(r)")
      #expect(r.output.contains("timed out"), "\(r)")
    }
    #expect(p.runs("writer") == 1)
    #expect(!p.exists("out.txt"), "the half-written output was left: \(p.read("out.txt") ?? "")")
    #expect(!p.exists("out.d"), "the half-written depfile was left")
    #expect(p.read("kept.txt") == "undeclared\n", "a file the task did not declare is not kiln's to remove")
    let gone = TempProject.waitUntil(seconds: 5) { TempProject.processes(matching: "\\.\(fraction)").isEmpty }
    #expect(gone)
  }

  /// The same for a batch (`batch: true`) of one item that times out: it is not split
  /// further, so what its command half-wrote is removed there.
  @Test func aLoneBatchItemThatTimesOutLeavesNoHalfWrittenOutput() throws {
    let fraction = Fixture.uniqueFraction()
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          writer:
            foreach: src/*.txt
            outputs: out/{stem}.txt
            batch: true
            timeout: 1s
            run: |
              echo x >> .runs/writer; for o in {out}; do echo partial > $o; done; sleep 30.\(fraction)
        """,
      "src/a.txt": "a\n",
    ])
    let r = try p.kiln(["build", "-j1"])
    #expect(r.status == 1, "\(r)")
    #expect(r.output.contains("timed out"), "\(r)")
    #expect(p.runs("writer") == 1)
    #expect(!p.exists("out/a.txt"), "the half-written output was left: \(p.read("out/a.txt") ?? "")")
    let gone = TempProject.waitUntil(seconds: 5) { TempProject.processes(matching: "\\.\(fraction)").isEmpty }
    #expect(gone)
  }

  /// Ctrl-C, and SIGTERM and SIGHUP as a supervisor or a closed terminal send them.
  @Test(arguments: [SIGINT, SIGTERM, SIGHUP])
  func interruptStopsEverythingAndRecordsNothing(signal: Int32) throws {
    let fraction = Fixture.uniqueFraction()
    let p = try TempProject([
      "kiln.yml": Self.sleeper(fraction: fraction, lateAfter: 3),
      "slow": "",
    ])
    let started = Date()
    let running = try p.start(["build"], timeout: 60)
    // Wait until both the task's sleep and the grandchild's sleep are running.
    let up = TempProject.waitUntil(seconds: 20) {
      !TempProject.processes(matching: "^sleep 30\\.\(fraction)").isEmpty
        && !TempProject.processes(matching: "^sleep 3\\.\(fraction)").isEmpty
    }
    #expect(up, "the task never started")
    running.send(signal)
    let r = running.wait()
    #expect(r.status == 130, "\(r)")
    let gone = TempProject.waitUntil(seconds: 5) { TempProject.processes(matching: "\\.\(fraction)").isEmpty }
    #expect(gone, "processes left behind: \(TempProject.processes(matching: "\\.\(fraction)"))")
    let wait = 4 - Date().timeIntervalSince(started)
    if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
    #expect(!p.exists(".runs/late"))
    #expect(p.runs("sleeper") == 1)

    p.remove("slow")
    let again = try p.kiln("build")
    #expect(again.status == 0, "\(again)")
    #expect(p.runs("sleeper") == 2)
    #expect(p.read("out.txt") == "done\n")
  }
}
