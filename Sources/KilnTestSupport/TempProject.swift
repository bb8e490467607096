import Foundation
import KilnSystem

#if canImport(Glibc)
import Glibc
#endif

/// What one run of the `kiln` binary did: its exit status and everything it printed.
package struct KilnResult: Sendable, CustomStringConvertible {
  /// The exit status; 128 + N when kiln died of signal N; -1 when the watchdog killed it.
  package var status: Int32
  package var stdout: String
  package var stderr: String

  /// stdout and stderr together, for "the output mentions X" checks.
  package var output: String { stdout + stderr }

  /// The lines kiln wrote to stderr, without empty ones.
  package var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }

  package var description: String {
    "exit status \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)---"
  }
}

/// A directory under /tmp that is removed (with everything in it, read-only files and
/// folders included) when the last reference to it goes away.
package final class TempDirectory: Sendable {
  package let path: String

  package init(prefix: String = "kiln-it") {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "cannot create a temporary directory: errno \(errno)")
    path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
  }

  deinit { TempDirectory.removeTree(path) }

  /// `rm -rf`, after making everything writable (cache blobs are stored read-only).
  package static func removeTree(_ path: String) {
    let fm = FileManager.default
    guard fm.fileExists(atPath: path) else { return }
    if let walker = fm.enumerator(atPath: path) {
      for case let rel as String in walker {
        _ = chmod(path + "/" + rel, 0o755)
      }
    }
    _ = chmod(path, 0o755)
    try? fm.removeItem(atPath: path)
  }
}

/// A kiln process started with `TempProject.start(_:)` that the test can signal.
package final class RunningKiln {
  private let process: Process
  private let outPath: String
  private let errPath: String
  private let watchdog: DispatchWorkItem
  private let killedByWatchdog: OnceFlag

  fileprivate init(process: Process, outPath: String, errPath: String, watchdog: DispatchWorkItem, killedByWatchdog: OnceFlag) {
    self.process = process
    self.outPath = outPath
    self.errPath = errPath
    self.watchdog = watchdog
    self.killedByWatchdog = killedByWatchdog
  }

  package var pid: Int32 { process.processIdentifier }
  package var isRunning: Bool { process.isRunning }

  /// Sends `signal` to kiln itself (not to its tasks: kiln must stop those).
  package func send(_ signal: Int32) { _ = kill(process.processIdentifier, signal) }

  /// What kiln has written to stderr so far (it may still be running).
  package var stderrSoFar: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

  /// Waits for kiln to exit and returns what it did.
  package func wait() -> KilnResult {
    process.waitUntilExit()
    watchdog.cancel()
    let status: Int32 = switch process.terminationReason {
    case .exit: process.terminationStatus
    case .uncaughtSignal: killedByWatchdog.isSet ? -1 : 128 + process.terminationStatus
    @unknown default: process.terminationStatus
    }
    let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    try? FileManager.default.removeItem(atPath: outPath)
    try? FileManager.default.removeItem(atPath: errPath)
    return KilnResult(status: status, stdout: out, stderr: err)
  }
}

/// A throwaway kiln workspace for integration tests: a temporary directory holding
/// the files a test writes, a cache directory of its own (or one shared on purpose
/// with another project), and a way to run the built `kiln` binary in it.
///
/// Fixture commands append a line to `.runs/<task>` each time they really run, so a
/// test counts executions with `runs(_:)`; `.runs/` is created up front and, being
/// hidden, is never matched by a glob. Everything is removed when the project is
/// released.
package final class TempProject {
  /// Absolute path of the workspace root (where `kiln.yml` lives).
  package let root: String
  /// The cache directory kiln uses (`KILN_CACHE_DIR`).
  package let cache: TempDirectory
  /// The `HOME` (and XDG folders) of every process this project starts; never the real one.
  package let home: String
  private let base: TempDirectory
  /// The files this test wrote itself (its sources), for `clone(sharingCache:)`.
  package private(set) var sources: Set<String> = []
  /// Extra environment for every kiln run (on top of the inherited one).
  package var environment: [String: String] = [:]

  /// Makes a project holding `files` (path -> contents), with a fresh empty cache, or
  /// the cache of `other` when given (a "second clone" on the same machine).
  package init(_ files: [String: String] = [:], executable: Set<String> = [], sharingCacheWith other: TempProject? = nil) throws {
    base = TempDirectory(prefix: "kiln-it")
    root = base.path + "/ws"
    home = base.path + "/home"
    cache = other?.cache ?? TempDirectory(prefix: "kiln-it-cache")
    try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: root + "/.runs", withIntermediateDirectories: true)
    for (path, contents) in files.sorted(by: { $0.key < $1.key }) {
      try write(path, contents, executable: executable.contains(path))
    }
  }

  /// The `kiln` binary under test: `$KILN_BIN`, else `.build/debug/kiln` in the package.
  package static var kilnBinary: String {
    if let bin = ProcessInfo.processInfo.environment["KILN_BIN"], !bin.isEmpty { return bin }
    // This file is <package>/Sources/KilnTestSupport/TempProject.swift.
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    return packageRoot.appendingPathComponent(".build/debug/kiln").path
  }

  // MARK: - Files

  package func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : root + "/" + path }

  /// Writes `contents` to `path` (parents created), replacing what was there.
  package func write(_ path: String, _ contents: String, executable: Bool = false) throws {
    try write(path, bytes: Array(contents.utf8), executable: executable)
  }

  package func write(_ path: String, bytes: [UInt8], executable: Bool = false) throws {
    let abs = absolute(path)
    try FileManager.default.createDirectory(
      atPath: (abs as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    // Write in place (not by rename) as an editor or `echo >` would.
    guard let handle = fopen(abs, "w") else { throw TempProjectError("cannot write \(abs): errno \(errno)") }
    let written = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, handle) }
    fclose(handle)
    guard written == bytes.count else { throw TempProjectError("short write to \(abs)") }
    _ = chmod(abs, executable ? 0o755 : 0o644)
    if !path.hasPrefix("/") { sources.insert(path) }
  }

  /// Appends `text` to `path`.
  package func append(_ path: String, _ text: String) throws {
    try write(path, (read(path) ?? "") + text, executable: isExecutable(path))
  }

  /// The file's contents as text, nil when there is no file.
  package func read(_ path: String) -> String? {
    bytes(path).map { String(decoding: $0, as: UTF8.self) }
  }

  /// The file's exact bytes, nil when there is no file.
  package func bytes(_ path: String) -> [UInt8]? {
    guard let data = FileManager.default.contents(atPath: absolute(path)) else { return nil }
    return [UInt8](data)
  }

  package func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: absolute(path)) }

  package func isExecutable(_ path: String) -> Bool {
    var st = stat()
    guard stat(absolute(path), &st) == 0 else { return false }
    return st.st_mode & 0o100 != 0
  }

  /// Deletes a file or a directory tree; nothing happens when it is absent.
  package func remove(_ path: String) {
    TempDirectory.removeTree(absolute(path))
    sources.remove(path)
    sources = sources.filter { !$0.hasPrefix(path + "/") }
  }

  /// Sets the file's modification time `seconds` from now, content untouched (a
  /// `touch` that no timestamp granularity can hide).
  package func touch(_ path: String, secondsFromNow seconds: Double = 3600) throws {
    try FileManager.default.setAttributes(
      [.modificationDate: Date(timeIntervalSinceNow: seconds)], ofItemAtPath: absolute(path))
  }

  /// Every regular file under `directory` (the root by default), relative to it and
  /// sorted; hidden entries (`.kiln`, `.runs`, dotfiles) are left out.
  package func files(under directory: String = "") -> [String] {
    let start = directory.isEmpty ? root : absolute(directory)
    guard let walker = FileManager.default.enumerator(atPath: start) else { return [] }
    var result: [String] = []
    for case let rel as String in walker {
      if rel.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
      var isDir: ObjCBool = false
      if FileManager.default.fileExists(atPath: start + "/" + rel, isDirectory: &isDir), !isDir.boolValue {
        result.append(rel)
      }
    }
    return result.sorted()
  }

  /// Every visible file under the root with its bytes.
  package func snapshot() -> [String: [UInt8]] {
    var result: [String: [UInt8]] = [:]
    for path in files() { result[path] = bytes(path) ?? [] }
    return result
  }

  /// How many times the task ran: the number of lines in `.runs/<task>`.
  package func runs(_ task: String) -> Int {
    guard let text = read(".runs/" + task) else { return 0 }
    return text.split(separator: "\n", omittingEmptySubsequences: true).count
  }

  /// The lines of `.runs/<task>` (what each run wrote there).
  package func runLines(_ task: String) -> [String] {
    (read(".runs/" + task) ?? "").split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
  }

  /// Another checkout of the same sources at a different path: the files this test
  /// wrote (as they are now on disk), no `.kiln/`, no outputs, empty `.runs/`. With
  /// `sharingCache` it uses this project's cache, else an empty one of its own.
  package func clone(sharingCache: Bool = true) throws -> TempProject {
    let copy = try TempProject(sharingCacheWith: sharingCache ? self : nil)
    copy.environment = environment
    for path in sources.sorted() {
      guard let bytes = bytes(path) else { continue }
      try copy.write(path, bytes: bytes, executable: isExecutable(path))
    }
    return copy
  }

  // MARK: - Running kiln

  /// Runs `kiln ARGS...` in the root (or `directory`) and waits for it.
  @discardableResult
  package func kiln(_ args: String..., environment extra: [String: String] = [:], in directory: String? = nil,
                    timeout: Double = 120) throws -> KilnResult {
    try kiln(args, environment: extra, in: directory, timeout: timeout)
  }

  @discardableResult
  package func kiln(_ args: [String], environment extra: [String: String] = [:], in directory: String? = nil,
                    timeout: Double = 120) throws -> KilnResult {
    try start(args, environment: extra, in: directory, timeout: timeout).wait()
  }

  /// Starts `kiln ARGS...` without waiting; a watchdog kills it after `timeout` seconds
  /// so that a hung kiln fails the test instead of hanging the suite.
  package func start(_ args: [String], environment extra: [String: String] = [:], in directory: String? = nil,
                     timeout: Double = 120) throws -> RunningKiln {
    let binary = Self.kilnBinary
    guard FileManager.default.isExecutableFile(atPath: binary) else {
      throw TempProjectError("kiln binary not found at \(binary): run `swift build` or set KILN_BIN")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = args
    process.currentDirectoryURL = URL(fileURLWithPath: directory.map(absolute) ?? root)
    // Hermetic: this project's home and cache only, no remote cache, no workspace name from outside.
    process.environment = TestEnvironment.variables(
      home: home, cache: cache.path, environment.merging(extra) { $1 })
    // Output goes to files, not pipes: nothing to drain, nothing to deadlock on.
    let id = UUID().uuidString
    let outPath = base.path + "/kiln-\(id).out"
    let errPath = base.path + "/kiln-\(id).err"
    guard FileManager.default.createFile(atPath: outPath, contents: nil),
      FileManager.default.createFile(atPath: errPath, contents: nil)
    else { throw TempProjectError("cannot create output files in \(base.path)") }
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    defer {
      try? out.close()
      try? err.close()
    }
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try runUnmasked(process)
    let fired = OnceFlag()
    let watchdog = DispatchWorkItem { [process] in
      if process.isRunning {
        fired.set()
        kill(process.processIdentifier, SIGKILL)
      }
    }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
    return RunningKiln(process: process, outPath: outPath, errPath: errPath, watchdog: watchdog, killedByWatchdog: fired)
  }

  // MARK: - Processes

  /// Pids of processes whose command line contains `marker` (`pgrep -f`), not counting
  /// zombies. Used to prove that kiln left no child of a task running.
  package static func processes(matching marker: String) -> [Int32] {
    // pgrep writes to a file, not a pipe: a pipe's write end inherited by some other
    // test's long-running child would keep the read from ever ending.
    let scratch = TempDirectory(prefix: "kiln-it-pgrep")
    let listing = scratch.path + "/pids"
    guard FileManager.default.createFile(atPath: listing, contents: nil),
      let handle = FileHandle(forWritingAtPath: listing)
    else { return [] }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
    process.arguments = ["-f", marker]
    process.environment = TestEnvironment.variables(in: scratch)
    process.standardOutput = handle
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    let launched = (try? process.run()) != nil
    try? handle.close()
    guard launched else { return [] }
    process.waitUntilExit()
    let text = (try? String(contentsOfFile: listing, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { Int32($0) }.filter { pid in
      // A zombie has been killed already; it only waits to be reaped.
      guard let stat = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return false }
      let text = String(decoding: stat, as: UTF8.self)
      guard let close = text.lastIndex(of: ")") else { return true }
      return !text[close...].hasPrefix(") Z")
    }
  }

  /// Waits up to `seconds` for `condition` to hold, polling; returns whether it did.
  @discardableResult
  package static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date(timeIntervalSinceNow: seconds)
    while Date() < deadline {
      if condition() { return true }
      usleep(20_000)
    }
    return condition()
  }
}

/// A test-setup failure (not a kiln failure): a file that could not be written, no binary.
package struct TempProjectError: Error, CustomStringConvertible {
  package var description: String
  package init(_ description: String) { self.description = description }
}
