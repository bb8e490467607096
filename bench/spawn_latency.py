#!/usr/bin/env python3
"""How long starting a command holds the thread that starts it, kiln against ninja.

    python3 bench/spawn_latency.py KILN [--tasks 1000] [--rounds 3] [--jobs 2]

glibc's posix_spawn clones with CLONE_VFORK: the thread that calls it sleeps until the
child has begun its new program. On the trivial project (bench/gen_trivial.py, a cold
build: no outputs, no .kiln/, an empty cache; ninja: no .ninja_log) this records, with
`perf record` on scheduler and system-call tracepoints (needs perf and root), per
command:

  parent blocked   from the clone3 (posix_spawn) or clone (kiln's start that does not
                   wait) call to its return in the spawning thread;
  child waits      from the child's creation (sched_wakeup_new) to its first run;
  child to exec    from that first run to the end of its execve (sched_process_exec).

With posix_spawn the parent's blocked time is more than the child's two: once the
child has begun its program, the parent must be scheduled again, and it often waits
behind that child on the same core. kiln's own start returns at once. Prints the median, 90th percentile and total of each, per round and
tool. Nothing is timed against a threshold; it says where a spawn's time goes (docs/
benchmarks.md, issue 16's fifteenth round).
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
sys.path.insert(0, HERE)
from gen_trivial import Trivial  # noqa: E402

EVENTS = ["sched:sched_wakeup_new", "sched:sched_switch", "sched:sched_process_exec",
          "syscalls:sys_enter_clone3", "syscalls:sys_exit_clone3", "syscalls:sys_enter_clone", "syscalls:sys_exit_clone"]
LINE = re.compile(r"\s*(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)")


def measure(trace):
    """Per command, in microseconds: (parent blocked, child waits, child to exec)."""
    created, first_run, execed, entered, returned = {}, {}, {}, {}, {}
    for line in trace.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        tid, _, t, event, rest = m.groups()
        t = float(t)
        if event == "sched:sched_wakeup_new":
            created[int(re.search(r"pid=(\d+)", rest).group(1))] = t
        elif event == "sched:sched_switch":
            pid = int(re.search(r"next_pid=(\d+)", rest).group(1))
            if pid in created and pid not in first_run:
                first_run[pid] = t
        elif event == "sched:sched_process_exec":
            execed.setdefault(int(tid), t)
        elif event in ("syscalls:sys_enter_clone3", "syscalls:sys_enter_clone"):
            entered[tid] = t
        elif event in ("syscalls:sys_exit_clone3", "syscalls:sys_exit_clone"):
            r = re.search(r"0x([0-9a-f]+)", rest)
            child = int(r.group(1), 16) if r else 0
            if child and tid in entered:
                returned[child] = t - entered.pop(tid)
    us = 1e6
    blocked = [d * us for d in returned.values()]
    waits = [(first_run[p] - created[p]) * us for p in created if p in first_run]
    to_exec = [(execed[p] - first_run[p]) * us for p in first_run if p in execed and execed[p] >= first_run[p]]
    return blocked, waits, to_exec


def summary(values):
    if not values:
        return "none"
    v = sorted(values)
    return "median %4.0f us  p90 %5.0f us  total %6.1f ms  (n %d)" % (
        statistics.median(v), v[int(len(v) * 0.9)], sum(v) / 1000, len(v))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kiln")
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    if shutil.which("perf") is None:
        sys.exit("spawn_latency: needs perf (apt-get install -y linux-perf)")
    scratch = tempfile.mkdtemp(prefix="kiln-spawn-")
    try:
        base = os.path.join(scratch, "src")
        Trivial(args.tasks).write(base)
        tools = {"kiln": [os.path.abspath(args.kiln), "build", "-j", str(args.jobs)],
                 "ninja": ["ninja", "-j", str(args.jobs)]}
        for rnd in range(args.rounds):
            for name, argv in tools.items():
                tree = os.path.join(scratch, name)
                shutil.rmtree(tree, ignore_errors=True)
                shutil.rmtree(tree + "-cache", ignore_errors=True)
                shutil.copytree(base, tree, symlinks=True)
                env = dict(os.environ, KILN_CACHE_DIR=tree + "-cache", HOME=os.path.join(scratch, "home"))
                data = os.path.join(scratch, "perf.data")
                record = ["perf", "record", "-q", "-o", data] + [x for e in EVENTS for x in ("-e", e)] + ["--"] + argv
                p = subprocess.run(record, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                if p.returncode != 0:
                    sys.exit("spawn_latency: %s failed: %s" % (name, p.stderr.decode()[-400:]))
                ok, msg = Trivial(args.tasks).check(tree)
                if not ok:
                    sys.exit("spawn_latency: %s built wrong outputs: %s" % (name, msg))
                trace = subprocess.run(["perf", "script", "-i", data, "-F", "tid,cpu,time,event,trace"],
                                       capture_output=True, text=True).stdout
                blocked, waits, to_exec = measure(trace)
                print("round %d %-5s parent blocked: %s" % (rnd, name, summary(blocked)))
                print("              child waits:    %s" % summary(waits))
                print("              child to exec:  %s" % summary(to_exec))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
