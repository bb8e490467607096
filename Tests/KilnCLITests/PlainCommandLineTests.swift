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

  /// `kiln ninja` is read by its own parser alone (`KilnMain.parse`): the same fields
  /// as the root's parse, and the root's help and errors for anything else.
  @Test func kilnNinjaIsReadAsTheRootReadsIt() throws {
    let lines: [[String]] = [
      ["ninja"], ["ninja", "-j", "2"], ["ninja", "-j", "2", "-k", "0", "all"], ["ninja", "-v", "-d", "explain", "a", "b"],
      ["ninja", "-n", "--quiet"], ["ninja", "--version"], ["ninja", "-l", "1.5", "--json", "--trace", "t.json"],
      ["ninja", "-t", "targets", "all"], ["ninja", "--explain", "-q", "lib/x.a"],
    ]
    func fields(_ c: NinjaCommand) -> String {
      "\(String(describing: c.j)) \(String(describing: c.k)) \(String(describing: c.l)) \(c.n) \(c.v) \(c.d) "
        + "\(String(describing: c.t)) \(c.version) \(c.explain) \(c.json) \(String(describing: c.trace)) \(c.quiet) \(c.targets)"
    }
    for line in lines {
      let direct = try #require(try KilnMain.parse(line) as? NinjaCommand, "\(line)")
      let root = try #require(try KilnCommand.parseAsRoot(line) as? NinjaCommand, "\(line)")
      #expect(fields(direct) == fields(root), "\(line)")
    }
    // Refused lines and help: the root's answer, word for word (help is a command of
    // the parser's, not `kiln ninja`).
    func outcome(_ parse: () throws -> any ParsableCommand) -> String {
      do { return "parsed \(type(of: try parse()))" } catch { return "refused: " + KilnCommand.fullMessage(for: error) }
    }
    for line in [["ninja", "--bogus"], ["ninja", "-j"], ["ninja", "--help"], ["ninja", "-h"], ["ninja", "-j", "x"]] {
      let direct = outcome { try KilnMain.parse(line) }
      let root = outcome { try KilnCommand.parseAsRoot(line) }
      #expect(direct == root, "\(line)")
      #expect(!direct.contains("NinjaCommand"), "\(line): \(direct)")
    }
  }
}
