import Foundation
import KilnRemote
import KilnTestSupport
import Testing

/// The figures of docs/architecture.md ("The remote cache's helper"), measured when
/// `KILN_REMOTE_FIGURES=1` (a release helper through `KILN_REMOTE_HELPER`, else the
/// debug one); otherwise skipped. They are printed, never asserted: speed lives in
/// measurements, not in tests.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["KILN_REMOTE_FIGURES"] == "1"))
struct TransportFigures {
  static var helper: String {
    ProcessInfo.processInfo.environment["KILN_REMOTE_HELPER"].flatMap { $0.isEmpty ? nil : $0 } ?? RemoteTesting.helper
  }

  /// Median of `runs` timings of `body`, in milliseconds.
  static func median(_ runs: Int, _ body: () async throws -> Void) async rethrows -> Double {
    var times: [Double] = []
    for _ in 0..<runs {
      let start = ContinuousClock.now
      try await body()
      let elapsed = ContinuousClock.now - start
      times.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
    }
    return times.sorted()[runs / 2]
  }

  @Test func nginxOnLoopback() async throws {
    let scratch = TempDirectory(prefix: "kiln-figures")
    guard let server = try await NginxCacheTests.startedNginx(scratch) else { return }
    defer { server.stop() }
    let url = "http://127.0.0.1:\(server.port)"
    // The first request of a process: the helper's start, its connect, the exchange.
    let first = try await Self.median(21) {
      let client = RemoteClient(endpoint: try RemoteEndpoint(parsing: url), helper: Self.helper)
      _ = try await client.perform(HTTPRequest(.get, "/ac/" + RemoteTesting.key(1)))
      client.shutdown()
    }
    let client = RemoteClient(endpoint: try RemoteEndpoint(parsing: url), helper: Self.helper)
    defer { client.shutdown() }
    let small = Array(repeating: UInt8(1), count: 300), mib = [UInt8](repeating: 2, count: 1 << 20)
    _ = try await client.perform(HTTPRequest(.put, "/ac/" + RemoteTesting.key(2), body: .bytes(small)))
    let smallGet = try await Self.median(201) { _ = try await client.perform(HTTPRequest(.get, "/ac/" + RemoteTesting.key(2))) }
    let files = TempDirectory(prefix: "kiln-figures-files")
    _ = FileManager.default.createFile(atPath: files.path + "/mib", contents: Data(mib))
    let put = try await Self.median(51) {
      _ = try await client.perform(HTTPRequest(.put, "/cas/" + RemoteTesting.key(3), body: .file(files.path + "/mib")))
    }
    var n = 0
    let get = try await Self.median(51) {
      n += 1
      _ = try await client.perform(HTTPRequest(.get, "/cas/" + RemoteTesting.key(3), responseFile: files.path + "/get\(n)"))
    }
    let getMemory = try await Self.median(51) { _ = try await client.perform(HTTPRequest(.get, "/cas/" + RemoteTesting.key(3))) }
    print(String(format: "figures nginx: first request (helper start + connect + GET) %.2f ms; small GET %.3f ms; 1 MiB PUT from a file %.2f ms; 1 MiB GET into a file %.2f ms, into memory %.2f ms",
                 first, smallGet, put, get, getMemory))
  }

  @Test func casdOnLoopback() async throws {
    let scratch = TempDirectory(prefix: "kiln-figures")
    guard let server = try await CasdTests.casd(scratch) else { return }
    defer { server.stop() }
    let client = RemoteClient(endpoint: try RemoteEndpoint(parsing: "grpc://127.0.0.1:\(server.port)"), helper: Self.helper)
    defer { client.shutdown() }
    // GetActionResult {1: instance_name, 2: action_digest}: a miss (NOT_FOUND) each time.
    let request = Protobuf.string(1, "") + Protobuf.bytes(2, Protobuf.digest(String(repeating: "ef", count: 32), 142))
    let method = "/build.bazel.remote.execution.v2.ActionCache/GetActionResult"
    _ = try await client.call(GRPCCall(method, messages: [request]))
    let unary = try await Self.median(201) { _ = try await client.call(GRPCCall(method, messages: [request])) }
    let capabilities = try await Self.median(201) { _ = try await client.call(GRPCCall(CasdTests.capabilities, messages: [[]])) }
    print(String(format: "figures casd: GetActionResult (a miss) %.3f ms; GetCapabilities %.3f ms", unary, capabilities))
  }
}
