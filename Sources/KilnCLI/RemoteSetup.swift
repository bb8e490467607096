import KilnConfig
import KilnHash
import KilnRemote
import KilnRemoteCache
import KilnStore
import KilnSystem

/// The remote cache a build uses: `KILN_REMOTE_CACHE` (wins), else `remote:` in the
/// build file. Writing needs `KILN_REMOTE_WRITE=1` or `write: true`; entries must be
/// signed when a verify key is set (`KILN_REMOTE_VERIFY_KEY` or `verify_key:`), and are
/// signed when `KILN_REMOTE_SIGNING_KEY` names a private key. Credentials and time-outs
/// come from the environment only (`RemoteCredentials`, `RemoteTimeouts`).
/// Nothing here touches the network: the helper starts at the first request.
enum RemoteSetup {
  /// The environment's URL replaces the build file's, nothing else: a `verify_key:`
  /// the build file requires still applies (trust is never dropped by naming a mirror),
  /// and writing still needs `KILN_REMOTE_WRITE=1`.
  static func settings(_ context: Context) throws -> RemoteSettings? {
    var file = try buildFileSettings(context)
    if let url = context.environment["KILN_REMOTE_CACHE"], !url.isEmpty {
      var settings = RemoteSettings(url: url, verifyKey: file?.verifyKey)
      settings.execute = file?.execute
      settings.executeJobs = file?.executeJobs
      file = settings
    }
    if let url = context.environment["KILN_REMOTE_EXECUTE"], !url.isEmpty {
      var settings = file ?? RemoteSettings(url: "")
      settings.execute = url
      file = settings
    }
    return file
  }

  /// The build file is parsed again only when it mentions `remote` (the graph cache
  /// spares kiln the parse otherwise); a null build never gets here.
  private static func buildFileSettings(_ context: Context) throws -> RemoteSettings? {
    guard let path = context.buildFilePath, Paths.fileName(path) != "build.ninja",
          let bytes = try? context.fileSystem.read(path), bytes.count >= 6,
          bytes.withUnsafeBytes({ NeedleScanner.search($0, for: Array("remote".utf8)) })
    else { return nil }
    let file = try BuildFileParser(displayPath: Paths.fileName(path)).parse(bytes: bytes)
    return file.remoteSettings
  }

  static func make(_ context: Context) throws -> NetworkRemoteCache? {
    guard var settings = try settings(context), !settings.url.isEmpty else { return nil }
    let env = context.environment
    func fail(_ what: String) -> CLIError { CLIError("kiln: \(what)") }
    let endpoint: RemoteEndpoint
    do { endpoint = try RemoteEndpoint(parsing: settings.url) } catch { throw fail("\(error)") }
    let (credentials, timeouts) = try connection(env)
    if let w = env["KILN_REMOTE_WRITE"], !w.isEmpty {
      guard w == "1" || w == "0" else { throw fail("KILN_REMOTE_WRITE: '\(w)' is not 1 or 0") }
      settings.write = w == "1"
    }
    var signing = EntrySigning()
    let buildFolder = context.buildFilePath.map(Paths.parent) ?? context.root
    if let key = env["KILN_REMOTE_VERIFY_KEY"].flatMap({ $0.isEmpty ? nil : $0 }) ?? settings.verifyKey {
      let path = key.hasPrefix("/") ? key : Paths.join(buildFolder, key)
      guard let pem = try? context.fileSystem.read(path) else { throw fail("remote verify key \(path): cannot be read") }
      do { signing.verifier = try EntrySignature.PublicKey(pem: pem) } catch { throw fail("remote verify key \(path): \(error)") }
    }
    if let key = env["KILN_REMOTE_SIGNING_KEY"], !key.isEmpty {
      guard let pem = try? context.fileSystem.read(key) else { throw fail("KILN_REMOTE_SIGNING_KEY \(key): cannot be read") }
      do { signing.signer = try EntrySignature.PrivateKey(pem: pem) } catch { throw fail("KILN_REMOTE_SIGNING_KEY \(key): \(error)") }
    }
    let client = RemoteClient(endpoint: endpoint, credentials: credentials, timeouts: timeouts)
    return NetworkRemoteCache(client: client, writes: settings.write, signing: signing, fileSystem: context.fileSystem)
  }

  private static func connection(_ env: [String: String]) throws -> (RemoteCredentials, RemoteTimeouts) {
    do {
      return (try RemoteCredentials.from(environment: env), try RemoteTimeouts.from(environment: env))
    } catch { throw CLIError("kiln: \(error)") }
  }

  /// The remote executor isolated tasks run on: `execute:` under `remote:`, or
  /// `KILN_REMOTE_EXECUTE` (wins); REAPI only. Its CAS is the same endpoint's, asked
  /// with the remote cache's time-outs; `Execute` waits for the worker up to
  /// `KILN_REMOTE_EXECUTE_TIMEOUT` seconds (default 600) without a byte.
  static func makeExecutor(_ context: Context) throws -> NetworkRemoteExecutor? {
    guard let settings = try settings(context), let url = settings.execute else { return nil }
    let env = context.environment
    func fail(_ what: String) -> CLIError { CLIError("kiln: \(what)") }
    let endpoint: RemoteEndpoint
    do { endpoint = try RemoteEndpoint(parsing: url) } catch { throw fail("remote execute: \(error)") }
    guard endpoint.kind == .grpc else { throw fail("remote execute: \(url) is not a grpc:// or grpcs:// URL (remote execution is REAPI's)") }
    var jobs = settings.executeJobs ?? RemoteSettings.defaultExecuteJobs
    if let text = env["KILN_REMOTE_EXECUTE_JOBS"], !text.isEmpty {
      guard let n = Int(text), n >= 1, n <= 1024 else { throw fail("KILN_REMOTE_EXECUTE_JOBS: '\(text)' is not a whole number from 1 to 1024") }
      jobs = n
    }
    let (credentials, timeouts) = try connection(env)
    var waiting = timeouts
    waiting.stall = .seconds(600)
    if let text = env["KILN_REMOTE_EXECUTE_TIMEOUT"], !text.isEmpty {
      guard let value = Double(text), value > 0, value <= 86_400 else {
        throw fail("KILN_REMOTE_EXECUTE_TIMEOUT: '\(text)' is not a number of seconds above 0 (at most 86400)")
      }
      waiting.stall = .milliseconds(Int((value * 1000).rounded(.up)))
    }
    waiting.total = max(waiting.total, waiting.stall + .seconds(60))
    let cas = NetworkRemoteCache(client: RemoteClient(endpoint: endpoint, credentials: credentials, timeouts: timeouts),
                                 writes: true, fileSystem: context.fileSystem)
    return NetworkRemoteExecutor(cas: cas, execution: RemoteClient(endpoint: endpoint, credentials: credentials, timeouts: waiting),
                                 jobs: jobs)
  }
}
