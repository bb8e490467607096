/// What a git command that had to succeed said instead: which subcommand, and the first
/// line of its error output.
package struct GitFailure: Error, Sendable, Equatable {
  package var subcommand: String
  package var message: String

  package init(_ subcommand: String, _ message: String) {
    self.subcommand = subcommand
    self.message = message
  }
}

/// The variables git sets for a hook that point at its repository state. kiln's own git
/// commands and the tasks a hook builds must not see them: they would read git's
/// temporary index, or another repository. The one list every caller uses.
package let gitHookVariables = ["GIT_INDEX_FILE", "GIT_DIR", "GIT_WORK_TREE", "GIT_PREFIX", "GIT_COMMON_DIR",
                                "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH",
                                "GIT_NAMESPACE"]

/// The git operations kiln performs, and nothing more (ninja: DiskInterface): `kiln ws`
/// on worktrees and branches, `kiln hooks` on private index files. `directory` is a
/// folder of the checkout the command runs in; `index`, an index file other than the
/// checkout's own. `LocalGit` runs git; `FakeGit` (KilnTestSupport) keeps a model.
package protocol Git: Sendable {
  /// The common git folder and the top folder of the checkout holding `directory`; nil
  /// outside git (or without git).
  func locate(from directory: String) async -> (commonDirectory: String, topLevel: String)?
  /// The hooks folder (core.hooksPath respected), this worktree's git folder and its top.
  func locateHooks(from directory: String) async throws(GitFailure)
    -> (hooks: String, gitDirectory: String, topLevel: String)
  /// The commit `revision` names (a branch, `refs/heads/NAME`, a sha, `HEAD`); nil if none.
  func commit(_ revision: String, in directory: String) async -> String?
  /// Whether HEAD is a branch (not detached).
  func isOnBranch(in directory: String) async -> Bool
  /// How many commits `revisions` select (`git rev-list --count`).
  func count(_ revisions: [String], in directory: String) async -> Int?
  /// The commits reachable from `tip` and not from `excluded`, oldest first.
  func commits(from tip: String, excluding excluded: [String], in directory: String) async throws(GitFailure)
    -> [String]
  /// The best common ancestor of two commits.
  func mergeBase(_ a: String, _ b: String, in directory: String) async -> String?
  func createBranch(_ name: String, at commit: String, in directory: String) async throws(GitFailure)
  func deleteBranch(_ name: String, in directory: String) async
  /// A new worktree at `path` on a new branch `branch` starting at `commit`.
  func addWorktree(at path: String, branch: String, from commit: String, in directory: String) async
    throws(GitFailure)
  /// Removes the worktree at `path`, changes and all; false when git could not.
  func removeWorktree(at path: String, in directory: String) async -> Bool
  func pruneWorktrees(in directory: String) async
  /// Points `branch` at `commit` and checks it out in `checkout`, dropping changes to
  /// tracked files.
  func forceCheckout(branch: String, at commit: String, in checkout: String) async throws(GitFailure)
  /// Deletes untracked and ignored files of `checkout`, except under `kept`.
  func clean(keeping kept: String, in checkout: String) async throws(GitFailure)
  /// The paths with uncommitted work: tracked changes, and untracked files git does
  /// not ignore. Throws when git cannot say (a damaged checkout).
  func uncommitted(in checkout: String) async throws(GitFailure) -> [String]
  /// Files that differ from `commit` (committed or not) and untracked files; nil when
  /// git cannot say.
  func changedFiles(since commit: String, in checkout: String) async -> [String]?
  /// Whether `commit` holds `path` (relative to the top).
  func contains(_ path: String, in commit: String, in directory: String) async -> Bool
  /// Whether `path` in the working tree differs from `commit`'s.
  func differs(_ path: String, from commit: String, in directory: String) async -> Bool

  /// Makes `index` hold exactly the tree of `commit`.
  func readTree(_ commit: String, into index: String, in directory: String) async throws(GitFailure)
  /// `git ls-files -s -z` of `index`: "MODE SHA STAGE\tPATH" entries, NUL-separated.
  func stagedEntries(of index: String, in directory: String) async throws(GitFailure) -> [UInt8]
  /// Writes `paths` as `index` holds them into the folder `prefix`, over what is there.
  func checkOut(_ paths: [String], of index: String, into prefix: String, in directory: String) async
    throws(GitFailure)
  /// The staged bytes of `path` in `index`; nil when it holds none.
  func stagedBlob(_ path: String, of index: String, in directory: String) async -> [UInt8]?
  /// The paths `index` changes against `commit`; every path it holds when `commit` does
  /// not exist (a first commit).
  func changedPaths(of index: String, against commit: String, in directory: String) async -> Set<String>
}
