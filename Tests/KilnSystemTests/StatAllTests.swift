#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnSystem
import KilnTestSupport
import Testing

/// `StatAll`: the stats of many paths, on two threads past a threshold, come back in
/// the paths' order and equal what one `PathStats` walk takes: files, folders, missing
/// names, a folder that does not exist, and a symlink stat'ed and lstat'ed.
@Suite struct StatAllTests {
  let scratch = TempDirectory(prefix: "kiln-statall")
  let fs = LocalFileSystem()

  func tree() throws -> [(path: String, followsLinks: Bool)] {
    var paths: [(path: String, followsLinks: Bool)] = []
    for d in 0..<6 {
      let folder = scratch.path + "/d\(d)"
      try fs.createDirectories(folder)
      for f in 0..<40 {
        // Sizes differ file by file, so a stat in the wrong place shows.
        try fs.writeAtomically(Array(repeating: UInt8(ascii: "x"), count: d * 40 + f), to: folder + "/f\(f).txt",
                               permissions: 0o644)
        paths.append((folder + "/f\(f).txt", true))
        if f % 9 == 0 { paths.append((folder + "/missing\(f).txt", true)) }
      }
      paths.append((folder, true))
    }
    #expect(symlink("d0/f1.txt", scratch.path + "/link") == 0)
    paths.append((scratch.path + "/link", true))
    paths.append((scratch.path + "/link", false))
    paths.append((scratch.path + "/nowhere/f.txt", true))
    return paths
  }

  @Test func twoThreadsGiveWhatOneWalkGives() throws {
    let paths = try tree()
    var one = PathStats(fs)
    let expected = paths.map { one.stat($0.path, followingLinks: $0.followsLinks) }
    let threaded = StatAll.stats(of: paths, in: fs, threadedFrom: 2)
    let single = StatAll.stats(of: paths, in: fs, threadedFrom: paths.count + 1)
    #expect(threaded == expected)
    #expect(single == expected)
    // The walk saw what is there: sizes in order, the missing ones missing, the link both ways.
    #expect(expected.compactMap { $0 }.count == paths.count - 6 * 5 - 1)
    let sizes = paths.indices.filter { paths[$0].path.hasSuffix("/d5/f7.txt") || paths[$0].path.hasSuffix("/d0/f1.txt") }
      .map { threaded[$0].map { Int($0.size) } }
    #expect(sizes == [1, 5 * 40 + 7])
    #expect(threaded[1] == nil, "missing0.txt")
    #expect(threaded[paths.count - 3]?.kind == .file)
    #expect(threaded[paths.count - 2]?.kind == .symlink)
    #expect(threaded.last! == nil)
  }

  /// The snapshot's paths are relative to the checkout: the same stats as the absolute
  /// paths, the root itself ("") included, and a name at the root.
  @Test func relativePathsUnderARootGiveWhatTheirAbsolutePathsGive() throws {
    let absolute = try tree() + [(path: scratch.path, followsLinks: true)]
    try fs.writeAtomically(Array("top".utf8), to: scratch.path + "/top.txt", permissions: 0o644)
    let all = absolute + [(path: scratch.path + "/top.txt", followsLinks: true)]
    let prefix = scratch.path + "/"
    let relative = all.map { p in
      (path: p.path == scratch.path ? "" : String(p.path.dropFirst(prefix.count)), followsLinks: p.followsLinks)
    }
    #expect(relative.last?.path == "top.txt" && relative[relative.count - 2].path == "")
    let expected = StatAll.stats(of: all, in: fs, threadedFrom: all.count + 1)
    #expect(expected[expected.count - 2]?.kind == .directory && expected.last??.size == 3)
    #expect(StatAll.stats(of: relative, under: scratch.path, in: fs, threadedFrom: 2) == expected)
    #expect(StatAll.stats(of: relative, under: scratch.path, in: fs, threadedFrom: all.count + 1) == expected)
    // With no root, a relative path has no folder: nothing is stat'ed.
    var none = PathStats(fs)
    #expect(none.stat("top.txt") == nil)
  }

  @Test func fewPathsAndNoneAreFine() throws {
    #expect(StatAll.stats(of: [], in: fs, threadedFrom: 0).isEmpty)
    let one = [(path: scratch.path, followsLinks: true)]
    #expect(StatAll.stats(of: one, in: fs, threadedFrom: 1).first??.kind == .directory)
  }
}
