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
}
