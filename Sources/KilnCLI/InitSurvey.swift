import KilnSystem

/// `kiln init` from a Makefile: the commands `make -n -B` prints, the compiles grouped by
/// their flags into `foreach` tasks, archives and links as one task each. Commands run
/// in a subfolder (`make[1]: Entering directory`) are rewritten to run from the root.
struct MakeTranslation {
  var root: String
  var dryRun: String

  private struct Compile {
    var compiler: String
    var flags: [String]
    var source: String
    var object: String
  }

  private struct Step {
    var name: String
    var inputs: [String]
    var outputs: [String]
    var run: [String]
  }

  func plan(makefile: String) -> InitPlan {
    var compiles: [Compile] = []
    var steps: [Step] = []
    var others: [String] = []
    var folders: [String] = []
    for line in Self.lines(dryRun) {
      if let entered = Self.directory(line, "Entering") {
        folders.append(Paths.relative(entered, to: root) ?? entered)
        continue
      }
      if Self.directory(line, "Leaving") != nil {
        _ = folders.popLast()
        continue
      }
      let folder = folders.last ?? ""
      guard !folder.hasPrefix("/"), let words = Self.words(line), let program = words.first else {
        others.append(line)
        continue
      }
      let tool = Paths.fileName(program)
      if tool == "make" || tool == "gmake" || line.hasPrefix("make[") { continue }
      let at = { (path: String) in Self.join(folder, path) }
      if Self.isCompiler(tool) {
        if let compile = Self.compile(words, at) {
          // make -n -B may print a compile twice (two targets needing one object).
          if !compiles.contains(where: { $0.object == compile.object }) { compiles.append(compile) }
        } else if let o = words.firstIndex(of: "-o"), o + 1 < words.count {
          let output = at(words[o + 1])
          let inputs = words.dropFirst().filter { Self.isObjectOrArchive($0) }.map(at)
          var run = words
          for i in run.indices.dropFirst() where i == o + 1 || Self.isObjectOrArchive(run[i]) { run[i] = at(run[i]) }
          run = Self.rewritingPathFlags(run, at)
          if !steps.contains(where: { $0.outputs == [output] }) {
            steps.append(Step(name: "link-" + Paths.fileName(output), inputs: inputs, outputs: [output], run: run))
          }
        } else {
          others.append(line)
        }
      } else if tool == "ar" || tool.hasSuffix("-ar"), words.count >= 3 {
        let archive = at(words[2])
        let members = words.dropFirst(3).map(at)
        if !steps.contains(where: { $0.outputs == [archive] }) {
          steps.append(Step(name: "archive-" + Paths.stem(archive), inputs: Array(members), outputs: [archive],
                            run: [words[0], words[1], "{out}", "{in}"]))
        }
      } else if tool == "ranlib", words.count == 2, let i = steps.lastIndex(where: { $0.outputs == [at(words[1])] }) {
        if !steps[i].run.contains("&&") { steps[i].run += ["&&", words[0], "{out}"] }
      } else {
        others.append(line)
      }
    }

    var plan = InitPlan()
    plan.header = ["Written by kiln init from `make -n -B` (\(makefile)). A starting point: check it, then `kiln build`."]
    var taken = Set<String>()
    // One foreach task per compiler and flags.
    var groups: [(key: [String], compiles: [Compile])] = []
    for c in compiles {
      let key = [c.compiler] + c.flags
      if let i = groups.firstIndex(where: { $0.key == key }) { groups[i].compiles.append(c) } else { groups.append((key, [c])) }
    }
    let single = groups.count == 1
    for group in groups {
      let first = group.compiles[0]
      let cxx = Self.isCxx(first.compiler)
      let (cc, flags) = single ? ("$" + (cxx ? "CXX" : "CC"), "$" + (cxx ? "CXXFLAGS" : "CFLAGS"))
        : (first.compiler, first.flags.map(Self.quote).joined(separator: " "))
      if single {
        plan.env = [(cxx ? "CXX" : "CC", first.compiler), (cxx ? "CXXFLAGS" : "CFLAGS", first.flags.joined(separator: " "))]
      }
      let name = InitPlan.name(single ? "compile" : "compile-\(Paths.stem(first.source))", taken: &taken)
      if let pattern = Self.objectPattern(group.compiles) {
        let depfile = String(pattern.dropLast(2)) + ".d"
        plan.tasks.append(.init(
          name: name, comment: "\(group.compiles.count) compile\(group.compiles.count == 1 ? "" : "s") of make's, with a depfile added",
          foreach: group.compiles.map(\.source), outputs: [pattern], depfile: depfile,
          run: "\(cc) \(flags) -MD -MF \(depfile) -c {in} -o {out}"))
      } else {
        for c in group.compiles {
          plan.tasks.append(.init(
            name: InitPlan.name("compile-" + Paths.stem(c.source), taken: &taken), inputs: [c.source], outputs: [c.object],
            depfile: String(c.object.dropLast(2)) + ".d",
            run: "\(cc) \(flags) -MD -MF \(Self.quote(String(c.object.dropLast(2)) + ".d")) -c {in} -o {out}"))
        }
      }
    }
    for step in steps {
      plan.tasks.append(.init(name: InitPlan.name(step.name, taken: &taken), inputs: step.inputs, outputs: step.outputs,
                              run: step.run.map { ["&&", "{in}", "{out}"].contains($0) ? $0 : Self.quote($0) }.joined(separator: " ")))
    }
    let consumed = Set(steps.flatMap(\.inputs))
    plan.defaults = plan.tasks.filter { t in t.foreach == nil && !t.outputs.contains(where: consumed.contains) }.map(\.name)
    plan.notes = ["read \(compiles.count) compiles, \(steps.count) archive and link steps from `make -n -B`"]
    if !others.isEmpty {
      plan.notes.append("\(others.count) other command\(others.count == 1 ? "" : "s") not translated: listed at the end of kiln.yml")
      plan.trailer = ["Commands of `make -n -B` kiln init did not translate:"] + others.prefix(40).map { "  " + $0 }
    }
    return plan
  }

  /// A compile (`-c`, one source) with its flags, or nil.
  private static func compile(_ words: [String], _ at: (String) -> String) -> Compile? {
    guard words.contains("-c") else { return nil }
    var flags: [String] = []
    var source: String?
    var object: String?
    var i = 1
    while i < words.count {
      let w = words[i]
      switch w {
      case "-c", "-MD", "-MMD", "-MP": break
      case "-o", "-MF", "-MT", "-MQ":
        guard i + 1 < words.count else { return nil }
        if w == "-o" { object = words[i + 1] }
        i += 1
      default:
        if !w.hasPrefix("-"), isSource(w) {
          guard source == nil else { return nil }
          source = w
        } else {
          flags.append(w)
        }
      }
      i += 1
    }
    guard let source else { return nil }
    let obj = object ?? Paths.stem(source) + ".o"
    return Compile(compiler: words[0], flags: rewritingPathFlags(flags, at), source: at(source), object: at(obj))
  }

  /// `-Idir`, `-I dir`, `-isystem dir`, `-iquote dir`, `-Ldir` made relative to the root.
  private static func rewritingPathFlags(_ words: [String], _ at: (String) -> String) -> [String] {
    var out: [String] = []
    var i = 0
    while i < words.count {
      let w = words[i]
      if ["-I", "-isystem", "-iquote", "-L"].contains(w), i + 1 < words.count {
        out += [w, words[i + 1].hasPrefix("/") ? words[i + 1] : at(words[i + 1])]
        i += 2
        continue
      }
      if (w.hasPrefix("-I") || w.hasPrefix("-L")), w.count > 2, !w.dropFirst(2).hasPrefix("/") {
        out.append(String(w.prefix(2)) + at(String(w.dropFirst(2))))
      } else {
        out.append(w)
      }
      i += 1
    }
    return out
  }

  /// The output pattern every compile of the group follows, or nil.
  private static func objectPattern(_ compiles: [Compile]) -> String? {
    guard compiles.allSatisfy({ $0.object.hasSuffix(".o") }) else { return nil }
    let objectFolders = Set(compiles.map { Paths.parent($0.object) })
    if compiles.allSatisfy({ Paths.fileName($0.object) == Paths.stem($0.source) + ".o" }) {
      if objectFolders.count == 1, let folder = objectFolders.first {
        return folder.isEmpty ? "{stem}.o" : folder + "/{stem}.o"
      }
      if compiles.allSatisfy({ Paths.parent($0.object) == Paths.parent($0.source) }), compiles.allSatisfy({ !Paths.parent($0.source).isEmpty }) {
        return "{dir}/{stem}.o"
      }
    }
    return nil
  }

  /// A word as the shell reads it back (`Paths.shellQuote`), a flag's `=` left plain
  /// (`-std=gnu99`): only a first word's `=` means anything to the shell.
  static func quote(_ word: String) -> String {
    let withoutEquals = String(word.map { $0 == "=" ? "_" : $0 })
    return Paths.shellQuote(withoutEquals) == withoutEquals && !word.hasPrefix("=") ? word : Paths.shellQuote(word)
  }

  static func isCompiler(_ tool: String) -> Bool {
    let names = ["cc", "gcc", "clang", "c++", "g++", "clang++"]
    if names.contains(tool) { return true }
    for name in names where tool.hasSuffix("-" + name) || tool.hasPrefix(name + "-") { return true }
    return false
  }

  static func isCxx(_ compiler: String) -> Bool {
    let tool = Paths.fileName(compiler)
    return tool.contains("++")
  }

  static func isSource(_ word: String) -> Bool {
    [".c", ".cc", ".cpp", ".cxx", ".C", ".S", ".s", ".m"].contains { word.hasSuffix($0) }
  }

  private static func isObjectOrArchive(_ word: String) -> Bool {
    !word.hasPrefix("-") && (word.hasSuffix(".o") || word.hasSuffix(".a"))
  }

  private static func join(_ folder: String, _ path: String) -> String {
    if path.hasPrefix("/") || folder.isEmpty { return Paths.normalize(path) ?? path }
    return Paths.normalize(folder + "/" + path) ?? folder + "/" + path
  }

  /// make's "Entering directory 'X'" (or "Leaving").
  private static func directory(_ line: String, _ verb: String) -> String? {
    guard line.hasPrefix("make"), let range = line.firstRange(of: ": \(verb) directory '") else { return nil }
    let rest = line[range.upperBound...]
    return rest.hasSuffix("'") ? String(rest.dropLast()) : nil
  }

  /// The output's lines, continuations joined.
  private static func lines(_ text: String) -> [String] {
    var out: [String] = []
    var pending = ""
    for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if raw.hasSuffix("\\") {
        pending += raw.dropLast() + " "
        continue
      }
      let line = (pending + raw).trimmingCharacters(in: " \t")
      pending = ""
      if !line.isEmpty { out.append(line) }
    }
    return out
  }

  /// The words of a simple command (quotes honoured), or nil when it uses the shell
  /// beyond that (`&&`, `;`, `|`, redirections, substitutions, variables, globs).
  static func words(_ line: String) -> [String]? {
    var words: [String] = []
    var word = ""
    var inWord = false
    var quote: Character?
    var chars = line.makeIterator()
    while let c = chars.next() {
      if let q = quote {
        if c == q { quote = nil } else { word.append(c) }
        continue
      }
      switch c {
      case " ", "\t":
        if inWord { words.append(word) }
        word = ""
        inWord = false
      case "'", "\"":
        quote = c
        inWord = true
      case "\\":
        guard let next = chars.next() else { return nil }
        word.append(next)
        inWord = true
      case ";", "&", "|", "<", ">", "`", "$", "*", "?", "(", ")", "#":
        return nil
      default:
        word.append(c)
        inWord = true
      }
    }
    guard quote == nil else { return nil }
    if inWord { words.append(word) }
    return words.isEmpty ? nil : words
  }
}

extension String {
  fileprivate func trimmingCharacters(in set: String) -> String {
    var s = Substring(self)
    while let f = s.first, set.contains(f) { s = s.dropFirst() }
    while let l = s.last, set.contains(l) { s = s.dropLast() }
    return String(s)
  }
}

/// `kiln init` without a build system: the C and C++ sources under the folder (not in
/// hidden folders or ones named build, out, bin, dist, node_modules), a compile task
/// per language with a depfile, an archive of the objects that define no `main`, and a
/// program per source that does.
struct SourceSurvey {
  var root: String
  var fileSystem: any FileSystem

  static let skipped: Set<String> = ["build", "out", "bin", "dist", "node_modules", "target", "vendor"]

  func plan() -> InitPlan {
    var sources: [String] = []
    var headerFolders: [String] = []
    var pending = [""]
    while let folder = pending.popLast() {
      guard let names = fileSystem.contents(ofDirectory: Paths.join(root, folder)) else { continue }
      var hasHeader = false
      for name in names.sorted() where !name.hasPrefix(".") {
        let path = folder.isEmpty ? name : folder + "/" + name
        switch fileSystem.lstat(Paths.join(root, path))?.kind {
        case .directory?:
          if !Self.skipped.contains(name), pending.count + sources.count < 10_000 { pending.append(path) }
        case .file?:
          if [".c", ".cc", ".cpp", ".cxx"].contains(where: { name.hasSuffix($0) }) { sources.append(path) }
          if [".h", ".hh", ".hpp", ".hxx"].contains(where: { name.hasSuffix($0) }) { hasHeader = true }
        default: break
        }
      }
      if hasHeader { headerFolders.append(folder) }
    }
    var plan = InitPlan()
    guard !sources.isEmpty else { return plan }
    sources.sort()
    headerFolders.sort()
    let includes = headerFolders.prefix(16).map { "-I" + ($0.isEmpty ? "." : $0) }.joined(separator: " ")
    let withMain = sources.filter(definesMain)
    let cSources = sources.filter { $0.hasSuffix(".c") }
    let cxxSources = sources.filter { !$0.hasSuffix(".c") }
    let project = Paths.fileName(root).isEmpty ? "app" : Paths.fileName(root)
    plan.header = ["Written by kiln init from the C/C++ sources found here. A starting point: check it, then `kiln build`."]
    func object(_ source: String) -> String { "build/" + Self.withoutExtension(source) + ".o" }
    func globs(_ files: [String], _ ext: [String]) -> [String] {
      var out: [String] = []
      for folder in Set(files.map(Paths.parent)).sorted() {
        for e in ext where files.contains(where: { Paths.parent($0) == folder && $0.hasSuffix(e) }) {
          out.append((folder.isEmpty ? "" : folder + "/") + "*" + e)
        }
      }
      return out
    }
    if !cSources.isEmpty {
      plan.env += [("CC", "cc"), ("CFLAGS", "-O2 -Wall")]
      plan.tasks.append(.init(
        name: "compile", comment: "every .c file: headers found through the depfile", foreach: globs(cSources, [".c"]),
        outputs: ["build/{dir}/{stem}.o"], depfile: "build/{dir}/{stem}.d",
        run: "$CC $CFLAGS \(includes) -MD -MF build/{dir}/{stem}.d -c {in} -o {out}"))
    }
    if !cxxSources.isEmpty {
      plan.env += [("CXX", "c++"), ("CXXFLAGS", "-O2 -Wall")]
      plan.tasks.append(.init(
        name: "compile-cxx", comment: "every C++ file", foreach: globs(cxxSources, [".cc", ".cpp", ".cxx"]),
        outputs: ["build/{dir}/{stem}.o"], depfile: "build/{dir}/{stem}.d",
        run: "$CXX $CXXFLAGS \(includes) -MD -MF build/{dir}/{stem}.d -c {in} -o {out}"))
    }
    let linker = cxxSources.isEmpty ? "$CC" : "$CXX"
    let library = sources.filter { !withMain.contains($0) }
    var linkInputs: [String] = []
    if !library.isEmpty {
      plan.tasks.append(.init(
        name: "archive", comment: "the objects that define no main()",
        inputs: ["build/**/*.o"] + withMain.map { "!" + object($0) }, outputs: ["build/lib\(project).a"],
        run: "ar rcs {out} {in}"))
      linkInputs = ["build/lib\(project).a"]
    }
    plan.env.append(("LDLIBS", "-lm"))
    for main in withMain {
      var taken = Set(plan.tasks.map(\.name))
      let name = InitPlan.name(withMain.count == 1 ? "link" : "link-" + Paths.stem(main), taken: &taken)
      plan.tasks.append(.init(
        name: name, comment: "the program of \(main)", inputs: [object(main)] + linkInputs,
        outputs: ["bin/" + (withMain.count == 1 ? project : Paths.stem(main))], run: "\(linker) -o {out} {in} $LDLIBS"))
    }
    plan.defaults = withMain.isEmpty ? ["archive"] : plan.tasks.filter { $0.name.hasPrefix("link") }.map(\.name)
    let languages = [cSources.isEmpty ? nil : "\(cSources.count) C", cxxSources.isEmpty ? nil : "\(cxxSources.count) C++"]
    plan.notes = [
      "found \(languages.compactMap { $0 }.joined(separator: " and ")) source\(sources.count == 1 ? "" : "s"), headers in "
        + (headerFolders.isEmpty ? "no folder" : headerFolders.map { $0.isEmpty ? "." : $0 }.joined(separator: ", "))
        + ", main() in " + (withMain.isEmpty ? "none (a library)" : withMain.joined(separator: ", "))
    ]
    return plan
  }

  /// Whether the source defines `main` (a line that starts, after a return type, with
  /// `main(`): which objects make a program rather than the library.
  private func definesMain(_ source: String) -> Bool {
    guard let bytes = try? fileSystem.read(Paths.join(root, source)) else { return false }
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
      var text = Substring(line)
      while text.first == " " || text.first == "\t" { text = text.dropFirst() }
      for prefix in ["int main", "main", "void main"] where text.hasPrefix(prefix) {
        var rest = text.dropFirst(prefix.count)
        while rest.first == " " { rest = rest.dropFirst() }
        if rest.first == "(" { return true }
      }
    }
    return false
  }

  private static func withoutExtension(_ path: String) -> String {
    guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return path }
    return String(path[..<dot])
  }
}
