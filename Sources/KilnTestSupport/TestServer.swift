import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A server a test starts on 127.0.0.1 (nginx, buildbox-casd, a misbehaving Python
/// script) with a temporary home (`TestEnvironment`), and stops by its PID when the
/// test ends. Nothing here runs as a service.
package final class TestServer {
  package let process: Process
  package let port: Int
  private let output: Pipe

  /// Starts `executable`; `port` is where it listens, or nil when it prints its port
  /// as its first line of output.
  package init(_ executable: String, _ arguments: [String], scratch: TempDirectory, port: Int?) throws {
    process = Process()
    output = Pipe()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: scratch.path)
    process.environment = TestEnvironment.variables(in: scratch)
    process.standardOutput = output
    process.standardError = FileHandle(forWritingAtPath: "/dev/null")
    process.standardInput = FileHandle.nullDevice
    try runUnmasked(process)
    if let port {
      self.port = port
    } else {
      var line: [UInt8] = []
      while !line.contains(UInt8(ascii: "\n")) {
        let data = output.fileHandleForReading.availableData
        if data.isEmpty { break }
        line += data
      }
      guard let printed = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
        process.terminate()
        throw TempProjectError("\(executable) printed no port")
      }
      self.port = printed
    }
    try waitUntilListening()
  }

  deinit { stop() }

  /// SIGTERM by PID, then SIGKILL if it is still there, and reaped.
  package func stop() {
    guard process.isRunning else { return }
    kill(process.processIdentifier, SIGTERM)
    for _ in 0..<100 where process.isRunning { usleep(20_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
  }

  /// Readiness, not timing: connects until the port takes a connection (or the server
  /// died, or 20 s passed, which is a failure of the server, not a measurement).
  private func waitUntilListening() throws {
    for _ in 0..<400 {
      guard process.isRunning else { throw TempProjectError("the server on port \(port) exited at once") }
      if Self.connects(port) { return }
      usleep(50_000)
    }
    stop()
    throw TempProjectError("nothing listens on 127.0.0.1:\(port)")
  }

  package static func connects(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = loopback(port)
    return withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
  }

  /// A port nothing listens on right now (bound to port 0, read, closed).
  package static func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = loopback(0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    return Int(UInt16(bigEndian: address.sin_port))
  }

  /// A socket listening on 127.0.0.1 (on a free port) that accepts no one: the
  /// kernel completes connections into its backlog. Close `fd` when done.
  package static func listening() -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = loopback(0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
      }
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
  }

  private static func loopback(_ port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    return address
  }
}
