import Foundation
@testable import KilnCLI
import KilnCore
@testable import KilnEngine
import KilnStore
import KilnSystem
import Testing

/// The CLI's pure formatters: the end-of-build line, `--json`, the Chrome trace, byte
/// counts in and out, the JSON writer, and the manifest's file list.
@Suite struct FormatTests {
  static func summary(ran: Int = 0, restored: Int = 0, upToDate: Int = 0, failed: Int = 0, skipped: Int = 0,
                      wallTime: Double = 0) -> BuildSummary {
    var s = BuildSummary()
    (s.ran, s.restored, s.upToDate, s.failed, s.skipped, s.wallTime) = (ran, restored, upToDate, failed, skipped, wallTime)
    return s
  }

  static func object(_ json: String) throws -> [String: Any] {
    let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8))
    return try #require(parsed as? [String: Any], "not an object: \(json)")
  }

  // MARK: - summaryLine

  @Test func summaryLineCountsAndHitRate() {
    #expect(summaryLine(Self.summary(ran: 1, restored: 1, upToDate: 2, wallTime: 1.5))
      == "kiln: 1 ran, 1 restored, 2 up to date, hit rate 75.00% in 1.50s")
    #expect(summaryLine(Self.summary(upToDate: 3, wallTime: 0.004))
      == "kiln: 0 ran, 0 restored, 3 up to date, hit rate 100.00% in 4ms")
    #expect(summaryLine(Self.summary(ran: 2, restored: 1, wallTime: 0)).contains("hit rate 33.33% in 0ms"))
    // Nothing counted: no rate to give.
    #expect(summaryLine(Self.summary()) == "kiln: 0 ran, 0 restored, 0 up to date, hit rate n/a in 0ms")
  }

  @Test func failedAndSkippedOnlyWhenThereAreAny() {
    let ok = summaryLine(Self.summary(ran: 1))
    #expect(!ok.contains("failed") && !ok.contains("skipped"), "\(ok)")
    #expect(summaryLine(Self.summary(ran: 1, failed: 1))
      == "kiln: 1 ran, 0 restored, 0 up to date, 1 failed, hit rate 0.00% in 0ms")
    #expect(summaryLine(Self.summary(upToDate: 1, skipped: 2))
      == "kiln: 0 ran, 0 restored, 1 up to date, 2 skipped, hit rate 100.00% in 0ms")
    #expect(summaryLine(Self.summary(ran: 1, failed: 1, skipped: 4)).contains(", 1 failed, 4 skipped, "))
  }

  @Test func summaryLineColoursOnlyWhenAsked() {
    let s = Self.summary(ran: 1, restored: 2, upToDate: 3, failed: 1)
    #expect(!summaryLine(s).contains("\u{1B}"))
    let painted = summaryLine(s, color: true)
    #expect(painted.contains("\u{1B}[32m2 restored\u{1B}[0m"))
    #expect(painted.contains("\u{1B}[32m3 up to date\u{1B}[0m"))
    #expect(painted.contains("\u{1B}[1;31m1 failed\u{1B}[0m"))
    #expect(painted.hasPrefix("kiln: 1 ran, "))
  }

  // MARK: - summaryJSON

  @Test func summaryJSONHasEveryField() throws {
    var result = BuildResult()
    result.summary = Self.summary(ran: 1, upToDate: 1, failed: 1, wallTime: 2.5)
    result.summary.timeSaved = 0.75
    result.summary.exitStatus = 1
    result.reports = [
      TaskReport(id: TaskID(task: "compile", item: "src/a.c"), outcome: .ran(because: [.inputChanged("src/a.c")], outputsChanged: true),
                 reasons: [.inputChanged("src/a.c")], duration: 1.25, started: 0.5, finished: 1.75),
      TaskReport(id: TaskID(task: "link"), outcome: .upToDate),
    ]
    let json = try Self.object(summaryJSON(result))
    #expect(json["version"] as? Int == 1)
    #expect(json["exit_status"] as? Int == 1)
    #expect(json["ran"] as? Int == 1)
    #expect(json["restored"] as? Int == 0)
    #expect(json["up_to_date"] as? Int == 1)
    #expect(json["failed"] as? Int == 1)
    #expect(json["skipped"] as? Int == 0)
    #expect(json["hit_rate"] as? Double == 0.5)
    #expect(json["time_saved"] as? Double == 0.75)
    #expect(json["wall_time"] as? Double == 2.5)
    #expect(json["interrupted"] as? Bool == false)
    let tasks = try #require(json["tasks"] as? [[String: Any]])
    #expect(tasks.count == 2)
    let compile = try #require(tasks.first)
    #expect(compile["id"] as? String == "compile src/a.c")
    #expect(compile["task"] as? String == "compile")
    #expect(compile["outcome"] as? String == "ran")
    #expect(compile["reasons"] as? [String] == [RerunReason.inputChanged("src/a.c").description])
    #expect(compile["duration"] as? Double == 1.25)
    #expect(compile["started"] as? Double == 0.5)
    #expect(compile["finished"] as? Double == 1.75)
    let link = try #require(tasks.last)
    #expect(link["outcome"] as? String == "up-to-date")
    #expect(link["reasons"] as? [String] == [])
  }

  @Test func summaryJSONOfAnEmptyInterruptedBuild() throws {
    var result = BuildResult()
    result.interrupted = true
    let json = try Self.object(summaryJSON(result))
    #expect(json["hit_rate"] is NSNull)
    #expect(json["interrupted"] as? Bool == true)
    #expect((json["tasks"] as? [Any])?.isEmpty == true)
  }

  // MARK: - traceJSON

  /// The trace's events by name: (lane, ts, dur), times in microseconds.
  static func events(_ result: BuildResult) throws -> [String: (tid: Int, ts: Double, dur: Double, cat: String)] {
    let json = try object(traceJSON(result))
    #expect(json["displayTimeUnit"] as? String == "ms")
    let events = try #require(json["traceEvents"] as? [[String: Any]])
    var byName: [String: (tid: Int, ts: Double, dur: Double, cat: String)] = [:]
    for e in events {
      #expect(e["ph"] as? String == "X")
      #expect(e["pid"] as? Int == 1)
      let name = try #require(e["name"] as? String)
      byName[name] = (try #require(e["tid"] as? Int), try #require(e["ts"] as? Double),
                      try #require(e["dur"] as? Double), try #require(e["cat"] as? String))
    }
    #expect(byName.count == events.count, "one event per report")
    return byName
  }

  static func ran(_ name: String, _ started: Double, _ finished: Double) -> TaskReport {
    TaskReport(id: TaskID(task: name), outcome: .ran(because: [.neverBuilt], outputsChanged: true), reasons: [.neverBuilt],
               duration: finished - started, started: started, finished: finished)
  }

  @Test func overlappingTasksGetLanesOfTheirOwn() throws {
    var result = BuildResult()
    // a and b overlap; c starts once a has finished and takes its lane; d overlaps b and c.
    result.reports = [Self.ran("c", 2.5, 4), Self.ran("a", 0, 2), Self.ran("b", 1, 3), Self.ran("d", 2.75, 3.5)]
    let events = try Self.events(result)
    #expect(events["a"]?.tid == 1)
    #expect(events["b"]?.tid == 2)
    #expect(events["c"]?.tid == 1)
    #expect(events["d"]?.tid == 3)
    #expect(events["b"]?.ts == 1_000_000)
    #expect(events["b"]?.dur == 2_000_000)
    #expect(events["c"]?.cat == "ran")
    Self.expectNoOverlapWithinALane(events)
  }

  /// No two events of one lane overlap: none is drawn inside another.
  static func expectNoOverlapWithinALane(_ events: [String: (tid: Int, ts: Double, dur: Double, cat: String)]) {
    for (x, ex) in events {
      for (y, ey) in events where x < y && ex.tid == ey.tid {
        #expect(ex.ts + ex.dur <= ey.ts || ey.ts + ey.dur <= ex.ts, "\(x) and \(y) share lane \(ex.tid)")
      }
    }
  }

  static func upToDate(_ name: String, at time: Double) -> TaskReport {
    TaskReport(id: TaskID(task: name), outcome: .upToDate, started: time, finished: time)
  }

  /// An up-to-date instance found while tasks run neither takes a lane from the task
  /// that starts after it, nor is drawn inside a task that runs at that moment.
  @Test func upToDateEventsHaveALaneOfTheirOwn() throws {
    var result = BuildResult()
    // a (lane 1) has ended at 2.5 and b (lane 2) still runs when u is found up to date;
    // c starts then and takes a's free lane.
    result.reports = [Self.ran("a", 0, 2), Self.ran("b", 0.5, 3), Self.upToDate("u", at: 2.5),
                      Self.ran("c", 2.5, 4), Self.upToDate("v", at: 0.25)]
    let events = try Self.events(result)
    #expect(events["a"]?.tid == 1)
    #expect(events["b"]?.tid == 2)
    #expect(events["c"]?.tid == 1, "the up-to-date u took no lane")
    #expect(events["u"]?.tid == 3)
    #expect(events["v"]?.tid == 3)
    #expect(events["u"]?.cat == "up-to-date")
    Self.expectNoOverlapWithinALane(events)
  }

  @Test func sequentialTasksShareOneLane() throws {
    var result = BuildResult()
    result.reports = [Self.ran("one", 0, 1), Self.ran("two", 1, 2), Self.ran("three", 2, 3)]
    let events = try Self.events(result)
    #expect(Set(events.values.map { $0.tid }) == [1])
  }

  // MARK: - Byte counts

  @Test func byteCountsWithAndWithoutUnits() {
    #expect(parseByteCount("1073741824") == 1 << 30)
    #expect(parseByteCount("512M") == 512 << 20)
    #expect(parseByteCount("2g") == 2 << 30)
    #expect(parseByteCount("1.5GiB") == 3 << 29)
    #expect(parseByteCount("64KB") == 64 << 10)
    #expect(parseByteCount("1t") == 1 << 40)
    #expect(parseByteCount(" 8k ") == 8 << 10)
    #expect(parseByteCount("0") == 0)
    #expect(parseByteCount("100B") == 100)
    // Too large for 64 bits: the largest count, not a crash.
    #expect(parseByteCount("1000000000000000000000") == Int64.max)
    #expect(parseByteCount("9000000T") == Int64.max)
    #expect(parseByteCount("8589934592G") == Int64.max)
    #expect(parseByteCount("8589934591.5G") == Int64.max - (1 << 29) + 1)
  }

  @Test func notByteCounts() {
    for text in ["", " ", "lots", "-1", "-1G", "G", "KiB", "1X", "1 2", "inf", "nan", "1..5M", "5MM"] {
      #expect(parseByteCount(text) == nil, "'\(text)'")
    }
  }

  /// Only digits (a decimal part allowed) and a unit: no `iB` without a unit, no hex,
  /// no exponent, no sign, no decimal point without digits on both sides.
  @Test func onlyDigitsAndAUnitAreAByteCount() {
    for text in ["1iB", "1i", "1ib", "0x10", "0X1F", "1e3", "1E3K", "1e30", "+5", "+5M", "1.", ".5", ".5G", "1.5.",
                 "infinity", "1_000", "1,000", "٣", "1kıb", "1Gi", "1BB", "1KK", "1Kb B", "1 K"] {
      #expect(parseByteCount(text) == nil, "'\(text)'")
    }
    // The forms the reference and the help promise.
    #expect(parseByteCount("500M") == 500 << 20)
    #expect(parseByteCount("2G") == 2 << 30)
    #expect(parseByteCount("1048576") == 1 << 20)
    #expect(parseByteCount("1.5GiB") == 3 << 29)
    #expect(parseByteCount("2gib") == 2 << 30)
    #expect(parseByteCount("0.5k") == 512)
    #expect(parseByteCount("007") == 7)
  }

  @Test func bytesShownInBinaryUnits() {
    #expect(formatBytes(0) == "0 B")
    #expect(formatBytes(1023) == "1023 B")
    #expect(formatBytes(1024) == "1.00 KiB")
    #expect(formatBytes(1536) == "1.50 KiB")
    #expect(formatBytes(5 << 20) == "5.00 MiB")
    #expect(formatBytes(3 << 30) == "3.00 GiB")
    #expect(formatBytes(2 << 40) == "2.00 TiB")
    // Past the largest unit the number grows.
    #expect(formatBytes(2048 << 40) == "2048.00 TiB")
  }

  /// A count that rounds up to 1024 of one unit is shown as 1.00 of the next.
  @Test func roundingNeverShows1024OfAUnit() {
    #expect(formatBytes(1_048_575) == "1.00 MiB")
    #expect(formatBytes((1 << 30) - 1) == "1.00 GiB")
    #expect(formatBytes((1 << 40) - 1) == "1.00 TiB")
    #expect(formatBytes(1_048_571) == "1.00 MiB")
    // Just below where it rounds up: still the smaller unit.
    #expect(formatBytes(1_048_570) == "1023.99 KiB")
  }

  // MARK: - Two decimals

  @Test func twoDecimalsKeepTheSign() {
    #expect(String(format2: -0.5) == "-0.50")
    #expect(String(format2: -0.05) == "-0.05")
    #expect(String(format2: -1.25) == "-1.25")
    #expect(String(format2: -12.5) == "-12.50")
    #expect(String(format2: 0.5) == "0.50")
    #expect(String(format2: 3) == "3.00")
    #expect(String(format2: 99.999) == "100.00")
    // Rounds to nothing: no sign on zero.
    #expect(String(format2: -0.004) == "0.00")
    #expect(String(format2: 0) == "0.00")
  }

  // MARK: - JSON

  @Test func jsonStringsEscapeWhatJSONRequires() throws {
    let text = "a \"quoted\" \\ path\nwith\ttabs\r\u{1}\u{1F} and ünïcode ✓"
    let encoded = JSON.string(text)
    #expect(encoded == "\"a \\\"quoted\\\" \\\\ path\\nwith\\ttabs\\r\\u0001\\u001f and ünïcode ✓\"")
    let decoded = try JSONSerialization.jsonObject(with: Data(("[" + encoded + "]").utf8)) as? [String]
    #expect(decoded == [text])
  }

  @Test func jsonNumbers() {
    #expect(JSON.number(3) == "3")
    #expect(JSON.number(-2) == "-2")
    #expect(JSON.number(0.5) == "0.5")
    // Rounded to the microsecond.
    #expect(JSON.number(1.23456789) == "1.234568")
    #expect(JSON.number(0.0000001) == "0")
    #expect(JSON.number(.nan) == "null")
    #expect(JSON.number(.infinity) == "null")
    #expect(JSON.number(1e20) == "1e+20")
  }

  @Test func jsonObjectsKeepTheirOrder() throws {
    let text = JSON.object([("z", "1"), ("a", JSON.array([JSON.string("x"), "null"])), ("m", JSON.object([]))])
    #expect(text == "{\"z\":1,\"a\":[\"x\",null],\"m\":{}}")
    let parsed = try Self.object(text)
    #expect(parsed["z"] as? Int == 1)
  }

  // MARK: - ManifestCommand.tracked

  @Test func trackedFilesAreSortedAndAnOutputWinsOverAnInput() {
    func digest(_ n: UInt64) -> Digest { Digest(high: 0, low: n) }
    func record(_ id: TaskID, inputs: [PathDigest], discovered: [PathDigest] = [], outputs: [OutputEntry]) -> TaskRecord {
      TaskRecord(id: id, key: digest(99), command: "true", environment: [], inputs: inputs, discovered: discovered,
                 outputs: outputs, declaredOutputs: outputs.map(\.path), duration: 0)
    }
    let compile = TaskID(task: "compile", item: "src/b.c")
    let link = TaskID(task: "link")
    let records = [
      compile: record(compile, inputs: [PathDigest("src/b.c", digest(1))], discovered: [PathDigest("include/b.h", digest(2))],
                      outputs: [OutputEntry(path: "obj/b.o", kind: .file, permissions: 0o644, digest: digest(3)),
                                OutputEntry(path: "obj", kind: .directory, permissions: 0o755, digest: digest(4))]),
      link: record(link, inputs: [PathDigest("obj/b.o", digest(3)), PathDigest("src/b.c", digest(1))],
                   outputs: [OutputEntry(path: "app", kind: .file, permissions: 0o755, digest: digest(5))]),
    ]
    let files = ManifestCommand.tracked(records)
    // A folder output is not a file of the manifest.
    #expect(files.map(\.0) == ["app", "include/b.h", "obj/b.o", "src/b.c"])
    #expect(files.map(\.2) == ["output", "input", "output", "input"])
    #expect(files.map(\.1) == [digest(5), digest(2), digest(3), digest(1)])
  }
}
