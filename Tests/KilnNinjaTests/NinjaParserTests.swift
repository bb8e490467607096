import KilnNinja
import KilnSystem
import KilnTestSupport
import Testing

/// Parses `files` (path -> text) from an in-memory project folder.
func parse(_ files: [String: String], main: String = "build.ninja") throws(NinjaError) -> NinjaManifest {
  let fileSystem = InMemoryFileSystem(clock: ManualClock())
  for (path, text) in files { fileSystem.write("/project/" + path, text) }
  return try NinjaParser(fileSystem: fileSystem, directory: "/project").parse(main)
}

func parse(_ text: String) throws(NinjaError) -> NinjaManifest { try parse(["build.ninja": text]) }

/// The error `files` must produce, as ninja words it.
func failure(_ files: [String: String]) -> String? {
  do {
    _ = try parse(files)
    return nil
  } catch {
    return error.description
  }
}

func failure(_ text: String) -> String? { failure(["build.ninja": text]) }

extension NinjaManifest {
  func edge(producing output: String) -> NinjaEdge? {
    edges.first { $0.outputs.contains(output) || $0.implicitOutputs.contains(output) }
  }

  func command(_ output: String) -> String? { edge(producing: output)?.command }
}

@Suite struct NinjaParserTests {
  // MARK: - Lexing

  @Test func commentsAndBlankLinesAreSkippedEvenWhenIndented() throws {
    let manifest = try parse(
      "# a comment\n" + "  # an indented comment\n" + "\n" + "rule r\n" + "  # inside a rule\n"
        + "  command = run $in\n" + "    \n" + "build out: r in # not a comment, a path\n"
        + "x = 1 # nor here, part of the value\n")
    #expect(manifest.edges.map(\.inputs) == [["in", "#", "not", "a", "comment,", "a", "path"]])
    #expect(manifest.bindings["x"] == "1 # nor here, part of the value")
  }

  @Test func escapesGiveTheirCharacters() throws {
    let manifest = try parse(
      """
      a = A
      a.b = AB
      v = $$ $ x$:y ${a} ${a.b} $a.x $a-b
      a-b = late

      """)
    // `$a.x` stops at the dot; `$a-b` is one name (unset when read, so empty).
    #expect(manifest.bindings["v"] == "$  x:y A AB A.x ")
  }

  @Test func aPathEndsAtSpaceColonOrPipeUnlessEscaped() throws {
    let manifest = try parse(
      """
      rule r
        command = c
      build a$ b c$:d: r e|f

      """)
    #expect(manifest.edges[0].outputs == ["a b", "c:d"])
    #expect(manifest.edges[0].inputs == ["e"])
    #expect(manifest.edges[0].implicitInputs == ["f"])
    #expect(failure("build a$|b: phony\n") == "build.ninja:1: bad $-escape (literal $ must be written as $$)")
  }

  @Test func continuationLinesJoinAndSkipTheNextLinesIndentation() throws {
    let manifest = try parse(
      """
      rule r
        command = cc $
            -c $in $
            -o $out
      build $
          out: $
          r $
          in1 $
          in2
      long = one$
        two

      """)
    #expect(manifest.edges[0].command == "cc -c in1 in2 -o out")
    #expect(manifest.edges[0].line == 5)
    #expect(manifest.bindings["long"] == "onetwo")
  }

  @Test func aBadDollarEscapeIsAnErrorAtItsLine() {
    #expect(failure("x = 1\ny = a$!b\n") == "build.ninja:2: bad $-escape (literal $ must be written as $$)")
    #expect(failure("x = ${a\n") == "build.ninja:1: bad $-escape (literal $ must be written as $$)")
  }

  @Test func aFileMustEndInANewline() {
    #expect(failure("x = 1") == "build.ninja:1: unexpected EOF")
  }

  @Test func crlfLineEndsAreAccepted() throws {
    let manifest = try parse("rule r\r\n  command = c $out\r\nbuild o: r\r\n")
    #expect(manifest.edges[0].command == "c o")
  }

  // MARK: - Variables and scopes

  @Test func aTopLevelVariableIsEvaluatedWhenDefined() throws {
    let manifest = try parse("a = 1\nb = $a\na = 2\nc = $undefined.\n")
    #expect(manifest.bindings == ["a": "2", "b": "1", "c": "."])
  }

  @Test func ruleVariablesSeeInOutAndTheFileScope() throws {
    let manifest = try parse(
      """
      cflags = -O2
      rule cc
        command = cc $cflags -c $in -o $out
        description = CC $out
      build a.o: cc a.c | a.h || gen
      build b.o: cc b.c x.c
        cflags = -O0

      """)
    #expect(manifest.command("a.o") == "cc -O2 -c a.c -o a.o")
    #expect(manifest.edge(producing: "a.o")?.description == "CC a.o")
    // The edge's binding shadows the file's inside the rule's command.
    #expect(manifest.command("b.o") == "cc -O0 -c b.c x.c -o b.o")
  }

  @Test func implicitPathsAreNotInInOrOut() throws {
    let manifest = try parse(
      """
      rule r
        command = r $in > $out
      build o | o.extra: r i | i.extra || order |@ check
      build order check: phony

      """)
    let edge = try #require(manifest.edge(producing: "o"))
    #expect(edge.command == "r i > o")
    #expect(edge.outputs == ["o"])
    #expect(edge.implicitOutputs == ["o.extra"])
    #expect(edge.inputs == ["i"])
    #expect(edge.implicitInputs == ["i.extra"])
    #expect(edge.orderOnly == ["order"])
    #expect(edge.validations == ["check"])
  }

  @Test func inNewlineSeparatesInputsByNewlines() throws {
    let manifest = try parse("rule r\n  command = c\n  rspfile = $out.rsp\n  rspfile_content = $in_newline\nbuild o: r a b\n")
    #expect(manifest.edges[0].rspfileContent == "a\nb")
    #expect(manifest.edges[0].rspfile == "o.rsp")
  }

  @Test func inAndOutAreShellQuotedLikeNinjaOnPOSIX() throws {
    let manifest = try parse(
      """
      rule r
        command = r $in $out
        depfile = $out.d
      build plain-path_1+2.o/x it's a,b$ c: r @in

      """)
    let edge = manifest.edges[0]
    #expect(edge.command == #"r '@in' plain-path_1+2.o/x 'it'\''s' 'a,b c'"#)
    // depfile, rspfile and dyndep take the paths as they are.
    #expect(edge.depfile == "plain-path_1+2.o/x it's a,b c.d")
  }

  @Test func aBuildBindingIsEvaluatedInTheFileScopeNotTheEdges() throws {
    let manifest = try parse(
      """
      flags = file
      rule r
        command = $y
      build o: r
        flags = edge
        y = $flags

      """)
    #expect(manifest.command("o") == "file")
  }

  @Test func aRuleVariableMayReferToAnotherRuleVariableAndOut() throws {
    let manifest = try parse(
      """
      rule r
        description = making $out
        command = echo $description
      build o: r

      """)
    #expect(manifest.command("o") == "echo making o")
  }

  @Test func ruleVariablesAreEvaluatedAfterTheWholeFileIsRead() throws {
    let manifest = try parse("rule r\n  command = c $late\nbuild o: r\nlate = 2\n")
    #expect(manifest.command("o") == "c 2")
  }

  @Test func withoutBindingsOfItsOwnAnEdgeSeesTopLevelVariablesBeforeTheRules() throws {
    // ninja's quirk: such an edge's scope is the file's, which is searched first.
    let manifest = try parse(
      """
      description = top
      rule r
        command = c
        description = rule
      build a: r
      build b: r
        x = 1

      """)
    #expect(manifest.edge(producing: "a")?.description == "top")
    #expect(manifest.edge(producing: "b")?.description == "rule")
  }

  @Test func aCycleInRuleVariablesIsAnError() {
    #expect(
      failure("rule r\n  command = $description\n  description = $command\nbuild o: r\n")
        == "build.ninja:4: cycle in rule variables: command -> description -> command")
  }

  @Test func onlyTheReservedVariablesMayBeSetInARule() {
    #expect(failure("rule r\n  command = c\n  cflags = -O2\n") == "build.ninja:3: unexpected variable 'cflags'")
    // `$in` and `$out` are the edge's own: ninja 1.11 refuses them in a rule too.
    for name in ["in", "in_newline", "out"] {
      #expect(failure("rule r\n  command = c $\(name)\n  \(name) = x\n") == "build.ninja:3: unexpected variable '\(name)'")
    }
  }

  @Test func includeSharesTheScopeAndSubninjaDoesNotLeak() throws {
    let manifest = try parse([
      "build.ninja": """
        top = T
        include inc.ninja
        subninja sub/build.ninja
        build main: r

        """,
      "inc.ninja": "rule r\n  command = r $top $from_include $from_sub\nfrom_include = I\n",
      "sub/build.ninja": "from_sub = S\ntop = shadowed\nbuild sub/o: r\nrule r\n  command = own $top\nbuild sub/p: r\n",
    ])
    #expect(manifest.bindings == ["top": "T", "from_include": "I"])
    // The subninja sees its parent's rules and variables, and shadows them for itself.
    #expect(manifest.command("sub/o") == "r shadowed I S")
    #expect(manifest.command("sub/p") == "own shadowed")
    #expect(manifest.command("main") == "r T I ")
    #expect(manifest.edges.map(\.file) == ["sub/build.ninja", "sub/build.ninja", "build.ninja"])
    #expect(manifest.edges.map(\.line) == [3, 6, 4])
  }

  @Test func includePathsAreEvaluated() throws {
    let manifest = try parse(["build.ninja": "dir = sub\ninclude $dir/rules.ninja\n", "sub/rules.ninja": "x = 1\n"])
    #expect(manifest.bindings["x"] == "1")
  }

  @Test func aMissingIncludeIsAnErrorAtTheIncludeLine() {
    #expect(failure("\nsubninja gone.ninja\n") == "build.ninja:2: loading 'gone.ninja': No such file or directory")
    #expect(failure([:]) == "build.ninja: loading 'build.ninja': No such file or directory")
  }

  @Test func errorsInAnIncludedFileNameThatFile() {
    #expect(failure(["build.ninja": "include a.ninja\n", "a.ninja": "\n\nbuild o: nope\n"]) == "a.ninja:3: unknown build rule 'nope'")
  }

  // MARK: - Rules and edges

  @Test func ruleFlagsAndSpecialVariablesAreRead() throws {
    let manifest = try parse(
      """
      rule cc
        command = cc -MD -MF $out.d -c $in -o $out
        depfile = $out.d
        deps = gcc
        msvc_deps_prefix = Note: including file:
        restat = 1
        generator = yes
      build a.o: cc a.c

      """)
    let edge = manifest.edges[0]
    #expect(edge.rule == "cc")
    #expect(edge.depfile == "a.o.d")
    #expect(edge.deps == "gcc")
    #expect(edge.msvcDepsPrefix == "Note: including file:")
    #expect(edge.restat && edge.generator)
    #expect(edge.pool == nil && edge.description == nil && edge.rspfile == nil && edge.dyndep == nil)
  }

  @Test func phonyIsBuiltInAndHasNoCommand() throws {
    let manifest = try parse("build all: phony a b\nbuild a b: phony\nbuild self: phony self\n")
    #expect(manifest.edges.map(\.rule) == ["phony", "phony", "phony"])
    #expect(manifest.edges.map(\.command) == ["", "", ""])
    // ninja drops a phony edge's input that names its own output.
    #expect(manifest.edge(producing: "self")?.inputs == [])
  }

  @Test func aRuleNeedsACommandAndBothRspfileVariables() {
    #expect(failure("rule r\n  description = d\n") == "build.ninja:1: expected 'command =' line")
    #expect(
      failure("\nrule r\n  command = c\n  rspfile = x\n")
        == "build.ninja:2: rspfile and rspfile_content need to be both specified")
  }

  @Test func aRuleNameIsDeclaredOncePerScope() {
    #expect(failure("rule r\n  command = c\nrule r\n  command = d\n") == "build.ninja:3: duplicate rule 'r'")
    #expect(failure("rule phony\n  command = c\n") == "build.ninja:1: duplicate rule 'phony'")
  }

  @Test func anUnknownRuleIsAnError() {
    #expect(failure("\nbuild o: cc i\n") == "build.ninja:2: unknown build rule 'cc'")
  }

  @Test func anOutputDeclaredTwiceIsAnError() {
    #expect(failure("build a: phony\nbuild b ./a: phony\n") == "build.ninja:2: multiple rules generate a")
  }

  @Test func pathsAreCanonicalised() throws {
    let manifest = try parse("build ./out//x/../y/: phony ../up/./a sub/.. /abs/../b\n")
    #expect(manifest.edges[0].outputs == ["out/y"])
    #expect(manifest.edges[0].inputs == ["../up/a", ".", "/b"])
  }

  @Test func edgeBindingsAndVariablesReachPaths() throws {
    let manifest = try parse("dir = gen\nbuild $dir/$name: phony\n  name = x\n")
    #expect(manifest.edges[0].outputs == ["gen/x"])
    #expect(failure("build $empty: phony\n") == "build.ninja:1: empty path")
  }

  @Test func dyndepMustBeAnInput() throws {
    let manifest = try parse("rule r\n  command = c\nbuild o: r || o.dd\n  dyndep = o.dd\nbuild o.dd: phony\n")
    #expect(manifest.edges[0].dyndep == "o.dd")
    #expect(failure("rule r\n  command = c\n\nbuild o: r\n  dyndep = x.dd\n") == "build.ninja:4: dyndep 'x.dd' is not an input")
  }

  // MARK: - Pools and defaults

  @Test func poolsHaveADepthAndConsoleIsBuiltIn() throws {
    let manifest = try parse(
      """
      pool link
        depth = 2
      rule ld
        command = ld
        pool = link
      build a: ld
      build b: ld
        pool = console
      build c: ld
        pool =

      """)
    #expect(manifest.pools == ["link": 2])
    #expect(manifest.edges.map(\.pool) == ["link", "console", nil])
  }

  @Test func poolErrors() {
    #expect(failure("pool p\n  x = 1\n") == "build.ninja:2: unexpected variable 'x'")
    #expect(failure("pool p\n  depth = -1\n") == "build.ninja:2: invalid pool depth")
    #expect(failure("\npool p\n") == "build.ninja:2: expected 'depth =' line")
    #expect(failure("pool console\n  depth = 3\n") == "build.ninja:1: duplicate pool 'console'")
    #expect(failure("\nbuild o: phony\n  pool = p\n") == "build.ninja:2: unknown pool name 'p'")
  }

  @Test func defaultsNameKnownTargetsInOrder() throws {
    #expect(try parse("build a b: phony c\n").defaults == [])
    let manifest = try parse("build a b: phony c\nt = b\ndefault ./a $t\ndefault c\n")
    #expect(manifest.defaults == ["a", "b", "c"])
    #expect(failure("build a: phony\n\ndefault a nope\n") == "build.ninja:3: unknown target 'nope'")
    #expect(failure("default a\nbuild a: phony\n") == "build.ninja:1: unknown target 'a'")
  }

  // MARK: - Version and syntax errors

  @Test func ninjaRequiredVersionIsCheckedAgainstOneEleven() throws {
    #expect(try parse("ninja_required_version = 1.5\n").bindings["ninja_required_version"] == "1.5")
    #expect(try parse("ninja_required_version = 1.11.1\n").edges.isEmpty)
    #expect(
      failure("\nninja_required_version = 1.12\n")
        == "build.ninja:2: ninja version (1.11) incompatible with build file ninja_required_version version (1.12).")
    #expect(failure("ninja_required_version = 2.0\n") != nil)
  }

  @Test func syntaxErrorsNameTheLine() {
    #expect(failure("x\n") == "build.ninja:1: expected '=', got newline")
    #expect(failure("\n\nbuild : phony\n") == "build.ninja:3: expected path")
    #expect(failure("build a phony\n") == "build.ninja:1: expected ':', got newline ($ also escapes ':')")
    #expect(failure("x = 1\n  y = 2\n") == "build.ninja:2: unexpected indent")
    #expect(failure("build a: phony | b | c\n") == "build.ninja:1: expected newline, got '|'")
    #expect(failure("rule\n") == "build.ninja:1: expected rule name")
    #expect(failure("default\n") == "build.ninja:1: expected target name")
    #expect(failure("=\n") == "build.ninja:1: unexpected '='")
    #expect(failure("x = 1\n\tbuild\n") == "build.ninja:2: tabs are not allowed, use spaces")
  }
}
