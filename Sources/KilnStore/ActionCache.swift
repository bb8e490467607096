import KilnCore
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

/// The local action cache: action key -> the results stored for it.
///
/// Layout: `<cache>/actions/<first hex digit>/<32 hex digits of the key>`, one
/// file per key: the magic `KILNACT3`, a varint count, then each entry (discovered
/// inputs, outputs, declared outputs, stdout, stderr, duration, path-dependent root or
/// "" for none, then the inline outputs: a count and digest + bytes each; ByteWriter
/// encoding). Files of another version read as empty.
/// Several entries share a key when the files a depfile names differ (ccache's direct
/// mode): a lookup takes the first entry whose discovered inputs all still have their
/// recorded digests. At most `maxEntries` are kept, newest first. Files are replaced by
/// write-then-rename; a lost race between two writers loses an entry, never corrupts one.
package struct ActionCache: Sendable {
  package static let magic = Array("KILNACT3".utf8)
  package static let maxEntries = 8
  /// Output files up to this size are kept inside the entry.
  package static let inlineLimit = 32 * 1024
  package let root: String
  package let fileSystem: any FileSystem

  package init(root: String, fileSystem: any FileSystem) {
    self.root = root
    self.fileSystem = fileSystem
  }

  package func path(of key: Digest) -> String {
    let hex = key.hex
    return "\(root)/actions/\(hex.prefix(1))/\(hex)"
  }

  /// Every entry stored for `key`, newest first; empty when none or unreadable.
  package func entries(for key: Digest) -> [ActionEntry] {
    guard let bytes = try? fileSystem.read(path(of: key)) else { return [] }
    return (try? Self.decode(bytes)) ?? []
  }

  package func store(_ entry: ActionEntry, for key: Digest) throws(FileSystemError) {
    // One entry per (discovered inputs, workspace root when path-dependent).
    var list = entries(for: key).filter {
      $0.discovered != entry.discovered || $0.pathDependentRoot != entry.pathDependentRoot
    }
    list.insert(entry, at: 0)
    if list.count > Self.maxEntries { list.removeLast(list.count - Self.maxEntries) }
    let file = path(of: key)
    try fileSystem.createDirectories(Paths.parent(file))
    try fileSystem.writeAtomically(Self.encode(list), to: file, permissions: 0o644)
  }

  /// Marks the entry used, for LRU eviction.
  package func touch(_ key: Digest) { fileSystem.touch(path(of: key)) }

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
    return magic + w.bytes
  }

  package static func decode(_ bytes: [UInt8]) throws -> [ActionEntry] {
    guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else { throw ByteReader.Truncated() }
    var r = ByteReader(Array(bytes[magic.count...]))
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
    return list
  }
}
