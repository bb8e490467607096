import Foundation
import KilnRemote
import KilnTestSupport
import Testing

/// A remote that is down, slow or wrong costs a typed error, never a crash or a hang,
/// and puts the client down: every later request fails at once with the same error.
/// The server is a small Python script on 127.0.0.1 (port 0, it prints the port); the
/// path of each request picks how it misbehaves.
@Suite struct MisbehavingServerTests {
  static let script = #"""
    import os, socket, sys, threading, time
    folder = sys.argv[1]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)

    def serve(conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        path = data.split(b" ")[1].decode()
        if path.endswith("/garbage"):
            conn.sendall(b"this is not HTTP at all\r\n\r\n")
        elif path.endswith("/truncated"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
        elif path.endswith("/error"):
            conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops!")
        elif path.endswith("/hang"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
            open(os.path.join(folder, "arrived"), "w").close()
            while conn.recv(65536):
                pass
        elif path.endswith("/headers"):
            head = data.split(b"\r\n\r\n")[0]
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(head) + head)
        elif path.endswith("/ok"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        conn.close()

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
    """#

  /// The script, started in `scratch`.
  static func server(_ scratch: TempDirectory) async throws -> TestServer {
    try script.write(toFile: scratch.path + "/server.py", atomically: true, encoding: .utf8)
    return try await TestServer.started("/usr/bin/python3", [scratch.path + "/server.py", scratch.path], scratch: scratch, port: nil)
  }

  /// `path` fails with an error `expected` accepts, and the client is down after it:
  /// the next request, even one the server would answer, fails at once with that error.
  func expectFailure(_ path: String, timeouts: RemoteTimeouts = RemoteTimeouts(), _ expected: (RemoteError) -> Bool) async throws {
    let scratch = TempDirectory(prefix: "kiln-misbehaving")
    let server = try await Self.server(scratch)
    defer { server.stop() }
    let client = try RemoteTesting.client("http://127.0.0.1:\(server.port)", timeouts: timeouts)
    defer { client.shutdown() }
    #expect(try await client.perform(HTTPRequest(.get, "/ok")).body == Array("ok".utf8), "the server answers")
    var first: RemoteError?
    do {
      _ = try await client.perform(HTTPRequest(.get, path))
      Issue.record("\(path) succeeded")
    } catch {
      first = error
      #expect(expected(error), "\(path): \(error)")
    }
    #expect(client.downError == first)
    do {
      _ = try await client.perform(HTTPRequest(.get, "/ok"))
      Issue.record("a down client asked again")
    } catch {
      #expect(error == first, "the same error, at once")
    }
  }

  @Test func garbageInsteadOfHTTP() async throws {
    try await expectFailure("/garbage") { if case .transfer = $0 { true } else { false } }
  }

  @Test func aTruncatedBody() async throws {
    try await expectFailure("/truncated") { if case .transfer = $0 { true } else { false } }
  }

  @Test func aServerError() async throws {
    try await expectFailure("/error") { if case .status(_, 500) = $0 { true } else { false } }
  }

  @Test func aHangMidBodyEndsWithTheStallTimeout() async throws {
    try await expectFailure("/hang", timeouts: RemoteTimeouts(stall: .seconds(1))) {
      if case .timedOut = $0 { true } else { false }
    }
  }

  @Test func connectionRefused() async throws {
    let port = TestServer.freePort()
    let client = try RemoteTesting.client("http://127.0.0.1:\(port)")
    defer { client.shutdown() }
    await #expect(throws: RemoteError.self) { try await client.perform(HTTPRequest(.get, "/ac/" + RemoteTesting.key(1))) }
    guard case .connect(let url, _)? = client.downError else {
      Issue.record("\(String(describing: client.downError))")
      return
    }
    #expect(url == "http://127.0.0.1:\(port)/ac/" + RemoteTesting.key(1))
    await #expect(throws: client.downError!) { try await client.perform(HTTPRequest(.get, "/cas/" + RemoteTesting.key(2))) }
  }

  @Test func theHelperKilledMidRequest() async throws {
    let scratch = TempDirectory(prefix: "kiln-misbehaving")
    let server = try await Self.server(scratch)
    defer { server.stop() }
    let client = try RemoteTesting.client("http://127.0.0.1:\(server.port)", timeouts: RemoteTimeouts(stall: .seconds(600)))
    defer { client.shutdown() }
    let request = Task { () -> RemoteError? in
      do throws(RemoteError) {
        _ = try await client.perform(HTTPRequest(.get, "/hang"))
        return nil
      } catch {
        return error
      }
    }
    // The server has the request (it made the file): the helper is mid-transfer.
    // Waiting without holding a thread of Swift's small pool, which the request needs.
    while !FileManager.default.fileExists(atPath: scratch.path + "/arrived") { try await Task.sleep(for: .milliseconds(10)) }
    let pid = try #require(client.helperProcessID)
    kill(pid, SIGKILL)
    let error = try #require(await request.value)
    #expect(error == .helperExited(path: RemoteTesting.helper, how: "killed by signal 9"))
    #expect(client.downError == error)
    await #expect(throws: error) { try await client.perform(HTTPRequest(.get, "/ok")) }
  }

  @Test func credentialsReachTheServerButNotTheHelpersCommandLineOrEnvironment() async throws {
    let scratch = TempDirectory(prefix: "kiln-misbehaving")
    let server = try await Self.server(scratch)
    defer { server.stop() }
    let endpoint = try RemoteEndpoint(parsing: "http://127.0.0.1:\(server.port)")
    let bearer = RemoteClient(endpoint: endpoint, credentials: RemoteCredentials(bearerToken: "s3cret-token"), helper: RemoteTesting.helper)
    defer { bearer.shutdown() }
    let seen = String(decoding: try await bearer.perform(HTTPRequest(.get, "/headers")).body, as: UTF8.self)
    #expect(seen.contains("\r\nAuthorization: Bearer s3cret-token"), "\(seen)")
    let pid = try #require(bearer.helperProcessID)
    for file in ["cmdline", "environ"] {
      let text = (try? String(contentsOfFile: "/proc/\(pid)/\(file)", encoding: .isoLatin1)) ?? ""
      #expect(!text.contains("s3cret"), "\(file)")
    }
    let basic = RemoteClient(endpoint: endpoint, credentials: RemoteCredentials(user: "ci", password: "pa ss"), helper: RemoteTesting.helper)
    defer { basic.shutdown() }
    let seenBasic = String(decoding: try await basic.perform(HTTPRequest(.get, "/headers")).body, as: UTF8.self)
    #expect(seenBasic.contains("\r\nAuthorization: Basic \(Data("ci:pa ss".utf8).base64EncodedString())"), "\(seenBasic)")
  }

  @Test func aMissingHelperIsAnErrorToo() async throws {
    let client = try RemoteTesting.client("http://127.0.0.1:1", helper: "/nonexistent/kiln-remote")
    await #expect(throws: RemoteError.helperNotStarted(path: "/nonexistent/kiln-remote", reason: "No such file or directory")) {
      try await client.perform(HTTPRequest(.get, "/ok"))
    }
    #expect(client.downError != nil)
  }

  /// Writing to a helper that is gone fails with EPIPE: kiln keeps SIGPIPE's default
  /// action (this test process too), so a plain write would have killed it.
  @Test func aHelperThatExitsAtOnceIsAnErrorNotASignal() async throws {
    let client = try RemoteTesting.client("http://127.0.0.1:1", helper: "/bin/true")
    defer { client.shutdown() }
    let big = [UInt8](repeating: 1, count: 4 << 20)
    await #expect(throws: RemoteError.helperExited(path: "/bin/true", how: "exit status 0")) {
      try await client.perform(HTTPRequest(.put, "/cas/" + RemoteTesting.key(1), body: .bytes(big)))
    }
    await #expect(throws: RemoteError.helperExited(path: "/bin/true", how: "exit status 0")) {
      try await client.perform(HTTPRequest(.put, "/cas/" + RemoteTesting.key(1), body: .bytes(big)))
    }
  }

  @Test func aHelperThatSpeaksGarbage() async throws {
    let scratch = TempDirectory(prefix: "kiln-misbehaving")
    let fake = scratch.path + "/kiln-remote"
    try "#!/bin/sh\nprintf 'HTTP/1.1 200 OK\\r\\n\\r\\n'\nexec cat >/dev/null\n".write(toFile: fake, atomically: true, encoding: .utf8)
    chmod(fake, 0o755)
    let client = try RemoteTesting.client("http://127.0.0.1:1", helper: fake)
    defer { client.shutdown() }
    do {
      _ = try await client.perform(HTTPRequest(.get, "/ok"))
      Issue.record("garbage was taken for an answer")
    } catch {
      guard case .helperGarbage(fake, _) = error else {
        Issue.record("\(error)")
        return
      }
    }
  }
}
