import Foundation
import KilnTestSupport
import Testing

/// `kiln init`: a kiln.yml a new user can build at once, from the C sources found, from
/// a Makefile's `make -n -B`, and nothing over a build.ninja or an existing kiln.yml.
/// Each written file is built by kiln and its programs run.
@Suite struct InitTests {
  static let sources: [String: String] = [
    "include/util.h": "int twice(int x);\n",
    "src/util/util.c": "#include \"util.h\"\nint twice(int x) { return 2 * x; }\n",
    "src/main.c": "#include <stdio.h>\n#include \"util.h\"\nint main(void) { printf(\"%d\\n\", twice(21)); return 0; }\n",
    "tool.c": "#include <stdio.h>\n#include \"util.h\"\nint main(int argc, char **argv) { (void)argv; printf(\"%d\\n\", twice(argc)); return 0; }\n",
  ]

  func output(_ p: TempProject, _ program: String) throws -> String {
    try Program.run(p.absolute(program), [], in: p.root).stdout
  }

  @Test func fromCSourcesAProjectThatBuildsAndRebuildsAHeaderEdit() throws {
    let p = try TempProject(Self.sources)
    let r = try p.kiln("init")
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout.contains("found 3 C sources, headers in include, main() in src/main.c, tool.c"), "\(r)")
    #expect(r.stdout.contains("wrote kiln.yml (4 tasks)"), "\(r)")
    let build = try p.kiln("build")
    #expect(build.status == 0, "\(build)")
    #expect(try output(p, "bin/main") == "42\n")
    #expect(try output(p, "bin/tool") == "2\n")
    // The depfile makes the header an input: editing it recompiles what includes it.
    try p.write("include/util.h", "int twice(int x); /* edited */\n")
    let edit = try p.kiln("build", "--explain")
    #expect(edit.status == 0 && edit.stdout.contains("3 ran"), "\(edit)")
    #expect(edit.stderr.contains("input include/util.h (from depfile) changed"), "\(edit)")
  }

  @Test func fromAMakefileTheSameProgramsAsMakes() throws {
    var files = Self.sources
    files["tool.c"] = nil
    files["Makefile"] = """
      CFLAGS = -O1 -Iinclude
      all: app
      app: src/main.o libutil.a
      \tcc -o app src/main.o libutil.a
      libutil.a: src/util/util.o
      \tar rcs libutil.a src/util/util.o
      src/main.o: src/main.c
      \tcc $(CFLAGS) -c src/main.c -o src/main.o
      src/util/util.o: src/util/util.c
      \tcc $(CFLAGS) -c -o src/util/util.o src/util/util.c
      check: app
      \t./app > check.log
      """
    let p = try TempProject(files)
    let r = try p.kiln("init")
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout.contains("read 2 compiles, 2 archive and link steps"), "\(r)")
    let yml = try #require(p.read("kiln.yml"))
    #expect(yml.contains("CFLAGS: \"-O1 -Iinclude\""), "\(yml)")
    #expect(yml.contains("default: [link-app]"), "\(yml)")
    let build = try p.kiln("build")
    #expect(build.status == 0, "\(build)")
    #expect(try output(p, "app") == "42\n")
    #expect(!p.exists("check.log"), "only what make's default target runs is translated")
    #expect(try p.kiln("build").stdout.contains("0 ran"))
  }

  @Test func aBuildNinjaOrAnExistingKilnYmlIsLeftAlone() throws {
    let p = try TempProject(Self.sources)
    try p.write("kiln.yml", "tasks:\n  mine:\n    outputs: m\n    run: touch m\n")
    let kept = try p.kiln("init")
    #expect(kept.status == 2)
    #expect(kept.stderr.contains("kiln.yml already exists") && kept.stderr.contains("--force"), "\(kept)")
    #expect(p.read("kiln.yml")?.contains("mine") == true)
    let forced = try p.kiln("init", "--force")
    #expect(forced.status == 0 && p.read("kiln.yml")?.contains("link-main") == true, "\(forced)")

    let ninja = try TempProject(["build.ninja": "rule cp\n  command = cp $in $out\nbuild b: cp a\n", "a": "a\n"])
    let told = try ninja.kiln("init")
    #expect(told.status == 0 && told.stdout.contains("kiln ninja"), "\(told)")
    #expect(!ninja.exists("kiln.yml"))

    let empty = try TempProject(["README": "nothing to build\n"])
    let nothing = try empty.kiln("init")
    #expect(nothing.status == 2 && nothing.stderr.contains("found nothing to build"), "\(nothing)")
  }

  @Test func aBareKilnWithoutABuildFilePointsAtInit() throws {
    let p = try TempProject(["README": "x\n"])
    let r = try p.kiln()
    #expect(r.status == 2)
    #expect(r.stderr.contains("(kiln init writes a starting one)"), "\(r)")
  }
}
