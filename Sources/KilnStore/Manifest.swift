#if canImport(Glibc)
import Glibc
#endif
import KilnCore

/// What the stat cache knows of one file: its stat when it was hashed, and the digest.
package struct StatEntry: Sendable, Hashable {
  package var size: Int64
  package var mtime: Int64
  package var ctime: Int64
  package var inode: UInt64
  package var digest: Digest
  /// Wall-clock nanoseconds when the digest was taken (racy-clean rule).
  package var recorded: Int64

  package init(size: Int64, mtime: Int64, ctime: Int64, inode: UInt64, digest: Digest, recorded: Int64) {
    self.size = size
    self.mtime = mtime
    self.ctime = ctime
    self.inode = inode
    self.digest = digest
    self.recorded = recorded
  }
}

/// One row of the run history: a task instance's outcome in one build.
package struct OutcomeRow: Sendable, Hashable {
  package var task: String
  package var outcome: String
  package var reasons: String
  package var duration: Double
  package var started: Double
  package var finished: Double
  /// Bytes of resident memory at its peak, where known.
  package var peakMemory: Int64?
  /// `RerunReason.kind` of each reason, space-separated.
  package var reasonKinds: String
  /// Seconds since its build started when it was ready to start (its dependencies
  /// ended, its verdict taken): `started - ready` is how long it waited for a job slot.
  /// nil in builds recorded before schema 6.
  package var ready: Double?
  /// Seconds of `started...finished` it waited for a machine-wide job slot (shared
  /// with every kiln process) before its command started; nil: none, or not recorded.
  package var queued: Double?
  /// Where its command ran when not here: `remote` (a REAPI worker, schema 8); nil here.
  package var ranOn: String?
  /// Of a remote run: seconds it waited on the server for a worker, and ran on it.
  package var remoteQueued: Double?
  package var remoteExecuted: Double?
  /// Of a remote run: bytes sent to the endpoint and received from it.
  package var remoteUp: Int64?
  package var remoteDown: Int64?
  package init(task: String, outcome: String, reasons: String, duration: Double, started: Double, finished: Double,
               peakMemory: Int64? = nil, reasonKinds: String = "", ready: Double? = nil, queued: Double? = nil) {
    self.ready = ready
    self.queued = queued
    self.peakMemory = peakMemory
    self.reasonKinds = reasonKinds
    self.task = task
    self.outcome = outcome
    self.reasons = reasons
    self.duration = duration
    self.started = started
    self.finished = finished
  }
}

/// The totals of one build, for its history row.
package struct BuildSummary: Sendable, Hashable {
  package var ran = 0
  package var restored = 0
  package var upToDate = 0
  package var failed = 0
  package var skipped = 0
  /// What restoring saved: each restored instance's recorded run time less the time
  /// its restore took (schema 6; before, up-to-date instances' run time was added too,
  /// which the migration took back out of the builds still in the history).
  package var timeSaved: Double = 0
  package var wallTime: Double = 0
  package var exitStatus: Int32 = 0
  /// Of `restored`, those the remote cache gave (schema 7).
  package var restoredRemote = 0
  /// Of `ran`, those run on a remote worker (counted from the outcome rows, schema 8).
  package var ranRemotely = 0
  package init() {}

  /// SPEC: (up to date + restored) / (up to date + restored + ran); nil when nothing counted.
  package var hitRate: Double? {
    let total = upToDate + restored + ran
    return total == 0 ? nil : Double(upToDate + restored) / Double(total)
  }
}

/// `.kiln/state.db`: the workspace's checksum manifest.
///
/// Schema version 7 (SQLite, WAL, busy timeout 10 s):
///   meta(key PRIMARY KEY, value)                 schema_version = 7
///   stat_cache(path PRIMARY KEY, size, mtime, ctime, inode, digest BLOB(16), recorded)
///     mtime/ctime/recorded in ns since the epoch; one row per hashed file, absolute
///     paths outside the workspace (system headers) allowed, workspace files relative.
///   task_records(task_id PRIMARY KEY, key BLOB(16), command, environment BLOB,
///     inputs BLOB, discovered BLOB (then the depfile's 16-byte digest, if known), outputs BLOB, declared BLOB, duration, updated, depfile,
///     peak_memory)   peak_memory: bytes of resident memory at the last run, or NULL
///     the last successful run of each task instance here; lists are ByteWriter-encoded.
///   builds(id INTEGER PRIMARY KEY, started, finished, targets, workspace, exit_status,
///     ran, restored, up_to_date, failed, skipped, time_saved, wall_time,
///     commit_id, jobs, cache_bytes)   time_saved: restored instances' recorded run time
///     less their restore's; commit_id: the checkout's HEAD commit (hex), jobs: the
///     build's -j, cache_bytes: the local cache's size on disk after a build that
///     stored into it; each NULL when unknown (and in builds before schema 6);
///     remote_hits, remote_down, remote_up, remote_seconds: instances restored from the
///     remote cache, bytes downloaded and uploaded, seconds spent on the network; NULL
///     when no remote was asked (and before schema 7)
///   outcomes(build_id -> builds ON DELETE CASCADE, task_id, outcome, reasons,
///     duration, started, finished, peak_memory, reason_kinds, ready, queued)   one row per
///     instance that did not stay up to date; ready: when it could have started (its
///     start less this is its wait for one of the build's -j slots); queued: seconds
///     it then waited for a machine-wide slot, inside started...finished; ran_on
///     ('remote', or NULL: here), remote_queued, remote_executed, remote_up, remote_down:
///     of a command run on a remote worker, seconds it waited there and ran there, bytes
///     sent and received (schema 8)
///   up_to_date(build_id -> builds, task, count, time_saved)   per task name, so a null
///     build of 20,000 instances writes a handful of rows, not 20,000; time_saved here
///     is their recorded run time (work that was already done), not a saving
///   lifetime_totals(workspace PRIMARY KEY ('' for none), builds, ran, restored, up_to_date,
///     failed, skipped, time_saved)   added to by every finished build, never pruned
/// Schema 5 is migrated in place (`migrate5to6`): the new columns are added, and
/// `time_saved` recomputed for the builds the history still holds. Any other version
/// drops and recreates every table: all of it is derived state (the next build
/// re-hashes and reruns or restores), and no output is touched.
package final class Manifest {
  package static let schemaVersion = 8
  /// The schema the manifest opened with `readingOnly` has (5 or 6): a workspace's
  /// manifest its own kiln has not migrated yet is still read.
  package private(set) var readVersion = Manifest.schemaVersion
  package let path: String
  private let db: Database
  private var inTransaction = false

  /// The snapshot that describes this manifest's records (`StateLayout.snapshot`):
  /// deleted before the first record changes, so no snapshot outlives the records it
  /// describes, whoever changes them.
  private let snapshot: String?
  private var snapshotRemoved = false
  /// Opened with `readingOnly`: nothing is written, migrated, imported or moved aside.
  package let isReadOnly: Bool

  /// Opens (creating, migrating) the manifest at `path`, and moves in the builds the
  /// pending file holds.
  package init(path: String, snapshot: String? = nil) throws(DatabaseError) {
    self.path = path
    self.snapshot = snapshot
    isReadOnly = false
    // Switching a new file to WAL and creating the schema take locks that SQLite's busy
    // handler does not always wait for: several kiln processes starting on a fresh
    // workspace (make -j with kiln exec) retry for up to about 10 s.
    var attempt = 0
    while true {
      do {
        let database = try Database(path: path)
        try Self.migrate(database)
        try Self.importPending(database, manifest: path)
        db = database
        return
      } catch where (error.code & 0xFF == 5 || error.code & 0xFF == 6) && attempt < 200 {
        attempt += 1
        usleep(UInt32(10_000 + (attempt % 7) * 7_000))
      }
    }
  }

  /// The manifest at `layout.manifest`, its snapshot being `layout.snapshot`.
  package convenience init(_ layout: StateLayout) throws(DatabaseError) {
    try self.init(path: layout.manifest, snapshot: layout.snapshot)
  }

  /// Opens an existing manifest for reading only (another workspace's, for `kiln stats`
  /// and `kiln ws list`): never created, migrated, reset, moved aside or written, and
  /// its pending builds are left for its own next build to move in. A manifest of
  /// another schema version throws, as there is nothing in it this kiln can read.
  package init(readingOnly path: String) throws(DatabaseError) {
    self.path = path
    snapshot = nil
    isReadOnly = true
    let database = try Database(path: path, readOnly: true)
    let version = try database.statement("SELECT value FROM meta WHERE key = 'schema_version'")
    let current: Int? = try version.step() ? Int(version.text(0)) : nil
    _ = try? version.step()
    guard let current, (5...Self.schemaVersion).contains(current) else {
      throw DatabaseError(code: DatabaseError.badSchema, message: "not a manifest of this kiln's schema", path: path)
    }
    readVersion = current
    db = database
  }

  /// Moves the builds that null builds left in the pending file into the history.
  private static func importPending(_ db: Database, manifest: String) throws(DatabaseError) {
    try PendingHistory.drain(manifest: manifest) { (builds) throws(DatabaseError) in
      guard !builds.isEmpty else { return }
      let m = Manifest(database: db, path: manifest)
      try m.begin()
      for b in builds { try m.append(b) }
      try m.commit()
    }
  }

  private init(database: Database, path: String) {
    self.db = database
    self.path = path
    snapshot = nil
    isReadOnly = false
  }

  private static func migrate(_ db: Database) throws(DatabaseError) {
    try db.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    let version = try db.statement("SELECT value FROM meta WHERE key = 'schema_version'")
    let current: Int? = try version.step() ? Int(version.text(0)) : nil
    _ = try? version.step()
    if current == Self.schemaVersion {
      // Says it is kiln's, so every table must be there: one gone (dropped by hand, or
      // a damaged schema page) is a damaged file, moved aside like one SQLite rejects.
      let tables = try db.statement("""
        SELECT count(*) FROM sqlite_master WHERE type = 'table'
          AND name IN ('stat_cache', 'task_records', 'builds', 'outcomes', 'lifetime_totals', 'up_to_date')
        """)
      let complete = try tables.step() && tables.int(0) == 6
      _ = try? tables.step()
      guard complete else {
        throw DatabaseError(code: DatabaseError.badSchema, message: "a table of its schema is missing", path: db.path,
                            movedAside: db.moveAside())
      }
      return
    }
    if current == 5 {
      try migrate5to6(db)
      try migrate6to7(db)
      try migrate7to8(db)
      return
    }
    if current == 6 {
      try migrate6to7(db)
      try migrate7to8(db)
      return
    }
    if current == 7 {
      try migrate7to8(db)
      return
    }
    try db.execute("""
      BEGIN IMMEDIATE;
      DROP TABLE IF EXISTS lifetime_totals;
      DROP TABLE IF EXISTS up_to_date;
      DROP TABLE IF EXISTS outcomes;
      DROP TABLE IF EXISTS builds;
      DROP TABLE IF EXISTS task_records;
      DROP TABLE IF EXISTS stat_cache;
      CREATE TABLE stat_cache(
        path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
        ctime INTEGER NOT NULL, inode INTEGER NOT NULL, digest BLOB NOT NULL,
        recorded INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE task_records(
        task_id TEXT PRIMARY KEY, key BLOB NOT NULL, command TEXT NOT NULL,
        environment BLOB NOT NULL, inputs BLOB NOT NULL, discovered BLOB NOT NULL,
        outputs BLOB NOT NULL, declared BLOB NOT NULL, duration REAL NOT NULL,
        updated INTEGER NOT NULL, depfile TEXT, peak_memory INTEGER) WITHOUT ROWID;
      CREATE TABLE builds(
        id INTEGER PRIMARY KEY, started REAL NOT NULL, finished REAL, targets TEXT NOT NULL,
        workspace TEXT, exit_status INTEGER, ran INTEGER NOT NULL DEFAULT 0,
        restored INTEGER NOT NULL DEFAULT 0, up_to_date INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0,
        time_saved REAL NOT NULL DEFAULT 0, wall_time REAL NOT NULL DEFAULT 0,
        commit_id TEXT, jobs INTEGER, cache_bytes INTEGER,
        remote_hits INTEGER, remote_down INTEGER, remote_up INTEGER, remote_seconds REAL);
      CREATE TABLE outcomes(
        build_id INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
        task_id TEXT NOT NULL, outcome TEXT NOT NULL, reasons TEXT NOT NULL,
        duration REAL NOT NULL, started REAL NOT NULL, finished REAL NOT NULL,
        peak_memory INTEGER, reason_kinds TEXT NOT NULL DEFAULT '', ready REAL, queued REAL,
        ran_on TEXT, remote_queued REAL, remote_executed REAL, remote_up INTEGER, remote_down INTEGER,
        PRIMARY KEY(build_id, task_id)) WITHOUT ROWID;
      CREATE INDEX outcomes_by_task ON outcomes(task_id);
      CREATE TABLE lifetime_totals(
        workspace TEXT PRIMARY KEY, builds INTEGER NOT NULL, ran INTEGER NOT NULL,
        restored INTEGER NOT NULL, up_to_date INTEGER NOT NULL, failed INTEGER NOT NULL,
        skipped INTEGER NOT NULL, time_saved REAL NOT NULL) WITHOUT ROWID;
      CREATE TABLE up_to_date(
        build_id INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
        task TEXT NOT NULL, count INTEGER NOT NULL, time_saved REAL NOT NULL,
        PRIMARY KEY(build_id, task)) WITHOUT ROWID;
      INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '\(Self.schemaVersion)');
      COMMIT;
      """)
  }

  /// Schema 5 to 6, keeping the history: the columns of the build's commit, its `-j`,
  /// the cache's size and each instance's ready and queued times are added (NULL for the builds
  /// already there), and `time_saved`, which counted up-to-date instances' recorded
  /// run time as saved, is recomputed from the restored rows (recorded run time less
  /// the restore's). The lifetime totals lose what that took out of the builds still
  /// held; builds already pruned from the history cannot be recomputed and stay in them.
  private static func migrate5to6(_ db: Database) throws(DatabaseError) {
    try db.execute("BEGIN IMMEDIATE")
    // Another kiln may have migrated it while this one waited for the lock.
    let version = try db.statement("SELECT value FROM meta WHERE key = 'schema_version'")
    let current: Int? = try version.step() ? Int(version.text(0)) : nil
    _ = try? version.step()
    guard current == 5 else {
      try db.execute("COMMIT")
      return
    }
    do throws(DatabaseError) {
      try migrationSteps5to6(db)
    } catch {
      try? db.execute("ROLLBACK")
      throw error
    }
  }

  /// Schema 6 to 7: the remote cache's figures of each build (NULL for those before).
  private static func migrate6to7(_ db: Database) throws(DatabaseError) {
    try addColumns(db, from: 6, """
      ALTER TABLE builds ADD COLUMN remote_hits INTEGER;
      ALTER TABLE builds ADD COLUMN remote_down INTEGER;
      ALTER TABLE builds ADD COLUMN remote_up INTEGER;
      ALTER TABLE builds ADD COLUMN remote_seconds REAL;
      """)
  }

  /// Schema 7 to 8: where each instance's command ran (here or on a remote worker), its
  /// remote queue and run times and bytes moved (NULL for the builds before).
  private static func migrate7to8(_ db: Database) throws(DatabaseError) {
    try addColumns(db, from: 7, """
      ALTER TABLE outcomes ADD COLUMN ran_on TEXT;
      ALTER TABLE outcomes ADD COLUMN remote_queued REAL;
      ALTER TABLE outcomes ADD COLUMN remote_executed REAL;
      ALTER TABLE outcomes ADD COLUMN remote_up INTEGER;
      ALTER TABLE outcomes ADD COLUMN remote_down INTEGER;
      """)
  }

  /// Runs `alterations` and sets the version to `version + 1`, in one transaction, when
  /// the file is still at `version` under the lock (another kiln may have migrated it
  /// while this one waited).
  private static func addColumns(_ db: Database, from version: Int, _ alterations: String) throws(DatabaseError) {
    try db.execute("BEGIN IMMEDIATE")
    let read = try db.statement("SELECT value FROM meta WHERE key = 'schema_version'")
    let current: Int? = try read.step() ? Int(read.text(0)) : nil
    _ = try? read.step()
    guard current == version else {
      try db.execute("COMMIT")
      return
    }
    do throws(DatabaseError) {
      try db.execute(alterations + "UPDATE meta SET value = '\(version + 1)' WHERE key = 'schema_version';\nCOMMIT;")
    } catch {
      try? db.execute("ROLLBACK")
      throw error
    }
  }

  private static func migrationSteps5to6(_ db: Database) throws(DatabaseError) {
    try db.execute("""
      ALTER TABLE builds ADD COLUMN commit_id TEXT;
      ALTER TABLE builds ADD COLUMN jobs INTEGER;
      ALTER TABLE builds ADD COLUMN cache_bytes INTEGER;
      ALTER TABLE outcomes ADD COLUMN ready REAL;
      ALTER TABLE outcomes ADD COLUMN queued REAL;
      CREATE TEMP TABLE saved AS SELECT id, COALESCE(workspace, '') AS ws, time_saved AS old,
        (SELECT COALESCE(SUM(MAX(0, duration - (finished - started))), 0) FROM outcomes
          WHERE build_id = builds.id AND outcome = 'restored') AS new
        FROM builds;
      UPDATE builds SET time_saved = (SELECT new FROM saved WHERE saved.id = builds.id);
      UPDATE lifetime_totals SET time_saved = MAX(0, time_saved
        + COALESCE((SELECT SUM(new - old) FROM saved WHERE ws = lifetime_totals.workspace), 0));
      DROP TABLE temp.saved;
      INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '6');
      COMMIT;
      """)
  }

  // MARK: - Transactions

  /// Opens a write transaction if none is open; `commit()` ends it.
  package func begin() throws(DatabaseError) {
    guard !inTransaction else { return }
    try db.execute("BEGIN IMMEDIATE")
    inTransaction = true
  }

  /// Copies the WAL into the database and empties it when it has grown past 1 MiB: the
  /// next process to open the database would read all of it back to rebuild its index.
  /// A smaller one costs less to leave than to copy and truncate at every build
  /// (SQLite's 100-page automatic checkpoint copies it meanwhile, see `Database`).
  package func checkpointIfLarge() {
    var st = Glibc.stat()
    guard lstat(path + "-wal", &st) == 0, st.st_size > 1 << 20 else { return }
    _ = try? db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
  }

  /// Drops what the open transaction wrote, if one is open.
  package func rollback() {
    guard inTransaction else { return }
    try? db.execute("ROLLBACK")
    inTransaction = false
  }

  package func commit() throws(DatabaseError) {
    guard inTransaction else { return }
    try db.execute("COMMIT")
    inTransaction = false
    snapshotRemoved = false
  }

  /// Deletes the snapshot before the first change to the records of a transaction.
  private func recordsWillChange() throws(DatabaseError) {
    guard let snapshot, !snapshotRemoved else { return }
    if unlink(snapshot) != 0, errno != ENOENT {
      throw DatabaseError(code: DatabaseError.refused, message: "cannot remove the snapshot (\(String(cString: strerror(errno))))",
                          path: snapshot)
    }
    snapshotRemoved = true
  }

  // MARK: - Stat cache

  /// The whole stat cache, in one statement.
  package func loadStatCache() throws(DatabaseError) -> [String: StatEntry] {
    let s = try db.statement("SELECT path, size, mtime, ctime, inode, digest, recorded FROM stat_cache")
    var result: [String: StatEntry] = [:]
    while try s.step() {
      guard let digest = Digest(bytes: s.blob(5)) else { continue }
      result[s.text(0)] = StatEntry(size: s.int(1), mtime: s.int(2), ctime: s.int(3),
                                    inode: UInt64(bitPattern: s.int(4)), digest: digest, recorded: s.int(6))
    }
    return result
  }

  package func putStat(_ path: String, _ e: StatEntry) throws(DatabaseError) {
    try db.statement("INSERT OR REPLACE INTO stat_cache VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind([.text(path), .integer(e.size), .integer(e.mtime), .integer(e.ctime),
             .integer(Int64(bitPattern: e.inode)), .blob(e.digest.bytes), .integer(e.recorded)]).run()
  }

  package func deleteStat(_ path: String) throws(DatabaseError) {
    try db.statement("DELETE FROM stat_cache WHERE path = ?").bind([.text(path)]).run()
  }

  // MARK: - Task records

  private static let recordColumns = """
    SELECT task_id, key, command, environment, inputs, discovered, outputs, declared, duration, depfile,
      peak_memory
    FROM task_records
    """

  package func loadRecords() throws(DatabaseError) -> [TaskID: TaskRecord] {
    let s = try db.statement(Self.recordColumns)
    var result: [TaskID: TaskRecord] = [:]
    while try s.step() {
      if let record = Self.record(from: s) { result[record.id] = record }
    }
    return result
  }

  /// One instance's record, read alone (a build that decides a few instances: a point
  /// lookup each instead of reading them all); nil when there is none or it cannot be read.
  package func loadRecord(_ id: TaskID) throws(DatabaseError) -> TaskRecord? {
    let s = try db.statement(Self.recordColumns + " WHERE task_id = ?").bind([.text(id.description)])
    guard try s.step() else { return nil }
    let record = Self.record(from: s)
    // To the end (one row: the id is the key), which resets the statement.
    while try s.step() {}
    return record?.id == id ? record : nil
  }

  /// The record in the statement's current row (`recordColumns`); nil when unreadable:
  /// an unreadable record is as good as none, the task reruns.
  private static func record(from s: Statement) -> TaskRecord? {
    guard let key = Digest(bytes: s.blob(1)) else { return nil }
    let id = TaskID(parsing: s.text(0))
    var env = ByteReader(s.blob(3)), inputs = ByteReader(s.blob(4)), discovered = ByteReader(s.blob(5))
    var outputs = ByteReader(s.blob(6)), declared = ByteReader(s.blob(7))
    guard var record = try? TaskRecord(
      id: id, key: key, command: s.text(2), environment: env.strings(), inputs: inputs.pathDigests(),
      discovered: discovered.pathDigests(), outputs: outputs.outputs(), declaredOutputs: declared.strings(),
      duration: s.double(8), depfile: s.isNull(9) ? nil : s.text(9),
      peakMemory: s.isNull(10) ? nil : s.int(10))
    else { return nil }
    // The depfile's digest follows the discovered inputs in their blob, when known.
    if !discovered.atEnd { record.depfileDigest = try? discovered.digest() }
    return record
  }

  package func putRecord(_ r: TaskRecord, now: Int64) throws(DatabaseError) {
    try recordsWillChange()
    var env = ByteWriter(), inputs = ByteWriter(), discovered = ByteWriter(), outputs = ByteWriter(), declared = ByteWriter()
    env.strings(r.environment)
    inputs.pathDigests(r.inputs)
    discovered.pathDigests(r.discovered)
    if let digest = r.depfileDigest { discovered.digest(digest) }
    outputs.outputs(r.outputs)
    declared.strings(r.declaredOutputs)
    try db.statement("INSERT OR REPLACE INTO task_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind([.text(r.id.description), .blob(r.key.bytes), .text(r.command), .blob(env.bytes),
             .blob(inputs.bytes), .blob(discovered.bytes), .blob(outputs.bytes), .blob(declared.bytes),
             .real(r.duration), .integer(now), r.depfile.map { .text($0) } ?? .null,
             r.peakMemory.map { .integer($0) } ?? .null]).run()
  }

  package func deleteRecord(_ id: TaskID) throws(DatabaseError) {
    try recordsWillChange()
    try db.statement("DELETE FROM task_records WHERE task_id = ?").bind([.text(id.description)]).run()
  }

  // MARK: - Run history

  /// Adds one ended build to the history (its row, outcome rows, up-to-date counts,
  /// lifetime totals) and its stat-cache entries, in the open transaction if any.
  package func append(_ entry: BuildHistoryEntry) throws(DatabaseError) {
    let own = !inTransaction
    if own { try begin() }
    for s in entry.stats {
      if let e = s.entry { try putStat(s.path, e) } else { try deleteStat(s.path) }
    }
    let id = try beginBuild(entry)
    for row in entry.outcomes { try recordOutcome(build: id, row) }
    for t in entry.upToDate { try recordUpToDate(build: id, task: t.task, count: t.count, timeSaved: t.saved) }
    try finishBuild(id, entry.summary, finished: entry.finished)
    if own { try commit() }
  }

  private func beginBuild(_ entry: BuildHistoryEntry) throws(DatabaseError) -> Int64 {
    try db.statement("""
      INSERT INTO builds(started, targets, workspace, commit_id, jobs, cache_bytes,
        remote_hits, remote_down, remote_up, remote_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      """)
      .bind(Self.buildRow(entry)).run()
    return db.lastInsertRowID
  }

  private static func buildRow(_ entry: BuildHistoryEntry) -> [SQLValue] {
    var values: [SQLValue] = [.real(entry.started), .text(entry.targets.joined(separator: " "))]
    values.append(entry.workspace.map { SQLValue.text($0) } ?? .null)
    values.append(entry.commit.map { SQLValue.text($0) } ?? .null)
    values.append(entry.jobs.map { SQLValue.integer(Int64($0)) } ?? .null)
    values.append(entry.cacheBytes.map { SQLValue.integer($0) } ?? .null)
    if let remote = entry.remote {
      values += [.integer(Int64(entry.summary.restoredRemote)), .integer(remote.bytesDown), .integer(remote.bytesUp),
                 .real(remote.seconds)]
    } else {
      values += [.null, .null, .null, .null]
    }
    return values
  }

  private func recordOutcome(build: Int64, _ row: OutcomeRow) throws(DatabaseError) {
    try db.statement("INSERT OR REPLACE INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind([.integer(build), .text(row.task), .text(row.outcome), .text(row.reasons),
             .real(row.duration), .real(row.started), .real(row.finished),
             row.peakMemory.map { .integer($0) } ?? .null, .text(row.reasonKinds), row.ready.map { .real($0) } ?? .null,
             row.queued.map { .real($0) } ?? .null, row.ranOn.map { .text($0) } ?? .null,
             row.remoteQueued.map { .real($0) } ?? .null, row.remoteExecuted.map { .real($0) } ?? .null,
             row.remoteUp.map { .integer($0) } ?? .null, row.remoteDown.map { .integer($0) } ?? .null]).run()
  }

  private func recordUpToDate(build: Int64, task: String, count: Int, timeSaved: Double) throws(DatabaseError) {
    try db.statement("INSERT OR REPLACE INTO up_to_date VALUES (?, ?, ?, ?)")
      .bind([.integer(build), .text(task), .integer(Int64(count)), .real(timeSaved)]).run()
  }

  /// How many builds the history keeps (`KILN_HISTORY`); older ones and their rows go
  /// as each build finishes.
  package var keepBuilds = 1000

  private func finishBuild(_ id: Int64, _ s: BuildSummary, finished: Double) throws(DatabaseError) {
    try db.statement("""
      UPDATE builds SET finished = ?, exit_status = ?, ran = ?, restored = ?, up_to_date = ?,
        failed = ?, skipped = ?, time_saved = ?, wall_time = ? WHERE id = ?
      """)
      .bind([.real(finished), .integer(Int64(s.exitStatus)), .integer(Int64(s.ran)), .integer(Int64(s.restored)),
             .integer(Int64(s.upToDate)), .integer(Int64(s.failed)), .integer(Int64(s.skipped)),
             .real(s.timeSaved), .real(s.wallTime), .integer(id)]).run()
    // Totals since the manifest was made, which the bounded history cannot give: the
    // monotonic counters of `kiln stats --prometheus`.
    try db.statement("""
      INSERT INTO lifetime_totals VALUES (
        (SELECT COALESCE(workspace, '') FROM builds WHERE id = ?1), 1, ?2, ?3, ?4, ?5, ?6, ?7)
      ON CONFLICT(workspace) DO UPDATE SET builds = builds + 1, ran = ran + ?2, restored = restored + ?3,
        up_to_date = up_to_date + ?4, failed = failed + ?5, skipped = skipped + ?6, time_saved = time_saved + ?7
      """)
      .bind([.integer(id), .integer(Int64(s.ran)), .integer(Int64(s.restored)), .integer(Int64(s.upToDate)),
             .integer(Int64(s.failed)), .integer(Int64(s.skipped)), .real(s.timeSaved)]).run()
    try db.statement("DELETE FROM builds WHERE id <= ?").bind([.integer(id - Int64(keepBuilds))]).run()
  }

  /// Outcome rows of one build, in the order they finished.
  package func outcomes(ofBuild id: Int64) throws(DatabaseError) -> [OutcomeRow] {
    let s = try db.statement("""
      SELECT task_id, outcome, reasons, duration, started, finished, peak_memory, reason_kinds FROM outcomes
      WHERE build_id = ? ORDER BY finished
      """).bind([.integer(id)])
    var rows: [OutcomeRow] = []
    while try s.step() {
      rows.append(OutcomeRow(task: s.text(0), outcome: s.text(1), reasons: s.text(2),
                             duration: s.double(3), started: s.double(4), finished: s.double(5),
                             peakMemory: s.isNull(6) ? nil : s.int(6), reasonKinds: s.text(7)))
    }
    return rows
  }

  /// The totals of the most recent finished build, if any; `doingWork`: of the most
  /// recent one that restored or ran something (not one with nothing to do).
  package func lastBuild(doingWork: Bool = false) throws(DatabaseError) -> (id: Int64, summary: BuildSummary)? {
    let s = try db.statement("""
      SELECT id, ran, restored, up_to_date, failed, skipped, time_saved, wall_time, exit_status
      FROM builds WHERE finished IS NOT NULL\(doingWork ? " AND ran + restored > 0" : "") ORDER BY id DESC LIMIT 1
      """)
    guard try s.step() else { return nil }
    var summary = BuildSummary()
    summary.ran = Int(s.int(1)); summary.restored = Int(s.int(2)); summary.upToDate = Int(s.int(3))
    summary.failed = Int(s.int(4)); summary.skipped = Int(s.int(5)); summary.timeSaved = s.double(6)
    summary.wallTime = s.double(7); summary.exitStatus = Int32(s.int(8))
    let id = s.int(0)
    _ = try? s.step()
    return (id, summary)
  }

  /// The last `builds` finished builds, oldest first, each with its outcome rows and
  /// up-to-date counts: three queries, each by the primary key's range.
  /// The rows of the builds from `?` on: a range of the primary key, whatever the
  /// history's length (`ManifestTests` checks the query plan).
  package static let historyOutcomesSQL = """
    SELECT build_id, task_id, outcome, reasons, duration, started, finished, peak_memory, reason_kinds, ready, queued,
      ran_on, remote_queued, remote_executed, remote_up, remote_down
    FROM outcomes WHERE build_id >= ? ORDER BY build_id, started
    """
  /// The same of a schema-5 manifest, which has no `ready` column.
  static let historyOutcomesSQL5 = """
    SELECT build_id, task_id, outcome, reasons, duration, started, finished, peak_memory, reason_kinds, NULL, NULL,
      NULL, NULL, NULL, NULL, NULL
    FROM outcomes WHERE build_id >= ? ORDER BY build_id, started
    """
  /// The same of a schema-6 or -7 manifest, which has no remote execution columns.
  static let historyOutcomesSQL6 = """
    SELECT build_id, task_id, outcome, reasons, duration, started, finished, peak_memory, reason_kinds, ready, queued,
      NULL, NULL, NULL, NULL, NULL
    FROM outcomes WHERE build_id >= ? ORDER BY build_id, started
    """
  package static let historyUpToDateSQL = "SELECT build_id, task, count, time_saved FROM up_to_date WHERE build_id >= ?"

  package func history(lastBuilds builds: Int, matching filter: HistoryFilter = HistoryFilter()) throws(DatabaseError) -> [HistoryRow] {
    // A workspace's manifest of schema 5 (read, not migrated) has none of the newer columns.
    let newer = (readVersion >= 6 ? "commit_id, jobs, cache_bytes" : "NULL, NULL, NULL")
      + (readVersion >= 7 ? ", remote_hits, remote_down, remote_up, remote_seconds" : ", NULL, NULL, NULL, NULL")
    let s = try db.statement("""
      SELECT id, started, finished, targets, workspace, exit_status, ran, restored, up_to_date, failed,
        skipped, time_saved, wall_time, \(newer)
      FROM builds WHERE finished IS NOT NULL AND \(HistoryFilter.whereSQL) ORDER BY id DESC LIMIT ?
      """).bind(filter.bindings + [.integer(Int64(builds))])
    var rows: [HistoryRow] = []
    while try s.step() {
      var summary = BuildSummary()
      summary.exitStatus = Int32(s.int(5)); summary.ran = Int(s.int(6)); summary.restored = Int(s.int(7))
      summary.upToDate = Int(s.int(8)); summary.failed = Int(s.int(9)); summary.skipped = Int(s.int(10))
      summary.timeSaved = s.double(11); summary.wallTime = s.double(12)
      var row = HistoryRow(id: s.int(0), started: s.double(1), finished: s.double(2), targets: s.text(3),
                           workspace: s.isNull(4) ? nil : s.text(4), summary: summary)
      row.commit = s.isNull(13) ? nil : s.text(13)
      row.jobs = s.isNull(14) ? nil : Int(s.int(14))
      row.cacheBytes = s.isNull(15) ? nil : s.int(15)
      if !s.isNull(16) {
        row.summary.restoredRemote = Int(s.int(16))
        var traffic = RemoteTraffic()
        traffic.hits = Int(s.int(16))
        traffic.bytesDown = s.int(17)
        traffic.bytesUp = s.int(18)
        traffic.seconds = s.double(19)
        row.remote = traffic
      }
      rows.append(row)
    }
    rows.reverse()
    guard let first = rows.first?.id else { return [] }
    var index: [Int64: Int] = [:]
    for (i, r) in rows.enumerated() { index[r.id] = i }
    let sql = readVersion >= 8 ? Self.historyOutcomesSQL : readVersion >= 6 ? Self.historyOutcomesSQL6 : Self.historyOutcomesSQL5
    let o = try db.statement(sql).bind([.integer(first)])
    while try o.step() {
      guard let i = index[o.int(0)] else { continue }
      var outcome = OutcomeRow(task: o.text(1), outcome: o.text(2), reasons: o.text(3), duration: o.double(4),
                               started: o.double(5), finished: o.double(6),
                               peakMemory: o.isNull(7) ? nil : o.int(7), reasonKinds: o.text(8),
                               ready: o.isNull(9) ? nil : o.double(9),
                               queued: o.isNull(10) ? nil : o.double(10))
      outcome.ranOn = o.isNull(11) ? nil : o.text(11)
      outcome.remoteQueued = o.isNull(12) ? nil : o.double(12)
      outcome.remoteExecuted = o.isNull(13) ? nil : o.double(13)
      outcome.remoteUp = o.isNull(14) ? nil : o.int(14)
      outcome.remoteDown = o.isNull(15) ? nil : o.int(15)
      if outcome.ranOn == "remote", outcome.outcome == "ran" { rows[i].summary.ranRemotely += 1 }
      rows[i].outcomes.append(outcome)
    }
    let u = try db.statement(Self.historyUpToDateSQL).bind([.integer(first)])
    while try u.step() {
      guard let i = index[u.int(0)] else { continue }
      rows[i].upToDate[u.text(1)] = (Int(u.int(2)), u.double(3))
    }
    return rows
  }

  /// Totals of the last `builds` finished builds that `filter` keeps, per workspace they
  /// were recorded under (nil: none named, the main checkout).
  package func totalsByWorkspace(lastBuilds builds: Int, matching filter: HistoryFilter = HistoryFilter()) throws(DatabaseError) -> [WorkspaceTotals] {
    let s = try db.statement("""
      SELECT workspace, COUNT(*), SUM(ran), SUM(restored), SUM(up_to_date), SUM(failed), SUM(skipped), SUM(time_saved),
        SUM(ran + restored + failed + skipped = 0),
        SUM(CASE WHEN ran + restored + failed + skipped = 0 THEN up_to_date ELSE 0 END)
      FROM (SELECT * FROM builds WHERE finished IS NOT NULL AND \(HistoryFilter.whereSQL) ORDER BY id DESC LIMIT ?)
      GROUP BY workspace ORDER BY workspace
      """).bind(filter.bindings + [.integer(Int64(builds))])
    return try Self.totals(s)
  }

  /// Totals per workspace since this manifest was made (not bounded by the history).
  package func lifetimeTotals() throws(DatabaseError) -> [WorkspaceTotals] {
    let s = try db.statement("""
      SELECT NULLIF(workspace, ''), builds, ran, restored, up_to_date, failed, skipped, time_saved
      FROM lifetime_totals ORDER BY workspace
      """)
    return try Self.totals(s)
  }

  private static func totals(_ s: Statement) throws(DatabaseError) -> [WorkspaceTotals] {
    var rows: [WorkspaceTotals] = []
    while try s.step() {
      var summary = BuildSummary()
      summary.ran = Int(s.int(2)); summary.restored = Int(s.int(3)); summary.upToDate = Int(s.int(4))
      summary.failed = Int(s.int(5)); summary.skipped = Int(s.int(6)); summary.timeSaved = s.double(7)
      var totals = WorkspaceTotals(workspace: s.isNull(0) ? nil : s.text(0), builds: Int(s.int(1)), summary: summary)
      if s.columnCount > 9 {
        totals.nothingToDo = Int(s.int(8))
        totals.nothingToDoUpToDate = Int(s.int(9))
      }
      rows.append(totals)
    }
    return rows
  }
}

/// One finished build of the history, with what its instances did.
package struct HistoryRow: Sendable {
  package var id: Int64
  package var started: Double
  package var finished: Double
  package var targets: String
  package var workspace: String?
  package var summary: BuildSummary
  /// The checkout's HEAD commit when it was built, its `-j`, and the local cache's
  /// size on disk after it; nil when unknown.
  package var commit: String?
  package var jobs: Int?
  package var cacheBytes: Int64?
  /// What the remote cache did in it; nil when none was configured or it asked nothing.
  package var remote: RemoteTraffic?
  package var outcomes: [OutcomeRow] = []
  /// Task name -> instances that stayed up to date, and their recorded run time.
  package var upToDate: [String: (count: Int, saved: Double)] = [:]
}

/// What `Manifest.totalsByWorkspace` adds up for one workspace.
package struct WorkspaceTotals: Sendable, Hashable {
  package var workspace: String?
  package var builds: Int
  package var summary: BuildSummary
  /// Of `builds`, those in which every instance was up to date, and their up-to-date
  /// instances: kept apart from hit rates.
  package var nothingToDo = 0
  package var nothingToDoUpToDate = 0
  package init(workspace: String?, builds: Int, summary: BuildSummary) {
    self.workspace = workspace
    self.builds = builds
    self.summary = summary
  }
}

/// Which builds of the history `kiln stats` looks at: recorded under one workspace,
/// started in a time range. Every field nil: all of them.
package struct HistoryFilter: Sendable, Hashable {
  /// `.some(nil)`: the main checkout's builds only.
  package var workspace: String??
  /// Seconds since the epoch: builds that started at or after `since`, at or before `until`.
  package var since: Double?
  package var until: Double?
  /// Builds in which an instance of this task restored, ran, failed, was skipped or
  /// stayed up to date (looked up by the outcomes' and up-to-date counts' primary keys).
  package var task: String?

  package init(workspace: String?? = nil, since: Double? = nil, until: Double? = nil, task: String? = nil) {
    self.workspace = workspace
    self.since = since
    self.until = until
    self.task = task
  }

  /// The condition on `builds`; its parameters are `bindings`, in order. An instance's
  /// id is its task's name, or the name, a space and the item: `name` to `name!`.
  static let whereSQL = """
    (? IS NULL OR started >= ?) AND (? IS NULL OR started <= ?) AND (? = 0 OR workspace IS ?)
      AND (? IS NULL OR EXISTS (SELECT 1 FROM up_to_date u WHERE u.build_id = builds.id AND u.task = ?)
        OR EXISTS (SELECT 1 FROM outcomes o WHERE o.build_id = builds.id AND o.task_id >= ? AND o.task_id < ?))
    """

  var bindings: [SQLValue] {
    let since = self.since.map { SQLValue.real($0) } ?? .null, until = self.until.map { SQLValue.real($0) } ?? .null
    let name: SQLValue = (workspace ?? nil).map { .text($0) } ?? .null
    let task: SQLValue = self.task.map { .text($0) } ?? .null
    let end: SQLValue = self.task.map { .text($0 + "!") } ?? .null
    return [since, since, until, until, .integer(workspace == nil ? 0 : 1), name, task, task, task, end]
  }
}
