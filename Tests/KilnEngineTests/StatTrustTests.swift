import KilnEngine
import KilnSystem
import Testing

/// The one racy-clean rule and the one stat comparison that the stat cache, the graph
/// cache and the null build all use.
@Suite struct StatTrustTests {
  let second: Int64 = 1_000_000_000
  let now: Int64 = 1_700_000_000_123_456_789

  @Test func aFileChangedJustBeforeItWasLookedAtIsRacy() {
    #expect(StatTrust.isRacy(mtime: now - 10_000_000, ctime: now - 10_000_000, observedAt: now))
    #expect(!StatTrust.isRacy(mtime: now - 60_000_000, ctime: now - 60_000_000, observedAt: now))
  }

  @Test func aRecentCtimeIsAsRacyAsARecentMtime() {
    // `touch -d` or a chmod right before the look: the mtime is old, the inode is not.
    #expect(StatTrust.isRacy(mtime: now - 3600 * second, ctime: now - 1_000_000, observedAt: now))
  }

  @Test func wholeSecondTimesGetTheCoarseWindow() {
    let whole = (now / second) * second - second  // 1.1 s before the look, no nanoseconds
    #expect(StatTrust.isRacy(mtime: whole, ctime: whole, observedAt: now))
    #expect(!StatTrust.isRacy(mtime: whole - 2 * second, ctime: whole - 2 * second, observedAt: now))
  }

  @Test func sameMeansEveryStatFieldAndKind() {
    let a = FileStat(kind: .file, size: 3, mtime: 1, ctime: 2, inode: 4, permissions: 0o644)
    #expect(StatTrust.same(a, a))
    #expect(StatTrust.same(nil, nil))
    #expect(!StatTrust.same(a, nil))
    var b = a
    b.permissions = 0o755
    #expect(!StatTrust.same(a, b))
    b = a
    b.inode = 5
    #expect(!StatTrust.same(a, b))
    b = a
    b.kind = .symlink
    #expect(!StatTrust.same(a, b))
  }
}
