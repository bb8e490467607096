#if canImport(Glibc)
import Glibc
#endif
import CSpawn

/// One tool run to completion outside any build: how kiln's own commands call git and
/// cp (`kiln ws`, `kiln hooks`). Arguments go to the program as they are, no shell;
/// output is captured; stdin is /dev/null. Like a task, the child leads a process group
/// of its own, registered with `ProcessGroups` while it runs, so Ctrl-C stops it too. The caller awaits the child's end without
/// blocking a thread of Swift's cooperative pool (`ChildWatcher` waits for it), so a
/// hook's nested build or a slow `git worktree add` holds no thread the process needs.
package enum Command {
  package struct Output: Sendable {
    /// The exit status; 128 + N when the program died of signal N; 127 when it could
    /// not be started.
    package var status: Int32
    package var stdout: [UInt8]
    package var stderr: [UInt8]

    package var succeeded: Bool { status == 0 }
    /// stdout as text, without its last newline.
    package var text: String {
      var s = String(decoding: stdout, as: UTF8.self)
      while s.hasSuffix("\n") { s.removeLast() }
      return s
    }
    /// The first line of stderr (or stdout), for a one-line error.
    package var firstErrorLine: String {
      let all = String(decoding: stderr.isEmpty ? stdout : stderr, as: UTF8.self)
      return all.split(separator: "\n").first { !$0.allSatisfy { $0 == " " } }.map(String.init) ?? "exit status \(status)"
    }
  }

  /// Runs `arguments[0]` (looked up in PATH unless it has a slash) in `directory`.
  package static func run(_ arguments: [String], in directory: String, environment: [String: String]) async -> Output {
    guard let program = arguments.first, let path = resolve(program, environment["PATH"]) else {
      return Output(status: 127, stdout: [], stderr: Array("\(arguments.first ?? ""): not found".utf8))
    }
    let out = kiln_memfd("kiln-cmd-out"), err = kiln_memfd("kiln-cmd-err")
    defer {
      if out >= 0 { close(out) }
      if err >= 0 { close(err) }
    }
    guard out >= 0, err >= 0 else { return Output(status: 127, stdout: [], stderr: Array("cannot capture output".utf8)) }
    // The child leads a group of its own, which a terminal's Ctrl-C does not reach:
    // kiln signals it (`ProcessGroups.interruptAll`), a hook's nested build included.
    // After a Ctrl-C it is killed at once (`start` says it is not registered).
    let pid: pid_t
    do {
      pid = try ProcessGroups.shared.start { () throws(SpawnErrno) -> pid_t in
        try spawn(path, arguments, environment, in: directory, stdout: out, stderr: err).get()
      }.pid
    } catch {
      return Output(status: 127, stdout: [], stderr: Array("cannot start \(program): \(String(cString: strerror(error.rawValue)))".utf8))
    }
    let ended = await ChildWatcher.shared.wait(for: pid, exited: {}).status
    ProcessGroups.shared.unregister(pid)
    let status: Int32
    switch ended {
    case .exited(let code): status = code
    case .signaled(let signal): status = 128 + signal
    default: status = 128 + SIGKILL
    }
    return Output(status: status, stdout: readAll(out), stderr: readAll(err))
  }

  /// Starts `path` with `arguments` (argv, its own name first) and exactly
  /// `environment`, in `directory`, as the leader of a new process group, stdout and
  /// stderr onto the given descriptors (`kiln_spawn`); its pid, or the errno. `stdin`
  /// replaces /dev/null when given (kiln-remote's socket).
  package static func spawn(_ path: String, _ arguments: [String], _ environment: [String: String], in directory: String,
                            stdin: Int32 = -1, stdout: Int32, stderr: Int32) -> Result<pid_t, SpawnErrno> {
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    let envp = cEnvironment(environment)
    defer {
      for p in argv { free(p) }
      for p in envp { free(p) }
    }
    var pid: pid_t = 0
    let rc = kiln_spawn_piped(&pid, path, argv, envp, directory, stdin, stdout, stderr)
    return rc == 0 ? .success(pid) : .failure(SpawnErrno(rawValue: rc))
  }

  /// A child started by `spawnAsync`: its pid, a pidfd, and what `kiln_spawn_async_end`
  /// takes once it has exited.
  package struct AsyncChild: @unchecked Sendable {
    package var pid: pid_t
    package var pidfd: Int32
    var statusFD: Int32
    var handle: UnsafeMutableRawPointer?

    /// Once the child has exited: nil when it had begun its program, else the errno its
    /// start failed with.
    package func end() -> SpawnErrno? {
      let code = kiln_spawn_async_end(statusFD, handle)
      return code == 0 ? nil : SpawnErrno(rawValue: code)
    }
  }

  /// `spawn` without waiting for the child to begin its program (`kiln_spawn_async`);
  /// a failure to start it shows once it has exited (`AsyncChild.end`). ENOSYS: not on
  /// this machine.
  package static func spawnAsync(_ path: String, _ arguments: [String], _ environment: [String: String],
                                 in directory: String, stdout: Int32, stderr: Int32) -> Result<AsyncChild, SpawnErrno> {
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    let envp = cEnvironment(environment)
    defer {
      for p in argv { free(p) }
      for p in envp { free(p) }
    }
    var child = AsyncChild(pid: 0, pidfd: -1, statusFD: -1, handle: nil)
    let rc = kiln_spawn_async(&child.pid, &child.pidfd, &child.statusFD, &child.handle, path, argv, envp, directory,
                              stdout, stderr)
    return rc == 0 ? .success(child) : .failure(SpawnErrno(rawValue: rc))
  }

  /// `NAME=value` strings for execve, each malloc'ed (the caller frees them), then nil.
  static func cEnvironment(_ environment: [String: String]) -> [UnsafeMutablePointer<CChar>?] {
    var envp: [UnsafeMutablePointer<CChar>?] = []
    envp.reserveCapacity(environment.count + 1)
    // Copied byte by byte: string interpolation cost 2,000 instructions a variable,
    // tens of thousands per started task.
    for (name, value) in environment {
      let entry = malloc(name.utf8.count + value.utf8.count + 2)!.assumingMemoryBound(to: UInt8.self)
      var at = 0
      for byte in name.utf8 { entry[at] = byte; at += 1 }
      entry[at] = UInt8(ascii: "=")
      at += 1
      for byte in value.utf8 { entry[at] = byte; at += 1 }
      entry[at] = 0
      envp.append(UnsafeMutableRawPointer(entry).assumingMemoryBound(to: CChar.self))
    }
    envp.append(nil)
    return envp
  }

  /// An errno from starting a process.
  package struct SpawnErrno: Error, Sendable {
    package var rawValue: Int32
  }

  /// The file that `program` names, searched in `path` like a shell does.
  package static func resolve(_ program: String, _ path: String?) -> String? {
    if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
    for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
      let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + program
      var st = stat()
      if access(candidate, X_OK) == 0, stat(candidate, &st) == 0, st.st_mode & S_IFMT == S_IFREG { return candidate }
    }
    return nil
  }

  /// Everything written to `fd` (a memfd or temporary file) from its start.
  package static func readAll(_ fd: Int32) -> [UInt8] {
    let size = lseek(fd, 0, SEEK_END)
    guard size > 0 else { return [] }
    var bytes = [UInt8](repeating: 0, count: Int(size))
    let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(size), 0) }
    if n < size { bytes.removeLast(Int(size) - max(n, 0)) }
    return bytes
  }
}
