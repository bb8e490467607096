#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnEngine
import KilnHash
import KilnSystem
import KilnTestSupport
import Testing

/// The graph cache keeps what expansion saw in each folder it listed (its names) and
/// in the build file (its bytes): a build that replaces an output in a listed folder
/// (unlink, then a new file of the same name) moves the folder's mtime, and the next
/// build must still take the cached graph, after comparing the names. Any name added,
/// removed or renamed is a change. On the real file system, whose folder stats move.
@Suite struct GraphCacheListingTests {
  let folder = TempDirectory(prefix: "kiln-graph-listing")
  let fs = LocalFileSystem()
  let clock = SystemClock()

  func write(_ name: String, _ text: String) throws {
    try fs.writeAtomically(Array(text.utf8), to: folder.path + "/build/" + name, permissions: 0o644)
  }

  /// A cache made from a listing of build/ and a read of the build file.
  func cache() throws -> GraphCache {
    try fs.createDirectories(folder.path + "/build")
    try write("x.o", "object")
    try write("x.d", "x.o: x.c")
    try fs.writeAtomically(Array("tasks: {}\n".utf8), to: folder.path + "/kiln.yml", permissions: 0o644)
    usleep(120_000)  // older than the racy window: trusted by their stats
    let observing = ObservingFileSystem(fs, clock: clock)
    _ = try observing.read(folder.path + "/kiln.yml")
    _ = observing.contents(ofDirectory: folder.path + "/build")
    let graph = try TaskGraph([TaskInstance(id: TaskID(task: "t"), command: "true", outputs: ["build/x.o"])])
    let made = try #require(GraphCache.make(root: folder.path, hiddenDigest: Hasher.digest("h"), looks: observing.looks,
                                            graph: graph))
    #expect(made.looks.allSatisfy { !$0.recheck && $0.digest != nil })
    return try #require(GraphCache.decode(made.encode()))
  }

  func load(_ cache: GraphCache) -> (cache: GraphCache, entries: [SnapshotEntry], refreshed: Int)? {
    GraphCache.loadCache(cache.encode(), root: folder.path, hiddenDigest: Hasher.digest("h"), fileSystem: fs, clock: clock)
  }

  @Test func anOutputReplacedUnderTheSameNameKeepsTheGraph() throws {
    let cache = try cache()
    let unchanged = try #require(load(cache))
    #expect(unchanged.refreshed == 0, "nothing moved: nothing to write back")

    try fs.remove(folder.path + "/build/x.o")
    try write("x.o", "object, compiled again")
    let replaced = try #require(load(cache), "the same names: the cached graph holds")
    #expect(replaced.refreshed == 1, "the folder's new stat is worth writing back")
    let look = try #require(replaced.cache.looks.first { $0.path.hasSuffix("/build") })
    #expect(look.stat == fs.stat(folder.path + "/build"))
    // The entry for the snapshot carries the names it was compared by.
    let entry = try #require(replaced.entries.first { $0.path == "build" })
    #expect(entry.digest == ObservingFileSystem.listingDigest(Self.files("x.d", "x.o")))
    #expect(!entry.kindOnly)
  }

  static func files(_ names: String...) -> [DirectoryEntry] { names.map { DirectoryEntry(name: $0, kind: .file) } }

  /// The walk takes each name's kind from the listing (no look of its own): a name
  /// that became a folder, or a link, under the same name changes the listing.
  @Test func aNameThatChangedKindIsAChange() throws {
    let cache = try cache()
    try fs.remove(folder.path + "/build/x.d")
    try fs.createDirectory(folder.path + "/build/x.d")
    #expect(load(cache) == nil, "a file became a folder")
    try fs.remove(folder.path + "/build/x.d")
    try fs.createSymlink("x.o", at: folder.path + "/build/x.d")
    #expect(load(cache) == nil, "a file became a link")
    try fs.remove(folder.path + "/build/x.d")
    try write("x.d", "deps")
    #expect(load(cache) != nil, "a file again, the same names and kinds")
  }

  @Test func aNameAddedRemovedOrRenamedIsAChange() throws {
    let cache = try cache()
    try write("y.o", "another")
    #expect(load(cache) == nil, "a name added")
    try fs.remove(folder.path + "/build/y.o")
    try fs.rename(folder.path + "/build/x.d", to: folder.path + "/build/z.d")
    #expect(load(cache) == nil, "a name renamed")
    try fs.remove(folder.path + "/build/z.d")
    #expect(load(cache) == nil, "a name removed")
  }

  @Test func theBuildFileIsComparedByItsBytes() throws {
    let cache = try cache()
    // Rewritten with the same bytes (an editor's save): the graph holds.
    try fs.writeAtomically(Array("tasks: {}\n".utf8), to: folder.path + "/kiln.yml", permissions: 0o644)
    #expect(load(cache) != nil)
    try fs.writeAtomically(Array("tasks: []\n".utf8), to: folder.path + "/kiln.yml", permissions: 0o644)
    #expect(load(cache) == nil, "another build file")
  }

  /// A look too recent to trust is compared by content even when its stat is the same.
  @Test func aRacyLookIsComparedEveryTime() throws {
    var cache = try cache()
    let i = try #require(cache.looks.firstIndex { $0.path.hasSuffix("/build") })
    cache.looks[i].recheck = true
    cache.looks[i].digest = ObservingFileSystem.listingDigest(Self.files("x.o"))  // what was seen then: no x.d
    #expect(load(cache) == nil, "the stat is the same, the names are not")
    cache.looks[i].digest = ObservingFileSystem.listingDigest(Self.files("x.d", "x.o"))
    let same = try #require(load(cache))
    #expect(same.refreshed == 1, "old enough now: trusted from here on")
    #expect(same.cache.looks[i].recheck == false)
  }

  /// A cache made the way expansion makes one: build/ listed by a walk for the glob
  /// `build/*.o` (`ObservingFileSystem.walking`), then settled through that glob.
  func walkedCache() throws -> GraphCache {
    try fs.createDirectories(folder.path + "/build")
    try write("x.o", "object")
    try write("x.d", "x.o: x.c")
    usleep(120_000)
    let observing = ObservingFileSystem(fs, clock: clock)
    observing.noteGlob("build/*.o")
    let listing = observing.walking { observing.workspaceListing(root: folder.path, under: "build") }
    #expect(listing.files == ["build/x.d", "build/x.o"])
    observing.settleWalks(root: folder.path)
    let graph = try TaskGraph([TaskInstance(id: TaskID(task: "t"), command: "true", outputs: ["lib.a"])])
    let made = try #require(GraphCache.make(root: folder.path, hiddenDigest: Hasher.digest("h"), looks: observing.looks,
                                            filter: observing.listingFilter, graph: graph))
    let look = try #require(made.looks.first { $0.path.hasSuffix("/build") })
    #expect(look.filtered && look.digest == ObservingFileSystem.listingDigest(Self.files("x.o")))
    let decoded = try #require(GraphCache.decode(made.encode()))
    #expect(decoded.filter.patterns == ["build/*.o"] && decoded.looks.first { $0.path.hasSuffix("/build") }?.filtered == true)
    return decoded
  }

  /// A name none of the build's globs can match (a depfile written for the first
  /// time, an editor's swap file, a file kiln is writing) leaves the graph as it was; a
  /// name one can match, a new folder, or a name gone that matched, does not.
  @Test func aWalkedFolderCountsOnlyWhatTheGlobsCanMatch() throws {
    let cache = try walkedCache()
    try write("y.d", "y.o: y.c")
    try write(".x.o.swp", "swap")
    try write("notes.txt", "notes")
    let noise = try #require(load(cache), "no glob matches the new names")
    let entry = try #require(noise.entries.first { $0.path == "build" })
    #expect(entry.filtered && !entry.kindOnly)
    try write("z.o", "another object")
    #expect(load(cache) == nil, "build/*.o matches z.o")
    try fs.remove(folder.path + "/build/z.o")
    #expect(load(cache) != nil)
    try fs.createDirectory(folder.path + "/build/sub")
    #expect(load(cache) == nil, "a folder counts whatever its name")
    try fs.remove(folder.path + "/build/sub")
    try fs.remove(folder.path + "/build/x.o")
    #expect(load(cache) == nil, "a matched name removed")
  }

  /// The same folder listed by a walk and by another reader (which saw every name):
  /// the cache keeps the whole listing's digest.
  @Test func aFolderAlsoListedOutsideAWalkKeepsEveryName() throws {
    try fs.createDirectories(folder.path + "/build")
    try write("x.o", "object")
    usleep(120_000)
    let observing = ObservingFileSystem(fs, clock: clock)
    observing.noteGlob("build/*.o")
    _ = observing.walking { observing.workspaceListing(root: folder.path, under: "build") }
    _ = observing.contents(ofDirectory: folder.path + "/build")
    observing.settleWalks(root: folder.path)
    let graph = try TaskGraph([TaskInstance(id: TaskID(task: "t"), command: "true", outputs: ["lib.a"])])
    let made = try #require(GraphCache.make(root: folder.path, hiddenDigest: Hasher.digest("h"), looks: observing.looks,
                                            filter: observing.listingFilter, graph: graph))
    let look = try #require(made.looks.first { $0.path.hasSuffix("/build") })
    #expect(!look.filtered && made.looks.filter { $0.path.hasSuffix("/build") }.count == 1)
    try write("y.d", "y.o: y.c")
    #expect(load(made) == nil, "the other reader saw every name")
  }
}

/// What of a listing counts to the build's globs.
@Suite struct ListingFilterTests {
  let filter = ListingFilter(["src/**/*.c", "build/*.o", "src/**/*.c"])

  @Test func countsFoldersMatchesAndWhatItCannotJudge() {
    #expect(filter.patterns == ["build/*.o", "src/**/*.c"])
    #expect(filter.counts(DirectoryEntry(name: "a.c", kind: .file), in: "src/lib"))
    #expect(filter.counts(DirectoryEntry(name: "a.c", kind: .symlink), in: "src"))
    #expect(!filter.counts(DirectoryEntry(name: "a.h", kind: .file), in: "src/lib"))
    #expect(!filter.counts(DirectoryEntry(name: ".a.c.swp", kind: .file), in: "src"))
    #expect(!filter.counts(DirectoryEntry(name: "a.c", kind: .file), in: "other"))
    #expect(filter.counts(DirectoryEntry(name: "x.o", kind: .file), in: "build"))
    #expect(!filter.counts(DirectoryEntry(name: "x.o", kind: .file), in: "build/sub"), "build/*.o: one level")
    #expect(filter.counts(DirectoryEntry(name: "anything", kind: .directory), in: "build"))
    #expect(filter.counts(DirectoryEntry(name: "anything", kind: nil), in: "build"), "maybe a folder")
    #expect(filter.counts(DirectoryEntry(name: "bad\u{FFFD}.o", kind: .file), in: "docs"), "not UTF-8")
    let temporary = "x.o" + Paths.temporaryMarker + "1"
    #expect(Paths.isTemporary(temporary) && !filter.counts(DirectoryEntry(name: temporary, kind: .file), in: "build"))
  }

  @Test func theDigestIsTheListingDigestOfWhatCounts() {
    let entries = [DirectoryEntry(name: "x.o", kind: .file), DirectoryEntry(name: "x.d", kind: .file),
                   DirectoryEntry(name: "sub", kind: .directory)]
    #expect(filter.digest(of: entries, in: "build")
      == ObservingFileSystem.listingDigest([entries[0], entries[2]]))
    #expect(filter.digest(of: entries, in: "build") != filter.digest(of: Array(entries.dropFirst()), in: "build"))
    #expect(ListingFilter([]).digest(of: entries, in: "build") == ObservingFileSystem.listingDigest([entries[2]]))
  }
}

extension ListingFilterTests {
  /// Only the globs whose literal folder is the listed one or above it are asked; one
  /// below it, or beside it with a longer name, cannot match a name there.
  @Test func onlyGlobsReachingTheFolderAreAsked() {
    let filter = ListingFilter(["src/lib/*.c", "src/libx/*.h", "docs/**/*.md"])
    #expect(filter.counts(DirectoryEntry(name: "a.c", kind: .file), in: "src/lib"))
    #expect(!filter.counts(DirectoryEntry(name: "a.h", kind: .file), in: "src/lib"), "src/libx is not src/lib")
    #expect(filter.counts(DirectoryEntry(name: "a.h", kind: .file), in: "src/libx"))
    #expect(!filter.counts(DirectoryEntry(name: "a.c", kind: .file), in: "src"), "src/lib/*.c: one level down")
    #expect(filter.counts(DirectoryEntry(name: "x.md", kind: .file), in: "docs/a/b"))
    #expect(!filter.counts(DirectoryEntry(name: "x.md", kind: .file), in: "docsx"))
  }
}
