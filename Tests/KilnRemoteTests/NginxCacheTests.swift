import Foundation
import KilnRemote
import KilnTestSupport
import Testing

/// Bazel's HTTP cache protocol through the real kiln-remote against nginx with WebDAV
/// (`dav_methods PUT; create_full_put_path on;`), from a temporary config and root on
/// 127.0.0.1. nginx is Debian's binary, extracted (not installed) by `make test`.
@Suite struct NginxCacheTests {
  /// nginx in one process (no master, no daemon), everything under `scratch`.
  static func nginx(_ scratch: TempDirectory, tls: TestCertificates? = nil) async throws -> TestServer? {
    guard let binary = TestTools.nginx else { return nil }
    let root = scratch.path
    try FileManager.default.createDirectory(atPath: root + "/root", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: true)
    var lastError: (any Error)?
    // A free port may be taken between the look and nginx's bind: try another.
    for _ in 0..<3 {
      let port = TestServer.freePort()
      let config = """
        daemon off;
        master_process off;
        worker_processes 1;
        pid \(root)/nginx.pid;
        error_log \(root)/error.log;
        events { worker_connections 256; }
        http {
          access_log off;
          client_body_temp_path \(root)/tmp/body;
          proxy_temp_path \(root)/tmp/proxy;
          fastcgi_temp_path \(root)/tmp/fastcgi;
          uwsgi_temp_path \(root)/tmp/uwsgi;
          scgi_temp_path \(root)/tmp/scgi;
          client_max_body_size 0;
          keepalive_requests 100000;
          server {
            \(tls.map { """
              listen 127.0.0.1:\(port) ssl http2;
              ssl_certificate \($0.folder)/server.pem;
              ssl_certificate_key \($0.folder)/server.key;
              ssl_client_certificate \($0.folder)/ca.pem;
              ssl_verify_client optional;
              """ } ?? "listen 127.0.0.1:\(port);")
            root \(root)/root;
            location / {
              \(tls == nil ? "" : "if ($ssl_client_verify != SUCCESS) { return 403; }")
              dav_methods PUT; create_full_put_path on; dav_access user:rw group:r all:r;
            }
          }
        }
        """
      try config.write(toFile: root + "/nginx.conf", atomically: true, encoding: .utf8)
      do {
        return try await TestServer.started(binary, ["-p", root, "-c", root + "/nginx.conf", "-e", root + "/error.log"], scratch: scratch, port: port)
      } catch {
        lastError = error
      }
    }
    throw lastError!
  }

  /// nginx, or nil with the reason recorded as a failure: `make test` provides it.
  static func startedNginx(_ scratch: TempDirectory, tls: TestCertificates? = nil) async throws -> TestServer? {
    guard let server = try await nginx(scratch, tls: tls) else {
      Issue.record("nginx is missing: `make test` extracts it into .build/test-tools (or set KILN_NGINX)")
      return nil
    }
    return server
  }

  @Test func putThenGetAndHeadOfActionEntriesAndBlobs() async throws {
    let scratch = TempDirectory(prefix: "kiln-nginx")
    guard let server = try await Self.startedNginx(scratch) else { return }
    defer { server.stop() }
    let client = try RemoteTesting.client("http://127.0.0.1:\(server.port)/")
    defer { client.shutdown() }
    #expect(client.helperProcessID == nil, "no request yet, no helper")

    let entry = Array("an action result".utf8), blob = [UInt8](repeating: 7, count: 10_000)
    let ac = "/ac/" + RemoteTesting.key(1), cas = "/cas/" + RemoteTesting.key(2)
    #expect(try await client.perform(HTTPRequest(.get, ac)).isMiss, "404 is a plain miss")
    #expect(try await client.perform(HTTPRequest(.head, cas)).isMiss)
    #expect(client.helperProcessID != nil)
    #expect(try await client.perform(HTTPRequest(.put, ac, body: .bytes(entry))).isSuccess)
    #expect(try await client.perform(HTTPRequest(.put, cas, body: .bytes(blob))).isSuccess)
    let got = try await client.perform(HTTPRequest(.get, ac))
    #expect(got.status == 200 && got.body == entry && got.bodyLength == Int64(entry.count))
    #expect(try await client.perform(HTTPRequest(.get, cas)).body == blob)
    let head = try await client.perform(HTTPRequest(.head, cas))
    #expect(head.status == 200 && head.body.isEmpty && head.header("content-length") == "10000")
    // The entry landed where Bazel's protocol says, under the server's root.
    #expect(FileManager.default.contents(atPath: scratch.path + "/root" + ac) == Data(entry))
    #expect(client.downError == nil)
  }

  @Test func bodiesGoToAndFromFiles() async throws {
    let scratch = TempDirectory(prefix: "kiln-nginx")
    guard let server = try await Self.startedNginx(scratch) else { return }
    defer { server.stop() }
    let client = try RemoteTesting.client("http://127.0.0.1:\(server.port)/cache")
    defer { client.shutdown() }
    let files = TempDirectory(prefix: "kiln-remote-files")
    let bytes = (0..<(1 << 20) + 123).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
    _ = FileManager.default.createFile(atPath: files.path + "/upload", contents: Data(bytes))
    let cas = "/cas/" + RemoteTesting.key(3)
    #expect(try await client.perform(HTTPRequest(.put, cas, body: .file(files.path + "/upload"))).isSuccess)

    let download = files.path + "/download.tmp"
    let got = try await client.perform(HTTPRequest(.get, cas, responseFile: download))
    #expect(got.status == 200 && got.body.isEmpty && got.bodyLength == Int64(bytes.count))
    #expect(FileManager.default.contents(atPath: download) == Data(bytes))

    // A miss writes no file; an empty blob makes an empty one.
    let missed = try await client.perform(HTTPRequest(.get, "/cas/" + RemoteTesting.key(4), responseFile: files.path + "/miss"))
    #expect(missed.isMiss && !FileManager.default.fileExists(atPath: files.path + "/miss"))
    _ = try await client.perform(HTTPRequest(.put, "/cas/" + RemoteTesting.key(5), body: .bytes([])))
    _ = try await client.perform(HTTPRequest(.get, "/cas/" + RemoteTesting.key(5), responseFile: files.path + "/empty"))
    #expect(FileManager.default.contents(atPath: files.path + "/empty") == Data())

    // The response file must be new: never written through what is there.
    await #expect(throws: RemoteError.self) {
      try await client.perform(HTTPRequest(.get, cas, responseFile: download))
    }
    #expect(client.downError == nil, "a local file problem does not put the client down")
    #expect(FileManager.default.contents(atPath: download) == Data(bytes), "the file that was there is untouched")

    // A body file that is not there: the request's own problem, the client stays up.
    await #expect(throws: RemoteError.self) {
      try await client.perform(HTTPRequest(.put, cas, body: .file(files.path + "/no-such-file")))
    }
    #expect(client.downError == nil)

    // Over the limit: an error, and no partial file left behind.
    let limited = files.path + "/limited"
    await #expect(throws: RemoteError.tooLarge(url: client.endpoint.requestURL(cas), limit: 1000)) {
      try await client.perform(HTTPRequest(.get, cas, responseFile: limited, responseLimit: 1000))
    }
    #expect(!FileManager.default.fileExists(atPath: limited))
  }

  @Test func httpsWithAnExtraCAAndAClientCertificate() async throws {
    let scratch = TempDirectory(prefix: "kiln-nginx")
    let certificates = try TestCertificates(in: scratch)
    guard let server = try await Self.startedNginx(scratch, tls: certificates) else { return }
    defer { server.stop() }
    let endpoint = try RemoteEndpoint(parsing: "https://127.0.0.1:\(server.port)/tls")
    let folder = certificates.folder
    let mutual = RemoteCredentials(clientCertificate: folder + "/client.pem", clientKey: folder + "/client.key",
                                   certificateAuthority: folder + "/ca.pem")
    let client = RemoteClient(endpoint: endpoint, credentials: mutual, helper: RemoteTesting.helper)
    defer { client.shutdown() }
    let path = "/ac/" + RemoteTesting.key(7)
    #expect(try await client.perform(HTTPRequest(.put, path, body: .bytes([1, 2, 3]))).isSuccess)
    #expect(try await client.perform(HTTPRequest(.get, path)).body == [1, 2, 3])

    // Without the client certificate: the server's 403.
    let anonymous = RemoteClient(endpoint: endpoint, credentials: RemoteCredentials(certificateAuthority: folder + "/ca.pem"),
                                 helper: RemoteTesting.helper)
    defer { anonymous.shutdown() }
    await #expect(throws: RemoteError.status(url: endpoint.requestURL(path), code: 403)) {
      try await anonymous.perform(HTTPRequest(.get, path))
    }
    // Without the CA: the server is not trusted, nothing is exchanged.
    let untrusting = RemoteClient(endpoint: endpoint, helper: RemoteTesting.helper)
    defer { untrusting.shutdown() }
    do {
      _ = try await untrusting.perform(HTTPRequest(.get, path))
      Issue.record("a server signed by an unknown CA was trusted")
    } catch {
      guard case .transfer(_, let detail) = error, detail.contains("certificate") else {
        Issue.record("\(error)")
        return
      }
    }
  }

  @Test func manyRequestsInFlightFromManyTasksAtOnce() async throws {
    let scratch = TempDirectory(prefix: "kiln-nginx")
    guard let server = try await Self.startedNginx(scratch) else { return }
    defer { server.stop() }
    let client = try RemoteTesting.client("http://127.0.0.1:\(server.port)")
    defer { client.shutdown() }
    let count = 48
    // Each task puts its own body and reads it back; every answer reaches its asker.
    let results = try await withThrowingTaskGroup(of: Bool.self) { group in
      for i in 0..<count {
        group.addTask {
          let path = "/cas/" + RemoteTesting.key(100 + i)
          let body = Self.body(i)
          _ = try await client.perform(HTTPRequest(.put, path, body: .bytes(body)))
          return try await client.perform(HTTPRequest(.get, path)).body == body
        }
      }
      var all: [Bool] = []
      for try await ok in group { all.append(ok) }
      return all
    }
    #expect(results.count == count && results.allSatisfy { $0 })
    // And from plain threads, as job threads would ask. The test waits without holding
    // a thread of Swift's small pool, which the threads' requests need.
    let (answers, collect) = AsyncStream.makeStream(of: Bool.self)
    let threads = (0..<8).map { i in
      Thread {
        let done = DispatchSemaphore(value: 0)
        Task {
          collect.yield((try? await client.perform(HTTPRequest(.get, "/cas/" + RemoteTesting.key(100 + i))).body) == Self.body(i))
          done.signal()
        }
        done.wait()
      }
    }
    threads.forEach { $0.start() }
    var got: [Bool] = []
    for await answer in answers {
      got.append(answer)
      if got.count == threads.count { break }
    }
    #expect(got.count == 8 && got.allSatisfy { $0 })
  }

  static func body(_ i: Int) -> [UInt8] { Array("blob number \(i) ".utf8) + [UInt8](repeating: UInt8(i), count: i * 1000) }
}
