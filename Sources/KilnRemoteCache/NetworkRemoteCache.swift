#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnHash
import KilnRemote
import KilnStore
import KilnSystem
import Synchronization

/// kiln's remote cache over an existing server: Bazel's HTTP cache protocol
/// (`/ac/<key>`, `/cas/<sha256>`) or REAPI (ActionCache, ContentAddressableStorage and
/// ByteStream over gRPC), through `RemoteClient` (the `kiln-remote` helper).
///
/// Never required: the first failure of any kind (refused, timed out, a status that is
/// not a hit or a miss, bytes that are not the protocol) puts it `down` for the rest of
/// the process, and every later call answers that failure at once. A blob whose bytes
/// are not its SHA-256, or an entry that does not decode, is a miss, not a failure.
package final class NetworkRemoteCache: RemoteCache {
  package let client: RemoteClient
  package let writes: Bool
  private let signing: EntrySigning
  let fileSystem: any FileSystem
  private struct State {
    var down: RemoteFailure?
    var reported = false
    var traffic = RemoteTraffic()
  }
  private let state = Mutex(State())
  /// The build's bundle: read (`readBundle`), and the entries to write one of.
  let bundle = Mutex(BundleState())
  /// REAPI: small blobs asked for while `readsInFlight` BatchReadBlobs are out, read
  /// together in the next one (`read(_:)`).
  private let reads = Mutex(BlobReads())
  /// Blobs this size or smaller go through BatchRead/BatchUpdate, larger through ByteStream.
  static let batchLimit: Int64 = 1 << 20
  /// The most bytes of an entry, a stdout or a stderr kiln reads into memory.
  static let entryLimit: Int64 = 16 << 20

  package init(client: RemoteClient, writes: Bool, signing: EntrySigning = EntrySigning(),
               fileSystem: any FileSystem = LocalFileSystem()) {
    self.client = client
    self.writes = writes
    self.signing = signing
    self.fileSystem = fileSystem
  }

  package var down: RemoteFailure? { state.withLock { $0.down } }
  package var traffic: RemoteTraffic { state.withLock { $0.traffic } }

  package func failureToReport() -> RemoteFailure? {
    state.withLock {
      guard let down = $0.down, !$0.reported else { return nil }
      $0.reported = true
      return down
    }
  }

  var endpoint: RemoteEndpoint { client.endpoint }

  /// Runs one exchange, counting its time; a failure puts the cache down, unless not
  /// `marksDown` (the bundle's read: failing, it is no bundle, and the lookups that
  /// follow find out for themselves whether the server is down).
  func exchange<T>(marksDown: Bool = true, _ body: () async throws(RemoteFailure) -> T) async throws(RemoteFailure) -> T {
    if let down { throw down }
    let start = ContinuousClock.now
    defer {
      let spent = ContinuousClock.now - start
      let seconds = Double(spent.components.seconds) + Double(spent.components.attoseconds) / 1e18
      state.withLock { $0.traffic.seconds += seconds }
    }
    do { return try await body() } catch {
      if marksDown { state.withLock { if $0.down == nil { $0.down = error } } }
      throw error
    }
  }

  /// Adds to what the network cost.
  func counting(_ change: (inout RemoteTraffic) -> Void) { state.withLock { change(&$0.traffic) } }

  func count(down: Int64 = 0, up: Int64 = 0) {
    state.withLock {
      $0.traffic.bytesDown += down
      $0.traffic.bytesUp += up
    }
  }

  private static func failure(_ error: RemoteError) -> RemoteFailure { RemoteFailure(error.description) }

  /// One HTTP exchange; nil when the answer was longer than the request allowed (a
  /// blob longer than its digest says: a miss, not a failure of the server).
  private func http(_ request: HTTPRequest) async throws(RemoteFailure) -> HTTPResponse? {
    counting { $0.requests += 1 }
    do { return try await client.perform(request) } catch {
      if case .tooLarge = error { return nil }
      throw Self.failure(error)
    }
  }

  /// One gRPC call; nil when the answer was longer than `limit`.
  func grpc(_ method: String, _ messages: [[UInt8]], limit: Int64 = 64 << 20) async throws(RemoteFailure) -> GRPCResponse? {
    counting { $0.requests += 1 }
    do { return try await client.call(GRPCCall(method, messages: messages, responseLimit: limit)) } catch {
      if case .tooLarge = error { return nil }
      throw Self.failure(error)
    }
  }

  static let tooLong = RemoteFailure("remote cache: an answer longer than any kiln asks for")

  static let ac = "/build.bazel.remote.execution.v2.ActionCache/"
  static let cas = "/build.bazel.remote.execution.v2.ContentAddressableStorage/"

  /// The action digest REAPI is asked about: kiln's remote key, with the key's own
  /// length as size (there is no `Action` message behind it).
  static func actionDigest(_ key: SHA256Digest) -> BlobDigest { BlobDigest(sha: key, size: 32) }

  // MARK: - Lookup

  package func lookup(_ key: SHA256Digest) async throws(RemoteFailure) -> RemoteEntry? {
    try await lookup(key, bundle: true)
  }

  package func lookupAlone(_ key: SHA256Digest) async throws(RemoteFailure) -> RemoteEntry? {
    try await lookup(key, bundle: false)
  }

  /// The entry under `key`: from the build's bundle when it lists `key` (`bundle`) and
  /// what it lists passes every check a server's own answer must, else asked for.
  private func lookup(_ key: SHA256Digest, bundle: Bool) async throws(RemoteFailure) -> RemoteEntry? {
    if bundle, let bytes = await bundledEntry(key) {
      if var entry = try await exchange({ () async throws(RemoteFailure) -> RemoteEntry? in try await checkedEntry(bytes, key: key) }) {
        state.withLock {
          $0.traffic.lookups += 1
          $0.traffic.bundled += 1
          $0.traffic.hits += 1
        }
        entry.fromBundle = true
        return entry
      }
    }
    return try await exchange { () async throws(RemoteFailure) -> RemoteEntry? in
      state.withLock { $0.traffic.lookups += 1 }
      guard let bytes = try await fetchEntry(key) else { return nil }
      count(down: Int64(bytes.count))
      guard let entry = try await checkedEntry(bytes, key: key) else { return nil }
      remember(bytes, key: key)
      state.withLock { $0.traffic.hits += 1 }
      return entry
    }
  }

  /// The entry `bytes` encode, as the remote answer for `key`: decoded, its signature
  /// checked (when one is required), the bytes it carries checked, stdout and stderr
  /// read; nil (a miss) when any of it fails.
  private func checkedEntry(_ bytes: [UInt8], key: SHA256Digest) async throws(RemoteFailure) -> RemoteEntry? {
    guard let decoded = try? ActionResultCodec.decode(bytes), signing.accepts(decoded, key: key),
          var entry = Self.checkingInlined(decoded.entry)
    else { return nil }
    if let d = decoded.stdout {
      guard let bytes = try await inlinedOrFetched(d, decoded.stdoutRaw) else { return nil }
      entry.stdout = bytes
    }
    if let d = decoded.stderr {
      guard let bytes = try await inlinedOrFetched(d, decoded.stderrRaw) else { return nil }
      entry.stderr = bytes
    }
    return entry
  }

  /// `entry` with the bytes it carries for its outputs checked: each against its
  /// output's SHA-256 and size (nil, a miss, when one is not), dropped unread for an
  /// output larger than a local entry keeps inside itself (its blob is read instead);
  /// an empty file's bytes are known without asking.
  static func checkingInlined(_ entry: RemoteEntry) -> RemoteEntry? {
    var entry = entry
    for k in entry.outputs.indices where entry.outputs[k].kind == .file {
      let output = entry.outputs[k]
      guard let sha = output.sha256 else { continue }
      if output.size > ActionCache.inlineLimit {
        entry.outputs[k].contents = nil
      } else if let contents = output.contents {
        guard Int64(contents.count) == output.size, SHA256Hasher.digest(contents) == sha else { return nil }
      } else if output.size == 0, sha == emptySHA256 {
        entry.outputs[k].contents = []
      }
    }
    return entry
  }

  static let emptySHA256 = SHA256Hasher.digest([])

  /// stdout's or stderr's bytes: those the entry carried when they are `digest`'s (nil,
  /// a miss, when they are not), else read from the CAS.
  private func inlinedOrFetched(_ digest: BlobDigest, _ inlined: [UInt8]?) async throws(RemoteFailure) -> [UInt8]? {
    guard let inlined, !inlined.isEmpty else { return try await fetchSmall(digest) }
    guard Int64(inlined.count) == digest.size, SHA256Hasher.digest(inlined) == digest.sha else { return nil }
    return inlined
  }

  func fetchEntry(_ key: SHA256Digest) async throws(RemoteFailure) -> [UInt8]? {
    switch endpoint.kind {
    case .httpCache:
      // An entry longer than any kiln writes is not one of kiln's: a miss.
      guard let r = try await http(HTTPRequest(.get, "/ac/\(key.hex)", responseLimit: Self.entryLimit)) else { return nil }
      return r.isMiss ? nil : r.body
    case .grpc:
      var w = ProtoWriter()
      w.string(1, endpoint.instanceName)
      Self.actionDigest(key).write(2, into: &w)
      // inline_stdout, inline_stderr: a server that inlines them from its CAS saves a
      // read (kiln's own uploads carry them, and small outputs, inside the entry).
      w.bool(3, true)
      w.bool(4, true)
      guard let r = try await grpc(Self.ac + "GetActionResult", [w.bytes], limit: Self.entryLimit) else { return nil }
      if r.status == 5 { return nil }
      guard r.isOK, r.messages.count == 1 else { throw RemoteFailure("remote cache: GetActionResult answered status \(r.status) \(r.message)") }
      return r.messages[0]
    }
  }

  package func fetch(_ digest: SHA256Digest, size: Int64) async throws(RemoteFailure) -> [UInt8]? {
    try await exchange { () async throws(RemoteFailure) -> [UInt8]? in
      try await fetchSmall(BlobDigest(sha: digest, size: size))
    }
  }

  /// A small blob (an output kept inside its entry, stdout, stderr) in memory, checked;
  /// nil when missing or wrong.
  func fetchSmall(_ digest: BlobDigest) async throws(RemoteFailure) -> [UInt8]? {
    guard digest.size <= Self.entryLimit else { return nil }
    if digest.size > Self.batchLimit, endpoint.kind == .grpc {
      // Through ByteStream, into a file.
      let path = scratchPath()
      defer { try? fileSystem.remove(path) }
      guard try await downloadChecked(digest, to: path) != nil else { return nil }
      return try? fileSystem.read(path)
    }
    let bytes: [UInt8]
    switch endpoint.kind {
    case .httpCache:
      guard let r = try await http(HTTPRequest(.get, "/cas/\(digest.sha.hex)", responseLimit: digest.size)),
            !r.isMiss
      else { return nil }
      bytes = r.body
    case .grpc:
      guard let data = try await read(digest) else { return nil }
      bytes = data
    }
    count(down: Int64(bytes.count))
    guard Int64(bytes.count) == digest.size, SHA256Hasher.digest(bytes) == digest.sha else { return nil }
    return bytes
  }

  private func scratchPath() -> String {
    "/tmp/kiln-remote\(Paths.temporaryMarker)\(getpid())-\(TemporaryCounter.next())"
  }

  // MARK: - Blobs

  package func download(_ digest: SHA256Digest, size: Int64, to path: String) async throws(RemoteFailure) -> Digest? {
    try await exchange { () async throws(RemoteFailure) -> Digest? in
      try await downloadChecked(BlobDigest(sha: digest, size: size), to: path)
    }
  }

  /// Writes the blob to `path` and checks it: its XXH3 digest, or nil (and nothing at
  /// `path`) when the server lacks it or sent other bytes.
  private func downloadChecked(_ digest: BlobDigest, to path: String) async throws(RemoteFailure) -> Digest? {
    var received: Int64 = 0
    switch endpoint.kind {
    case .httpCache:
      let answer: HTTPResponse?
      do {
        answer = try await http(HTTPRequest(.get, "/cas/\(digest.sha.hex)", responseFile: path, responseLimit: digest.size))
      } catch {
        try? fileSystem.remove(path)
        throw error
      }
      guard let r = answer, !r.isMiss else {
        try? fileSystem.remove(path)
        return nil
      }
      received = r.bodyLength
    case .grpc:
      let bytes: [UInt8]
      if digest.size <= Self.batchLimit {
        guard let data = try await read(digest) else { return nil }
        bytes = data
      } else {
        var w = ProtoWriter()
        w.string(1, resourceName("blobs/\(digest.sha.hex)/\(digest.size)"))
        guard let r = try await grpc("/google.bytestream.ByteStream/Read", [w.bytes], limit: digest.size + digest.size / 64 + 4096)
        else { return nil }
        if r.status == 5 { return nil }
        guard r.isOK else { throw RemoteFailure("remote cache: ByteStream.Read answered status \(r.status) \(r.message)") }
        var data: [UInt8] = []
        for message in r.messages {
          var m = ProtoReader(message)
          while let (n, v) = try? m.next() { if n == 10, let b = try? v.bytes() { data += b } }
        }
        bytes = data
      }
      guard (try? fileSystem.writeAtomically(bytes, to: path, permissions: 0o600)) != nil else {
        throw RemoteFailure("remote cache: cannot write \(path)")
      }
      received = Int64(bytes.count)
    }
    count(down: received)
    guard received == digest.size, let (xxh, sha) = try? fileSystem.digests(of: path), sha == digest.sha else {
      try? fileSystem.remove(path)
      return nil
    }
    return xxh
  }

  /// BatchReadBlobs calls out at once (`read(_:)`). One alone made every read wait for
  /// the one before and for a thread to go on with it: the bench's restore from casd
  /// took twice as long; with four, reads are put together only when many wait.
  static let readsInFlight = 4

  /// Small blobs to read (REAPI), waiting for a BatchReadBlobs out to come back.
  private struct BlobReads {
    var waiting: [BlobRead] = []
    var inFlight = 0
  }

  /// One caller waiting for a blob's bytes (nil: the server does not have it).
  private struct BlobRead {
    let digest: BlobDigest
    let continuation: CheckedContinuation<Result<[UInt8]?, RemoteFailure>, Never>
  }

  /// A small blob's bytes through BatchReadBlobs, unchecked (the caller checks them
  /// against the digest), nil when the server lacks it or answered garbage. A caller
  /// sends at once while fewer than `readsInFlight` calls are out; callers that come
  /// while that many are out are read together in the next one, sent when one comes
  /// back: a restore's lookups in flight share calls instead of making one each.
  private func read(_ digest: BlobDigest) async throws(RemoteFailure) -> [UInt8]? {
    let answer = await withCheckedContinuation { (continuation: CheckedContinuation<Result<[UInt8]?, RemoteFailure>, Never>) in
      let first: [BlobRead]? = reads.withLock { r in
        r.waiting.append(BlobRead(digest: digest, continuation: continuation))
        guard r.inFlight < Self.readsInFlight else { return nil }
        r.inFlight += 1
        return Self.takeBatch(&r.waiting)
      }
      if let first { Task { await self.readAll(first) } }
    }
    return try answer.get()
  }

  /// Reads `batch`, then whatever came meanwhile, until nothing waits.
  private func readAll(_ batch: [BlobRead]) async {
    var next: [BlobRead]? = batch
    while let reading = next {
      let answers: Result<[BlobDigest: [UInt8]], RemoteFailure>
      do { answers = .success(try await batchRead(reading.map(\.digest))) } catch { answers = .failure(error) }
      for waiter in reading { waiter.continuation.resume(returning: answers.map { $0[waiter.digest] }) }
      next = reads.withLock { r in
        guard !r.waiting.isEmpty else {
          r.inFlight -= 1
          return nil
        }
        return Self.takeBatch(&r.waiting)
      }
    }
  }

  /// The first of `waiting` up to `batchLimit` bytes in all (at least one), taken out.
  private static func takeBatch(_ waiting: inout [BlobRead]) -> [BlobRead] {
    var total: Int64 = 0
    var n = 0
    while n < waiting.count, n == 0 || total + waiting[n].digest.size <= batchLimit {
      total += waiting[n].digest.size
      n += 1
    }
    defer { waiting.removeFirst(n) }
    return Array(waiting[..<n])
  }

  /// One BatchReadBlobs for `digests`: the bytes of each the server answered OK for
  /// (a missing one, or an answer that is not the protocol, is not there).
  func batchRead(_ digests: [BlobDigest]) async throws(RemoteFailure) -> [BlobDigest: [UInt8]] {
    var w = ProtoWriter()
    w.string(1, endpoint.instanceName)
    for digest in Set(digests) { digest.write(2, into: &w) }
    let limit = digests.reduce(Int64(4096)) { $0 + $1.size + 256 }
    guard let r = try await grpc(Self.cas + "BatchReadBlobs", [w.bytes], limit: limit) else { return [:] }
    guard r.isOK, r.messages.count == 1 else { throw RemoteFailure("remote cache: BatchReadBlobs answered status \(r.status) \(r.message)") }
    return (try? Self.batchReadData(r.messages[0])) ?? [:]
  }

  /// The data of each answer of a BatchReadBlobs whose status is OK, by digest; an
  /// error when the message is not one.
  private static func batchReadData(_ message: [UInt8]) throws(ProtoError) -> [BlobDigest: [UInt8]] {
    var r = ProtoReader(message)
    var found: [BlobDigest: [UInt8]] = [:]
    while let (n, v) = try r.next() {
      guard n == 1 else { continue }
      var resp = try v.message()
      var digest: BlobDigest?, data: [UInt8] = [], code: UInt64 = 0
      while let (k, x) = try resp.next() {
        switch k {
        case 1: digest = try BlobDigest(reading: x)
        case 2: data = try x.bytes()
        case 3:
          var status = try x.message()
          while let (s, y) = try status.next() { if s == 1 { code = try y.uint() } }
        default: break
        }
      }
      if let digest, code == 0 { found[digest] = data }
    }
    return found
  }

  private func resourceName(_ rest: String) -> String {
    endpoint.instanceName.isEmpty ? rest : "\(endpoint.instanceName)/\(rest)"
  }

  // MARK: - Upload

  package func upload(_ entry: RemoteEntry, key: SHA256Digest, blobs: [(SHA256Digest, Int64, String)]) async throws(RemoteFailure) {
    try await exchange { () async throws(RemoteFailure) -> Void in
      var all = blobs
      var scratch: [String] = []
      defer { for path in scratch { try? fileSystem.remove(path) } }
      func text(_ bytes: [UInt8]) throws(RemoteFailure) -> BlobDigest? {
        guard !bytes.isEmpty else { return nil }
        let path = scratchPath()
        guard (try? fileSystem.writeAtomically(bytes, to: path, permissions: 0o600)) != nil else {
          throw RemoteFailure("remote cache: cannot write \(path)")
        }
        scratch.append(path)
        let d = BlobDigest(sha: SHA256Hasher.digest(bytes), size: Int64(bytes.count))
        all.append((d.sha, d.size, path))
        return d
      }
      let stdout = try text(entry.stdout), stderr = try text(entry.stderr)
      try await putBlobs(all)
      var stored = entry
      stored.stdout = []
      stored.stderr = []
      let signature = signing.sign(stored, key: key, stdout: stdout, stderr: stderr)
      let bytes = ActionResultCodec.encode(Self.inlining(entry), stdout: stdout, stderr: stderr, signature: signature)
      try await putEntry(bytes, key: key)
      count(up: Int64(bytes.count))
      remember(bytes, key: key)
      state.withLock { $0.traffic.uploads += 1 }
    }
  }

  /// Stores the action-cache entry `bytes` under `key`.
  func putEntry(_ bytes: [UInt8], key: SHA256Digest) async throws(RemoteFailure) {
    switch endpoint.kind {
    case .httpCache:
      guard try await http(HTTPRequest(.put, "/ac/\(key.hex)", body: .bytes(bytes))) != nil else { throw Self.tooLong }
    case .grpc:
      var w = ProtoWriter()
      w.string(1, endpoint.instanceName)
      Self.actionDigest(key).write(2, into: &w)
      w.data(3, bytes, always: true)
      guard let r = try await grpc(Self.ac + "UpdateActionResult", [w.bytes]) else { throw Self.tooLong }
      guard r.isOK else { throw RemoteFailure("remote cache: UpdateActionResult answered status \(r.status) \(r.message)") }
    }
  }

  /// The most bytes of outputs, stdout and stderr an uploaded entry carries inside
  /// itself (`inlining(_:)`), well below a gRPC server's usual 4 MiB message limit.
  static let inlinedLimit: Int64 = 1 << 20

  /// `entry` as uploaded: the bytes it was given for small files (up to a local
  /// entry's inline limit each, as many as fit in `inlinedLimit` in all) and its
  /// stdout and stderr when they fit too; the rest are read from the CAS by a reader.
  static func inlining(_ entry: RemoteEntry) -> RemoteEntry {
    var entry = entry
    var room = inlinedLimit
    for k in entry.outputs.indices {
      guard let contents = entry.outputs[k].contents else { continue }
      let size = Int64(contents.count)
      if entry.outputs[k].kind == .file, size <= ActionCache.inlineLimit, size == entry.outputs[k].size, size <= room {
        room -= size
      } else {
        entry.outputs[k].contents = nil
      }
    }
    if Int64(entry.stdout.count) <= room { room -= Int64(entry.stdout.count) } else { entry.stdout = [] }
    if Int64(entry.stderr.count) <= room { room -= Int64(entry.stderr.count) } else { entry.stderr = [] }
    return entry
  }

  /// Sends the blobs the server does not have.
  private func putBlobs(_ blobs: [(SHA256Digest, Int64, String)]) async throws(RemoteFailure) {
    var files: [BlobDigest: String] = [:]
    for (sha, size, path) in blobs { files[BlobDigest(sha: sha, size: size)] = path }
    try await putBlobs(files: files, memory: [:])
  }

  /// Sends the blobs the server does not have: from files (`files`: each digest's
  /// file) and from memory (`memory`).
  /// Returns how many bytes went up.
  @discardableResult
  func putBlobs(files: [BlobDigest: String], memory: [BlobDigest: [UInt8]]) async throws(RemoteFailure) -> Int64 {
    var sent: Int64 = 0
    func bytes(_ digest: BlobDigest) throws(RemoteFailure) -> [UInt8] {
      if let held = memory[digest] { return held }
      // A file read again to be sent (a remote action's input, from the workspace) must
      // still be what its digest says: never bytes under another content's name.
      guard let path = files[digest], let read = try? fileSystem.read(path), Int64(read.count) == digest.size,
            SHA256Hasher.digest(read) == digest.sha
      else {
        throw RemoteFailure("remote cache: the server asked for a blob kiln did not offer, or its file changed")
      }
      return read
    }
    let all = Array(Set(files.keys).union(memory.keys))
    switch endpoint.kind {
    case .httpCache:
      for digest in all {
        guard let head = try await http(HTTPRequest(.head, "/cas/\(digest.sha.hex)")) else { throw Self.tooLong }
        guard head.isMiss else { continue }
        let body: HTTPRequest.Body = files[digest].map { .file($0) } ?? .bytes(memory[digest]!)
        guard try await http(HTTPRequest(.put, "/cas/\(digest.sha.hex)", body: body)) != nil else { throw Self.tooLong }
        count(up: digest.size)
        sent += digest.size
      }
    case .grpc:
      var w = ProtoWriter()
      w.string(1, endpoint.instanceName)
      for digest in all { digest.write(2, into: &w) }
      guard let r = try await grpc(Self.cas + "FindMissingBlobs", [w.bytes]) else { throw Self.tooLong }
      guard r.isOK, r.messages.count == 1 else { throw RemoteFailure("remote cache: FindMissingBlobs answered status \(r.status) \(r.message)") }
      var missing: [BlobDigest] = []
      var m = ProtoReader(r.messages[0])
      do {
        while let (n, v) = try m.next() { if n == 2 { missing.append(try BlobDigest(reading: v)) } }
      } catch {
        throw RemoteFailure("remote cache: FindMissingBlobs answered \(error)")
      }
      // Small blobs together, up to the batch limit a call; large ones through ByteStream.
      var batch = ProtoWriter()
      var batched: Int64 = 0
      func sendBatch() async throws(RemoteFailure) {
        guard batched > 0 else { return }
        var b = ProtoWriter()
        b.string(1, endpoint.instanceName)
        let body = b.bytes + batch.bytes
        guard let u = try await grpc(Self.cas + "BatchUpdateBlobs", [body]) else { throw Self.tooLong }
        guard u.isOK else { throw RemoteFailure("remote cache: BatchUpdateBlobs answered status \(u.status) \(u.message)") }
        batch = ProtoWriter()
        batched = 0
      }
      for digest in missing {
        guard files[digest] != nil || memory[digest] != nil else {
          throw RemoteFailure("remote cache: the server asked for a blob kiln did not offer")
        }
        let data = try bytes(digest)
        if digest.size <= Self.batchLimit {
          if batched + digest.size > Self.batchLimit { try await sendBatch() }
          batch.message(2) {
            digest.write(1, into: &$0)
            $0.data(2, data)
          }
          batched += max(1, digest.size)
        } else {
          let name = resourceName("uploads/\(Self.uuid())/blobs/\(digest.sha.hex)/\(digest.size)")
          var messages: [[UInt8]] = []
          var offset = 0
          let chunk = 1 << 20
          repeat {
            var c = ProtoWriter()
            if offset == 0 { c.string(1, name) }
            c.int(2, Int64(offset))
            let end = min(offset + chunk, data.count)
            c.bool(3, end == data.count)
            c.data(10, Array(data[offset..<end]))
            messages.append(c.bytes)
            offset = end
          } while offset < data.count
          guard let u = try await grpc("/google.bytestream.ByteStream/Write", messages) else { throw Self.tooLong }
          guard u.isOK else { throw RemoteFailure("remote cache: ByteStream.Write answered status \(u.status) \(u.message)") }
        }
        count(up: digest.size)
        sent += digest.size
      }
      try await sendBatch()
    }
    return sent
  }

  /// A random version-4 UUID for a ByteStream upload name.
  private static func uuid() -> String {
    var bytes = (0..<16).map { _ in UInt8.random(in: 0...255) }
    bytes[6] = bytes[6] & 0x0f | 0x40
    bytes[8] = bytes[8] & 0x3f | 0x80
    let hex = bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    let h = Array(hex)
    return "\(String(h[0..<8]))-\(String(h[8..<12]))-\(String(h[12..<16]))-\(String(h[16..<20]))-\(String(h[20..<32]))"
  }
}
