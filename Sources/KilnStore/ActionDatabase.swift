#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnSystem
import Synchronization

/// Where the action cache keeps each key's encoded entries (`ActionCache.encode`).
package protocol ActionStorage: Sendable {
  /// The bytes stored under `key`; nil when there are none or they cannot be read.
  func bytes(for key: Digest) -> [UInt8]?
  /// Replaces what `key` holds with `change(current)`, as one step where the storage
  /// can make it one (the database: one transaction).
  func update(_ key: Digest, _ change: ([UInt8]?) -> [UInt8]) throws(FileSystemError)
  /// Replaces what each of `keys` holds with `change(its index, current)`, as one step
  /// where the storage can make it one (the database: one transaction for all).
  func update(_ keys: [Digest], _ change: (Int, [UInt8]?) -> [UInt8]) throws(FileSystemError)
  func remove(_ key: Digest)
  /// Marks `key` used, for LRU eviction.
  func touch(_ key: Digest)
  /// Gets ready for the first lookup (opens what it reads), when that is worth doing
  /// ahead of it; never creates anything.
  func warm()
}

extension ActionStorage {
  package func warm() {}

  /// One key at a time.
  package func update(_ keys: [Digest], _ change: (Int, [UInt8]?) -> [UInt8]) throws(FileSystemError) {
    for (k, key) in keys.enumerated() { try update(key) { change(k, $0) } }
  }
}

/// One file per key, `<cache>/actions/<first hex digit>/<32 hex digits>`, replaced by
/// write-then-rename: the layout of kiln up to issue 16, which the engine's tests keep
/// on their in-memory file system. `cache gc` and `cache verify` still read such files.
package struct ActionFiles: ActionStorage {
  package let root: String
  package let fileSystem: any FileSystem

  package init(root: String, fileSystem: any FileSystem) {
    self.root = root
    self.fileSystem = fileSystem
  }

  package func path(of key: Digest) -> String { ContentStore.shardedPath(root, "actions", key) }

  package func bytes(for key: Digest) -> [UInt8]? { try? fileSystem.read(path(of: key)) }

  package func update(_ key: Digest, _ change: ([UInt8]?) -> [UInt8]) throws(FileSystemError) {
    let file = path(of: key)
    let bytes = change(try? fileSystem.read(file))
    try fileSystem.createDirectories(Paths.parent(file))
    try fileSystem.writeAtomically(bytes, to: file, permissions: 0o644)
  }

  package func remove(_ key: Digest) { try? fileSystem.remove(path(of: key)) }
  package func touch(_ key: Digest) { fileSystem.touch(path(of: key)) }
}

/// The shared cache's action entries in one SQLite database, `<cache>/actions.db`
/// (issue 16): storing a task's entry appends to the WAL instead of creating a file,
/// and a new inode was the most expensive thing a cold build of small tasks did on
/// ext4 (docs/benchmarks.md).
///
/// Schema (`PRAGMA user_version` = 1): `actions(key BLOB(16) PRIMARY KEY, entry BLOB,
/// used INTEGER)` WITHOUT ROWID. `entry` is exactly what an action file held
/// (`ActionCache.encode`: magic, XXH3-128 of the rest, entries), so every row still
/// verifies itself: a damaged row is a miss and is deleted, never decoded past its
/// digest. `used` is the last store or restore in seconds since the epoch, updated by a
/// restore only when it is an hour old (a restore writes nothing otherwise); `cache gc`
/// evicts by it. WAL, `synchronous=OFF` (no fsync: a cache), a checkpoint every 100
/// pages, a busy timeout of 10 s; a store is one
/// `BEGIN IMMEDIATE` transaction (read, merge, write), so two processes storing one key
/// both keep their entries and no reader sees half a row. The file and its `-wal`,
/// `-shm` and `-journal` are never opened through a symbolic link (`CacheSetup` refuses
/// them; SQLite opens with `SQLITE_OPEN_NOFOLLOW`). A database SQLite finds damaged is
/// moved aside (`actions.db.damaged-<time>`) by the connection that found it and the
/// next use starts a new one; any other failure (read-only, refused) makes every lookup
/// a miss and every store a "not cached" warning, never a failed build.
package final class ActionDatabase: ActionStorage {
  package static let fileName = "actions.db"
  package static let schemaVersion: Int64 = 1
  /// The table and its version, in one transaction.
  private static let schema = """
    BEGIN IMMEDIATE;
    CREATE TABLE IF NOT EXISTS actions(key BLOB PRIMARY KEY NOT NULL CHECK(length(key) = 16),
      entry BLOB NOT NULL, used INTEGER NOT NULL) WITHOUT ROWID;
    PRAGMA user_version = \(schemaVersion);
    COMMIT;
    """
  /// A restore marks its entry used only when the mark is older than this (seconds).
  package static let touchInterval: Int64 = 3600

  package let path: String
  private let root: String
  private let mode: mode_t
  private let state = Mutex<State>(State())

  private struct State: ~Copyable {
    var database: Database?
    /// Why the database cannot be used in this process (set once; then every use misses).
    var failure: String?
  }

  /// The database of the cache at `root`; opened at its first use. `mode`: the file's
  /// mode when kiln creates it (`CacheTrust.lockFileMode`).
  package init(cacheRoot root: String, mode: mode_t = 0o644) {
    path = root + "/" + Self.fileName
    self.root = root
    self.mode = mode
  }

  private func open() throws(DatabaseError) -> Database {
    if access(path, F_OK) != 0, errno == ENOENT { publishNew() }
    // Made with the cache's mode before SQLite sees it (a shared cache's group must write it).
    if let fd = try? OwnFile.open(path, O_RDWR | O_CREAT, mode: mode) { close(fd) }
    let db = try Database(path: path)
    // Every launcher call is a new process, which reads the WAL back to index it: kept
    // short (100 pages, 400 KiB) by frequent checkpoints, and these never fsync
    // (`Database`). A crash of the machine may then damage the file: a miss, never a
    // wrong entry (each row checks its own digest), and the file is moved aside and made
    // anew.
    let version = try db.statement("PRAGMA user_version")
    let current = try version.step() ? version.int(0) : 0
    _ = try? version.step()
    if current == 0 {
      try db.execute(Self.schema)
    } else if current != Self.schemaVersion {
      throw DatabaseError(code: DatabaseError.badSchema, message: "written by another version of kiln (schema \(current))", path: path)
    }
    return db
  }

  /// A new database made whole under a name of this process's (WAL, schema, checkpointed
  /// into the main file) and linked into place, unless another process's got there
  /// first: no process ever opens a half-made one. Made in place, twelve processes
  /// storing their first entries at once each switched the same empty file to WAL and
  /// wrote its schema, and once in a full test run one lost its store
  /// (`ActionDatabaseProcessTests`). When this fails, `open` makes it in place as before.
  private func publishNew() {
    let temporary = path + ".new-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer {
      for suffix in [""] + Database.companionSuffixes { unlink(temporary + suffix) }
    }
    guard let fd = try? OwnFile.open(temporary, O_RDWR | O_CREAT | O_EXCL, mode: mode) else { return }
    close(fd)
    do throws(DatabaseError) {
      let db = try Database(path: temporary)
      try db.execute(Self.schema)
      try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    } catch {
      return
    }
    // EEXIST: another process published one; it is as good as this.
    _ = link(temporary, path)
  }

  /// Runs `body` on the open database; nil when it cannot be used. A damaged database
  /// (moved aside by `Database`) is dropped, so the next call starts a new one.
  /// `create`: false for what only reads or deletes: with no file there is nothing to
  /// read (nil, a miss), and the file is made by the first store, after the first
  /// command ran, not before a cold build's first command can start.
  private func using<T: Sendable>(create: Bool = true, _ body: (Database) throws(DatabaseError) -> T)
    -> Result<T, DatabaseError>?
  {
    state.withLock { (state: inout State) -> Result<T, DatabaseError>? in
      if state.failure != nil { return nil }
      if state.database == nil, !create, access(path, F_OK) != 0, errno == ENOENT { return nil }
      if state.database == nil {
        do throws(DatabaseError) { state.database = try open() } catch {
          // Another version's schema is left alone: not ours to judge or move.
          if error.isDamage, error.code != DatabaseError.badSchema { state.database = nil; return .failure(error) }
          state.failure = error.description
          return .failure(error)
        }
      }
      guard let db = state.database else { return nil }
      do throws(DatabaseError) { return .success(try body(db)) } catch {
        if error.isDamage { state.database = nil }
        return .failure(error)
      }
    }
  }

  private static func now() -> Int64 { Int64(time(nil)) }

  /// Opens the database if it exists (never makes one): SQLite's open, the WAL's index
  /// and the schema cost about a millisecond that the first lookup need not wait for.
  package func warm() { _ = using(create: false) { (_) throws(DatabaseError) in () } }

  package func bytes(for key: Digest) -> [UInt8]? {
    let found = using(create: false) { (db) throws(DatabaseError) -> [UInt8]? in
      let select = try db.statement("SELECT entry FROM actions WHERE key = ?").bind([.blob(key.bytes)])
      guard try select.step() else { return nil }
      let bytes = select.blob(0)
      _ = try? select.step()
      return bytes
    }
    if case .success(let bytes) = found { return bytes }
    return nil
  }

  package func update(_ key: Digest, _ change: ([UInt8]?) -> [UInt8]) throws(FileSystemError) {
    try update([key]) { _, current in change(current) }
  }

  /// One transaction for all of `keys` (a remote restore's hits, stored together): a
  /// transaction each wrote the WAL's frames and header again for every entry.
  package func update(_ keys: [Digest], _ change: (Int, [UInt8]?) -> [UInt8]) throws(FileSystemError) {
    let result = using { (db) throws(DatabaseError) -> Void in
      // Prepared once and reused (an `execute` parses its text every time): a batch of
      // 300 items stores 300 entries, each in its own transaction.
      try db.statement("BEGIN IMMEDIATE").run()
      do throws(DatabaseError) {
        let now = Self.now()
        for (k, key) in keys.enumerated() {
          // A key twice in `keys` reads the row this transaction wrote for it.
          let select = try db.statement("SELECT entry FROM actions WHERE key = ?").bind([.blob(key.bytes)])
          var current: [UInt8]?
          if try select.step() {
            current = select.blob(0)
            _ = try? select.step()
          }
          let bytes = change(k, current)
          try db.statement("INSERT OR REPLACE INTO actions(key, entry, used) VALUES (?, ?, ?)")
            .bind([.blob(key.bytes), .blob(bytes), .integer(now)]).run()
        }
        try db.statement("COMMIT").run()
      } catch {
        try? db.execute("ROLLBACK")
        throw error
      }
    }
    switch result {
    case .success: return
    case .failure(let error):
      // A read-only or full cache is named as such, like a blob that cannot be written.
      if error.isReadOnly || error.isFull { throw FileSystemError.cache(root, full: error.isFull) }
      throw FileSystemError(path, error.description)
    case nil: throw FileSystemError(path, state.withLock { $0.failure } ?? "cannot be used")
    }
  }

  package func remove(_ key: Digest) {
    _ = using(create: false) { (db) throws(DatabaseError) in
      try db.statement("DELETE FROM actions WHERE key = ?").bind([.blob(key.bytes)]).run()
    }
  }

  package func touch(_ key: Digest) {
    let now = Self.now()
    _ = using(create: false) { (db) throws(DatabaseError) in
      // A read first: a restore of an entry used within the hour writes nothing.
      let select = try db.statement("SELECT used FROM actions WHERE key = ?").bind([.blob(key.bytes)])
      guard try select.step() else { return }
      let used = select.int(0)
      _ = try? select.step()
      guard used < now - Self.touchInterval else { return }
      try db.statement("UPDATE actions SET used = ? WHERE key = ?").bind([.integer(now), .blob(key.bytes)]).run()
    }
  }

  /// One stored row, for `cache stats`, `gc` and `verify`.
  package struct Row: Sendable {
    package var key: Digest
    package var size: Int64
    /// Seconds since the epoch.
    package var used: Int64
  }

  /// Every row's key, size and last use; empty when the database cannot be used.
  package func rows() -> [Row] {
    let found = using(create: false) { (db) throws(DatabaseError) -> [Row] in
      let select = try db.statement("SELECT key, length(entry), used FROM actions")
      var rows: [Row] = []
      while try select.step() {
        guard let key = Digest(bytes: select.blob(0)) else { continue }
        rows.append(Row(key: key, size: select.int(1) + 40, used: select.int(2)))
      }
      return rows
    }
    if case .success(let rows) = found { return rows }
    return []
  }

  /// Deletes `keys` in one transaction.
  package func remove(_ keys: [Digest]) {
    guard !keys.isEmpty else { return }
    _ = using(create: false) { (db) throws(DatabaseError) in
      try db.execute("BEGIN IMMEDIATE")
      do throws(DatabaseError) {
        for key in keys { try db.statement("DELETE FROM actions WHERE key = ?").bind([.blob(key.bytes)]).run() }
        try db.execute("COMMIT")
      } catch {
        try? db.execute("ROLLBACK")
        throw error
      }
    }
  }

  /// Why the database cannot be used in this process, or nil.
  package var failure: String? { state.withLock { $0.failure } }
}
