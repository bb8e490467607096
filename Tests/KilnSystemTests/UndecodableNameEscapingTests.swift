import KilnSystem
import Testing

/// `UndecodableName` and `Glob` on raw bytes: a file name that is not UTF-8 is shown
/// escaped on one line, and globs match it byte for byte (the refusal a build file
/// gets for such a name is in KilnConfigTests' `UndecodableNameTests`).
@Suite struct UndecodableNameEscapingTests {
  static let xff: [UInt8] = Array("src/x-".utf8) + [0xFF] + Array(".txt".utf8)

  @Test func escapingKeepsValidTextAndShowsEveryOtherByte() {
    #expect(UndecodableName.escape(Array("ok-é-日本.txt".utf8)) == "ok-é-日本.txt")
    #expect(UndecodableName.escape([0x61, 0xFF, 0x62]) == "a\\xffb")
    #expect(UndecodableName.escape([0xE6, 0x97]) == "\\xe6\\x97", "a truncated sequence")
    #expect(UndecodableName.escape([0xED, 0xA0, 0x80]) == "\\xed\\xa0\\x80", "a surrogate")
    #expect(UndecodableName.escape([0xC0, 0xAF]) == "\\xc0\\xaf", "an overlong slash")
    #expect(UndecodableName.escape(Array("a\nb".utf8)) == "a\\x0ab", "one line, whatever the name holds")
    #expect(UndecodableName.isValidUTF8(Array("日本".utf8)))
    #expect(!UndecodableName.isValidUTF8([0xFF]))
  }

  @Test func globsMatchNamesAsBytes() {
    #expect(Glob("src/*.txt").matches(bytes: Self.xff))
    #expect(!Glob("src/*.c").matches(bytes: Self.xff))
    #expect(Glob("src/**/*.c").mayMatchInside(bytes: [0x73, 0x72, 0x63, 0x2F, 0xFF]))
    #expect(Glob("src/*/*.c").mayMatchInside(bytes: [0x73, 0x72, 0x63, 0x2F, 0xFF]))
    #expect(!Glob("src/*.c").mayMatchInside(bytes: [0x73, 0x72, 0x63, 0x2F, 0xFF]))
    #expect(!Glob("lib/**").mayMatchInside(bytes: [0x73, 0x72, 0x63, 0x2F, 0xFF]))
    #expect(!Glob("src/**/*.c").mayMatchInside(bytes: [0x73, 0x72, 0x63, 0x2F, 0x2E, 0xFF]), "a hidden folder")
  }
}
