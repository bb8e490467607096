import Foundation
import KilnCore
import KilnStore
import KilnTestSupport
import Testing

/// The launcher reads its cache as untrusted input (SPEC 5, "Trust"): a damaged entry
/// or blob is a miss and a correct compile; an entry names roles, never paths, so no
/// entry, however made, writes anything but the outputs the command line names.
@Suite struct LauncherTrustTests {
  /// Every file under `folder` of the cache.
  static func cacheFiles(_ p: LauncherProject, _ folder: String) -> [String] {
    let start = p.cache + "/" + folder
    guard let walker = FileManager.default.enumerator(atPath: start) else { return [] }
    var out: [String] = []
    for case let rel as String in walker {
      var isFolder: ObjCBool = false
      if FileManager.default.fileExists(atPath: start + "/" + rel, isDirectory: &isFolder), !isFolder.boolValue {
        out.append(start + "/" + rel)
      }
    }
    return out.sorted()
  }

  /// Rewrites `path` (made writable first: the cache stores some files read-only).
  static func rewrite(_ path: String, _ change: (inout [UInt8]) -> Void) throws {
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    change(&bytes)
    _ = chmod(path, 0o644)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
  }

  @Test func damagedActionFilesMeanACompileAndACorrectObject() throws {
    let p = try LauncherProject()
    try p.make([LauncherProject.launched])
    let objects = p.files(under: "obj", endingIn: ".o")
    let actions = CacheEntries.all(in: p.cache)
    #expect(actions.count >= 8, "a direct and a preprocessed entry per unit: \(actions.map(\.key))")
    try CacheEntries.rewriteAll(in: p.cache) { _, bytes in bytes[bytes.count / 2] ^= 0x20 }
    let compiles = p.compiles.count
    let r = try p.rebuild([LauncherProject.launched])
    #expect(p.compiles.count == compiles + 4, "every unit compiled again")
    #expect(p.files(under: "obj", endingIn: ".o") == objects)
    #expect(try p.run("./app", []).stdout == "27\n")
    #expect(!r.stderr.contains("kiln"), "no message for a damaged entry: \(r.stderr)")
    // Stored again: the next build restores.
    try p.rebuild([LauncherProject.launched])
    #expect(p.compiles.count == compiles + 4)
  }

  @Test func truncatedAndEmptyActionFilesAreMisses() throws {
    let p = try LauncherProject()
    try p.make([LauncherProject.launched])
    let objects = p.files(under: "obj", endingIn: ".o")
    #expect(CacheEntries.all(in: p.cache).count >= 8)
    try CacheEntries.rewriteAll(in: p.cache) { i, bytes in bytes = i % 2 == 0 ? [] : Array(bytes.prefix(bytes.count - 3)) }
    let compiles = p.compiles.count
    try p.rebuild([LauncherProject.launched])
    #expect(p.compiles.count == compiles + 4)
    #expect(p.files(under: "obj", endingIn: ".o") == objects)
  }

  @Test func aDamagedBlobMeansACompileAndACorrectObject() throws {
    // An object over the inline limit is kept as a blob.
    let p = try LauncherProject(extra: ["src/big.c": "const char big[48000] = {1};\n"])
    try p.make([LauncherProject.launched])
    let objects = p.files(under: "obj", endingIn: ".o")
    #expect((p.bytes("obj/big.o")?.count ?? 0) > 32 * 1024)
    let blobs = Self.cacheFiles(p, "blobs")
    #expect(blobs.count == 1, "\(blobs)")
    for file in blobs {
      try Self.rewrite(file) { $0[$0.count - 100] ^= 0xFF }
    }
    let compiles = p.compiles.count
    try p.rebuild([LauncherProject.launched])
    #expect(p.sourcesCompiled(since: compiles) == ["src/big.c"])
    #expect(p.files(under: "obj", endingIn: ".o") == objects)
  }

  /// A well-formed entry (its checksum right) whose outputs name paths instead of the
  /// roles the command line has, or more outputs than it has, or bytes that are not
  /// their digest's: never restored, nothing written but by the compile.
  @Test func aForgedEntryWritesNothingButTheDeclaredOutputs() throws {
    let p = try LauncherProject()
    try p.mkdir("obj")
    let args = ["tools/gcc", "-Iinclude", "-c", "src/a.c", "-o", "obj/a.o"]
    #expect(try p.kiln(args).status == 0)
    let object = try #require(p.bytes("obj/a.o"))
    let actions = CacheEntries.all(in: p.cache)
    #expect(actions.count == 2)
    let escape = p.root + "/../escaped.o"
    let forgeries: [(String, (inout ActionEntry) -> Void)] = [
      ("a relative path out of the folder", { e in
        e.outputs[0].path = "../escaped.o"
        e.declaredOutputs = ["../escaped.o"]
      }),
      ("an absolute path", { e in
        e.outputs[0].path = escape
        e.declaredOutputs = [escape]
      }),
      ("a role next to the object", { e in
        e.outputs.append(OutputEntry(path: "depfile", kind: .file, permissions: 0o644, digest: e.outputs[0].digest))
        e.declaredOutputs = ["object", "depfile"]
      }),
      ("an undeclared role", { e in
        e.outputs.append(OutputEntry(path: "depfile", kind: .file, permissions: 0o644, digest: e.outputs[0].digest))
      }),
      ("another role only", { e in
        e.outputs[0].path = "depfile"
        e.declaredOutputs = ["depfile"]
      }),
      ("bytes that are not their digest", { e in
        for key in Array(e.inline.keys) { e.inline[key] = Array("int forged;\n".utf8) }
      }),
      ("a symlink", { e in
        e.outputs[0].kind = .symlink
      }),
    ]
    for (what, forge) in forgeries {
      for (key, original) in actions {
        var list = try ActionCache.decode(original)
        for i in list.indices { forge(&list[i]) }
        try CacheEntries.write(ActionCache.encode(list), for: key, in: p.cache)
      }
      p.remove("obj/a.o")
      let compiles = p.compiles.count
      let r = try p.kiln(args)
      #expect(r.status == 0, "\(what): \(r)")
      #expect(p.compiles.count == compiles + 1, "\(what): compiled, not restored")
      #expect(p.bytes("obj/a.o") == object, "\(what)")
      #expect(!FileManager.default.fileExists(atPath: escape), "\(what): wrote outside the outputs")
      #expect(!p.exists("obj/a.d") && !p.exists("a.d"), "\(what): wrote a depfile")
    }
  }
}
