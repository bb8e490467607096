import KilnSystem
import Testing

/// `Glob`: shell-style patterns over workspace-relative paths.
@Suite struct GlobTests {
  @Test func starMatchesWithinOneName() {
    let glob = Glob("src/*.c")
    #expect(glob.matches("src/a.c"))
    #expect(glob.matches("src/.c") == false)  // a leading dot is never matched by a wildcard
    #expect(glob.matches("src/abc.c"))
    #expect(glob.matches("src/x/a.c") == false)
    #expect(glob.matches("src/a.h") == false)
    #expect(Glob("*").matches("anything.txt"))
    #expect(Glob("a*b*c").matches("aXXbYYc"))
    #expect(Glob("a*b*c").matches("aXXbYY") == false)
  }

  @Test func questionMarkMatchesOneCharacter() {
    let glob = Glob("file?.txt")
    #expect(glob.matches("file1.txt"))
    #expect(glob.matches("file.txt") == false)
    #expect(glob.matches("file12.txt") == false)
  }

  @Test func bracketRangeMatchesOneCharacterOfTheClass() {
    let glob = Glob("[a-c]x.c")
    #expect(glob.matches("ax.c"))
    #expect(glob.matches("cx.c"))
    #expect(glob.matches("dx.c") == false)
    #expect(Glob("[xyz].c").matches("y.c"))
    #expect(Glob("[xyz].c").matches("w.c") == false)
  }

  @Test func bracketNegationExcludesTheClass() {
    #expect(Glob("[!x].c").matches("a.c"))
    #expect(Glob("[!x].c").matches("x.c") == false)
    #expect(Glob("[^a-m].c").matches("z.c"))
    #expect(Glob("[^a-m].c").matches("b.c") == false)
  }

  @Test func aClosingBracketFirstInAClassIsLiteral() {
    #expect(Glob("[]x].c").matches("].c"))
    #expect(Glob("[]x].c").matches("x.c"))
  }

  @Test func anUnclosedBracketIsALiteralBracket() {
    #expect(Glob("a[b").matches("a[b"))
    #expect(Glob("a[b").matches("ab") == false)
  }

  @Test func doubleStarMatchesZeroOrMoreDirectories() {
    let glob = Glob("src/**/*.c")
    #expect(glob.matches("src/a.c"))
    #expect(glob.matches("src/x/a.c"))
    #expect(glob.matches("src/x/y/z/a.c"))
    #expect(glob.matches("a.c") == false)
    #expect(glob.matches("lib/src/a.c") == false)
    #expect(Glob("**").matches("a/b/c"))
    #expect(Glob("**/x").matches("x"))
  }

  @Test func doubleStarNeverEntersAHiddenDirectory() {
    #expect(Glob("**/*.c").matches(".git/a.c") == false)
    #expect(Glob("**/*.c").matches("src/.cache/a.c") == false)
    #expect(Glob("src/**/*.c").matches("src/.hidden/a.c") == false)
  }

  @Test func wildcardsNeverMatchALeadingDot() {
    #expect(Glob("*").matches(".env") == false)
    #expect(Glob("?env").matches(".env") == false)
    #expect(Glob("[.]env").matches(".env") == false)
    #expect(Glob("*/x").matches(".kiln/x") == false)
  }

  @Test func aPatternThatStartsWithADotMatchesHiddenNames() {
    #expect(Glob(".*").matches(".env"))
    #expect(Glob(".github/*.yml").matches(".github/ci.yml"))
    #expect(Glob("a/.*.swp").matches("a/.x.swp"))
  }

  @Test func aDotInsideANameIsOrdinary() {
    #expect(Glob("*.tar.gz").matches("a.tar.gz"))
    #expect(Glob("a*").matches("a.b.c"))
  }

  @Test func literalPrefixIsTheDirectoryBeforeTheFirstWildcard() {
    #expect(Glob("src/lib/*.c").literalPrefix == "src/lib")
    #expect(Glob("src/**/x.c").literalPrefix == "src")
    #expect(Glob("*.c").literalPrefix == "")
    #expect(Glob("a/b*/c/*.h").literalPrefix == "a")
  }

  @Test func hasWildcardsSeesStarQuestionAndBracket() {
    #expect(Glob.hasWildcards("a/*.c"))
    #expect(Glob.hasWildcards("a?.c"))
    #expect(Glob.hasWildcards("a[0-9].c"))
    #expect(Glob.hasWildcards("src/main.c") == false)
    #expect(Glob.hasWildcards("gen/{stem}.c") == false)
  }
}
