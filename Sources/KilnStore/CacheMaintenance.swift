import KilnCore
import KilnHash
import KilnSystem

/// `cache stats`, `cache gc` and `cache verify` over the shared cache directory: the
/// blobs, the rows of `actions.db`, and action files left by kiln before issue 16.
package struct CacheMaintenance {
  package let root: String
  package let fileSystem: any FileSystem
  /// The action entries' database (`ActionDatabase`); nil: only files are looked at.
  package let actions: ActionDatabase?

  package init(root: String, fileSystem: any FileSystem, actions: ActionDatabase? = nil) {
    self.root = root
    self.fileSystem = fileSystem
    self.actions = actions
  }

  package struct Item {
    /// A file's path, or for a row of the database `actions.db:<key in hex>`.
    package var path: String
    package var size: Int64
    package var mtime: Int64
    package var isBlob: Bool
    /// The key of a row of `actions.db`; nil for a file.
    package var row: Digest? = nil
  }

  package struct Stats: Sendable {
    package var blobs = 0
    package var blobBytes: Int64 = 0
    package var actions = 0
    package var actionBytes: Int64 = 0
    package var totalBytes: Int64 { blobBytes + actionBytes }
  }

  package func items() -> [Item] {
    var result: [Item] = []
    for (folder, isBlob) in [("blobs", true), ("actions", false)] {
      let base = root + "/" + folder
      // `files(under:)` never lists temporary files (`Paths.isTemporary`).
      for rel in fileSystem.files(under: base) {
        let path = base + "/" + rel
        guard let st = fileSystem.stat(path) else { continue }
        result.append(Item(path: path, size: st.size, mtime: st.mtime, isBlob: isBlob))
      }
    }
    for row in actions?.rows() ?? [] {
      result.append(Item(path: ActionDatabase.fileName + ":" + row.key.hex, size: row.size,
                         mtime: row.used * 1_000_000_000, isBlob: false, row: row.key))
    }
    return result
  }

  /// Deletes one item: a file, or a row of the database.
  private func remove(_ item: Item) -> Bool {
    if let key = item.row {
      actions?.remove([key])
      return true
    }
    return (try? fileSystem.remove(item.path)) != nil
  }

  /// Temporary files (`*.kiln-tmp-PID-N`) last written more than `age` nanoseconds
  /// before `now`: what a kiln killed between write and rename left. A live writer
  /// touches its file as it writes, so an hour-old one is no one's.
  package func leftovers(now: Int64, age: Int64 = 3_600_000_000_000) -> [Item] {
    var result: [Item] = []
    for folder in ["blobs", "actions"] {
      let base = root + "/" + folder
      for sub in fileSystem.contents(ofDirectory: base) ?? [] {
        for name in fileSystem.contents(ofDirectory: base + "/" + sub) ?? [] where Paths.isTemporary(name) {
          let path = base + "/" + sub + "/" + name
          guard let st = fileSystem.lstat(path), st.kind == .file, st.mtime < now - age else { continue }
          result.append(Item(path: path, size: st.size, mtime: st.mtime, isBlob: folder == "blobs"))
        }
      }
    }
    return result
  }

  /// Deletes `leftovers(now:)`; returns how many and their bytes.
  package func removeLeftovers(now: Int64) -> (removed: Int, freed: Int64) {
    var removed = 0
    var freed: Int64 = 0
    for item in leftovers(now: now) where (try? fileSystem.remove(item.path)) != nil {
      removed += 1
      freed += item.size
    }
    return (removed, freed)
  }

  /// The cache's size on disk: its blob and action files and `actions.db` with its
  /// WAL. What a build that stored something records in the history: a stat per blob,
  /// the entries' database stat'ed rather than read (`stats()` reads every row).
  /// `bytesOnDisk`, measured at most once per `interval` nanoseconds for every process
  /// sharing the cache: the figure is kept in `<cache>/size` (its mtime the moment it
  /// was measured) and read back until it is older. Measuring stats every blob, which a
  /// build that stored one file must not pay each time on a cache of 100,000 files.
  /// A file there that does not hold a number is measured again.
  package func recentBytesOnDisk(now: Int64, interval: Int64 = 600_000_000_000) -> Int64 {
    let stamp = root + "/size"
    if let st = fileSystem.lstat(stamp), st.kind == .file, st.size < 32, now - st.mtime < interval, now >= st.mtime,
       let bytes = try? fileSystem.read(stamp),
       let value = Int64(String(decoding: bytes, as: UTF8.self).filter { $0 != "\n" }), value >= 0 {
      return value
    }
    let measured = bytesOnDisk()
    try? fileSystem.writeAtomically(Array("\(measured)\n".utf8), to: stamp, permissions: 0o644)
    return measured
  }

  package func bytesOnDisk() -> Int64 {
    var total: Int64 = 0
    for folder in ["blobs", "actions"] {
      let base = root + "/" + folder
      for rel in fileSystem.files(under: base) { total += fileSystem.lstat(base + "/" + rel)?.size ?? 0 }
    }
    for name in [ActionDatabase.fileName, ActionDatabase.fileName + "-wal"] {
      total += fileSystem.lstat(root + "/" + name)?.size ?? 0
    }
    return total
  }

  package func stats() -> Stats {
    var s = Stats()
    for item in items() {
      if item.isBlob { s.blobs += 1; s.blobBytes += item.size } else { s.actions += 1; s.actionBytes += item.size }
    }
    return s
  }

  /// Deletes least recently used files until the cache holds at most `maxBytes`.
  /// Action entries go before blobs of the same age: an entry whose blob is gone is
  /// only a miss at restore time (the task runs), never a wrong result.
  package func collectGarbage(maxBytes: Int64) -> (removed: Int, freed: Int64) {
    var all = items()
    var total = all.reduce(Int64(0)) { $0 + $1.size }
    all.sort { ($0.mtime, $0.isBlob ? 1 : 0) < ($1.mtime, $1.isBlob ? 1 : 0) }
    var removed = 0
    var freed: Int64 = 0
    var rows: [Digest] = []
    for item in all where total > maxBytes {
      if let key = item.row {
        rows.append(key)
      } else if (try? fileSystem.remove(item.path)) == nil {
        continue
      }
      total -= item.size
      freed += item.size
      removed += 1
    }
    actions?.remove(rows)
    return (removed, freed)
  }

  /// Re-hashes every blob and drops the ones whose content no longer matches their
  /// name, and action files that fail their checksum, cannot be decoded, or hold an
  /// entry no task could restore (a path outside its outputs, a bad inline output). Returns what was dropped.
  package func verify() -> (checked: Int, corrupt: [String]) {
    var corrupt: [String] = []
    var checked = 0
    for item in items() {
      checked += 1
      let name = Paths.fileName(item.path)
      if item.isBlob {
        let ok = Digest(hex: name).map { (try? fileSystem.digest(of: item.path)) == $0 } ?? false
        if !ok { corrupt.append(item.path); try? fileSystem.remove(item.path) }
      } else {
        // Its checksum holds, and every entry could be restored for the outputs it names.
        let ok: Bool
        let bytes: [UInt8]?
        if let key = item.row { bytes = actions?.bytes(for: key) } else { bytes = try? fileSystem.read(item.path) }
        switch bytes.map(ActionCache.decodeChecked) {
        case .entries(let list):
          ok = list.allSatisfy { entry in
            entry.fits(declared: entry.declaredOutputs) && entry.inline.allSatisfy { Hasher.digest($0.value) == $0.key }
          }
        case .otherVersion: ok = true  // another kiln's format: not ours to judge
        case .damaged, nil: ok = false
        }
        if !ok { corrupt.append(item.path); _ = remove(item) }
      }
    }
    return (checked, corrupt)
  }
}
