#if canImport(Glibc)
import Glibc
#endif
import KilnSystem
import KilnWorkspaces
import Synchronization

/// `Git` without git: a small model of one repository (refs, worktrees, each checkout's
/// uncommitted paths, index files), so workspace and hook logic is tested without
/// starting a process. Worktrees and checked-out index files are real folders and
/// files (the registry and snapshots live on disk); everything else is in memory.
/// Every operation is logged in `calls` ("worktree add PATH", "checkout BRANCH", ...),
/// and `onCall` sees each one as it starts.
package final class FakeGit: KilnWorkspaces.Git {
  package struct Model: Sendable {
    /// The common git folder; nil: not a repository.
    package var commonDirectory: String?
    package var topLevel: String
    /// `refs/heads/NAME` and `HEAD` -> sha.
    package var refs: [String: String] = [:]
    /// Every commit there is.
    package var commits: Set<String> = []
    /// Worktree path -> its branch (nil: detached HEAD) and HEAD.
    package var worktrees: [String: (branch: String?, head: String)] = [:]
    /// Checkout -> its uncommitted paths.
    package var uncommitted: [String: [String]] = [:]
    /// Checkout -> what `git status` says when it fails there.
    package var statusFailures: [String: String] = [:]
    /// Tip -> commits it has beyond any base (`rev-list --count BASE..TIP`).
    package var commitsBeyondBase: [String: Int] = [:]
    /// Detached HEAD -> commits no branch holds.
    package var unreachable: [String: Int] = [:]
    /// Pushed tip -> the commits `rev-list` lists for it, oldest first.
    package var pushed: [String: [String]] = [:]
    /// Index file -> path -> (blob sha, bytes).
    package var indexes: [String: [String: (sha: String, bytes: [UInt8])]] = [:]
    /// Index file -> its `ls-files -s -z` listing as raw bytes, instead of `indexes`'
    /// (for names that are not UTF-8).
    package var rawListings: [String: [UInt8]] = [:]
    /// Commit -> its tree, for `read-tree`.
    package var trees: [String: [String: (sha: String, bytes: [UInt8])]] = [:]
    package var calls: [String] = []
  }

  private let model: Mutex<Model>
  private let onCall: @Sendable (String) -> Void

  package init(commonDirectory: String?, topLevel: String, onCall: @escaping @Sendable (String) -> Void = { _ in }) {
    model = Mutex(Model(commonDirectory: commonDirectory, topLevel: topLevel))
    self.onCall = onCall
  }

  /// Reads or changes the model.
  package func with<T>(_ body: (inout Model) -> T) -> T { model.withLock { body(&$0) } }

  package var calls: [String] { with { $0.calls } }

  private func log(_ call: String) {
    with { $0.calls.append(call) }
    onCall(call)
  }

  package func locate(from directory: String) async -> (commonDirectory: String, topLevel: String)? {
    with { m in m.commonDirectory.map { ($0, m.topLevel) } }
  }

  package func locateHooks(from directory: String) async throws(GitFailure)
    -> (hooks: String, gitDirectory: String, topLevel: String)
  {
    guard let found = with({ m in m.commonDirectory.map { ($0, m.topLevel) } }) else {
      throw GitFailure("rev-parse", "fatal: not a git repository")
    }
    return (found.0 + "/hooks", found.0, found.1)
  }

  package func commit(_ revision: String, in directory: String) async -> String? {
    with { m in
      if revision == "HEAD" { return m.worktrees[directory]?.head ?? m.refs["HEAD"] }
      if let sha = m.refs[revision] ?? m.refs["refs/heads/" + revision] { return sha }
      return m.commits.contains(revision) ? revision : nil
    }
  }

  package func isOnBranch(in directory: String) async -> Bool {
    with { m in m.worktrees[directory].map { $0.branch != nil } ?? true }
  }

  package func count(_ revisions: [String], in directory: String) async -> Int? {
    with { m in
      if revisions.count == 1, let range = revisions[0].firstRange(of: "..") {
        return m.commitsBeyondBase[String(revisions[0][range.upperBound...])] ?? 0
      }
      return m.unreachable[revisions[0]] ?? 0
    }
  }

  package func commits(from tip: String, excluding excluded: [String], in directory: String) async throws(GitFailure)
    -> [String]
  {
    log("rev-list \(tip) --not \(excluded.joined(separator: " "))")
    guard let list = with({ $0.pushed[tip] }) else { throw GitFailure("rev-list", "fatal: bad object \(tip)") }
    return list
  }

  package func mergeBase(_ a: String, _ b: String, in directory: String) async -> String? {
    with { $0.refs["HEAD"] }
  }

  package func createBranch(_ name: String, at commit: String, in directory: String) async throws(GitFailure) {
    log("branch \(name) \(commit)")
    with { $0.refs["refs/heads/" + name] = commit }
  }

  package func deleteBranch(_ name: String, in directory: String) async {
    log("branch -D \(name)")
    with { _ = $0.refs.removeValue(forKey: "refs/heads/" + name) }
  }

  package func addWorktree(at path: String, branch: String, from commit: String, in directory: String) async
    throws(GitFailure)
  {
    log("worktree add \(path)")
    guard mkdir(path, 0o755) == 0 else { throw GitFailure("worktree", "fatal: cannot mkdir \(path)") }
    with {
      $0.refs["refs/heads/" + branch] = commit
      $0.worktrees[path] = (branch, commit)
    }
  }

  package func removeWorktree(at path: String, in directory: String) async -> Bool {
    log("worktree remove \(path)")
    TempDirectory.removeTree(path)
    with { _ = $0.worktrees.removeValue(forKey: path) }
    return true
  }

  package func pruneWorktrees(in directory: String) async { log("worktree prune") }

  package func forceCheckout(branch: String, at commit: String, in checkout: String) async throws(GitFailure) {
    log("checkout \(branch) \(commit)")
    with {
      $0.refs["refs/heads/" + branch] = commit
      $0.worktrees[checkout] = (branch, commit)
    }
  }

  package func clean(keeping kept: String, in checkout: String) async throws(GitFailure) {
    log("clean \(checkout)")
    with { _ = $0.uncommitted.removeValue(forKey: checkout) }
  }

  package func uncommitted(in checkout: String) async throws(GitFailure) -> [String] {
    log("status \(checkout)")
    if let failure = with({ $0.statusFailures[checkout] }) { throw GitFailure("status", failure) }
    return with { $0.uncommitted[checkout] ?? [] }
  }

  package func changedFiles(since commit: String, in checkout: String) async -> [String]? {
    with { $0.uncommitted[checkout] ?? [] }
  }

  package func contains(_ path: String, in commit: String, in directory: String) async -> Bool { true }

  package func differs(_ path: String, from commit: String, in directory: String) async -> Bool { false }

  package func readTree(_ commit: String, into index: String, in directory: String) async throws(GitFailure) {
    log("read-tree \(commit)")
    guard let tree = with({ $0.trees[commit] }) else { throw GitFailure("read-tree \(commit)", "fatal: bad tree") }
    with { $0.indexes[index] = tree }
  }

  package func stagedEntries(of index: String, in directory: String) async throws(GitFailure) -> [UInt8] {
    if let raw = with({ $0.rawListings[index] }) { return raw }
    var bytes: [UInt8] = []
    for (path, entry) in with({ $0.indexes[index] ?? [:] }).sorted(by: { $0.key < $1.key }) {
      bytes += Array("100644 \(entry.sha) 0\t\(path)".utf8) + [0]
    }
    return bytes
  }

  package func checkOut(_ paths: [String], of index: String, into prefix: String, in directory: String) async
    throws(GitFailure)
  {
    log("checkout-index \(paths.joined(separator: " "))")
    let entries = with { $0.indexes[index] ?? [:] }
    let fileSystem = LocalFileSystem()
    for path in paths {
      guard let entry = entries[path] else { throw GitFailure("checkout-index", "\(path) is not in the cache") }
      do {
        try fileSystem.createDirectories(Paths.parent(Paths.join(prefix, path)))
        try fileSystem.writeAtomically(entry.bytes, to: Paths.join(prefix, path), permissions: 0o644)
      } catch {
        throw GitFailure("checkout-index", "\(error)")
      }
    }
  }

  package func stagedBlob(_ path: String, of index: String, in directory: String) async -> [UInt8]? {
    with { $0.indexes[index]?[path]?.bytes }
  }

  package func changedPaths(of index: String, against commit: String, in directory: String) async -> Set<String> {
    with { m in
      let staged = m.indexes[index] ?? [:]
      let base = m.trees[commit] ?? [:]
      return Set(staged.keys.filter { base[$0]?.sha != staged[$0]?.sha } + base.keys.filter { staged[$0] == nil })
    }
  }
}
