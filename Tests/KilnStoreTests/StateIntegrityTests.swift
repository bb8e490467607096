import CSQLite
import Foundation
import KilnCore
import KilnHash
import KilnStore
import KilnSystem
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The state database and the pending history as untrusted input (issue 12, items 3,
/// 7, 17, 20): a damaged database is moved aside, never repaired or trusted; a
/// damaged pending record is never imported; links are not followed; and every
/// SQLite failure is a line that says what, where and what to do.
@Suite struct StateIntegrityTests {
  func tempDir() -> String {
    let dir = NSTemporaryDirectory() + "kiln-store-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
  }

  func pending(_ n: Int) -> BuildHistoryEntry {
    var summary = BuildSummary()
    summary.upToDate = n
    return BuildHistoryEntry(started: Double(n), finished: Double(n) + 1, targets: ["t\(n)"], workspace: nil, summary: summary,
                        upToDate: [.init(task: "t\(n)", count: n, saved: 0.5)],
                        stats: [.init(path: "src/\(n).c", entry: StatEntry(size: 1, mtime: 2, ctime: 3, inode: 4,
                                                                          digest: Hasher.digest("\(n)"), recorded: 5))])
  }

  @Test func aDamagedPendingRecordIsNeverImported() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/state.db"
    _ = try Manifest(path: path)
    #expect(PendingHistory.append(pending(1), manifest: path))
    let firstSize = (try FileManager.default.attributesOfItem(atPath: path + "-pending")[.size] as? Int) ?? 0
    #expect(PendingHistory.append(pending(2), manifest: path))
    var bytes = [UInt8](FileManager.default.contents(atPath: path + "-pending")!)
    // One flipped bit in the second record: its target "t2" becomes "t0".
    let index = try #require(bytes[firstSize...].firstIndex(of: UInt8(ascii: "2")))
    bytes[index] ^= 0x02
    try Data(bytes).write(to: URL(fileURLWithPath: path + "-pending"))
    let m = try Manifest(path: path)
    let history = try m.history(lastBuilds: 10)
    #expect(history.map(\.targets) == ["t1"], "the damaged record is dropped")
    #expect(try m.loadStatCache().keys.sorted() == ["src/1.c"])
  }

  @Test func aPendingHistoryLinkIsRefusedAndItsTargetKept() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/state.db"
    _ = try Manifest(path: path)
    try "victim\n".write(toFile: dir + "/victim", atomically: false, encoding: .utf8)
    #expect(symlink(dir + "/victim", path + "-pending") == 0)
    #expect(!PendingHistory.append(pending(1), manifest: path))
    #expect(throws: DatabaseError.self) { try Manifest(path: path) }
    #expect(try String(contentsOfFile: dir + "/victim", encoding: .utf8) == "victim\n")
  }

  @Test func databaseFileLinksAreRefused() throws {
    for suffix in ["", "-wal", "-shm", "-journal"] {
      let dir = tempDir()
      defer { try? FileManager.default.removeItem(atPath: dir) }
      try "victim\n".write(toFile: dir + "/victim", atomically: false, encoding: .utf8)
      #expect(symlink(dir + "/victim", dir + "/state.db" + suffix) == 0)
      do {
        _ = try Manifest(path: dir + "/state.db")
        Issue.record("\(suffix): opened through a link")
      } catch {
        #expect(error.description.contains(dir + "/state.db" + suffix) && error.description.contains("symbolic link"),
                "\(error)")
      }
      #expect(try String(contentsOfFile: dir + "/victim", encoding: .utf8) == "victim\n", "\(suffix)")
    }
  }

  @Test func aDamagedDatabaseIsMovedAsideOnceAndANewOneStarts() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/state.db"
    try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path))
    do {
      _ = try Manifest(path: path)
      Issue.record("garbage opened as a manifest")
    } catch {
      #expect(error.isDamage)
      let aside = try #require(error.movedAside)
      #expect(aside.hasPrefix(path + ".damaged-"))
      #expect(FileManager.default.fileExists(atPath: aside))
      #expect(error.description.contains(path) && error.description.contains("moved it aside"), "\(error)")
    }
    let m = try Manifest(path: path)
    #expect(try m.loadRecords().isEmpty)
  }

  /// Two processes that find the same damage: the second finds the file gone, which
  /// is not an error of its own (it opens the new one).
  @Test func damageAnotherProcessMovedFirstIsNotAFailure() throws {
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let db = try Database(path: dir + "/state.db")
    try db.execute("CREATE TABLE t(x)")
    #expect(unlink(dir + "/state.db") == 0)
    #expect(db.moveAside() == "")
    let error = DatabaseError(code: SQLITE_CORRUPT, message: "database disk image is malformed", path: dir + "/state.db",
                              movedAside: "")
    #expect(error.description.contains("another kiln process moved it aside"))
  }

  @Test func everySQLiteFailureSaysWhatWhereAndWhatToDo() {
    let path = "/w/.kiln/state.db"
    func line(_ code: Int32, _ message: String) -> String {
      DatabaseError(code: code, message: message, path: path).description
    }
    let full = line(SQLITE_FULL, "database or disk is full")
    #expect(full.contains(path) && full.contains("disk is full") && full.contains("free space"))
    let readOnly = line(SQLITE_READONLY, "attempt to write a readonly database")
    #expect(readOnly.contains(path) && readOnly.contains("read-only") && readOnly.contains("make /w/.kiln writable"))
    let cantOpen = line(SQLITE_CANTOPEN, "unable to open database file")
    #expect(cantOpen.contains(path) && cantOpen.contains("can be written"))
    let io = line(SQLITE_IOERR | (4 << 8), "disk I/O error")
    #expect(io.contains(path) && io.contains("check the disk"))
    let busy = line(SQLITE_BUSY, "database is locked")
    #expect(busy.contains(path) && busy.contains("another kiln process"))
    let damaged = line(SQLITE_CORRUPT, "database disk image is malformed")
    #expect(damaged.contains(path) && damaged.contains("damaged") && damaged.contains("delete it"))
    for text in [full, readOnly, cantOpen, io, busy, damaged] {
      #expect(!text.contains("step") && !text.contains("prepare") && !text.contains("\n"), "\(text)")
    }
  }
}
