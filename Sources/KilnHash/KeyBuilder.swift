import KilnCore

/// Builds an action key: the digest of everything that determines a task's outputs.
///
/// Key encoding (format version `KeyBuilder.formatVersion`): a sequence of fields, each
/// a one-byte tag, a little-endian UInt64 byte length, then the bytes. Tags:
///   V version, C command, D working directory, E env name + 0 + value,
///   H hash_env name + 0 + value (or name + 1 when unset), I input path + 0 + 16-byte
///   digest, O output path, F depfile path, T tool path + 0 + 16-byte digest (`tools`,
///   resolved on PATH; a tool outside the workspace is keyed by its absolute path),
///   B `batch` (run with other items in one command), S `isolate` (run in a sandbox);
///   B and S appear only when set, so adding them changed no existing key.
/// Length prefixes make the encoding injective: no two different tasks share a key
/// by concatenation. Only workspace-relative paths go in, never the workspace root.
package struct KeyBuilder {
  /// Bump when the encoding or the meaning of a field changes: every key changes.
  package static let formatVersion = "kiln-key-1"

  private let hasher: Hasher

  package init() {
    hasher = Hasher()
    field("V", Self.formatVersion)
  }

  private init(hasher: Hasher) { self.hasher = hasher }

  /// A builder holding the fields given so far, to which either may add more: keys
  /// that share a prefix (the launcher's direct and preprocessed keys) hash it once.
  package func copy() -> KeyBuilder { KeyBuilder(hasher: hasher.copy()) }

  package func field(_ tag: Character, _ value: String) { field(tag, value, nil) }

  package func field(_ tag: Character, _ value: String, _ digest: Digest) { field(tag, value, .some(digest)) }

  /// The field's bytes in one piece (tag, length, value, then the digest's 16 bytes in
  /// `Digest.bytes`' order), handed to the hasher at once: the same key as four
  /// updates, without their cost (an archive's key has a field per object file).
  private func field(_ tag: Character, _ value: String, _ digest: Digest?) {
    var value = value
    value.withUTF8 { utf8 in
      let count = 9 + utf8.count + (digest == nil ? 0 : 16)
      withUnsafeTemporaryAllocation(byteCount: count, alignment: 8) { buffer in
        buffer[0] = tag.asciiValue!
        var header = (UInt64(utf8.count).littleEndian, digest?.high.bigEndian ?? 0, digest?.low.bigEndian ?? 0)
        withUnsafeBytes(of: &header) { h in
          buffer.baseAddress!.advanced(by: 1).copyMemory(from: h.baseAddress!, byteCount: 8)
          if digest != nil {
            buffer.baseAddress!.advanced(by: 9 + utf8.count).copyMemory(from: h.baseAddress! + 8, byteCount: 16)
          }
        }
        if let base = utf8.baseAddress { buffer.baseAddress!.advanced(by: 9).copyMemory(from: base, byteCount: utf8.count) }
        hasher.update(UnsafeRawBufferPointer(buffer))
      }
    }
  }

  package func finalize() -> Digest { hasher.finalize() }
}
