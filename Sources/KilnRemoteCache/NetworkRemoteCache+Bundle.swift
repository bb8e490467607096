import KilnCore
import KilnHash
import KilnStore

/// The build's bundle on an REAPI server: kiln's own addition to the standard form,
/// which other REAPI clients never ask for and so never see.
///
/// REAPI has no batched `GetActionResult`: a fresh checkout restoring 419 tasks makes
/// 419 calls, and the server's CPU per call is what the restore waits for. A writer
/// (CI, `KILN_REMOTE_WRITE=1`) that ends a successful build uploads, beside the
/// build's entries, one more action-cache entry under the bundle key (`RemoteBundleKey`
/// in the engine: SHA-256 of a domain tag and the sorted remote keys of the build's
/// instances that depend on no other task). Layout:
///
/// - the action-cache entry: an `ActionResult` with one `OutputFile`, path
///   `kiln-bundle`, whose digest is the listing's (its bytes inside too, `contents`, as
///   kiln's entries carry small outputs, when under 1 MiB);
/// - the listing, a CAS blob: repeated field 1, each a message of field 1 (a remote
///   action key, 32 bytes) and field 2 (the REAPI `Digest` of that key's
///   `ActionResult` bytes as the server answered or was given them);
/// - each listed `ActionResult`, a CAS blob under its own SHA-256.
///
/// A reader fetches the entry with one `GetActionResult`, the listed results with a few
/// `BatchReadBlobs` of at most `bundleReadChunk` bytes each, and keeps every result whose
/// bytes are their digest's. It is only a prefetch: each is checked as if
/// `GetActionResult` of its key had answered it (signature, carried bytes, then the
/// engine's checks against the declared outputs); a result that fails them is asked for
/// alone; a key never looked up is never used; a bundle missing, garbled or failing to
/// read is no bundle (per-action lookups), never a failure of the remote by itself.
struct BundleState {
  /// The bundle being read: its results by key, each already matched to its digest.
  var reading: Task<[SHA256Digest: [UInt8]], Never>?
  /// Whether this build has a bundle key (`readBundle` was called): only then does a
  /// writer keep what a bundle would list.
  var collecting = false
  /// A writer's: every entry it uploaded or the server answered, by key, as bytes.
  var known: [SHA256Digest: [UInt8]] = [:]
  var knownBytes: Int64 = 0
  /// Whether one of `known` did not come from the bundle read (else that bundle is
  /// already on the server: nothing to write).
  var beyondBundle = false
}

extension NetworkRemoteCache {
  /// The listing's path inside the bundle's entry.
  static let bundlePath = "kiln-bundle"
  /// Fewer entries than this make no bundle: their lookups all go out at once anyway
  /// (`Job.remoteLookupsInFlight`), and a bundle would add a round trip before them.
  package static let bundleMinimum = 16
  /// The most bytes of results a bundle lists and a reader reads from one.
  static let bundleLimit: Int64 = 256 << 20
  /// The most bytes of results one `BatchReadBlobs` of a bundle's read asks for (under
  /// the 4 MiB a gRPC message usually may hold). The calls go one after the other:
  /// four calls of 512 KiB out at once made the 400-unit bench's read take 100-200 ms
  /// instead of 15-25 ms for one call of all 1.8 MB (the cause was not found; libcurl
  /// 7.88 gives each call in flight a connection of its own).
  static let bundleReadChunk: Int64 = 3 << 20

  package var usesBundles: Bool { endpoint.kind == .grpc }

  /// A writer keeps what a bundle would list: `bytes` is what the server holds (or was
  /// given) under `key`, and was accepted.
  func remember(_ bytes: [UInt8], key: SHA256Digest, fromBundle: Bool = false) {
    guard writes, usesBundles else { return }
    bundle.withLock { b in
      guard b.collecting else { return }
      let old = Int64(b.known[key]?.count ?? 0)
      guard b.knownBytes - old + Int64(bytes.count) <= Self.bundleLimit else { return }
      b.known[key] = bytes
      b.knownBytes += Int64(bytes.count) - old
      if !fromBundle { b.beyondBundle = true }
    }
  }

  package func readBundle(_ key: SHA256Digest) {
    guard usesBundles, down == nil else { return }
    let task = Task { await self.fetchBundle(key) }
    bundle.withLock {
      $0.reading = task
      $0.collecting = true
    }
  }

  /// What the bundle lists for `key`, waiting for it to be read; nil when there is no
  /// bundle or it does not list `key`.
  func bundledEntry(_ key: SHA256Digest) async -> [UInt8]? {
    guard let reading = bundle.withLock({ $0.reading }) else { return nil }
    guard let bytes = await reading.value[key] else { return nil }
    remember(bytes, key: key, fromBundle: true)
    return bytes
  }

  /// The results the bundle under `key` lists, each matched to its digest; empty when
  /// there is none, it is not one, or the server failed to answer for it (which puts
  /// nothing down: the lookups then find out for themselves).
  private func fetchBundle(_ key: SHA256Digest) async -> [SHA256Digest: [UInt8]] {
    do {
      return try await exchange(marksDown: false) { () async throws(RemoteFailure) -> [SHA256Digest: [UInt8]] in
        guard let entry = try await fetchEntry(key) else { return [:] }
        count(down: Int64(entry.count))
        guard let listing = try await bundleListing(entry) else { return [:] }
        return await readListed(listing)
      }
    } catch {
      return [:]
    }
  }

  /// The listing the bundle's entry names, checked against its digest; nil when the
  /// entry is not a bundle's or the listing is not there.
  private func bundleListing(_ entry: [UInt8]) async throws(RemoteFailure) -> [(SHA256Digest, BlobDigest)]? {
    var digest: BlobDigest?
    var carried: [UInt8]?
    do {
      var r = ProtoReader(entry)
      while let (n, v) = try r.next() {
        guard n == 2 else { continue }
        var file = try v.message()
        var path = "", d: BlobDigest?, contents: [UInt8]?
        while let (k, x) = try file.next() {
          switch k {
          case 1: path = try x.string()
          case 2: d = try BlobDigest(reading: x)
          case 5: contents = try x.bytes()
          default: break
          }
        }
        if path == Self.bundlePath { (digest, carried) = (d, contents) }
      }
    } catch {
      return nil
    }
    guard let digest, digest.size <= Self.entryLimit else { return nil }
    let bytes: [UInt8]
    if let carried, Int64(carried.count) == digest.size, SHA256Hasher.digest(carried) == digest.sha {
      bytes = carried
    } else {
      guard let read = try await fetchSmall(digest) else { return nil }
      bytes = read
    }
    return try? Self.decodeListing(bytes)
  }

  /// The listing's pairs (remote key, digest of its result); an error when the bytes
  /// are not one.
  static func decodeListing(_ bytes: [UInt8]) throws(ProtoError) -> [(SHA256Digest, BlobDigest)] {
    var pairs: [(SHA256Digest, BlobDigest)] = []
    var r = ProtoReader(bytes)
    while let (n, v) = try r.next() {
      guard n == 1 else { continue }
      var item = try v.message()
      var key: SHA256Digest?, digest: BlobDigest?
      while let (k, x) = try item.next() {
        switch k {
        case 1:
          let raw = try x.bytes()
          guard raw.count == 32 else { throw ProtoError("a bundle key that is not 32 bytes") }
          key = SHA256Digest(bytes: raw)
        case 2: digest = try BlobDigest(reading: x)
        default: break
        }
      }
      guard let key, let digest else { throw ProtoError("a bundle item without a key or a digest") }
      pairs.append((key, digest))
    }
    return pairs
  }

  /// The listing as bytes, keys sorted (the same entries make the same blob).
  static func encodeListing(_ known: [SHA256Digest: [UInt8]]) -> (listing: [UInt8], results: [BlobDigest: [UInt8]]) {
    var results: [BlobDigest: [UInt8]] = [:]
    var w = ProtoWriter()
    for (key, bytes) in known.sorted(by: { $0.key.hex < $1.key.hex }) {
      let digest = BlobDigest(sha: SHA256Hasher.digest(bytes), size: Int64(bytes.count))
      results[digest] = bytes
      w.message(1) {
        $0.data(1, key.bytes)
        digest.write(2, into: &$0)
      }
    }
    return (w.bytes, results)
  }

  /// The listed results, read with `BatchReadBlobs` calls of up to `bundleReadChunk`
  /// bytes; each kept only when its bytes are its digest's.
  private func readListed(_ listing: [(SHA256Digest, BlobDigest)]) async -> [SHA256Digest: [UInt8]] {
    var chunks: [[BlobDigest]] = [[]]
    var chunkBytes: Int64 = 0, total: Int64 = 0
    var seen = Set<BlobDigest>()
    for (_, digest) in listing where digest.size <= Self.batchLimit && seen.insert(digest).inserted {
      guard total + digest.size <= Self.bundleLimit else { break }
      total += digest.size
      if chunkBytes + digest.size > Self.bundleReadChunk, !chunks[chunks.count - 1].isEmpty {
        chunks.append([])
        chunkBytes = 0
      }
      chunks[chunks.count - 1].append(digest)
      chunkBytes += digest.size
    }
    var blobs: [BlobDigest: [UInt8]] = [:]
    for chunk in chunks where !chunk.isEmpty {
      // A call that failed leaves its results to per-task lookups.
      guard let read = try? await batchRead(chunk) else { continue }
      for (digest, bytes) in read {
        count(down: Int64(bytes.count))
        if Int64(bytes.count) == digest.size, SHA256Hasher.digest(bytes) == digest.sha { blobs[digest] = bytes }
      }
    }
    var results: [SHA256Digest: [UInt8]] = [:]
    for (key, digest) in listing { if let bytes = blobs[digest] { results[key] = bytes } }
    return results
  }

  package func writeBundle(_ key: SHA256Digest) async throws(RemoteFailure) {
    guard usesBundles, writes, down == nil else { return }
    let known = bundle.withLock { $0.beyondBundle ? $0.known : [:] }
    guard known.count >= Self.bundleMinimum else { return }
    try await exchange { () async throws(RemoteFailure) -> Void in
      var (listing, blobs) = Self.encodeListing(known)
      let listed = BlobDigest(sha: SHA256Hasher.digest(listing), size: Int64(listing.count))
      blobs[listed] = listing
      try await putBlobs(files: [:], memory: blobs)
      var result = ProtoWriter()
      result.message(2) {
        $0.string(1, Self.bundlePath)
        listed.write(2, into: &$0)
        if listed.size <= Self.inlinedLimit { $0.data(5, listing) }
      }
      var w = ProtoWriter()
      w.string(1, endpoint.instanceName)
      Self.actionDigest(key).write(2, into: &w)
      w.data(3, result.bytes, always: true)
      guard let r = try await grpc(Self.ac + "UpdateActionResult", [w.bytes]) else { throw Self.tooLong }
      guard r.isOK else { throw RemoteFailure("remote cache: UpdateActionResult answered status \(r.status) \(r.message)") }
      count(up: Int64(result.bytes.count))
      counting { $0.bundles += 1 }
    }
  }
}
