#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// kiln's side of the remote cache's network: HTTP exchanges and gRPC calls with one
/// endpoint, performed by the helper executable kiln-remote (libcurl), which is started
/// at the first request of the process and not before (a null build never starts it).
///
/// Never required: every failure is a `RemoteError`, and the first one that says the
/// remote cannot be used (all but `.file`) puts the client down: every later request
/// fails at once with that same error, so the layer above warns once and builds
/// locally. Safe to call from any number of threads and tasks at once.
package final class RemoteClient: Sendable {
  package let endpoint: RemoteEndpoint
  private let credentials: RemoteCredentials
  private let timeouts: RemoteTimeouts
  private let helperPath: @Sendable () -> Result<String, RemoteError>

  private struct State: Sendable {
    var connection: HelperConnection?
    var down: RemoteError?
  }
  private let state = Mutex(State())

  /// A client of `endpoint`; `helper` is kiln-remote's path (nil: `RemoteHelper.locate`,
  /// looked up at the first request).
  package init(endpoint: RemoteEndpoint, credentials: RemoteCredentials = RemoteCredentials(),
               timeouts: RemoteTimeouts = RemoteTimeouts(), helper: String? = nil) {
    self.endpoint = endpoint
    self.credentials = credentials
    self.timeouts = timeouts
    if let helper {
      helperPath = { .success(helper) }
    } else {
      helperPath = { RemoteHelper.locate(environment: RemoteHelper.processEnvironment()) }
    }
  }

  /// A client nobody holds ends its helper (the helper's reader thread would keep it).
  deinit {
    let connection = state.withLock { $0.connection }
    connection?.end(.closed)
  }

  /// The error that put the client down, or nil while it is up.
  package var downError: RemoteError? { state.withLock { $0.down } }

  /// The helper's process id once it was started (and until the client is down), for
  /// tests and diagnostics.
  package var helperProcessID: pid_t? { state.withLock { $0.down == nil ? $0.connection?.pid : nil } }

  /// Puts the client down with `error` (the layer above's own reasons: an answer that
  /// fails verification, gRPC UNAVAILABLE); it is what later requests fail with.
  package func markDown(_ error: RemoteError) {
    let connection: HelperConnection? = state.withLock { state in
      if state.down == nil { state.down = error }
      return state.connection
    }
    connection?.end(error)
  }

  /// Starts the helper now, not at the first request, so that its start overlaps the
  /// caller's own work; nothing is sent. A helper that cannot start puts the client
  /// down, as at a first request.
  package func startHelper() { _ = try? connection() }

  /// Ends the helper; later requests fail with `RemoteError.closed`.
  package func shutdown() { markDown(.closed) }

  // MARK: HTTP

  /// One HTTP exchange under the endpoint's prefix: a 2xx or a 404 (a miss) comes back;
  /// any other status is `RemoteError.status`.
  package func perform(_ request: HTTPRequest) async throws(RemoteError) -> HTTPResponse {
    let url = endpoint.requestURL(request.path)
    var frame = HelperFrame(.request, id: 0)
    frame.add(.method, request.method.rawValue)
    frame.add(.url, url)
    for line in request.headers { frame.add(.header, line) }
    switch request.body {
    case .none: break
    case .bytes(let bytes): frame.add(.body, bytes)
    case .file(let path): frame.add(.bodyFile, path)
    }
    if let path = request.responseFile { frame.add(.responseFile, path) }
    frame.add(.responseLimit, UInt64(max(0, request.responseLimit)))
    frame.add(.httpVersion, [endpoint.usesTLS ? HelperFrame.HTTPVersion.http2OverTLS.rawValue : HelperFrame.HTTPVersion.http1.rawValue])
    let reply = try await exchange(frame, url: url)
    let response = HTTPResponse(status: Int(reply.number(.status) ?? 0), headers: reply.strings(.responseHeader),
                                body: reply.bytes(.responseBody) ?? [], bodyLength: Int64(reply.number(.bodyLength) ?? 0))
    guard response.isSuccess || response.isMiss else {
      throw failed(.status(url: url, code: response.status))
    }
    return response
  }

  // MARK: gRPC

  /// One gRPC call (unary, server- or client-streaming) on the endpoint; its grpc-status
  /// and messages come back, whatever the status. HTTP failures, a status other than
  /// 200, a body that is not gRPC messages or no grpc-status are `RemoteError`s.
  package func call(_ call: GRPCCall) async throws(RemoteError) -> GRPCResponse {
    let url = endpoint.requestURL(call.method)
    var frame = HelperFrame(.request, id: 0)
    frame.add(.method, "POST")
    frame.add(.url, url)
    frame.add(.header, "Content-Type: application/grpc")
    frame.add(.header, "TE: trailers")
    frame.add(.header, "grpc-accept-encoding: identity")
    frame.add(.body, GRPCCall.frame(call.messages))
    if let path = call.responseFile { frame.add(.responseFile, path) }
    frame.add(.responseLimit, UInt64(max(0, call.responseLimit)))
    frame.add(.httpVersion, [HelperFrame.HTTPVersion.http2Only.rawValue])
    let reply = try await exchange(frame, url: url)
    let status = Int(reply.number(.status) ?? 0)
    guard status == 200 else { throw failed(.status(url: url, code: status)) }
    // The status is in the trailers; a Trailers-Only answer (an error before any
    // message) has it in the headers.
    let trailers = reply.strings(.trailer), headers = reply.strings(.responseHeader)
    guard let code = HTTPResponse.value(of: "grpc-status", in: trailers) ?? HTTPResponse.value(of: "grpc-status", in: headers),
          let grpcStatus = Int(code) else {
      throw failed(.badResponse(url: url, detail: "no grpc-status"))
    }
    let text = HTTPResponse.value(of: "grpc-message", in: trailers) ?? HTTPResponse.value(of: "grpc-message", in: headers) ?? ""
    // A body in a file is read by the caller (`GRPCMessageReader`), which checks its framing.
    guard let messages = call.responseFile != nil ? [] : GRPCCall.messages(in: reply.bytes(.responseBody) ?? []) else {
      throw failed(.badResponse(url: url, detail: "a body that is not whole uncompressed gRPC messages"))
    }
    return GRPCResponse(status: grpcStatus, message: GRPCResponse.percentDecoded(text), messages: messages,
                        bodyLength: Int64(reply.number(.bodyLength) ?? 0))
  }

  // MARK: the helper

  /// Sends `frame` through the helper (started now if this is the first request) and
  /// returns its response frame; a failure frame or a helper failure is thrown.
  private func exchange(_ frame: HelperFrame, url: String) async throws(RemoteError) -> HelperFrame {
    let connection = try connection()
    let reply: HelperFrame
    switch await connection.exchange(frame) {
    case .success(let answer): reply = answer
    case .failure(let error):
      throw failed(error)
    }
    guard reply.kind == .failure else { return reply }
    let detail = reply.string(.failureMessage) ?? "no reason given"
    let error: RemoteError
    switch reply.bytes(.failureKind)?.first.flatMap(HelperFrame.FailureKind.init(rawValue:)) {
    case .connect: error = .connect(url: url, detail: detail)
    case .timedOut: error = .timedOut(url: url, detail: detail)
    case .tooLarge: error = .tooLarge(url: url, limit: Int64(frame.number(.responseLimit) ?? 0))
    case .file: error = .file(url: url, detail: detail)
    case .transfer, .badRequest, nil: error = .transfer(url: url, detail: detail)
    }
    throw failed(error)
  }

  /// The running helper, started at the first call; the down error once there is one.
  private func connection() throws(RemoteError) -> HelperConnection {
    let started: Result<HelperConnection, RemoteError> = state.withLock { state in
      if let down = state.down { return .failure(down) }
      if let connection = state.connection { return .success(connection) }
      do throws(RemoteError) {
        let path = try helperPath().get()
        let connection = try HelperConnection.start(path: path, configure: configureFrame(), patience: timeouts.helperDeadline)
        state.connection = connection
        return .success(connection)
      } catch {
        state.down = error
        return .failure(error)
      }
    }
    return try started.get()
  }

  /// Remembers `error` as the down state when it is one; returns what to throw (the
  /// first down error, so every caller sees the same).
  private func failed(_ error: RemoteError) -> RemoteError {
    guard error.putsClientDown else { return error }
    let connection: HelperConnection? = state.withLock { state in
      if state.down == nil { state.down = error }
      return state.connection
    }
    // The helper may be sound (a 500 is the server's), but the client is done with it.
    connection?.end(error)
    return error
  }

  /// Time-outs and credentials, for the helper's first frame.
  private func configureFrame() -> HelperFrame {
    var frame = HelperFrame(.configure, id: 0)
    frame.add(.connectMilliseconds, timeouts.connectMilliseconds)
    frame.add(.stallSeconds, timeouts.stallSeconds)
    frame.add(.totalMilliseconds, timeouts.totalMilliseconds)
    if let token = credentials.bearerToken { frame.add(.bearerToken, token) }
    if let user = credentials.user { frame.add(.user, user) }
    if let password = credentials.password { frame.add(.password, password) }
    if let path = credentials.clientCertificate { frame.add(.clientCertificate, path) }
    if let path = credentials.clientKey { frame.add(.clientKey, path) }
    if let path = credentials.certificateAuthority { frame.add(.certificateAuthority, path) }
    return frame
  }
}
