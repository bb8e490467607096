import Foundation
import KilnTestSupport
import Testing

/// What kiln promises about the files it writes, restores and deletes (issue 12, SPEC §5),
/// checked with the real binary on real files.
@Suite struct TrustTests {
  // MARK: - Symlink outputs and modes

  @Test func aSymlinkOutputIsStoredAndRestoredAsALink() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          t:
            outputs: [out/data.txt, out/link, tree]
            run: "echo data > out/data.txt && ln -sf data.txt out/link && mkdir -p tree/sub && echo f > tree/sub/f && ln -s sub/f tree/l"
        """,
    ])
    try p.kiln("build").expectSuccess()
    let clone = try p.clone()
    try clone.kiln("build").expectSuccess()
    #expect(clone.runs("t") == 0)
    for link in ["out/link", "tree/l"] {
      let target = try FileManager.default.destinationOfSymbolicLink(atPath: clone.absolute(link))
      #expect(target == (link == "out/link" ? "data.txt" : "sub/f"), "\(link) restored as \(target)")
    }
    #expect(clone.read("out/link") == "data\n")
  }

  @Test func aSymlinkOutputLeavingTheCheckoutFailsTheTaskAndStoresNothing() throws {
    let secretDir = TempDirectory(prefix: "kiln-secret")
    let secret = secretDir.path + "/secret"
    try "TOP-SECRET-\(Fixture.uniqueFraction())\n".write(toFile: secret, atomically: true, encoding: .utf8)
    chmod(secret, 0o600)
    try String(contentsOfFile: secret, encoding: .utf8).write(toFile: secretDir.path + "/leak", atomically: true, encoding: .utf8)
    for (output, command) in [("leak", "ln -sf \(secret) leak"), ("up", "ln -sf ../../../\(secretDir.path) up"),
                              ("d/leak", "rmdir d && ln -s \(secretDir.path) d")] {
      let p = try TempProject([
        "kiln.yml": "tasks:\n  t:\n    outputs: [\(output)]\n    run: \(Fixture.quoted(command))\n",
      ])
      let result = try p.kiln("build")
      #expect(result.status == 1, "\(output): \(result)")
      #expect(result.output.contains("outside the workspace"), "\(output): \(result)")
      let cached = p.cache.path
      let stored = (FileManager.default.enumerator(atPath: cached)?.allObjects as? [String] ?? [])
        .compactMap { try? Data(contentsOf: URL(fileURLWithPath: cached + "/" + $0)) }
      #expect(!stored.contains { String(decoding: $0, as: UTF8.self).contains("TOP-SECRET") }, "\(output): the secret is in the cache")
    }
  }

  @Test func aRestoreNeverSetsSetuidSetgidOrSticky() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          t:
            outputs: [tool.sh, data.txt]
            run: "printf '#!/bin/sh\\n' > tool.sh && chmod 6755 tool.sh && echo x > data.txt && chmod 1666 data.txt"
        """,
    ])
    try p.kiln("build").expectSuccess()
    let clone = try p.clone()
    try clone.kiln("build").expectSuccess()
    #expect(clone.runs("t") == 0)
    for (file, executable) in [("tool.sh", true), ("data.txt", false)] {
      var st = stat()
      #expect(lstat(clone.absolute(file), &st) == 0)
      let mode = UInt32(st.st_mode) & 0o7777
      #expect(mode & 0o7000 == 0, "\(file) restored as \(String(mode, radix: 8))")
      #expect((mode & 0o100 != 0) == executable, "\(file) restored as \(String(mode, radix: 8))")
    }
  }

  // MARK: - Damaged entries are counted

  @Test func aDamagedEntryIsAMissThatStatsCountsAndCacheVerifyReports() throws {
    let p = try TempProject(["kiln.yml": "tasks:\n  t:\n    outputs: [out.txt]\n    run: echo x >> .runs/t && echo hello > out.txt\n"])
    try p.kiln("build").expectSuccess()
    let actions = CacheEntries.all(in: p.cache.path)
    try #require(actions.count == 1)
    var bytes = actions[0].bytes
    bytes[bytes.count - 5] ^= 0x20  // inside the inline output: "hello" would become "hEllo"
    try CacheEntries.write(bytes, for: actions[0].key, in: p.cache.path)
    let verify = try p.kiln("cache", "verify")
    #expect(verify.output.contains("1 corrupt") && verify.output.contains(CacheEntries.name(of: actions[0].key)), "\(verify)")
    #expect(CacheEntries.all(in: p.cache.path).isEmpty)
    // Damage again, then build elsewhere: a miss, counted under its own reason.
    let clone = try p.clone()
    try clone.kiln("build").expectSuccess()
    #expect(clone.runs("t") == 1)  // verify deleted the entry; this run stores a good one
    try CacheEntries.write(bytes, for: actions[0].key, in: p.cache.path)
    let other = try p.clone()
    try other.kiln("build").expectSuccess()
    #expect(other.runs("t") == 1)
    #expect(other.read("out.txt") == "hello\n")
    let stats = try other.kiln("stats")
    #expect(stats.stdout.contains("cache-entry-damaged"), "\(stats)")
  }

  @Test func aFIFOWhereAFileIsReadFailsTheTaskInsteadOfHangingTheBuild() throws {
    let p = try TempProject(["kiln.yml": "tasks:\n  t:\n    inputs: [in.fifo]\n    outputs: [o.txt]\n    run: echo x > o.txt\n"])
    #expect(mkfifo(p.absolute("in.fifo"), 0o644) == 0)
    // Before, hashing the input blocked in open(2) until the watchdog killed kiln.
    let r = try p.kiln(["build"], timeout: 30)
    #expect(r.status == 1, "\(r)")
    #expect(r.output.contains("in.fifo: not a regular file"), "\(r)")
  }

  // MARK: - Deleting only what kiln wrote

  @Test func aRemovedTasksDepfilePathHoldingAUsersFolderIsNotDeleted() throws {
    let p = try TempProject([
      "kiln.yml": "tasks:\n  t:\n    outputs: [out.txt]\n    depfile: notes\n    run: \"echo 'out.txt: kiln.yml' > notes && echo x > out.txt\"\n",
    ])
    try p.kiln("build").expectSuccess()
    p.remove("notes")
    try p.write("notes/todo.txt", "my notes\n")
    try p.write("kiln.yml", "tasks:\n  other:\n    outputs: [o.txt]\n    run: echo y > o.txt\n")
    try p.kiln("build").expectSuccess()
    #expect(p.read("notes/todo.txt") == "my notes\n")
    #expect(!p.exists("out.txt"))  // the stale output kiln wrote is gone
  }

  @Test func aRemovedTasksDepfileIsDeletedOnlyWhileItHoldsWhatTheCommandWrote() throws {
    let yml = "tasks:\n  t:\n    outputs: [out.txt]\n    depfile: t.d\n    run: \"echo 'out.txt: kiln.yml' > t.d && echo x > out.txt\"\n"
    let gone = "tasks:\n  other:\n    outputs: [o.txt]\n    run: echo y > o.txt\n"
    let p = try TempProject(["kiln.yml": yml])
    try p.kiln("build").expectSuccess()
    try p.write("kiln.yml", gone)
    try p.kiln("build").expectSuccess()
    #expect(!p.exists("t.d"))
    // Edited by the user since: kept.
    try p.write("kiln.yml", yml)
    try p.kiln("build").expectSuccess()
    try p.write("t.d", "the user's own text\n")
    try p.write("kiln.yml", gone)
    try p.kiln("build").expectSuccess()
    #expect(p.read("t.d") == "the user's own text\n")
  }

  @Test func aForgedRecordInACommittedStateDBNeverDeletesOutsideTheCheckout() throws {
    let victims = TempDirectory(prefix: "kiln-victim")
    let p = try TempProject(["kiln.yml": "tasks:\n  t:\n    outputs: [out.txt]\n    run: echo precious > out.txt\n"])
    try p.kiln("build").expectSuccess()
    // A file outside with the very content of the output (so its digest matches), an
    // absolute folder, a relative escape: all named by a record of a task since removed.
    try "precious\n".write(toFile: victims.path + "/file.txt", atomically: true, encoding: .utf8)
    try FileManager.default.createDirectory(atPath: victims.path + "/dir/inner", withIntermediateDirectories: true)
    try "keep\n".write(toFile: victims.path + "/dir/inner/x", atomically: true, encoding: .utf8)
    let relative = "../" + String(repeating: "../", count: p.root.split(separator: "/").count) + victims.path.dropFirst() + "/file.txt"
    let script = """
      import sqlite3, sys
      db = sqlite3.connect(sys.argv[1])
      (outputs,) = db.execute("SELECT outputs FROM task_records WHERE task_id = 't'").fetchone()
      digest = bytes(outputs[-16:])
      def s(t): b = t.encode(); return bytes([len(b)]) + b if len(b) < 128 else bytes([len(b) & 127 | 128, len(b) >> 7]) + b
      def out(path, kind): return s(path) + bytes([kind]) + bytes([0xa4, 0x03]) + digest
      forged = bytes([3]) + out(sys.argv[2], 0) + out(sys.argv[3], 0) + out(sys.argv[4], 1)
      row = db.execute("SELECT * FROM task_records WHERE task_id = 't'").fetchone()
      cols = [c[1] for c in db.execute("PRAGMA table_info(task_records)")]
      r = dict(zip(cols, row)); r['task_id'] = 'gone'; r['outputs'] = forged; r['declared'] = bytes([0]); r['depfile'] = sys.argv[5]
      db.execute("INSERT INTO task_records (%s) VALUES (%s)" % (",".join(r), ",".join("?" * len(r))), list(r.values()))
      db.commit()
      """
    let py = Process()
    py.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    py.environment = TestEnvironment.variables(in: victims)
    py.arguments = ["-c", script, p.absolute(".kiln/state.db"), victims.path + "/file.txt", relative,
                    victims.path + "/dir/inner", victims.path + "/dir"]
    try py.run()
    py.waitUntilExit()
    try #require(py.terminationStatus == 0)
    p.remove(".kiln/state.snapshot")
    try p.kiln("build").expectSuccess()
    #expect(FileManager.default.fileExists(atPath: victims.path + "/file.txt"))
    #expect(FileManager.default.fileExists(atPath: victims.path + "/dir/inner/x"))
    #expect(p.read("out.txt") == "precious\n")
  }

  @Test func cleanKeepsAFolderKilnDidNotMake() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          docs:
            outputs: [site]
            depfile: deps.d
            run: "mkdir -p site && echo page > site/index.html && echo 'site: kiln.yml' > deps.d"
          other:
            outputs: [gen]
            run: mkdir -p gen
        """,
      "gen/mine.txt": "the user's\n",
    ])
    try p.kiln("build", "docs").expectSuccess()
    p.remove("deps.d")
    try p.write("deps.d/notes.txt", "notes\n")
    let clean = try p.kiln("clean")
    clean.expectSuccess()
    #expect(!p.exists("site"))  // kiln made it: gone
    #expect(p.read("gen/mine.txt") == "the user's\n", "\(clean)")
    #expect(p.read("deps.d/notes.txt") == "notes\n", "\(clean)")
  }

  @Test func aForgedWorkspaceRegistryEntryNeverPointsRmAtAnotherFolder() throws {
    let victim = TempDirectory(prefix: "kiln-victim")
    try "keep\n".write(toFile: victim.path + "/x", atomically: true, encoding: .utf8)
    let p = try TempProject(["kiln.yml": "tasks:\n  t:\n    outputs: [o.txt]\n    run: echo x > o.txt\n"])
    try p.kiln("ws", "new", "w").expectSuccess()
    let meta = p.absolute(".kiln/ws-meta/w")
    let text = try String(contentsOfFile: meta, encoding: .utf8)
    #expect(text.contains("path=\(p.absolute(".kiln/ws/w"))"), "\(text)")
    try text.replacingOccurrences(of: "path=\(p.absolute(".kiln/ws/w"))", with: "path=\(victim.path)")
      .write(toFile: meta, atomically: true, encoding: .utf8)
    let rm = try p.kiln("ws", "rm", "--force", "w")
    #expect(rm.status == 2, "\(rm)")
    #expect(FileManager.default.fileExists(atPath: victim.path + "/x"), "ws rm deleted the folder a forged entry named")
  }

  // MARK: - One build per checkout

  @Test func aSecondBuildInTheSameCheckoutWaitsAndSaysForWhom() throws {
    let marker = Fixture.uniqueFraction()
    let p = try TempProject([
      "kiln.yml": "tasks:\n  a:\n    outputs: [out.txt]\n    run: sleep 1.\(marker) && echo A > out.txt\n",
      "ci.yml": "tasks:\n  b:\n    outputs: [out.txt]\n    run: echo B > out.txt\n",
    ])
    let first = try p.start(["build"])
    // Wait until the first build holds the lock (its task is running).
    var waited = 0
    while !(p.read(".kiln/lock")?.contains("kiln build") ?? false), waited < 200 {
      usleep(20_000)
      waited += 1
    }
    let second = try p.kiln("-f", "ci.yml", "build")
    let one = first.wait()
    one.expectSuccess()
    second.expectSuccess()
    #expect(second.stderr.contains("waiting for another kiln in this checkout (pid \(first.pid): kiln build)"), "\(second)")
    #expect(p.read("out.txt") == "B\n")
    // Each build file's result in the shared cache is its own command's.
    let a = try p.clone()
    try a.kiln("build").expectSuccess()
    #expect(a.read("out.txt") == "A\n")
  }

  @Test func aTaskRunningKilnInItsOwnCheckoutFailsAtOnceInsteadOfWaitingForItself() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          inner:
            outputs: [in.txt]
            run: echo x > in.txt
          outer:
            outputs: [out.txt]
            run: "\(TempProject.kilnBinary) build inner && echo y > out.txt"
        """,
    ])
    let r = try p.kiln(["build", "outer"], timeout: 60)
    #expect(r.status == 1, "\(r)")
    #expect(r.output.contains("a build cannot wait for itself"), "\(r)")
  }

  @Test func leftoversOfAKilledRestoreAreClearedAndNeverAmongTheOutputs() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          t:
            outputs: [build/out.txt]
            run: echo x > build/out.txt
          list:
            inputs: ["build/*"]
            outputs: [list.txt]
            run: echo {in} > list.txt
        """,
    ])
    try p.kiln("build").expectSuccess()
    // What a kill -9 between write and rename leaves: a dead process's temporary file
    // beside the output, and the marker of a build that never ended.
    try p.write("build/out.txt.kiln-tmp-2147483-7", "half")
    p.remove("build/out.txt")
    try p.kiln("build").expectSuccess()
    #expect(p.read("list.txt") == "build/out.txt\n", "a glob matched a temporary file")
    #expect(p.exists("build/out.txt.kiln-tmp-2147483-7"), "removed though no build was killed")
    try p.write(".kiln/unfinished", "")
    p.remove("build/out.txt")
    try p.kiln("build").expectSuccess()
    #expect(p.files(under: "build") == ["out.txt"])
    #expect(!p.exists(".kiln/unfinished"))
  }

  @Test func temporaryFilesOfKilledProcessesInTheCacheAreRemovedByGcAndVerify() throws {
    for command in [["cache", "gc", "--max-size", "1G"], ["cache", "verify"]] {
      let p = try TempProject(["kiln.yml": "tasks:\n  t:\n    outputs: [o.txt]\n    run: echo x > o.txt\n"])
      try p.kiln("build").expectSuccess()
      let folder = p.cache.path + "/blobs/a"
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
      let old = folder + "/\(String(repeating: "a", count: 32)).kiln-tmp-99999-1"
      let fresh = folder + "/\(String(repeating: "b", count: 32)).kiln-tmp-99999-2"
      for path in [old, fresh] { FileManager.default.createFile(atPath: path, contents: Data(count: 4096)) }
      try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: old)
      let r = try p.kiln(command)
      #expect(r.status == 0, "\(command): \(r)")
      #expect(!FileManager.default.fileExists(atPath: old), "\(command) kept a two-hour-old temporary file")
      #expect(FileManager.default.fileExists(atPath: fresh), "\(command) removed a file another kiln may be writing")
    }
  }

  @Test func aFolderOutputHoldingANameThatIsNotUTF8FailsItsTaskInsteadOfLosingTheFile() throws {
    let p = try TempProject([
      "kiln.yml": "tasks:\n  t:\n    outputs: [d]\n    run: \"mkdir -p d && echo a > d/a && echo b > \\\"d/x-$(printf '\\\\377')\\\"\"\n",
    ])
    let r = try p.kiln("build")
    #expect(r.status == 1, "\(r)")
    #expect(r.output.contains("not UTF-8") && r.output.contains("d/x-\\xff"), "\(r)")
  }

  // MARK: - exec and tools

  @Test func execWithNoDeclaredOutputRunsEveryTime() throws {
    let p = try TempProject(["a.c": "int main(void) { return 0; }\n"])
    for _ in 0..<3 {
      try p.kiln("exec", "--", "sh", "-c", "echo x >> .runs/cc && cc a.c -o a").expectSuccess()
    }
    #expect(p.runs("cc") == 3)
  }

  @Test func execRefusesAGlobMatchingANameThatIsNotUTF8() throws {
    let p = try TempProject(["src/a.txt": "a\n"])
    let name: [UInt8] = Array((p.root + "/src/x-").utf8) + [0xFF] + Array(".txt".utf8) + [0]
    let fd = name.withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_WRONLY | O_CREAT, 0o644) }
    try #require(fd >= 0)
    close(fd)
    let r = try p.kiln("exec", "--in", "src/*.txt", "--out", "all.txt", "--", "sh", "-c", "cat src/*.txt > all.txt")
    #expect(r.status == 2, "\(r)")
    #expect(r.stderr.contains("src/x-\\xff.txt") && r.stderr.contains("not UTF-8"), "\(r)")
  }

  @Test func aChangedToolRunsTheTaskAgainEvenWithoutKilnState() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          gen:
            tools: [gen]
            env: {PATH: "bin:/usr/bin:/bin"}
            outputs: [out.txt]
            run: echo x >> .runs/gen && gen > out.txt
        """,
      "bin/gen": "#!/bin/sh\necho v1\n",
    ], executable: ["bin/gen"])
    try p.kiln("build").expectSuccess()
    try p.write("bin/gen", "#!/bin/sh\necho v2\n", executable: true)
    p.remove(".kiln")
    let explain = try p.kiln("build", "--explain")
    explain.expectSuccess()
    #expect(p.read("out.txt") == "v2\n", "\(explain)")
    #expect(p.runs("gen") == 2)
    // And exec keys the program it runs.
    try p.write("tool.sh", "#!/bin/sh\necho one > made.txt\n", executable: true)
    try p.kiln("exec", "--out", "made.txt", "--", "./tool.sh").expectSuccess()
    try p.write("tool.sh", "#!/bin/sh\necho two > made.txt\n", executable: true)
    try p.kiln("exec", "--out", "made.txt", "--", "./tool.sh").expectSuccess()
    #expect(p.read("made.txt") == "two\n")
  }
}

private func isDirectory(_ path: String) -> Bool {
  var isDir: ObjCBool = false
  return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
}

extension KilnResult {
  /// Expects exit status 0, printing the whole run (both streams) when not.
  func expectSuccess(sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(status == 0, "\(self)", sourceLocation: sourceLocation)
  }
}
