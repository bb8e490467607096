import Foundation
import KilnTestSupport
import Testing

/// The graph cache (`.kiln/state.graph`): a build whose build file and globbed folders
/// did not change takes the expanded graph from it instead of expanding again. Editing
/// a file's content keeps it (expansion never reads content); adding, removing or
/// renaming a file a glob sees, a new folder under `**`, or an edit of the build file
/// must not: the build then does exactly what a fresh expansion says.
///
/// `--json` keeps these builds off the null-build shortcut, so the graph path is the one
/// tested. Whether the cache was kept shows in the file's mtime.
@Suite struct GraphCacheTests {
  static let buildFile = """
    tasks:
      upper:
        foreach: "src/**/*.txt"
        outputs: out/{dir}/{stem}.txt
        run: echo {in} >> .runs/upper && tr a-z A-Z < {in} > {out}
      all:
        inputs: "out/**/*.txt"
        outputs: all.txt
        run: echo x >> .runs/all && cat {in} > {out}
    """

  func project() throws -> TempProject {
    let p = try TempProject(["kiln.yml": Self.buildFile, "src/a.txt": "alpha\n", "src/d/b.txt": "beta\n"])
    #expect(try p.kiln("build").status == 0)
    usleep(120_000)  // folders old enough for their stat to be trusted
    #expect(try p.kiln("build", "--json").status == 0)
    #expect(p.exists(".kiln/state.graph"), "an expansion of settled folders is kept")
    return p
  }

  func mtime(_ p: TempProject, _ path: String) -> Date? {
    (try? FileManager.default.attributesOfItem(atPath: p.root + "/" + path))?[.modificationDate] as? Date
  }

  @Test func contentEditKeepsTheCachedGraph() throws {
    let p = try project()
    let before = mtime(p, ".kiln/state.graph")
    try p.write("src/d/b.txt", "bravo\n")
    let r = try p.kiln("build", "--json")
    #expect(r.status == 0, "\(r)")
    #expect(mtime(p, ".kiln/state.graph") == before, "the cached graph was used, not rewritten")
    #expect(p.read("all.txt") == "ALPHA\nBRAVO\n")
    #expect(p.runs("upper") == 3)
  }

  @Test func addedRemovedAndRenamedFilesAreSeen() throws {
    let p = try project()
    try p.write("src/d/c.txt", "gamma\n")
    #expect(try p.kiln("build", "--json").status == 0)
    #expect(p.read("all.txt") == "ALPHA\nBETA\nGAMMA\n")

    usleep(120_000)
    #expect(try p.kiln("build", "--json").status == 0)
    try FileManager.default.moveItem(atPath: p.root + "/src/a.txt", toPath: p.root + "/src/z.txt")
    #expect(try p.kiln("build", "--json").status == 0)
    #expect(!p.exists("out/src/a.txt"), "the renamed file's old output is stale")
    #expect(p.read("all.txt") == "BETA\nGAMMA\nALPHA\n")

    usleep(120_000)
    #expect(try p.kiln("build", "--json").status == 0)
    p.remove("src/d/c.txt")
    #expect(try p.kiln("build", "--json").status == 0)
    #expect(p.read("all.txt") == "BETA\nALPHA\n")
  }

  @Test func newFolderUnderADoubleStarGlobIsSeen() throws {
    let p = try project()
    try p.write("src/d/e/f/deep.txt", "deep\n")
    let r = try p.kiln("build", "--json")
    #expect(r.status == 0, "\(r)")
    #expect(p.read("out/src/d/e/f/deep.txt") == "DEEP\n")
    #expect(p.read("all.txt") == "ALPHA\nBETA\nDEEP\n")
  }

  @Test func buildFileEditIsSeen() throws {
    let p = try project()
    try p.write("kiln.yml", Self.buildFile.replacingOccurrences(of: "tr a-z A-Z", with: "tr a-z N-ZA-M"))
    #expect(try p.kiln("build", "--json").status == 0)
    #expect(p.read("all.txt") == "NYCUN\nORGN\n")
  }

  @Test func corruptCacheIsIgnored() throws {
    let p = try project()
    try p.write(".kiln/state.graph", "KILNGRF1\u{FF}\u{FF}\u{FF}garbage")
    let r = try p.kiln("build", "--json")
    #expect(r.status == 0, "\(r)")
    #expect(p.read("all.txt") == "ALPHA\nBETA\n")
  }
}
