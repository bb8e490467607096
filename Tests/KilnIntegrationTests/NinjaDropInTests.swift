import Foundation
import KilnSystem
import KilnTestSupport
import Testing

/// `kiln ninja` on a build.ninja of the shape CMake writes (a generated header, depfiles
/// with `deps = gcc`, order-only inputs, a phony default), side by side with the real
/// ninja on a copy: the same outputs, byte for byte, and kiln's cache on top.
@Suite struct NinjaDropInTests {
  static let ninja = "/usr/bin/ninja"

  static let files: [String: String] = [
    "build.ninja": """
      ninja_required_version = 1.5
      cflags = -O0
      rule gen
        command = printf '#define ANSWER 42\\n' > $out && echo x >> .runs/gen
        description = GEN $out
      rule cc
        command = gcc $cflags -MD -MF $out.d -Igen -c $in -o $out && echo x >> .runs/cc
        depfile = $out.d
        deps = gcc
      rule link
        command = gcc $in -o $out && echo x >> .runs/link
      build gen/answer.h: gen
      build obj/main.o: cc src/main.c || gen/answer.h
      build obj/util.o: cc src/util.c
      build app: link obj/main.o obj/util.o
      build all: phony app
      default all

      """,
    "src/main.c": """
      #include <stdio.h>
      #include "answer.h"
      int util(void);
      int main(void) { printf("%d %d\\n", ANSWER, util()); return 0; }

      """,
    "src/util.c": "int util(void) { return 7; }\n",
  ]

  /// How often gen, cc and link really ran.
  static func runs(_ p: TempProject) -> [Int] { [p.runs("gen"), p.runs("cc"), p.runs("link")] }

  /// The outputs both tools must agree on (ninja deletes `deps = gcc` depfiles).
  static let outputs = ["gen/answer.h", "obj/main.o", "obj/util.o", "app"]

  @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: ninja)))
  func theSameOutputsAsNinjaAndTheCacheOnTop() throws {
    let byNinja = try TempProject(Self.files)
    let byKiln = try TempProject(Self.files)
    let built = try Program.run(Self.ninja, [], in: byNinja.root)
    #expect(built.status == 0, "\(built)")
    let cold = try byKiln.kiln("ninja")
    #expect(cold.status == 0, "\(cold)")
    for path in Self.outputs {
      #expect(byKiln.bytes(path) != nil && byKiln.bytes(path) == byNinja.bytes(path), "\(path) differs from ninja's")
    }
    #expect(Self.runs(byKiln) == [1, 2, 1])

    let null = try byKiln.kiln("ninja")
    #expect(null.status == 0, "\(null)")
    #expect(Self.runs(byKiln) == [1, 2, 1], "a null build runs nothing")

    // An edit: its compile and the link run again, nothing else.
    try byKiln.write("src/util.c", "int util(void) { return 8; }\n")
    try byNinja.write("src/util.c", "int util(void) { return 8; }\n")
    #expect(try byKiln.kiln("ninja").status == 0)
    #expect(try Program.run(Self.ninja, [], in: byNinja.root).status == 0)
    #expect(Self.runs(byKiln) == [1, 3, 2])
    #expect(byKiln.bytes("app") == byNinja.bytes("app"))

    // Outputs deleted: everything comes back from the cache, nothing runs.
    for path in Self.outputs { byKiln.remove(path) }
    let restored = try byKiln.kiln("ninja", "-d", "explain")
    #expect(restored.status == 0, "\(restored)")
    #expect(Self.runs(byKiln) == [1, 3, 2], "\(restored)")
    for path in Self.outputs { #expect(byKiln.bytes(path) == byNinja.bytes(path), "\(path) restored differs") }
  }

  @Test func aTargetBuildsOnlyWhatItNeeds() throws {
    let p = try TempProject(Self.files)
    let r = try p.kiln("ninja", "obj/util.o")
    #expect(r.status == 0, "\(r)")
    #expect(Self.runs(p) == [0, 1, 0])
    let unknown = try p.kiln("ninja", "nothing.o")
    #expect(unknown.status == 2)
    #expect(unknown.stderr.contains("unknown target 'nothing.o'"), "\(unknown)")
  }

  @Test func aMissingSourceIsOneLineWithItsPlace() throws {
    var files = Self.files
    files["src/util.c"] = nil
    let p = try TempProject(files)
    let r = try p.kiln("ninja")
    #expect(r.status == 2)
    #expect(r.stderrLines == ["kiln: build.ninja:14: 'src/util.c', needed by 'obj/util.o', missing and no known rule to make it"],
            "\(r)")
    #expect(p.runs("cc") == 0, "nothing ran")
  }

  @Test func anOutputOutsideTheFolderOrBehindALinkIsNeverDeletedByKiln() throws {
    // ninja leaves a declared output for its command to replace; kiln clears outputs
    // before a run only where they are plain paths inside the folder.
    let p = try TempProject([
      "build.ninja": """
        rule keep
          command = echo x >> .runs/keep
        build ../outside.txt: keep
        build linked/inside.txt: keep

        """,
    ])
    let outside = Paths.parent(p.root) + "/outside.txt"
    try "precious\n".write(toFile: outside, atomically: false, encoding: .utf8)
    let elsewhere = TempDirectory(prefix: "kiln-it-elsewhere")
    try "precious\n".write(toFile: elsewhere.path + "/inside.txt", atomically: false, encoding: .utf8)
    try FileManager.default.createSymbolicLink(atPath: p.absolute("linked"), withDestinationPath: elsewhere.path)
    let out = try p.kiln("ninja", "../outside.txt")
    #expect(out.status == 0, "\(out)")
    #expect(p.runs("keep") == 1)
    #expect(try String(contentsOfFile: outside, encoding: .utf8) == "precious\n")
    // Behind a link: refused as every output reached through one is, and still kept.
    let linked = try p.kiln("ninja", "linked/inside.txt")
    #expect(linked.status == 1, "\(linked)")
    #expect(linked.stdout.contains("output linked/inside.txt is reached through the symlink linked"), "\(linked)")
    #expect(try String(contentsOfFile: elsewhere.path + "/inside.txt", encoding: .utf8) == "precious\n")
  }

  @Test func underNinjasNameKilnIsKilnNinja() throws {
    let p = try TempProject(Self.files)
    let link = p.absolute(".tools/kiln-ninja")
    try FileManager.default.createDirectory(atPath: p.absolute(".tools"), withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: TempProject.kilnBinary)
    let version = try Program.run(link, ["--version"], in: p.root)
    #expect(version.status == 0 && version.stdout == "1.11.1\n", "\(version)")
    let built = try Program.run(link, ["-C", p.root], in: "/", environment: ["KILN_CACHE_DIR": p.cache.path])
    #expect(built.status == 0, "\(built)")
    #expect(p.runs("link") == 1)
  }
}
