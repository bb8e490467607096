#!/usr/bin/env python3
"""kiln vs ninja, side by side: `python3 bench/bench.py KILN` (run by bench/quick.sh).

Two projects:
  synth  2,000 generated C files (bench/gen_synth.py) -> libsynth.a -> bin/synth
  demo   fixtures/demo (its kiln.yml; bench/demo.ninja for ninja)

Scenarios, each timed for kiln and ninja, interleaved (kiln then ninja, then ninja
then kiln, ...), -j2, median of the rounds:
  cold     no outputs, no .kiln/ and an empty KILN_CACHE_DIR; no .ninja_log/.ninja_deps
  null     nothing changed since the last build
  touch    one .c file's mtime bumped, content unchanged
  edit     one .c file's content changed (a new value every round)
  restore  every output deleted; kiln keeps .kiln/ and its cache (ninja: full rebuild)

After every build the program's checksum is compared with what a clean build of the
same sources prints; a wrong (or failed) build is reported as such and makes the
script exit 1.

Environment: BENCH_ROUNDS (null/touch/edit, default 5), BENCH_ROUNDS_FULL (cold and
restore, default 3), BENCH_JOBS (default 2), BENCH_UNITS (default 2000),
BENCH_KEEP=1 (keep the scratch trees), BENCH_DOC (default docs/benchmarks.md).
Writes bench/out/results.json, bench/out/logs/ and docs/benchmarks.md.
"""
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True   # no bench/__pycache__
from gen_synth import CFLAGS, Synth  # noqa: E402

OUT = os.path.join(HERE, "out")
LOGS = os.path.join(OUT, "logs")
DOC = os.environ.get("BENCH_DOC") or os.path.join(ROOT, "docs", "benchmarks.md")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
ROUNDS_FULL = int(os.environ.get("BENCH_ROUNDS_FULL", "3"))
JOBS = int(os.environ.get("BENCH_JOBS", "2"))
UNITS = int(os.environ.get("BENCH_UNITS", "2000"))
TIMEOUT = 900
TOOLS = ("kiln", "ninja")
SCENARIOS = ("cold", "null", "touch", "edit", "restore")
KEEP_MARKER = "<!-- end of the generated part: anything below this line is kept when bench-quick rewrites this file -->"


def log(msg):
    print(msg, flush=True)


def rm(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def first_line(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=30).stdout
        return out.strip().splitlines()[0] if out.strip() else "?"
    except (OSError, subprocess.SubprocessError) as e:
        return "? (%s)" % e


def run_logged(argv, cwd, env, logpath):
    """Runs argv; returns (wall seconds, CPU seconds, exit status, output). The wall
    timer (perf_counter: monotonic, sub-ms) covers only the process's lifetime; CPU is
    user + system time of the process and every child it waited for (wait4's rusage),
    which a busy machine disturbs much less than wall time."""
    with open(logpath, "w") as logf:
        logf.write("$ (cd %s && %s)\n" % (cwd, " ".join(argv)))
        logf.flush()
        done = {}

        def reap(pid):
            _, st, ru = os.wait4(pid, 0)
            done["end"] = time.perf_counter()
            done["status"], done["cpu"] = os.waitstatus_to_exitcode(st), ru.ru_utime + ru.ru_stime

        t0 = time.perf_counter()
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=logf, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        waiter = threading.Thread(target=reap, args=(p.pid,), daemon=True)
        waiter.start()
        try:
            waiter.join(TIMEOUT)
            if waiter.is_alive():
                os.killpg(p.pid, signal.SIGKILL)
                waiter.join()
                done["status"] = "timeout"
        except KeyboardInterrupt:
            os.killpg(p.pid, signal.SIGINT)
            waiter.join()
            raise
        finally:
            p.returncode = done.get("status", -1)   # reaped here, not by Popen
    with open(logpath) as f:
        output = f.read()
    return done["end"] - t0, done["cpu"], done["status"], output


KILN_SUMMARY = re.compile(r"kiln: (\d+) ran, (\d+) restored, (\d+) up to date.* in (?:(\d+)m)?([\d.]+)(ms|s)\b")
NINJA_EDGE = re.compile(r"^\[\d+/\d+\] ", re.M)


def work_of(tool, output):
    """What the tool says it did: kiln's summary counts, or how many edges ninja ran."""
    if tool == "kiln":
        m = None
        for m in KILN_SUMMARY.finditer(output):
            pass
        if m is None:
            return None
        own = float(m.group(5)) / (1000 if m.group(6) == "ms" else 1) + 60 * int(m.group(4) or 0)
        # own_seconds: the time kiln's summary line reports, for comparison with the
        # process's wall time (startup, graph, manifest load and save are outside it).
        return {"ran": int(m.group(1)), "restored": int(m.group(2)), "up_to_date": int(m.group(3)),
                "own_seconds": round(own, 3)}
    return {"ran": len(NINJA_EDGE.findall(output))}


def work_str(tool, w):
    if w is None:
        return "?"
    if tool == "kiln":
        return "%d ran, %d restored" % (w["ran"], w["restored"])
    return "%d ran" % w["ran"]


class Project:
    """A source tree copied once per tool (kiln/, ninja/) in the scratch directory."""

    name = ""
    outputs = ()        # what `rm -rf` removes for cold/restore
    program = ()        # prints the checksum

    def __init__(self, work):
        self.work = os.path.join(work, self.name)
        self.trees = {t: os.path.join(self.work, t) for t in TOOLS}
        self.cache = os.path.join(self.work, "kiln-cache")

    def tree(self, tool):
        return self.trees[tool]

    def prepare(self, tool, scenario, rnd):
        """Untimed setup before one timed build. Returns a description of the change."""
        t = self.tree(tool)
        if scenario == "cold":
            for o in self.outputs:
                rm(os.path.join(t, o))
            if tool == "kiln":
                rm(os.path.join(t, ".kiln"))
                rm(self.cache)
                os.makedirs(self.cache)
            else:
                rm(os.path.join(t, ".ninja_log"))
                rm(os.path.join(t, ".ninja_deps"))
            return "all outputs and state deleted"
        if scenario == "restore":
            for o in self.outputs:
                rm(os.path.join(t, o))
            return "outputs deleted"
        if scenario == "touch":
            rel = self.touch_file(rnd)
            os.utime(os.path.join(t, rel))
            return "touch " + rel
        if scenario == "edit":
            return "edit " + self.edit(tool, rnd)
        return ""

    def actual(self, tool):
        try:
            p = subprocess.run(list(self.program), cwd=self.tree(tool), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as e:
            return "(cannot run %s: %s)" % (self.program[0], e)
        if p.returncode != 0:
            return "(%s exited %d: %s)" % (self.program[0], p.returncode, p.stdout.strip()[:200])
        return p.stdout.strip()


class SynthProject(Project):
    name = "synth"
    outputs = ("build", "bin")
    program = ("./bin/synth",)

    def setup(self):
        self.synth = Synth(UNITS)
        base = os.path.join(self.work, "src")
        self.synth.write(base)
        for t in TOOLS:
            shutil.copytree(base, self.tree(t), symlinks=True)
        rng = random.Random(42)
        picks = rng.sample(range(UNITS), 2 * max(ROUNDS, ROUNDS_FULL))
        self.touch_units = picks[0::2]
        self.edit_units = picks[1::2]
        self.values = {}    # unit -> UNIT_VALUE after the edits so far

    def describe(self):
        s = self.synth
        return ("%d generated C files in src/d00..d%02d/, 43 headers in include/ "
                "(common.h everywhere, headers including headers), "
                "-> build/libsynth.a -> bin/synth" % (s.units, (s.units - 1) // 100))

    def touch_file(self, rnd):
        return self.synth.unit_path(self.touch_units[rnd])

    def edit(self, tool, rnd):
        i = self.edit_units[rnd]
        rel = self.synth.unit_path(i)
        new = self.synth.unit_c[i] + 1_000_000 * (rnd + 1)   # never seen before
        path = os.path.join(self.tree(tool), rel)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(Synth.with_value(text, new))
        self.values[i] = new
        return rel

    def expected(self):
        return str(self.synth.checksum(self.values))


class DemoProject(Project):
    name = "demo"
    outputs = ("build", "gen", "bin")
    program = ("./bin/demo", "--checksum")
    touch_rel = "src/lib/report.c"
    edit_rel = "src/lib/geometry.c"

    def setup(self):
        src = os.path.join(ROOT, "fixtures", "demo")
        ignore = shutil.ignore_patterns("build", "gen", "bin", ".kiln", ".ninja_*")
        for t in TOOLS + ("ref",):
            d = os.path.join(self.work, t)
            shutil.copytree(src, d, symlinks=True, ignore=ignore)
            shutil.copy(os.path.join(HERE, "demo.ninja"), os.path.join(d, "build.ninja"))
        with open(os.path.join(src, self.edit_rel)) as f:
            self.edit_orig = f.read()
        self.ref_dir = os.path.join(self.work, "ref")
        self.ref_cache = {}

    def describe(self):
        return ("fixtures/demo: 4 templates rendered to C, 8 library objects + main, "
                "libdemo.a, bin/demo, a cached self-test (bench/demo.ninja for ninja)")

    def touch_file(self, rnd):
        return self.touch_rel

    def edit_text(self, rnd):
        return self.edit_orig + "\nint bench_edit_%d(void) { return %d; }\n" % (rnd, 1000 + rnd)

    def edit(self, tool, rnd):
        with open(os.path.join(self.tree(tool), self.edit_rel), "w") as f:
            f.write(self.edit_text(rnd))
        self.current_edit = rnd
        return self.edit_rel

    def expected(self):
        """The checksum a clean ninja build of the current sources prints."""
        rnd = getattr(self, "current_edit", None)
        if rnd not in self.ref_cache:
            text = self.edit_orig if rnd is None else self.edit_text(rnd)
            with open(os.path.join(self.ref_dir, self.edit_rel), "w") as f:
                f.write(text)
            for o in self.outputs + (".ninja_log", ".ninja_deps"):
                rm(os.path.join(self.ref_dir, o))
            p = subprocess.run(["ninja", "-j%d" % JOBS], cwd=self.ref_dir, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            if p.returncode != 0:
                raise SystemExit("bench: the reference build of demo failed:\n" + p.stdout)
            out = subprocess.run(list(self.program), cwd=self.ref_dir, stdout=subprocess.PIPE,
                                 text=True, check=True).stdout.strip()
            self.ref_cache[rnd] = out
        return self.ref_cache[rnd]


class Bench:
    def __init__(self, kiln):
        self.kiln = kiln
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
        self.env["LC_ALL"] = "C"
        self.failures = []
        self.notes = []
        self.results = {}

    def build(self, project, tool, scenario, rnd, what):
        tree = project.tree(tool)
        if tool == "kiln":
            argv = [self.kiln, "build", "-j%d" % JOBS]
            env = dict(self.env, KILN_CACHE_DIR=project.cache)
        else:
            argv = ["ninja", "-j%d" % JOBS]
            env = self.env
        logpath = os.path.join(LOGS, "%s-%s-%s-%s.log" % (project.name, scenario, rnd, tool))
        dt, cpu, status, output = run_logged(argv, tree, env, logpath)
        expected = project.expected()
        actual = project.actual(tool) if status == 0 else None
        ok = status == 0 and actual == expected
        rec = {"round": rnd, "seconds": round(dt, 4), "cpu_seconds": round(cpu, 4), "exit": status, "change": what,
               "work": work_of(tool, output), "checksum": actual, "expected": expected, "ok": ok}
        if not ok:
            why = ("exit status %s" % status) if status != 0 else \
                  ("checksum %s, a clean build prints %s" % (actual, expected))
            self.failures.append("%s %s round %s, %s: WRONG (%s; log: %s)"
                                 % (project.name, scenario, rnd, tool, why, os.path.relpath(logpath, ROOT)))
            log("    !! %s" % self.failures[-1])
        return rec

    def run_project(self, project):
        log("== %s: %s" % (project.name, project.describe()))
        res = {"description": project.describe(), "scenarios": {}}
        for scenario in SCENARIOS:
            rounds = ROUNDS_FULL if scenario in ("cold", "restore") else ROUNDS
            if scenario == "null":
                # Settle: one untimed build each, so the null rounds see a steady state.
                for tool in TOOLS:
                    self.build(project, tool, "settle", 0, "")
            runs = {t: [] for t in TOOLS}
            for rnd in range(rounds):
                order = TOOLS if rnd % 2 == 0 else tuple(reversed(TOOLS))
                for tool in order:
                    what = project.prepare(tool, scenario, rnd)
                    runs[tool].append(self.build(project, tool, scenario, rnd, what))
            entry = {"rounds": rounds}
            for tool in TOOLS:
                secs = [r["seconds"] for r in runs[tool]]
                cpus = [r["cpu_seconds"] for r in runs[tool]]
                entry[tool] = {"median": round(statistics.median(secs), 4), "min": min(secs),
                               "max": max(secs), "cpu_median": round(statistics.median(cpus), 4),
                               "ok": all(r["ok"] for r in runs[tool]), "runs": runs[tool]}
            n = entry["ninja"]["median"]
            entry["ratio"] = round(entry["kiln"]["median"] / n, 3) if n > 0 else None
            n = entry["ninja"]["cpu_median"]
            entry["cpu_ratio"] = round(entry["kiln"]["cpu_median"] / n, 3) if n > 0 else None
            res["scenarios"][scenario] = entry
            log("   %-8s kiln %8.3f s  ninja %8.3f s  kiln/ninja %6s (CPU %6s)   kiln: %s; ninja: %s%s" % (
                scenario, entry["kiln"]["median"], entry["ninja"]["median"], fmt_ratio(entry["ratio"]),
                fmt_ratio(entry["cpu_ratio"]),
                work_str("kiln", runs["kiln"][-1]["work"]), work_str("ninja", runs["ninja"][-1]["work"]),
                "" if entry["kiln"]["ok"] and entry["ninja"]["ok"] else "   WRONG"))
            self.check_work(project, scenario, runs["kiln"])
        self.results[project.name] = res

    def check_work(self, project, scenario, runs):
        """kiln's own summary against what the scenario should need."""
        for r in runs:
            w = r["work"]
            if w is None:
                self.notes.append("%s %s round %d: no kiln summary line in the output"
                                  % (project.name, scenario, r["round"]))
                continue
            bad = None
            if scenario == "null" and (w["ran"] or w["restored"]):
                bad = "a null build ran or restored something"
            elif scenario == "touch" and w["ran"]:
                bad = "touching a file (same content) made tasks run"
            elif scenario == "restore" and w["ran"]:
                bad = "tasks ran although everything was in the cache"
            elif scenario == "cold" and w["restored"]:
                bad = "a cold build with an empty cache restored something"
            if bad:
                self.notes.append("%s %s round %d: %s (kiln: %d ran, %d restored, %d up to date)"
                                  % (project.name, scenario, r["round"], bad, w["ran"], w["restored"], w["up_to_date"]))


def fmt_ratio(r):
    return "n/a" if r is None else "%.2fx" % r


def fmt_s(s):
    return "%.3f s" % s


def machine_info():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
    except OSError:
        pass
    return {"nproc": first_line(["nproc"]), "cpu": model, "kernel": platform.release(),
            "memory": mem, "loadavg_start": " ".join("%.2f" % x for x in os.getloadavg())}


def table_rows(res):
    rows = []
    for scenario, e in res["scenarios"].items():
        ok = e["kiln"]["ok"] and e["ninja"]["ok"]
        rows.append([scenario, fmt_ratio(e["ratio"]), fmt_s(e["kiln"]["median"]), fmt_s(e["ninja"]["median"]),
                     fmt_ratio(e["cpu_ratio"]), fmt_s(e["kiln"]["cpu_median"]), fmt_s(e["ninja"]["cpu_median"]),
                     work_str("kiln", e["kiln"]["runs"][-1]["work"]),
                     work_str("ninja", e["ninja"]["runs"][-1]["work"]),
                     str(e["rounds"]), "ok" if ok else "WRONG"])
    return rows


HEADER = ["scenario", "kiln/ninja", "kiln (median)", "ninja (median)", "CPU kiln/ninja", "kiln CPU", "ninja CPU",
          "kiln did", "ninja did", "rounds", "check"]


def text_table(rows):
    widths = [max(len(str(r[i])) for r in rows + [HEADER]) for i in range(len(HEADER))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(HEADER), line(["-" * w for w in widths])] + [line(r) for r in rows])


def md_table(rows):
    out = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(["---"] + ["---:"] * 6 + ["---"] * 2 + ["---:", "---"]) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def auto_notes(results, notes, failures):
    out = []
    for f in failures:
        out.append("**WRONG**: " + f)
    for pname, res in results.items():
        for scenario, e in res["scenarios"].items():
            r = e["ratio"]
            if r is not None and r > 1.1:
                out.append("%s / %s: kiln is slower than ninja: %s vs %s (%.2fx, +%.0f ms)"
                           % (pname, scenario, fmt_s(e["kiln"]["median"]), fmt_s(e["ninja"]["median"]),
                              r, 1000 * (e["kiln"]["median"] - e["ninja"]["median"])))
    for pname, res in results.items():
        e = res["scenarios"].get("null")
        own = [r["work"]["own_seconds"] for r in (e or {}).get("kiln", {}).get("runs", [])
               if r["work"] and "own_seconds" in r["work"]]
        if own:
            out.append("%s / null: kiln's own summary line says %s (median); the process took %s: the rest is "
                       "start-up, loading the build file and the manifest, expanding the graph and saving"
                       % (pname, fmt_s(statistics.median(own)), fmt_s(e["kiln"]["median"])))
    out += notes
    return out


def write_doc(data):
    rt = data["runtime_seconds"]
    m, v = data["machine"], data["versions"]
    parts = ["# Benchmarks: kiln vs ninja", "",
             "Generated by `bench/quick.sh` (`make bench-quick`) on %s, in %d s. "
             "Raw numbers: `bench/out/results.json` (not committed); each build's output: "
             "`bench/out/logs/`." % (data["date"], rt), "",
             "## Machine", "",
             "- CPU: %s, `nproc` = %s, %s RAM" % (m["cpu"], m["nproc"], m["memory"]),
             "- kernel: %s" % m["kernel"],
             "- load average (1, 5, 15 min) at the start: %s, at the end: %s" % (m["loadavg_start"], m["loadavg_end"]),
             "- kiln: `%s`, %s; the repository during the run: HEAD %s" % (
                 v["kiln"], v["kiln_binary"].replace(ROOT + "/", ""), v["kiln_source"]), "- ninja: `%s`" % v["ninja"], "- cc: `%s`" % v["cc"],
             "- jobs: `-j%d` for both; rounds: %d for cold and restore, %d for the others; medians"
             % (data["config"]["jobs"], data["config"]["rounds_full"], data["config"]["rounds"]), "",
             "## Results", ""]
    for pname, res in data["projects"].items():
        parts += ["### %s" % pname, "", res["description"] + ".", "", md_table(table_rows(res)), ""]
    parts += ["*kiln/ninja* < 1 means kiln is faster (wall time). *CPU* is user + system time of the tool and "
              "every process it ran; it is much less disturbed by other load on the machine than wall time, so "
              "prefer *CPU kiln/ninja* when the load average above is high. *kiln did* and *ninja did* are what the tools "
              "reported in the last round (kiln's summary line; ninja's count of edges run). "
              "*check*: every build's program printed the checksum of a clean build of the same sources.", ""]
    notes = auto_notes(data["projects"], data["notes"], data["failures"])
    parts += ["### Flags raised by the script", ""]
    parts += ["- " + n for n in notes] if notes else ["- none: kiln was never more than 10% slower than ninja, "
                                                      "and its summaries matched each scenario."]
    parts += ["", "## What is measured", "",
              "Both tools build the same graph with the same commands, in separate scratch copies of the "
              "sources (under `$TMPDIR`), with `-j%d`. Per project, per scenario, the rounds are "
              "interleaved (kiln then ninja, then ninja then kiln, ...) so that a slow moment of the "
              "machine hits both; the figure is the median wall time of the `kiln build` / `ninja` process "
              "(Python's `time.perf_counter`, monotonic), and the median CPU time (user + system, the tool and "
              "all its children). kiln runs from a private copy of the binary, so a rebuild of `.build/release` "
              "during the run cannot mix two versions." % data["config"]["jobs"], "",
              "- **cold**: no outputs. kiln: no `.kiln/` and an empty cache (`KILN_CACHE_DIR` points to a "
              "fresh directory); ninja: no `.ninja_log` / `.ninja_deps`.",
              "- **null**: nothing changed since the last build (after one untimed settling build).",
              "- **touch**: one `.c` file's mtime bumped, content unchanged (a different file each round). "
              "ninja recompiles it and re-archives and relinks; kiln re-hashes it and should run nothing.",
              "- **edit**: one `.c` file's content changed to a value never built before (a different file "
              "each round in synth; demo: a new function appended to `src/lib/geometry.c`).",
              "- **restore**: every output deleted (`build/`, `bin/`, and `gen/` in demo); kiln keeps "
              "`.kiln/` and its cache and should restore everything; for ninja this is a full rebuild.", "",
              "Projects:", "",
              "- **synth**: generated by `bench/gen_synth.py` with a fixed seed: %s C files in %d "
              "folders (`src/d00/u0000.c`...), each including 2-3 headers (`common.h` everywhere, three "
              "hot module headers, module headers including their parent module), compiled with a "
              "depfile (`-MD`, ninja `deps = gcc`), archived into `libsynth.a` and linked with `app/main.c`. "
              "The generator writes both `kiln.yml` (one `foreach: src/**/*.c`) and `build.ninja`. "
              "Each unit returns a constant and the program prints a checksum of all of them, which "
              "the generator predicts from the sources (and which the cold builds confirm). "
              "Flags: `%s` (the compiler's work is the same for both tools)."
              % ("{:,}".format(data["config"]["units"]), (data["config"]["units"] + 99) // 100, CFLAGS),
              "- **demo**: `fixtures/demo` with its own `kiln.yml`; `bench/demo.ninja` is the same "
              "build for ninja. The expected checksum (`bin/demo --checksum`) comes from a clean ninja "
              "build of the same sources in a third copy.", "",
              "A build that fails or whose program prints another checksum is listed as WRONG and makes "
              "the script exit 1. The machine may be shared (other builds running): the load averages "
              "above say how busy it was; compare ratios rather than absolute times.", "",
              "## How to run", "",
              "```sh", "make bench-quick          # installs ninja-build etc. if missing, builds release, runs",
              "sh bench/quick.sh .build/release/kiln    # the same, with a kiln binary of your choice",
              "BENCH_ROUNDS=3 BENCH_ROUNDS_FULL=1 sh bench/quick.sh .build/release/kiln   # quicker",
              "```", "",
              "Other knobs: `BENCH_JOBS` (default 2), `BENCH_UNITS` (default 2000), `BENCH_KEEP=1` "
              "(keep the scratch trees). The script rewrites this file above the marker below.", "",
              KEEP_MARKER]
    kept = ""
    if os.path.exists(DOC):
        with open(DOC) as f:
            old = f.read()
        if KEEP_MARKER in old:
            kept = old.split(KEEP_MARKER, 1)[1]
    os.makedirs(os.path.dirname(DOC), exist_ok=True)
    with open(DOC, "w") as f:
        f.write("\n".join(parts) + (kept if kept else "\n"))


def kiln_source():
    """The commit the kiln sources are at, and whether the tree has local changes."""
    head = first_line(["git", "-C", ROOT, "log", "-1", "--format=%h %cd", "--date=format:%Y-%m-%d %H:%M"])
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--", "Sources",
                            "Package.swift"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    return head + (" + uncommitted changes in Sources/" if dirty.strip() else "")


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: python3 bench/bench.py KILN_BINARY")
    kiln = os.path.abspath(sys.argv[1])
    if not os.access(kiln, os.X_OK):
        raise SystemExit("bench: %s: not an executable" % kiln)
    start = time.perf_counter()
    os.makedirs(LOGS, exist_ok=True)
    for f in os.listdir(LOGS):
        os.remove(os.path.join(LOGS, f))
    work = tempfile.mkdtemp(prefix="kiln-bench.")
    # A private copy, so that a rebuild of .build/release during the run cannot mix two binaries.
    built = datetime.datetime.fromtimestamp(os.stat(kiln).st_mtime, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    shutil.copy2(kiln, os.path.join(work, "kiln"))
    kiln_orig, kiln = kiln, os.path.join(work, "kiln")
    bench = Bench(kiln)
    data = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_info(),
            "versions": {"kiln": first_line([kiln, "--version"]), "kiln_binary": "%s (built %s)" % (kiln_orig, built),
                         "kiln_source": kiln_source(), "ninja": first_line(["ninja", "--version"]),
                         "cc": first_line(["cc", "--version"])},
            "config": {"jobs": JOBS, "rounds": ROUNDS, "rounds_full": ROUNDS_FULL, "units": UNITS,
                       "scenarios": list(SCENARIOS)}}
    log("kiln bench: %s; ninja %s; %s; -j%d; scratch: %s" % (data["versions"]["kiln"], data["versions"]["ninja"],
                                                            data["versions"]["cc"], JOBS, work))
    try:
        for cls in (SynthProject, DemoProject):
            p = cls(work)
            t0 = time.perf_counter()
            p.setup()
            log("   (%s set up in %.1f s)" % (p.name, time.perf_counter() - t0))
            bench.run_project(p)
    except KeyboardInterrupt:
        log("bench: interrupted; scratch trees kept in %s" % work)
        raise SystemExit(130)
    data["machine"]["loadavg_end"] = " ".join("%.2f" % x for x in os.getloadavg())
    data["runtime_seconds"] = round(time.perf_counter() - start, 1)
    data["projects"] = bench.results
    data["notes"] = bench.notes
    data["failures"] = bench.failures
    data["ok"] = not bench.failures
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(data, f, indent=2)
    write_doc(data)

    log("")
    for pname, res in bench.results.items():
        log("%s: %s" % (pname, res["description"]))
        log(text_table(table_rows(res)))
        log("")
    for n in auto_notes(bench.results, bench.notes, bench.failures):
        log("note: " + n)
    log("wrote %s and %s (%.0f s)" % (os.path.relpath(DOC, ROOT),
                                       os.path.relpath(os.path.join(OUT, "results.json"), ROOT),
                                       data["runtime_seconds"]))
    if bench.failures or os.environ.get("BENCH_KEEP") == "1":
        log("scratch trees kept in %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    if bench.failures:
        log("bench: %d WRONG build(s)" % len(bench.failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
