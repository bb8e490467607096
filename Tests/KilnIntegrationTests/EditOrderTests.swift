import Foundation
import KilnTestSupport
import Testing

/// An edit build starts the compile of the file the snapshot found changed first and
/// decides the rest while it runs (`DecideOrderTests`, `SnapshotChangeTests`). What the
/// snapshot names is only an order: every edit, found first or not, is rebuilt.
@Suite struct EditOrderTests {
  /// Two sources edited, one keeping its size and with its mtime put back (only its
  /// content and ctime tell), and a header: all of them rebuilt, and a null build after.
  @Test func everyEditIsBuiltWhicheverTheSnapshotNamed() throws {
    let p = try TempProject(Fixture.cProject)
    #expect(try p.kiln("build").status == 0)
    #expect(try p.kiln("build").ranCount == 0)

    let mtime = try FileManager.default.attributesOfItem(atPath: p.absolute("src/b.c"))[.modificationDate] as! Date
    try p.write("src/b.c", "#include \"common.h\"\nint b(void) { return COMMON; }\n".replacingOccurrences(of: "COMMON; }", with: "2;      }"))
    try FileManager.default.setAttributes([.modificationDate: mtime], ofItemAtPath: p.absolute("src/b.c"))
    try p.write("src/main.c", "#include \"common.h\"\nint main(void) { return a() + b() - 3; }\n")
    let edited = try p.kiln("build", "--explain")
    #expect(edited.status == 0, "\(edited)")
    #expect(Array(p.runLines("compile").dropFirst(3)).sorted() == ["b", "main"], "\(edited)")
    #expect(p.runs("link") == 2)
    #expect(try p.kiln("build").ranCount == 0)

    let kept = try #require(try FileManager.default.attributesOfItem(atPath: p.absolute("src/b.c"))[.modificationDate] as? Date)
    #expect(abs(kept.timeIntervalSince(mtime)) < 0.001, "b.c kept its mtime (to the microsecond)")
    try p.write("src/a.h", "#define A_VALUE 3\n")
    try p.write("src/common.h", "#define COMMON 1\nint a(void);\nint b(void);\n/* edited */\n")
    let headers = try p.kiln("build")
    #expect(headers.status == 0, "\(headers)")
    #expect(Array(p.runLines("compile").dropFirst(5)).sorted() == ["a", "b", "main"], "\(headers)")
    #expect(try p.kiln("build").ranCount == 0)
  }
}
