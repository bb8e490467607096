import KilnCore
import KilnHash
import Testing

/// SHA-256 and Ed25519 as the remote cache uses them, checked against OpenSSL's own
/// command line (the vectors below were made with `sha256sum` and `openssl pkeyutl`).
@Suite struct CryptoTests {
  @Test func sha256MatchesSha256sum() {
    // `printf 'abc' | sha256sum`
    #expect(SHA256Hasher.digest(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    // `printf '' | sha256sum`
    #expect(SHA256Hasher.digest([UInt8]()).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  }

  @Test func streamingEqualsOneShotAndHexRoundTrips() {
    var bytes: [UInt8] = []
    for i in 0..<100_000 { bytes.append(UInt8(truncatingIfNeeded: i &* 31)) }
    let h = SHA256Hasher()
    h.update(Array(bytes[0..<777]))
    h.update(Array(bytes[777...]))
    let d = h.finalize()
    #expect(d == SHA256Hasher.digest(bytes))
    #expect(SHA256Digest(hex: d.hex) == d)
    #expect(SHA256Digest(bytes: d.bytes) == d)
    #expect(SHA256Digest(hex: d.hex.uppercased()) == nil)
    #expect(SHA256Digest(hex: String(d.hex.dropLast())) == nil)
    #expect(SHA256Digest(hex: d.hex + "0") == nil)
    #expect(SHA256Digest(hex: String(d.hex.dropLast()) + "g") == nil)
    // A known digest, its words from the digits as written (the empty input's).
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    #expect(SHA256Digest(hex: empty) == SHA256Hasher.digest([]) && SHA256Hasher.digest([]).hex == empty)
    #expect(SHA256Digest(hexDigits: Array(empty.utf8)[...]) == SHA256Hasher.digest([]))
  }

  static let privateKey = """
    -----BEGIN PRIVATE KEY-----
    MC4CAQAwBQYDK2VwBCIEINAXz3V1Wxpq1IyrYepr8rUcQARmvK7BhKI9ozZqZ1G6
    -----END PRIVATE KEY-----

    """
  static let publicKey = """
    -----BEGIN PUBLIC KEY-----
    MCowBQYDK2VwAyEAlSPIG0DeTgrMyiX7ZNux2l6VPGhhBs1X+smy2zzm/XU=
    -----END PUBLIC KEY-----

    """
  static let otherPublicKey = """
    -----BEGIN PUBLIC KEY-----
    MCowBQYDK2VwAyEAkjYkrD9UeUnDqDlZJSELRBnZMUCV1ZnM21HFvyMvzGY=
    -----END PUBLIC KEY-----

    """
  static let ecPublicKey = """
    -----BEGIN PUBLIC KEY-----
    MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEj+L9zfyHgKBbj8ALHlYUyial1p+1
    63TAZeaTFmzK1cBZCLUimxZUkA0g2byqhUnNRdV25FpGe799/z77+nZ9FQ==
    -----END PUBLIC KEY-----

    """

  static func hexBytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = hex.makeIterator()
    while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
    return out
  }

  /// The bundle key sorts remote keys with `<`: the same order as their hex digits,
  /// which a key written by an older kiln was sorted by.
  @Test func digestsSortAsTheirHexDigits() {
    var digests = (0..<300).map { SHA256Hasher.digest(Array("item \($0)".utf8)) }
    // Digests equal but for one word, and for one low bit, too.
    let a = SHA256Hasher.digest([1]), b = SHA256Hasher.digest([2])
    digests += [SHA256Digest(bytes: Array(a.bytes[0..<24]) + Array(b.bytes[24...])),
                SHA256Digest(bytes: Array(a.bytes[0..<31]) + [a.bytes[31] ^ 1]), a, b]
    #expect(digests.sorted().map(\.hex) == digests.map(\.hex).sorted())
    #expect(!(a < a))
  }

  @Test func ed25519SignaturesVerifyOnlyUnderTheirKeyAndMessage() throws {
    let message = Array("kiln".utf8)
    // `printf kiln | openssl pkeyutl -sign -inkey k1.pem -rawin | xxd -p`
    let openssl = Self.hexBytes("a04d2d6cf6898270596294c7f88b92c9e8777ae11cbe97cd44940a34992eb3c4513d59faca365c6231982633413c4dd0c84a4b696669867096a949da6424770e")
    let pub = try EntrySignature.PublicKey(pem: Array(Self.publicKey.utf8))
    #expect(pub.verifies(openssl, of: message))
    let priv = try EntrySignature.PrivateKey(pem: Array(Self.privateKey.utf8))
    let ours = try #require(priv.sign(message))
    // Ed25519 is deterministic: the same signature as OpenSSL's command line.
    #expect(ours == openssl)
    #expect(!pub.verifies(ours, of: Array("kilN".utf8)))
    var flipped = ours
    flipped[10] ^= 1
    #expect(!pub.verifies(flipped, of: message))
    #expect(!pub.verifies(Array(ours.dropLast()), of: message))
    let other = try EntrySignature.PublicKey(pem: Array(Self.otherPublicKey.utf8))
    #expect(!other.verifies(ours, of: message))
  }

  @Test func keysThatAreNotEd25519OrNotPEMAreRefused() {
    #expect(throws: EntrySignature.KeyError.self) { try EntrySignature.PublicKey(pem: Array(Self.ecPublicKey.utf8)) }
    #expect(throws: EntrySignature.KeyError.self) { try EntrySignature.PublicKey(pem: Array("hello".utf8)) }
    #expect(throws: EntrySignature.KeyError.self) { try EntrySignature.PrivateKey(pem: Array(Self.publicKey.utf8)) }
  }
}
