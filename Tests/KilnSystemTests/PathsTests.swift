import KilnSystem
import Testing

/// `Paths`: pure functions on slash-separated paths.
@Suite struct PathsTests {
  @Test(arguments: [
    ("a/b", "a/b"), ("./a/./b", "a/b"), ("a//b/", "a/b"), ("a/b/../c", "a/c"),
    ("a/b/../../c", "c"), (".", ""), ("", ""), ("a/..", ""),
    ("/a/../b", "/b"), ("/../a", "/a"), ("/", "/"), ("//x//y", "/x/y"),
    // Normal already (returned as they are), and the near misses around that.
    ("/usr/include/stdio.h", "/usr/include/stdio.h"), ("...", "..."), ("a/.../b", "a/.../b"), ("a.", "a."),
    (".a/b.", ".a/b."), ("..a/b..", "..a/b.."), ("a/b/", "a/b"), ("/a/", "/a"), ("/.", "/"), ("./", ""),
    ("a/.", "a"), ("/a/..", "/"), ("a//", "a"),
  ])
  func normalize(_ path: String, _ expected: String) {
    #expect(Paths.normalize(path) == expected)
  }

  @Test(arguments: ["..", "../a", "a/../..", "a/b/../../../c", "./../x"])
  func normalizeRefusesToClimbAboveARelativeStart(_ path: String) {
    #expect(Paths.normalize(path) == nil)
  }

  @Test(arguments: [
    ("src/main.c", "src/main.c"), ("a-b_c+d,e:f@g%h.txt", "a-b_c+d,e:f@g%h.txt"),
    ("my file.c", "'my file.c'"), ("", "''"), ("it's", #"'it'\''s'"#),
    ("$HOME", "'$HOME'"), ("a*b", "'a*b'"), ("semi;colon", "'semi;colon'"),
    ("tab\there", "'tab\there'"), ("back`tick`", "'back`tick`'"), ("~user", "'~user'"),
  ])
  func shellQuote(_ word: String, _ expected: String) {
    #expect(Paths.shellQuote(word) == expected)
  }

  @Test func stemNameAndParent() {
    #expect(Paths.stem("src/a.tar.gz") == "a.tar")
    #expect(Paths.stem("src/Makefile") == "Makefile")
    #expect(Paths.stem(".bashrc") == ".bashrc")
    #expect(Paths.fileName("src/x/main.c") == "main.c")
    #expect(Paths.fileName("main.c") == "main.c")
    #expect(Paths.parent("src/x/main.c") == "src/x")
    #expect(Paths.parent("main.c") == "")
    #expect(Paths.parent("/main.c") == "/")
  }

  @Test func relativeOnlyInsideTheRoot() {
    #expect(Paths.relative("/w/src/a.c", to: "/w") == "src/a.c")
    #expect(Paths.relative("/w/src/a.c", to: "/w/") == "src/a.c")
    #expect(Paths.relative("/w", to: "/w") == "")
    #expect(Paths.relative("/work/a.c", to: "/w") == nil)
    #expect(Paths.relative("/etc/passwd", to: "/w") == nil)
  }

  @Test func joinKeepsAbsoluteAndEmptyParts() {
    #expect(Paths.join("/w", "a.c") == "/w/a.c")
    #expect(Paths.join("/w/", "a.c") == "/w/a.c")
    #expect(Paths.join("/w", "") == "/w")
    #expect(Paths.join("/w", "/abs") == "/abs")
    #expect(Paths.join("", "a.c") == "a.c")
  }

  @Test func relativeComparesBytesAndNeedsTheSlash() {
    #expect(Paths.relative("/w/a", to: "/") == "w/a")
    #expect(Paths.relative("/wx/a", to: "/w") == nil)
    #expect(Paths.relative("/w", to: "/w/") == nil)
    #expect(Paths.relative("/w/", to: "/w") == "")
    #expect(Paths.relative("/é/a", to: "/e\u{301}") == nil)
  }
}
