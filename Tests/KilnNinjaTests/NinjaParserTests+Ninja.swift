import Foundation
import KilnNinja
import KilnSystem
import KilnTestSupport
import Testing

/// The package's root folder (fixtures live there).
private let packageRoot = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

private let realNinja = "/usr/bin/ninja"

/// What `ninja -t commands target` prints from the parsed manifest: the commands of the
/// edges `target` depends on (through every kind of input), depth first, each once,
/// phony edges silent.
func commands(for target: String, in manifest: NinjaManifest) -> [String] {
  var producer: [String: Int] = [:]
  for (index, edge) in manifest.edges.enumerated() {
    for output in edge.outputs + edge.implicitOutputs { producer[output] = index }
  }
  var seen: Set<Int> = []
  var result: [String] = []
  func visit(_ path: String) {
    guard let index = producer[path], seen.insert(index).inserted else { return }
    let edge = manifest.edges[index]
    for input in edge.inputs + edge.implicitInputs + edge.orderOnly { visit(input) }
    if edge.rule != "phony" { result.append(edge.command) }
  }
  visit(target)
  return result
}

/// The real ninja's `-t commands target` in `directory`, one command a line (run with a
/// temporary home of its own, like every program a test starts).
func ninjaCommands(for target: String, in directory: String) throws -> [String] {
  let r = try Program.run(realNinja, ["-C", directory, "-t", "commands", target], in: directory)
  #expect(r.status == 0, "ninja -t commands \(target) failed in \(directory): \(r)")
  return r.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
}

/// Manifests whose commands the real ninja and the parser must agree on, byte for byte.
private let differentialCases: [(name: String, files: [String: String], targets: [String])] = [
  (
    "scopes, escapes and quoting",
    [
      "build.ninja": """
        ninja_required_version = 1.7
        cflags = -O2
        late = early
        include rules.ninja
        rule cc
          command = cc $cflags -c $in -o $out $late
          description = CC $out
        rule link
          command = ld $in -o $out $
              $libs
        rule echo_desc
          description = from-rule $out
          command = echo [$description] $$HOME $ x$:y ${cflags}.z $cflags.z
        build a.o: cc a.c | a.h
        build b.o: cc b$ c.c it's.c @x,y=z
          cflags = -O0 $cflags
        build lib$:x.o: cc ${dir}/./x/../y.c
          dir = src
        build app: link a.o b.o lib$:x.o || gen
          libs = -lm
        build gen: phony
        build e: echo_desc one two
        build f: echo_desc x
          description = from-edge $$ $out
        build i: inc q
        subninja sub/build.ninja
        late = final
        build all: phony app e f i sub/s

        """,
      "rules.ninja": "rule inc\n  command = inc $cflags $in\n",
      "sub/build.ninja": "cflags = -Osub\nrule cc\n  command = subcc $cflags $in $late\nbuild sub/s: cc sub/s.c\n",
    ],
    ["all", "b.o"]
  ),
  (
    "a top-level variable shadows the rule's for an edge without bindings",
    [
      "build.ninja": """
        command = from-top
        rule r
          command = from-rule $out
        build a: r
        build b: r
          x = 1
        build all: phony a b

        """
    ],
    ["all"]
  ),
  (
    "edge bindings see the file scope only",
    [
      "build.ninja": """
        flags = file
        rule r
          description = making $out
          command = r $y [$description] $in
        build o: r i
          flags = edge
          y = $flags

        """
    ],
    ["o"]
  ),
]

extension NinjaParserTests {
  @Test func aCMakeStyleManifestParses() throws {
    let directory = packageRoot + "/fixtures/ninja/cmake-like"
    let manifest = try NinjaParser(fileSystem: LocalFileSystem(), directory: directory).parse()
    #expect(manifest.defaults == ["all"])
    #expect(manifest.bindings["ninja_required_version"] == "1.5")
    #expect(manifest.bindings["cmake_ninja_workdir"] == "/src/hello/build/")
    #expect(manifest.pools.isEmpty)
    #expect(manifest.edges.count == 17)

    let regenerate = try #require(manifest.edge(producing: "build.ninja"))
    #expect(regenerate.rule == "RERUN_CMAKE")
    #expect(regenerate.generator && regenerate.pool == "console")
    #expect(regenerate.outputs == ["build.ninja", "/src/hello/build/cmake_install.cmake"])
    #expect(regenerate.implicitInputs.first == "/src/hello/CMakeLists.txt")
    #expect(regenerate.description == "Re-running CMake...")

    let object = try #require(manifest.edge(producing: "CMakeFiles/hello.dir/src/main.c.o"))
    #expect(object.deps == "gcc")
    #expect(object.depfile == "CMakeFiles/hello.dir/src/main.c.o.d")
    #expect(object.orderOnly == ["cmake_object_order_depends_target_hello"])
    #expect(object.description == "Building C object CMakeFiles/hello.dir/src/main.c.o")
    #expect(object.command.hasPrefix(#"/usr/bin/cc -DHELLO_VERSION=\"1.0\" -I/src/hello/include"#))
    #expect(object.file == "build.ninja")

    let header = try #require(manifest.edge(producing: "generated/version.h"))
    #expect(header.restat && !header.generator && header.pool == nil)
    #expect(manifest.edge(producing: "CMakeFiles/edit_cache.util")?.pool == "console")
    // `restat = $RESTAT` with RESTAT unset: false.
    #expect(manifest.edge(producing: "libgreet.a")?.restat == false)
    #expect(manifest.edge(producing: "all")?.inputs == ["libgreet.a", "hello"])
    #expect(manifest.edge(producing: "greet")?.rule == "phony")
  }

  @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: realNinja), "needs /usr/bin/ninja"))
  func theCMakeStyleFixtureGivesNinjasCommands() throws {
    let directory = packageRoot + "/fixtures/ninja/cmake-like"
    let manifest = try NinjaParser(fileSystem: LocalFileSystem(), directory: directory).parse()
    for target in ["all", "clean", "help", "build.ninja", "edit_cache", "rebuild_cache"] {
      #expect(commands(for: target, in: manifest) == (try ninjaCommands(for: target, in: directory)), "\(target)")
    }
  }

  @Test(
    .enabled(if: FileManager.default.isExecutableFile(atPath: realNinja), "needs /usr/bin/ninja"),
    arguments: differentialCases.indices)
  func evaluatedCommandsMatchTheRealNinja(_ index: Int) throws {
    let (name, files, targets) = differentialCases[index]
    let directory = TempDirectory(prefix: "kiln-ninja")
    for (path, text) in files {
      let full = directory.path + "/" + path
      try FileManager.default.createDirectory(
        atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
      try text.write(toFile: full, atomically: true, encoding: .utf8)
    }
    let manifest = try NinjaParser(fileSystem: LocalFileSystem(), directory: directory.path).parse()
    for target in targets {
      let expected = try ninjaCommands(for: target, in: directory.path)
      #expect(!expected.isEmpty)
      #expect(commands(for: target, in: manifest) == expected, "\(name): \(target)")
    }
  }
}
