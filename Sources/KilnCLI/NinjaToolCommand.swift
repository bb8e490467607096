import KilnCore
import KilnEngine
import KilnNinja
import KilnStore
import KilnSystem

/// `kiln ninja -t TOOL [ARGS]`: the ninja tools CMake, Meson and editors run, over the
/// parsed manifest (`NinjaTools`), and over kiln's manifest where ninja reads its logs:
/// `deps` prints what depfiles discovered as kiln recorded it, and `clean` deletes only
/// what kiln wrote and still holds what it wrote (`OwnedOutputs`).
struct NinjaToolCommand {
  /// The tools kiln has, in `-t list`'s order, with what each does.
  static let tools: [(name: String, summary: String)] = [
    ("clean", "delete the files the build wrote"),
    ("commands", "print the commands that build the targets"),
    ("inputs", "print the inputs the targets are built from"),
    ("deps", "print the dependencies depfiles named, as kiln recorded them"),
    ("query", "print a path's inputs and the outputs using it"),
    ("targets", "print targets by depth in the graph or by rule"),
    ("compdb", "print a JSON compilation database"),
    ("recompact", "accepted; does nothing (kiln keeps no .ninja_log)"),
    ("restat", "accepted; does nothing (kiln keeps no .ninja_log)"),
    ("cleandead", "accepted; does nothing (kiln keeps no .ninja_log)"),
  ]

  /// ninja's tools that kiln does not have.
  static let missing: Set<String> = ["browse", "graph", "missingdeps", "rules", "urtle", "msvc", "wincodepage"]

  let tool: String
  let arguments: [String]
  /// `-n`: `clean` says what it would delete and deletes nothing.
  var dryRun = false
  /// `-v`: `clean` names every file it deletes (a dry run always does, as ninja's).
  var verbose = false
  /// The caller holds the checkout's lock (`kiln ninja clean`, whose edge runs this
  /// tool): `clean` does not take it again.
  var holdingLock = false

  func run(in context: Context) throws {
    if tool == "list" {
      Terminal.write("ninja subtools:\n" + Self.tools.map { pad($0.name) + "  " + $0.summary + "\n" }.joined())
      return
    }
    // What CMake and Meson run after writing build.ninja: they tend ninja's own logs,
    // which kiln does not keep; its manifest needs neither.
    if ["recompact", "restat", "cleandead"].contains(tool) { return }
    guard Self.tools.contains(where: { $0.name == tool }) else {
      throw CLIError(Self.missing.contains(tool) ? "kiln ninja: -t \(tool) is not supported" : "kiln ninja: unknown tool '\(tool)'")
    }
    let directory = context.launch.directory
    let file = context.launch.buildFile ?? "build.ninja"
    let manifest: NinjaManifest
    do { manifest = try NinjaParser(fileSystem: context.fileSystem, directory: directory).parse(file) } catch {
      throw CLIError("kiln: \(error)")
    }
    let tools = NinjaTools(manifest)
    do {
      switch tool {
      case "targets": Terminal.write(try tools.targets(arguments))
      case "query": Terminal.write(try tools.query(arguments))
      case "inputs":
        guard let options = try options("h", long: ["--help": "h"]) else { return }
        Terminal.write(try tools.inputs(options.operands))
      case "commands":
        guard let options = try options("hs") else { return }
        Terminal.write(try tools.commands(options.operands, single: options.flags.contains("s")))
      case "compdb":
        guard let options = try options("hx") else { return }
        let entries = tools.compilationDatabase(rules: options.operands, expandingRspfiles: options.flags.contains("x"))
        Terminal.write(Self.compilationDatabase(entries, directory: directory))
      case "deps":
        let state = Context(context.launch, root: directory, buildFile: file)
        Terminal.write(NinjaTools.deps(try dependencies(tools.depsOutputs(arguments), named: !arguments.isEmpty, in: state)))
      default:
        guard let options = try options("hgr") else { return }
        let paths = try tools.cleaning(targets: options.operands, rules: options.flags.contains("r"),
                                       generator: options.flags.contains("g"))
        try clean(paths, in: Context(context.launch, root: directory, buildFile: file))
      }
    } catch let error as NinjaToolError {
      throw CLIError("kiln ninja: \(error)")
    }
  }

  private func pad(_ name: String) -> String { String(repeating: " ", count: max(0, 11 - name.count)) + name }

  // MARK: - Options

  /// The tool's arguments read as ninja's getopt reads them: letters of `letters`
  /// anywhere before `--`, alone or grouped; the rest are operands. nil: `-h` was given,
  /// and the usage printed.
  private func options(_ letters: String, long: [String: Character] = [:]) throws -> (flags: Set<Character>, operands: [String])? {
    var flags = Set<Character>()
    var operands: [String] = []
    var rest = arguments[...]
    while let argument = rest.popFirst() {
      if argument == "--" { operands += rest; break }
      if let letter = long[argument] {
        flags.insert(letter)
      } else if argument.hasPrefix("-"), argument.count > 1, !argument.hasPrefix("--") {
        for letter in argument.dropFirst() {
          guard letters.contains(letter) else { throw CLIError("kiln ninja: -t \(tool): unknown option '-\(letter)'") }
          flags.insert(letter)
        }
      } else if argument.hasPrefix("--") {
        throw CLIError("kiln ninja: -t \(tool): unknown option '\(argument)'")
      } else {
        operands.append(argument)
      }
    }
    if flags.contains("h") {
      Terminal.write(usage)
      return nil
    }
    return (flags, operands)
  }

  private var usage: String {
    switch tool {
    case "inputs": "usage: kiln ninja -t inputs [TARGET...]\n  every input the targets are built from, sorted\n"
    case "commands": "usage: kiln ninja -t commands [-s] [TARGET...]\n  -s  only the targets' own commands, not those building their inputs\n"
    case "compdb": "usage: kiln ninja -t compdb [-x] [RULE...]\n  -x  put the content of @RSPFILE response files into the commands\n"
    default:
      "usage: kiln ninja -t clean [-g] [-r] [TARGET...]\n  -g  clean generator outputs too\n  -r  the arguments are rules, not targets\n"
    }
  }

  // MARK: - compdb

  /// The entries as ninja lays out a compilation database.
  static func compilationDatabase(_ entries: [NinjaTools.CompilationEntry], directory: String) -> String {
    let items = entries.map { entry in
      "\n  {\n    \"directory\": \(JSON.string(directory)),\n    \"command\": \(JSON.string(entry.command)),"
        + "\n    \"file\": \(JSON.string(entry.file)),\n    \"output\": \(JSON.string(entry.output))\n  }"
    }
    return "[" + items.joined(separator: ",") + "\n]\n"
  }

  // MARK: - deps

  /// Per output, what kiln's manifest recorded its depfile naming: the discovered
  /// inputs (those the edge does not name itself), the mtime the output had when kiln
  /// last hashed it, VALID while it still holds what kiln recorded. Unnamed (every
  /// output), only those with such a record.
  private func dependencies(_ outputs: [String], named: Bool, in state: Context) throws -> [NinjaTools.DepsEntry] {
    let session = try Session(state)
    var records: [String: TaskRecord] = [:]
    for record in session.records.values where record.depfile != nil {
      for output in record.declaredOutputs { records[output] = record }
    }
    let owned = session.ownedOutputs
    return outputs.compactMap { output in
      let path = NinjaGraph.relative(output, to: state.root)
      guard let record = records[path] else { return named ? NinjaTools.DepsEntry(output: output, dependencies: nil) : nil }
      let entry = record.outputs.first { $0.path == path }
      return NinjaTools.DepsEntry(
        output: output, dependencies: record.discovered.map(\.path), mtime: session.statEntries[path]?.mtime ?? 0,
        valid: entry.map { owned.state(of: $0) == .asRecorded } ?? false)
    }
  }

  // MARK: - clean

  /// Deletes each of `paths` (ninja's, in ninja's order) that kiln's manifest records
  /// writing and that still holds what kiln wrote, and says how many; names on stderr
  /// each one that is there and is kept.
  private func clean(_ paths: [String], in state: Context) throws {
    let lock = dryRun || holdingLock ? nil : try state.lockCheckout(create: false)
    defer { withExtendedLifetime(lock) {} }
    let session = try Session(state)
    let owned = session.ownedOutputs
    let written = Self.writtenFiles(session.records)
    let fs = state.fileSystem
    var removed: [String] = []
    var count = 0
    var text = ""
    let naming = verbose || dryRun
    // One line for these: after a build by ninja itself, that is every output.
    var unrecorded: [String] = []
    for output in paths {
      let path = NinjaGraph.relative(output, to: state.root)
      guard let entries = written[path] else {
        if fs.lstat(Paths.join(state.root, path)) != nil { unrecorded.append(output) }
        continue
      }
      var found: OwnedOutputs.State
      if dryRun {
        found = owned.state(of: entries[0])
        if found == .asRecorded, entries[0].kind == .directory, !Self.holdsOnly(entries, owned: owned, in: state) {
          found = .notEmpty
        }
      } else {
        // Inside a folder output first, deepest first; then the output itself.
        found = .absent
        for entry in entries.reversed() {
          found = owned.remove(entry)
          if found == .asRecorded { removed.append(entry.path) }
        }
      }
      switch found {
      case .asRecorded:
        count += 1
        if naming { text += "Remove \(output)\n" }
      case .absent: break
      case .changed: Terminal.error("kiln ninja: clean: kept \(output): changed since kiln wrote it")
      case .notEmpty: Terminal.error("kiln ninja: clean: kept the folder \(output): it holds files kiln did not write")
      case .outside:
        // Said only when something is there (through the link, if one), as for any kept file.
        if fs.stat(Paths.join(state.root, path)) != nil {
          Terminal.error("kiln ninja: clean: kept \(output): outside the build folder or behind a symbolic link")
        }
      case .undeletable: Terminal.error("kiln ninja: clean: could not delete \(output)")
      }
    }
    if let first = unrecorded.first {
      Terminal.error(unrecorded.count == 1
        ? "kiln ninja: clean: kept \(first): kiln's manifest does not record writing it"
        : "kiln ninja: clean: kept \(unrecorded.count) files kiln's manifest does not record writing, \(first) the first")
    }
    Terminal.write(naming ? "Cleaning...\n\(text)\(count) files.\n" : "Cleaning... \(count) files.\n")
    // Forgotten by the stat cache too, as `kiln clean` does; the records stay, as
    // ninja's deps log does: the next build sees the outputs missing.
    let forget = removed.filter { session.statEntries[$0] != nil }
    if !dryRun, !forget.isEmpty {
      let manifest = try session.manifest
      try manifest.begin()
      for path in forget { try manifest.deleteStat(path) }
      try manifest.commit()
    }
  }

  /// Whether a folder output (the first of `entries`) holds nothing but what kiln
  /// recorded below it, each still as recorded: what a dry run counts as deletable.
  private static func holdsOnly(_ entries: [OutputEntry], owned: OwnedOutputs, in state: Context) -> Bool {
    let recorded = Set(entries.map(\.path))
    for entry in entries where entry.kind == .directory {
      for name in state.fileSystem.contents(ofDirectory: Paths.join(state.root, entry.path)) ?? [] {
        guard recorded.contains(entry.path + "/" + name) else { return false }
      }
    }
    return entries.dropFirst().allSatisfy { [.asRecorded, .absent].contains(owned.state(of: $0)) }
  }

  /// Every file kiln recorded writing, by the output path it belongs to: a declared
  /// output with, for a folder, what kiln recorded below it; a depfile whose digest
  /// kiln took when the command wrote it.
  static func writtenFiles(_ records: [TaskID: TaskRecord]) -> [String: [OutputEntry]] {
    var written: [String: [OutputEntry]] = [:]
    for record in records.values {
      for entry in record.outputs {
        let owner = record.declaredOutputs.first { entry.path == $0 || entry.path.hasPrefix($0 + "/") } ?? entry.path
        written[owner, default: []].append(entry)
      }
      if let depfile = record.depfile, let digest = record.depfileDigest, written[depfile] == nil {
        written[depfile] = [OutputEntry(path: depfile, kind: .file, permissions: 0o644, digest: digest)]
      }
    }
    return written
  }
}

extension NinjaToolCommand {
  /// ninja's options that take a value, whose value is never read as `-t`.
  private static let valued: Set<String> = ["-C", "-f", "-j", "-k", "-l", "-d", "-w"]

  /// The command line with what follows `kiln ninja ... -t TOOL` moved behind `--`: as
  /// in ninja, `-t TOOL` ends ninja's options and the rest is the tool's (`-t clean
  /// -g`, `-t compdb -x cc`), never kiln's (`-C`, `-f`) or the subcommand's. `-tTOOL`
  /// is `-t TOOL`. Any other command line is returned as it is.
  static func separatingToolArguments(_ arguments: [String]) -> [String] {
    var i = arguments.startIndex
    // kiln's own options before the subcommand.
    while i < arguments.endIndex, arguments[i].hasPrefix("-"), arguments[i] != "--" {
      i += arguments[i] == "-C" || arguments[i] == "-f" ? 2 : 1
    }
    guard i < arguments.endIndex, arguments[i] == "ninja" else { return arguments }
    i += 1
    while i < arguments.endIndex, arguments[i] != "--" {
      let argument = arguments[i]
      var head: [String]
      var rest: ArraySlice<String>
      if argument == "-t", i + 1 < arguments.endIndex {
        head = Array(arguments[...(i + 1)])
        rest = arguments[(i + 2)...]
      } else if argument.hasPrefix("-t"), argument.count > 2 {
        head = Array(arguments[..<i]) + ["-t", String(argument.dropFirst(2))]
        rest = arguments[(i + 1)...]
      } else {
        i += valued.contains(argument) ? 2 : 1
        continue
      }
      if !rest.isEmpty { head += ["--"] + rest }
      return head
    }
    return arguments
  }
}
