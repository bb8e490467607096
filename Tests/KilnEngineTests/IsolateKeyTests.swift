import KilnCore
import KilnEngine
import KilnHash
import KilnTestSupport
import Testing

/// `isolate: true` is part of the key, and only when set: a hit of an isolated task is
/// the result of a run in the sandbox, and the keys of tasks that are not isolated are
/// what they were before the field existed.
@Suite struct IsolateKeyTests {
  @Test func isolateChangesTheKeyAndItsAbsenceChangesNothing() throws {
    let h = try EngineHarness()
    h.write("src/a.c", "int a;\n")
    h.later()
    let statCache = StatCache(entries: [:], root: h.root, fileSystem: h.fileSystem, clock: h.fileSystem.clock)
    let rebuilder = Rebuilder(statCache: statCache, inheritedEnvironment: [:])
    var task = TaskInstance(id: TaskID(task: "t"), command: "cat src/a.c > t.txt", inputs: ["src/a.c"], outputs: ["t.txt"])
    let plain = try rebuilder.prepare(task)
    task.isolate = true
    let isolated = try rebuilder.prepare(task)
    #expect(plain.key != isolated.key)

    // The plain key holds exactly the fields it held before: version, command, folder,
    // input, output.
    let expected = KeyBuilder()
    expected.field("C", "cat src/a.c > t.txt")
    expected.field("D", "")
    expected.field("I", "src/a.c", Hasher.digest(Array("int a;\n".utf8)))
    expected.field("O", "t.txt")
    #expect(plain.key == expected.finalize())
  }
}
