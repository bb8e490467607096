import Foundation
import KilnTestSupport
import Testing

/// The build's bundle on a remote cache (kiln's own addition, `NetworkRemoteCache+Bundle`),
/// against a real nginx (Bazel's HTTP protocol) and a real buildbox-casd (REAPI) on
/// 127.0.0.1: a writer's successful build of a checkout that never built uploads one
/// more entry listing the build's entries and the packs holding them; a fresh checkout
/// reads it with a few requests (the entry, then its packs) instead of one lookup a
/// task. What `--json` says under `remote` counts it: `lookups`, `from_bundle` of them
/// answered by the bundle (the rest were asked one by one; a result from the bundle
/// that did not fit its task is asked for alone, one lookup more), and `requests`, all
/// the server was sent.
/// A bundle is only a prefetch: forged, garbled or missing, the build restores the same
/// bytes through per-task lookups, and writes nothing undeclared.
@Suite struct RemoteBundleTests {
  /// 20 independent instances and one that depends on them all: 21 entries, enough
  /// for a bundle (`bundleMinimum`, 16).
  static let count = 20
  static func project(_ url: String) -> [String: String] {
    var files = [
      "kiln.yml": "tasks:\n" + RemoteCacheTests.genTask + """
          all:
            inputs: [out/*.txt]
            outputs: all.txt
            run: echo x >> .runs/all && cat {in} > all.txt
        remote: \(url)

        """
    ]
    for k in 0..<count { files["src/f\(k).txt"] = "file number \(k)\n" }
    return files
  }

  /// The figures of `--json`'s `remote` object.
  static func remote(_ r: KilnResult) -> [String: Int] {
    guard let line = r.stdout.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
          let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
          let remote = object["remote"] as? [String: Any]
    else { return [:] }
    return remote.compactMapValues { ($0 as? NSNumber)?.intValue }
  }

  /// A CI checkout built and uploaded (with its bundle); a laptop's fresh clone.
  static func uploaded(to server: RemoteCacheServer, environment: [String: String] = [:]) throws -> (ci: TempProject, laptop: TempProject) {
    let ci = try TempProject(project(server.url))
    let r = try ci.kiln("build", "--json", environment: environment.merging(["KILN_REMOTE_WRITE": "1"]) { $1 })
    guard r.status == 0, remote(r)["uploads"] == count + 1, remote(r)["bundles_uploaded"] == 1,
          server.entryCount() == count + 2
    else { throw TempProjectError("CI's upload: \(r) \(server.storedFiles())") }
    return (ci, try ci.clone(sharingCache: false))
  }

  /// The laptop restored every output as CI built it, ran nothing, warned of nothing;
  /// its `remote` figures.
  @discardableResult
  static func expectRestoredEverything(_ laptop: TempProject, ci: TempProject, _ why: String) throws -> [String: Int] {
    let r = try laptop.kiln("build", "--json")
    #expect(r.status == 0, "\(why): \(r)")
    #expect(laptop.runs("gen") == 0 && laptop.runs("all") == 0, "\(why): nothing runs: \(r)")
    #expect(RemoteFacts.remoteLines(r).isEmpty, "\(why): no warning: \(r)")
    #expect(laptop.snapshot() == ci.snapshot(), "\(why): every output byte for byte")
    #expect(remote(r)["uploads"] == 0 && remote(r)["bundles_uploaded"] == 0, "a reader uploads nothing: \(remote(r))")
    return remote(r)
  }

  @Test(arguments: RemoteProtocol.allCases)
  func aFreshCheckoutTakesEveryEntryFromTheBundle(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let (ci, laptop) = try Self.uploaded(to: server)
    let figures = try Self.expectRestoredEverything(laptop, ci: ci, "from the bundle")
    #expect(figures["lookups"] == Self.count + 1 && figures["from_bundle"] == Self.count + 1,
            "no task asked the server alone: \(figures)")
    // The bundle's entry (carrying its listing) and its one pack: two requests for 21
    // restored tasks, where lookups of their own would have made 21.
    #expect(figures["requests"] == 2, "\(figures)")
    #expect(server.entryCount() == Self.count + 2, "the reader wrote nothing: \(server.storedFiles())")
    // A second writer's build of the same sources finds the bundle whole: nothing more.
    let again = try ci.clone(sharingCache: false)
    let r = try again.kiln("build", "--json", environment: ["KILN_REMOTE_WRITE": "1"])
    #expect(r.status == 0 && again.runs("gen") == 0, "\(r)")
    #expect(Self.remote(r)["bundles_uploaded"] == 0 && Self.remote(r)["from_bundle"] == Self.count + 1, "\(Self.remote(r))")
  }

  /// A new checkout whose local cache already holds the build (a workspace of the
  /// same machine) restores from it alone: no helper starts, no bundle is read.
  @Test(arguments: RemoteProtocol.allCases)
  func aFreshCheckoutOnAWarmLocalCacheReadsNoBundle(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let (ci, _) = try Self.uploaded(to: server)
    let workspace = try ci.clone(sharingCache: true)
    let helperLog = workspace.home + "/helper.log"
    workspace.environment["KILN_REMOTE_HELPER"] = try RemoteCacheTests.countingHelper(in: workspace.home, log: helperLog)
    let r = try workspace.kiln("build", "--json")
    #expect(r.status == 0 && workspace.runs("gen") == 0 && workspace.runs("all") == 0, "\(r)")
    #expect(workspace.snapshot() == ci.snapshot())
    #expect(Self.remote(r).isEmpty, "the remote was not asked: \(r.stdout.suffix(300))")
    #expect(!FileManager.default.fileExists(atPath: helperLog), "no helper started")
  }

  @Test(arguments: RemoteProtocol.allCases)
  func aReadOnlyClientNeverUploadsABundle(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let ci = try TempProject(Self.project(server.url))
    let r = try ci.kiln("build", "--json")
    #expect(r.status == 0 && ci.runs("gen") == Self.count, "\(r)")
    #expect(Self.remote(r)["uploads"] == 0 && Self.remote(r)["bundles_uploaded"] == 0, "\(Self.remote(r))")
    #expect(server.storedFiles().isEmpty, "nothing on the server: \(server.storedFiles())")
  }

  @Test(arguments: RemoteProtocol.allCases)
  func aBuildThatFailedUploadsNoBundle(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    var files = Self.project(server.url)
    files["kiln.yml"] = files["kiln.yml"]!.replacingOccurrences(of: "cat {in} > all.txt", with: "cat {in} > all.txt && false")
    let ci = try TempProject(files)
    let r = try ci.kiln("build", "--json", environment: ["KILN_REMOTE_WRITE": "1"])
    #expect(r.status == 1, "\(r)")
    #expect(Self.remote(r)["uploads"] == Self.count && Self.remote(r)["bundles_uploaded"] == 0, "\(Self.remote(r))")
    #expect(server.entryCount() == Self.count, "the entries of the tasks that passed, no bundle: \(server.storedFiles())")
  }

  @Test(arguments: RemoteProtocol.allCases)
  func aMissingBundleIsPerTaskLookups(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let (ci, laptop) = try Self.uploaded(to: server)
    try FileManager.default.removeItem(atPath: try server.entryFile(naming: "kiln-bundle"))
    let figures = try Self.expectRestoredEverything(laptop, ci: ci, "without the bundle")
    #expect(figures["lookups"] == Self.count + 1 && figures["from_bundle"] == 0, "\(figures)")
  }

  /// Ways to forge the bundle on the server after CI uploaded it.
  enum Forgery: String, Sendable, CaseIterable, CustomTestStringConvertible {
    /// Other bytes under every pack's SHA-256.
    case wrongPacks
    /// Packs of other bytes, each under its own SHA-256, so the listed results' digests
    /// are not what the packs hold at their places.
    case wrongDigests
    /// One listed result rewritten to name an output the task does not declare (the
    /// listing gives the rewritten bytes' own SHA-256).
    case undeclaredPath
    /// Two keys' results swapped in the listing.
    case swappedKeys
    /// A listing of garbage bytes (stored under their own SHA-256).
    case garbage
    var testDescription: String { rawValue }
  }

  @Test(arguments: RemoteProtocol.allCases, Forgery.allCases)
  func aForgedBundleIsNeverRestoredFrom(_ kind: RemoteProtocol, _ forgery: Forgery) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let (ci, laptop) = try Self.uploaded(to: server)
    let listed = try Self.forge(forgery, on: server)
    let figures = try Self.expectRestoredEverything(laptop, ci: ci, "a forged bundle (\(forgery))")
    #expect(!laptop.exists("evil.txt"), "nothing undeclared is written")
    // A result from the bundle that does not fit its task is asked for alone: one
    // more lookup each, and the server's own answer restored.
    switch forgery {
    case .wrongDigests, .wrongPacks, .garbage:
      #expect(figures["lookups"] == Self.count + 1 && figures["from_bundle"] == 0, "\(figures)")
    case .undeclaredPath:
      #expect(figures["lookups"] == Self.count + 2 && figures["from_bundle"] == Self.count + 1, "\(figures)")
    case .swappedKeys:
      let swapped = 2 * (listed / 2)
      #expect(figures["lookups"] == Self.count + 1 + swapped && figures["from_bundle"] == Self.count + 1, "\(figures)")
    }
  }

  /// With a verify key, a swapped result fails its signature (it signs another key)
  /// before the engine sees it: the server is asked for that key instead.
  @Test(arguments: RemoteProtocol.allCases)
  func underSignaturesASwappedResultIsAskedForAlone(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let keys = TempDirectory(prefix: "kiln-it-keys")
    let ciKey = try RemoteFacts.keyPair(in: keys.path, named: "ci")
    let (ci, laptop) = try Self.uploaded(to: server, environment: ["KILN_REMOTE_SIGNING_KEY": ciKey.privateKey])
    laptop.environment["KILN_REMOTE_VERIFY_KEY"] = ciKey.publicKey
    let listed = try Self.forge(.swappedKeys, on: server)
    let figures = try Self.expectRestoredEverything(laptop, ci: ci, "a swapped bundle under signatures")
    let unswapped = listed % 2
    #expect(figures["lookups"] == Self.count + 1 && figures["from_bundle"] == unswapped, "\(figures)")
  }

  /// Forges the bundle CI uploaded to `server`; how many results it listed.
  static func forge(_ forgery: Forgery, on server: RemoteCacheServer) throws -> Int {
    let bundleFile = try server.entryFile(naming: "kiln-bundle")
    let entry = [UInt8](FileManager.default.contents(atPath: bundleFile) ?? Data())
    guard let listing = Self.listing(in: entry), var results = Self.results(listing, on: server), results.count == Self.count + 1
    else { throw TempProjectError("not a bundle kiln wrote: \(entry.count) bytes") }
    var forged: [UInt8]
    switch forgery {
    case .wrongPacks:
      for pack in (Protobuf.fields(listing) ?? []).filter({ $0.field == 2 }) {
        let hash = Protobuf.fields(pack.bytes)!.first { $0.field == 1 }!.string
        let path = server.blobFile(hash)
        try? FileManager.default.removeItem(atPath: path)
        #expect(FileManager.default.createFile(atPath: path, contents: Data("not that pack \(hash)\n".utf8)))
      }
      forged = listing
    case .wrongDigests:
      forged = try Self.bundle(results, on: server) { pack in pack.map { $0 ^ 0x55 } }
    case .undeclaredPath:
      var changed = false
      for k in results.indices {
        guard let renamed = RemotePoisonTests.renamingOutput(results[k].result, "out/f3.txt", to: "evil.txt", declared: true),
              renamed != results[k].result
        else { continue }
        results[k].result = renamed
        changed = true
      }
      #expect(changed, "one result named out/f3.txt")
      forged = try Self.bundle(results, on: server)
    case .swappedKeys:
      for k in stride(from: 0, to: results.count - 1, by: 2) {
        (results[k].key, results[k + 1].key) = (results[k + 1].key, results[k].key)
      }
      forged = try Self.bundle(results, on: server)
    case .garbage:
      forged = Array("this is no listing of kiln's, only \u{1}\u{2}\u{3} some bytes".utf8)
    }
    // The entry now names (and carries) the forged listing, stored under its SHA-256.
    let digest = try Self.store(forged, on: server)
    let rewritten = RemotePoisonTests.rewriting(entry, [2]) { file in
      guard Protobuf.fields(file.bytes)?.contains(where: { $0.field == 1 && $0.string == "kiln-bundle" }) == true else { return file.bytes }
      return Protobuf.string(1, "kiln-bundle") + Protobuf.bytes(2, digest) + Protobuf.bytes(3, forged)
    }
    #expect(FileManager.default.createFile(atPath: bundleFile, contents: Data(rewritten!)))
    return results.count
  }

  /// The (key, result bytes) a listing lists, read from its packs on the server. A
  /// listing: items (field 1: {1: key, 2: Digest, 3: pack, 4: offset; 0 left out}),
  /// packs (field 2: Digest).
  static func results(_ listing: [UInt8], on server: RemoteCacheServer) -> [(key: [UInt8], result: [UInt8])]? {
    guard let fields = Protobuf.fields(listing) else { return nil }
    let packs = fields.filter { $0.field == 2 }.map { pack -> [UInt8] in
      let hash = Protobuf.fields(pack.bytes)!.first { $0.field == 1 }!.string
      return [UInt8](FileManager.default.contents(atPath: server.blobFile(hash)) ?? Data())
    }
    var out: [(key: [UInt8], result: [UInt8])] = []
    for item in fields.filter({ $0.field == 1 }) {
      guard let f = Protobuf.fields(item.bytes),
            let key = f.first(where: { $0.field == 1 })?.bytes,
            let size = f.first(where: { $0.field == 2 }).flatMap({ Protobuf.fields($0.bytes)?.first { $0.field == 2 }?.number }),
            case let pack = f.first(where: { $0.field == 3 })?.number ?? 0, case let offset = f.first(where: { $0.field == 4 })?.number ?? 0,
            Int(pack) < packs.count, Int(offset + size) <= packs[Int(pack)].count
      else { return nil }
      out.append((key, Array(packs[Int(pack)][Int(offset)..<Int(offset + size)])))
    }
    return out
  }

  /// A listing of `results` in one pack, the pack stored on `server` (as `spoil` turns
  /// it) under its SHA-256; each item's digest is its result's.
  static func bundle(_ results: [(key: [UInt8], result: [UInt8])], on server: RemoteCacheServer,
                     spoil: ([UInt8]) -> [UInt8] = { $0 }) throws -> [UInt8] {
    var listing: [UInt8] = [], pack: [UInt8] = []
    for (key, result) in results {
      let digest = try Self.digest(of: result)
      listing += Protobuf.bytes(1, Protobuf.bytes(1, key) + Protobuf.bytes(2, digest) + Protobuf.number(3, 0)
                                + Protobuf.number(4, UInt64(pack.count)))
      pack += result
    }
    return listing + Protobuf.bytes(2, try Self.store(spoil(pack), on: server))
  }

  /// The REAPI Digest of `bytes`, encoded.
  static func digest(of bytes: [UInt8]) throws -> [UInt8] {
    let scratch = TempDirectory(prefix: "kiln-it-blob")
    let file = scratch.path + "/blob"
    #expect(FileManager.default.createFile(atPath: file, contents: Data(bytes)))
    return Protobuf.digest(try RemoteFacts.sha256(file), bytes.count)
  }

  /// The listing a bundle's entry carries (its `kiln-bundle` OutputFile's `contents`, field 5).
  static func listing(in entry: [UInt8]) -> [UInt8]? {
    for field in Protobuf.fields(entry) ?? [] where field.field == 2 {
      guard let file = Protobuf.fields(field.bytes), file.contains(where: { $0.field == 1 && $0.string == "kiln-bundle" }) else { continue }
      return file.first { $0.field == 5 }?.bytes
    }
    return nil
  }

  /// `bytes` put into casd's CAS under their SHA-256; their REAPI Digest, encoded.
  static func store(_ bytes: [UInt8], on server: RemoteCacheServer) throws -> [UInt8] {
    let scratch = TempDirectory(prefix: "kiln-it-blob")
    let file = scratch.path + "/blob"
    #expect(FileManager.default.createFile(atPath: file, contents: Data(bytes)))
    let sha = try RemoteFacts.sha256(file)
    let path = server.blobFile(sha)
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try? FileManager.default.removeItem(atPath: path)
    #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
    return Protobuf.digest(sha, bytes.count)
  }
}
