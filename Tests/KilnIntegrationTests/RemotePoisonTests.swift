import Foundation
import KilnTestSupport
import Testing

/// A poisoned remote is never restored from (SPEC section 5, trust): nginx's files are
/// rewritten under its root after CI uploaded, as anyone who can write the server
/// could. Wrong bytes under a blob's SHA-256 name and an entry naming paths the task
/// does not declare are misses: the task runs, its output is right, nothing is
/// written where the entry says.
@Suite struct RemotePoisonTests {
  static let project: [String: String] = [
    "kiln.yml": """
      tasks:
        gen:
          inputs: [in.txt]
          outputs: gen.txt
          run: echo x >> .runs/gen && tr a-z A-Z < in.txt > gen.txt
        use:
          inputs: [gen.txt]
          outputs: use.txt
          run: echo x >> .runs/use && rev gen.txt > use.txt
      """,
    "in.txt": "hello poison\n",
  ]

  /// A CI checkout that built and uploaded to `server`, and a fresh laptop checkout
  /// of it (empty local cache) reading from it.
  static func uploaded(to server: RemoteCacheServer) throws -> (ci: TempProject, laptop: TempProject) {
    let ci = try TempProject(project)
    ci.environment["KILN_REMOTE_CACHE"] = server.url
    let r = try ci.kiln("build", environment: ["KILN_REMOTE_WRITE": "1"])
    guard r.status == 0, server.entryCount() == 2 else { throw TempProjectError("CI's upload: \(r) \(server.storedFiles())") }
    return (ci, try ci.clone(sharingCache: false))
  }

  struct Replacement: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var testDescription: String { name }
  }

  static let replacements = [
    Replacement(name: "same size", bytes: Array("HELLO POISON\n".utf8.reversed())),
    Replacement(name: "longer", bytes: Array("HELLO POISON\nand then some more bytes\n".utf8)),
    Replacement(name: "shorter", bytes: Array("HELLO\n".utf8)),
    Replacement(name: "empty", bytes: []),
  ]

  @Test(arguments: replacements)
  func otherBytesUnderABlobsSHA256AreNotRestored(_ replacement: Replacement) throws {
    guard let server = try RemoteCacheServer.start(.nginx) else { return }
    let (ci, laptop) = try Self.uploaded(to: server)
    // The entries as a server that keeps only digests serves them: the blob is read.
    #expect(try server.dropInlinedBytes() == 2)
    let blob = server.blobFile(try RemoteFacts.sha256(ci.absolute("gen.txt")))
    #expect(FileManager.default.createFile(atPath: blob, contents: Data(replacement.bytes)))
    try Self.expectOnlyGenRuns(laptop, "the task whose blob is wrong runs")
  }

  /// After `gen`'s result was spoiled on the server: the laptop's build runs `gen`
  /// alone (a miss, not a failure of the server: it is still asked for `use`), every
  /// output right, and nothing wrong reached the local cache (with the outputs
  /// deleted, both come back from it).
  static func expectOnlyGenRuns(_ laptop: TempProject, _ why: String,
                                sourceLocation: SourceLocation = #_sourceLocation) throws {
    let r = try laptop.kiln("build")
    #expect(r.status == 0, "\(r)", sourceLocation: sourceLocation)
    #expect(laptop.runs("gen") == 1, "\(why): \(r)", sourceLocation: sourceLocation)
    #expect(laptop.runs("use") == 0, "\(r)", sourceLocation: sourceLocation)
    #expect(laptop.read("gen.txt") == "HELLO POISON\n" && laptop.read("use.txt") == "NOSIOP OLLEH\n",
            sourceLocation: sourceLocation)
    #expect(RemoteFacts.remoteLines(r).isEmpty, "\(r)", sourceLocation: sourceLocation)
    laptop.remove("gen.txt")
    laptop.remove("use.txt")
    let again = try laptop.kiln("build")
    #expect(again.status == 0 && again.ranCount == 0, "\(again)", sourceLocation: sourceLocation)
    #expect(laptop.read("gen.txt") == "HELLO POISON\n", sourceLocation: sourceLocation)
  }

  /// Blobs read together (REAPI's BatchReadBlobs carries the outputs of the entries
  /// found meanwhile in one answer): the one with other bytes under its SHA-256 is a
  /// miss and its task runs; the others are restored.
  @Test(arguments: RemoteProtocol.allCases)
  func aWrongBlobAmongOthersReadTogetherIsNotRestored(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    var files = ["kiln.yml": "tasks:\n"]
    for i in 0..<8 {
      files["kiln.yml"]! += "  t\(i):\n    inputs: [in\(i).txt]\n    outputs: out\(i).txt\n"
        + "    run: echo x >> .runs/t\(i) && tr a-z A-Z < in\(i).txt > out\(i).txt\n"
      files["in\(i).txt"] = "input number \(i)\n"
    }
    let ci = try TempProject(files)
    ci.environment["KILN_REMOTE_CACHE"] = server.url
    let upload = try ci.kiln("build", environment: ["KILN_REMOTE_WRITE": "1"])
    #expect(upload.status == 0 && server.entryCount() == 8, "\(upload) \(server.storedFiles())")
    // The entries without the bytes inside them: every output is read from the CAS.
    #expect(try server.dropInlinedBytes() == 8)
    let blob = server.blobFile(try RemoteFacts.sha256(ci.absolute("out5.txt")))
    #expect(FileManager.default.fileExists(atPath: blob), "\(server.storedFiles())")
    // Same size, other bytes: only the SHA-256 tells.
    try? FileManager.default.removeItem(atPath: blob)
    #expect(FileManager.default.createFile(atPath: blob, contents: Data("INPUT NUMBER 6\n".utf8)))

    let laptop = try ci.clone(sharingCache: false)
    let r = try laptop.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(laptop.runs("t5") == 1, "the task whose blob is wrong runs: \(r)")
    for i in 0..<8 where i != 5 { #expect(laptop.runs("t\(i)") == 0, "t\(i) ran: \(r)") }
    #expect(laptop.snapshot() == ci.snapshot(), "every output as CI built it")
    #expect(RemoteFacts.remoteLines(r).isEmpty, "a wrong blob is a miss, not a failure of the server: \(r)")
  }

  /// The bytes an entry carries inside itself for an output (REAPI's
  /// `OutputFile.contents`) replaced: the entry is a miss, as a wrong blob is; the task
  /// runs, the other is still restored, nothing wrong reaches the local cache. Emptied,
  /// the entry carries nothing (proto3) and the checked blob is restored.
  @Test(arguments: RemoteProtocol.allCases, replacements)
  func otherBytesInsideAnEntryAreNotRestored(_ kind: RemoteProtocol, _ replacement: Replacement) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let (ci, laptop) = try Self.uploaded(to: server)
    let file = try server.entryFile(naming: "gen.txt")
    let entry = [UInt8](try #require(FileManager.default.contents(atPath: file)))
    // ActionResult {2: OutputFile {5: contents}}
    let carried = Protobuf.fields(entry)?.filter { $0.field == 2 }.compactMap { Protobuf.fields($0.bytes) }.first?.first { $0.field == 5 }
    #expect(carried?.bytes == Array("HELLO POISON\n".utf8), "the entry carries gen.txt's bytes")
    let forged = try #require(Self.rewriting(entry, [2]) { output in
      Self.rewriting(output.bytes, [5]) { _ in replacement.bytes }
    })
    #expect(forged != entry)
    #expect(FileManager.default.createFile(atPath: file, contents: Data(forged)))
    if replacement.bytes.isEmpty {
      // Empty `contents` is no `contents` in proto3 (casd drops the field when it keeps
      // the entry): nothing is carried, and the blob the digest names is read and
      // checked instead. Nothing runs; every byte is CI's.
      let r = try laptop.kiln("build")
      #expect(r.status == 0 && r.ranCount == 0 && RemoteFacts.remoteLines(r).isEmpty, "\(r)")
      #expect(laptop.read("gen.txt") == "HELLO POISON\n" && laptop.read("use.txt") == "NOSIOP OLLEH\n")
    } else {
      try Self.expectOnlyGenRuns(laptop, "the entry with wrong bytes inside is a miss")
    }
    #expect(laptop.snapshot() == ci.snapshot())
  }

  /// A task's stdout carried inside its entry (`stdout_raw`) but not the bytes its
  /// digest names: a miss, the task runs and prints its own.
  @Test(arguments: RemoteProtocol.allCases)
  func otherStdoutInsideAnEntryIsNotReplayed(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let ci = try TempProject([
      "kiln.yml": "tasks:\n  say:\n    outputs: said.txt\n    run: echo x >> .runs/say && echo the-real-words && echo done > said.txt\n",
    ])
    ci.environment["KILN_REMOTE_CACHE"] = server.url
    #expect(try ci.kiln("build", environment: ["KILN_REMOTE_WRITE": "1"]).status == 0)
    let file = try server.entryFile(naming: "said.txt")
    let entry = [UInt8](try #require(FileManager.default.contents(atPath: file)))
    // ActionResult {5: stdout_raw}
    #expect(Protobuf.fields(entry)?.first { $0.field == 5 }?.bytes == Array("the-real-words\n".utf8))
    let forged = try #require(Self.rewriting(entry, [5]) { _ in Array("the-fake-words\n".utf8) })
    #expect(FileManager.default.createFile(atPath: file, contents: Data(forged)))

    let laptop = try ci.clone(sharingCache: false)
    let r = try laptop.kiln("build")
    #expect(r.status == 0 && laptop.runs("say") == 1, "\(r)")
    #expect(!r.stdout.contains("the-fake-words") && r.stdout.contains("the-real-words"), "\(r)")
  }

  struct Forgery: Sendable, CustomTestStringConvertible {
    /// Where the entry says `use`'s output is (`{outside}` is a folder outside every checkout).
    var path: String
    /// Whether the entry's list of declared outputs says so too.
    var declared: Bool
    var testDescription: String { "\(path)\(declared ? ", declared" : "")" }
  }

  static let forgeries = ["../evil", "{outside}/evil", "in.txt", "gen.txt", "use.txt/../in.txt"].flatMap {
    [Forgery(path: $0, declared: false), Forgery(path: $0, declared: true)]
  }

  @Test(arguments: forgeries)
  func anEntryNamingAnOutputTheTaskDoesNotDeclareIsNotRestored(_ forgery: Forgery) throws {
    guard let server = try RemoteCacheServer.start(.nginx) else { return }
    let (ci, laptop) = try Self.uploaded(to: server)
    let outside = TempDirectory(prefix: "kiln-it-outside")
    let path = forgery.path.replacingOccurrences(of: "{outside}", with: outside.path)
    let file = try server.entryFile(naming: "use.txt")
    let entry = [UInt8](try #require(FileManager.default.contents(atPath: file)))
    #expect(Self.renamingOutput(entry, "use.txt", to: "use.txt", declared: true) == entry,
            "the rewriting keeps everything else byte for byte: only the path is forged")
    let forged = try #require(Self.renamingOutput(entry, "use.txt", to: path, declared: forgery.declared))
    #expect(forged != entry)
    #expect(FileManager.default.createFile(atPath: file, contents: Data(forged)))

    let r = try laptop.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(laptop.runs("gen") == 0, "the entry next to the forged one is still restored: \(r)")
    #expect(laptop.runs("use") == 1, "the forged entry is a miss: \(r)")
    #expect(laptop.snapshot() == ci.snapshot(), "every file as CI built it, the sources untouched")
    #expect(!FileManager.default.fileExists(atPath: laptop.root + "/../evil"))
    #expect(!FileManager.default.fileExists(atPath: outside.path + "/evil"))
  }

  @Test(arguments: ["/etc/passwd", "../evil", "../../evil", "sub/../../evil"])
  func anEntryMakingTheDeclaredOutputALinkOutOfTheCheckoutIsNotRestored(_ target: String) throws {
    guard let server = try RemoteCacheServer.start(.nginx) else { return }
    let (ci, laptop) = try Self.uploaded(to: server)
    let file = try server.entryFile(naming: "use.txt")
    let entry = [UInt8](try #require(FileManager.default.contents(atPath: file)))
    // use.txt as an OutputSymlink (ActionResult field 12) instead of a file (field 2),
    // and as a link (kind 3) in kiln's ordered outputs (Extras field 3, field 2).
    let relinked = try #require(Self.rewriting(entry, [9]) { metadata in
      Self.rewriting(metadata.bytes, [11]) { any in
        Self.rewriting(any.bytes, [2]) { extras in
          Self.rewriting(extras.bytes, [3]) { output in
            Protobuf.fields(output.bytes).map { Protobuf.encode($0.map { var f = $0; if f.field == 2 { f.number = 3 }; return f }) }
          }
        }
      }
    })
    let fields = try #require(Protobuf.fields(relinked)).filter { $0.field != 2 }
    let link = Protobuf.Field(field: 12, wire: 2, bytes: Protobuf.string(1, "use.txt") + Protobuf.string(2, target))
    #expect(FileManager.default.createFile(atPath: file, contents: Data(Protobuf.encode(fields + [link]))))

    let r = try laptop.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(laptop.runs("use") == 1, "the entry is a miss: \(r)")
    #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: laptop.absolute("use.txt"))) == nil, "use.txt is no link")
    #expect(laptop.snapshot() == ci.snapshot())
  }

  /// `entry` (an ActionResult kiln wrote) with output `old` called `new`: in its
  /// OutputFile and in kiln's ordered outputs (`kiln.v1.Extras` field 3), and with
  /// `declared` in the declared outputs (Extras field 2) too.
  static func renamingOutput(_ entry: [UInt8], _ old: String, to new: String, declared: Bool) -> [UInt8]? {
    let renamed = { (message: [UInt8]) in
      rewriting(message, [1]) { $0.string == old ? Array(new.utf8) : $0.bytes }
    }
    let extras = { (payload: [UInt8]) in
      rewriting(payload, [2, 3]) { $0.field == 3 ? renamed($0.bytes) : declared && $0.string == old ? Array(new.utf8) : $0.bytes }
    }
    // ActionResult {2: OutputFile {1: path}, 9: ExecutedActionMetadata {11: Any {2: Extras}}}
    return rewriting(entry, [2, 9]) { field in
      field.field == 2 ? renamed(field.bytes) : rewriting(field.bytes, [11]) { any in
        rewriting(any.bytes, [2]) { extras($0.bytes) }
      }
    }
  }

  /// `message` with the length-delimited fields numbered `numbers` replaced by what
  /// `transform` makes of them; nil when something is not a message.
  static func rewriting(_ message: [UInt8], _ numbers: Set<Int>, _ transform: (Protobuf.Field) -> [UInt8]?) -> [UInt8]? {
    guard var fields = Protobuf.fields(message) else { return nil }
    for i in fields.indices where fields[i].wire == 2 && numbers.contains(fields[i].field) {
      guard let bytes = transform(fields[i]) else { return nil }
      fields[i].bytes = bytes
    }
    return Protobuf.encode(fields)
  }

  /// Who signed what CI uploaded, as the laptop that requires signatures sees it.
  enum Signer: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case nobody
    case theTrustedKey
    case anotherKey
    var testDescription: String { rawValue }
  }

  @Test(arguments: RemoteProtocol.allCases, Signer.allCases)
  func withAVerifyKeyOnlyEntriesThatKeySignedAreRestored(_ kind: RemoteProtocol, signer: Signer) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let keys = TempDirectory(prefix: "kiln-it-keys")
    let trusted = try RemoteFacts.keyPair(in: keys.path, named: "ci")
    let other = try RemoteFacts.keyPair(in: keys.path, named: "other")
    // The public key is part of the checkout (`verify_key:` relative to kiln.yml).
    var files = Self.project
    files["kiln.yml"]! += "\nremote:\n  url: \(server.url)\n  verify_key: keys/ci.pub.pem\n"
    files["keys/ci.pub.pem"] = try String(contentsOfFile: trusted.publicKey, encoding: .utf8)
    let ci = try TempProject(files)
    var env = ["KILN_REMOTE_WRITE": "1"]
    switch signer {
    case .nobody: break
    case .theTrustedKey: env["KILN_REMOTE_SIGNING_KEY"] = trusted.privateKey
    case .anotherKey: env["KILN_REMOTE_SIGNING_KEY"] = other.privateKey
    }
    let upload = try ci.kiln("build", environment: env)
    #expect(upload.status == 0, "\(upload)")
    #expect(server.entryCount() == 2, "\(server.storedFiles())")

    let laptop = try ci.clone(sharingCache: false)
    let r = try laptop.kiln("build")
    #expect(r.status == 0, "\(r)")
    let restored = signer == .theTrustedKey
    #expect(laptop.runs("gen") == (restored ? 0 : 1) && laptop.runs("use") == (restored ? 0 : 1), "\(r)")
    #expect(laptop.snapshot() == ci.snapshot())
  }

  @Test(arguments: RemoteProtocol.allCases)
  func aVerifyKeyInTheBuildFileStillHoldsWhenTheEnvironmentNamesTheRemote(_ kind: RemoteProtocol) throws {
    guard let server = try RemoteCacheServer.start(kind) else { return }
    let keys = TempDirectory(prefix: "kiln-it-keys")
    let trusted = try RemoteFacts.keyPair(in: keys.path, named: "ci")
    var files = Self.project
    files["kiln.yml"]! += "\nremote:\n  url: \(server.url)\n  verify_key: keys/ci.pub.pem\n"
    files["keys/ci.pub.pem"] = try String(contentsOfFile: trusted.publicKey, encoding: .utf8)
    let ci = try TempProject(files)
    // Uploaded unsigned.
    #expect(try ci.kiln("build", environment: ["KILN_REMOTE_WRITE": "1"]).status == 0)
    #expect(server.entryCount() == 2, "\(server.storedFiles())")

    // The laptop names the same server through the environment (a mirror, a proxy):
    // the URL is the environment's, the signatures the build file requires still are.
    let laptop = try ci.clone(sharingCache: false)
    let r = try laptop.kiln("build", environment: ["KILN_REMOTE_CACHE": server.url])
    #expect(r.status == 0, "\(r)")
    #expect(laptop.runs("gen") == 1 && laptop.runs("use") == 1, "unsigned entries restored: the build file's verify_key was dropped: \(r)")
  }

  /// How a signed entry is tampered with on the server: into one kiln's other checks
  /// would accept (the task's own output, a blob that is on the server), so only the
  /// signature stands between it and a wrong restore.
  enum Tampering: String, Sendable, CaseIterable, CustomTestStringConvertible {
    /// `gen`'s signed entry for another in.txt copied over its entry for this one.
    case movedToAnotherKey
    /// `use`'s signed entry naming the blob of its result for another in.txt.
    case pointedAtAnotherBlob
    var testDescription: String { rawValue }
  }

  @Test(arguments: Tampering.allCases)
  func aSignedEntryMovedOrEditedIsAMiss(_ tampering: Tampering) throws {
    guard let server = try RemoteCacheServer.start(.nginx) else { return }
    let keys = TempDirectory(prefix: "kiln-it-keys")
    let ciKey = try RemoteFacts.keyPair(in: keys.path, named: "ci")
    let ci = try TempProject(Self.project)
    ci.environment["KILN_REMOTE_CACHE"] = server.url
    ci.environment["KILN_REMOTE_VERIFY_KEY"] = ciKey.publicKey
    let laptop = try ci.clone(sharingCache: false)
    // CI builds two versions of in.txt: two signed entries for each task.
    let signedUpload = ["KILN_REMOTE_WRITE": "1", "KILN_REMOTE_SIGNING_KEY": ciKey.privateKey]
    #expect(try ci.kiln("build", environment: signedUpload).status == 0)
    let before = ["gen.txt", "use.txt"].map { ci.bytes($0) }
    let genSHA = try RemoteFacts.sha256(ci.absolute("gen.txt")), useSHA = try RemoteFacts.sha256(ci.absolute("use.txt"))
    try ci.write("in.txt", "other words\n")
    #expect(try ci.kiln("build", environment: signedUpload).status == 0)
    #expect(server.entryCount() == 4, "\(server.storedFiles())")
    let otherGenSHA = try RemoteFacts.sha256(ci.absolute("gen.txt")), otherUseSHA = try RemoteFacts.sha256(ci.absolute("use.txt"))

    let tampered: String
    switch tampering {
    case .movedToAnotherKey:
      tampered = try server.entryFile(holding: genSHA)
      let other = try #require(FileManager.default.contents(atPath: try server.entryFile(holding: otherGenSHA)))
      #expect(FileManager.default.createFile(atPath: tampered, contents: other))
    case .pointedAtAnotherBlob:
      tampered = try server.entryFile(holding: useSHA)
      let entry = [UInt8](try #require(FileManager.default.contents(atPath: tampered)))
      let size = try #require(ci.bytes("use.txt")).count
      // ActionResult {2: OutputFile {2: Digest}}
      let pointed = try #require(Self.rewriting(entry, [2]) { file in
        Self.rewriting(file.bytes, [2]) { _ in Protobuf.digest(otherUseSHA, size) }
      })
      #expect(FileManager.default.createFile(atPath: tampered, contents: Data(pointed)))
    }

    let r = try laptop.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(laptop.runs("gen") + laptop.runs("use") == 1, "only the tampered entry is a miss: \(r)")
    #expect(["gen.txt", "use.txt"].map { laptop.bytes($0) } == before, "this in.txt's results, not the other's")
  }
}
