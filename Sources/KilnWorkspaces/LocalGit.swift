import KilnSystem

/// `Git` by running the `git` program (`Command`), with git's hook variables taken out
/// of the environment it is given, so it always acts on the checkout it is pointed at.
package struct LocalGit: Git {
  /// The environment every git command gets (hook variables removed).
  package let environment: [String: String]
  private let fileSystem = LocalFileSystem()

  package init(environment: [String: String]) {
    var env = environment
    for name in gitHookVariables { env[name] = nil }
    self.environment = env
  }

  private func git(_ arguments: [String], in directory: String, index: String? = nil) async -> Command.Output {
    var env = environment
    if let index { env["GIT_INDEX_FILE"] = index }
    return await Command.run(["git"] + arguments, in: directory, environment: env)
  }

  /// `git ...` that must succeed: its output, or its first error line.
  @discardableResult
  private func must(_ arguments: [String], in directory: String, index: String? = nil,
                    as name: String? = nil) async throws(GitFailure) -> Command.Output {
    let out = await git(arguments, in: directory, index: index)
    guard out.succeeded else { throw GitFailure(name ?? arguments.first ?? "", out.firstErrorLine) }
    return out
  }

  private func lines(_ out: Command.Output) -> [String] { out.text.split(separator: "\n").map(String.init) }

  package func locate(from directory: String) async -> (commonDirectory: String, topLevel: String)? {
    let out = await git(["rev-parse", "--path-format=absolute", "--git-common-dir", "--show-toplevel"], in: directory)
    let found = lines(out)
    guard out.succeeded, found.count == 2 else { return nil }
    return (Paths.normalize(found[0]) ?? found[0], found[1])
  }

  package func locateHooks(from directory: String) async throws(GitFailure)
    -> (hooks: String, gitDirectory: String, topLevel: String)
  {
    let out = await git(["rev-parse", "--path-format=absolute", "--git-path", "hooks", "--git-dir", "--show-toplevel"],
                        in: directory)
    let found = lines(out)
    guard out.succeeded, found.count == 3 else { throw GitFailure("rev-parse", out.firstErrorLine) }
    return (found[0], found[1], found[2])
  }

  package func commit(_ revision: String, in directory: String) async -> String? {
    let out = await git(["rev-parse", "--verify", "--quiet", revision + "^{commit}"], in: directory)
    return out.succeeded && !out.text.isEmpty ? out.text : nil
  }

  package func isOnBranch(in directory: String) async -> Bool {
    await git(["symbolic-ref", "--quiet", "HEAD"], in: directory).succeeded
  }

  package func count(_ revisions: [String], in directory: String) async -> Int? {
    let out = await git(["rev-list", "--count"] + revisions, in: directory)
    return out.succeeded ? Int(out.text) : nil
  }

  package func commits(from tip: String, excluding excluded: [String], in directory: String) async throws(GitFailure)
    -> [String]
  {
    lines(try await must(["rev-list", "--reverse", tip, "--not"] + excluded, in: directory))
  }

  package func mergeBase(_ a: String, _ b: String, in directory: String) async -> String? {
    let out = await git(["merge-base", a, b], in: directory)
    return out.succeeded && !out.text.isEmpty ? out.text : nil
  }

  package func createBranch(_ name: String, at commit: String, in directory: String) async throws(GitFailure) {
    try await must(["branch", name, commit], in: directory)
  }

  package func deleteBranch(_ name: String, in directory: String) async {
    _ = await git(["branch", "-D", "--quiet", name], in: directory)
  }

  package func addWorktree(at path: String, branch: String, from commit: String, in directory: String) async
    throws(GitFailure)
  {
    try await must(["worktree", "add", "--quiet", "-b", branch, path, commit], in: directory)
  }

  package func removeWorktree(at path: String, in directory: String) async -> Bool {
    await git(["worktree", "remove", "--force", "--force", path], in: directory).succeeded
  }

  package func pruneWorktrees(in directory: String) async {
    _ = await git(["worktree", "prune"], in: directory)
  }

  package func forceCheckout(branch: String, at commit: String, in checkout: String) async throws(GitFailure) {
    try await must(["checkout", "--quiet", "--force", "-B", branch, commit], in: checkout)
  }

  package func clean(keeping kept: String, in checkout: String) async throws(GitFailure) {
    try await must(["clean", "-ffdxq", "-e", kept], in: checkout)
  }

  package func uncommitted(in checkout: String) async throws(GitFailure) -> [String] {
    lines(try await must(["status", "--porcelain", "--untracked-files=all"], in: checkout)).map { String($0.dropFirst(3)) }
  }

  package func changedFiles(since commit: String, in checkout: String) async -> [String]? {
    let diff = await git(["diff", "--name-only", "--no-renames", commit, "--"], in: checkout)
    let untracked = await git(["ls-files", "--others", "--exclude-standard", "--full-name"], in: checkout)
    guard diff.succeeded, untracked.succeeded else { return nil }
    return lines(diff) + lines(untracked)
  }

  package func contains(_ path: String, in commit: String, in directory: String) async -> Bool {
    await git(["cat-file", "-e", "\(commit):\(path)"], in: directory).succeeded
  }

  package func differs(_ path: String, from commit: String, in directory: String) async -> Bool {
    await git(["diff", "--quiet", commit, "--", path], in: directory).status == 1
  }

  package func readTree(_ commit: String, into index: String, in directory: String) async throws(GitFailure) {
    try await must(["read-tree", commit], in: directory, index: index, as: "read-tree \(commit)")
  }

  package func stagedEntries(of index: String, in directory: String) async throws(GitFailure) -> [UInt8] {
    try await must(["ls-files", "-s", "-z"], in: directory, index: index).stdout
  }

  package func checkOut(_ paths: [String], of index: String, into prefix: String, in directory: String) async
    throws(GitFailure)
  {
    // Names go in through a file on stdin: any number of them, any bytes but NUL.
    let list = prefix + ".paths"
    var bytes: [UInt8] = []
    for path in paths { bytes += Array(path.utf8) + [0] }
    do { try fileSystem.writeAtomically(bytes, to: list, permissions: 0o644) } catch {
      throw GitFailure("checkout-index", "cannot write \(list): \(error)")
    }
    defer { try? fileSystem.remove(list) }
    var env = environment
    env["GIT_INDEX_FILE"] = index
    let out = await Command.run(["sh", "-c", "exec git checkout-index -f -z --stdin --prefix=\"$1\"/ < \"$2\"", "sh",
                                 prefix, list], in: directory, environment: env)
    guard out.succeeded else { throw GitFailure("checkout-index", out.firstErrorLine) }
  }

  package func stagedBlob(_ path: String, of index: String, in directory: String) async -> [UInt8]? {
    let out = await git(["cat-file", "blob", ":" + path], in: directory, index: index)
    return out.succeeded ? out.stdout : nil
  }

  package func changedPaths(of index: String, against commit: String, in directory: String) async -> Set<String> {
    var out = await git(["diff", "--cached", "--name-only", "--no-renames", "-z", commit, "--"], in: directory,
                        index: index)
    if !out.succeeded { out = await git(["ls-files", "-z"], in: directory, index: index) }
    return Set(out.stdout.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
  }
}
