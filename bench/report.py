"""The bench's results as tables: the targets of issue 4 (and issue 5's workspaces,
issue 7's hooks, issue 15's launcher) first, then one table per project (ratios to ninja
first, then medians; workspaces: also where the time went), the details per tool,
hashing, hooks (its tables: bench/hooks.py), the launcher group (its tables:
bench/launcher_report.py); written into docs/benchmarks.md above KEEP_MARKER (what is
below it is kept)."""
import os
import statistics

import hooks
import isolate
import remote
import launcher_report

KEEP_MARKER = "<!-- end of the generated part: anything below this line is kept when bench-quick rewrites this file -->"
LABELS = {"kiln": "kiln", "ninja": "ninja", "ccache": "ninja+ccache", "make": "make", "kiln-seq": "kiln (sequential)"}
WS_SCENARIO = "4 new + build"   # bench/workspaces.py SCENARIO
WS_TARGET = 0.2
SCENARIO_TITLES = {"cold": "cold build", "null": "null build", "touch": "touch one .c", "clean": "clean rebuild",
                   "worktree": "fresh worktree", "edit": "edit one .c", "header": "edit a widely included header"}


def fmt_ratio(r):
    return "n/a" if r is None else "%.2fx" % r


def fmt_s(s):
    return "%.3f s" % s


def fmt_mib(kib):
    return "" if kib is None else "%.1f MiB" % (kib / 1024)


def fmt_n(n):
    return "{:,}".format(n)


def scenario(data, project, name):
    return data["projects"].get(project, {}).get("scenarios", {}).get(name)


def targets(data):
    """The targets of issue 4 against this run: a list of rows (results.json
    "targets"). measured: kiln's ratio (time to ninja's; RSS to ninja's; for hashing
    xxhsum's time to kiln's, i.e. kiln's throughput relative to xxhsum's)."""
    c = data["config"]
    rows = []

    def add(label, target, ref, measured, met, ok, detail=""):
        rows.append({"scenario": label, "target": target, "ref": ref, "measured": measured,
                     "detail": detail, "met": met if ok else False, "ok": ok})

    def ratio(label, project, name, limit, with_ccache=False):
        e = scenario(data, project, name)
        if e is None:
            return
        r = e["ratio"].get("kiln")
        met = r is not None and r <= limit
        detail = "kiln %s, ninja %s; CPU time %s" % (fmt_s(e["tools"]["kiln"]["median"]),
                                                   fmt_s(e["tools"]["ninja"]["median"]),
                                                   fmt_ratio(e["cpu_ratio"].get("kiln")))
        if with_ccache and "ccache" in e["tools"]:
            k, cc = e["tools"]["kiln"]["median"], e["tools"]["ccache"]["median"]
            met = met and k < cc
            detail += "; ninja+ccache %s (%s)" % (fmt_s(cc), fmt_ratio(e["ratio"].get("ccache")))
        target = "<= %s of ninja%s" % (limit, ", below ninja+ccache" if with_ccache else "")
        add(label, target, "%s/%s" % (project, name), r, met, e["ok"], detail)

    ratio("null build, %s units" % fmt_n(c["units"]), "synth", "null", 1.0)
    ratio("null build, %s tasks" % fmt_n(c["trivial_big"]), "trivial-big", "null", 1.0)
    # issue 16: on every project, the small ones too (where start-up is most of it)
    ratio("null build, %s units" % fmt_n(c.get("units_small", 0)), "synth-small", "null", 1.0)
    ratio("null build, %s units" % fmt_n(c["units_big"]), "synth-big", "null", 1.0)
    ratio("null build, the demo", "demo", "null", 1.0)
    ratio("touch one .c (mtime only)", "synth", "touch", 0.2)
    ratio("edit one .c", "synth", "edit", 1.05)
    ratio("edit a widely included header", "synth", "header", 1.05)
    ratio("cold build", "synth", "cold", 1.05)
    # issue 16: "on every project size in the benchmark"
    ratio("cold build, %s units" % fmt_n(c.get("units_small", 0)), "synth-small", "cold", 1.05)
    ratio("cold build, %s units" % fmt_n(c["units_big"]), "synth-big", "cold", 1.05)
    ratio("%s trivial tasks, cold" % fmt_n(c["trivial"]), "trivial", "cold", 1.0)
    ratio("clean rebuild (state and caches kept)", "synth", "clean", 0.05, with_ccache=True)
    ratio("fresh worktree (shared caches)", "synth", "worktree", 0.05, with_ccache=True)
    # issue 14: the synth project as a CMake project, kiln as CMake's ninja
    if "cmake" in data["projects"]:
        u = "CMake, %s units: " % fmt_n(c.get("units_cmake", 0))
        ratio(u + "null build", "cmake", "null", 1.0)
        ratio(u + "touch one .c (mtime only)", "cmake", "touch", 0.2)
        ratio(u + "edit one .c", "cmake", "edit", 1.05)
        ratio(u + "cold build", "cmake", "cold", 1.05)
        ratio(u + "delete outputs and rebuild (state and caches kept)", "cmake", "clean", 0.05, with_ccache=True)
        ratio(u + "fresh worktree, -g with -ffile-prefix-map", "cmake", "worktree", 0.1, with_ccache=True)
        ratio(u + "fresh worktree, no -g", "cmake", "worktree-nog", 0.1, with_ccache=True)
        e = scenario(data, "cmake", "worktree-nomap")
        if e:
            t = e["tools"]
            add(u + "fresh worktree, -g without prefix maps", "(none: the objects name their checkout, kiln "
                "compiles them)", "cmake/worktree-nomap", e["ratio"].get("kiln"), None, e["ok"],
                "kiln %s, ninja %s, ninja+ccache %s (%s); kiln: %s" % (
                    fmt_s(t["kiln"]["median"]), fmt_s(t["ninja"]["median"]), fmt_s(t["ccache"]["median"]),
                    fmt_ratio(e["ratio"].get("ccache")), work_str("kiln", t["kiln"]["runs"][-1]["work"])))
    e = scenario(data, "trivial-big", "null")
    if e:
        k, n = e["tools"]["kiln"].get("peak_rss_kib"), e["tools"]["ninja"].get("peak_rss_kib")
        r = round(k / n, 3) if k and n else None
        add("peak RSS, %s-task null build" % fmt_n(c["trivial_big"]), "<= 3x ninja's", "trivial-big/null",
            r, r is not None and r <= 3.0, e["ok"], "kiln %s, ninja %s, make %s" % (
                fmt_mib(k), fmt_mib(n), fmt_mib(e["tools"].get("make", {}).get("peak_rss_kib"))))
    h = data.get("hash")
    if h:
        r = h["throughput_ratio"]
        add("hashing a %s MiB file" % fmt_n(c["hash_mib"]), ">= 0.8 of xxhsum -H2's throughput", "hash",
            r, r is not None and r >= 0.8, h["ok"],
            "kiln %.2f GiB/s, xxhsum %.2f GiB/s" % (h["tools"]["kiln"]["gib_per_s"], h["tools"]["xxhsum"]["gib_per_s"]))
    e = scenario(data, "workspaces", WS_SCENARIO)
    if e:
        r = e["ratio"].get("kiln")
        t = e["tools"]
        detail = "kiln %s, 4 worktrees + ninja %s; CPU time %s" % (
            fmt_s(t["kiln"]["median"]), fmt_s(t["ninja"]["median"]), fmt_ratio(e["cpu_ratio"].get("kiln")))
        if "kiln-seq" in t:
            detail += "; kiln, the 4 builds one after the other, %s (%s)" % (
                fmt_s(t["kiln-seq"]["median"]), fmt_ratio(e["ratio"].get("kiln-seq")))
        if "ccache" in t:
            detail += "; 4 worktrees + ninja+ccache %s (%s)" % (fmt_s(t["ccache"]["median"]),
                                                                fmt_ratio(e["ratio"].get("ccache")))
        add("4 workspaces from one built commit, each built (issue 5; %s units)" % fmt_n(c.get("units_ws", 0)),
            "<= %s of 4 worktree+ninja builds (the maintainer's choice of target)" % WS_TARGET,
            "workspaces/" + WS_SCENARIO, r, r is not None and r <= WS_TARGET, e["ok"], detail)
    rows += hooks.targets(data)     # issue 7: kiln's ratio to pre-commit, not to ninja
    rows += remote.targets(data)    # issue 18: a fresh checkout restoring from a remote
    rows += isolate.targets(data)   # issue 19: the time isolate: true adds per task
    rows += launcher_report.targets(data)  # issue 15: kiln gcc's ratio to ccache gcc (cold: to gcc)
    return rows


def targets_table(rows):
    out = ["| scenario | target | kiln measured | met? | detail |", "|---|---|---:|---|---|"]
    for t in rows:
        met = "WRONG" if not t["ok"] else ("-" if t["met"] is None else ("yes" if t["met"] else "**no**"))
        m = "n/a" if t["measured"] is None else ("%.2f" % t["measured"] if t["ref"] == "hash"
                                                  else str(t["measured"]) if t.get("format") == "count"
                                                  else "%.2f ms" % t["measured"] if t.get("format") == "ms"
                                                  else fmt_ratio(t["measured"]))
        out.append("| %s | %s | %s | %s | %s |" % (t["scenario"], t["target"], m, met, t["detail"]))
    return "\n".join(out)


def overview_table(res):
    tools = res["tools"]
    others = [t for t in tools if t != "ninja"]
    head = ["scenario", "rounds"] + ["%s/ninja" % LABELS[t] for t in others] + [LABELS[t] for t in tools] + ["check"]
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join(["---", "---:"] + ["---:"] * (len(others) + len(tools)) + ["---"]) + "|"]
    for name, e in res["scenarios"].items():
        row = [name, str(e["rounds"])] + [fmt_ratio(e["ratio"].get(t)) for t in others] + \
              [fmt_s(e["tools"][t]["median"]) for t in tools] + \
              ["ok" if e["ok"] else "WRONG (%s)" % ", ".join(LABELS[t] for t in tools if not e["tools"][t]["ok"])]
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def work_str(tool, w):
    if w is None:
        return "?"
    s = "%d ran" % w["ran"]
    if tool.startswith("kiln"):
        s += ", %d restored" % w["restored"]
    if tool == "ccache":
        s += " (ccache: %d hits, %d misses)" % (w["ccache_hits"], w["ccache_misses"])
    return s


def details_table(res):
    out = ["| scenario | tool | median | min - max | CPU (median) | CPU/ninja | peak RSS (null) | did (last round) | check |",
           "|---|---|---:|---:|---:|---:|---:|---|---|"]
    for name, e in res["scenarios"].items():
        for t in res["tools"]:
            x = e["tools"][t]
            out.append("| %s | %s | %s | %.3f - %.3f | %s | %s | %s | %s | %s |" % (
                name, LABELS[t], fmt_s(x["median"]), x["min"], x["max"], fmt_s(x["cpu_median"]),
                fmt_ratio(e["cpu_ratio"].get(t)), fmt_mib(x.get("peak_rss_kib")),
                work_str(t, x["runs"][-1]["work"]), "ok" if x["ok"] else "WRONG"))
    return "\n".join(out)


def phases_table(res):
    """The workspaces group: where each variant's time went (medians over the rounds)."""
    e = res["scenarios"][WS_SCENARIO]
    out = ["| tool | total | making the 4 | making the 4: CPU | building (first build's start to last one's end) | "
           "one build | one build's CPU | removing the 4 (untimed) | did (4 builds, last round) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for t in res["tools"]:
        ph, x = e["phases"][t], e["tools"][t]
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            LABELS.get(t, t), fmt_s(x["median"]), *(("n/a" if ph.get(k) is None else fmt_s(ph[k]))
                                                    for k in ("create", "create_cpu", "build", "each_build",
                                                              "each_build_cpu", "remove")),
            work_str(t, x["runs"][-1]["work"])))
    return "\n".join(out)


def hash_table(h):
    names = {"xxhsum": "`xxhsum -H2 big.bin`", "kiln": "`kiln exec --in big.bin --out stamp.txt -- touch stamp.txt`",
             "kiln-4k": "the same `kiln exec` with a 4 KiB input (kiln's fixed cost)"}
    out = ["| command | median | min - max | throughput | check |", "|---|---:|---:|---:|---|"]
    for k in ("xxhsum", "kiln", "kiln-4k"):
        x = h["tools"][k]
        out.append("| %s | %s | %.3f - %.3f | %s | %s |" % (
            names[k], fmt_s(x["median"]), x["min"], x["max"],
            "%.2f GiB/s" % x["gib_per_s"] if x["gib_per_s"] else "", "ok" if x["ok"] else "WRONG"))
    return "\n".join(out)


def auto_notes(data):
    out = []
    for pname, res in data["projects"].items():
        for name, e in res["scenarios"].items():
            r = e["ratio"].get("kiln")
            if r is not None and r > 1.1:
                k, n = e["tools"]["kiln"]["median"], e["tools"]["ninja"]["median"]
                out.append("%s / %s: kiln is slower than ninja: %s vs %s (%.2fx, +%.0f ms)"
                           % (pname, name, fmt_s(k), fmt_s(n), r, 1000 * (k - n)))
    for pname, res in data["projects"].items():
        e = res["scenarios"].get("null")
        own = [r["work"]["own_seconds"] for r in (e or {}).get("tools", {}).get("kiln", {}).get("runs", [])
               if r["work"] and "own_seconds" in r["work"]]
        if own:
            out.append("%s / null: kiln's own summary line says %s (median); the process took %s: the rest is "
                       "outside kiln's build loop (start-up, deciding what is up to date, saving)"
                       % (pname, fmt_s(statistics.median(own)), fmt_s(e["tools"]["kiln"]["median"])))
    h = data.get("hash")
    if h and h.get("kiln_hash_only_gib_per_s"):
        out.append("hash: without its fixed cost (the 4 KiB exec: %s), kiln hashes at %.2f GiB/s; digest %s"
                   % (fmt_s(h["tools"]["kiln-4k"]["median"]), h["kiln_hash_only_gib_per_s"],
                      {True: "equal to xxhsum -H2's", False: "DIFFERENT from xxhsum -H2's",
                       None: "not compared"}[h["same_digest"]]))
    return out


def sizes_line(c):
    small = c["smaller_than_issue"]
    s = ("synth %s units, synth-big %s units, trivial %s tasks, trivial-big %s tasks, a %s MiB file to hash"
         % (fmt_n(c["units"]), fmt_n(c["units_big"]), fmt_n(c["trivial"]), fmt_n(c["trivial_big"]),
            fmt_n(c["hash_mib"])))
    if "units_small" in c and "synth-small" in c.get("only", ()):
        s += ", synth-small %s units" % fmt_n(c["units_small"])
    if "units_ws" in c:
        s += ", workspaces %s units" % fmt_n(c["units_ws"])
    if "files_hooks" in c:
        s += ", hooks %s Python files" % fmt_n(c["files_hooks"])
    if "units_cmake" in c and "cmake" in c.get("only", ()):
        s += ", cmake %s units" % fmt_n(c["units_cmake"])
    if "units_launcher" in c and "launcher" in c.get("only", ()):
        s += ", launcher %s synth units" % fmt_n(c["units_launcher"])
    if small:
        s += " (**smaller than the issues' sizes**: %s)" % ", ".join("%s %s instead of %s" % (k, fmt_n(c[k]), fmt_n(v))
                                                                    for k, v in small.items())
    return s


def markdown(data):
    c, m, v = data["config"], data["machine"], data["versions"]
    run = "`make bench` (`sh bench/run.sh`)" if c["mode"] == "full" else "`make bench-quick` (`sh bench/quick.sh`)"
    parts = ["# Benchmarks: kiln beside ninja, ninja+ccache and make%s%s" % (
        " (and pre-commit)" if data.get("hooks") else "", " (and ccache as a launcher)" if data.get("launcher")
        else ""), "",
             "Generated by %s on %s in %d s, %s mode: %s; %d rounds (%d for cold, clean, worktree and the trivial "
             "cold build%s), `-j%d`%s. Raw numbers: `bench/out/results.json` (not committed; its fields are described "
             "at the end of this part); each build's output: `bench/out/logs/`."
             % (run, data["date"], data["runtime_seconds"], c["mode"], sizes_line(c), c["rounds"], c["rounds_full"],
                ("; %d for workspaces" % c["rounds_ws"] if "rounds_ws" in c else "")
                + ("; %d for hooks" % c["rounds_hooks"] if "rounds_hooks" in c else ""), c["jobs"],
                "" if len(c["only"]) == len(c.get("groups", range(6))) else "; only " + ", ".join(c["only"])), ""]
    if data["failures"]:
        parts += ["**%d WRONG result(s)**: %s" % (len(data["failures"]), "; ".join(data["failures"])), ""]
    parts += ["## Targets (issue 4%s%s%s%s)" % ("; issue 5: workspaces" if "workspaces" in data["projects"] else "",
                                             "; issue 7: hooks" if data.get("hooks") else "",
                                             "; issue 14: cmake" if "cmake" in data["projects"] else "",
                                             "; issue 15: launcher" if data.get("launcher") else ""), "",
              "kiln's ratio to ninja in the same run, lower is better (hashing: kiln's throughput relative to "
              "`xxhsum -H2`'s, higher is better; hooks: `git commit` with kiln's hook relative to pre-commit's; launcher: "
              "`kiln gcc` relative to `ccache gcc`, its cold build to plain `gcc`'s, and the concurrent calls' "
              "failures): "
              "wall time, medians. *CPU time* (user + system of the tool and "
              "all it ran) is much less disturbed by other load on the machine. *met?* is WRONG when any tool's "
              "build in that scenario came out wrong.", "", targets_table(data["targets"]), "",
              "## Machine and versions", "",
              "- CPU: %s, `nproc` = %s, %s RAM; kernel %s" % (m["cpu"], m["nproc"], m["memory"], m["kernel"]),
              "- load average (1, 5, 15 min) at the start: %s, at the end: %s" % (m["loadavg_start"], m["loadavg_end"]),
              "- kiln `%s`: %s; the repository during the run: HEAD %s" % (v["kiln"], v["kiln_binary"], v["kiln_source"]),
              "- ninja `%s`; %s; %s; cc: %s" % (v["ninja"], v["make"], v["ccache"], v["cc"]),
              "- %s; %s; Python %s" % (v["xxhsum"], v["git"], v["python"]), "",
              "## Results", ""]
    for pname, res in data["projects"].items():
        parts += ["### %s" % pname, "", res["description"] + ".", ""]
        if pname == "workspaces":
            parts += [WS_INTRO, ""]
        parts += [overview_table(res), ""]
        if pname == "workspaces":
            parts += ["Where the time went (medians over the rounds). Making a checkout (`git worktree add`, inside "
                      "`kiln ws new` too) is mostly system time for its new files; on this machine's ext4 it varies "
                      "several-fold with what the file system did in the last minute (many files deleted shortly "
                      "before, as by the previous variant's removal, make it slower): the variants rotate, and a "
                      "multiple of 4 rounds puts each as often in each place.", "",
                      phases_table(res), ""]
    if data.get("hash"):
        h = data["hash"]
        parts += ["### hash", "", "A %s MiB file in the page cache; kiln runs with no `.kiln/` and an empty cache "
                  "each round, so it must hash the file. Ratio (xxhsum's time / kiln's): **%s**."
                  % (fmt_n(c["hash_mib"]), "n/a" if h["throughput_ratio"] is None else "%.2f" % h["throughput_ratio"]),
                  "", hash_table(h), ""]
    if data.get("hooks"):
        parts += hooks.markdown(data["hooks"])
    if data.get("launcher"):
        parts += launcher_report.markdown(data["launcher"])
    if data.get("remote"):
        parts += remote.markdown(data["remote"])
    if data.get("isolate"):
        parts += isolate.markdown(data["isolate"])
    notes = data["notes"]
    parts += ["### Flags raised by the script", ""]
    parts += ["- " + n for n in notes] if notes else ["- none"]
    parts += ["", "### Details per tool", "",
              "CPU is user + system time of the tool and every process it ran (much less disturbed by other load "
              "than wall time); peak RSS is the tool's maximum resident set size in one more, untimed null build "
              "under GNU time (`/usr/bin/time -f %M`); *did* is what the tool reported in the last round "
              "(kiln's summary line, ninja's count of edges, make's count of commands, ccache's statistics).", ""]
    for pname, res in data["projects"].items():
        parts += ["#### %s" % pname, "", details_table(res), ""]
    parts += ["## What is measured", "",
              "Every tool builds the same graph with the same commands (make: `-MMD -MP` instead of `-MD`, "
              "as a Makefile would), each in its own scratch copy of the sources under `$TMPDIR`, with `-j%d`. "
              "The rounds of a scenario rotate the tools (kiln ninja ninja+ccache make, then ninja ninja+ccache "
              "make kiln, ...), so a slow moment of the machine hits all of them; the synth and demo edit and "
              "header scenarios first build once per tool untimed, so that the first timed round does not pay for "
              "the scenario before it (this machine pages out file pages untouched for a minute; the cmake "
              "group's edit follows its touch rounds); the figure is the median wall "
              "time of the tool's process (Python's `time.perf_counter`), the ratio is taken to ninja's median in "
              "the same run. kiln runs from a private copy of the binary with `KILN_CACHE_DIR` a private folder; "
              "ninja+ccache with a private `CCACHE_DIR` and `CCACHE_BASEDIR` set to the folder holding the "
              "project's checkouts and worktrees. What a scenario deletes before a timed build (outputs, "
              "state, caches, trees) is moved into a trash folder and deleted once every timed build is over: "
              "on ext4 without a journal (this machine's `/`) an inode freed a few seconds earlier is not reused, "
              "and a build that creates files where files were just deleted waits for the search past them; "
              "how long depended on the folder more than on the tool (one kiln binary's 1,000-task cold build: "
              "1.36 s in one copy of the tree, 1.83 s in another)." % c["jobs"], ""]
    parts += ["- **%s**: %s." % (k, SCENARIO_TITLES[k] + ": " + data_what(data, k)) for k in SCENARIO_TITLES
              if data_what(data, k)]
    parts += ["- **synth-big**: the same generator at %s units: one cold build per tool (timed once), then null "
              "builds. **synth-small**: the same at %s units (a project of Lua's size, where start-up is most of a "
              "null build), its cold build (%d rounds), then null builds."
              % (fmt_n(c["units_big"]), fmt_n(c.get("units_small", 30)),
                 data["projects"].get("synth-small", {}).get("scenarios", {}).get("cold", {}).get("rounds", 1)),
              "- **trivial**: %s `cp` tasks, cold: kiln with no `.kiln/` and an empty cache, ninja without "
              "`.ninja_log`, every output deleted. **trivial-big**: %s tasks, one cold build (timed once), then "
              "null builds and each tool's peak RSS. ninja+ccache is left out (no compiler to cache)."
              % (fmt_n(c["trivial"]), fmt_n(c["trivial_big"])),
              "- **hash**: see its table; the digest kiln records (`kiln manifest`) is compared with xxhsum's.",
              "- **demo**: `fixtures/demo` with its own `kiln.yml`, `bench/demo.ninja` for ninja; the expected "
              "checksum comes from a clean ninja build of the same sources."]
    if "workspaces" in data["projects"]:
        parts += ["- **workspaces** (issue 5, `bench/workspaces.py`): the synth generator at %s units, "
                  "committed into a git repository, one copy per tool, each main checkout built once (untimed: "
                  "kiln's cache and ccache's warm, each in its own folder). A round: %s. kiln's builds share one "
                  "`KILN_CACHE_DIR`, hence one machine-wide pool of job slots (`KILN_MAX_JOBS` unset: the number "
                  "of cores). Then, untimed: every workspace's program is checked, `kiln ws list --json` is "
                  "compared with what was made (a mismatch is a flag), the 4 are removed (`kiln ws rm --force`; "
                  "`git worktree remove --force` and `git branch -D`), and `git worktree prune` and `sync` run. "
                  "The target (%sx of the 4 worktree+ninja builds) is the maintainer's choice."
                  % (fmt_n(c.get("units_ws", 0)), data_what(data, WS_SCENARIO), WS_TARGET)]
    if data.get("hooks"):
        parts += [hooks.what_measured(c)]
    if data.get("launcher"):
        parts += [launcher_report.what_measured(c)]
    if "cmake" in data["projects"]:
        parts += [CMAKE_WHAT % (fmt_n(c.get("units_cmake", 0)), c.get("cmake_render", "build"))]
        parts += ["  - **%s**: %s." % (k, e["what"]) for k, e in data["projects"]["cmake"]["scenarios"].items()]
    parts += ["",
              "**Checks.** After every build (settling builds included) the result is checked: the synth program "
              "prints a checksum of every unit and generated file, which `bench/gen_synth.py` predicts from the "
              "sources as they are after the round's change; the trivial outputs must equal their sources. A build "
              "that fails or gives another result is WRONG in the tables and makes the script exit 1.", "",
              "**Project.** `bench/gen_synth.py`, deterministic by seed: units in nested folders "
              "(`src/p00/d000/u0000.c`), 43 headers (`common.h` everywhere, module headers including their parent "
              "module, `util.h` in about a third of the units), templates rendered by `sh tools/render.sh` (sed) "
              "into `gen/*.c`, all archived into `build/libsynth.a` and linked with `app/main.c`; written as "
              "`kiln.yml`, `build.ninja`, `build-ccache.ninja` and a `Makefile`. Flags `-O0 -Wall`.", "",
              "## How to run", "",
              "```sh",
              "make bench            # installs what is missing, builds the release binary, full run (~30 min on 2 cores)",
              "make bench-quick      # a few minutes: fewer rounds, smaller synth-big, trivial-big and workspaces",
              "sh bench/run.sh .build/release/kiln        # the full run with a kiln binary of your choice",
              "sh bench/quick.sh .build/release/kiln      # the quick run",
              "BENCH_ONLY=synth,hash BENCH_UNITS=60 BENCH_ROUNDS=2 BENCH_ROUNDS_FULL=1 sh bench/quick.sh .build/release/kiln",
              "BENCH_ONLY=workspaces sh bench/quick.sh .build/release/kiln   # issue 5's group alone",
              "BENCH_ONLY=hooks sh bench/quick.sh .build/release/kiln        # issue 7's group alone (needs pre-commit)",
              "BENCH_ONLY=cmake sh bench/quick.sh .build/release/kiln        # issue 14's group alone (needs cmake)",
              "BENCH_ONLY=launcher sh bench/quick.sh .build/release/kiln     # issue 15's group alone (fetches Lua's "
              "sources once)",
              "python3 bench/ab_daily.py trivial OLD_KILN NEW_KILN --ninja   # kiln binaries and ninja, rounds "
              "interleaved",
              "python3 bench/spawn_latency.py .build/release/kiln   # how long each spawn holds its thread (perf, root)",
              "```", "",
              "Knobs (environment): `BENCH_ROUNDS`, `BENCH_ROUNDS_FULL`, `BENCH_UNITS`, `BENCH_UNITS_BIG`, "
              "`BENCH_UNITS_SMALL`, "
              "`BENCH_TRIVIAL`, `BENCH_TRIVIAL_BIG`, `BENCH_HASH_MIB`, `BENCH_UNITS_WS`, `BENCH_ROUNDS_WS`, "
              "`BENCH_FILES_HOOKS`, `BENCH_ROUNDS_HOOKS`, `BENCH_UNITS_CMAKE`, `BENCH_CMAKE_RENDER` (build, configure), "
              "`BENCH_UNITS_LAUNCHER`, `BENCH_ROUNDS_LAUNCHER`, `BENCH_CALLS_LAUNCHER`, `BENCH_CONCURRENT_LAUNCHER`, "
              "`BENCH_LUA_SOURCE`, "
              "`BENCH_ONLY` (synth,synth-big,synth-small,trivial,trivial-big,hash,demo,workspaces,hooks,cmake,launcher), "
              "`BENCH_JOBS`, "
              "`BENCH_KEEP=1`, `BENCH_OUT`, "
              "`BENCH_DOC` (`-`: no report); see `bench/bench.py`.", "",
              "**results.json**: `date`, `machine`, `versions`, `config` (the knobs; `smaller_than_issue` lists "
              "sizes below the issues'), `tool_labels`, `targets` (one row per target: `scenario`, `target`, `ref` "
              "= project/scenario, `measured` = kiln's ratio, `met`, `ok`, `detail`), `projects.NAME` "
              "(`description`, `tools`, `scenarios.SCENARIO`: `rounds`, `what`, `ok`, `ratio` and `cpu_ratio` "
              "per tool to ninja, `tools.TOOL`: `median`, `min`, `max`, `cpu_median` (seconds), "
              "`peak_rss_kib` (null builds), `ok`, `runs` (each round: `seconds`, `cpu_seconds`, `exit`, "
              "`change`, `work`, `result`, `expected`, `ok`; cmake: also `same_as_ninja` (the executable and both libraries byte "
              "for byte ninja's of the round; null where the flags put paths in them), `absolute_paths` and "
              "`foreign_paths` (how often the executable names the project's folder, another checkout); workspaces: also `create_seconds`, `build_seconds`, "
              "`create_each`, `create_cpu_seconds`, `builds` (per workspace: `name`, `path`, `seconds`, `cpu_seconds`, `exit`, `work`, "
              "`result`, `ok`), `remove_seconds`, `ws_list`), `phases` (workspaces: medians of `create`, `create_cpu`, "
              "`build`, `each_build`, `each_build_cpu`, `remove`)), `hash` (`bytes`, `tools.xxhsum|kiln|kiln-4k`, "
              "`throughput_ratio`, `kiln_hash_only_gib_per_s`, `same_digest`), `hooks` (`description`, `files`, "
              "`python`, `versions`, `tools`, `labels`, `scenarios.SCENARIO`: `rounds`, `what`, `ok`, `ratio` and "
              "`cpu_ratio` (kiln to pre-commit), `hook_seconds` (median less --no-verify's), `hook_ratio`, "
              "`tools.TOOL` as above (`runs`: also `tree`, the commit's); `checks.TOOL`: one per refusal check, "
              "`check`, `exit`, `seconds`, `accepted`, `should_accept`, `ok`, `problems`), `notes` (all flags), "
              "`launcher` (`compilers`, `kiln` (measured or not, `kiln_why`), `rounds`, `versions`, `lua_source` or "
              "`lua_skipped`, `projects.synth|lua`: `description`, `compiles`, `scenarios.SCENARIO` (`rounds`, `what`, "
              "`ok`, `ratio_to_ccache`, `ratio_to_plain`, `tools.COMPILER` as above; `runs`: also `same_as_plain`, "
              "`differ`, `foreign_depfiles`, `tree`), `latency` (`command`, `unit`, `calls`, `tools.COMPILER`: "
              "`median_ms`, `min_ms`, `max_ms`, `cpu_median_ms`, `failures`, `ratio_to_ccache`, `warmup_ms`, `work`), "
              "`concurrent` (`calls`, `rounds`, `tools.COMPILER.cold|warm`: `median`, `min`, `max`, `failures`, "
              "`runs` (`failures`, `failed_exit`, `missing`, `wrong`, `messages`, `work`)), `failures` per "
              "compiler), "
              "`work_notes` (those from the tools' own counts), `failures`, `ok`, `runtime_seconds`. "
              "`python3 bench/report.py [RESULTS_JSON [DOC]]` rewrites this report from a results.json.", "",
              KEEP_MARKER]
    return "\n".join(parts)


CMAKE_WHAT = (
    "- **cmake** (issue 14, `bench/cmake_bench.py`): the synth generator at %s units written as a CMake project "
    "(`CMakeLists.txt`: the templates rendered by `add_custom_command` into the build folder (BENCH_CMAKE_RENDER="
    "configure: while configuring), the units in a static library, the rendered files in another, an interface "
    "target for `include/`, the executable linking both; rendering here: %s), committed into a git repository, one "
    "copy per tool, each configured by `cmake -G Ninja` into its own build folder: ninja; ninja with "
    "`-DCMAKE_C_COMPILER_LAUNCHER=ccache`, `CCACHE_DIR` a private folder configured with `ccache -o base_dir=<the "
    "folder holding every checkout and worktree of the group> -o hash_dir=false` (how a user shares ccache's "
    "results across checkouts; with the prefix maps `base_dir` alone would do, measured); kiln as "
    "`-DCMAKE_MAKE_PROGRAM=<a kiln-ninja link>`, which builds too, `KILN_CACHE_DIR` a private folder. Configuring "
    "(about a second: the same cmake for every tool) is untimed, the build alone is timed. Every build's program "
    "must print the predicted checksum; where the flags keep paths out of the objects (-g with "
    "`-ffile-prefix-map=<source>=. -ffile-prefix-map=<build>=build`, or no -g) the executable and both libraries "
    "must also be byte for byte ninja's of the same round, although every tree is at another path; with -g and no "
    "prefix map kiln's executable must name no other checkout than its own (ccache's restored objects may: that "
    "is `hash_dir = false`, counted in the flags). Scenarios:")


WS_INTRO = ("kiln: `kiln ws new w1` .. `w4`, then `kiln -C PATH build` in each; ninja and ninja+ccache: "
            "`git worktree add -b wN PATH` x4, then `ninja` in each. The 4 builds run at once (kiln (sequential): "
            "one after the other) on the machine's cores; the time runs from the start of the first create to the "
            "end of the last build. The *ninja* column is the 4 worktrees + ninja, the reference of the ratios.")


def data_what(data, scenario_name):
    """The text of the first project's scenario of that name (not the cmake group's:
    its own list, CMAKE_WHAT)."""
    for name, res in data["projects"].items():
        if name == "cmake":
            continue
        e = res["scenarios"].get(scenario_name)
        if e and e.get("what"):
            return e["what"]
    return ""


def write_doc(path, text):
    kept = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        if KEEP_MARKER in old:
            kept = old.split(KEEP_MARKER, 1)[1]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text + (kept if kept else "\n"))


def console(data):
    parts = ["Targets:", targets_table(data["targets"]), ""]
    for pname, res in data["projects"].items():
        parts += ["%s: %s" % (pname, res["description"]), overview_table(res), ""]
    if data.get("hash"):
        parts += ["hash:", hash_table(data["hash"]), ""]
    if data.get("hooks"):
        parts += [hooks.console(data["hooks"])]
    if data.get("launcher"):
        parts += [launcher_report.console(data["launcher"])]
    parts += ["note: " + n for n in data["notes"]]
    return "\n".join(parts)


def main():
    """Rewrites the report from a results.json, without running anything:
    python3 bench/report.py [RESULTS_JSON [DOC]]."""
    import json
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "out", "results.json")
    doc = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(here), "docs", "benchmarks.md")
    with open(src) as f:
        data = json.load(f)
    data["targets"] = targets(data)
    data["notes"] = auto_notes(data) + data.get("work_notes", [])
    write_doc(doc, markdown(data))
    print("wrote %s from %s" % (doc, src))


if __name__ == "__main__":
    main()
