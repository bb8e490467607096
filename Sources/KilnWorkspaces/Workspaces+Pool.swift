/// The pool (`ws pool`, `ws claim`, `ws release`): ready workspaces `pool-1...pool-N`
/// an agent takes at once and gives back reset.
///
/// A claim is decided under the registry lock and its reset done outside it: the
/// claimer marks the workspace claimed, and names itself as its `resetter` when what is
/// in it must be reset (its last holder is gone), then lets the lock go, resets, and
/// clears the mark under the lock again. Two claimers never get one workspace (the
/// choice and the mark are one locked step), and a claimer that dies while resetting
/// leaves a workspace whose resetter is gone: the next claimer takes it and resets it,
/// again outside the lock. `release` marks and resets the same way.
extension Workspaces {
  /// What one attempt to claim found.
  package enum ClaimAttempt: Sendable, Equatable {
    /// `info` is the caller's; `notes` name branches that keep its last holder's commits.
    case claimed(WorkspaceInfo, notes: [String])
    /// Every one of the pool's `poolSize` workspaces is held.
    case allHeld(poolSize: Int)
  }

  /// Takes a pool workspace nobody holds, for `owner` (whose end gives it back; nil:
  /// held until released). `claimer` is this process (a test names another).
  package func claim(owner: ProcessIdentity?, claimer: ProcessIdentity = .current) async throws(WorkspaceError)
    -> ClaimAttempt
  {
    guard isGit else { throw .needsGit(command: "ws claim") }
    let picked: (info: WorkspaceInfo, dirty: Bool)?
    let poolSize: Int
    (picked, poolSize) = try locked { () throws(WorkspaceError) in
      let pool = all().filter { $0.pool && !$0.creating }
      if pool.isEmpty { throw .noPool }
      for var info in pool where !info.isHeld {
        let dirty = info.needsReset
        info.claimed = true
        info.owner = owner?.pid
        info.ownerStart = owner?.start
        info.claimedAt = now()
        info.resetter = dirty ? claimer : nil
        try save(info)
        return ((info, dirty), pool.count)
      }
      return (nil, pool.count)
    }
    guard let picked else { return .allHeld(poolSize: poolSize) }
    guard picked.dirty else { return .claimed(picked.info, notes: []) }
    // Its last holder is gone: what it left is reset before the caller gets it. Should
    // this fail, the mark stays, and the next claimer after this process retries.
    let notes = try await reset(picked.info)
    return .claimed(try finishReset(picked.info.name, by: claimer) { $0 }, notes: notes)
  }

  /// Resets a pool workspace to its base and gives it back to the pool.
  package func release(_ name: String, releaser: ProcessIdentity = .current) async throws(WorkspaceError) -> [String] {
    let info = try locked { () throws(WorkspaceError) in
      var info = try existing(name)
      guard info.pool else { throw .notInPool(name) }
      guard isGit else { throw .needsGit(command: "ws: release") }
      if let other = info.resetter, other != releaser, !other.isGone {
        throw .beingReset(name: name, pid: other.pid)
      }
      // Held while it is reset, so no claim hands it out half-reset.
      info.claimed = true
      info.resetter = releaser
      try save(info)
      return info
    }
    let notes = try await reset(info)
    _ = try finishReset(name, by: releaser) { info in
      var free = info
      free.claimed = false
      free.owner = nil
      free.ownerStart = nil
      free.claimedAt = nil
      return free
    }
    return notes
  }

  /// Under the lock: clears `resetter`'s mark on `name` and applies `change`.
  private func finishReset(_ name: String, by resetter: ProcessIdentity,
                           _ change: (WorkspaceInfo) -> WorkspaceInfo) throws(WorkspaceError) -> WorkspaceInfo {
    try locked { () throws(WorkspaceError) in
      // Removed meanwhile (`ws rm --force`), or marked by another: nothing of ours to clear.
      guard var info = self.info(name), info.resetter == resetter else { throw .noSuchWorkspace(name) }
      info.resetter = nil
      info = change(info)
      try save(info)
      return info
    }
  }

  /// Makes the pool hold exactly `size` workspaces: missing ones are made (from `ref`,
  /// default HEAD); free ones above `size` are removed, held ones stay until released.
  /// Returns notes for the user.
  package func resizePool(to size: Int, from ref: String?, as remover: ProcessIdentity = .current)
    async throws(WorkspaceError) -> [String]
  {
    guard isGit else { throw .needsGit(command: "ws pool") }
    for n in 1...max(size, 1) where n <= size {
      let name = "pool-\(n)"
      if let existing = info(name) {
        if !existing.pool { throw .notAPoolWorkspace(name) }
        continue
      }
      try await create(name, from: ref, pool: true)
    }
    var notes: [String] = []
    for candidate in all() where candidate.pool && !candidate.creating && candidate.sortKey.1 > size {
      // Marked under the lock first, so no claim hands it out while it goes.
      let taken: WorkspaceInfo? = try locked { () throws(WorkspaceError) in
        guard var info = self.info(candidate.name), !info.isHeld else { return nil }
        info.claimed = true
        info.resetter = remover
        try save(info)
        return info
      }
      if let taken { notes += try await remove(taken) }
    }
    return notes
  }

  /// The pool's workspaces, in order.
  package func pool() -> [WorkspaceInfo] { all().filter { $0.pool && !$0.creating } }
}
