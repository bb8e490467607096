import Foundation
import KilnTestSupport
import Testing

/// The randomised differential test that guards the core (Shake, tup and ninja found
/// their worst bugs this way): a random DAG of cheap `sh` tasks over `src/*.txt`, then
/// rounds of random edits. After every incremental build, every file must equal both
/// a model of what the commands compute and a from-scratch build of the same sources
/// in a fresh directory with an empty cache; and exactly the tasks whose key is new
/// may have run (no needless run, early cutoff included, restores when a key was
/// seen before).
@Suite struct DifferentialTests {
  static let seeds: [UInt64] = [1, 2, 3, 4, 5]
  static let rounds = 60

  @Test(arguments: seeds)
  func incrementalEqualsFromScratch(seed: UInt64) throws {
    // Every recorded problem names the seed; so does an error thrown on the way.
    do {
      try run(seed: seed)
    } catch {
      Issue.record("seed \(seed): \(error)")
    }
  }

  func run(seed: UInt64) throws {
    var random = SplitMix64(seed: seed)
    var world = World(random: &random)
    let p = try TempProject()
    try world.writeAll(to: p)

    for round in 0...Self.rounds {
      var edits: [String] = []
      if round > 0 {
        for _ in 0..<Int.random(in: 1...2, using: &random) {
          edits.append(try world.applyRandomEdit(to: p, random: &random))
        }
      }
      let context = "seed \(seed), round \(round), edits: \(edits.joined(separator: "; "))"
      let before = world.runLines(in: p)
      let expected = world.evaluate()
      let r = try p.kiln("build")
      guard r.status == 0 else {
        Issue.record("\(context): kiln failed: \(r)\nkiln.yml:\n\(world.buildFile())")
        return
      }
      var problems: [String] = []

      // Exactly the instances with a key never built before ran; each at most once.
      let after = world.runLines(in: p)
      for task in world.tasks.indices {
        let ran = Array(after[task].dropFirst(before[task].count)).sorted()
        let shouldRun = expected.instances.filter { $0.task == task && world.mustRun($0) }.map(\.runLine).sorted()
        if ran != shouldRun {
          problems.append("\(world.tasks[task].name) ran \(ran), expected \(shouldRun)")
        }
      }

      // Every visible file is what the model says: sources, outputs, no stale ones.
      let actual = p.snapshot()
      if actual != expected.files {
        problems.append("files differ from the model:\n" + Self.difference(expected.files, actual, "model", "incremental"))
      }

      // A from-scratch build of the same sources, elsewhere, with its own empty cache.
      let scratch = try p.clone(sharingCache: false)
      let clean = try scratch.kiln("build")
      if clean.status != 0 {
        problems.append("the from-scratch build failed: \(clean)")
      } else {
        let scratchFiles = scratch.snapshot()
        if scratchFiles != actual {
          problems.append("incremental differs from scratch:\n" + Self.difference(scratchFiles, actual, "scratch", "incremental"))
        }
        for task in world.tasks.indices {
          let ran = scratch.runLines(world.tasks[task].name).sorted()
          let all = expected.instances.filter { $0.task == task }.map(\.runLine).sorted()
          if ran != all { problems.append("scratch: \(world.tasks[task].name) ran \(ran), expected \(all)") }
        }
      }

      if !problems.isEmpty {
        Issue.record("\(context):\n\(problems.joined(separator: "\n"))\nkiln output:\n\(r)\nkiln.yml:\n\(world.buildFile())")
        return
      }
      world.built(expected)
    }
  }

  static func difference(_ a: [String: [UInt8]], _ b: [String: [UInt8]], _ nameA: String, _ nameB: String) -> String {
    var lines: [String] = []
    for path in Set(a.keys).union(b.keys).sorted() where a[path] != b[path] {
      func show(_ bytes: [UInt8]?) -> String { bytes.map { String(reflecting: String(decoding: $0, as: UTF8.self)) } ?? "(absent)" }
      lines.append("  \(path): \(nameA) \(show(a[path])), \(nameB) \(show(b[path]))")
    }
    return lines.joined(separator: "\n")
  }
}

// MARK: - The model

/// A text filter with a shell spelling and the same function in Swift.
enum Filter: Hashable, CustomStringConvertible {
  case cat
  case deleteSpaces
  case squeezeSpaces
  case map(Character, Character)
  case expand(Character, Character)
  case sort
  case head(Int)
  case lineCount
  case uniq

  var description: String {
    switch self {
    case .cat: "cat"
    case .deleteSpaces: "tr -d ' '"
    case .squeezeSpaces: "tr -s ' '"
    case .map(let x, let y): "tr \(x) \(y)"
    case .expand(let x, let y): "sed s/\(x)/\(y)\(y)/g"
    case .sort: "LC_ALL=C sort"
    case .head(let n): "head -n \(n)"
    case .lineCount: "wc -l"
    case .uniq: "uniq"
    }
  }

  static func random(using random: inout SplitMix64) -> Filter {
    let letters = Array(World.letters)
    let x = letters.randomElement(using: &random)!
    let y = letters.filter { $0 != x }.randomElement(using: &random)!
    switch Int.random(in: 0..<9, using: &random) {
    case 0: return .cat
    case 1: return .deleteSpaces
    case 2: return .squeezeSpaces
    case 3: return .map(x, y)
    case 4: return .expand(x, y)
    case 5: return .sort
    case 6: return .head(Int.random(in: 1...2, using: &random))
    case 7: return .lineCount
    default: return .uniq
    }
  }

  func apply(_ input: [UInt8]) -> [UInt8] {
    let space = UInt8(ascii: " ")
    switch self {
    case .cat: return input
    case .deleteSpaces: return input.filter { $0 != space }
    case .squeezeSpaces:
      var out: [UInt8] = []
      for b in input where !(b == space && out.last == space) { out.append(b) }
      return out
    case .map(let x, let y):
      return input.map { $0 == x.asciiValue! ? y.asciiValue! : $0 }
    case .expand(let x, let y):
      return input.flatMap { $0 == x.asciiValue! ? [y.asciiValue!, y.asciiValue!] : [$0] }
    case .sort:
      return Self.lines(input).sorted { $0.lexicographicallyPrecedes($1) }.flatMap { $0 + [10] }
    case .head(let n):
      return Self.lines(input).prefix(n).flatMap { $0 + [10] }
    case .lineCount:
      return Array("\(input.filter { $0 == 10 }.count)\n".utf8)
    case .uniq:
      var out: [[UInt8]] = []
      for line in Self.lines(input) where out.last != line { out.append(line) }
      return out.flatMap { $0 + [10] }
    }
  }

  /// Lines without their newline (every file in this test ends with one).
  static func lines(_ bytes: [UInt8]) -> [[UInt8]] {
    var result = bytes.split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
    if result.last?.isEmpty == true { result.removeLast() }
    return result
  }
}

/// Where a task's inputs come from.
enum Source: Hashable {
  /// `src/*.txt`
  case sources
  /// `tJ/*.txt`: every output of the foreach task J
  case each(Int)
  /// `tJ.txt`: the one output of task J
  case single(Int)

  var pattern: String {
    switch self {
    case .sources: "src/*.txt"
    case .each(let j): "t\(j)/*.txt"
    case .single(let j): "t\(j).txt"
    }
  }
}

/// One task of the random build file.
struct TaskModel {
  enum Kind {
    /// One instance per match; outputs `tI/{stem}.txt`.
    case foreach(Source)
    /// `inputs:` globs, all concatenated then filtered into `tI.txt`.
    case concat([Source])
    /// `deps: [tJ]`: the command reads tJ's outputs itself (a shell glob for a foreach
    /// task, so a stale output left in tJ/ would show).
    case deps(Int)
  }
  var index: Int
  var kind: Kind
  var filter: Filter
  var style: CommandStyle

  var name: String { "t\(index)" }

  /// What the command appends to `.runs/tI` for an instance with item `item` (nil
  /// without foreach) and output `output`.
  func runLine(item: String?, output: String) -> String {
    style.runLine(logged: item ?? "x", output: output)
  }
  var isForeach: Bool { if case .foreach = kind { true } else { false } }

  func yaml(_ tasks: [TaskModel]) -> String {
    let q = Fixture.quoted
    var lines = ["  \(name):"]
    let log = ".runs/\(name)"
    switch kind {
    case .foreach(let source):
      lines.append("    foreach: \(q(source.pattern))")
      lines.append("    outputs: \(q("\(name)/{stem}.txt"))")
      lines.append("    run: \(q(style.command(logged: "{in}", log: log, produce: "\(filter) < {in}")))")
    case .concat(let sources):
      lines.append("    inputs: [\(sources.map { q($0.pattern) }.joined(separator: ", "))]")
      lines.append("    outputs: \(q("\(name).txt"))")
      lines.append("    run: \(q(style.command(logged: "x", log: log, produce: "cat /dev/null {in} | \(filter)")))")
    case .deps(let j):
      lines.append("    deps: [t\(j)]")
      lines.append("    outputs: \(q("\(name).txt"))")
      let read = tasks[j].isForeach
        ? "for f in t\(j)/*.txt; do if [ -f \"$f\" ]; then cat \"$f\"; fi; done | \(filter)"
        : "\(filter) < t\(j).txt"
      lines.append("    run: \(q(style.command(logged: "x", log: log, produce: read)))")
    }
    return lines.joined(separator: "\n")
  }
}

/// How a task's command is spelled: the same work (log a line, write the filtered
/// input to `{out}`) around shell brace text that placeholder substitution must leave
/// alone one character at a time, so that every placeholder in it is still replaced
/// (issue 12: `{ ...; sha256sum < {in}; } > {out}` once ran with a literal `{in}`).
/// `/bin/sh` may be dash (no `{a,b}` expansion) or bash: every style below means the
/// same to both.
enum CommandStyle: CaseIterable, Hashable {
  /// `echo L >> log && P > {out}`
  case plain
  /// `{ echo L >> log; P; } > {out}`: a shell brace group around placeholders.
  case braceGroup
  /// `{ { echo L >> log; }; { P; } > {out}; }`: brace groups inside a brace group.
  case nestedBraceGroups
  /// Shell variables `${in}`, `${O}` and `${O:-{out}}` beside the placeholders.
  case shellVariables
  /// `{a,b}` and a lone `{` in a quoted word before the placeholders.
  case braceWords
  /// Braces around placeholders: `{{out}}` logs `{t1.txt}`.
  case bracedPlaceholders

  static func random(using random: inout SplitMix64) -> CommandStyle {
    allCases.randomElement(using: &random)!
  }

  /// The `run:` text: logs `logged` (`{in}` or `x`) to `log`, writes `produce`'s
  /// standard output to `{out}`.
  func command(logged l: String, log: String, produce p: String) -> String {
    switch self {
    case .plain: "echo \(l) >> \(log) && \(p) > {out}"
    case .braceGroup: "{ echo \(l) >> \(log); \(p); } > {out}"
    case .nestedBraceGroups: "{ { echo \(l) >> \(log); }; { \(p); } > {out}; }"
    case .shellVariables: "in=\(l); O={out}; echo \"${in}\" >> \(log) && \(p) > \"${O:-{out}}\""
    case .braceWords: "echo 'v{a,b}' '{' \(l) >> \(log) && \(p) > {out}"
    case .bracedPlaceholders: "echo {\(l)} {{out}} >> \(log) && \(p) > {out}"
    }
  }

  /// The line `command(logged:log:produce:)` appends to the log, placeholders replaced.
  func runLine(logged: String, output: String) -> String {
    switch self {
    case .plain, .braceGroup, .nestedBraceGroups, .shellVariables: logged
    case .braceWords: "v{a,b} { \(logged)"
    case .bracedPlaceholders: "{\(logged)} {\(output)}"
    }
  }
}

/// One task instance as the model computes it.
struct ModelInstance {
  var task: Int
  var id: String
  /// What the command appends to `.runs/tI` (`TaskModel.runLine(item:output:)`).
  var runLine: String
  var output: String
  var key: String
}

/// The sources, the build file, and what kiln has built so far, as the test sees them.
struct World {
  static let letters = "abcde"
  static let names = ["a", "b", "c", "d", "ab", "ba", "e"]

  var tasks: [TaskModel] = []
  var sources: [String: [UInt8]] = [:]
  /// Every content each source name ever had, for edits that go back to one.
  var history: [String: [[UInt8]]] = [:]
  /// The key of each instance at its last successful build, by instance id.
  var lastKey: [String: String] = [:]
  /// Every key ever built in the project's cache.
  var cachedKeys: Set<String> = []
  var lastOutputs: [String] = []

  init(random: inout SplitMix64) {
    let count = Int.random(in: 4...8, using: &random)
    for i in 0..<count {
      let foreachTasks = tasks.filter(\.isForeach).map(\.index)
      let singleTasks = tasks.filter { !$0.isForeach }.map(\.index)
      func randomSource() -> Source {
        var choices: [Source] = [.sources]
        choices += foreachTasks.map(Source.each)
        choices += singleTasks.map(Source.single)
        return choices.randomElement(using: &random)!
      }
      let kind: TaskModel.Kind
      switch i == 0 ? 0 : Int.random(in: 0..<3, using: &random) {
      case 0:
        let from: [Source] = [.sources] + foreachTasks.map(Source.each)
        kind = .foreach(from.randomElement(using: &random)!)
      case 1:
        var picked: [Source] = []
        for _ in 0..<Int.random(in: 1...3, using: &random) {
          let s = randomSource()
          if !picked.contains(s) { picked.append(s) }
        }
        kind = .concat(picked)
      default:
        kind = .deps(Int.random(in: 0..<i, using: &random))
      }
      tasks.append(TaskModel(index: i, kind: kind, filter: .random(using: &random), style: .random(using: &random)))
    }
    for name in Self.names.shuffled(using: &random).prefix(Int.random(in: 2...4, using: &random)) {
      setSource("src/\(name).txt", Self.randomText(&random))
    }
  }

  static func randomText(_ random: inout SplitMix64) -> [UInt8] {
    var text = ""
    for _ in 0..<Int.random(in: 0...4, using: &random) {
      text += randomLine(&random) + "\n"
    }
    return Array(text.utf8)
  }

  static func randomLine(_ random: inout SplitMix64) -> String {
    let alphabet = Array(letters + "  ")
    return String((0..<Int.random(in: 0...6, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
  }

  mutating func setSource(_ path: String, _ bytes: [UInt8]) {
    sources[path] = bytes
    history[path, default: []].append(bytes)
  }

  func buildFile() -> String {
    "tasks:\n" + tasks.map { $0.yaml(tasks) }.joined(separator: "\n") + "\n"
  }

  func writeAll(to p: TempProject) throws {
    try p.write("kiln.yml", buildFile())
    for (path, bytes) in sources { try p.write(path, bytes: bytes) }
  }

  func runLines(in p: TempProject) -> [[String]] {
    tasks.map { p.runLines($0.name) }
  }

  /// What a correct build yields: every instance with its key, and every visible file.
  func evaluate() -> (instances: [ModelInstance], files: [String: [UInt8]]) {
    var files = sources
    files["kiln.yml"] = Array(buildFile().utf8)
    var outputsOf: [[String]] = Array(repeating: [], count: tasks.count)
    var instances: [ModelInstance] = []

    func matches(_ source: Source) -> [String] {
      switch source {
      case .sources:
        return files.keys.filter { $0.hasPrefix("src/") && $0.hasSuffix(".txt") && $0.dropFirst(4).firstIndex(of: "/") == nil }.sorted()
      case .each(let j), .single(let j):
        return outputsOf[j].sorted()
      }
    }
    func key(_ task: TaskModel, _ item: String?, _ inputs: [String]) -> String {
      var text = "\(task.name)|\(task.filter)|\(task.style)|\(item ?? "-")"
      for path in inputs.sorted() { text += "|\(path)=\(files[path]!.map(String.init).joined(separator: ","))" }
      return text
    }

    for task in tasks {
      switch task.kind {
      case .foreach(let source):
        for item in matches(source) {
          let stem = String(item.split(separator: "/").last!.dropLast(4))
          let output = "\(task.name)/\(stem).txt"
          let k = key(task, item, [item])
          files[output] = task.filter.apply(files[item]!)
          outputsOf[task.index].append(output)
          instances.append(ModelInstance(task: task.index, id: "\(task.name) \(item)", runLine: task.runLine(item: item, output: output), output: output, key: k))
        }
      case .concat(let sources):
        var inputs: [String] = []
        for source in sources { for path in matches(source) where !inputs.contains(path) { inputs.append(path) } }
        let output = "\(task.name).txt"
        let k = key(task, nil, inputs)
        files[output] = task.filter.apply(inputs.flatMap { files[$0]! })
        outputsOf[task.index] = [output]
        instances.append(ModelInstance(task: task.index, id: task.name, runLine: task.runLine(item: nil, output: output), output: output, key: k))
      case .deps(let j):
        let inputs = outputsOf[j].sorted()
        let output = "\(task.name).txt"
        let k = key(task, nil, inputs)
        files[output] = task.filter.apply(inputs.flatMap { files[$0]! })
        outputsOf[task.index] = [output]
        instances.append(ModelInstance(task: task.index, id: task.name, runLine: task.runLine(item: nil, output: output), output: output, key: k))
      }
    }
    return (instances, files)
  }

  /// Whether kiln must run the instance: its key is neither its last one (up to date)
  /// nor one the cache holds (restored).
  func mustRun(_ instance: ModelInstance) -> Bool {
    lastKey[instance.id] != instance.key && !cachedKeys.contains(instance.key)
  }

  mutating func built(_ result: (instances: [ModelInstance], files: [String: [UInt8]])) {
    lastKey = [:]
    for instance in result.instances {
      lastKey[instance.id] = instance.key
      cachedKeys.insert(instance.key)
    }
    lastOutputs = result.instances.map(\.output)
  }

  /// Applies one random edit to the project and the model; returns what it did.
  mutating func applyRandomEdit(to p: TempProject, random: inout SplitMix64) throws -> String {
    let present = sources.keys.filter { $0.hasSuffix(".txt") }.sorted()
    let absent = Self.names.map { "src/\($0).txt" }.filter { sources[$0] == nil }
    let pick = present.randomElement(using: &random)
    switch Int.random(in: 0..<11, using: &random) {
    case 0 where pick != nil:
      setSource(pick!, Self.randomText(&random))
      try p.write(pick!, bytes: sources[pick!]!)
      return "rewrite \(pick!)"
    case 1 where pick != nil:
      // Whitespace only: `tr -d ' '` and friends cut off right after.
      var lines = Filter.lines(sources[pick!]!)
      if lines.isEmpty { lines = [[]] }
      let i = Int.random(in: 0..<lines.count, using: &random)
      lines[i].insert(UInt8(ascii: " "), at: Int.random(in: 0...lines[i].count, using: &random))
      setSource(pick!, lines.flatMap { $0 + [10] })
      try p.write(pick!, bytes: sources[pick!]!)
      return "whitespace in \(pick!)"
    case 2 where pick != nil:
      setSource(pick!, sources[pick!]! + Array((Self.randomLine(&random) + "\n").utf8))
      try p.write(pick!, bytes: sources[pick!]!)
      return "append to \(pick!)"
    case 3 where pick != nil:
      let seconds = [0.0, 3600, -3600].randomElement(using: &random)!
      try p.touch(pick!, secondsFromNow: seconds)
      return "touch \(pick!) (\(seconds))"
    case 4 where present.count > 1:
      sources[pick!] = nil
      p.remove(pick!)
      return "delete \(pick!)"
    case 5 where !absent.isEmpty:
      let path = absent.randomElement(using: &random)!
      // Half the time a name comes back with what it held before: a cache hit.
      let old = history[path]?.randomElement(using: &random)
      let bytes = old != nil && Bool.random(using: &random) ? old! : Self.randomText(&random)
      setSource(path, bytes)
      try p.write(path, bytes: bytes)
      return "add \(path)"
    case 6:
      // A file no glob matches: nothing may run.
      let path = "src/notes-\(Int.random(in: 0..<3, using: &random)).md"
      let bytes = Self.randomText(&random)
      sources[path] = bytes
      try p.write(path, bytes: bytes)
      return "write \(path)"
    case 7, 8:
      let i = Int.random(in: 0..<tasks.count, using: &random)
      if Bool.random(using: &random) {
        tasks[i].filter = .random(using: &random)
      } else {
        tasks[i].style = .random(using: &random)
      }
      try p.write("kiln.yml", buildFile())
      return "\(tasks[i].name) now runs \(tasks[i].filter), spelled \(tasks[i].style)"
    case 9 where !lastOutputs.isEmpty:
      let path = lastOutputs.randomElement(using: &random)!
      p.remove(path)
      return "delete output \(path)"
    case 10 where pick != nil && (history[pick!]?.count ?? 0) > 1:
      let bytes = history[pick!]!.randomElement(using: &random)!
      setSource(pick!, bytes)
      try p.write(pick!, bytes: bytes)
      return "revert \(pick!)"
    default:
      try p.touch("kiln.yml", secondsFromNow: 0)
      return "touch kiln.yml"
    }
  }
}
