import KilnCore
import KilnEngine
import KilnHash
import KilnStore
import KilnSystem
import KilnTestSupport
import Testing

/// `StatCache` keeps the entries it was given as they are (the session holds the same
/// table): what the build hashed overrides them, what it forgot is never trusted again,
/// and both reach the history entry (`changes`).
@Suite struct StatCacheTests {
  /// An entry for `path` whose stat matches the file but whose digest is `digest`.
  func entry(_ h: EngineHarness, _ path: String, digest: Digest) throws -> StatEntry {
    let st = try #require(h.fileSystem.stat(Paths.join(h.root, path)))
    return StatEntry(size: st.size, mtime: st.mtime, ctime: st.ctime, inode: st.inode, digest: digest,
                     recorded: h.fileSystem.clock.wallNanoseconds())
  }

  @Test func aForgottenEntryIsNeverTrustedAgain() throws {
    let h = try EngineHarness()
    h.write("out/a.o", "object")
    h.later()
    let stale = Hasher.digest(Array("what the entry says".utf8))
    let cache = StatCache(entries: ["out/a.o": try entry(h, "out/a.o", digest: stale)], root: h.root,
                          fileSystem: h.fileSystem, clock: h.fileSystem.clock)
    // Trusted while its stat holds.
    #expect(try cache.digest(of: "out/a.o") == stale)
    cache.forget("out/a.o")
    // The same stat, but forgotten: hashed again.
    #expect(try cache.digest(of: "out/a.o") == Hasher.digest(Array("object".utf8)))
    #expect(cache.changes().map(\.path) == ["out/a.o"])
  }

  @Test func whatTheBuildHashedOverridesAndReachesTheHistory() throws {
    let h = try EngineHarness()
    h.write("src/a.c", "int a;")
    h.later()
    let given = ["src/a.c": try entry(h, "src/a.c", digest: Hasher.digest(Array("int a;".utf8)))]
    let cache = StatCache(entries: given, root: h.root, fileSystem: h.fileSystem, clock: h.fileSystem.clock)
    h.write("src/a.c", "int b;")
    h.later()
    let st = try #require(h.fileSystem.stat(Paths.join(h.root, "src/a.c")))
    let hashed = Hasher.digest(Array("int b;".utf8))
    cache.remember("src/a.c", st, hashed, recorded: h.fileSystem.clock.wallNanoseconds())
    #expect(try cache.observe("src/a.c", again: true)?.digest == hashed)
    #expect(cache.changes() == [BuildHistoryEntry.PathStat(path: "src/a.c", entry: StatEntry(
      size: st.size, mtime: st.mtime, ctime: st.ctime, inode: st.inode, digest: hashed,
      recorded: h.fileSystem.clock.wallNanoseconds()))])
    // Forgotten after: the history says so, once.
    cache.forget("src/a.c")
    #expect(cache.changes() == [BuildHistoryEntry.PathStat(path: "src/a.c", entry: nil)])
    cache.forget("src/a.c")
    #expect(cache.changes().isEmpty)
  }
}
