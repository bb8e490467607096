import Foundation
import KilnSystem
import KilnTestSupport
import Testing

/// The real ninja the tools are held against.
private let realNinja = "/usr/bin/ninja"

/// `kiln ninja -t TOOL` beside the real ninja's `-t TOOL` on copies of one build.ninja:
/// the tools that read the manifest print what ninja prints; `deps` and `clean` follow
/// kiln's manifest, and `clean` deletes only what kiln wrote and still holds it.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: realNinja)))
struct NinjaToolTests {
  static let ninja = realNinja

  static let files: [String: String] = [
    "build.ninja": """
      ninja_required_version = 1.5
      cflags = -O0
      rule gen
        command = printf '#define ANSWER 42\\n' > $out
        description = GEN $out
        generator = 1
      rule cc
        command = gcc $cflags -MD -MF $out.d -Igen -c $in -o $out
        depfile = $out.d
        deps = gcc
      rule link
        command = gcc @$out.rsp -o $out
        rspfile = $out.rsp
        rspfile_content = $in_newline
      rule pair
        command = echo a > $out && echo b > $out.extra
      rule stamp
        command = touch $out
      build gen/answer.h: gen
      build obj/main.o: cc src/main.c || gen/answer.h
      build obj/util.o: cc src/util.c
      build app: link obj/main.o obj/util.o |@ checked
      build checked: stamp obj/util.o
      build notes.txt | notes.txt.extra: pair src/util.c
      build sp$ ace.txt: stamp src/util.c | notes.txt
      build all: phony app
      default all

      """,
    // The sources of the drop-in test: a compile that includes the generated header.
    "src/main.c": NinjaDropInTests.files["src/main.c"] ?? "",
    "src/util.c": NinjaDropInTests.files["src/util.c"] ?? "",
  ]

  /// ninja's and kiln's stdout for the same tool and arguments, each project's folder
  /// written `<root>` (compdb names it), and kiln's exit status.
  static func both(_ args: [String], _ byNinja: TempProject, _ byKiln: TempProject) throws -> (ninja: String, kiln: String, status: Int32) {
    let n = try Program.run(ninja, ["-t"] + args, in: byNinja.root)
    #expect(n.status == 0, "ninja -t \(args): \(n)")
    let k = try byKiln.kiln(["ninja", "-t"] + args)
    #expect(k.stderr == "", "kiln ninja -t \(args): \(k)")
    return (n.stdout.replacingOccurrences(of: byNinja.root, with: "<root>"),
            k.stdout.replacingOccurrences(of: byKiln.root, with: "<root>"), k.status)
  }

  @Test func theToolsThatReadTheManifestPrintWhatNinjaPrints() throws {
    let byNinja = try TempProject(Self.files)
    let byKiln = try TempProject(Self.files)
    let runs: [[String]] = [
      ["targets"], ["targets", "depth", "2"], ["targets", "depth", "0"], ["targets", "all"], ["targets", "rule"],
      ["targets", "rule", "cc"], ["targets", "rule", "stamp"],
      ["query", "obj/main.o", "src/util.c", "app", "checked"], ["query", "src/main.c^"],
      ["inputs"], ["inputs", "app", "sp ace.txt"], ["inputs", "obj/util.o"],
      ["commands"], ["commands", "-s", "app"], ["commands", "sp ace.txt"], ["commands", "-s", "sp ace.txt", "app"],
      ["compdb"], ["compdb", "cc"], ["compdb", "-x", "link"], ["compdb", "-x"], ["compdb", "pair", "cc", "pair"],
    ]
    for args in runs {
      let (ninja, kiln, status) = try Self.both(args, byNinja, byKiln)
      #expect(status == 0)
      #expect(!ninja.isEmpty, "ninja -t \(args) printed nothing: not a comparison")
      #expect(kiln == ninja, "-t \(args.joined(separator: " "))")
    }
    // The same after a build: the tools read the manifest, not what was built.
    #expect(try Program.run(Self.ninja, [], in: byNinja.root).status == 0)
    #expect(try byKiln.kiln("ninja").status == 0)
    for args in [["targets", "all"], ["query", "obj/util.o"], ["commands"], ["compdb", "-x"]] {
      let (ninja, kiln, _) = try Self.both(args, byNinja, byKiln)
      #expect(kiln == ninja, "after a build: -t \(args.joined(separator: " "))")
    }
  }

  @Test func aRefusalIsOneLineAndExitTwoWhereNinjaFailsToo() throws {
    let p = try TempProject(Self.files)
    for args in [["nosuchtool"], ["query", "nope.o"], ["query"], ["targets", "deep"], ["clean", "-r"],
                 ["clean", "-r", "nosuchrule"], ["commands", "nope.o"], ["compdb", "-q"]] {
      let n = try Program.run(Self.ninja, ["-t"] + args, in: p.root)
      #expect(n.status != 0, "ninja accepted -t \(args)")
      let k = try p.kiln(["ninja", "-t"] + args)
      #expect(k.status == 2, "\(args): \(k)")
      #expect(k.stderrLines.count == 1 && k.stderrLines[0].hasPrefix("kiln ninja: "), "\(args): \(k)")
      #expect(k.stdout == "")
    }
    let unknown = try p.kiln("ninja", "-t", "nosuchtool")
    #expect(unknown.stderrLines == ["kiln ninja: unknown tool 'nosuchtool'"])
    let missing = try p.kiln("ninja", "-t", "query", "nope.o")
    #expect(missing.stderrLines == ["kiln ninja: unknown target 'nope.o'"])
  }

  // MARK: - deps

  /// `-t deps` text: per output, its count, validity and dependencies.
  static func deps(_ text: String) -> [String: (count: Int, valid: Bool, paths: [String])] {
    var result: [String: (count: Int, valid: Bool, paths: [String])] = [:]
    var current: String?
    for line in text.split(separator: "\n") {
      if line.hasPrefix("    "), let output = current {
        result[output]?.paths.append(String(line.dropFirst(4)))
      } else if let colon = line.range(of: ": #deps ") {
        let output = String(line[..<colon.lowerBound])
        let count = Int(line[colon.upperBound...].prefix { $0.isNumber }) ?? -1
        result[output] = (count, line.hasSuffix("(VALID)"), [])
        current = output
      }
    }
    return result
  }

  @Test func depsListsWhatTheDepfilesNamedAsKilnRecordedIt() throws {
    let byNinja = try TempProject(Self.files)
    let byKiln = try TempProject(Self.files)
    #expect(try Program.run(Self.ninja, [], in: byNinja.root).status == 0)
    let built = try byKiln.kiln("ninja")
    #expect(built.status == 0, "\(built)")

    let ninja = Self.deps(try Program.run(Self.ninja, ["-t", "deps"], in: byNinja.root).stdout)
    let all = try byKiln.kiln("ninja", "-t", "deps")
    #expect(all.status == 0, "\(all)")
    let kiln = Self.deps(all.stdout)
    #expect(Set(kiln.keys) == Set(ninja.keys) && kiln.count == 2, "\(all)")
    for (output, entry) in ninja {
      // kiln leaves out what the edge names itself (its source), which ninja keeps.
      let sources = ["src/main.c", "src/util.c"]
      #expect(kiln[output]?.paths == entry.paths.filter { !sources.contains($0) }, "\(output)")
      #expect(kiln[output]?.count == kiln[output]?.paths.count)
      #expect(kiln[output]?.valid == true && entry.valid)
    }
    #expect(kiln["obj/main.o"]?.paths.contains("gen/answer.h") == true)

    // Named targets: one without a depfile has no deps, as in ninja; a changed output is stale.
    try byKiln.write("obj/main.o", "edited\n")
    let named = try byKiln.kiln("ninja", "-t", "deps", "obj/main.o", "app")
    #expect(named.status == 0, "\(named)")
    #expect(Self.deps(named.stdout)["obj/main.o"]?.valid == false, "\(named)")
    #expect(named.stdout.hasSuffix("\napp: deps not found\n"), "\(named)")
    let ninjaApp = try Program.run(Self.ninja, ["-t", "deps", "app"], in: byNinja.root)
    #expect(ninjaApp.stdout == "app: deps not found\n")
  }

  // MARK: - clean

  @Test func cleanDeletesWhatNinjasCleanDeletesAndSaysHowMany() throws {
    let byNinja = try TempProject(Self.files)
    let byKiln = try TempProject(Self.files)
    // Everything.
    let everything = ["all", "checked", "sp ace.txt"]
    #expect(try Program.run(Self.ninja, everything, in: byNinja.root).status == 0)
    #expect(try byKiln.kiln(["ninja"] + everything).status == 0)
    // ninja deletes `deps = gcc` depfiles after the run; kiln keeps them. Both remove an
    // rspfile once its edge succeeded.
    func ninjasShare(_ files: [String]) -> [String] { files.filter { !$0.hasSuffix(".d") } }
    #expect(ninjasShare(byKiln.files()) == byNinja.files())
    #expect(byKiln.files().contains("obj/main.o.d") && !byKiln.files().contains("app.rsp"))

    for args in [["clean", "obj/util.o"], ["clean", "-r", "pair"], ["clean"], ["clean", "-g"]] {
      let before = Set(byKiln.files())
      let n = try Program.run(Self.ninja, ["-t"] + args, in: byNinja.root)
      #expect(n.status == 0, "\(n)")
      let k = try byKiln.kiln(["ninja", "-t"] + args)
      #expect(k.status == 0, "\(k)")
      let gone = before.subtracting(byKiln.files())
      #expect(k.stdout == "Cleaning... \(gone.count) files.\n", "\(args): \(k)")
      #expect(!gone.isEmpty, "\(args)")
      // The same files are left, but for the depfiles ninja deleted before.
      #expect(ninjasShare(byKiln.files()) == byNinja.files(), "\(args): \(k)")
      #expect(k.stderr.isEmpty, "\(args): \(k)")
    }
    #expect(byNinja.files() == ["build.ninja", "src/main.c", "src/util.c"])
    #expect(byKiln.files() == ["build.ninja", "src/main.c", "src/util.c"], "every depfile kiln recorded went too")

    // What was cleaned comes back from the cache.
    let again = try byKiln.kiln("ninja")
    #expect(again.status == 0, "\(again)")
    #expect(byKiln.exists("app"))
  }

  @Test func cleanKeepsWhatKilnDidNotWriteOrWhatChangedSince() throws {
    let p = try TempProject(Self.files)
    #expect(try p.kiln("ninja", "obj/main.o", "obj/util.o").status == 0)
    try p.write("obj/util.o", "edited by hand\n")
    try p.write("app", "written by someone else\n")
    let dry = try p.kiln("ninja", "-n", "-t", "clean")
    #expect(dry.stdout == "Cleaning...\nRemove obj/main.o\nRemove obj/main.o.d\nRemove obj/util.o.d\n3 files.\n", "\(dry)")
    #expect(p.exists("obj/main.o"), "a dry run deletes nothing")

    let r = try p.kiln("ninja", "-v", "-t", "clean")
    #expect(r.status == 0, "\(r)")
    // util.o.d still holds what its command wrote: it goes, though util.o stays.
    #expect(r.stdout == "Cleaning...\nRemove obj/main.o\nRemove obj/main.o.d\nRemove obj/util.o.d\n3 files.\n", "\(r)")
    #expect(Set(r.stderrLines) == [
      "kiln ninja: clean: kept obj/util.o: changed since kiln wrote it",
      "kiln ninja: clean: kept app: kiln's manifest does not record writing it",
    ], "\(r)")
    #expect(!p.exists("obj/main.o") && !p.exists("obj/main.o.d") && !p.exists("obj/util.o.d"))
    #expect(p.read("obj/util.o") == "edited by hand\n")
    #expect(p.read("app") == "written by someone else\n")
  }

  @Test func whatNinjaItselfBuiltIsNotKilnsToClean() throws {
    let p = try TempProject(Self.files)
    #expect(try Program.run(Self.ninja, [], in: p.root).status == 0)
    let before = p.files()
    // What ninja's clean would delete: every one is kept, and said in one line.
    let wouldDelete = try Program.run(Self.ninja, ["-n", "-t", "clean"], in: p.root).stdout
    let r = try p.kiln("ninja", "-t", "clean")
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout == "Cleaning... 0 files.\n")
    // ninja's dry run names each file, then "N files.".
    let count = wouldDelete.split(separator: "\n").last?.split(separator: " ").first.map(String.init) ?? "?"
    #expect(r.stderrLines == ["kiln ninja: clean: kept \(count) files kiln's manifest does not record writing, obj/main.o the first"],
            "ninja: \(wouldDelete) kiln: \(r)")
    #expect(p.files() == before)
  }

  @Test func cleanNeverDeletesThroughASymbolicLink() throws {
    let p = try TempProject(Self.files)
    #expect(try p.kiln("ninja", "notes.txt").status == 0)
    // The outputs' folder is replaced by a link to a folder holding the same bytes.
    let elsewhere = TempDirectory(prefix: "kiln-it-elsewhere")
    try FileManager.default.createDirectory(atPath: elsewhere.path + "/obj", withIntermediateDirectories: true)
    #expect(try p.kiln("ninja", "obj/util.o").status == 0)
    let bytes = try #require(p.bytes("obj/util.o"))
    try Data(bytes).write(to: URL(fileURLWithPath: elsewhere.path + "/obj/util.o"))
    p.remove("obj")
    try FileManager.default.createSymbolicLink(atPath: p.absolute("obj"), withDestinationPath: elsewhere.path + "/obj")
    let r = try p.kiln("ninja", "-t", "clean", "obj/util.o", "notes.txt")
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout == "Cleaning... 1 files.\n", "\(r)")
    #expect(r.stderrLines == ["kiln ninja: clean: kept obj/util.o: outside the build folder or behind a symbolic link"], "\(r)")
    #expect(FileManager.default.fileExists(atPath: elsewhere.path + "/obj/util.o"))
    #expect(!p.exists("notes.txt"))
  }

  // MARK: - How CMake and Meson call it

  @Test func cmakeAndMesonInvocationsWork() throws {
    let byNinja = try TempProject(Self.files)
    let byKiln = try TempProject(Self.files)
    let outside = Paths.parent(byKiln.root)
    // CMake, after writing build.ninja: `ninja -C build -t restat build.ninja`, `-t recompact`.
    for tool in [["restat", "build.ninja"], ["recompact"], ["cleandead"]] {
      let r = try byKiln.kiln(["ninja", "-C", byKiln.root, "-t"] + tool, in: outside)
      #expect(r.status == 0 && r.output.isEmpty, "\(tool): \(r)")
    }
    // Meson: `ninja -C build -t compdb -x c_COMPILER ...` and `-t targets all`.
    for args in [["compdb", "-x", "cc", "link"], ["targets", "all"]] {
      let n = try Program.run(Self.ninja, ["-C", byNinja.root, "-t"] + args, in: Paths.parent(byNinja.root))
      let k = try byKiln.kiln(["ninja", "-C", byKiln.root, "-t"] + args, in: outside)
      #expect(k.status == 0, "\(k)")
      #expect(k.stdout.replacingOccurrences(of: byKiln.root, with: "<root>")
        == n.stdout.replacingOccurrences(of: byNinja.root, with: "<root>"), "\(args)")
    }
    // Under ninja's name, -C and -f apply before the tool, and the tool's flags are its own.
    try FileManager.default.createDirectory(atPath: byKiln.absolute(".tools"), withIntermediateDirectories: true)
    let link = byKiln.absolute(".tools/ninja")
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: TempProject.kilnBinary)
    try byKiln.write("other.ninja", "rule r\n  command = r $in\nbuild x: r y\n")
    let viaLink = try Program.run(link, ["-C", byKiln.root, "-f", "other.ninja", "-t", "commands", "-s", "x"], in: "/",
                                  environment: ["KILN_CACHE_DIR": byKiln.cache.path])
    #expect(viaLink.status == 0 && viaLink.stdout == "r y\n", "\(viaLink)")
    let list = try byKiln.kiln("ninja", "-t", "list")
    for tool in ["clean", "commands", "inputs", "deps", "query", "targets", "compdb", "recompact", "restat", "cleandead"] {
      #expect(list.stdout.contains(" \(tool)  "), "\(tool) missing from \(list)")
    }
  }
}
