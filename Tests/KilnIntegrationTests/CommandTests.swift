#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KilnTestSupport
import Testing

/// The inspection and maintenance commands: --version, tasks, graph, clean,
/// manifest (verify), cache stats / verify / gc.
@Suite struct CommandTests {

  @Test func version() throws {
    let p = try TempProject()
    let r = try p.kiln("--version")
    #expect(r.status == 0, "\(r)")
    let line = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(line.split(separator: ".").count >= 2 && line.contains(where: \.isNumber), "\(r)")
    #expect(r.stderr.isEmpty, "\(r)")
  }

  @Test func tasksAndGraph() throws {
    let p = try TempProject(Fixture.pipeline)
    let tasks = try p.kiln("tasks")
    #expect(tasks.status == 0, "\(tasks)")
    for name in ["upper src/a.txt", "upper src/b.txt", "all"] {
      #expect(tasks.stdout.contains(name), "\(tasks)")
    }
    #expect(tasks.stdout.contains("out/a.txt"), "\(tasks)")

    let graph = try p.kiln("graph")
    #expect(graph.status == 0, "\(graph)")
    #expect(graph.stdout.contains("all"), "\(graph)")

    let dot = try p.kiln("graph", "--dot")
    #expect(dot.status == 0, "\(dot)")
    #expect(dot.stdout.hasPrefix("digraph"), "\(dot)")
    #expect(dot.stdout.contains("\"upper src/a.txt\" -> \"all\""), "\(dot)")
    #expect(dot.stdout.contains("\"upper src/b.txt\" -> \"all\""), "\(dot)")
    #expect(dot.stdout.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix("}"), "\(dot)")
    // Listing builds nothing.
    #expect(p.runs("upper") == 0)
    #expect(!p.exists("all.txt"))
  }

  @Test func cleanKeepsAnOutputChangedSinceKilnWroteIt() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    try p.write("out/a.txt", "edited by hand\n")
    let r = try p.kiln("clean")
    #expect(r.status == 0, "\(r)")
    #expect(p.read("out/a.txt") == "edited by hand\n", "\(r)")
    #expect(r.stderr.contains("kiln: clean: kept out/a.txt: it changed since kiln wrote it"), "\(r)")
    #expect(!p.exists("out/b.txt") && !p.exists("all.txt"))
  }

  @Test func cleanRemovesDeclaredOutputsOnly() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    try p.write("out/notes.md", "mine\n")
    let r = try p.kiln("clean")
    #expect(r.status == 0, "\(r)")
    #expect(!p.exists("out/a.txt"))
    #expect(!p.exists("out/b.txt"))
    #expect(!p.exists("all.txt"))
    #expect(p.read("out/notes.md") == "mine\n")
    #expect(p.read("src/a.txt") == "alpha\n")

    // After a clean the cache brings everything back without running.
    let rebuilt = try p.kiln("build")
    #expect(rebuilt.status == 0, "\(rebuilt)")
    #expect(p.read("all.txt") == "ALPHA\nBETA\n")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)
  }

  @Test func manifestListsAndVerifies() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    let m = try p.kiln("manifest")
    #expect(m.status == 0, "\(m)")
    var listed: [String: String] = [:]
    for line in m.stdout.split(separator: "\n") {
      let parts = line.split(separator: " ", omittingEmptySubsequences: true)
      guard parts.count >= 2 else { continue }
      listed[String(parts.last!)] = String(parts.first!)
    }
    for path in ["src/a.txt", "src/b.txt", "out/a.txt", "out/b.txt", "all.txt"] {
      let digest = listed[path]
      #expect(digest.map { $0.count == 32 && $0.allSatisfy(\.isHexDigit) } == true, "\(path) in \(m)")
    }
    // Identical bytes, identical digests; different bytes, different digests.
    #expect(listed["src/a.txt"] != listed["out/a.txt"])

    let ok = try p.kiln("manifest", "verify")
    #expect(ok.status == 0, "\(ok)")

    try p.write("src/b.txt", "edited\n")
    let bad = try p.kiln("manifest", "verify")
    #expect(bad.status == 1, "\(bad)")
    #expect(bad.output.contains("src/b.txt"), "\(bad)")
    #expect(!bad.output.contains("src/a.txt"), "\(bad)")
  }

  @Test func cacheStatsVerifyAndGC() throws {
    // Small outputs live inside their action entry; one of 40 KB is a blob.
    var files = Fixture.pipeline
    files["kiln.yml"]! += """

        big:
          outputs: big.bin
          run: head -c 40000 /dev/zero | tr '\\0' x > big.bin
      """
    let p = try TempProject(files)
    #expect(try p.kiln("build").status == 0)
    #expect(p.read("big.bin")?.count == 40000)
    let stats = try p.kiln("cache", "stats")
    #expect(stats.status == 0, "\(stats)")
    #expect(stats.stdout.contains("blobs"), "\(stats)")

    let clean = try p.kiln("cache", "verify")
    #expect(clean.status == 0, "\(clean)")

    let blobs = Self.files(under: p.cache.path + "/blobs")
    #expect(!blobs.isEmpty, "no blobs in \(p.cache.path)")
    guard let blob = blobs.first else { return }
    #expect(chmod(blob, 0o644) == 0)
    #expect(FileManager.default.createFile(atPath: blob, contents: Data("corrupt\n".utf8)))
    let corrupt = try p.kiln("cache", "verify")
    #expect(corrupt.status == 1, "\(corrupt)")
    #expect(corrupt.output.contains(String(blob.split(separator: "/").last!)), "\(corrupt)")
    let healed = try p.kiln("cache", "verify")
    #expect(healed.status == 0, "\(healed)")

    // An inline output whose bytes were damaged: verify drops its entry.
    let actions = CacheEntries.all(in: p.cache.path)
    let holder = actions.first { Data($0.bytes).range(of: Data("ALPHA".utf8)) != nil }
    #expect(holder != nil, "out/a.txt's bytes are in its action entry")
    if let holder, let range = Data(holder.bytes).range(of: Data("ALPHA".utf8)) {
      var bytes = holder.bytes
      bytes[range.lowerBound] = UInt8(ascii: "X")
      try CacheEntries.write(bytes, for: holder.key, in: p.cache.path)
      let damaged = try p.kiln("cache", "verify")
      #expect(damaged.status == 1, "\(damaged)")
      #expect(damaged.output.contains(CacheEntries.name(of: holder.key)), "\(damaged)")
      #expect(!CacheEntries.all(in: p.cache.path).contains { $0.key == holder.key })
    }

    let gc = try p.kiln("cache", "gc", "--max-size", "0")
    #expect(gc.status == 0, "\(gc)")
    #expect(Self.files(under: p.cache.path + "/blobs").isEmpty)
    #expect(Self.files(under: p.cache.path + "/actions").isEmpty)
    #expect(CacheEntries.all(in: p.cache.path).isEmpty)
    let after = try p.kiln("cache", "stats")
    #expect(after.status == 0, "\(after)")

    // With the cache empty, deleted outputs can only be rebuilt by running.
    p.remove("out")
    p.remove("all.txt")
    #expect(try p.kiln("build").status == 0)
    #expect(p.runs("upper") == 4)
    #expect(p.runs("all") == 2)
  }

  /// A damaged inline output in the cache is never restored: the digest check turns it
  /// into a miss, and the task runs.
  @Test func damagedInlineOutputIsNotRestored() throws {
    let p = try TempProject(Fixture.pipeline)
    #expect(try p.kiln("build").status == 0)
    for (key, original) in CacheEntries.all(in: p.cache.path) {
      guard let range = Data(original).range(of: Data("ALPHA".utf8)) else { continue }
      var bytes = original
      bytes[range.lowerBound] = UInt8(ascii: "X")
      try CacheEntries.write(bytes, for: key, in: p.cache.path)
    }
    p.remove("out")
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(p.read("out/a.txt") == "ALPHA\n")
    #expect(p.read("out/b.txt") == "BETA\n")
    #expect(p.runs("upper") == 3, "a ran again; b was restored")
  }

  @Test func jsonSummary() throws {
    let p = try TempProject(Fixture.pipeline)
    let r = try p.kiln("build", "--json")
    #expect(r.status == 0, "\(r)")
    let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    #expect(object?["ran"] as? Int == 3, "\(r)")
    #expect(object?["exit_status"] as? Int == 0, "\(r)")
    let again = try p.kiln("build", "--json")
    let second = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any]
    #expect(second?["ran"] as? Int == 0, "\(again)")
    #expect(second?["up_to_date"] as? Int == 3, "\(again)")
  }

  /// The build file is found upward from a subdirectory (like git), or through -C / -f;
  /// named targets build only what they need.
  @Test func buildFileLookupAndTargets() throws {
    let p = try TempProject(Fixture.pipeline)
    let fromSub = try p.kiln(["build", "upper"], in: "src")
    #expect(fromSub.status == 0, "\(fromSub)")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 0)
    #expect(p.exists("out/a.txt"))
    #expect(!p.exists("src/out/a.txt"))

    let elsewhere = try TempProject()
    let viaC = try elsewhere.kiln("-C", p.root, "build")
    #expect(viaC.status == 0, "\(viaC)")
    #expect(p.runs("upper") == 2)
    #expect(p.runs("all") == 1)

    let viaF = try elsewhere.kiln("-f", p.root + "/kiln.yml", "build")
    #expect(viaF.status == 0, "\(viaF)")
    #expect(viaF.ranCount == 0, "\(viaF)")

    let unknown = try p.kiln("build", "nosuchtask")
    #expect(unknown.status == 2, "\(unknown)")
    #expect(unknown.stderrLines.count == 1, "\(unknown)")
  }

  /// Regular files under `directory`, absolute paths.
  static func files(under directory: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
    var result: [String] = []
    for case let rel as String in walker {
      var isDir: ObjCBool = false
      if FileManager.default.fileExists(atPath: directory + "/" + rel, isDirectory: &isDir), !isDir.boolValue {
        result.append(directory + "/" + rel)
      }
    }
    return result.sorted()
  }
}
