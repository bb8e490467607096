import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Real `git` (and other programs) for the workspace integration tests: a fixed
/// identity, no system config, output captured through files like `TempProject.start`.
package enum Git {
  /// The author and committer of every test commit; also given to kiln, which runs git.
  package static let environment: [String: String] = [
    "GIT_AUTHOR_NAME": "Kiln Test", "GIT_AUTHOR_EMAIL": "test@kiln.invalid",
    "GIT_COMMITTER_NAME": "Kiln Test", "GIT_COMMITTER_EMAIL": "test@kiln.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
  ]

  /// Runs `git ARGS...` in `directory` and returns what it did, whatever its status.
  package static func result(_ args: [String], in directory: String) throws -> KilnResult {
    try Program.run("/usr/bin/git", args, in: directory, environment: environment)
  }

  /// Runs `git ARGS...` in `directory`; a non-zero status is a test-setup error.
  /// Returns stdout without its trailing line break.
  @discardableResult
  package static func run(_ args: String..., in directory: String) throws -> String {
    let r = try result(args, in: directory)
    guard r.status == 0 else { throw TempProjectError("git \(args.joined(separator: " ")) in \(directory): \(r)") }
    return r.stdout.hasSuffix("\n") ? String(r.stdout.dropLast()) : r.stdout
  }
}

/// Starts `process` with no signal blocked. A child inherits the mask of the thread
/// that starts it, Foundation's `Process` does not clear it, and test threads run with
/// most signals blocked: cmake, waiting for SIGCHLD from its first child, hung forever.
package func runUnmasked(_ process: Process) throws {
  var none = sigset_t()
  var old = sigset_t()
  sigemptyset(&none)
  pthread_sigmask(SIG_SETMASK, &none, &old)
  defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
  try process.run()
}

/// Any program other than kiln, run to completion with its output captured, with a
/// temporary home of its own (`TestEnvironment`; `extra` may name a project's cache).
package enum Program {
  package static func run(_ executable: String, _ args: [String], in directory: String,
                          environment extra: [String: String] = [:], timeout: Double = 60) throws -> KilnResult {
    let scratch = TempDirectory(prefix: "kiln-it-prog")
    let outPath = scratch.path + "/out"
    let errPath = scratch.path + "/err"
    guard FileManager.default.createFile(atPath: outPath, contents: nil),
      FileManager.default.createFile(atPath: errPath, contents: nil)
    else { throw TempProjectError("cannot create output files in \(scratch.path)") }
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = args
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    process.environment = TestEnvironment.variables(in: scratch, extra)
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    do {
      try runUnmasked(process)
    } catch {
      try? out.close()
      try? err.close()
      throw error
    }
    try? out.close()
    try? err.close()
    let watchdog = DispatchWorkItem { [process] in
      if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
    process.waitUntilExit()
    watchdog.cancel()
    let status: Int32 = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    return KilnResult(
      status: status,
      stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
      stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
  }
}

/// One checkout of a project seen from a test: the main one (a `TempProject`'s root)
/// or a workspace that `kiln ws new` made somewhere else. Task commands in these
/// fixtures run `mkdir -p .runs` first (a new worktree has no `.runs/`), so
/// `runs(_:)` counts what ran in this checkout only.
package struct Checkout: Sendable {
  /// Absolute path of the checkout's root.
  package let root: String

  package init(_ root: String) { self.root = root }

  package func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : root + "/" + path }

  package func read(_ path: String) -> String? {
    bytes(path).map { String(decoding: $0, as: UTF8.self) }
  }

  package func bytes(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: absolute(path)).map { [UInt8]($0) }
  }

  package func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: absolute(path)) }

  /// Writes in place (parents created), as an editor would.
  package func write(_ path: String, _ contents: String) throws {
    let abs = absolute(path)
    try FileManager.default.createDirectory(
      atPath: (abs as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    guard let handle = fopen(abs, "w") else { throw TempProjectError("cannot write \(abs): errno \(errno)") }
    let bytes = Array(contents.utf8)
    let written = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, handle) }
    fclose(handle)
    guard written == bytes.count else { throw TempProjectError("short write to \(abs)") }
  }

  package func remove(_ path: String) { TempDirectory.removeTree(absolute(path)) }

  /// How many times the task ran here: the lines of `.runs/<task>`.
  package func runs(_ task: String) -> Int { runLines(task).count }

  package func runLines(_ task: String) -> [String] {
    (read(".runs/" + task) ?? "").split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
  }

  /// Every regular file (and symlink) under the root, relative and sorted. Without
  /// `includingHidden`, anything with a path component starting with `.` is left out
  /// (`.kiln`, `.runs`, `.git`, `.gitignore`); with it, only the top-level `.git` is.
  package func files(includingHidden: Bool = false) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
    var result: [String] = []
    for case let rel as String in walker {
      let parts = rel.split(separator: "/")
      if parts.first == ".git" { continue }
      if !includingHidden, parts.contains(where: { $0.hasPrefix(".") }) { continue }
      var st = stat()
      guard lstat(root + "/" + rel, &st) == 0 else { continue }
      let type = st.st_mode & S_IFMT
      if type == S_IFREG || type == S_IFLNK { result.append(rel) }
    }
    return result.sorted()
  }

  /// Every file (see `files(includingHidden:)`) with its bytes; a symlink as `-> target`.
  package func snapshot(includingHidden: Bool = false) -> [String: [UInt8]] {
    var result: [String: [UInt8]] = [:]
    for path in files(includingHidden: includingHidden) {
      if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: absolute(path)) {
        result[path] = Array("-> \(target)".utf8)
      } else {
        result[path] = bytes(path) ?? []
      }
    }
    return result
  }

  /// `git ARGS...` here; a failure is a setup error. stdout without its last line break.
  @discardableResult
  package func git(_ args: String...) throws -> String {
    let r = try Git.result(args, in: root)
    guard r.status == 0 else { throw TempProjectError("git \(args.joined(separator: " ")) in \(root): \(r)") }
    return r.stdout.hasSuffix("\n") ? String(r.stdout.dropLast()) : r.stdout
  }

  /// `git status --porcelain` here (untracked files listed one by one).
  package func gitStatus() throws -> String { try git("status", "--porcelain", "--untracked-files=all") }

  /// Commits everything (`git add -A`) with `message`; returns the new commit's hash.
  @discardableResult
  package func commitAll(_ message: String) throws -> String {
    try git("add", "-A")
    try git("commit", "-q", "-m", message)
    return try git("rev-parse", "HEAD")
  }
}

extension TempProject {
  /// This project's root as a `Checkout`.
  package var checkout: Checkout { Checkout(root) }

  /// Makes the root a git repository (branch `main`) with every file committed, and
  /// gives kiln the test identity for the git commands it runs. Returns the commit.
  @discardableResult
  package func initGitRepository() throws -> String {
    try Git.run("init", "-q", "-b", "main", in: root)
    for (k, v) in Git.environment { environment[k] = v }
    return try checkout.commitAll("initial")
  }
}
