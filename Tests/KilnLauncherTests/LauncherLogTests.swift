import Foundation
import KilnLauncher
import KilnSystem
import KilnTestSupport
import Testing

/// `LaunchRecord` and `LauncherLog`: one line per launcher call, read back exactly, and
/// a damaged line left out rather than misread.
@Suite struct LauncherLogTests {
  static let record = LaunchRecord(time: 1_700_000_000.123456, outcome: .preprocessed, reason: "", seconds: 0.0123,
                                   compileSeconds: 0.75, project: "/home/u/proj")

  /// A line as the log stores it, without its line break (as `records` splits it).
  static func stored(_ r: LaunchRecord) -> Substring {
    let line = r.line
    #expect(line.hasSuffix("\n"))
    return Substring(line.dropLast())
  }

  @Test func aLineReadsBackAsTheRecord() {
    #expect(LaunchRecord(line: Self.stored(Self.record)) == Self.record)
    for outcome in LaunchOutcome.allCases {
      var r = Self.record
      r.outcome = outcome
      r.reason = "reason for \(outcome)"
      #expect(LaunchRecord(line: Self.stored(r)) == r, "\(outcome)")
    }
  }

  @Test func theLineHasSevenTabSeparatedFields() {
    let fields = Self.stored(Self.record).split(separator: "\t", omittingEmptySubsequences: false)
    #expect(fields.count == 7)
    #expect(fields.first == "L1")
    #expect(fields[2] == "preprocessed")
    #expect(fields[6] == "/home/u/proj")
  }

  @Test func tabsAndLineBreaksInTextsBecomeSpaces() {
    var r = Self.record
    r.reason = "a\tb\nc\rd"
    r.project = "/odd\tname\nhere"
    let line = r.line
    #expect(line.filter { $0 == "\n" }.count == 1)
    let back = LaunchRecord(line: Substring(line.dropLast()))
    #expect(back?.reason == "a b c d")
    #expect(back?.project == "/odd name here")
  }

  @Test func numbersNoCallCouldHaveAreRejected() {
    // Finite but absurd: a date past year 5000 or a call of centuries would trap or
    // print "inf" where the stats make dates and JSON of them.
    for line in ["L1\t1e300\tmiss\t\t0.1\t0.1\t/p", "L1\t1700000000\tmiss\t\t1e17\t0.1\t/p",
                 "L1\t1700000000\tdirect\t\t0.1\t1e303\t/p", "L1\t-5\tmiss\t\t0.1\t0.1\t/p"] {
      #expect(LaunchRecord(line: Substring(line)) == nil, "\(line)")
    }
    #expect(LaunchRecord(line: "L1\t1700000000\tmiss\t\t0.1\t0.1\t/p") != nil)
  }

  @Test func damagedLinesAreRejected() {
    let good = String(Self.stored(Self.record))
    var fields = good.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
    func with(_ index: Int, _ value: String) -> Substring {
      var f = fields
      f[index] = value
      return Substring(f.joined(separator: "\t"))
    }
    #expect(LaunchRecord(line: with(0, "L2")) == nil, "another version")
    #expect(LaunchRecord(line: with(1, "yesterday")) == nil)
    #expect(LaunchRecord(line: with(1, "nan")) == nil)
    #expect(LaunchRecord(line: with(1, "inf")) == nil)
    #expect(LaunchRecord(line: with(2, "hit")) == nil, "an outcome kiln does not write")
    #expect(LaunchRecord(line: with(4, "-1")) == nil)
    #expect(LaunchRecord(line: with(4, "nan")) == nil)
    #expect(LaunchRecord(line: with(5, "-0.5")) == nil)
    #expect(LaunchRecord(line: with(5, "")) == nil)
    #expect(LaunchRecord(line: Substring(good.prefix(good.count / 2))) == nil, "cut short")
    #expect(LaunchRecord(line: Substring(good + "\textra")) == nil)
    #expect(LaunchRecord(line: "") == nil)
    fields.removeLast()
    #expect(LaunchRecord(line: Substring(fields.joined(separator: "\t"))) == nil)
  }

  @Test func anEmptyReasonAndProjectAreKept() {
    var r = Self.record
    r.reason = ""
    r.project = ""
    #expect(LaunchRecord(line: Self.stored(r)) == r)
  }

  @Test func aHitSavesItsCompileLessItsOwnTime() {
    var r = Self.record
    r.outcome = .direct
    r.seconds = 0.25
    r.compileSeconds = 1.0
    #expect(r.saved == 0.75)
    r.seconds = 2
    #expect(r.saved == 0)
    r.outcome = .miss
    r.seconds = 0.25
    #expect(r.saved == 0)
  }

  // MARK: - The log file

  @Test func appendedRecordsReadBackInOrderAndDamagedLinesAreSkipped() throws {
    let dir = TempDirectory(prefix: "kiln-launcher-log")
    try FileManager.default.createDirectory(atPath: dir.path + "/launcher", withIntermediateDirectories: true)
    let log = LauncherLog(cacheRoot: dir.path)
    #expect(log.current == dir.path + "/launcher/log")
    var written: [LaunchRecord] = []
    for (i, outcome) in LaunchOutcome.allCases.enumerated() {
      var r = Self.record
      r.outcome = outcome
      r.time += Double(i)
      log.append(r)
      written.append(r)
    }
    // A torn or foreign line in the middle.
    let handle = try #require(FileHandle(forWritingAtPath: log.current))
    handle.seekToEndOfFile()
    handle.write(Data("L1\t12\tdirect\n\u{0}garbage\n".utf8))
    try handle.close()
    log.append(Self.record)
    written.append(Self.record)
    #expect(log.records(fileSystem: LocalFileSystem()) == written)
  }

  @Test func thePreviousLogIsReadFirst() throws {
    let dir = TempDirectory(prefix: "kiln-launcher-log")
    try FileManager.default.createDirectory(atPath: dir.path + "/launcher", withIntermediateDirectories: true)
    let log = LauncherLog(cacheRoot: dir.path)
    var old = Self.record
    old.outcome = .miss
    try Data(old.line.utf8).write(to: URL(fileURLWithPath: log.previous))
    log.append(Self.record)
    #expect(log.records(fileSystem: LocalFileSystem()) == [old, Self.record])
  }

  @Test func aLogThatCannotBeWrittenIsSkippedSilently() {
    // A plain file where the launcher's folder would be: nothing can be made there.
    let scratch = TempDirectory(prefix: "kiln-log-blocked")
    withExtendedLifetime(scratch) {
      FileManager.default.createFile(atPath: scratch.path + "/launcher", contents: Data("x".utf8))
      let log = LauncherLog(cacheRoot: scratch.path)
      log.append(Self.record)
      #expect(log.records(fileSystem: LocalFileSystem()).isEmpty)
    }
  }

  // MARK: - Summary

  @Test func theSummaryCountsHitsOverCacheableCalls() {
    func r(_ outcome: LaunchOutcome, _ reason: String = "") -> LaunchRecord {
      var x = Self.record
      x.outcome = outcome
      x.reason = reason
      return x
    }
    let s = LaunchSummary([r(.direct), r(.preprocessed), r(.miss), r(.unstored, "an input changed during the compile"),
                           r(.uncacheable, "link"), r(.uncacheable, "link"), r(.failed, "exit 1"), r(.error, "x")])
    #expect(s.calls == 8)
    #expect(s.hits == 2)
    #expect(s.hitRate == 0.5)
    #expect(s.reasons == ["uncacheable: link": 2, "unstored: an input changed during the compile": 1, "error: x": 1])
    #expect(LaunchSummary([r(.uncacheable, "link")]).hitRate == nil)
  }
}
