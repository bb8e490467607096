import KilnCore
import KilnEngine
import KilnStore
import KilnSystem
import KilnTestSupport
import Testing

/// The snapshot says which instances used each file (`SnapshotEntry.users`), so that a
/// build after an edit decides those alone (`SnapshotDelta`). What it says is read only
/// when a file changed, and is never trusted past what it can name.
@Suite struct SnapshotUsersTests {
  var graph: [TaskInstance] { CopyChain.graph }
  func copy(_ name: String, _ from: String, _ to: String) -> TaskInstance { CopyChain.copy(name, from, to) }

  func settled() async throws -> EngineHarness { try await CopyChain.settled() }

  /// The snapshot as `ManifestRecorder` files it, and the null build's reading of it.
  func answer(_ h: EngineHarness, changed: inout String?, delta: inout SnapshotDelta?) throws -> NullBuild.Answer? {
    try #require(try CopyChain.nullBuild(h), "the build left no snapshot")
      .answer(targets: nil, workspace: nil, changed: &changed, delta: &delta)
  }

  @Test func eachFileNamesTheInstancesThatUsedIt() async throws {
    let h = try await settled()
    let snapshot = try #require(h.recorder.snapshot)
    #expect(snapshot.instanceIDs == ["one", "two", "three"])
    #expect(snapshot.hiddenDigest != nil)
    var users: [String: [String]] = [:]
    for e in snapshot.entries { users[e.path] = e.users.map { snapshot.instanceIDs[Int($0)] }.sorted() }
    #expect(users == ["a.txt": ["one"], "b.txt": ["one", "two"], "c.txt": ["two"], "z.txt": ["three"], "y.txt": ["three"]])
    // Written and read back, with and without that part.
    let bytes = snapshot.encode()
    let full = try #require(BuildSnapshot.decode(bytes, users: true))
    #expect(full.entries.map(\.users) == snapshot.entries.map(\.users) && full.instanceIDs == snapshot.instanceIDs)
    var lean = try #require(BuildSnapshot.decode(bytes))
    #expect(lean.instanceIDs.isEmpty && lean.entries.allSatisfy(\.users.isEmpty), "not read unless asked")
    let read = lean.readUsers(from: bytes)
    #expect(read)
    #expect(lean.entries.map(\.users) == snapshot.entries.map(\.users))
  }

  /// A position past the table of instances (damage the seal does not catch: a file
  /// written by a faulty or hostile hand, sealed again) is never trusted: no delta, and
  /// the null build's reading of the rest is not changed by it.
  @Test func usersNamingNoInstanceAreRefused() async throws {
    let h = try await settled()
    var forged = try #require(h.recorder.snapshot)
    forged.entries[0].users = [7]
    let bytes = forged.encode()
    #expect(BuildSnapshot.decode(bytes, users: true) == nil)
    var lean = try #require(BuildSnapshot.decode(bytes))
    let read = lean.readUsers(from: bytes)
    #expect(!read)
    #expect(SnapshotDelta(snapshot: lean, changed: [0]) == nil, "no users read: no delta")
  }

  /// An edit: the delta names the instance that used the file; the build decides it
  /// alone, counts the others up to date, and leaves a snapshot that answers the next
  /// build and still says who used what.
  @Test func aBuildStandingOnTheSnapshotDecidesTheUsersAlone() async throws {
    let h = try await settled()
    h.write("z.txt", "ZULU")
    h.later()
    var changed: String?
    var delta: SnapshotDelta?
    #expect(try answer(h, changed: &changed, delta: &delta) == nil)
    let found = try #require(delta)
    #expect(found.seeds == ["three"] && found.changedPaths == ["z.txt"])
    let observer = StandingObserver()
    let (built, ran) = try await h.build(graph, snapshot: SnapshotRequest(expansion: [], warnings: []), delta: found,
                                         observer: observer)
    #expect(ran == ["cat z.txt > y.txt"])
    #expect(observer.standing?.decided == 1 && observer.standing?.total == 3 && observer.standing?.changed == ["z.txt"])
    #expect(built.summary.ran == 1 && built.summary.upToDate == 2)
    #expect(h.text("y.txt") == "ZULU")
    let patched = try #require(h.recorder.snapshot, "patched, not dropped")
    #expect(patched.instanceIDs == ["one", "two", "three"])
    #expect(patched.entries.first { $0.path == "y.txt" }?.users == [2])
    h.later()
    var none: SnapshotDelta?
    #expect(try answer(h, changed: &changed, delta: &none) != nil, "the patched snapshot answers the next build")

    // An edit upstream: its instance and the one depending on it.
    h.write("a.txt", "ALPHA")
    h.later()
    #expect(try answer(h, changed: &changed, delta: &delta) == nil)
    let upstream = try #require(delta)
    let (_, chain) = try await h.build(graph, snapshot: SnapshotRequest(expansion: [], warnings: []), delta: upstream)
    #expect(chain == ["cat a.txt > b.txt", "cat b.txt > c.txt"])
    #expect(h.text("c.txt") == "ALPHA")
  }

  /// A graph that is not the one the snapshot describes (another instance): the delta
  /// is not used, and every instance is decided.
  @Test func anotherGraphDecidesEverything() async throws {
    let h = try await settled()
    h.write("z.txt", "ZULU")
    h.write("q.txt", "quebec")
    h.later()
    var changed: String?
    var delta: SnapshotDelta?
    _ = try answer(h, changed: &changed, delta: &delta)
    let found = try #require(delta)
    let (built, ran) = try await h.build(graph + [copy("four", "q.txt", "r.txt")],
                                         snapshot: SnapshotRequest(expansion: [], warnings: []), delta: found)
    #expect(Set(ran) == ["cat z.txt > y.txt", "cat q.txt > r.txt"])
    #expect(built.summary.upToDate == 2)
  }
}

/// Notes what `buildStandsOnSnapshot` said.
private final class StandingObserver: BuildObserver {
  var standing: (decided: Int, total: Int, changed: [String])?
  func buildStarted(total: Int) {}
  func taskStarted(_ instance: TaskInstance, reasons: [RerunReason]) {}
  func taskFinished(_ report: TaskReport, done: Int, total: Int) {}
  func warning(_ message: String) {}
  func buildStandsOnSnapshot(decided: Int, total: Int, changed: [String]) { standing = (decided, total, changed) }
}
