#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnSystem

/// One build as the history keeps it: what every build, full or answered from the
/// snapshot, hands the manifest once it has ended (`Manifest.append`). A full build
/// appends it inside its own transaction; a null build appends it to the pending file
/// (`PendingHistory`), which the next opener of the manifest moves in.
package struct BuildHistoryEntry: Sendable, Hashable {
  /// Starts each pending record. `KILNHE2` adds the commit, the `-j`, the cache's size
  /// and each outcome's ready time to `KILNHE1`, which is still read (left by the kiln
  /// before an upgrade); any other is dropped, not misread.
  static let magic = Array("KILNHE2".utf8)
  static let magicVersion1 = Array("KILNHE1".utf8)
  package var started: Double
  package var finished: Double
  package var targets: [String]
  /// The workspace the build ran in; nil for the main checkout.
  package var workspace: String?
  package var summary: BuildSummary
  /// Per task name: instances up to date, their recorded run time.
  package var upToDate: [UpToDateCount]
  /// One row per instance that did not stay up to date.
  package var outcomes: [OutcomeRow]
  /// Stat-cache entries this build learned (nil entry: forget the path).
  package var stats: [PathStat]
  /// The checkout's HEAD commit (hex) when the build started; nil outside git or when
  /// HEAD names no commit yet.
  package var commit: String?
  /// The build's `-j`.
  package var jobs: Int?
  /// The local cache's size on disk once the build ended, measured only by a build that
  /// stored something in it; nil otherwise.
  package var cacheBytes: Int64?
  /// What the remote cache moved and how long it took; nil when none was asked. Only a
  /// full build has any, and it appends itself: the pending file (null builds) keeps none.
  package var remote: RemoteTraffic?

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
    package var entry: StatEntry?
    package init(path: String, entry: StatEntry?) {
      self.path = path
      self.entry = entry
    }
  }

  package init(started: Double, finished: Double, targets: [String], workspace: String?, summary: BuildSummary,
               upToDate: [UpToDateCount], outcomes: [OutcomeRow] = [], stats: [PathStat] = [],
               commit: String? = nil, jobs: Int? = nil, cacheBytes: Int64? = nil) {
    self.commit = commit
    self.jobs = jobs
    self.cacheBytes = cacheBytes
    self.started = started
    self.finished = finished
    self.targets = targets
    self.workspace = workspace
    self.summary = summary
    self.upToDate = upToDate
    self.outcomes = outcomes
    self.stats = stats
  }
}

/// Builds that a null build from the snapshot did not write into SQLite itself.
/// Opening SQLite, and reading back its WAL, costs more than the rest of such a build;
/// appending a record to a small file does not. `Manifest.init` moves pending records
/// into the database.
///
/// File: `StateLayout.pending`, a sequence of records, each a varint length, then the
/// magic `KILNHE1`, the ByteWriter fields (see `encode`) and their XXH3-128 (16
/// bytes): a `Seal`. A
/// record cut short by a crash, or whose digest does not match (damage), ends the
/// file: what follows it is dropped, never imported. Writers and the importer hold an
/// exclusive `flock` on it; it is opened without following a symbolic link.
package enum PendingHistory {
  /// Appends one record; false when the file could not be written (the caller then
  /// takes the full path, which records the build itself).
  package static func append(_ build: BuildHistoryEntry, manifest: String) -> Bool {
    // A symbolic link there is refused by the full path that then runs (`Context`).
    guard let fd = try? OwnFile.open(StateLayout.pending(ofManifest: manifest), O_WRONLY | O_APPEND | O_CREAT, mode: 0o644) else {
      return false
    }
    defer { OwnFile.unlockAndClose(fd) }
    guard flock(fd, LOCK_EX) == 0 else { return false }
    let body = Seal.close(BuildHistoryEntry.magic, build.encode())
    var w = ByteWriter()
    w.varint(UInt64(body.count))
    let record = w.bytes + body
    let written = record.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    return written == record.count
  }

  /// Takes every pending record out of the file, handing them to `body` (which stores
  /// them); the file is emptied only when `body` succeeds.
  static func drain(manifest: String, _ body: ([BuildHistoryEntry]) throws(DatabaseError) -> Void) throws(DatabaseError) {
    let file = StateLayout.pending(ofManifest: manifest)
    let opened: Int32?
    do { opened = try OwnFile.open(file, O_RDWR) } catch {
      throw DatabaseError(code: DatabaseError.refused, message: error.message, path: file)
    }
    guard let fd = opened else { return }
    defer { OwnFile.unlockAndClose(fd) }
    guard flock(fd, LOCK_EX) == 0 else { return }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n <= 0 { break }
      bytes += buffer[0..<n]
    }
    guard !bytes.isEmpty else { return }
    var builds: [BuildHistoryEntry] = []
    var r = ByteReader(bytes)
    while !r.atEnd {
      guard let body = try? r.raw() else { break }
      let build = Seal.open(BuildHistoryEntry.magic, body).flatMap { BuildHistoryEntry.decode($0, version: 2) }
        ?? Seal.open(BuildHistoryEntry.magicVersion1, body).flatMap { BuildHistoryEntry.decode($0, version: 1) }
      guard let build else { break }
      builds.append(build)
    }
    try body(builds)
    _ = ftruncate(fd, 0)
  }

}

extension BuildHistoryEntry {
  func encode() -> [UInt8] {
    var w = ByteWriter()
    w.double(started)
    w.double(finished)
    w.strings(targets)
    w.string(workspace ?? "")
    w.varint(workspace == nil ? 0 : 1)
    for n in [summary.ran, summary.restored, summary.upToDate, summary.failed, summary.skipped] {
      w.varint(UInt64(n))
    }
    w.varint(UInt64(UInt32(bitPattern: summary.exitStatus)))
    w.double(summary.timeSaved)
    w.double(summary.wallTime)
    w.varint(UInt64(upToDate.count))
    for t in upToDate {
      w.string(t.task)
      w.varint(UInt64(t.count))
      w.double(t.saved)
    }
    w.varint(UInt64(outcomes.count))
    for o in outcomes {
      w.strings([o.task, o.outcome, o.reasons, o.reasonKinds])
      w.double(o.duration)
      w.double(o.started)
      w.double(o.finished)
      w.varint(o.peakMemory.map { UInt64(bitPattern: $0) + 1 } ?? 0)
      w.varint(o.ready == nil ? 0 : 1)
      w.double(o.ready ?? 0)
      w.double(o.queued ?? 0)
    }
    w.varint(UInt64(stats.count))
    for s in stats {
      w.string(s.path)
      guard let entry = s.entry else {
        w.varint(0)
        continue
      }
      w.varint(1)
      w.varint(UInt64(bitPattern: entry.size))
      w.varint(UInt64(bitPattern: entry.mtime))
      w.varint(UInt64(bitPattern: entry.ctime))
      w.varint(entry.inode)
      w.digest(entry.digest)
      w.varint(UInt64(bitPattern: entry.recorded))
    }
    w.string(commit ?? "")
    w.varint(UInt64(jobs ?? 0))
    w.varint(cacheBytes.map { UInt64(bitPattern: $0) + 1 } ?? 0)
    return w.bytes
  }

  /// `version` 1: a `KILNHE1` record, without the commit, jobs, cache size and ready times.
  static func decode(_ bytes: [UInt8], version: Int) -> BuildHistoryEntry? {
    var r = ByteReader(bytes)
    do throws(ByteReader.Truncated) {
      func int() throws(ByteReader.Truncated) -> Int { Int(truncatingIfNeeded: try r.varint()) }
      let started = try r.double()
      let finished = try r.double()
      let targets = try r.strings()
      let workspaceText = try r.string()
      let workspace = try r.varint() == 1 ? workspaceText : nil
      var summary = BuildSummary()
      summary.ran = try int()
      summary.restored = try int()
      summary.upToDate = try int()
      summary.failed = try int()
      summary.skipped = try int()
      summary.exitStatus = Int32(bitPattern: UInt32(truncatingIfNeeded: try r.varint()))
      summary.timeSaved = try r.double()
      summary.wallTime = try r.double()
      var upToDate: [UpToDateCount] = []
      for _ in 0..<(try r.count()) {
        upToDate.append(UpToDateCount(task: try r.string(), count: try int(), saved: try r.double()))
      }
      var outcomes: [OutcomeRow] = []
      for _ in 0..<(try r.count()) {
        let text = try r.strings()
        guard text.count == 4 else { return nil }
        let duration = try r.double(), started = try r.double(), finished = try r.double()
        let memory = try r.varint()
        var ready: Double?, queued: Double?
        if version >= 2 {
          let known = try r.varint()
          let value = try r.double()
          if known == 1 { ready = value }
          let waited = try r.double()
          if waited > 0 { queued = waited }
        }
        outcomes.append(OutcomeRow(task: text[0], outcome: text[1], reasons: text[2], duration: duration,
                                   started: started, finished: finished,
                                   peakMemory: memory == 0 ? nil : Int64(bitPattern: memory - 1), reasonKinds: text[3],
                                   ready: ready, queued: queued))
      }
      var stats: [PathStat] = []
      for _ in 0..<(try r.count()) {
        let path = try r.string()
        guard try r.varint() == 1 else {
          stats.append(PathStat(path: path, entry: nil))
          continue
        }
        let entry = StatEntry(
          size: Int64(bitPattern: try r.varint()), mtime: Int64(bitPattern: try r.varint()),
          ctime: Int64(bitPattern: try r.varint()), inode: try r.varint(), digest: try r.digest(),
          recorded: Int64(bitPattern: try r.varint()))
        stats.append(PathStat(path: path, entry: entry))
      }
      var commit: String?, jobs: Int?, cacheBytes: Int64?
      if version >= 2 {
        let text = try r.string()
        commit = text.isEmpty ? nil : text
        let j = try int()
        jobs = j == 0 ? nil : j
        let bytes = try r.varint()
        cacheBytes = bytes == 0 ? nil : Int64(bitPattern: bytes - 1)
      }
      guard r.atEnd else { return nil }
      return BuildHistoryEntry(started: started, finished: finished, targets: targets, workspace: workspace,
                               summary: summary, upToDate: upToDate, outcomes: outcomes, stats: stats,
                               commit: commit, jobs: jobs, cacheBytes: cacheBytes)
    } catch {
      return nil
    }
  }
}
