/// A SHA-256 digest: the identity of a blob and an action on a remote cache (REAPI and
/// Bazel's HTTP cache speak SHA-256 only; kiln's own XXH3 is not collision-resistant,
/// so nothing that crosses a trust boundary rests on it).
package struct SHA256Digest: Hashable, Sendable, CustomStringConvertible {
  /// The 32 bytes, as four big-endian words.
  package var words: (UInt64, UInt64, UInt64, UInt64)

  package init(bytes: [UInt8]) {
    precondition(bytes.count == 32)
    func word(_ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 << 8 | UInt64(bytes[i * 8 + $1]) } }
    words = (word(0), word(1), word(2), word(3))
  }

  /// Parses 64 lowercase hex digits (REAPI's form); nil for anything else.
  package init?(hex: some StringProtocol) {
    let utf8 = Array(hex.utf8)
    guard utf8.count == 64 else { return nil }
    var bytes = [UInt8](repeating: 0, count: 32)
    for i in 0..<64 {
      let c = utf8[i]
      let v: UInt8
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
      default: return nil
      }
      bytes[i / 2] = bytes[i / 2] << 4 | v
    }
    self.init(bytes: bytes)
  }

  package var bytes: [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(32)
    for w in [words.0, words.1, words.2, words.3] {
      for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: w >> UInt64(shift))) }
    }
    return out
  }

  /// 64 lowercase hex digits.
  package var hex: String {
    let table = Array("0123456789abcdef".utf8)
    var chars: [UInt8] = []
    chars.reserveCapacity(64)
    for b in bytes {
      chars.append(table[Int(b >> 4)])
      chars.append(table[Int(b & 0xF)])
    }
    return String(decoding: chars, as: UTF8.self)
  }

  package var description: String { hex }

  package static func == (a: SHA256Digest, b: SHA256Digest) -> Bool {
    a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
  }

  package func hash(into hasher: inout Swift.Hasher) {
    hasher.combine(words.0)
    hasher.combine(words.1)
    hasher.combine(words.2)
    hasher.combine(words.3)
  }
}
