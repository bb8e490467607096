/// Why a workspace operation was refused or failed. The CLI turns each case into its
/// one stderr line and exit status (`WorkspaceError+Message` in KilnCLI).
package enum WorkspaceError: Error, Sendable, Equatable {
  /// `name` breaks the naming rule (letters, digits, '.', '_', '-'; no leading '.' or '-').
  case invalidName(String)
  case noSuchWorkspace(String)
  case alreadyExists(String)
  /// The branch `kiln/NAME` a new workspace would take exists already.
  case branchExists(String)
  /// The repository has no commit to start from.
  case noCommitYet
  /// `--from REF` names no commit.
  case notACommit(String)
  /// `--from` outside git.
  case fromNeedsGit
  /// The command (`"ws: release"`, `"ws pool"`) works only on git worktrees.
  case needsGit(command: String)
  /// A git command that had to succeed did not; `refusal` is true when the failure
  /// stops work on the user's changes (exit 1) rather than a usage problem (exit 2).
  case git(GitFailure, refusal: Bool)
  /// The registry (or its lock) could not be written or opened.
  case registry(String)
  /// The checkout or copy at `path` could not be made.
  case cannotCreate(path: String, reason: String)
  /// `cp` failed copying a project outside git.
  case copyFailed(String)
  case cannotRemove(path: String, reason: String)
  /// git could not say whether the workspace holds uncommitted work.
  case statusUnknown(name: String, reason: String)
  /// Outside git: the copy could not be compared with its origin.
  case comparisonFailed(name: String, origin: String)
  case uncommittedWork(name: String, paths: [String])
  /// A pool workspace someone holds.
  case claimed(String)
  /// Another kiln is resetting the pool workspace (`release` or a `claim`).
  case beingReset(name: String, pid: Int32)
  case notInPool(String)
  /// `ws pool` would take a name a workspace outside the pool has.
  case notAPoolWorkspace(String)
  case noPool
  case poolExhausted(claimed: Int)
}

/// Why `kiln hooks` could not check the staged content.
package enum HookError: Error, Sendable, Equatable {
  case notInGit(directory: String, reason: String)
  case git(GitFailure)
  /// pre-push: listing or reading one pushed commit failed (`what`: "git rev-list").
  case prePush(GitFailure)
  case cannotCreate(String)
  case cannotReadIndex(String)
  case cannotCopyIndex(to: String, reason: String)
  /// The index names a file whose name is not UTF-8 (escaped here).
  case undecodableName(String)
}
