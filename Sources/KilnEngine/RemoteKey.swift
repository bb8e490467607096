import KilnCore
import KilnHash

extension PreparedTask {
  /// The key of this task on a remote cache: the fields of its local key (`Rebuilder.
  /// prepare`: command, folder, environment, outputs, depfile, batch, isolate) with every
  /// input (and tool) named by the SHA-256 of its content instead of XXH3, which is not
  /// collision-resistant and must not decide what another machine restores. Same
  /// encoding (one-byte tag, little-endian length, bytes), its own version string.
  /// Nil when an input is a folder, is missing, or no longer holds the content its
  /// local key was made from: no remote key is made from bytes it did not see.
  package func remoteKey(statCache: StatCache, keyRoots: KeyRoots) -> SHA256Digest? {
    let sha = SHA256Hasher()
    func field(_ tag: UInt8, _ value: String) {
      var tag = tag
      withUnsafeBytes(of: &tag) { sha.update($0) }
      var length = UInt64(value.utf8.count).littleEndian
      withUnsafeBytes(of: &length) { sha.update($0) }
      sha.update(value)
    }
    field(UInt8(ascii: "V"), Self.remoteKeyVersion)
    field(UInt8(ascii: "C"), instance.commandInKey ? keyRoots.normalize(instance.command) : "")
    field(UInt8(ascii: "D"), instance.directory)
    for line in environment { field(UInt8(ascii: "E"), line) }
    for input in inputs {
      guard input.digest != .zero, let digest = statCache.sha256(of: input.path, expecting: input.digest) else { return nil }
      field(UInt8(ascii: "I"), keyRoots.normalize(input.path))
      sha.update(digest.bytes)
    }
    for output in instance.outputs { field(UInt8(ascii: "O"), keyRoots.normalize(output)) }
    if let depfile = instance.depfile { field(UInt8(ascii: "F"), keyRoots.normalize(depfile)) }
    if instance.batch != nil { field(UInt8(ascii: "B"), "batch") }
    if instance.isolate { field(UInt8(ascii: "S"), "isolate") }
    return sha.finalize()
  }

  /// Bump when the remote key's encoding or meaning changes.
  package static let remoteKeyVersion = "kiln-remote-key-1"
}
