#if canImport(Glibc)
import Glibc
#endif
import KilnConfig
import KilnCore
import KilnSystem
import Testing

/// File names that are not UTF-8 (`src/x-\xff.txt`): a glob that would match one
/// refuses the build file, naming the file escaped; it is never silently left out.
@Suite struct UndecodableNameTests {
  /// Creates a file (or, with `directory`, a folder) whose workspace-relative path is
  /// `bytes`, runs `body`, and removes it again (kiln's own `remove` cannot name it).
  private func withRawEntry<T>(_ scratch: ScratchDirectory, _ bytes: [UInt8], directory: Bool = false, _ body: () throws -> T) rethrows -> T {
    let full = Array(scratch.path.utf8) + [UInt8(ascii: "/")] + bytes + [0]
    full.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { path in
        if directory {
          precondition(mkdir(path.baseAddress!, 0o755) == 0, "mkdir failed: errno \(errno)")
        } else {
          let fd = open(path.baseAddress!, O_CREAT | O_WRONLY, 0o644)
          precondition(fd >= 0, "open failed: errno \(errno)")
          close(fd)
        }
      }
    }
    defer {
      full.withUnsafeBufferPointer { buffer in
        buffer.withMemoryRebound(to: CChar.self) { path in _ = directory ? rmdir(path.baseAddress!) : unlink(path.baseAddress!) }
      }
    }
    return try body()
  }

  static let xff: [UInt8] = Array("src/x-".utf8) + [0xFF] + Array(".txt".utf8)

  @Test func aGlobMatchingSuchAFileNamesItEscaped() {
    let scratch = ScratchDirectory(files: ["src/a.txt"])
    let error = withRawEntry(scratch, Self.xff) {
      scratch.error("""
        tasks:
          t:
            inputs: "src/*.txt"
            outputs: all.txt
            run: cat {in} > {out}
        """)
    }
    #expect(error?.description == "kiln.yml:3:13: file 'src/x-\\xff.txt' (matched by 'src/*.txt') has a name that is not UTF-8, which kiln cannot track; rename it")
  }

  @Test func aForeachGlobRefusesItToo() {
    let scratch = ScratchDirectory(files: ["src/a.txt"])
    let error = withRawEntry(scratch, Self.xff) {
      scratch.error("""
        tasks:
          t:
            foreach: "src/**/*.txt"
            outputs: "out/{stem}.txt"
            run: cp {in} {out}
        """)
    }
    #expect(error?.description.hasPrefix("kiln.yml:3:14: file 'src/x-\\xff.txt' (matched by 'src/**/*.txt')") == true, "\(String(describing: error))")
  }

  @Test func aGlobThatWouldNotMatchItIsUnaffected() throws {
    let scratch = ScratchDirectory(files: ["src/a.c", "src/b.txt"])
    let graph = try withRawEntry(scratch, Self.xff) {
      try scratch.graph("""
        tasks:
          t:
            inputs: ["src/*.c", "src/b.*"]
            run: cat {in}
        """)
    }
    #expect(graph[0].inputs == ["src/a.c", "src/b.txt"])
  }

  @Test func aFolderSuchANameIsRefusedWhenTheGlobCouldMatchInsideIt() throws {
    let scratch = ScratchDirectory(files: ["src/a.txt"])
    let folder: [UInt8] = Array("src/".utf8) + [0xC3, 0x28]  // an invalid two-byte sequence
    try withRawEntry(scratch, folder, directory: true) {
      let error = scratch.error("""
        tasks:
          t:
            inputs: "src/**/*.txt"
            run: cat {in}
        """)
      #expect(error?.description == "kiln.yml:3:13: folder 'src/\\xc3(' (matched by 'src/**/*.txt') has a name that is not UTF-8, which kiln cannot track; rename it")
      // A glob that stays in src/ itself cannot match anything inside the folder.
      let graph = try scratch.graph("""
        tasks:
          t:
            inputs: "src/*.txt"
            run: cat {in}
        """)
      #expect(graph[0].inputs == ["src/a.txt"])
    }
  }
}
