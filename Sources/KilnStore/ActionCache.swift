#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnHash
import KilnSystem

extension String {
  var nilIfEmpty: String? { isEmpty ? nil : self }
}

/// One stored result of an action: what its outputs were and what it printed.
package struct ActionEntry: Sendable, Hashable {
  /// Inputs found through the depfile, with the digests they had: the second-level key.
  package var discovered: [PathDigest]
  package var outputs: [OutputEntry]
  package var declaredOutputs: [String]
  package var stdout: [UInt8]
  package var stderr: [UInt8]
  package var duration: Double
  /// The absolute workspace root when an output contains it: such a result is restored
  /// only into a workspace at that same path (SPEC section 2).
  package var pathDependentRoot: String?
  /// The bytes of small output files, by digest, kept in the entry itself rather than
  /// as blobs (ccache does the same): one file written per stored task, not two.
  package var inline: [Digest: [UInt8]]

  package init(discovered: [PathDigest], outputs: [OutputEntry], declaredOutputs: [String],
               stdout: [UInt8], stderr: [UInt8], duration: Double, pathDependentRoot: String? = nil,
               inline: [Digest: [UInt8]] = [:]) {
    self.pathDependentRoot = pathDependentRoot
    self.inline = inline
    self.discovered = discovered
    self.outputs = outputs
    self.declaredOutputs = declaredOutputs
    self.stdout = stdout
    self.stderr = stderr
    self.duration = duration
  }
}

/// What a lookup in the action cache found.
package struct ActionLookup: Sendable {
  /// Every entry stored for the key, newest first.
  package var entries: [ActionEntry]
  /// The file was there but failed its checksum or could not be decoded: it was
  /// deleted, and the task counts the miss as "cache entry damaged".
  package var damaged: Bool
}

/// The local action cache: action key -> the results stored for it.
///
/// Each key holds one encoding (`encode`): the magic `KILNACT4`, the 16-byte XXH3-128
/// digest of everything after it, then a varint count and each entry (discovered
/// inputs, outputs, declared outputs, stdout, stderr, duration, path-dependent root or
/// "" for none, then the inline outputs: a count and digest + bytes each; ByteWriter
/// encoding). Where it is kept is `storage`'s business: a row of `<cache>/actions.db`
/// (`ActionDatabase`, what kiln uses) or a file per key (`ActionFiles`, the layout
/// before issue 16, which the engine's in-memory tests keep).
/// Every read checks the digest first (git's object check): one changed byte anywhere
/// makes the whole encoding damaged, which is a miss and deletes it, never a restore of
/// what the damaged bytes say. An encoding of another version (`KILNACT` and another
/// digit) is a miss and is left alone.
/// Several entries share a key when the files a depfile names differ (ccache's direct
/// mode): a lookup takes the first entry whose discovered inputs all still have their
/// recorded digests. At most `maxEntries` are kept, newest first.
/// An entry is still untrusted after its checksum passes (anyone who can write the
/// cache can write a valid one): `ActionEntry.fits(declared:)` decides where it may write.
package struct ActionCache: Sendable {
  package static let magic = Array("KILNACT4".utf8)
  package static let maxEntries = 8
  /// Output files up to this size are kept inside the entry.
  package static let inlineLimit = 32 * 1024
  package let root: String
  package let storage: any ActionStorage

  /// One file per key through `fileSystem` (`ActionFiles`).
  package init(root: String, fileSystem: any FileSystem) {
    self.root = root
    storage = ActionFiles(root: root, fileSystem: fileSystem)
  }

  package init(root: String, storage: any ActionStorage) {
    self.root = root
    self.storage = storage
  }

  /// The cache's database (`ActionDatabase`), made with `mode` if missing.
  package static func shared(root: String, mode: mode_t) -> ActionCache {
    ActionCache(root: root, storage: ActionDatabase(cacheRoot: root, mode: mode))
  }

  /// Opens the storage ahead of the first lookup, where that is worth doing (`warm`).
  package func warm() { storage.warm() }

  /// Every entry stored for `key`, newest first; damaged bytes are deleted and reported.
  package func lookup(_ key: Digest, removingDamaged: Bool = true) -> ActionLookup {
    guard let bytes = storage.bytes(for: key) else { return ActionLookup(entries: [], damaged: false) }
    switch Self.decodeChecked(bytes) {
    case .entries(let list): return ActionLookup(entries: list, damaged: false)
    case .otherVersion: return ActionLookup(entries: [], damaged: false)
    case .damaged:
      if removingDamaged { storage.remove(key) }
      return ActionLookup(entries: [], damaged: true)
    }
  }

  /// Every entry stored for `key`, newest first; empty when none, damaged or unreadable.
  package func entries(for key: Digest) -> [ActionEntry] { lookup(key).entries }

  package func store(_ entry: ActionEntry, for key: Digest) throws(FileSystemError) {
    try storage.update(key) { Self.merging(entry, into: $0) }
  }

  /// Stores each entry under its key, in one step where the storage can make it one
  /// (`ActionStorage.update(_:_:)` of many keys): all are stored, or none.
  package func store(_ entries: [(entry: ActionEntry, key: Digest)]) throws(FileSystemError) {
    try storage.update(entries.map(\.key)) { k, current in Self.merging(entries[k].entry, into: current) }
  }

  /// `current` (a key's stored bytes, if any) with `entry` first: one entry per
  /// (discovered inputs, workspace root when path-dependent), at most `maxEntries`.
  private static func merging(_ entry: ActionEntry, into current: [UInt8]?) -> [UInt8] {
    var list: [ActionEntry] = []
    if let current, case .entries(let stored) = decodeChecked(current) {
      list = stored.filter { $0.discovered != entry.discovered || $0.pathDependentRoot != entry.pathDependentRoot }
    }
    list.insert(entry, at: 0)
    if list.count > maxEntries { list.removeLast(list.count - maxEntries) }
    return encode(list)
  }

  /// Removes the stored entries for `key` (a result found to be wrong after storing).
  package func remove(_ key: Digest) { storage.remove(key) }

  /// Marks the entry used, for LRU eviction.
  package func touch(_ key: Digest) { storage.touch(key) }

  package static func encode(_ list: [ActionEntry]) -> [UInt8] {
    var w = ByteWriter()
    w.varint(UInt64(list.count))
    for e in list {
      w.pathDigests(e.discovered)
      w.outputs(e.outputs)
      w.strings(e.declaredOutputs)
      w.raw(e.stdout)
      w.raw(e.stderr)
      w.double(e.duration)
      w.string(e.pathDependentRoot ?? "")
      w.varint(UInt64(e.inline.count))
      for (digest, bytes) in e.inline.sorted(by: { $0.key.hex < $1.key.hex }) {
        w.digest(digest)
        w.raw(bytes)
      }
    }
    return magic + Hasher.digest(w.bytes).bytes + w.bytes
  }

  /// What a cache file's bytes are.
  package enum Decoded {
    case entries([ActionEntry])
    /// Written by another version of kiln (another magic): not ours to judge.
    case otherVersion
    /// Checksum mismatch, truncated, or not decodable.
    case damaged
  }

  package static func decodeChecked(_ bytes: [UInt8]) -> Decoded {
    let prefix = Array("KILNACT".utf8)
    guard bytes.count >= magic.count, Array(bytes[0..<prefix.count]) == prefix else { return .damaged }
    // Another version names itself with another digit; any other byte there is damage.
    guard Array(bytes[0..<magic.count]) == magic else {
      return (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[prefix.count]) ? .otherVersion : .damaged
    }
    guard bytes.count >= magic.count + 16 else { return .damaged }
    let body = Array(bytes[(magic.count + 16)...])
    guard Digest(bytes: Array(bytes[magic.count..<magic.count + 16])) == Hasher.digest(body) else { return .damaged }
    guard let list = try? decodeBody(body) else { return .damaged }
    return .entries(list)
  }

  /// The entries of a cache file, or an error when it is damaged or of another version.
  package static func decode(_ bytes: [UInt8]) throws -> [ActionEntry] {
    guard case .entries(let list) = decodeChecked(bytes) else { throw ByteReader.Truncated() }
    return list
  }

  private static func decodeBody(_ body: [UInt8]) throws -> [ActionEntry] {
    var r = ByteReader(body)
    let n = try r.count()
    var list: [ActionEntry] = []
    for _ in 0..<n {
      var entry = ActionEntry(
        discovered: try r.pathDigests(), outputs: try r.outputs(), declaredOutputs: try r.strings(),
        stdout: try r.raw(), stderr: try r.raw(), duration: try r.double(),
        pathDependentRoot: try r.string().nilIfEmpty)
      for _ in 0..<(try r.count()) {
        let digest = try r.digest()
        entry.inline[digest] = try r.raw()
      }
      list.append(entry)
    }
    guard r.atEnd else { throw ByteReader.Truncated() }
    return list
  }
}

extension ActionEntry {
  /// Every path it holds (outputs, declared outputs, discovered inputs), and what the
  /// command printed when it is text, through `transform`: the engine writes a
  /// checkout's folders out of them to store, and back in to restore (`KeyRoots`), so a
  /// warning restored in another worktree names that worktree's files. Printed bytes
  /// that are not UTF-8 stay as they are.
  package mutating func mapPaths(_ transform: (String) -> String) {
    discovered = discovered.map { PathDigest(transform($0.path), $0.digest) }
    outputs = outputs.map { OutputEntry(path: transform($0.path), kind: $0.kind, permissions: $0.permissions, digest: $0.digest) }
    declaredOutputs = declaredOutputs.map(transform)
    func text(_ bytes: [UInt8]) -> [UInt8] {
      guard !bytes.isEmpty, let s = String(validating: bytes, as: UTF8.self) else { return bytes }
      return Array(transform(s).utf8)
    }
    stdout = text(stdout)
    stderr = text(stderr)
  }

  /// Whether this entry may be restored for a task that declares `declared` now: it
  /// lists exactly those outputs, every other path lies inside a declared directory
  /// output under a folder listed before it, every path is a plain relative path (no
  /// absolute path, no `..`), no path twice, every symlink's target is inline and stays
  /// inside the workspace, and its duration is a real number of seconds. Anything else
  /// is not a result of this task's command, whatever its checksum says. (An inline
  /// output's bytes are checked against its digest as it is written back, and by
  /// `cache verify`.)
  package func fits(declared: [String]) -> Bool {
    // The duration goes into records and reports: a number, not NaN or negative.
    // (Under a year: the duration becomes time-saved figures, dates and JSON numbers.)
    guard declaredOutputs == declared, duration.isFinite, duration >= 0, duration < 3.2e7 else { return false }
    let declaredSet = Set(declared)
    var folders = Set<String>()
    var seen = Set<String>()
    var top = Set<String>()
    for output in outputs {
      guard Paths.isPlainRelative(output.path), seen.insert(output.path).inserted else { return false }
      if declaredSet.contains(output.path) {
        top.insert(output.path)
      } else if !folders.contains(Paths.parent(output.path)) {
        return false
      }
      switch output.kind {
      case .directory: folders.insert(output.path)
      case .file: break
      case .symlink:
        guard let bytes = inline[output.digest], Hasher.digest(bytes) == output.digest,
              Paths.symlinkTarget(String(decoding: bytes, as: UTF8.self), of: output.path) != nil,
              String(decoding: bytes, as: UTF8.self).utf8.elementsEqual(bytes)
        else { return false }
      }
    }
    return top == declaredSet
  }
}
