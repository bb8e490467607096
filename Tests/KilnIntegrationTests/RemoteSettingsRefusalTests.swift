import KilnTestSupport
import Testing

/// A remote kiln must not use is refused before anything runs: one line on stderr
/// naming what is wrong, exit status 2, no task run, no network (every URL here that
/// could be reached is a loopback port nothing listens on, or a host TLS would be
/// required for).
@Suite struct RemoteSettingsRefusalTests {
  struct BadRemote: Sendable, CustomTestStringConvertible {
    var name: String
    /// Appended to kiln.yml.
    var yaml: String
    var environment: [String: String] = [:]
    /// A piece of text the one line must hold: it says what is wrong.
    var mentions: String
    var testDescription: String { name }
  }

  static let badRemotes = [
    BadRemote(name: "http to a host that is not loopback", yaml: "remote: http://example.com/x\n", mentions: "example.com"),
    BadRemote(name: "the same from the environment", yaml: "",
              environment: ["KILN_REMOTE_CACHE": "http://example.com/x"], mentions: "example.com"),
    BadRemote(name: "grpc without TLS to a host that is not loopback", yaml: "remote: grpc://example.com\n",
              mentions: "example.com"),
    BadRemote(name: "an unknown field under remote", yaml: "remote:\n  url: http://127.0.0.1:9/x\n  token: secret\n",
              mentions: "token"),
    BadRemote(name: "a verify key that is not there", yaml: "remote:\n  url: http://127.0.0.1:9/x\n  verify_key: keys/none.pem\n",
              mentions: "none.pem"),
    BadRemote(name: "a verify key that is not a key", yaml: "remote:\n  url: http://127.0.0.1:9/x\n  verify_key: in.txt\n",
              mentions: "in.txt"),
    BadRemote(name: "a verify key from the environment that is not there", yaml: "remote: http://127.0.0.1:9/x\n",
              environment: ["KILN_REMOTE_VERIFY_KEY": "/nonexistent/ci.pub.pem"], mentions: "ci.pub.pem"),
    // Remote execution (issue 19).
    BadRemote(name: "an execute endpoint over HTTP", yaml: "remote:\n  execute: http://127.0.0.1:9/x\n",
              mentions: "not a grpc:// or grpcs:// URL"),
    BadRemote(name: "an execute endpoint without TLS off loopback", yaml: "",
              environment: ["KILN_REMOTE_EXECUTE": "grpc://example.com/main"], mentions: "example.com"),
    BadRemote(name: "no actions at once", yaml: "remote:\n  execute: grpc://127.0.0.1:9\n  execute_jobs: 0\n",
              mentions: "kiln.yml:"),
    BadRemote(name: "a patience that is not seconds", yaml: "remote:\n  execute: grpc://127.0.0.1:9\n",
              environment: ["KILN_REMOTE_EXECUTE_TIMEOUT": "soon"], mentions: "KILN_REMOTE_EXECUTE_TIMEOUT"),
    BadRemote(name: "remote with neither a cache nor an endpoint", yaml: "remote:\n  write: true\n", mentions: "'remote' needs"),
  ]

  @Test(arguments: badRemotes)
  func aBadRemoteIsOneLineAndExitTwo(_ bad: BadRemote) throws {
    let p = try TempProject(["kiln.yml": Fixture.copyTask + "\n" + bad.yaml, "in.txt": "x\n"])
    let r = try p.kiln("build", environment: bad.environment)
    #expect(r.status == 2, "\(r)")
    #expect(r.stderrLines.count == 1, "\(r)")
    #expect(r.stderrLines.first?.contains(bad.mentions) == true, "\(r)")
    #expect(p.runs("copy") == 0 && !p.exists("out.txt"), "nothing runs: \(r)")
  }
}
