import KilnSystem
import Testing

/// `Depfile.prerequisites`: make-style depfiles as gcc and clang write them.
@Suite struct DepfileTests {
  private func prerequisites(_ text: String) throws -> [String] {
    try Depfile.prerequisites(of: Array(text.utf8))
  }

  @Test func oneRuleOnOneLine() throws {
    #expect(try prerequisites("build/a.o: src/a.c include/a.h\n") == ["src/a.c", "include/a.h"])
  }

  @Test func backslashNewlineContinuesTheRule() throws {
    let text = #"""
      build/a.o: src/a.c \
        include/a.h \
        include/b.h
      """#
    #expect(try prerequisites(text) == ["src/a.c", "include/a.h", "include/b.h"])
  }

  @Test func crlfContinuationsToo() throws {
    #expect(try prerequisites("a.o: a.c \\\r\n b.h\r\n") == ["a.c", "b.h"])
  }

  @Test func escapedSpacesStayInTheName() throws {
    #expect(try prerequisites(#"out/my\ file.o: src/my\ file.c include/x.h"#) == ["src/my file.c", "include/x.h"])
  }

  @Test func escapedHashAndDoubleDollar() throws {
    #expect(try prerequisites(##"a.o: weird\#name.h cost$$.h"##) == ["weird#name.h", "cost$.h"])
  }

  @Test func multipleTargetsShareThePrerequisites() throws {
    #expect(try prerequisites("a.o a.d: a.c a.h\n") == ["a.c", "a.h"])
  }

  @Test func severalRulesAreMergedWithoutDuplicates() throws {
    let text = """
      a.o: a.c common.h
      b.o: b.c common.h
      """
    #expect(try prerequisites(text) == ["a.c", "common.h", "b.c"])
  }

  @Test func gccOutputWithSystemHeadersAndPhonyTargets() throws {
    // `gcc -MD -MP -MF build/main.d -c src/main.c -o build/main.o`
    let text = #"""
      build/main.o: src/main.c /usr/include/stdc-predef.h /usr/include/stdio.h \
       /usr/include/x86_64-linux-gnu/bits/libc-header-start.h \
       /usr/lib/gcc/x86_64-linux-gnu/13/include/stddef.h include/shape.h \
       include/geometry.h
      /usr/include/stdio.h:
      include/shape.h:
      include/geometry.h:

      """#
    #expect(try prerequisites(text) == [
      "src/main.c", "/usr/include/stdc-predef.h", "/usr/include/stdio.h",
      "/usr/include/x86_64-linux-gnu/bits/libc-header-start.h",
      "/usr/lib/gcc/x86_64-linux-gnu/13/include/stddef.h", "include/shape.h", "include/geometry.h",
    ])
  }

  @Test func aTargetWithoutPrerequisitesGivesNothing() throws {
    #expect(try prerequisites("a.o:\n") == [])
    #expect(try prerequisites("") == [])
    #expect(try prerequisites("\n\n") == [])
  }

  @Test func aColonInsideANameIsNotTheSeparator() throws {
    #expect(try prerequisites("a.o: gen/x:y.h\n") == ["gen/x:y.h"])
  }

  @Test func aContinuationRightAfterTheColon() throws {
    #expect(try prerequisites("a.o:\\\n a.c a.h\n") == ["a.c", "a.h"])
  }

  @Test func aLineWithoutAColonIsAnError() {
    #expect(throws: Depfile.ParseError.self) { try prerequisites("just some words\n") }
  }
}
