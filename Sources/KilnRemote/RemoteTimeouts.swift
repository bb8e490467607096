/// How long kiln waits for the remote cache, which is never required: a slow or dead
/// server must cost a build seconds, not minutes.
///
///     KILN_REMOTE_CONNECT_TIMEOUT   seconds to connect (TCP and TLS), default 2
///     KILN_REMOTE_TIMEOUT           seconds without a byte before a transfer is given up, default 5
///     KILN_REMOTE_TOTAL_TIMEOUT     seconds one request may take in all, default 120
///
/// Values are decimal seconds (`0.5`); the stall time-out is whole seconds (libcurl's
/// low-speed check), rounded up.
package struct RemoteTimeouts: Sendable, Equatable {
  package var connect: Duration
  package var stall: Duration
  package var total: Duration

  package init(connect: Duration = .seconds(2), stall: Duration = .seconds(5), total: Duration = .seconds(120)) {
    self.connect = connect
    self.stall = stall
    self.total = total
  }

  /// The defaults, with what `environment` sets.
  package static func from(environment: [String: String]) throws(RemoteConfigError) -> RemoteTimeouts {
    var timeouts = RemoteTimeouts()
    if let d = try seconds("KILN_REMOTE_CONNECT_TIMEOUT", environment) { timeouts.connect = d }
    if let d = try seconds("KILN_REMOTE_TIMEOUT", environment) { timeouts.stall = d }
    if let d = try seconds("KILN_REMOTE_TOTAL_TIMEOUT", environment) { timeouts.total = d }
    return timeouts
  }

  private static func seconds(_ name: String, _ environment: [String: String]) throws(RemoteConfigError) -> Duration? {
    guard let text = environment[name], !text.isEmpty else { return nil }
    guard let value = Double(text), value > 0, value <= 86_400 else {
      throw .badSetting(name, "'\(text)' is not a number of seconds above 0 (at most 86400)")
    }
    return .milliseconds(Int((value * 1000).rounded(.up)))
  }

  var connectMilliseconds: UInt64 { Self.milliseconds(connect) }
  var stallSeconds: UInt64 { max(1, (Self.milliseconds(stall) + 999) / 1000) }
  var totalMilliseconds: UInt64 { Self.milliseconds(total) }

  /// When kiln stops waiting for the helper itself: its own limits, and then some. A
  /// helper that has not answered by then is stuck and is killed.
  var helperDeadline: Duration { connect + total + .seconds(10) }

  private static func milliseconds(_ d: Duration) -> UInt64 {
    UInt64(max(0, d.components.seconds)) * 1000 + UInt64(max(0, d.components.attoseconds) / 1_000_000_000_000_000)
  }
}
