import Foundation
import KilnTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// CMake or Meson as the `kiln ninja` tests drive them: the fixture each configures
/// (`fixtures/cmake-project`, `fixtures/meson-project`), how it configures it into
/// `build/`, and what its build must produce.
enum Generator: String, Sendable {
  case cmake, meson

  var program: String { "/usr/bin/\(rawValue)" }
  var fixture: String { "\(rawValue)-project" }

  /// The option that drops the fixture's `-ffile-prefix-map`: objects then embed the
  /// absolute paths of their checkout in their debug info.
  var keepPathsOption: String { self == .cmake ? "-DCALC_REPRODUCIBLE=OFF" : "-Dreproducible=false" }

  /// Products every build must have made (relative to `build/`): the executable, the
  /// static library, the generated header, the custom target's outputs.
  var essentialProducts: [String] {
    switch self {
    case .cmake: ["calc", "lib/libarith.a", "lib/libgreet.so", "lib/generated/squares.h", "doc/usage.txt", "doc/version.txt"]
    case .meson: ["units", "lib/libconvert.a", "lib/units_table.h", "units.1", "units.txt"]
    }
  }

  /// Products the step-by-step scenario deletes (relative to `build/`): the
  /// executable, the libraries (CMake's through a link), the generated header, an
  /// object, one of the custom target's outputs.
  var deletedProducts: [String] {
    switch self {
    case .cmake: ["calc", "lib/libarith.a", "lib/libgreet.so.1", "lib/generated/squares.h", "CMakeFiles/calc.dir/src/main.c.o", "doc/usage.txt"]
    case .meson: ["units", "lib/libconvert.a", "lib/libformat.so.0.4.0", "lib/units_table.h", "units.p/src_main.c.o", "units.1"]
    }
  }

  /// What the scenarios edit in the fixture.
  var edits: FixtureEdits {
    switch self {
    case .cmake:
      FixtureEdits(
        source: SourceEdit(path: "lib/arith.c", old: "long total = 0;", new: "long total = 0;\n  if (count < 0) return -1;"),
        header: SourceEdit(path: "lib/arith.h", old: "#define ARITH_MAX_VALUES 64", new: "#define ARITH_MAX_VALUES 128"),
        buildFile: SourceEdit(path: "CMakeLists.txt", old: "project(calc VERSION 1.2.0", new: "project(calc VERSION 1.3.0"))
    case .meson:
      FixtureEdits(
        source: SourceEdit(path: "src/parse.c", old: "  char *end;\n", new: "  char *end;\n  if (*text == '+') text++;\n"),
        header: SourceEdit(path: "lib/convert.h", old: "#define CONVERT_NAME_MAX 16", new: "#define CONVERT_NAME_MAX 32"),
        buildFile: SourceEdit(path: "meson.build", old: "version: '0.4.0'", new: "version: '0.5.0'"))
    }
  }

  /// The generator's own command that runs the build tool it was configured with.
  var buildArguments: [String] { self == .cmake ? ["--build", "build"] : ["compile", "-C", "build"] }

  /// The arguments and environment that configure the sources in the working
  /// directory into `build/`, with `make` as the build tool (ninja, or kiln under a
  /// ninja name) and every C compile run through `launcher`.
  func configuration(make: String, launcher: String, options: [String]) -> (arguments: [String], environment: [String: String]) {
    switch self {
    case .cmake:
      (["-G", "Ninja", "-S", ".", "-B", "build", "-DCMAKE_MAKE_PROGRAM=\(make)", "-DCMAKE_C_COMPILER_LAUNCHER=\(launcher)"]
        + options, [:])
    case .meson:
      // A compiler given in CC also keeps Meson from putting ccache in front of it.
      (["setup", "build"] + options, ["NINJA": make, "CC": "\(launcher) cc"])
    }
  }

  /// Whether the output of the `test` target says that both of the fixture's tests passed.
  func testsPassed(_ output: String) -> Bool {
    switch self {
    case .cmake: output.contains("100% tests passed, 0 tests failed out of 2")
    case .meson: output.contains(#/\nOk:\s+2\s/#) && output.contains(#/\nFail:\s+0\s/#)
    }
  }

  /// Fails the test, naming the package to install, when the generator is not there.
  func requireInstalled() throws {
    for (program, package) in [(self.program, rawValue), (Builder.ninjaProgram, "ninja-build")]
    where !FileManager.default.isExecutableFile(atPath: program) {
      throw TempProjectError("\(program) is missing: `make test` installs it (apt-get install \(package))")
    }
  }
}

/// Who builds a copy: the real ninja, or `kiln ninja`.
enum Builder: String, Sendable {
  case ninja, kiln

  static let ninjaProgram = "/usr/bin/ninja"
}

/// What one build did: what the tool printed, how many C compiles really ran (counted
/// by the launcher), and kiln's summary counts (nil for ninja).
struct BuildRun: CustomStringConvertible {
  var result: KilnResult
  var compiles: Int
  var ran: Int?
  var restored: Int?

  /// The counts at the head of kiln's summary line: `kiln: N ran, M restored, ...`.
  init(_ result: KilnResult, compiles: Int) {
    self.result = result
    self.compiles = compiles
    if let match = result.stdout.firstMatch(of: #/kiln: (\d+) ran, (\d+) restored, /#) {
      ran = Int(match.1)
      restored = Int(match.2)
    }
  }

  var description: String { "\(compiles) compiles, \(result)" }
}

/// The programs all copies in one test share, kept outside every checkout (CMake
/// writes their absolute paths into commands, which must not differ between copies
/// because of them): `count-cc`, a compiler launcher that appends the working
/// directory of every compile to `compiles.log` and runs the compiler, and
/// `kiln-ninja`, a link to the kiln under test that is ninja to CMake and Meson.
final class BuildTools {
  let folder = TempDirectory(prefix: "kiln-it-tools")
  var launcher: String { folder.path + "/count-cc" }
  var kilnNinja: String { folder.path + "/kiln-ninja" }
  private var log: String { folder.path + "/compiles.log" }

  init() throws {
    let script = """
      #!/bin/sh
      # count-cc COMPILER ARGS...: one line in compiles.log beside this script for each
      # compile (a command with -c; links are not counted), then the compiler itself.
      for arg do
        if [ "$arg" = -c ]; then pwd -P >> "${0%/*}/compiles.log"; break; fi
      done
      exec "$@"

      """
    guard FileManager.default.createFile(atPath: launcher, contents: Data(script.utf8), attributes: [.posixPermissions: 0o755])
    else { throw TempProjectError("cannot write \(launcher)") }
    try FileManager.default.createSymbolicLink(atPath: kilnNinja, withDestinationPath: TempProject.kilnBinary)
  }

  /// How many compiles have run with `directory` as their working directory (the
  /// compiles of the generators' own checks run elsewhere).
  func compiles(in directory: String) -> Int {
    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").filter { $0 == directory }.count
  }
}

/// One copy of a generator fixture in a temporary folder, configured into `build/`
/// (the build tool recorded by the generator is ninja, or `kiln-ninja` for kiln) and
/// built by that tool, with a home and a kiln cache of its own or shared on purpose.
final class GeneratedProject {
  let generator: Generator
  let builder: Builder
  let project: TempProject
  let tools: BuildTools
  let options: [String]

  var root: String { project.root }
  var build: String { project.root + "/build" }

  /// A fresh copy of the fixture, configured.
  convenience init(_ generator: Generator, builtBy builder: Builder, tools: BuildTools, options: [String] = []) throws {
    try generator.requireInstalled()
    try self.init(generator, builtBy: builder, tools: tools, project: TempProject(Self.fixture(generator)), options: options)
  }

  /// Another checkout of `other`'s sources as they are now, at another path, sharing
  /// its kiln cache (a fresh worktree), configured like it.
  convenience init(checkoutOf other: GeneratedProject) throws {
    try self.init(other.generator, builtBy: other.builder, tools: other.tools,
                  project: other.project.clone(sharingCache: true), options: other.options)
  }

  private init(_ generator: Generator, builtBy builder: Builder, tools: BuildTools, project: TempProject, options: [String]) throws {
    self.generator = generator
    self.builder = builder
    self.project = project
    self.tools = tools
    self.options = options
    if builder == .kiln, generator == .meson {
      // Meson looks for ninja again when it regenerates (to run `-t cleandead`).
      project.environment["NINJA"] = tools.kilnNinja
    }
    let make = builder == .kiln ? tools.kilnNinja : Builder.ninjaProgram
    let (arguments, environment) = generator.configuration(make: make, launcher: tools.launcher, options: options)
    let configured = try run(generator.program, arguments, environment)
    guard configured.status == 0 else {
      throw TempProjectError("\(generator.rawValue) could not configure \(root): \(configured)")
    }
  }

  /// The fixture's files, path -> contents.
  private static func fixture(_ generator: Generator) throws -> [String: String] {
    // This file is <package>/Tests/KilnIntegrationTests/GeneratedProject.swift.
    let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("fixtures/" + generator.fixture).path
    guard let walker = FileManager.default.enumerator(atPath: folder) else {
      throw TempProjectError("no fixture at \(folder)")
    }
    var files: [String: String] = [:]
    for case let path as String in walker {
      var isFolder: ObjCBool = false
      guard FileManager.default.fileExists(atPath: folder + "/" + path, isDirectory: &isFolder), !isFolder.boolValue else { continue }
      files[path] = try String(contentsOfFile: folder + "/" + path, encoding: .utf8)
    }
    return files
  }

  /// Runs a program other than kiln in the root with this copy's home and kiln cache.
  ///
  /// Through `/bin/sh -c '"$0" "$@"'`: a child of `Program.run` inherits the signal
  /// mask of the test runner's thread, which blocks SIGCHLD among others, and CMake
  /// learns that a program it ran has ended from SIGCHLD: started directly it waits
  /// forever for the first one (`uname`). Debian's /bin/sh (dash) clears the mask when
  /// it starts, and a command it runs keeps the cleared mask (its `exec` builtin would
  /// put the inherited one back). kiln starts its tasks with an empty mask, so what
  /// kiln runs, CMake when it regenerates included, needs no such help.
  private func run(_ program: String, _ arguments: [String], _ extra: [String: String] = [:]) throws -> KilnResult {
    let environment = project.environment.merging(["HOME": project.home, "KILN_CACHE_DIR": project.cache.path]) { $1 }
    return try Program.run("/bin/sh", ["-c", #""$0" "$@""#, program] + arguments, in: root,
                           environment: environment.merging(extra) { $1 })
  }

  /// Builds `targets` (the defaults when none) with `ninja -C build` or
  /// `kiln ninja -C build`.
  @discardableResult
  func runBuild(_ targets: [String] = []) throws -> BuildRun {
    let before = tools.compiles(in: build)
    let result = switch builder {
    case .ninja: try run(Builder.ninjaProgram, ["-C", "build"] + targets)
    case .kiln: try project.kiln(["ninja", "-C", "build"] + targets)
    }
    return BuildRun(result, compiles: tools.compiles(in: build) - before)
  }

  /// Builds the defaults with the generator's own command (`cmake --build build`,
  /// `meson compile -C build`), which runs the build tool it was configured with.
  func runBuildThroughGenerator() throws -> BuildRun {
    let before = tools.compiles(in: build)
    let result = try run(generator.program, generator.buildArguments)
    return BuildRun(result, compiles: tools.compiles(in: build) - before)
  }

  /// Every file the build's manifest declares as an output of an edge that runs a
  /// command, relative to `build/`: what `ninja -t targets all` lists, less phony
  /// targets, the manifest itself (the generator writes it) and the absolute aliases
  /// CMake adds for custom commands' outputs (each is also listed relative).
  func products() throws -> [String] {
    let listed = try run(Builder.ninjaProgram, ["-C", "build", "-t", "targets", "all"])
    guard listed.status == 0 else { throw TempProjectError("ninja -t targets all in \(build): \(listed)") }
    return listed.stdout.split(separator: "\n").compactMap { line in
      guard let colon = line.range(of: ": ", options: .backwards) else { return nil }
      let path = String(line[..<colon.lowerBound])
      let rule = line[colon.upperBound...]
      return rule == "phony" || path == "build.ninja" || path.hasPrefix("/") ? nil : path
    }
  }

  /// The file at `path` (relative to `build/`) as a comparison sees it.
  func entry(_ path: String) -> BuildEntry {
    let absolute = build + "/" + path
    var st = stat()
    guard lstat(absolute, &st) == 0 else { return .missing }
    if st.st_mode & S_IFMT == S_IFLNK {
      return .link((try? FileManager.default.destinationOfSymbolicLink(atPath: absolute)) ?? "?")
    }
    return .file(project.bytes("build/" + path) ?? [], executable: st.st_mode & 0o100 != 0)
  }

  /// The names of the files and links under `build/` that both tools should leave the
  /// same, which is all of them but: hidden entries (`.ninja_log` and `.ninja_deps`,
  /// ninja's logs; `.kiln/`, kiln's state), depfiles (`*.d`: ninja deletes those of
  /// `deps = gcc` edges once it has read them, kiln keeps them) and
  /// `compile_commands.json` (Meson has ninja's `-t compdb` write it while configuring;
  /// `NinjaMesonTests` checks it on its own).
  func fileNames() -> [String] {
    project.files(under: "build").filter { !$0.hasSuffix(".d") && $0 != "compile_commands.json" }
  }
}

/// A build folder entry as two builds are compared: nothing, a link and where it
/// points, or a file's bytes and whether it is executable.
enum BuildEntry: Equatable {
  case missing
  case link(String)
  case file([UInt8], executable: Bool)

  var summary: String {
    switch self {
    case .missing: "missing"
    case .link(let target): "a link to \(target)"
    case .file(let bytes, let executable): "\(bytes.count) bytes\(executable ? ", executable" : "")"
    }
  }
}
