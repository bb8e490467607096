import Foundation
import KilnTestSupport
import Testing

/// The remote cache end to end (issue 18), through the real `kiln` and `kiln-remote`
/// against real servers on 127.0.0.1: nginx (Bazel's HTTP cache protocol) and
/// buildbox-casd (REAPI). A CI checkout builds and uploads; a laptop's checkout at
/// another path with an empty local cache restores; a read-only client never writes;
/// a server that dies or is not there costs one warning and a local build.
@Suite struct RemoteCacheTests {
  /// `gen`: each src/*.txt upper-cased into out/, counted in `.runs/gen`.
  static let genTask = """
      gen:
        foreach: src/*.txt
        outputs: out/{stem}.txt
        run: echo {stem} >> .runs/gen && tr a-z A-Z < {in} > {out}

    """

  /// Two generated files, an executable that prints on stdout and stderr, and a blob
  /// over 1 MiB (REAPI's ByteStream, not a batch).
  static let project: [String: String] = [
    "kiln.yml": "tasks:\n" + genTask + """
        tool:
          inputs: out/*.txt
          outputs: bin/show
          run: \(Fixture.quoted("echo x >> .runs/tool && (echo '#!/bin/sh' && sed 's/^/echo /' {in}) > {out} && chmod +x {out} && echo says-on-stdout && echo says-on-stderr >&2"))
        big:
          inputs: [src/a.txt]
          outputs: big.bin
          run: echo x >> .runs/big && yes "$(cat src/a.txt)" | head -c 3000000 > big.bin
      """,
    "src/a.txt": "alpha\n",
    "src/b.txt": "beta\n",
  ]
  static let tasks = ["gen", "tool", "big"]

  /// The project with `remote: <url>` appended to its kiln.yml.
  static func project(remote url: String) -> [String: String] {
    var files = project
    files["kiln.yml"]! += "\nremote: \(url)\n"
    return files
  }

  @Test(arguments: RemoteProtocol.allCases)
  func aSecondCheckoutElsewhereWithAnEmptyCacheRestoresEverythingFromTheRemote(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let ci = try TempProject(Self.project(remote: server.url))
    let upload = try ci.kiln("build", environment: ["KILN_REMOTE_WRITE": "1"])
    #expect(upload.status == 0, "\(upload)")
    #expect(RemoteFacts.remoteLines(upload).isEmpty, "\(upload)")
    #expect(server.entryCount() == 4, "one entry per task instance: \(server.storedFiles())")

    let laptop = try ci.clone(sharingCache: false)
    #expect(laptop.root != ci.root && laptop.cache.path != ci.cache.path)
    let restore = try laptop.kiln("build")
    #expect(restore.status == 0, "\(restore)")
    #expect(restore.ranCount == 0, "\(restore)")
    for task in Self.tasks { #expect(laptop.runs(task) == 0, "\(task) ran: \(restore)") }
    #expect(restore.stdout.components(separatedBy: "(restored)").count - 1 == 4, "\(restore)")
    #expect(laptop.snapshot() == ci.snapshot(), "every output byte for byte")
    #expect(laptop.isExecutable("bin/show") && !laptop.isExecutable("out/a.txt"))
    #expect(restore.stdout.contains("says-on-stdout"), "the task's stdout is replayed: \(restore)")
    #expect(restore.stderr.contains("says-on-stderr"), "the task's stderr is replayed: \(restore)")
    #expect(RemoteFacts.remoteLines(restore).isEmpty, "\(restore)")

    // The reports split the hits: all 4 from the remote, big.bin's 3,000,000 bytes came down.
    // --json says where each restore came from (a third checkout, its own empty cache).
    let third = try ci.clone(sharingCache: false)
    let viaJSON = try third.kiln("build", "--json")
    let thirdSummary = try #require(try JSONSerialization.jsonObject(with: Data(viaJSON.stdout.utf8)) as? [String: Any], "\(viaJSON)")
    #expect(thirdSummary["restored"] as? Int == 4 && thirdSummary["restored_remote"] as? Int == 4, "\(viaJSON)")
    #expect((thirdSummary["tasks"] as? [[String: Any]] ?? []).compactMap { $0["from"] as? String } == ["remote", "remote", "remote", "remote"],
            "\(viaJSON)")
    let stats = try laptop.kiln("stats", "--json")
    let report = try #require(try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any], "\(stats)")
    let remote = try #require(report["remote"] as? [String: Any], "\(stats)")
    #expect(remote["restored"] as? Int == 4, "\(stats)")
    #expect((remote["bytes_down"] as? Int ?? 0) >= 3_000_000, "\(stats)")
    #expect((remote["bytes_up"] as? Int) == 0, "a reader uploads nothing: \(stats)")

    // The remote's results went into the local cache: with the server gone, deleted
    // outputs come back from there, and nothing is said about the remote.
    server.stop()
    for output in ["out", "bin", "big.bin"] { laptop.remove(output) }
    let local = try laptop.kiln("build")
    #expect(local.status == 0 && local.ranCount == 0, "\(local)")
    #expect(laptop.snapshot() == ci.snapshot())
    #expect(!local.output.contains("remote"), "\(local)")
    for output in ["out", "bin", "big.bin"] { laptop.remove(output) }
    let json = try laptop.kiln("build", "--json")
    let summary = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
    #expect(summary["restored"] as? Int == 4 && summary["restored_remote"] as? Int == 0, "\(json)")
    let froms = (summary["tasks"] as? [[String: Any]] ?? []).compactMap { $0["from"] as? String }
    #expect(froms == ["local", "local", "local", "local"], "--json says where each restore came from: \(json)")
  }

  /// Small outputs, stdout and stderr travel inside the entry as well as in the CAS
  /// (REAPI's `OutputFile.contents`, `stdout_raw`, `stderr_raw`): one round trip a
  /// task. With every blob on the server spoiled (other bytes under its name, which a
  /// read would refuse), the tasks whose bytes all fit inside their entry are still
  /// restored, stdout and stderr replayed; `big` (3 MB, its blob only) is a miss and runs.
  @Test(arguments: RemoteProtocol.allCases)
  func smallOutputsAndStdoutComeInsideTheEntry(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let ci = try TempProject(Self.project(remote: server.url))
    #expect(try ci.kiln("build", environment: ["KILN_REMOTE_WRITE": "1"]).status == 0)
    #expect(server.entryCount() == 4, "\(server.storedFiles())")
    // a.txt, b.txt, show, stdout, stderr, big.bin
    #expect(server.spoilBlobs() == 6, "\(server.storedFiles())")

    let laptop = try ci.clone(sharingCache: false)
    let r = try laptop.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(laptop.runs("gen") == 0 && laptop.runs("tool") == 0, "restored from the entries alone: \(r)")
    #expect(laptop.runs("big") == 1, "big.bin's blob is not on the server: \(r)")
    #expect(r.stdout.contains("says-on-stdout") && r.stderr.contains("says-on-stderr"), "replayed from the entry: \(r)")
    #expect(laptop.snapshot() == ci.snapshot(), "every output byte for byte")
    #expect(laptop.isExecutable("bin/show"))
  }

  /// A server that keeps an entry without the bytes inside it (it may drop what REAPI
  /// says a server need not keep): every output, stdout and stderr read from the CAS.
  @Test(arguments: RemoteProtocol.allCases)
  func anEntryWithoutItsInlinedBytesIsRestoredFromTheCAS(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let ci = try TempProject(Self.project(remote: server.url))
    #expect(try ci.kiln("build", environment: ["KILN_REMOTE_WRITE": "1"]).status == 0)
    #expect(try server.dropInlinedBytes() == 3, "gen's two entries and tool's carried bytes, big's did not: \(server.storedFiles())")

    let laptop = try ci.clone(sharingCache: false)
    let r = try laptop.kiln("build")
    #expect(r.status == 0 && r.ranCount == 0, "\(r)")
    #expect(r.stdout.contains("says-on-stdout") && r.stderr.contains("says-on-stderr"), "\(r)")
    #expect(laptop.snapshot() == ci.snapshot(), "every output byte for byte")
    #expect(RemoteFacts.remoteLines(r).isEmpty, "\(r)")
  }

  @Test(arguments: RemoteProtocol.allCases)
  func aClientWithoutWriteNeverWritesToTheRemote(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let laptop = try TempProject(Self.project)
    laptop.environment["KILN_REMOTE_CACHE"] = server.url
    let missed = try laptop.kiln("build")
    #expect(missed.status == 0 && missed.ranCount == 4, "\(missed)")
    #expect(server.storedFiles() == [], "a read-only client wrote to an empty server")

    // After CI filled it, a laptop that edited a source misses, runs, and writes nothing.
    let ci = try laptop.clone(sharingCache: false)
    #expect(try ci.kiln("build", environment: ["KILN_REMOTE_WRITE": "1"]).status == 0)
    let filled = server.storedFiles()
    #expect(server.entryCount() == 4, "\(filled)")
    let edited = try ci.clone(sharingCache: false)
    try edited.write("src/a.txt", "edited\n")
    let r = try edited.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(edited.runLines("gen") == ["a"] && edited.runs("tool") == 1 && edited.runs("big") == 1, "\(r)")
    #expect(server.storedFiles() == filled, "a read-only client wrote to the server")

    // And through the protocol: another checkout with the same edit finds none of
    // the results the read-only one made.
    let other = try edited.clone(sharingCache: false)
    let again = try other.kiln("build")
    #expect(again.status == 0, "\(again)")
    #expect(other.runLines("gen") == ["a"] && other.runs("tool") == 1 && other.runs("big") == 1, "\(again)")
    #expect(other.read("out/a.txt") == "EDITED\n")
  }

  /// `stop` kills the server by its PID (and waits until it is gone) the first time
  /// it runs in a checkout given `KILL_SERVER`; `after` then asks a dead server.
  static let dyingServerProject: [String: String] = [
    "kiln.yml": "tasks:\n" + genTask + """
        stop:
          inputs: [out/*.txt, note.txt]
          outputs: joined.txt
          run: \(Fixture.quoted("echo x >> .runs/stop && cat out/*.txt > joined.txt && if [ -n \"$KILL_SERVER\" ]; then kill -9 $KILL_SERVER; while [ -e /proc/$KILL_SERVER ] && ! grep -q '^State:.*Z' /proc/$KILL_SERVER/status; do sleep 0.01; done; fi"))
        after:
          inputs: [joined.txt]
          outputs: after.txt
          run: echo x >> .runs/after && rev joined.txt > after.txt
      """,
    "src/a.txt": "alpha\n",
    "src/b.txt": "beta\n",
    "note.txt": "one\n",
  ]

  @Test(arguments: RemoteProtocol.allCases, [false, true])
  func aServerKilledMidBuildLeavesACorrectLocalBuildAndOneWarning(_ kind: RemoteProtocol, writes: Bool) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let ci = try TempProject(Self.dyingServerProject)
    ci.environment["KILN_REMOTE_CACHE"] = server.url
    #expect(try ci.kiln("build", environment: ["KILN_REMOTE_WRITE": "1"]).status == 0)
    #expect(server.entryCount() == 4, "\(server.storedFiles())")

    // The laptop restores `gen` from the server; its own note makes `stop` run, which
    // kills the server; `after` (same key as CI's) then finds it dead.
    let laptop = try ci.clone(sharingCache: false)
    try laptop.write("note.txt", "two\n")
    var env = ["KILL_SERVER": String(server.pid)]
    if writes { env["KILN_REMOTE_WRITE"] = "1" }
    let r = try laptop.kiln("build", environment: env)
    #expect(r.status == 0, "\(r)")
    #expect(laptop.runs("gen") == 0, "restored before the server died: \(r)")
    #expect(laptop.runs("stop") == 1 && laptop.runs("after") == 1, "\(r)")
    #expect(RemoteFacts.remoteLines(r).count == 1, "exactly one warning about the remote: \(r)")
    for path in ["out/a.txt", "out/b.txt", "joined.txt", "after.txt"] {
      #expect(laptop.bytes(path) == ci.bytes(path), "\(path)")
    }
    #expect(laptop.read("after.txt") == "AHPLA\nATEB\n")
  }

  /// A fresh checkout asks about many tasks at once (16 lookups in flight, each on its
  /// own connection: no HTTP/2 multiplexing on libcurl 7.88) when `stop` kills the
  /// server: whatever was in flight or asked after (`after` always is) fails, and the
  /// build still ends right, with one warning. Which tasks were restored before the
  /// kill varies; the outputs and the single warning do not.
  @Test(arguments: RemoteProtocol.allCases)
  func aServerKilledWithManyLookupsInFlightLeavesACorrectBuildAndOneWarning(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    var files = Self.dyingServerProject
    files["kiln.yml"]! += "\n"
    for i in 0..<40 {
      files["kiln.yml"]! += "  many\(i):\n    inputs: [src/a.txt]\n    outputs: many/\(i).txt\n"
        + "    run: echo x >> .runs/many\(i) && (cat src/a.txt && echo \(i)) > many/\(i).txt\n"
    }
    let ci = try TempProject(files)
    ci.environment["KILN_REMOTE_CACHE"] = server.url
    #expect(try ci.kiln("build", environment: ["KILN_REMOTE_WRITE": "1"]).status == 0)
    // Also the build's bundle (`RemoteBundleTests`), which would answer every lookup
    // before `stop` runs: taken away, so the lookups go to the server as here.
    #expect(server.entryCount() == 45, "\(server.storedFiles())")
    try FileManager.default.removeItem(atPath: try server.entryFile(naming: "kiln-bundle"))
    #expect(server.entryCount() == 44, "\(server.storedFiles())")

    let laptop = try ci.clone(sharingCache: false)
    try laptop.write("note.txt", "two\n")
    let r = try laptop.kiln("build", "-j1", environment: ["KILL_SERVER": String(server.pid)])
    #expect(r.status == 0, "\(r)")
    #expect(laptop.runs("stop") == 1 && laptop.runs("after") == 1, "\(r)")
    for i in 0..<40 { #expect(laptop.runs("many\(i)") <= 1, "\(r)") }
    #expect(RemoteFacts.remoteLines(r).count == 1, "exactly one warning about the remote: \(r)")
    try ci.write("note.txt", "two\n")
    #expect(try ci.kiln("build").status == 0)
    #expect(laptop.snapshot() == ci.snapshot(), "every output as a build here makes it")
  }

  /// A `kiln-remote` in front of the real one that counts its starts in `log`.
  static func countingHelper(in folder: String, log: String) throws -> String {
    let real = URL(fileURLWithPath: TempProject.kilnBinary).deletingLastPathComponent().path + "/kiln-remote"
    let wrapper = folder + "/kiln-remote"
    try "#!/bin/sh\necho started >> '\(log)'\nexec '\(real)' \"$@\"\n".write(toFile: wrapper, atomically: true, encoding: .utf8)
    _ = chmod(wrapper, 0o755)
    return wrapper
  }

  @Test(arguments: RemoteProtocol.allCases)
  func aRemoteThatIsNotThereCostsOneWarningAndANullBuildNeverAsksIt(_ kind: RemoteProtocol) throws {
    let port = TestServer.freePort()
    let url = kind == .nginx ? "http://127.0.0.1:\(port)/team-cache" : "grpc://127.0.0.1:\(port)"
    let p = try TempProject(Fixture.pipeline)
    let helperLog = p.home + "/helper-starts"
    p.environment["KILN_REMOTE_CACHE"] = url
    p.environment["KILN_REMOTE_HELPER"] = try Self.countingHelper(in: p.home, log: helperLog)
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(p.runs("upper") == 2 && p.runs("all") == 1, "\(r)")
    #expect(p.read("all.txt") == "ALPHA\nBETA\n")
    #expect(RemoteFacts.remoteLines(r).count == 1, "exactly one warning about the remote: \(r)")
    #expect(r.stderrLines.count == 1, "\(r)")
    #expect((try? String(contentsOfFile: helperLog, encoding: .utf8)) == "started\n", "the helper was asked, once")

    try FileManager.default.removeItem(atPath: helperLog)
    let null = try p.kiln("build")
    #expect(null.status == 0 && null.ranCount == 0, "\(null)")
    #expect(!null.output.contains("remote"), "a null build says nothing about the remote: \(null)")
    #expect(!FileManager.default.fileExists(atPath: helperLog), "a null build started kiln-remote")
  }

  @Test(arguments: RemoteProtocol.allCases)
  func aDepfileInputWithOtherContentHereIsNotRestoredFromTheRemote(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let ci = try TempProject(Fixture.cProject)
    ci.environment["KILN_REMOTE_CACHE"] = server.url
    let upload = try ci.kiln("build", environment: ["KILN_REMOTE_WRITE": "1"])
    #expect(upload.status == 0, "\(upload)")
    #expect(server.entryCount() == 4, "\(server.storedFiles())")

    // Same a.c, same declared inputs, same remote key; a.h (found through the
    // depfile) says something else here.
    let laptop = try ci.clone(sharingCache: false)
    try laptop.write("src/a.h", "#define A_VALUE 2\n")
    let r = try laptop.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(laptop.runLines("compile") == ["a"], "only the unit whose header differs compiles: \(r)")
    #expect(laptop.runs("link") == 1, "\(r)")
    #expect(laptop.bytes("build/main.o") == ci.bytes("build/main.o"))
    #expect(laptop.bytes("build/a.o") != ci.bytes("build/a.o"))
    // The program is the one this header makes: a() + b() - 2 = 2 + 1 - 2.
    let run = try Program.run(laptop.absolute("app"), [], in: laptop.root)
    #expect(run.status == 1, "\(run)")

    // The same as a build that never saw the remote.
    let alone = try laptop.clone(sharingCache: false)
    alone.environment["KILN_REMOTE_CACHE"] = nil
    #expect(try alone.kiln("build").status == 0)
    #expect(alone.bytes("build/a.o") == laptop.bytes("build/a.o"))
  }

  @Test(arguments: RemoteProtocol.allCases)
  func nothingIsUploadedFromAFailedRunARacyRunOrAResultHoldingTheCheckoutsPath(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let ci = try TempProject([
      "kiln.yml": """
        tasks:
          ok:
            inputs: [in.txt]
            outputs: ok.txt
            run: echo x >> .runs/ok && cat in.txt > ok.txt
          fails:
            inputs: [in.txt]
            outputs: fails.txt
            run: echo x >> .runs/fails && cat in.txt > fails.txt && exit 3
          racy:
            inputs: [racy.txt]
            outputs: racy.out
            run: echo x >> .runs/racy && cat racy.txt > racy.out && echo edited-while-running >> racy.txt
          where:
            inputs: [in.txt]
            outputs: where.txt
            run: echo x >> .runs/where && pwd > where.txt
        """,
      "in.txt": "in\n",
      "racy.txt": "racy\n",
    ])
    ci.environment["KILN_REMOTE_CACHE"] = server.url
    let laptop = try ci.clone(sharingCache: false)
    let upload = try ci.kiln("build", "--keep-going", environment: ["KILN_REMOTE_WRITE": "1"])
    #expect(upload.status == 1, "`fails` fails: \(upload)")
    #expect(ci.runs("ok") == 1 && ci.runs("fails") == 1 && ci.runs("racy") == 1 && ci.runs("where") == 1, "\(upload)")
    #expect(server.entryCount() == 1, "only `ok`'s result is on the server: \(server.storedFiles())")

    // The laptop (its sources as CI had them before building) gets `ok` only.
    let r = try laptop.kiln("build", "--keep-going")
    #expect(r.status == 1, "\(r)")
    #expect(laptop.runs("ok") == 0, "\(r)")
    #expect(laptop.runs("fails") == 1 && laptop.runs("racy") == 1 && laptop.runs("where") == 1, "\(r)")
    #expect(laptop.read("where.txt") == laptop.root + "\n")
    #expect(laptop.read("racy.out") == "racy\n")
  }

  @Test func writeTrueUnderRemoteUploadsUnlessTheEnvironmentSaysZero() throws {
    guard let server = try RemoteCacheServer.start(.nginx) else { return }
    var files = Fixture.pipeline
    files["kiln.yml"]! += "\nremote:\n  url: \(server.url)\n  write: true\n"
    let developer = try TempProject(files)
    let r = try developer.kiln("build", environment: ["KILN_REMOTE_WRITE": "0"])
    #expect(r.status == 0 && r.ranCount == 3, "\(r)")
    #expect(server.storedFiles() == [], "KILN_REMOTE_WRITE=0 wins over write: true")

    let ci = try developer.clone(sharingCache: false)
    let upload = try ci.kiln("build")
    #expect(upload.status == 0 && upload.ranCount == 3, "\(upload)")
    #expect(server.entryCount() == 3, "write: true uploads: \(server.storedFiles())")
  }

  /// An empty file, a link and a folder of files: each form an entry can hold.
  static let linksProject: [String: String] = [
    "kiln.yml": """
      tasks:
        empty: {inputs: [in.txt], outputs: empty.txt, run: echo x >> .runs/empty && touch empty.txt}
        link: {inputs: [in.txt], outputs: [target.txt, alias.txt],
               run: echo x >> .runs/link && cp in.txt target.txt && ln -s target.txt alias.txt}
        tree: {inputs: [in.txt], outputs: gen,
               run: echo x >> .runs/tree && mkdir -p gen/sub && cp in.txt gen/sub/a.txt && echo b > gen/b.txt}
      """,
    "in.txt": "in\n",
  ]

  @Test(arguments: RemoteProtocol.allCases)
  func linksFoldersAndEmptyFilesComeBackFromTheRemote(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let ci = try TempProject(Self.linksProject)
    ci.environment["KILN_REMOTE_CACHE"] = server.url
    #expect(try ci.kiln("build", environment: ["KILN_REMOTE_WRITE": "1"]).status == 0)
    #expect(server.entryCount() == 3, "\(server.storedFiles())")

    let laptop = try ci.clone(sharingCache: false)
    let r = try laptop.kiln("build")
    #expect(r.status == 0 && r.ranCount == 0, "\(r)")
    #expect(laptop.runs("empty") + laptop.runs("link") + laptop.runs("tree") == 0, "\(r)")
    #expect(laptop.snapshot() == ci.snapshot())
    #expect(laptop.read("empty.txt") == "")
    let link = try FileManager.default.destinationOfSymbolicLink(atPath: laptop.absolute("alias.txt"))
    #expect(link == "target.txt", "a link, restored as a link")
  }

  /// Accepts connections (the kernel does, from its backlog) and never answers.
  static let silentServer = """
    import socket, time
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)
    while True:
        time.sleep(3600)
    """

  @Test(arguments: RemoteProtocol.allCases)
  func aServerThatNeverAnswersCostsOneWarningAfterItsTimeOut(_ kind: RemoteProtocol) throws {
    let scratch = TempDirectory(prefix: "kiln-it-silent")
    try Self.silentServer.write(toFile: scratch.path + "/silent.py", atomically: true, encoding: .utf8)
    let server = try TestServer("/usr/bin/python3", [scratch.path + "/silent.py"], scratch: scratch, port: nil)
    defer { server.stop() }
    let p = try TempProject(Fixture.pipeline)
    p.environment["KILN_REMOTE_CACHE"] = kind == .nginx ? "http://127.0.0.1:\(server.port)/x" : "grpc://127.0.0.1:\(server.port)"
    p.environment["KILN_REMOTE_TIMEOUT"] = "1"
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(p.runs("upper") == 2 && p.runs("all") == 1, "\(r)")
    #expect(p.read("all.txt") == "ALPHA\nBETA\n")
    #expect(RemoteFacts.remoteLines(r).count == 1 && r.stderrLines.count == 1, "one warning, once: \(r)")
  }
}
