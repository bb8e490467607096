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
}
