import KilnTestSupport
import KilnWorkspaces
import Testing

@Suite struct PoolTests {
  /// The workspaces of `repo` with a pool of `size`.
  private func pool(_ repo: Repository, _ size: Int) async throws -> Workspaces {
    let ws = await repo.workspaces()
    _ = try await ws.resizePool(to: size, from: nil)
    return ws
  }

  private func claimed(_ attempt: Workspaces.ClaimAttempt) -> WorkspaceInfo? {
    if case .claimed(let info, _) = attempt { info } else { nil }
  }

  @Test func claimHandsOutEachFreeWorkspaceOnceThenSaysAllAreHeld() async throws {
    let repo = Repository()
    let ws = try await pool(repo, 2)
    let me = ProcessIdentity.current
    let first = try #require(claimed(try await ws.claim(owner: me)))
    let second = try #require(claimed(try await ws.claim(owner: me)))
    #expect([first.name, second.name] == ["pool-1", "pool-2"])
    #expect(first.owner == me.pid && first.ownerStart == me.start && first.resetter == nil)
    #expect(try await ws.claim(owner: me) == .allHeld(poolSize: 2))
  }

  @Test func claimWithoutAPoolIsRefused() async throws {
    let repo = Repository()
    let ws = await repo.workspaces()
    await #expect(throws: WorkspaceError.noPool) { try await ws.claim(owner: nil) }
  }

  @Test func concurrentClaimersNeverGetTheSameWorkspace() async throws {
    let repo = Repository()
    let ws = try await pool(repo, 4)
    let names = try await withThrowingTaskGroup(of: String?.self) { group in
      for _ in 0..<6 {
        group.addTask {
          if case .claimed(let info, _) = try await ws.claim(owner: nil) { info.name } else { nil }
        }
      }
      var names: [String] = []
      for try await name in group { if let name { names.append(name) } }
      return names
    }
    #expect(names.sorted() == ["pool-1", "pool-2", "pool-3", "pool-4"])
  }

  @Test func aDeadOwnersWorkspaceIsResetByTheNextClaimerOutsideTheLock() async throws {
    let repo = Repository()
    let ws = try await pool(repo, 1)
    let path = try #require(claimed(try await ws.claim(owner: Repository.gone))).path
    repo.git.with { $0.uncommitted[path] = ["left-behind.txt"] }
    let callsBefore = repo.git.calls.count
    let next = try #require(claimed(try await ws.claim(owner: nil)))
    #expect(next.name == "pool-1" && next.resetter == nil && next.owner == nil)
    #expect(ws.info("pool-1")?.resetter == nil)
    let resetCalls = Array(repo.git.calls[callsBefore...])
    #expect(resetCalls.contains("checkout kiln/pool-1 c0") && resetCalls.contains("clean \(path)"))
    #expect(repo.underLock.all == [])
  }

  @Test func aFreeWorkspaceIsHandedOutWithoutAReset() async throws {
    let repo = Repository()
    let ws = try await pool(repo, 1)
    let callsBefore = repo.git.calls.count
    _ = try await ws.claim(owner: nil)
    #expect(repo.git.calls.count == callsBefore)
  }

  @Test func aClaimerThatDiedWhileResettingLeavesTheWorkspaceToTheNext() async throws {
    let repo = Repository()
    let ws = try await pool(repo, 1)
    var info = try #require(ws.info("pool-1"))
    info.claimed = true
    info.resetter = Repository.gone
    try ws.save(info)
    let next = try #require(claimed(try await ws.claim(owner: nil)))
    #expect(next.name == "pool-1" && next.resetter == nil)
    #expect(repo.git.calls.contains("clean \(info.path)"))
  }

  @Test func aWorkspaceBeingResetByALiveKilnIsNotHandedOut() async throws {
    let repo = Repository()
    let ws = try await pool(repo, 1)
    var info = try #require(ws.info("pool-1"))
    info.claimed = true
    info.resetter = .current
    try ws.save(info)
    #expect(try await ws.claim(owner: nil) == .allHeld(poolSize: 1))
    await #expect(throws: WorkspaceError.claimed("pool-1")) { try await ws.remove("pool-1", force: false) }
    let other = ProcessIdentity(pid: ProcessIdentity.current.pid, start: ProcessIdentity.current.start + 1)
    await #expect(throws: WorkspaceError.beingReset(name: "pool-1", pid: info.resetter!.pid)) {
      try await ws.release("pool-1", releaser: other)
    }
  }

  @Test func releaseResetsOutsideTheLockAndFreesTheWorkspace() async throws {
    let repo = Repository()
    let ws = try await pool(repo, 1)
    let path = try #require(claimed(try await ws.claim(owner: .current))).path
    repo.git.with { $0.uncommitted[path] = ["work.txt"] }
    _ = try await ws.release("pool-1")
    let info = try #require(ws.info("pool-1"))
    #expect(!info.claimed && info.owner == nil && info.resetter == nil)
    #expect(repo.git.calls.contains("clean \(path)"))
    #expect(repo.underLock.all == [])
    #expect(try await ws.claim(owner: nil) != .allHeld(poolSize: 1))
  }

  @Test func releaseOfAWorkspaceOutsideThePoolIsRefused() async throws {
    let repo = Repository()
    let ws = await repo.workspaces()
    try await ws.create("a", from: nil)
    await #expect(throws: WorkspaceError.notInPool("a")) { try await ws.release("a") }
  }

  @Test func shrinkingRemovesFreeWorkspacesAndKeepsHeldOnes() async throws {
    let repo = Repository()
    let ws = try await pool(repo, 3)
    for _ in 0..<3 { _ = try await ws.claim(owner: .current) }
    _ = try await ws.release("pool-3")
    _ = try await ws.resizePool(to: 1, from: nil)
    #expect(ws.pool().map(\.name) == ["pool-1", "pool-2"])
  }

  @Test func aPoolNameTakenByAnotherWorkspaceIsRefused() async throws {
    let repo = Repository()
    let ws = await repo.workspaces()
    try await ws.create("pool-1", from: nil)
    await #expect(throws: WorkspaceError.notAPoolWorkspace("pool-1")) { try await ws.resizePool(to: 1, from: nil) }
  }
}
