import ArgumentParser
import KilnSystem

#if canImport(Glibc)
import Glibc
#endif

/// `kiln init`: a starting kiln.yml for the project in the current folder, so a new
/// user starts from something that builds. What it reads, in order:
/// - a `build.ninja` (CMake's, Meson's): nothing is written; `kiln ninja` builds it as
///   it is, cached, which a translation could only do worse;
/// - a `Makefile`: the compile, archive and link commands `make -n -B` prints (each
///   folder's command run from the project root, paths rewritten), as one `foreach`
///   compile task per set of flags with a depfile added, and one task per archive and
///   program; other commands are listed in a comment, not translated;
/// - else the C and C++ sources and headers: one compile task per language, an archive
///   of the objects without `main`, and one program per file with a `main`.
/// It says what it found and what it wrote; an existing kiln.yml is kept unless
/// `--force`.
struct InitCommand: KilnSubcommand {
  static let configuration = CommandConfiguration(
    commandName: "init", abstract: "Write a starting kiln.yml for the project in this folder (from a Makefile or the C/C++ sources).")
  @Flag(help: "Replace an existing kiln.yml.") var force = false
  @Flag(help: "Print the kiln.yml instead of writing it.") var stdout = false

  func run(in context: Context) async throws {
    let folder = context.launch.directory
    let fs = context.fileSystem
    let target = Paths.join(folder, "kiln.yml")
    if !force, !stdout, fs.lstat(target) != nil {
      throw CLIError("kiln: init: kiln.yml already exists in \(folder) (kiln init --force replaces it)")
    }
    if fs.stat(Paths.join(folder, "build.ninja"))?.kind == .file {
      Terminal.line("kiln: init: \(folder) has a build.ninja: `kiln ninja` builds it as it is, incrementally and cached; no kiln.yml written")
      return
    }
    let written: InitPlan
    if let makefile = ["GNUmakefile", "makefile", "Makefile"].first(where: { fs.stat(Paths.join(folder, $0))?.kind == .file }) {
      let dry = await Command.run(["make", "-n", "-B"], in: folder, environment: context.environment)
      guard dry.succeeded else {
        throw CLIError("kiln: init: `make -n -B` failed in \(folder): \(dry.firstErrorLine)")
      }
      written = MakeTranslation(root: folder, dryRun: dry.text).plan(makefile: makefile)
    } else {
      written = SourceSurvey(root: folder, fileSystem: fs).plan()
    }
    guard !written.tasks.isEmpty else {
      throw CLIError("kiln: init: found nothing to build in \(folder) (no Makefile, build.ninja, or C/C++ sources)")
    }
    let text = written.yaml()
    if stdout {
      Terminal.write(text)
      return
    }
    do {
      try fs.writeAtomically(Array(text.utf8), to: target, permissions: 0o644)
    } catch {
      throw CLIError("kiln: init: cannot write \(target): \(error)")
    }
    for line in written.notes { Terminal.line("kiln: init: " + line) }
    Terminal.line("kiln: init: wrote kiln.yml (\(written.tasks.count) task\(written.tasks.count == 1 ? "" : "s")); run `kiln build`")
  }
}

/// What `kiln init` writes: tasks in order, and what it tells the user.
struct InitPlan {
  struct Task {
    var name: String
    var comment: String?
    var foreach: [String]?
    var inputs: [String] = []
    var outputs: [String]
    var depfile: String?
    var run: String
  }

  var header: [String] = []
  var env: [(String, String)] = []
  var defaults: [String] = []
  var tasks: [Task] = []
  var notes: [String] = []
  var trailer: [String] = []

  func yaml() -> String {
    var out = header.map { "# " + $0 }.joined(separator: "\n") + "\n"
    if !defaults.isEmpty { out += "default: [\(defaults.map(Self.quoted).joined(separator: ", "))]\n" }
    if !env.isEmpty {
      out += "env:\n" + env.map { "  \($0.0): \(Self.quoted($0.1))\n" }.joined()
    }
    out += "tasks:\n"
    for task in tasks {
      if let comment = task.comment { out += "  # \(comment)\n" }
      out += "  \(task.name):\n"
      if let foreach = task.foreach { out += Self.list("foreach", foreach) }
      if !task.inputs.isEmpty { out += Self.list("inputs", task.inputs) }
      out += task.outputs.count == 1 ? "    outputs: \(Self.quoted(task.outputs[0]))\n" : Self.list("outputs", task.outputs)
      if let depfile = task.depfile { out += "    depfile: \(Self.quoted(depfile))\n" }
      out += "    run: \(Self.quoted(task.run))\n"
    }
    if !trailer.isEmpty { out += "\n" + trailer.map { "# " + $0 }.joined(separator: "\n") + "\n" }
    return out
  }

  private static func list(_ key: String, _ items: [String]) -> String {
    let inline = "    \(key): [\(items.map(quoted).joined(separator: ", "))]\n"
    if inline.count <= 100 { return inline }
    return "    \(key):\n" + items.map { "      - \(quoted($0))\n" }.joined()
  }

  /// A YAML scalar: plain when YAML reads it back as the same string, else double-quoted.
  static func quoted(_ text: String) -> String {
    let plainSafe = !text.isEmpty && !text.contains(": ") && !text.contains(" #") && !text.hasSuffix(":")
      && !text.hasPrefix(" ") && !text.hasSuffix(" ")
      && !"*&!|>'\"%@`{[,-?#~".contains(text.first!) && !["true", "false", "yes", "no", "null", "on", "off"].contains(text.lowercased())
      && Double(text) == nil && !text.contains("\t")
    // A JSON string is a YAML double-quoted scalar.
    return plainSafe ? text : JSON.string(text)
  }

  /// A task name kiln accepts (letters, digits, `_`, `-`, `.`), unique in `taken`.
  static func name(_ wanted: String, taken: inout Set<String>) -> String {
    var base = String(wanted.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." ? $0 : "-" })
    if base.isEmpty { base = "task" }
    var name = base
    var n = 2
    while taken.contains(name) {
      name = "\(base)-\(n)"
      n += 1
    }
    taken.insert(name)
    return name
  }
}
