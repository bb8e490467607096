#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnStore
import KilnSystem

/// One kiln workspace, as its registry file records it.
struct WorkspaceInfo: Sendable {
  var name: String
  var path: String
  /// `kiln/NAME`, or empty outside git.
  var branch: String
  /// The commit it was made from (and is reset to); empty outside git.
  var base: String
  var pool = false
  /// Not yet ready: `ws new` is still checking it out.
  var creating = false
  /// Handed out by `ws claim`, not yet released.
  var claimed = false
  /// The process whose end gives the claim back (`claim --owner`), if one was named.
  var owner: Int32?
  var ownerStart: UInt64?
  var claimedAt: Int64?

  var isClaimed: Bool { claimed }

  func encode() -> String {
    var lines = ["name=\(name)", "path=\(path)", "branch=\(branch)", "base=\(base)", "pool=\(pool ? 1 : 0)"]
    if creating { lines.append("creating=1") }
    if claimed { lines.append("claimed=1") }
    if let owner { lines.append("owner=\(owner)") }
    if let ownerStart { lines.append("owner_start=\(ownerStart)") }
    if let claimedAt { lines.append("claimed_at=\(claimedAt)") }
    return lines.joined(separator: "\n") + "\n"
  }

  init(name: String, path: String, branch: String, base: String) {
    self.name = name
    self.path = path
    self.branch = branch
    self.base = base
  }

  init?(decoding text: String) {
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") {
      guard let eq = line.firstIndex(of: "=") else { continue }
      fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
    }
    guard let name = fields["name"], let path = fields["path"] else { return nil }
    self.init(name: name, path: path, branch: fields["branch"] ?? "", base: fields["base"] ?? "")
    pool = fields["pool"] == "1"
    creating = fields["creating"] == "1"
    claimed = fields["claimed"] == "1"
    owner = fields["owner"].flatMap { Int32($0) }
    ownerStart = fields["owner_start"].flatMap { UInt64($0) }
    claimedAt = fields["claimed_at"].flatMap { Int64($0) }
  }

  /// The claim's owner is gone: no such process, or its pid now names a process
  /// started later. False for a claim with no owner (held until released).
  var ownerIsGone: Bool {
    guard let owner else { return false }
    guard let start = Workspaces.processStart(owner) else { return true }
    return ownerStart.map { $0 != start } ?? false
  }

  /// The pool's order: pool-2 before pool-10.
  var sortKey: (String, Int) {
    if let dash = name.lastIndex(of: "-"), let n = Int(name[name.index(after: dash)...]) {
      return (String(name[..<dash]), n)
    }
    return (name, -1)
  }
}

/// A repository's workspaces (SPEC §3, `kiln ws`): git worktrees on `kiln/NAME` branches
/// under `<git-common-dir>/kiln/ws/`, where neither `git status` nor kiln's globs look,
/// with one small registry file each under `<git-common-dir>/kiln/meta/`. Outside git,
/// copies (reflinked where the filesystem can) under `<project>/.kiln/ws/`. Every change
/// to the registry is made under an exclusive lock on `kiln/lock`, and every registry
/// file is replaced atomically, so a crash leaves either the old state or the new one.
struct Workspaces {
  enum Kind {
    /// Inside a git repository whose shared folder is `commonDirectory`.
    case git(commonDirectory: String)
    /// Outside git: copies of the project at `origin`.
    case copies(origin: String)
  }

  let kind: Kind
  /// The checkout (or copy) the command runs in: its top folder.
  let topLevel: String
  /// Where the caller stands, relative to `topLevel` ("" at the top): `ws run` runs in
  /// the same folder of the workspace, and the manifest of a workspace is found there.
  let relativeDirectory: String
  let home: String
  let registry: String
  let lockPath: String
  let environment: [String: String]
  let fileSystem = LocalFileSystem()

  var isGit: Bool { if case .git = kind { true } else { false } }

  /// Finds the repository (or project) that `directory` belongs to.
  init(directory: String, projectRoot: String?, environment: [String: String]) throws {
    var env = environment
    // Inside a git hook these point at the hook's repository state, not at ours.
    for name in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR"] { env[name] = nil }
    self.environment = env
    let probe = Command.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir", "--show-toplevel"],
                            in: directory, environment: env)
    let lines = probe.text.split(separator: "\n").map(String.init)
    if probe.succeeded, lines.count == 2 {
      let common = Paths.normalize(lines[0]) ?? lines[0]
      kind = .git(commonDirectory: common)
      topLevel = lines[1]
      home = common + "/kiln/ws"
      registry = common + "/kiln/meta"
      lockPath = common + "/kiln/lock"
    } else {
      // Outside git (or without git installed): the project is the folder of kiln.yml,
      // or the origin of the copy the caller stands in (`<origin>/.kiln/ws/NAME/...`).
      let start = projectRoot ?? directory
      var origin = start
      var top = start
      if let range = start.firstRange(of: "/.kiln/ws/") {
        origin = String(start[..<range.lowerBound])
        let rest = start[range.upperBound...]
        top = origin + "/.kiln/ws/" + (rest.split(separator: "/").first.map(String.init) ?? "")
      }
      kind = .copies(origin: origin)
      topLevel = top
      home = origin + "/.kiln/ws"
      registry = origin + "/.kiln/ws-meta"
      lockPath = origin + "/.kiln/ws-lock"
    }
    relativeDirectory = Paths.relative(directory, to: topLevel) ?? ""
  }

  // MARK: - Registry

  func path(of name: String) -> String { home + "/" + name }

  func all() -> [WorkspaceInfo] {
    let names = fileSystem.contents(ofDirectory: registry) ?? []
    return names.filter { !$0.hasPrefix(".") }.compactMap(info).sorted { $0.sortKey < $1.sortKey }
  }

  /// The registry's entry for `name`. The file is untrusted (a copy's `.kiln/ws-meta`
  /// can arrive with the project): an entry whose name or folder is not the one kiln
  /// would have written for `name`, or whose branch is not `kiln/NAME`, is ignored,
  /// so `ws rm` can never be pointed at another folder, nor `release` at another branch.
  func info(_ name: String) -> WorkspaceInfo? {
    guard (try? Self.validate(name)) != nil, !OwnFile.isLink(registry + "/" + name),
          let bytes = try? fileSystem.read(registry + "/" + name),
          let info = WorkspaceInfo(decoding: String(decoding: bytes, as: UTF8.self)),
          info.name == name, info.path == path(of: name), info.branch == (isGit ? "kiln/\(name)" : "")
    else { return nil }
    return info
  }

  func save(_ info: WorkspaceInfo) throws {
    do {
      try fileSystem.createDirectories(registry)
      try fileSystem.writeAtomically(Array(info.encode().utf8), to: registry + "/" + info.name, permissions: 0o644)
    } catch {
      throw CLIError("kiln: ws: cannot write the registry: \(error)")
    }
  }

  func forget(_ name: String) { try? fileSystem.remove(registry + "/" + name) }

  /// Runs `body` holding the registry's exclusive lock (other kiln processes wait).
  func locked<T>(_ body: () throws -> T) throws -> T {
    try? fileSystem.createDirectories(Paths.parent(lockPath))
    // Never through a symlink: a planted one would have kiln create or lock another file.
    let opened: Int32?
    do { opened = try OwnFile.open(lockPath, O_RDWR | O_CREAT, mode: 0o666) } catch {
      throw CLIError("kiln: ws: \(error)")
    }
    guard let fd = opened else { throw CLIError("kiln: ws: cannot open \(lockPath): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    while flock(fd, LOCK_EX) != 0, errno == EINTR {}
    return try body()
  }

  /// The workspace called `name`, or exit status 2.
  func existing(_ name: String) throws -> WorkspaceInfo {
    guard let info = info(name), !info.creating else { throw CLIError("kiln: ws: no workspace named '\(name)'") }
    return info
  }

  static func validate(_ name: String) throws {
    let allowed = name.utf8.allSatisfy { c in
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D
    }
    guard !name.isEmpty, name.count <= 100, allowed, !name.hasPrefix("."), !name.hasPrefix("-"),
          !name.hasSuffix(".lock"), !name.contains("..")
    else {
      throw CLIError("kiln: ws: '\(name)' is not a workspace name (letters, digits, '.', '_' and '-'; not starting with '.' or '-')")
    }
  }

  // MARK: - git

  func git(_ arguments: [String], in directory: String? = nil) -> Command.Output {
    Command.run(["git"] + arguments, in: directory ?? topLevel, environment: environment)
  }

  /// `git ...` that must succeed: its first error line otherwise.
  @discardableResult
  func mustGit(_ arguments: [String], in directory: String? = nil, status: Int32 = 2) throws -> String {
    let out = git(arguments, in: directory)
    guard out.succeeded else { throw CLIError("kiln: ws: git \(arguments.first ?? ""): \(out.firstErrorLine)", status: status) }
    return out.text
  }

  func commit(of ref: String) throws -> String {
    let out = git(["rev-parse", "--verify", "--quiet", ref + "^{commit}"])
    guard out.succeeded, !out.text.isEmpty else {
      if ref == "HEAD" { throw CLIError("kiln: ws: the repository has no commit yet: commit first") }
      throw CLIError("kiln: ws: --from: '\(ref)' is not a commit")
    }
    return out.text
  }

  // MARK: - Making and removing

  /// Checks out (or copies) a new workspace and registers it; its path.
  @discardableResult
  func create(_ name: String, from ref: String?, pool: Bool = false) throws -> WorkspaceInfo {
    try Self.validate(name)
    let path = path(of: name)
    let base: String
    switch kind {
    case .git: base = try commit(of: ref ?? "HEAD")
    case .copies:
      if ref != nil { throw CLIError("kiln: ws: --from needs a git repository") }
      base = ""
    }
    var info = WorkspaceInfo(name: name, path: path, branch: isGit ? "kiln/\(name)" : "", base: base)
    info.pool = pool
    info.creating = true
    try locked {
      if self.info(name) != nil || fileSystem.stat(path) != nil {
        throw CLIError("kiln: ws: workspace '\(name)' already exists")
      }
      try save(info)
    }
    do {
      switch kind {
      case .git:
        if git(["rev-parse", "--verify", "--quiet", "refs/heads/kiln/\(name)"]).succeeded {
          throw CLIError("kiln: ws: branch kiln/\(name) already exists (delete it or pick another name)")
        }
        try fileSystem.createDirectories(home)
        try mustGit(["worktree", "add", "--quiet", "-b", "kiln/\(name)", path, base])
      case .copies(let origin):
        try copyProject(from: origin, to: path)
      }
    } catch {
      try? locked { forget(name) }
      if case .copies = kind { _ = Command.run(["rm", "-rf", path], in: "/", environment: environment) }
      if let e = error as? CLIError { throw e }
      throw CLIError("kiln: ws: cannot create \(path): \(error)")
    }
    info.creating = false
    try locked { try save(info) }
    return info
  }

  /// A warning when the build file the caller uses (`buildFile`, in this checkout) is
  /// not in the commit the new git workspace `info` starts from, or differs from it: the
  /// workspace gets the committed file, or none (and kiln never looks for one above a
  /// workspace). kiln warns rather than copying it in, because a copied file would be
  /// uncommitted work the workspace's owner did not make.
  func uncommittedBuildFileWarning(_ buildFile: String?, in info: WorkspaceInfo) -> String? {
    guard isGit, let buildFile, let relative = Paths.relative(buildFile, to: topLevel), !relative.isEmpty,
          !relative.hasPrefix("../")
    else { return nil }
    if !git(["cat-file", "-e", "\(info.base):\(relative)"]).succeeded {
      return "kiln: ws: warning: \(relative) is not committed, so workspace '\(info.name)' has none (commit it first)"
    }
    if git(["diff", "--quiet", info.base, "--", relative]).status == 1 {
      return "kiln: ws: warning: \(relative) has changes that are not committed; workspace '\(info.name)' has the "
        + "committed one"
    }
    return nil
  }

  /// Outside git: every top-level entry but `.kiln`, reflinked where the filesystem can.
  private func copyProject(from origin: String, to path: String) throws {
    try fileSystem.createDirectories(path)
    let entries = (fileSystem.contents(ofDirectory: origin) ?? []).filter { $0 != ".kiln" }.sorted()
    guard !entries.isEmpty else { return }
    let out = Command.run(["cp", "-a", "--reflink=auto"] + entries.map { origin + "/" + $0 } + [path + "/"],
                         in: origin, environment: environment)
    guard out.succeeded else { throw CLIError("kiln: ws: cp: \(out.firstErrorLine)") }
  }

  /// Files that differ from the base (committed, uncommitted and untracked, ignored
  /// files aside); outside git, files that differ from the origin.
  func changedFiles(_ info: WorkspaceInfo, against base: String? = nil) -> [String]? {
    switch kind {
    case .git:
      guard fileSystem.stat(info.path)?.kind == .directory else { return nil }
      let diff = git(["diff", "--name-only", "--no-renames", base ?? info.base, "--"], in: info.path)
      let untracked = git(["ls-files", "--others", "--exclude-standard", "--full-name"], in: info.path)
      guard diff.succeeded, untracked.succeeded else { return nil }
      let names = (diff.text + "\n" + untracked.text).split(separator: "\n").map(String.init)
      return Array(Set(names)).sorted()
    case .copies(let origin):
      let out = Command.run(["diff", "-rq", "--exclude=.kiln", origin, info.path], in: "/", environment: environment)
      guard out.status <= 1 else { return nil }
      return out.text.split(separator: "\n").map(String.init)
    }
  }

  /// Uncommitted work: tracked changes and untracked files git does not ignore. Throws
  /// (exit 1, with git's reason) when git cannot say: a damaged `.git` file, a corrupt
  /// index, a checkout git does not trust. Silence from a failed `git status` is not
  /// a clean tree.
  func uncommitted(_ info: WorkspaceInfo) throws -> [String] {
    switch kind {
    case .git:
      // A checkout deleted by hand holds nothing to lose.
      if fileSystem.stat(info.path) == nil { return [] }
      let out = git(["status", "--porcelain", "--untracked-files=all"], in: info.path)
      guard out.succeeded else {
        var reason = out.firstErrorLine
        for prefix in ["fatal: ", "error: "] where reason.hasPrefix(prefix) { reason.removeFirst(prefix.count) }
        throw CLIError("kiln: ws: cannot tell whether '\(info.name)' has uncommitted work (git status: "
          + "\(reason)); repair it or use --force", status: 1)
      }
      return out.text.split(separator: "\n").map { String($0.dropFirst(3)) }
    case .copies(let origin):
      guard let changed = changedFiles(info) else {
        throw CLIError("kiln: ws: cannot tell whether '\(info.name)' has uncommitted work (cannot compare it with "
          + "\(origin)); use --force", status: 1)
      }
      return changed
    }
  }

  /// Removes the checkout; keeps the branch when it holds commits beyond the base, and
  /// commits made on a detached HEAD on a branch of their own. Returns notes for the
  /// user.
  func remove(_ info: WorkspaceInfo) throws -> [String] {
    var notes: [String] = []
    switch kind {
    case .git:
      if let note = try keepDetachedCommits(info) { notes.append(note) }
      let removed = git(["worktree", "remove", "--force", "--force", info.path])
      if !removed.succeeded {
        if fileSystem.stat(info.path) != nil {
          _ = Command.run(["rm", "-rf", info.path], in: "/", environment: environment)
        }
        _ = git(["worktree", "prune"])
      }
      let tip = git(["rev-parse", "--verify", "--quiet", "refs/heads/\(info.branch)"])
      if tip.succeeded {
        if tip.text == info.base {
          _ = git(["branch", "-D", "--quiet", info.branch])
        } else {
          let count = git(["rev-list", "--count", "\(info.base)..\(tip.text)"]).text
          notes.append("kiln: ws: kept branch \(info.branch) (\(count) commit\(count == "1" ? "" : "s") beyond its base)")
        }
      }
    case .copies:
      let out = Command.run(["rm", "-rf", info.path], in: "/", environment: environment)
      guard out.succeeded else { throw CLIError("kiln: ws: cannot remove \(info.path): \(out.firstErrorLine)") }
    }
    try locked { forget(info.name) }
    return notes
  }

  /// A new branch name `kiln/NAME-STAMP[SUFFIX][-N]` that does not exist yet.
  private func freshBranch(_ info: WorkspaceInfo, suffix: String = "") -> String {
    let stem = "\(info.branch)-\(Self.timestamp())\(suffix)"
    var name = stem
    var n = 1
    while git(["rev-parse", "--verify", "--quiet", "refs/heads/\(name)"]).succeeded {
      n += 1
      name = "\(stem)-\(n)"
    }
    return name
  }

  /// When the workspace's HEAD is detached and reaches commits that no branch holds
  /// (work committed on a detached HEAD), puts them on a new branch
  /// `kiln/NAME-STAMP-detached` and returns a note naming it. Resetting or removing
  /// the checkout would otherwise leave them only in its reflog, which goes with it.
  func keepDetachedCommits(_ info: WorkspaceInfo) throws -> String? {
    guard isGit, fileSystem.stat(info.path) != nil,
          !git(["symbolic-ref", "--quiet", "HEAD"], in: info.path).succeeded
    else { return nil }
    let head = git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], in: info.path)
    guard head.succeeded, !head.text.isEmpty else { return nil }
    let count = git(["rev-list", "--count", head.text, "--not", "--branches"], in: info.path)
    guard count.succeeded, let n = Int(count.text), n > 0 else { return nil }
    let keep = freshBranch(info, suffix: "-detached")
    try mustGit(["branch", keep, head.text], status: 1)
    return "kiln: ws: kept \(n) commit\(n == 1 ? "" : "s") made on a detached HEAD in \(info.name) on branch \(keep)"
  }

  /// Puts a workspace back to its base: tracked files reset, everything untracked or
  /// ignored removed (kiln's own `.kiln` state kept: it is derived and verified). Commits
  /// made on its branch, and on a detached HEAD, are kept on new branches, named in the
  /// returned notes.
  func reset(_ info: WorkspaceInfo) throws -> [String] {
    guard isGit else { throw CLIError("kiln: ws: release needs a git repository") }
    var notes: [String] = []
    let tip = git(["rev-parse", "--verify", "--quiet", "refs/heads/\(info.branch)"])
    if tip.succeeded, tip.text != info.base {
      let keep = freshBranch(info)
      try mustGit(["branch", keep, tip.text], status: 1)
      let count = git(["rev-list", "--count", "\(info.base)..\(tip.text)"]).text
      notes.append("kiln: ws: kept \(count) commit\(count == "1" ? "" : "s") of \(info.name) on branch \(keep)")
    }
    // After the branch's tip is kept, so only commits no branch holds are counted.
    if let note = try keepDetachedCommits(info) { notes.append(note) }
    try mustGit(["checkout", "--quiet", "--force", "-B", info.branch, info.base], in: info.path, status: 1)
    try mustGit(["clean", "-ffdxq", "-e", ".kiln"], in: info.path, status: 1)
    return notes
  }

  /// `20261125-171634`, UTC: the suffix of a branch that keeps a released workspace's commits.
  private static func timestamp() -> String {
    let t = utcFields(Double(time(nil)))
    return "\(t.year)\(t.month)\(t.day)-\(t.hour)\(t.minute)\(t.second)"
  }

  // MARK: - Reports

  /// Where the checkout at `checkoutRoot` keeps the manifest called `fileName`, in the
  /// folder the caller stands in (mirrored).
  func manifestPath(in checkoutRoot: String, fileName: String = "state.db") -> String {
    Paths.join(Paths.join(checkoutRoot, relativeDirectory), ".kiln/" + fileName)
  }

  /// The manifests called `fileName` of the main checkout and of every workspace.
  func allManifestPaths(fileName: String) -> [String] {
    var paths: [String] = []
    switch kind {
    case .git(let common) where Paths.fileName(common) == ".git": paths.append(manifestPath(in: Paths.parent(common), fileName: fileName))
    case .copies(let origin): paths.append(manifestPath(in: origin, fileName: fileName))
    default: break
    }
    for info in all() where !info.creating { paths.append(manifestPath(in: info.path, fileName: fileName)) }
    return paths
  }

  /// The last build's hit rate in the workspace's manifest, if it built.
  func lastHitRate(_ info: WorkspaceInfo) -> Double?? {
    let db = manifestPath(in: info.path)
    guard fileSystem.stat(db)?.kind == .file, let manifest = try? Manifest(path: db),
          let last = try? manifest.lastBuild()
    else { return nil }
    return .some(last.summary.hitRate)
  }

  /// The start time of process `pid` (clock ticks since boot), nil when there is none.
  static func processStart(_ pid: Int32) -> UInt64? { ProcessStat(pid: pid)?.startTime }

  /// The name of the workspace whose checkout holds `root`, from its path alone:
  /// `.../kiln/ws/NAME/...` under a git folder, or `.../.kiln/ws/NAME/...`.
  static func name(containing root: String) -> String? {
    for marker in ["/kiln/ws/", "/.kiln/ws/"] {
      guard let range = root.ranges(of: marker).last else { continue }
      let before = root[..<range.lowerBound]
      if marker == "/kiln/ws/", !(before.hasSuffix(".git") || before.hasSuffix("/.git")) { continue }
      return root[range.upperBound...].split(separator: "/").first.map(String.init)
    }
    return nil
  }
}
