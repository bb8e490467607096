import ArgumentParser
import KilnStore
import KilnSystem

/// `kiln stats`: the last build, and hit rates per workspace across every workspace of
/// the repository (each keeps its own manifest; this reads them all).
struct StatsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "stats", abstract: "Hit rates: the last build, and per workspace over the last N builds.")
  @Option(help: "How many of each manifest's latest builds to count.") var last = 20

  func run() async throws {
    guard last >= 1 else { throw CLIError("kiln: stats: --last must be at least 1") }
    let context = try Context()
    var text = ""
    let manifest = try context.manifest()
    if let (_, s) = try? manifest.lastBuild() {
      text += "last build: " + String(summaryLine(s).dropFirst("kiln: ".count)) + "\n"
    } else {
      text += "last build: none recorded here\n"
    }
    // This manifest, the main checkout's and every workspace's, each read once.
    var paths = [context.manifestPath]
    let fileName = Paths.fileName(context.manifestPath)
    if let ws = try? WorkspaceCommand.open() {
      if case .git(let common) = ws.kind, Paths.fileName(common) == ".git" {
        paths.append(Paths.join(Paths.join(Paths.parent(common), ws.relativeDirectory), ".kiln/" + fileName))
      } else if case .copies(let origin) = ws.kind {
        paths.append(Paths.join(Paths.join(origin, ws.relativeDirectory), ".kiln/" + fileName))
      }
      for info in ws.all() where !info.creating {
        paths.append(Paths.join(Paths.join(info.path, ws.relativeDirectory), ".kiln/" + fileName))
      }
    }
    var seen = Set<String>()
    var totals: [String: WorkspaceTotals] = [:]
    for path in paths where seen.insert(Paths.normalize(path) ?? path).inserted {
      guard context.fileSystem.stat(path)?.kind == .file,
            let m = path == context.manifestPath ? manifest : try? Manifest(path: path),
            let rows = try? m.totalsByWorkspace(lastBuilds: last)
      else { continue }
      for row in rows {
        let name = row.workspace ?? "(main)"
        var t = totals[name] ?? WorkspaceTotals(workspace: name, builds: 0, summary: BuildSummary())
        t.builds += row.builds
        t.summary.ran += row.summary.ran
        t.summary.restored += row.summary.restored
        t.summary.upToDate += row.summary.upToDate
        t.summary.timeSaved += row.summary.timeSaved
        totals[name] = t
      }
    }
    text += "hit rate per workspace (last \(last) builds of each):\n"
    var lines = [["WORKSPACE", "BUILDS", "RAN", "RESTORED", "UP-TO-DATE", "HIT-RATE", "TIME-SAVED"]]
    for name in totals.keys.sorted(by: { ($0 == "(main)" ? "" : $0) < ($1 == "(main)" ? "" : $1) }) {
      let t = totals[name]!
      lines.append([name, "\(t.builds)", "\(t.summary.ran)", "\(t.summary.restored)", "\(t.summary.upToDate)",
                    t.summary.hitRate.map { String(format2: $0 * 100) + "%" } ?? "-",
                    String(format2: t.summary.timeSaved) + "s"])
    }
    text += columns(lines, indent: "  ")
    Terminal.write(text)
  }
}
