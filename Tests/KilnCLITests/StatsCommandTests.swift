#if canImport(Glibc)
import Glibc
#endif
@testable import KilnCLI
import KilnSystem
import Testing

/// `kiln stats` builds its report from one `Session`: the manifest is opened, and its
/// records read, once.
@Suite struct StatsCommandTests {
  /// Counts the times a file is opened, by anyone, from the moment it is made
  /// (inotify's IN_OPEN): no timing, the kernel queues every event. Reads and closes are
  /// watched too, though not counted: the kernel merges an event into an identical one
  /// just before it, so two opens in a row would show as one.
  final class OpenCounter {
    private let fd: Int32

    init(_ path: String) throws {
      fd = inotify_init1(O_NONBLOCK | O_CLOEXEC)
      guard fd >= 0, inotify_add_watch(fd, path, UInt32(IN_OPEN | IN_ACCESS | IN_CLOSE_NOWRITE | IN_CLOSE_WRITE)) >= 0 else {
        throw CLIError("cannot watch \(path): errno \(errno)")
      }
    }

    deinit { close(fd) }

    /// The opens since the last call.
    func take() -> Int {
      var count = 0
      var buffer = [UInt8](repeating: 0, count: 4096)
      while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return count }
        // struct inotify_event: wd, mask, cookie, len (4 bytes each), then len bytes of name.
        var at = 0
        while at + 16 <= n {
          let mask = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self) }
          let length = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self) }
          if mask & UInt32(IN_OPEN) != 0 { count += 1 }
          at += 16 + Int(length)
        }
      }
    }
  }

  @Test func theReportOpensTheManifestAsOftenAsOneSessionDoes() async throws {
    let tree = try ScratchTree()
    try tree.file("kiln.yml", "tasks:\n  a:\n    run: echo a\n")
    let context = ContextTests.context(tree)
    _ = try Session(context).manifest  // made, so that it can be watched
    let opens = try OpenCounter(context.layout.manifest)

    _ = try Session(context).manifest
    let oneSession = opens.take()
    #expect(oneSession >= 1)

    let report = try await StatsCommand.report(context, last: 20)
    let reportOpens = opens.take()
    #expect(reportOpens == oneSession, "the manifest is opened once for the report")
    #expect(report.history.isEmpty)
  }
}
