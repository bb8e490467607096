"""The workspaces group (issue 5): 4 workspaces made from one built commit, each built,
against 4 plain `git worktree add` + ninja builds (and the same with ninja+ccache).

The synth project (bench/gen_synth.py) at BENCH_UNITS_WS units, committed into a git
repository, copied once per tool (PROJECT/kiln/, PROJECT/ninja/, PROJECT/ccache/). Setup,
untimed: each main checkout is built once (cold), so kiln's cache (its own
KILN_CACHE_DIR) and ccache's (its own CCACHE_DIR) are warm. Then BENCH_ROUNDS_WS rounds,
rotating the variants (best a multiple of 4, so that each variant runs as often in each
place: creating files soon after many were deleted, here after the previous variant's
removal, costs system time on ext4, and making the 4 checkouts is most of kiln's time):

    kiln             `kiln ws new w1` .. `w4` one after the other (each prints the
                     workspace's path), then `kiln -C PATH build -jN` in the 4 at once
    kiln-seq         the same, the 4 builds one after the other
    ninja            `git worktree add -b wN PROJECT/wt/ninja/wN` x4, then `ninja -jN`
                     in the 4 at once
    ccache           the same with build-ccache.ninja (warm ccache)

Time: wall time from the start of the first `ws new` / `git worktree add` to the end of
the last build. Every workspace's program must print the checksum the generator
predicts for HEAD. After each round (untimed): `kiln ws list --json` is compared with
what was made (a mismatch is a note), then `kiln ws rm --force wN` / `git worktree
remove --force` + `git branch -D wN`, `git worktree prune`, and a sync (so the
next variant does not pay for this one's writeback).
"""
import collections
import json
import os
import shutil
import statistics
import time

from gen_synth import Synth
from projects import SynthProject, git
from runner import Kiln, Ninja, NinjaCcache, Proc, ccache_stats, quiet, rm

SCENARIO = "4 new + build"
NAMES = ("w1", "w2", "w3", "w4")
WHAT = ("4 workspaces (kiln: `kiln ws new wN`; ninja, ninja+ccache: `git worktree add -b wN`) made one after "
        "the other from the built commit, then a build in each, the 4 at once (kiln, sequential: one after the "
        "other); wall time from the first create to the end of the last build; caches warm from one build of the "
        "main checkout")

Variant = collections.namedtuple("Variant", "name label tool concurrent")


class WorkspacesProject(SynthProject):
    name = "workspaces"

    def __init__(self, work, tools, cfg):
        super().__init__(work, tools, cfg, units=cfg.units_ws)
        self.wt_root = os.path.join(self.work, "wt")

    def scenarios(self):
        return [(SCENARIO, self.cfg.rounds_ws)]

    def setup(self):
        self.synth = Synth(self.units)
        base = os.path.join(self.work, "src")
        self.synth.write(base)
        git(["init", "-q"], base)
        git(["add", "-A"], base)
        git(["commit", "-q", "-m", "synthetic project"], base)
        for t in self.tools:
            shutil.copytree(base, self.tree(t), symlinks=True)

    def describe(self):
        return ("the synth project at %s units (%d templates), committed into a git repository; 4 workspaces or "
                "worktrees of its HEAD, each built with -j%d, against the machine's %s cores"
                % ("{:,}".format(self.units), self.synth.templates, self.cfg.jobs, os.cpu_count()))

    def expected(self, tool, cwd):
        """Every workspace and every main checkout is at HEAD: the generated sources."""
        return str(self.synth.checksum())


def variants(tools):
    """kiln (4 builds at once), kiln (one after the other), ninja, ninja+ccache."""
    out = []
    for t in tools:
        out.append(Variant(t.name, t.label, t, True))
        if isinstance(t, Kiln):
            out.append(Variant("kiln-seq", "kiln (sequential)", t, False))
    return out


class WorkspacesBench:
    """The timed rounds of one variant (round), the checks of the tools' own counts
    (check_work); bench.py's Bench.run_workspaces drives them."""

    def __init__(self, bench, project, nice):
        self.b = bench
        self.p = project
        self.cfg = bench.cfg
        self.nice = nice

    def log_path(self, *parts):
        return os.path.join(self.b.logs, "workspaces-" + "-".join(str(x) for x in parts) + ".log")

    # -- one timed round -----------------------------------------------------
    def round(self, v, rnd):
        p, tool = self.p, v.tool
        env = tool.env(self.b.env, p)
        main = p.tree(tool)
        kiln = isinstance(tool, Kiln)
        if isinstance(tool, NinjaCcache):
            quiet(["ccache", "-z"], env=env)
        problems = []
        creates, paths = [], {}
        t0 = time.perf_counter()
        for n in NAMES:
            logpath = self.log_path(rnd, v.name, "new", n)
            if kiln:
                argv, shown = [tool.binary, "ws", "new", n], "kiln ws new " + n
                run = Proc(argv, main, env, logpath, stdout_path=logpath + ".out").wait()
                path = run.output.strip().splitlines()[-1].strip() if run.output.strip() else ""
                rm(logpath + ".out")
                with open(logpath, "a") as f:
                    f.write("(stdout) %s\n" % run.output.strip())
            else:
                path = os.path.join(p.wt_root, tool.name, n)
                argv = ["git", "worktree", "add", "-b", n, path]
                shown = " ".join(argv)
                run = Proc(argv, main, env, logpath).wait()
            creates.append(run)
            if run.status != 0 or not os.path.isabs(path) or not os.path.isdir(path):
                problems.append("`%s` gave exit status %s and path %r (log: %s)"
                                % (shown, run.status, path, self.nice(logpath)))
            else:
                paths[n] = path
        t_created = time.perf_counter()
        if kiln:   # where the contract puts them: <git-common-dir>/kiln/ws/NAME (a note if elsewhere)
            for n, path in paths.items():
                want = os.path.join(main, ".git", "kiln", "ws", n)
                if os.path.realpath(path) != os.path.realpath(want):
                    self.b.notes.append("workspaces round %d, %s: `kiln ws new %s` printed %s, not %s"
                                        % (rnd, v.label, n, path, want))

        def start(n):
            logpath = self.log_path(rnd, v.name, "build", n)
            if kiln:
                return Proc([tool.binary, "-C", paths[n], "build", "-j%d" % self.cfg.jobs], main, env, logpath)
            return Proc(tool.argv(self.cfg.jobs), paths[n], env, logpath)
        names = [n for n in NAMES if n in paths]
        if v.concurrent:
            procs = [(n, start(n)) for n in names]
            builds = [(n, pr.wait()) for n, pr in procs]
        else:
            builds = [(n, start(n).wait()) for n in names]
        t_end = max([r.end for _, r in builds] + [c.end for c in creates])
        seconds = t_end - t0

        # Untimed: what each build did, its result, kiln's list, then removal.
        per_build, total_work = [], None
        for n, r in builds:
            w = Kiln.work(tool, r.output, env) if kiln else Ninja.work(tool, r.output, env)
            ok, actual, expected = p.check(tool, paths[n])
            ok = ok and r.status == 0
            if not ok:
                why = ("exit status %s" % r.status) if r.status != 0 else \
                      ("the build gave %s, HEAD's sources give %s" % (actual, expected))
                problems.append("%s: %s (log: %s)" % (n, why, self.nice(self.log_path(rnd, v.name, "build", n))))
            per_build.append({"name": n, "path": paths[n], "seconds": round(r.seconds, 4),
                              "cpu_seconds": round(r.cpu_seconds, 4), "exit": r.status, "work": w,
                              "result": actual, "ok": ok})
            total_work = add_work(total_work, w)
        if isinstance(tool, NinjaCcache) and total_work is not None:
            total_work.update(ccache_stats(env))
        listed = self.check_list(v, rnd, main, env, paths) if kiln else None
        remove_seconds = self.remove(v, rnd, main, env, paths)
        # The dirty pages this round left (4 checkouts, ninja's objects) are written
        # back now, not during the next variant's timed round.
        os.sync()
        expected = str(p.synth.checksum())
        ok = not problems and len(builds) == len(NAMES)
        if problems:
            self.b.fail("workspaces round %d, %s: WRONG (%s)" % (rnd, v.label, "; ".join(problems)))
        return {"round": rnd, "seconds": round(seconds, 4),
                "cpu_seconds": round(sum(r.cpu_seconds for r in creates) + sum(r.cpu_seconds for _, r in builds), 4),
                "exit": next((r.status for r in creates + [r for _, r in builds] if r.status != 0), 0),
                "change": "%s x4, then %s" % ("kiln ws new" if kiln else "git worktree add",
                                              "4 builds at once" if v.concurrent else "4 builds one after the other"),
                "work": total_work, "result": "%d of %d right" % (sum(b["ok"] for b in per_build), len(NAMES)),
                "expected": expected, "ok": ok,
                "create_seconds": round(t_created - t0, 4), "build_seconds": round(t_end - t_created, 4),
                "create_each": [round(r.seconds, 4) for r in creates],
                "create_cpu_seconds": round(sum(r.cpu_seconds for r in creates), 4), "builds": per_build,
                "remove_seconds": remove_seconds, "ws_list": listed}

    def check_list(self, v, rnd, main, env, paths):
        """`kiln ws list --json` against what was made (notes only); returns what it said."""
        logpath = self.log_path(rnd, v.name, "list")
        r = Proc([v.tool.binary, "ws", "list", "--json"], main, env, logpath,
                 stdout_path=logpath + ".out").wait()
        rm(logpath + ".out")
        with open(logpath, "a") as f:
            f.write("(stdout) %s\n" % r.output.strip())
        where = "workspaces round %d, %s: `kiln ws list --json`" % (rnd, v.label)
        try:
            rows = json.loads(r.output)
        except ValueError:
            self.b.notes.append("%s: exit status %s, not JSON: %r" % (where, r.status, r.output[:200]))
            return None
        got = {}
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict):
                got[row.get("name")] = row
        bad = []
        if sorted(got) != sorted(paths):
            bad.append("names %s, made %s" % (sorted(got), sorted(paths)))
        for n, path in paths.items():
            row = got.get(n)
            if row is None:
                continue
            if os.path.realpath(str(row.get("path"))) != os.path.realpath(path):
                bad.append("%s: path %s, `ws new` printed %s" % (n, row.get("path"), path))
            if row.get("hitRate") != 1:
                bad.append("%s: hitRate %s (every task was in the cache: 1 expected)" % (n, row.get("hitRate")))
            if row.get("changed") not in (0, None):
                bad.append("%s: changed %s (only ignored outputs were written: 0 expected)" % (n, row.get("changed")))
        if bad:
            self.b.notes.append("%s: %s" % (where, "; ".join(bad)))
        return [{k: row.get(k) for k in ("name", "branch", "changed", "hitRate", "state")} for row in got.values()]

    def remove(self, v, rnd, main, env, paths):
        """Removes the round's workspaces / worktrees and their branches (untimed; the
        seconds are kept). Leftovers are notes, cleaned up so the next round can start."""
        tool = v.tool
        kiln = isinstance(tool, Kiln)
        t0 = time.perf_counter()
        for n in NAMES:
            logpath = self.log_path(rnd, v.name, "rm", n)
            if kiln:
                r = Proc([tool.binary, "ws", "rm", "--force", n], main, env, logpath).wait()
            else:
                r = Proc(["git", "worktree", "remove", "--force", os.path.join(self.p.wt_root, tool.name, n)],
                         main, env, logpath).wait()
            if r.status != 0 and n in paths:
                self.b.notes.append("workspaces round %d, %s: removing %s: exit status %s (log: %s)"
                                    % (rnd, v.label, n, r.status, self.nice(logpath)))
        if not kiln and paths:
            quiet(["git", "branch", "-q", "-D"] + [n for n in NAMES if n in paths], cwd=main, env=env)
        seconds = round(time.perf_counter() - t0, 4)
        # Whatever is left: a note, then gone.
        for n, path in paths.items():
            if os.path.exists(path):
                self.b.notes.append("workspaces round %d, %s: %s still exists after removal" % (rnd, v.label, path))
                rm(path)
        quiet(["git", "worktree", "prune"], cwd=main, env=env)
        branches = quiet(["git", "branch", "--list", "--format=%(refname:short)"], cwd=main, env=env).split()
        left = [b for b in branches if b in ["kiln/" + n for n in NAMES] + list(NAMES)]
        if left:
            self.b.notes.append("workspaces round %d, %s: branch(es) %s left after removal"
                                % (rnd, v.label, ", ".join(left)))
            quiet(["git", "branch", "-q", "-D"] + left, cwd=main, env=env)
        if kiln:
            meta = os.path.join(main, ".git", "kiln", "meta")
            leftover = sorted(os.listdir(meta)) if os.path.isdir(meta) else []
            if leftover:
                self.b.notes.append("workspaces round %d, %s: registry entries %s left in .git/kiln/meta"
                                    % (rnd, v.label, ", ".join(leftover)))
                for f in leftover:
                    rm(os.path.join(meta, f))
        return seconds

    def check_work(self, runs):
        for name, rs in runs.items():
            for r in rs:
                w = r["work"]
                where = "workspaces round %d, %s" % (r["round"], name)
                if not r["builds"]:
                    continue      # no workspace was made: already WRONG
                if name.startswith("kiln"):
                    if w is None or w.get("summaries", 0) < len(r["builds"]):
                        self.b.notes.append(where + ": a build printed no kiln summary line")
                    elif w["ran"]:
                        self.b.notes.append("%s: %d tasks ran although everything was in the cache "
                                            "(kiln: %d ran, %d restored, %d up to date over the 4 builds)"
                                            % (where, w["ran"], w["ran"], w["restored"], w["up_to_date"]))
                elif name == "ccache" and w and w.get("ccache_misses"):
                    self.b.notes.append("%s: ninja+ccache missed its cache %d times (%d hits)"
                                        % (where, w["ccache_misses"], w["ccache_hits"]))


def add_work(total, w):
    """The sum of the 4 builds' counts (summaries: how many had one)."""
    if total is None:
        total = {"summaries": 0}
    if w is None:
        return total
    total["summaries"] += 1
    for k, x in w.items():
        if isinstance(x, (int, float)):
            total[k] = round(total.get(k, 0) + x, 3)
    return total


def phases(rs):
    def med(xs):
        return round(statistics.median(xs), 4) if xs else None
    return {"create": med([r["create_seconds"] for r in rs]), "create_cpu": med([r["create_cpu_seconds"] for r in rs]),
            "build": med([r["build_seconds"] for r in rs]),
            "each_build": med([b["seconds"] for r in rs for b in r["builds"]]),
            "each_build_cpu": med([b["cpu_seconds"] for r in rs for b in r["builds"]]),
            "remove": med([r["remove_seconds"] for r in rs])}
