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

  package func field(_ tag: Character, _ value: String) {
    var tagByte = UInt8(tag.asciiValue!)
    withUnsafeBytes(of: &tagByte) { hasher.update($0) }
    var length = UInt64(value.utf8.count).littleEndian
    withUnsafeBytes(of: &length) { hasher.update($0) }
    hasher.update(value)
  }

  package func field(_ tag: Character, _ value: String, _ digest: Digest) {
    field(tag, value)
    hasher.update(digest.bytes)
  }

  package func finalize() -> Digest { hasher.finalize() }
}
