import KilnReport

/// `kiln stats --json`: the report as one JSON document, schema version 2
/// (docs/stats-schema.md). Times are seconds; rates are 0...1 or null.
enum StatsJSON {
  static func render(_ r: StatsReport) -> String {
    JSON.object([
      ("schema", JSON.string("kiln-stats")),
      ("version", String(StatsReport.schemaVersion)),
      ("window", String(r.window)),
      ("task", r.task.map(JSON.string) ?? "null"),
      ("last_build", r.last.map(build) ?? "null"),
      ("total", counts(r.total, builds: true)),
      ("history", JSON.array(r.history.map(build))),
      ("per_task", JSON.array(r.perTask.map { g in
        JSON.object([("task", JSON.string(g.name))] + counts(g.counts)
          + [("mean_run_time", g.meanRunTime.map(JSON.number) ?? "null")])
      })),
      ("per_workspace", JSON.array(r.perWorkspace.map { g in
        JSON.object([("workspace", JSON.string(g.name))] + counts(g.counts) + [("builds", String(g.counts.builds))])
      })),
      ("slowest", JSON.array(r.slowest.map(instance))),
      ("bottlenecks", JSON.array(r.bottlenecks.map { b in
        JSON.object([("id", JSON.string(b.id)), ("task", JSON.string(b.task)), ("duration", JSON.number(b.duration)),
                     ("mean", JSON.number(b.mean)), ("basis", JSON.string(b.basis)), ("peers", String(b.peers)),
                     ("ratio", JSON.number(b.ratio))])
      })),
      ("sla", JSON.array(r.sla.map { f in
        JSON.object([("id", JSON.string(f.id)), ("task", JSON.string(f.task)), ("duration", JSON.number(f.duration)),
                     ("sla", JSON.number(f.sla)), ("fraction", JSON.number(f.fraction)),
                     ("level", JSON.string(f.violation ? "violation" : "warning"))])
      })),
      ("critical_path", r.criticalPath.map { p in
        JSON.object([("length", JSON.number(p.length)), ("wall_time", JSON.number(p.wallTime)),
                     ("slot_wait", JSON.number(p.slotWait)), ("slot_limited", p.slotLimited ? "true" : "false"),
                     ("jobs", p.jobs.map { String($0) } ?? "null"),
                     ("steps", JSON.array(p.steps.map { step in
                       JSON.object(instanceFields(step) + [("waited", JSON.number(step.waited))])
                     }))])
      } ?? "null"),
      ("regressions", JSON.array(r.regressions.map { g in
        JSON.object([("id", JSON.string(g.id)), ("task", JSON.string(g.task)), ("duration", JSON.number(g.duration)),
                     ("median", JSON.number(g.median)), ("samples", String(g.samples)), ("ratio", JSON.number(g.ratio))])
      })),
      ("miss_reasons", JSON.array(r.missReasons.map { m in
        JSON.object([("kind", JSON.string(m.kind)), ("count", String(m.count)),
                     ("examples", JSON.array(m.examples.map(JSON.string)))])
      })),
      ("timeline", JSON.array(r.timeline.map { b in
        JSON.object([("id", JSON.string(b.id)), ("task", JSON.string(b.task)), ("outcome", JSON.string(b.outcome)),
                     ("started", JSON.number(b.started)), ("finished", JSON.number(b.finished)),
                     ("lane", String(b.lane)), ("critical", b.onCriticalPath ? "true" : "false")])
      })),
      ("busy", JSON.array(r.busy.map { b in
        JSON.object([("time", JSON.number(b.time)), ("running", String(b.running))])
      })),
      ("cache", r.cacheBytes.map { bytes in
        JSON.object([("bytes", String(bytes)), ("files", String(r.cacheFiles ?? 0))])
      } ?? "null"),
      ("remote", r.remote.map { m in
        JSON.object([("builds", String(m.builds)), ("restored", String(m.restored)), ("bytes_down", String(m.bytesDown)),
                     ("bytes_up", String(m.bytesUp)), ("seconds", JSON.number(m.seconds))])
      } ?? "null"),
      ("execution", r.execution.map { e in
        JSON.object([("local", String(e.local)), ("local_seconds", JSON.number(e.localSeconds)),
                     ("remote", String(e.remote)), ("remote_seconds", JSON.number(e.remoteSeconds)),
                     ("remote_queued_seconds", JSON.number(e.remoteQueued)), ("bytes_up", String(e.bytesUp)),
                     ("bytes_down", String(e.bytesDown))])
      } ?? "null"),
    ]) + "\n"
  }

  private static func counts(_ c: Counts) -> [(String, String)] {
    [("ran", String(c.ran)), ("restored", String(c.restored)), ("up_to_date", String(c.upToDate)),
     ("failed", String(c.failed)), ("skipped", String(c.skipped)), ("hit_rate", c.hitRate.map(JSON.number) ?? "null"),
     ("time_saved", JSON.number(c.timeSaved)), ("up_to_date_work", JSON.number(c.upToDateWork)),
     ("nothing_to_do", String(c.nothingToDo))]
  }

  private static func counts(_ c: Counts, builds: Bool) -> String {
    JSON.object([("builds", String(c.builds))] + counts(c))
  }

  private static func build(_ b: BuildFigures) -> String {
    JSON.object([("id", String(b.id)), ("started", JSON.number(b.started)),
                 ("workspace", b.workspace.map(JSON.string) ?? "null"), ("targets", JSON.string(b.targets)),
                 ("exit_status", String(b.exitStatus)), ("wall_time", JSON.number(b.wallTime)),
                 ("commit", b.commit.map(JSON.string) ?? "null"), ("jobs", b.jobs.map { String($0) } ?? "null"),
                 ("cache_bytes", b.cacheBytes.map { String($0) } ?? "null")] + counts(b.counts))
  }

  private static func instance(_ i: InstanceFigure) -> String { JSON.object(instanceFields(i)) }

  private static func instanceFields(_ i: InstanceFigure) -> [(String, String)] {
    [("id", JSON.string(i.id)), ("task", JSON.string(i.task)), ("outcome", JSON.string(i.outcome)),
     ("duration", JSON.number(i.duration))]
  }
}
