import ArgumentParser
@testable import KilnCLI
import Testing

/// Command lines the entry point runs without swift-argument-parser (its reflection
/// costs millions of instructions per process) must be read exactly as the parser
/// reads them; anything else is left to it.
@Suite struct PlainCommandLineTests {
  @Test func aGitHookRunIsReadAsTheParserReadsIt() throws {
    let plain: [[String]] = [
      ["hooks", "run", "pre-commit"], ["hooks", "run", "pre-push", "origin", "git@example.com:r.git"],
      ["hooks", "run", "commit-msg", ".git/COMMIT_EDITMSG"], ["hooks", "run", "prepare-commit-msg", "m", "message"],
      ["hooks", "run", "not-a-hook"],
    ]
    for arguments in plain {
      let hook = try #require(HooksCommand.Run.plainHook(arguments), "\(arguments)")
      let parsed = try #require(try KilnCommand.parseAsRoot(arguments) as? HooksCommand.Run, "\(arguments)")
      #expect(parsed.hook == hook, "\(arguments)")
    }
    let others: [[String]] = [
      ["hooks", "run"], ["hooks", "run", "--help"], ["hooks", "run", "-h"], ["hooks", "run", "pre-push", "-x"],
      ["hooks", "run", "pre-commit", "--help"], ["hooks", "run", ""], ["hooks", "install"], ["build"], ["hooks"],
    ]
    for arguments in others {
      #expect(HooksCommand.Run.plainHook(arguments) == nil, "\(arguments) is the parser's to read")
    }
  }
}
