import Foundation
import KilnTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A small C project built through kiln's launcher (`kiln gcc ...`, `CC="kiln ..."`, a
/// masquerade link), for the launcher's integration tests.
///
/// Its compiler is `tools/gcc`, a script that appends its arguments to
/// `$KILN_TEST_RUNS/gcc` and runs /usr/bin/gcc: a test tells the launcher's `-E` runs
/// (preprocessor mode) from real compiles and links. The script holds no path of its
/// checkout, so every checkout has the same compiler (its content is in the key).
///
/// The launcher stores nothing while an input is younger than 50 ms (its mtime or
/// ctime, `StatTrust`); setting an old mtime would renew the ctime, so `settle()`
/// waits that long after sources are written instead.
struct LauncherProject {
  let project: TempProject
  /// The checkout's root (the project's, or a second checkout's).
  let root: String

  static let kiln = TempProject.kilnBinary

  /// The counting compiler.
  static let wrapper = """
    #!/bin/sh
    # Counts its runs: one line per call, its arguments, in $KILN_TEST_RUNS/gcc.
    if [ -n "$KILN_TEST_RUNS" ]; then printf '%s\\n' "$*" >> "$KILN_TEST_RUNS/gcc"; fi
    exec /usr/bin/gcc "$@"

    """

  /// obj/%.o from src/%.c with include/ on the include path, linked into `app`;
  /// CFLAGS and CC from the command line.
  static let makefile = """
    CFLAGS = -O2 -Wall
    SRCS = $(sort $(wildcard src/*.c))
    OBJS = $(SRCS:src/%.c=obj/%.o)

    app: $(OBJS)
    \t$(CC) -o $@ $(OBJS)

    obj/%.o: src/%.c
    \t@mkdir -p obj
    \t$(CC) $(CFLAGS) -Iinclude -c $< -o $@

    clean:
    \trm -rf obj app

    .PHONY: clean

    """

  /// Four units: common.h included by all, b.h by b.c and c.c only. `app` prints 27.
  static let files: [String: String] = [
    "Makefile": makefile,
    "tools/gcc": wrapper,
    "include/common.h": """
      /* version 1 */
      #ifndef COMMON_H
      #define COMMON_H
      #define BASE 10
      int a(void);
      int b(void);
      int c(void);
      #endif

      """,
    "include/b.h": "#define B_VALUE 2\n",
    "src/main.c": """
      #include <stdio.h>
      #include "common.h"
      int main(void) { printf("%d\\n", a() + b() + c() + BASE); return 0; }

      """,
    "src/a.c": "#include \"common.h\"\nint a(void) { return BASE + 1; }\n",
    "src/b.c": "#include \"common.h\"\n#include \"b.h\"\nint b(void) { return B_VALUE; }\n",
    "src/c.c": "#include \"common.h\"\n#include \"b.h\"\nint c(void) { return B_VALUE * 2; }\n",
  ]

  static let units = ["a", "b", "c", "main"]

  /// A new project holding `files` (the four-unit project by default) plus the counting
  /// compiler, settled.
  init(_ files: [String: String] = Self.files, extra: [String: String] = [:]) throws {
    var all = files.merging(extra) { $1 }
    all["tools/gcc"] = Self.wrapper
    project = try TempProject(all, executable: ["tools/gcc"])
    root = project.root
    Self.settle()
  }

  /// Another checkout of `project` at `root`, sharing its cache.
  init(checkoutOf other: LauncherProject, at root: String) {
    project = other.project
    self.root = root
    try? FileManager.default.createDirectory(atPath: root + "/.runs", withIntermediateDirectories: true)
  }

  /// Waits past the launcher's racy window after files were written.
  static func settle() { usleep(120_000) }

  var cache: String { project.cache.path }
  var log: String { cache + "/launcher/log" }

  /// The environment of every program run here: this project's home and cache, the
  /// compiler's run counter, no make of an enclosing `make test` leaking in.
  var environment: [String: String] {
    ["HOME": project.home, "KILN_CACHE_DIR": cache, "KILN_TEST_RUNS": root + "/.runs", "MAKEFLAGS": "", "MFLAGS": "",
     "MAKELEVEL": ""]
  }

  func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : root + "/" + path }

  /// Runs `program` with `args` in `directory` (the root by default) through
  /// `/bin/sh -c '"$0" "$@"'`, so that argv[0] is `program` as written, as a shell or
  /// make gives it.
  @discardableResult
  func run(_ program: String, _ args: [String], in directory: String? = nil, environment extra: [String: String] = [:],
           timeout: Double = 120) throws -> KilnResult {
    try Program.run("/bin/sh", ["-c", #""$0" "$@""#, program] + args, in: directory.map(absolute) ?? root,
                    environment: environment.merging(extra) { $1 }, timeout: timeout)
  }

  /// `kiln ARGS` here.
  @discardableResult
  func kiln(_ args: [String], in directory: String? = nil, environment extra: [String: String] = [:]) throws -> KilnResult {
    try run(Self.kiln, args, in: directory, environment: extra)
  }

  /// `make ARGS` here; a failure is reported with its output.
  @discardableResult
  func make(_ args: [String], environment extra: [String: String] = [:]) throws -> KilnResult {
    let r = try run("/usr/bin/make", args, environment: extra, timeout: 300)
    #expect(r.status == 0, "make \(args.joined(separator: " ")) in \(root): \(r)")
    return r
  }

  /// `make clean` then `make ARGS`.
  @discardableResult
  func rebuild(_ args: [String], environment extra: [String: String] = [:]) throws -> KilnResult {
    try make(["clean"])
    return try make(args, environment: extra)
  }

  /// `CC=kiln tools/gcc`: the launcher as a prefix in CC.
  static let launched = "CC=\(kiln) tools/gcc"

  // MARK: - What ran

  /// Every call of the counting compiler so far, as its argument words.
  var compilerCalls: [[String]] {
    let text = (try? String(contentsOfFile: root + "/.runs/gcc", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
  }

  /// The preprocessor runs (`-E`) among them: the launcher's preprocessor mode.
  var preprocessorRuns: [[String]] { compilerCalls.filter { $0.contains("-E") } }
  /// The compiles (`-c` without `-E`).
  var compiles: [[String]] { compilerCalls.filter { $0.contains("-c") && !$0.contains("-E") } }

  /// The sources of the compiles made since `before` compiles, sorted.
  func sourcesCompiled(since before: Int) -> [String] {
    compiles.dropFirst(before).compactMap { words in words.first { $0.hasSuffix(".c") } }.sorted()
  }

  /// The outcome of every launcher call so far (`direct`, `miss`, ...), from the log.
  var outcomes: [String] {
    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").map { line in
      let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
      return fields.count == 7 && fields[0] == "L1" ? String(fields[2]) : "damaged: \(line)"
    }
  }

  /// Log lines with their reason: `uncacheable: link`.
  var outcomesWithReasons: [String] {
    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").map { line in
      let f = line.split(separator: "\t", omittingEmptySubsequences: false)
      return f.count == 7 ? (f[3].isEmpty ? String(f[2]) : "\(f[2]): \(f[3])") : "damaged: \(line)"
    }
  }

  /// How often each outcome occurs in `outcomes` after the first `before` ones.
  func counts(since before: Int) -> [String: Int] {
    outcomes.dropFirst(before).reduce(into: [:]) { $0[$1, default: 0] += 1 }
  }

  // MARK: - Files

  func bytes(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: absolute(path)).map { [UInt8]($0) } }

  func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: absolute(path)) }

  /// Every file under `folder` whose name ends in `suffix`, relative to the folder,
  /// with its size and a hash of its bytes (short enough for a failure message).
  func files(under folder: String, endingIn suffix: String) -> [String: String] {
    fileBytes(under: folder, endingIn: suffix).mapValues { bytes in
      var hash: UInt64 = 0xcbf2_9ce4_8422_2325
      for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
      return "\(bytes.count) bytes, fnv \(String(hash, radix: 16))"
    }
  }

  /// Every file under `folder` whose name ends in `suffix`, relative to the folder, with its bytes.
  func fileBytes(under folder: String, endingIn suffix: String) -> [String: [UInt8]] {
    let start = absolute(folder)
    var out: [String: [UInt8]] = [:]
    guard let walker = FileManager.default.enumerator(atPath: start) else { return out }
    for case let rel as String in walker where rel.hasSuffix(suffix) {
      out[rel] = FileManager.default.contents(atPath: start + "/" + rel).map { [UInt8]($0) } ?? []
    }
    return out
  }

  /// Writes `contents` to `path` in place (as an editor does), then settles.
  func write(_ path: String, _ contents: String) throws {
    try Data(contents.utf8).write(to: URL(fileURLWithPath: absolute(path)))
    Self.settle()
  }

  func remove(_ path: String) { TempDirectory.removeTree(absolute(path)) }

  func mkdir(_ path: String) throws {
    try FileManager.default.createDirectory(atPath: absolute(path), withIntermediateDirectories: true)
  }
}
