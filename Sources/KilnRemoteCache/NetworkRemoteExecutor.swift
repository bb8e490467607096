#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnHash
import KilnRemote
import KilnStore
import KilnSystem
import Synchronization

/// Remote execution over REAPI's Execution service (issue 19): the action's `Command`
/// and its input root as a Merkle tree of `Directory` messages, uploaded where the
/// server lacks them (FindMissingBlobs, then BatchUpdate/ByteStream, through the CAS of
/// the same endpoint), `Execute` called and its stream of `Operation`s read to the one
/// that is done, the outputs downloaded and checked against their SHA-256.
///
/// Two clients to the one endpoint: `cas` with the remote cache's short time-outs, and
/// `execution` for `Execute` alone, whose answer comes only when the worker is done
/// (its stall and total time-outs are the action's time-out, or `waitLimit`).
package final class NetworkRemoteExecutor: RemoteExecutor {
  package let cas: NetworkRemoteCache
  private let execution: RemoteClient
  package let jobs: Int
  private let down_ = Mutex<RemoteFailure?>(nil)

  package init(cas: NetworkRemoteCache, execution: RemoteClient, jobs: Int) {
    self.cas = cas
    self.execution = execution
    self.jobs = jobs
  }

  package var down: RemoteFailure? { down_.withLock { $0 } ?? cas.down }
  package var traffic: RemoteTraffic { cas.traffic }

  private var endpoint: RemoteEndpoint { cas.client.endpoint }

  package func execute(_ action: RemoteAction, scratch: String) async throws(RemoteFailure) -> RemoteRun {
    if let down { throw down }
    // The Merkle tree, the Command and the Action: every blob the server may lack. The
    // workspace is a folder of the input root (`workspaceFolder`), not the root: a
    // worker that shows the input root as `/` keeps its own /bin, /usr and /etc beside
    // it, and a workspace folder named `bin` would collide with them.
    var placed = action.inputs
    for k in placed.indices { placed[k].path = Self.workspaceFolder + "/" + placed[k].path }
    let tree = try Self.inputRoot(placed)
    let command = Self.command(action)
    let commandDigest = BlobDigest(sha: SHA256Hasher.digest(command), size: Int64(command.count))
    var actionMessage = ProtoWriter()
    commandDigest.write(1, into: &actionMessage)
    tree.root.write(2, into: &actionMessage)
    if let timeout = action.timeout {
      actionMessage.message(6) {
        $0.int(1, timeout.components.seconds)
        $0.int(2, Int64(timeout.components.attoseconds / 1_000_000_000))
      }
    }
    let actionBytes = actionMessage.bytes
    let actionDigest = BlobDigest(sha: SHA256Hasher.digest(actionBytes), size: Int64(actionBytes.count))
    var memory = tree.directories
    memory[commandDigest] = command
    memory[actionDigest] = actionBytes
    var files: [BlobDigest: String] = [:]
    for input in action.inputs { files[BlobDigest(sha: input.sha256, size: input.size)] = input.source }
    let sent: Int64
    do { sent = try await cas.putBlobs(files: files, memory: memory) } catch { throw Self.named(error) }

    // Execute: a stream of Operations, the last one done.
    var request = ProtoWriter()
    request.string(1, endpoint.instanceName)
    actionDigest.write(6, into: &request)
    let response: GRPCResponse
    do {
      response = try await execution.call(GRPCCall("/build.bazel.remote.execution.v2.Execution/Execute", messages: [request.bytes],
                                                   responseLimit: 64 << 20))
    } catch {
      throw failing(RemoteFailure("remote execution: \(error)"))
    }
    guard response.isOK else {
      throw RemoteFailure("remote execution: Execute answered status \(response.status) \(response.message)")
    }
    guard let last = response.messages.last else { throw RemoteFailure("remote execution: Execute answered no operation") }
    let result: ExecuteResult
    do { result = try Self.executeResult(last) } catch {
      throw failing(RemoteFailure("remote execution: Execute answered \(error)"))
    }
    // DEADLINE_EXCEEDED with the action's time-out set: the command ran out of time on
    // the worker, which is the task's failure (it would here too), not the worker's.
    if let status = result.status, status.code == 4, action.timeout != nil {
      var run = RemoteRun(exitCode: -1, stdout: [], stderr: [], outputs: [:], queued: result.queued,
                          executed: result.executed, cached: false)
      run.timedOut = true
      run.bytesUp = sent
      return run
    }
    if let status = result.status, status.code != 0 {
      throw RemoteFailure("remote execution: the worker failed: status \(status.code) \(status.message)")
    }
    do {
      var run = try await download(result, action: action, scratch: scratch)
      run.bytesUp = sent + Int64(request.bytes.count)
      run.bytesDown += Int64(response.bodyLength)
      return run
    } catch { throw Self.named(error) }
  }

  /// A failure of the CAS client, said as remote execution's.
  private static func named(_ failure: RemoteFailure) -> RemoteFailure {
    let text = failure.description
    if text.hasPrefix("remote execution:") { return failure }
    let rest = text.hasPrefix("remote cache: ") ? String(text.dropFirst("remote cache: ".count)) : text
    return RemoteFailure("remote execution: \(rest)")
  }

  /// Remembers a failure of the server itself: the executor is down from here on.
  private func failing(_ failure: RemoteFailure) -> RemoteFailure {
    down_.withLock { if $0 == nil { $0 = failure } }
    return failure
  }

  // MARK: - Messages

  /// The folder of the input root that holds the workspace, and the command's working
  /// folder: output paths, relative to it, are the workspace's own.
  static let workspaceFolder = "workspace"

  /// `Command`: arguments, environment (sorted), the outputs as `output_paths` and, for
  /// servers older than REAPI 2.1, as `output_files`, the working folder.
  static func command(_ action: RemoteAction) -> [UInt8] {
    var w = ProtoWriter()
    for a in action.arguments { w.string(1, a) }
    for v in action.environment {
      w.message(2) {
        $0.string(1, v.name)
        $0.string(2, v.value)
      }
    }
    let outputs = action.outputs.sorted()
    for o in outputs { w.string(3, o) }
    w.string(6, workspaceFolder)
    for o in outputs { w.string(7, o) }
    return w.bytes
  }

  /// The input root: one `Directory` message per folder, children sorted by name (as
  /// REAPI requires, so the same inputs give the same digest), each folder named by its
  /// message's digest in its parent.
  static func inputRoot(_ inputs: [RemoteActionInput]) throws(RemoteFailure) -> (root: BlobDigest, directories: [BlobDigest: [UInt8]]) {
    final class Folder {
      var files: [String: (BlobDigest, Bool)] = [:]
      var folders: [String: Folder] = [:]
    }
    let top = Folder()
    for input in inputs {
      let parts = input.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
      guard !parts.isEmpty, !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
        throw RemoteFailure("remote execution: an input path kiln cannot place in an input root: \(input.path)")
      }
      var at = top
      for name in parts.dropLast() {
        if at.files[name] != nil { throw RemoteFailure("remote execution: \(input.path) is under a file") }
        if let next = at.folders[name] { at = next } else {
          let next = Folder()
          at.folders[name] = next
          at = next
        }
      }
      if at.folders[parts.last!] != nil { throw RemoteFailure("remote execution: \(input.path) is a folder and a file") }
      at.files[parts.last!] = (BlobDigest(sha: input.sha256, size: input.size), input.executable)
    }
    var directories: [BlobDigest: [UInt8]] = [:]
    func encode(_ folder: Folder) -> BlobDigest {
      var w = ProtoWriter()
      for name in folder.files.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
        let (digest, executable) = folder.files[name]!
        w.message(1) {
          $0.string(1, name)
          digest.write(2, into: &$0)
          $0.bool(4, executable)
        }
      }
      for name in folder.folders.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
        let child = encode(folder.folders[name]!)
        w.message(2) {
          $0.string(1, name)
          child.write(2, into: &$0)
        }
      }
      let bytes = w.bytes
      let digest = BlobDigest(sha: SHA256Hasher.digest(bytes), size: Int64(bytes.count))
      directories[digest] = bytes
      return digest
    }
    return (encode(top), directories)
  }

  struct Status {
    var code: Int64
    var message: String
  }

  struct OutputFile {
    var path: String
    var digest: BlobDigest
    var executable: Bool
    var contents: [UInt8]?
  }

  /// What an `ExecuteResponse` says, decoded (never trusted: outputs are checked
  /// against the action's and every blob against its digest).
  struct ExecuteResult {
    var status: Status?
    var exitCode: Int32 = 0
    var outputs: [OutputFile] = []
    var stdoutRaw: [UInt8]?
    var stdoutDigest: BlobDigest?
    var stderrRaw: [UInt8]?
    var stderrDigest: BlobDigest?
    var cached = false
    var queued: Double = 0
    var executed: Double = 0
  }

  /// The done `Operation`: its error, or its `ExecuteResponse`.
  static func executeResult(_ operation: [UInt8]) throws(ProtoError) -> ExecuteResult {
    var r = ProtoReader(operation)
    var done = false
    var response: [UInt8]?
    var error: Status?
    while let (n, v) = try r.next() {
      switch n {
      case 3: done = try v.bool()
      case 4: error = try status(v)
      case 5:
        var any = try v.message()
        var type = "", value: [UInt8] = []
        while let (k, x) = try any.next() {
          if k == 1 { type = try x.string() }
          if k == 2 { value = try x.bytes() }
        }
        guard type.hasSuffix("build.bazel.remote.execution.v2.ExecuteResponse") else { throw ProtoError("a response of type \(type)") }
        response = value
      default: break
      }
    }
    guard done else { throw ProtoError("an operation that is not done") }
    var result = ExecuteResult()
    if let error {
      result.status = error
      return result
    }
    guard let response else { throw ProtoError("a done operation without a response") }
    var e = ProtoReader(response)
    while let (n, v) = try e.next() {
      switch n {
      case 1: try actionResult(v, into: &result)
      case 2: result.cached = try v.bool()
      case 3: result.status = try status(v)
      default: break
      }
    }
    return result
  }

  private static func status(_ v: ProtoReader.Value) throws(ProtoError) -> Status {
    var s = try v.message()
    var status = Status(code: 0, message: "")
    while let (k, x) = try s.next() {
      if k == 1 { status.code = try x.int() }
      if k == 2 { status.message = try x.string() }
    }
    return status
  }

  private static func actionResult(_ v: ProtoReader.Value, into result: inout ExecuteResult) throws(ProtoError) {
    var a = try v.message()
    while let (n, x) = try a.next() {
      switch n {
      case 2:
        let (path, digest, executable, contents) = try ActionResultCodec.outputFile(x)
        guard let path, let digest else { throw ProtoError("an output file without a path or digest") }
        result.outputs.append(OutputFile(path: path, digest: digest, executable: executable, contents: contents))
      case 3, 10, 11, 12: throw ProtoError("an output kiln did not declare as a file (a folder or a symlink)")
      case 4: result.exitCode = Int32(truncatingIfNeeded: try x.int())
      case 5: result.stdoutRaw = try x.bytes()
      case 6: result.stdoutDigest = try BlobDigest(reading: x)
      case 7: result.stderrRaw = try x.bytes()
      case 8: result.stderrDigest = try BlobDigest(reading: x)
      case 9:
        var m = try x.message()
        var stamps: [Int: Double] = [:]
        while let (k, y) = try m.next() {
          guard (2...10).contains(k) else { continue }
          var t = try y.message()
          var seconds: Int64 = 0, nanos: Int64 = 0
          while let (j, z) = try t.next() {
            if j == 1 { seconds = try z.int() }
            if j == 2 { nanos = try z.int() }
          }
          stamps[k] = Double(seconds) + Double(nanos) / 1e9
        }
        if let q = stamps[2], let s = stamps[3], s >= q { result.queued = s - q }
        if let s = stamps[7], let e = stamps[8], e >= s { result.executed = e - s }
      default: break
      }
    }
  }

  // MARK: - Outputs

  /// Every output file the worker produced, checked and written to a scratch file;
  /// stdout and stderr in memory. An output the action did not ask for, or a blob that
  /// is not its digest, fails the run (it is then run here): nothing wrong is kept.
  private func download(_ result: ExecuteResult, action: RemoteAction, scratch: String) async throws(RemoteFailure) -> RemoteRun {
    let asked = Set(action.outputs)
    var outputs: [String: (scratch: String, executable: Bool)] = [:]
    var written: [String] = []
    do throws(RemoteFailure) {
      for output in result.outputs {
        guard asked.contains(output.path), outputs[output.path] == nil else {
          throw RemoteFailure("remote execution: the worker returned \(output.path), which the task does not declare")
        }
        guard output.digest.size >= 0 else { throw RemoteFailure("remote execution: \(output.path) has a negative size") }
        let path = "\(scratch)/remote\(Paths.temporaryMarker)\(getpid())-\(TemporaryCounter.next())"
        written.append(path)
        if let contents = output.contents, Int64(contents.count) == output.digest.size,
           SHA256Hasher.digest(contents) == output.digest.sha
        {
          guard (try? cas.fileSystem.writeAtomically(contents, to: path, permissions: 0o600)) != nil else {
            throw RemoteFailure("remote execution: cannot write \(path)")
          }
        } else {
          guard try await cas.download(output.digest.sha, size: output.digest.size, to: path) != nil else {
            throw RemoteFailure("remote execution: the server lacks or garbles the blob of \(output.path)")
          }
        }
        outputs[output.path] = (path, output.executable)
      }
      func text(_ raw: [UInt8]?, _ digest: BlobDigest?, _ what: String) async throws(RemoteFailure) -> [UInt8] {
        if let raw, !raw.isEmpty { return raw }
        guard let digest, digest.size > 0 else { return [] }
        guard let bytes = try await cas.fetch(digest.sha, size: digest.size) else {
          throw RemoteFailure("remote execution: the server lacks or garbles the command's \(what)")
        }
        return bytes
      }
      let stdout = try await text(result.stdoutRaw, result.stdoutDigest, "stdout")
      let stderr = try await text(result.stderrRaw, result.stderrDigest, "stderr")
      var run = RemoteRun(exitCode: result.exitCode, stdout: stdout, stderr: stderr, outputs: outputs,
                          queued: result.queued, executed: result.executed, cached: result.cached)
      // What came down besides the Execute answer: the blobs not inlined in it.
      run.bytesDown = result.outputs.filter { $0.contents == nil }.reduce(0) { $0 + $1.digest.size }
        + (result.stdoutRaw?.isEmpty ?? true ? result.stdoutDigest?.size ?? 0 : 0)
        + (result.stderrRaw?.isEmpty ?? true ? result.stderrDigest?.size ?? 0 : 0)
      return run
    } catch {
      for path in written { try? cas.fileSystem.remove(path) }
      throw error
    }
  }
}
