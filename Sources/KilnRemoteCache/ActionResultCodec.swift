import KilnCore
import KilnHash
import KilnStore

/// REAPI's `Digest`: a SHA-256 and a size.
struct BlobDigest: Hashable, Sendable {
  var sha: SHA256Digest
  var size: Int64

  func write(_ field: Int, into w: inout ProtoWriter) {
    w.message(field) {
      $0.string(1, sha.hex)
      $0.int(2, size)
    }
  }

  init(sha: SHA256Digest, size: Int64) {
    self.sha = sha
    self.size = size
  }

  init(reading value: ProtoReader.Value) throws(ProtoError) {
    var r = try value.message()
    var hash: SHA256Digest?
    var size: Int64 = 0
    while let (field, v) = try r.next() {
      switch field {
      case 1:
        guard let d = try v.sha256() else { throw ProtoError("a digest that is not SHA-256") }
        hash = d
      case 2: size = try v.int()
      default: break
      }
    }
    guard let hash, size >= 0 else { throw ProtoError("a digest without a hash or with a negative size") }
    self.init(sha: hash, size: size)
  }
}

/// A remote entry in the standard form: an REAPI `ActionResult` (output files with
/// SHA-256 digests and executable bits, output symlinks, exit code 0, stdout and stderr
/// as CAS blobs) whose `execution_metadata.auxiliary_metadata` holds one `Any` of type
/// `kiln.v1.Extras`: the declared outputs, every output path in order with its kind
/// (REAPI lists are unordered; kiln's folder outputs have no REAPI form here), the depfile
/// inputs with their SHA-256, the duration, and optionally an Ed25519 signature.
///
/// Small files' bytes may also be inside it (`OutputFile.contents`, field 5), and small
/// stdout and stderr (`stdout_raw` 5, `stderr_raw` 7), beside their digests: a reader
/// then needs no second round trip for them. The blobs are uploaded all the same (a
/// server or reader that drops or ignores the inlined bytes reads them from the CAS),
/// and inlined bytes are used only after they are checked against their digest.
///
/// The signature covers `signaturePrefix`, the remote key, and this encoding of the
/// entry made again from what was decoded, signature and inlined bytes left out (the
/// digests they are checked against are signed): what a server re-encodes, adds or
/// drops that kiln does not read is not signed and not used.
enum ActionResultCodec {
  static let extrasType = "type.googleapis.com/kiln.v1.Extras"
  static let signaturePrefix = Array("kiln-remote-entry-1\u{0}".utf8)

  /// What a decoded result holds besides the entry: where stdout and stderr are, and
  /// their bytes when the entry carried them (unchecked, as every output's `contents`).
  struct Decoded {
    var entry: RemoteEntry
    var stdout: BlobDigest?
    var stderr: BlobDigest?
    var stdoutRaw: [UInt8]?
    var stderrRaw: [UInt8]?
    var signature: [UInt8]
  }

  /// The entry as an `ActionResult`. `inlining`: each file output's `contents` goes in,
  /// and `entry.stdout` / `entry.stderr` as raw bytes beside their digests when not
  /// empty; without it (what a signature covers) none of them does.
  static func encode(_ entry: RemoteEntry, stdout: BlobDigest?, stderr: BlobDigest?, signature: [UInt8] = [],
                     inlining: Bool = true) -> [UInt8] {
    var w = ProtoWriter()
    for output in entry.outputs where output.kind == .file {
      w.message(2) {
        $0.string(1, output.path)
        BlobDigest(sha: output.sha256!, size: output.size).write(2, into: &$0)
        $0.bool(4, output.executable)
        if inlining, let contents = output.contents { $0.data(5, contents) }
      }
    }
    if inlining, stdout != nil { w.data(5, entry.stdout) }
    stdout.map { $0.write(6, into: &w) }
    if inlining, stderr != nil { w.data(7, entry.stderr) }
    stderr.map { $0.write(8, into: &w) }
    w.message(9) {
      $0.string(1, "kiln")
      $0.message(11) {
        $0.string(1, extrasType)
        $0.data(2, extras(entry, signature: signature))
      }
    }
    for output in entry.outputs where output.kind == .symlink {
      w.message(12) {
        $0.string(1, output.path)
        $0.string(2, output.target ?? "")
      }
    }
    return w.bytes
  }

  private static func extras(_ entry: RemoteEntry, signature: [UInt8]) -> [UInt8] {
    var w = ProtoWriter()
    w.uint(1, 1)
    for path in entry.declaredOutputs { w.string(2, path) }
    for output in entry.outputs {
      w.message(3) {
        $0.string(1, output.path)
        $0.uint(2, UInt64(output.kind.rawValue) + 1)
      }
    }
    for input in entry.discovered {
      w.message(4) {
        $0.string(1, input.path)
        $0.string(2, input.sha256.hex)
      }
    }
    w.double(5, entry.duration)
    w.data(6, signature)
    return w.bytes
  }

  /// The bytes a signature covers for `entry` under `key`.
  static func signedBytes(_ entry: RemoteEntry, key: SHA256Digest, stdout: BlobDigest?, stderr: BlobDigest?) -> [UInt8] {
    signaturePrefix + key.bytes + encode(entry, stdout: stdout, stderr: stderr, inlining: false)
  }

  /// One `OutputFile` message (`ActionResult` field 2): path, digest, executable bit and
  /// the bytes carried inside, as sent (empty included).
  static func outputFile(_ value: ProtoReader.Value) throws(ProtoError)
    -> (path: String?, digest: BlobDigest?, executable: Bool, contents: [UInt8]?)
  {
    var f = try value.message()
    var path: String?, digest: BlobDigest?, executable = false, contents: [UInt8]?
    while let (n, v) = try f.next() {
      switch n {
      case 1: path = try v.string()
      case 2: digest = try BlobDigest(reading: v)
      case 4: executable = try v.bool()
      case 5: contents = try v.bytes()
      default: break
      }
    }
    return (path, digest, executable, contents)
  }

  /// Decodes an `ActionResult` kiln wrote; an error for anything else (another
  /// client's result, a failed run, outputs the extras do not account for).
  static func decode(_ bytes: [UInt8]) throws(ProtoError) -> Decoded {
    var r = ProtoReader(bytes)
    var files: [String: (BlobDigest, Bool, [UInt8]?)] = [:]
    var links: [String: String] = [:]
    var stdout: BlobDigest?, stderr: BlobDigest?, stdoutRaw: [UInt8]?, stderrRaw: [UInt8]?
    var extras: ProtoReader?
    while let (field, value) = try r.next() {
      switch field {
      case 2:
        let (path, digest, executable, carried) = try outputFile(value)
        // Empty is absent in proto3 (a server may drop it): nothing carried.
        let contents = carried?.isEmpty == false ? carried : nil
        guard let path, let digest, files.updateValue((digest, executable, contents), forKey: path) == nil else {
          throw ProtoError("an output file without a path or digest, or twice")
        }
      case 3: throw ProtoError("an output directory tree (kiln writes none)")
      case 4: if try value.int() != 0 { throw ProtoError("a failed run's result") }
      case 5: stdoutRaw = try value.bytes()
      case 6: stdout = try BlobDigest(reading: value)
      case 7: stderrRaw = try value.bytes()
      case 8: stderr = try BlobDigest(reading: value)
      case 9:
        var m = try value.message()
        while let (n, v) = try m.next() {
          guard n == 11 else { continue }
          var any = try v.message()
          var type = "", payload: [UInt8] = []
          while let (k, x) = try any.next() {
            if k == 1 { type = try x.string() } else if k == 2 { payload = try x.bytes() }
          }
          if type == extrasType {
            guard extras == nil else { throw ProtoError("kiln's fields twice") }
            extras = ProtoReader(payload)
          }
        }
      case 10, 12:
        var s = try value.message()
        var path: String?, target: String?
        while let (n, v) = try s.next() {
          if n == 1 { path = try v.string() } else if n == 2 { target = try v.string() }
        }
        guard let path, let target else { throw ProtoError("a symlink without a path or target") }
        if let known = links[path], known != target { throw ProtoError("a symlink twice") }
        links[path] = target
      default: break
      }
    }
    guard var x = extras else { throw ProtoError("not written by kiln (no kiln.v1.Extras)") }
    var declared: [String] = [], outputs: [RemoteOutput] = [], discovered: [RemoteInput] = []
    var duration = 0.0, version: UInt64 = 0, signature: [UInt8] = []
    while let (field, value) = try x.next() {
      switch field {
      case 1: version = try value.uint()
      case 2: declared.append(try value.string())
      case 3:
        var o = try value.message()
        var path: String?, kind: UInt64 = 0
        while let (n, v) = try o.next() {
          if n == 1 { path = try v.string() } else if n == 2 { kind = try v.uint() }
        }
        guard let path, kind >= 1, let k = OutputEntry.Kind(rawValue: UInt8(truncatingIfNeeded: kind - 1)), kind <= 3 else {
          throw ProtoError("an output without a path or kind")
        }
        switch k {
        case .directory: outputs.append(RemoteOutput(path: path, kind: .directory))
        case .file:
          guard let (digest, executable, contents) = files.removeValue(forKey: path) else { throw ProtoError("output \(path) is not among the files") }
          outputs.append(RemoteOutput(path: path, kind: .file, executable: executable, sha256: digest.sha, size: digest.size,
                                      contents: contents))
        case .symlink:
          guard let target = links.removeValue(forKey: path) else { throw ProtoError("output \(path) is not among the symlinks") }
          outputs.append(RemoteOutput(path: path, kind: .symlink, target: target))
        }
      case 4:
        var d = try value.message()
        var path: String?, sha: SHA256Digest?
        while let (n, v) = try d.next() {
          if n == 1 { path = try v.string() } else if n == 2 { sha = try v.sha256() }
        }
        guard let path, let sha else { throw ProtoError("a depfile input without a path or SHA-256") }
        discovered.append(RemoteInput(path: path, sha256: sha))
      case 5: duration = try value.double()
      case 6: signature = try value.bytes()
      default: break
      }
    }
    guard version == 1 else { throw ProtoError("kiln.v1.Extras of version \(version)") }
    guard files.isEmpty, links.isEmpty else { throw ProtoError("outputs kiln's fields do not list") }
    let entry = RemoteEntry(outputs: outputs, declaredOutputs: declared, discovered: discovered,
                            stdout: [], stderr: [], duration: duration)
    return Decoded(entry: entry, stdout: stdout, stderr: stderr, stdoutRaw: stdoutRaw, stderrRaw: stderrRaw, signature: signature)
  }
}

/// Who signs and who checks: CI signs what it uploads (`KILN_REMOTE_SIGNING_KEY`), a
/// reader that configured a public key (`verify_key:` under `remote:`, or
/// `KILN_REMOTE_VERIFY_KEY`) takes only entries that key signed.
package struct EntrySigning: Sendable {
  package var signer: EntrySignature.PrivateKey?
  package var verifier: EntrySignature.PublicKey?

  package init(signer: EntrySignature.PrivateKey? = nil, verifier: EntrySignature.PublicKey? = nil) {
    self.signer = signer
    self.verifier = verifier
  }

  func sign(_ entry: RemoteEntry, key: SHA256Digest, stdout: BlobDigest?, stderr: BlobDigest?) -> [UInt8] {
    guard let signer else { return [] }
    return signer.sign(ActionResultCodec.signedBytes(entry, key: key, stdout: stdout, stderr: stderr)) ?? []
  }

  /// Whether a decoded entry may be used: always without a verifier; with one, only
  /// when its signature is that key's over this key and entry.
  func accepts(_ decoded: ActionResultCodec.Decoded, key: SHA256Digest) -> Bool {
    guard let verifier else { return true }
    return verifier.verifies(decoded.signature, of: ActionResultCodec.signedBytes(
      decoded.entry, key: key, stdout: decoded.stdout, stderr: decoded.stderr))
  }
}
