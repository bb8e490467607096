#if canImport(Glibc)
import Glibc
#endif
import KilnSystem

/// What one launcher call did, as `kiln stats` and `kiln cache stats` count it.
package enum LaunchOutcome: String, Sendable, CaseIterable {
  /// Restored from a direct-mode entry (source and header contents).
  case direct
  /// Restored from a preprocessor-mode entry (the preprocessed text).
  case preprocessed
  /// Restored by `kiln exec`.
  case restored
  /// Compiled (or run, by `kiln exec`) and stored; the reason may say why an entry
  /// there did not serve.
  case miss
  /// Compiled, not stored (an input changed during the compile, an output missing):
  /// the reason says which.
  case unstored
  /// Run directly: the reason says why.
  case uncacheable
  /// The compiler failed (its status passed on); nothing stored.
  case failed
  /// kiln could not read the compiler to key it, and ran it directly. (A cache kiln may
  /// not use is one warning on stderr and no record: the log is in that cache.)
  case error
}

/// One line of the launcher's log.
package struct LaunchRecord: Sendable, Hashable {
  package var time: Double
  package var outcome: LaunchOutcome
  package var reason: String
  /// Seconds the call took.
  package var seconds: Double
  /// Seconds the compile took when it ran (a hit: when it ran to make the entry).
  package var compileSeconds: Double
  /// The checkout the call was made in (or its folder, outside any checkout).
  package var project: String

  package init(time: Double, outcome: LaunchOutcome, reason: String, seconds: Double, compileSeconds: Double,
               project: String) {
    self.time = time
    self.outcome = outcome
    self.reason = reason
    self.seconds = seconds
    self.compileSeconds = compileSeconds
    self.project = project
  }

  /// Seconds a hit saved: the compile's time less the restore's.
  package var saved: Double {
    outcome == .direct || outcome == .preprocessed || outcome == .restored ? max(0, compileSeconds - seconds) : 0
  }

  /// `L1 TAB time TAB outcome TAB reason TAB seconds TAB compile seconds TAB project`;
  /// tabs and newlines in the texts become spaces.
  package var line: String {
    func clean(_ s: String) -> String { String(s.map { $0 == "\t" || $0 == "\n" || $0 == "\r" ? " " : $0 }) }
    return "L1\t\(time)\t\(outcome.rawValue)\t\(clean(reason))\t\(seconds)\t\(compileSeconds)\t\(clean(project))\n"
  }

  /// The longest call or compile a record may claim, in seconds (a year).
  package static let maxSeconds = 3.2e7

  /// A line as `line` wrote it, or nil (another version, damaged, cut short).
  package init?(line: Substring) {
    let f = line.split(separator: "\t", omittingEmptySubsequences: false)
    // Bounded, not only finite: the figures become dates, durations and JSON numbers
    // (a time past year 5000, or a call of more than a year, is not one kiln wrote).
    guard f.count == 7, f[0] == "L1", let time = Double(f[1]), time >= 0, time < 1e11,
          let outcome = LaunchOutcome(rawValue: String(f[2])),
          let seconds = Double(f[4]), seconds >= 0, seconds < Self.maxSeconds,
          let compile = Double(f[5]), compile >= 0, compile < Self.maxSeconds
    else { return nil }
    self.init(time: time, outcome: outcome, reason: String(f[3]), seconds: seconds, compileSeconds: compile,
              project: String(f[6]))
  }
}

/// The launcher's history: one line per call appended to `<cache>/launcher/log` with a
/// single `write` on an `O_APPEND` descriptor, so hundreds of concurrent calls neither
/// lock nor interleave (a line is far below the size the kernel writes whole). No
/// SQLite on the compile path. When the log passes `limit` bytes the call that notices
/// renames it to `log.1` (replacing the previous one): the counts cover the last two
/// logs' worth of calls, 100,000 or more.
package struct LauncherLog: Sendable {
  package static let limit = 8 << 20
  package let folder: String
  /// The log's mode: writable by the group too in a shared cache (`KILN_CACHE_SHARED`).
  package let mode: mode_t

  package init(cacheRoot: String, trust: CacheTrust = CacheTrust(shared: false)) {
    folder = cacheRoot + "/launcher"
    mode = trust.lockFileMode
  }

  package var current: String { folder + "/log" }
  package var previous: String { folder + "/log.1" }

  /// Appends `record`; a log that cannot be written is skipped silently (the compile's
  /// result never depends on it).
  package func append(_ record: LaunchRecord) {
    // The folder is made and checked with the cache's (`CacheSetup.prepare`).
    guard let fd = try? OwnFile.open(current, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode: mode) ?? nil else {
      return
    }
    defer { close(fd) }
    let bytes = Array(record.line.utf8)
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    // Two calls may both see it past the limit: only the one whose log is still the
    // current one renames it, so the second never moves a fresh log over log.1.
    var st = stat()
    var now = stat()
    if fstat(fd, &st) == 0, Int(st.st_size) > Self.limit, lstat(current, &now) == 0, now.st_ino == st.st_ino {
      _ = rename(current, previous)
    }
  }

  /// Forgets every record (`kiln cache stats --zero`).
  package func clear() {
    unlink(previous)
    unlink(current)
  }

  /// Every record of both logs, oldest first; damaged lines left out.
  package func records(fileSystem: any FileSystem) -> [LaunchRecord] {
    var out: [LaunchRecord] = []
    for file in [previous, current] {
      guard let bytes = try? fileSystem.read(file) else { continue }
      for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
        if let record = LaunchRecord(line: line) { out.append(record) }
      }
    }
    return out
  }
}

/// Counts over launcher records, as `kiln cache stats` and `kiln stats` show them.
package struct LaunchSummary: Sendable, Hashable {
  package var calls = 0
  package var counts: [LaunchOutcome: Int] = [:]
  /// Uncacheable, unstored and error calls by reason, and misses that had a reason
  /// (an entry made in another checkout, a damaged entry).
  package var reasons: [String: Int] = [:]
  package var saved = 0.0
  package var compileSeconds = 0.0
  package var first: Double?
  package var last: Double?

  package init(_ records: [LaunchRecord]) {
    for r in records {
      calls += 1
      counts[r.outcome, default: 0] += 1
      if r.outcome == .uncacheable || r.outcome == .unstored || r.outcome == .error {
        reasons[r.outcome.rawValue + ": " + r.reason, default: 0] += 1
      } else if r.outcome == .miss, !r.reason.isEmpty, r.reason != "kiln exec" {
        // Why an entry there did not serve, without the checkout it names.
        let why = r.reason.split(separator: " (").first.map(String.init) ?? r.reason
        reasons["miss: " + why, default: 0] += 1
      }
      if r.outcome == .miss, r.reason.hasPrefix(Launcher.pathDependentReason) { pathDependentMisses += 1 }
      saved += r.saved
      if r.outcome == .miss || r.outcome == .unstored { compileSeconds += r.compileSeconds }
      first = min(first ?? r.time, r.time)
      last = max(last ?? r.time, r.time)
    }
  }

  package func count(_ outcome: LaunchOutcome) -> Int { counts[outcome] ?? 0 }
  package var hits: Int { count(.direct) + count(.preprocessed) + count(.restored) }
  /// Misses whose only fitting entry held another checkout's path.
  package var pathDependentMisses = 0
  /// Hits over cacheable calls (hits and misses, stored or not).
  package var hitRate: Double? {
    let cacheable = hits + count(.miss) + count(.unstored)
    return cacheable == 0 ? nil : Double(hits) / Double(cacheable)
  }
}
