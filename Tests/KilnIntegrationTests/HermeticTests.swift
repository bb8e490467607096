import Foundation
import KilnTestSupport
import Testing

/// No test may touch the real HOME: not `~/.cache/kiln` (a test that inherited it
/// failed the first time on a fresh machine and passed the second, issue 12), not
/// `~/.gitconfig`, not Chromium's folders. Every child of a test gets a temporary home
/// and cache from `TestEnvironment`. Two guards:
///
/// - `everyProcessLaunchInTestCodeSetsATemporaryHome` reads the test sources: a
///   `Process()` launched without `environment = TestEnvironment.variables(...)`, or any
///   other way of starting a process, fails it. A leak needs a launch, and a launch
///   without that line inherits the runner's HOME: this is the check that fails when a
///   test leaks, without depending on which tests ran first.
/// - `make test` runs the suite with HOME pointed at an empty temporary folder and fails
///   when `.cache/kiln` appeared in it (a kiln started with the runner's own HOME).
///
/// `helpersGiveEveryChildATemporaryHomeAndCache` checks the helpers themselves.
@Suite struct HermeticTests {
  /// The package root: this file is <root>/Tests/KilnIntegrationTests/HermeticTests.swift.
  static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path

  /// Every Swift file of the tests and of KilnTestSupport, relative to the root.
  static func testSources() -> [String] {
    var result: [String] = []
    for folder in ["Tests", "Sources/KilnTestSupport"] {
      guard let walker = FileManager.default.enumerator(atPath: packageRoot + "/" + folder) else { continue }
      for case let rel as String in walker where rel.hasSuffix(".swift") {
        result.append(folder + "/" + rel)
      }
    }
    return result.sorted()
  }

  @Test func everyProcessLaunchInTestCodeSetsATemporaryHome() throws {
    let sources = Self.testSources()
    #expect(sources.contains("Sources/KilnTestSupport/TempProject.swift"), "the scan found the sources: \(sources)")
    // Spelled in pieces so that this file does not match itself.
    let launch = "Process" + "()"
    let hermetic = "environment = TestEnvironment" + ".variables("
    let otherWays = ["posix" + "_spawn", "popen" + "(", "system" + "(", "execv" + "(", "execvp" + "(", "fork" + "()"]
    var problems: [String] = []
    for path in sources {
      let text = try String(contentsOfFile: Self.packageRoot + "/" + path, encoding: .utf8)
      var rest = text[...]
      while let found = rest.range(of: launch) {
        // From the construction to the launch (`.run()`, or `runUnmasked(`, which runs
        // it): the environment must be set.
        let tail = rest[found.upperBound...]
        let end = [tail.range(of: ".run()")?.upperBound, tail.range(of: "runUnmasked(")?.upperBound]
          .compactMap { $0 }.min() ?? tail.endIndex
        let line = text[..<found.lowerBound].filter { $0 == "\n" }.count + 1
        if !tail[..<end].contains(hermetic) {
          problems.append("\(path):\(line): a Process launched without `\(hermetic)...)`")
        }
        rest = tail
      }
      for word in otherWays where Self.calls(word, in: text) {
        problems.append("\(path): starts a process with \(word); use Process with TestEnvironment")
      }
    }
    #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
  }

  /// Whether `word` occurs as a name of its own, not as the end of a longer name
  /// (a file system type, say).
  static func calls(_ word: String, in text: String) -> Bool {
    var rest = text[...]
    while let found = rest.range(of: word) {
      let before = found.lowerBound > text.startIndex ? text[text.index(before: found.lowerBound)] : " "
      if !(before.isLetter || before.isNumber || before == "_") { return true }
      rest = text[found.upperBound...]
    }
    return false
  }

  @Test func helpersGiveEveryChildATemporaryHomeAndCache() throws {
    let realHome = ProcessInfo.processInfo.environment["HOME"] ?? ""
    let show = #"printf '%s\n' "$HOME" "$XDG_CACHE_HOME" "$XDG_CONFIG_HOME" "$KILN_CACHE_DIR""#
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          env:
            outputs: env.txt
            run: \(Fixture.quoted(show + " > {out}"))
        """
    ])
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    let fromKiln = (p.read("env.txt") ?? "").split(separator: "\n").map(String.init)
    #expect(fromKiln == [p.home, p.home + "/.cache", p.home + "/.config", p.cache.path], "a task of kiln run by TempProject")
    #expect(try FileManager.default.contentsOfDirectory(atPath: p.cache.path).isEmpty == false, "the build stored into the project's cache")

    let program = try Program.run("/bin/sh", ["-c", show], in: p.root)
    let fromProgram = program.stdout.split(separator: "\n").map(String.init)
    #expect(fromProgram.count == 4, "\(program)")
    for value in fromKiln + fromProgram {
      #expect(value.hasPrefix("/tmp/"), "\(value) is not a temporary folder")
      #expect(realHome.isEmpty || (value != realHome && !value.hasPrefix(realHome + "/")), "\(value) is under the real HOME")
    }
  }
}
