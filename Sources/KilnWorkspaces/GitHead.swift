import KilnSystem

/// The commit a checkout's HEAD names, read from git's files rather than by running
/// git: every build records it, and a process spawn would cost more than a null build.
///
/// Reads, from the folder up: `.git` (a folder, or in a linked worktree or submodule a
/// file `gitdir: PATH`), its `HEAD` (`ref: refs/heads/NAME`, or a commit on a detached
/// HEAD), then the ref: a loose file in the git dir, then in the common dir (`commondir`
/// names it in a linked worktree), then a line of `packed-refs`. A handful of small
/// reads; nil when anything is missing or malformed, or HEAD names a branch with no
/// commit yet. Never writes.
package struct GitHead {
  package let fileSystem: any FileSystem

  package init(fileSystem: any FileSystem) {
    self.fileSystem = fileSystem
  }

  /// The commit (40 or 64 hex digits) HEAD names in the checkout holding `folder`.
  package func commit(containing folder: String) -> String? {
    guard let gitDir = gitDirectory(containing: folder), let head = text(gitDir + "/HEAD") else { return nil }
    if Self.isObjectName(head) { return head }
    guard head.hasPrefix("ref:") else { return nil }
    let ref = String(head.dropFirst(4).drop { $0 == " " || $0 == "\t" })
    // A ref is a path under the git dir: nothing that climbs out of it.
    guard ref.hasPrefix("refs/"), !ref.split(separator: "/").contains("..") else { return nil }
    return resolve(ref, gitDir: gitDir)
  }

  /// The git dir of the checkout holding `folder`: its `.git` folder, or the folder a
  /// `.git` file points at.
  private func gitDirectory(containing folder: String) -> String? {
    var dir = folder
    // A checkout nests at most a few dozen folders deep; the bound keeps a loop out.
    for _ in 0..<64 {
      let dotGit = Paths.join(dir, ".git")
      switch fileSystem.stat(dotGit)?.kind {
      case .directory: return dotGit
      case .file:
        guard let line = text(dotGit), line.hasPrefix("gitdir:") else { return nil }
        let path = String(line.dropFirst(7).drop { $0 == " " || $0 == "\t" })
        guard !path.isEmpty else { return nil }
        return path.hasPrefix("/") ? path : Paths.normalize(Paths.join(dir, path)) ?? Paths.join(dir, path)
      default:
        if dir == "/" || dir.isEmpty { return nil }
        dir = Paths.parent(dir)
      }
    }
    return nil
  }

  private func resolve(_ ref: String, gitDir: String) -> String? {
    var common = gitDir
    if let relative = text(gitDir + "/commondir") {
      common = relative.hasPrefix("/") ? relative : Paths.normalize(Paths.join(gitDir, relative)) ?? gitDir
    }
    for dir in gitDir == common ? [gitDir] : [gitDir, common] {
      if let value = text(dir + "/" + ref) {
        // A symbolic ref (`ref: refs/...`) one level on is rare: not followed.
        return Self.isObjectName(value) ? value : nil
      }
    }
    guard let packed = try? fileSystem.read(common + "/packed-refs") else { return nil }
    for line in String(decoding: packed, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("^") {
      let fields = line.split(separator: " ", maxSplits: 1)
      if fields.count == 2, fields[1] == ref, Self.isObjectName(String(fields[0])) { return String(fields[0]) }
    }
    return nil
  }

  /// A small file's first line, without its line end; nil when it cannot be read.
  private func text(_ path: String) -> String? {
    guard fileSystem.stat(path)?.kind == .file, let bytes = try? fileSystem.read(path), bytes.count < 4096 else { return nil }
    let line = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first ?? ""
    return String(line).trimmingTrailingWhitespace()
  }

  /// SHA-1 (40) or SHA-256 (64) hex digits.
  static func isObjectName(_ text: String) -> Bool {
    (text.utf8.count == 40 || text.utf8.count == 64) && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
  }
}

extension String {
  fileprivate func trimmingTrailingWhitespace() -> String {
    var s = Substring(self)
    while let last = s.last, last == " " || last == "\r" || last == "\t" { s = s.dropLast() }
    return String(s)
  }
}
