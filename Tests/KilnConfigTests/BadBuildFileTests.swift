import KilnConfig
import KilnCore
import KilnSystem
import Testing

/// Every `fixtures/bad/<case>/`: its `kiln.yml`, parsed and expanded in a temp copy of
/// the folder, fails with exactly the one line in `expected-stderr`.
@Suite struct BadBuildFileTests {
  static let directory: String = {
    // #filePath is .../Tests/KilnConfigTests/BadBuildFileTests.swift
    let packageRoot = Paths.parent(Paths.parent(Paths.parent(#filePath)))
    return packageRoot + "/fixtures/bad"
  }()

  static let cases: [String] = (LocalFileSystem().contents(ofDirectory: directory) ?? [])
    .filter { LocalFileSystem().stat(directory + "/" + $0 + "/kiln.yml") != nil }
    .sorted()

  /// Cases whose expected line is what kiln must print but does not yet. When one is
  /// fixed, Swift Testing reports the known issue as missing: delete the entry then.
  static let knownIssues: [String: Comment] = [:]

  /// The cases SPEC section 1 names, plus the ones the brief asks for: they must exist.
  static let required = [
    "unknown-top-level-field", "unknown-task-field", "unknown-task-in-deps", "unknown-task-in-hooks",
    "unknown-task-in-default", "unknown-git-hook", "duplicate-output-two-tasks", "duplicate-output-foreach",
    "cycle-deps", "cycle-files", "output-absolute", "output-dotdot", "output-symlink", "empty-run",
    "missing-run", "yaml-syntax-error", "wrong-type-mapping", "bad-timeout", "stem-without-foreach",
    "missing-literal-input", "invalid-task-name", "duplicate-key",
  ]

  @Test func everyRequiredCaseIsThere() {
    for name in Self.required {
      #expect(Self.cases.contains(name), "fixtures/bad/\(name) is missing")
    }
  }

  @Test(arguments: cases)
  func failsWithTheExpectedLine(_ name: String) throws {
    let folder = Self.directory + "/" + name
    let fileSystem = LocalFileSystem()
    let expectedText = String(decoding: try fileSystem.read(folder + "/expected-stderr"), as: UTF8.self)
    #expect(expectedText.hasSuffix("\n"), "expected-stderr ends with a newline, as kiln prints it")
    let lines = expectedText.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
    try #require(lines.count == 1, "expected-stderr holds exactly one line")
    let expected = String(lines[0])
    #expect(expected.hasPrefix("kiln.yml:"))

    let yaml = String(decoding: try fileSystem.read(folder + "/kiln.yml"), as: UTF8.self)
    let workspace = ScratchDirectory()
    workspace.copy(tree: folder, skipping: ["expected-stderr"])
    let error = try #require(workspace.error(yaml), "\(name)/kiln.yml parsed and expanded without error")

    if let reason = Self.knownIssues[name] {
      withKnownIssue(reason) { #expect(error.description == expected) }
    } else {
      #expect(error.description == expected)
    }
  }
}
