import KilnCore

/// One output of a result on a remote cache, as its entry names it: a path (with the
/// checkout's folders written as `KeyRoots` tokens, as in a local entry), what it is,
/// and for a file its SHA-256, size and executable bit; for a symlink its target.
///
/// `contents`: a small file's bytes inside the entry itself (REAPI's
/// `OutputFile.contents`), so a lookup needs no second round trip for them. Uploaded
/// beside the blob, never instead of it. From `RemoteCache.lookup` they are already
/// checked against `sha256` and `size`; nil when the entry did not carry them.
package struct RemoteOutput: Sendable, Hashable {
  package var path: String
  package var kind: OutputEntry.Kind
  package var executable: Bool
  package var sha256: SHA256Digest?
  package var size: Int64
  package var target: String?
  package var contents: [UInt8]?

  package init(path: String, kind: OutputEntry.Kind, executable: Bool = false, sha256: SHA256Digest? = nil,
               size: Int64 = 0, target: String? = nil, contents: [UInt8]? = nil) {
    self.path = path
    self.kind = kind
    self.executable = executable
    self.sha256 = sha256
    self.size = size
    self.target = target
    self.contents = contents
  }
}

/// An input found through the depfile, with the SHA-256 its content had.
package struct RemoteInput: Sendable, Hashable {
  package var path: String
  package var sha256: SHA256Digest

  package init(path: String, sha256: SHA256Digest) {
    self.path = path
    self.sha256 = sha256
  }
}

/// A task's result as a remote cache keeps it (an REAPI `ActionResult` and kiln's own
/// fields), decoded but not trusted: the engine checks it against the task's declared
/// outputs and the depfile inputs' contents, and every blob against its SHA-256.
package struct RemoteEntry: Sendable, Hashable {
  package var outputs: [RemoteOutput]
  package var declaredOutputs: [String]
  /// Whether it came from the build's bundle (`RemoteCache.readBundle`) rather than
  /// from a lookup of its own: an entry that does not fit the task is then asked for
  /// again, the server's own answer.
  package var fromBundle = false
  package var discovered: [RemoteInput]
  package var stdout: [UInt8]
  package var stderr: [UInt8]
  package var duration: Double

  package init(outputs: [RemoteOutput], declaredOutputs: [String], discovered: [RemoteInput],
               stdout: [UInt8], stderr: [UInt8], duration: Double) {
    self.outputs = outputs
    self.declaredOutputs = declaredOutputs
    self.discovered = discovered
    self.stdout = stdout
    self.stderr = stderr
    self.duration = duration
  }
}

/// Why a remote cache could not be used: the server is down, slow, refuses, or answers
/// something that is not the protocol. The build warns once and goes on locally.
package struct RemoteFailure: Error, Sendable, CustomStringConvertible {
  package var description: String
  package init(_ description: String) { self.description = description }
}

/// What the network cost a build: counted by the remote cache, read by `kiln stats`.
package struct RemoteTraffic: Sendable, Hashable {
  package var bytesDown: Int64 = 0
  package var bytesUp: Int64 = 0
  package var seconds: Double = 0
  package var lookups = 0
  package var hits = 0
  package var uploads = 0
  /// Lookups answered from the build's bundle (no request of their own); the server
  /// was asked `lookups - bundled` times.
  package var bundled = 0
  /// Bundles uploaded (0 or 1).
  package var bundles = 0
  /// Requests sent to the server: HTTP requests or gRPC calls, of every kind.
  package var requests = 0
  package init() {}
}

/// A shared cache on another machine (Bazel's HTTP cache protocol or REAPI), behind
/// the local one: looked up on a local miss, written (when allowed) after a run.
/// Every method may throw `RemoteFailure`; after the first one the cache is `down` and
/// answers nothing more in this process.
package protocol RemoteCache: Sendable {
  /// Whether this process may upload (`KILN_REMOTE_WRITE=1` or `write: true`).
  var writes: Bool { get }
  /// The first failure, once there was one: nothing is asked of the server after it.
  var down: RemoteFailure? { get }
  /// The entry stored under `key`, decoded; nil when there is none (or it fails its
  /// signature, when signatures are required). Outputs whose bytes came inside the
  /// entry have them in `contents`, checked against their SHA-256 and size: an entry
  /// carrying other bytes for an output is a miss (nil), as a wrong blob is.
  func lookup(_ key: SHA256Digest) async throws(RemoteFailure) -> RemoteEntry?
  /// The same, never from the build's bundle: the server's own answer for `key`.
  func lookupAlone(_ key: SHA256Digest) async throws(RemoteFailure) -> RemoteEntry?
  /// Starts reading the bundle stored under `key` (kiln's own addition to both
  /// protocols: one entry that lists the entries of a whole build, and packs holding
  /// them; `NetworkRemoteCache+Bundle`): until its listing is in (or known
  /// absent), `lookup` waits for it, then answers a key it lists from that key's pack,
  /// once that pack is in. Only a prefetch:
  /// every entry from it is checked as one from `lookup` of its own key is.
  func readBundle(_ key: SHA256Digest)
  /// When this process may write: uploads under `key` a bundle of every entry this
  /// process uploaded or found, unless it found that very bundle, or the entries are
  /// too few for a bundle to save anything.
  func writeBundle(_ key: SHA256Digest) async throws(RemoteFailure)
  /// Writes the blob `digest` (`size` bytes) to `path` (a new file), checked against its
  /// SHA-256 as it arrives; returns its XXH3 digest, or nil when the server has no such
  /// blob or sent other bytes (a poisoned entry: a miss). Nothing is left at `path`
  /// unless it returns a digest.
  func download(_ digest: SHA256Digest, size: Int64, to path: String) async throws(RemoteFailure) -> Digest?
  /// The bytes of a small blob, checked against its SHA-256 and size; nil when the
  /// server lacks it or sent other bytes. Nothing touches the disk.
  func fetch(_ digest: SHA256Digest, size: Int64) async throws(RemoteFailure) -> [UInt8]?
  /// Uploads the blobs the server lacks (SHA-256, size, a file holding the bytes), then
  /// the entry under `key`.
  func upload(_ entry: RemoteEntry, key: SHA256Digest, blobs: [(SHA256Digest, Int64, String)]) async throws(RemoteFailure)
  /// What it moved so far.
  var traffic: RemoteTraffic { get }
  /// The failure that made it `down`, the first time this is asked after it (nil
  /// before and after): whoever gets it shows the build's one warning.
  func failureToReport() -> RemoteFailure?
}
