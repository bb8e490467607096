/// `ws conflicts`: files changed in more than one workspace.
extension Workspaces {
  /// One file changed in several workspaces, and which.
  package struct Conflict: Sendable, Equatable {
    package var file: String
    package var workspaces: [String]
  }

  /// Every file that two or more workspaces change against their common base, sorted,
  /// each with the workspaces that change it (in the pool's order).
  package func conflicts() async throws(WorkspaceError) -> [Conflict] {
    guard isGit else { throw .needsGit(command: "ws conflicts") }
    let all = all().filter { !$0.creating }
    var heads: [String: String] = [:]
    for info in all {
      if let head = await git.commit("HEAD", in: info.path) { heads[info.name] = head }
    }
    let present = all.filter { heads[$0.name] != nil }
    // Changed files per (workspace, base): most pairs share one base.
    var changedCache: [String: Set<String>] = [:]
    func changed(_ info: WorkspaceInfo, since base: String) async -> Set<String> {
      let key = info.name + "\u{0}" + base
      if let hit = changedCache[key] { return hit }
      let files = Set(await changedFiles(info, against: base) ?? [])
      changedCache[key] = files
      return files
    }
    var owners: [String: Set<String>] = [:]
    for (i, a) in present.enumerated() {
      for b in present[(i + 1)...] {
        guard let base = await git.mergeBase(heads[a.name]!, heads[b.name]!, in: topLevel) else { continue }
        let both = await changed(a, since: base).intersection(await changed(b, since: base))
        for file in both { owners[file, default: []].formUnion([a.name, b.name]) }
      }
    }
    return owners.keys.sorted().map { file in
      Conflict(file: file, workspaces: owners[file]!.sorted { WorkspaceInfo.orderKey($0) < WorkspaceInfo.orderKey($1) })
    }
  }
}
