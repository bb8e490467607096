import Foundation
import KilnTestSupport
import Testing

/// The two protocols a remote cache test runs against, each with a real server:
/// Bazel's HTTP cache protocol (nginx with WebDAV) and REAPI (buildbox-casd).
enum RemoteProtocol: String, Sendable, CaseIterable, CustomTestStringConvertible {
  case nginx
  case casd

  var testDescription: String { rawValue }
}

/// One server started for one test on 127.0.0.1, in a scratch folder of its own, stopped
/// by its PID when the test lets go of it.
final class RemoteCacheServer {
  let kind: RemoteProtocol
  let scratch: TempDirectory
  private let server: TestServer

  /// The server, or nil with the reason recorded as a failure: `make test` extracts
  /// both tools into .build/test-tools (or set KILN_NGINX / KILN_BUILDBOX_CASD).
  static func start(_ kind: RemoteProtocol) throws -> RemoteCacheServer? {
    let scratch = TempDirectory(prefix: "kiln-it-\(kind.rawValue)")
    let started = switch kind {
    case .nginx: try CacheServers.nginx(scratch)
    case .casd: try CacheServers.casd(scratch)
    }
    guard let started else {
      Issue.record("\(kind) is missing: `make test` extracts it into .build/test-tools (or set KILN_NGINX / KILN_BUILDBOX_CASD)")
      return nil
    }
    return RemoteCacheServer(kind, scratch, started)
  }

  private init(_ kind: RemoteProtocol, _ scratch: TempDirectory, _ server: TestServer) {
    self.kind = kind
    self.scratch = scratch
    self.server = server
  }

  deinit { server.stop() }

  var pid: Int32 { server.process.processIdentifier }

  /// What `KILN_REMOTE_CACHE` or `remote:` names: nginx under a prefix, casd as is.
  var url: String {
    switch kind {
    case .nginx: "http://127.0.0.1:\(server.port)/team-cache"
    case .casd: "grpc://127.0.0.1:\(server.port)"
    }
  }

  func stop() { server.stop() }

  /// Every file the server keeps, relative to its storage and sorted: for nginx what
  /// was PUT (`team-cache/ac/...`, `team-cache/cas/...`), for casd its CAS objects and
  /// action cache. What a client wrote shows here; casd's own empty blob is left out.
  func storedFiles() -> [String] {
    let top = storage
    guard let walker = FileManager.default.enumerator(atPath: top) else { return [] }
    var found: [String] = []
    for case let rel as String in walker {
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: top + "/" + rel, isDirectory: &isDirectory), !isDirectory.boolValue,
            rel.hasPrefix("team-cache/") || rel.hasPrefix("cas/objects/") || rel.hasPrefix("actioncache/objects/"),
            rel != "cas/objects/e3/" + Self.emptySHA256.dropFirst(2)
      else { continue }
      found.append(rel)
    }
    return found.sorted()
  }

  /// The action entries kept (nginx: `ac/`, casd: its action cache).
  func entryCount() -> Int {
    storedFiles().filter { $0.hasPrefix("team-cache/ac/") || $0.hasPrefix("actioncache/") }.count
  }

  private var storage: String {
    switch kind {
    case .nginx: CacheServers.nginxRoot(scratch)
    case .casd: CacheServers.casdStorage(scratch)
    }
  }

  static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

  // MARK: - nginx's files, written directly (a poisoned server)

  /// The file nginx serves for `/cas/<sha256>`, or casd's local CAS keeps the blob in.
  func blobFile(_ sha256: String) -> String {
    switch kind {
    case .nginx: CacheServers.nginxRoot(scratch) + "/team-cache/cas/" + sha256
    case .casd: CacheServers.casdStorage(scratch) + "/cas/objects/\(sha256.prefix(2))/\(sha256.dropFirst(2))"
    }
  }

  /// The files nginx serves under `/ac/`, by key.
  func entryFiles() -> [String: String] {
    let folder = CacheServers.nginxRoot(scratch) + "/team-cache/ac"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    return Dictionary(uniqueKeysWithValues: names.map { ($0, folder + "/" + $0) })
  }

  /// Every action entry file the server keeps (an REAPI ActionResult each): nginx's
  /// under `ac/`, casd's action cache.
  func allEntryFiles() -> [String] {
    switch kind {
    case .nginx: return Array(entryFiles().values)
    case .casd:
      let top = CacheServers.casdStorage(scratch)
      return storedFiles().filter { $0.hasPrefix("actioncache/") }.map { top + "/" + $0 }
    }
  }

  /// Rewrites every entry on the server without the bytes kiln puts inside it (each
  /// OutputFile's `contents`, field 5; `stdout_raw` 5 and `stderr_raw` 7), as a server
  /// that keeps only digests serves it: a reader then reads every blob from the CAS.
  /// The number of entries that carried some.
  @discardableResult
  func dropInlinedBytes() throws -> Int {
    var changed = 0
    for file in allEntryFiles() {
      let entry = [UInt8](FileManager.default.contents(atPath: file) ?? Data())
      guard var fields = Protobuf.fields(entry) else { throw TempProjectError("\(file) is not an entry") }
      fields.removeAll { $0.field == 5 || $0.field == 7 }
      for i in fields.indices where fields[i].field == 2 {
        guard let file = Protobuf.fields(fields[i].bytes) else { throw TempProjectError("an OutputFile that is not one") }
        fields[i].bytes = Protobuf.encode(file.filter { $0.field != 5 })
      }
      let stripped = Protobuf.encode(fields)
      guard stripped != entry else { continue }
      changed += 1
      guard FileManager.default.createFile(atPath: file, contents: Data(stripped)) else { throw TempProjectError("cannot write \(file)") }
    }
    return changed
  }

  /// Replaces every blob the server keeps (nginx's `cas/`, casd's CAS objects but its
  /// own empty blob) with other bytes under the same name; the entries stay. casd
  /// answers no entry whose blobs are gone, so they are spoiled rather than removed.
  /// How many were.
  @discardableResult
  func spoilBlobs() -> Int {
    var spoiled = 0
    for rel in storedFiles() where rel.hasPrefix("team-cache/cas/") || rel.hasPrefix("cas/objects/") {
      let path = storage + "/" + rel
      try? FileManager.default.removeItem(atPath: path)
      if FileManager.default.createFile(atPath: path, contents: Data("spoiled \(rel)\n".utf8)) { spoiled += 1 }
    }
    return spoiled
  }

  /// The file of the entry (an REAPI ActionResult) with an output file named `path`.
  func entryFile(naming path: String) throws -> String {
    try entryFile("naming \(path)") { $0.contains { $0.field == 1 && $0.string == path } }
  }

  /// The file of the entry with an output file whose digest's hash is `sha256`.
  func entryFile(holding sha256: String) throws -> String {
    try entryFile("holding \(sha256)") { file in
      file.contains { $0.field == 2 && Protobuf.fields($0.bytes)?.contains { $0.field == 1 && $0.string == sha256 } == true }
    }
  }

  /// The file of the entry one of whose OutputFile messages (`ActionResult` field 2,
  /// as fields) `matches`.
  private func entryFile(_ what: String, _ matches: ([Protobuf.Field]) -> Bool) throws -> String {
    for file in allEntryFiles() {
      let bytes = [UInt8](FileManager.default.contents(atPath: file) ?? Data())
      let outputs = (Protobuf.fields(bytes) ?? []).filter { $0.field == 2 }.compactMap { Protobuf.fields($0.bytes) }
      if outputs.contains(where: matches) { return file }
    }
    throw TempProjectError("no entry on the server \(what)")
  }
}

/// Facts about files the tests check with other tools than kiln's.
enum RemoteFacts {
  /// The SHA-256 of a file, by `sha256sum`.
  static func sha256(_ path: String) throws -> String {
    let scratch = TempDirectory(prefix: "kiln-it-sha")
    let r = try Program.run("/usr/bin/sha256sum", [path], in: scratch.path)
    guard r.status == 0, let hex = r.stdout.split(separator: " ").first, hex.count == 64 else {
      throw TempProjectError("sha256sum \(path): \(r)")
    }
    return String(hex)
  }

  /// An Ed25519 key pair made by openssl in `folder`: (private PEM, public PEM) paths.
  static func keyPair(in folder: String, named name: String) throws -> (privateKey: String, publicKey: String) {
    let privateKey = folder + "/\(name).pem", publicKey = folder + "/\(name).pub.pem"
    let made = try Program.run("/usr/bin/openssl", ["genpkey", "-algorithm", "ed25519", "-out", privateKey], in: folder)
    let exported = try Program.run("/usr/bin/openssl", ["pkey", "-in", privateKey, "-pubout", "-out", publicKey], in: folder)
    guard made.status == 0, exported.status == 0 else { throw TempProjectError("openssl: \(made) \(exported)") }
    return (privateKey, publicKey)
  }

  /// The lines of kiln's stderr that speak of the remote cache.
  static func remoteLines(_ r: KilnResult) -> [String] { r.stderrLines.filter { $0.contains("remote cache") } }
}
