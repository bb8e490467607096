/// One message between kiln and its network helper `kiln-remote`, both ways, over the
/// socket that is the helper's stdin and stdout.
///
/// Layout (all integers little-endian):
///
///     frame   = u32 length of the rest, u8 kind, u32 id, field*
///     field   = u8 tag, u32 length, bytes
///
/// A frame is at most `maximumLength` bytes (1 GiB + 1 MiB: a response held in memory is
/// capped by its request's limit well below that); a longer or shorter one is garbage
/// and ends the helper's use. Unknown tags are skipped, so either side may learn a
/// field before the other. Ids are chosen by kiln, unique among the requests in flight;
/// the helper answers each request with exactly one `response` or `failure` frame of the
/// same id, in any order. Bodies too big to copy through the socket travel as files
/// (`Tag.bodyFile`, `Tag.responseFile`): only their paths are in the frame.
package struct HelperFrame: Sendable, Equatable {
  /// What a frame is.
  package enum Kind: UInt8, Sendable {
    /// kiln -> helper, first and once, id 0: time-outs and credentials (`Tag.configure*`).
    case configure = 1
    /// kiln -> helper: one HTTP exchange to perform.
    case request = 2
    /// helper -> kiln: the exchange happened (any HTTP status).
    case response = 3
    /// helper -> kiln: it did not (refused, timed out, reset, truncated, too large, ...).
    case failure = 4
  }

  /// Field tags. Each kind reads its own; the numbers are the wire format.
  package enum Tag: UInt8, Sendable {
    // configure
    case connectMilliseconds = 1, stallSeconds = 2, totalMilliseconds = 3, bearerToken = 4, user = 5, password = 6,
         clientCertificate = 7, clientKey = 8, certificateAuthority = 9
    // request: method, url, "Name: value" headers (repeated), an in-memory body or a
    // file to send, a file to write a 2xx body into, the body limit (u64), how to speak
    // HTTP (`HTTPVersion`)
    case method = 20, url = 21, header = 22, body = 23, bodyFile = 24, responseFile = 25, responseLimit = 26,
         httpVersion = 27
    // response: the status (u64), header lines and trailer lines (repeated), the body
    // when it is in memory, how many body bytes there were (u64)
    case status = 40, responseHeader = 41, trailer = 42, responseBody = 43, bodyLength = 44
    // failure: what went wrong (`FailureKind`), and libcurl's words for it
    case failureKind = 60, failureMessage = 61
  }

  /// How the helper speaks HTTP for one request.
  package enum HTTPVersion: UInt8, Sendable {
    /// HTTP/1.1 (plain `http://`).
    case http1 = 0
    /// HTTP/2 when TLS's ALPN agrees, else HTTP/1.1 (`https://`).
    case http2OverTLS = 1
    /// HTTP/2 only: with prior knowledge on plain TCP (`grpc://`), by ALPN on TLS (`grpcs://`).
    case http2Only = 2
  }

  /// Why a request failed in the helper.
  package enum FailureKind: UInt8, Sendable {
    case connect = 1, timedOut = 2, transfer = 3, tooLarge = 4, file = 5, badRequest = 6
  }

  /// 1 GiB of body plus room for the rest.
  package static let maximumLength = (1 << 30) + (1 << 20)

  package var kind: Kind
  package var id: UInt32
  package var fields: [(tag: UInt8, value: [UInt8])]

  package init(_ kind: Kind, id: UInt32, fields: [(tag: UInt8, value: [UInt8])] = []) {
    self.kind = kind
    self.id = id
    self.fields = fields
  }

  package static func == (a: HelperFrame, b: HelperFrame) -> Bool {
    a.kind == b.kind && a.id == b.id && a.fields.count == b.fields.count
      && zip(a.fields, b.fields).allSatisfy { $0.tag == $1.tag && $0.value == $1.value }
  }

  // MARK: building

  package mutating func add(_ tag: Tag, _ bytes: [UInt8]) { fields.append((tag.rawValue, bytes)) }
  package mutating func add(_ tag: Tag, _ text: String) { fields.append((tag.rawValue, Array(text.utf8))) }
  package mutating func add(_ tag: Tag, _ number: UInt64) {
    fields.append((tag.rawValue, (0..<8).map { UInt8(truncatingIfNeeded: number >> (8 * UInt64($0))) }))
  }

  // MARK: reading

  /// The first value of `tag`, or nil.
  package func bytes(_ tag: Tag) -> [UInt8]? { fields.first { $0.tag == tag.rawValue }?.value }
  package func string(_ tag: Tag) -> String? { bytes(tag).map { String(decoding: $0, as: UTF8.self) } }
  /// Every value of `tag`, in order.
  package func strings(_ tag: Tag) -> [String] {
    fields.filter { $0.tag == tag.rawValue }.map { String(decoding: $0.value, as: UTF8.self) }
  }
  /// A u64 field; nil when absent or not 8 bytes.
  package func number(_ tag: Tag) -> UInt64? {
    guard let b = bytes(tag), b.count == 8 else { return nil }
    return b.reversed().reduce(0) { $0 << 8 | UInt64($1) }
  }

  // MARK: encoding

  /// The frame's bytes, length prefix included.
  package func encoded() -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(9 + fields.reduce(0) { $0 + 5 + $1.value.count })
    out += [0, 0, 0, 0, kind.rawValue]
    Self.append32(id, to: &out)
    for field in fields {
      out.append(field.tag)
      Self.append32(UInt32(field.value.count), to: &out)
      out += field.value
    }
    let length = UInt32(out.count - 4)
    for i in 0..<4 { out[i] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(i))) }
    return out
  }

  private static func append32(_ value: UInt32, to out: inout [UInt8]) {
    for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
  }

  /// Frames taken off the front of a byte stream as they complete.
  package struct Reader: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    package init() {}

    /// Appends bytes read from the socket.
    package mutating func append(_ bytes: UnsafeRawBufferPointer) { buffer.append(contentsOf: bytes) }

    /// The next whole frame, nil when more bytes are needed; throws on garbage.
    package mutating func next() throws(HelperFrameError) -> HelperFrame? {
      let available = buffer.count - start
      guard available >= 4 else { return compacted(nil) }
      let length = Int(Self.read32(buffer, start))
      guard length >= 5, length <= HelperFrame.maximumLength else { throw .badLength(length) }
      guard available >= 4 + length else { return compacted(nil) }
      let body = start + 4, end = body + length
      guard let kind = Kind(rawValue: buffer[body]) else { throw .unknownKind(buffer[body]) }
      let id = Self.read32(buffer, body + 1)
      var fields: [(tag: UInt8, value: [UInt8])] = []
      var at = body + 5
      while at < end {
        guard end - at >= 5 else { throw .truncatedField }
        let tag = buffer[at], size = Int(Self.read32(buffer, at + 1))
        at += 5
        guard size <= end - at else { throw .truncatedField }
        fields.append((tag, Array(buffer[at..<at + size])))
        at += size
      }
      start = end
      return compacted(HelperFrame(kind, id: id, fields: fields))
    }

    /// Drops consumed bytes once they are the larger part of the buffer.
    private mutating func compacted(_ frame: HelperFrame?) -> HelperFrame? {
      if start > 0, start * 2 >= buffer.count {
        buffer.removeFirst(start)
        start = 0
      }
      return frame
    }

    private static func read32(_ b: [UInt8], _ at: Int) -> UInt32 {
      UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }
  }
}

/// Bytes on the helper's socket that are not frames.
package enum HelperFrameError: Error, Sendable, Equatable, CustomStringConvertible {
  case badLength(Int)
  case unknownKind(UInt8)
  case truncatedField

  package var description: String {
    switch self {
    case .badLength(let n): "a frame of \(n) bytes"
    case .unknownKind(let k): "a frame of unknown kind \(k)"
    case .truncatedField: "a field running past its frame"
    }
  }
}
