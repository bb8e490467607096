#if canImport(Glibc)
import Glibc
#endif

/// Who kiln is to the remote cache: taken only from the environment or files it names,
/// never from kiln.yml (a build file is shared; a secret in it would be too). The
/// helper gets them through its socket, never on its command line or in its
/// environment, where `ps` and /proc would show them.
///
///     KILN_REMOTE_TOKEN / KILN_REMOTE_TOKEN_FILE        Authorization: Bearer <token>
///     KILN_REMOTE_USER + KILN_REMOTE_PASSWORD / _FILE   basic auth
///     KILN_REMOTE_CLIENT_CERT, KILN_REMOTE_CLIENT_KEY   mTLS (PEM files)
///     KILN_REMOTE_CA                                    a CA trusted beside the system's
package struct RemoteCredentials: Sendable, Equatable {
  package var bearerToken: String?
  package var user: String?
  package var password: String?
  /// PEM files, by path: libcurl reads them in the helper.
  package var clientCertificate: String?
  package var clientKey: String?
  package var certificateAuthority: String?

  package init(bearerToken: String? = nil, user: String? = nil, password: String? = nil, clientCertificate: String? = nil,
               clientKey: String? = nil, certificateAuthority: String? = nil) {
    self.bearerToken = bearerToken
    self.user = user
    self.password = password
    self.clientCertificate = clientCertificate
    self.clientKey = clientKey
    self.certificateAuthority = certificateAuthority
  }

  /// The credentials `environment` names; files are read (token and password files,
  /// their surrounding white space dropped) or checked readable (PEM files) now, so a
  /// mistake is a configuration error before the build rather than a failed request.
  package static func from(environment: [String: String]) throws(RemoteConfigError) -> RemoteCredentials {
    func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
    var credentials = RemoteCredentials()
    credentials.bearerToken = try secret(value: "KILN_REMOTE_TOKEN", file: "KILN_REMOTE_TOKEN_FILE", environment)
    credentials.user = value("KILN_REMOTE_USER")
    credentials.password = try secret(value: "KILN_REMOTE_PASSWORD", file: "KILN_REMOTE_PASSWORD_FILE", environment)
    if credentials.user != nil, credentials.password == nil {
      throw .badSetting("KILN_REMOTE_USER", "basic auth needs KILN_REMOTE_PASSWORD or KILN_REMOTE_PASSWORD_FILE too")
    }
    if credentials.user == nil, credentials.password != nil {
      throw .badSetting("KILN_REMOTE_PASSWORD", "a password needs KILN_REMOTE_USER too")
    }
    if credentials.bearerToken != nil, credentials.user != nil {
      throw .badSetting("KILN_REMOTE_TOKEN", "set a bearer token or basic auth (KILN_REMOTE_USER), not both")
    }
    for (name, path) in [("KILN_REMOTE_CLIENT_CERT", value("KILN_REMOTE_CLIENT_CERT")),
                         ("KILN_REMOTE_CLIENT_KEY", value("KILN_REMOTE_CLIENT_KEY")), ("KILN_REMOTE_CA", value("KILN_REMOTE_CA"))] {
      if let path { _ = try read(path, setting: name) }
    }
    credentials.clientCertificate = value("KILN_REMOTE_CLIENT_CERT")
    credentials.clientKey = value("KILN_REMOTE_CLIENT_KEY")
    credentials.certificateAuthority = value("KILN_REMOTE_CA")
    if credentials.clientKey != nil, credentials.clientCertificate == nil {
      throw .badSetting("KILN_REMOTE_CLIENT_KEY", "a client key needs KILN_REMOTE_CLIENT_CERT too")
    }
    return credentials
  }

  /// The value of `value`, or the trimmed content of the file `file` names; one of them.
  private static func secret(value: String, file: String, _ environment: [String: String]) throws(RemoteConfigError) -> String? {
    let direct = environment[value].flatMap { $0.isEmpty ? nil : $0 }
    let path = environment[file].flatMap { $0.isEmpty ? nil : $0 }
    if direct != nil, path != nil { throw .badSetting(value, "set \(value) or \(file), not both") }
    guard let path else { return direct }
    let text = String(decoding: try read(path, setting: file), as: UTF8.self)
    let trimmed = text.trimmingWhiteSpace
    if trimmed.isEmpty { throw .badSetting(file, "\(path) is empty") }
    if trimmed.contains(where: { $0 == "\n" || $0 == "\r" }) { throw .badSetting(file, "\(path) holds more than one line") }
    return trimmed
  }

  /// A small file's bytes (a secret or a PEM file: at most 1 MiB).
  private static func read(_ path: String, setting: String) throws(RemoteConfigError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .unreadableFile(setting: setting, path: path, reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 << 10)
    while bytes.count <= 1 << 20 {
      let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if n == 0 { return bytes }
      if n < 0 {
        if errno == EINTR { continue }
        throw .unreadableFile(setting: setting, path: path, reason: String(cString: strerror(errno)))
      }
      bytes += chunk[0..<n]
    }
    throw .unreadableFile(setting: setting, path: path, reason: "larger than 1 MiB")
  }
}

extension String {
  /// Without leading and trailing spaces, tabs and line ends.
  var trimmingWhiteSpace: String {
    let white: Set<Character> = [" ", "\t", "\n", "\r", "\r\n"]
    return String(drop { white.contains($0) }.reversed().drop { white.contains($0) }.reversed())
  }
}
