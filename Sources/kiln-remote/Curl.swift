#if canImport(Glibc)
import Glibc
#endif
import CCurl
import KilnRemote

/// The only Swift that touches libcurl (STYLE §8): a multi handle that runs many
/// transfers at once on one thread, and one transfer per request frame. No libcurl type
/// leaves this file.
enum Curl {
  /// Once per process, before any other call (libcurl's rule).
  static func initialise() -> Bool { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }

  /// libcurl's version is below 8.0.0 (see `Transfer.configure`).
  static let priorKnowledgeReuseIsBroken: Bool = {
    // CURLVERSION_NOW is a macro Swift does not import; in 7.88 it is the eleventh.
    guard let info = curl_version_info(CURLVERSION_ELEVENTH) else { return true }
    return info.pointee.version_num < 0x08_00_00
  }()

  /// What every transfer of this helper shares: the configure frame's settings.
  struct Settings {
    var connectMilliseconds = 2_000
    var stallSeconds = 5
    var totalMilliseconds = 120_000
    var bearerToken: String?
    var user: String?
    var password: String?
    var clientCertificate: String?
    var clientKey: String?
    var certificateAuthority: String?

    init() {}

    init(_ frame: HelperFrame) {
      if let n = frame.number(.connectMilliseconds) { connectMilliseconds = Int(clamping: n) }
      if let n = frame.number(.stallSeconds) { stallSeconds = Int(clamping: max(n, 1)) }
      if let n = frame.number(.totalMilliseconds) { totalMilliseconds = Int(clamping: n) }
      bearerToken = frame.string(.bearerToken)
      user = frame.string(.user)
      password = frame.string(.password)
      clientCertificate = frame.string(.clientCertificate)
      clientKey = frame.string(.clientKey)
      certificateAuthority = frame.string(.certificateAuthority)
    }
  }

  /// Many transfers on one thread: HTTP/2 streams share a connection, HTTP/1.1 ones
  /// keep theirs alive for the next request.
  ///
  /// h2c with prior knowledge (`grpc://`) on libcurl before 8.0: a transfer asking for
  /// prior knowledge breaks a connection it reuses ("Error in the HTTP2 framing layer",
  /// curl issue 10634), and streams multiplexed on one connection lost their trailers
  /// and the end of their bodies here (about one build in two of the bench's 419
  /// restores from buildbox-casd had one). A transfer asking for HTTP/2 plainly
  /// (`CURL_HTTP_VERSION_2_0`) reuses an idle h2c connection soundly; with none there,
  /// it opens HTTP/1.1 with an Upgrade that a gRPC server refuses. So there, streams are
  /// not multiplexed, and a call opens a connection of its own with prior knowledge
  /// (`H2C.opens`) unless one it believes idle is there (`H2C.reuses`): each server's
  /// connections are counted (`H2CConnections`). A reusing call that found none (the
  /// server or libcurl closed it) and got no HTTP/2 answer is made again on a new one.
  final class Multi {
    private let handle: UnsafeMutableRawPointer
    /// Each running transfer, by its easy handle.
    private var running: [UnsafeMutableRawPointer: Transfer] = [:]
    /// Whether a transfer is under way.
    var isBusy: Bool { !running.isEmpty }
    /// Per server (scheme, host and port): its h2c connections and the calls on them.
    private var h2c: [Substring: H2CConnections] = [:]

    /// A server's h2c connections opened with prior knowledge and not known to be
    /// closed, and the calls running on them (one each): the difference is idle.
    struct H2CConnections {
      var open = 0
      var busy = 0
    }

    init?() {
      guard let multi = curl_multi_init() else { return nil }
      handle = multi
      _ = kiln_curl_multi_set_long(multi, CURLMOPT_PIPELINING, Curl.priorKnowledgeReuseIsBroken ? CURLPIPE_NOTHING : CURLPIPE_MULTIPLEX)
      // Idle connections are kept for the next calls (libcurl's default keeps four per
      // transfer running, and closed them between bursts).
      _ = kiln_curl_multi_set_long(multi, CURLMOPT_MAXCONNECTS, 64)
    }

    var isIdle: Bool { running.isEmpty }

    /// A transfer for `frame` (see `Transfer.make`), on an idle h2c connection when it
    /// is an h2c call and there is one, else opening its own.
    func make(_ frame: HelperFrame, _ settings: Settings, probing lostAnswer: HelperFrame? = nil) -> Transfer.Start {
      var role = H2C.none
      if let server = H2C.server(of: frame) {
        let known = h2c[server, default: H2CConnections()]
        role = known.busy < known.open ? .reuses : .opens
      }
      return Transfer.make(frame, settings, probing: lostAnswer, h2c: role)
    }

    /// Starts `transfer`; false when libcurl refuses it.
    func add(_ transfer: Transfer) -> Bool {
      guard curl_multi_add_handle(handle, transfer.easy) == CURLM_OK else { return false }
      running[transfer.easy] = transfer
      if transfer.h2c != .none, let server = H2C.server(of: transfer.request) {
        h2c[server, default: H2CConnections()].busy += 1
        if transfer.h2c == .opens { h2c[server, default: H2CConnections()].open += 1 }
      }
      return true
    }

    /// Counts `transfer`'s end on its h2c connection: a failed call's connection is
    /// taken as closed, and so is the one a reusing call did not find. True when the
    /// call is to be made again on a new connection (`Transfer.foundNoH2CConnection`).
    private func ended(_ transfer: Transfer, _ result: CURLcode) -> Bool {
      guard transfer.h2c != .none, let server = H2C.server(of: transfer.request) else { return false }
      h2c[server, default: H2CConnections()].busy -= 1
      if result != CURLE_OK || transfer.foundNoH2CConnection(result) {
        h2c[server, default: H2CConnections()].open = max(0, h2c[server, default: H2CConnections()].open - 1)
      }
      return transfer.foundNoH2CConnection(result)
    }

    /// Moves every transfer along as far as it can go without waiting; the ones that
    /// ended, with their answer frames.
    func perform() -> [HelperFrame] {
      var stillRunning: Int32 = 0
      _ = curl_multi_perform(handle, &stillRunning)
      var done: [HelperFrame] = []
      var left: Int32 = 0
      while let message = curl_multi_info_read(handle, &left) {
        guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
              let transfer = running.removeValue(forKey: easy) else { continue }
        let result = message.pointee.data.result
        _ = curl_multi_remove_handle(handle, easy)
        if ended(transfer, result) {
          // Made again on a new connection (nothing reached the server as gRPC).
          switch make(transfer.request, transfer.settings, probing: transfer.lostAnswer) {
          case .run(let again) where add(again): continue
          case .answer(let answer): done.append(answer); continue
          default: break
          }
        }
        if transfer.isEarlyAnswerLost(result) {
          // Asked again without the body (see `isEarlyAnswerLost`).
          let lost = transfer.finish(result)
          switch make(transfer.request, transfer.settings, probing: lost) {
          case .run(let probe) where add(probe): continue
          default: done.append(lost)
          }
          continue
        }
        done.append(transfer.finish(result))
      }
      return done
    }

    /// Waits until a transfer's socket or `descriptor` may be ready, or `milliseconds`.
    func wait(alsoFor descriptor: Int32, milliseconds: Int32) {
      var extra = curl_waitfd(fd: descriptor, events: Int16(CURL_WAIT_POLLIN), revents: 0)
      _ = curl_multi_poll(handle, &extra, 1, milliseconds, nil)
    }
  }

  /// How a `grpc://` call (h2c with prior knowledge) meets libcurl before 8.0 (`Multi`):
  /// on a connection it opens, or reusing an idle one another call opened; `none` for
  /// every other request, and for any request on libcurl 8.
  enum H2C {
    case none, opens, reuses

    /// The server (scheme, host and port) of an h2c call with prior knowledge on a
    /// libcurl before 8.0; nil for any other request.
    static func server(of frame: HelperFrame) -> Substring? {
      guard Curl.priorKnowledgeReuseIsBroken, frame.bytes(.httpVersion)?.first == HelperFrame.HTTPVersion.http2Only.rawValue,
            let url = frame.string(.url), url.hasPrefix("http://")
      else { return nil }
      let rest = url.dropFirst("http://".count)
      return url[..<(rest.firstIndex(of: "/") ?? url.endIndex)]
    }
  }

  /// One request frame's exchange: its easy handle, and where its body comes from and
  /// goes to. Answers with exactly one response or failure frame.
  final class Transfer {
    let id: UInt32
    let request: HelperFrame
    let settings: Settings
    /// For a probe (the request again, without its body): the failure the first try
    /// ended with, which stands unless the probe gets a gRPC error status.
    fileprivate let lostAnswer: HelperFrame?
    /// Whether it opens or reuses an h2c connection (`Multi`).
    fileprivate let h2c: H2C
    fileprivate let easy: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    /// libcurl's words for a failure; it keeps the pointer, so the memory is not an
    /// array's (whose storage Swift may move).
    private let errorBuffer: UnsafeMutablePointer<CChar> = {
      let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
      buffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
      return buffer
    }()
    /// The request body, sent by the read callback (PUT) or copied by libcurl (POST).
    private var requestBody: [UInt8] = []
    private var requestOffset = 0
    private var requestFile: Int32 = -1
    private let responsePath: String?
    private var responseFile: Int32 = -1
    /// This transfer made the response file (and so may remove it on failure).
    private var createdResponseFile = false
    private let limit: UInt64
    private var headers: [String] = []
    private var trailers: [String] = []
    /// The header block of the final response ended: what the header callback gives
    /// after that are HTTP/2 trailers.
    private var headerBlockDone = false
    private var body: [UInt8] = []
    private var bodyLength: UInt64 = 0
    private var overLimit = false
    private var stallMilliseconds: UInt64 = 5_000
    /// Bytes moved either way so far, and when that count last changed.
    private var moved: UInt64 = 0
    private var lastMovement: UInt64 = 0
    private var stalled = false
    private var fileProblem: String?

    /// What a request frame becomes: a transfer to run, or the answer it gets at once.
    enum Start {
      case run(Transfer)
      case answer(HelperFrame)
    }

    /// A transfer for `frame`, or the failure frame that answers it at once.
    fileprivate static func make(_ frame: HelperFrame, _ settings: Settings, probing lostAnswer: HelperFrame?, h2c: H2C) -> Start {
      guard let url = frame.string(.url), let method = frame.string(.method) else {
        return .answer(Self.failure(frame.id, .badRequest, "a request without a method or URL"))
      }
      guard let easy = curl_easy_init() else { return .answer(Self.failure(frame.id, .badRequest, "curl_easy_init failed")) }
      let transfer = Transfer(frame, easy, settings, lostAnswer, h2c)
      if let problem = transfer.configure(frame, url: url, method: method, settings) {
        return .answer(problem)
      }
      return .run(transfer)
    }

    private init(_ frame: HelperFrame, _ easy: UnsafeMutableRawPointer, _ settings: Settings, _ lostAnswer: HelperFrame?,
                 _ h2c: H2C) {
      id = frame.id
      request = frame
      self.settings = settings
      self.lostAnswer = lostAnswer
      self.h2c = h2c
      self.easy = easy
      responsePath = frame.string(.responseFile)
      limit = frame.number(.responseLimit) ?? UInt64(HelperFrame.maximumLength - (1 << 20))
    }

    deinit {
      curl_easy_cleanup(easy)
      curl_slist_free_all(headerList)
      errorBuffer.deallocate()
      if requestFile >= 0 { close(requestFile) }
      if responseFile >= 0 { close(responseFile) }
    }

    private var context: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    /// Sets every option; a failure frame when the request cannot be made.
    private func configure(_ frame: HelperFrame, url: String, method: String, _ settings: Settings) -> HelperFrame? {
      var ok = true
      func set(_ option: CURLoption, _ value: Int) { ok = ok && kiln_curl_set_long(easy, option, value) == CURLE_OK }
      func set(_ option: CURLoption, _ value: String) { ok = ok && kiln_curl_set_string(easy, option, value) == CURLE_OK }
      set(CURLOPT_URL, url)
      // Only the web: a URL can never make libcurl read a local file or speak another protocol.
      set(CURLOPT_PROTOCOLS_STR, "http,https")
      set(CURLOPT_NOSIGNAL, 1)
      set(CURLOPT_CONNECTTIMEOUT_MS, settings.connectMilliseconds)
      // "No byte for stallSeconds", checked on libcurl's progress calls. Not its
      // LOW_SPEED options: they average over a window of about five seconds, so ten
      // bytes and then silence took seven seconds to notice with a limit of one.
      stallMilliseconds = UInt64(settings.stallSeconds) * 1000
      lastMovement = Self.milliseconds()
      set(CURLOPT_NOPROGRESS, 0)
      ok = ok && kiln_curl_set_progress(easy, { context, _, down, _, up in
        let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
        return transfer.progressed(UInt64(down) + UInt64(up)) ? 0 : 1
      }) == CURLE_OK
      ok = ok && kiln_curl_set_pointer(easy, CURLOPT_XFERINFODATA, context) == CURLE_OK
      set(CURLOPT_TIMEOUT_MS, settings.totalMilliseconds)
      set(CURLOPT_PIPEWAIT, 1)
      set(CURLOPT_TCP_NODELAY, 1)
      switch HelperFrame.HTTPVersion(rawValue: frame.bytes(.httpVersion)?.first ?? 0) ?? .http1 {
      case .http1: set(CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1)
      case .http2OverTLS: set(CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS)
      case .http2Only:
        let tls = url.hasPrefix("https:")
        set(CURLOPT_HTTP_VERSION, tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE)
        // libcurl before 8.0 (Debian 12 has 7.88.1): see `Multi`. grpcs:// (ALPN) and
        // libcurl 8 reuse and multiplex as they are.
        switch h2c {
        case .none: break
        case .opens: set(CURLOPT_FRESH_CONNECT, 1)
        case .reuses: set(CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_0)
        }
      }
      ok = ok && kiln_curl_set_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer) == CURLE_OK
      ok = ok && kiln_curl_set_pointer(easy, CURLOPT_PRIVATE, context) == CURLE_OK
      ok = ok && kiln_curl_set_write(easy, { bytes, size, count, context in
        let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
        return transfer.received(UnsafeRawBufferPointer(start: bytes, count: size * count)) ? size * count : 0
      }) == CURLE_OK
      ok = ok && kiln_curl_set_pointer(easy, CURLOPT_WRITEDATA, context) == CURLE_OK
      ok = ok && kiln_curl_set_header(easy, { bytes, size, count, context in
        let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
        transfer.receivedHeader(UnsafeRawBufferPointer(start: bytes, count: size * count))
        return size * count
      }) == CURLE_OK
      ok = ok && kiln_curl_set_pointer(easy, CURLOPT_HEADERDATA, context) == CURLE_OK

      // Credentials: a bearer token as a header, basic auth through libcurl, mTLS and an
      // extra CA beside the system's (OpenSSL reads CAINFO and CAPATH both).
      var lines = frame.strings(.header)
      // libcurl waits up to a second for "100 Continue" before a large HTTP/1.1 body.
      lines.append("Expect:")
      if let token = settings.bearerToken { lines.append("Authorization: Bearer \(token)") }
      if let user = settings.user {
        set(CURLOPT_USERNAME, user)
        set(CURLOPT_PASSWORD, settings.password ?? "")
        set(CURLOPT_HTTPAUTH, 1)  // CURLAUTH_BASIC
      }
      if let path = settings.clientCertificate { set(CURLOPT_SSLCERT, path) }
      if let path = settings.clientKey { set(CURLOPT_SSLKEY, path) }
      if let path = settings.certificateAuthority {
        set(CURLOPT_CAINFO, path)
        set(CURLOPT_CAPATH, "/etc/ssl/certs")
      }
      for line in lines { headerList = curl_slist_append(headerList, line) }
      ok = ok && kiln_curl_set_list(easy, CURLOPT_HTTPHEADER, headerList) == CURLE_OK

      if let problem = prepareBody(frame, method: method, set: { set($0, $1) }) { return problem }
      return ok ? nil : Self.failure(id, .badRequest, "libcurl refused an option for \(url)")
    }

    /// The method, and the request body from memory or from a file.
    private func prepareBody(_ frame: HelperFrame, method: String, set: (CURLoption, Int) -> Void) -> HelperFrame? {
      var size = 0
      if let path = frame.string(.bodyFile) {
        requestFile = open(path, O_RDONLY | O_CLOEXEC)
        var st = stat()
        guard requestFile >= 0, fstat(requestFile, &st) == 0 else {
          return Self.failure(id, .file, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        size = Int(st.st_size)
      } else {
        requestBody = lostAnswer == nil ? frame.bytes(.body) ?? [] : []
        size = requestBody.count
      }
      let sending = method == "PUT" || method == "POST"
      if sending {
        _ = kiln_curl_set_read(easy, { bytes, size, count, context in
          let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
          return transfer.send(UnsafeMutableRawBufferPointer(start: bytes, count: size * count))
        })
        _ = kiln_curl_set_pointer(easy, CURLOPT_READDATA, context)
      }
      switch method {
      case "GET": break
      case "HEAD": set(CURLOPT_NOBODY, 1)
      case "PUT":
        set(CURLOPT_UPLOAD, 1)
        _ = kiln_curl_set_offset(easy, CURLOPT_INFILESIZE_LARGE, curl_off_t(size))
      case "POST":
        set(CURLOPT_POST, 1)
        _ = kiln_curl_set_offset(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(size))
        // An in-memory body goes out with the headers (libcurl's own copy). Through the
        // read callback it followed them, and a gRPC server that answers before reading
        // (Trailers-Only, or a whole stream) resets the stream: libcurl called the
        // answer an HTTP/2 framing error.
        if requestFile < 0 {
          requestBody.withUnsafeMutableBytes { _ = kiln_curl_set_pointer(easy, CURLOPT_COPYPOSTFIELDS, $0.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 1)) }
        }
      default:
        return Self.failure(id, .badRequest, "the method \(method) is not one the helper performs")
      }
      return nil
    }

    /// Request body bytes for libcurl: from memory or the file.
    private func send(_ into: UnsafeMutableRawBufferPointer) -> Int {
      if requestFile >= 0 {
        while true {
          let n = read(requestFile, into.baseAddress, into.count)
          if n >= 0 { return n }
          if errno != EINTR {
            fileProblem = "cannot read the request body: \(String(cString: strerror(errno)))"
            return Int(CURL_READFUNC_ABORT)
          }
        }
      }
      let n = min(into.count, requestBody.count - requestOffset)
      if n > 0 {
        requestBody.withUnsafeBytes { into.baseAddress!.copyMemory(from: $0.baseAddress! + requestOffset, byteCount: n) }
      }
      requestOffset += n
      return n
    }

    private var status: Int { kiln_curl_response_code(easy) }

    /// False (stop) when no byte moved for the stall time.
    private func progressed(_ total: UInt64) -> Bool {
      let now = Self.milliseconds()
      if total != moved {
        moved = total
        lastMovement = now
        return true
      }
      if now - lastMovement >= stallMilliseconds {
        stalled = true
        return false
      }
      return true
    }

    private static func milliseconds() -> UInt64 {
      var now = timespec()
      clock_gettime(CLOCK_MONOTONIC, &now)
      return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
    }

    /// Body bytes: into the response file when the status is 2xx and one was named, else
    /// into memory. False stops the transfer (over the limit, or the file failed).
    private func received(_ bytes: UnsafeRawBufferPointer) -> Bool {
      bodyLength += UInt64(bytes.count)
      if bodyLength > limit {
        overLimit = true
        return false
      }
      guard let path = responsePath, (200..<300).contains(status) else {
        body.append(contentsOf: bytes)
        return true
      }
      if responseFile < 0, !openResponseFile(path) { return false }
      var at = 0
      while at < bytes.count {
        let n = write(responseFile, bytes.baseAddress! + at, bytes.count - at)
        if n < 0 {
          if errno == EINTR { continue }
          fileProblem = "cannot write \(path): \(String(cString: strerror(errno)))"
          return false
        }
        at += n
      }
      return true
    }

    /// Creates the response file: new, never through a link (kiln names a fresh
    /// temporary path and renames it after verifying the bytes).
    private func openResponseFile(_ path: String) -> Bool {
      responseFile = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
      if responseFile < 0 { fileProblem = "cannot create \(path): \(String(cString: strerror(errno)))" }
      createdResponseFile = responseFile >= 0
      return responseFile >= 0
    }

    /// A status line starts a header block (a 100 Continue comes before the real one);
    /// an empty line ends it; lines after the final block's end are trailers.
    private func receivedHeader(_ bytes: UnsafeRawBufferPointer) {
      var line = String(decoding: bytes, as: UTF8.self)
      while line.hasSuffix("\n") || line.hasSuffix("\r") { line.removeLast() }
      if line.hasPrefix("HTTP/") {
        headers = []
        trailers = []
        headerBlockDone = false
      } else if line.isEmpty {
        headerBlockDone = true
      } else if headerBlockDone {
        trailers.append(line)
      } else {
        headers.append(line)
      }
    }

    /// A gRPC server that decides from the headers alone (an unknown method, a refused
    /// token) answers at once (Trailers-Only) and resets the stream with NO_ERROR. When
    /// that comes before libcurl finished sending the request body, libcurl 7.88 drops
    /// the answer and reports an HTTP/2 stream error with no header received: about a
    /// third of such calls to buildbox-casd with the curl tool, nearly all of them here.
    /// Such a call is asked once more without a body (so nothing is left to send and
    /// the answer arrives whole): a server that answered from the headers answers the
    /// same. Only a gRPC error status from that probe is taken; anything else (an OK
    /// to an empty call proves nothing) leaves the first failure standing. Only HTTP/2
    /// POSTs with the body in memory and no response file (gRPC calls) are probed.
    fileprivate func isEarlyAnswerLost(_ result: CURLcode) -> Bool {
      lostAnswer == nil && result == CURLE_HTTP2_STREAM && headers.isEmpty && trailers.isEmpty && bodyLength == 0
        && responsePath == nil && requestFile < 0 && request.string(.method) == "POST"
        && request.bytes(.httpVersion)?.first == HelperFrame.HTTPVersion.http2Only.rawValue
    }

    /// It made a connection of its own rather than reusing one.
    fileprivate var madeOwnConnection: Bool { kiln_curl_num_connects(easy) > 0 }

    /// A reusing transfer that found no idle h2c connection: it made one of its own,
    /// over HTTP/1.1 with an Upgrade, and got no HTTP/2 answer (a gRPC server takes
    /// none: libcurl reads its first frame as HTTP/0.9).
    fileprivate func foundNoH2CConnection(_ result: CURLcode) -> Bool {
      h2c == .reuses && madeOwnConnection && (result != CURLE_OK || kiln_curl_http_version(easy) != CURL_HTTP_VERSION_2_0)
    }

    /// The answer frame, once libcurl says the transfer ended with `result`.
    fileprivate func finish(_ result: CURLcode) -> HelperFrame {
      if responseFile >= 0 {
        close(responseFile)
        responseFile = -1
      }
      var failure = failureFrame(result)
      if let lostAnswer, failure != nil || !hasGRPCErrorStatus { failure = lostAnswer }
      if let path = responsePath {
        if failure != nil {
          if createdResponseFile { unlink(path) }
        } else if (200..<300).contains(status), access(path, F_OK) != 0, !openResponseFile(path) {
          // An empty 2xx body still makes the file the caller expects.
          return Self.failure(id, .file, fileProblem ?? "cannot create \(path)")
        }
      }
      if let failure { return failure }
      var frame = HelperFrame(.response, id: id)
      frame.add(.status, UInt64(status))
      for line in headers { frame.add(.responseHeader, line) }
      for line in trailers { frame.add(.trailer, line) }
      frame.add(.bodyLength, bodyLength)
      if !body.isEmpty { frame.add(.responseBody, body) }
      if responseFile >= 0 { close(responseFile) }
      return frame
    }

    private func failureFrame(_ result: CURLcode) -> HelperFrame? {
      if overLimit { return Self.failure(id, .tooLarge, "the response body is larger than \(limit) bytes") }
      if let fileProblem { return Self.failure(id, .file, fileProblem) }
      if stalled { return Self.failure(id, .timedOut, "no byte for \(stallMilliseconds / 1000) s") }
      guard result != CURLE_OK else { return nil }
      // A gRPC server that has sent its status (in the trailers, or in the headers of a
      // Trailers-Only answer) has ended the stream; resetting it while libcurl still
      // sends the request body (an error answer before reading it all) is not a failure
      // of the answer. libcurl 7.88 calls it an HTTP/2 stream error.
      if result == CURLE_HTTP2_STREAM || result == CURLE_HTTP2, hasGRPCStatus { return nil }
      let detail = String(cString: errorBuffer)
      let message = detail.isEmpty ? String(cString: curl_easy_strerror(result)) : detail
      let kind: HelperFrame.FailureKind
      switch result {
      case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .connect
      case CURLE_OPERATION_TIMEDOUT: kind = .timedOut
      default: kind = .transfer
      }
      return Self.failure(id, kind, message)
    }

    /// A grpc-status other than 0 in the trailers or headers.
    private var hasGRPCErrorStatus: Bool {
      (trailers + headers).contains { line in
        let lower = line.lowercased()
        return lower.hasPrefix("grpc-status:") && lower.dropFirst(12).drop { $0 == " " } != "0"
      }
    }

    private var hasGRPCStatus: Bool {
      (trailers + headers).contains { $0.lowercased().hasPrefix("grpc-status:") }
    }

    static func failure(_ id: UInt32, _ kind: HelperFrame.FailureKind, _ message: String) -> HelperFrame {
      var frame = HelperFrame(.failure, id: id)
      frame.add(.failureKind, [kind.rawValue])
      frame.add(.failureMessage, message)
      return frame
    }
  }
}
