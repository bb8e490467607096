#if canImport(Glibc)
import Glibc
#endif
import KilnSystem
import KilnTestSupport
import Testing

/// `CheckoutLock`: one build per checkout. A second open file description contends
/// with the first exactly as a second process does (flock), so these run in-process.
@Suite(.timeLimit(.minutes(1))) struct CheckoutLockTests {
  let scratch = TempDirectory(prefix: "kiln-checkout-lock")
  var path: String { scratch.path + "/lock" }

  func contents() -> String {
    String(decoding: (try? LocalFileSystem().read(path)) ?? [], as: UTF8.self)
  }

  /// Replaces what the holder wrote in the lock file (in place: the lock stays held).
  func overwriteHolder(_ text: String) {
    let fd = open(path, O_WRONLY | O_TRUNC)
    let bytes = Array(text.utf8)
    #expect(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count)
    close(fd)
  }

  @Test func anAttemptFailsWhileHeldAndSucceedsOnceReleased() throws {
    var first = try CheckoutLock.attempt(path, describing: "build -j2")
    #expect(first != nil)
    #expect(contents() == "\(getpid()) build -j2\n")
    #expect(try CheckoutLock.attempt(path, describing: "exec") == nil, "two holders at once")
    #expect(contents() == "\(getpid()) build -j2\n", "a failed attempt wrote over the holder")
    first = nil  // closing the descriptor drops the lock
    let second = try CheckoutLock.attempt(path, describing: "exec")
    #expect(second != nil)
    #expect(contents() == "\(getpid()) exec\n")
  }

  /// The waiter is told who holds the lock, once; it gets the lock when the holder goes.
  @Test func aSecondAcquirerSeesTheHolderAndWaitsForIt() throws {
    var holder = try CheckoutLock.attempt(path, describing: "build --explain")
    #expect(holder != nil)
    var told: [String] = []
    var polls = 0
    let lock = try CheckoutLock.acquire(path, describing: "exec", waiting: { told.append($0) }, isInterrupted: {
      // Asked once per poll while the lock is busy: let the holder go after a few.
      polls += 1
      if polls == 3 { holder = nil }
      return false
    })
    #expect(told == ["pid \(getpid()): build --explain"])
    #expect(polls >= 3)
    #expect(contents() == "\(getpid()) exec\n")
    _ = lock
  }

  @Test func aWaitEndsWhenInterrupted() throws {
    let holder = try CheckoutLock.attempt(path, describing: "build")
    #expect(holder != nil)
    #expect(throws: CheckoutLock.Failure.self) {
      _ = try CheckoutLock.acquire(self.path, describing: "exec", waiting: { _ in }, isInterrupted: { true })
    }
    #expect(contents() == "\(getpid()) build\n")
  }

  /// A build whose task runs kiln in the same checkout would wait for itself forever:
  /// the lock's holder being an ancestor of this process is an error at once.
  @Test func aHolderThatIsAnAncestorIsRefusedNotAwaited() throws {
    let holder = try CheckoutLock.attempt(path, describing: "build")
    #expect(holder != nil)
    // Say the holder is this process's parent, as it would be for a nested kiln.
    overwriteHolder("\(getppid()) build -j4\n")
    do {
      _ = try CheckoutLock.acquire(path, describing: "exec", waiting: { _ in }, isInterrupted: { false })
      Issue.record("waited for an ancestor")
    } catch {
      guard case .heldByAncestor(let who) = error else {
        Issue.record("\(error)")
        return
      }
      #expect(who == "pid \(getppid()): build -j4")
    }
  }

  /// Text a holder left that is not `PID words` (or holds control characters) is shown
  /// as "another kiln", never printed raw to the terminal.
  @Test func anUnreadableHolderIsAnotherKiln() throws {
    let holder = try CheckoutLock.attempt(path, describing: "build")
    #expect(holder != nil)
    overwriteHolder("\u{1B}]0;evil\u{07}\n")
    var told: [String] = []
    #expect(throws: CheckoutLock.Failure.self) {
      _ = try CheckoutLock.acquire(self.path, describing: "exec", waiting: { told.append($0) }, isInterrupted: { !told.isEmpty })
    }
    #expect(told == ["another kiln"])
  }

  @Test func aSymbolicLinkInItsPlaceIsRefused() throws {
    #expect(symlink(scratch.path + "/elsewhere", path) == 0)
    do {
      _ = try CheckoutLock.attempt(path, describing: "build")
      Issue.record("locked through a link")
    } catch {
      #expect(error.description.contains("it is a symlink"), "\(error)")
    }
    #expect(access(scratch.path + "/elsewhere", F_OK) != 0, "the link's target was created")
  }
}
