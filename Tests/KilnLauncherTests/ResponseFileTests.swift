import KilnLauncher
import Testing

/// `ResponseFile`: gcc's `@FILE` arguments, read as libiberty's `buildargv` reads them.
@Suite struct ResponseFileTests {
  static func words(_ text: String) -> [String] { ResponseFile.words(Array(text.utf8)) }

  @Test func wordsAreSeparatedByAnyWhitespace() {
    #expect(Self.words("-c  a.c\t-o\na.o\r\n -O2\u{0B}-g\u{0C}-Wall") == ["-c", "a.c", "-o", "a.o", "-O2", "-g", "-Wall"])
    #expect(Self.words("") == [])
    #expect(Self.words(" \n\t ") == [])
  }

  @Test func quotesKeepWhitespaceAndAreRemoved() {
    #expect(Self.words("'a b' \"c d\" e'f g'h") == ["a b", "c d", "ef gh"])
    // A quote of the other kind inside quotes is a plain character.
    #expect(Self.words("\"it's\" 'say \"hi\"'") == ["it's", "say \"hi\""])
  }

  @Test func emptyQuotesAreAnEmptyWord() {
    #expect(Self.words("a '' b \"\"") == ["a", "", "b", ""])
  }

  @Test func aBackslashEscapesTheNextCharacterEverywhere() {
    #expect(Self.words(#"a\ b c\\d \'e"#) == ["a b", #"c\d"#, "'e"])
    #expect(Self.words(#""x\"y""#) == [#"x"y"#])
    #expect(Self.words("-DX=\\\"v\\\"") == [#"-DX="v""#])
  }

  @Test func anUnclosedQuoteRunsToTheEnd() {
    #expect(Self.words("a 'b c") == ["a", "b c"])
  }

  @Test func aTrailingBackslashIsKept() {
    #expect(Self.words("a\\") == ["a\\"])
  }

  @Test func wordsAreUTF8() {
    #expect(Self.words("-DNAME=\"é ü\" ñ.c") == ["-DNAME=é ü", "ñ.c"])
  }

  // MARK: - expand

  /// A reader over a fixed set of files (absolute paths), counting reads.
  final class Files: @unchecked Sendable {
    var files: [String: String]
    var reads: [String] = []
    init(_ files: [String: String]) { self.files = files }
    func read(_ path: String) -> [UInt8]? {
      reads.append(path)
      return files[path].map { Array($0.utf8) }
    }
  }

  @Test func argumentsWithoutAtAreReturnedUntouched() {
    let files = Files([:])
    #expect(ResponseFile.expand(["-c", "a.c", "-o", "a.o"], in: "/w", read: files.read) == ["-c", "a.c", "-o", "a.o"])
    #expect(files.reads.isEmpty)
  }

  @Test func anAtFileIsReplacedByItsWordsInPlace() {
    let files = Files(["/w/args.rsp": "-O2 '-DNAME=a b'\n-Iinc\n"])
    #expect(ResponseFile.expand(["-c", "@args.rsp", "a.c"], in: "/w", read: files.read)
      == ["-c", "-O2", "-DNAME=a b", "-Iinc", "a.c"])
    #expect(files.reads == ["/w/args.rsp"])
  }

  @Test func anAbsoluteAtFileIsReadWhereItIs() {
    let files = Files(["/etc/flags": "-g"])
    #expect(ResponseFile.expand(["@/etc/flags", "-c", "a.c"], in: "/w", read: files.read) == ["-g", "-c", "a.c"])
  }

  @Test func atFilesNest() {
    let files = Files(["/w/outer": "-c @inner a.c", "/w/inner": "-O1 -g"])
    #expect(ResponseFile.expand(["@outer"], in: "/w", read: files.read) == ["-c", "-O1", "-g", "a.c"])
  }

  @Test func aLoneAtIsAnArgument() {
    let files = Files([:])
    #expect(ResponseFile.expand(["@", "-c", "a.c"], in: "/w", read: files.read) == ["@", "-c", "a.c"])
  }

  @Test func anUnreadableAtFileMakesTheCommandUnreadable() {
    let files = Files(["/w/ok": "-g"])
    #expect(ResponseFile.expand(["@ok", "@missing", "-c", "a.c"], in: "/w", read: files.read) == nil)
  }

  @Test func anAtFileThatIncludesItselfStops() {
    let files = Files(["/w/loop": "-g @loop"])
    #expect(ResponseFile.expand(["@loop"], in: "/w", read: files.read) == nil)
    #expect(files.reads.count <= 9, "reads: \(files.reads.count)")
  }

  @Test func nestingUpToTheLimitIsFollowed() {
    // Seven levels of @ inside the command's own @file: within the limit of eight.
    var table: [String: String] = [:]
    for level in 0..<7 { table["/w/f\(level)"] = "-DL\(level) @f\(level + 1)" }
    table["/w/f7"] = "-c a.c"
    let files = Files(table)
    let expanded = ResponseFile.expand(["@f0"], in: "/w", read: files.read)
    #expect(expanded == (0..<7).map { "-DL\($0)" } + ["-c", "a.c"])
  }
}
