import KilnCore
import KilnHash
import KilnStore
import KilnSystem

/// A batched `foreach` task (`TaskInstance.batch`): the instances the cache cannot
/// restore are run together, as few commands as there are job slots, each instance
/// still keyed, checked, stored and recorded on its own.
///
/// A batch command that fails says nothing about which items failed, so the batch is
/// split in halves and each half run again, down to single items: the halves that pass
/// are kept, the single items that fail are the failures, named with their own output.
/// With k failing items among n, that is at most 2k * ceil(log2 n) more commands (one
/// failing item of 150: 16), none when the batch passes.
extension Job {
  /// The first half of a batched instance's work: restored when the cache has it;
  /// nil (with the reasons it must run) when it must run with the others of its batch.
  package func restoreBatched(_ task: PreparedTask, reasons: [RerunReason]) async -> (JobResult?, [RerunReason], [String]) {
    var reasons = reasons
    var warnings: [String] = []
    if useCache, task.instance.cache, !task.instance.always {
      let (restored, more, said) = await lookUp(task, reasons: reasons)
      if let restored { return (await storingNow(restored), more, []) }
      reasons = more
      warnings = said
    }
    if !task.instance.cache { reasons.append(.cacheDisabled) }
    return (nil, reasons, warnings)
  }

  /// Runs `items` (instances of one batched task, none restorable) in one command, or
  /// in halves until the failing ones are known. Per item, aligned with `items`: its
  /// result, or nil for an item another kiln process is running now (claimed before
  /// this batch could), which the caller hands to `perform` to wait for its result.
  package func performBatch(_ items: [BatchItem]) async -> [JobResult?] {
    guard let first = items.first else { return [] }
    let cacheable = useCache && first.task.instance.cache
    let claims = cacheable ? limits.claimActions(items.map(\.task.key)) : nil
    var results = [JobResult?](repeating: nil, count: items.count)
    let mine = items.indices.filter { claims?.held[$0] ?? true }
    var warnings: [String] = []
    let ran = await runBatch(mine.map { items[$0] }, cacheable: cacheable, warnings: &warnings)
    for (k, i) in mine.enumerated() { results[i] = ran[k] }
    if let claims { limits.release(claims) }
    // The batch's own warnings (a split that passed whole) go with its first result.
    if let i = mine.first, !warnings.isEmpty { results[i]?.warnings += warnings }
    return results
  }

  /// One batch command for `items`; on failure, each half again.
  private func runBatch(_ items: [BatchItem], cacheable: Bool, warnings: inout [String]) async -> [JobResult] {
    guard let first = items.first, let batch = first.task.instance.batch else { return [] }
    for item in items {
      if let failure = clearOutputs(of: item.task.instance) {
        return items.map { _ in Self.failed(failure) }
      }
    }
    let outputs = items.flatMap(\.task.instance.outputs)
    let command = batch.command(items.map { ($0.task.instance.id.item ?? "", $0.task.instance.outputs) })
    let expected = items.compactMap(\.previous?.peakMemory).max()
    let spawned = await spawn(command, for: first.task.instance, outputs: outputs,
                              isolating: first.task.instance.isolate ? items.map(\.task) : [], expectedMemory: expected)
    let ran: Ran
    switch spawned {
    case .success(let r): ran = r
    case .failure(.interrupted): return items.map { _ in Self.interrupted }
    case .failure(.launchFailed(let why)): return items.map { _ in Self.failed(.launchFailed(why)) }
    }
    let out = ran.completion.stdout, err = ran.completion.stderr
    let failure: TaskFailure
    switch ran.completion.status {
    case .exited(0):
      // Each item's share: its lines of the output, its outputs' stats, a share of the time.
      let names = items.map { $0.task.instance.id.item ?? "" }
      let outs = Self.attribute(out, to: names), errs = Self.attribute(err, to: names)
      let share = ran.duration / Double(items.count)
      var offset = 0
      var results: [JobResult] = []
      for (k, item) in items.enumerated() {
        let count = item.task.instance.outputs.count
        let stats = ran.exitStats.map { Array($0[offset..<offset + count]) }
        offset += count
        var result = collect(item.task, stdout: outs[k], stderr: errs[k], duration: share, startWall: ran.startWall,
                             exitStats: stats, peakMemory: ran.completion.peakMemory, reasons: item.reasons,
                             cacheable: cacheable, previous: item.previous)
        result.queued = ran.queued
        results.append(await storingNow(result))
      }
      return results
    case .interrupted:
      for item in items { removeOwnOutputs(of: item.task.instance) }
      return items.map { _ in Self.failed(.signal(2)) }
    case .exited(let code): failure = .exitStatus(code)
    case .signaled(let signal): failure = .signal(signal)
    case .timedOut: failure = .timedOut(first.task.instance.timeout ?? .zero)
    }
    // Stopped for good (a lone item's time-out, Ctrl-C meanwhile): what the command
    // half-wrote goes, as after any stopped command; a split clears its items itself.
    let interrupted = ProcessGroups.shared.isInterrupted
    let timedOut = if case .timedOut = failure { true } else { false }
    if interrupted || (items.count == 1 && timedOut) {
      for item in items { removeOwnOutputs(of: item.task.instance) }
    }
    guard items.count > 1 else { return [Self.failed(failure, out, err, ran.duration)] }
    if interrupted { return items.map { _ in Self.failed(.signal(2)) } }
    let half = items.count / 2
    var results = await runBatch(Array(items[..<half]), cacheable: cacheable, warnings: &warnings)
    results += await runBatch(Array(items[half...]), cacheable: cacheable, warnings: &warnings)
    if !results.contains(where: { if case .failed = $0.outcome { true } else { false } }) {
      warnings.append("\(first.task.instance.id.task): a batch of \(items.count) failed (\(failure)) but each half passed when run again; their results are kept")
    }
    return results
  }

  /// Splits a batch's output among its items: each line goes to the item whose path it
  /// names (the longest, when several do), a line naming none to the first item, so the
  /// whole output is replayed once when every item is restored.
  /// Up to `directSearchLimit` items each line is searched for each item; past it, one
  /// pass of an automaton over all items (`LongestNeedle`), the same answer, so a batch
  /// of 10,000 items printing 10,000 lines costs no 10^8 searches.
  package static func attribute(_ output: [UInt8], to items: [String]) -> [[UInt8]] {
    var result = [[UInt8]](repeating: [], count: items.count)
    guard !output.isEmpty, !items.isEmpty else { return result }
    let needles = items.map { Array($0.utf8) }
    let automaton = items.count > directSearchLimit ? LongestNeedle(needles) : nil
    var start = 0
    while start < output.count {
      var end = start
      while end < output.count, output[end] != UInt8(ascii: "\n") { end += 1 }
      if end < output.count { end += 1 }
      let line = output[start..<end]
      var owner = 0
      if let automaton {
        owner = automaton.longest(in: line) ?? 0
      } else {
        var longest = 0
        line.withUnsafeBytes { bytes in
          for (k, needle) in needles.enumerated() where needle.count > longest && !needle.isEmpty {
            if NeedleScanner.search(bytes, for: needle) { owner = k; longest = needle.count }
          }
        }
      }
      result[owner] += line
      start = end
    }
    return result
  }

  package static let directSearchLimit = 64
}

/// Which of many byte strings a text holds, the longest (of equal lengths, the first
/// listed): an Aho-Corasick automaton, one pass over the text whatever their number.
package struct LongestNeedle {
  /// Per node: its children by byte, the node a mismatch falls back to, and the
  /// needle to report there (the longest ending at this node, -1 for none).
  private var children: [[UInt8: Int32]] = [[:]]
  private var fallback: [Int32] = [0]
  private var report: [Int32] = [-1]
  private let lengths: [Int]

  package init(_ needles: [[UInt8]]) {
    lengths = needles.map(\.count)
    for (k, needle) in needles.enumerated() where !needle.isEmpty {
      var node = 0
      for byte in needle {
        if let child = children[node][byte] {
          node = Int(child)
        } else {
          children.append([:])
          fallback.append(0)
          report.append(-1)
          children[node][byte] = Int32(children.count - 1)
          node = children.count - 1
        }
      }
      if report[node] < 0 { report[node] = Int32(k) }  // the same needle twice: the first
    }
    // Breadth first: a node's fallback is shallower, so final before the node is seen.
    var queue = children[0].values.map(Int.init)
    var head = 0
    while head < queue.count {
      let node = queue[head]
      head += 1
      // The longest needle ending here is the node's own, else its fallback's.
      if report[node] < 0 { report[node] = report[Int(fallback[node])] }
      for (byte, child) in children[node] {
        var f = Int(fallback[node])
        while f != 0, children[f][byte] == nil { f = Int(fallback[f]) }
        let target = children[f][byte].map(Int.init) ?? 0
        fallback[Int(child)] = Int32(target == Int(child) ? 0 : target)
        queue.append(Int(child))
      }
    }
  }

  /// The index of the longest needle `text` holds (ties: the lowest index), or nil.
  package func longest(in text: ArraySlice<UInt8>) -> Int? {
    var node = 0
    var found = -1
    for byte in text {
      while node != 0, children[node][byte] == nil { node = Int(fallback[node]) }
      node = children[node][byte].map(Int.init) ?? 0
      let k = Int(report[node])
      if k >= 0, found < 0 || lengths[k] > lengths[found] || (lengths[k] == lengths[found] && k < found) { found = k }
    }
    return found < 0 ? nil : found
  }
}

/// One instance of a batch: what `perform` would be given for it.
package struct BatchItem: Sendable {
  package var task: PreparedTask
  package var reasons: [RerunReason]
  package var previous: TaskRecord?

  package init(task: PreparedTask, reasons: [RerunReason], previous: TaskRecord?) {
    self.task = task
    self.reasons = reasons
    self.previous = previous
  }
}

extension BatchCommand {
  /// The command for a batch of `items` (each a foreach item and its outputs): `{in}`
  /// the items, `{out}` their outputs, shell-quoted, in the items' order.
  package func command(_ items: [(item: String, outputs: [String])]) -> String {
    var result = ""
    for piece in pieces {
      switch piece {
      case .text(let text): result += text
      case .inputs: result += items.map { Paths.shellQuote($0.item) }.joined(separator: " ")
      case .outputs: result += items.flatMap { $0.outputs.map(Paths.shellQuote) }.joined(separator: " ")
      }
    }
    return result
  }
}
