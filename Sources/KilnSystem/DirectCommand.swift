#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A task's command started without `/bin/sh -c` when the shell would do nothing but
/// split it into words and start one program, as GNU make does for a recipe line with
/// no shell syntax. A build of 1,000 `cp` tasks spent a quarter of its CPU starting
/// dash (docs/benchmarks.md); every compile pays one shell start.
///
/// What the shell would have done is reproduced exactly, or the command goes to the
/// shell: words are split on blanks; `$NAME` and `${NAME}` are replaced by the
/// environment's value (empty when unset) and split on blanks as an unquoted expansion
/// is; the program is looked up in `PATH` as dash looks it up; the program gets the
/// environment dash would pass on (only names that are shell variables, and `PWD`).
/// Anything else goes to the shell: quotes, backslashes, globs, `~`, redirections,
/// pipes, `;`, `&`, `#`, substitutions, a newline but at the end, a non-ASCII byte, an assignment
/// before the command, a shell builtin or keyword as the program, a variable the shell
/// sets itself, a value holding a glob or backslash, an `IFS` in the environment, a
/// `PATH` missing or with a relative folder, a program not found. And if starting the
/// program fails (a script without `#!`, a permission), the shell runs the command and
/// gives its own answer, so nothing differs but the missing intermediate process: a
/// program killed by a signal is reported as killed by it (the shell would have exited
/// with 128 + N and printed the signal's name).
package struct DirectCommand: Sendable, Equatable {
  /// The file to start: absolute, or relative to the working directory.
  package var path: String
  /// argv, the program's name as written first.
  package var arguments: [String]
  package var environment: [String: String]

  /// The direct form of `command` run in `workingDirectory` with `environment`, or nil
  /// when only the shell can run it as written.
  package static func plan(_ command: String, environment: [String: String],
                           workingDirectory: String) -> DirectCommand? {
    if environment["IFS"] != nil { return nil }
    // A block scalar's (`run: |`) last line break ends the command, as a blank would.
    var bytes = Array(command.utf8)
    while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
      bytes.removeLast()
    }
    guard let fields = split(bytes, environment), let program = fields.first,
          !shellWords.contains(program) else { return nil }
    // `NAME=value cmd` sets a variable; a `=` in a first word that is not an
    // assignment is too rare to tell apart.
    if program.contains("=") { return nil }
    guard let path = found(program, environment["PATH"], workingDirectory) else { return nil }
    return DirectCommand(path: path, arguments: fields,
                         environment: passed(environment, workingDirectory))
  }

  /// What `plan` worked out before, in this process: where `PATH` led each program,
  /// and the environment passed on from an environment in a working directory. Every
  /// instance of a task asks again with the same ones, and working them out again cost
  /// a tenth of a trivial task's instructions (each `PATH` folder tried in turn, each
  /// variable's name checked, the folder's real path). A program found is checked
  /// again before its path is used (still an executable file there); one not found is
  /// looked for again each time. Like a shell's table of commands, a program put
  /// during the build into a `PATH` folder before the one it was found in is not seen
  /// until the next build.
  private struct Memo {
    var found: [String: String] = [:]
    var passed: [String: (environment: [String: String], passed: [String: String])] = [:]
  }
  private static let memo = Mutex(Memo())

  private static func found(_ program: String, _ pathVariable: String?, _ directory: String) -> String? {
    // A name with a slash is looked up in the working directory, never remembered.
    guard let pathVariable, !program.contains("/") else { return lookUp(program, pathVariable, directory) }
    let key = pathVariable + "\u{0}" + program
    if let path = memo.withLock({ $0.found[key] }), isExecutableFile(path) { return path }
    guard let path = lookUp(program, pathVariable, directory) else { return nil }
    memo.withLock { $0.found[key] = path }
    return path
  }

  private static func passed(_ environment: [String: String], _ directory: String) -> [String: String] {
    if let last = memo.withLock({ $0.passed[directory] }), last.environment == environment { return last.passed }
    let passed = passedOn(environment, directory)
    memo.withLock { $0.passed[directory] = (environment, passed) }
    return passed
  }

  /// Bytes that are words' letters to the shell whatever surrounds them.
  private static let plain: [Bool] = {
    var table = [Bool](repeating: false, count: 256)
    for c in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(c)] = true }
    for c in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(c)] = true }
    for c in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(c)] = true }
    for c in "_-./,+:@%=".utf8 { table[Int(c)] = true }
    return table
  }()

  /// The fields the shell makes of `command`, or nil when it would do more than split
  /// words and expand plain variables.
  private static func split(_ command: [UInt8], _ environment: [String: String]) -> [String]? {
    var fields: [String] = []
    var field: [UInt8] = []
    /// Whether `field` is a field yet: a word that expands to nothing is no field.
    var started = false
    func end() {
      if started { fields.append(String(decoding: field, as: UTF8.self)) }
      field.removeAll(keepingCapacity: true)
      started = false
    }
    var i = 0
    while i < command.count {
      let c = command[i]
      if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") {
        end()
        i += 1
      } else if plain[Int(c)] {
        field.append(c)
        started = true
        i += 1
      } else if c == UInt8(ascii: "$") {
        guard let (name, next) = variable(command, after: i) else { return nil }
        guard !shellVariables.contains(name) else { return nil }
        let value = Array((environment[name] ?? "").utf8)
        // The value's blanks split fields; a glob or backslash in it would be matched
        // against the disk; dash keeps bytes over 0x7F for its own markers.
        for b in value {
          if b == UInt8(ascii: "*") || b == UInt8(ascii: "?") || b == UInt8(ascii: "[")
            || b == UInt8(ascii: "\\") || b >= 0x80 || b == 0 { return nil }
        }
        for b in value {
          if b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\n") {
            end()
          } else {
            field.append(b)
            started = true
          }
        }
        i = next
      } else {
        return nil
      }
    }
    end()
    return fields
  }

  /// The name of `$NAME` or `${NAME}` at `command[at]`, and the index after it.
  package static func variable(_ command: [UInt8], after at: Int) -> (String, Int)? {
    var i = at + 1
    let braced = i < command.count && command[i] == UInt8(ascii: "{")
    if braced { i += 1 }
    let start = i
    while i < command.count, isNameByte(command[i], first: i == start) { i += 1 }
    guard i > start else { return nil }
    let name = String(decoding: command[start..<i], as: UTF8.self)
    if braced {
      guard i < command.count, command[i] == UInt8(ascii: "}") else { return nil }
      i += 1
    }
    return (name, i)
  }

  private static func isNameByte(_ c: UInt8, first: Bool) -> Bool {
    (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
      || c == UInt8(ascii: "_") || (!first && c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
  }

  /// dash's builtins and reserved words: the shell runs these itself, and its `echo`,
  /// `printf`, `test` or `kill` differ from the programs of the same name.
  private static let shellWords: Set<String> = [
    ".", ":", "[", "alias", "bg", "break", "cd", "chdir", "command", "continue", "echo", "eval", "exec", "exit",
    "export", "false", "fc", "fg", "getopts", "hash", "jobs", "kill", "local", "printf", "pwd", "read", "readonly",
    "return", "set", "shift", "test", "times", "trap", "true", "type", "ulimit", "umask", "unalias", "unset",
    "wait", "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then", "until", "while",
    "function", "select", "time",
  ]

  /// Variables the shell sets or changes itself, whatever the environment says.
  private static let shellVariables: Set<String> = [
    "IFS", "PPID", "PS1", "PS2", "PS4", "OPTIND", "OPTARG", "PWD", "OLDPWD", "LINENO", "PATH", "HOME",
    "MAIL", "MAILPATH", "MAILCHECK", "ENV", "HISTSIZE", "TERM", "HOSTNAME", "SHELL", "_", "CDPATH",
  ]

  /// Where dash would find `program`: the first regular, executable file of that name
  /// in `PATH`'s folders (a name with a slash is not looked up). nil when dash's answer
  /// could differ (a relative folder in PATH) or there is none (the shell reports it).
  private static func lookUp(_ program: String, _ pathVariable: String?, _ directory: String) -> String? {
    if program.contains("/") {
      return isExecutableFile(program.hasPrefix("/") ? program : directory + "/" + program) ? program : nil
    }
    guard let pathVariable else { return nil }
    // Split as bytes: splitting into Characters cost 80,000 instructions a command.
    for folder in pathVariable.utf8.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false) {
      guard folder.first == UInt8(ascii: "/") else { return nil }
      let candidate = String(decoding: folder, as: UTF8.self) + (folder.last == UInt8(ascii: "/") ? "" : "/") + program
      if isExecutableFile(candidate) { return candidate }
    }
    return nil
  }

  private static func isExecutableFile(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG && access(path, X_OK) == 0
  }

  /// The environment dash passes to a program it starts: the variables whose names are
  /// shell names (it drops others), and `PWD`: kept when it names the working
  /// directory, else the directory's physical path.
  private static func passedOn(_ environment: [String: String], _ directory: String) -> [String: String] {
    var passed = environment.filter { isShellName($0.key) }
    if let pwd = passed["PWD"], pwd.hasPrefix("/"), sameFile(pwd, directory) { return passed }
    guard let real = realpath(directory, nil) else {
      passed["PWD"] = directory
      return passed
    }
    passed["PWD"] = String(cString: real)
    free(real)
    return passed
  }

  /// Whether `name` is a shell variable name (`[A-Za-z_][A-Za-z0-9_]*`).
  package static func isShellName<S: StringProtocol>(_ name: S) -> Bool {
    var first = true
    for c in name.utf8 {
      guard isNameByte(c, first: first) else { return false }
      first = false
    }
    return !first
  }

  private static func sameFile(_ a: String, _ b: String) -> Bool {
    var sa = stat(), sb = stat()
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
  }
}
