import Foundation
import KilnTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// kiln uses only a cache no other user can change (issue 12, item 5): one another
/// user owns, or that others can write, is refused with one line (exit 2), unless
/// `KILN_CACHE_SHARED=1` says it is shared; then the group may write it, but never
/// every user. With neither HOME nor XDG_CACHE_HOME the cache is a folder of this
/// user's own, made 0700. (The tests run as root: "another user" is uid 65534.)
@Suite struct CacheOwnershipTests {
  static let buildFile = Fixture.copyTask

  func project() throws -> TempProject {
    try TempProject(["kiln.yml": Self.buildFile, "in.txt": "one\n"])
  }

  func mode(_ path: String) -> mode_t? {
    var st = stat()
    return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : nil
  }

  func expectRefused(_ r: KilnResult, _ path: String, _ words: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == 2, "\(r)", sourceLocation: sourceLocation)
    #expect(r.stderrLines.count == 1 && r.stderr.contains(path + ":") && r.stderr.contains(words), "\(r)",
            sourceLocation: sourceLocation)
  }

  @Test func aCacheAnotherUserOwnsIsRefused() throws {
    let p = try project()
    #expect(chown(p.cache.path, 65534, 65534) == 0)
    expectRefused(try p.kiln("build"), p.cache.path, "owned by user 65534")
    #expect(p.runs("copy") == 0, "nothing ran with that cache")
    expectRefused(try p.kiln("cache", "stats"), p.cache.path, "owned by user 65534")

    // A subfolder too.
    #expect(chown(p.cache.path, geteuid(), getegid()) == 0)
    #expect(try p.kiln("build").status == 0)
    #expect(chown(p.cache.path + "/actions", 65534, 65534) == 0)
    try p.write("in.txt", "two\n")
    expectRefused(try p.kiln("build"), p.cache.path + "/actions", "owned by user 65534")

    // Said to be shared: any owner is accepted.
    let shared = try p.kiln(["build"], environment: ["KILN_CACHE_SHARED": "1"])
    #expect(shared.status == 0, "\(shared)")
  }

  @Test func aCacheOthersCanWriteIsRefusedUnlessSharedWithTheGroup() throws {
    let p = try project()
    #expect(try p.kiln("build").status == 0)
    try p.write("in.txt", "two\n")

    #expect(chmod(p.cache.path, 0o775) == 0)
    expectRefused(try p.kiln("build"), p.cache.path, "can be written by other users")
    let shared = try p.kiln(["build"], environment: ["KILN_CACHE_SHARED": "1"])
    #expect(shared.status == 0, "group-writable and shared: \(shared)")
    #expect(p.read("out.txt") == "two\n")

    // Every user: refused, shared or not, sticky or not.
    try p.write("in.txt", "three\n")
    #expect(chmod(p.cache.path, 0o1777) == 0)
    expectRefused(try p.kiln(["build"], environment: ["KILN_CACHE_SHARED": "1"]), p.cache.path, "every user")
    #expect(chmod(p.cache.path, 0o700) == 0)
    #expect(chmod(p.cache.path + "/locks/jobs", 0o666) == 0)
    expectRefused(try p.kiln("build"), p.cache.path + "/locks/jobs", "every user")
    #expect(chmod(p.cache.path + "/locks/jobs", 0o644) == 0)
    #expect(chmod(p.cache.path + "/blobs", 0o770) == 0)
    expectRefused(try p.kiln("build"), p.cache.path + "/blobs", "other users")
    #expect(chmod(p.cache.path + "/blobs", 0o755) == 0)
    #expect(try p.kiln("build").status == 0)
    #expect(p.read("out.txt") == "three\n")
  }

  /// kiln makes its cache private: the folder 0700, its subfolders and lock files
  /// writable by no one else (modes that do not depend on a umask that grants group
  /// write), so it never makes a cache it would then refuse.
  @Test func kilnMakesItsCacheFoldersPrivate() throws {
    let p = try project()
    let cache = p.cache.path + "/fresh"
    let r = try p.kiln(["build"], environment: ["KILN_CACHE_DIR": cache])
    #expect(r.status == 0, "\(r)")
    #expect(mode(cache) == 0o700)
    for name in ["blobs", "actions", "locks"] { #expect(mode(cache + "/" + name).map { $0 & 0o022 } == 0, "\(name)") }
    for name in ["locks/jobs", "locks/actions"] { #expect(mode(cache + "/" + name).map { $0 & 0o022 } == 0, "\(name)") }
  }

  /// With neither HOME nor XDG_CACHE_HOME (nor KILN_CACHE_DIR) the cache was
  /// `/tmp/.cache/kiln`, a path any user can make first. Now it is
  /// `$TMPDIR/kiln-cache-<uid>` (TMPDIR defaulting to /tmp), made 0700, and refused
  /// when someone else made it first.
  @Test func withoutHomeTheCacheIsAPrivateFolderOfThisUser() throws {
    let p = try project()
    let tmp = p.root + "/../tmp"
    try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    let env = ["HOME": "", "XDG_CACHE_HOME": "", "KILN_CACHE_DIR": "", "TMPDIR": tmp]
    let r = try p.kiln(["build"], environment: env)
    #expect(r.status == 0, "\(r)")
    let cache = tmp + "/kiln-cache-\(geteuid())"
    #expect(mode(cache) == 0o700, "the cache is \(cache), made 0700")
    #expect(!FileManager.default.fileExists(atPath: tmp + "/.cache"))

    // Made first by someone else: refused.
    TempDirectory.removeTree(cache)
    #expect(mkdir(cache, 0o755) == 0 && chown(cache, 65534, 65534) == 0)
    try p.write("in.txt", "two\n")
    expectRefused(try p.kiln(["build"], environment: env), cache, "owned by user 65534")
  }
}
