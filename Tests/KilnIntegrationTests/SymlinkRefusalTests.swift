import Foundation
import KilnTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// kiln opens nothing in `.kiln/` or in the cache through a symbolic link (issue 12,
/// item 3). A link planted where kiln keeps a file (committed to a repository, or made
/// in a shared cache) points at a victim file outside; kiln must exit 2 with one line
/// naming the link, and the victim must be unchanged byte for byte.
@Suite struct SymlinkRefusalTests {
  static let buildFile = Fixture.copyTask
  static let victimBytes = "the victim's own bytes\n"

  func project() throws -> (TempProject, victim: String) {
    let p = try TempProject(["kiln.yml": Self.buildFile, "in.txt": "one\n"])
    let victim = p.root + "/../victim.txt"
    try Self.victimBytes.write(toFile: victim, atomically: false, encoding: .utf8)
    return (p, victim)
  }

  func plant(_ link: String, to target: String) throws {
    _ = unlink(link)
    guard symlink(target, link) == 0 else { throw TempProjectError("cannot link \(link): errno \(errno)") }
  }

  func expectRefused(_ r: KilnResult, naming path: String, _ victim: String, _ what: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == 2, "\(what): \(r)", sourceLocation: sourceLocation)
    #expect(r.stderrLines.count == 1 && r.stderr.contains(path) && r.stderr.contains("symbolic link"),
            "\(what): \(r)", sourceLocation: sourceLocation)
    #expect((try? String(contentsOfFile: victim, encoding: .utf8)) == Self.victimBytes,
            "\(what): the victim changed", sourceLocation: sourceLocation)
  }

  /// The reported case: `.kiln/state.db-pending` committed as a link, then a fresh clone.
  @Test func aCommittedPendingHistoryLinkIsRefusedNotTruncated() throws {
    let (p, victim) = try project()
    try FileManager.default.createDirectory(atPath: p.root + "/.kiln", withIntermediateDirectories: true)
    let link = p.root + "/.kiln/state.db-pending"
    try plant(link, to: victim)
    for args in [["build"], ["build", "-n"], ["stats"]] {
      expectRefused(try p.kiln(args), naming: link, victim, args.joined(separator: " "))
    }
    // After a build too, when a null build would append to it.
    _ = unlink(link)
    #expect(try p.kiln("build").status == 0)
    try plant(link, to: victim)
    for args in [["build"], ["build", "-n"], ["stats"]] {
      expectRefused(try p.kiln(args), naming: link, victim, "after a build: " + args.joined(separator: " "))
    }
  }

  @Test func everyStateFileLinkIsRefused() throws {
    for name in ["state.db", "state.db-wal", "state.db-shm", "state.db-journal", "state.graph", "state.snapshot"] {
      let (p, victim) = try project()
      #expect(try p.kiln("build").status == 0)
      try p.write("in.txt", "two\n")
      let link = p.root + "/.kiln/" + name
      try plant(link, to: victim)
      expectRefused(try p.kiln("build"), naming: link, victim, name)
      expectRefused(try p.kiln("stats"), naming: link, victim, name + " (stats)")
    }
  }

  @Test func aLinkedStateFolderIsRefused() throws {
    let (p, victim) = try project()
    let elsewhere = p.root + "/../elsewhere"
    try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
    try plant(p.root + "/.kiln", to: elsewhere)
    expectRefused(try p.kiln("build"), naming: p.root + "/.kiln", victim, ".kiln")
    #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty, "nothing written through the link")
  }

  /// A project built once, then its input edited and the cache's `name` replaced by a
  /// link to a victim file: `kiln build` and `kiln exec` both refuse it, the victim
  /// untouched. Returns the project, the link and the victim for more checks.
  func linkedInBuiltCache(_ name: String) throws -> (TempProject, String, String) {
    let (p, victim) = try project()
    #expect(try p.kiln("build").status == 0)
    try p.write("in.txt", "two\n")
    let link = p.cache.path + "/" + name
    try plant(link, to: victim)
    expectRefused(try p.kiln("build"), naming: link, victim, name)
    expectRefused(try p.kiln("exec", "--in", "in.txt", "--out", "e.txt", "--", "cp", "in.txt", "e.txt"),
                  naming: link, victim, name + " (exec)")
    return (p, link, victim)
  }

  /// The reported case: `<cache>/locks/jobs` as a link was grown to 4096 bytes and written.
  @Test func aLinkedLockFileInTheCacheIsRefused() throws {
    for name in ["locks/jobs", "locks/actions"] { _ = try linkedInBuiltCache(name) }
  }

  @Test func aLinkedCacheFolderIsRefused() throws {
    for name in ["blobs", "actions", "locks"] {
      let (p, victim) = try project()
      let elsewhere = p.root + "/../elsewhere-" + name
      try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
      try FileManager.default.createDirectory(atPath: p.cache.path, withIntermediateDirectories: true)
      try plant(p.cache.path + "/" + name, to: elsewhere)
      expectRefused(try p.kiln("build"), naming: p.cache.path + "/" + name, victim, name)
      #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty, "\(name): nothing written there")
    }
  }

  /// The action entries' database, its WAL, its index or a journal replaced by a link:
  /// refused before SQLite opens anything (SQLite would write through it), by a build,
  /// `kiln exec`, `cache verify` and the launcher, which then compiles without the cache.
  @Test func aLinkedActionDatabaseIsRefused() throws {
    for name in ["actions.db", "actions.db-wal", "actions.db-shm", "actions.db-journal"] {
      let (p, link, victim) = try linkedInBuiltCache(name)
      expectRefused(try p.kiln("cache", "verify"), naming: link, victim, name + " (cache verify)")
      let stats = try p.kiln("stats")
      #expect(stats.status == 0, "\(name) (stats): \(stats)")
      #expect((try? String(contentsOfFile: victim, encoding: .utf8)) == Self.victimBytes, "\(name) (stats)")
      _ = unlink(link)
      let again = try p.kiln("build")
      #expect(again.status == 0 && p.read("out.txt") == "two\n", "\(name): after removing the link: \(again)")
    }
  }

  /// Randomised and bounded: links planted at random among every place kiln keeps a
  /// file or folder, then a random command. Whatever happens, the victims keep their
  /// bytes and nothing appears in the victim folder; kiln either works (a link it never
  /// opens, or a linked cache entry: a miss) or exits 2 with one line naming a planted
  /// link. With the links gone, the build is right again. The seed is in every failure.
  @Test(arguments: [UInt64(31), 32, 33])
  func randomLinkPlantsNeverReachTheirTargets(seed: UInt64) throws {
    var random = SplitMix64(seed: seed)
    let (p, victim) = try project()
    let victimFolder = p.root + "/../victim-folder"
    try FileManager.default.createDirectory(atPath: victimFolder, withIntermediateDirectories: true)
    let state = [".kiln", ".kiln/state.db", ".kiln/state.db-wal", ".kiln/state.db-shm", ".kiln/state.db-journal",
                 ".kiln/state.db-pending", ".kiln/state.snapshot", ".kiln/state.graph"].map { p.root + "/" + $0 }
    let cache = ["blobs", "actions", "locks", "locks/jobs", "locks/actions", "actions.db", "actions.db-wal",
                 "actions.db-shm"].map { p.cache.path + "/" + $0 }
    let commands: [[String]] = [["build"], ["build", "-n"], ["stats"], ["cache", "stats"], ["cache", "verify"],
                                ["manifest"], ["clean"], ["exec", "--in", "in.txt", "--out", "e.txt", "--", "cp", "in.txt", "e.txt"]]
    for round in 0..<8 {
      #expect(try p.kiln("build").status == 0)
      try p.write("in.txt", "round \(round)\n")
      // Cache entries too: a linked one is a miss, never read through.
      let entries = ((FileManager.default.enumerator(atPath: p.cache.path + "/actions")?.allObjects as? [String]) ?? [])
        .filter { $0.split(separator: "/").count == 2 }.map { p.cache.path + "/actions/" + $0 }
      let candidates = state + cache + entries
      var planted: [String] = []
      for _ in 0..<Int.random(in: 1...3, using: &random) {
        let path = candidates.randomElement(using: &random)!
        guard !planted.contains(where: { path.hasPrefix($0 + "/") || $0.hasPrefix(path + "/") }) else { continue }
        TempDirectory.removeTree(path)
        let folder = [p.root + "/.kiln", p.cache.path + "/blobs", p.cache.path + "/actions", p.cache.path + "/locks"]
          .contains(path)
        try plant(path, to: folder ? victimFolder : victim)
        planted.append(path)
      }
      let args = commands.randomElement(using: &random)!
      let context = "seed \(seed), round \(round): \(args.joined(separator: " ")) with links at \(planted)"
      let r = try p.kiln(args)
      #expect(r.status == 0 || r.status == 2, "\(context): \(r)")
      if r.status == 2 {
        #expect(r.stderrLines.count == 1 && planted.contains { r.stderr.contains($0) } && r.stderr.contains("symbolic link"),
                "\(context): \(r)")
      }
      #expect((try? String(contentsOfFile: victim, encoding: .utf8)) == Self.victimBytes, "\(context): the victim changed")
      #expect((try? FileManager.default.contentsOfDirectory(atPath: victimFolder))?.isEmpty == true,
              "\(context): something was written in the victim folder")
      for path in planted { _ = unlink(path) }
      let again = try p.kiln("build")
      #expect(again.status == 0 && p.read("out.txt") == "round \(round)\n", "\(context): after removing the links: \(again)")
    }
  }
}
