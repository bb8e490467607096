import KilnWorkspaces

/// The one line (and exit status) each workspace or hook error makes: 1 when kiln
/// refuses to lose or skip work, 2 for usage and environment problems.
extension WorkspaceError {
  var cliError: CLIError {
    switch self {
    case .invalidName(let name):
      CLIError("kiln: ws: '\(name)' is not a workspace name (letters, digits, '.', '_' and '-'; not starting with '.' or '-')")
    case .noSuchWorkspace(let name): CLIError("kiln: ws: no workspace named '\(name)'")
    case .alreadyExists(let name): CLIError("kiln: ws: workspace '\(name)' already exists")
    case .branchExists(let name): CLIError("kiln: ws: branch kiln/\(name) already exists (delete it or pick another name)")
    case .noCommitYet: CLIError("kiln: ws: the repository has no commit yet: commit first")
    case .notACommit(let ref): CLIError("kiln: ws: --from: '\(ref)' is not a commit")
    case .fromNeedsGit: CLIError("kiln: ws: --from needs a git repository")
    case .needsGit(let command): CLIError("kiln: \(command) needs a git repository")
    case .git(let failure, let refusal):
      CLIError("kiln: ws: git \(failure.subcommand): \(failure.message)", status: refusal ? 1 : 2)
    case .registry(let message): CLIError("kiln: ws: \(message)")
    case .cannotCreate(let path, let reason): CLIError("kiln: ws: cannot create \(path): \(reason)")
    case .copyFailed(let message): CLIError("kiln: ws: cp: \(message)")
    case .cannotRemove(let path, let reason): CLIError("kiln: ws: cannot remove \(path): \(reason)")
    case .statusUnknown(let name, let reason):
      CLIError("kiln: ws: cannot tell whether '\(name)' has uncommitted work (git status: \(reason)); repair it or "
        + "use --force", status: 1)
    case .comparisonFailed(let name, let origin):
      CLIError("kiln: ws: cannot tell whether '\(name)' has uncommitted work (cannot compare it with \(origin)); use "
        + "--force", status: 1)
    case .uncommittedWork(let name, let dirty):
      CLIError("kiln: ws: '\(name)' has \(dirty.count) uncommitted change\(dirty.count == 1 ? "" : "s") "
        + "(\(dirty.prefix(3).joined(separator: ", "))\(dirty.count > 3 ? ", ..." : "")); commit them or use --force",
        status: 1)
    case .claimed(let name): CLIError("kiln: ws: '\(name)' is claimed; release it or use --force", status: 1)
    case .beingReset(let name, let pid):
      CLIError("kiln: ws: '\(name)' is being reset by another kiln (pid \(pid)); try again when it ends", status: 1)
    case .notInPool(let name): CLIError("kiln: ws release: '\(name)' is not a pool workspace")
    case .notAPoolWorkspace(let name): CLIError("kiln: ws pool: '\(name)' exists and is not a pool workspace")
    case .noPool: CLIError("kiln: ws claim: there is no pool (make one with kiln ws pool --size N)")
    case .poolExhausted(let claimed): CLIError("kiln: no free workspace in the pool (\(claimed) claimed)", status: 1)
    }
  }
}

extension HookError {
  var cliError: CLIError {
    switch self {
    case .notInGit(let directory, let reason): CLIError("kiln: hooks: \(directory) is not in a git working tree (\(reason))")
    case .git(let failure): CLIError("kiln: hooks: git \(failure.subcommand): \(failure.message)")
    case .prePush(let failure): CLIError("kiln: hooks: pre-push: \(failure.subcommand): \(failure.message)")
    case .cannotCreate(let path): CLIError("kiln: hooks: cannot create \(path)")
    case .cannotReadIndex(let path): CLIError("kiln: hooks: cannot read the index \(path)")
    case .cannotCopyIndex(let path, let reason): CLIError("kiln: hooks: cannot copy the index to \(path): \(reason)")
    case .undecodableName(let name):
      CLIError("kiln: hooks: the index holds '\(name)', whose name is not UTF-8, which kiln cannot track; rename it (git mv)")
    }
  }
}

/// Runs the body of a `ws` or `hooks` command, turning the domain's typed errors into
/// the CLI's lines.
func reportingDomainErrors<T>(_ body: () async throws -> T) async throws -> T {
  do {
    return try await body()
  } catch let error as WorkspaceError {
    throw error.cliError
  } catch let error as HookError {
    throw error.cliError
  }
}
