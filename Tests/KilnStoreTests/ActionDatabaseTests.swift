import Foundation
import KilnCore
import KilnHash
import KilnStore
import KilnSystem
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The action entries' database (`<cache>/actions.db`, issue 16): every row verifies
/// itself, damage of a row or of the file is a miss and never a crash, and writers in
/// many connections at once (one per kiln process) lose nothing and corrupt nothing.
@Suite struct ActionDatabaseTests {
  func tempDir() -> String {
    let dir = NSTemporaryDirectory() + "kiln-adb-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
  }

  static func entry(_ i: Int, header: String = "h.h") -> ActionEntry {
    let bytes = Array("output \(i)\n".utf8)
    let digest = Hasher.digest(bytes)
    return ActionEntry(discovered: [PathDigest(header, Hasher.digest("\(header) \(i)"))],
                       outputs: [OutputEntry(path: "out.txt", kind: .file, permissions: 0o644, digest: digest)],
                       declaredOutputs: ["out.txt"], stdout: Array("printed \(i)".utf8), stderr: [], duration: Double(i),
                       inline: [digest: bytes])
  }

  static func cache(_ dir: String) -> ActionCache { ActionCache.shared(root: dir, mode: 0o644) }

  @Test func entriesRoundTripNewestFirstAndAtMostEight() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cache = Self.cache(dir)
    let key = Hasher.digest("key")
    for i in 0..<10 { try cache.store(Self.entry(i), for: key) }
    let entries = cache.entries(for: key)
    #expect(entries.count == ActionCache.maxEntries)
    #expect(entries.first == Self.entry(9))
    #expect(cache.entries(for: Hasher.digest("other")).isEmpty)
    // Another connection (another process) sees the same, and nothing but one file was made.
    #expect(Self.cache(dir).entries(for: key) == entries)
    #expect(!FileManager.default.fileExists(atPath: dir + "/actions"))
    #expect(FileManager.default.fileExists(atPath: dir + "/" + ActionDatabase.fileName))
  }

  /// Entries stored together (a remote restore's hits): each under its key, a key named
  /// twice keeps both (the second merged with the first, as two stores would).
  @Test func entriesStoredTogetherLandAsStoredOneByOne() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cache = Self.cache(dir)
    let first = Hasher.digest("first"), second = Hasher.digest("second")
    try cache.store([(Self.entry(0), first), (Self.entry(1), second), (Self.entry(2), first)])
    #expect(cache.entries(for: first) == [Self.entry(2), Self.entry(0)])
    #expect(cache.entries(for: second) == [Self.entry(1)])
    // Another connection (another process) sees them; the one-file layout stores them alike.
    #expect(Self.cache(dir).entries(for: first) == [Self.entry(2), Self.entry(0)])
    let files = ActionCache(root: dir + "/files", fileSystem: LocalFileSystem())
    try files.store([(Self.entry(0), first), (Self.entry(1), second), (Self.entry(2), first)])
    #expect(files.entries(for: first) == [Self.entry(2), Self.entry(0)] && files.entries(for: second) == [Self.entry(1)])
  }

  /// Looking up, marking used and deleting in a cache with no database is a miss that
  /// makes nothing: the file is made by the first store (a cold build's first command
  /// need not wait for it).
  @Test func onlyAStoreCreatesTheDatabase() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cache = Self.cache(dir)
    let key = Hasher.digest("key")
    let file = dir + "/" + ActionDatabase.fileName
    #expect(cache.entries(for: key).isEmpty)
    let storage = ActionDatabase(cacheRoot: dir)
    storage.touch(key)
    storage.remove(key)
    storage.remove([key])
    #expect(storage.rows().isEmpty)
    #expect(storage.failure == nil)
    #expect(!FileManager.default.fileExists(atPath: file))
    try cache.store(Self.entry(1), for: key)
    #expect(FileManager.default.fileExists(atPath: file))
    // The same connection (it missed before the file existed) and a new one both find it.
    #expect(cache.entries(for: key) == [Self.entry(1)])
    #expect(Self.cache(dir).entries(for: key) == [Self.entry(1)])
    #expect(storage.rows().count == 1)
  }

  @Test func aDamagedTruncatedOrEmptyRowIsAMissAndIsDeleted() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let database = ActionDatabase(cacheRoot: dir)
    let cache = ActionCache(root: dir, storage: database)
    let good = ActionCache.encode([Self.entry(1)])
    var flipped = good
    flipped[flipped.count - 4] ^= 0x01
    let damages: [(String, [UInt8])] = [
      ("one bit flipped", flipped), ("truncated", Array(good.prefix(good.count - 3))),
      ("only the magic", ActionCache.magic), ("empty", []), ("garbage", Array("not an entry at all".utf8)),
      ("a wrong digest", ActionCache.magic + [UInt8](repeating: 0, count: 16) + Array(good.dropFirst(24))),
    ]
    for (what, bytes) in damages {
      let key = Hasher.digest(what)
      try database.update(key) { _ in bytes }
      let found = cache.lookup(key)
      #expect(found.entries.isEmpty && found.damaged, "\(what)")
      #expect(database.bytes(for: key) == nil, "\(what): deleted")
      // A store after the damage keeps only the new entry.
      try database.update(key) { _ in bytes }
      try cache.store(Self.entry(2), for: key)
      #expect(cache.entries(for: key) == [Self.entry(2)], "\(what)")
    }
  }

  @Test func anotherVersionsEncodingIsAMissAndLeftAlone() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let database = ActionDatabase(cacheRoot: dir)
    let key = Hasher.digest("k")
    let other = Array("KILNACT9".utf8) + [UInt8](repeating: 7, count: 40)
    try database.update(key) { _ in other }
    let found = ActionCache(root: dir, storage: database).lookup(key)
    #expect(found.entries.isEmpty && !found.damaged)
    #expect(database.bytes(for: key) == other)
  }

  @Test func aDamagedDatabaseFileIsAMissMovedAsideAndStartedAnew() throws {
    for damage in ["garbage", "truncated", "zeroed header"] {
      let dir = tempDir()
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let key = Hasher.digest("k")
      do {
        let cache = Self.cache(dir)
        for i in 0..<50 { try cache.store(Self.entry(i, header: "h\(i).h"), for: Hasher.digest("\(i)")) }
        try cache.store(Self.entry(1), for: key)
      }
      // Checkpointed into the main file, then the file damaged (the WAL and index gone).
      let path = dir + "/" + ActionDatabase.fileName
      _ = try? Database(path: path).execute("PRAGMA wal_checkpoint(TRUNCATE)")
      for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
      var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
      switch damage {
      case "garbage": for i in stride(from: 0, to: bytes.count, by: 7) { bytes[i] ^= 0x5A }
      case "truncated": bytes = Array(bytes.prefix(bytes.count / 3 + 100))
      default: for i in 0..<100 { bytes[i] = 0 }
      }
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      let cache = Self.cache(dir)
      // Whatever SQLite makes of it: a miss or the right entry, never a crash or another entry.
      let found = cache.entries(for: key)
      #expect(found.isEmpty || found == [Self.entry(1)], "\(damage): \(found)")
      for i in 0..<50 {
        let other = cache.entries(for: Hasher.digest("\(i)"))
        #expect(other.isEmpty || other == [Self.entry(i, header: "h\(i).h")], "\(damage): entry \(i)")
      }
      // Stores go on working (into a new database when the old one was moved aside).
      try cache.store(Self.entry(3), for: Hasher.digest("after"))
      #expect(Self.cache(dir).entries(for: Hasher.digest("after")) == [Self.entry(3)], "\(damage)")
    }
  }

  /// Many connections (as many kiln processes) storing at once, several under one key:
  /// every store lands (one transaction each: read, merge, write), and every row verifies.
  @Test func concurrentWritersLoseNoEntryAndCorruptNone() async throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let shared = Hasher.digest("shared")
    let writers = 8
    let perWriter = 40
    try await withThrowingTaskGroup(of: Void.self) { group in
      for w in 0..<writers {
        group.addTask {
          let cache = Self.cache(dir)  // its own connection
          for i in 0..<perWriter {
            try cache.store(Self.entry(w * 1000 + i), for: Hasher.digest("w\(w) i\(i)"))
            if i % 10 == 0 { try cache.store(Self.entry(w, header: "writer\(w).h"), for: shared) }
            _ = cache.entries(for: Hasher.digest("w\((w + 1) % writers) i\(i)"))
          }
        }
      }
      try await group.waitForAll()
    }
    let cache = Self.cache(dir)
    for w in 0..<writers {
      for i in 0..<perWriter {
        #expect(cache.entries(for: Hasher.digest("w\(w) i\(i)")) == [Self.entry(w * 1000 + i)], "writer \(w), entry \(i)")
      }
    }
    // One entry per writer (its own header), the newest 8 kept: every writer's is there.
    let kept = cache.entries(for: shared)
    #expect(kept.count == min(writers, ActionCache.maxEntries))
    #expect(Set(kept.map { $0.discovered[0].path }) == Set((0..<writers).map { "writer\($0).h" }))
    #expect(ActionDatabase(cacheRoot: dir).rows().count == writers * perWriter + 1)
  }

  @Test func aLinkAtTheDatabaseOrBesideItIsNeverOpened() throws {
    for suffix in ["", "-wal", "-shm", "-journal"] {
      let dir = tempDir()
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let victim = dir + "/victim"
      try Data("victim\n".utf8).write(to: URL(fileURLWithPath: victim))
      #expect(symlink(victim, dir + "/" + ActionDatabase.fileName + suffix) == 0)
      let database = ActionDatabase(cacheRoot: dir)
      let cache = ActionCache(root: dir, storage: database)
      #expect(throws: FileSystemError.self) { try cache.store(Self.entry(1), for: Hasher.digest("k")) }
      #expect(cache.entries(for: Hasher.digest("k")).isEmpty)
      #expect(database.failure?.contains("symbolic link") == true, "\(suffix): \(database.failure ?? "")")
      #expect(try String(contentsOfFile: victim, encoding: .utf8) == "victim\n", "\(suffix)")
    }
  }

  @Test func gcEvictsRowsByLastUseAndVerifyDropsForgedRows() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let database = ActionDatabase(cacheRoot: dir)
    let cache = ActionCache(root: dir, storage: database)
    for i in 0..<4 { try cache.store(Self.entry(i), for: Hasher.digest("\(i)")) }
    let maintenance = CacheMaintenance(root: dir, fileSystem: LocalFileSystem(), actions: database)
    #expect(maintenance.stats().actions == 4)
    #expect(maintenance.verify().corrupt.isEmpty)
    // A forged row: its checksum right, an output outside its declaration.
    var forged = Self.entry(9)
    forged.outputs[0].path = "../escape"
    try database.update(Hasher.digest("forged")) { _ in ActionCache.encode([forged]) }
    let verified = maintenance.verify()
    #expect(verified.corrupt == [ActionDatabase.fileName + ":" + Hasher.digest("forged").hex])
    #expect(database.bytes(for: Hasher.digest("forged")) == nil)
    let before = maintenance.stats().actionBytes
    let (removed, freed) = maintenance.collectGarbage(maxBytes: before / 2)
    #expect(removed >= 2 && freed > 0)
    #expect(maintenance.stats().actionBytes <= before / 2)
    #expect(maintenance.collectGarbage(maxBytes: 0).removed == 4 - removed)
    #expect(database.rows().isEmpty)
  }
}
