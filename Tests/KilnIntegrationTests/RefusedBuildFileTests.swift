#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KilnTestSupport
import Testing

/// Build files and workspaces kiln refuses rather than crash on or build through: one
/// line on stderr, exit 2, nothing run.
@Suite struct RefusedBuildFileTests {
  static let task = "tasks:\n  t:\n    outputs: out.txt\n    run: echo x >> .runs/t && echo x > {out}\n"

  /// Hostile nesting (issue 12 item 16): a parser that recursed this deep died of SIGSEGV.
  static let deepFiles: [(name: String, text: String, line: String)] = [
    // 30,000 `[` in 60 KB: the first `[` is the 4th level (file, tasks, t), column 13.
    ("30,000 [", task + "    inputs: " + String(repeating: "[", count: 30_000) + "\n", "kiln.yml:5:266: nesting too deep"),
    ("100,000 {a: ", "env: " + String(repeating: "{a: ", count: 100_000) + "\n" + task, "kiln.yml:1:1026: nesting too deep"),
    ("100,000 - ", task + "default:\n" + String(repeating: "- ", count: 100_000) + "t\n", "kiln.yml:6:511: nesting too deep"),
  ]

  @Test(arguments: 0..<deepFiles.count)
  func deepNestingIsOneLineAndExitTwo(_ index: Int) throws {
    let (name, text, line) = Self.deepFiles[index]
    let p = try TempProject(["kiln.yml": text])
    for command in [["build"], ["tasks"]] {
      let r = try p.kiln(command)
      #expect(r.status == 2, "\(name), kiln \(command): \(r)")
      #expect(r.stderrLines == [line], "\(name), kiln \(command): \(r)")
      #expect(r.stdout.isEmpty, "\(name), kiln \(command): \(r)")
    }
    #expect(p.runs("t") == 0)
  }

  @Test func aDeeplyNestedStagedBuildFileFailsThePreCommitHookWithOneLine() throws {
    let p = try TempProject(["kiln.yml": Self.task, ".gitignore": ".kiln/\nout.txt\n"])
    try p.initGitRepository()
    let (_, text, line) = Self.deepFiles[0]
    try p.write("kiln.yml", text)
    try p.checkout.git("add", "kiln.yml")
    let r = try p.kiln("hooks", "run", "pre-commit")
    #expect(r.status == 2, "\(r)")
    #expect(r.stderrLines == [line], "\(r)")
  }

  // MARK: - dir: through a symlink (issue 12 item 19)

  @Test func aDirThroughASymlinkOutOfTheCheckoutIsRefusedAndNothingRuns() throws {
    let outside = TempDirectory(prefix: "kiln-it-outside")
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          t:
            dir: web
            run: echo x >> \(outside.path)/ran && echo pwned > planted.txt
        """
    ])
    #expect(symlink(outside.path, p.absolute("web")) == 0)
    let r = try p.kiln("build")
    #expect(r.status == 2, "\(r)")
    #expect(r.stderrLines == ["kiln.yml:3:10: 'dir' of task 't' is outside the workspace (through the symlink 'web')"], "\(r)")
    #expect(!FileManager.default.fileExists(atPath: outside.path + "/ran"), "the task ran in the folder outside")
    #expect(!FileManager.default.fileExists(atPath: outside.path + "/planted.txt"))
  }

  @Test func aDirBelowASymlinkedFolderIsRefusedToo() throws {
    let outside = TempDirectory(prefix: "kiln-it-outside")
    try FileManager.default.createDirectory(atPath: outside.path + "/client", withIntermediateDirectories: true)
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          t:
            dir: web/client
            run: echo pwned > planted.txt
        """
    ])
    #expect(symlink(outside.path, p.absolute("web")) == 0)
    let r = try p.kiln("build")
    #expect(r.status == 2, "\(r)")
    #expect(r.stderrLines == ["kiln.yml:3:10: 'dir' of task 't' is outside the workspace (through the symlink 'web')"], "\(r)")
    #expect(!FileManager.default.fileExists(atPath: outside.path + "/client/planted.txt"))
  }

  @Test func aRealDirStillWorks() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          t:
            dir: web/client
            outputs: web/client/out.txt
            run: echo x >> ../../.runs/t && pwd > out.txt
        """,
      "web/client/keep": "",
    ])
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(p.read("web/client/out.txt")?.hasSuffix("/web/client\n") == true)
    #expect(p.runs("t") == 1)
  }

  // MARK: - A build file that is not UTF-8

  /// A Latin-1 `é` in a command used to be read as U+FFFD, and the task ran a command
  /// that was not the one written: now the byte is named, exit 2, nothing run.
  @Test func aBuildFileThatIsNotUTF8IsRefusedAtItsFirstBadByte() throws {
    let p = try TempProject()
    let text: [UInt8] = Array("# notes\ntasks:\n  t:\n    run: echo x >> .runs/t && echo ".utf8) + [0x74, 0xE9]
      + Array(" > out.txt\n    outputs: out.txt\n".utf8)
    try p.write("kiln.yml", bytes: text)
    for command in [["build"], ["build", "-n"], ["tasks"]] {
      let r = try p.kiln(command)
      #expect(r.status == 2, "kiln \(command): \(r)")
      #expect(r.stderrLines == ["kiln.yml:4:37: the build file is not UTF-8 text (byte 0xE9); save it as UTF-8"],
              "kiln \(command): \(r)")
      #expect(r.stdout.isEmpty, "kiln \(command): \(r)")
    }
    #expect(p.runs("t") == 0)
    #expect(!p.exists("out.txt"))
    // In a comment too: a comment's bytes are text of the file like any other.
    try p.write("kiln.yml", bytes: Array("tasks:\n  t:\n    run: echo hi\n# caf".utf8) + [0xE9, 0x0A])
    let r = try p.kiln("build")
    #expect(r.status == 2, "\(r)")
    #expect(r.stderrLines == ["kiln.yml:4:6: the build file is not UTF-8 text (byte 0xE9); save it as UTF-8"], "\(r)")
  }

  // MARK: - File names that are not UTF-8 (issue 12 item 15)

  @Test func aFileNameThatIsNotUTF8IsRefusedNotSkipped() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          all:
            inputs: "src/*.txt"
            outputs: all.txt
            run: echo x >> .runs/all && cat {in} > {out}
        """,
      "src/a.txt": "alpha\n",
    ])
    #expect(try p.kiln("build").status == 0)
    #expect(p.runs("all") == 1)

    // src/x-\xff.txt: globs used to skip it, so the build stayed "up to date".
    let raw = Array(p.root.utf8) + Array("/src/x-".utf8) + [0xFF] + Array(".txt".utf8) + [0]
    let made = raw.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { path -> Bool in
        let fd = open(path.baseAddress!, O_CREAT | O_WRONLY, 0o644)
        guard fd >= 0 else { return false }
        _ = write(fd, "new\n", 4)
        close(fd)
        return true
      }
    }
    #expect(made)
    defer { raw.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { _ = unlink($0.baseAddress!) } } }

    for command in [["build"], ["build", "-n"], ["tasks"]] {
      let r = try p.kiln(command)
      #expect(r.status == 2, "kiln \(command): \(r)")
      #expect(r.stderrLines == [
        "kiln.yml:3:13: file 'src/x-\\xff.txt' (matched by 'src/*.txt') has a name that is not UTF-8, which kiln cannot track; rename it"
      ], "kiln \(command): \(r)")
    }
    #expect(p.runs("all") == 1)
  }
}
