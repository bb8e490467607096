#if canImport(Glibc)
import Glibc
#endif
import CSpawn
import KilnCore
import Synchronization

/// What every kiln process on the machine shares (SPEC §4): the job slots a command
/// must hold while it runs, the memory reserve no start may eat into, and the claims
/// that let one process run an action while another that needs the same key waits.
package protocol MachineLimits: Sendable {
  /// Waits for a job slot (and for available memory above the reserve plus
  /// `expectedMemory`); nil when the build was interrupted while waiting.
  func acquireSlot(expectedMemory: Int64?) async -> JobSlot?
  func release(_ slot: JobSlot)
  /// Waits until no other process is running the action `key`, then holds it until
  /// `release`; nil when interrupted. `waited` tells whether another process had it.
  func claimAction(_ key: Digest) async -> ActionClaim?
  func release(_ claim: ActionClaim)
  /// Claims, at once and without waiting, those of `keys` no other process (or other
  /// job of this one) is running: a batch's items. The caller runs only those, and
  /// leaves the others to `claimAction`, which waits for their result.
  func claimActions(_ keys: [Digest]) -> ActionClaims
  func release(_ claims: ActionClaims)
}

extension MachineLimits {
  /// Nothing shared: every key is this process's.
  package func claimActions(_ keys: [Digest]) -> ActionClaims {
    ActionClaims(keys: keys, held: [Bool](repeating: true, count: keys.count))
  }
  package func release(_ claims: ActionClaims) {}
}

/// Claims on a batch's action keys, held on one descriptor (one byte each).
package struct ActionClaims: Sendable {
  package var keys: [Digest]
  /// Per key: whether this process now holds it.
  package var held: [Bool]
  var descriptor: Int32 = -1
  package init(keys: [Digest], held: [Bool]) {
    self.keys = keys
    self.held = held
  }
}

/// A held job slot.
package struct JobSlot: Sendable, Hashable {
  package var index: Int
  package init(index: Int) { self.index = index }
}

/// A held claim on an action key.
package struct ActionClaim: Sendable, Hashable {
  package var key: Digest
  /// Whether another process held the key first (its result may be in the cache now).
  package var waited: Bool
  var descriptor: Int32
  /// The descriptor holding the lock, for tests that simulate a holder that dies.
  package var descriptorForTesting: Int32 { descriptor }
  package init(key: Digest, waited: Bool, descriptor: Int32 = -1) {
    self.key = key
    self.waited = waited
    self.descriptor = descriptor
  }
}

/// No machine-wide limit: the build's own `-j` is the only one (the engine's unit tests,
/// and a cache folder kiln cannot write).
package struct UnlimitedMachine: MachineLimits {
  package init() {}
  package func acquireSlot(expectedMemory: Int64?) async -> JobSlot? { JobSlot(index: 0) }
  package func release(_ slot: JobSlot) {}
  package func claimAction(_ key: Digest) async -> ActionClaim? { ActionClaim(key: key, waited: false) }

  package func release(_ claim: ActionClaim) {}
}

/// The machine-wide limits, kept as byte-range locks (`fcntl` F_OFD_SETLK) in two files
/// of the shared cache folder, so that they hold across every process that shares it
/// and vanish with a process that dies (kill -9 included): nothing to clean up.
///
/// `locks/jobs`: byte 0 is the gate, bytes 1...N the slots. A job takes a free slot
/// only while its process holds the gate. A process whose job finds none free hands
/// the wait to one thread of its own (`waitForSlots`), which keeps the gate until a
/// slot frees, takes that one slot and lets the gate go: a process that has just
/// released a slot cannot take it straight back past a waiting one (no process
/// starves). Waiters sleep on a futex in the file's first word, which every release
/// bumps, so a freed slot is taken within microseconds, not a polling interval; the
/// wait also ends every 20 ms, which covers slots freed by a process that died. Memory
/// is checked by the gate holder: below the reserve it waits, unless its process runs
/// nothing at all.
///
/// The first page of `locks/jobs` is mapped by every process (the futex words) and
/// also says who holds what, since a byte-range lock does not (F_OFD_GETLK gives no
/// pid): 32-bit words, native order,
///
///     word 0            futex generation, bumped at every release
///     word 1            processes with a thread waiting for a slot
///     word 2            pid of the gate's holder (0: none recorded)
///     words 16...1023   pid of the holder of slot 0...1007 (slots past 1007: none)
///
/// A pid is written after its lock is taken and cleared before it is let go; only
/// the lock says whether a slot is held, the pid only who holds it (a pid left by a
/// process that died is never read, its lock being gone). A process that has waited
/// a second for a slot looks at the holders and says, once each, which of them is
/// stopped (state T in /proc/PID/stat): a build suspended with SIGSTOP keeps its
/// slots. One stopped with Ctrl-Z (SIGTSTP) gives them back first (`suspend()`) and
/// takes them again when continued (`resume()`).
///
/// `locks/actions`: one byte per action key (its first 62 bits). The first process to
/// miss the cache locks it while it runs the action; another that misses the same key
/// waits for the lock and looks in the cache again before it runs anything.
package final class SharedMachineLimits: MachineLimits, Suspendable, Sendable {
  package let slots: Int
  private let memoryReserve: Int64
  private let jobsFile: Int32
  private let actionsPath: String
  private let isInterrupted: @Sendable () -> Bool
  private let words: SharedWords
  /// Word 0: bumped at every release of a slot or the gate (the futex). Word 1: how
  /// many processes have a thread waiting on it (no wake-up call when none).
  private var shared: UnsafeMutablePointer<UInt32> { words.jobs }
  /// The same two words for actions in flight, in `locks/actions`.
  private var actionsShared: UnsafeMutablePointer<UInt32> { words.actions }
  private let actionsFile: Int32
  private var sharedIsMapped: Bool { words.isMapped }

  /// What this process's jobs hold and wait for.
  private struct State {
    /// Slots this process holds (one descriptor holds them all, so the kernel cannot
    /// tell two of this process's jobs apart: this set does).
    var held = Set<Int>()
    /// Jobs of this process waiting for a slot, in order.
    var queue: [(expected: Int64?, continuation: CheckedContinuation<JobSlot?, Never>)] = []
    var waiterRunning = false
    /// The waiting thread holds the gate.
    var gateHeld = false
    /// Stopped by SIGTSTP: no slot is taken, and `givenBack` are held by jobs of this
    /// process whose locks were let go until `resume()`.
    var suspended = false
    var givenBack = Set<Int>()
    var memory = MemoryGauge()
  }

  private let state = Mutex(State())
  /// Where a waiting build says which process holding slots is stopped.
  private let report: @Sendable (String) -> Void
  /// Told when a job gets a slot and when a wait begins (tests wait for these).
  private let observe: @Sendable (MachineLimitsEvent) -> Void
  private static let gateOwnerWord = 2
  private static let slotOwnerWords = 16
  private static let ownerWordCount = 4096 / 4

  /// - Parameters:
  ///   - cacheRoot: the shared cache folder; nil when it cannot be made.
  ///   - slots: the machine's job slots (`KILN_MAX_JOBS`, else the number of cores).
  ///   - memoryReserve: bytes of available memory no task start may go below; nil for
  ///     5% of the machine's memory.
  ///   - report: prints one line for the user (default: to stderr).
  ///   - observe: told each `MachineLimitsEvent` (default: nothing).
  package init?(cacheRoot: String, slots: Int, memoryReserve: Int64?,
                isInterrupted: @escaping @Sendable () -> Bool = { ProcessGroups.shared.isInterrupted },
                report: @escaping @Sendable (String) -> Void = SharedMachineLimits.printToStandardError,
                observe: @escaping @Sendable (MachineLimitsEvent) -> Void = { _ in }) {
    let dir = cacheRoot + "/locks"
    _ = mkdir(cacheRoot, 0o755)
    _ = mkdir(dir, 0o755)
    let fd = open(dir + "/jobs", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o666)
    guard fd >= 0 else { return nil }
    jobsFile = fd
    actionsPath = dir + "/actions"
    actionsFile = open(actionsPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o666)
    if let jobs = kiln_map_shared(fd, 4096), actionsFile >= 0, let actions = kiln_map_shared(actionsFile, 4096) {
      words = SharedWords(jobs: jobs.assumingMemoryBound(to: UInt32.self),
                          actions: actions.assumingMemoryBound(to: UInt32.self), isMapped: true)
    } else {
      // Waits then end only by their timeout: slower, still correct.
      let local = UnsafeMutablePointer<UInt32>.allocate(capacity: 4)
      local.initialize(repeating: 0, count: 4)
      words = SharedWords(jobs: local, actions: local + 2, isMapped: false)
    }
    self.slots = max(1, slots)
    self.isInterrupted = isInterrupted
    self.report = report
    self.observe = observe
    let total = MemoryGauge.read().total
    self.memoryReserve = memoryReserve ?? (total > 0 ? total / 20 : 0)
    // Ctrl-Z gives the slots back (`ProcessGroups.stopForTerminal`).
    ProcessGroups.shared.register(self)
  }

  deinit {
    if sharedIsMapped {
      munmap(shared, 4096)
      munmap(actionsShared, 4096)
    } else {
      shared.deallocate()
    }
    close(jobsFile)
    if actionsFile >= 0 { close(actionsFile) }
  }

  // MARK: - Job slots

  package func acquireSlot(expectedMemory: Int64?) async -> JobSlot? {
    if isInterrupted() { return nil }
    // At once, when no job of this process is queued and the gate and a slot are free.
    let direct: Int? = state.withLock { state in
      guard state.queue.isEmpty, !state.suspended, takeGate() else { return nil }
      let slot = memoryAllows(expectedMemory, &state) ? takeFreeSlot(&state) : nil
      dropGate()
      return slot
    }
    if let direct {
      notify()  // the gate was held for a moment
      observe(.slotGranted(direct))
      return JobSlot(index: direct)
    }
    return await withCheckedContinuation { continuation in
      let start: Bool = state.withLock { state in
        state.queue.append((expectedMemory, continuation))
        if state.waiterRunning { return false }
        state.waiterRunning = true
        return true
      }
      if start { startWaiter() }
    }
  }

  package func release(_ slot: JobSlot) {
    let released: Bool = state.withLock { state in
      guard state.held.remove(slot.index) != nil else { return false }
      // Given back while stopped: its lock is not ours any more.
      if state.givenBack.remove(slot.index) != nil { return false }
      setOwner(slot: slot.index, to: 0)
      _ = kiln_range_unlock(jobsFile, Int64(slot.index + 1))
      return true
    }
    if released { notify() }
  }

  /// A free slot's number, now held by this process (called with `state` locked).
  private func takeFreeSlot(_ state: inout State) -> Int? {
    for i in 0..<slots where !state.held.contains(i) {
      if kiln_range_lock(jobsFile, Int64(i + 1), 1) == 0 {
        state.held.insert(i)
        setOwner(slot: i, to: UInt32(getpid()))
        return i
      }
    }
    return nil
  }

  /// Takes the gate if it is free, recording this process as its holder (called with
  /// `state` locked).
  private func takeGate() -> Bool {
    guard kiln_range_lock(jobsFile, 0, 1) == 0 else { return false }
    if sharedIsMapped { kiln_atomic_store(shared + Self.gateOwnerWord, UInt32(getpid())) }
    return true
  }

  private func dropGate() {
    if sharedIsMapped { kiln_atomic_store(shared + Self.gateOwnerWord, 0) }
    _ = kiln_range_unlock(jobsFile, 0)
  }

  private func setOwner(slot: Int, to pid: UInt32) {
    guard sharedIsMapped, Self.slotOwnerWords + slot < Self.ownerWordCount else { return }
    kiln_atomic_store(shared + Self.slotOwnerWords + slot, pid)
  }

  private func owner(ofByte byte: Int) -> Int32 {
    guard sharedIsMapped else { return 0 }
    let word = byte == 0 ? Self.gateOwnerWord : Self.slotOwnerWords + byte - 1
    guard word < Self.ownerWordCount else { return 0 }
    return Int32(bitPattern: kiln_atomic_load(shared + word))
  }

  /// The other processes that hold the gate or a slot and are stopped, with how many
  /// of the two each holds and its command name.
  package func stoppedHolders() -> [(pid: Int32, name: String, count: Int)] {
    var found: [Int32: (name: String, count: Int)] = [:]
    let me = getpid()
    for byte in 0...slots where kiln_range_is_locked(jobsFile, Int64(byte)) == 1 {
      let pid = owner(ofByte: byte)
      guard pid > 0, pid != me else { continue }
      if let known = found[pid] {
        found[pid] = (known.name, known.count + 1)
      } else if let process = ProcessStat(pid: pid), process.isStopped {
        found[pid] = (process.name, 1)
      }
    }
    return found.map { ($0.key, $0.value.name, $0.value.count) }.sorted { $0.pid < $1.pid }
  }

  /// Other processes named kiln that are stopped (state T), from /proc: who may hold an
  /// action claim, which (unlike a slot) does not record its holder.
  static func stoppedKilns() -> [Int32] {
    guard let dir = opendir("/proc") else { return [] }
    defer { closedir(dir) }
    var result: [Int32] = []
    let me = getpid()
    while let entry = readdir(dir) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      guard let pid = Int32(name), pid != me, let process = ProcessStat(pid: pid), process.name == "kiln",
            process.isStopped else { continue }
      result.append(pid)
    }
    return result.sorted()
  }

  /// Says, once per process, which holders of slots this waiting process waits for are
  /// stopped.
  private func reportStoppedHolders(alreadyReported: inout Set<Int32>) {
    for holder in stoppedHolders() where !alreadyReported.contains(holder.pid) {
      alreadyReported.insert(holder.pid)
      report("kiln: waiting for a job slot: process \(holder.pid) (\(holder.name)) holds "
        + (holder.count == 1 ? "one" : "\(holder.count)") + " and is stopped; "
        + "resume it (kill -CONT \(holder.pid)) or end it")
    }
  }

  /// Writes `line` to stderr.
  package static let printToStandardError: @Sendable (String) -> Void = { line in
    var text = line + "\n"
    text.withUTF8 { buffer in
      var offset = 0
      while offset < buffer.count {
        let n = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
        if n < 0 { if errno == EINTR { continue } else { return } }
        offset += n
      }
    }
  }

  // MARK: - Stopped and continued (Ctrl-Z)

  /// Gives back every slot (and the gate) this process holds, so that other builds go
  /// on while it is stopped; jobs that ask for a slot meanwhile wait. The jobs keep
  /// their `JobSlot`s: `resume()` takes the same slots again.
  package func suspend() {
    let gave: Bool = state.withLock { state in
      guard !state.suspended else { return false }
      state.suspended = true
      if state.gateHeld {
        dropGate()
        state.gateHeld = false
      }
      for i in state.held {
        setOwner(slot: i, to: 0)
        _ = kiln_range_unlock(jobsFile, Int64(i + 1))
      }
      state.givenBack = state.held
      return true
    }
    if gave { notify() }
  }

  /// Takes back the slots `suspend()` gave, waiting for those another process took
  /// meanwhile (it gives them back when its command ends), then lets jobs take slots
  /// again. Gives up on an interrupt.
  package func resume() {
    while true {
      let generation = kiln_atomic_load(shared)
      let done: Bool = state.withLock { state in
        guard state.suspended else { return true }
        for i in state.givenBack.sorted() where kiln_range_lock(jobsFile, Int64(i + 1), 1) == 0 {
          state.givenBack.remove(i)
          setOwner(slot: i, to: UInt32(getpid()))
        }
        if state.givenBack.isEmpty { state.suspended = false }
        return !state.suspended
      }
      if done || isInterrupted() { break }
      observe(.resumeWaits)
      _ = kiln_futex_wait(shared, generation, 20)
    }
    notify()  // this process's own waiting thread may take slots again
  }

  /// Tells waiting processes that a slot or the gate may be free.
  private func notify() {
    kiln_atomic_increment(shared)
    if kiln_atomic_load(shared + 1) > 0 { _ = kiln_futex_wake(shared) }
  }

  private func startWaiter() {
    if !OwnThread.detached({ self.waitForSlots() }) {
      waitForSlots()
    }
  }

  /// The waiting thread: takes the gate, then one slot for the first queued job, then
  /// lets the gate go and queues for it again, until no job of this process waits.
  private func waitForSlots() {
    kiln_atomic_increment(shared + 1)
    defer { kiln_atomic_decrement(shared + 1) }
    // After a second without a slot, and every half second after, look for stopped holders.
    var nextLook = SystemClock().monotonic() + 1
    var reported = Set<Int32>()
    while true {
      let generation = kiln_atomic_load(shared)
      var handOut: (CheckedContinuation<JobSlot?, Never>, JobSlot?)?
      var cancelled: [CheckedContinuation<JobSlot?, Never>] = []
      var droppedGate = false
      let done: Bool = state.withLock { state in
        if isInterrupted() {
          cancelled = state.queue.map(\.continuation)
          state.queue.removeAll()
        }
        if state.queue.isEmpty {
          state.waiterRunning = false
        } else {
          if !state.gateHeld, !state.suspended { state.gateHeld = takeGate() }
          if state.gateHeld, memoryAllows(state.queue[0].expected, &state), let slot = takeFreeSlot(&state) {
            handOut = (state.queue.removeFirst().continuation, JobSlot(index: slot))
          }
        }
        if state.gateHeld && (handOut != nil || state.queue.isEmpty) {
          dropGate()
          state.gateHeld = false
          droppedGate = true
        }
        return state.queue.isEmpty && handOut == nil
      }
      if droppedGate { notify() }
      for c in cancelled { c.resume(returning: nil) }
      if done { return }
      if let (continuation, slot) = handOut {
        if let slot { observe(.slotGranted(slot.index)) }
        continuation.resume(returning: slot)
        nextLook = SystemClock().monotonic() + 1
        continue
      }
      observe(.noSlotFree)
      let now = SystemClock().monotonic()
      if now >= nextLook {
        nextLook = now + 0.5
        reportStoppedHolders(alreadyReported: &reported)
      }
      _ = kiln_futex_wait(shared, generation, 20)
    }
  }

  /// Whether a task expected to use `expected` bytes may start now (called with `state`
  /// locked). A process that runs nothing may always start one: waiting could only wait
  /// for other processes, and memory below the reserve may never come back.
  private func memoryAllows(_ expected: Int64?, _ state: inout State) -> Bool {
    guard memoryReserve > 0, !state.held.isEmpty else { return true }
    let available = state.memory.available()
    return available < 0 || available >= memoryReserve + (expected ?? 0)
  }

  // MARK: - Actions in flight

  package func claimAction(_ key: Digest) async -> ActionClaim? {
    // A descriptor per claim: two jobs of this process conflict like two processes.
    let fd = open(actionsPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o666)
    guard fd >= 0 else { return ActionClaim(key: key, waited: false) }
    let offset = Self.lockOffset(key)
    if kiln_range_lock(fd, offset, 1) == 0 { return ActionClaim(key: key, waited: false, descriptor: fd) }
    guard errno == EAGAIN || errno == EACCES else {
      // Locks do not work here: no deduplication, still a correct build.
      close(fd)
      return ActionClaim(key: key, waited: false)
    }
    // Another process runs it. Waiting is rare, so each wait gets a thread of its own
    // (Swift's small pool of threads must not block); it sleeps on the futex that
    // every claim's release bumps, and wakes every 20 ms for a holder that died.
    return await withCheckedContinuation { continuation in
      let wait = ClaimWait(limits: self, key: key, fd: fd, offset: offset, continuation: continuation)
      let context = Unmanaged.passRetained(wait).toOpaque()
      var thread = pthread_t()
      let rc = pthread_create(&thread, nil, { context in
        Unmanaged<ClaimWait>.fromOpaque(context!).takeRetainedValue().run()
        return nil
      }, context)
      if rc == 0 {
        pthread_detach(thread)
      } else {
        Unmanaged<ClaimWait>.fromOpaque(context).takeRetainedValue().run()
      }
    }
  }

  /// The byte of the actions lock file that stands for `key`.
  private static func lockOffset(_ key: Digest) -> Int64 { Int64(bitPattern: key.high & 0x3FFF_FFFF_FFFF_FFFF) }

  package func release(_ claim: ActionClaim) {
    guard claim.descriptor >= 0 else { return }
    // Unlocked before the close: a child being spawned at this moment holds a copy of
    // the descriptor until it execs, and the lock would live as long as that copy.
    _ = kiln_range_unlock(claim.descriptor, Self.lockOffset(claim.key))
    close(claim.descriptor)
    kiln_atomic_increment(actionsShared)
    if kiln_atomic_load(actionsShared + 1) > 0 { _ = kiln_futex_wake(actionsShared) }
  }

  package func claimActions(_ keys: [Digest]) -> ActionClaims {
    var claims = ActionClaims(keys: keys, held: [Bool](repeating: false, count: keys.count))
    let fd = open(actionsPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o666)
    guard fd >= 0 else { return UnlimitedMachine().claimActions(keys) }
    claims.descriptor = fd
    for (i, key) in keys.enumerated() {
      if kiln_range_lock(fd, Self.lockOffset(key), 1) == 0 {
        claims.held[i] = true
      } else if errno != EAGAIN, errno != EACCES {
        // Locks do not work here: no deduplication, still a correct build.
        claims.held[i] = true
      }
    }
    return claims
  }

  package func release(_ claims: ActionClaims) {
    guard claims.descriptor >= 0 else { return }
    for (key, held) in zip(claims.keys, claims.held) where held {
      _ = kiln_range_unlock(claims.descriptor, Self.lockOffset(key))
    }
    close(claims.descriptor)
    kiln_atomic_increment(actionsShared)
    if kiln_atomic_load(actionsShared + 1) > 0 { _ = kiln_futex_wake(actionsShared) }
  }

  private final class ClaimWait: Sendable {
    let limits: SharedMachineLimits
    let key: Digest
    let fd: Int32
    let offset: Int64
    let continuation: CheckedContinuation<ActionClaim?, Never>

    init(limits: SharedMachineLimits, key: Digest, fd: Int32, offset: Int64,
         continuation: CheckedContinuation<ActionClaim?, Never>) {
      self.limits = limits
      self.key = key
      self.fd = fd
      self.offset = offset
      self.continuation = continuation
    }

    func run() {
      let word = limits.actionsShared
      kiln_atomic_increment(word + 1)
      defer { kiln_atomic_decrement(word + 1) }
      let started = SystemClock().monotonic()
      var told = false
      var waiting = false
      while true {
        // After two seconds, say once what this build waits for: the lock does not say
        // who holds it, so name any kiln that is stopped (Ctrl-Z keeps its claims).
        if !told, SystemClock().monotonic() - started > 2 {
          told = true
          let stopped = SharedMachineLimits.stoppedKilns()
          let pids = stopped.map(String.init).joined(separator: ", ")
          let hint = stopped.isEmpty ? "waiting for its result"
            : stopped.count == 1 ? "kiln process \(pids) is stopped: resume it (fg, or kill -CONT PID) or end it"
            : "kiln processes \(pids) are stopped: resume them (fg, or kill -CONT PID) or end them"
          limits.report("kiln: another kiln process is running the same action (key \(key.hex.prefix(12))); \(hint)")
        }
        let generation = kiln_atomic_load(word)
        if kiln_range_lock(fd, offset, 1) == 0 {
          continuation.resume(returning: ActionClaim(key: key, waited: true, descriptor: fd))
          return
        }
        if limits.isInterrupted() {
          close(fd)
          continuation.resume(returning: nil)
          return
        }
        if !waiting {
          waiting = true
          limits.observe(.actionHeld(key))
        }
        _ = kiln_futex_wait(word, generation, 20)
      }
    }
  }
}

/// What a `SharedMachineLimits` tells its observer: when a job gets a slot and when a
/// wait begins, so a test waits for the wait it means to check instead of sleeping.
package enum MachineLimitsEvent: Sendable, Hashable {
  /// A job of this process was handed slot `index` (at once or after a wait).
  case slotGranted(Int)
  /// The waiting thread looked for a slot for its first job and found none it may take
  /// (all held, the gate held by another process, memory below the reserve, or this
  /// process stopped); it sleeps until a release or its 20 ms timeout, then looks again.
  case noSlotFree
  /// `resume()` found a slot it gave back held by another process; it waits for it.
  case resumeWaits
  /// A claim on the action `key` found another holder; it waits (told once per claim).
  case actionHeld(Digest)
}

/// The two pages of futex words every process sharing the cache maps (`locks/jobs`,
/// `locks/actions`), or one local allocation where mapping failed. @unchecked: the
/// memory stays mapped for the life of the `SharedMachineLimits` that owns it, and is
/// read and written only through the C shim's atomic loads, stores, increments and
/// futex calls, never by plain Swift accesses that could race.
private struct SharedWords: @unchecked Sendable {
  let jobs: UnsafeMutablePointer<UInt32>
  let actions: UnsafeMutablePointer<UInt32>
  let isMapped: Bool
}

/// Available memory from /proc/meminfo, read at most every 10 ms.
struct MemoryGauge {
  private var lastRead: Double = -1
  private var lastValue: Int64 = -1

  /// MemAvailable in bytes, or -1 where the kernel does not say.
  mutating func available() -> Int64 {
    let now = SystemClock().monotonic()
    if now - lastRead > 0.01 {
      lastValue = Self.read().available
      lastRead = now
    }
    return lastValue
  }

  /// MemTotal and MemAvailable in bytes (-1 each where unknown).
  static func read() -> (total: Int64, available: Int64) {
    let fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return (-1, -1) }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return (-1, -1) }
    // Read as bytes, and only up to the two lines wanted (the first and third): every
    // job slot taken reads it, and making Strings of its fifty lines cost more than
    // the rest of taking the slot.
    var total: Int64 = -1, available: Int64 = -1
    for line in buffer[0..<n].split(separator: UInt8(ascii: "\n")) {
      guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
      let name = line[..<colon]
      let isTotal = name.elementsEqual("MemTotal".utf8)
      guard isTotal || name.elementsEqual("MemAvailable".utf8) else { continue }
      let digits = line[line.index(after: colon)...].drop { $0 == UInt8(ascii: " ") }.prefix { $0 >= 48 && $0 <= 57 }
      guard !digits.isEmpty, digits.count <= 15 else { continue }
      let kib = digits.reduce(Int64(0)) { $0 * 10 + Int64($1 - 48) }
      if isTotal { total = kib * 1024 } else { available = kib * 1024 }
      if total >= 0, available >= 0 { break }
    }
    return (total, available)
  }
}

/// `512M`, `1.5GiB`, `2g`, `1073741824`: a byte count, as `--max-size` and
/// `KILN_MEM_RESERVE` take it. Digits, perhaps a decimal part (`1.5`), then an optional
/// unit in either case: `B`, or `K`, `M`, `G` or `T` (powers of 1024) alone or followed
/// by `B` or `iB`. Spaces around it are ignored; anything else (a sign, hex, an
/// exponent, `inf`, a lone `iB`) is no byte count: nil. Too large for 64 bits: the
/// largest count.
package func parseByteCount(_ text: String) -> Int64? {
  var s = Substring(text).utf8[...]
  while s.first == UInt8(ascii: " ") { s.removeFirst() }
  while s.last == UInt8(ascii: " ") { s.removeLast() }
  func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
  let whole = s.prefix(while: isDigit)
  s = s.dropFirst(whole.count)
  var fraction = s.prefix(0)
  if s.first == UInt8(ascii: ".") {
    fraction = s.dropFirst().prefix(while: isDigit)
    guard !fraction.isEmpty else { return nil }
    s = s.dropFirst(1 + fraction.count)
  }
  // Upper case in ASCII only: `ı` (dotless i) must not turn into an `I`.
  let unit = String(decoding: s.map { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") ? $0 - 32 : $0 }, as: UTF8.self)
  guard !whole.isEmpty, let power = byteCountUnits[unit] else { return nil }
  let scale = Int64(1) << (10 * power)
  var count: Int64 = 0
  for digit in whole {
    let (times10, o1) = count.multipliedReportingOverflow(by: 10)
    let (next, o2) = times10.addingReportingOverflow(Int64(digit - UInt8(ascii: "0")))
    if o1 || o2 { return Int64.max }
    count = next
  }
  let (scaled, overflow) = count.multipliedReportingOverflow(by: scale)
  if overflow { return Int64.max }
  // The decimal part adds less than one unit (so no overflow: `scaled` is a multiple
  // of the unit); a Double holds it closely enough.
  let part = fraction.isEmpty ? 0 : Int64((Double("0." + String(decoding: fraction, as: UTF8.self)) ?? 0) * Double(scale))
  return scaled + part
}

/// The units `parseByteCount` takes, upper-cased, and their power of 1024.
private let byteCountUnits: [String: Int] = {
  var units = ["": 0, "B": 0]
  for (power, letter) in ["K", "M", "G", "T"].enumerated() {
    for form in [letter, letter + "B", letter + "IB"] { units[form] = power + 1 }
  }
  return units
}()

/// The limits of a kiln started by a task of another kiln (`kiln ninja` in a hook's
/// task, say): that task holds a job slot of the machine's, and this process runs its
/// first job on it, as make's jobserver gives a child its implicit token, so a nested
/// build never waits for a slot its own parent holds (a deadlock at one slot).
/// Every job past the first draws from `base` as usual.
package final class InheritedSlotLimits: MachineLimits {
  /// Set in every task's environment: "1" while the task holds a slot.
  package static let variable = "KILN_JOB_SLOT"
  private static let inherited = JobSlot(index: -1)
  private let base: any MachineLimits
  private let free = Mutex(true)

  package init(_ base: any MachineLimits) { self.base = base }

  package func acquireSlot(expectedMemory: Int64?) async -> JobSlot? {
    let took = free.withLock { available in
      defer { available = false }
      return available
    }
    if took { return Self.inherited }
    return await base.acquireSlot(expectedMemory: expectedMemory)
  }

  package func release(_ slot: JobSlot) {
    if slot == Self.inherited {
      free.withLock { $0 = true }
    } else {
      base.release(slot)
    }
  }

  package func claimAction(_ key: Digest) async -> ActionClaim? { await base.claimAction(key) }
  package func release(_ claim: ActionClaim) { base.release(claim) }
  package func claimActions(_ keys: [Digest]) -> ActionClaims { base.claimActions(keys) }
  package func release(_ claims: ActionClaims) { base.release(claims) }
}
