#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnSystem

/// A build that a null build from the snapshot did not write into SQLite itself: the
/// history row, its per-task up-to-date counts, and the stat-cache entries of files it
/// found touched but unchanged. Opening SQLite, and reading back its WAL, costs more
/// than the rest of such a build; appending a record to a small file does not.
/// `Manifest.init` moves pending records into the database.
///
/// File: `<manifest>-pending`, a sequence of records, each a varint length, then the
/// ByteWriter fields (see `encode`) and the XXH3-128 of those fields (16 bytes). A
/// record cut short by a crash, or whose digest does not match (damage), ends the
/// file: what follows it is dropped, never imported. Writers and the importer hold an
/// exclusive `flock` on it; it is opened without following a symbolic link.
package struct PendingBuild: Sendable, Hashable {
  package var started: Double
  package var finished: Double
  package var targets: [String]
  package var workspace: String?
  package var summary: BuildSummary
  /// Task name, instances up to date, their recorded run time.
  package var tasks: [UpToDateCount]
  package var stats: [PathStat]

  package struct UpToDateCount: Sendable, Hashable {
    package var task: String
    package var count: Int
    package var saved: Double
    package init(task: String, count: Int, saved: Double) {
      self.task = task
      self.count = count
      self.saved = saved
    }
  }

  package struct PathStat: Sendable, Hashable {
    package var path: String
    package var entry: StatEntry
    package init(path: String, entry: StatEntry) {
      self.path = path
      self.entry = entry
    }
  }

  package init(started: Double, finished: Double, targets: [String], workspace: String?, summary: BuildSummary,
               tasks: [UpToDateCount], stats: [PathStat]) {
    self.started = started
    self.finished = finished
    self.targets = targets
    self.workspace = workspace
    self.summary = summary
    self.tasks = tasks
    self.stats = stats
  }

  package static func path(forManifest manifest: String) -> String { manifest + "-pending" }

  /// Appends one record; false when the file could not be written (the caller then
  /// takes the full path, which records the build itself).
  package static func append(_ build: PendingBuild, manifest: String) -> Bool {
    // A symbolic link there is refused by the full path that then runs (`Context`).
    guard let fd = try? OwnFile.open(path(forManifest: manifest), O_WRONLY | O_APPEND | O_CREAT, mode: 0o644) else {
      return false
    }
    defer { close(fd) }
    guard flock(fd, LOCK_EX) == 0 else { return false }
    let body = build.sealed()
    var w = ByteWriter()
    w.varint(UInt64(body.count))
    let record = w.bytes + body
    let written = record.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    return written == record.count
  }

  /// Takes every pending record out of the file, handing them to `body` (which stores
  /// them); the file is emptied only when `body` succeeds.
  static func drain(manifest: String, _ body: ([PendingBuild]) throws(DatabaseError) -> Void) throws(DatabaseError) {
    let file = path(forManifest: manifest)
    let opened: Int32?
    do { opened = try OwnFile.open(file, O_RDWR) } catch {
      throw DatabaseError(code: DatabaseError.refused, message: error.message, path: file)
    }
    guard let fd = opened else { return }
    defer { close(fd) }
    guard flock(fd, LOCK_EX) == 0 else { return }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n <= 0 { break }
      bytes += buffer[0..<n]
    }
    guard !bytes.isEmpty else { return }
    var builds: [PendingBuild] = []
    var r = ByteReader(bytes)
    while !r.atEnd {
      guard let body = try? r.raw(), let build = unsealed(body) else { break }
      builds.append(build)
    }
    try body(builds)
    _ = ftruncate(fd, 0)
  }

  /// `encode()` followed by its digest (a `Seal` with no magic).
  func sealed() -> [UInt8] { Seal.close([], encode()) }

  /// The record, if its digest matches its fields; nil when damaged.
  static func unsealed(_ bytes: [UInt8]) -> PendingBuild? { Seal.open([], bytes).flatMap(decode) }

  func encode() -> [UInt8] {
    var w = ByteWriter()
    w.double(started)
    w.double(finished)
    w.strings(targets)
    w.string(workspace ?? "")
    w.varint(workspace == nil ? 0 : 1)
    w.varint(UInt64(summary.upToDate))
    w.double(summary.timeSaved)
    w.double(summary.wallTime)
    w.varint(UInt64(tasks.count))
    for t in tasks {
      w.string(t.task)
      w.varint(UInt64(t.count))
      w.double(t.saved)
    }
    w.varint(UInt64(stats.count))
    for s in stats {
      w.string(s.path)
      w.varint(UInt64(bitPattern: s.entry.size))
      w.varint(UInt64(bitPattern: s.entry.mtime))
      w.varint(UInt64(bitPattern: s.entry.ctime))
      w.varint(s.entry.inode)
      w.digest(s.entry.digest)
      w.varint(UInt64(bitPattern: s.entry.recorded))
    }
    return w.bytes
  }

  static func decode(_ bytes: [UInt8]) -> PendingBuild? {
    var r = ByteReader(bytes)
    do throws(ByteReader.Truncated) {
      let started = try r.double()
      let finished = try r.double()
      let targets = try r.strings()
      let workspaceText = try r.string()
      let workspace = try r.varint() == 1 ? workspaceText : nil
      var summary = BuildSummary()
      summary.upToDate = Int(truncatingIfNeeded: try r.varint())
      summary.timeSaved = try r.double()
      summary.wallTime = try r.double()
      var tasks: [UpToDateCount] = []
      for _ in 0..<(try r.count()) {
        tasks.append(UpToDateCount(task: try r.string(), count: Int(truncatingIfNeeded: try r.varint()), saved: try r.double()))
      }
      var stats: [PathStat] = []
      for _ in 0..<(try r.count()) {
        let path = try r.string()
        let entry = StatEntry(
          size: Int64(bitPattern: try r.varint()), mtime: Int64(bitPattern: try r.varint()),
          ctime: Int64(bitPattern: try r.varint()), inode: try r.varint(), digest: try r.digest(),
          recorded: Int64(bitPattern: try r.varint()))
        stats.append(PathStat(path: path, entry: entry))
      }
      guard r.atEnd else { return nil }
      return PendingBuild(started: started, finished: finished, targets: targets, workspace: workspace,
                          summary: summary, tasks: tasks, stats: stats)
    } catch {
      return nil
    }
  }
}
