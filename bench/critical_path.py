#!/usr/bin/env python3
"""kiln's own time on an edit build's critical path, for binaries side by side.

    python3 bench/critical_path.py KILN_A [KILN_B ...] [--rounds 11] [--units 400] [--as-bench] [--ninja]

Each round appends a line to one .c file of the generated project (bench/gen_synth.py)
and builds it under `perf record` of the scheduler's exec and exit events only (no
sampling: the build runs at full speed). kiln's own time is the process's wall time
less the time some build command was alive; it is split into the time to the first
command, after the last one, and between commands (deciding the next one, collecting
the last). Rounds alternate the binaries' order; medians printed. Needs perf; each
binary gets its own copy of the project and its own cache under a scratch folder.

--as-bench: as `make bench`'s edit rounds find the tree: the outputs deleted and
restored from the cache after the first build (a restore writes no depfiles), and each
round edits a unit no round edited before. --ninja: ninja on its own copy beside them
(its own time measured the same way).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def events(data):
    out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,pid,tid,time,event"],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = re.match(r'\s*(\S.*?)\s+(\d+)/(\d+)\s+([\d.]+):\s+(\S+):', line)
        if m:
            yield float(m.group(4)), m.group(5), int(m.group(2)), int(m.group(3))


def measure(command, cwd, env, scratch):
    data = os.path.join(scratch, "sched.data")
    subprocess.run(["perf", "record", "-q", "-e", "sched:sched_process_exec", "-e", "sched:sched_process_exit",
                    "-o", data] + command, cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ev = list(events(data))
    start, _, kiln_pid, _ = ev[0]
    end = max(t for t, _, pid, _ in ev if pid == kiln_pid)
    alive = {}
    for t, kind, pid, tid in ev:
        if pid == kiln_pid:
            continue
        if kind.endswith("exec") and pid not in alive:
            alive[pid] = [t, None]
        if kind.endswith("exit") and pid in alive and pid == tid:
            alive[pid][1] = t
    spans = sorted((a, z) for a, z in alive.values() if z)
    busy, current = 0.0, None
    for a, z in spans:
        if current and a <= current[1]:
            current[1] = max(current[1], z)
        else:
            if current:
                busy += current[1] - current[0]
            current = [a, z]
    if current:
        busy += current[1] - current[0]
    own = end - start - busy
    first = spans[0][0] - start
    last = end - max(z for _, z in spans)
    return [x * 1000 for x in (end - start, own, first, last, own - first - last)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kilns", nargs="+")
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--units", type=int, default=400)
    ap.add_argument("--as-bench", action="store_true")
    ap.add_argument("--ninja", action="store_true")
    args = ap.parse_args()
    scratch = tempfile.mkdtemp(prefix="kiln-critical-")
    try:
        project = os.path.join(scratch, "project")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_synth.py"), "--units", str(args.units), project],
                       check=True, stdout=subprocess.DEVNULL)
        sides = []
        for k, kiln in enumerate(args.kilns):
            cwd = os.path.join(scratch, "p%d" % k)
            shutil.copytree(project, cwd)
            env = {n: v for n, v in os.environ.items() if not n.startswith("KILN_")}
            env.update(KILN_CACHE_DIR=os.path.join(scratch, "cache%d" % k), HOME=os.path.join(scratch, "home%d" % k))
            subprocess.run([kiln, "build", "-j2"], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
            if args.as_bench:
                for out in ("build", "bin"):
                    shutil.rmtree(os.path.join(cwd, out), ignore_errors=True)
                subprocess.run([kiln, "build", "-j2"], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
            sides.append((kiln, [kiln, "build", "-j2"], cwd, env))
        if args.ninja:
            cwd = os.path.join(scratch, "ninja")
            shutil.copytree(project, cwd)
            subprocess.run(["ninja", "-j2"], cwd=cwd, check=True, stdout=subprocess.DEVNULL)
            sides.append(("ninja", ["ninja", "-j2"], cwd, dict(os.environ)))
        units = sorted(os.path.relpath(os.path.join(d, f), project)
                       for d, _, fs in os.walk(os.path.join(project, "src")) for f in fs if f.endswith(".c"))
        figures = {name: [] for name, _, _, _ in sides}
        for r in range(args.rounds):
            edited = units[r * 7 % len(units)] if args.as_bench else units[0]
            for name, command, cwd, env in (sides if r % 2 == 0 else sides[::-1]):
                with open(os.path.join(cwd, edited), "a") as f:
                    f.write("int critical_path_%d;\n" % r)
                figures[name].append(measure(command, cwd, env, scratch))
        for kiln in figures:
            m = [statistics.median(x[i] for x in figures[kiln]) for i in range(5)]
            print("%s: wall %.1f ms, kiln's own %.1f ms (to the first command %.1f, after the last %.1f, "
                  "between %.1f)" % (kiln, *m))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
