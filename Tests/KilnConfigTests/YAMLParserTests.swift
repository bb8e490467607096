import Foundation
import KilnConfig
import KilnSystem
import KilnTestSupport
import Testing

/// `YAMLParser` on what people write in build files: block structure, every scalar
/// style, flow collections, the marks errors point at, the errors themselves, and a
/// comparison with PyYAML over a corpus of valid documents.
///
/// Expectations follow YAML 1.2; PyYAML agrees with them on every document of the
/// differential corpus (it differs elsewhere: it refuses tabs inside plain scalars,
/// which YAML 1.2 allows). A test that fails here is a parser bug, not a test to loosen.
@Suite struct YAMLParserTests {
  /// A node without its marks: what a test expects. A string literal is a plain
  /// scalar, `.q("...")` a quoted or block scalar (`plain: false`).
  indirect enum Tree: Equatable, CustomStringConvertible, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
  {
    case plain(String)
    case q(String)
    case seq([Tree])
    case map([Entry])

    struct Entry: Equatable {
      var key: Tree
      var value: Tree
    }

    init(stringLiteral value: String) { self = .plain(value) }
    init(arrayLiteral elements: Tree...) { self = .seq(elements) }
    init(dictionaryLiteral elements: (Tree, Tree)...) {
      self = .map(elements.map { Entry(key: $0.0, value: $0.1) })
    }

    init(_ node: YAMLNode) {
      switch node {
      case .scalar(let text, let plain, _): self = plain ? .plain(text) : .q(text)
      case .sequence(let items, _): self = .seq(items.map { Tree($0) })
      case .mapping(let pairs, _): self = .map(pairs.map { Entry(key: Tree($0.key), value: Tree($0.value)) })
      }
    }

    var description: String {
      switch self {
      case .plain(let s): String(reflecting: s)
      case .q(let s): "q" + String(reflecting: s)
      case .seq(let items): "[" + items.map(\.description).joined(separator: ", ") + "]"
      case .map(let entries):
        entries.isEmpty ? "[:]" : "[" + entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "]"
      }
    }
  }

  /// One step into a node: a mapping key or a sequence index.
  enum Step: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case key(String)
    case index(Int)
    init(stringLiteral value: String) { self = .key(value) }
    init(integerLiteral value: Int) { self = .index(value) }
  }

  /// An input that must fail, where, and with what.
  struct ErrorCase: Sendable, CustomTestStringConvertible {
    var name: String
    var yaml: String
    /// "line:column" of the mark.
    var at: String
    /// Part of the message that makes it clear.
    var says: String
    var testDescription: String { name }
  }
}

// MARK: - Helpers

/// The parse of `text` without marks; nil for an empty document.
private func tree(_ text: String) throws(YAMLError) -> YAMLParserTests.Tree? {
  try YAMLParser.parse(text).map { YAMLParserTests.Tree($0) }
}

/// `yaml` parses to `expected`; an error is recorded (with the input) and the test goes on.
private func expectTree(
  _ yaml: String, _ expected: YAMLParserTests.Tree?, sourceLocation: Testing.SourceLocation = #_sourceLocation
) {
  do {
    let actual = try tree(yaml)
    #expect(actual == expected, "\(String(reflecting: yaml))", sourceLocation: sourceLocation)
  } catch {
    Issue.record(
      "\(String(reflecting: yaml)) does not parse: \(text(error.mark)): \(error.message)", sourceLocation: sourceLocation)
  }
}

private func plainFlag(_ node: YAMLNode?) -> Bool? {
  if case .scalar(_, let plain, _)? = node { return plain }
  return nil
}

/// The node at `path` under `root`, and the key node when the last step is a key.
private func locate(_ root: YAMLNode?, _ path: [YAMLParserTests.Step]) -> (key: YAMLNode?, node: YAMLNode)? {
  guard var node = root else { return nil }
  var key: YAMLNode?
  for step in path {
    switch (step, node) {
    case (.key(let name), .mapping(let pairs, _)):
      guard let pair = pairs.first(where: { $0.key.string == name }) else { return nil }
      key = pair.key
      node = pair.value
    case (.index(let n), .sequence(let items, _)):
      guard items.indices.contains(n) else { return nil }
      key = nil
      node = items[n]
    default:
      return nil
    }
  }
  return (key, node)
}

private func text(_ mark: Mark) -> String { "\(mark.line):\(mark.column)" }

/// "line:column" of the node at `path`.
private func markOf(_ root: YAMLNode?, _ path: YAMLParserTests.Step...) -> String {
  locate(root, path).map { text($0.node.mark) } ?? "no node at \(path)"
}

/// "line:column" of the key that ends `path`.
private func keyMarkOf(_ root: YAMLNode?, _ path: YAMLParserTests.Step...) -> String {
  locate(root, path)?.key.map { text($0.mark) } ?? "no key at \(path)"
}

/// One line a person can read: not empty, no line break or other control character, no
/// padding, not a paragraph.
private func isOneClearLine(_ message: String) -> Bool {
  !message.isEmpty && message.count <= 160
    && !message.unicodeScalars.contains { $0.properties.generalCategory == .control }
    && message.trimmingCharacters(in: .whitespaces) == message
}

/// `yaml` must fail at `at` ("line:column") with a one-line message containing `says`.
private func expectFailure(
  _ yaml: String, at: String, says: String, _ comment: Comment? = nil,
  sourceLocation: Testing.SourceLocation = #_sourceLocation
) {
  do {
    let node = try YAMLParser.parse(yaml)
    Issue.record(
      "expected an error at \(at)\(says.isEmpty ? "" : " saying \(String(reflecting: says))"), but it parsed as \(node.map { YAMLParserTests.Tree($0).description } ?? "nil") — \(String(reflecting: yaml))",
      sourceLocation: sourceLocation)
  } catch {
    let context: Comment = "\(String(reflecting: yaml)) -> \(text(error.mark)): \(String(reflecting: error.message))"
    #expect(text(error.mark) == at, context, sourceLocation: sourceLocation)
    #expect(error.message.contains(says), context, sourceLocation: sourceLocation)
    #expect(isOneClearLine(error.message), context, sourceLocation: sourceLocation)
  }
}

// MARK: - Block structure

extension YAMLParserTests {
  @Suite struct Blocks {
    @Test func aTypicalBuildFile() throws {
      let yaml = """
        # kiln.yml
        default: [build]
        env:
          CC: clang
          CFLAGS: -O2 -Wall
        tasks:
          build:
            foreach: src/*.c
            inputs:
              - include/*.h
              - "gen/{stem}.h"
            outputs: build/{stem}.o
            run: $CC $CFLAGS -c {in} -o {out}
            cache: true
          link:
            deps: [build]
            run: cc -o app build/*.o

        """
      let expected: Tree = [
        "default": ["build"],
        "env": ["CC": "clang", "CFLAGS": "-O2 -Wall"],
        "tasks": [
          "build": [
            "foreach": "src/*.c",
            "inputs": ["include/*.h", .q("gen/{stem}.h")],
            "outputs": "build/{stem}.o",
            "run": "$CC $CFLAGS -c {in} -o {out}",
            "cache": "true",
          ],
          "link": ["deps": ["build"], "run": "cc -o app build/*.o"],
        ],
      ]
      expectTree(yaml, expected)
    }

    @Test func nestingByIndentationOfAnyWidth() throws {
      expectTree("a:\n    b:\n        c: 1\n    d: 2\ne: 3\n", ["a": ["b": ["c": "1"], "d": "2"], "e": "3"])
      expectTree("a:\n b:\n  - x\n c: y\n", ["a": ["b": ["x"], "c": "y"]])
      expectTree("a:\n    - x\n    - y\nb: 1\n", ["a": ["x", "y"], "b": "1"])
      // A root indented as a whole.
      expectTree("  a: 1\n  b: 2\n", ["a": "1", "b": "2"])
    }

    @Test func aListAtTheIndentationOfItsKeyAsTheLastThing() throws {
      expectTree("deps:\n- a\n- b\n", ["deps": ["a", "b"]])
      expectTree("a: 1\ndeps:\n- a\n- b", ["a": "1", "deps": ["a", "b"]])
      expectTree("a:\n- b:\n  - c\n", ["a": [["b": ["c"]]]])
    }

    /// `key:\n- a\n- b\nnext: x`, the style many YAML writers (and yq, and ruamel) emit.
    @Test func aListAtTheIndentationOfItsKeyFollowedByAnotherKey() throws {
      expectTree("deps:\n- a\n- b\noutputs: x\n", ["deps": ["a", "b"], "outputs": "x"])
      let yaml = """
        tasks:
          build:
            inputs:
            - a.c
            - b.c
            run: cc
          test:
            deps:
            - build
            run: ./test

        """
      let expected: Tree = [
        "tasks": [
          "build": ["inputs": ["a.c", "b.c"], "run": "cc"],
          "test": ["deps": ["build"], "run": "./test"],
        ]
      ]
      expectTree(yaml, expected)
      expectTree("- a:\n  - x\n  b: 1\n", [["a": ["x"], "b": "1"]])
      expectTree("a:\n- b\n# a comment\nc: 1\n", ["a": ["b"], "c": "1"])
    }

    @Test func compactMappingsInListItems() throws {
      let yaml = """
        - name: a
          deps: [b]
        - run: x
          env:
            K: v
        -   spaced: 1
            more: 2
        - a:
          - x
        - last

        """
      let expected: Tree = [
        ["name": "a", "deps": ["b"]],
        ["run": "x", "env": ["K": "v"]],
        ["spaced": "1", "more": "2"],
        ["a": ["x"]],
        "last",
      ]
      expectTree(yaml, expected)
    }

    @Test func nestedSequences() throws {
      expectTree("- - a\n  - b\n- - c\n-\n  - d\n", [["a", "b"], ["c"], ["d"]])
      expectTree("- - - deep\n", [[["deep"]]])
    }

    @Test func emptyValuesAreEmptyPlainScalars() throws {
      let yaml = "a:\nb:   # nothing\nc: ~\nd: null\ne: ''\nf: \"\"\ng:\n  h:\ni:"
      expectTree(yaml, ["a": "", "b": "", "c": "~", "d": "null", "e": .q(""), "f": .q(""), "g": ["h": ""], "i": ""])
      expectTree("- \n- x\n-\n-", ["", "x", "", ""])
      expectTree("- # comment\n- x\n", ["", "x"])
      let root = try YAMLParser.parse("a:\n")
      #expect(plainFlag(locate(root, ["a"])?.node) == true)
    }

    @Test func commentsEverywhere() throws {
      let yaml = """
        # leading comment
        a: 1 # after a value
          # indented comment between keys
        b:   # after a key
          # before a nested value
          - x # after an item
        # between items, at column 1
          - y
            # indented more than the items
        c: [p, q] # after a flow sequence
        d: {k: v} # after a flow mapping
        e: 'quoted' # after a quoted value
        f: a#b
        g: a #b
        h: "#not a comment"
        i: url#frag # comment
        j: |  # after a block scalar header
          # this is content
        k: x#
        #end
        """
      let expected: Tree = [
        "a": "1", "b": ["x", "y"], "c": ["p", "q"], "d": ["k": "v"], "e": .q("quoted"), "f": "a#b", "g": "a",
        "h": .q("#not a comment"), "i": "url#frag", "j": .q("# this is content\n"), "k": "x#",
      ]
      expectTree(yaml, expected)
      expectTree("a: x\t# tab before the comment\n", ["a": "x"])
    }

    @Test func documentMarkers() throws {
      expectTree("---\na: 1\n...\n", ["a": "1"])
      expectTree("--- # the document\na: 1\n", ["a": "1"])
      expectTree("# header\n\n---\na: 1\n...\n# trailing comment\n\n", ["a": "1"])
      expectTree("--- [a, b]\n", ["a", "b"])
      expectTree("a: 1\n...", ["a": "1"])
      // Not markers: not at column 1, or not followed by a space.
      expectTree("a: ---\nb: ...\nc: ---x\n", ["a": "---", "b": "...", "c": "---x"])
      expectTree("- ---x\n", ["---x"])
    }

    @Test func emptyDocumentsAreNil() throws {
      for yaml in ["", "\n\n", "   \n", "# only a comment\n", "---\n", "---\n...\n", "...\n", "\u{FEFF}", "\u{FEFF}# c\n", "\r\n"] {
        #expect(try YAMLParser.parse(yaml) == nil, "\(String(reflecting: yaml))")
      }
    }

    @Test func aByteOrderMark() throws {
      expectTree("\u{FEFF}a: 1\n", ["a": "1"])
      expectTree("\u{FEFF}---\na: 1\n", ["a": "1"])
      let root = try YAMLParser.parse("\u{FEFF}a: [x]\n")
      #expect(keyMarkOf(root, "a") == "1:1")
      #expect(markOf(root, "a", 0) == "1:5")
    }

    @Test func crlfLineEndings() throws {
      let yaml =
        "a: 1\r\nb:\r\n  - x # c\r\n  - 'y\r\n    z'\r\nc: |\r\n  l1\r\n  l2\r\nd: >\r\n  f1\r\n  f2\r\n\r\n  f3\r\ne: \"p\\\r\n  q\"\r\nf: one\r\n  two\r\ng: [m,\r\n  n]\r\n"
      let expected: Tree = [
        "a": "1", "b": ["x", .q("y z")], "c": .q("l1\nl2\n"), "d": .q("f1 f2\nf3\n"), "e": .q("pq"), "f": "one two",
        "g": ["m", "n"],
      ]
      expectTree(yaml, expected)
      let root = try YAMLParser.parse(yaml)
      #expect(keyMarkOf(root, "e") == "14:1")
      #expect(markOf(root, "g", 1) == "19:3")
      expectTree("a: |-\r\n  x\r\n\r\n", ["a": .q("x")])
    }

    @Test func blankLinesAnywhere() throws {
      let yaml = "\n\na: 1\n\n   \nb:\n\n  c: 2\n  \n\n  d:\n\n    - x\n\n    - y\n\n\n"
      expectTree(yaml, ["a": "1", "b": ["c": "2", "d": ["x", "y"]]])
    }

    @Test func rootNodesOtherThanAMapping() throws {
      expectTree("- a\n- b\n", ["a", "b"])
      expectTree("just text\n", "just text")
      expectTree("'quoted'\n", .q("quoted"))
      expectTree("[a, b]\n", ["a", "b"])
      expectTree("{a: 1}\n", ["a": "1"])
      expectTree("|\n  text\n", .q("text\n"))
    }

    @Test func keys() throws {
      let yaml = "\"a b\": 1\n'c': 2\nbuild app: 3\nd   : 4\na:b: 5\n-x: 6\nk.v-1_2: 7\n"
      expectTree(yaml, [.q("a b"): "1", .q("c"): "2", "build app": "3", "d": "4", "a:b": "5", "-x": "6", "k.v-1_2": "7"])
      // The key's own plain flag: quoted keys are not plain.
      let root = try YAMLParser.parse("'q': 1\np: 2\n")
      guard case .mapping(let pairs, _)? = root else {
        Issue.record("not a mapping")
        return
      }
      #expect(pairs.map { plainFlag($0.key) } == [false, true])
    }
  }
}

// MARK: - Scalars

extension YAMLParserTests {
  @Suite struct Scalars {
    @Test func plainScalarsWithIndicatorsInside() throws {
      let yaml = """
        url: https://example.com:8080/path?q=1#frag
        pair: a:b
        drive: C:\\dir\\file
        flag: -O2
        negative: -1
        shell: echo {in} > {out} && cat a | tee b; x=$((1+2)) & wait
        path: ${HOME}/bin:$PATH
        percent: 50%
        bang: echo hi!
        star: a*b
        amp: x&y
        dash: a - b
        brackets: a[0] b{1} c]d
        quotes: it's "fine"
        number: 30
        version: 1.10
        mode: 0755
        trailing: value\("   ")
        """
      let expected: Tree = [
        "url": "https://example.com:8080/path?q=1#frag", "pair": "a:b", "drive": "C:\\dir\\file", "flag": "-O2",
        "negative": "-1", "shell": "echo {in} > {out} && cat a | tee b; x=$((1+2)) & wait",
        "path": "${HOME}/bin:$PATH", "percent": "50%", "bang": "echo hi!", "star": "a*b", "amp": "x&y",
        "dash": "a - b", "brackets": "a[0] b{1} c]d", "quotes": "it's \"fine\"", "number": "30", "version": "1.10",
        "mode": "0755", "trailing": "value",
      ]
      expectTree(yaml, expected)
      // A tab inside a plain scalar is content (YAML 1.2).
      expectTree("a: x\ty\n", ["a": "x\ty"])
    }

    @Test func multiLinePlainScalarsFold() throws {
      expectTree("a: one\n  two\n\n  three\n\n\n  four\n   five\nb: x\n", ["a": "one two\nthree\n\nfour five", "b": "x"])
      expectTree("- one\n  two\n- three\n", ["one two", "three"])
      expectTree("one\ntwo\n", "one two")
      expectTree("a: b\n  - c\n", ["a": "b - c"])
      expectTree("- a: x\n   y\n  b: z\n", [["a": "x y", "b": "z"]])
      expectTree("a: x   \n    y\n", ["a": "x y"])
      // A comment line ends the scalar.
      expectTree("a: x\n  y\n  # c\nb: 1\n", ["a": "x y", "b": "1"])
      expectTree("a:\n  x\n  y\n", ["a": "x y"])
    }

    @Test func singleQuoted() throws {
      let yaml = """
        a: 'it''s'
        b: 'a # not a comment'
        c: 'key: value'
        d: '  padded  '
        e: 'back\\slash \\n'
        f: ''
        g: 'one
          two

          three'
        h: '{stem}.c'
        i: '''quoted'''
        j: 'trailing\("   ")
           spaces'

        """
      let expected: Tree = [
        "a": .q("it's"), "b": .q("a # not a comment"), "c": .q("key: value"), "d": .q("  padded  "),
        "e": .q("back\\slash \\n"), "f": .q(""), "g": .q("one two\nthree"), "h": .q("{stem}.c"), "i": .q("'quoted'"),
        "j": .q("trailing spaces"),
      ]
      expectTree(yaml, expected)
    }

    @Test func doubleQuoted() throws {
      let yaml = """
        a: "tab\\there\\nnew \\"q\\" back\\\\slash"
        b: "\\u00e9\\x41\\U0001F600\\/\\e\\0\\a\\b\\v\\f\\r\\ \\\t"
        c: "one
          two

          three"
        d: "joined\\
            up"
        e: ""
        f: "a # b"
        g: "'single' {stem}.c [x]"
        h: "caf\\u00E9 and caf\u{E9}"

        """
      let expected: Tree = [
        "a": .q("tab\there\nnew \"q\" back\\slash"),
        "b": .q("éA😀/\u{1B}\u{0}\u{7}\u{8}\u{B}\u{C}\r \t"),
        "c": .q("one two\nthree"),
        "d": .q("joinedup"),
        "e": .q(""),
        "f": .q("a # b"),
        "g": .q("'single' {stem}.c [x]"),
        "h": .q("café and café"),
      ]
      expectTree(yaml, expected)
    }

    /// Escaped white space at the end of a line is content; only the literal white
    /// space there is trimmed by line folding.
    @Test func escapedWhiteSpaceBeforeALineBreakIsKept() throws {
      expectTree("a: \"x\\ \n  y\"\n", ["a": .q("x  y")])
      expectTree("a: \"x\\t\n  y\"\n", ["a": .q("x\t y")])
    }

    @Test func thePlainFlag() throws {
      let root = try YAMLParser.parse("a: x\nb: 'x'\nc: \"x\"\nd: |\n  x\ne: >\n  x\nf: [x, 'y', \"z\"]\ng: {k: 'v'}\nh:\n")
      #expect(plainFlag(locate(root, ["a"])?.node) == true)
      #expect(plainFlag(locate(root, ["b"])?.node) == false)
      #expect(plainFlag(locate(root, ["c"])?.node) == false)
      #expect(plainFlag(locate(root, ["d"])?.node) == false)
      #expect(plainFlag(locate(root, ["e"])?.node) == false)
      #expect(plainFlag(locate(root, ["f", 0])?.node) == true)
      #expect(plainFlag(locate(root, ["f", 1])?.node) == false)
      #expect(plainFlag(locate(root, ["f", 2])?.node) == false)
      #expect(plainFlag(locate(root, ["g", "k"])?.node) == false)
      #expect(plainFlag(locate(root, ["h"])?.node) == true)
    }

    @Test func yamlBooleanSpellings() throws {
      let root = try YAMLParser.parse("a: true\nb: no\nc: On\nd: 'x'\ne: [FALSE, yes]\nf: maybe\n")
      #expect(locate(root, ["a"])?.node.bool == true)
      #expect(locate(root, ["b"])?.node.bool == false)
      #expect(locate(root, ["c"])?.node.bool == true)
      #expect(locate(root, ["d"])?.node.bool == nil)
      #expect(locate(root, ["e", 0])?.node.bool == false)
      #expect(locate(root, ["e", 1])?.node.bool == true)
      #expect(locate(root, ["f"])?.node.bool == nil)
      #expect(locate(root, ["e"])?.node.bool == nil)
    }

    @Test func literalBlockScalars() throws {
      expectTree("a: |\n  line 1\n    indented\n\n  line 3\nb: x\n", ["a": .q("line 1\n  indented\n\nline 3\n"), "b": "x"])
      expectTree("a: |-\n  x\n  y\n\n\nb: 1\n", ["a": .q("x\ny"), "b": "1"])
      expectTree("a: |+\n  x\n\n\nb: 1\n", ["a": .q("x\n\n\n"), "b": "1"])
      expectTree("a: |\n  x\n\n\nb: 1\n", ["a": .q("x\n"), "b": "1"])
      expectTree("a: |\n\n  x\n", ["a": .q("\nx\n")])
      // Lines of spaces no longer than the indentation are empty lines.
      expectTree("a: |\n    x\n  \n    y\n", ["a": .q("x\n\ny\n")])
      // After the indentation a tab is content.
      expectTree("a: |\n  \tx\n", ["a": .q("\tx\n")])
      expectTree("a: |\n  key: value # not a comment\n  {stem} [x] 'q' \"d\" &a *b !t - c\n", ["a": .q("key: value # not a comment\n{stem} [x] 'q' \"d\" &a *b !t - c\n")])
      // A less indented comment ends the block scalar.
      expectTree("a: |\n  x\n# comment\nb: 1\n", ["a": .q("x\n"), "b": "1"])
      expectTree("a: | # comment\n  x\n", ["a": .q("x\n")])
      expectTree("a: |\nb: 1\n", ["a": .q(""), "b": "1"])
      expectTree("a: |-\nb: 1\n", ["a": .q(""), "b": "1"])
    }

    @Test func indentationIndicators() throws {
      expectTree("a: |2\n    x\n  y\nb: 1\n", ["a": .q("  x\ny\n"), "b": "1"])
      expectTree("a: |2-\n    x\n  y\n", ["a": .q("  x\ny")])
      expectTree("a: |-2\n    x\n  y\n", ["a": .q("  x\ny")])
      expectTree("a: >1\n  x\n y\n", ["a": .q(" x\ny\n")])
      expectTree("- |1\n  x\n", [.q(" x\n")])
      expectTree("a:\n  b: |2\n      x\n    y\n", ["a": ["b": .q("  x\ny\n")]])
    }

    @Test func foldedBlockScalars() throws {
      expectTree("a: >\n  one\n  two\n\n  three\nb: 1\n", ["a": .q("one two\nthree\n"), "b": "1"])
      expectTree("a: >-\n  one\n  two\n\n  three\n", ["a": .q("one two\nthree")])
      expectTree("a: >+\n  x\n\nb: 1\n", ["a": .q("x\n\n"), "b": "1"])
      expectTree("a: >\n  x\n\n\n  y\n", ["a": .q("x\n\ny\n")])
      // More indented lines keep their line breaks.
      expectTree("a: >\n  x\n  y\n    z\n  w\n", ["a": .q("x y\n  z\nw\n")])
      expectTree("a: >2\n    x\n  y\n", ["a": .q("  x\ny\n")])
      expectTree("a: >\n  x\n    y\n    z\n", ["a": .q("x\n  y\n  z\n")])
    }

    /// YAML 1.2 section 8.1.3: a line break next to a more-indented line is never
    /// folded away, so a blank line there gives two line breaks.
    @Test func foldedMoreIndentedLinesNextToBlankLines() throws {
      expectTree("a: >\n  intro\n\n    indented\n  after\n", ["a": .q("intro\n\n  indented\nafter\n")])
      expectTree("a: >2\n    indented\n\n  after\n", ["a": .q("  indented\n\nafter\n")])
    }

    /// YAML 1.2 example 8.10 (leading blank line, more-indented lines and blank lines).
    @Test func yamlSpecExample8_10() throws {
      let yaml = ">\n\n folded\n line\n\n next\n line\n   * bullet\n\n   * list\n   * lines\n\n last\n line\n\n# Comment\n"
      expectTree(yaml, .q("\nfolded line\nnext line\n  * bullet\n\n  * list\n  * lines\n\nlast line\n"))
    }

    @Test func foldedLeadingBlankLinesAreKept() throws {
      expectTree("a: >\n\n  x\n", ["a": .q("\nx\n")])
    }

    @Test func blockScalarsInListsAndCompactMappings() throws {
      expectTree("- |\n  x\n- >-\n  y\n  z\n- k: |\n    v\n  l: 1\n", [.q("x\n"), .q("y z"), ["k": .q("v\n"), "l": "1"]])
      expectTree("- run: |\n   echo\n  x: 1\n", [["run": .q("echo\n"), "x": "1"]])
      let yaml = """
        tasks:
          t:
            run: |
              echo a
                echo b

              echo c
            outputs: x

        """
      expectTree(yaml, ["tasks": ["t": ["run": .q("echo a\n  echo b\n\necho c\n"), "outputs": "x"]]])
    }

    @Test func aBlockScalarLastInTheFileWithItsLineBreak() throws {
      expectTree("a: |\n  x\n", ["a": .q("x\n")])
      expectTree("a: |\n  x\n\n\n", ["a": .q("x\n")])
      expectTree("a: |-\n  x\n", ["a": .q("x")])
      expectTree("a: |-\n  x", ["a": .q("x")])
      expectTree("a: >\n  x\n  y\n", ["a": .q("x y\n")])
    }

    /// With no line break at the end of the file there is no final line break to clip
    /// or keep (YAML 1.2 rule 165, b-chomped-last: "| End of file").
    @Test func aBlockScalarLastInTheFileWithoutALineBreak() throws {
      expectTree("a: |\n  x", ["a": .q("x")])
      expectTree("a: >\n  x", ["a": .q("x")])
      expectTree("a: |+\n  x", ["a": .q("x")])
      expectTree("- |\n  x", [.q("x")])
      expectTree("tasks:\n  t:\n    run: |\n      make\n      make install", ["tasks": ["t": ["run": .q("make\nmake install")]]])
    }

    /// `|+` at the end of the file keeps the line breaks that are there, no more.
    @Test func keepChompingAtTheEndOfTheFile() throws {
      expectTree("a: |+\n  x\n", ["a": .q("x\n")])
      expectTree("a: |+\n  x\n\n", ["a": .q("x\n\n")])
      expectTree("a: >+\n  x\n\n", ["a": .q("x\n\n")])
    }

    /// A line of spaces longer than the indentation is not empty in a literal scalar:
    /// the spaces past the indentation are content (YAML 1.2 l-empty needs s-indent(<=n)).
    @Test func literalKeepsSpacesPastTheIndentationOnAWhiteSpaceLine() throws {
      expectTree("a: |\n  x\n    \n  y\n", ["a": .q("x\n  \ny\n")])
    }
  }
}

// MARK: - Flow collections

extension YAMLParserTests {
  @Suite struct Flow {
    @Test func sequencesAndMappings() throws {
      let yaml = "a: [x, y]\nb: [[p], q]\nc: {k: 1, l: [x, y]}\nd: []\ne: {}\nf: [ ]\ng: [[], {}]\nh: {a: {b: [c, {d: e}]}}\n"
      let expected: Tree = [
        "a": ["x", "y"], "b": [["p"], "q"], "c": ["k": "1", "l": ["x", "y"]], "d": [], "e": [:], "f": [], "g": [[], [:]],
        "h": ["a": ["b": ["c", ["d": "e"]]]],
      ]
      expectTree(yaml, expected)
    }

    @Test func overSeveralLinesWithCommentsAndTrailingCommas() throws {
      let yaml = """
        inputs: [
          a.c,   # first
          b.c,

          # a comment line
          c.c,
        ]
        env: {
          A: 1,
          B: 2,
        }
        more: [one
          two, three]
        next: x

        """
      let expected: Tree = [
        "inputs": ["a.c", "b.c", "c.c"], "env": ["A": "1", "B": "2"], "more": ["one two", "three"], "next": "x",
      ]
      expectTree(yaml, expected)
      expectTree("[a, b,]\n", ["a", "b"])
      expectTree("{a: 1,}\n", ["a": "1"])
    }

    @Test func quotedItemsHoldIndicators() throws {
      expectTree("a: [\"x,y\", 'p]q', \"{stem}.c\", 'it''s', \"\\t\", 'a: b', \"#\"]\n", ["a": [.q("x,y"), .q("p]q"), .q("{stem}.c"), .q("it's"), .q("\t"), .q("a: b"), .q("#")]])
      expectTree("a: {'k,1': \"v}\", \"[k]\": '{v}'}\n", ["a": [.q("k,1"): .q("v}"), .q("[k]"): .q("{v}")]])
    }

    @Test func plainItems() throws {
      expectTree("a: [a b, http://x:80/y, a:b, a#b, -O2, src/*.c, ~]\n", ["a": ["a b", "http://x:80/y", "a:b", "a#b", "-O2", "src/*.c", "~"]])
      expectTree("a: [x #comment\n  , y]\n", ["a": ["x", "y"]])
    }

    @Test func mappingEntries() throws {
      expectTree("a: {k: v, 'q': \"w\", empty:, bare, n: [1, 2]}\n", ["a": ["k": "v", .q("q"): .q("w"), "empty": "", "bare": "", "n": ["1", "2"]]])
      expectTree("a: {\"k\":1, x:1}\n", ["a": [.q("k"): "1", "x:1": ""]])
      expectTree("a: {k: x\n  y}\n", ["a": ["k": "x y"]])
    }

    @Test func flowCollectionsAsListItems() throws {
      expectTree("- [a, b]\n- {k: v}\n- [c,\n   d]\n", [["a", "b"], ["k": "v"], ["c", "d"]])
    }
  }
}

// MARK: - Marks

extension YAMLParserTests {
  @Suite struct Marks {
    static let buildFile = """
      tasks:
        build:
          run: make
          inputs:
            - a.c
            - "b c.c"
          outputs: [x, bb]
          env: {K: 'v'}
          dir:
        test:
          run: |
            make test
          deps:
          - build
      """

    @Test func keysAndValuesOfABuildFile() throws {
      let root = try YAMLParser.parse(Self.buildFile)
      #expect(root?.mark.line == 1 && root?.mark.column == 1)
      #expect(keyMarkOf(root, "tasks") == "1:1")
      #expect(markOf(root, "tasks") == "2:3")
      #expect(keyMarkOf(root, "tasks", "build") == "2:3")
      #expect(keyMarkOf(root, "tasks", "build", "run") == "3:5")
      #expect(markOf(root, "tasks", "build", "run") == "3:10")
      #expect(markOf(root, "tasks", "build", "inputs") == "5:7")
      #expect(markOf(root, "tasks", "build", "inputs", 0) == "5:9")
      #expect(markOf(root, "tasks", "build", "inputs", 1) == "6:9")
      #expect(markOf(root, "tasks", "build", "outputs") == "7:14")
      #expect(markOf(root, "tasks", "build", "outputs", 0) == "7:15")
      #expect(markOf(root, "tasks", "build", "outputs", 1) == "7:18")
      #expect(markOf(root, "tasks", "build", "env") == "8:10")
      #expect(keyMarkOf(root, "tasks", "build", "env", "K") == "8:11")
      #expect(markOf(root, "tasks", "build", "env", "K") == "8:14")
      #expect(markOf(root, "tasks", "build", "dir") == "9:9")
      #expect(keyMarkOf(root, "tasks", "test") == "10:3")
      #expect(markOf(root, "tasks", "test", "run") == "11:10")
      #expect(keyMarkOf(root, "tasks", "test", "deps") == "13:5")
      #expect(markOf(root, "tasks", "test", "deps") == "14:5")
      #expect(markOf(root, "tasks", "test", "deps", 0) == "14:7")
    }

    @Test func compactMappingsAndNestedSequences() throws {
      let root = try YAMLParser.parse("- a: 1\n  b: 2\n- - x\n  - yy\n")
      #expect(markOf(root) == "1:1")
      #expect(markOf(root, 0) == "1:3")
      #expect(keyMarkOf(root, 0, "a") == "1:3")
      #expect(markOf(root, 0, "a") == "1:6")
      #expect(keyMarkOf(root, 0, "b") == "2:3")
      #expect(markOf(root, 0, "b") == "2:6")
      #expect(markOf(root, 1) == "3:3")
      #expect(markOf(root, 1, 0) == "3:5")
      #expect(markOf(root, 1, 1) == "4:5")
    }

    @Test func flowItems() throws {
      let root = try YAMLParser.parse("[a, bb]")
      #expect(markOf(root) == "1:1")
      #expect(markOf(root, 0) == "1:2")
      #expect(markOf(root, 1) == "1:5")
      let nested = try YAMLParser.parse("x: [[a], {k: 'v'}, \"q\"]\ny: [\n  p,\n    r\n]\n")
      #expect(markOf(nested, "x", 0) == "1:5")
      #expect(markOf(nested, "x", 0, 0) == "1:6")
      #expect(markOf(nested, "x", 1) == "1:10")
      #expect(keyMarkOf(nested, "x", 1, "k") == "1:11")
      #expect(markOf(nested, "x", 1, "k") == "1:14")
      #expect(markOf(nested, "x", 2) == "1:20")
      #expect(markOf(nested, "y", 0) == "3:3")
      #expect(markOf(nested, "y", 1) == "4:5")
    }

    @Test func quotedAndBlockScalarsAreMarkedAtTheirIndicator() throws {
      let root = try YAMLParser.parse("a:   \"x\"\nb: 'y'\nc:\n  - 'z'\nd: >-\n  f\n'e': 1\n")
      #expect(markOf(root, "a") == "1:6")
      #expect(markOf(root, "b") == "2:4")
      #expect(markOf(root, "c", 0) == "4:5")
      #expect(markOf(root, "d") == "5:4")
      #expect(keyMarkOf(root, "e") == "7:1")
    }

    @Test func linesAfterMultiLineNodes() throws {
      #expect(keyMarkOf(try YAMLParser.parse("a: 'x\n\n  y'\nb: 1\n"), "b") == "4:1")
      #expect(keyMarkOf(try YAMLParser.parse("a: \"x\\\n  y\"\nb: 1\n"), "b") == "3:1")
      #expect(keyMarkOf(try YAMLParser.parse("a: [x,\n\n  y]\nb: 1\n"), "b") == "4:1")
      #expect(keyMarkOf(try YAMLParser.parse("a: x\n  y\n\n  z\nb: 1\n"), "b") == "5:1")
      #expect(keyMarkOf(try YAMLParser.parse("a: |+\n  x\n\n\nb: 1\n"), "b") == "5:1")
      #expect(keyMarkOf(try YAMLParser.parse("a: |\n  x\n\n\nb: 1\n"), "b") == "5:1")
      #expect(keyMarkOf(try YAMLParser.parse("a: >\n  x\n  # not a comment\n# comment\n\nb: 1\n"), "b") == "6:1")
      #expect(markOf(try YAMLParser.parse("# c\n\n---\n# c\nk: v\n"), "k") == "5:4")
    }

    @Test func columnsCountBytes() throws {
      let root = try YAMLParser.parse("é: [a, b]\n")
      #expect(markOf(root, "é") == "1:5")
      #expect(markOf(root, "é", 0) == "1:6")
    }

    @Test func emptyValuesAndItems() throws {
      // An empty value is marked just after its ':'; an empty item at its '-'.
      let root = try YAMLParser.parse("a:\nbb:   # c\nl:\n-\n- x\n")
      #expect(markOf(root, "a") == "1:3")
      #expect(markOf(root, "bb") == "2:4")
      #expect(markOf(root, "l", 0) == "4:1")
      #expect(markOf(root, "l", 1) == "5:3")
    }
  }
}

// MARK: - Errors

extension YAMLParserTests {
  @Suite struct Errors {
    static let cases: [ErrorCase] = [
      // Tabs.
      ErrorCase(name: "tab indenting a key", yaml: "a:\n\tb: 1\n", at: "2:1", says: "tab"),
      ErrorCase(name: "tab indenting a task field", yaml: "tasks:\n  build:\n\trun: make\n", at: "3:1", says: "tab"),
      ErrorCase(name: "tab after spaces of indentation", yaml: "a:\n  \tb: 1\n", at: "2:3", says: "tab"),
      ErrorCase(name: "tab indenting a list item", yaml: "a:\n\t- x\n", at: "2:1", says: "tab"),
      ErrorCase(name: "tab indenting block scalar content", yaml: "a: |\n\tx\n", at: "2:1", says: "tab"),
      // Unclosed.
      ErrorCase(name: "unclosed [ at the end of a line", yaml: "a: [x,\n", at: "1:4", says: "'[' is never closed"),
      ErrorCase(
        name: "unclosed [ before the next key (fixtures/bad/yaml-syntax-error)",
        yaml: "tasks:\n  app:\n    inputs: [main.c, util.c\n    run: cc -o app {in}\n", at: "4:8", says: "expected ',' or ']'"),
      ErrorCase(name: "unclosed { at the end of a line", yaml: "a: {x: 1,\n", at: "1:4", says: "'{' is never closed"),
      ErrorCase(name: "unclosed double quote", yaml: "a: \"x\n", at: "1:4", says: "never closed"),
      ErrorCase(name: "unclosed single quote over lines", yaml: "a: 'x\n\nb: 1\n", at: "1:4", says: "never closed"),
      ErrorCase(name: "unclosed quoted key", yaml: "\"a: 1\n", at: "1:1", says: "never closed"),
      ErrorCase(name: "unclosed quote in a flow sequence", yaml: "a: [x, 'y]\n", at: "1:8", says: "never closed"),
      // Duplicate keys: at the second occurrence.
      ErrorCase(name: "duplicate key", yaml: "a: 1\nb: 2\na: 3\n", at: "3:1", says: "duplicate key 'a'"),
      ErrorCase(
        name: "duplicate task field (fixtures/bad/duplicate-key)",
        yaml: "tasks:\n  app:\n    run: echo one\n    run: echo two\n", at: "4:5", says: "duplicate key 'run'"),
      ErrorCase(name: "duplicate key, once quoted", yaml: "a: 1\n'a': 2\n", at: "2:1", says: "duplicate key 'a'"),
      ErrorCase(name: "duplicate key in a list item", yaml: "- a: 1\n  a: 2\n", at: "2:3", says: "duplicate key 'a'"),
      ErrorCase(name: "duplicate key in a flow mapping", yaml: "env: {A: 1, B: 2, A: 3}\n", at: "1:19", says: "duplicate key 'A'"),
      ErrorCase(name: "duplicate key in a flow mapping over lines", yaml: "{a: 1,\n a: 2}\n", at: "2:2", says: "duplicate key 'a'"),
      // Anchors, aliases, tags.
      ErrorCase(name: "anchor on a value", yaml: "a: &x 1\n", at: "1:4", says: "anchors"),
      ErrorCase(name: "anchor on a mapping", yaml: "base: &base\n  b: 1\n", at: "1:7", says: "anchors"),
      ErrorCase(name: "alias as a value", yaml: "a: *x\n", at: "1:4", says: "reads *x as an alias"),
      ErrorCase(name: "tag on a value", yaml: "a: !!str 1\n", at: "1:4", says: "reads !!str as a tag"),
      ErrorCase(name: "local tag", yaml: "a: !t x\n", at: "1:4", says: "as a tag"),
      ErrorCase(name: "anchor on a key", yaml: "&a a: 1\n", at: "1:1", says: "anchors"),
      ErrorCase(name: "alias as a list item", yaml: "- *x\n", at: "1:3", says: "as an alias"),
      ErrorCase(name: "alias in a flow sequence", yaml: "a: [x, *y]\n", at: "1:8", says: "as an alias"),
      ErrorCase(name: "an unquoted glob is an alias: told to quote it", yaml: "foreach: *.c\n", at: "1:10",
                says: "quote globs that start with '*' in YAML: \"*.c\""),
      ErrorCase(name: "an unquoted glob in a flow list", yaml: "inputs: [src/*.c, *.h]\n", at: "1:19",
                says: "quote globs that start with '*' in YAML: \"*.h\""),
      ErrorCase(name: "an unquoted exclusion is a tag: told to quote it", yaml: "foreach: [src/*.c, !src/b.c]\n", at: "1:20",
                says: "quote patterns that start with '!' in YAML: \"!src/b.c\""),
      ErrorCase(name: "tag in a flow mapping", yaml: "a: {k: !!int 1}\n", at: "1:8", says: "as a tag"),
      // ': ' in a plain value.
      ErrorCase(name: "': ' inside a plain value", yaml: "a: b: c\n", at: "1:5", says: "': '"),
      ErrorCase(name: "': ' inside a command", yaml: "run: echo time: now\n", at: "1:15", says: "quote"),
      ErrorCase(name: "': ' on a continuation line", yaml: "a: 1\n  b: 2\n", at: "2:4", says: "': '"),
      // Indentation.
      ErrorCase(name: "a key indented more than its siblings", yaml: "a:\n  b:\n    x: 1\n   c: 2\n", at: "4:4", says: "indented more"),
      ErrorCase(name: "a key between two levels", yaml: "a:\n  b: 1\n c: 2\n", at: "3:2", says: "indented"),
      ErrorCase(name: "a key after a quoted value, indented more", yaml: "a: 'x'\n  b: 1\n", at: "2:3", says: "indented more"),
      ErrorCase(name: "a list item indented more than its siblings", yaml: "a:\n  - [x]\n   - y\n", at: "3:4", says: "indented more"),
      // A list item where a key is expected, and the reverse.
      ErrorCase(name: "a list item where a key is expected", yaml: "a: 1\n- b\n", at: "2:1", says: "key: value"),
      ErrorCase(name: "a list item among task fields", yaml: "tasks:\n  build:\n    run: make\n    - x\n", at: "4:5", says: "key: value"),
      ErrorCase(name: "a line without ':' among keys", yaml: "a: 1\nb\n", at: "2:1", says: "key: value"),
      ErrorCase(name: "a key among list items", yaml: "- a\nb: 1\n", at: "2:1", says: "'- '"),
      ErrorCase(name: "a list on the line of its key", yaml: "a: - b\n", at: "1:4", says: "list"),
      // Documents.
      ErrorCase(name: "two documents", yaml: "a: 1\n---\nb: 2\n", at: "2:1", says: "one document"),
      ErrorCase(name: "two explicit documents", yaml: "---\na: 1\n---\nb: 2\n", at: "3:1", says: "one document"),
      ErrorCase(name: "two documents of lists", yaml: "- a\n---\n- b\n", at: "2:1", says: "one document"),
      ErrorCase(name: "content after '...'", yaml: "a: 1\n...\nb: 2\n", at: "3:1", says: "unexpected"),
      ErrorCase(name: "a directive", yaml: "%YAML 1.2\n---\na: 1\n", at: "1:1", says: "directives"),
      // Braces where a string was meant.
      ErrorCase(name: "{stem}.c as a value", yaml: "outputs: {stem}.c\n", at: "1:10", says: "must be quoted"),
      ErrorCase(
        name: "{stem}.c as a value (fixtures/bad/unquoted-brace-value)",
        yaml: "tasks:\n  gen:\n    foreach: templates/*.tmpl\n    outputs: {stem}.c\n", at: "4:14", says: "must be quoted"),
      ErrorCase(name: "{stem}.c as a list item", yaml: "outputs:\n  - {stem}.c\n", at: "2:5", says: "must be quoted"),
      ErrorCase(name: "[gen/{stem}.c]", yaml: "outputs: [gen/{stem}.c]\n", at: "1:15", says: "'{' inside [...] must be quoted"),
      ErrorCase(
        name: "[gen/{stem}.c, ...] (fixtures/bad/unquoted-brace-in-list)",
        yaml: "tasks:\n  gen:\n    foreach: templates/*.tmpl\n    outputs: [gen/{stem}.c, gen/{stem}.h]\n", at: "4:19",
        says: "must be quoted"),
      // Escapes.
      ErrorCase(name: "unknown escape", yaml: "a: \"x\\qy\"\n", at: "1:6", says: "unknown escape '\\q'"),
      ErrorCase(name: "a Windows path in double quotes", yaml: "dir: \"C:\\Users\\me\"\n", at: "1:9", says: "escape"),
      ErrorCase(name: "short \\u escape", yaml: "a: \"\\u00zz\"\n", at: "1:5", says: "hex"),
      ErrorCase(name: "short \\x escape", yaml: "a: \"\\x4\"\n", at: "1:5", says: "hex"),
      // Leftovers.
      ErrorCase(name: "text after a closing quote", yaml: "a: \"x\" y\n", at: "1:8", says: "closing quote"),
      ErrorCase(name: "text after ']'", yaml: "a: [x] y\n", at: "1:8", says: "']'"),
      ErrorCase(name: "a value starting with '@'", yaml: "a: @x\n", at: "1:4", says: "'@'"),
      ErrorCase(name: "a value starting with '`'", yaml: "a: `x`\n", at: "1:4", says: "'`'"),
      ErrorCase(name: "an empty flow item", yaml: "a: [x, , y]\n", at: "1:8", says: "empty item"),
      ErrorCase(name: "a leading comma", yaml: "a: [, x]\n", at: "1:5", says: "empty item"),
      ErrorCase(name: "a bad block scalar header", yaml: "a: |x\n  y\n", at: "1:5", says: "'|'"),
    ]

    @Test(arguments: cases)
    func fails(_ c: ErrorCase) {
      expectFailure(c.yaml, at: c.at, says: c.says)
    }

    /// At the end of the file an unclosed '[' or '{' is reported at the bracket, as
    /// when the last line ends with a comma, not at the end of the file.
    @Test func unclosedBracketAtTheEndOfTheFile() {
      expectFailure("a: [x, y", at: "1:4", says: "'[' is never closed")
      expectFailure("a: [x, y\n", at: "1:4", says: "'[' is never closed")
      expectFailure("a: {x: 1", at: "1:4", says: "'{' is never closed")
      expectFailure("a: {x: 1\n\n", at: "1:4", says: "'{' is never closed")
    }

    /// A '[' left open inside a '{...}': the '}' is where the ']' was expected, and
    /// the message should say so rather than ask to quote the '}'.
    @Test func anUnclosedBracketInsideABrace() {
      expectFailure("env: {PATHS: [a, b}\n", at: "1:19", says: "']'")
    }

    /// A double-quoted value whose last character in the file is a backslash.
    @Test func unclosedQuoteEndingInABackslash() {
      expectFailure("dir: \"C:\\", at: "1:6", says: "never closed")
    }

    /// A tab-indented line after a top-level value is reported as a tab, where the
    /// tab is, not as a continuation of the value.
    @Test func tabIndentedLineAfterATopLevelValue() {
      expectFailure("a: b\n\tc: d\n", at: "2:1", says: "tab")
      expectFailure("default: build\n\ttasks: x\n", at: "2:1", says: "tab")
    }

    /// A comment ends a plain scalar: a more indented line after it cannot continue it
    /// (YAML 1.2 section 7.3.3; PyYAML: "expected <block end>, but found '<scalar>'").
    @Test func aCommentEndsAPlainScalar() {
      expectFailure("run: make # build it\n  install\n", at: "2:3", says: "indented")
    }
  }
}

// MARK: - What kiln adds to libyaml

extension YAMLParserTests {
  /// libyaml reads the text; kiln turns its character positions into byte columns and
  /// reads two spellings libyaml 0.2 refuses by editing the text and parsing again. The
  /// edits must never show: marks point into the text as written, values hold it.
  @Suite struct OnLibyaml {
    /// `key:` right before ',', ']' or '}' is read with a space put after the ':'; the
    /// nodes after it keep the columns of the text as written.
    @Test func marksAfterAnEmptyFlowValue() throws {
      let root = try YAMLParser.parse("a: {k:, l: v}\nb: [x:]\nc: d\n")
      #expect(Tree(try #require(root)) == ["a": ["k": "", "l": "v"], "b": [["x": ""]], "c": "d"])
      #expect(keyMarkOf(root, "a", "l") == "1:9")
      #expect(markOf(root, "a", "l") == "1:12")
      #expect(keyMarkOf(root, "c") == "3:1")
      #expect(markOf(root, "c") == "3:4")
    }

    /// A tab after the indentation on a block scalar's first line is content; it is
    /// handed to libyaml as a stand-in character and put back in the value.
    @Test func aTabOnTheFirstLineOfABlockScalarAmongNonASCIIText() throws {
      let root = try YAMLParser.parse("é: |\n  \tx\nb: [ü, c]\n")
      #expect(Tree(try #require(root)) == ["é": .q("\tx\n"), "b": ["ü", "c"]])
      #expect(markOf(root, "b", 1) == "3:9")
    }

    /// The stand-in is a character the text does not hold, so a text holding the first
    /// candidate keeps it.
    @Test func theTabStandInIsNotACharacterOfTheText() throws {
      expectTree("a: |\n  \tx \u{E000}\n", ["a": .q("\tx \u{E000}\n")])
    }

    /// Several edits in one file, each found by a parse of its own.
    @Test func severalEditsInOneFile() throws {
      expectTree("a: |\n  \tx\nb: >\n  \ty\nc: {k:}\nd: [e:, f:]\n", ["a": .q("\tx\n"), "b": .q("\ty\n"), "c": ["k": ""], "d": [["e": ""], ["f": ""]]])
      expectFailure("a: {k:}\nb: c: d\n", at: "2:5", says: "': '")
    }

    /// Each edit is a parse of the whole file: a file gets `maxEdits` of them, then the
    /// spelling is an error that says how to write it (a hostile file cannot make kiln
    /// parse it thousands of times).
    @Test func editsAreBounded() throws {
      let limit = YAMLParser.maxEdits
      let items = (0..<limit).map { "{k\($0):}" }.joined(separator: ", ")
      let root = try YAMLParser.parse("a: [\(items)]\n")
      guard case .mapping(let pairs, _)? = root, case .sequence(let list, _) = pairs[0].value else {
        Issue.record("not a mapping holding a list")
        return
      }
      #expect(list.count == limit)
      let oneMore = (0...limit).map { _ in "{k:}" }.joined(separator: ",")
      // Each item is 4 bytes and a comma; the ':' of item `limit` (0-based) is refused.
      expectFailure("a: [\(oneMore)]\n", at: "1:\(5 + 5 * limit + 2)", says: "followed by a space")
      let tabs = (0...limit).map { "b\($0): |\n  \tx\n" }.joined()
      expectFailure(tabs, at: "\(2 * limit + 2):3", says: "tab")
    }

    /// YAML allows no control characters in the text (write them as escapes in double
    /// quotes); the error points at the character.
    @Test func controlCharactersAreRefusedWhereTheyAre() {
      expectFailure("a: x\u{1}y\n", at: "1:5", says: "control character 0x01")
      expectFailure("a: b\nc: \u{0}\n", at: "2:4", says: "control character 0x00")
      expectFailure("é: [ü, \u{7F}]\n", at: "1:10", says: "0x7F")
      expectTree("a: \"x\\u0001y\"\n", ["a": .q("x\u{1}y")])
    }

    /// libyaml counts characters; kiln's columns count bytes, in errors too.
    @Test func errorColumnsCountBytes() {
      expectFailure("é: \"\\x4\"\n", at: "1:6", says: "hex")
      expectFailure("é: [ü, 'x\n", at: "1:10", says: "never closed")
      expectFailure("ü: 1\nü: 2\n", at: "2:1", says: "duplicate key 'ü'")
    }
  }
}

// MARK: - Against PyYAML

extension YAMLParserTests {
  /// `python3` with PyYAML, if this machine has them (Debian: python3-yaml).
  enum PyYAML {
    static let isAvailable: Bool = run(["-c", "import yaml"], stderr: nil) == 0

    /// Runs `python3 ARGS` with no input; its exit status, or nil if it could not start.
    static func run(_ args: [String], stderr: String?) -> Int32? {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = ["python3"] + args
      let scratch = TempDirectory(prefix: "kiln-config-pyyaml")
      process.environment = TestEnvironment.variables(in: scratch)
      defer { withExtendedLifetime(scratch) {} }
      process.standardInput = FileHandle.nullDevice
      process.standardOutput = FileHandle.nullDevice
      var errorHandle: FileHandle?
      if let stderr, FileManager.default.createFile(atPath: stderr, contents: nil) {
        errorHandle = FileHandle(forWritingAtPath: stderr)
      }
      process.standardError = errorHandle ?? FileHandle.nullDevice
      defer { try? errorHandle?.close() }
      guard (try? process.run()) != nil else { return nil }
      process.waitUntilExit()
      return process.terminationStatus
    }

    /// Loads each NUL-separated document of argv[1] and writes one line per document to
    /// argv[2]: `ok <canonical form>\t<marks>` or `error <message>`. The marks are every
    /// node's start, in document order, as `s` (scalar), `q` (sequence) or `m` (mapping)
    /// and 1-based `line:column`, leaving out empty plain scalars (no text to point at). The loader is SafeLoader
    /// resolving only null and bool (the spellings kiln's BuildFileParser and
    /// `YAMLNode.bool` use): every other plain scalar stays the string it was written as,
    /// so `30`, `1.10` and `0755` compare as text.
    static let script = #"""
      import sys, yaml
      class Loader(yaml.SafeLoader):
          pass
      keep = ('tag:yaml.org,2002:null', 'tag:yaml.org,2002:bool')
      Loader.yaml_implicit_resolvers = {
          first: [(tag, regexp) for (tag, regexp) in resolvers if tag in keep]
          for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
      }
      def string(s):
          out = []
          for ch in s:
              o = ord(ch)
              if ch == '\\': out.append('\\\\')
              elif ch == '"': out.append('\\"')
              elif ch == '\n': out.append('\\n')
              elif ch == '\t': out.append('\\t')
              elif ch == '\r': out.append('\\r')
              elif o < 0x20 or o == 0x7f: out.append('\\u{%x}' % o)
              else: out.append(ch)
          return '"' + ''.join(out) + '"'
      def canonical(x):
          if x is None: return 'null'
          if x is True: return 'true'
          if x is False: return 'false'
          if isinstance(x, str): return string(x)
          if isinstance(x, list): return '[' + ', '.join(canonical(i) for i in x) + ']'
          if isinstance(x, dict): return '{' + ', '.join(canonical(k) + ': ' + canonical(v) for k, v in x.items()) + '}'
          return '<%s %r>' % (type(x).__name__, x)
      def marks(node, out):
          kind = {yaml.ScalarNode: 's', yaml.SequenceNode: 'q', yaml.MappingNode: 'm'}[type(node)]
          if kind != 's' or node.style is not None or node.value != '':
              out.append('%s%d:%d' % (kind, node.start_mark.line + 1, node.start_mark.column + 1))
          if kind == 'q':
              for item in node.value: marks(item, out)
          elif kind == 'm':
              for key, value in node.value: marks(key, out); marks(value, out)
          return out
      documents = open(sys.argv[1], 'rb').read().split(b'\0')
      with open(sys.argv[2], 'w', encoding='utf-8') as out:
          for document in documents:
              try:
                  node = yaml.compose(document, Loader=Loader)
                  line = 'ok ' + canonical(yaml.load(document, Loader=Loader))
                  line += '\t' + ' '.join(marks(node, []) if node is not None else [])
              except yaml.YAMLError as e:
                  line = 'error ' + ' '.join(str(e).split())
              out.write(line + '\n')
      """#

    static let nullSpellings: Set<String> = ["~", "null", "Null", "NULL", ""]

    /// kiln's parse in the script's canonical form.
    static func canonical(_ yaml: String) -> String {
      do {
        return "ok " + canonical(try YAMLParser.parse(yaml))
      } catch {
        return "error \(error.mark.line):\(error.mark.column): \(error.message)"
      }
    }

    static func canonical(_ node: YAMLNode?) -> String {
      guard let node else { return "null" }
      switch node {
      case .scalar(let text, let plain, _):
        if plain, nullSpellings.contains(text) { return "null" }
        if plain, let value = node.bool { return value ? "true" : "false" }
        return string(text)
      case .sequence(let items, _):
        return "[" + items.map { canonical($0) }.joined(separator: ", ") + "]"
      case .mapping(let pairs, _):
        return "{" + pairs.map { canonical($0.key) + ": " + canonical($0.value) }.joined(separator: ", ") + "}"
      }
    }

    /// kiln's marks in the script's form; nil when it does not parse.
    static func marks(_ yaml: String) -> String? {
      let root: YAMLNode?
      do { root = try YAMLParser.parse(yaml) } catch { return nil }
      var out: [String] = []
      func walk(_ node: YAMLNode) {
        let m = "\(node.mark.line):\(node.mark.column)"
        switch node {
        case .scalar(let text, let plain, _):
          if !(plain && text.isEmpty) { out.append("s" + m) }
        case .sequence(let items, _):
          out.append("q" + m)
          items.forEach(walk)
        case .mapping(let pairs, _):
          out.append("m" + m)
          for pair in pairs {
            walk(pair.key)
            walk(pair.value)
          }
        }
      }
      if let root { walk(root) }
      return out.joined(separator: " ")
    }

    static func string(_ s: String) -> String {
      var out = "\""
      for scalar in s.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
          if scalar.value < 0x20 || scalar.value == 0x7F {
            out += "\\u{" + String(scalar.value, radix: 16) + "}"
          } else {
            out.unicodeScalars.append(scalar)
          }
        }
      }
      return out + "\""
    }
  }
}

extension YAMLParserTests {
  @Suite struct AgainstPyYAML {
    /// Valid documents of the kinds build files hold.
    static let corpus: [String] = [
      // 0: a whole build file.
      """
      # kiln.yml
      default: [build, test]
      env:
        CC: clang
        CFLAGS: -O2 -Wall -I include
        EMPTY:
      tasks:
        render:
          foreach: templates/*.tmpl
          inputs: [tools/render.sh, "templates/*.tmpl"]
          outputs: gen/{stem}.c
          run: ./tools/render.sh {in} > {out}
        compile:
          foreach: [src/*.c, gen/*.c]
          outputs: build/{stem}.o
          depfile: build/{stem}.d
          run: $CC $CFLAGS -MD -MF build/{stem}.d -c {in} -o {out}
          hash_env: [CC]
          timeout: 5m
        link:
          deps: [compile]
          inputs: build/*.o
          outputs: app
          run: $CC -o {out} {in}
          cache: false
        test:
          deps:
            - link
          run: |
            ./app --self-test
            echo ok > build/test.log
          outputs: build/test.log
          always: yes
      hooks:
        pre-commit: [test]

      """,
      // 1-4: lists at the key's indentation, compact mappings, nested lists.
      "deps:\n- a\n- b\n",
      "deps:\n- a\n- b\noutputs: x\nrun: y\n",
      "- name: a\n  deps: [b]\n- run: x\n  env:\n    K: v\n-   spaced: 1\n    more: 2\n- a:\n  - x\n- last\n",
      "- - a\n  - b\n- - c\n-\n  - d\n",
      // 5: empty values, null and bool spellings.
      "a:\nb:   # nothing\nc: ~\nd: null\ne: Null\nf: ''\ng: \"\"\nh: true\ni: False\nj: yes\nk: off\nl: 'true'\nm: truely\nn:\n  o:\np: [~, null, true, no]\n",
      "- \n- x\n-\n- ~\n",
      // 7: comments.
      "# c\na: 1 # c\n  # c\nb:   # c\n  # c\n  - x # c\n# c\n  - y\n    # c\nc: [p, q] # c\nd: {k: v} # c\ne: 'q' # c\nf: a#b\ng: a #b\nh: \"#x\"\ni: url#frag # c\nj: |  # c\n  # content\nk: x#\n#end\n",
      // 8-9: document markers, BOM, CRLF.
      "# header\n---\na: 1\nb: ---\nc: ...\n...\n# trailing\n",
      "\u{FEFF}a: 1\r\nb:\r\n  - x # c\r\n  - 'y\r\n    z'\r\nc: |\r\n  l1\r\n  l2\r\nd: >\r\n  f1\r\n  f2\r\n\r\n  f3\r\ne: \"p\\\r\n  q\"\r\nf: one\r\n  two\r\ng: [m,\r\n  n]\r\n",
      // 10: blank lines, some of spaces.
      "\n\na: 1\n\n   \nb:\n\n  c: 2\n  \n\n  d:\n\n    - x\n\n    - y\n\n\n",
      // 11: plain scalars holding indicators.
      "url: https://example.com:8080/path?q=1#frag\npair: a:b\ndrive: C:\\dir\\file\nflag: -O2\nshell: echo {in} > {out} && cat a | tee b; x=$((1+2)) & wait\npath: ${HOME}/bin:$PATH\npercent: 50%\nbang: echo hi!\nstar: a*b\namp: x&y\ndash: a - b\nbrackets: a[0] b{1} c]d\nquotes: it's \"fine\"\nnumber: 30\nversion: 1.10\nmode: 0755\ndate: 2024-01-01\ntrailing: value   \n",
      // 12: multi-line plain scalars.
      "a: one\n  two\n\n  three\n\n\n  four\n   five\nb: x\nc:\n  p\n  q\nd: b\n  - c\ne:\n- one\n  two\n- three\n",
      // 13-15: quoted scalars.
      "a: 'it''s'\nb: 'a # not a comment'\nc: 'key: value'\nd: '  padded  '\ne: 'back\\slash \\n'\nf: ''\ng: 'one\n  two\n\n  three'\nh: '{stem}.c'\ni: '''q'''\nj: 'trailing   \n   spaces'\n",
      "a: \"tab\\there\\nnew \\\"q\\\" back\\\\slash\"\nb: \"\\u00e9\\x41\\U0001F600\\/\\e\\a\\b\\v\\f\\r\\ \\\t\"\nc: \"one\n  two\n\n  three\"\nd: \"joined\\\n    up\"\ne: \"\"\nf: \"a # b\"\ng: \"caf\\u00E9 and caf\u{E9}\"\n",
      "a: \"x\\ \n  y\"\nb: \"x\\t\n  y\"\n",
      // 16-19: literal and folded block scalars.
      "a: |\n  line 1\n    indented\n\n  line 3\nb: |-\n  x\n  y\n\n\nc: |+\n  x\n\n\nd: |\n  x\n\n\ne: |\n\n  x\nf: |\n    x\n  \n    y\ng: |\n  \tx\nh: |\nz: 1\n",
      "a: |2\n    x\n  y\nb: |2-\n    x\n  y\nc: |-2\n    x\n  y\nd: >1\n  x\n y\ne:\n  f: |2\n      x\n    y\n",
      "a: >\n  one\n  two\n\n  three\nb: >-\n  one\n  two\n\n  three\nc: >+\n  x\n\nd: >\n  x\n\n\n  y\ne: >\n  x\n  y\n    z\n  w\nf: >2\n    x\n  y\n",
      "a: >\n  intro\n\n    indented\n  after\nb: >2\n    indented\n\n  after\n",
      ">\n\n folded\n line\n\n next\n line\n   * bullet\n\n   * list\n   * lines\n\n last\n line\n\n# Comment\n",
      "- |\n  x\n- >-\n  y\n  z\n- k: |\n    v\n  l: 1\n- run: |\n   echo\n  x: 1\n",
      // 22-24: block scalars at the end of the file.
      "tasks:\n  t:\n    run: |\n      echo a\n        echo b\n\n      echo c\n    outputs: x\n",
      "tasks:\n  t:\n    run: |\n      make\n      make install",
      "a: |+\n  x\n",
      // 25-30: flow collections.
      "a: [x, y]\nb: [[p], q]\nc: {k: 1, l: [x, y]}\nd: []\ne: {}\nf: [ ]\ng: [[], {}]\nh: {a: {b: [c, {d: e}]}}\n",
      "inputs: [\n  a.c,   # first\n  b.c,\n\n  # a comment line\n  c.c,\n]\nenv: {\n  A: 1,\n  B: 2,\n}\nmore: [one\n  two, three]\nnext: x\n",
      "a: [\"x,y\", 'p]q', \"{stem}.c\", 'it''s', \"\\t\", 'a: b', \"#\"]\nb: {'k,1': \"v}\", \"[k]\": '{v}'}\n",
      "a: [a b, http://x:80/y, a:b, a#b, -O2, src/*.c, ~]\nb: [x #comment\n  , y]\n",
      "a: {k: v, 'q': \"w\", empty:, bare, n: [1, 2]}\nb: {\"k\":1, x:1}\nc: {k: x\n  y}\n",
      "- [a, b]\n- {k: v}\n- [c,\n   d]\n",
      // 31-35: roots, keys, non-ASCII, deep nesting.
      "--- [a, b]\n",
      "just\n  text\n",
      "\"a b\": 1\n'c': 2\nbuild app: 3\nd   : 4\na:b: 5\n-x: 6\nk.v-1_2: 7\n",
      "é: [a, b]\nnaïve: café ☕\n\"ü\": '日本語'\n",
      "a:\n    b:\n        c: 1\n    d: 2\ne: 3\nf:\n b:\n  - x\n c: y\n",
      // 36: a build file in a list-heavy style.
      "tasks:\n  build:\n    inputs:\n    - a.c\n    - b.c\n    run: cc\n  test:\n    deps:\n    - build\n    run: ./test\n",
    ]

    @Test(.enabled(if: PyYAML.isAvailable, "python3 with PyYAML is not installed (Debian package: python3-yaml)"))
    func kilnReadsEveryDocumentAsPyYAMLDoes() throws {
      #expect(Self.corpus.count >= 30)
      let scratch = ScratchDirectory()
      scratch.write("corpus", Self.corpus.joined(separator: "\0"))
      let corpus = scratch.path + "/corpus"
      let results = scratch.path + "/results"
      let stderr = scratch.path + "/stderr"
      let status = PyYAML.run(["-c", PyYAML.script, corpus, results], stderr: stderr)
      let errors = (try? LocalFileSystem().read(stderr)).map { String(decoding: $0, as: UTF8.self) } ?? ""
      try #require(status == 0, "python3 failed (\(status.map(String.init) ?? "did not start")): \(errors)")
      let lines = String(decoding: try LocalFileSystem().read(results), as: UTF8.self)
        .split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
      try #require(lines.count == Self.corpus.count, "\(lines.count) results for \(Self.corpus.count) documents")
      var comparedMarks = 0
      for (n, (document, python)) in zip(Self.corpus, lines).enumerated() {
        #expect(python.hasPrefix("ok "), "document \(n) is not valid YAML to PyYAML: \(python)\n\(String(reflecting: document))")
        let parts = python.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let kiln = PyYAML.canonical(document)
        #expect(kiln == parts[0], "document \(n): \(String(reflecting: document))")
        // Marks, where both read the same value: PyYAML counts columns in characters,
        // kiln in bytes, so only ASCII documents compare.
        if kiln == parts[0], parts.count == 2, document.utf8.allSatisfy({ $0 < 0x80 }) {
          #expect(PyYAML.marks(document) == parts[1], "marks of document \(n): \(String(reflecting: document))")
          comparedMarks += 1
        }
      }
      #expect(comparedMarks >= 20, "marks compared for only \(comparedMarks) documents")
    }
  }
}
