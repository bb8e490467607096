#if canImport(Glibc)
import Glibc
#endif
import KilnConfig
import KilnCore
import KilnStore
import KilnSystem

/// `kiln hooks run HOOK`: builds the tasks `hooks:` lists for HOOK, not in the working
/// tree but in a private snapshot of what git is about to record: the index for
/// pre-commit (the one git passes in `GIT_INDEX_FILE`, so `git commit -a` and `git
/// commit PATH` are checked as they will be committed), each pushed commit for
/// pre-push. The working tree and the index are only read (no stash).
///
/// The snapshot is a folder of this worktree's git folder, `kiln/hooks/HOOK`, kept
/// between runs with its own `.kiln/`: a run writes only the files whose blob changed
/// since the last one (from `git ls-files -s` of a private copy of the index), so the
/// build inside is incremental, and the shared cache restores what was built anywhere.
struct HookRun {
  let context: Context
  let hook: String
  let targets: [String]

  func run() throws -> Int32 {
    let repo = try HooksCommand.Repository(context)
    let snapshot = repo.gitDirectory + "/kiln/hooks/" + hook
    switch hook {
    case "pre-push":
      return try prePush(repo, snapshot)
    default:
      // pre-commit and every other hook: the index git is about to commit.
      // git's own variable, which `repo.environment` (the tasks' and git's) leaves out.
      let index = context.environment["GIT_INDEX_FILE"].map { $0.hasPrefix("/") ? $0 : Paths.join(repo.topLevel, $0) }
        ?? (repo.gitDirectory + "/index")
      let privateIndex = snapshot + ".index"
      try copy(index, to: privateIndex)
      return try check(repo, snapshot: snapshot, index: privateIndex, label: "staged changes",
                       changed: changedFiles(repo, index: privateIndex, against: "HEAD"))
    }
  }

  /// pre-push: every commit being pushed (`LOCAL_REF LOCAL_SHA REMOTE_REF REMOTE_SHA`
  /// lines on stdin), oldest first, up to the first that fails.
  private func prePush(_ repo: HooksCommand.Repository, _ snapshot: String) throws -> Int32 {
    var commits: [String] = []
    let zero = String(repeating: "0", count: 40)
    for line in readStandardInput().split(separator: "\n") {
      let fields = line.split(separator: " ").map(String.init)
      guard fields.count == 4, fields[1] != zero, !fields[1].allSatisfy({ $0 == "0" }) else { continue }
      let exclude = fields[3].allSatisfy({ $0 == "0" }) ? ["--not", "--remotes"] : ["--not", fields[3]]
      let list = Command.run(["git", "rev-list", "--reverse", fields[1]] + exclude, in: repo.topLevel,
                             environment: repo.environment)
      guard list.succeeded else { throw CLIError("kiln: hooks: pre-push: git rev-list: \(list.firstErrorLine)") }
      for sha in list.text.split(separator: "\n").map(String.init) where !commits.contains(sha) { commits.append(sha) }
    }
    if commits.isEmpty {
      Terminal.error("kiln: hooks: pre-push: no new commit to check")
      return 0
    }
    let privateIndex = snapshot + ".index"
    do { try context.fileSystem.createDirectories(Paths.parent(privateIndex)) } catch {
      throw CLIError("kiln: hooks: cannot create \(Paths.parent(privateIndex))")
    }
    for sha in commits {
      var env = repo.environment
      env["GIT_INDEX_FILE"] = privateIndex
      let read = Command.run(["git", "read-tree", sha], in: repo.topLevel, environment: env)
      guard read.succeeded else { throw CLIError("kiln: hooks: pre-push: git read-tree \(sha): \(read.firstErrorLine)") }
      let status = try check(repo, snapshot: snapshot, index: privateIndex, label: "commit \(sha.prefix(12))",
                             changed: changedFiles(repo, index: privateIndex, against: sha + "^"))
      if status != 0 { return status }
    }
    return 0
  }

  static let stateMagic = Array("KILNSNP1".utf8)

  /// A snapshot file's stat as the state keeps it: size, mtime, ctime, inode.
  static func statText(_ st: FileStat?) -> String {
    guard let st else { return "-" }
    return "\(st.size):\(st.mtime):\(st.ctime):\(st.inode)"
  }

  /// Makes `snapshot` hold exactly the files of `index` (those `wanted` accepts, when
  /// given): writes the ones whose blob or mode changed since the last sync, or that
  /// were changed in the snapshot since, and deletes the ones that left it. Returns how
  /// many files of the index `wanted` left out.
  @discardableResult
  private func sync(_ repo: HooksCommand.Repository, snapshot: String, index: String,
                    only wanted: ((String) -> Bool)? = nil) throws -> Int {
    var leftOut = 0
    let fs = context.fileSystem
    var env = repo.environment
    env["GIT_INDEX_FILE"] = index
    let listing = Command.run(["git", "ls-files", "-s", "-z"], in: repo.topLevel, environment: env)
    guard listing.succeeded else { throw CLIError("kiln: hooks: git ls-files: \(listing.firstErrorLine)") }
    // "MODE SHA STAGE\tPATH", NUL-separated; submodules (160000) are not files.
    var now: [String: String] = [:]
    for entry in listing.stdout.split(separator: 0) {
      // A name that is not UTF-8 cannot be tracked (kiln's paths are text): refused,
      // named with its bytes escaped, rather than mangled or skipped.
      if let tabByte = entry.firstIndex(of: 0x09), String(validating: entry[(tabByte + 1)...], as: UTF8.self) == nil {
        let name = UndecodableName.escape(Array(entry[(tabByte + 1)...]))
        throw CLIError("kiln: hooks: the index holds '\(name)', whose name is not UTF-8, which kiln cannot track; rename it (git mv)")
      }
      let text = String(decoding: entry, as: UTF8.self)
      guard let tab = text.firstIndex(of: "\t") else { continue }
      let meta = text[..<tab]
      guard !meta.hasPrefix("160000") else { continue }
      let path = String(text[text.index(after: tab)...])
      if wanted?(path) ?? true { now[path] = String(meta) } else { leftOut += 1 }
    }
    // The state: what each snapshot file was checked out from ("MODE SHA STAGE") and
    // the stat it had then, sealed with a digest. A damaged state means every file is
    // written again; a file whose stat moved since (a task of the last hook build that
    // edited it in place, a formatter say) is written again too, so a verdict is always
    // about the staged bytes.
    let stateFile = snapshot + ".files"
    var before: [String: String] = [:]
    var stats: [String: String] = [:]
    if fs.stat(snapshot)?.kind == .directory, let sealed = try? fs.read(stateFile),
       let bytes = Seal.open(Self.stateMagic, sealed)
    {
      for entry in bytes.split(separator: 0) {
        let text = String(decoding: entry, as: UTF8.self)
        guard let tab = text.firstIndex(of: "\t") else { continue }
        let path = String(text[text.index(after: tab)...])
        let fields = text[..<tab].split(separator: " ")
        guard fields.count == 4 else { continue }
        before[path] = fields[0..<3].joined(separator: " ")
        stats[path] = String(fields[3])
      }
    }
    for path in before.keys where now[path] == nil { try? fs.remove(Paths.join(snapshot, path)) }
    let changed = now.keys.filter {
      before[$0] != now[$0] || stats[$0] != Self.statText(fs.lstat(Paths.join(snapshot, $0)))
    }.sorted()
    // The state is written only after the files: a crash in between makes the next
    // run write everything again, never trust a file it did not write.
    try? fs.remove(stateFile)
    do { try fs.createDirectories(snapshot) } catch { throw CLIError("kiln: hooks: cannot create \(snapshot)") }
    if !changed.isEmpty {
      var bytes: [UInt8] = []
      for path in changed { bytes += Array(path.utf8) + [0] }
      try? fs.writeAtomically(bytes, to: stateFile + ".list", permissions: 0o644)
      let out = Command.run(["sh", "-c", "exec git checkout-index -f -z --stdin --prefix=\"$1\"/ < \"$2\"", "sh",
                             snapshot, stateFile + ".list"], in: repo.topLevel, environment: env)
      try? fs.remove(stateFile + ".list")
      guard out.succeeded else { throw CLIError("kiln: hooks: git checkout-index: \(out.firstErrorLine)") }
    }
    var state: [UInt8] = []
    for (path, meta) in now.sorted(by: { $0.key < $1.key }) {
      let stat = Self.statText(fs.lstat(Paths.join(snapshot, path)))
      state += Array((meta + " " + stat + "\t" + path).utf8) + [0]
    }
    try? fs.writeAtomically(Seal.close(Self.stateMagic, state), to: stateFile, permissions: 0o644)
    return leftOut
  }

  /// Builds the hook's targets in the snapshot, with git's hook variables gone, the
  /// build's own output passed through, and a last line that says what was checked.
  /// Syncs the snapshot with only the files the hook's tasks can read (`selection`)
  /// and builds. When that fails, the failure can come from a file the snapshot left
  /// out (a task reading a file it does not declare) only if it left one out: then
  /// its output is shown as it is, everything is synced and the build runs again (the
  /// tasks that passed are up to date, so only the failed ones run twice), so a task
  /// that reads an undeclared file is never failed by the snapshot. With nothing left
  /// out the first build is the answer. The last line gives both builds' times.
  private func check(_ repo: HooksCommand.Repository, snapshot: String, index: String, label: String,
                     changed: Set<String>) throws -> Int32 {
    let clock = context.clock
    var first: (seconds: Double, leftOut: Int)?
    if let wanted = selection(repo, index: index) {
      let leftOut = try sync(repo, snapshot: snapshot, index: index, only: wanted)
      let started = clock.monotonic()
      let sparse = runBuild(repo, snapshot: snapshot)
      let seconds = clock.monotonic() - started
      if sparse.status == 0 || leftOut == 0 {
        return report(sparse, repo, snapshot: snapshot, label: label, changed: changed, seconds: seconds)
      }
      Terminal.write(bytes: sparse.stdout, to: 1)
      Terminal.write(bytes: sparse.stderr, to: 2)
      Terminal.error("kiln: hooks: \(hook): failed with only the files its tasks declare (\(leftOut) staged "
        + "file\(leftOut == 1 ? "" : "s") left out); building again with every staged file, in case a task reads "
        + "one it does not declare")
      first = (seconds, leftOut)
    }
    try sync(repo, snapshot: snapshot, index: index)
    let started = clock.monotonic()
    let full = runBuild(repo, snapshot: snapshot)
    return report(full, repo, snapshot: snapshot, label: label, changed: changed,
                  seconds: clock.monotonic() - started, firstPass: first?.seconds)
  }

  /// Which files of `index` the tasks can read: the build file, every path its tasks'
  /// `inputs` and `foreach` globs match (or folders they name), and the inputs the
  /// working tree's last builds discovered (headers). Nil when the index's build file
  /// cannot be read or parsed: then everything is written.
  private func selection(_ repo: HooksCommand.Repository, index: String) -> ((String) -> Bool)? {
    let name = Context.globalBuildFile.map(Paths.fileName) ?? "kiln.yml"
    let prefix = repo.buildDirectory.isEmpty ? "" : repo.buildDirectory + "/"
    var env = repo.environment
    env["GIT_INDEX_FILE"] = index
    let blob = Command.run(["git", "cat-file", "blob", ":" + prefix + name], in: repo.topLevel, environment: env)
    guard blob.succeeded,
          let file = try? BuildFileParser(displayPath: name).parse(String(decoding: blob.stdout, as: UTF8.self))
    else { return nil }
    var globs: [Glob] = []
    var folders: [String] = []
    for task in file.tasks {
      for pattern in task.inputs.map(\.value) + (task.foreach ?? []).map(\.value) {
        globs.append(Glob(pattern))
        folders.append(pattern + "/")
      }
    }
    var discovered = Set<String>()
    // Only an existing manifest: a hook must not create state in the working tree.
    if context.fileSystem.stat(context.manifestPath)?.kind == .file,
       let records = try? Manifest(path: context.manifestPath).loadRecords() {
      for record in records.values { for d in record.discovered where !d.path.hasPrefix("/") { discovered.insert(d.path) } }
    }
    return { path in
      guard path.hasPrefix(prefix) else { return false }
      let relative = String(path.dropFirst(prefix.count))
      return relative == name || discovered.contains(relative) || globs.contains { $0.matches(relative) }
        || folders.contains { relative.hasPrefix($0) }
    }
  }

  /// The paths (from the top) that `index` changes against `base`; all of them when
  /// `base` does not exist (a first commit).
  private func changedFiles(_ repo: HooksCommand.Repository, index: String, against base: String) -> Set<String> {
    var env = repo.environment
    env["GIT_INDEX_FILE"] = index
    var out = Command.run(["git", "diff", "--cached", "--name-only", "--no-renames", "-z", base, "--"],
                          in: repo.topLevel, environment: env)
    if !out.succeeded { out = Command.run(["git", "ls-files", "-z"], in: repo.topLevel, environment: env) }
    return Set(out.stdout.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
  }

  /// For each instance the build reports FAILED, the changed files among its inputs:
  /// "which staged file it concerns".
  private func concerns(_ output: [UInt8], snapshotRoot: String, buildDirectory: String,
                        changed: Set<String>) -> [String] {
    let text = String(decoding: output, as: UTF8.self)
    let failed = text.split(separator: "\n").compactMap { (line: Substring) -> String? in
      guard line.hasPrefix("FAILED: ") else { return nil }
      let rest = line.dropFirst(8)
      guard let end = rest.firstRange(of: ": ") else { return nil }
      return String(rest[..<end.lowerBound])
    }
    guard !failed.isEmpty, chdir(snapshotRoot) == 0, let inner = try? Context(),
          let graph = try? Session(inner).graph() else { return [] }
    return failed.map { id in
      let inputs = graph.instances.first { $0.id.description == id }?.inputs ?? []
      let staged = inputs.map { buildDirectory.isEmpty ? $0 : buildDirectory + "/" + $0 }.filter(changed.contains)
      return staged.isEmpty
        ? "kiln: hooks: \(id): none of its inputs changed; it fails on the content as a whole"
        : "kiln: hooks: \(id): concerns \(staged.sorted().joined(separator: ", "))"
    }
  }

  private func runBuild(_ repo: HooksCommand.Repository, snapshot: String) -> Command.Output {
    let directory = Paths.join(snapshot, repo.buildDirectory)
    var argv = [HooksCommand.executablePath(), "-C", directory]
    if let file = Context.globalBuildFile { argv += ["-f", file] }
    argv += ["build"] + targets
    return Command.run(argv, in: directory, environment: repo.environment)
  }

  /// Prints the build's output and the hook's last line: what was checked, how it
  /// ended, and how long it took (`firstPass`: the failed build on the declared files
  /// that came before this one, whose time counts too).
  private func report(_ out: Command.Output, _ repo: HooksCommand.Repository, snapshot: String, label: String,
                      changed: Set<String>, seconds: Double, firstPass: Double? = nil) -> Int32 {
    let directory = Paths.join(snapshot, repo.buildDirectory)
    Terminal.write(bytes: out.stdout, to: 1)
    Terminal.write(bytes: out.stderr, to: 2)
    let time = firstPass.map {
      "in \(Self.seconds($0 + seconds)) (\(Self.seconds($0)) with the declared files, then \(Self.seconds(seconds)) "
        + "with every staged file)"
    } ?? "in \(Self.seconds(seconds))"
    if out.status == 0 {
      Terminal.error("kiln: hooks: \(hook): \(targets.joined(separator: " ")) built on the \(label) \(time)")
    } else {
      for line in concerns(out.stdout + out.stderr, snapshotRoot: directory, buildDirectory: repo.buildDirectory,
                           changed: changed) {
        Terminal.error(line)
      }
      Terminal.error("kiln: hooks: \(hook): \(targets.joined(separator: " ")) failed on the \(label) (exit \(out.status)) "
        + "\(time); the files it names are as staged, not as in the working tree")
    }
    return out.status
  }

  /// `2.05s`.
  private static func seconds(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)s"
  }

  private func copy(_ from: String, to: String) throws {
    let fs = context.fileSystem
    guard let bytes = try? fs.read(from) else { throw CLIError("kiln: hooks: cannot read the index \(from)") }
    do {
      try fs.createDirectories(Paths.parent(to))
      try fs.writeAtomically(bytes, to: to, permissions: 0o644)
    } catch {
      throw CLIError("kiln: hooks: cannot copy the index to \(to): \(error)")
    }
  }

  private func readStandardInput() -> String {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = buffer.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
      if n < 0, errno == EINTR { continue }
      if n <= 0 { break }
      bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}
