import KilnSystem
import KilnTestSupport
import KilnWorkspaces
import Testing

@Suite struct HookSnapshotTests {
  private func staged(_ files: [String: String]) -> [String: (sha: String, bytes: [UInt8])] {
    files.mapValues { ("sha-" + $0, Array($0.utf8)) }
  }

  private func snapshot(_ repo: Repository) async throws -> HookSnapshot {
    let hookRepo = try await HookRepository.locate(repo.folder.path, git: repo.git)
    return HookSnapshot(folder: hookRepo.snapshot(for: "pre-commit"), repository: hookRepo, git: repo.git,
                        fileSystem: LocalFileSystem())
  }

  @Test func aSyncWritesOnlyTheFilesWhoseBlobChangedAndDeletesTheOnesThatLeft() async throws {
    let repo = Repository()
    let snap = try await snapshot(repo)
    let index = repo.folder.path + "/index"
    repo.git.with { $0.indexes[index] = staged(["a.c": "one", "b.c": "two", "c.c": "three"]) }
    try await snap.sync(index: index)
    #expect(repo.git.calls.last == "checkout-index a.c b.c c.c")
    repo.git.with { $0.indexes[index] = staged(["a.c": "one", "b.c": "TWO"]) }
    try await snap.sync(index: index)
    #expect(repo.git.calls.last == "checkout-index b.c")
    let fs = LocalFileSystem()
    #expect(try fs.read(snap.folder + "/b.c") == Array("TWO".utf8))
    #expect(fs.stat(snap.folder + "/c.c") == nil)
    let before = repo.git.calls.count
    try await snap.sync(index: index)
    #expect(repo.git.calls.count == before)
  }

  @Test func aFileEditedInTheSnapshotIsWrittenAgain() async throws {
    let repo = Repository()
    let snap = try await snapshot(repo)
    let index = repo.folder.path + "/index"
    repo.git.with { $0.indexes[index] = staged(["a.c": "one", "b.c": "two"]) }
    try await snap.sync(index: index)
    try LocalFileSystem().writeAtomically(Array("formatted".utf8), to: snap.folder + "/a.c", permissions: 0o644)
    try await snap.sync(index: index)
    #expect(repo.git.calls.last == "checkout-index a.c")
    #expect(try LocalFileSystem().read(snap.folder + "/a.c") == Array("one".utf8))
  }

  @Test func aSyncWithASelectionCountsWhatItLeftOut() async throws {
    let repo = Repository()
    let snap = try await snapshot(repo)
    let index = repo.folder.path + "/index"
    repo.git.with { $0.indexes[index] = staged(["src/a.c": "1", "docs/x.md": "2", "README": "3"]) }
    let leftOut = try await snap.sync(index: index) { $0.hasPrefix("src/") }
    #expect(leftOut == 2)
    #expect(repo.git.calls.last == "checkout-index src/a.c")
  }

  @Test func theSelectionHoldsTheBuildFileGlobMatchesFoldersAndDiscoveredInputs() {
    let selection = HookSelection(buildFileName: "kiln.yml", buildDirectory: "app",
                                  patterns: ["src/*.c", "assets"], discovered: ["include/h.h"])
    #expect(selection.contains("app/kiln.yml"))
    #expect(selection.contains("app/src/a.c"))
    #expect(selection.contains("app/assets/logo.png"))
    #expect(selection.contains("app/include/h.h"))
    #expect(!selection.contains("app/src/a.h"))
    #expect(!selection.contains("kiln.yml"))
    #expect(!selection.contains("other/src/a.c"))
  }

  @Test func prePushChecksEachPushedCommitOnceOldestFirstAndSkipsDeletions() async throws {
    let repo = Repository()
    repo.git.with {
      $0.pushed["t1"] = ["a", "b"]
      $0.pushed["t2"] = ["b", "c"]
    }
    let zero = String(repeating: "0", count: 40)
    let stdin = """
      refs/heads/x t1 refs/heads/x \(zero)
      refs/heads/y t2 refs/heads/y r2
      (delete) \(zero) refs/heads/z r3

      """
    let commits = try await PrePush.commits(pushed: stdin, git: repo.git, in: repo.folder.path)
    #expect(commits == ["a", "b", "c"])
    #expect(repo.git.calls == ["rev-list t1 --not --remotes", "rev-list t2 --not r2"])
  }

  @Test func aPrePushRevListFailureIsNamed() async throws {
    let repo = Repository()
    await #expect(throws: HookError.prePush(GitFailure("git rev-list", "fatal: bad object t9"))) {
      try await PrePush.commits(pushed: "refs/heads/x t9 refs/heads/x r1\n", git: repo.git, in: repo.folder.path)
    }
  }

  @Test func anIndexEntryWhoseNameIsNotUTF8IsRefused() async throws {
    let repo = Repository()
    let snap = try await snapshot(repo)
    let index = repo.folder.path + "/index"
    repo.git.with { $0.rawListings[index] = Array("100644 s 0\tok.c".utf8) + [0] + Array("100644 s 0\tcaf".utf8) + [0xE9, 0] }
    await #expect(throws: HookError.undecodableName("caf\\xe9")) { try await snap.sync(index: index) }
  }
}
