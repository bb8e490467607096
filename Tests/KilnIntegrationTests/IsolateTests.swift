import Foundation
import KilnTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `isolate: true`: the task runs in bubblewrap's sandbox holding only its declared
/// inputs, tools and the system's programs, with a private /tmp and no network; what
/// it writes reaches the workspace only as its declared outputs; an undeclared read
/// fails it with a line naming the path. Isolated commands cannot append to `.runs/`
/// (not among their outputs), so runs are counted from kiln's own summary line.
@Suite(.timeLimit(.minutes(5))) struct IsolateTests {
  /// One task copying src/a.txt to out/a.txt, isolated or not.
  static func copy(isolated: Bool) -> String {
    """
    tasks:
      copy:
        inputs: [src/a.txt]
        outputs: out/a.txt
        \(isolated ? "isolate: true" : "cache: true")
        run: tr a-z A-Z < src/a.txt > out/a.txt
    """
  }

  static let sources = ["src/a.txt": "alpha\n", "src/b.txt": "beta\n"]

  @Test func declaredInputsBuildTheSameBytesAsAPlainRun() throws {
    let p = try TempProject(Self.sources.merging(["kiln.yml": Self.copy(isolated: true)]) { a, _ in a })
    let isolated = try p.kiln("build")
    #expect(isolated.status == 0, "\(isolated)")
    let inSandbox = p.bytes("out/a.txt")
    #expect(inSandbox == Array("ALPHA\n".utf8))
    #expect(p.files(under: ".kiln/sandbox").isEmpty, "the scratch folders are gone: \(p.files(under: ".kiln"))")

    try p.write("kiln.yml", Self.copy(isolated: false))
    let plain = try p.kiln("build")
    #expect(plain.status == 0, "\(plain)")
    #expect(plain.ranCount == 1, "not isolated is another key: the task ran again, \(plain)")
    #expect(p.bytes("out/a.txt") == inSandbox)
  }

  /// Every demo task marked `isolate: true` writes what it writes without the sandbox.
  @Test func theDemosIsolatedTasksWriteWhatAPlainRunWrites() throws {
    let files = try Fixture.demoFiles()
    let buildFile = try #require(files["kiln.yml"])
    let marked = buildFile.components(separatedBy: "\n    isolate: true\n").count - 1
    #expect(marked >= 5, "the demo marks its hermetic tasks")
    let isolated = try TempProject(files)
    let plain = try TempProject(files.merging(["kiln.yml": buildFile.replacingOccurrences(of: "\n    isolate: true\n", with: "\n")]) { _, b in b })
    for project in [isolated, plain] {
      let r = try project.kiln("build")
      #expect(r.status == 0, "\(r)")
    }
    let outputs = ["gen/hexagon.c", "gen/octagon.c", "gen/square.c", "gen/triangle.c", "gen/registry.c",
                   "build/libdemo.a", "bin/demo", "build/test.log"]
    for output in outputs {
      #expect(isolated.bytes(output) != nil, "\(output) was built")
      #expect(isolated.bytes(output) == plain.bytes(output), "\(output) differs from a plain run's")
    }
  }

  /// In kiln's sandbox server and in bubblewrap's way (`KILN_SANDBOX=bwrap`) alike.
  @Test(arguments: ["server", "bwrap"]) func anUndeclaredReadFailsTheTaskNamingThePath(sandbox: String) throws {
    let task = """
      tasks:
        both:
          inputs: [src/a.txt]
          outputs: out/both.txt
          ISOLATE
          run: cat src/a.txt src/b.txt > out/both.txt
      """
    let p = try TempProject(Self.sources.merging(["kiln.yml": task.replacingOccurrences(of: "ISOLATE", with: "isolate: true")]) { a, _ in a })
    let r = try p.kiln("build", environment: ["KILN_SANDBOX": sandbox])
    #expect(r.status == 1, "\(r)")
    let line = "kiln: task both read src/b.txt, which is not among its inputs; declare it in inputs: (isolate: true)"
    #expect(r.stderrLines.contains(line), "\(r)")
    #expect(!r.stderr.contains("src/a.txt,"), "a declared input is not named: \(r)")
    #expect(!p.exists("out/both.txt"), "no partial output")

    // The same command outside the sandbox reads src/b.txt and passes.
    try p.write("kiln.yml", task.replacingOccurrences(of: "ISOLATE", with: "cache: true"))
    let plain = try p.kiln("build")
    #expect(plain.status == 0, "\(plain)")
    #expect(p.read("out/both.txt") == "alpha\nbeta\n")
  }

  @Test func theNetworkIsNotReachableInside() throws {
    let (fd, port) = TestServer.listening()
    defer { close(fd) }
    let task = """
      tasks:
        call:
          outputs: called.txt
          ISOLATE
          run: bash -c 'echo hi > /dev/tcp/127.0.0.1/\(port)' && echo reached > called.txt
      """
    let p = try TempProject(["kiln.yml": task.replacingOccurrences(of: "ISOLATE", with: "isolate: true")])
    let inside = try p.kiln("build")
    #expect(inside.status == 1, "\(inside)")
    #expect(!p.exists("called.txt"))

    try p.write("kiln.yml", task.replacingOccurrences(of: "ISOLATE", with: "cache: true"))
    let outside = try p.kiln("build")
    #expect(outside.status == 0, "the listener is reachable outside: \(outside)")
    #expect(p.read("called.txt") == "reached\n")
  }

  @Test func tmpIsPrivate() throws {
    let name = "/tmp/kiln-isolate-\(getpid())-\(Fixture.uniqueFraction())"
    #expect(FileManager.default.createFile(atPath: name + "-host", contents: Data("host\n".utf8)))
    defer {
      unlink(name + "-host")
      unlink(name + "-task")
    }
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          tmp:
            outputs: seen.txt
            isolate: true
            run: \(Fixture.quoted("{ test -e \(name)-host && echo host-visible || echo host-hidden; } > seen.txt && echo task > \(name)-task && cat \(name)-task >> seen.txt"))
        """
    ])
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(p.read("seen.txt") == "host-hidden\ntask\n")
    #expect(!FileManager.default.fileExists(atPath: name + "-task"), "the task's /tmp file stayed in its sandbox")
  }

  @Test func writesOutsideTheDeclaredOutputsDoNotReachTheWorkspace() throws {
    var files = Self.sources
    files["out/keep.txt"] = "the user's\n"
    files["kiln.yml"] = """
      tasks:
        spill:
          inputs: [src/a.txt]
          outputs: out/a.txt
          isolate: true
          run: cp src/a.txt out/a.txt && echo x > out/extra.txt && echo x > stray.txt && echo x > src/new.txt && rm -f out/keep.txt src/b.txt
      """
    let p = try TempProject(files)
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(p.read("out/a.txt") == "alpha\n")
    for path in ["out/extra.txt", "stray.txt", "src/new.txt"] {
      #expect(!p.exists(path), "\(path) was written outside the declared outputs")
    }
    #expect(p.read("out/keep.txt") == "the user's\n", "a file kiln did not make is left alone")
    #expect(p.read("src/b.txt") == "beta\n")
  }

  @Test func isolatedAndPlainRunsHaveTheirOwnCacheEntries() throws {
    let p = try TempProject(Self.sources.merging(["kiln.yml": Self.copy(isolated: false)]) { a, _ in a })
    #expect(try p.kiln("build").ranCount == 1)
    // Isolated: a plain run's entry is not its result.
    try p.write("kiln.yml", Self.copy(isolated: true))
    let isolated = try p.kiln("build")
    #expect(isolated.status == 0 && isolated.ranCount == 1, "\(isolated)")
    // Each is restored from its own entry.
    for isolate in [false, true] {
      try p.write("kiln.yml", Self.copy(isolated: isolate))
      let r = try p.kiln("build")
      #expect(r.status == 0 && r.ranCount == 0 && r.stdout.contains(" 1 restored"), "isolate \(isolate): \(r)")
      #expect(p.read("out/a.txt") == "ALPHA\n")
    }
    // Deleted, an isolated task's output comes back from the cache like any other.
    p.remove("out")
    let restored = try p.kiln("build")
    #expect(restored.ranCount == 0 && restored.stdout.contains(" 1 restored"), "\(restored)")
    #expect(p.read("out/a.txt") == "ALPHA\n")
  }

  @Test func theWorkspaceIsAtItsRealPathAndDirIsTheWorkingFolder() throws {
    let p = try TempProject([
      "web/in.txt": "page\n",
      "kiln.yml": """
        tasks:
          page:
            dir: web
            inputs: [web/in.txt]
            outputs: [web/out.txt, web/where.txt]
            isolate: true
            run: cat in.txt > out.txt && pwd > where.txt
        """,
    ])
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(p.read("web/out.txt") == "page\n")
    #expect(p.read("web/where.txt") == p.root + "/web\n")
  }

  @Test func aBatchRunsInOneSandboxHoldingAllItsItems() throws {
    let p = try TempProject([
      "src/a.txt": "alpha\n", "src/b.txt": "beta\n", "src/c.txt": "gamma\n",
      "kiln.yml": """
        tasks:
          upper:
            foreach: src/*.txt
            outputs: out/{stem}.txt
            batch: true
            isolate: true
            run: \(Fixture.quoted("for f in {in}; do tr a-z A-Z < $f > out/$(basename $f); done"))
        """,
    ])
    let r = try p.kiln("build", "-j1")
    #expect(r.status == 0 && r.ranCount == 3, "\(r)")
    #expect(p.read("out/a.txt") == "ALPHA\n" && p.read("out/b.txt") == "BETA\n" && p.read("out/c.txt") == "GAMMA\n")
    #expect(p.files(under: ".kiln/sandbox").isEmpty)
  }

  /// A time-out kills bubblewrap's process group; the sandbox's own processes (in a
  /// PID namespace, in a session of their own) die with it: nothing is left running.
  @Test func aTimedOutIsolatedTaskLeavesNoProcessBehind() throws {
    let marker = "30.\(Fixture.uniqueFraction())"
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          slow:
            outputs: o.txt
            isolate: true
            timeout: 1s
            run: sleep \(marker) && touch o.txt
        """
    ])
    let r = try p.kiln("build")
    #expect(r.status == 1 && r.output.contains("timed out"), "\(r)")
    #expect(TempProject.waitUntil(seconds: 5) { TempProject.processes(matching: "sleep " + marker).isEmpty },
            "sleep \(marker) still runs")
    #expect(p.files(under: ".kiln/sandbox").isEmpty)
  }

  /// A folder of links to the programs named, as a PATH that has nothing else.
  static func path(with programs: [String], in p: TempProject) throws -> String {
    let folder = p.home + "/bin"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    for program in programs {
      let found = try #require(["/usr/bin/", "/bin/"].map { $0 + program }.first { FileManager.default.isExecutableFile(atPath: $0) })
      try FileManager.default.createSymbolicLink(atPath: folder + "/" + program, withDestinationPath: found)
    }
    return folder
  }

  /// Bubblewrap's way (`KILN_SANDBOX=bwrap`, or where kiln's sandbox server cannot
  /// start) needs bwrap on PATH.
  @Test func withoutBubblewrapTheTaskFailsSayingWhatToInstall() throws {
    let p = try TempProject(Self.sources.merging(["kiln.yml": Self.copy(isolated: true)]) { a, _ in a })
    let path = try Self.path(with: ["sh", "tr", "cat", "strace"], in: p)
    let r = try p.kiln("build", environment: ["PATH": path, "KILN_SANDBOX": "bwrap"])
    #expect(r.status == 1, "\(r)")
    let says = r.output.split(separator: "\n").filter { $0.contains("apt-get install bubblewrap") }
    #expect(says.count == 1, "\(r)")
    #expect(!p.exists("out/a.txt"), "never run outside the sandbox")
  }

  /// bubblewrap that cannot make a sandbox (user namespaces disabled) says so on its
  /// first line and exits 1 before the command starts: the task fails with that line.
  @Test func whenBubblewrapCannotMakeTheSandboxTheTaskFailsWithItsLine() throws {
    let p = try TempProject(Self.sources.merging(["kiln.yml": Self.copy(isolated: true)]) { a, _ in a })
    let path = try Self.path(with: ["sh", "tr", "cat"], in: p)
    let refusal = "bwrap: No permissions to creating new namespace, likely because the kernel does not allow non-privileged user namespaces."
    try p.write(p.home + "/bin/bwrap", "#!/bin/sh\necho \(Fixture.quoted(refusal)) >&2\nexit 1\n", executable: true)
    let r = try p.kiln("build", environment: ["PATH": path, "KILN_SANDBOX": "bwrap"])
    #expect(r.status == 1, "\(r)")
    #expect(r.output.contains("isolate: true: bubblewrap could not make the sandbox: " + refusal), "\(r)")
    #expect(!r.output.contains("install strace"), "not taken for the command's own failure: \(r)")
    #expect(!p.exists("out/a.txt"))
  }

  @Test func withoutStraceAFailureSaysWhatToInstall() throws {
    let p = try TempProject(Self.sources.merging(["kiln.yml": """
      tasks:
        both:
          inputs: [src/a.txt]
          outputs: both.txt
          isolate: true
          run: /bin/cat src/a.txt src/b.txt > both.txt
      """]) { a, _ in a })
    let path = try Self.path(with: ["bwrap"], in: p)
    let r = try p.kiln("build", environment: ["PATH": path])
    #expect(r.status == 1, "\(r)")
    #expect(r.stderr.contains("install strace (apt-get install strace)"), "\(r)")
    #expect(!r.stderr.contains("read src/b.txt"), "\(r)")
  }
}
