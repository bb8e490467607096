import KilnCore
import KilnHash
import KilnSystem

/// One file of a task's result: where it goes, its permission bits and content digest.
/// A declared output that is a directory appears as a `.directory` entry followed by
/// an entry for every file and folder below it. A symlink is kept as a link: its
/// digest is that of its target text, which the action entry holds inline.
/// Permissions are only ever 0o755 or 0o644: the executable bit is all that is kept.
package struct OutputEntry: Sendable, Hashable {
  package enum Kind: UInt8, Sendable, Hashable { case file = 0, directory = 1, symlink = 2 }
  package var path: String
  package var kind: Kind
  package var permissions: UInt32
  package var digest: Digest

  package init(path: String, kind: Kind, permissions: UInt32, digest: Digest) {
    self.path = path
    self.kind = kind
    self.permissions = permissions
    self.digest = digest
  }
}

/// A path with the digest its content had.
package struct PathDigest: Sendable, Hashable {
  package var path: String
  package var digest: Digest
  package init(_ path: String, _ digest: Digest) {
    self.path = path
    self.digest = digest
  }
}

/// What the manifest remembers of a task instance's last successful run in this
/// workspace: enough to say "up to date" without running, and to name why not.
package struct TaskRecord: Sendable, Hashable {
  package var id: TaskID
  package var key: Digest
  package var command: String
  /// `NAME=value` lines of env and hash_env, sorted.
  package var environment: [String]
  package var inputs: [PathDigest]
  package var discovered: [PathDigest]
  package var outputs: [OutputEntry]
  /// The declared output paths (a subset of `outputs` paths).
  package var declaredOutputs: [String]
  package var duration: Double
  /// The depfile the command wrote, deleted with the outputs when the instance goes.
  package var depfile: String?
  /// The digest the depfile had when the command wrote it: it is deleted only if it
  /// still has it (nil after a restore, which does not write the depfile).
  package var depfileDigest: Digest?
  /// Bytes of resident memory the command used at its peak, where known: what the
  /// memory reserve expects it to need next time.
  package var peakMemory: Int64?

  package init(id: TaskID, key: Digest, command: String, environment: [String], inputs: [PathDigest],
               discovered: [PathDigest], outputs: [OutputEntry], declaredOutputs: [String], duration: Double,
               depfile: String? = nil, depfileDigest: Digest? = nil, peakMemory: Int64? = nil) {
    self.depfile = depfile
    self.depfileDigest = depfileDigest
    self.peakMemory = peakMemory
    self.id = id
    self.key = key
    self.command = command
    self.environment = environment
    self.inputs = inputs
    self.discovered = discovered
    self.outputs = outputs
    self.declaredOutputs = declaredOutputs
    self.duration = duration
  }
}

/// A little binary encoding for lists inside SQLite blobs and cache entries:
/// unsigned LEB128 varints, strings as varint length + UTF-8, digests as 16 bytes.
package struct ByteWriter {
  package private(set) var bytes: [UInt8] = []
  package init() {}
  package mutating func reserveCapacity(_ n: Int) { bytes.reserveCapacity(n) }

  package mutating func varint(_ value: UInt64) {
    var v = value
    while v >= 0x80 {
      bytes.append(UInt8(v & 0x7F) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(v))
  }
  package mutating func string(_ s: String) {
    varint(UInt64(s.utf8.count))
    bytes.append(contentsOf: s.utf8)
  }
  package mutating func raw(_ data: [UInt8]) {
    varint(UInt64(data.count))
    bytes.append(contentsOf: data)
  }
  /// `Digest.bytes`' order, without making that array.
  package mutating func digest(_ d: Digest) {
    var words = (d.high.bigEndian, d.low.bigEndian)
    withUnsafeBytes(of: &words) { bytes.append(contentsOf: $0.assumingMemoryBound(to: UInt8.self)) }
  }
  package mutating func double(_ d: Double) { varint(d.bitPattern) }
}

/// Reads what `ByteWriter` wrote; every read fails cleanly on truncated input.
package struct ByteReader {
  package struct Truncated: Error { package init() {} }
  private let bytes: [UInt8]
  private var offset = 0
  package init(_ bytes: [UInt8]) { self.bytes = bytes }
  /// A reader of `bytes` from `offset` on (a part read later: `position`).
  package init(_ bytes: [UInt8], at offset: Int) {
    self.bytes = bytes
    self.offset = min(max(0, offset), bytes.count)
  }
  package var atEnd: Bool { offset >= bytes.count }
  /// How many bytes were read.
  package var position: Int { offset }

  /// A count of items that each take at least one byte: never more than what is left
  /// (a corrupt count must not reserve memory for billions of items).
  package mutating func count() throws(Truncated) -> Int {
    guard let n = Int(exactly: try varint()), n <= bytes.count - offset else { throw Truncated() }
    return n
  }

  package mutating func varint() throws(Truncated) -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      guard offset < bytes.count, shift < 64 else { throw Truncated() }
      let b = bytes[offset]
      offset += 1
      result |= UInt64(b & 0x7F) << shift
      if b & 0x80 == 0 { return result }
      shift += 7
    }
  }
  /// Where the next length-prefixed bytes lie, taken.
  private mutating func lengthPrefixed() throws(Truncated) -> Range<Int> {
    guard let n = Int(exactly: try varint()), n <= bytes.count - offset else { throw Truncated() }
    defer { offset += n }
    return offset..<offset + n
  }
  package mutating func raw() throws(Truncated) -> [UInt8] { Array(bytes[try lengthPrefixed()]) }
  /// Decoded straight from the buffer: no intermediate array (a manifest's records
  /// hold thousands of paths, and loading them is on the path to a build's first
  /// command).
  package mutating func string() throws(Truncated) -> String {
    let range = try lengthPrefixed()
    return bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self) }
  }
  package mutating func digest() throws(Truncated) -> Digest {
    guard offset + 16 <= bytes.count else { throw Truncated() }
    var h: UInt64 = 0, l: UInt64 = 0
    for k in 0..<8 { h = h << 8 | UInt64(bytes[offset + k]) }
    for k in 8..<16 { l = l << 8 | UInt64(bytes[offset + k]) }
    offset += 16
    return Digest(high: h, low: l)
  }
  package mutating func double() throws(Truncated) -> Double { Double(bitPattern: try varint()) }
}

extension ByteWriter {
  package mutating func pathDigests(_ list: [PathDigest]) {
    varint(UInt64(list.count))
    for item in list { string(item.path); digest(item.digest) }
  }
  package mutating func outputs(_ list: [OutputEntry]) {
    varint(UInt64(list.count))
    for item in list {
      string(item.path)
      varint(UInt64(item.kind.rawValue))
      varint(UInt64(item.permissions))
      digest(item.digest)
    }
  }
  package mutating func strings(_ list: [String]) {
    varint(UInt64(list.count))
    for item in list { string(item) }
  }
}

extension ByteReader {
  /// Lists are sized ahead up to this many items: a record's lists are rarely longer,
  /// and a damaged or forged count (state.db is not trusted) must not reserve memory
  /// for items its blob does not hold.
  static let reserveLimit = 4096

  package mutating func pathDigests() throws(Truncated) -> [PathDigest] {
    let n = try count()
    var result: [PathDigest] = []
    result.reserveCapacity(Swift.min(n, Self.reserveLimit))
    for _ in 0..<n { result.append(PathDigest(try string(), try digest())) }
    return result
  }
  package mutating func outputs() throws(Truncated) -> [OutputEntry] {
    let n = try count()
    var result: [OutputEntry] = []
    result.reserveCapacity(Swift.min(n, Self.reserveLimit))
    for _ in 0..<n {
      let path = try string()
      guard let kind = OutputEntry.Kind(rawValue: UInt8(truncatingIfNeeded: try varint())) else { throw Truncated() }
      let permissions = UInt32(truncatingIfNeeded: try varint())
      result.append(OutputEntry(path: path, kind: kind, permissions: permissions, digest: try digest()))
    }
    return result
  }
  package mutating func strings() throws(Truncated) -> [String] {
    let n = try count()
    var result: [String] = []
    result.reserveCapacity(Swift.min(n, Self.reserveLimit))
    for _ in 0..<n { result.append(try string()) }
    return result
  }
}

/// A file's stat as snapshots and the graph cache keep it: kind, size, mtime, ctime,
/// inode, permission bits.
extension ByteWriter {
  package mutating func fileStat(_ st: FileStat) {
    varint(st.kind == .file ? 0 : st.kind == .directory ? 1 : st.kind == .symlink ? 2 : 3)
    varint(UInt64(bitPattern: st.size))
    varint(UInt64(bitPattern: st.mtime))
    varint(UInt64(bitPattern: st.ctime))
    varint(st.inode)
    varint(UInt64(st.permissions))
  }
}

extension ByteReader {
  package mutating func fileStat() throws(Truncated) -> FileStat {
    let kind: FileStat.Kind
    switch try varint() {
    case 0: kind = .file
    case 1: kind = .directory
    case 2: kind = .symlink
    case 3: kind = .other
    default: throw Truncated()
    }
    return FileStat(kind: kind, size: Int64(bitPattern: try varint()), mtime: Int64(bitPattern: try varint()),
                    ctime: Int64(bitPattern: try varint()), inode: try varint(),
                    permissions: UInt32(truncatingIfNeeded: try varint()))
  }
}

/// The seal of kiln's derived files (`state.graph`, `state.snapshot`): the magic, the
/// body, then the XXH3-128 of the body. A file whose seal does not hold is not read at
/// all: one flipped byte must never become a different command or input.
package enum Seal {
  package static func close(_ magic: [UInt8], _ body: [UInt8]) -> [UInt8] {
    magic + body + Hasher.digest(body).bytes
  }

  /// The digest a sealed file ends with (what `open` checks), not checked here; nil
  /// when the file is too short to hold one.
  package static func digest(of bytes: [UInt8]) -> Digest? {
    bytes.count >= 16 ? Digest(bytes: Array(bytes.suffix(16))) : nil
  }

  /// The body, or nil when the magic is another or the digest does not match.
  package static func open(_ magic: [UInt8], _ bytes: [UInt8]) -> [UInt8]? {
    guard bytes.count >= magic.count + 16, Array(bytes[0..<magic.count]) == magic else { return nil }
    let body = Array(bytes[magic.count..<(bytes.count - 16)])
    guard Digest(bytes: Array(bytes.suffix(16))) == Hasher.digest(body) else { return nil }
    return body
  }
}
