/// A 128-bit content digest (XXH3-128), the identity of every blob and action key.
package struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible {
  package var high: UInt64
  package var low: UInt64

  package init(high: UInt64, low: UInt64) {
    self.high = high
    self.low = low
  }

  /// The digest of nothing at all, used for "absent" where a digest is required.
  package static let zero = Digest(high: 0, low: 0)

  /// 32 lowercase hex digits, high word first: the on-disk name of a blob.
  package var hex: String {
    var chars = [UInt8](repeating: 0, count: 32)
    let table: [UInt8] = Array("0123456789abcdef".utf8)
    var h = high, l = low
    for i in stride(from: 15, through: 0, by: -1) {
      chars[i] = table[Int(h & 0xF)]; h >>= 4
      chars[16 + i] = table[Int(l & 0xF)]; l >>= 4
    }
    return String(decoding: chars, as: UTF8.self)
  }

  package var description: String { hex }

  /// Parses 32 hex digits; nil for anything else.
  package init?(hex: some StringProtocol) {
    let utf8 = Array(hex.utf8)
    guard utf8.count == 32 else { return nil }
    var h: UInt64 = 0, l: UInt64 = 0
    for (i, c) in utf8.enumerated() {
      let v: UInt64
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt64(c - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f"): v = UInt64(c - UInt8(ascii: "a") + 10)
      default: return nil
      }
      if i < 16 { h = h << 4 | v } else { l = l << 4 | v }
    }
    self.init(high: h, low: l)
  }

  /// 16 bytes, big-endian, as stored in SQLite blobs.
  package var bytes: [UInt8] {
    var out = [UInt8](repeating: 0, count: 16)
    for i in 0..<8 {
      out[i] = UInt8(truncatingIfNeeded: high >> UInt64(56 - 8 * i))
      out[8 + i] = UInt8(truncatingIfNeeded: low >> UInt64(56 - 8 * i))
    }
    return out
  }

  /// The inverse of `bytes`; nil unless exactly 16 bytes.
  package init?(bytes: [UInt8]) {
    guard bytes.count == 16 else { return nil }
    let (h, l) = bytes.withUnsafeBytes { raw in
      (UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
       UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }
    self.init(high: h, low: l)
  }

  package static func < (a: Digest, b: Digest) -> Bool {
    (a.high, a.low) < (b.high, b.low)
  }
}
