import CCrypto
import KilnCore

/// Streaming SHA-256 through libcrypto (its SHA-NI path where the CPU has one: about
/// 1.5 GB/s here, a tenth of XXH3). Used only for what a remote cache needs.
/// The only Swift file that touches libcrypto.
package final class SHA256Hasher {
  private let context: OpaquePointer

  package init() {
    context = EVP_MD_CTX_new()
    EVP_DigestInit_ex(context, EVP_sha256(), nil)
  }

  deinit { EVP_MD_CTX_free(context) }

  package func update(_ buffer: UnsafeRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    EVP_DigestUpdate(context, base, buffer.count)
  }

  package func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

  package func update(_ string: String) {
    var s = string
    s.withUTF8 { update(UnsafeRawBufferPointer($0)) }
  }

  package func finalize() -> SHA256Digest {
    var out = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 0
    EVP_DigestFinal_ex(context, &out, &length)
    return SHA256Digest(bytes: out)
  }

  package static func digest(_ bytes: [UInt8]) -> SHA256Digest {
    let h = SHA256Hasher()
    h.update(bytes)
    return h.finalize()
  }

  package static func digest(_ buffer: UnsafeRawBufferPointer) -> SHA256Digest {
    let h = SHA256Hasher()
    h.update(buffer)
    return h.finalize()
  }
}

/// Ed25519 signatures over remote cache entries: CI signs with a private key, readers
/// verify with the public key they configure. Keys are PEM (`openssl genpkey -algorithm
/// ed25519`, `openssl pkey -pubout`).
package enum EntrySignature {
  package struct KeyError: Error, CustomStringConvertible {
    package let description: String
  }

  /// A public key from PEM text; an error naming what is wrong with it.
  package final class PublicKey: @unchecked Sendable {
    fileprivate let key: OpaquePointer

    package init(pem: [UInt8]) throws(KeyError) {
      let parsed: OpaquePointer? = pem.withUnsafeBytes { raw in
        guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
        defer { BIO_free(bio) }
        return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
      }
      guard let parsed else { throw KeyError(description: "not a PEM public key") }
      guard EVP_PKEY_get_id(parsed) == EVP_PKEY_ED25519 else {
        EVP_PKEY_free(parsed)
        throw KeyError(description: "not an Ed25519 public key")
      }
      key = parsed
    }

    deinit { EVP_PKEY_free(key) }

    /// Whether `signature` is this key's signature of `message`.
    package func verifies(_ signature: [UInt8], of message: [UInt8]) -> Bool {
      guard signature.count == 64, let ctx = EVP_MD_CTX_new() else { return false }
      defer { EVP_MD_CTX_free(ctx) }
      guard EVP_DigestVerifyInit(ctx, nil, nil, nil, key) == 1 else { return false }
      return EVP_DigestVerify(ctx, signature, signature.count, message, message.count) == 1
    }
  }

  /// A private key from PEM text.
  package final class PrivateKey: @unchecked Sendable {
    fileprivate let key: OpaquePointer

    package init(pem: [UInt8]) throws(KeyError) {
      let parsed: OpaquePointer? = pem.withUnsafeBytes { raw in
        guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
        defer { BIO_free(bio) }
        return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
      }
      guard let parsed else { throw KeyError(description: "not a PEM private key") }
      guard EVP_PKEY_get_id(parsed) == EVP_PKEY_ED25519 else {
        EVP_PKEY_free(parsed)
        throw KeyError(description: "not an Ed25519 private key")
      }
      key = parsed
    }

    deinit { EVP_PKEY_free(key) }

    /// The 64-byte signature of `message`.
    package func sign(_ message: [UInt8]) -> [UInt8]? {
      guard let ctx = EVP_MD_CTX_new() else { return nil }
      defer { EVP_MD_CTX_free(ctx) }
      guard EVP_DigestSignInit(ctx, nil, nil, nil, key) == 1 else { return nil }
      var length = 0
      guard EVP_DigestSign(ctx, nil, &length, message, message.count) == 1, length == 64 else { return nil }
      var out = [UInt8](repeating: 0, count: length)
      guard EVP_DigestSign(ctx, &out, &length, message, message.count) == 1 else { return nil }
      return out
    }
  }
}
