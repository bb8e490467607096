#if canImport(Glibc)
import Glibc
#endif

/// The messages of a gRPC response body that went to a file (`GRPCCall.responseFile`),
/// one at a time: a ByteStream Read of a large blob never sits in memory whole, nor
/// crosses the helper's socket. Each message is its 5-byte prefix (flag 0, big-endian
/// u32 length) and its bytes, as in `GRPCCall.messages(in:)`.
package struct GRPCMessageReader: ~Copyable {
  private let fd: Int32
  private let path: String
  private var buffer: [UInt8] = []
  private var start = 0
  private var ended = false

  /// Opens `path`; `RemoteError.file` when it cannot be read.
  package init(path: String) throws(RemoteError) {
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
    self.path = path
    guard fd >= 0 else { throw .file(url: path, detail: "cannot read \(path): \(String(cString: strerror(errno)))") }
  }

  deinit { close(fd) }

  /// The next message, nil after the last; `RemoteError.badResponse` when the file
  /// ends inside a message or holds a compressed one.
  package mutating func next() throws(RemoteError) -> [UInt8]? {
    guard try fill(5) else {
      if buffer.count > start { throw .badResponse(url: path, detail: "a gRPC message prefix cut short") }
      return nil
    }
    guard buffer[start] == 0 else { throw .badResponse(url: path, detail: "a compressed gRPC message") }
    let n = Int(buffer[start + 1]) << 24 | Int(buffer[start + 2]) << 16 | Int(buffer[start + 3]) << 8 | Int(buffer[start + 4])
    guard try fill(5 + n) else { throw .badResponse(url: path, detail: "a gRPC message cut short") }
    let message = Array(buffer[start + 5..<start + 5 + n])
    start += 5 + n
    return message
  }

  /// Reads until `count` bytes are buffered past `start`; false at the file's end first.
  private mutating func fill(_ count: Int) throws(RemoteError) -> Bool {
    if start > 0, start * 2 >= buffer.count {
      buffer.removeFirst(start)
      start = 0
    }
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while buffer.count - start < count, !ended {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        throw .file(url: path, detail: "cannot read \(path): \(String(cString: strerror(errno)))")
      }
      if n == 0 { ended = true }
      buffer += chunk[0..<n]
    }
    return buffer.count - start >= count
  }
}
