import Foundation
import KilnCore
import KilnHash
import KilnStore
import KilnSystem
import Testing

@Suite struct ContentStoreTests {
  let fs = LocalFileSystem()

  func tempDir() -> String {
    let dir = NSTemporaryDirectory() + "kiln-cas-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
  }

  @Test func restoreIsACopyNotALink() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let store = ContentStore(root: dir + "/cache", fileSystem: fs)
    try fs.writeAtomically(Array("#!/bin/sh\necho hi\n".utf8), to: dir + "/tool", permissions: 0o755)
    let digest = try fs.digest(of: dir + "/tool")
    try store.store(dir + "/tool", as: digest)
    #expect(store.restore(digest, to: dir + "/restored", permissions: 0o755))
    #expect(fs.stat(dir + "/restored")?.isExecutable == true)
    #expect(fs.stat(dir + "/restored")?.inode != fs.stat(store.path(of: digest))?.inode)
    // Editing the restored file in place must not touch the blob.
    let handle = try #require(FileHandle(forWritingAtPath: dir + "/restored"))
    handle.write(Data("corrupted".utf8))
    try handle.close()
    #expect(try fs.digest(of: store.path(of: digest)) == digest)
  }

  /// The workspace path must be found wherever it lies, also across the 256 KiB read
  /// chunks, and the digest must not depend on the scan.
  @Test(arguments: [0, 262_144 - 5, 262_144, 600_000])
  func scanningFindsThePathAtAnyOffset(offset: Int) throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let needle = Array("/work/ws-one".utf8)
    var bytes = [UInt8](repeating: UInt8(ascii: "x"), count: 700_000)
    bytes.replaceSubrange(offset..<offset + needle.count, with: needle)
    try fs.writeAtomically(bytes, to: dir + "/f", permissions: 0o644)
    let (digest, found) = try fs.digest(of: dir + "/f", scanningFor: needle)
    #expect(found)
    #expect(digest == Hasher.digest(bytes))
    let (_, absent) = try fs.digest(of: dir + "/f", scanningFor: Array("/work/ws-two".utf8))
    #expect(!absent)
  }

  @Test func aFileThatChangedSinceHashingIsNotStored() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let store = ContentStore(root: dir + "/cache", fileSystem: fs)
    try fs.writeAtomically(Array("new".utf8), to: dir + "/f", permissions: 0o644)
    let stale = Hasher.digest("old")
    #expect(throws: FileSystemError.self) { try store.store(dir + "/f", as: stale) }
    #expect(!store.contains(stale))
  }

  @Test func aCorruptBlobIsAMissAndIsDropped() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let store = ContentStore(root: dir + "/cache", fileSystem: fs)
    try fs.writeAtomically(Array("data".utf8), to: dir + "/f", permissions: 0o644)
    let digest = try fs.digest(of: dir + "/f")
    try store.store(dir + "/f", as: digest)
    try fs.writeAtomically(Array("evil".utf8), to: store.path(of: digest), permissions: 0o444)
    #expect(!store.restore(digest, to: dir + "/out", permissions: 0o644))
    #expect(fs.stat(dir + "/out") == nil)
    #expect(!store.contains(digest))
  }

  @Test func actionEntriesKeepTheNewestFirstAndAtMostEight() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cache = ActionCache(root: dir, fileSystem: fs)
    let key = Hasher.digest("key")
    for i in 0..<10 {
      try cache.store(ActionEntry(discovered: [PathDigest("h.h", Hasher.digest("\(i)"))], outputs: [], declaredOutputs: [],
                                  stdout: Array("out \(i)".utf8), stderr: [], duration: Double(i)), for: key)
    }
    let entries = cache.entries(for: key)
    #expect(entries.count == ActionCache.maxEntries)
    #expect(entries.first?.duration == 9)
    #expect(cache.entries(for: Hasher.digest("other")).isEmpty)
  }

  /// The size a build records is measured at most once per interval for every process
  /// sharing the cache, and read back from `<cache>/size` until then; a damaged file
  /// there is measured again.
  @Test func theCacheSizeIsMeasuredAtMostOncePerInterval() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let store = ContentStore(root: dir + "/cache", fileSystem: fs)
    func add(_ i: Int) throws {
      try fs.writeAtomically(Array(repeating: UInt8(65 + i), count: 1000), to: dir + "/f\(i)", permissions: 0o644)
      try store.store(dir + "/f\(i)", as: try fs.digest(of: dir + "/f\(i)"))
    }
    try add(0)
    let maintenance = CacheMaintenance(root: dir + "/cache", fileSystem: fs)
    let now = SystemClock().wallNanoseconds()
    let first = maintenance.recentBytesOnDisk(now: now)
    #expect(first == maintenance.bytesOnDisk() && first >= 1000)
    try add(1)
    #expect(maintenance.recentBytesOnDisk(now: now + 1_000_000_000) == first, "within the interval: the kept figure")
    #expect(maintenance.recentBytesOnDisk(now: now + 700_000_000_000) == maintenance.bytesOnDisk())
    #expect(maintenance.bytesOnDisk() >= first + 1000)
    try fs.writeAtomically(Array("lots\n".utf8), to: dir + "/cache/size", permissions: 0o644)
    #expect(maintenance.recentBytesOnDisk(now: SystemClock().wallNanoseconds()) == maintenance.bytesOnDisk())
  }

  @Test func gcEvictsLeastRecentlyUsedAndVerifyDropsCorruption() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let store = ContentStore(root: dir + "/cache", fileSystem: fs)
    var digests: [Digest] = []
    for i in 0..<4 {
      try fs.writeAtomically(Array(repeating: UInt8(65 + i), count: 1000), to: dir + "/f\(i)", permissions: 0o644)
      let d = try fs.digest(of: dir + "/f\(i)")
      try store.store(dir + "/f\(i)", as: d)
      digests.append(d)
      usleep(20_000)  // distinct mtimes: f0 is the least recently used
    }
    let maintenance = CacheMaintenance(root: dir + "/cache", fileSystem: fs)
    #expect(maintenance.stats().blobs == 4)
    let (removed, _) = maintenance.collectGarbage(maxBytes: 2500)
    #expect(removed == 2)
    #expect(!store.contains(digests[0]) && !store.contains(digests[1]))
    #expect(store.contains(digests[3]))
    chmod(store.path(of: digests[3]), 0o644)
    try fs.writeAtomically(Array("bad".utf8), to: store.path(of: digests[3]), permissions: 0o444)
    let (checked, corrupt) = maintenance.verify()
    #expect(checked == 2)
    #expect(corrupt == [store.path(of: digests[3])])
    #expect(maintenance.verify().corrupt.isEmpty)
  }
}
