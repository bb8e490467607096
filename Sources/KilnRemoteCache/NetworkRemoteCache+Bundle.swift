import KilnCore
import KilnHash
import KilnStore

/// The build's bundle on a remote cache (Bazel's HTTP protocol or REAPI): kiln's own
/// addition to the standard form, which other clients never ask for and so never see.
///
/// Neither protocol has a batched lookup: a fresh checkout restoring 419 tasks makes
/// 419 `GetActionResult` calls or `GET /ac/` requests, and the round trips and the
/// server's CPU per request are what the restore waits for. A writer (CI,
/// `KILN_REMOTE_WRITE=1`) that ends a successful build uploads, beside the build's
/// entries, one more action-cache entry under the bundle key (`RemoteBundleKey` in the
/// engine: SHA-256 of a domain tag and the sorted remote keys of the build's instances
/// that depend on no other task). Layout:
///
/// - the action-cache entry: an `ActionResult` with one `OutputFile`, path
///   `kiln-bundle`, whose digest is the listing's (its bytes inside too, `contents`, as
///   kiln's entries carry small outputs, when under 1 MiB);
/// - the listing, a CAS blob: repeated field 1, the items, each a message of field 1 (a
///   remote action key, 32 bytes), field 2 (the REAPI `Digest` of that key's
///   `ActionResult` bytes as the server answered or was given them), field 3 (the index
///   of the pack holding those bytes) and field 4 (their offset in it); repeated field
///   2, the packs' `Digest`s, in the order they are read;
/// - each pack, a CAS blob: results one after the other, 32 KiB of them in the first
///   pack, twice as many in each next one up to 1 MiB (`packLimit`; one larger result
///   alone), in the order the writer's build came to them, which is about the order a
///   reader's build asks for them.
///
/// A reader fetches the entry with one request, then the packs in their order, a few
/// at a time (`bundlePacksInFlight`; a `GET /cas/` each, or a `BatchReadBlobs`), each
/// checked against its digest. A
/// lookup waits only for the listing and then for its own pack, not for the whole
/// bundle: the first tasks restore while later packs are on the way. Each result is
/// taken only when its bytes in the pack are its item's digest's, and then it is only a
/// prefetch: checked as if a lookup of its key had answered it (signature, carried
/// bytes, then the engine's checks against the declared outputs); a result that fails
/// them is asked for alone; a key never looked up is never used; a bundle missing,
/// garbled or failing to read, or a pack missing or wrong, is per-key lookups for what
/// it would have answered, never a failure of the remote by itself.
struct BundleState {
  /// The bundle being read: nil once known absent or unreadable.
  var reading: Task<BundleRead?, Never>?
  /// Whether this build has a bundle key (`readBundle` was called): only then does a
  /// writer keep what a bundle would list.
  var collecting = false
  /// A writer's: every entry it uploaded or the server answered, by key, as bytes, and
  /// the keys in the order they came (the packs' order).
  var known: [SHA256Digest: [UInt8]] = [:]
  var order: [SHA256Digest] = []
  var knownBytes: Int64 = 0
  /// Whether one of `known` did not come from the bundle read (else that bundle is
  /// already on the server: nothing to write).
  var beyondBundle = false
}

/// A bundle's listing as read, and its packs on their way.
struct BundleRead: Sendable {
  /// Where each listed key's result is: its digest, its pack, its offset there.
  var items: [SHA256Digest: BundleItem]
  /// Each pack's bytes, checked against its digest; nil when it could not be read.
  var packs: [Task<[UInt8]?, Never>]
}

/// One listed result.
struct BundleItem: Sendable {
  var digest: BlobDigest
  var pack: Int
  var offset: Int64
}

extension NetworkRemoteCache {
  /// The listing's path inside the bundle's entry.
  static let bundlePath = "kiln-bundle"
  /// Fewer entries than this make no bundle: their lookups all go out at once anyway
  /// (`Job.remoteLookupsInFlight`), and a bundle would add a round trip before them.
  package static let bundleMinimum = 16
  /// The most bytes of results a bundle lists and a reader reads from one.
  static let bundleLimit: Int64 = 256 << 20
  /// About how many bytes of results the first pack holds; each next one holds twice
  /// as many as the one before, up to `batchLimit` (1 MiB, one `BatchReadBlobs`). The
  /// first is small so that the first tasks restore soon after the listing arrives; the
  /// later ones large so that the 400-unit bench's 2.5 MB take 7 requests, not 80.
  static let bundlePackBytes: Int64 = 32 << 10

  /// The most bytes of results pack `index` holds (one larger result alone).
  static func packLimit(_ index: Int) -> Int64 { min(bundlePackBytes << Int64(min(index, 20)), batchLimit) }

  /// The most packs a reader reads from one listing: more than a writer makes of
  /// `bundleLimit` bytes (256 of 1 MiB, a few smaller ones first), so a forged listing
  /// of many empty packs cannot turn into as many requests.
  static let bundlePackCount = 512

  /// Pack reads out at once: a pack's read starts when the one `bundlePacksInFlight`
  /// before it ends, so that the packs arrive about in their order. Over REAPI, four
  /// (`readsInFlight`: those asked for meanwhile go together in the next call): each
  /// `BatchReadBlobs` of casd took 10-20 ms on the loaded machine, a `GET` of nginx
  /// 0.2-2 ms, so there fewer calls one after the other matter more than the order.
  var bundlePacksInFlight: Int { endpoint.kind == .grpc ? Self.readsInFlight : 2 }

  /// A writer keeps what a bundle would list: `bytes` is what the server holds (or was
  /// given) under `key`, and was accepted.
  func remember(_ bytes: [UInt8], key: SHA256Digest, fromBundle: Bool = false) {
    guard writes else { return }
    bundle.withLock { b in
      guard b.collecting else { return }
      let old = Int64(b.known[key]?.count ?? 0)
      guard b.knownBytes - old + Int64(bytes.count) <= Self.bundleLimit else { return }
      if b.known.updateValue(bytes, forKey: key) == nil { b.order.append(key) }
      b.knownBytes += Int64(bytes.count) - old
      if !fromBundle { b.beyondBundle = true }
    }
  }

  package func readBundle(_ key: SHA256Digest) {
    guard down == nil else { return }
    let task = Task { await self.fetchBundle(key) }
    bundle.withLock {
      $0.reading = task
      $0.collecting = true
    }
  }

  /// What the bundle lists for `key`, its bytes checked against the listed digest,
  /// waiting for the listing and then for its pack only; nil when there is no bundle,
  /// it does not list `key`, or its pack or bytes are not there or not right.
  func bundledEntry(_ key: SHA256Digest) async -> [UInt8]? {
    guard let reading = bundle.withLock({ $0.reading }), let read = await reading.value,
          let item = read.items[key], read.packs.indices.contains(item.pack),
          let pack = await read.packs[item.pack].value,
          item.offset <= Int64(pack.count) - item.digest.size
    else { return nil }
    let bytes = Array(pack[Int(item.offset)..<Int(item.offset + item.digest.size)])
    guard SHA256Hasher.digest(bytes) == item.digest.sha else { return nil }
    remember(bytes, key: key, fromBundle: true)
    return bytes
  }

  /// The listing of the bundle under `key`, its packs being read; nil when there is
  /// none, it is not one, or the server failed to answer for it (which puts nothing
  /// down: the lookups then find out for themselves).
  private func fetchBundle(_ key: SHA256Digest) async -> BundleRead? {
    let listing: Listing
    do {
      let read = try await exchange(marksDown: false) { () async throws(RemoteFailure) -> Listing? in
        guard let entry = try await fetchEntry(key) else { return nil }
        count(down: Int64(entry.count))
        return try await bundleListing(entry)
      }
      guard let read else { return nil }
      listing = read
    } catch {
      return nil
    }
    // In their order, `bundlePacksInFlight` at a time, up to `bundleLimit` bytes in all.
    var packs: [Task<[UInt8]?, Never>] = []
    var total: Int64 = 0
    for digest in listing.packs.prefix(Self.bundlePackCount) {
      total += digest.size
      guard total <= Self.bundleLimit else { break }
      let before = packs.count >= bundlePacksInFlight ? packs[packs.count - bundlePacksInFlight] : nil
      let pack = Task { () async -> [UInt8]? in
        _ = await before?.value
        return try? await self.exchange(marksDown: false) { () async throws(RemoteFailure) -> [UInt8]? in
          try await self.fetchSmall(digest)
        }
      }
      packs.append(pack)
    }
    var items: [SHA256Digest: BundleItem] = [:]
    for item in listing.items { items[item.key] = item.item }
    return BundleRead(items: items, packs: packs)
  }

  /// A listing: each listed key with where its result is, and the packs' digests.
  struct Listing {
    var items: [(key: SHA256Digest, item: BundleItem)] = []
    var packs: [BlobDigest] = []
  }

  /// The listing the bundle's entry names, checked against its digest; nil when the
  /// entry is not a bundle's or the listing is not there.
  private func bundleListing(_ entry: [UInt8]) async throws(RemoteFailure) -> Listing? {
    var digest: BlobDigest?
    var carried: [UInt8]?
    do {
      var r = ProtoReader(entry)
      while let (n, v) = try r.next() {
        guard n == 2 else { continue }
        let file = try ActionResultCodec.outputFile(v)
        if file.path == Self.bundlePath { (digest, carried) = (file.digest, file.contents) }
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

  /// The listing `bytes` encode; an error when they are not one.
  static func decodeListing(_ bytes: [UInt8]) throws(ProtoError) -> Listing {
    var listing = Listing()
    var r = ProtoReader(bytes)
    while let (n, v) = try r.next() {
      switch n {
      case 1:
        var item = try v.message()
        // Proto3: a pack or an offset of 0 is left out.
        var key: SHA256Digest?, digest: BlobDigest?, pack: UInt64 = 0, offset: UInt64 = 0
        while let (k, x) = try item.next() {
          switch k {
          case 1:
            let raw = try x.bytes()
            guard raw.count == 32 else { throw ProtoError("a bundle key that is not 32 bytes") }
            key = SHA256Digest(bytes: raw)
          case 2: digest = try BlobDigest(reading: x)
          case 3: pack = try x.uint()
          case 4: offset = try x.uint()
          default: break
          }
        }
        guard let key, let digest, pack <= UInt64(Int32.max), offset <= UInt64(bundleLimit) else {
          throw ProtoError("a bundle item without a key or a digest, or out of bounds")
        }
        listing.items.append((key, BundleItem(digest: digest, pack: Int(pack), offset: Int64(offset))))
      case 2:
        listing.packs.append(try BlobDigest(reading: v))
      default:
        break
      }
    }
    return listing
  }

  /// The listing of `known`'s entries in `order` and the packs holding them.
  static func encodeListing(_ known: [SHA256Digest: [UInt8]], order: [SHA256Digest])
    -> (listing: [UInt8], packs: [BlobDigest: [UInt8]])
  {
    var packs: [[UInt8]] = [[]]
    var w = ProtoWriter()
    for key in order {
      guard let bytes = known[key] else { continue }
      if !packs[packs.count - 1].isEmpty, Int64(packs[packs.count - 1].count + bytes.count) > packLimit(packs.count - 1) {
        packs.append([])
      }
      let offset = packs[packs.count - 1].count
      packs[packs.count - 1] += bytes
      w.message(1) {
        $0.data(1, key.bytes)
        BlobDigest(sha: SHA256Hasher.digest(bytes), size: Int64(bytes.count)).write(2, into: &$0)
        $0.uint(3, UInt64(packs.count - 1))
        $0.uint(4, UInt64(offset))
      }
    }
    var blobs: [BlobDigest: [UInt8]] = [:]
    for pack in packs where !pack.isEmpty {
      let digest = BlobDigest(sha: SHA256Hasher.digest(pack), size: Int64(pack.count))
      blobs[digest] = pack
      digest.write(2, into: &w)
    }
    return (w.bytes, blobs)
  }

  package func writeBundle(_ key: SHA256Digest) async throws(RemoteFailure) {
    guard writes, down == nil else { return }
    let (known, order) = bundle.withLock { $0.beyondBundle ? ($0.known, $0.order) : ([:], []) }
    guard known.count >= Self.bundleMinimum else { return }
    try await exchange { () async throws(RemoteFailure) -> Void in
      var (listing, blobs) = Self.encodeListing(known, order: order)
      let listed = BlobDigest(sha: SHA256Hasher.digest(listing), size: Int64(listing.count))
      blobs[listed] = listing
      try await putBlobs(files: [:], memory: blobs)
      var result = ProtoWriter()
      result.message(2) {
        $0.string(1, Self.bundlePath)
        listed.write(2, into: &$0)
        if listed.size <= Self.inlinedLimit { $0.data(5, listing) }
      }
      try await putEntry(result.bytes, key: key)
      count(up: Int64(result.bytes.count))
      counting { $0.bundles += 1 }
    }
  }
}
