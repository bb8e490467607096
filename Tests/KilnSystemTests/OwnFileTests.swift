#if canImport(Glibc)
import Glibc
#endif
import KilnSystem
import KilnTestSupport
import Testing

/// `OwnFile` and `CacheTrust`: kiln's own files (in `.kiln/` and the cache) are never
/// opened through a symbolic link, only regular files are read, and a private cache
/// refuses what another user owns or can write.
@Suite(.timeLimit(.minutes(1))) struct OwnFileTests {
  let scratch = TempDirectory(prefix: "kiln-ownfile")

  func path(_ name: String) -> String { scratch.path + "/" + name }

  func write(_ name: String, _ text: String, mode: mode_t = 0o644) throws {
    try LocalFileSystem().writeAtomically(Array(text.utf8), to: path(name), permissions: UInt32(mode))
  }

  @Test func opensAFileAndSaysNothingIsThere() throws {
    try write("state", "x")
    let fd = try #require(try OwnFile.open(path("state"), O_RDONLY))
    close(fd)
    #expect(try OwnFile.open(path("absent"), O_RDONLY) == nil)
    #expect(try OwnFile.read(path("state")) == Array("x".utf8))
    #expect(try OwnFile.read(path("absent")) == nil)
  }

  @Test func refusesASymbolicLinkEvenToAFileItCouldRead() throws {
    try write("target", "secret")
    #expect(symlink(path("target"), path("link")) == 0)
    #expect(throws: FileSystemError.self) { _ = try OwnFile.open(self.path("link"), O_RDONLY) }
    #expect(throws: FileSystemError.self) { _ = try OwnFile.open(self.path("link"), O_WRONLY | O_CREAT | O_TRUNC) }
    #expect(throws: FileSystemError.self) { _ = try OwnFile.read(self.path("link")) }
    #expect(throws: FileSystemError.self) { try OwnFile.refuseLink(self.path("link")) }
    do {
      _ = try OwnFile.open(path("link"), O_WRONLY | O_TRUNC)
      Issue.record("opened a link")
    } catch {
      #expect(error.message.contains("is a symbolic link"), "\(error)")
    }
    // What the link points at is untouched.
    #expect(try OwnFile.read(path("target")) == Array("secret".utf8))
    // A dangling link is refused too (O_CREAT would otherwise create its target).
    #expect(symlink(path("nowhere"), path("dangling")) == 0)
    #expect(throws: FileSystemError.self) { _ = try OwnFile.open(self.path("dangling"), O_WRONLY | O_CREAT) }
    #expect(access(path("nowhere"), F_OK) != 0)
  }

  /// A FIFO where kiln keeps a file would hang a read in open(2) (no writer) or
  /// read(2): it is not read at all.
  @Test func readsOnlyRegularFiles() async throws {
    let fifo = path("fifo")
    #expect(mkfifo(fifo, 0o644) == 0)
    let read = await withoutBlocking({ () -> String in
      do { return try OwnFile.read(fifo).map { "\($0.count) bytes" } ?? "nothing" } catch { return "\(error)" }
    }, unblock: { releaseReader(of: fifo) })
    #expect(read != nil, "reading a FIFO with no writer blocked")
    #expect(read == "nothing", "a FIFO was read")
    #expect(try OwnFile.read(scratch.path) == nil, "a folder")
  }

  @Test func makesAFolderAndRefusesALinkOrAFileInItsPlace() throws {
    try OwnFile.folder(path("made"))
    try OwnFile.folder(path("made"))  // already there: fine
    #expect(LocalFileSystem().lstat(path("made"))?.kind == .directory)
    #expect(symlink(path("made"), path("linked")) == 0)
    #expect(throws: FileSystemError.self) { try OwnFile.folder(self.path("linked")) }
    try write("file", "")
    #expect(throws: FileSystemError.self) { try OwnFile.folder(self.path("file")) }
  }

  // MARK: - Cache trust

  @Test func aPrivateCacheRefusesAnotherOwner() throws {
    try write("entry", "x")
    let me = geteuid()
    try CacheTrust(shared: false, user: me).check(path("entry"), folder: false)
    do {
      try CacheTrust(shared: false, user: me + 1).check(path("entry"), folder: false)
      Issue.record("accepted a file another user owns")
    } catch {
      #expect(error.message.hasPrefix("is owned by user \(me), not by you (\(me + 1))"), "\(error)")
    }
    // A shared cache accepts any owner.
    try CacheTrust(shared: true, user: me + 1).check(path("entry"), folder: false)
  }

  @Test func groupWriteIsSharedOnlyAndWorldWriteNever() throws {
    try write("group", "x")
    #expect(chmod(path("group"), 0o664) == 0)
    try write("world", "x")
    #expect(chmod(path("world"), 0o646) == 0)
    #expect(throws: FileSystemError.self) { try CacheTrust(shared: false).check(self.path("group"), folder: false) }
    try CacheTrust(shared: true).check(path("group"), folder: false)
    #expect(throws: FileSystemError.self) { try CacheTrust(shared: true).check(self.path("world"), folder: false) }
    #expect(throws: FileSystemError.self) { try CacheTrust(shared: false).check(self.path("world"), folder: false) }
  }

  @Test func aLinkOrTheWrongKindIsRefusedAndNothingThereIsFine() throws {
    try write("file", "x")
    #expect(symlink(path("file"), path("link")) == 0)
    let trust = CacheTrust(shared: false)
    #expect(throws: FileSystemError.self) { try trust.check(self.path("link"), folder: false) }
    #expect(throws: FileSystemError.self) { try trust.check(self.path("file"), folder: true) }
    #expect(throws: FileSystemError.self) { try trust.check(self.scratch.path, folder: false) }
    try trust.check(path("absent"), folder: false)
    try trust.check(scratch.path, folder: true)
  }

  @Test func sharedComesFromTheEnvironment() {
    #expect(CacheTrust(environment: ["KILN_CACHE_SHARED": "1"]).shared)
    #expect(CacheTrust(environment: ["KILN_CACHE_SHARED": "Yes"]).shared)
    #expect(!CacheTrust(environment: ["KILN_CACHE_SHARED": "0"]).shared)
    #expect(!CacheTrust(environment: [:]).shared)
  }
}
