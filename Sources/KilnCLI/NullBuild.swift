import KilnCore
import KilnEngine
import KilnStore
import KilnSystem
import KilnWorkspaces

/// `kiln build`'s first step: when the last build of the same targets left a snapshot
/// and every file in it still has the stat it had (or, touched, still its content),
/// nothing can have changed, so every task is up to date: kiln appends that build to
/// the pending history and stops, without parsing the build file, opening the
/// manifest or loading a record (ninja's null build, with content hashes behind it).
/// Any doubt falls back to the full build.
enum NullBuild {
  struct Options {
    var targets: [String]?
    var dryRun = false
    var explain = false
    var quiet = false
    var workspace: String?
  }

  /// True when the build was done here (its lines printed, its history recorded).
  static func attempt(_ context: Context, _ options: Options) -> Bool {
    let started = context.clock.monotonic()
    let startedWall = Double(context.clock.wallNanoseconds()) / 1e9
    let fs = context.fileSystem
    // Another build running in this checkout: the full path waits for it.
    var lock: CheckoutLock?
    if !options.dryRun {
      guard let held = try? CheckoutLock.attempt(context.checkoutLockPath, describing: "kiln build") else { return false }
      lock = held
    }
    defer { withExtendedLifetime(lock) {} }
    guard let bytes = try? fs.read(context.snapshotPath), var snapshot = BuildSnapshot.decode(bytes),
          snapshot.root == context.root, snapshot.targets == BuildSnapshot.targetsKey(options.targets),
          snapshot.environmentDigest == BuildSnapshot.environmentDigest(snapshot.environmentNames, context.environment),
          let changed = snapshot.changedFiles(fileSystem: fs)
    else { return false }
    // Files touched but not edited (new stat, same content) still hold: hash them.
    var rehashed: [(path: String, entry: StatEntry)] = []
    var trustworthy = true
    for (index, stat) in changed {
      let path = snapshot.entries[index].path
      let hashedAt = context.clock.wallNanoseconds()
      guard let digest = try? fs.digest(of: path.hasPrefix("/") ? path : Paths.join(context.root, path)),
            digest == snapshot.entries[index].digest
      else { return false }
      rehashed.append((path, StatEntry(size: stat.size, mtime: stat.mtime, ctime: stat.ctime, inode: stat.inode,
                                       digest: digest, recorded: hashedAt)))
      snapshot.entries[index].stat = stat
      snapshot.entries[index].observedAt = hashedAt
      if snapshot.entries[index].isRacy { trustworthy = false }
    }
    var summary = BuildSummary()
    summary.upToDate = snapshot.total
    summary.timeSaved = snapshot.tasks.reduce(0) { $0 + $1.saved }
    if !options.dryRun {
      summary.wallTime = context.clock.monotonic() - started
      let pending = PendingBuild(
        started: startedWall, finished: Double(context.clock.wallNanoseconds()) / 1e9, targets: snapshot.targetNames,
        workspace: options.workspace ?? Workspaces.name(containing: context.root), summary: summary,
        tasks: snapshot.tasks.map { .init(task: $0.name, count: $0.count, saved: $0.saved) },
        stats: rehashed.map { .init(path: $0.path, entry: $0.entry) })
      // Not recorded, not done: the full build records it itself.
      guard PendingBuild.append(pending, manifest: context.manifestPath) else { return false }
      // The new stats, when they can be trusted; else the next build hashes them again.
      if !rehashed.isEmpty, trustworthy {
        try? fs.writeAtomically(snapshot.encode(), to: context.snapshotPath, permissions: 0o644)
      }
    }
    for warning in snapshot.warnings { Terminal.error(warning) }
    if options.explain {
      let touched = rehashed.isEmpty ? "" : ", \(rehashed.count) touched but not changed"
      Terminal.line("kiln: no file changed since the last build (\(snapshot.entries.count) checked\(touched))")
    }
    if options.dryRun {
      Terminal.line("kiln: dry run: 0 of \(snapshot.total) would restore or run")
    } else {
      summary.wallTime = context.clock.monotonic() - started
      if !options.quiet { Terminal.line(summaryLine(summary, color: Terminal.colors(1))) }
    }
    return true
  }
}
