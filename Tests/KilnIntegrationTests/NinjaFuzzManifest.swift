import Foundation
import KilnTestSupport

/// A random `build.ninja` for `NinjaDifferentialTests`, and the model of it that the
/// test checks kiln against.
///
/// The DAG is made of small `sh` edges that write their outputs from their explicit
/// inputs, a header line of expanded variables and, through a depfile, extra files
/// they read (`inc/*.h`); each appends its `$out` to `.runs/log` when it runs, and
/// some fail when an explicit input holds the line `BROKEN`. The edges are spread
/// over four files: `build.ninja`, `rules.ninja` (`include`d: the same scope),
/// `sub/part.ninja` (a `subninja`: a scope of its own, with a rule that shadows one of
/// the parent's) and `sub/more.ninja` (included by the subninja, with Windows line
/// ends now and then). The text uses every feature of the ninja manual that
/// `kiln ninja` supports: variables at every level (a top-level variable rebound
/// after the edges that read it, build bindings that read the file's value of the
/// name they shadow, a top-level `description` that edges without bindings see
/// first), `$in`, `$out`, `$in_newline`, every `$` escape, `$`-newline continuations,
/// comments, the three kinds of input, implicit outputs, phony groups and aliases (a
/// phony naming a source file as CMake writes, `FORCE`), `default` (in the subninja
/// too), pools (`console` too, set or cleared by an edge), `deps = gcc` and plain
/// depfiles, `restat`, `generator`, `rspfile` and `description`. Paths hold bytes the
/// shell needs quoted, and each is spelled one of the ways that mean the same to
/// ninja (`./x`, `a//x`, `a/b/../x`, `$builddir/x`, a binding of the edge).
struct NinjaFuzzManifest {
  /// Manifest features `kiln ninja` does not honour yet: off unless a test asks.
  struct Features {
    /// `|@` validations (ninja builds them whenever the edge is wanted).
    var validations = false
    /// Commands in the depth-1 pool note in `.runs/overlap` when they overlap.
    var poolDepth = false
  }

  /// How an edge's command makes its outputs.
  enum Shape: CaseIterable {
    /// Header and `cat $in` into each of `$out` and `$extra` (a binding naming the
    /// implicit outputs).
    case cat
    /// Into `$out`, and `aux` and a copy of it into the implicit output `$out.aux`.
    case aux
    /// Also reads `$hdrs` (a binding: shell words) and writes a depfile naming them
    /// (`$depline`, a binding: make's escapes, for printf).
    case depfile
    /// `restat = 1`: header and the first line of `cat $in` into `$out.tmp`, which
    /// replaces `$out` only when it differs (`cmp -s`, then `mv`).
    case restat
    /// Writes its rspfile (`$in` or `$in_newline`) and what the paths in it hold.
    /// An edge may name its own depfile or rspfile.
    case rsp
  }

  /// Where a statement is written.
  enum Part: CaseIterable {
    /// `build.ninja`, before the subninja.
    case main
    /// `rules.ninja`, included at the top of `build.ninja`.
    case included
    /// `sub/part.ninja`, the subninja.
    case sub
    /// `sub/more.ninja`, included by the subninja.
    case subIncluded
    /// `build.ninja`, after the subninja.
    case late

    var inSubninja: Bool { self == .sub || self == .subIncluded }
  }

  struct Rule {
    var name: String
    var shape: Shape
    /// Declared in the subninja: only its edges see it.
    var inSubninja: Bool
    var generator = false
    var pool: String?
    /// `deps = gcc` (depfile shape).
    var gccDeps = false
    /// The command fails when an explicit input holds the line `BROKEN`.
    var checksInputs = false
    var text = ""
  }

  /// What a build statement lists after its rule: canonical paths, as ninja and kiln
  /// name them.
  struct Inputs {
    var explicit: [String] = []
    var implicit: [String] = []
    var orderOnly: [String] = []
    /// `|@`, edges only.
    var validations: [String] = []

    /// What goes into a key: explicit and implicit inputs.
    var keyed: [String] { explicit + implicit }
    /// What a build of the statement's outputs builds first (validations too, after).
    var all: [String] { explicit + implicit + orderOnly + validations }
  }

  struct Edge {
    var index: Int
    var rule: Rule
    var part: Part
    var outputs: [String] = []
    var implicitOutputs: [String] = []
    var inputs = Inputs()
    /// The `inc/*.h` files its command reads, found by ninja and kiln through its depfile.
    var headers: [String] = []
    var generator: Bool
    var pool: String?
    /// The value of its `stamp` binding, which its command prints (`gstamp` for a
    /// generator edge, which its command only names); nil: none. A step changes it.
    var stamp: String?
    var text = ""

    /// kiln caches it: neither a generator edge nor one in the console pool.
    var cacheable: Bool { !generator && pool != "console" }
    /// What `echo $out` appends to `.runs/log` when the command runs.
    var logLine: String { outputs.joined(separator: " ") }
    /// kiln's name for it: `RULE FIRST-OUTPUT`.
    var id: String { "\(rule.name) \(outputs[0])" }
    var allOutputs: [String] { outputs + implicitOutputs }
    var stampVariable: String { generator ? "gstamp" : "stamp" }
  }

  struct Phony {
    var name: String
    var inputs = Inputs()
    var part: Part
  }

  let seed: UInt64
  let features: Features
  /// Source files (`src/*.txt`, `inc/*.h`) and their first contents.
  var sources: [String: String] = [:]
  var headers: [String] = []
  var rules: [Rule] = []
  var edges: [Edge] = []
  var phonies: [Phony] = []
  /// Sources that a phony edge with no inputs names (`build src/a.txt: phony`).
  var aliasedSources: Set<String> = []
  /// `FORCE`, a phony with no inputs and no file: what depends on it runs every time.
  var force: String?
  /// Every `default` target, the subninja's (`subDefaults`) included.
  var defaults: [String] = []
  var subDefaults: [String] = []
  /// The manifest files: path -> text.
  var files: [String: String] = [:]

  private var random: SplitMix64

  init(seed: UInt64, features: Features = Features()) {
    self.seed = seed
    self.features = features
    random = SplitMix64(seed: seed)
    makeSources()
    makeRules()
    makeGraph()
    writeFiles()
  }

  /// Every target a command line may name: the paths the manifest names (not the
  /// headers, which only depfiles name).
  var targets: [String] {
    var named = edges.flatMap { $0.allOutputs + $0.inputs.all }
    named += phonies.flatMap { [$0.name] + $0.inputs.all }
    var seen: Set<String> = []
    return named.filter { seen.insert($0).inserted }
  }

  /// The manifest files as one text, for failure messages.
  var listing: String {
    files.keys.sorted().map { "--- \($0)\n\(files[$0]!)" }.joined(separator: "\n")
  }

  // MARK: - Random choices

  private mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &random) < p }
  private mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }
  private mutating func pick<T>(_ values: [T]) -> T { values.randomElement(using: &random)! }
  private mutating func some<T>(_ values: [T], _ count: ClosedRange<Int>) -> [T] {
    Array(values.shuffled(using: &random).prefix(int(count)))
  }

  // MARK: - Sources

  static let words = ["ash", "brick", "clay", "dust", "ember", "flint", "glaze", "heat", "iron", "kiln"]

  private mutating func makeSources() {
    for i in 0..<int(3...6) {
      // One name with a space in it, which `$in` quotes for the shell.
      let path = i == 1 && chance(0.5) ? "src/s \(i).txt" : "src/s\(i).txt"
      sources[path] = Self.sourceText(path, version: 0, random: &random)
    }
    for i in 0..<int(2...4) {
      // Names a depfile escapes: `\ ` and `\#`.
      let path = i == 1 && chance(0.3) ? "inc/h 1.h" : i == 2 && chance(0.3) ? "inc/h#2.h" : "inc/h\(i).h"
      headers.append(path)
      sources[path] = Self.sourceText(path, version: 0, random: &random)
    }
  }

  /// A first line naming the file and its version (restat edges keep only first
  /// lines), then a few random lines.
  static func sourceText(_ path: String, version: Int, random: inout SplitMix64) -> String {
    var lines = ["\(path) v\(version)"]
    for _ in 0..<Int.random(in: 0...3, using: &random) {
      lines.append(words.shuffled(using: &random).prefix(Int.random(in: 1...4, using: &random)).joined(separator: " "))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// The same first line, different later lines: a restat edge's output stays the same.
  static func laterLinesEdited(_ text: String, random: inout SplitMix64) -> String {
    let first = text.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
    return first + "\n" + words.randomElement(using: &random)! + " \(Int.random(in: 0...999, using: &random))\n"
  }

  // MARK: - Values

  /// A variable's value as written: words, punctuation the shell leaves alone inside
  /// single quotes, `$$`, `$ `, `$:`, references and continuations. Never a `'`.
  private mutating func valueText(references: [String]) -> String {
    var text = pick(Self.words)
    for _ in 0..<int(0...4) {
      switch int(0...9) {
      case 0: text += "$$"
      case 1: text += "$ "
      case 2: text += "$:"
      case 3: text += " " + pick(Self.words)
      case 4: text += pick(["-", ".", ",", "=", "/", "+", "@", "%", "#", "\"", "\\"])
      case 5...6 where !references.isEmpty:
        let name = pick(references)
        // `$name` ends at the first byte that cannot be in a simple name.
        text += chance(0.5) ? "${\(name)}" : "$\(name)" + pick([".x", "-", " ", ""])
      case 7: text += "$\n" + String(repeating: " ", count: int(1...6))
      default: text += pick(Self.words)
      }
    }
    if chance(0.1) { text += "  " }  // trailing spaces are part of the value
    return text
  }

  /// The header line of a rule's command: variables as the edge's scope sees them.
  private mutating func headerText(rule: String, description: Bool) -> String {
    let references = [
      "tag", "{tag}", "flavor", "{ver.minor}", "note", "note", "tag.x", "undefined_x", "dash-var", "{dash-var}", "1st",
      "$", ":", " ",
    ]
    var pieces = (0..<int(2...5)).map { _ in pick(references) }
    // Once only: ninja 1.11 takes a rule variable met twice in one command for a
    // cycle (ninja issue 1966, fixed in 1.12).
    if description { pieces.insert("description", at: int(0...pieces.count)) }
    var text = rule + ":"
    for reference in pieces {
      text += (reference == "$" ? "$$HOME" : "$" + reference) + pick(["", "|", "-"])
    }
    if chance(0.2) { text += "$\n      more" }
    return text + "$stamp"
  }

  // MARK: - Rules

  private mutating func makeRules() {
    let names: [Shape: String] = [.cat: "cat", .aux: "aux", .depfile: "dep", .restat: "rst", .rsp: "rsp"]
    for shape in Shape.allCases { rules.append(rule(names[shape]!, shape, inSubninja: false)) }
    for i in 0..<int(1...3) { rules.append(rule(pick(["r\(i)", "r.\(i)", "r-\(i)_x"]), pick(Shape.allCases), inSubninja: false)) }
    // The subninja's own `cat` shadows the parent's there; its other rule is its alone.
    rules.append(rule("cat", .cat, inSubninja: true))
    rules.append(rule("subonly", pick(Shape.allCases), inSubninja: true))
  }

  private mutating func rule(_ name: String, _ shape: Shape, inSubninja: Bool) -> Rule {
    var rule = Rule(name: name, shape: shape, inSubninja: inSubninja)
    if chance(0.15) { rule.generator = true }
    if chance(0.2) { rule.pool = pick(["console", "p1", "p2"]) }
    if shape == .depfile { rule.gccDeps = chance(0.6) }
    rule.checksInputs = chance(0.3)
    // A command that names `$description` gets a description without paths: `$out`
    // would be quoted for the shell inside the command's own quotes.
    let describes = chance(0.6)
    let namesDescription = describes && chance(0.5)
    let header = "'" + headerText(rule: name + (inSubninja ? "@sub" : ""), description: namesDescription) + "'"
    // A generator edge's stamp changes its command, not its output: ninja keeps the
    // output until an input changes, so the output would show when that happened.
    var prefix = (features.poolDepth ? "${check}" : "") + ": $gstamp; "
    // What must be built before (`$after`, a binding): a command that finds one
    // missing notes it in `.runs/early`.
    prefix += "for f in $after; do test -e \"$$f\" || echo \"$$f\" >> .runs/early; done; "
    if rule.checksInputs { prefix += "if grep -q BROKEN /dev/null $in; then echo broken input >&2; exit 1; fi; " }
    let command: String
    switch shape {
    case .cat:
      command = "for o in $out $extra; do { printf '%s\\n' \(header); cat /dev/null $in; } > $$o; done"
    case .aux:
      command = "{ printf '%s\\n' \(header); cat /dev/null $in; } > $out && { echo aux; cat $out; } > $out.aux"
    case .depfile:
      command = "{ printf '%s\\n' \(header); cat /dev/null $in $hdrs; } > $out && printf '%s: $depline\\n' $out > $depfile"
    case .restat:
      command = "{ printf '%s\\n' \(header); cat /dev/null $in | head -n 1; } > $out.tmp && "
        + "if cmp -s $out.tmp $out; then rm $out.tmp; else mv $out.tmp $out; fi"
    case .rsp:
      command = "r=$rspfile; { printf '%s\\n' \(header); cat \"$$r\"; echo; xargs cat /dev/null < \"$$r\"; } > $out"
    }
    var lines = ["rule \(name)", "  command = \(prefix)\(command) && echo $out >> $log"]
    if describes {
      lines.append("  description = " + (namesDescription ? "\(name) $tag" : "\(name.uppercased()) " + pick(["$out", "$in -> $out"])))
    }
    if chance(0.2) { lines.append("  # a comment inside the rule: $ | : $$ \\") }
    switch shape {
    case .depfile:
      lines.append("  depfile = $out.d")
      if rule.gccDeps { lines.append("  deps = gcc") }
    case .restat: lines.append("  restat = 1")
    case .rsp:
      lines.append("  rspfile = $out.rsp")
      lines.append("  rspfile_content = " + pick(["$in", "$in_newline"]))
    case .cat, .aux: break
    }
    if rule.generator { lines.append("  generator = 1") }
    if let pool = rule.pool { lines.append("  pool = \(pool)") }
    let first = lines.removeFirst()
    rule.text = ([first] + lines.shuffled(using: &random)).joined(separator: "\n") + "\n"
    return rule
  }

  // MARK: - The graph

  private mutating func makeGraph() {
    let sourcePaths = sources.keys.filter { $0.hasPrefix("src/") }.sorted()
    // CMake names files it reads with a phony edge that has no inputs: the file is
    // still a source, whose changes rebuild what reads it.
    for path in some(sourcePaths, 0...1) {
      aliasedSources.insert(path)
      phonies.append(Phony(name: path, part: pick(Part.allCases)))
    }
    if chance(0.5) {
      force = "FORCE"
      phonies.append(Phony(name: "FORCE", part: .main))
    }
    var files = sourcePaths
    var groups: [String] = []
    for i in 0..<int(10...30) {
      let part = pick(Part.allCases)
      // The subninja's `cat` hides the parent's there.
      let visible = rules.filter { part.inSubninja ? !($0.name == "cat" && !$0.inSubninja) : !$0.inSubninja }
      let rule = pick(visible)
      var edge = Edge(index: i, rule: rule, part: part, generator: rule.generator, pool: rule.pool)
      if chance(0.3) { edge.stamp = "s0-e\(i)" }
      edge.outputs = outputs(i, rule.shape)
      switch rule.shape {
      case .cat: edge.implicitOutputs = (0..<int(0...2)).map { "out/e\(i).imp\($0)" }
      case .aux: edge.implicitOutputs = [edge.outputs[0] + ".aux"]
      case .depfile: edge.headers = some(headers, 0...3)
      case .restat, .rsp: break
      }
      let built = Array(files.dropFirst(sourcePaths.count))
      edge.inputs.explicit = some(files, 0...3)
      edge.inputs.implicit = some(files + groups + (force.map { [$0] } ?? []), 0...2)
      edge.inputs.orderOnly = some(built + groups, 0...2)
      if features.validations { edge.inputs.validations = some(built, 0...1) }
      edges.append(edge)
      files += edge.allOutputs
      if chance(0.25) {
        let name = chance(0.5) ? "group\(phonies.count)" : "out/alias\(phonies.count)"
        let built = Array(files.dropFirst(sourcePaths.count))
        var phony = Phony(name: name, part: pick(Part.allCases))
        phony.inputs.explicit = some(built + groups, 1...3)
        if chance(0.2) { phony.inputs.orderOnly = some(built, 1...1) }
        if chance(0.2) { phony.inputs.implicit = some(files, 1...2) }
        phonies.append(phony)
        groups.append(name)
      }
    }
    if chance(0.8) {
      defaults = some(edges.flatMap(\.allOutputs) + groups, 1...3)
    }
    // A `default` in the subninja names what it knows by then: its own outputs.
    if chance(0.25) {
      subDefaults = some(edges.filter(\.part.inSubninja).flatMap(\.allOutputs), 1...2)
      defaults += subDefaults
    }
  }

  /// An edge's explicit outputs: under `out/`, in a folder, with a space or a colon.
  private mutating func outputs(_ i: Int, _ shape: Shape) -> [String] {
    var name: String
    switch int(0...5) {
    case 0: name = "out/d\(int(0...2))/e\(i).txt"
    case 1 where shape != .depfile: name = "out/e \(i).txt"
    case 2 where shape != .depfile: name = "out/e\(i):c.txt"
    default: name = "out/e\(i).txt"
    }
    if shape != .depfile, chance(0.15) {
      // Bytes the shell needs quoted (ninja quotes `$in` and `$out`), `$` included.
      name = "out/e\(i)" + pick(["'q", "$d", "(p)", ",c", "=x", "@a", "%p", "\u{e9}", "#h", "~t", "!b", "&a", ";s", "*g"]) + ".txt"
    }
    var result = [name]
    if shape == .cat, chance(0.3) { result.append("out/e\(i).second.txt") }
    return result
  }

  // MARK: - Text

  /// `path` spelled one of the ways ninja reads as the same path.
  private mutating func spelled(_ path: String, folderBinding: String? = nil) -> String {
    func escaped<S: StringProtocol>(_ text: S) -> String {
      text.replacingOccurrences(of: "$", with: "$$").replacingOccurrences(of: " ", with: "$ ")
        .replacingOccurrences(of: ":", with: "$:")
    }
    if let folderBinding, path.hasPrefix(folderBinding + "/") {
      return "$dir/" + escaped(path.dropFirst(folderBinding.count + 1))
    }
    var text = escaped(path)
    let slash = text.firstIndex(of: "/")
    switch int(0...7) {
    case 0: text = "./" + text
    case 1 where slash != nil: text.replaceSubrange(slash!...slash!, with: "//")
    case 2 where slash != nil: text.replaceSubrange(slash!...slash!, with: "/./")
    case 3 where slash != nil: text.replaceSubrange(slash!...slash!, with: "/zz/../")
    case 4 where path.hasPrefix("out/"): text = "$builddir/" + escaped(path.dropFirst(4))
    case 5 where path.hasPrefix("out/"): text = "${builddir}/" + escaped(path.dropFirst(4))
    default: break
    }
    // A continuation inside the file name, away from any `$`: ninja reads it as nothing.
    if let slash = text.lastIndex(of: "/"), !text[slash...].contains("$"), text[slash...].count > 2, chance(0.05) {
      text.insert(contentsOf: "$\n   ", at: text.index(slash, offsetBy: 2))
    }
    return text
  }

  /// `path` as one word for `sh`.
  static func shellWord(_ path: String) -> String {
    let plain = path.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_+-./".unicodeScalars.contains($0)) }
    return plain ? path : "'" + path.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  /// Paths after a separator, sometimes one per continued line.
  private mutating func pathList(_ paths: [String], folderBinding: String? = nil) -> String {
    var text = ""
    for path in paths {
      text += pick([" $\n    ", " ", " ", " ", " ", "  "]) + spelled(path, folderBinding: folderBinding)
    }
    return text
  }

  private mutating func edgeText(_ edge: Edge) -> String {
    var bindings: [String] = []
    if !edge.headers.isEmpty {
      let spelled = edge.headers.map { chance(0.3) ? "./" + $0 : $0 }
      bindings.append("hdrs = " + spelled.map(Self.shellWord).joined(separator: " "))
      // printf's format: `\\` is one backslash; one line, or a path a line.
      let escaped = spelled.map { $0.replacingOccurrences(of: " ", with: "\\\\ ").replacingOccurrences(of: "#", with: "\\\\#") }
      bindings.append("depline = " + escaped.joined(separator: pick([" ", " \\\\\\n  "])))
    }
    if edge.rule.shape == .cat, !edge.implicitOutputs.isEmpty {
      bindings.append("extra = " + edge.implicitOutputs.joined(separator: " "))
    }
    if chance(0.3) {
      bindings.append("tag = e-" + valueText(references: ["tag", "note"]))
      // Evaluated in the file's scope: the file's `tag`, not the binding above.
      if chance(0.5) { bindings.append("note = seen-$tag") }
    }
    if chance(0.15), bindings.last?.hasPrefix("note") != true {
      bindings.append("note = " + valueText(references: ["tag", "flavor"]))
    }
    if chance(0.1) { bindings.append("description = " + valueText(references: ["tag"])) }
    if let stamp = edge.stamp { bindings.append("\(edge.stampVariable) = \(stamp)") }
    if chance(0.05) { bindings.append(pick(["in", "out", "in_newline"]) + " = not-a-path") }  // `$in`, `$out` are the edge's own
    if chance(0.05) { bindings.append("note =") }
    let folderOfFirst = edge.outputs[0].split(separator: "/").dropLast().joined(separator: "/")
    if edge.rule.shape == .depfile, chance(0.2) { bindings.append("depfile = \(folderOfFirst)/e\(edge.index).dep") }
    if edge.rule.shape == .rsp, chance(0.2) { bindings.append("rspfile = \(folderOfFirst)/e\(edge.index).args") }
    // An empty binding takes the rule's pool or generator flag away.
    if edge.pool != edge.rule.pool { bindings.append("pool = " + (edge.pool ?? "")) }
    if edge.generator != edge.rule.generator { bindings.append(edge.generator ? "generator = 1" : "generator =") }
    let after = prerequisites(of: edge.index)
    if !after.isEmpty, chance(0.6) {
      bindings.append("after = " + after.map(Self.shellWord).joined(separator: " ").replacingOccurrences(of: "$", with: "$$"))
    }
    if features.poolDepth, edge.pool == "p1" {
      bindings.append("check = mkdir .runs/p1.lock 2>/dev/null || echo overlap >> .runs/overlap; sleep 0.05; rmdir .runs/p1.lock; ")
    }
    var folder: String?
    let first = edge.outputs[0]
    if chance(0.2), let slash = first.lastIndex(of: "/") {
      folder = String(first[..<slash])
      bindings.append("dir = \(folder!)")
    }
    var line = "build" + pathList(edge.outputs, folderBinding: folder)
    if !edge.implicitOutputs.isEmpty { line += " |" + pathList(edge.implicitOutputs, folderBinding: folder) }
    line += pick([": ", " : ", ":  "]) + edge.rule.name + inputsText(edge.inputs)
    if !bindings.isEmpty, chance(0.2) { bindings.insert("# a comment among the bindings", at: int(0...bindings.count)) }
    let indent = String(repeating: " ", count: pick([1, 2, 2, 4]))
    return ([line] + bindings.map { indent + $0 }).joined(separator: "\n") + "\n"
  }

  private mutating func phonyText(_ phony: Phony) -> String {
    "build \(spelled(phony.name)): phony" + inputsText(phony.inputs) + "\n"
  }

  private mutating func inputsText(_ inputs: Inputs) -> String {
    var text = pathList(inputs.explicit)
    if !inputs.implicit.isEmpty { text += " |" + pathList(inputs.implicit) }
    if !inputs.orderOnly.isEmpty { text += " ||" + pathList(inputs.orderOnly) }
    if !inputs.validations.isEmpty { text += " |@" + pathList(inputs.validations) }
    return text
  }

  /// Decides which edges get a pool or a generator binding of their own, then writes
  /// the four files.
  private mutating func writeFiles() {
    for i in edges.indices {
      if chance(0.15) { edges[i].pool = edges[i].rule.pool == nil ? pick(["console", "p1", "p2"]) : nil }
      if chance(0.1) { edges[i].generator.toggle() }
    }
    var statements: [Part: [String]] = [:]
    for i in edges.indices {
      edges[i].text = edgeText(edges[i])
      statements[edges[i].part, default: []].append(edges[i].text)
    }
    for phony in phonies { statements[phony.part, default: []].append(phonyText(phony)) }
    for part in Part.allCases {
      statements[part] = statements[part, default: []].shuffled(using: &random)
      if chance(0.3) { statements[part]!.insert("# statements in random order\n", at: 0) }
    }
    // A top-level variable rebound between edges: their commands see the last value,
    // their paths and bindings the value at the time.
    if chance(0.5), !statements[.main]!.isEmpty {
      statements[.main]!.insert("tag = again-" + valueText(references: ["tag"]) + "\n", at: int(0...statements[.main]!.count))
    }
    let mainRules = rules.filter { !$0.inSubninja }
    let split = int(0...mainRules.count)

    var main = "# build.ninja of seed \(seed)\nninja_required_version = 1.5\n"
    main += "log = .runs/log\nbuilddir = out\n"
    main += "tag = " + valueText(references: []) + "\n"
    main += "flavor = " + valueText(references: ["tag"]) + "\n"
    main += "ver.minor = " + valueText(references: []) + "\n"
    main += "note = " + valueText(references: ["tag", "flavor"]) + "\n"
    main += "dash-var = " + valueText(references: ["ver.minor"]) + "\n1st =" + pick(["", " first"]) + "\n"
    if chance(0.4) {
      // Edges without bindings of their own see this before their rule's description.
      main += "description = top-" + valueText(references: ["tag"]) + "\n"
    }
    main += "\npool p1\n  depth = 1\npool p2\n  depth = \(int(2...3))\n\n"
    main += mainRules[..<split].map(\.text).joined(separator: "\n")
    main += "include rules.ninja\n\n" + statements[.main]!.joined()
    // The path of an include is evaluated in its scope.
    main += "\nparts = sub\nsubninja " + pick(["sub/part.ninja", "$parts/part.ninja", "./sub//part.ninja"]) + "\n\n"
    main += statements[.late]!.joined()
    main += "\nflavor = late-" + valueText(references: ["flavor"]) + "\n"
    var defaults = self.defaults.dropLast(subDefaults.count)
    while !defaults.isEmpty {
      let n = int(1...defaults.count)
      main += "default" + pathList(Array(defaults.prefix(n))) + "\n"
      defaults.removeFirst(n)
    }

    var included = "flavor = inc-" + valueText(references: ["flavor", "tag"]) + "\n\n"
    included += mainRules[split...].map(\.text).joined(separator: "\n") + "\n" + statements[.included]!.joined()

    var sub = "# the subninja: its own scope\ntag = sub-" + valueText(references: ["tag"]) + "\n"
    if chance(0.3) { sub += "description = sub-" + valueText(references: ["description"]) + "\n" }
    sub += rules.filter(\.inSubninja).map(\.text).joined(separator: "\n")
    sub += "\ninclude " + pick(["sub/more.ninja", "${parts}/more.ninja"]) + "\n\n" + statements[.sub]!.joined()
    if !subDefaults.isEmpty { sub += "default" + pathList(subDefaults) + "\n" }
    var more = "note = more-" + valueText(references: ["tag", "note"]) + "\n" + statements[.subIncluded]!.joined()
    // Windows line ends.
    if chance(0.3) { more = more.replacingOccurrences(of: "\n", with: "\r\n") }

    files = ["build.ninja": main, "rules.ninja": included, "sub/part.ninja": sub, "sub/more.ninja": more]
  }
}
