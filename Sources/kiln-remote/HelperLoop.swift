#if canImport(Glibc)
import Glibc
#endif
import KilnRemote

/// kiln-remote's one thread: reads request frames from the socket kiln gave it as
/// stdin, runs them all at once through libcurl's multi interface, and writes each
/// answer frame to stdout as its transfer ends. Ends when kiln closes its side (kiln
/// exited or gave up on the helper) or sends garbage.
struct HelperLoop {
  let input: Int32
  let output: Int32

  /// The exit status: 0 when kiln closed the socket, 2 on garbage or a dead socket.
  func run() -> Int32 {
    guard Curl.initialise(), let multi = Curl.Multi() else { return fail("libcurl could not be initialised") }
    // Reads must never block the transfers; the socket is one open file for both
    // directions, so writes become non-blocking too (`write(_:)` waits for room).
    _ = fcntl(input, F_SETFL, fcntl(input, F_GETFL) | O_NONBLOCK)
    var reader = HelperFrame.Reader()
    var settings = Curl.Settings()
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      // Everything kiln sent so far.
      while true {
        let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
        if n > 0 {
          buffer.withUnsafeBytes { reader.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
          continue
        }
        if n == 0 { return 0 }
        if errno == EINTR { continue }
        if errno == EAGAIN || errno == EWOULDBLOCK { break }
        return fail("reading from kiln: \(String(cString: strerror(errno)))")
      }
      do {
        while let frame = try reader.next() {
          switch frame.kind {
          case .configure: settings = Curl.Settings(frame)
          case .request:
            switch multi.make(frame, settings) {
            case .run(let transfer):
              if !multi.add(transfer) {
                guard write(Curl.Transfer.failure(frame.id, .badRequest, "libcurl would not start the request")) else { return 2 }
              }
            case .answer(let answer):
              guard write(answer) else { return 2 }
            }
          case .response, .failure:
            return fail("kiln sent a frame only the helper sends")
          }
        }
      } catch {
        return fail("kiln sent \(error)")
      }
      for answer in multi.perform() {
        guard write(answer) else { return 2 }
      }
      // While transfers run, a short wait: libcurl 7.88's `curl_multi_poll` sometimes
      // sleeps through the end of an HTTP/2 answer it already holds, until its time-out
      // (the bench's restores: stalls of 0.1-1 s with a 1 s wait; with 10 ms, each of a
      // bundle's pack reads one after the other still ended 10-20 ms late).
      multi.wait(alsoFor: input, milliseconds: multi.isBusy ? 1 : 1_000)
    }
  }

  /// Writes a whole frame, waiting for room in the socket; false when kiln is gone.
  private func write(_ frame: HelperFrame) -> Bool {
    let bytes = frame.encoded()
    var at = 0
    while at < bytes.count {
      let n = bytes.withUnsafeBytes { Glibc.write(output, $0.baseAddress! + at, $0.count - at) }
      if n > 0 {
        at += n
      } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK {
        var waiting = pollfd(fd: output, events: Int16(POLLOUT), revents: 0)
        _ = poll(&waiting, 1, -1)
      } else if n < 0, errno == EINTR {
        continue
      } else {
        return false
      }
    }
    return true
  }

  private func fail(_ message: String) -> Int32 {
    let line = "kiln-remote: \(message)\n"
    _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
    return 2
  }
}
