import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import KilnConfig
import KilnCore
import KilnSystem
import KilnWorkspaces

/// `kiln hooks install | uninstall | run HOOK` (SPEC §1 `hooks:`, §3).
struct HooksCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "hooks", abstract: "Git hooks that build what the staged change affects, on the staged content.",
    subcommands: [Install.self, Uninstall.self, Run.self])

  /// The first line after the shebang of every hook kiln writes: how uninstall and a
  /// second install recognise them.
  static let marker = "# kiln hook: written by `kiln hooks install`; `kiln hooks uninstall` puts back what was here"
  /// Where the hook that was there before is kept, beside kiln's.
  static let chainedSuffix = ".kiln-chained"

  /// The repository holding the build file's folder.
  static func repository(_ context: Context) async throws -> HookRepository {
    try await reportingDomainErrors {
      try await HookRepository.locate(context.root, git: LocalGit(environment: context.environment))
    }
  }

  /// The hooks to act on: the ones named, else every hook `hooks:` lists.
  static func hookNames(_ named: [String], _ file: BuildFile) throws -> [String] {
    let names = named.isEmpty ? file.hooks.keys.sorted() : named
    if names.isEmpty { throw CLIError("kiln: hooks: kiln.yml lists no hooks (add a 'hooks:' mapping)") }
    for name in names where !knownGitHooks.contains(name) {
      throw CLIError("kiln: hooks: '\(name)' is not a git hook")
    }
    return names
  }

  struct Install: KilnSubcommand {
    static let configuration = CommandConfiguration(
      commandName: "install", abstract: "Write the hooks (default: those kiln.yml lists), keeping any already there.")
    @Argument(help: "Hooks to install (pre-commit, pre-push, ...).") var hooks: [String] = []

    func run(in context: Context) async throws {
      try context.requireBuildFile()
      try context.checkStateFolder()
      let repo = try await HooksCommand.repository(context)
      let file = try context.buildFile()
      let names = try HooksCommand.hookNames(hooks, file)
      // A hook that runs no task would only cost every commit a kiln start.
      for name in names where (file.hooks[name] ?? []).isEmpty {
        let listed = file.hooks.filter { !$0.value.isEmpty }.keys.sorted()
        throw CLIError("kiln: hooks: \(file.displayPath) lists no task for '\(name)' (add it under 'hooks:'); nothing installed"
          + (listed.isEmpty ? "" : " (it lists \(listed.joined(separator: ", ")))"))
      }
      let fs = context.fileSystem
      do { try fs.createDirectories(repo.hooks) } catch { throw CLIError("kiln: hooks: cannot create \(repo.hooks)") }
      for name in names {
        let path = repo.hooks + "/" + name
        if let existing = try? fs.read(path), HooksCommand.isKilns(existing) {
          Terminal.line("kiln: hooks: \(name): already installed")
          continue
        }
        let chained = path + HooksCommand.chainedSuffix
        if fs.stat(path) != nil {
          guard fs.stat(chained) == nil else {
            throw CLIError("kiln: hooks: \(name): both \(path) and \(chained) exist; move one away")
          }
          // A rename keeps the old hook's bytes, mode and owner exactly.
          guard rename(path, chained) == 0 else {
            throw CLIError("kiln: hooks: cannot move \(path) aside: \(String(cString: strerror(errno)))")
          }
        }
        let script = HooksCommand.script(hook: name, kiln: HooksCommand.executablePath(), buildDirectory: repo.buildDirectory)
        do {
          try fs.writeAtomically(Array(script.utf8), to: path, permissions: 0o755)
        } catch {
          if fs.stat(chained) != nil { _ = rename(chained, path) }
          throw CLIError("kiln: hooks: cannot write \(path): \(error)")
        }
        Terminal.line("kiln: hooks: \(name): installed\(fs.stat(chained) != nil ? " (the hook that was there runs first)" : "")")
      }
    }
  }

  struct Uninstall: KilnSubcommand {
    static let configuration = CommandConfiguration(
      commandName: "uninstall", abstract: "Remove kiln's hooks and put back the ones that were there.")
    @Argument(help: "Hooks to uninstall (default: every hook kiln installed).") var hooks: [String] = []

    func run(in context: Context) async throws {
      try context.requireBuildFile()
      try context.checkStateFolder()
      let repo = try await HooksCommand.repository(context)
      let fs = context.fileSystem
      let names = hooks.isEmpty ? knownGitHooks.sorted() : hooks
      for name in names {
        let path = repo.hooks + "/" + name
        guard let existing = try? fs.read(path), HooksCommand.isKilns(existing) else { continue }
        try? fs.remove(path)
        let chained = path + HooksCommand.chainedSuffix
        if fs.stat(chained) != nil {
          guard rename(chained, path) == 0 else {
            throw CLIError("kiln: hooks: cannot put back \(path): \(String(cString: strerror(errno)))")
          }
          Terminal.line("kiln: hooks: \(name): removed; the hook that was there is back")
        } else {
          Terminal.line("kiln: hooks: \(name): removed")
        }
      }
    }
  }

  static func isKilns(_ bytes: [UInt8]) -> Bool {
    String(decoding: bytes.prefix(400), as: UTF8.self).contains(marker)
  }

  /// This kiln binary, so the hook runs the kiln that installed it (`kiln` on PATH if
  /// that one is gone).
  static func executablePath() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return "kiln" }
    return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
  }

  /// The hook: the one that was there first (with the same arguments and stdin; its
  /// failure stops the hook), then `kiln hooks run` in kiln.yml's folder.
  static func script(hook: String, kiln: String, buildDirectory: String) -> String {
    func quote(_ s: String) -> String { "'" + s.replacingOccurrences("'", "'\\''") + "'" }
    return """
      #!/bin/sh
      \(marker)
      hook=\(quote(hook))
      kiln=\(quote(kiln))
      [ -x "$kiln" ] || kiln=kiln
      chained="$0\(chainedSuffix)"
      case $chained in /*) ;; *) chained="$PWD/$chained" ;; esac
      # git runs a hook at the top of the working tree; run by hand elsewhere, it goes there.
      [ -e .git ] || cd "$(git rev-parse --show-toplevel)" || exit 1
      if [ -x "$chained" ]; then
        input=$(mktemp) || exit 1
        trap 'rm -f "$input"' EXIT
        cat > "$input"
        "$chained" "$@" < "$input" || exit $?
        cd ./\(quote(buildDirectory)) || exit 1
        "$kiln" hooks run "$hook" "$@" < "$input"
      else
        cd ./\(quote(buildDirectory)) || exit 1
        exec "$kiln" hooks run "$hook" "$@"
      fi

      """
  }

  struct Run: KilnSubcommand {
    static let configuration = CommandConfiguration(
      commandName: "run", abstract: "Build the tasks a hook lists, on the staged content (pre-commit) or the pushed commits (pre-push).")
    @Argument(help: "The hook.") var hook: String
    @Argument(parsing: .captureForPassthrough, help: "What git passed to the hook.") var arguments: [String] = []

    func run(in context: Context) async throws { try await Self.run(hook, in: context) }

    /// What `kiln hooks run HOOK` does; the entry point calls it without the parser
    /// (whose reflection cost 8.8 million instructions, a third of the hook's own
    /// process) when the command line is plain words (`plainHook`).
    static func run(_ hook: String, in context: Context) async throws {
      try context.requireBuildFile()
      try context.checkStateFolder()
      let file = try context.buildFile()
      guard knownGitHooks.contains(hook) else { throw CLIError("kiln: hooks: '\(hook)' is not a git hook") }
      guard let targets = file.hooks[hook], !targets.isEmpty else {
        Terminal.error("kiln: hooks: \(hook): kiln.yml lists no task for it")
        return
      }
      let status = try await reportingDomainErrors {
        try await HookRun(context: context, hook: hook, targets: targets).run()
      }
      if status != 0 { throw ExitCode(status) }
    }
  }
}

extension HooksCommand.Run {
  /// The hook `hooks run HOOK ARGS...` names, when the parser would read it as that
  /// hook with ARGS passed through: no word after `run` starts with `-` (git passes a
  /// remote and a URL, a file name, a commit id; a flag such as `--help` is the
  /// parser's to read). nil for anything else.
  static func plainHook(_ arguments: [String]) -> String? {
    guard arguments.count >= 3, arguments[0] == "hooks", arguments[1] == "run" else { return nil }
    guard arguments.dropFirst(2).allSatisfy({ !$0.hasPrefix("-") && !$0.isEmpty }) else { return nil }
    return arguments[2]
  }
}

private extension String {
  func replacingOccurrences(_ target: String, _ replacement: String) -> String {
    split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
  }
}
