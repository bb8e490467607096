import Foundation
import KilnRemote
import KilnTestSupport

/// What the remote tests share: the built helper, and clients of it.
enum RemoteTesting {
  /// `.build/debug/kiln-remote`, beside the kiln under test.
  static var helper: String {
    URL(fileURLWithPath: TempProject.kilnBinary).deletingLastPathComponent().path + "/kiln-remote"
  }

  static func client(_ url: String, timeouts: RemoteTimeouts = RemoteTimeouts(), helper: String = helper) throws -> RemoteClient {
    RemoteClient(endpoint: try RemoteEndpoint(parsing: url), timeouts: timeouts, helper: helper)
  }

  /// 64 hex digits that name `seed` (not a real SHA-256: the HTTP cache does not check).
  static func key(_ seed: Int) -> String {
    let hex = String(seed, radix: 16)
    return String(repeating: "0", count: 64 - hex.count) + hex
  }
}
