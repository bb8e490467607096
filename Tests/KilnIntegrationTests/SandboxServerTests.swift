import Foundation
import KilnTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One sandbox per build (issue 19): isolated tasks run in kiln's sandbox server, which
/// holds the build's namespaces; each task still gets a view, a /tmp and a PID
/// namespace of its own, and the server never outlives kiln. `KILN_SANDBOX=bwrap`
/// keeps the older way, one bubblewrap per task.
@Suite(.timeLimit(.minutes(5))) struct SandboxServerTests {
  /// The processes of the sandbox server a build in `p` started.
  static func servers(of p: TempProject) -> [Int32] {
    TempProject.processes(matching: "sandbox-server \(p.root)")
  }

  /// Eight tasks, four at a time, each listing what it sees of src/ and of /tmp after
  /// leaving a file there and waiting for the others to do the same.
  @Test(arguments: ["2", "4"]) func concurrentTasksEachSeeOnlyTheirOwnInputsAndTmp(jobs: String) throws {
    var files: [String: String] = [:]
    for name in ["a", "b", "c", "d", "e", "f", "g", "h"] { files["src/\(name).txt"] = name + "\n" }
    files["kiln.yml"] = """
      tasks:
        look:
          foreach: src/*.txt
          outputs: out/{stem}.txt
          isolate: true
          cache: false
          run: \(Fixture.quoted("echo {stem} > /tmp/mine-{stem} && sleep 0.3 && { ls src; ls /tmp; cat {in}; } > {out}"))
      """
    let p = try TempProject(files)
    let r = try p.kiln("build", "-j\(jobs)")
    #expect(r.status == 0 && r.ranCount == 8, "\(r)")
    for name in ["a", "b", "c", "d", "e", "f", "g", "h"] {
      // The workspace's folder under /tmp shows too when the workspace is there.
      let seen = (p.read("out/\(name).txt") ?? "").split(separator: "\n").map(String.init)
      let tmp = seen.filter { $0.hasPrefix("mine-") }
      #expect(seen.first == "\(name).txt" && seen.last == name, "\(name): \(seen)")
      #expect(seen.filter { $0.hasSuffix(".txt") } == ["\(name).txt"], "\(name) saw other inputs: \(seen)")
      #expect(tmp == ["mine-\(name)"], "\(name) saw another task's /tmp: \(seen)")
    }
    #expect(TempProject.waitUntil(seconds: 5) { Self.servers(of: p).isEmpty }, "the sandbox server outlived kiln")
  }

  /// Killing the server under a running task fails that task with a line saying so;
  /// kiln neither hangs nor leaves the task's processes behind.
  /// The task's sleep and the server, while either runs.
  static func left(of p: TempProject, marker: String) -> [Int32] {
    TempProject.processes(matching: "^sleep \(marker)") + servers(of: p)
  }

  /// Whether the task's sleep and the server are gone (or go within 5 s).
  static func nothingLeft(of p: TempProject, marker: String) -> Bool {
    TempProject.waitUntil(seconds: 5) { left(of: p, marker: marker).isEmpty }
  }

  /// A build of one isolated task that sleeps (`sleep MARKER`), started, once the
  /// sleep and the server run.
  static func slowBuild() throws -> (TempProject, RunningKiln, marker: String) {
    let marker = "30.\(Fixture.uniqueFraction())"
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          slow:
            outputs: o.txt
            isolate: true
            run: sleep \(marker) && touch o.txt
        """
    ])
    let running = try p.start(["build"], timeout: 60)
    let up = TempProject.waitUntil(seconds: 20) {
      !TempProject.processes(matching: "^sleep \(marker)").isEmpty && !Self.servers(of: p).isEmpty
    }
    #expect(up, "the task never started")
    return (p, running, marker)
  }

  @Test func aServerKilledMidBuildFailsTheTaskSayingSo() throws {
    let (p, running, marker) = try Self.slowBuild()
    for pid in Self.servers(of: p) { kill(pid, SIGKILL) }
    let r = running.wait()
    #expect(r.status == 1, "\(r)")
    #expect(r.output.contains("kiln's sandbox server (pid ") && r.output.contains("ended while the task was starting or running"), "\(r)")
    #expect(TempProject.waitUntil(seconds: 5) { TempProject.processes(matching: "^sleep \(marker)").isEmpty },
            "sleep \(marker) outlived its sandbox")
    #expect(!p.exists("o.txt"))
    // The next build starts a server of its own.
    try p.write("kiln.yml", "tasks:\n  quick:\n    outputs: o.txt\n    isolate: true\n    run: touch o.txt\n")
    let again = try p.kiln("build")
    #expect(again.status == 0 && p.exists("o.txt"), "\(again)")
  }

  /// Ctrl-C stops an isolated task at once (the server's process group is among the
  /// ones kiln kills), and the build ends as interrupted.
  @Test func ctrlCStopsAnIsolatedTask() throws {
    let (p, running, marker) = try Self.slowBuild()
    running.send(SIGINT)
    let r = running.wait()
    #expect(r.status == 130, "\(r)")
    #expect(Self.nothingLeft(of: p, marker: marker), "left behind: \(Self.left(of: p, marker: marker))")
  }

  /// kiln killed outright (no chance to clean up): its end of the server's socket
  /// closes, and the server ends, taking the task with it.
  @Test func nothingOfTheSandboxOutlivesAKilledKiln() throws {
    let (p, running, marker) = try Self.slowBuild()
    running.send(SIGKILL)
    _ = running.wait()
    #expect(Self.nothingLeft(of: p, marker: marker), "left behind: \(Self.left(of: p, marker: marker))")
  }

  /// What `command` writes to its stdout when run as an isolated task (the file it
  /// fills is its declared output).
  static func seenInside(_ command: String) throws -> String? {
    let p = try TempProject([
      "kiln.yml": "tasks:\n  look:\n    outputs: seen.txt\n    isolate: true\n    run: \(Fixture.quoted("{ \(command); } > seen.txt"))\n"
    ])
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    return p.read("seen.txt")
  }

  /// Tasks of one build share the server's network namespace: it has a loopback and
  /// nothing else, so neither the host's listeners nor the outside are reachable.
  @Test func onlyALoopbackOfItsOwnIsThere() throws {
    #expect(try Self.seenInside("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '") == "lo\n")
  }

  /// The command runs with no capability and cannot gain one (so it can neither leave
  /// its chroot nor mount anything), though the server is root in its namespace.
  @Test func theCommandHasNoPrivilege() throws {
    let seen = try Self.seenInside("grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs)' /proc/self/status | tr -s '\\t ' ' '")
    #expect(seen == "CapPrm: 0000000000000000\nCapEff: 0000000000000000\nCapBnd: 0000000000000000\nNoNewPrivs: 1\n")
  }

  /// Where user namespaces are refused (here: a user namespace of the test's own whose
  /// limit of nested ones is 0; kiln runs as its root, so bubblewrap needs none), the
  /// server cannot start: the task runs under bubblewrap and the build ends saying so.
  @Test func aServerThatCannotStartMeansBubblewrapAndOneWarning() throws {
    let p = try TempProject(IsolateTests.sources.merging(["kiln.yml": IsolateTests.copy(isolated: true)]) { a, _ in a })
    let out = p.home + "/fallback.out", err = p.home + "/fallback.err"
    for file in [out, err] { #expect(FileManager.default.createFile(atPath: file, contents: nil)) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
    process.arguments = ["--user", "--map-root-user", "sh", "-c",
                         "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" build", TempProject.kilnBinary]
    process.currentDirectoryURL = URL(fileURLWithPath: p.root)
    process.environment = TestEnvironment.variables(home: p.home, cache: p.cache.path, p.environment)
    process.standardOutput = FileHandle(forWritingAtPath: out)
    process.standardError = FileHandle(forWritingAtPath: err)
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    let stderr = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
    #expect(process.terminationStatus == 0, "\(stderr)")
    #expect(p.read("out/a.txt") == "ALPHA\n")
    let warnings = stderr.split(separator: "\n").filter { $0.contains("kiln's sandbox server could not start") }
    #expect(warnings.count == 1 && warnings[0].hasSuffix("isolated tasks ran under bubblewrap, one bwrap each"), "\(stderr)")
  }

  /// `KILN_SANDBOX=bwrap`: the older way still builds the same bytes.
  @Test func bubblewrapPerTaskIsStillThereWhenAsked() throws {
    let p = try TempProject(IsolateTests.sources.merging(["kiln.yml": IsolateTests.copy(isolated: true)]) { a, _ in a })
    let r = try p.kiln("build", environment: ["KILN_SANDBOX": "bwrap"])
    #expect(r.status == 0, "\(r)")
    #expect(p.read("out/a.txt") == "ALPHA\n")
  }
}
