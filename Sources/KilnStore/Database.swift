#if canImport(Glibc)
import Glibc
#endif
import CSQLite
import KilnSystem

/// A failed SQLite call: SQLite's result code and message, the database's path, and
/// (for a damaged file) where it was moved. `description` is the one line the CLI
/// prints: what is wrong, with which file, and what to do.
package struct DatabaseError: Error, Sendable, CustomStringConvertible {
  package var code: Int32
  package var message: String
  package var path: String
  /// Where the damaged database was moved, when this error found it damaged ("" when
  /// another kiln process had moved it already).
  package var movedAside: String?

  /// `code` for a database kiln refused to open (a symbolic link where it keeps it).
  package static let refused: Int32 = -1
  /// `code` for a database whose schema is not kiln's although it says it is (a table
  /// dropped): damaged, like SQLITE_CORRUPT.
  package static let badSchema: Int32 = -2

  package init(code: Int32, message: String, path: String = "", movedAside: String? = nil) {
    self.code = code
    self.message = message
    self.path = path
    self.movedAside = movedAside
  }

  /// Whether the file itself is damaged (not a database, malformed, its schema gone):
  /// derived state that is moved aside and made anew, never repaired.
  package var isDamage: Bool {
    code == Self.badSchema || code & 0xFF == SQLITE_CORRUPT || code & 0xFF == SQLITE_NOTADB
  }

  /// Whether the disk refused the write: the file system is read-only or full.
  package var isReadOnly: Bool { code & 0xFF == SQLITE_READONLY }
  package var isFull: Bool { code & 0xFF == SQLITE_FULL }

  package var description: String {
    let file = path.isEmpty ? "the state database" : path
    let folder = path.isEmpty ? ".kiln" : Paths.parent(path)
    if code == Self.refused { return "\(file): \(message)" }
    if isDamage {
      if movedAside == "" { return "\(file) is damaged (\(message)); another kiln process moved it aside; run the command again" }
      if let movedAside { return "\(file) is damaged (\(message)); moved it aside to \(movedAside); run the command again" }
      return "\(file) is damaged (\(message)); delete it (it holds only derived state) and run the command again"
    }
    switch code & 0xFF {
    case SQLITE_FULL:
      return "cannot write \(file): the disk is full (\(message)); free space on the disk that holds \(folder) and run again"
    case SQLITE_READONLY:
      return "cannot write \(file): it or \(folder) is read-only (\(message)); make \(folder) writable and run again"
    case SQLITE_CANTOPEN:
      return "cannot open \(file) (\(message)); check that \(folder) exists and can be written"
    case SQLITE_IOERR:
      return "cannot read or write \(file): disk I/O error (\(message)); check the disk that holds \(folder)"
    case SQLITE_BUSY, SQLITE_LOCKED:
      return "\(file) is locked by another kiln process (\(message)); wait for it to finish and run again"
    default:
      return "\(file): \(message)"
    }
  }
}

/// A SQLite connection: the only Swift file that calls libsqlite3. Statements are
/// prepared once and reused; no C type leaves this file.
package final class Database {
  private var handle: OpaquePointer?
  private var cache: [String: Statement] = [:]
  package let path: String
  /// Where the files went once found damaged (`moveAside`); "" when another process
  /// moved them first.
  package private(set) var movedAside: String?
  /// Opened for reading only: damage is reported, never moved aside.
  private let readOnly: Bool

  /// The files SQLite keeps beside a database: the WAL, its index, a rollback journal.
  package static let companionSuffixes = ["-wal", "-shm", "-journal"]

  /// Opens (creating) the file in WAL mode with a busy timeout, so a hook and a build
  /// can overlap. Neither the file nor its WAL, index or journal may be a symbolic
  /// link (a link committed to a repository would have SQLite write through it).
  /// `readOnly`: an existing file, opened for reading; it is never created, switched
  /// to WAL, checkpointed or, found damaged, moved aside.
  package init(path: String, readOnly: Bool = false) throws(DatabaseError) {
    self.path = path
    self.readOnly = readOnly
    for suffix in [""] + Self.companionSuffixes where OwnFile.isLink(path + suffix) {
      throw DatabaseError(code: DatabaseError.refused, message: OwnFile.linkRefused(path + suffix).message,
                          path: path + suffix)
    }
    let access = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
    let flags = access | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW
    let rc = sqlite3_open_v2(path, &handle, flags, nil)
    guard rc == SQLITE_OK else {
      let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
      sqlite3_close(handle)
      handle = nil
      throw DatabaseError(code: rc, message: message, path: path)
    }
    sqlite3_busy_timeout(handle, 10_000)
    if readOnly { return }
    // No fdatasync, ever (`synchronous=OFF`): every database kiln writes is derived
    // state or a cache, as ninja's logs are. A process crash never needed a sync (the
    // page cache is shared, SQLite's atomic commit holds for every process). A machine
    // crash may lose the last commits or damage the file: lost records make their
    // instances run again (a verdict compares content digests, never trusts a record
    // alone), and a damaged file is moved aside and made anew. What the syncs cost:
    // switching a new file to WAL took four of them and two of the folder (10-15 ms of
    // a cold build's start on ext4, where a sync mid-build also writes out every file
    // the build made so far), and each automatic checkpoint three (0.5-4 ms each on a
    // quiet disk, tens of ms beside a build deleting trees; every edit build once the
    // WAL passed 100 pages).
    try execute("PRAGMA synchronous=OFF")
    try execute("PRAGMA journal_mode=WAL")
    try execute("PRAGMA foreign_keys=ON")
    // Every kiln command opens and closes the manifest. A close that checkpoints copies
    // the WAL into the file (with syncs, it cost about 2 ms of a 10 ms null build); one
    // that does not leaves frames in the WAL that the next process to open the database
    // may read back to rebuild its index (800 reads for a 3 MB WAL). So: no checkpoint
    // at close, an automatic one every 100 pages (which copies the frames but, with
    // readers between builds, need not restart the WAL: it was seen to grow to 1 MiB),
    // and a truncating one at the end of a build whose WAL passed 1 MiB
    // (`Manifest.checkpointIfLarge`).
    _ = kiln_sqlite3_skip_checkpoint_on_close(handle)
    try execute("PRAGMA wal_autocheckpoint=100")
  }

  deinit {
    cache.removeAll()
    sqlite3_close_v2(handle)
  }

  private func error(_ rc: Int32, _ message: String? = nil) -> DatabaseError {
    var error = DatabaseError(code: rc, message: message ?? String(cString: sqlite3_errmsg(handle)), path: path)
    if error.isDamage, !readOnly { error.movedAside = moveAside() }
    return error
  }

  /// Moves the database and its WAL, index and journal aside, to
  /// `<path>.damaged-<UTC time>` (+ their suffixes), once: it is derived state, so a
  /// damaged one is kept for a look, and the next open starts a new one. This
  /// connection goes on with the moved files. Returns the new name, or nil when the
  /// file could not be moved.
  @discardableResult
  package func moveAside() -> String? {
    if let movedAside { return movedAside }
    var now = time(nil)
    var parts = tm()
    gmtime_r(&now, &parts)
    func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
    var aside = path + ".damaged-\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T"
      + "\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    if access(aside, F_OK) == 0 { aside += "-\(getpid())" }
    guard Glibc.rename(path, aside) == 0 else {
      // Gone already: another kiln process found the damage first and moved it.
      if errno == ENOENT { movedAside = "" }
      return movedAside
    }
    for suffix in Self.companionSuffixes { _ = Glibc.rename(path + suffix, aside + suffix) }
    movedAside = aside
    return aside
  }

  /// Runs one or more statements that return no rows.
  package func execute(_ sql: String) throws(DatabaseError) {
    var message: UnsafeMutablePointer<CChar>?
    let rc = sqlite3_exec(handle, sql, nil, nil, &message)
    if rc != SQLITE_OK {
      let text = message.map { String(cString: $0) } ?? "error \(rc)"
      sqlite3_free(message)
      throw error(rc, text)
    }
  }

  /// A prepared statement, cached by its SQL text.
  package func statement(_ sql: String) throws(DatabaseError) -> Statement {
    if let cached = cache[sql] {
      cached.reset()
      return cached
    }
    var raw: OpaquePointer?
    let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
    guard rc == SQLITE_OK, let raw else { throw error(rc) }
    let statement = Statement(raw, database: self)
    cache[sql] = statement
    return statement
  }

  package func transaction<T>(_ body: () throws -> T) throws -> T {
    try execute("BEGIN IMMEDIATE")
    do {
      let value = try body()
      try execute("COMMIT")
      return value
    } catch {
      try? execute("ROLLBACK")
      throw error
    }
  }

  package var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

  fileprivate func message(_ rc: Int32) -> DatabaseError { error(rc) }
}

/// A value to bind to a statement parameter.
package enum SQLValue {
  case null
  case integer(Int64)
  case real(Double)
  case text(String)
  case blob([UInt8])
}

/// A prepared statement: bind, step, read columns.
package final class Statement {
  private let raw: OpaquePointer
  private unowned let database: Database

  fileprivate init(_ raw: OpaquePointer, database: Database) {
    self.raw = raw
    self.database = database
  }

  deinit { sqlite3_finalize(raw) }

  fileprivate func reset() {
    sqlite3_reset(raw)
    sqlite3_clear_bindings(raw)
  }

  private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

  package func bind(_ values: [SQLValue]) -> Statement {
    for (i, value) in values.enumerated() {
      let index = Int32(i + 1)
      switch value {
      case .null: sqlite3_bind_null(raw, index)
      case .integer(let v): sqlite3_bind_int64(raw, index, v)
      case .real(let v): sqlite3_bind_double(raw, index, v)
      case .text(let v): sqlite3_bind_text(raw, index, v, -1, Self.transient)
      case .blob(let v):
        _ = v.withUnsafeBytes { sqlite3_bind_blob(raw, index, $0.baseAddress, Int32($0.count), Self.transient) }
      }
    }
    return self
  }

  /// Steps once; true when a row is available.
  package func step() throws(DatabaseError) -> Bool {
    let rc = sqlite3_step(raw)
    if rc == SQLITE_ROW { return true }
    if rc == SQLITE_DONE {
      sqlite3_reset(raw)
      return false
    }
    let e = database.message(rc)
    sqlite3_reset(raw)
    throw e
  }

  /// Steps to the end, for statements that return no rows.
  package func run() throws(DatabaseError) {
    while try step() {}
  }

  package var columnCount: Int32 { sqlite3_column_count(raw) }
  package func int(_ column: Int32) -> Int64 { sqlite3_column_int64(raw, column) }
  package func double(_ column: Int32) -> Double { sqlite3_column_double(raw, column) }
  package func isNull(_ column: Int32) -> Bool { sqlite3_column_type(raw, column) == SQLITE_NULL }
  package func text(_ column: Int32) -> String {
    guard let p = sqlite3_column_text(raw, column) else { return "" }
    return String(cString: p)
  }
  package func blob(_ column: Int32) -> [UInt8] {
    let count = Int(sqlite3_column_bytes(raw, column))
    guard count > 0, let p = sqlite3_column_blob(raw, column) else { return [] }
    return Array(UnsafeRawBufferPointer(start: p, count: count))
  }
}
