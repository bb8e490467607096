import Foundation
import KilnRemote
import KilnTestSupport
import Testing

/// Credentials and time-outs come from the environment and the files it names, and a
/// mistake is one clear line before any request.
@Suite struct RemoteSettingsTests {
  @Test func credentialsComeFromTheEnvironmentOrFiles() throws {
    let scratch = TempDirectory(prefix: "kiln-remote-cred")
    try "  s3cret-token\n".write(toFile: scratch.path + "/token", atomically: true, encoding: .utf8)
    try "pa ss\n".write(toFile: scratch.path + "/password", atomically: true, encoding: .utf8)
    #expect(try RemoteCredentials.from(environment: ["KILN_REMOTE_TOKEN_FILE": scratch.path + "/token"])
      == RemoteCredentials(bearerToken: "s3cret-token"))
    #expect(try RemoteCredentials.from(environment: ["KILN_REMOTE_TOKEN": "abc"]) == RemoteCredentials(bearerToken: "abc"))
    #expect(try RemoteCredentials.from(environment: ["KILN_REMOTE_USER": "ci", "KILN_REMOTE_PASSWORD_FILE": scratch.path + "/password"])
      == RemoteCredentials(user: "ci", password: "pa ss"))
    #expect(try RemoteCredentials.from(environment: [:]) == RemoteCredentials())
  }

  @Test func credentialMistakesAreConfigurationErrors() throws {
    let scratch = TempDirectory(prefix: "kiln-remote-cred")
    let missing = scratch.path + "/none"
    #expect(throws: RemoteConfigError.unreadableFile(setting: "KILN_REMOTE_TOKEN_FILE", path: missing, reason: "No such file or directory")) {
      try RemoteCredentials.from(environment: ["KILN_REMOTE_TOKEN_FILE": missing])
    }
    #expect(throws: RemoteConfigError.badSetting("KILN_REMOTE_USER", "basic auth needs KILN_REMOTE_PASSWORD or KILN_REMOTE_PASSWORD_FILE too")) {
      try RemoteCredentials.from(environment: ["KILN_REMOTE_USER": "ci"])
    }
    #expect(throws: RemoteConfigError.badSetting("KILN_REMOTE_TOKEN", "set KILN_REMOTE_TOKEN or KILN_REMOTE_TOKEN_FILE, not both")) {
      try RemoteCredentials.from(environment: ["KILN_REMOTE_TOKEN": "a", "KILN_REMOTE_TOKEN_FILE": missing])
    }
    #expect(throws: RemoteConfigError.unreadableFile(setting: "KILN_REMOTE_CA", path: missing, reason: "No such file or directory")) {
      try RemoteCredentials.from(environment: ["KILN_REMOTE_CA": missing])
    }
  }

  @Test func timeoutsAreSecondsWithDefaults() throws {
    #expect(try RemoteTimeouts.from(environment: [:]) == RemoteTimeouts(connect: .seconds(2), stall: .seconds(5), total: .seconds(120)))
    #expect(try RemoteTimeouts.from(environment: ["KILN_REMOTE_CONNECT_TIMEOUT": "0.5", "KILN_REMOTE_TIMEOUT": "1"])
      == RemoteTimeouts(connect: .milliseconds(500), stall: .seconds(1), total: .seconds(120)))
    #expect(throws: RemoteConfigError.badSetting("KILN_REMOTE_TIMEOUT", "'soon' is not a number of seconds above 0 (at most 86400)")) {
      try RemoteTimeouts.from(environment: ["KILN_REMOTE_TIMEOUT": "soon"])
    }
  }

  @Test func theHelperIsFoundBesideKilnOrWhereTheEnvironmentSays() throws {
    let scratch = TempDirectory(prefix: "kiln-remote-find")
    try FileManager.default.createDirectory(atPath: scratch.path + "/bin", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: scratch.path + "/libexec/kiln", withIntermediateDirectories: true)
    #expect(RemoteHelper.locate(environment: [:], executable: scratch.path + "/bin/kiln")
      == .failure(.helperMissing([scratch.path + "/bin/kiln-remote", scratch.path + "/bin/../libexec/kiln/kiln-remote"])))
    _ = FileManager.default.createFile(atPath: scratch.path + "/libexec/kiln/kiln-remote", contents: Data(), attributes: [.posixPermissions: 0o755])
    #expect(RemoteHelper.locate(environment: [:], executable: scratch.path + "/bin/kiln")
      == .success(scratch.path + "/bin/../libexec/kiln/kiln-remote"))
    _ = FileManager.default.createFile(atPath: scratch.path + "/bin/kiln-remote", contents: Data(), attributes: [.posixPermissions: 0o755])
    #expect(RemoteHelper.locate(environment: [:], executable: scratch.path + "/bin/kiln") == .success(scratch.path + "/bin/kiln-remote"))
    #expect(RemoteHelper.locate(environment: ["KILN_REMOTE_HELPER": "/opt/x"], executable: scratch.path + "/bin/kiln") == .success("/opt/x"))
  }
}
