import KilnCore
import KilnEngine
import KilnStore
import KilnSystem

/// `kiln build`'s first step: when the last build of the same targets left a snapshot
/// and every file in it still has the stat it had, nothing can have changed, so every
/// task is up to date: kiln records that in the history and stops, without parsing the
/// build file, loading a record or hashing a file (ninja's null build, with the
/// manifest's content hashes behind it). Any doubt falls back to the full build.
enum NullBuild {
  struct Options {
    var targets: [String]?
    var dryRun = false
    var explain = false
    var workspace: String?
  }

  /// True when the build was done here (its lines printed, its history recorded).
  static func attempt(_ context: Context, _ options: Options) -> Bool {
    let started = context.clock.monotonic()
    let startedWall = Double(context.clock.wallNanoseconds()) / 1e9
    let fs = context.fileSystem
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
    guard fs.stat(context.manifestPath) != nil, let manifest = try? context.manifest(),
          (try? manifest.snapshotToken()) == snapshot.token
    else { return false }

    var summary = BuildSummary()
    summary.upToDate = snapshot.total
    summary.timeSaved = snapshot.tasks.reduce(0) { $0 + $1.saved }
    if !options.dryRun {
      do {
        try manifest.begin()
        for (path, entry) in rehashed { try manifest.putStat(path, entry) }
        let id = try manifest.beginBuild(targets: snapshot.targetNames, workspace: options.workspace, started: startedWall)
        for task in snapshot.tasks {
          try manifest.recordUpToDate(build: id, task: task.name, count: task.count, timeSaved: task.saved)
        }
        summary.wallTime = context.clock.monotonic() - started
        try manifest.finishBuild(id, summary, finished: Double(context.clock.wallNanoseconds()) / 1e9)
        try manifest.commit()
      } catch {
        manifest.rollback()
        return false  // the full build will say what is wrong with the manifest
      }
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
      Terminal.line(summaryLine(summary))
    }
    return true
  }
}
