#if canImport(Glibc)
import Glibc
#endif
import KilnTestSupport
import KilnWorkspaces
import Synchronization

/// A repository for one test: a temporary folder with a `.git` folder (where the
/// registry and its lock live), a `FakeGit` whose HEAD is `c0`, and its `Workspaces`.
/// Keep it in a named constant for the whole test: the folder goes with it.
struct Repository {
  let folder = TempDirectory(prefix: "kiln-ws-unit")
  let git: FakeGit
  /// Git operations that ran while the registry lock was held (each one should not).
  let underLock = Lines()

  init() {
    let common = folder.path + "/.git"
    _ = mkdir(common, 0o755)
    let lockPath = common + "/kiln/lock"
    let seen = underLock
    git = FakeGit(commonDirectory: common, topLevel: folder.path) { call in
      if Repository.isLocked(lockPath) { seen.append(call) }
    }
    git.with {
      $0.refs["HEAD"] = "c0"
      $0.commits = ["c0", "c1"]
    }
  }

  func workspaces() async -> Workspaces {
    await Workspaces.open(directory: folder.path, projectRoot: nil, environment: [:], git: git,
                          now: { 1_764_000_000 })
  }

  /// Whether another open file description holds the lock at `path` (flock is per open
  /// file description, so this sees a lock this very process holds elsewhere).
  static func isLocked(_ path: String) -> Bool {
    let fd = open(path, O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    if flock(fd, LOCK_EX | LOCK_NB) == 0 {
      flock(fd, LOCK_UN)
      return false
    }
    return errno == EWOULDBLOCK
  }

  /// A process that is not running.
  static let gone = ProcessIdentity(pid: Int32.max - 1, start: 1)
}

/// Lines shared between tasks.
final class Lines: Sendable {
  private let lines = Mutex<[String]>([])
  func append(_ line: String) { lines.withLock { $0.append(line) } }
  var all: [String] { lines.withLock { $0 } }
}
