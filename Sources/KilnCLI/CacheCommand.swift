import ArgumentParser
import KilnReport
import KilnLauncher
import KilnStore
import KilnSystem

struct CacheCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cache", abstract: "The shared local cache: stats, gc, verify.",
    subcommands: [Stats.self, GC.self, Verify.self])

  static func maintenance(_ context: Context) throws -> CacheMaintenance {
    try context.checkCache()
    return CacheMaintenance(root: context.cacheRoot, fileSystem: context.cacheFileSystem,
                            actions: ActionDatabase(cacheRoot: context.cacheRoot, mode: context.cacheTrust.lockFileMode))
  }

  struct Stats: KilnSubcommand {
    static let configuration = CommandConfiguration(
      commandName: "stats",
      abstract: "Size and entry counts of the local cache, and what the compiler launcher and kiln exec did with it.")
    @Flag(help: "One JSON document.") var json = false
    @Flag(help: "Forget the launcher's counts (the cache's entries stay).") var zero = false

    func run(in context: Context) async throws {
      let m = try CacheCommand.maintenance(context)
      let log = LauncherLog(cacheRoot: context.cacheRoot)
      if zero {
        log.clear()
        Terminal.line("kiln: launcher counts cleared")
        return
      }
      let s = m.stats()
      let records = log.records(fileSystem: context.cacheFileSystem)
      let summary = LaunchSummary(records)
      let projects = LauncherStats.perProject(records)
      let remote = Self.remoteFigures(context)
      if json {
        Terminal.write(JSON.object([
          ("cache", JSON.object([
            ("root", JSON.string(m.root)), ("actions", "\(s.actions)"), ("action_bytes", "\(s.actionBytes)"),
            ("blobs", "\(s.blobs)"), ("blob_bytes", "\(s.blobBytes)"), ("bytes", "\(s.totalBytes)"),
          ])),
          ("launcher", LauncherStats.json(summary)),
          ("projects", LauncherStats.projectsJSON(projects)),
          ("remote", remote.map { r in
            JSON.object([("url", JSON.string(r.url)), ("writes", r.writes ? "true" : "false"),
                         ("verifies", r.verifies ? "true" : "false"), ("builds", "\(r.figures.builds)"),
                         ("restored", "\(r.figures.restored)"), ("bytes_down", "\(r.figures.bytesDown)"),
                         ("bytes_up", "\(r.figures.bytesUp)"), ("seconds", JSON.number(r.figures.seconds))])
          } ?? "null"),
        ]) + "\n")
        return
      }
      Terminal.line("cache: \(m.root)")
      Terminal.line("actions: \(s.actions) (\(formatBytes(s.actionBytes)))")
      Terminal.line("blobs: \(s.blobs) (\(formatBytes(s.blobBytes)))")
      Terminal.line("total: \(formatBytes(s.totalBytes))")
      Terminal.write("\n" + LauncherStats.text(summary, title: "launcher and kiln exec"))
      if projects.count > 0 { Terminal.write("\n" + LauncherStats.projectsText(projects)) }
      if let r = remote {
        Terminal.write("\nremote: \(r.url) (\(r.writes ? "uploads" : "read only")\(r.verifies ? ", signed entries only" : ""))\n")
        let f = r.figures
        Terminal.line("  this checkout's last \(f.builds) builds that asked it: \(f.restored) restored, \(formatBytes(f.bytesDown)) down, \(formatBytes(f.bytesUp)) up, \(String(format2: f.seconds))s on the network")
      }
    }

    /// The remote this checkout is configured with (nothing is asked of it), and what
    /// its history says the remote did.
    static func remoteFigures(_ context: Context) -> (url: String, writes: Bool, verifies: Bool, figures: RemoteFigures)? {
      // Remote execution alone (`remote: {execute: ...}`) is no remote cache.
      guard let settings = try? RemoteSetup.settings(context), !settings.url.isEmpty else { return nil }
      let env = context.environment
      let writes = env["KILN_REMOTE_WRITE"].map { $0 == "1" } ?? settings.write
      let verifies = settings.verifyKey != nil || !(env["KILN_REMOTE_VERIFY_KEY"] ?? "").isEmpty
      var figures = RemoteFigures()
      if context.fileSystem.lstat(context.layout.manifest) != nil,
         let manifest = try? Manifest(readingOnly: context.layout.manifest),
         let rows = try? manifest.history(lastBuilds: 1000) {
        for row in rows {
          guard let t = row.remote else { continue }
          figures.builds += 1
          figures.restored += row.summary.restoredRemote
          figures.bytesDown += t.bytesDown
          figures.bytesUp += t.bytesUp
          figures.seconds += t.seconds
        }
      }
      return (settings.url, writes, verifies, figures)
    }
  }

  struct GC: KilnSubcommand {
    static let configuration = CommandConfiguration(commandName: "gc", abstract: "Evict least recently used entries down to --max-size.")
    @Option(name: .customLong("max-size"), help: "Largest size to keep: 500M, 2G, 1048576.") var maxSize: String

    func run(in context: Context) async throws {
      guard let bytes = parseByteCount(maxSize) else {
        throw CLIError("kiln: --max-size: '\(maxSize)' is not a size (use a number with K, M or G)")
      }
      let m = try CacheCommand.maintenance(context)
      let stale = m.removeLeftovers(now: SystemClock().wallNanoseconds())
      var (removed, freed) = m.collectGarbage(maxBytes: bytes)
      removed += stale.removed
      freed += stale.freed
      Terminal.line("kiln: removed \(removed) files, freed \(formatBytes(freed)); cache now \(formatBytes(m.stats().totalBytes))")
    }
  }

  struct Verify: KilnSubcommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Re-hash every blob; drop corrupt ones (exit 1 if any).")
    func run(in context: Context) async throws {
      let m = try CacheCommand.maintenance(context)
      let stale = m.removeLeftovers(now: SystemClock().wallNanoseconds())
      if stale.removed > 0 {
        Terminal.line("kiln: removed \(stale.removed) temporary file\(stale.removed == 1 ? "" : "s") left by killed kiln processes (\(formatBytes(stale.freed)))")
      }
      let (checked, corrupt) = m.verify()
      for path in corrupt { Terminal.line("CORRUPT  \(path) (removed)") }
      Terminal.line("kiln: \(checked) cache files checked, \(corrupt.count) corrupt")
      if !corrupt.isEmpty { throw ExitCode(1) }
    }
  }
}

/// `1023 B`, `1.50 KiB`, `1.00 MiB`: the largest unit whose figure, once rounded to two
/// decimals, is below 1024 (1048575 bytes is 1.00 MiB, never 1024.00 KiB).
func formatBytes(_ n: Int64) -> String {
  let units = ["B", "KiB", "MiB", "GiB", "TiB"]
  var value = Double(n)
  var unit = 0
  while unit < units.count - 1, (value * 100).rounded() >= 1024 * 100 {
    value /= 1024
    unit += 1
  }
  return unit == 0 ? "\(n) B" : "\(String(format2: value)) \(units[unit])"
}
