import KilnRemote
import Testing

/// `remote:` / `KILN_REMOTE_CACHE` read into an endpoint, and the TLS rule.
@Suite struct RemoteEndpointTests {
  @Test func httpCacheURLsKeepTheirPrefix() throws {
    let e = try RemoteEndpoint(parsing: "https://cache.example.com/team/kiln/")
    #expect(e.kind == .httpCache && e.usesTLS && e.host == "cache.example.com" && e.port == 443 && e.prefix == "/team/kiln")
    #expect(e.requestURL("/ac/ab") == "https://cache.example.com:443/team/kiln/ac/ab")
    let local = try RemoteEndpoint(parsing: "http://127.0.0.1:8080")
    #expect(local.port == 8080 && local.prefix == "" && !local.usesTLS && local.isLoopback)
    #expect(local.requestURL("/cas/00") == "http://127.0.0.1:8080/cas/00")
  }

  @Test func grpcURLsNameAnInstance() throws {
    let e = try RemoteEndpoint(parsing: "grpcs://remote.example.com:8980/main/linux")
    #expect(e.kind == .grpc && e.usesTLS && e.port == 8980 && e.instanceName == "main/linux" && e.prefix == "")
    #expect(e.requestURL("/build.bazel.remote.execution.v2.Capabilities/GetCapabilities")
      == "https://remote.example.com:8980/build.bazel.remote.execution.v2.Capabilities/GetCapabilities")
    let h2c = try RemoteEndpoint(parsing: "grpc://[::1]:9000")
    #expect(h2c.host == "::1" && h2c.port == 9000 && h2c.instanceName == "" && h2c.isLoopback)
    #expect(h2c.requestURL("/a/B") == "http://[::1]:9000/a/B")
  }

  @Test func plainTextToAHostThatIsNotLoopbackIsAConfigurationError() {
    #expect(throws: RemoteConfigError.tlsRequired("http://cache.example.com/x", "https://")) {
      try RemoteEndpoint(parsing: "http://cache.example.com/x")
    }
    #expect(throws: RemoteConfigError.tlsRequired("grpc://10.0.0.5:8980", "grpcs://")) {
      try RemoteEndpoint(parsing: "grpc://10.0.0.5:8980")
    }
    #expect(RemoteConfigError.tlsRequired("http://cache.example.com/x", "https://").description
      == "remote cache http://cache.example.com/x: a host that is not loopback needs TLS (https://): credentials and cache entries never travel in the clear")
    for loopback in ["http://127.0.0.1:1", "http://127.1.2.3:1", "http://localhost:1", "grpc://[::1]:1", "grpc://LOCALHOST"] {
      #expect((try? RemoteEndpoint(parsing: loopback)) != nil, "\(loopback)")
    }
    // Not loopback, however it looks.
    for other in ["http://127.0.0.1.example.com", "http://128.0.0.1", "http://[::2]:1", "http://0.0.0.0:1"] {
      #expect((try? RemoteEndpoint(parsing: other)) == nil, "\(other)")
    }
  }

  @Test func badURLsSayWhatIsWrong() {
    let cases: [(String, String)] = [
      ("cache.example.com", "it has no scheme (http://, https://, grpc:// or grpcs://)"),
      ("ftp://127.0.0.1/", "the scheme ftp is none of http, https, grpc and grpcs"),
      ("https://user:secret@cache.example.com", "credentials never go in the URL: use KILN_REMOTE_TOKEN, KILN_REMOTE_USER and KILN_REMOTE_PASSWORD"),
      ("https://cache.example.com:99999", "the port 99999 is not a number from 1 to 65535"),
      ("https:///ac", "it names no host"),
      ("https://cache.example.com/?x=1", "a query or fragment has no meaning here"),
    ]
    for (url, why) in cases {
      #expect(throws: RemoteConfigError.badURL(url, why)) { try RemoteEndpoint(parsing: url) }
    }
  }
}
