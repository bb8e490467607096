import KilnSystem
import KilnTestSupport
import KilnWorkspaces
import Testing

@Suite struct HookBuildResultTests {
  let result = HookBuildResult(parent: 4242, failures: [
    .init(id: "lint src/a b.py", inputs: ["src/a b.py", "tools/with\ttab"]),
    .init(id: "test", inputs: []),
  ])

  @Test func aResultReadsBackAsItWasWritten() {
    #expect(HookBuildResult(decoding: result.encoded()) == result)
  }

  @Test func aDamagedResultIsNotRead() {
    var bytes = result.encoded()
    bytes[bytes.count / 2] ^= 0x01
    #expect(HookBuildResult(decoding: bytes) == nil)
    #expect(HookBuildResult(decoding: []) == nil)
  }

  @Test func onlyTheBuildTheHookStartedIsHeard() throws {
    let folder = TempDirectory(prefix: "kiln-hook-result")
    let path = folder.path + "/result"
    try LocalFileSystem().writeAtomically(result.encoded(), to: path, permissions: 0o600)
    #expect(HookBuildResult.read(path, startedBy: 4242, fileSystem: LocalFileSystem()) == result)
    #expect(HookBuildResult.read(path, startedBy: 7, fileSystem: LocalFileSystem()) == nil)
    #expect(HookBuildResult.read(folder.path + "/none", startedBy: 4242, fileSystem: LocalFileSystem()) == nil)
  }
}
