#!/usr/bin/env python3
"""kiln beside ninja, ninja+ccache and make: `python3 bench/bench.py [--quick] KILN`
(run by bench/run.sh: `make bench`, and bench/quick.sh: `make bench-quick`).

Projects (bench/projects.py), each copied once per tool:
  synth        generated C project (bench/gen_synth.py), BENCH_UNITS units: cold, null,
               touch, clean, worktree, edit, header
  synth-big    the same at BENCH_UNITS_BIG units: cold once (setup), null
  synth-small  the same at BENCH_UNITS_SMALL units: cold (BENCH_ROUNDS_FULL rounds), null
  trivial      BENCH_TRIVIAL `cp` tasks (bench/gen_trivial.py): cold
  trivial-big  BENCH_TRIVIAL_BIG `cp` tasks: cold once (setup), null, peak RSS
  hash         a BENCH_HASH_MIB MiB file: `xxhsum -H2` against `kiln exec --in FILE`
  demo         fixtures/demo, kiln and ninja only: cold, null, touch, edit, clean
  workspaces   issue 5: the synth project at BENCH_UNITS_WS units in a git repository,
               built once per tool (untimed, warm caches); then 4 `kiln ws new` + a
               `kiln -C PATH build` in each, the 4 builds at once (and one after the
               other), against 4 `git worktree add` + ninja (and + ninja+ccache) builds
               at once; wall time from the first create to the last build's end
               (bench/workspaces.py)
  hooks        issue 7: a generated git repository of BENCH_FILES_HOOKS Python files; the
               wall time of `git commit` with kiln's pre-commit hook, with pre-commit's
               (the Python framework) running the same check (py_compile of each staged
               .py file), and with --no-verify: cold, one file edited, nothing relevant,
               cached (one file, every file); then broken staged files must be refused
               (bench/hooks.py)
  cmake        issue 14: the synth project at BENCH_UNITS_CMAKE units as a CMake
               project (its CMakeLists.txt), configured by the real `cmake -G Ninja`
               once per tool: ninja, ninja with CMAKE_C_COMPILER_LAUNCHER=ccache, and
               kiln as CMAKE_MAKE_PROGRAM (a `kiln-ninja` link, which it builds with):
               cold, null, touch, edit, clean, and a fresh worktree in three flag sets
               (-g with -ffile-prefix-map, -g alone, neither); outputs compared byte for
               byte with ninja's where paths allow (bench/cmake_bench.py)
  launcher     issue 15: kiln as a compiler launcher (`CC="kiln gcc"`) beside
               `ccache gcc` and plain gcc, each project built by its own Makefile with
               `make -jBENCH_JOBS CC=...`: the synth project at BENCH_UNITS_LAUNCHER units
               and Lua 5.4 (Debian's source package, fetched once by `apt-get source
               --download-only lua5.4` into BENCH_OUT/sources/; skipped with one line if it
               cannot be): cold (also plain gcc), clean, fresh worktree (ccache without and
               with base_dir), comment-only header edit, one .c edited; every object byte
               for byte plain gcc's; then one compile's cache hit latency
               (BENCH_CALLS_LAUNCHER calls each) and BENCH_CONCURRENT_LAUNCHER compiles at
               once, cold and warm, counting failures (bench/launcher.py,
               launcher_projects.py, launcher_report.py)
  isolate      BENCH_ISOLATE_TASKS `cp` tasks cold with the cache off, -j1, plain beside
               `isolate: true` (bubblewrap): the time the sandbox adds per task (bench/isolate.py)

Tools: kiln, ninja, ninja+ccache (build-ccache.ninja) and make; the trivial projects
leave out ninja+ccache (no compiler to cache), demo has kiln and ninja. The rounds of a
scenario rotate the tools (A B C D, then B C D A, ...; the short scenarios' rounds are
rounded up to a multiple of the tools, so each goes first as often; synth's and the
demo's edit and header start with one untimed round per tool, so the first timed round
does not pay for the scenario before it; the cmake group's edit follows its touch
rounds), -jBENCH_JOBS; medians, and each tool's ratio to ninja in the same run. Every build's result is checked (synth: the
program prints the checksum the generator predicts; trivial: every output equals its
source; demo: the checksum of a clean ninja build); a wrong or failed build is WRONG
in the tables and makes the script exit 1.

Environment (defaults: full / --quick):
  BENCH_ROUNDS        rounds of null, touch, edit, header and hashing (7 / 3; synth's edit: twice)
  BENCH_ROUNDS_FULL   rounds of cold, clean, worktree, trivial cold (5 / 1)
  BENCH_UNITS         synth units (400 / 400)
  BENCH_UNITS_BIG     synth-big units (2000 / 1000)
  BENCH_UNITS_SMALL   synth-small units (30 / 30)
  BENCH_TRIVIAL       trivial tasks, cold (1000 / 1000)
  BENCH_TRIVIAL_BIG   trivial tasks, null and RSS (20000 / 5000)
  BENCH_HASH_MIB      size of the hashed file in MiB (1024 / 1024)
  BENCH_UNITS_WS      synth units of the workspaces group (400 / 200)
  BENCH_ROUNDS_WS     rounds of the workspaces group (8 / 4; best a multiple of 4)
  BENCH_FILES_HOOKS   Python files of the hooks group (300 / 100)
  BENCH_ROUNDS_HOOKS  rounds of the hooks group but its cold commits (7 / 3; cold:
                      BENCH_ROUNDS_FULL)
  BENCH_UNITS_CMAKE   synth units of the cmake group (400 / 100)
  BENCH_UNITS_LAUNCHER  synth units of the launcher group (200 / 100)
  BENCH_ROUNDS_LAUNCHER rounds of every launcher scenario (5 / 2; cold: at most
                      BENCH_ROUNDS_FULL; the concurrent test: half as many)
  BENCH_CALLS_LAUNCHER  timed calls per compiler of the launcher's hit latency (50 / 20)
  BENCH_CONCURRENT_LAUNCHER  compiles at once in the launcher's concurrency test
                      (200 / 200)
  BENCH_LUA_SOURCE    a Lua 5.4 tarball or folder for the launcher group, instead of
                      Debian's source package
  BENCH_CMAKE_RENDER  where the cmake group's CMakeLists renders the templates: build
                      (add_custom_command, the default) or configure (execute_process
                      while configuring: no custom command in build.ninja)
  BENCH_ONLY          comma-separated subset of:
                      synth,synth-big,synth-small,trivial,trivial-big,hash,demo,workspaces,hooks,cmake,
                      launcher,remote,isolate
  BENCH_ISOLATE_TASKS cp tasks of the isolate group (200 / 100)
  BENCH_REMOTE_TMPFS  0: the remote group skips its second set of restores on /dev/shm
  BENCH_JOBS          -j (2)
  BENCH_KEEP=1        keep the scratch trees (kept anyway when a build is wrong)
  BENCH_OUT           results.json and logs/ (bench/out)
  BENCH_DOC           the Markdown report (docs/benchmarks.md; "-" for none)
"""
import datetime
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True   # no bench/__pycache__
import hooks  # noqa: E402
import runner  # noqa: E402
import isolate  # noqa: E402
import launcher  # noqa: E402
import remote  # noqa: E402
import report  # noqa: E402
from cmake_bench import CMakeCcache, CMakeKiln, CMakeNinja, CMakeProject  # noqa: E402
from projects import (DemoProject, SynthBigProject, SynthProject, SynthSmallProject,  # noqa: E402
                      TrivialBigProject, TrivialProject)
from runner import (Kiln, Make, Ninja, NinjaCcache, bench_env, first_line, fresh_dir, peak_rss, quiet, rm,  # noqa: E402
                    run_logged)
from workspaces import WHAT as SCENARIO_TEXT_WS, WorkspacesBench, WorkspacesProject, variants  # noqa: E402
from workspaces import phases as ws_phases  # noqa: E402

GROUPS = ("synth", "synth-big", "synth-small", "trivial", "trivial-big", "hash", "demo", "workspaces", "hooks",
          "cmake", "launcher", "remote", "isolate")
DEFAULTS = {  # knob: (full, quick)
    "rounds": (7, 3), "rounds_full": (5, 1), "units": (400, 400), "units_big": (2000, 1000), "units_small": (30, 30),
    "trivial": (1000, 1000), "trivial_big": (20000, 5000), "hash_mib": (1024, 1024), "jobs": (2, 2),
    "units_ws": (400, 200), "rounds_ws": (8, 4), "files_hooks": (300, 100), "rounds_hooks": (7, 3),
    "units_cmake": (400, 100),
    "units_launcher": (200, 100), "rounds_launcher": (5, 2), "calls_launcher": (50, 20),
    "concurrent_launcher": (200, 200),
}
CMAKE_RENDER = ("build", "configure")   # BENCH_CMAKE_RENDER
# The sizes of issue 4 (and of issue 5: units_ws).
ISSUE_SIZES = {"units": 400, "units_big": 2000, "trivial": 1000, "trivial_big": 20000, "hash_mib": 1024,
               "units_ws": 400}


def log(msg):
    print(msg, flush=True)


class Config:
    def __init__(self, quick):
        self.mode = "quick" if quick else "full"
        for key, (full, q) in DEFAULTS.items():
            v = os.environ.get("BENCH_" + key.upper())
            setattr(self, key, int(v) if v else (q if quick else full))
        only = os.environ.get("BENCH_ONLY", "")
        self.only = [g.strip() for g in only.split(",") if g.strip()] or list(GROUPS)
        bad = [g for g in self.only if g not in GROUPS]
        if bad:
            raise SystemExit("bench: BENCH_ONLY: unknown %s (choose from %s)" % (", ".join(bad), ",".join(GROUPS)))
        self.cmake_render = os.environ.get("BENCH_CMAKE_RENDER") or CMAKE_RENDER[0]
        if self.cmake_render not in CMAKE_RENDER:
            raise SystemExit("bench: BENCH_CMAKE_RENDER: %s (choose from %s)" % (self.cmake_render, ",".join(CMAKE_RENDER)))
        self.keep = os.environ.get("BENCH_KEEP") == "1"
        self.out = os.path.abspath(os.environ.get("BENCH_OUT") or os.path.join(HERE, "out"))
        doc = os.environ.get("BENCH_DOC") or os.path.join(ROOT, "docs", "benchmarks.md")
        self.doc = None if doc == "-" else os.path.abspath(doc)

    def as_dict(self):
        d = {k: getattr(self, k) for k in DEFAULTS}
        d.update(mode=self.mode, only=self.only, groups=list(GROUPS), cmake_render=self.cmake_render,
                 smaller_than_issue={k: v for k, v in ISSUE_SIZES.items() if d[k] < v})
        return d


def nice(path):
    """path relative to the repository when it is inside it."""
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def rotate(items, rnd):
    """A B C D, then B C D A, ..."""
    k = rnd % len(items)
    return items[k:] + items[:k]


class Bench:
    def __init__(self, cfg, kiln):
        self.cfg = cfg
        self.kiln = kiln
        self.logs = os.path.join(cfg.out, "logs")
        self.env = bench_env()
        self.failures = []
        self.notes = []
        self.results = {}

    def fail(self, msg):
        self.failures.append(msg)
        log("    !! " + msg)

    def build(self, project, tool, scenario, rnd, cwd, what):
        env = tool.env(self.env, project)
        tool.before(env)
        logpath = os.path.join(self.logs, "%s-%s-%s-%s.log" % (project.name, scenario, rnd, tool.name))
        run = run_logged(tool.argv(self.cfg.jobs), cwd, env, logpath)
        work = tool.work(run.output, env)
        ok, actual, expected = project.check(tool, cwd)
        ok = ok and run.status == 0
        if not ok:
            why = ("exit status %s" % run.status) if run.status != 0 else \
                  ("the build gave %s, a clean build gives %s" % (actual, expected))
            self.fail("%s %s round %s, %s: WRONG (%s; log: %s)"
                      % (project.name, scenario, rnd, tool.label, why, nice(logpath)))
        return {"round": rnd, "seconds": round(run.seconds, 4), "cpu_seconds": round(run.cpu_seconds, 4),
                "exit": run.status, "change": what, "work": work,
                "result": actual, "expected": expected, "ok": ok}

    def run_project(self, project):
        log("== %s: %s" % (project.name, project.describe()))
        res = {"description": project.describe(), "tools": [t.name for t in project.tools], "scenarios": {}}

        for scenario, rounds in project.scenarios():
            t0 = time.perf_counter()
            project.before_scenario(scenario, lambda tool, cwd, s=scenario: self.build(
                project, tool, "settle-" + s, 0, cwd, "untimed settling build"))
            # The short scenarios (null, touch, edit, header: milliseconds to a few hundred)
            # run a multiple of the number of tools, so that each tool goes first in a round
            # as often as the others: the first build of a round pays ~0.7 ms more (the
            # other tool's binary and files were the last ones in the CPU's caches), and
            # with 7 rounds and two tools kiln went first four times.
            if scenario in ("null", "touch", "edit", "header") and rounds > 1:
                rounds = -(-rounds // len(project.tools)) * len(project.tools)
            runs = {t.name: [] for t in project.tools}
            for rnd in range(rounds):
                for tool in rotate(project.tools, rnd):
                    cwd, what = project.prepare(tool, scenario, rnd)
                    runs[tool.name].append(self.build(project, tool, scenario, rnd, cwd, what))
                    project.after(tool, scenario, rnd, cwd)
            # Checks across the tools' results of a round (the cmake group: byte for byte).
            compare = getattr(project, "compare_rounds", None)
            if compare:
                compare(scenario, runs, self)
            entry = summarize(runs, rounds, project.tools)
            entry["what"] = project.what(scenario)
            if scenario == "null":
                self.measure_rss(project, entry)
            res["scenarios"][scenario] = entry
            entry["elapsed_seconds"] = round(time.perf_counter() - t0, 1)
            log("   %-9s %s%s   [%.0f s]" % (scenario, "  ".join(
                "%s %.3f s (%s)" % (t.label, entry["tools"][t.name]["median"], report.fmt_ratio(entry["ratio"].get(t.name)))
                for t in project.tools), "" if entry["ok"] else "   WRONG", entry["elapsed_seconds"]))
            self.check_work(project, scenario, runs)
        self.results[project.name] = res

    def measure_rss(self, project, entry):
        """One more null build per tool, untimed, under GNU time for its peak RSS."""
        for tool in project.tools:
            env = tool.env(self.env, project)
            logpath = os.path.join(self.logs, "%s-null-rss-%s.log" % (project.name, tool.name))
            status, kib = peak_rss(tool.argv(self.cfg.jobs), project.tree(tool), env, logpath)
            ok, actual, expected = project.check(tool, project.tree(tool))
            if status != 0 or not ok or kib is None:
                self.fail("%s null (peak RSS run), %s: WRONG (exit status %s, result %s, expected %s; log: %s)"
                          % (project.name, tool.label, status, actual, expected, nice(logpath)))
                entry["ok"] = entry["tools"][tool.name]["ok"] = False
            entry["tools"][tool.name]["peak_rss_kib"] = kib

    def check_work(self, project, scenario, runs):
        """kiln's own summary (and ccache's statistics) against what the scenario should need."""
        for r in runs.get("kiln", []):
            w = r["work"]
            where = "%s %s round %d" % (project.name, scenario, r["round"])
            if w is None:
                self.notes.append(where + ": no kiln summary line in the output")
                continue
            bad = None
            if scenario == "null" and (w["ran"] or w["restored"]):
                bad = "a null build ran or restored something"
            elif scenario == "touch" and w["ran"]:
                bad = "touching a file (same content) made tasks run"
            elif scenario in project.cached_scenarios and w["ran"]:
                bad = "tasks ran although everything was in the cache"
            elif scenario == "cold" and w["restored"]:
                bad = "a cold build with an empty cache restored something"
            if bad:
                self.notes.append("%s: %s (kiln: %d ran, %d restored, %d up to date)"
                                  % (where, bad, w["ran"], w["restored"], w["up_to_date"]))
        for r in runs.get("ccache", []):
            w = r["work"]
            if scenario in project.cached_scenarios and w and w.get("ccache_misses"):
                self.notes.append("%s %s round %d: ninja+ccache missed its cache %d times (%d hits)"
                                  % (project.name, scenario, r["round"], w["ccache_misses"], w["ccache_hits"]))

    # -- workspaces (issue 5) ---------------------------------------------------
    def run_workspaces(self, project):
        """Each main checkout built once (untimed: warm caches), then the rounds of
        bench/workspaces.py, the variants rotated."""
        log("== %s: %s" % (project.name, project.describe()))
        t0 = time.perf_counter()
        for tool in project.tools:
            tool.forget(project.tree(tool), project)
            self.build(project, tool, "setup", 0, project.tree(tool), "cold build of the main checkout (untimed)")
        log("   (main checkouts built in %.1f s)" % (time.perf_counter() - t0))
        ws = WorkspacesBench(self, project, nice)
        vs = variants(project.tools)
        t0 = time.perf_counter()
        [(scenario, rounds)] = project.scenarios()
        runs = {v.name: [] for v in vs}
        for rnd in range(rounds):
            for v in rotate(vs, rnd):
                runs[v.name].append(ws.round(v, rnd))
        entry = summarize(runs, rounds, vs)
        entry["what"] = SCENARIO_TEXT_WS
        entry["phases"] = {v.name: ws_phases(runs[v.name]) for v in vs}
        entry["elapsed_seconds"] = round(time.perf_counter() - t0, 1)
        log("   %s: %s%s   [%.0f s]" % (scenario, "  ".join(
            "%s %.3f s (%s)" % (v.label, entry["tools"][v.name]["median"], report.fmt_ratio(entry["ratio"].get(v.name)))
            for v in vs), "" if entry["ok"] else "   WRONG", entry["elapsed_seconds"]))
        ws.check_work(runs)
        self.results[project.name] = {"description": project.describe(), "tools": [v.name for v in vs],
                                      "scenarios": {scenario: entry}}

    # -- hashing -------------------------------------------------------------
    def run_hash(self, work):
        """`xxhsum -H2 big.bin` against `kiln exec --in big.bin` with no state and an
        empty cache (so kiln must hash it), and the same exec with a 4 KiB input
        (kiln's fixed cost), the file in the page cache."""
        d = os.path.join(work, "hash")
        os.makedirs(d)
        size = self.cfg.hash_mib << 20
        t0 = time.perf_counter()
        write_big_file(os.path.join(d, "big.bin"), size)
        with open(os.path.join(d, "small.bin"), "wb") as f:
            f.write(random.Random(1).randbytes(4096))
        log("== hash: %d MiB file written in %.1f s" % (self.cfg.hash_mib, time.perf_counter() - t0))
        cache = os.path.join(d, "kiln-cache")
        kenv = dict(self.env, KILN_CACHE_DIR=cache)

        def kiln_exec(src):
            return [self.kiln, "exec", "--in", src, "--out", "stamp.txt", "--", "touch", "stamp.txt"]
        cmds = {"xxhsum": (["xxhsum", "-H2", "big.bin"], self.env), "kiln": (kiln_exec("big.bin"), kenv),
                "kiln-4k": (kiln_exec("small.bin"), kenv)}
        runs = {k: [] for k in cmds}
        xx_hash = None
        for rnd in range(self.cfg.rounds):
            warm(os.path.join(d, "big.bin"))
            for name in rotate(list(cmds), rnd):
                argv, env = cmds[name]
                if name.startswith("kiln"):
                    rm(os.path.join(d, ".kiln"))
                    rm(os.path.join(d, "stamp.txt"))
                    fresh_dir(cache)
                logpath = os.path.join(self.logs, "hash-%d-%s.log" % (rnd, name))
                run = run_logged(argv, d, env, logpath)
                if name == "xxhsum":
                    m = re.search(r"^([0-9a-f]{32})  big\.bin$", run.output, re.M)
                    ok = run.status == 0 and m is not None
                    xx_hash = m.group(1) if m else xx_hash
                else:
                    ok = run.status == 0 and os.path.exists(os.path.join(d, "stamp.txt"))
                if not ok:
                    self.fail("hash round %d, %s: WRONG (exit status %s; log: %s)"
                              % (rnd, name, run.status, nice(logpath)))
                runs[name].append({"round": rnd, "seconds": round(run.seconds, 4),
                                   "cpu_seconds": round(run.cpu_seconds, 4), "exit": run.status, "ok": ok})
        res = {"bytes": size, "rounds": self.cfg.rounds, "tools": {}}
        for name, rs in runs.items():
            med = statistics.median(r["seconds"] for r in rs)
            res["tools"][name] = {"median": round(med, 4), "min": min(r["seconds"] for r in rs),
                                  "max": max(r["seconds"] for r in rs), "ok": all(r["ok"] for r in rs),
                                  "gib_per_s": round(size / med / (1 << 30), 3) if name != "kiln-4k" else None,
                                  "runs": rs}
        xs, ks, k0 = (res["tools"][n]["median"] for n in ("xxhsum", "kiln", "kiln-4k"))
        # Throughput ratio kiln/xxhsum = time ratio xxhsum/kiln (target: at least 0.8).
        res["throughput_ratio"] = round(xs / ks, 3) if ks > 0 else None
        res["kiln_hash_only_gib_per_s"] = round(size / (ks - k0) / (1 << 30), 3) if ks > k0 else None
        res["same_digest"] = self.compare_digest(d, kenv, xx_hash)
        res["ok"] = all(t["ok"] for t in res["tools"].values()) and res["same_digest"] is not False
        log("   xxhsum %.3f s (%.2f GiB/s)  kiln %.3f s (%.2f GiB/s)  kiln, 4 KiB input %.3f s  ratio %s%s" % (
            xs, res["tools"]["xxhsum"]["gib_per_s"], ks, res["tools"]["kiln"]["gib_per_s"], k0,
            report.fmt_ratio(res["throughput_ratio"]), "" if res["ok"] else "   WRONG"))
        self.results["hash"] = res

    def compare_digest(self, d, env, xx_hash):
        """kiln's XXH3-128 of big.bin (from `kiln manifest` after a build whose task
        reads it: `kiln exec` keeps no manifest) against xxhsum's."""
        if xx_hash is None:
            return None
        rm(os.path.join(d, ".kiln"))
        rm(os.path.join(d, "stamp.txt"))
        with open(os.path.join(d, "kiln.yml"), "w") as f:
            f.write("tasks:\n  hash:\n    inputs: [big.bin]\n    outputs: [stamp.txt]\n    run: touch stamp.txt\n")
        quiet([self.kiln, "build"], cwd=d, env=env)
        out = quiet([self.kiln, "manifest"], cwd=d, env=env)
        rm(os.path.join(d, "kiln.yml"))
        rm(os.path.join(d, ".kiln"))
        m = re.search(r"^([0-9a-f]{32})  big\.bin$", out, re.M)
        same = m is not None and m.group(1) == xx_hash
        if not same:
            self.fail("hash: kiln's digest of big.bin (%s) is not xxhsum -H2's (%s)"
                      % (m.group(1) if m else "not in `kiln manifest`", xx_hash))
        return same


def summarize(runs, rounds, tools):
    entry = {"rounds": rounds, "tools": {}, "ratio": {}, "cpu_ratio": {}}
    for t in tools:
        rs = runs[t.name]
        secs = [r["seconds"] for r in rs]
        entry["tools"][t.name] = {
            "median": round(statistics.median(secs), 4), "min": min(secs), "max": max(secs),
            "cpu_median": round(statistics.median(r["cpu_seconds"] for r in rs), 4),
            "ok": all(r["ok"] for r in rs), "runs": rs}
    n = entry["tools"].get("ninja")
    for name, e in entry["tools"].items():
        if n:
            entry["ratio"][name] = round(e["median"] / n["median"], 3) if n["median"] > 0 else None
            entry["cpu_ratio"][name] = round(e["cpu_median"] / n["cpu_median"], 3) if n["cpu_median"] > 0 else None
    entry["ok"] = all(e["ok"] for e in entry["tools"].values())
    return entry


def write_big_file(path, size):
    """size bytes of random-looking data: a seeded 16 MiB random block, each copy
    prefixed with its own number."""
    block = random.Random(20240611).randbytes(16 << 20)
    with open(path, "wb") as f:
        n = 0
        while n < size:
            chunk = (b"%016d" % (n >> 24)) + block[16:]
            f.write(chunk[:size - n])
            n += len(chunk)


def warm(path):
    buf = bytearray(16 << 20)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def machine_info():
    model, mem = "?", "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
        with open("/proc/meminfo") as f:
            kib = next((int(l.split()[1]) for l in f if l.startswith("MemTotal:")), 0)
            mem = "%.1f GiB" % (kib / 1024 / 1024)
    except OSError:
        pass
    return {"nproc": first_line(["nproc"]), "cpu": model, "kernel": platform.release(), "memory": mem,
            "loadavg_start": " ".join("%.2f" % x for x in os.getloadavg())}


def kiln_source():
    """The commit the kiln sources are at, and whether the tree has local changes."""
    head = first_line(["git", "-C", ROOT, "log", "-1", "--format=%h %cd", "--date=format:%Y-%m-%d %H:%M"])
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--", "Sources",
                            "Package.swift"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    return head + (" + uncommitted changes in Sources/" if dirty.strip() else "")


def versions(kiln, kiln_orig):
    built = datetime.datetime.fromtimestamp(os.stat(kiln_orig).st_mtime, datetime.timezone.utc)
    return {"kiln": first_line([kiln, "--version"]),
            "kiln_binary": "%s (built %s)" % (os.path.relpath(kiln_orig, ROOT) if kiln_orig.startswith(ROOT + "/")
                                              else kiln_orig, built.strftime("%Y-%m-%d %H:%M UTC")),
            "kiln_source": kiln_source(), "ninja": first_line(["ninja", "--version"]),
            "make": first_line(["make", "--version"]), "ccache": first_line(["ccache", "--version"]),
            "cc": first_line(["cc", "--version"]), "xxhsum": first_line(["xxhsum", "--version"]),
            "git": first_line(["git", "--version"]), "cmake": first_line(["cmake", "--version"]),
            "python": sys.version.split()[0]}


def main():
    args = sys.argv[1:]
    quick = "--quick" in args
    args = [a for a in args if a != "--quick"]
    if len(args) != 1:
        raise SystemExit("usage: python3 bench/bench.py [--quick] KILN_BINARY")
    kiln = os.path.abspath(args[0])
    if not os.access(kiln, os.X_OK):
        raise SystemExit("bench: %s: not an executable" % kiln)
    cfg = Config(quick)
    start = time.perf_counter()
    logs = os.path.join(cfg.out, "logs")
    os.makedirs(logs, exist_ok=True)
    for f in os.listdir(logs):
        rm(os.path.join(logs, f))
    work = tempfile.mkdtemp(prefix="kiln-bench.")
    runner.TRASH = os.path.join(work, "trash")
    # A private copy, so that a rebuild of .build/release during the run cannot mix two binaries.
    shutil.copy2(kiln, os.path.join(work, "kiln"))
    # Its network helper beside it, where kiln looks for it (the remote group).
    helper = os.path.join(os.path.dirname(kiln), "kiln-remote")
    if os.path.exists(helper):
        shutil.copy2(helper, os.path.join(work, "kiln-remote"))
    kiln_orig, kiln = kiln, os.path.join(work, "kiln")
    bench = Bench(cfg, kiln)
    data = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_info(), "versions": versions(kiln, kiln_orig), "config": cfg.as_dict()}
    v = data["versions"]
    log("kiln bench (%s): kiln %s; %s; %s; %s; %s; -j%d; scratch: %s" % (
        cfg.mode, v["kiln"], v["ninja"], v["make"], v["ccache"], v["cc"], cfg.jobs, work))
    k, n, c, m = Kiln(kiln), Ninja(), NinjaCcache(), Make()
    projects = {"synth": (SynthProject, [k, n, c, m]), "synth-big": (SynthBigProject, [k, n, c, m]),
                "synth-small": (SynthSmallProject, [k, n, c, m]),
                "trivial": (TrivialProject, [k, n, m]), "trivial-big": (TrivialBigProject, [k, n, m]),
                "demo": (DemoProject, [k, n]), "workspaces": (WorkspacesProject, [k, n, c]),
                "cmake": (CMakeProject, [CMakeKiln(kiln), CMakeNinja(), CMakeCcache()])}
    data["tool_labels"] = {t.name: t.label for t in (k, n, c, m)}
    data["tool_labels"].update({v.name: v.label for v in variants([k])})
    try:
        for group in GROUPS:
            if group not in cfg.only:
                continue
            if group == "hash":
                bench.run_hash(work)
                continue
            if group == "hooks":   # issue 7: git commit with kiln's hook, pre-commit's, none
                hooks.run(bench, work, nice)
                continue
            if group == "launcher":   # issue 15: kiln gcc beside ccache gcc and gcc
                launcher.run(bench, work, nice)
                continue
            if group == "remote":   # issue 18: a fresh checkout restoring from nginx and casd
                remote.run(bench, work, nice)
                continue
            if group == "isolate":   # issue 19: what isolate: true adds to each task
                isolate.run(bench, work, nice)
                continue
            cls, tools = projects[group]
            p = cls(work, tools, cfg)
            t0 = time.perf_counter()
            p.setup()
            log("   (%s set up in %.1f s)" % (p.name, time.perf_counter() - t0))
            # workspaces (issue 5): its own timed rounds (bench/workspaces.py)
            (bench.run_workspaces if group == "workspaces" else bench.run_project)(p)
    except KeyboardInterrupt:
        runner.empty_trash()
        log("bench: interrupted; scratch trees kept in %s" % work)
        raise SystemExit(130)
    runner.empty_trash()
    data["machine"]["loadavg_end"] = " ".join("%.2f" % x for x in os.getloadavg())
    data["runtime_seconds"] = round(time.perf_counter() - start, 1)
    data["projects"] = {k: v for k, v in bench.results.items() if k not in ("hash", "hooks", "launcher", "remote", "isolate")}
    data["remote"] = bench.results.get("remote")
    data["isolate"] = bench.results.get("isolate")
    data["hash"] = bench.results.get("hash")
    data["hooks"] = bench.results.get("hooks")
    data["launcher"] = bench.results.get("launcher")
    data["targets"] = report.targets(data)
    data["work_notes"] = bench.notes       # what kiln's and ccache's own counts said
    data["notes"] = report.auto_notes(data) + bench.notes
    data["failures"] = bench.failures
    data["ok"] = not bench.failures
    with open(os.path.join(cfg.out, "results.json"), "w") as f:
        json.dump(data, f, indent=2)
    text = report.markdown(data)
    if cfg.doc:
        report.write_doc(cfg.doc, text)
    log("")
    log(report.console(data))
    log("wrote %s%s (%.0f s)" % (nice(os.path.join(cfg.out, "results.json")), " and " + nice(cfg.doc) if cfg.doc else "",
                                 data["runtime_seconds"]))
    if bench.failures or cfg.keep:
        log("scratch trees kept in %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    if bench.failures:
        log("bench: %d WRONG result(s)" % len(bench.failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
