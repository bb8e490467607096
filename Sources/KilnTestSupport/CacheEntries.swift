import KilnCore
import KilnStore

/// The action entries of a test's cache (`<cache>/actions.db`, `ActionDatabase`) as raw
/// encodings, read and rewritten the way a damaged disk or a forger would change them.
package enum CacheEntries {
  /// Every stored key and its bytes, in key order.
  package static func all(in cache: String) -> [(key: Digest, bytes: [UInt8])] {
    let database = ActionDatabase(cacheRoot: cache)
    return database.rows().sorted { $0.key.hex < $1.key.hex }.compactMap { row in
      database.bytes(for: row.key).map { (row.key, $0) }
    }
  }

  /// Replaces what `key` holds with `bytes`, whatever they are.
  package static func write(_ bytes: [UInt8], for key: Digest, in cache: String) throws {
    try ActionDatabase(cacheRoot: cache).update(key) { _ in bytes }
  }

  /// Rewrites every entry with `change`.
  package static func rewriteAll(in cache: String, _ change: (Int, inout [UInt8]) -> Void) throws {
    for (i, entry) in all(in: cache).enumerated() {
      var bytes = entry.bytes
      change(i, &bytes)
      try write(bytes, for: entry.key, in: cache)
    }
  }

  /// How `cache verify` names the entry of `key`.
  package static func name(of key: Digest) -> String { ActionDatabase.fileName + ":" + key.hex }
}
