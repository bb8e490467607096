#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnHash
import KilnStore
import KilnSystem

/// The remote cache behind the local one (SPEC section 5): a local miss asks it, a hit
/// is written into the local cache (blobs, then the entry) and restored from there like
/// any local hit; a run's result is uploaded after its local store when this process
/// may write. Everything the server says is checked as a local entry is (`fits`), plus
/// each depfile input's SHA-256 and each blob's.
extension Job {
  /// The task restored from the remote entry for it, or nil (a miss, or the remote
  /// failed: then `warnings` gets the one line to show). The outputs are written from
  /// the checked entry at once; the entry goes into the local cache with the result
  /// (`pendingStore`, never uploaded again), as a run's does.
  func restoreRemote(_ task: PreparedTask, warnings: inout [String]) async -> JobResult? {
    guard let remote, remote.down == nil else { return nil }
    guard let key = task.remoteKey(statCache: statCache, keyRoots: keyRoots) else { return nil }
    let action: ActionEntry
    let checked: [Digest: SHA256Digest]
    do {
      guard let entry = try await remote.lookup(key) else { return nil }
      var found = try await localEntry(from: entry, for: task, remote: remote)
      // The bundle is a prefetch, not an answer of its own: what it held for this key
      // does not fit, so the server is asked about this key alone.
      if found == nil, entry.fromBundle, let alone = try await remote.lookupAlone(key) {
        found = try await localEntry(from: alone, for: task, remote: remote)
      }
      guard let found else { return nil }
      (action, checked) = found
    } catch {
      if let failure = remote.failureToReport() { warnings.append(Self.remoteDown(failure)) }
      return nil
    }
    guard case .restored(var result) = await restoreAside(task, from: action, touching: false) else { return nil }
    // Each file restored holds bytes whose SHA-256 was checked on the way in: a later
    // task's remote key (the archive of these objects) does not read them again.
    for output in action.outputs where output.kind == .file {
      if let sha = checked[output.digest] { statCache.remember(output.path, output.digest, sha256: sha) }
    }
    result.outcome = .restored(from: .remote)
    result.warnings += warnings
    var stored = action
    stored.mapPaths(keyRoots.normalize)
    result.pendingStore = PendingStore(id: task.instance.id, key: task.key, blobs: [], action: stored)
    return result
  }

  /// The one line shown when the remote stops being asked.
  package static func remoteDown(_ failure: RemoteFailure) -> String {
    let text = failure.description.hasPrefix("remote cache:") ? failure.description : "remote cache: \(failure)"
    return "\(text); building locally (the remote is not asked again in this build)"
  }

  /// `entry` as a local action entry (paths written out of keys, as `collect` stores
  /// them), its blobs downloaded and checked into the content store, with the SHA-256
  /// each file's bytes were checked against (by their XXH3 digest); nil when it is not
  /// this task's result here: outputs other than the declared ones, a depfile input
  /// with other content here, a blob the server lacks or sends wrong.
  private func localEntry(from entry: RemoteEntry, for task: PreparedTask, remote: any RemoteCache)
    async throws(RemoteFailure) -> (ActionEntry, [Digest: SHA256Digest])?
  {
    let declared = task.instance.outputs
    guard entry.declaredOutputs.map(keyRoots.resolve) == declared, entry.duration.isFinite else { return nil }
    var discovered: [PathDigest] = []
    for input in entry.discovered {
      let path = keyRoots.resolve(input.path)
      guard let digest = try? statCache.digest(of: path),
            statCache.sha256(of: path, expecting: digest) == input.sha256
      else { return nil }
      discovered.append(PathDigest(path, digest))
    }
    // The shape first (paths, kinds, links): nothing is downloaded for an entry that
    // could not be restored anyway.
    var outputs: [OutputEntry] = []
    var inline: [Digest: [UInt8]] = [:]
    for output in entry.outputs {
      let path = keyRoots.resolve(output.path)
      switch output.kind {
      case .directory:
        outputs.append(OutputEntry(path: path, kind: .directory, permissions: 0o755, digest: .zero))
      case .symlink:
        guard let target = output.target else { return nil }
        let bytes = Array(target.utf8)
        let digest = Hasher.digest(bytes)
        inline[digest] = bytes
        outputs.append(OutputEntry(path: path, kind: .symlink, permissions: 0o755, digest: digest))
      case .file:
        guard output.sha256 != nil, output.size >= 0 else { return nil }
        outputs.append(OutputEntry(path: path, kind: .file, permissions: output.executable ? 0o755 : 0o644, digest: .zero))
      }
    }
    var action = ActionEntry(discovered: discovered, outputs: outputs, declaredOutputs: declared,
                             stdout: entry.stdout, stderr: entry.stderr, duration: entry.duration, inline: inline)
    guard action.fits(declared: declared) else { return nil }
    // Paths in the entry are this checkout's from here on (`restore(_:from:)` takes it so).
    var checked: [Digest: SHA256Digest] = [:]
    for (k, output) in entry.outputs.enumerated() where output.kind == .file {
      let digest: Digest
      if let bytes = output.contents {
        // Carried inside the entry, checked by the lookup: no round trip, no blob file.
        digest = Hasher.digest(bytes)
        action.inline[digest] = bytes
      } else if output.size <= ActionCache.inlineLimit {
        // Small: kept inside the local entry, as a local store keeps it (no blob file).
        guard let bytes = try await remote.fetch(output.sha256!, size: output.size) else { return nil }
        digest = Hasher.digest(bytes)
        action.inline[digest] = bytes
      } else {
        guard let stored = try await fetchBlob(output.sha256!, size: output.size, remote: remote) else { return nil }
        digest = stored
      }
      action.outputs[k].digest = digest
      checked[digest] = output.sha256!
    }
    return (action, checked)
  }

  /// Downloads one blob into the content store; its XXH3 digest, or nil when the server
  /// lacks it or sent bytes that are not it.
  private func fetchBlob(_ sha: SHA256Digest, size: Int64, remote: any RemoteCache) async throws(RemoteFailure) -> Digest? {
    let incoming = "\(contentStore.root)/blobs/incoming\(Paths.temporaryMarker)\(getpid())-\(TemporaryCounter.next())"
    try? fileSystem.createDirectories(Paths.parent(incoming))
    defer { try? fileSystem.remove(incoming) }
    guard let digest = try await remote.download(sha, size: size, to: incoming) else { return nil }
    // Copied in as any output is (checked against the digest as it is copied).
    guard (try? contentStore.store(incoming, as: digest)) != nil else { return nil }
    return digest
  }

  /// Uploads a stored result when this process may write and the result may be shared:
  /// not path-dependent (it holds this checkout's absolute path), every input still
  /// holding the content its key was made from. The warning when the remote failed.
  func uploadRemote(_ pending: PendingStore) async -> [String] {
    guard let remote, remote.writes, remote.down == nil, let task = pending.task,
          pending.action.pathDependentRoot == nil,
          let key = task.remoteKey(statCache: statCache, keyRoots: keyRoots)
    else { return [] }
    let action = pending.action
    var outputs: [RemoteOutput] = []
    var blobs: [(SHA256Digest, Int64, String)] = []
    var scratch: [String] = []
    defer { for path in scratch { try? fileSystem.remove(path) } }
    for output in action.outputs {
      switch output.kind {
      case .directory:
        outputs.append(RemoteOutput(path: output.path, kind: .directory))
      case .symlink:
        guard let bytes = action.inline[output.digest] else { return [] }
        outputs.append(RemoteOutput(path: output.path, kind: .symlink, target: String(decoding: bytes, as: UTF8.self)))
      case .file:
        // From the cache, never from the workspace: a blob there is immutable, and
        // checked here against the digest the result was stored under.
        let source: String
        if let bytes = action.inline[output.digest] {
          source = "\(contentStore.root)/blobs/outgoing\(Paths.temporaryMarker)\(getpid())-\(TemporaryCounter.next())"
          guard (try? fileSystem.writeAtomically(bytes, to: source, permissions: 0o444)) != nil else { return [] }
          scratch.append(source)
        } else {
          source = contentStore.path(of: output.digest)
        }
        // The SHA-256 taken with the XXH3 after the run, when it was; else now, from
        // the blob, checked against the XXH3 the result was stored under.
        let sha: SHA256Digest
        if let known = pending.sha256[output.digest] {
          sha = known
        } else {
          guard let (digest, taken) = try? fileSystem.digests(of: source), digest == output.digest else { return [] }
          sha = taken
        }
        guard let size = fileSystem.stat(source)?.size else { return [] }
        // A small output's bytes go inside the entry too (the remote cache decides how
        // many), so a reader needs no second round trip for them.
        let contents = action.inline[output.digest].flatMap { Int64($0.count) == size ? $0 : nil }
        outputs.append(RemoteOutput(path: output.path, kind: .file, executable: output.permissions & 0o100 != 0,
                                    sha256: sha, size: size, contents: contents))
        blobs.append((sha, size, source))
      }
    }
    var discovered: [RemoteInput] = []
    for input in action.discovered {
      guard let sha = statCache.sha256(of: keyRoots.resolve(input.path), expecting: input.digest) else { return [] }
      discovered.append(RemoteInput(path: input.path, sha256: sha))
    }
    let entry = RemoteEntry(outputs: outputs, declaredOutputs: action.declaredOutputs, discovered: discovered,
                            stdout: action.stdout, stderr: action.stderr, duration: action.duration)
    do { try await remote.upload(entry, key: key, blobs: blobs) } catch {
      return remote.failureToReport().map { [Self.remoteDown($0)] } ?? []
    }
    return []
  }
}
