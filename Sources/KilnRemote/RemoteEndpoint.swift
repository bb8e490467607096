/// Where the remote cache is, and which protocol it speaks: the value of `remote:` in
/// kiln.yml or `KILN_REMOTE_CACHE`, checked once.
///
///     http(s)://host[:port][/prefix]     Bazel's HTTP cache protocol: /prefix/ac/<hex>, /prefix/cas/<hex>
///     grpc(s)://host[:port][/instance]   REAPI over gRPC (HTTP/2; grpc:// is h2c with prior knowledge)
///
/// TLS is required for every host that is not loopback (127.0.0.0/8, ::1, localhost):
/// credentials and cache entries never cross a network in the clear.
package struct RemoteEndpoint: Sendable, Hashable, CustomStringConvertible {
  /// The two protocols kiln speaks to a remote cache.
  package enum Kind: Sendable, Hashable {
    /// Bazel's HTTP cache protocol (`GET`/`HEAD`/`PUT` of `/ac/<hex>` and `/cas/<hex>`).
    case httpCache
    /// REAPI over gRPC.
    case grpc
  }

  /// The URL as it was given.
  package var url: String
  package var kind: Kind
  package var usesTLS: Bool
  /// The host as written, without the brackets of an IPv6 address.
  package var host: String
  package var port: Int
  /// The HTTP cache's path prefix: empty or starting with `/`, never ending with one.
  package var prefix: String
  /// REAPI's instance name (the gRPC URL's path without its slashes); empty for none.
  package var instanceName: String

  package var description: String { url }

  /// Whether `host` is this machine: 127.0.0.0/8, ::1 or localhost.
  package var isLoopback: Bool { Self.isLoopback(host) }

  /// Reads `url`; a typed error naming the URL and what is wrong with it.
  package init(parsing url: String) throws(RemoteConfigError) {
    self.url = url
    let parts = url.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
    guard parts.count == 2 else { throw .badURL(url, "it has no scheme (http://, https://, grpc:// or grpcs://)") }
    let scheme = parts[0].lowercased()
    switch scheme {
    case "http": (kind, usesTLS, port) = (.httpCache, false, 80)
    case "https": (kind, usesTLS, port) = (.httpCache, true, 443)
    case "grpc": (kind, usesTLS, port) = (.grpc, false, 80)
    case "grpcs": (kind, usesTLS, port) = (.grpc, true, 443)
    default: throw .badURL(url, "the scheme \(scheme) is none of http, https, grpc and grpcs")
    }
    let rest = parts[1]
    if rest.contains("?") || rest.contains("#") { throw .badURL(url, "a query or fragment has no meaning here") }
    let authority = rest.prefix { $0 != "/" }
    var path = String(rest.dropFirst(authority.count))
    if authority.contains("@") {
      throw .badURL(url, "credentials never go in the URL: use KILN_REMOTE_TOKEN, KILN_REMOTE_USER and KILN_REMOTE_PASSWORD")
    }
    var portText: Substring?
    if authority.hasPrefix("[") {
      guard let close = authority.firstIndex(of: "]") else { throw .badURL(url, "an IPv6 address without its closing ]") }
      host = String(authority[authority.index(after: authority.startIndex)..<close])
      let after = authority[authority.index(after: close)...]
      if !after.isEmpty {
        guard after.hasPrefix(":") else { throw .badURL(url, "text after the IPv6 address") }
        portText = after.dropFirst()
      }
    } else if let colon = authority.firstIndex(of: ":") {
      host = String(authority[..<colon])
      portText = authority[authority.index(after: colon)...]
    } else {
      host = String(authority)
    }
    if host.isEmpty { throw .badURL(url, "it names no host") }
    if let portText {
      guard let number = Int(portText), (1...65535).contains(number) else { throw .badURL(url, "the port \(portText) is not a number from 1 to 65535") }
      port = number
    }
    while path.hasSuffix("/") { path.removeLast() }
    switch kind {
    case .httpCache:
      prefix = path
      instanceName = ""
    case .grpc:
      prefix = ""
      instanceName = String(path.drop { $0 == "/" })
    }
    if !usesTLS, !Self.isLoopback(host) {
      throw .tlsRequired(url, kind == .grpc ? "grpcs://" : "https://")
    }
  }

  /// The URL libcurl fetches for `path` (which starts with `/`): the HTTP cache's
  /// prefix and `path`, or a gRPC method's path.
  package func requestURL(_ path: String) -> String {
    let scheme = usesTLS ? "https" : "http"
    let authority = host.contains(":") ? "[\(host)]" : host
    return "\(scheme)://\(authority):\(port)\(prefix)\(path)"
  }

  /// 127.0.0.0/8, ::1 and localhost; no name is looked up.
  package static func isLoopback(_ host: String) -> Bool {
    let lower = host.lowercased()
    if lower == "localhost" || lower.hasSuffix(".localhost") || lower == "::1" { return true }
    let parts = lower.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4, parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && UInt8($0) != nil }) else { return false }
    return parts[0] == "127"
  }
}
