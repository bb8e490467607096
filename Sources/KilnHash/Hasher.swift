import CXXHash
import KilnCore

/// Streaming XXH3-128: feed bytes in any number of pieces, then take the digest.
/// The only Swift file that touches libxxhash.
package final class Hasher {
  private let state: OpaquePointer

  package init() {
    state = XXH3_createState()
    XXH3_128bits_reset(state)
  }

  deinit { XXH3_freeState(state) }

  /// A hasher that has seen what this one has, and goes on independently.
  package func copy() -> Hasher {
    let other = Hasher()
    XXH3_copyState(other.state, state)
    return other
  }

  package func reset() { XXH3_128bits_reset(state) }

  package func update(_ buffer: UnsafeRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    XXH3_128bits_update(state, base, buffer.count)
  }

  package func update(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { update($0) }
  }

  package func update(_ string: String) {
    var s = string
    s.withUTF8 { update(UnsafeRawBufferPointer($0)) }
  }

  package func finalize() -> Digest {
    let h = XXH3_128bits_digest(state)
    return Digest(high: h.high64, low: h.low64)
  }

  /// One-shot digest of a buffer.
  package static func digest(_ buffer: UnsafeRawBufferPointer) -> Digest {
    let h = XXH3_128bits(buffer.baseAddress, buffer.count)
    return Digest(high: h.high64, low: h.low64)
  }

  package static func digest(_ bytes: [UInt8]) -> Digest {
    bytes.withUnsafeBytes { digest($0) }
  }

  package static func digest(_ string: String) -> Digest {
    var s = string
    return s.withUTF8 { digest(UnsafeRawBufferPointer($0)) }
  }
}
