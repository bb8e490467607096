import KilnNinja
import Testing

/// ninja's `-t` tools over small manifests: the graph walks, orders and formats of
/// ninja 1.11 (the integration tests hold kiln's output against the real ninja's).
@Suite struct NinjaToolsTests {
  /// A generated header, a compile with every kind of input, a link through an
  /// rspfile with a validation, a phony default-less root.
  static let project = """
    rule gen
      command = gen $out
      generator = 1
    rule cc
      command = cc -c $in -o $out
      depfile = $out.d
      deps = gcc
    rule link
      command = ld @$out.rsp -o $out
      rspfile = $out.rsp
      rspfile_content = $in_newline
    rule check
      command = check $in
    build gen/a.h: gen
    build a.o | a.extra: cc a.c | x.h || gen/a.h
    build b.o: cc b.c
    build app: link a.o b.o |@ checked
    build checked: check b.o
    build all: phony app

    """

  func tools(_ text: String = Self.project) throws -> NinjaTools { NinjaTools(try parse(text)) }

  // MARK: - targets

  @Test func targetsListsTheRootsWithTheirRules() throws {
    // a.extra is used by nothing; `checked` is only a validation, which uses nothing.
    #expect(try tools().targets([]) == "a.extra: cc\nchecked: check\nall: phony\n")
    #expect(try tools().targets(["depth", "1"]) == "a.extra: cc\nchecked: check\nall: phony\n")
  }

  @Test func targetsAtDepthTwoIndentsEachInEdgesInputsOnce() throws {
    #expect(try tools().targets(["depth", "2"]) == """
      a.extra: cc
        a.c
        x.h
        gen/a.h: gen
      checked: check
        b.o: cc
      all: phony
        app: link

      """)
  }

  @Test func targetsAtDepthZeroOrNotANumberIsTheWholeTree() throws {
    let whole = """
      a.extra: cc
        a.c
        x.h
        gen/a.h: gen
      checked: check
        b.o: cc
          b.c
      all: phony
        app: link
          a.o: cc
            a.c
            x.h
            gen/a.h: gen
          b.o: cc
            b.c

      """
    #expect(try tools().targets(["depth", "0"]) == whole)
    #expect(try tools().targets(["depth", "many"]) == whole)
  }

  @Test func targetsAllIsEveryOutputWithItsRuleInFileOrder() throws {
    #expect(try tools().targets(["all"]) == """
      gen/a.h: gen
      a.o: cc
      a.extra: cc
      b.o: cc
      app: link
      checked: check
      all: phony

      """)
  }

  @Test func targetsRuleListsItsOutputsSortedAndWithoutANameTheSources() throws {
    #expect(try tools().targets(["rule", "cc"]) == "a.extra\na.o\nb.o\n")
    #expect(try tools().targets(["rule", "nothing"]) == "")
    // A source once per edge naming it, in file order; outputs of edges left out.
    let t = try tools("rule r\n  command = r\nbuild x: r s2 s1\nbuild y: r s1 x\n")
    #expect(try t.targets(["rule"]) == "s2\ns1\ns1\n")
  }

  @Test func anUnknownTargetsModeIsRefused() throws {
    #expect(throws: NinjaToolError("unknown target tool mode 'deep'")) { try tools().targets(["deep"]) }
  }

  @Test func withEveryOutputUsedThereAreNoRoots() throws {
    let t = try tools("rule r\n  command = r\nbuild x: r y\nbuild y: phony x\n")
    #expect(throws: NinjaToolError("could not determine root nodes of build graph")) { try t.targets([]) }
  }

  // MARK: - query

  @Test func queryLabelsImplicitAndOrderOnlyInputsAndNamesWhatUsesThePath() throws {
    #expect(try tools().query(["a.o"]) == """
      a.o:
        input: cc
          a.c
          | x.h
          || gen/a.h
        outputs:
          app

      """)
    // A source has no in-edge; b.o feeds two edges.
    #expect(try tools().query(["./b.c", "b.o"]) == "b.c:\n  outputs:\n    b.o\nb.o:\n  input: cc\n    b.c\n  outputs:\n    app\n    checked\n")
  }

  @Test func queryShowsValidationsBothWays() throws {
    #expect(try tools().query(["app"]) == "app:\n  input: link\n    a.o\n    b.o\n  validations:\n    checked\n  outputs:\n    all\n")
    #expect(try tools().query(["checked"]) == "checked:\n  input: check\n    b.o\n  outputs:\n  validation for:\n    app\n")
  }

  @Test func queryListsAnEdgesOutputsOncePerTimeItNamesThePath() throws {
    let t = try tools("rule r\n  command = r\nbuild x | y: r s s\n")
    #expect(try t.query(["s"]) == "s:\n  outputs:\n    x\n    y\n    x\n    y\n")
  }

  @Test func aCaretNamesTheFirstOutputOfTheFirstEdgeUsingThePath() throws {
    #expect(try tools().query(["a.c^"]).hasPrefix("a.o:\n  input: cc\n"))
    #expect(throws: NinjaToolError("'all' has no out edge")) { try tools().query(["all^"]) }
  }

  @Test func queryNeedsKnownTargets() throws {
    #expect(throws: NinjaToolError("expected a target to query")) { try tools().query([]) }
    #expect(throws: NinjaToolError("unknown target 'nope.o'")) { try tools().query(["nope.o"]) }
  }

  // MARK: - inputs, commands

  @Test func inputsAreEveryInputBehindTheTargetsSortedOnce() throws {
    // Through the phony `all` (not listed itself); order-only inputs are inputs too,
    // validations are not.
    let expected = "a.c\na.o\nb.c\nb.o\ngen/a.h\nx.h\n"
    #expect(try tools().inputs(["all"]) == expected)
    let roots = try tools().inputs(["a.extra", "checked", "all"])
    #expect(try tools().inputs([]) == roots)
    #expect(try tools().inputs(["b.o"]) == "b.c\n")
    #expect(try tools().inputs(["b.c"]) == "")
  }

  @Test func inputsAreShellQuotedAsInACommand() throws {
    let t = try tools("rule r\n  command = r\nbuild x: r sp$ ace it's plain\n")
    #expect(try t.inputs(["x"]) == "'it'\\''s'\n'sp ace'\nplain\n")
  }

  @Test func commandsPutEachInputsCommandBeforeItsOwnOnce() throws {
    #expect(try tools().commands(["app"]) == "gen gen/a.h\ncc -c a.c -o a.o\ncc -c b.c -o b.o\nld @app.rsp -o app\n")
    #expect(try tools().commands(["app"], single: true) == "ld @app.rsp -o app\n")
    #expect(try tools().commands(["all"], single: true) == "", "a phony edge has no command")
  }

  @Test func withoutTargetsTheDefaultsAreUsedElseTheRoots() throws {
    #expect(try tools().commands([]) == """
      gen gen/a.h
      cc -c a.c -o a.o
      cc -c b.c -o b.o
      check b.o
      ld @app.rsp -o app

      """)
    #expect(try tools(Self.project + "default b.o\n").commands([]) == "cc -c b.c -o b.o\n")
  }

  // MARK: - compdb

  @Test func compdbHasEveryEdgeWithAnInputPhonyOnesToo() throws {
    let entries = try tools().compilationDatabase(rules: [])
    #expect(entries.map(\.output) == ["a.o", "b.o", "app", "checked", "all"], "gen/a.h has no input")
    #expect(entries[0] == NinjaTools.CompilationEntry(command: "cc -c a.c -o a.o", file: "a.c", output: "a.o"))
    #expect(entries[4] == NinjaTools.CompilationEntry(command: "", file: "app", output: "all"))
  }

  @Test func compdbOfRulesRepeatsAnEdgeForEachTimeItsRuleIsNamed() throws {
    #expect(try tools().compilationDatabase(rules: ["cc", "check", "cc"]).map(\.output) == ["a.o", "a.o", "b.o", "b.o", "checked"])
    // An edge whose only input is order-only names it as its file.
    let t = try tools("rule r\n  command = r\nbuild x: r || y\nbuild y: r\n")
    #expect(t.compilationDatabase(rules: ["r"]).map(\.file) == ["y"])
  }

  @Test func compdbExpandsAnAtRspfileWithItsLineBreaksAsSpaces() throws {
    let link = try tools().compilationDatabase(rules: ["link"], expandingRspfiles: true)
    #expect(link.map(\.command) == ["ld a.o b.o -o app"])
    #expect(try tools().compilationDatabase(rules: ["link"]).map(\.command) == ["ld @app.rsp -o app"])
    // Only where `@` comes right before the rspfile's first mention.
    let t = try tools("""
      rule r
        command = r $out.rsp @$out.rsp
        rspfile = $out.rsp
        rspfile_content = content
      build x: r y

      """)
    #expect(t.compilationDatabase(rules: [], expandingRspfiles: true).map(\.command) == ["r x.rsp @x.rsp"])
  }

  // MARK: - clean, deps

  @Test func cleanAllTakesEveryOutputDepfileAndRspfileButGeneratorsAndPhonies() throws {
    #expect(try tools().cleaning() == ["a.o", "a.extra", "a.o.d", "b.o", "b.o.d", "app", "app.rsp", "checked"])
    #expect(try tools().cleaning(generator: true).first == "gen/a.h")
  }

  @Test func cleanOfATargetTakesItAndWhatBuildsItNotItsSiblings() throws {
    // a.o's implicit sibling a.extra stays; the generator output behind it goes.
    #expect(try tools().cleaning(targets: ["app"]) == ["app", "app.rsp", "a.o", "a.o.d", "gen/a.h", "b.o", "b.o.d"])
    #expect(try tools().cleaning(targets: ["all"]) == ["app", "app.rsp", "a.o", "a.o.d", "gen/a.h", "b.o", "b.o.d"])
    #expect(try tools().cleaning(targets: ["a.c"]) == [], "a source is never cleaned")
    #expect(throws: NinjaToolError("unknown target 'nope'")) { try tools().cleaning(targets: ["nope"]) }
  }

  @Test func cleanOfRulesTakesTheirEdgesOutputs() throws {
    #expect(try tools().cleaning(targets: ["cc"], rules: true) == ["a.o", "a.o.d", "a.extra", "b.o", "b.o.d"])
    #expect(throws: NinjaToolError("expected a rule to clean")) { try tools().cleaning(rules: true) }
    #expect(throws: NinjaToolError("unknown rule 'nope'")) { try tools().cleaning(targets: ["nope"], rules: true) }
  }

  @Test func depsSpeaksOfTheOutputsOfEdgesWithADepfile() throws {
    #expect(try tools().depsOutputs([]) == ["a.o", "a.extra", "b.o"])
    #expect(try tools().depsOutputs(["app"]) == ["app"])
  }

  @Test func depsTextIsNinjas() {
    let text = NinjaTools.deps([
      NinjaTools.DepsEntry(output: "a.o", dependencies: ["x.h", "/usr/include/stdio.h"], mtime: 42, valid: true),
      NinjaTools.DepsEntry(output: "b.o", dependencies: [], mtime: 0, valid: false),
      NinjaTools.DepsEntry(output: "app", dependencies: nil),
    ])
    #expect(text == "a.o: #deps 2, deps mtime 42 (VALID)\n    x.h\n    /usr/include/stdio.h\n\nb.o: #deps 0, deps mtime 0 (STALE)\n\napp: deps not found\n")
  }
}
