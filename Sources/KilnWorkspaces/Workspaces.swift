#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import KilnStore
import KilnSystem

/// A repository's workspaces (SPEC §3, `kiln ws`): git worktrees on `kiln/NAME` branches
/// under `<git-common-dir>/kiln/ws/`, where neither `git status` nor kiln's globs look,
/// with one small registry file each under `<git-common-dir>/kiln/meta/`. Outside git,
/// copies (reflinked where the filesystem can) under `<project>/.kiln/ws/`. Every change
/// to the registry is made under an exclusive lock on `kiln/lock`, held only while the
/// registry is read and written (never across a git command), and every registry file
/// is replaced atomically, so a crash leaves either the old state or the new one.
package struct Workspaces: Sendable {
  package enum Kind: Sendable {
    /// Inside a git repository whose shared folder is `commonDirectory`.
    case git(commonDirectory: String)
    /// Outside git: copies of the project at `origin`.
    case copies(origin: String)
  }

  package let kind: Kind
  /// The checkout (or copy) the command runs in: its top folder.
  package let topLevel: String
  /// Where the caller stands, relative to `topLevel` ("" at the top): `ws run` runs in
  /// the same folder of the workspace, and the manifest of a workspace is found there.
  package let relativeDirectory: String
  package let home: String
  package let registry: String
  package let lockPath: String
  /// For the programs kiln runs outside git (cp, rm, diff): git's hook variables removed.
  package let environment: [String: String]
  package let git: any Git
  package let fileSystem: any FileSystem
  /// Seconds since the epoch: claim times and the names of branches that keep commits.
  package let now: @Sendable () -> Int64

  package var isGit: Bool { if case .git = kind { true } else { false } }

  /// The workspaces of the repository (or project) that `directory` belongs to.
  /// `projectRoot` is the folder of the build file in use, if any.
  package static func open(directory: String, projectRoot: String?, environment: [String: String],
                           git: (any Git)? = nil, fileSystem: any FileSystem = LocalFileSystem(),
                           now: @escaping @Sendable () -> Int64 = { Int64(time(nil)) }) async -> Workspaces {
    let git = git ?? LocalGit(environment: environment)
    var env = environment
    for name in gitHookVariables { env[name] = nil }
    if let found = await git.locate(from: directory) {
      return Workspaces(kind: .git(commonDirectory: found.commonDirectory), topLevel: found.topLevel,
                        directory: directory, environment: env, git: git, fileSystem: fileSystem, now: now)
    }
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
    return Workspaces(kind: .copies(origin: origin), topLevel: top, directory: directory, environment: env, git: git,
                      fileSystem: fileSystem, now: now)
  }

  private init(kind: Kind, topLevel: String, directory: String, environment: [String: String], git: any Git,
               fileSystem: any FileSystem, now: @escaping @Sendable () -> Int64) {
    self.kind = kind
    self.topLevel = topLevel
    switch kind {
    case .git(let common):
      home = common + "/kiln/ws"
      registry = common + "/kiln/meta"
      lockPath = common + "/kiln/lock"
    case .copies(let origin):
      let layout = StateLayout(root: origin)
      home = layout.copies
      registry = layout.copiesRegistry
      lockPath = layout.copiesLock
    }
    relativeDirectory = Paths.relative(directory, to: topLevel) ?? ""
    self.environment = environment
    self.git = git
    self.fileSystem = fileSystem
    self.now = now
  }

  // MARK: - Registry

  package func path(of name: String) -> String { home + "/" + name }

  package func all() -> [WorkspaceInfo] {
    let names = fileSystem.contents(ofDirectory: registry) ?? []
    return names.filter { !$0.hasPrefix(".") }.compactMap(info).sorted { $0.sortKey < $1.sortKey }
  }

  /// The registry's entry for `name`. The file is untrusted (a copy's `.kiln/ws-meta`
  /// can arrive with the project): an entry whose name or folder is not the one kiln
  /// would have written for `name`, or whose branch is not `kiln/NAME`, is ignored,
  /// so `ws rm` can never be pointed at another folder, nor `release` at another branch.
  package func info(_ name: String) -> WorkspaceInfo? {
    guard (try? Self.validate(name)) != nil, !OwnFile.isLink(registry + "/" + name),
          let bytes = try? fileSystem.read(registry + "/" + name),
          let info = WorkspaceInfo(decoding: String(decoding: bytes, as: UTF8.self)),
          info.name == name, info.path == path(of: name), info.branch == (isGit ? "kiln/\(name)" : "")
    else { return nil }
    return info
  }

  package func save(_ info: WorkspaceInfo) throws(WorkspaceError) {
    do {
      try fileSystem.createDirectories(registry)
      try fileSystem.writeAtomically(Array(info.encode().utf8), to: registry + "/" + info.name, permissions: 0o644)
    } catch {
      throw .registry("cannot write the registry: \(error)")
    }
  }

  package func forget(_ name: String) { try? fileSystem.remove(registry + "/" + name) }

  /// Runs `body` holding the registry's exclusive lock (other kiln processes wait).
  /// `body` reads and writes registry files only: the lock is never held across a git
  /// command, so one slow reset does not stall every other `ws` command.
  package func locked<T>(_ body: () throws(WorkspaceError) -> T) throws(WorkspaceError) -> T {
    try? fileSystem.createDirectories(Paths.parent(lockPath))
    // Never through a symlink: a planted one would have kiln create or lock another file.
    let opened: Int32?
    do { opened = try OwnFile.open(lockPath, O_RDWR | O_CREAT, mode: 0o666) } catch { throw .registry("\(error)") }
    guard let fd = opened else {
      throw .registry("cannot open \(lockPath): \(String(cString: strerror(errno)))")
    }
    defer { OwnFile.unlockAndClose(fd) }
    while flock(fd, LOCK_EX) != 0, errno == EINTR {}
    return try body()
  }

  /// The workspace called `name`.
  package func existing(_ name: String) throws(WorkspaceError) -> WorkspaceInfo {
    guard let info = info(name), !info.creating else { throw .noSuchWorkspace(name) }
    return info
  }

  package static func validate(_ name: String) throws(WorkspaceError) {
    let allowed = name.utf8.allSatisfy { c in
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D
    }
    guard !name.isEmpty, name.count <= 100, allowed, !name.hasPrefix("."), !name.hasPrefix("-"),
          !name.hasSuffix(".lock"), !name.contains("..")
    else { throw .invalidName(name) }
  }

  /// The commit `ref` names in this repository.
  package func commit(of ref: String) async throws(WorkspaceError) -> String {
    guard let sha = await git.commit(ref, in: topLevel) else {
      throw ref == "HEAD" ? .noCommitYet : .notACommit(ref)
    }
    return sha
  }

  /// The tip of branch `name`, nil when there is no such branch.
  package func tip(of branch: String) async -> String? {
    await git.commit("refs/heads/\(branch)", in: topLevel)
  }

  // MARK: - Making and removing

  /// Checks out (or copies) a new workspace and registers it.
  @discardableResult
  package func create(_ name: String, from ref: String?, pool: Bool = false) async throws(WorkspaceError)
    -> WorkspaceInfo
  {
    try Self.validate(name)
    let path = path(of: name)
    let base: String
    switch kind {
    case .git: base = try await commit(of: ref ?? "HEAD")
    case .copies:
      if ref != nil { throw .fromNeedsGit }
      base = ""
    }
    var info = WorkspaceInfo(name: name, path: path, branch: isGit ? "kiln/\(name)" : "", base: base)
    info.pool = pool
    info.creating = true
    try locked { () throws(WorkspaceError) in
      if self.info(name) != nil || fileSystem.stat(path) != nil { throw .alreadyExists(name) }
      try save(info)
    }
    do {
      switch kind {
      case .git:
        if await tip(of: info.branch) != nil { throw WorkspaceError.branchExists(name) }
        do { try fileSystem.createDirectories(home) } catch { throw WorkspaceError.cannotCreate(path: path, reason: "\(error)") }
        do { try await git.addWorktree(at: path, branch: info.branch, from: base, in: topLevel) } catch {
          throw WorkspaceError.git(error, refusal: false)
        }
      case .copies(let origin):
        try await copyProject(from: origin, to: path)
      }
    } catch {
      try? locked { forget(name) }
      if case .copies = kind { _ = await Command.run(["rm", "-rf", path], in: "/", environment: environment) }
      throw error as? WorkspaceError ?? .cannotCreate(path: path, reason: "\(error)")
    }
    info.creating = false
    try locked { () throws(WorkspaceError) in try save(info) }
    return info
  }

  /// A warning when the build file the caller uses (`buildFile`, in this checkout) is
  /// not in the commit the new git workspace `info` starts from, or differs from it: the
  /// workspace gets the committed file, or none (and kiln never looks for one above a
  /// workspace). kiln warns rather than copying it in, because a copied file would be
  /// uncommitted work the workspace's owner did not make.
  package func uncommittedBuildFileWarning(_ buildFile: String?, in info: WorkspaceInfo) async -> String? {
    guard isGit, let buildFile, let relative = Paths.relative(buildFile, to: topLevel), !relative.isEmpty,
          !relative.hasPrefix("../")
    else { return nil }
    if !(await git.contains(relative, in: info.base, in: topLevel)) {
      return "kiln: ws: warning: \(relative) is not committed, so workspace '\(info.name)' has none (commit it first)"
    }
    if await git.differs(relative, from: info.base, in: topLevel) {
      return "kiln: ws: warning: \(relative) has changes that are not committed; workspace '\(info.name)' has the "
        + "committed one"
    }
    return nil
  }

  /// Outside git: every top-level entry but `.kiln`, reflinked where the filesystem can.
  private func copyProject(from origin: String, to path: String) async throws(WorkspaceError) {
    do { try fileSystem.createDirectories(path) } catch { throw .cannotCreate(path: path, reason: "\(error)") }
    let entries = (fileSystem.contents(ofDirectory: origin) ?? []).filter { $0 != ".kiln" }.sorted()
    guard !entries.isEmpty else { return }
    let out = await Command.run(["cp", "-a", "--reflink=auto"] + entries.map { origin + "/" + $0 } + [path + "/"],
                                in: origin, environment: environment)
    guard out.succeeded else { throw .copyFailed(out.firstErrorLine) }
  }

  /// Files that differ from the base (committed, uncommitted and untracked, ignored
  /// files aside); outside git, files that differ from the origin.
  package func changedFiles(_ info: WorkspaceInfo, against base: String? = nil) async -> [String]? {
    switch kind {
    case .git:
      guard fileSystem.stat(info.path)?.kind == .directory,
            let names = await git.changedFiles(since: base ?? info.base, in: info.path)
      else { return nil }
      return Array(Set(names)).sorted()
    case .copies(let origin):
      let out = await Command.run(["diff", "-rq", "--exclude=.kiln", origin, info.path], in: "/",
                                  environment: environment)
      guard out.status <= 1 else { return nil }
      return out.text.split(separator: "\n").map(String.init)
    }
  }

  /// Uncommitted work: tracked changes and untracked files git does not ignore. Throws
  /// when git cannot say: a damaged `.git` file, a corrupt index, a checkout git does
  /// not trust. Silence from a failed `git status` is not a clean tree.
  package func uncommitted(_ info: WorkspaceInfo) async throws(WorkspaceError) -> [String] {
    switch kind {
    case .git:
      // A checkout deleted by hand holds nothing to lose.
      if fileSystem.stat(info.path) == nil { return [] }
      do { return try await git.uncommitted(in: info.path) } catch {
        var reason = error.message
        for prefix in ["fatal: ", "error: "] where reason.hasPrefix(prefix) { reason.removeFirst(prefix.count) }
        throw .statusUnknown(name: info.name, reason: reason)
      }
    case .copies(let origin):
      guard let changed = await changedFiles(info) else { throw .comparisonFailed(name: info.name, origin: origin) }
      return changed
    }
  }

  /// Removes a workspace unless `force`: refused when it is held (a claimed pool
  /// workspace) or holds uncommitted work. Returns notes for the user.
  package func remove(_ name: String, force: Bool) async throws(WorkspaceError) -> [String] {
    let info = try existing(name)
    if !force {
      if info.isHeld { throw .claimed(name) }
      let dirty = try await uncommitted(info)
      if !dirty.isEmpty { throw .uncommittedWork(name: name, paths: dirty) }
    }
    return try await remove(info)
  }

  /// Removes the checkout; keeps the branch when it holds commits beyond the base, and
  /// commits made on a detached HEAD on a branch of their own. Returns notes for the
  /// user.
  package func remove(_ info: WorkspaceInfo) async throws(WorkspaceError) -> [String] {
    var notes: [String] = []
    switch kind {
    case .git:
      if let note = try await keepDetachedCommits(info) { notes.append(note) }
      if !(await git.removeWorktree(at: info.path, in: topLevel)) {
        if fileSystem.stat(info.path) != nil {
          _ = await Command.run(["rm", "-rf", info.path], in: "/", environment: environment)
        }
        await git.pruneWorktrees(in: topLevel)
      }
      if let tip = await tip(of: info.branch) {
        if tip == info.base {
          await git.deleteBranch(info.branch, in: topLevel)
        } else {
          notes.append("kiln: ws: kept branch \(info.branch) (\(await commitCount(info.base, tip)) beyond its base)")
        }
      }
    case .copies:
      let out = await Command.run(["rm", "-rf", info.path], in: "/", environment: environment)
      guard out.succeeded else { throw .cannotRemove(path: info.path, reason: out.firstErrorLine) }
    }
    try locked { forget(info.name) }
    return notes
  }

  /// "3 commits": how many commits `tip` has beyond `base`.
  private func commitCount(_ base: String, _ tip: String) async -> String {
    let n = await git.count(["\(base)..\(tip)"], in: topLevel)
    return "\(n.map(String.init) ?? "?") commit\(n == 1 ? "" : "s")"
  }

  /// A new branch name `kiln/NAME-STAMP[SUFFIX][-N]` that does not exist yet.
  private func freshBranch(_ info: WorkspaceInfo, suffix: String = "") async -> String {
    let stem = "\(info.branch)-\(Self.timestamp(now()))\(suffix)"
    var name = stem
    var n = 1
    while await tip(of: name) != nil {
      n += 1
      name = "\(stem)-\(n)"
    }
    return name
  }

  /// When the workspace's HEAD is detached and reaches commits that no branch holds
  /// (work committed on a detached HEAD), puts them on a new branch
  /// `kiln/NAME-STAMP-detached` and returns a note naming it. Resetting or removing
  /// the checkout would otherwise leave them only in its reflog, which goes with it.
  package func keepDetachedCommits(_ info: WorkspaceInfo) async throws(WorkspaceError) -> String? {
    guard isGit, fileSystem.stat(info.path) != nil, !(await git.isOnBranch(in: info.path)),
          let head = await git.commit("HEAD", in: info.path),
          let n = await git.count([head, "--not", "--branches"], in: info.path), n > 0
    else { return nil }
    let keep = await freshBranch(info, suffix: "-detached")
    do { try await git.createBranch(keep, at: head, in: topLevel) } catch { throw .git(error, refusal: true) }
    return "kiln: ws: kept \(n) commit\(n == 1 ? "" : "s") made on a detached HEAD in \(info.name) on branch \(keep)"
  }

  /// Puts a workspace back to its base: tracked files reset, everything untracked or
  /// ignored removed (kiln's own `.kiln` state kept: it is derived and verified). Commits
  /// made on its branch, and on a detached HEAD, are kept on new branches, named in the
  /// returned notes. Runs git: never call it holding the registry lock.
  package func reset(_ info: WorkspaceInfo) async throws(WorkspaceError) -> [String] {
    guard isGit else { throw .needsGit(command: "ws: release") }
    var notes: [String] = []
    if let tip = await tip(of: info.branch), tip != info.base {
      let keep = await freshBranch(info)
      do { try await git.createBranch(keep, at: tip, in: topLevel) } catch { throw .git(error, refusal: true) }
      notes.append("kiln: ws: kept \(await commitCount(info.base, tip)) of \(info.name) on branch \(keep)")
    }
    // After the branch's tip is kept, so only commits no branch holds are counted.
    if let note = try await keepDetachedCommits(info) { notes.append(note) }
    do {
      try await git.forceCheckout(branch: info.branch, at: info.base, in: info.path)
      try await git.clean(keeping: ".kiln", in: info.path)
    } catch {
      throw .git(error, refusal: true)
    }
    return notes
  }

  /// `20261125-171634`, UTC: the suffix of a branch that keeps a released workspace's commits.
  package static func timestamp(_ epochSeconds: Int64) -> String {
    var t = time_t(epochSeconds)
    var parts = tm()
    gmtime_r(&t, &parts)
    var buffer = [CChar](repeating: 0, count: 32)
    let n = strftime(&buffer, buffer.count, "%Y%m%d-%H%M%S", &parts)
    return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// The name of the kiln workspace whose checkout holds `path` (`root(containing:)`).
  package static func name(containing path: String, fileSystem: any FileSystem = LocalFileSystem()) -> String? {
    root(containing: path, fileSystem: fileSystem).map(Paths.fileName)
  }

  /// The top folder of the innermost kiln workspace that holds `path` (`path` itself
  /// when it is one), nil when none does (`isRoot(_:fileSystem:)`).
  package static func root(containing path: String, fileSystem: any FileSystem = LocalFileSystem()) -> String? {
    var dir = path
    while dir != "/", !dir.isEmpty {
      if isRoot(dir, fileSystem: fileSystem) { return dir }
      dir = Paths.parent(dir)
    }
    return nil
  }

  /// Whether `dir` is the top of a kiln workspace: `<project>/.kiln/ws/NAME` (a copy),
  /// or `<git-common-dir>/kiln/ws/NAME` (a worktree), where the git folder is known by
  /// its content, `HEAD` and `objects/`, whatever its name (`.git`, a bare `NAME.git`,
  /// `git init --separate-git-dir`'s). Decided from the path and at most two stats,
  /// never by asking git nor by looking inside the workspace, so a damaged workspace
  /// still counts. The one rule for the build-file lookup (which stops at a workspace)
  /// and for the workspace a build is recorded under.
  package static func isRoot(_ dir: String, fileSystem: any FileSystem = LocalFileSystem()) -> Bool {
    let parent = Paths.parent(dir)
    guard Paths.fileName(dir) != "" else { return false }
    if parent.hasSuffix("/.kiln/ws") { return true }
    guard parent.hasSuffix("/kiln/ws") else { return false }
    let gitDirectory = Paths.parent(Paths.parent(parent))
    return fileSystem.stat(gitDirectory + "/HEAD")?.kind == .file
      && fileSystem.stat(gitDirectory + "/objects")?.kind == .directory
  }
}
