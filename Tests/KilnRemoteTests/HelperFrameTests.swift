import Foundation
import KilnRemote
import KilnTestSupport
import Testing

/// The framing between kiln and kiln-remote, and gRPC's message framing.
@Suite struct HelperFrameTests {
  @Test func framesRoundTripWhateverTheReadsLookLike() throws {
    var first = HelperFrame(.request, id: 7)
    first.add(.method, "PUT")
    first.add(.url, "http://127.0.0.1:1/cas/00")
    first.add(.body, [UInt8](repeating: 0xAB, count: 70_000))
    first.add(.responseLimit, UInt64(1) << 40 | 5)
    let second = HelperFrame(.failure, id: 8, fields: [(HelperFrame.Tag.failureMessage.rawValue, Array("no".utf8))])
    let stream = first.encoded() + second.encoded()
    // Delivered one byte at a time, then in big pieces: the same two frames.
    for step in [1, 4096, stream.count] {
      var reader = HelperFrame.Reader()
      var frames: [HelperFrame] = []
      var at = 0
      while at < stream.count {
        let piece = Array(stream[at..<min(at + step, stream.count)])
        piece.withUnsafeBytes { reader.append($0) }
        at += piece.count
        while let frame = try reader.next() { frames.append(frame) }
      }
      #expect(frames == [first, second], "step \(step)")
    }
    #expect(first.number(.responseLimit) == UInt64(1) << 40 | 5)
    #expect(first.string(.method) == "PUT" && first.strings(.header) == [])
  }

  @Test func garbageIsAnErrorNotACrash() {
    var reader = HelperFrame.Reader()
    Array("HTTP/1.1 200 OK\r\n\r\n".utf8).withUnsafeBytes { reader.append($0) }
    #expect(throws: HelperFrameError.self) { _ = try reader.next() }
    var unknown = HelperFrame.Reader()
    ([6, 0, 0, 0, 99, 0, 0, 0, 0, 0] as [UInt8]).withUnsafeBytes { unknown.append($0) }
    #expect(throws: HelperFrameError.unknownKind(99)) { _ = try unknown.next() }
    var overrun = HelperFrame.Reader()
    ([11, 0, 0, 0, 3, 1, 0, 0, 0, 40, 9, 0, 0, 0, 1] as [UInt8]).withUnsafeBytes { overrun.append($0) }
    #expect(throws: HelperFrameError.truncatedField) { _ = try overrun.next() }
  }

  @Test func grpcMessagesAreLengthPrefixed() {
    let body = GRPCCall.frame([[], [1, 2, 3], [UInt8](repeating: 9, count: 300)])
    #expect(Array(body.prefix(10)) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 3])
    #expect(GRPCCall.messages(in: body) == [[], [1, 2, 3], [UInt8](repeating: 9, count: 300)])
    #expect(GRPCCall.messages(in: Array(body.dropLast())) == nil, "cut short")
    #expect(GRPCCall.messages(in: [1, 0, 0, 0, 0]) == nil, "compressed")
    #expect(GRPCCall.messages(in: []) == [])
  }

  @Test func grpcMessagesAreReadFromAFileOneAtATime() throws {
    let scratch = TempDirectory(prefix: "kiln-grpc-file")
    let messages: [[UInt8]] = [[7], [], [UInt8](repeating: 3, count: 200_000)]
    _ = FileManager.default.createFile(atPath: scratch.path + "/whole", contents: Data(GRPCCall.frame(messages)))
    var reader = try GRPCMessageReader(path: scratch.path + "/whole")
    var read: [[UInt8]] = []
    while let message = try reader.next() { read.append(message) }
    #expect(read == messages)
    _ = FileManager.default.createFile(atPath: scratch.path + "/cut", contents: Data(GRPCCall.frame(messages).dropLast()))
    var cut = try GRPCMessageReader(path: scratch.path + "/cut")
    #expect(try cut.next() == [7] && cut.next() == [])
    #expect(throws: RemoteError.badResponse(url: scratch.path + "/cut", detail: "a gRPC message cut short")) { _ = try cut.next() }
  }
}
