/// A remote cache setting kiln cannot use: what it is, and why, in one line. Found
/// before any request is made (the layer above turns it into `kiln: ...` and exit 2,
/// like any configuration error).
package enum RemoteConfigError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The URL cannot be read.
  case badURL(String, String)
  /// A plain http:// or grpc:// URL to a host that is not loopback.
  case tlsRequired(String, String)
  /// A setting of the environment with a value that does not work.
  case badSetting(String, String)
  /// A credential or certificate file that cannot be read.
  case unreadableFile(setting: String, path: String, reason: String)

  package var description: String {
    switch self {
    case .badURL(let url, let why): "remote cache \(url): \(why)"
    case .tlsRequired(let url, let scheme):
      "remote cache \(url): a host that is not loopback needs TLS (\(scheme)): credentials and cache entries never travel in the clear"
    case .badSetting(let name, let why): "\(name): \(why)"
    case .unreadableFile(let setting, let path, let reason): "\(setting): cannot read \(path): \(reason)"
    }
  }
}
