#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import Subprocess
import SystemPackage

/// Runs commands with `/bin/sh -c` through swift-subprocess, each in a process group of
/// its own (so a timeout or Ctrl-C stops its children too). Output goes to two
/// unlinked temporary files, not pipes: a grandchild that keeps a pipe open cannot
/// hold the build, and a task's output may be larger than memory would like.
package struct ShellProcessRunner: ProcessRunner {
  package init() {}

  package func run(_ invocation: Invocation) async throws -> Completion {
    let out = try Self.anonymousFile()
    defer { close(out) }
    let err = try Self.anonymousFile()
    defer { close(err) }

    var options = PlatformOptions()
    options.processGroupID = 0  // the child leads a new group whose id is its pid
    let environment = invocation.environment.map { Array("\($0.key)=\($0.value)\0".utf8) }
    let configuration = Configuration(
      executable: .path("/bin/sh"),
      arguments: ["-c", invocation.command],
      environment: .custom(environment),
      workingDirectory: FilePath(invocation.workingDirectory),
      platformOptions: options)

    let timedOut = OnceFlag()
    let result = try await Subprocess.run(
      configuration,
      input: .none,
      output: .fileDescriptor(FileDescriptor(rawValue: out), closeAfterSpawningProcess: false),
      error: .fileDescriptor(FileDescriptor(rawValue: err), closeAfterSpawningProcess: false)
    ) { execution -> Task<Void, Never>? in
      let pgid = execution.processIdentifier.value
      if !ProcessGroups.shared.register(pgid) { return nil }
      guard let limit = invocation.timeout else { return nil }
      return Task {
        try? await Task.sleep(for: limit)
        if !Task.isCancelled {
          timedOut.set()
          ProcessGroups.kill(group: pgid)
        }
      }
    }
    result.closureResult?.cancel()
    ProcessGroups.shared.unregister(result.processIdentifier.value)

    let status: Completion.Status
    if timedOut.isSet {
      status = .timedOut
    } else if ProcessGroups.shared.isInterrupted {
      status = .interrupted
    } else {
      switch result.terminationStatus {
      case .exited(let code): status = .exited(code)
      case .signaled(let signal): status = .signaled(signal)
      }
    }
    return Completion(status: status, stdout: Self.readAll(out), stderr: Self.readAll(err))
  }

  private static func anonymousFile() throws -> Int32 {
    let dir = (getenv("TMPDIR").map { String(cString: $0) }) ?? "/tmp"
    // O_TMPFILE (Linux): an unnamed file in `dir`, gone when closed.
    let oTmpfile: Int32 = 0o20000000 | O_DIRECTORY
    var fd = open(dir, oTmpfile | O_RDWR | O_CLOEXEC, 0o600)
    if fd < 0 {
      var template = Array("\(dir)/kiln-out-XXXXXX".utf8CString)
      fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
      if fd >= 0 {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
      }
    }
    guard fd >= 0 else { throw FileSystemError(dir, "cannot create a temporary file: \(Errno(rawValue: errno))") }
    return fd
  }

  private static func readAll(_ fd: Int32) -> [UInt8] {
    let size = lseek(fd, 0, SEEK_END)
    guard size > 0 else { return [] }
    var bytes = [UInt8](repeating: 0, count: Int(size))
    let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(size), 0) }
    if n < size { bytes.removeLast(Int(size) - max(n, 0)) }
    return bytes
  }
}

/// A one-way boolean shared between tasks.
package final class OnceFlag: @unchecked Sendable {
  private let lock = PThreadMutex()
  private var value = false
  package init() {}
  package func set() { lock.withLock { value = true } }
  package var isSet: Bool { lock.withLock { value } }
}
