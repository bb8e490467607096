import Foundation
import KilnRemote
import KilnTestSupport
import Testing

/// gRPC calls to buildbox-casd over h2c keep their connections: on libcurl before 8.0
/// (curl issue 10634) kiln-remote opens each with prior knowledge and reuses it idle
/// (`Curl.Multi`), and a call that finds its connection gone is made again on a new one.
@Suite struct CasdConnectionTests {
  /// `rounds` bursts of `width` FindMissingBlobs calls at once, each asking for its own
  /// digest: whether every call got its own digest back.
  static func bursts(_ client: RemoteClient, rounds: Int, width: Int, seed: Int) async throws -> Bool {
    var all = true
    for round in 0..<rounds {
      let answered = try await withThrowingTaskGroup(of: Bool.self) { group in
        for i in 0..<width {
          group.addTask {
            let hash = RemoteTesting.key(seed + round * width + i)
            let request = Protobuf.bytes(2, Protobuf.digest(hash, i + 1))
            let answer = try await client.call(GRPCCall(CasdTests.findMissing, messages: [request]))
            let fields = answer.messages.first.flatMap(Protobuf.fields) ?? []
            return answer.isOK && fields.contains {
              $0.field == 2 && Protobuf.fields($0.bytes)?.first { $0.field == 1 }?.bytes == Array(hash.utf8)
            }
          }
        }
        var results: [Bool] = []
        for try await ok in group { results.append(ok) }
        return results.count == width && results.allSatisfy { $0 }
      }
      all = all && answered
    }
    return all
  }

  /// The established TCP connections process `pid` holds to 127.0.0.1:`port`.
  static func connections(of pid: pid_t, to port: Int) -> Int {
    var sockets = Set<String>()
    let fds = "/proc/\(pid)/fd"
    for name in (try? FileManager.default.contentsOfDirectory(atPath: fds)) ?? [] {
      if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fds)/\(name)"),
         target.hasPrefix("socket:[") {
        sockets.insert(String(target.dropFirst(8).dropLast()))
      }
    }
    // Read to its end: a /proc file has no size, and a busy machine's table is pages long.
    let table = FileHandle(forReadingAtPath: "/proc/net/tcp").map { String(decoding: $0.readDataToEndOfFile(), as: UTF8.self) } ?? ""
    let remote = "0100007F:" + String(format: "%04X", port)
    return table.split(separator: "\n").dropFirst().filter { line in
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      let f = line.split(separator: " ", omittingEmptySubsequences: true)
      return f.count > 9 && f[2] == remote && f[3] == "01" && sockets.contains(String(f[9]))
    }.count
  }

  @Test func callsReuseTheirConnections() async throws {
    let scratch = TempDirectory(prefix: "kiln-casd")
    guard let server = try await CasdTests.casd(scratch) else { return }
    defer { server.stop() }
    let client = try RemoteTesting.client("grpc://127.0.0.1:\(server.port)")
    defer { client.shutdown() }
    #expect(try await Self.bursts(client, rounds: 12, width: 8, seed: 5000))
    #expect(client.downError == nil)
    // 96 calls, at most 8 at once: their connections are still open for the next ones
    // (one each would have closed every one), and never more than were busy at once.
    let pid = try #require(client.helperProcessID)
    let held = Self.connections(of: pid, to: server.port)
    #expect((1...8).contains(held), "\(held) connections held")
  }

  @Test func callsAfterTheServerClosedTheirConnectionsGetNewOnes() async throws {
    let scratch = TempDirectory(prefix: "kiln-casd")
    guard let first = try await CasdTests.casd(scratch) else { return }
    let client = try RemoteTesting.client("grpc://127.0.0.1:\(first.port)")
    defer { client.shutdown() }
    #expect(try await Self.bursts(client, rounds: 2, width: 6, seed: 6000))
    // The same port, a new server: every connection the helper keeps is closed.
    first.stop()
    let cache = scratch.path + "/cas-again"
    try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
    let second = try await TestServer.started(TestTools.buildboxCasd!, ["--bind", "127.0.0.1:\(first.port)", cache],
                                              scratch: scratch, port: first.port)
    defer { second.stop() }
    #expect(try await Self.bursts(client, rounds: 3, width: 6, seed: 7000))
    #expect(client.downError == nil)
  }
}
