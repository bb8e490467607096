/// Why a request to the remote cache got no usable answer. Every one but `file` puts
/// the client "down": later requests fail at once with the same error, and the layer
/// above warns once and builds locally.
package enum RemoteError: Error, Sendable, Equatable, CustomStringConvertible {
  /// No kiln-remote was found; the places looked at.
  case helperMissing([String])
  /// kiln-remote could not be started.
  case helperNotStarted(path: String, reason: String)
  /// kiln-remote ended (crashed, was killed, closed its socket) with requests in flight.
  case helperExited(path: String, how: String)
  /// kiln-remote sent bytes that are not frames.
  case helperGarbage(path: String, detail: String)
  /// kiln-remote did not answer within its own limits, and was killed.
  case helperUnresponsive(path: String)
  /// The server could not be reached (refused, unknown host, connect time-out).
  case connect(url: String, detail: String)
  /// The server stopped sending (stall time-out) or the request took too long in all.
  case timedOut(url: String, detail: String)
  /// The exchange broke: reset, truncated body, not HTTP, TLS failure, ...
  case transfer(url: String, detail: String)
  /// The server's answer is HTTP but not one the protocol allows (a bad gRPC body, no
  /// grpc-status).
  case badResponse(url: String, detail: String)
  /// An HTTP status other than 2xx and 404 (404 is a miss, not an error).
  case status(url: String, code: Int)
  /// The body is larger than the request's limit.
  case tooLarge(url: String, limit: Int64)
  /// The request's body file or response file could not be used (a local problem of
  /// this request: the client stays up).
  case file(url: String, detail: String)
  /// The client was shut down.
  case closed

  package var description: String {
    switch self {
    case .helperMissing(let looked): "remote cache: kiln-remote (kiln's network helper) is missing: looked for \(looked.joined(separator: ", "))"
    case .helperNotStarted(let path, let reason): "remote cache: cannot start \(path): \(reason)"
    case .helperExited(let path, let how): "remote cache: \(path) ended (\(how))"
    case .helperGarbage(let path, let detail): "remote cache: \(path) sent \(detail)"
    case .helperUnresponsive(let path): "remote cache: \(path) stopped answering and was killed"
    case .connect(let url, let detail): "remote cache: cannot connect to \(url): \(detail)"
    case .timedOut(let url, let detail): "remote cache: \(url) timed out: \(detail)"
    case .transfer(let url, let detail): "remote cache: \(url): \(detail)"
    case .badResponse(let url, let detail): "remote cache: \(url) answered \(detail)"
    case .status(let url, let code): "remote cache: \(url) answered HTTP status \(code)"
    case .tooLarge(let url, let limit): "remote cache: \(url) sent more than \(limit) bytes"
    case .file(let url, let detail): "remote cache: \(url): \(detail)"
    case .closed: "remote cache: the client was shut down"
    }
  }

  /// Whether the error says the remote (or the helper) cannot be used any more.
  package var putsClientDown: Bool {
    switch self {
    // A local file, or a body longer than the caller allowed (a blob longer than its
    // digest says): that answer is wrong, the server and the helper are not.
    case .file, .tooLarge: return false
    default: return true
    }
  }
}
