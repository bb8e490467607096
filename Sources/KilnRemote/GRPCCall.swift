/// One gRPC call over HTTP/2: unary (one request message, one answer), server-streaming
/// (ByteStream Read: one request, several answers) or client-streaming (ByteStream
/// Write: several requests, one answer). Messages are protobuf bytes the caller encoded;
/// the transport only frames them.
///
/// The wire form (gRPC over HTTP/2): a `POST` of `method` with `content-type:
/// application/grpc` and `te: trailers`; each message in either body is prefixed by 5
/// bytes, a compression flag (always 0 here: kiln asks for no compression) and the
/// length as a big-endian u32. The status comes in the trailers (`grpc-status`,
/// `grpc-message` percent-encoded), or in the headers of a Trailers-Only answer.
package struct GRPCCall: Sendable, Equatable {
  /// The full method path, `/package.Service/Method`.
  package var method: String
  /// The request messages, encoded.
  package var messages: [[UInt8]]
  /// The most response body bytes accepted (framing included).
  package var responseLimit: Int64
  /// Where the response body goes instead of memory (a ByteStream Read of a large
  /// blob): a new path the helper creates; read it with `GRPCMessageReader`. The
  /// response's `messages` are then empty.
  package var responseFile: String?

  package init(_ method: String, messages: [[UInt8]], responseLimit: Int64 = 64 << 20, responseFile: String? = nil) {
    self.method = method
    self.messages = messages
    self.responseLimit = responseLimit
    self.responseFile = responseFile
  }

  /// The request body: each message with its 5-byte prefix.
  package static func frame(_ messages: [[UInt8]]) -> [UInt8] {
    var body: [UInt8] = []
    body.reserveCapacity(messages.reduce(0) { $0 + 5 + $1.count })
    for message in messages {
      let n = UInt32(message.count)
      body += [0, UInt8(n >> 24), UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)]
      body += message
    }
    return body
  }

  /// The messages of a response body; nil when it is not whole, prefixed messages
  /// (cut short, or compressed though kiln asked for none).
  package static func messages(in body: [UInt8]) -> [[UInt8]]? {
    var messages: [[UInt8]] = []
    var at = 0
    while at < body.count {
      guard body.count - at >= 5, body[at] == 0 else { return nil }
      let n = Int(body[at + 1]) << 24 | Int(body[at + 2]) << 16 | Int(body[at + 3]) << 8 | Int(body[at + 4])
      at += 5
      guard n <= body.count - at else { return nil }
      messages.append(Array(body[at..<at + n]))
      at += n
    }
    return messages
  }
}

/// How a gRPC call ended. A non-zero `status` is an answer, not a transport failure
/// (NOT_FOUND from GetActionResult is a miss); the layer above decides what each means.
package struct GRPCResponse: Sendable, Equatable {
  /// grpc-status: 0 OK, 5 NOT_FOUND, 12 UNIMPLEMENTED, 14 UNAVAILABLE, ...
  package var status: Int
  /// grpc-message, decoded; empty when there was none.
  package var message: String
  /// The response messages, encoded, in order (none when they went to a file).
  package var messages: [[UInt8]]
  /// How many body bytes came (framing included), in memory or in the file.
  package var bodyLength: Int64

  package init(status: Int, message: String = "", messages: [[UInt8]] = [], bodyLength: Int64 = 0) {
    self.status = status
    self.message = message
    self.messages = messages
    self.bodyLength = bodyLength
  }

  package var isOK: Bool { status == 0 }

  /// grpc-message is percent-encoded UTF-8.
  static func percentDecoded(_ text: String) -> String {
    var out: [UInt8] = []
    var bytes = Array(text.utf8)[...]
    while let byte = bytes.popFirst() {
      if byte == UInt8(ascii: "%"), bytes.count >= 2,
         let value = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
        out.append(value)
        bytes = bytes.dropFirst(2)
      } else {
        out.append(byte)
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}
