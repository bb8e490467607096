import KilnCore
import KilnEngine
import KilnHash
import KilnSystem
import Testing

/// `.kiln/state.graph` carries a digest of its whole encoding (issue 12, item 7): a
/// damaged file is not used, so one flipped byte can never become a different command
/// (`yes pacK` for `yes pack`) or input (`buidd/mod15.o`).
@Suite struct GraphCacheSealTests {
  func cache() throws -> GraphCache {
    let pack = TaskInstance(id: TaskID(task: "pack"), command: "yes pack | head -1 > out.txt", inputs: ["build/mod15.o"],
                            outputs: ["out.txt"])
    let graph = try TaskGraph([pack], defaultTasks: ["pack"])
    let look = GraphCache.Look(path: "src", followsLinks: true, exact: true,
                               stat: FileStat(kind: .directory, size: 4096, mtime: 1, ctime: 2, inode: 3, permissions: 0o755))
    return GraphCache(root: "/w", hiddenDigest: Hasher.digest("h"), looks: [look], graph: graph)
  }

  @Test func anIntactGraphCacheDecodes() throws {
    let decoded = try #require(GraphCache.decode(try cache().encode()))
    #expect(decoded.graph.instances.map(\.command) == ["yes pack | head -1 > out.txt"])
    #expect(decoded.graph.instances.map(\.inputs) == [["build/mod15.o"]])
  }

  @Test func aBatchedTaskKeepsItsBatchCommand() throws {
    var lint = TaskInstance(id: TaskID(task: "lint", item: "a.py"), command: "ruff 'a.py' > out/a.ok",
                            inputs: ["a.py"], outputs: ["out/a.ok"])
    let batch = BatchCommand(pieces: [.text("ruff "), .inputs, .text(" && touch "), .outputs], limit: 7)
    lint.batch = batch
    var whole = lint
    whole.id = TaskID(task: "lint", item: "b.py")
    whole.outputs = ["out/b.ok"]
    whole.batch = BatchCommand(pieces: batch.pieces, limit: nil)
    var cache = try cache()
    cache.graph = try TaskGraph([lint, whole], defaultTasks: nil)
    let decoded = try #require(GraphCache.decode(cache.encode()))
    #expect(decoded.graph.instances.map(\.batch) == [batch, BatchCommand(pieces: batch.pieces, limit: nil)])
    #expect(batch.command([("a b.py", ["out/a b.ok"]), ("c.py", ["out/c.ok"])]) == "ruff 'a b.py' c.py && touch 'out/a b.ok' out/c.ok")
  }

  @Test func everyFlippedBitAndEveryTruncationIsRejected() throws {
    let bytes = try cache().encode()
    for index in bytes.indices {
      for bit in 0..<8 {
        var damaged = bytes
        damaged[index] ^= UInt8(1) << UInt8(bit)
        #expect(GraphCache.decode(damaged) == nil, "byte \(index) bit \(bit) was accepted")
      }
    }
    for length in 0..<bytes.count {
      #expect(GraphCache.decode(Array(bytes[0..<length])) == nil, "cut to \(length) bytes was accepted")
    }
  }
}
