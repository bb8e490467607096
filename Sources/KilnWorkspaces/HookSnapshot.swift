import KilnCore
import KilnStore
import KilnSystem

/// The repository a hook runs in: its hooks folder (core.hooksPath respected, shared by
/// linked worktrees), this worktree's git folder and top, and the build file's folder.
package struct HookRepository: Sendable {
  package var hooks: String
  package var gitDirectory: String
  package var topLevel: String
  /// The build file's folder, relative to `topLevel` ("" at the top).
  package var buildDirectory: String

  /// The repository holding `root`, the build file's folder.
  package static func locate(_ root: String, git: any Git) async throws(HookError) -> HookRepository {
    let found: (hooks: String, gitDirectory: String, topLevel: String)
    do { found = try await git.locateHooks(from: root) } catch {
      throw .notInGit(directory: root, reason: error.message)
    }
    return HookRepository(hooks: found.hooks, gitDirectory: found.gitDirectory, topLevel: found.topLevel,
                          buildDirectory: Paths.relative(root, to: found.topLevel) ?? "")
  }

  /// Where the snapshot of `hook` is kept: `<git-dir>/kiln/hooks/HOOK`.
  package func snapshot(for hook: String) -> String { gitDirectory + "/kiln/hooks/" + hook }
}

/// A private checkout of what git is about to record, for `kiln hooks run`: the files of
/// an index (the one git commits, or a pushed commit read into a private one), in a
/// folder of this worktree's git folder kept between runs with its own `.kiln/`. A sync
/// writes only the files whose blob changed since the last one, so the build inside is
/// incremental; the working tree and the real index are only read.
///
/// The state file `<snapshot>.files` (sealed, `KILNSNP1`): one NUL-terminated entry per
/// file, `MODE SHA STAGE SIZE:MTIME:CTIME:INODE\tPATH`, the index entry the file was
/// written from and the stat it had then.
package struct HookSnapshot: Sendable {
  package let folder: String
  package let repository: HookRepository
  package let git: any Git
  package let fileSystem: any FileSystem

  package init(folder: String, repository: HookRepository, git: any Git, fileSystem: any FileSystem) {
    self.folder = folder
    self.repository = repository
    self.git = git
    self.fileSystem = fileSystem
  }

  static let stateMagic = Array("KILNSNP1".utf8)
  var stateFile: String { folder + ".files" }

  /// A snapshot file's stat as the state keeps it: size, mtime, ctime, inode.
  static func statText(_ st: FileStat?) -> String {
    guard let st else { return "-" }
    return "\(st.size):\(st.mtime):\(st.ctime):\(st.inode)"
  }

  /// The index entries `index` holds, path -> "MODE SHA STAGE" (submodules left out,
  /// they are not files).
  package func entries(of index: String) async throws(HookError) -> [String: String] {
    let listing: [UInt8]
    do { listing = try await git.stagedEntries(of: index, in: repository.topLevel) } catch { throw .git(error) }
    var entries: [String: String] = [:]
    for entry in listing.split(separator: 0) {
      // A name that is not UTF-8 cannot be tracked (kiln's paths are text): refused,
      // named with its bytes escaped, rather than mangled or skipped.
      if let tabByte = entry.firstIndex(of: 0x09), String(validating: entry[(tabByte + 1)...], as: UTF8.self) == nil {
        throw .undecodableName(UndecodableName.escape(Array(entry[(tabByte + 1)...])))
      }
      let text = String(decoding: entry, as: UTF8.self)
      guard let tab = text.firstIndex(of: "\t") else { continue }
      let meta = text[..<tab]
      guard !meta.hasPrefix("160000") else { continue }
      entries[String(text[text.index(after: tab)...])] = String(meta)
    }
    return entries
  }

  /// Makes the snapshot hold exactly the files of `index` (those `wanted` accepts, when
  /// given): writes the ones whose blob or mode changed since the last sync, or that
  /// were changed in the snapshot since, and deletes the ones that left it. Returns how
  /// many files of the index `wanted` left out.
  @discardableResult
  package func sync(index: String, only wanted: ((String) -> Bool)? = nil) async throws(HookError) -> Int {
    var now = try await entries(of: index)
    var leftOut = 0
    if let wanted {
      for path in now.keys where !wanted(path) {
        now[path] = nil
        leftOut += 1
      }
    }
    // A damaged state means every file is written again; a file whose stat moved since
    // (a task of the last hook build that edited it in place, a formatter say) is
    // written again too, so a verdict is always about the staged bytes.
    var before: [String: String] = [:]
    var stats: [String: String] = [:]
    if fileSystem.stat(folder)?.kind == .directory, let sealed = try? fileSystem.read(stateFile),
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
    for path in before.keys where now[path] == nil { try? fileSystem.remove(Paths.join(folder, path)) }
    let changed = now.keys.filter {
      before[$0] != now[$0] || stats[$0] != Self.statText(fileSystem.lstat(Paths.join(folder, $0)))
    }.sorted()
    // The state is written only after the files: a crash in between makes the next
    // run write everything again, never trust a file it did not write.
    try? fileSystem.remove(stateFile)
    do { try fileSystem.createDirectories(folder) } catch { throw .cannotCreate(folder) }
    if !changed.isEmpty {
      do { try await git.checkOut(changed, of: index, into: folder, in: repository.topLevel) } catch {
        throw .git(error)
      }
    }
    var state: [UInt8] = []
    for (path, meta) in now.sorted(by: { $0.key < $1.key }) {
      let stat = Self.statText(fileSystem.lstat(Paths.join(folder, path)))
      state += Array((meta + " " + stat + "\t" + path).utf8) + [0]
    }
    try? fileSystem.writeAtomically(Seal.close(Self.stateMagic, state), to: stateFile, permissions: 0o644)
    return leftOut
  }
}
