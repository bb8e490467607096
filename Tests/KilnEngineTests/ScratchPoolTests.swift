import KilnEngine
import KilnSystem
import KilnTestSupport
import Testing

/// `ScratchPool`: an isolated run's scratch folder is emptied and kept for the next
/// run, never shared by two at once, and every one is removed with the pool.
@Suite struct ScratchPoolTests {
  @Test func aFolderGivenBackIsEmptiedTakenAgainAndRemovedWithThePool() throws {
    let fs = InMemoryFileSystem(clock: ManualClock())
    let parent = "/ws/.kiln/sandbox"
    var pool: ScratchPool? = ScratchPool()
    let first = try #require(pool).take(under: parent, fileSystem: fs)
    try fs.createDirectories(first + "/0")
    fs.write(first + "/0/out.txt", "undeclared\n")
    try fs.createDirectories(first + "/trace")
    fs.write(first + "/trace/log", "strace\n")
    let second = try #require(pool).take(under: parent, fileSystem: fs)
    #expect(second != first, "one run at a time")
    try fs.createDirectories(second + "/0")

    try #require(pool).giveBack(first, fileSystem: fs)
    #expect(fs.contents(ofDirectory: first + "/0") == [], "emptied, kept: \(fs.files(under: first))")
    #expect(fs.lstat(first + "/trace") == nil, "what is not an output folder goes")
    #expect(try #require(pool).take(under: parent, fileSystem: fs) == first, "kept for the next run")

    pool = nil
    #expect(fs.lstat(first) == nil && fs.lstat(second) == nil, "\(fs.files(under: parent))")
  }
}
