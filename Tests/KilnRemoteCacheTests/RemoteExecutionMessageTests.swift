import KilnCore
import KilnHash
import KilnStore
import Testing

@testable import KilnRemoteCache

/// What kiln sends a remote executor and reads back from it: the input root is a
/// Merkle tree that depends on the inputs and nothing else (not their order, not where
/// the checkout is), names are sorted as REAPI requires, paths that could escape the
/// root are refused; an `Operation` from the server decodes or fails, never crashes.
@Suite struct RemoteExecutionMessageTests {
  static func input(_ path: String, _ text: String, executable: Bool = false) -> RemoteActionInput {
    let bytes = Array(text.utf8)
    return RemoteActionInput(path: path, sha256: SHA256Hasher.digest(bytes), size: Int64(bytes.count),
                             executable: executable, source: "/checkout/\(path)")
  }

  static let inputs = [input("src/b.c", "b"), input("src/a.c", "a"), input("tools/gen.sh", "#!/bin/sh", executable: true),
                       input("README", "r")]

  @Test func theInputRootDependsOnTheInputsNotTheirOrderNorTheCheckout() throws {
    let one = try NetworkRemoteExecutor.inputRoot(Self.inputs)
    let shuffled = try NetworkRemoteExecutor.inputRoot(Self.inputs.reversed())
    var elsewhere = Self.inputs
    for k in elsewhere.indices { elsewhere[k].source = "/another/checkout/\(elsewhere[k].path)" }
    let moved = try NetworkRemoteExecutor.inputRoot(elsewhere)
    #expect(one.root == shuffled.root && one.root == moved.root)
    // The root, src/ and tools/: three folders, each message kept to upload.
    #expect(one.directories.count == 3)
    // One byte of one input changes the root.
    var edited = Self.inputs
    edited[0] = Self.input("src/b.c", "B")
    let editedRoot = try NetworkRemoteExecutor.inputRoot(edited).root
    #expect(editedRoot != one.root)
    // So does the executable bit.
    var flipped = Self.inputs
    flipped[2].executable = false
    let flippedRoot = try NetworkRemoteExecutor.inputRoot(flipped).root
    #expect(flippedRoot != one.root)
  }

  @Test func theRootNamesItsFilesAndFoldersSortedWithTheirDigests() throws {
    let tree = try NetworkRemoteExecutor.inputRoot(Self.inputs)
    let root = try #require(tree.directories[tree.root])
    var reader = ProtoReader(root)
    var files: [String] = [], folders: [String] = []
    while let (n, v) = try reader.next() {
      var node = try v.message()
      while let (k, x) = try node.next() {
        guard k == 1 else { continue }
        if n == 1 { files.append(try x.string()) } else if n == 2 { folders.append(try x.string()) }
      }
    }
    #expect(files == ["README"] && folders == ["src", "tools"])
    #expect(tree.root.sha == SHA256Hasher.digest(root) && tree.root.size == Int64(root.count))
  }

  @Test(arguments: ["../etc/passwd", "src/../../x", "/etc/passwd", "src//a.c", "./a", ""])
  func aPathThatCouldLeaveTheRootIsRefused(_ path: String) {
    #expect(throws: RemoteFailure.self) { try NetworkRemoteExecutor.inputRoot([Self.input(path, "x")]) }
  }

  @Test func aFileAndAFolderOfTheSameNameAreRefused() {
    #expect(throws: RemoteFailure.self) {
      try NetworkRemoteExecutor.inputRoot([Self.input("src", "x"), Self.input("src/a.c", "a")])
    }
  }

  /// A done Operation holding an ExecuteResponse with one output file, exit code 3 and
  /// stderr inline.
  static func operation(done: Bool = true, type: String = "type.googleapis.com/build.bazel.remote.execution.v2.ExecuteResponse") -> [UInt8] {
    var result = ProtoWriter()
    result.message(2) {
      $0.string(1, "out/a.txt")
      BlobDigest(sha: SHA256Hasher.digest(Array("A".utf8)), size: 1).write(2, into: &$0)
      $0.bool(4, true)
    }
    result.int(4, 3)
    result.data(7, Array("oops".utf8))
    var response = ProtoWriter()
    response.data(1, result.bytes)
    var op = ProtoWriter()
    op.string(1, "operations/1")
    op.bool(3, done)
    op.message(5) {
      $0.string(1, type)
      $0.data(2, response.bytes)
    }
    return op.bytes
  }

  @Test func aDoneOperationDecodesToItsResult() throws {
    let result = try NetworkRemoteExecutor.executeResult(Self.operation())
    #expect(result.exitCode == 3 && result.stderrRaw == Array("oops".utf8) && result.status == nil)
    #expect(result.outputs.map(\.path) == ["out/a.txt"] && result.outputs[0].executable)
    #expect(throws: ProtoError.self) { try NetworkRemoteExecutor.executeResult(Self.operation(done: false)) }
    #expect(throws: ProtoError.self) { try NetworkRemoteExecutor.executeResult(Self.operation(type: "type.googleapis.com/google.rpc.Status")) }
  }

  @Test func everyTruncationAndFlippedByteDecodesOrFailsButNeverCrashes() {
    let whole = Self.operation()
    for n in 0..<whole.count { _ = try? NetworkRemoteExecutor.executeResult(Array(whole.prefix(n))) }
    for k in whole.indices {
      for bit in 0..<8 {
        var bytes = whole
        bytes[k] ^= UInt8(1 << bit)
        _ = try? NetworkRemoteExecutor.executeResult(bytes)
      }
    }
  }
}
