import ArgumentParser
import KilnCore
import KilnEngine
import KilnStore
import KilnSystem

struct TasksCommand: KilnSubcommand {
  static let configuration = CommandConfiguration(commandName: "tasks", abstract: "List every task instance.")

  func run(in context: Context) async throws {
    try context.requireBuildFile()
    let session = try Session(context, readOnly: true)
    let graph = try session.graph()
    var text = ""
    for instance in graph.instances {
      text += instance.id.description
      if !instance.outputs.isEmpty { text += "  -> " + instance.outputs.joined(separator: " ") }
      text += "\n"
    }
    Terminal.write(text)
  }
}

struct GraphCommand: KilnSubcommand {
  static let configuration = CommandConfiguration(commandName: "graph", abstract: "Print the task graph (--dot for Graphviz).")
  @Flag(help: "Graphviz dot output.") var dot = false

  func run(in context: Context) async throws {
    try context.requireBuildFile()
    let session = try Session(context, readOnly: true)
    let graph = try session.graph()
    var text = ""
    if dot {
      text += "digraph kiln {\n  rankdir=LR;\n  node [shape=box];\n"
      for (i, instance) in graph.instances.enumerated() {
        text += "  \(JSON.string(instance.id.description));\n"
        for d in graph.dependencies[i] {
          text += "  \(JSON.string(graph[d].id.description)) -> \(JSON.string(instance.id.description));\n"
        }
      }
      text += "}\n"
    } else {
      for (i, instance) in graph.instances.enumerated() {
        let deps = graph.dependencies[i].map { graph[$0].id.description }
        text += instance.id.description + (deps.isEmpty ? "" : " <- " + deps.joined(separator: ", ")) + "\n"
      }
    }
    Terminal.write(text)
  }
}

struct CleanCommand: KilnSubcommand {
  static let configuration = CommandConfiguration(
    commandName: "clean", abstract: "Delete the declared outputs of the named tasks (default: all); never anything undeclared.")
  @Argument(help: "Tasks to clean.") var tasks: [String] = []

  func run(in context: Context) async throws {
    try context.requireBuildFile()
    let lock = try context.lockCheckout(create: false)
    defer { withExtendedLifetime(lock) {} }
    let session = try Session(context)
    let graph = try session.graph()
    let (indices, unknown) = graph.closure(ofTasks: tasks.isEmpty ? nil : tasks)
    if let name = unknown.first { throw CLIError("kiln: unknown task '\(name)'") }
    let wanted = tasks.isEmpty ? Set(indices) : Set(indices.filter { tasks.contains(graph[$0].id.task) || tasks.contains(graph[$0].id.description) })
    var removed = 0
    let manifest = try session.manifest
    let owned = session.ownedOutputs
    try manifest.begin()
    for i in wanted.sorted() {
      let instance = graph[i]
      // Only what the record says kiln wrote, and only while it still holds that (SPEC
      // 5): files and links first, then the folders, deepest first, when left empty.
      var entries = session.records[instance.id]?.outputs ?? []
      if let record = session.records[instance.id], let depfile = record.depfile, let digest = record.depfileDigest {
        entries.append(OutputEntry(path: depfile, kind: .file, permissions: 0o644, digest: digest))
      }
      entries.sort { a, b in
        (a.kind == .directory ? 1 : 0, -a.path.utf8.count) < (b.kind == .directory ? 1 : 0, -b.path.utf8.count)
      }
      for entry in entries {
        switch owned.remove(entry) {
        case .asRecorded:
          removed += 1
          if session.statEntries[entry.path] != nil { try manifest.deleteStat(entry.path) }
        case .changed:
          Terminal.error("kiln: clean: kept \(entry.path): it changed since kiln wrote it")
        case .notEmpty:
          Terminal.error("kiln: clean: kept the folder \(entry.path): it holds files kiln did not write")
        case .undeletable:
          Terminal.error("kiln: clean: could not delete \(entry.path)")
        case .absent, .outside:
          break
        }
      }
      // The manifest deletes the null-build snapshot before the first record goes.
      try manifest.deleteRecord(instance.id)
    }
    try manifest.commit()
    Terminal.line("kiln: removed \(removed) output\(removed == 1 ? "" : "s") of \(wanted.count) task instance\(wanted.count == 1 ? "" : "s")")
  }
}

struct ManifestCommand: KilnSubcommand {
  static let configuration = CommandConfiguration(
    commandName: "manifest", abstract: "Every tracked file with its XXH3-128 hash.",
    subcommands: [Verify.self])
  @Flag(help: "JSON output.") var json = false

  /// (path, digest, role) for every file the records mention, sorted by path.
  static func tracked(_ records: [TaskID: TaskRecord]) -> [(String, Digest, String)] {
    var files: [String: (Digest, String)] = [:]
    for record in records.values {
      for i in record.inputs where files[i.path] == nil { files[i.path] = (i.digest, "input") }
      for i in record.discovered where files[i.path] == nil { files[i.path] = (i.digest, "input") }
      for o in record.outputs where o.kind == .file { files[o.path] = (o.digest, "output") }
    }
    return files.map { ($0.key, $0.value.0, $0.value.1) }.sorted { $0.0 < $1.0 }
  }

  func run(in context: Context) async throws {
    try context.requireBuildFile(orNinjaFolder: true)
    let session = try Session(context, readOnly: true)
    let files = Self.tracked(session.records)
    if json {
      Terminal.line(JSON.array(files.map { JSON.object([("path", JSON.string($0.0)), ("xxh3_128", JSON.string($0.1.hex)), ("role", JSON.string($0.2))]) }))
    } else {
      Terminal.write(files.map { "\($0.1.hex)  \($0.0)\n" }.joined())
    }
  }

  struct Verify: KilnSubcommand {
    static let configuration = CommandConfiguration(
      commandName: "verify", abstract: "Re-hash every tracked file and report the ones that differ (exit 1).")

    func run(in context: Context) async throws {
      try context.requireBuildFile(orNinjaFolder: true)
      let session = try Session(context, readOnly: true)
      var bad = 0
      let files = ManifestCommand.tracked(session.records)
      // A fresh stat cache: every file is hashed now, directories as trees.
      let fresh = StatCache(entries: [:], root: context.root, fileSystem: context.fileSystem, clock: context.clock)
      for (path, digest, role) in files {
        let abs = path.hasPrefix("/") ? path : Paths.join(context.root, path)
        guard context.fileSystem.stat(abs) != nil else {
          Terminal.line("MISSING  \(path) (\(role))"); bad += 1; continue
        }
        if (try? fresh.digest(of: path)) != digest {
          Terminal.line("CHANGED  \(path) (\(role))"); bad += 1
        }
      }
      Terminal.line("kiln: \(files.count) files checked, \(bad) differ\(bad == 1 ? "s" : "") from the manifest")
      if bad > 0 { throw ExitCode(1) }
    }
  }
}
