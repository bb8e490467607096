import Foundation
import KilnTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What kiln says when it cannot write its state or its cache (issue 12, item 20): one
/// line that names what is full or read-only, which path, and what to do; never
/// SQLite's bare `database or disk is full`, an internal word like `step:`, or the
/// name of a temporary blob.
///
/// The tests run as root, which chmod cannot stop, so the read-only folder and the
/// full disks are real: a read-only bind mount and tiny tmpfs mounts, made inside a
/// private mount namespace (`unshare -m`) that ends with the kiln it runs. Where mounts
/// are not allowed the tests do not run (`canMount`).
@Suite(.enabled(if: MountNamespace.available, "needs unshare -m and mount (root)"))
struct StateMessagesTests {
  static let buildFile = """
    tasks:
      small:
        inputs: [in.txt]
        outputs: small.txt
        run: cat in.txt > small.txt
      big:
        inputs: [in.txt]
        outputs: big.bin
        run: head -c 200000 /dev/urandom > big.bin && cat in.txt >> big.bin
    """

  /// What one run did.
  struct Result: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
    var description: String { "exit status \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)---" }
  }

  /// Runs `arguments` with `environment` added, in `directory`; stdout and stderr kept.
  static func run(_ arguments: [String], environment: [String: String], in directory: String) throws -> Result {
    let scratch = TempDirectory(prefix: "kiln-it-ns")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    process.environment = TestEnvironment.variables(in: scratch, environment)
    FileManager.default.createFile(atPath: scratch.path + "/out", contents: nil)
    FileManager.default.createFile(atPath: scratch.path + "/err", contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.path + "/out"))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.path + "/err"))
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try? out.close()
    try? err.close()
    return Result(status: process.terminationStatus,
                      stdout: (try? String(contentsOfFile: scratch.path + "/out", encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: scratch.path + "/err", encoding: .utf8)) ?? "")
  }

  /// `script` (sh, in the project root, `$KILN` the binary under test) in a private
  /// mount namespace, then `kiln args`.
  func kiln(_ p: TempProject, after script: String, _ args: String...) throws -> Result {
    let quoted = args.map { "'\($0)'" }.joined(separator: " ")
    return try Self.run(
      ["/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c", "set -e; \(script); exec \"$KILN\" \(quoted)"],
      environment: ["KILN": TempProject.kilnBinary, "KILN_CACHE_DIR": p.cache.path, "HOME": p.root + "/../home"],
      in: p.root)
  }

  func project() throws -> TempProject {
    let p = try TempProject(["kiln.yml": Self.buildFile, "in.txt": "one\n"])
    p.environment["HOME"] = p.root + "/../home"
    return p
  }

  @Test func aReadOnlyStateFolderIsNamedWithWhatToDo() throws {
    let p = try project()
    #expect(try p.kiln("build", "small").status == 0)
    try p.write("in.txt", "two\n")
    let r = try kiln(p, after: "mount --bind .kiln .kiln; mount -o remount,ro,bind .kiln", "build", "small")
    #expect(r.status == 2, "\(r)")
    #expect(r.stderrLines.count == 1, "\(r)")
    let line = r.stderrLines.first ?? ""
    #expect(line.contains(p.root + "/.kiln") && line.contains("read-only") && line.contains("writable"), "\(r)")
    #expect(!line.contains("step:"), "\(r)")
  }

  @Test func aFullDiskUnderTheStateFolderIsNamedWithWhatToDo() throws {
    let p = try project()
    try FileManager.default.createDirectory(atPath: p.root + "/.kiln", withIntermediateDirectories: true)
    let r = try kiln(p, after: "mount -t tmpfs -o size=64k tmpfs .kiln; dd if=/dev/zero of=.kiln/filler bs=4k 2>/dev/null || true",
                     "build", "small")
    #expect(r.status == 2, "\(r)")
    #expect(r.stderrLines.count == 1, "\(r)")
    let line = r.stderrLines.first ?? ""
    #expect(line.contains(p.root + "/.kiln/state.db") && line.contains("disk is full") && line.contains("free space"), "\(r)")
  }

  /// A filled cache mounted read-only still restores; a result it cannot store is one
  /// warning naming the cache, not a temporary entry's path.
  @Test func aReadOnlyCacheStillRestoresAndIsNamedWhenItCannotStore() throws {
    let p = try project()
    #expect(try p.kiln("build", "small").status == 0)
    p.remove("small.txt")
    p.remove(".kiln")
    let cache = p.cache.path
    try p.write("other.txt", "x\n")
    let r = try kiln(p, after: "mount --bind '\(cache)' '\(cache)'; mount -o remount,ro,bind '\(cache)'; "
                       + "\"$KILN\" build small; echo changed > in.txt", "build", "small")
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout.contains("1 restored"), "the read-only cache restored: \(r)")
    let said = r.stderrLines.filter { $0.contains("not cached") }
    #expect(said.count == 1, "\(r)")
    let line = said.first ?? ""
    #expect(line.contains(cache + ":") && line.contains("cannot be written") && !line.contains("kiln-tmp"), "\(r)")
  }

  @Test func aFullCacheIsNamedNotItsTemporaryBlob() throws {
    let p = try project()
    let cache = p.cache.path
    let script = """
      mount -t tmpfs -o size=256k,mode=0700 tmpfs '\(cache)'; "$KILN" build small >/dev/null 2>&1; \
      dd if=/dev/zero of='\(cache)/filler' bs=4k 2>/dev/null || true
      """
    let r = try kiln(p, after: script, "build", "big")
    #expect(r.status == 0, "a full cache is a warning, the build goes on: \(r)")
    let said = r.stderrLines.filter { $0.contains("not cached") }
    #expect(said.count == 1, "\(r)")
    let line = said.first ?? ""
    #expect(line.contains(cache) && line.contains("the cache is full") && line.contains("kiln cache gc"), "\(r)")
    #expect(!line.contains("kiln-tmp"), "\(r)")
  }
}

/// Whether this process may make a private mount namespace and mount in it.
enum MountNamespace {
  static let available: Bool =
    (try? StateMessagesTests.run(["/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                                  "mount -t tmpfs -o size=64k tmpfs /mnt"], environment: [:], in: "/").status) == 0
}
