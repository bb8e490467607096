/// A SHA-256 digest: the identity of a blob and an action on a remote cache (REAPI and
/// Bazel's HTTP cache speak SHA-256 only; kiln's own XXH3 is not collision-resistant,
/// so nothing that crosses a trust boundary rests on it).
package struct SHA256Digest: Hashable, Comparable, Sendable, CustomStringConvertible {
  /// The 32 bytes, as four big-endian words.
  package var words: (UInt64, UInt64, UInt64, UInt64)

  package init(bytes: [UInt8]) {
    precondition(bytes.count == 32)
    func word(_ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 << 8 | UInt64(bytes[i * 8 + $1]) } }
    words = (word(0), word(1), word(2), word(3))
  }

  /// Parses 64 lowercase hex digits (REAPI's form); nil for anything else.
  package init?(hex: some StringProtocol) {
    let parsed = hex.utf8.withContiguousStorageIfAvailable(Self.words(hexDigits:))
      ?? Array(hex.utf8).withUnsafeBufferPointer(Self.words(hexDigits:))
    guard let parsed else { return nil }
    words = parsed
  }

  /// Parses 64 lowercase hex digits given as their ASCII bytes (a protobuf field's);
  /// nil for anything else.
  package init?(hexDigits: ArraySlice<UInt8>) {
    guard let parsed = hexDigits.withUnsafeBufferPointer(Self.words(hexDigits:)) else { return nil }
    words = parsed
  }

  /// Straight into the words, over contiguous bytes: a restore parses one per output
  /// and depfile input of every entry (2% of its time through an array of bytes, more
  /// through a generic sequence another module could not specialise; then 1-2% of a
  /// restore from a remote with a `switch` per digit, before one word at a time).
  private static func words(hexDigits digits: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64, UInt64, UInt64)? {
    guard digits.count == 64, let base = digits.baseAddress else { return nil }
    var invalid: UInt8 = 0
    func word(_ at: Int) -> UInt64 {
      var w: UInt64 = 0
      for n in at..<(at + 16) {
        let c = base[n]
        let d = c &- UInt8(ascii: "0"), l = c &- UInt8(ascii: "a")
        // 0-9 and a-f are their values; anything else sets a bit above the low four.
        let v: UInt8 = d < 10 ? d : (l < 6 ? l &+ 10 : 0x10)
        invalid |= v
        w = w << 4 | UInt64(v & 0xF)
      }
      return w
    }
    let w = (word(0), word(16), word(32), word(48))
    return invalid & 0xF0 == 0 ? w : nil
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
    String(unsafeUninitializedCapacity: 64) { out in
      for (k, w) in [words.0, words.1, words.2, words.3].enumerated() {
        for i in 0..<16 {
          let v = UInt8(truncatingIfNeeded: w >> UInt64(60 - 4 * i)) & 0xF
          out[k * 16 + i] = v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "a") + v - 10
        }
      }
      return 64
    }
  }

  package var description: String { hex }

  package static func == (a: SHA256Digest, b: SHA256Digest) -> Bool {
    a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
  }

  /// The order of the hex digits (the words are big-endian), without making them: the
  /// bundle key sorts a build's root keys, 400 of them in the bench, and comparing
  /// their `hex` strings cost milliseconds before the first request could go out.
  package static func < (a: SHA256Digest, b: SHA256Digest) -> Bool {
    (a.words.0, a.words.1, a.words.2, a.words.3) < (b.words.0, b.words.1, b.words.2, b.words.3)
  }

  package func hash(into hasher: inout Swift.Hasher) {
    hasher.combine(words.0)
    hasher.combine(words.1)
    hasher.combine(words.2)
    hasher.combine(words.3)
  }
}
