import KilnCore
import KilnHash
import Testing

@Suite struct HasherTests {
  @Test func emptyInputMatchesXxhsum() {
    // `printf '' | xxhsum -H2`
    #expect(Hasher.digest([UInt8]()).hex == "99aa06d3014798d86001c324468d497f")
  }

  @Test func streamingEqualsOneShot() {
    let text = Array("hello kiln\n".utf8)
    let streaming = Hasher()
    streaming.update(Array(text[0..<3]))
    streaming.update(Array(text[3...]))
    #expect(streaming.finalize() == Hasher.digest(text))
    // `printf 'hello kiln\n' | xxhsum -H2`
    #expect(Hasher.digest(text).hex == "95248f720bbf8c393b43d81faacfed78")
  }

  @Test func digestHexRoundTrips() {
    let d = Hasher.digest(Array("abc".utf8))
    #expect(Digest(hex: d.hex) == d)
    #expect(Digest(bytes: d.bytes) == d)
    #expect(Digest(hex: "xyz") == nil)
  }

  @Test func keyFieldsAreLengthPrefixed() {
    // "ab" + "c" must not collide with "a" + "bc".
    let one = KeyBuilder()
    one.field("C", "ab"); one.field("C", "c")
    let two = KeyBuilder()
    two.field("C", "a"); two.field("C", "bc")
    #expect(one.finalize() != two.finalize())
  }

  /// The key encoding of `KeyBuilder`'s documentation, byte for byte: a field is its tag,
  /// its length as a little-endian UInt64, its UTF-8, then a digest's 16 bytes (high
  /// word first, big-endian). Keys in every existing cache rest on it, however the
  /// builder feeds the hasher.
  @Test func keysAreTheDocumentedEncoding() {
    let digest = Hasher.digest(Array("object".utf8))
    let key = KeyBuilder()
    key.field("C", "cc -c a.c")
    key.field("I", "src/a.c", digest)
    key.field("I", "", .zero)
    key.field("O", "build/é.o")
    var bytes: [UInt8] = []
    func field(_ tag: UInt8, _ value: String, _ d: Digest? = nil) {
      bytes.append(tag)
      var length = UInt64(value.utf8.count)
      for _ in 0..<8 {
        bytes.append(UInt8(length & 0xFF))
        length >>= 8
      }
      bytes += Array(value.utf8)
      if let d { bytes += d.bytes }
    }
    field(UInt8(ascii: "V"), KeyBuilder.formatVersion)
    field(UInt8(ascii: "C"), "cc -c a.c")
    field(UInt8(ascii: "I"), "src/a.c", digest)
    field(UInt8(ascii: "I"), "", .zero)
    field(UInt8(ascii: "O"), "build/é.o")
    #expect(key.finalize() == Hasher.digest(bytes))
  }
}
