#if canImport(Glibc)
import Glibc
#endif
import KilnLauncher
import KilnSystem

/// How kiln becomes a compiler launcher, before any argument parsing:
/// - `kiln gcc ARGS`, `kiln /usr/bin/cc ARGS` (`CMAKE_C_COMPILER_LAUNCHER=kiln`, a
///   prefix in `CC`): the first word is a compiler's name or a path, and not one of
///   kiln's commands;
/// - `kiln -- NAME ARGS`: any program (a compiler named like a kiln command, or one
///   whose name kiln does not know, which then runs uncached);
/// - a link to kiln named like a compiler (`gcc`, `cc`, `clang++`, `x86_64-linux-gnu-gcc-12`)
///   first on PATH: the compiler is the next file of that name on PATH that is not kiln.
enum LauncherEntry {
  /// The compiler families kiln caches, as the last dash-separated part of a name
  /// without its version (`gcc-12`, `x86_64-linux-gnu-gcc`, `clang++-16`).
  /// (Arrays, not sets, here and below: a Set<String> made at start costs a scan of
  /// every protocol conformance in the binary, 0.05 ms of a 3 ms cache hit.)
  static let families = ["cc", "c++", "gcc", "g++", "clang", "clang++"]

  /// Whether a program named `name` (a path or a file name) is gcc or clang.
  static func isCompiler(_ name: String) -> Bool {
    var base = Paths.fileName(name)
    // A version suffix: -12, -16.0.
    if let dash = base.lastIndex(of: "-"), base[base.index(after: dash)...].allSatisfy({ $0.isNumber || $0 == "." }),
       base.index(after: dash) < base.endIndex {
      base = String(base[..<dash])
    }
    let family = base.split(separator: "-").last.map(String.init) ?? base
    return families.contains(family)
  }

  /// The resolved compilers of the launcher calls this process runs under, ':'-separated.
  static let chainVariable = "KILN_LAUNCHER_CHAIN"

  /// kiln's own subcommands: a first word that is one of them is never a compiler.
  static let commandNames: [String] = {
    var names = ["help"]
    for sub in KilnCommand.configuration.subcommands {
      if let name = sub.configuration.commandName { names.append(name) }
      names += sub.configuration.aliases
    }
    return names
  }()

  /// The launcher call `arguments` (and kiln's name) make, or nil for a kiln command.
  static func call(_ arguments: [String], as name: String) -> (compiler: String, arguments: [String], masquerade: Bool)? {
    if name != "kiln", isCompiler(name) { return (name, arguments, true) }
    guard let first = arguments.first else { return nil }
    if first == "--", arguments.count > 1 { return (arguments[1], Array(arguments.dropFirst(2)), false) }
    // A path (CMake's `kiln /usr/bin/cc`) or a compiler's name; any other word is left
    // to the command parser, whose error names a mistyped command. Subcommands are
    // asked last: listing them builds every command's configuration (2% of a null
    // build, for the `build` no compiler is named).
    guard !first.hasPrefix("-"), first.contains("/") || isCompiler(first), !commandNames.contains(first) else {
      return nil
    }
    return (first, Array(arguments.dropFirst()), false)
  }

  /// Runs the call; the compiler's status. A compiler that cannot be found is one line
  /// on stderr and status 127, as a shell says it.
  static func run(compiler: String, arguments: [String], masquerade: Bool) -> Int32 {
    let environment = Launch.currentEnvironment()
    // The compilers launcher calls above this one chose (kiln's, or another wrapper's
    // like ccache's masquerade folder, which skips only itself and so would start kiln
    // again): skipped, so the chain ends at the real compiler instead of looping.
    let chain = (environment[chainVariable] ?? "").split(separator: ":").map(String.init)
    guard chain.count < 8 else {
      Terminal.error("kiln: \(compiler): compiler launchers call each other in a loop (\(chain.joined(separator: " -> "))); "
        + "take one wrapper's folder off PATH")
      return 2
    }
    guard let path = resolve(compiler, environment["PATH"], skippingSelf: masquerade || !compiler.contains("/"),
                             skipping: chain)
    else {
      Terminal.error("kiln: \(compiler): compiler not found on PATH" + (masquerade ? " (after kiln's own link)" : ""))
      return 127
    }
    if let me = realPath("/proc/self/exe"), realPath(path) == me {
      Terminal.error("kiln: \(compiler) is kiln itself, not a compiler (put the real compiler's folder on PATH after kiln's links)")
      return 127
    }
    var cwd = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&cwd, cwd.count) != nil else {
      Terminal.error("kiln: cannot read the current folder: \(String(cString: strerror(errno)))")
      return 2
    }
    setenv(chainVariable, (chain + [realPath(path) ?? path]).joined(separator: ":"), 1)
    let launcher = Launcher(
      compilerName: compiler, compilerPath: path, arguments: arguments,
      directory: String(decoding: cwd.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
      environment: environment, cacheRoot: Context.cacheLocation(environment),
      cacheTrust: CacheTrust(environment: environment), knownCompiler: isCompiler(compiler) || isCompiler(path),
      nested: !chain.isEmpty)
    return launcher.run()
  }

  /// The compiler's file: a path as given; a name on PATH, skipping any file that is
  /// kiln itself (the masquerade link, or a `gcc` link to kiln earlier on PATH).
  static func resolve(_ program: String, _ path: String?, skippingSelf: Bool, skipping chain: [String] = []) -> String? {
    if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
    let me = realPath("/proc/self/exe")
    for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":", omittingEmptySubsequences: false) {
      let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + program
      var st = stat()
      guard access(candidate, X_OK) == 0, stat(candidate, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
      let real = realPath(candidate)
      if skippingSelf, let me, real == me { continue }
      if let real, chain.contains(real) { continue }
      return candidate
    }
    return nil
  }

  static func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
  }
}
