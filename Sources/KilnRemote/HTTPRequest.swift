/// One exchange of Bazel's HTTP cache protocol (or any plain HTTP one) with the
/// endpoint: `GET`/`HEAD`/`PUT` of a path under its prefix.
package struct HTTPRequest: Sendable, Equatable {
  package enum Method: String, Sendable {
    case get = "GET", head = "HEAD", put = "PUT"
  }

  /// Where a request body comes from.
  package enum Body: Sendable, Equatable {
    case none
    /// Small bodies (an action entry): copied through the helper's socket.
    case bytes([UInt8])
    /// Large ones (a blob): the helper reads the file itself.
    case file(String)
  }

  package var method: Method
  /// The path under the endpoint's prefix, starting with `/` (`/ac/<64 hex>`, `/cas/<64 hex>`).
  package var path: String
  package var body: Body
  /// Where a 2xx response body goes, instead of memory: a path that must not exist yet;
  /// the helper creates it (never through a link) and the caller verifies and renames
  /// it. When the request fails the helper removes what it wrote; only when the helper
  /// itself died may a partial file remain, so the caller removes its temporary path
  /// after any error.
  package var responseFile: String?
  /// The most body bytes accepted; more fails the request (`RemoteError.tooLarge`).
  package var responseLimit: Int64
  /// Extra header lines, `Name: value`.
  package var headers: [String]

  package init(_ method: Method, _ path: String, body: Body = .none, responseFile: String? = nil,
               responseLimit: Int64 = 64 << 20, headers: [String] = []) {
    self.method = method
    self.path = path
    self.body = body
    self.responseFile = responseFile
    self.responseLimit = responseLimit
    self.headers = headers
  }
}

/// The server's answer to an `HTTPRequest`: a 2xx, or 404 (a miss; the layer above
/// reads it as one). Any other status is a `RemoteError.status`.
package struct HTTPResponse: Sendable, Equatable {
  package var status: Int
  /// The response's header lines, `Name: value`, as sent.
  package var headers: [String]
  /// The body, when it was not written to the request's `responseFile`.
  package var body: [UInt8]
  /// How many body bytes came, in memory or in the file.
  package var bodyLength: Int64

  package init(status: Int, headers: [String] = [], body: [UInt8] = [], bodyLength: Int64 = 0) {
    self.status = status
    self.headers = headers
    self.body = body
    self.bodyLength = bodyLength
  }

  package var isMiss: Bool { status == 404 }
  package var isSuccess: Bool { (200..<300).contains(status) }

  /// The value of the first header `name` (any case), without surrounding spaces.
  package func header(_ name: String) -> String? { Self.value(of: name, in: headers) }

  static func value(of name: String, in lines: [String]) -> String? {
    let wanted = Array(name.utf8)
    for line in lines {
      // Compared byte by byte, ASCII letters without case: no lowercased copy of every
      // header line of every answer.
      let bytes = line.utf8
      guard bytes.count > wanted.count, bytes[bytes.index(bytes.startIndex, offsetBy: wanted.count)] == UInt8(ascii: ":"),
            zip(bytes, wanted).allSatisfy({ $0 | 0x20 == $1 | 0x20 && ($0 == $1 || Self.isLetter($0)) })
      else { continue }
      return String(line[line.utf8.index(bytes.startIndex, offsetBy: wanted.count + 1)...]).trimmingWhiteSpace
    }
    return nil
  }

  private static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }
}
