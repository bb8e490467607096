import KilnCore
import KilnHash
import KilnStore
import KilnTestSupport
import Testing

@testable import KilnRemoteCache

/// The remote entry's encoding: what kiln uploads decodes to the same entry, what a
/// server (or an attacker) changes either decodes to something the engine then checks
/// or fails to decode, and a signature holds only for its key and entry.
@Suite struct ActionResultCodecTests {
  static let a = SHA256Hasher.digest(Array("a".utf8))
  static let b = SHA256Hasher.digest(Array("b".utf8))
  static let key = SHA256Hasher.digest(Array("key".utf8))

  static let entry = RemoteEntry(
    outputs: [
      RemoteOutput(path: "out", kind: .directory),
      RemoteOutput(path: "out/x.o", kind: .file, executable: false, sha256: a, size: 1),
      RemoteOutput(path: "out/link", kind: .symlink, target: "x.o"),
      RemoteOutput(path: "bin/tool", kind: .file, executable: true, sha256: b, size: 1),
    ],
    declaredOutputs: ["out", "bin/tool"],
    discovered: [RemoteInput(path: "include/x.h", sha256: b)],
    stdout: [], stderr: [], duration: 1.5)

  @Test func whatKilnWritesDecodesToTheSameEntry() throws {
    let out = BlobDigest(sha: Self.a, size: 1)
    let bytes = ActionResultCodec.encode(Self.entry, stdout: out, stderr: nil)
    let decoded = try ActionResultCodec.decode(bytes)
    #expect(decoded.entry == Self.entry)
    #expect(decoded.stdout == out)
    #expect(decoded.stderr == nil)
    #expect(decoded.signature.isEmpty)
  }

  @Test func anOutputTheExtrasDoNotListOrAFailedRunDoesNotDecode() throws {
    var bytes = ActionResultCodec.encode(Self.entry, stdout: nil, stderr: nil)
    // One more output file (field 2) appended: not among kiln's ordered outputs.
    var w = ProtoWriter()
    w.message(2) {
      $0.string(1, "../evil")
      BlobDigest(sha: Self.a, size: 1).write(2, into: &$0)
    }
    #expect(throws: ProtoError.self) { try ActionResultCodec.decode(bytes + w.bytes) }
    // exit_code 1 (field 4).
    var x = ProtoWriter()
    x.int(4, 1)
    #expect(throws: ProtoError.self) { try ActionResultCodec.decode(bytes + x.bytes) }
    // Not kiln's: no extras at all.
    #expect(throws: ProtoError.self) { try ActionResultCodec.decode(w.bytes) }
    bytes = []
    #expect(throws: ProtoError.self) { try ActionResultCodec.decode(bytes) }
  }

  @Test func unknownFieldsOfANewerServerAreSkipped() throws {
    var w = ProtoWriter()
    w.string(99, "added by a server")
    w.uint(98, 7)
    let bytes = ActionResultCodec.encode(Self.entry, stdout: nil, stderr: nil) + w.bytes
    #expect(try ActionResultCodec.decode(bytes).entry == Self.entry)
  }

  @Test func everyTruncationAndEveryFlippedByteDecodesOrFailsButNeverCrashes() {
    let bytes = ActionResultCodec.encode(Self.entry, stdout: BlobDigest(sha: Self.b, size: 1), stderr: nil)
    for n in 0..<bytes.count { _ = try? ActionResultCodec.decode(Array(bytes[0..<n])) }
    for i in 0..<bytes.count {
      var damaged = bytes
      damaged[i] ^= 0xff
      _ = try? ActionResultCodec.decode(damaged)
    }
  }

  @Test func aSignatureHoldsForItsKeyAndEntryOnly() throws {
    let priv = try EntrySignature.PrivateKey(pem: Array(Self.privateKey.utf8))
    let pub = try EntrySignature.PublicKey(pem: Array(Self.publicKey.utf8))
    let signer = EntrySigning(signer: priv)
    let reader = EntrySigning(verifier: pub)
    let signature = signer.sign(Self.entry, key: Self.key, stdout: nil, stderr: nil)
    #expect(signature.count == 64)
    let signed = try ActionResultCodec.decode(ActionResultCodec.encode(Self.entry, stdout: nil, stderr: nil, signature: signature))
    #expect(reader.accepts(signed, key: Self.key))
    // Under another key (another action), or with another output digest: refused.
    #expect(!reader.accepts(signed, key: Self.a))
    var changed = Self.entry
    changed.outputs[1].sha256 = Self.b
    let moved = try ActionResultCodec.decode(ActionResultCodec.encode(changed, stdout: nil, stderr: nil, signature: signature))
    #expect(!reader.accepts(moved, key: Self.key))
    // Unsigned: refused by a reader with a key, taken by one without.
    let unsigned = try ActionResultCodec.decode(ActionResultCodec.encode(Self.entry, stdout: nil, stderr: nil))
    #expect(!reader.accepts(unsigned, key: Self.key))
    #expect(EntrySigning().accepts(unsigned, key: Self.key))
  }

  /// `entry` with `bytes` inside it for out/x.o (whose digest is "a"'s, 1 byte).
  static func carrying(_ bytes: [UInt8]?) -> RemoteEntry {
    var entry = Self.entry
    entry.outputs[1].contents = bytes
    return entry
  }

  @Test func bytesInsideTheEntryDecodeAsTheyWereWrittenAndAreNotSigned() throws {
    let carrying = Self.carrying(Array("a".utf8))
    let decoded = try ActionResultCodec.decode(ActionResultCodec.encode(carrying, stdout: nil, stderr: nil))
    #expect(decoded.entry == carrying)
    // What a signature covers leaves them out: a server that drops them keeps the
    // signature good (they are checked against the signed digest instead).
    let priv = try EntrySignature.PrivateKey(pem: Array(Self.privateKey.utf8))
    let pub = try EntrySignature.PublicKey(pem: Array(Self.publicKey.utf8))
    let signature = EntrySigning(signer: priv).sign(Self.entry, key: Self.key, stdout: nil, stderr: nil)
    let signed = try ActionResultCodec.decode(ActionResultCodec.encode(carrying, stdout: nil, stderr: nil, signature: signature))
    #expect(EntrySigning(verifier: pub).accepts(signed, key: Self.key))
    let dropped = try ActionResultCodec.decode(ActionResultCodec.encode(Self.entry, stdout: nil, stderr: nil, signature: signature))
    #expect(EntrySigning(verifier: pub).accepts(dropped, key: Self.key))
    #expect(dropped.entry.outputs[1].contents == nil)
    // Without inlining (what the signature covers), the bytes are not written at all.
    #expect(ActionResultCodec.encode(carrying, stdout: nil, stderr: nil, inlining: false)
            == ActionResultCodec.encode(Self.entry, stdout: nil, stderr: nil))
  }

  /// The bytes go where REAPI puts them (`OutputFile.contents`, field 5; field 3 is
  /// reserved), so any REAPI client reads them.
  @Test func bytesInsideTheEntryAreOutputFileContents() throws {
    let encoded = ActionResultCodec.encode(Self.carrying(Array("a".utf8)), stdout: nil, stderr: nil)
    let files = try #require(Protobuf.fields(encoded)).filter { $0.field == 2 }.compactMap { Protobuf.fields($0.bytes) }
    let carried = files.compactMap { file in file.first { $0.field == 5 }?.bytes }
    #expect(carried == [Array("a".utf8)])
    #expect(!files.contains { file in file.contains { $0.field == 3 } })
  }

  @Test func stdoutInsideTheEntryComesBackRawBesideItsDigest() throws {
    var entry = Self.entry
    entry.stdout = Array("hello\n".utf8)
    let digest = BlobDigest(sha: SHA256Hasher.digest(entry.stdout), size: 6)
    let decoded = try ActionResultCodec.decode(ActionResultCodec.encode(entry, stdout: digest, stderr: nil))
    #expect(decoded.stdoutRaw == entry.stdout && decoded.stdout == digest && decoded.stderrRaw == nil)
    #expect(decoded.entry.stdout.isEmpty, "raw bytes are not the entry's until checked")
  }

  @Test func bytesInsideTheEntryAreUsedOnlyWhenTheyAreTheirDigests() throws {
    // Right: kept.
    #expect(NetworkRemoteCache.checkingInlined(Self.carrying(Array("a".utf8)))?.outputs[1].contents == Array("a".utf8))
    // Other bytes of the same size, longer, shorter, none: the entry is a miss.
    for wrong in [Array("b".utf8), Array("aa".utf8), []] {
      #expect(NetworkRemoteCache.checkingInlined(Self.carrying(wrong)) == nil, "\(wrong)")
    }
    // Not carried: nothing to check, the blob is read.
    #expect(NetworkRemoteCache.checkingInlined(Self.entry)?.outputs[1].contents == nil)
    // An empty file needs no bytes from anywhere.
    var empty = Self.entry
    empty.outputs[1].sha256 = SHA256Hasher.digest([])
    empty.outputs[1].size = 0
    #expect(NetworkRemoteCache.checkingInlined(empty)?.outputs[1].contents == [])
    // Larger than a local entry keeps inside itself: not read, not checked, not used.
    var large = Self.carrying(Array(repeating: 7, count: Int(ActionCache.inlineLimit) + 1))
    large.outputs[1].size = Int64(ActionCache.inlineLimit) + 1
    #expect(NetworkRemoteCache.checkingInlined(large)?.outputs[1].contents == nil)
  }

  @Test func anUploadCarriesSmallBytesUpToItsLimit() {
    let small = Array(repeating: UInt8(1), count: Int(ActionCache.inlineLimit))
    var entry = RemoteEntry(outputs: [], declaredOutputs: [], discovered: [], stdout: Array("out".utf8), stderr: [], duration: 1)
    let count = Int(NetworkRemoteCache.inlinedLimit) / ActionCache.inlineLimit + 2
    for k in 0..<count {
      entry.outputs.append(RemoteOutput(path: "o\(k)", kind: .file, sha256: Self.a, size: Int64(small.count), contents: small))
    }
    entry.outputs.append(RemoteOutput(path: "big", kind: .file, sha256: Self.a, size: Int64(ActionCache.inlineLimit) + 1,
                                      contents: Array(repeating: 2, count: Int(ActionCache.inlineLimit) + 1)))
    entry.outputs.append(RemoteOutput(path: "liar", kind: .file, sha256: Self.a, size: 5, contents: [1]))
    let sent = NetworkRemoteCache.inlining(entry)
    let carried = sent.outputs.filter { $0.contents != nil }.map(\.path)
    #expect(carried == (0..<Int(NetworkRemoteCache.inlinedLimit) / ActionCache.inlineLimit).map { "o\($0)" },
            "as many small files as fit, no large one, none whose bytes are not its size")
    #expect(sent.stdout.isEmpty, "no room left for stdout: read from the CAS")
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
}
