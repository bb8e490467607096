import KilnCore
import KilnEngine
import KilnHash
import KilnStore
import KilnSystem
import KilnTestSupport
import Testing

/// Everything read from the cache is untrusted input (SPEC §5): an action entry decides
/// nothing about where a restore writes, and a damaged one is a miss, never an output.
@Suite struct CacheEntryTrustTests {
  static let task = TaskInstance(id: TaskID(task: "t"), command: "echo hello > out/t.txt", outputs: ["out/t.txt"])

  /// The only action file in the harness's cache.
  static func actionFile(_ h: EngineHarness) throws -> String {
    let files = h.fileSystem.allFiles(under: h.cacheRoot + "/actions")
    try #require(files.count == 1, "expected one action file, found \(files)")
    return files[0]
  }

  /// Builds once (stores), then deletes the output so the next build must restore.
  static func storedHarness() async throws -> EngineHarness {
    let h = try EngineHarness()
    #expect(try await h.build([task]).ran.count == 1)
    try h.fileSystem.remove("/ws/out/t.txt")
    h.later()
    return h
  }

  /// Rewrites the stored entry through `change`, with a valid checksum: what a user who
  /// can write the shared cache can do.
  static func forge(_ h: EngineHarness, _ change: (inout ActionEntry) -> Void) throws {
    let file = try actionFile(h)
    var list = try ActionCache.decode(try h.fileSystem.read(file))
    change(&list[0])
    h.fileSystem.write(file, ActionCache.encode(list))
  }

  @Test func anEntryNamingAPathOutsideTheDeclaredOutputsIsAMissAndWritesNothingThere() async throws {
    for victim in ["../victim", "/victim", "out/../../victim", "out/t.txt/../../victim", "other.txt"] {
      let h = try await Self.storedHarness()
      try Self.forge(h) { entry in
        let digest = entry.outputs[0].digest
        entry.outputs.append(OutputEntry(path: victim, kind: .file, permissions: 0o644, digest: digest))
      }
      let rebuilt = try await h.build([Self.task])
      #expect(rebuilt.ran == ["echo hello > out/t.txt"], "entry listing \(victim)")
      #expect(rebuilt.result.reports.first?.reasons.contains(.cacheEntryDamaged) == true)
      #expect(!h.fileSystem.exists("/victim") && !h.fileSystem.exists("/ws/other.txt"), "\(victim) was written")
      #expect(h.text("out/t.txt") == "hello")
    }
  }

  @Test func anEntryWhoseOutputsDifferFromTheDeclaredOnesIsAMiss() async throws {
    let forgeries: [(String, (inout ActionEntry) -> Void)] = [
      ("output renamed", { $0.outputs[0].path = "out/t.txu" }),
      ("declared renamed", { $0.declaredOutputs = ["out/x.txt"]; $0.outputs[0].path = "out/x.txt" }),
      ("output dropped", { $0.outputs = [] }),
      ("output twice", { $0.outputs.append($0.outputs[0]) }),
      ("duration not a number", { $0.duration = .nan }),
      ("duration negative", { $0.duration = -1 }),
      ("nested under a file", {
        $0.outputs.append(OutputEntry(path: "out/t.txt/x", kind: .file, permissions: 0o644, digest: $0.outputs[0].digest))
      }),
      ("link leaving the workspace", {
        let target = Array("../../etc/passwd".utf8)
        $0.outputs[0].kind = .symlink
        $0.outputs[0].digest = Hasher.digest(target)
        $0.inline[Hasher.digest(target)] = target
      }),
    ]
    for (what, change) in forgeries {
      let h = try await Self.storedHarness()
      try Self.forge(h, change)
      let rebuilt = try await h.build([Self.task])
      #expect(rebuilt.ran == ["echo hello > out/t.txt"], "\(what): restored anyway")
      #expect(h.text("out/t.txt") == "hello", "\(what)")
      #expect(h.fileSystem.stat("/ws/out/t.txu") == nil && h.fileSystem.stat("/ws/out/x.txt") == nil, "\(what)")
    }
  }

  @Test func everySingleChangedByteOfAnEntryIsAMissThatDeletesIt() async throws {
    let h = try await Self.storedHarness()
    let file = try Self.actionFile(h)
    let good = try h.fileSystem.read(file)
    for offset in good.indices {
      var bad = good
      bad[offset] ^= 0x01
      h.fileSystem.write(file, bad)
      try? h.fileSystem.remove("/ws/out/t.txt")
      h.later()
      let rebuilt = try await h.build([Self.task])
      if offset < ActionCache.magic.count {
        // The magic: another format, or not an entry; a miss either way.
        #expect(rebuilt.ran.count == 1, "byte \(offset)")
      } else {
        #expect(rebuilt.ran.count == 1, "byte \(offset): restored from a damaged entry")
        #expect(rebuilt.result.reports.first?.reasons.contains(.cacheEntryDamaged) == true, "byte \(offset)")
      }
      #expect(h.text("out/t.txt") == "hello", "byte \(offset)")
      // The run stored a fresh, good entry in place of the damaged one.
      #expect(try h.fileSystem.read(file) == good, "byte \(offset)")
    }
  }

  @Test func aRestoreKeepsOnlyTheExecutableBitOfAStoredMode() async throws {
    for (stored, executable) in [(UInt32(0o4755), true), (0o6777, true), (0o1666, false), (0o644, false)] {
      let h = try await Self.storedHarness()
      try Self.forge(h) { $0.outputs[0].permissions = stored }
      let rebuilt = try await h.build([Self.task])
      #expect(rebuilt.ran == [], "mode \(String(stored, radix: 8))")
      let mode = h.fileSystem.stat("/ws/out/t.txt")?.permissions
      #expect(mode == FileMode.restored(executable: executable), "mode \(String(stored, radix: 8)) restored as \(String(mode ?? 0, radix: 8))")
      #expect(mode.map { $0 & 0o7000 } == 0)
    }
  }

  @Test func cacheVerifyDropsDamagedAndForgedEntries() async throws {
    let h = try await Self.storedHarness()
    let maintenance = CacheMaintenance(root: h.cacheRoot, fileSystem: h.fileSystem)
    #expect(maintenance.verify().corrupt.isEmpty)
    try Self.forge(h) { $0.outputs[0].path = "../escape" }
    #expect(maintenance.verify().corrupt.count == 1)
    #expect(h.fileSystem.allFiles(under: h.cacheRoot + "/actions").isEmpty)
    _ = try await h.build([Self.task])
    let file = try Self.actionFile(h)
    var bytes = try h.fileSystem.read(file)
    bytes[bytes.count - 3] ^= 0x40
    h.fileSystem.write(file, bytes)
    #expect(maintenance.verify().corrupt == [file])
  }
}
