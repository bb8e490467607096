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
    guard let bytes = try? fs.read(context.snapshotPath), let snapshot = BuildSnapshot.decode(bytes),
          snapshot.root == context.root, snapshot.targets == BuildSnapshot.targetsKey(options.targets),
          snapshot.environmentDigest == BuildSnapshot.environmentDigest(snapshot.environmentNames, context.environment),
          snapshot.holds(fileSystem: fs),
          fs.stat(context.manifestPath) != nil, let manifest = try? context.manifest(),
          (try? manifest.snapshotToken()) == snapshot.token
    else { return false }

    var summary = BuildSummary()
    summary.upToDate = snapshot.total
    summary.timeSaved = snapshot.tasks.reduce(0) { $0 + $1.saved }
    if !options.dryRun {
      do {
        try manifest.begin()
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
    }
    for warning in snapshot.warnings { Terminal.error(warning) }
    if options.explain {
      Terminal.line("kiln: no file changed since the last build (\(snapshot.entries.count) checked)")
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
