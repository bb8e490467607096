"""The isolate group of `make bench` (issue 19): what `isolate: true` adds to each task.
N trivial tasks (`cp` of a small file, a foreach over src/*.txt) built cold with the
cache off (`cache: false`, and .kiln/ and the outputs removed before each build), as
they are, with `isolate: true` (each in the build's sandbox server), and with
`isolate: true` under `KILN_SANDBOX=bwrap` (one bubblewrap per task, the way before the
server and its fallback), -j1 so that the difference over N is what one task waits
longer; rounds interleaved, medians. Every output is compared with its source.
"""
import os
import shutil
import statistics

from runner import bench_env, run_logged

TARGET_MS = 5.0   # issue 19: at most 5 ms more per task
TASKS = {"full": 200, "quick": 100}   # BENCH_ISOLATE_TASKS


def log(msg):
    print(msg, flush=True)


def build_file(isolated):
    return ("tasks:\n  copy:\n    foreach: src/*.txt\n    outputs: out/{stem}.txt\n    cache: false\n"
            + ("    isolate: true\n" if isolated else "") + "    run: cp {in} {out}\n")


class IsolateBench:
    def __init__(self, bench, work, nice):
        self.bench, self.cfg, self.nice = bench, bench.cfg, nice
        self.work = os.path.join(work, "isolate")
        self.kiln = bench.kiln
        self.logs = os.path.join(self.cfg.out, "logs", "isolate")
        os.makedirs(self.logs, exist_ok=True)
        self.tasks = int(os.environ.get("BENCH_ISOLATE_TASKS") or TASKS[self.cfg.mode])

    def tree(self, side):
        tree = os.path.join(self.work, side)
        os.makedirs(os.path.join(tree, "src"))
        for i in range(self.tasks):
            with open(os.path.join(tree, "src", "f%04d.txt" % i), "w") as f:
                f.write("file %d\n" % i)
        with open(os.path.join(tree, "kiln.yml"), "w") as f:
            f.write(build_file(side != "plain"))
        return tree

    def check(self, tree):
        for i in range(self.tasks):
            with open(os.path.join(tree, "out", "f%04d.txt" % i)) as f:
                if f.read() != "file %d\n" % i:
                    return False
        return True

    def run(self):
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        log("== isolate: %d cp tasks, cold, cache off, -j1: plain beside isolate: true (sandbox server, and bubblewrap)"
            % self.tasks)
        env = bench_env()
        env["KILN_CACHE_DIR"] = os.path.join(self.work, "cache")
        env["HOME"] = os.path.join(self.work, "home")
        sides = ("plain", "isolated", "bwrap")
        trees = {side: self.tree(side) for side in sides}
        times = {side: [] for side in trees}
        cpu = {side: [] for side in trees}
        ok = True
        for rnd in range(self.cfg.rounds):
            for side in (sides if rnd % 2 == 0 else tuple(reversed(sides))):
                tree = trees[side]
                for leftover in (".kiln", "out"):
                    shutil.rmtree(os.path.join(tree, leftover), ignore_errors=True)
                label = "%s-%d" % (side, rnd)
                side_env = dict(env, KILN_SANDBOX="bwrap") if side == "bwrap" else env
                r = run_logged([self.kiln, "build", "-j1"], tree, side_env, os.path.join(self.logs, label + ".log"))
                good = r.status == 0 and (" %d ran" % self.tasks) in r.output and self.check(tree)
                if not good:
                    ok = False
                    self.bench.failures.append("isolate/%s: exit %s or wrong outputs (%s)"
                                               % (label, r.status, self.nice(os.path.join(self.logs, label + ".log"))))
                times[side].append(r.seconds)
                cpu[side].append(r.cpu_seconds)
        med = {k: statistics.median(v) for k, v in times.items()}
        cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
        res = {"tasks": self.tasks, "rounds": self.cfg.rounds, "median": med, "cpu": cpu_med, "ok": ok,
               "per_task_ms": (med["isolated"] - med["plain"]) / self.tasks * 1000,
               "cpu_per_task_ms": (cpu_med["isolated"] - cpu_med["plain"]) / self.tasks * 1000,
               "bwrap_per_task_ms": (med["bwrap"] - med["plain"]) / self.tasks * 1000,
               "bwrap_cpu_per_task_ms": (cpu_med["bwrap"] - cpu_med["plain"]) / self.tasks * 1000}
        self.bench.results["isolate"] = res
        log("   plain %.3f s, isolated %.3f s: %.2f ms more per task (CPU %.2f ms); one bubblewrap a task %.3f s: "
            "%.2f ms more (CPU %.2f ms)" % (med["plain"], med["isolated"], res["per_task_ms"], res["cpu_per_task_ms"],
                                            med["bwrap"], res["bwrap_per_task_ms"], res["bwrap_cpu_per_task_ms"]))


def run(bench, work, nice):
    IsolateBench(bench, work, nice).run()


# -- the report (bench/report.py calls these) ------------------------------------------

def targets(data):
    r = data.get("isolate")
    if not r:
        return []
    return [{"scenario": "isolate: true (issue 19; %d cp tasks, cold, cache off, -j1): time added per task"
                         % r["tasks"],
             "target": "<= %g ms" % TARGET_MS, "ref": "isolate", "format": "ms",
             "measured": r["per_task_ms"], "met": r["ok"] and r["per_task_ms"] <= TARGET_MS, "ok": r["ok"],
             "detail": "plain %.3f s, isolated %.3f s; CPU %.2f ms more per task%s"
                       % (r["median"]["plain"], r["median"]["isolated"], r["cpu_per_task_ms"],
                          "; one bubblewrap a task (KILN_SANDBOX=bwrap): %.2f ms more" % r["bwrap_per_task_ms"]
                          if "bwrap_per_task_ms" in r else "")}]


def markdown(r):
    m, c = r["median"], r["cpu"]
    return ["### isolate", "",
            "%d `cp` tasks built cold with the cache off, -j1, %d rounds interleaved, medians; isolated: each task "
            "in the build's sandbox server (`isolate: true`); bubblewrap: each task in a `bwrap` of its own "
            "(`KILN_SANDBOX=bwrap`, the fallback)." % (r["tasks"], r["rounds"]), "",
            "| side | wall | CPU | per task | outputs |", "|---|---:|---:|---:|---|"] + [
        "| %s | %.3f s | %.3f s | %.2f ms | %s |" % (label, m[k], c[k], m[k] / r["tasks"] * 1000, "ok" if r["ok"] else "WRONG")
        for k, label in (("plain", "plain"), ("isolated", "isolate: true"), ("bwrap", "isolate: true, bubblewrap"))
        if k in m] + [""]
