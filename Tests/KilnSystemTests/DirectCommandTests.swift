#if canImport(Glibc)
import Glibc
#endif
import KilnSystem
import KilnTestSupport
import Testing

/// `DirectCommand`: a command is started without the shell only when the shell would
/// have started the same program with the same arguments and environment. Each answer
/// is compared with what `/bin/sh` itself does with the same text.
@Suite(.timeLimit(.minutes(1))) struct DirectCommandTests {
  let scratch = TempDirectory(prefix: "kiln-direct")
  let runner = ShellProcessRunner()
  let path = "/usr/bin:/bin"

  /// Writes `text` to `relative` under the scratch folder, making its folder.
  func write(_ relative: String, _ text: String) throws {
    let full = scratch.path + "/" + relative
    if let slash = full.lastIndex(of: "/") { _ = mkdir(String(full[..<slash]), 0o755) }
    guard let file = fopen(full, "w") else { throw Failure(path: full) }
    fputs(text, file)
    fclose(file)
  }

  struct Failure: Error { var path: String }

  func plan(_ command: String, _ environment: [String: String]) -> DirectCommand? {
    DirectCommand.plan(command, environment: environment, workingDirectory: scratch.path)
  }

  /// The fields the shell makes of `command`'s words, asked of the shell itself.
  func shellFields(_ command: String, _ environment: [String: String]) async throws -> String {
    let completion = try await runner.run(Invocation(
      command: "set -- \(command); for a; do printf '<%s>' \"$a\"; done",
      workingDirectory: scratch.path, environment: environment))
    return String(decoding: completion.stdout, as: UTF8.self)
  }

  @Test func wordsAndPlainVariablesAreSplitAsTheShellSplitsThem() async throws {
    let environment = [
      "PATH": path, "CC": "cc -std=gnu99", "CFLAGS": "  -O2\t-Wall \n -DX=1 ", "EMPTY": "", "BLANKS": "   ",
      "ONE": "one", "OUT": "build/a b.o",
    ]
    let commands = [
      "cp src/a.txt out/a.txt",
      "$CC $CFLAGS -Iinclude -MD -MF build/x.d -c src/x.c -o build/x.o",
      "${CC} -o bin/app build/a.o build/b.o -lm",
      "cc -I$EMPTY x $EMPTY y $BLANKS z",
      "cc a$ONE${ONE}b -DV=$ONE $UNSET_HERE",
      "cc x$CFLAGS${EMPTY}y",
      "cc -o $OUT",
      "  cc\t\t-c   a.c  ",
      "cc a,b c:d e@f g%h i+j",
    ]
    for command in commands {
      let direct = try #require(plan(command, environment), "\(command)")
      let expected = try await shellFields(command, environment)
      #expect(direct.arguments.map { "<\($0)>" }.joined() == expected, "\(command)")
    }
  }

  @Test func theProgramIsTheOneThePathFinds() throws {
    let bin = scratch.path + "/bin", later = scratch.path + "/later"
    for folder in [bin, later] { #expect(mkdir(folder, 0o755) == 0) }
    try write("bin/tool", "not executable\n")
    try write("later/tool", "#!/bin/sh\n")
    #expect(chmod(later + "/tool", 0o755) == 0)
    try write("local-tool", "#!/bin/sh\n")
    #expect(chmod(scratch.path + "/local-tool", 0o755) == 0)

    #expect(plan("tool a", ["PATH": "\(bin):\(later)"])?.path == later + "/tool")
    #expect(plan("tool a", ["PATH": "\(bin):\(later)"])?.arguments == ["tool", "a"])
    #expect(plan("./local-tool", ["PATH": path])?.path == "./local-tool")
    #expect(plan("\(scratch.path)/local-tool", [:])?.path == "\(scratch.path)/local-tool")
    #expect(plan("cp a b", ["PATH": path])?.path == "/usr/bin/cp")
  }

  /// `plan` remembers where `PATH` led (a shell's table of commands), but never uses a
  /// program that is no longer there, and looks again for one it did not find.
  @Test func aRememberedProgramIsCheckedAgain() throws {
    let first = scratch.path + "/first", second = scratch.path + "/second"
    for folder in [first, second] { #expect(mkdir(folder, 0o755) == 0) }
    let environment = ["PATH": "\(first):\(second)"]
    #expect(plan("kiln-memo-tool x", environment) == nil)
    try write("second/kiln-memo-tool", "#!/bin/sh\n")
    #expect(chmod(second + "/kiln-memo-tool", 0o755) == 0)
    #expect(plan("kiln-memo-tool x", environment)?.path == second + "/kiln-memo-tool")
    #expect(plan("kiln-memo-tool y", environment)?.arguments == ["kiln-memo-tool", "y"])
    // Gone: found again where it is now, or nowhere.
    #expect(unlink(second + "/kiln-memo-tool") == 0)
    try write("first/kiln-memo-tool", "#!/bin/sh\n")
    #expect(chmod(first + "/kiln-memo-tool", 0o755) == 0)
    #expect(plan("kiln-memo-tool x", environment)?.path == first + "/kiln-memo-tool")
    #expect(chmod(first + "/kiln-memo-tool", 0o644) == 0)
    #expect(plan("kiln-memo-tool x", environment) == nil)
    // The environment passed on follows the one given, not the one remembered.
    let other = ["PATH": "/usr/bin:/bin", "KEEP": "1"]
    #expect(plan("cp a b", other)?.environment["KEEP"] == "1")
    #expect(plan("cp a b", ["PATH": "/usr/bin:/bin"])?.environment["KEEP"] == nil)
  }

  @Test func onlyTheShellRunsWhatNeedsTheShell() throws {
    let environment = ["PATH": path, "GLOB": "*.c", "ESC": "a\\b", "CC": "cc"]
    let shellOnly = [
      "echo hi", "printf x", "test -f a", "true", "exit 3", "cd sub", "kill 1", "if", ". ./env.sh",
      "cc a.c && ./a.out", "cc a.c; cc b.c", "cc a.c | tee log", "cc a.c > log", "cc < in", "cc &",
      "cc 'a b'", "cc \"a\"", "cc a\\ b", "cc *.c", "cc a?.c", "cc [ab].c", "cc ~/x.c", "cc $(pwd)", "cc `pwd`",
      "cc ${CC:-gcc}", "cc $1", "cc $?", "cc $$", "cc # a comment", "cc a.c\ncc b.c", "cc {a,b}.c", "cc (x)", "! cc",
      "CC=gcc cc a.c", "cc $GLOB", "cc $ESC", "cc $PATH", "cc $PWD", "cc $HOME", "cc é.c", "",
      "no-such-program-anywhere a", "./no-such-file",
    ]
    for command in shellOnly { #expect(plan(command, environment) == nil, "\(command)") }
    #expect(plan("cc a.c", ["PATH": path, "IFS": ":"]) == nil)
    #expect(plan("cc a.c", [:]) == nil, "no PATH: the shell's default path is its own")
    #expect(plan("cc a.c", ["PATH": "bin:\(path)"]) == nil, "a relative folder in PATH")
    #expect(plan("cc a.c", ["PATH": ":\(path)"]) == nil, "an empty folder in PATH is the current one")
    #expect(plan("$EMPTY", ["PATH": path, "EMPTY": ""]) == nil, "no program at all")
  }

  /// What a program started directly sees of the environment is what it sees started by
  /// the shell: the names that are shell names, and PWD.
  @Test func theProgramGetsTheEnvironmentTheShellPassesOn() async throws {
    let linked = scratch.path + "/linked"
    try write("real/.keep", "")
    #expect(symlink(scratch.path + "/real", linked) == 0)
    let cases: [(String, [String: String])] = [
      (scratch.path, ["PATH": path, "A": "1", "B-C": "2", "BASH_FUNC_f%%": "() { :; }"]),
      (scratch.path, ["PATH": path, "PWD": "/"]),
      (linked, ["PATH": path, "PWD": linked]),
      (linked, ["PATH": path]),
      (linked, ["PATH": path, "PWD": "relative"]),
    ]
    for (folder, environment) in cases {
      #expect(DirectCommand.plan("env", environment: environment, workingDirectory: folder) != nil)
      let direct = try await runner.run(Invocation(command: "env", workingDirectory: folder, environment: environment))
      let shell = try await runner.run(Invocation(command: "env;", workingDirectory: folder, environment: environment))
      func lines(_ c: Completion) -> [Substring] {
        String(decoding: c.stdout, as: UTF8.self).split(separator: "\n").sorted()
      }
      #expect(lines(direct) == lines(shell), "\(folder) \(environment)")
      #expect(direct.status == .exited(0) && shell.status == .exited(0))
    }
  }

  /// The runner starts a plain command without a shell in between: the program's parent
  /// is this process.
  @Test func aPlainCommandHasNoShellInBetween() async throws {
    // The last line break of a block scalar (`run: |`) ends the command like a blank.
    for command in ["cat /proc/self/status", "cat /proc/self/status\n", "cat /proc/self/status \n\n"] {
      let direct = try await runner.run(Invocation(command: command, workingDirectory: scratch.path,
                                                   environment: ["PATH": path]))
      let parent = String(decoding: direct.stdout, as: UTF8.self).split(separator: "\n")
        .first { $0.hasPrefix("PPid:") }?.split(separator: "\t").last
      #expect(parent.flatMap { Int32($0) } == getpid(), "\(command)")
    }
  }

  /// A program the kernel will not start (a script without `#!`) goes to the shell,
  /// which runs it as a shell script, as it would have.
  @Test func whatCannotBeStartedDirectlyGoesToTheShell() async throws {
    try write("script", "echo from the script \"$1\"\n")
    #expect(chmod(scratch.path + "/script", 0o755) == 0)
    #expect(plan("./script arg", ["PATH": path]) != nil)
    let completion = try await runner.run(Invocation(command: "./script arg", workingDirectory: scratch.path,
                                                     environment: ["PATH": path]))
    #expect(completion.status == .exited(0))
    #expect(String(decoding: completion.stdout, as: UTF8.self) == "from the script arg\n")
    let missing = try await runner.run(Invocation(command: "no-such-program-anywhere", workingDirectory: scratch.path,
                                                  environment: ["PATH": path]))
    #expect(missing.status == .exited(127))
    #expect(String(decoding: missing.stderr, as: UTF8.self).contains("not found"))
  }
}
