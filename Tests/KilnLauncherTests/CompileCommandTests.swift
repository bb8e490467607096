import KilnLauncher
import Testing

/// `CompileCommand.parse`: which gcc/clang command lines are one cacheable compile,
/// what they write, and why the others are run directly.
@Suite struct CompileCommandTests {
  static func parsed(_ line: String, environment: [String: String] = [:]) -> CompileCommand? {
    parsed(line.split(separator: " ").map(String.init), environment: environment)
  }

  static func parsed(_ args: [String], environment: [String: String] = [:]) -> CompileCommand? {
    guard case .success(let command) = CompileCommand.parse(args, environment: environment) else { return nil }
    return command
  }

  /// The reason a command is run directly, nil when it is cacheable.
  static func refusal(_ line: String, environment: [String: String] = [:]) -> String? {
    refusal(line.split(separator: " ").map(String.init), environment: environment)
  }

  static func refusal(_ args: [String], environment: [String: String] = [:]) -> String? {
    guard case .failure(let why) = CompileCommand.parse(args, environment: environment) else { return nil }
    return why.reason
  }

  static func roles(_ command: CompileCommand?) -> [String] { command?.outputs.map(\.role) ?? [] }
  static func paths(_ command: CompileCommand?) -> [String] { command?.outputs.map(\.path) ?? [] }

  // MARK: - The key's arguments

  @Test func theObjectsNameIsLeftOutOfTheKeyWhenNothingDependsOnIt() throws {
    #expect(Self.parsed("-O2 -c src/a.c -o obj/a.o")?.keyArguments == ["-O2", "-c", "src/a.c"])
    #expect(Self.parsed("-O2 -c src/a.c -oobj/a.o")?.keyArguments == ["-O2", "-c", "src/a.c"])
    #expect(Self.parsed("-g -c src/a.c -o obj/a.o")?.keyArguments == ["-g", "-c", "src/a.c"])
    // A name some output depends on stays: the depfile's target, the .dwo and .gcno
    // named after it, an LTO object (it embeds its name), profile counters, switches.
    for line in ["-MD -c src/a.c -o obj/a.o", "-MMD -MF a.d -c src/a.c -o obj/a.o", "-gsplit-dwarf -c src/a.c -o obj/a.o",
                 "--coverage -c src/a.c -o obj/a.o", "-flto -c src/a.c -o obj/a.o", "-flto=auto -c src/a.c -o obj/a.o",
                 "-fprofile-arcs -c src/a.c -o obj/a.o", "-frecord-gcc-switches -c src/a.c -o obj/a.o",
                 "-dumpbase x -c src/a.c -o obj/a.o"] {
      let c = try #require(Self.parsed(line), "\(line)")
      #expect(c.keyArguments == c.arguments, "\(line)")
    }
  }

  @Test func profileCountersWithNotesAreCoverage() throws {
    // The object names its .gcda by absolute path: restored only where it was made.
    let c = try #require(Self.parsed("-fprofile-arcs -ftest-coverage -c src/a.c -o obj/a.o"))
    #expect(Self.roles(c) == ["object", "gcno"])
    #expect(Self.paths(c) == ["obj/a.o", "obj/a.gcno"])
  }

  // MARK: - Cacheable compiles

  @Test func aPlainCompileNamesItsSourceAndObject() throws {
    let c = try #require(Self.parsed("-O2 -Wall -c src/a.c -o obj/a.o"))
    #expect(c.source == "src/a.c")
    #expect(c.language == .c)
    #expect(c.object == "obj/a.o")
    #expect(c.depfile == nil && c.splitDwarf == nil && c.coverageNotes == nil)
    #expect(Self.roles(c) == ["object"])
    #expect(Self.paths(c) == ["obj/a.o"])
    #expect(c.arguments == ["-O2", "-Wall", "-c", "src/a.c", "-o", "obj/a.o"])
  }

  @Test func withoutDashOTheObjectIsTheSourcesNameInTheCurrentFolder() {
    // gcc writes `a.o` in the current folder, not next to the source.
    #expect(Self.parsed("-c src/sub/a.c")?.object == "a.o")
    #expect(Self.parsed("-S src/sub/a.c")?.object == "a.s")
    #expect(Self.parsed("-c lib.v2/noext.cpp")?.object == "noext.o")
  }

  @Test func dashSWritesAssembly() throws {
    let c = try #require(Self.parsed("-S a.c -o out/a.s"))
    #expect(c.object == "out/a.s")
    #expect(Self.roles(c) == ["object"])
  }

  @Test func anAttachedDashOIsTheObject() {
    #expect(Self.parsed("-c a.c -oobj/a.o")?.object == "obj/a.o")
    #expect(Self.parsed("-c -oobj/a.o a.c")?.source == "a.c")
  }

  @Test func dashSWinsOverDashCInEitherOrderAsInGcc() {
    // `gcc -S -c a.c` writes a.s, as `gcc -c -S a.c` does.
    #expect(Self.parsed("-S -c a.c")?.object == "a.s")
    #expect(Self.parsed("-c -S a.c")?.object == "a.s")
    // A trailing -arch is the compiler's to refuse, not a crash.
    #expect(Self.parsed("-c a.c -arch")?.object == nil)
  }

  @Test func languagesByFileName() {
    #expect(Self.parsed("-c a.c")?.language == .c)
    for name in ["a.cc", "a.cpp", "a.cxx", "a.C", "a.c++", "a.cp", "a.CPP"] {
      #expect(Self.parsed("-c \(name)")?.language == .cxx, "\(name)")
    }
    #expect(Self.parsed("-c a.m")?.language == .objc)
    #expect(Self.parsed("-c a.mm")?.language == .objcxx)
    #expect(Self.parsed("-c a.S")?.language == .assemblerWithCpp)
    #expect(Self.parsed("-c a.sx")?.language == .assemblerWithCpp)
    for name in ["a.i", "a.ii", "a.s", "a.mi"] {
      #expect(Self.parsed("-c \(name)")?.language == .preprocessed, "\(name)")
    }
  }

  @Test func dashXNamesTheLanguageOfTheFilesAfterIt() throws {
    let c = try #require(Self.parsed("-x c -c input.txt -o a.o"))
    #expect(c.source == "input.txt")
    #expect(c.language == .c)
    #expect(c.preprocessorArguments == ["-x", "c", "input.txt"])
    #expect(Self.parsed("-xc++ -c input.txt")?.language == .cxx)
    #expect(Self.parsed("-x assembler-with-cpp -c a.asm")?.language == .assemblerWithCpp)
    #expect(Self.parsed("-x cpp-output -c a.txt")?.language == .preprocessed)
    // `-x none` goes back to names.
    #expect(Self.parsed("-x c++ -x none -c a.c")?.language == .c)
  }

  @Test func optionsWithAValueDoNotTakeTheirValueForASource() throws {
    let c = try #require(Self.parsed("-I inc -D NAME=1 -include pre.h -isystem sys -MT t.o -c a.c -o a.o"))
    #expect(c.source == "a.c")
    #expect(c.preprocessorArguments == ["-I", "inc", "-D", "NAME=1", "-include", "pre.h", "-isystem", "sys", "a.c"])
  }

  @Test func thePreprocessorRunDropsTheCompileAndDepfileFlags() throws {
    let c = try #require(Self.parsed("-O2 -Iinc -DX=1 -MD -MP -MF deps/a.d -MT obj/a.o -MQ q -c a.c -o obj/a.o -g"))
    #expect(c.preprocessorArguments == ["-O2", "-Iinc", "-DX=1", "a.c", "-g"])
    #expect(!c.preprocessorArguments.contains("-E"), "the launcher adds -E itself")
  }

  // MARK: - Side outputs

  @Test func dashMDWritesTheObjectsNameWithDotD() throws {
    let c = try #require(Self.parsed("-MD -c src/a.c -o obj/a.o"))
    #expect(c.depfile == "obj/a.d")
    #expect(Self.roles(c) == ["object", "depfile"])
    #expect(Self.paths(c) == ["obj/a.o", "obj/a.d"])
    #expect(Self.parsed("-MMD -c src/a.c")?.depfile == "a.d")
    // An object without an extension gets `.d` added; a dot in a folder is no extension.
    #expect(Self.parsed("-MD -c a.c -o out.dir/obj")?.depfile == "out.dir/obj.d")
  }

  @Test func dashMFNamesTheDepfile() {
    #expect(Self.parsed("-MD -MF deps/a.dep -c a.c -o a.o")?.depfile == "deps/a.dep")
    #expect(Self.parsed("-MMD -MFdeps/a.dep -c a.c -o a.o")?.depfile == "deps/a.dep")
    // The flag order does not matter.
    #expect(Self.parsed("-MF deps/a.dep -c a.c -o a.o -MD")?.depfile == "deps/a.dep")
  }

  @Test func dashMFAloneWritesNoDepfile() {
    // Without -MD/-MMD (and without -M, which is refused) nothing writes it.
    #expect(Self.parsed("-MF deps/a.dep -c a.c -o a.o")?.depfile == nil)
  }

  @Test func splitDwarfWritesADwoNextToTheObject() throws {
    let c = try #require(Self.parsed("-g -gsplit-dwarf -c src/a.c -o obj/a.o"))
    #expect(c.splitDwarf == "obj/a.dwo")
    #expect(Self.roles(c) == ["object", "dwo"])
    // -S writes no .dwo.
    #expect(Self.parsed("-g -gsplit-dwarf -S a.c")?.splitDwarf == nil)
  }

  @Test func coverageWritesAGcnoNextToTheObject() throws {
    let c = try #require(Self.parsed("--coverage -c src/a.c -o obj/a.o"))
    #expect(c.coverageNotes == "obj/a.gcno")
    #expect(Self.parsed("-ftest-coverage -c a.c")?.coverageNotes == "a.gcno")
  }

  @Test func everySideOutputInItsFixedOrder() throws {
    let c = try #require(Self.parsed("--coverage -gsplit-dwarf -MMD -c a.c -o o/a.o"))
    #expect(Self.roles(c) == ["object", "depfile", "dwo", "gcno"])
    #expect(Self.paths(c) == ["o/a.o", "o/a.d", "o/a.dwo", "o/a.gcno"])
  }

  @Test func wpWithoutDepfileFlagsIsPassedToThePreprocessor() throws {
    let c = try #require(Self.parsed("-Wp,-DX=1 -c a.c"))
    #expect(c.preprocessorArguments == ["-Wp,-DX=1", "a.c"])
  }

  @Test func xclangWithAnOrdinaryValueIsCacheable() throws {
    let c = try #require(Self.parsed("-Xclang -fno-pch-timestamp -c a.c"))
    #expect(c.preprocessorArguments == ["-Xclang", "-fno-pch-timestamp", "a.c"])
  }

  // MARK: - Run directly, and why

  @Test func aLinkIsNotCached() {
    #expect(Self.refusal("a.c -o app") == "link")
    #expect(Self.refusal("a.o b.o -o app") == "link", "a link of objects only")
    #expect(Self.refusal("-o app -lm") == "no compile", "no file at all")
    #expect(Self.refusal("-c a.c b.o") == "link inputs with -c")
  }

  @Test func severalSourcesOrNoneAreNotCached() {
    #expect(Self.refusal("-c a.c b.c") == "several sources")
    #expect(Self.refusal("-c") == "no source")
    #expect(Self.refusal("") == "no compile")
  }

  @Test func preprocessingAndDependencyListingAreNotCached() {
    #expect(Self.refusal("-E a.c") == "preprocessing only (-E)")
    #expect(Self.refusal("-M a.c") == "dependencies only (-M)")
    #expect(Self.refusal("-MM -c a.c") == "dependencies only (-MM)")
    #expect(Self.refusal("-MD -MG -c a.c") == "missing headers treated as generated (-MG)")
  }

  @Test func outputOnStdoutAndSourceOnStdinAreNotCached() {
    #expect(Self.refusal("-c a.c -o -") == "output on stdout (-o -)")
    #expect(Self.refusal("-x c -c - -o a.o") == "source on stdin")
  }

  @Test func flagsWhoseResultKilnCannotSeeAreRefusedWithTheirReason() {
    let cases: [(String, String)] = [
      ("-save-temps -c a.c", "keeps temporary files (-save-temps)"),
      ("-save-temps=obj -c a.c", "keeps temporary files (-save-temps)"),
      ("-fprofile-generate -c a.c", "profile generation (-fprofile-generate)"),
      ("-fprofile-generate=dir -c a.c", "profile generation (-fprofile-generate)"),
      ("-fprofile-use=x.profdata -c a.c", "profile data kiln does not see (-fprofile-use)"),
      ("-march=native -c a.c", "tuned to this machine's CPU (-march=native)"),
      ("-mtune=native -c a.c", "tuned to this machine's CPU (-mtune=native)"),
      ("-fplugin=x.so -c a.c", "compiler plugin (-fplugin)"),
      ("-B/opt/cc -c a.c", "another compiler directory (-B)"),
      ("-fdump-tree-all -c a.c", "writes dump files (-fdump-...)"),
      ("-fstack-usage -c a.c", "writes a .su file (-fstack-usage)"),
      ("-ftime-report -c a.c", "reports timings (-ftime-report)"),
      ("-v -c a.c", "verbose compiler output (-v)"),
    ]
    for (line, reason) in cases {
      #expect(Self.refusal(line) == reason, "\(line)")
    }
  }

  @Test func queriesOfTheCompilerAreNoCompile() {
    #expect(Self.refusal("--version") == "no compile (--version)")
    #expect(Self.refusal("-print-search-dirs") == "no compile (-print-search-dirs)")
    #expect(Self.refusal("-dumpversion") == "no compile (-dumpversion)")
    #expect(Self.refusal("-dumpmachine -c a.c") == "no compile (-dumpmachine)")
    // -dumpbase and -dumpdir name files; they are not queries.
    #expect(Self.parsed("-dumpbase a -c a.c") != nil)
    #expect(Self.parsed("-dumpdir out/ -c a.c") != nil)
  }

  @Test func pluginsThroughXclangAreRefused() {
    #expect(Self.refusal("-Xclang -load -Xclang plugin.so -c a.c") == "-Xclang -load")
    #expect(Self.refusal("-Xclang -add-plugin -Xclang x -c a.c") == "-Xclang -add-plugin")
    #expect(Self.refusal("-Xclang -emit-pch -c a.h") == "-Xclang -emit-pch")
    #expect(Self.refusal("-Xpreprocessor -MD -c a.c") == "-Xpreprocessor -MD")
    #expect(Self.refusal("-c a.c -Xclang") == "-Xclang without a value")
  }

  @Test func depfileFlagsThroughWpAreRefused() {
    #expect(Self.refusal("-Wp,-MD,a.d -c a.c") == "depfile flags through -Wp (-Wp,-MD,a.d)")
    #expect(Self.refusal("-Wp,-MMD,a.d -c a.c") == "depfile flags through -Wp (-Wp,-MMD,a.d)")
  }

  @Test func languagesKilnDoesNotCacheAreRefused() {
    #expect(Self.refusal("-x f95 -c a.f") == "language not cached (-x f95)")
    #expect(Self.refusal("-xc-header -c a.h") == "language not cached (-x c-header)")
    // A source kiln does not know by name is a link input, so -c with it is refused.
    #expect(Self.refusal("-c a.f90") == "link inputs with -c")
  }

  @Test func aFlagMissingItsValueIsRefused() {
    #expect(Self.refusal("-c a.c -o") == "-o without a file")
    #expect(Self.refusal("-c a.c -MD -MF") == "-MF without a value")
    #expect(Self.refusal("-c a.c -x") == "-x without a language")
    #expect(Self.refusal("-c a.c -I") == "-I without a value")
  }

  @Test func environmentVariablesThatWriteDepfilesAreRefused() {
    #expect(Self.refusal("-c a.c", environment: ["DEPENDENCIES_OUTPUT": "a.d"]) == "DEPENDENCIES_OUTPUT is set")
    #expect(Self.refusal("-c a.c", environment: ["SUNPRO_DEPENDENCIES": "a.d"]) == "SUNPRO_DEPENDENCIES is set")
    #expect(Self.refusal("-c a.c", environment: ["CCC_OVERRIDE_OPTIONS": "#"]) == "CCC_OVERRIDE_OPTIONS is set")
    #expect(Self.refusal("-c a.c", environment: ["CPATH": "inc"]) == nil)
  }

  @Test func severalArchitecturesAreRefused() {
    #expect(Self.refusal("-arch x86_64 -arch arm64 -c a.c") == "several -arch")
    #expect(Self.parsed("-arch x86_64 -c a.c")?.source == "a.c")
  }
}
