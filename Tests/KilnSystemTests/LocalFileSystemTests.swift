#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnHash
import KilnSystem
import KilnTestSupport
import Testing

/// `LocalFileSystem`: only regular files are read (a FIFO named by a depfile or a
/// record must not hang the build), writes go through a temporary name beside the
/// target that nothing else ever sees, and leftovers of a killed kiln are removed.
@Suite(.timeLimit(.minutes(1))) struct LocalFileSystemTests {
  let scratch = TempDirectory(prefix: "kiln-localfs")
  let fs = LocalFileSystem()

  func path(_ name: String) -> String { scratch.path + "/" + name }

  @Test func aFIFOIsRefusedWithoutBlocking() async throws {
    let fifo = path("fifo"), copy = path("copy")
    #expect(mkfifo(fifo, 0o644) == 0)
    // No writer ever opens it: a blocking open(2) or read(2) would hang.
    let errors = await withoutBlocking({ [fs] in
      var errors: [String] = []
      do { _ = try fs.read(fifo) } catch { errors.append("\(error)") }
      do { _ = try fs.digest(of: fifo) } catch { errors.append("\(error)") }
      do { _ = try fs.digest(of: fifo, scanningFor: [1]) } catch { errors.append("\(error)") }
      do { _ = try fs.copy(fifo, to: copy, permissions: 0o644) } catch { errors.append("\(error)") }
      return errors
    }, unblock: { releaseReader(of: fifo) })
    #expect(errors != nil, "reading a FIFO with no writer blocked")
    #expect(errors == Array(repeating: "\(fifo): not a regular file", count: 4))
    #expect(throws: FileSystemError.self) { _ = try fs.read(scratch.path) }
    #expect(fs.contents(ofDirectory: scratch.path) == ["fifo"], "a failed copy left a file behind")
  }

  @Test func writeAtomicallyLeavesOnlyTheTarget() throws {
    try fs.writeAtomically(Array("one".utf8), to: path("out.txt"), permissions: 0o640)
    try fs.writeAtomically(Array("two".utf8), to: path("out.txt"), permissions: 0o640)
    #expect(try fs.read(path("out.txt")) == Array("two".utf8))
    #expect(fs.stat(path("out.txt"))?.permissions == 0o640)
    #expect(fs.contents(ofDirectory: scratch.path) == ["out.txt"])
    // A write that fails at the rename (a non-empty folder in the way) cleans up too.
    try fs.createDirectory(path("busy"))
    try fs.writeAtomically([], to: path("busy/inside"), permissions: 0o644)
    #expect(throws: FileSystemError.self) { try fs.writeAtomically(Array("x".utf8), to: path("busy"), permissions: 0o644) }
    #expect(fs.contents(ofDirectory: scratch.path)?.sorted() == ["busy", "out.txt"])
  }

  /// A new file is written unnamed and linked in whole; what is already at the path
  /// (a file, a symlink, a dangling one) is replaced, never written through.
  @Test func writeAtomicallyReplacesWhatIsThereAndNeverFollowsIt() throws {
    try fs.writeAtomically(Array("new".utf8), to: path("fresh.o"), permissions: 0o755)
    #expect(try fs.read(path("fresh.o")) == Array("new".utf8))
    #expect(fs.stat(path("fresh.o"))?.permissions == 0o755)
    try fs.writeAtomically([], to: path("empty.o"), permissions: 0o644)
    #expect(fs.stat(path("empty.o"))?.size == 0)
    try fs.writeAtomically(Array("kept".utf8), to: path("target.txt"), permissions: 0o644)
    #expect(symlink(path("target.txt"), path("link.o")) == 0)
    #expect(symlink(path("nowhere"), path("dangling.o")) == 0)
    try fs.writeAtomically(Array("over".utf8), to: path("link.o"), permissions: 0o644)
    try fs.writeAtomically(Array("over".utf8), to: path("dangling.o"), permissions: 0o644)
    #expect(try fs.read(path("target.txt")) == Array("kept".utf8))
    #expect(fs.lstat(path("link.o"))?.kind == .file)
    #expect(fs.lstat(path("dangling.o"))?.kind == .file)
    #expect(fs.stat(path("nowhere")) == nil)
    // A copy does the same, and hands back the digest of what it wrote.
    let copied = try fs.copy(path("fresh.o"), to: path("copy.o"), permissions: 0o644)
    #expect(copied == (try fs.digest(of: path("fresh.o"))))
    #expect(try fs.read(path("copy.o")) == Array("new".utf8))
    #expect(fs.stat(path("copy.o"))?.permissions == 0o644)
    #expect(symlink(path("target.txt"), path("copy-link.o")) == 0)
    _ = try fs.copy(path("fresh.o"), to: path("copy-link.o"), permissions: 0o644)
    #expect(try fs.read(path("target.txt")) == Array("kept".utf8))
    #expect(fs.lstat(path("copy-link.o"))?.kind == .file)
    #expect(fs.contents(ofDirectory: scratch.path)?.sorted()
      == ["copy-link.o", "copy.o", "dangling.o", "empty.o", "fresh.o", "link.o", "target.txt"])
    // Into a folder that is not there: an error, nothing made.
    #expect(throws: FileSystemError.self) {
      try fs.writeAtomically(Array("x".utf8), to: path("missing/x.o"), permissions: 0o644)
    }
  }

  @Test func copyAndSymlinkGoThroughATemporaryNameToo() throws {
    try fs.writeAtomically(Array("bytes".utf8), to: path("source"), permissions: 0o644)
    let digest = try fs.copy(path("source"), to: path("copy"), permissions: 0o755)
    #expect(digest == Hasher.digest(Array("bytes".utf8)))
    #expect(fs.stat(path("copy"))?.permissions == 0o755)
    try fs.createSymlink("source", at: path("link"))
    try fs.createSymlink("copy", at: path("link"))  // replaces the link, not its target
    #expect(try fs.readLink(path("link")) == "copy")
    #expect(try fs.read(path("source")) == Array("bytes".utf8))
    #expect(fs.contents(ofDirectory: scratch.path)?.sorted() == ["copy", "link", "source"])
  }

  /// `NAME.kiln-tmp-PID-N`: unique per write, never listed as a workspace file.
  /// An old output cleared before its command (issue 16): the name is free at once, a
  /// link is removed and not followed, the file's bytes are gone once the worker
  /// thread drained, and nothing is left beside it; a folder goes at once.
  @Test func removeLaterFreesTheNameAtOnceAndTheFileBeforeTheProcessEnds() throws {
    try fs.writeAtomically(Array("old".utf8), to: path("out.o"), permissions: 0o644)
    try fs.writeAtomically(Array("kept".utf8), to: path("target.txt"), permissions: 0o644)
    #expect(symlink("target.txt", path("link")) == 0)
    try fs.createDirectories(path("folder/sub"))
    try fs.writeAtomically(Array("x".utf8), to: path("folder/sub/f"), permissions: 0o644)
    // Held open, to see its link count once it is removed.
    let held = open(path("out.o"), O_RDONLY)
    try #require(held >= 0)
    defer { close(held) }

    for name in ["out.o", "link", "folder", "missing"] { try fs.removeLater(path(name)) }
    #expect(fs.lstat(path("out.o")) == nil && fs.lstat(path("link")) == nil && fs.lstat(path("folder")) == nil)
    #expect(fs.lstat(path("target.txt"))?.kind == .file, "the link's target is not touched")
    WorkerThread.shared.drain()
    #expect(fs.contents(ofDirectory: scratch.path)?.sorted() == ["target.txt"], "nothing left beside: \(fs.contents(ofDirectory: scratch.path) ?? [])")
    // The old file itself is unlinked, not only renamed: no name holds it any more.
    var st = stat()
    #expect(fstat(held, &st) == 0 && st.st_nlink == 0)
  }

  @Test func temporaryNamesAreMarkedAndNeverListed() throws {
    #expect(Paths.isTemporary("out.o\(Paths.temporaryMarker)123-4"))
    #expect(!Paths.isTemporary("out.o"))
    #expect(!Paths.isTemporary("kiln-tmp-notes.txt"))
    let first = TemporaryCounter.next(), second = TemporaryCounter.next()
    #expect(second > first)
    for name in ["a.txt", "a.txt\(Paths.temporaryMarker)\(getpid())-\(second)"] {
      try fs.writeAtomically([], to: path(name), permissions: 0o644)
    }
    #expect(fs.files(under: scratch.path) == ["a.txt"])
  }

  /// A kiln killed between a write and its rename leaves its temporary file; the next
  /// build removes it, but never one of a process that still runs.
  @Test func leftoversOfDeadProcessesAreRemoved() throws {
    let pidMax = try #require(Int32(String(decoding: try fs.read("/proc/sys/kernel/pid_max"), as: UTF8.self)
      .split(separator: "\n").first ?? ""))
    let dead = pidMax  // pids are below pid_max: no process has this one
    let names = [
      "a.o\(Paths.temporaryMarker)\(dead)-1",       // dead: removed
      "b.o\(Paths.temporaryMarker)\(getpid())-2",   // this process: kept
      "c.o\(Paths.temporaryMarker)1-3",             // init, alive: kept
      "d.o\(Paths.temporaryMarker)\(dead)-x",       // not the pattern: kept
      "e.o",
    ]
    for name in names {
      try fs.writeAtomically([], to: path(name), permissions: 0o644)
    }
    #expect(fs.removeLeftovers(in: scratch.path) == 1)
    #expect(fs.contents(ofDirectory: scratch.path)?.sorted() == Array(names.dropFirst()))
  }
}
