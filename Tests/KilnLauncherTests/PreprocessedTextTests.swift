import KilnCore
import KilnLauncher
import Testing

/// `PreprocessedText`: the `-E` output keyed with the checkout's folders written out of
/// its line markers, and the headers its markers name.
@Suite struct PreprocessedTextTests {
  static func text(_ s: String, source: String = "src/a.c", roots: KeyRoots = KeyRoots([])) -> PreprocessedText {
    PreprocessedText(Array(s.utf8), source: source, roots: roots)
  }

  /// What gcc -E writes for src/a.c including one header of the checkout at `root`.
  static func output(root: String, body: String = "int x = 1;") -> String {
    """
    # 0 "\(root)/src/a.c"
    # 0 "<built-in>"
    # 0 "<command-line>"
    # 1 "/usr/include/stdc-predef.h" 1 3 4
    # 0 "<command-line>" 2
    # 1 "\(root)/src/a.c"
    # 1 "\(root)/include/common.h" 1
    int common(void);
    # 2 "\(root)/src/a.c" 2
    \(body)

    """
  }

  @Test func twoCheckoutsOfTheSameCodeDigestAlike() {
    let a = Self.text(Self.output(root: "/home/u/proj"), source: "/home/u/proj/src/a.c", roots: KeyRoots(["/home/u/proj"]))
    let b = Self.text(Self.output(root: "/srv/wt/agent-2"), source: "/srv/wt/agent-2/src/a.c",
                      roots: KeyRoots(["/srv/wt/agent-2"]))
    #expect(a.digest == b.digest)
  }

  @Test func theCodeChangesTheDigest() {
    let roots = KeyRoots(["/home/u/proj"])
    let a = Self.text(Self.output(root: "/home/u/proj"), roots: roots)
    let b = Self.text(Self.output(root: "/home/u/proj", body: "int x = 2;"), roots: roots)
    #expect(a.digest != b.digest)
  }

  @Test func aPathOutsideTheCheckoutStillCounts() {
    // Another checkout not written out (no roots): the paths differ, so the digests do.
    let a = Self.text(Self.output(root: "/home/u/proj"))
    let b = Self.text(Self.output(root: "/srv/wt/agent-2"))
    #expect(a.digest != b.digest)
    // A header of the system at another path is another header.
    let roots = KeyRoots(["/p"])
    let c = Self.text("# 1 \"/usr/include/x.h\" 1 3\nint x;\n", roots: roots)
    let d = Self.text("# 1 \"/opt/include/x.h\" 1 3\nint x;\n", roots: roots)
    #expect(c.digest != d.digest)
  }

  @Test func pathsInTheCodeAreNotWrittenOut() {
    // __FILE__ expanded into the code puts the checkout's path into the object: two
    // checkouts must not share that result.
    let a = Self.text(Self.output(root: "/home/u/proj", body: "const char *f = \"/home/u/proj/src/a.c\";"),
                      roots: KeyRoots(["/home/u/proj"]))
    let b = Self.text(Self.output(root: "/srv/wt/b", body: "const char *f = \"/srv/wt/b/src/a.c\";"),
                      roots: KeyRoots(["/srv/wt/b"]))
    #expect(a.digest != b.digest)
  }

  @Test func theMarkersFlagsCount() {
    // `1 3` says "entering a system header": a different stream of text.
    let a = Self.text("# 1 \"x.h\" 1\nint x;\n")
    let b = Self.text("# 1 \"x.h\" 1 3\nint x;\n")
    #expect(a.digest != b.digest)
  }

  @Test func includesAreListedOnceInFirstSeenOrderWithoutBuiltInsOrTheSource() {
    let t = Self.text(Self.output(root: "/p") + "# 1 \"/p/include/b.h\" 1\n# 1 \"/p/include/common.h\" 1\n",
                      source: "/p/src/a.c")
    #expect(t.includes == ["/usr/include/stdc-predef.h", "/p/include/common.h", "/p/include/b.h"])
  }

  @Test func theSourceIsLeftOutAsItIsWritten() {
    let t = Self.text("# 1 \"src/a.c\"\n# 1 \"inc/x.h\" 1\n# 2 \"src/a.c\" 2\n", source: "src/a.c")
    #expect(t.includes == ["inc/x.h"])
  }

  @Test func includesKeepTheirPathsAsTheMarkersWriteThem() {
    // Relative to the compile's folder, as gcc writes them for -Iinc.
    let t = Self.text("# 1 \"./inc/../inc/x.h\" 1\nint x;\n", roots: KeyRoots(["/p"]))
    #expect(t.includes == ["./inc/../inc/x.h"])
  }

  @Test func hashLineMarkersAreRead() {
    let t = Self.text("#line 7 \"gen/table.h\"\nint t;\n")
    #expect(t.includes == ["gen/table.h"])
  }

  @Test func escapedQuotesAndBackslashesInANameAreUnescaped() {
    let t = Self.text(#"# 1 "dir/we\"ird.h" 1"# + "\n" + #"# 1 "dir/back\\slash.h" 1"# + "\n")
    #expect(t.includes == [#"dir/we"ird.h"#, #"dir/back\slash.h"#])
  }

  @Test func linesThatAreNotMarkersAreNoIncludes() {
    let t = Self.text("""
      #pragma once
      # define X "y.h"
      #include "z.h"
      #  pragma GCC "q.h"
      #12 "nospace.h"
      # 12 "unterminated.h
      int s = sizeof("# 1 \\"fake.h\\"");
      """)
    #expect(t.includes == [])
  }

  @Test func aMarkerWithoutATrailingNewlineIsRead() {
    #expect(Self.text("int x;\n# 3 \"last.h\"").includes == ["last.h"])
  }

  @Test func aTokenLikeByteInTheCodeCannotPassForTheCheckout() {
    // The \u{1} byte KeyRoots uses for its tokens, in a marker of another checkout.
    let roots = KeyRoots(["/home/u/proj"])
    let real = Self.text("# 1 \"/home/u/proj/x.h\" 1\nint x;\n", roots: roots)
    let forged = Self.text("# 1 \"\u{1}A/x.h\" 1\nint x;\n", roots: roots)
    #expect(real.digest != forged.digest)
  }

  @Test func emptyOutputHasADigest() {
    #expect(Self.text("").includes == [])
    #expect(Self.text("").digest == Self.text("").digest)
    #expect(Self.text("").digest != Self.text("\n").digest)
  }
}
