"""The launcher group (issue 15): kiln as a compiler launcher (`kiln gcc ARGS`, as
`ccache gcc ARGS`) beside ccache and the plain compiler, on two Makefile projects built
by their own Makefiles with CC overridden: the same make, the same -jBENCH_JOBS.

    synth  the generated project (bench/gen_synth.py) at BENCH_UNITS_LAUNCHER units, its
           GNU Makefile (-MMD -MP depfiles), with CFLAGS="-O0 -Wall -I$(CURDIR)/include":
           the include folder as an absolute path, as CMake-generated and many
           hand-written Makefiles have it (with its relative -Iinclude alone every path
           is relative, and ccache hits in another checkout without base_dir)
    lua    Lua 5.4 from Debian's source package (the upstream tarball of `apt-get source
           --download-only lua5.4`, kept in BENCH_OUT/sources/; BENCH_LUA_SOURCE: a
           tarball or folder to use instead), its own Makefiles (`make linux`,
           CC="... gcc -std=gnu99", -O2): relative paths only, no depfiles

Each project is committed into a git repository and copied once per compiler
(PROJECT/plain/, PROJECT/ccache/, ...), each with its own cache folder:

    plain        CC=gcc: no cache
    ccache       CC="ccache gcc"; CCACHE_DIR a fresh folder of the bench's, no base_dir
    ccache-base  the same with CCACHE_BASEDIR = the project's folder (every checkout and
                 worktree of it): the fresh-worktree scenario only
    kiln         CC="KILN gcc" (the kiln under test); KILN_CACHE_DIR a fresh folder of
                 the bench's; its base folder for paths: the git top-level (its default)

Scenarios (SCENARIOS; rounds: BENCH_ROUNDS_LAUNCHER, cold at most BENCH_ROUNDS_FULL; the
compilers rotated; the wall time of the `make` process, medians): cold (outputs deleted,
empty caches: plain, ccache, kiln), clean (outputs deleted, caches warm), worktree (`git
worktree add` of HEAD, then make there; caches warmed by the main checkout), header (a
comment appended to a header every file includes: a hit must come from preprocessor
mode), edit (one .c changed), and on synth last clean-g (a debug build, -g with
-ffile-prefix-map, rebuilt from a warm cache). Every build is checked: make's exit
status, the program's output (synth: the checksum the generator predicts; lua: a
script's output), and every object, library and executable byte for byte the plain
compiler's of the same sources (the depfiles too, with the checkout's own path written as
<TREE>: one naming another checkout is wrong). kiln's wrong results fail the bench;
ccache's are flagged.

Then two tests outside make:

    latency     one synth unit's compile (the Makefile's command), a warm cache, run
                BENCH_CALLS_LAUNCHER times one after the other per compiler (rotated
                each call; outputs deleted before each, untimed): plain gcc, ccache
                (direct hits), kiln, and kiln through a masquerade folder (a link
                named gcc to kiln, first on PATH); median ms per call
    concurrent  BENCH_CONCURRENT_LAUNCHER distinct small units in one folder, compiled
                by `make -k -jN` (N = the number of units: all at once): cold (empty
                cache) and warm (objects deleted), for ccache and kiln (plain once, the
                reference); failures = non-zero exits, missing objects and objects not
                byte for byte plain gcc's

The compilers and projects: bench/launcher_projects.py. The report (bench/report.py
calls bench/launcher_report.py's targets, markdown, what_measured, console) gives kiln's
ratios to ccache (cold: to the plain compiler) next to issue 15's targets.
"""
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import time

from gen_synth import Synth
from launcher_projects import (GCC, LABELS, SYNTH_CFLAGS_DEBUG, Ccache, CcacheBase, Kiln, KilnMasquerade,
                               LuaLauncher, Plain, SynthLauncher, did, digest, kiln_misses, log, lua_source)
from projects import git
from runner import first_line, fresh_dir, rm, run_logged

SCENARIOS = (  # name, compilers (those present), title, projects (None: all)
    ("cold", ("plain", "ccache", "kiln"), "cold build", None),
    ("clean", ("ccache", "kiln"), "clean rebuild from the cache", None),
    ("worktree", ("ccache", "ccache-base", "kiln"), "fresh worktree", None),
    ("header", ("ccache", "kiln"), "comment-only header edit", None),
    ("edit", ("plain", "ccache", "kiln"), "edit one .c", None),
    # Last: it rebuilds the main checkouts with other flags.
    ("clean-g", ("ccache", "kiln"), "clean rebuild from the cache, -g with -ffile-prefix-map", ("synth",)),
)
TITLES = {s[0]: s[2] for s in SCENARIOS}
DEBUG_SCENARIOS = ("clean-g",)
WHAT = {
    "cold": "every output deleted; ccache and kiln: an empty cache (kiln: also no .kiln/)",
    "clean": "every output deleted; the caches kept (warm from the builds before)",
    "worktree": "`git worktree add` of HEAD at another path (untimed), then make there; the caches warm from "
                "the main checkout's build of HEAD (ccache (base_dir): its own checkout and cache, built once "
                "untimed)",
    "header": "a comment never seen before appended to a header every file includes (synth: include/common.h; "
              "lua: src/luaconf.h): make recompiles everything, the code is the same (a cache hit must come "
              "from preprocessor mode)",
    "edit": "one .c file's content changed to a value never built before (another file each round)",
    "clean-g": "a debug build (CFLAGS=\"%s\": no path in the objects), every output deleted, the caches warm "
               "(each main checkout rebuilt once with these flags, untimed; plain gcc's is the reference)"
               % SYNTH_CFLAGS_DEBUG,
}
# Scenarios in which every compile should be a cache hit (a miss is a flag), per compiler.
CACHED = {"clean": ("ccache", "kiln"), "worktree": ("ccache-base", "kiln"), "header": ("ccache", "kiln"),
          "clean-g": ("ccache", "kiln")}
# Issue 15's targets: (scenario, limit, reference compiler).
TARGETS = (("cold", 1.05, "plain"), ("clean", 1.0, "ccache"), ("worktree", 0.5, "ccache"),
           ("header", 1.0, "ccache"), ("clean-g", 1.0, "ccache"))
LATENCY_TARGET = 1.0


# -- the runs --------------------------------------------------------------------------
class LauncherBench:
    def __init__(self, bench, work, nice):
        self.b = bench
        self.cfg = bench.cfg
        self.nice = nice
        self.root = os.path.join(work, "launcher")
        self.logs = bench.logs
        self.env = bench.env
        self.rounds = self.cfg.rounds_launcher
        os.makedirs(self.root, exist_ok=True)
        self.kiln = Kiln(bench.kiln)
        self.masq = KilnMasquerade(bench.kiln, os.path.join(self.root, "masquerade"))
        self.all = {c.name: c for c in (Plain(), Ccache(), CcacheBase(), self.kiln)}
        self.kiln_ok, self.kiln_why = self.probe_kiln()
        if not self.kiln_ok:
            del self.all["kiln"]

    def log_path(self, *parts):
        return os.path.join(self.logs, "launcher-%s.log" % "-".join(str(p) for p in parts))

    def probe_kiln(self):
        """Can this kiln compile as a launcher? One compile in a scratch git repository."""
        d = os.path.join(self.root, "probe")
        fresh_dir(d)
        with open(os.path.join(d, "probe.c"), "w") as f:
            f.write("int probe(void) { return 42; }\n")
        git(["init", "-q"], d)
        env = dict(self.env, KILN_CACHE_DIR=os.path.join(d, "cache"))
        try:
            p = subprocess.run([self.kiln.binary, GCC, "-c", "probe.c", "-o", "probe.o"], cwd=d, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
            out, status = p.stdout.strip(), p.returncode
        except (OSError, subprocess.SubprocessError) as e:
            out, status = str(e), -1
        ok = status == 0 and os.path.exists(os.path.join(d, "probe.o"))
        rm(d)
        why = None if ok else "`kiln gcc -c probe.c -o probe.o` exited %s: %s" % (
            status, (out.splitlines() or ["no output"])[0][:200])
        return ok, why

    # -- one timed make ------------------------------------------------------------
    def build(self, p, c, scenario, rnd, cwd, what, edits):
        env = c.env(self.env, p.caches, p.work)
        before = c.before(env)
        logpath = self.log_path(p.name, scenario, rnd, c.name)
        debug = scenario.replace("settle-", "") in DEBUG_SCENARIOS
        run = run_logged(p.make_argv(c, self.cfg.jobs, debug), cwd, env, logpath)
        work = c.after(env, before)
        ok, actual, expected = p.check_program(cwd, edits)
        arts, foreign = p.artifacts(cwd)
        ok = ok and run.status == 0
        if not ok:
            why = ("exit status %s" % run.status) if run.status != 0 else \
                  ("the program printed %r, it should print %r" % (actual[:120], expected[:120]))
            self.b.fail("launcher %s %s round %s, %s: WRONG (%s; log: %s)"
                        % (p.name, scenario, rnd, LABELS[c.name], why, self.nice(logpath)))
        return {"round": rnd, "seconds": round(run.seconds, 4), "cpu_seconds": round(run.cpu_seconds, 4),
                "exit": run.status, "change": what, "work": work, "result": actual[:200], "expected": expected[:200],
                "ok": ok, "artifacts": arts, "foreign_depfiles": foreign, "tree": cwd}

    def prepare(self, p, c, scenario, rnd):
        t = p.tree(c)
        if scenario == "cold":
            p.wipe(t)
            c.forget(p.caches, t)
            return t, "outputs deleted, empty cache", p.edit_state[c.name]
        if scenario in ("clean", "clean-g"):
            p.wipe(t)
            return t, "outputs deleted", p.edit_state[c.name]
        if scenario == "worktree":
            wt = os.path.join(p.work, "wt", "%s-%d" % (c.name, rnd))
            os.makedirs(os.path.dirname(wt), exist_ok=True)
            git(["worktree", "add", "-q", "--detach", wt, "HEAD"], t)
            return wt, "fresh worktree " + os.path.relpath(wt, p.work), 0
        if scenario == "header":
            p.append_header_comment(t, rnd)
            return t, "comment %d appended to %s" % (rnd + 1, p.header), p.edit_state[c.name]
        if scenario == "edit":
            what = p.apply_edit(t, rnd)
            p.edit_state[c.name] = rnd + 1
            return t, what, rnd + 1
        raise ValueError(scenario)

    def settle(self, p, c, label, ref):
        """An untimed, checked build in c's main checkout."""
        r = self.build(p, c, "settle-" + label, 0, p.tree(c), "untimed", p.edit_state[c.name])
        self.compare(p, "settle-" + label, 0, {c.name: r}, ref)
        return r

    def compare(self, p, scenario, rnd, by_tool, ref):
        """Each compiler's outputs against plain gcc's of the same sources (ref), byte
        for byte (depfiles with the checkout's path as <TREE>); kiln's differences fail
        the bench, ccache's are flags."""
        if ref is None:
            return
        for name, r in by_tool.items():
            if name == "plain" or r["exit"] != 0:
                continue
            got = r["artifacts"]
            differ = sorted(k for k in set(ref) | set(got) if ref.get(k) != got.get(k))
            r["same_as_plain"] = not differ
            r["differ"] = differ[:10]
            where = "launcher %s %s round %s, %s" % (p.name, scenario, rnd, LABELS[name])
            msg = None
            if r["foreign_depfiles"]:
                msg = "%d depfile(s) name another checkout of the project (e.g. %s)" % (
                    len(r["foreign_depfiles"]), r["foreign_depfiles"][0])
            elif differ:
                missing = [k for k in differ if got.get(k) is None]
                deps = [k for k in differ if k.endswith(".d")]
                msg = "%d output(s) not byte for byte plain gcc's (%s)%s%s" % (
                    len(differ), ", ".join(differ[:4]) + (", ..." if len(differ) > 4 else ""),
                    "; %d missing" % len(missing) if missing else "",
                    "; all of them depfiles" + (" (base_dir: ccache gives the compiler relative paths, and the "
                                                "depfiles name the headers relative)" if name == "ccache-base" else "")
                    if len(deps) == len(differ) else "")
            if msg and name == "kiln":
                r["ok"] = False
                self.b.fail("%s: WRONG (%s; tree: %s)" % (where, msg, self.nice(r["tree"])))
            elif msg and not scenario.startswith("settle"):
                self.b.notes.append("%s: %s" % (where, msg))

    def check_work(self, p, scenario, runs):
        for name in CACHED.get(scenario, ()):
            for r in runs.get(name, []):
                w = r["work"]
                where = "launcher %s %s round %d, %s" % (p.name, scenario, r["round"], LABELS[name])
                if name.startswith("ccache") and w and w["misses"]:
                    self.b.notes.append("%s: %d cache misses (%d direct hits, %d preprocessed hits)"
                                        % (where, w["misses"], w["direct_hits"], w["preprocessed_hits"]))
                elif name == "kiln":
                    m = kiln_misses(w)
                    if m:
                        self.b.notes.append("%s: kiln's cache stats count %d misses (%s)" % (where, m, did(name, w)))
        if scenario == "worktree":
            for r in runs.get("ccache", []):
                w = r["work"]
                if w and not w["misses"]:
                    self.b.notes.append("launcher %s worktree round %d, ccache without base_dir: no miss (%d direct "
                                        "hits): the build names no path of its checkout"
                                        % (p.name, r["round"], w["direct_hits"]))

    def run_project(self, p):
        t0 = time.perf_counter()
        p.setup()
        log("== launcher/%s: %s" % (p.name, p.describe()))
        log("   (set up in %.1f s)" % (time.perf_counter() - t0))
        res = {"description": p.describe(), "compiles": p.compiles(), "scenarios": {}}
        p.reference = None        # plain gcc's outputs of HEAD's sources (cold, round 0)
        for scenario, names, _, only in SCENARIOS:
            if only and p.name not in only:
                continue
            t0 = time.perf_counter()
            compilers = [self.all[n] for n in names if n in self.all]
            scenario_ref = None
            if scenario == "worktree" and "ccache-base" in self.all:
                # Its own checkout at HEAD, built once into its own empty cache.
                c = self.all["ccache-base"]
                c.forget(p.caches, p.tree(c))
                self.settle(p, c, scenario, p.reference)
            if scenario in DEBUG_SCENARIOS:
                # Every main checkout rebuilt with the scenario's flags (the caches get
                # its results); plain gcc's outputs are the reference.
                for c in [self.all["plain"]] + compilers:
                    p.wipe(p.tree(c))
                    r = self.settle(p, c, scenario, scenario_ref)
                    if c.name == "plain":
                        scenario_ref = r["artifacts"]
            runs = {c.name: [] for c in compilers}
            # Cold builds, the longest: at most BENCH_ROUNDS_FULL rounds, as in the other groups.
            rounds = min(self.rounds, self.cfg.rounds_full) if scenario == "cold" else self.rounds
            for rnd in range(rounds):
                k = rnd % len(compilers)
                for c in compilers[k:] + compilers[:k]:
                    cwd, what, edits = self.prepare(p, c, scenario, rnd)
                    runs[c.name].append(self.build(p, c, scenario, rnd, cwd, what, edits))
                    if scenario == "worktree" and not self.cfg.keep:
                        rm(cwd)
                        git(["worktree", "prune"], p.tree(c))
                this = {n: rs[-1] for n, rs in runs.items()}
                if scenario == "cold" and rnd == 0 and this["plain"]["ok"]:
                    p.reference = this["plain"]["artifacts"]
                ref = this["plain"]["artifacts"] if "plain" in this else (scenario_ref or p.reference)
                self.compare(p, scenario, rnd, this, ref)
            entry = summarize(runs, rounds)
            entry["what"] = WHAT[scenario]
            entry["elapsed_seconds"] = round(time.perf_counter() - t0, 1)
            res["scenarios"][scenario] = entry
            self.check_work(p, scenario, runs)
            log("   %-9s %s%s   [%.0f s]" % (scenario, "  ".join(
                "%s %.3f s" % (LABELS[c.name], entry["tools"][c.name]["median"]) for c in compilers),
                ratio_text(entry) + ("" if entry["ok"] else "   WRONG"), entry["elapsed_seconds"]))
        # The digests served the comparisons; results.json keeps the verdicts.
        for e in res["scenarios"].values():
            for t in e["tools"].values():
                for r in t["runs"]:
                    r.pop("artifacts", None)
                    r["tree"] = os.path.relpath(r["tree"], p.work)
        res["ok"] = all(e["ok"] for e in res["scenarios"].values())
        return res

    # -- hit latency -------------------------------------------------------------
    def run_latency(self):
        """One synth unit's compile, warm caches, BENCH_CALLS_LAUNCHER calls per compiler."""
        t0 = time.perf_counter()
        synth = Synth(10)
        base = os.path.join(self.root, "latency", "src")
        synth.write(base)
        git(["init", "-q"], base)
        git(["add", "-A"], base)
        git(["commit", "-q", "-m", "latency"], base)
        unit = next(i for i in range(synth.units) if synth.uses_header(i))
        src = synth.unit_path(unit)
        compilers = [self.all["plain"], self.all["ccache"]]
        if self.kiln_ok:
            self.masq.install()
            compilers += [self.kiln, self.masq]
        caches = os.path.join(self.root, "latency", "caches")
        trees = {}
        for c in compilers:
            t = os.path.join(self.root, "latency", c.cache_name or c.name)
            if not os.path.exists(t):
                shutil.copytree(base, t, symlinks=True)
            trees[c.name] = t
            if c.cache_name is None:
                c.forget(caches, t)
        # Neither ccache nor kiln trusts a file modified within the last second or so:
        # let the sources age before the cache is warmed.
        time.sleep(2)

        def argv(c):
            inc = os.path.join(trees[c.name], "include")
            return c.words() + [GCC, "-O0", "-Wall", "-I" + inc, "-MMD", "-MP", "-MF", "lat.d", "-c", src,
                                "-o", "lat.o"]

        def call(c):
            t = trees[c.name]
            for f in ("lat.o", "lat.d"):
                rm(os.path.join(t, f))
            env = c.env(self.env, caches, t)
            start = time.perf_counter()
            p = subprocess.Popen(argv(c), cwd=t, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
            err = p.stderr.read()
            _, st, ru = os.wait4(p.pid, 0)
            secs = time.perf_counter() - start
            p.returncode = os.waitstatus_to_exitcode(st)
            p.stderr.close()
            o = os.path.join(t, "lat.o")
            d = os.path.join(t, "lat.d")
            arts = (digest(o) if os.path.exists(o) else None,
                    self.depfile_digest(d, t) if os.path.exists(d) else None)
            return {"seconds": secs, "cpu": ru.ru_utime + ru.ru_stime, "exit": p.returncode,
                    "stderr": err.decode(errors="replace").strip()[:300], "artifacts": arts}

        ref = call(self.all["plain"])
        if ref["exit"] != 0:
            raise SystemExit("bench: launcher latency: plain gcc failed: %s" % ref["stderr"])
        warmup = {}
        for c in compilers[1:]:
            warmup[c.name] = [call(c), call(c)]      # a miss (kiln-masq: maybe a hit), then a hit
        env_cc = self.all["ccache"].env(self.env, caches, trees["ccache"])
        self.all["ccache"].before(env_cc)
        kbefore = self.kiln.before(self.kiln.env(self.env, caches, None)) if self.kiln_ok else None
        n = self.cfg.calls_launcher
        runs = {c.name: [] for c in compilers}
        problems = []
        for i in range(n):
            k = i % len(compilers)
            for c in compilers[k:] + compilers[:k]:
                r = call(c)
                ok = r["exit"] == 0 and r["artifacts"] == ref["artifacts"]
                if not ok and len(problems) < 5:
                    problems.append("%s call %d: exit %s, object %s, depfile %s%s" % (
                        LABELS[c.name], i, r["exit"],
                        "same" if r["artifacts"][0] == ref["artifacts"][0] else "DIFFERENT or missing",
                        "same" if r["artifacts"][1] == ref["artifacts"][1] else "DIFFERENT or missing",
                        (": " + r["stderr"]) if r["stderr"] else ""))
                runs[c.name].append({"seconds": round(r["seconds"], 5), "cpu_seconds": round(r["cpu"], 5),
                                     "exit": r["exit"], "ok": ok})
        res = {"unit": src, "calls": n, "command": " ".join(argv(self.all["plain"])).replace(
            trees["plain"], "<TREE>"), "tools": {}, "problems": problems}
        for c in compilers:
            rs = runs[c.name]
            ms = [r["seconds"] * 1000 for r in rs]
            res["tools"][c.name] = {"median_ms": round(statistics.median(ms), 3), "min_ms": round(min(ms), 3),
                                    "max_ms": round(max(ms), 3),
                                    "cpu_median_ms": round(statistics.median(r["cpu_seconds"] for r in rs) * 1000, 3),
                                    "failures": sum(1 for r in rs if not r["ok"]), "ok": all(r["ok"] for r in rs)}
            if c.name in warmup:
                res["tools"][c.name]["warmup_ms"] = [round(w["seconds"] * 1000, 3) for w in warmup[c.name]]
        res["tools"]["ccache"]["work"] = self.all["ccache"].after(env_cc, None)
        if self.kiln_ok:
            res["tools"]["kiln"]["work"] = self.kiln.after(self.kiln.env(self.env, caches, None), kbefore)
        cc = res["tools"]["ccache"]["median_ms"]
        for name, t in res["tools"].items():
            t["ratio_to_ccache"] = round(t["median_ms"] / cc, 3) if cc > 0 else None
        res["ok"] = all(t["ok"] for t in res["tools"].values())
        w = res["tools"]["ccache"]["work"]
        if w and w["direct_hits"] != len(runs["ccache"]):
            self.b.notes.append("launcher latency: ccache's timed calls were not all direct hits (%s)" % did("ccache", w))
        for name, t in res["tools"].items():
            if not t["ok"]:
                msg = "launcher latency, %s: WRONG (%d of %d calls failed or gave another object or depfile than " \
                      "plain gcc's: %s)" % (LABELS[name], t["failures"], n, "; ".join(
                          x for x in problems if x.startswith(LABELS[name] + " ")) or "see results.json")
                if name.startswith("kiln"):
                    self.b.fail(msg)
                else:
                    self.b.notes.append(msg)
        res["elapsed_seconds"] = round(time.perf_counter() - t0, 1)
        log("== launcher/latency: %s, %d calls each: %s   [%.0f s]" % (src, n, "  ".join(
            "%s %.2f ms" % (LABELS[c.name], res["tools"][c.name]["median_ms"]) for c in compilers),
            res["elapsed_seconds"]))
        return res

    @staticmethod
    def depfile_digest(path, tree):
        with open(path, "rb") as f:
            return hashlib.sha256(f.read().replace(tree.encode() + b"/", b"<TREE>/")).hexdigest()

    # -- concurrent calls ----------------------------------------------------------
    def run_concurrent(self):
        t0 = time.perf_counter()
        n = self.cfg.concurrent_launcher
        root = os.path.join(self.root, "concurrent")
        base = os.path.join(root, "src")
        write_concurrent(base, n)
        git(["init", "-q"], base)
        git(["add", "-A"], base)
        git(["commit", "-q", "-m", "concurrent"], base)
        compilers = [self.all["plain"], self.all["ccache"]] + ([self.kiln] if self.kiln_ok else [])
        caches = os.path.join(root, "caches")
        for c in compilers:
            shutil.copytree(base, os.path.join(root, c.name), symlinks=True)
        time.sleep(1.5)     # the sources older than the caches' "too new" window

        def once(c, phase, rnd):
            t = os.path.join(root, c.name)
            for f in os.listdir(t):
                if f.endswith(".o"):
                    os.remove(os.path.join(t, f))
            if phase == "cold":
                c.forget(caches, t)
            env = c.env(self.env, caches, root)
            before = c.before(env)
            logpath = self.log_path("concurrent", phase, rnd, c.name)
            run = run_logged(["make", "-k", "-j%d" % n, "CC=" + c.cc()], t, env, logpath)
            work = c.after(env, before)
            objs = {}
            for i in range(n):
                p = os.path.join(t, "c%04d.o" % i)
                objs[i] = digest(p) if os.path.exists(p) else None
            failed = set(int(m) for m in re.findall(r"\*\*\* \[[^\]]*?c(\d{4})\.o\] Error", run.output))
            return run, work, objs, failed, logpath

        plain = self.all["plain"]
        rounds = max(1, self.rounds // 2)
        res = {"calls": n, "rounds": rounds, "tools": {}}
        ref = None
        for rnd in range(rounds):
            order = compilers[1:] if rnd % 2 == 0 else compilers[1:][::-1]
            for c, phase in [(plain, "cold")] + [(c, ph) for c in order for ph in ("cold", "warm")]:
                run, work, objs, failed, logpath = once(c, phase, rnd)
                if ref is None:
                    if run.status != 0 or None in objs.values():
                        raise SystemExit("bench: launcher concurrent: plain gcc failed (log: %s)" % logpath)
                    ref = objs
                missing = {i for i, d in objs.items() if d is None}
                wrong = {i for i, d in objs.items() if d is not None and d != ref[i]}
                bad = failed | missing | wrong
                messages = tool_messages(run.output)
                entry = res["tools"].setdefault(c.name, {}).setdefault(phase, {"runs": []})
                entry["runs"].append({"round": rnd, "seconds": round(run.seconds, 4),
                                      "cpu_seconds": round(run.cpu_seconds, 4), "exit": run.status,
                                      "failures": len(bad), "failed_exit": len(failed), "missing": len(missing),
                                      "wrong": len(wrong), "messages": messages, "work": work})
                if bad:
                    msg = ("%d of %d compiles failed (%d non-zero exits, %d objects missing, %d not byte for byte "
                           "gcc's; log: %s)%s" % (len(bad), n, len(failed), len(missing), len(wrong),
                                                  self.nice(logpath),
                                                  (": " + " | ".join(messages[:3])) if messages else ""))
                    where = "launcher concurrent %s round %d, %s" % (phase, rnd, LABELS[c.name])
                    if c.name == "kiln":
                        self.b.fail("%s: WRONG (%s)" % (where, msg))
                    else:
                        self.b.notes.append("%s: %s" % (where, msg))
        for name, phases in res["tools"].items():
            for phase, e in phases.items():
                secs = [r["seconds"] for r in e["runs"]]
                e.update(median=round(statistics.median(secs), 4), min=min(secs), max=max(secs),
                         failures=sum(r["failures"] for r in e["runs"]))
        res["failures"] = {name: sum(e["failures"] for e in phases.values()) for name, phases in res["tools"].items()}
        res["ok"] = not any(res["failures"].values())
        res["elapsed_seconds"] = round(time.perf_counter() - t0, 1)
        log("== launcher/concurrent: %d compiles at once (make -k -j%d): %s   [%.0f s]" % (n, n, "  ".join(
            "%s %s" % (LABELS[name], ", ".join("%s %.2f s (%d failed)" % (ph, e["median"], e["failures"])
                                               for ph, e in phases.items()))
            for name, phases in res["tools"].items()), res["elapsed_seconds"]))
        return res

    # -- the group ---------------------------------------------------------------
    def run(self):
        t0 = time.perf_counter()
        out = {"compilers": {n: LABELS[n] for n in self.all}, "kiln": self.kiln_ok, "kiln_why": self.kiln_why,
               "rounds": self.rounds, "projects": {}, "versions": {
                   "ccache": first_line(["ccache", "--version"]), "gcc": first_line([GCC, "--version"]),
                   "make": first_line(["make", "--version"])}}
        if not self.kiln_ok:
            log("== launcher: kiln not measured: %s" % self.kiln_why)
        projects = [SynthLauncher(self, self.all)]
        source, why = lua_source(self.cfg.out)
        if source:
            projects.append(LuaLauncher(self, self.all, source))
            out["lua_source"] = os.path.basename(source)
        else:
            log("== launcher/lua: skipped: %s" % why)
            out["lua_skipped"] = why
        for p in projects:
            out["projects"][p.name] = self.run_project(p)
        out["latency"] = self.run_latency()
        out["concurrent"] = self.run_concurrent()
        out["ok"] = all(x["ok"] for x in out["projects"].values()) and out["latency"]["ok"] and \
            out["concurrent"]["ok"]
        out["elapsed_seconds"] = round(time.perf_counter() - t0, 1)
        self.b.results["launcher"] = out


def write_concurrent(base, n):
    """n small distinct units, a header they share and a Makefile compiling each."""
    os.makedirs(base)
    with open(os.path.join(base, "conc.h"), "w") as f:
        f.write("#ifndef CONC_H\n#define CONC_H\n#include <stdint.h>\n#include <string.h>\n"
                "#define CONC_BASE 17\n"
                "static inline uint32_t conc_mix(uint32_t x) { x ^= x >> 16; x *= 0x7feb352dU; return x ^ (x >> 15); }\n"
                "#endif\n")
    for i in range(n):
        with open(os.path.join(base, "c%04d.c" % i), "w") as f:
            f.write('#include "conc.h"\n\nint c%04d_value(void) { return CONC_BASE + %d * 7; }\n\n'
                    "int c%04d_loop(int n) {\n    int s = 0;\n    for (int i = 0; i < n; i++) s += (int)conc_mix("
                    "(uint32_t)(i ^ %d));\n    return s;\n}\n" % (i, i, i, i))
    objs = " ".join("c%04d.o" % i for i in range(n))
    with open(os.path.join(base, "Makefile"), "w") as f:
        f.write("# %d units compiled at once (make -k -j%d): the launcher group's concurrency test\n"
                "MAKEFLAGS += -r\n.SUFFIXES:\nCC := gcc\nCFLAGS := -O0 -Wall\nOBJS := %s\n\n.PHONY: all\nall: $(OBJS)\n\n"
                "$(OBJS): %%.o: %%.c conc.h\n\t$(CC) $(CFLAGS) -c $< -o $@\n" % (n, n, objs))
    with open(os.path.join(base, ".gitignore"), "w") as f:
        f.write("*.o\n/.kiln/\n")


MAKE_NOISE = re.compile(r"^(make(\[\d+\])?: |\$ \(cd |gcc |ccache gcc |/\S+ gcc )")


def tool_messages(output):
    """The distinct lines of a log that are neither make's nor an echoed command."""
    seen = []
    for line in output.splitlines():
        line = line.strip()
        if line and not MAKE_NOISE.match(line) and line not in seen:
            seen.append(line[:200])
        if len(seen) >= 5:
            break
    return seen


def summarize(runs, rounds):
    entry = {"rounds": rounds, "tools": {}, "ratio_to_ccache": {}, "ratio_to_plain": {}}
    for name, rs in runs.items():
        secs = [r["seconds"] for r in rs]
        entry["tools"][name] = {"median": round(statistics.median(secs), 4), "min": min(secs), "max": max(secs),
                                "cpu_median": round(statistics.median(r["cpu_seconds"] for r in rs), 4),
                                "ok": all(r["ok"] for r in rs), "runs": rs}
    for ref, key in (("ccache", "ratio_to_ccache"), ("plain", "ratio_to_plain")):
        m = entry["tools"].get(ref, {}).get("median")
        if m:
            for name, t in entry["tools"].items():
                if name != ref:
                    entry[key][name] = round(t["median"] / m, 3)
    entry["ok"] = all(t["ok"] for t in entry["tools"].values())
    return entry


def ratio_text(entry):
    parts = []
    for key, ref in (("ratio_to_plain", "gcc"), ("ratio_to_ccache", "ccache")):
        if "kiln" in entry[key]:
            parts.append("kiln/%s %.2fx" % (ref, entry[key]["kiln"]))
    return ("   " + ", ".join(parts)) if parts else ""


def run(bench, work, nice):
    LauncherBench(bench, work, nice).run()
