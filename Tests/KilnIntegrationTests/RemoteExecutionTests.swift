import Foundation
import KilnTestSupport
import Testing

/// Remote execution end to end (issue 19), through the real `kiln` and `kiln-remote`
/// against buildbox-casd executing with buildbox-run (bubblewrap) on 127.0.0.1, its
/// input root `/` with the system folders bound read-only. Isolated tasks run on the
/// worker, every other task here; the outputs are the same bytes a local run makes; a
/// command that fails there fails the build as it would here; an endpoint that is not
/// there costs a warning and a local run.
@Suite struct RemoteExecutionTests {
  /// `upper` (isolated) upper-cases each src/*.txt and talks on stdout and stderr;
  /// `pinned` is isolated but `remote: false`; `joined` is not isolated and reads
  /// upper's outputs.
  static let project: [String: String] = [
    "kiln.yml": """
      tasks:
        upper:
          foreach: src/*.txt
          outputs: out/{stem}.txt
          isolate: true
          run: tr a-z A-Z < {in} > {out} && echo said-{stem} && echo warned-{stem} >&2
        pinned:
          inputs: [src/a.txt]
          outputs: pinned.txt
          isolate: true
          remote: false
          run: rev src/a.txt > pinned.txt
        joined:
          inputs: out/*.txt
          outputs: joined.txt
          run: cat {in} > joined.txt

      """,
    "src/a.txt": "alpha\n",
    "src/b.txt": "beta\n",
    "src/c.txt": "gamma\n",
  ]

  static func summary(_ r: KilnResult) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r)")
  }

  static func ranOn(_ summary: [String: Any]) -> [String: String] {
    var places: [String: String] = [:]
    for t in summary["tasks"] as? [[String: Any]] ?? [] {
      guard let id = t["id"] as? String, t["outcome"] as? String == "ran" else { continue }
      places[id] = t["ran_on"] as? String ?? "here"
    }
    return places
  }

  static func executingServer(_ scratch: TempDirectory) throws -> TestServer? {
    let server = try CacheServers.executingCasd(scratch)
    if server == nil {
      Issue.record("buildbox-casd, buildbox-run or bwrap is missing: `make test` extracts the first two into .build/test-tools and installs bubblewrap")
    }
    return server
  }

  @Test func isolatedTasksRunOnTheWorkerAndMakeTheBytesALocalRunMakes() throws {
    let scratch = TempDirectory(prefix: "kiln-rex")
    guard let server = try Self.executingServer(scratch) else { return }
    defer { server.stop() }
    let url = "grpc://127.0.0.1:\(server.port)"
    let remote = try TempProject(Self.project)
    let here = try remote.clone(sharingCache: false)

    let built = try remote.kiln("build", "--json", environment: ["KILN_REMOTE_EXECUTE": url])
    #expect(built.status == 0, "\(built)")
    let summary = try Self.summary(built)
    #expect(Self.ranOn(summary) == ["upper src/a.txt": "remote", "upper src/b.txt": "remote", "upper src/c.txt": "remote",
                                    "pinned": "here", "joined": "here"], "\(built)")
    #expect(summary["ran_remotely"] as? Int == 3, "\(built)")
    #expect(built.stderr.contains("warned-a"), "the worker's stderr is shown: \(built)")
    #expect(!built.stderr.contains("running it here"), "no fallback: \(built)")

    let local = try here.kiln("build")
    #expect(local.status == 0, "\(local)")
    #expect(remote.snapshot() == here.snapshot(), "every output byte for byte as a local run makes it")
    #expect(try String(contentsOfFile: remote.root + "/out/b.txt", encoding: .utf8) == "BETA\n")

    // Recorded like any run: the next build has nothing to do, and kiln stats splits the runs.
    let again = try remote.kiln("build", environment: ["KILN_REMOTE_EXECUTE": url])
    #expect(again.status == 0 && again.ranCount == 0, "\(again)")
    let stats = try remote.kiln("stats", "--json")
    let report = try #require(try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any], "\(stats)")
    let execution = try #require(report["execution"] as? [String: Any], "\(stats)")
    #expect(execution["remote"] as? Int == 3 && execution["local"] as? Int == 2, "\(stats)")
    #expect((execution["bytes_up"] as? Int ?? 0) > 0 && (execution["bytes_down"] as? Int ?? 0) > 0, "the inputs went up, the outputs came down: \(stats)")
    let text = try remote.kiln("stats")
    #expect(text.stdout.contains("3 commands ran on remote workers"), "\(text)")
    #expect(!text.stdout.contains("remote cache"), "remote execution is no remote cache: \(text)")
    let cache = try remote.kiln("cache", "stats", environment: ["KILN_REMOTE_EXECUTE": url])
    #expect(cache.status == 0 && !cache.stdout.contains("remote:"), "no remote cache to show: \(cache)")

    // The result went into the local cache: a checkout sharing it restores, nothing runs.
    let sharing = try remote.clone(sharingCache: true)
    let restored = try sharing.kiln("build", environment: ["KILN_REMOTE_EXECUTE": url])
    #expect(restored.status == 0 && restored.ranCount == 0, "\(restored)")
  }

  /// Every task of the demo marked isolated runs on the worker and writes the bytes a
  /// local build writes; the compiles (depfiles, not isolated) run here.
  @Test func theDemosIsolatedTasksRunOnTheWorkerAndWriteWhatALocalBuildWrites() throws {
    let scratch = TempDirectory(prefix: "kiln-rex-demo")
    guard let server = try Self.executingServer(scratch) else { return }
    defer { server.stop() }
    let files = try Fixture.demoFiles()
    let remote = try TempProject(files)
    let local = try TempProject(files)
    let r = try remote.kiln("build", "--json", environment: ["KILN_REMOTE_EXECUTE": "grpc://127.0.0.1:\(server.port)"])
    #expect(r.status == 0, "\(r)")
    let places = Self.ranOn(try Self.summary(r))
    let remotely = places.filter { $0.value == "remote" }.keys.sorted()
    #expect(remotely == ["archive", "link", "registry", "render templates/hexagon.tmpl", "render templates/octagon.tmpl",
                         "render templates/square.tmpl", "render templates/triangle.tmpl", "test"], "\(places)")
    #expect(places.filter { $0.key.hasPrefix("compile") }.values.allSatisfy { $0 == "here" } && places.count > remotely.count)
    let here = try local.kiln("build")
    #expect(here.status == 0, "\(here)")
    for output in ["gen/hexagon.c", "gen/registry.c", "build/libdemo.a", "bin/demo", "build/test.log"] {
      #expect(remote.bytes(output) != nil && remote.bytes(output) == local.bytes(output), "\(output) differs from a local build's")
    }
  }

  /// A command that fails on the worker because it read a file it did not declare gets
  /// the line a local isolated run gives (the local sandbox, under strace, finds it).
  @Test func anUndeclaredReadOnTheWorkerIsNamedAsHere() throws {
    let scratch = TempDirectory(prefix: "kiln-rex-undeclared")
    guard let server = try Self.executingServer(scratch) else { return }
    defer { server.stop() }
    let project = try TempProject([
      "kiln.yml": """
        tasks:
          both:
            inputs: [src/a.txt]
            outputs: out/both.txt
            isolate: true
            run: cat src/a.txt src/b.txt > out/both.txt

        """,
      "src/a.txt": "alpha\n",
      "src/b.txt": "beta\n",
    ])
    let r = try project.kiln("build", "--json", environment: ["KILN_REMOTE_EXECUTE": "grpc://127.0.0.1:\(server.port)"])
    #expect(r.status == 1, "\(r)")
    #expect(r.stderrLines.contains("kiln: task both read src/b.txt, which is not among its inputs; declare it in inputs: (isolate: true)"), "\(r)")
    #expect(!r.stderr.contains("running it here"), "\(r)")
    #expect(!project.exists("out/both.txt"))
  }

  @Test func aCommandFailingOnTheWorkerFailsTheBuildAsItWouldHere() throws {
    let scratch = TempDirectory(prefix: "kiln-rex-fail")
    guard let server = try Self.executingServer(scratch) else { return }
    defer { server.stop() }
    let project = try TempProject([
      "kiln.yml": """
        tasks:
          broken:
            inputs: [in.txt]
            outputs: out.txt
            isolate: true
            run: echo about-to-fail >&2 && exit 3

        """,
      "in.txt": "x\n",
    ])
    let r = try project.kiln("build", "--json", environment: ["KILN_REMOTE_EXECUTE": "grpc://127.0.0.1:\(server.port)"])
    #expect(r.status == 1, "\(r)")
    #expect(r.stderr.contains("about-to-fail"), "\(r)")
    #expect(!r.stderr.contains("running it here"), "the command failed, not the worker: no local rerun: \(r)")
    #expect(!FileManager.default.fileExists(atPath: project.root + "/out.txt"))
  }

  @Test func aCommandOutOfTimeOnTheWorkerTimesOutAsItWouldHere() throws {
    let scratch = TempDirectory(prefix: "kiln-rex-slow")
    guard let server = try Self.executingServer(scratch) else { return }
    defer { server.stop() }
    let project = try TempProject([
      "kiln.yml": """
        tasks:
          slow:
            inputs: [in.txt]
            outputs: out.txt
            isolate: true
            timeout: 1s
            run: sleep 30 && cp in.txt out.txt

        """,
      "in.txt": "x\n",
    ])
    let r = try project.kiln("build", environment: ["KILN_REMOTE_EXECUTE": "grpc://127.0.0.1:\(server.port)"])
    #expect(r.status == 1, "\(r)")
    #expect(r.stdout.contains("timed out") || r.stderr.contains("timed out"), "\(r)")
    #expect(!r.stderr.contains("running it here"), "the command ran out of time, not the worker: no local rerun: \(r)")
    #expect(!FileManager.default.fileExists(atPath: project.root + "/out.txt"))
  }

  @Test func anEndpointThatIsNotThereMeansAWarningAndALocalRun() throws {
    let project = try TempProject(Self.project)
    let r = try project.kiln("build", "--json", environment: ["KILN_REMOTE_EXECUTE": "grpc://127.0.0.1:\(TestServer.freePort())",
                                                              "KILN_REMOTE_CONNECT_TIMEOUT": "1"])
    #expect(r.status == 0, "\(r)")
    #expect(Set(Self.ranOn(try Self.summary(r)).values) == ["here"], "\(r)")
    let warnings = r.stderrLines.filter { $0.contains("remote execution") }
    #expect(!warnings.isEmpty && warnings.count <= 3, "one warning per task that tried, then none: \(r)")
    #expect(warnings.allSatisfy { $0.contains("running it here") }, "\(r)")
    #expect(try String(contentsOfFile: project.root + "/out/c.txt", encoding: .utf8) == "GAMMA\n")
  }
}
