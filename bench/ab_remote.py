#!/usr/bin/env python3
"""A/B two kiln binaries on the remote group's restore, rounds interleaved.

    python3 bench/ab_remote.py OLD_KILN NEW_KILN [--units 400] [--rounds 9] [--jobs 2]
                               [--sides nginx,casd,local]

Each binary needs its kiln-remote beside it. The remote group of `make bench`
(bench/remote.py) measures one binary against a warm local cache on a machine whose
load moves every figure; this measures two binaries in alternation on the same servers,
so a change to the restore can be told from the noise. Setup as the group's: the
generated project, nginx (Bazel's HTTP cache) and buildbox-casd (REAPI) started on
127.0.0.1 with fresh state, one CI build uploading to each (with B: the newer binary's
entries, which an older reader must read as well), then one with A (which restores B's
entries and uploads A's own bundle, should its key or layout differ), a warm local cache
per binary (a build of its own). Then each round, for each side (from nginx, from casd,
from the warm local cache) A and B in alternating order, each in a fresh copy at a new
path with an empty local cache (the local side: the warm one). Every restored tree is
compared with the CI build's outputs and kiln's summary must say nothing ran.

Prints, per side and binary, the median wall time, the median CPU time (kiln, its
helper and anything else it waited for) and B/A, each server's median CPU time per
restore (from /proc: the process and its children), and each remote side's ratio to
the same binary's warm local restore (the group's target).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import remote  # noqa: E402  (the group's servers and output comparison)
from runner import bench_env  # noqa: E402


def timed(argv, cwd, env):
    """(wall seconds, CPU seconds of the process and its waited-for children, output)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_utime + usage.ru_stime, p.returncode, out.decode(errors="replace")


def server_cpu(pid):
    """CPU seconds so far of a server process and its children (nginx's worker)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[1] is the parent id; utime and stime are fields 14 and 15 of stat.
        if int(entry) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--units", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--sides", default="nginx,casd,local")
    args = ap.parse_args()
    bins = {"A": os.path.abspath(args.a), "B": os.path.abspath(args.b)}
    for kiln in bins.values():
        if not os.access(os.path.join(os.path.dirname(kiln), "kiln-remote"), os.X_OK):
            sys.exit("ab_remote: no kiln-remote beside %s" % kiln)
    sides = args.sides.split(",")
    work = tempfile.mkdtemp(prefix="kiln-ab-remote.")
    src = os.path.join(work, "src")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_synth.py"), src, "--units", str(args.units)],
                   check=True, stdout=subprocess.DEVNULL)
    servers = []

    def env(cache, **extra):
        e = bench_env()
        e["KILN_CACHE_DIR"] = cache
        e["HOME"] = os.path.join(work, "home")
        e.update(extra)
        return e

    def fresh(name):
        tree = os.path.join(work, name)
        shutil.rmtree(tree, ignore_errors=True)
        shutil.copytree(src, tree, symlinks=True)
        return tree

    def build(kiln, tree, e, label, ran_nothing):
        seconds, cpu, status, out = timed([kiln, "build", "-j", str(args.jobs)], tree, e)
        if status != 0:
            sys.exit("ab_remote: %s failed (%s): %s" % (label, status, out[-600:]))
        if ran_nothing and (" 0 ran" not in out or "remote cache" in out or remote.outputs(tree) != expected):
            sys.exit("ab_remote: %s restored other outputs, ran commands or warned: %s" % (label, out[-600:]))
        return seconds, cpu

    try:
        nginx, nginx_url = remote.start_nginx(work)
        servers.append(nginx)
        casd, casd_url = remote.start_casd(work)
        servers.append(casd)
        urls = {"nginx": nginx_url, "casd": casd_url}
        pids = {"nginx": nginx.p.pid, "casd": casd.p.pid}
        expected = None
        for name, url in urls.items():
            # B's CI build uploads the entries; then A's, in a fresh checkout restoring
            # them, uploads A's own bundle when A's bundle differs (another key or
            # layout), so that each binary reads a bundle it wrote.
            for who in ("B", "A") if bins["A"] != bins["B"] else ("B",):
                tree = fresh("ci-" + name)
                build(bins[who], tree, env(os.path.join(work, "ci-cache-%s-%s" % (name, who)), KILN_REMOTE_CACHE=url,
                                           KILN_REMOTE_WRITE="1"), "ci-%s-%s" % (name, who), False)
                if who == "B":
                    expected = remote.outputs(tree)
                shutil.rmtree(tree)
        for name, kiln in bins.items():
            tree = fresh("warm-" + name)
            build(kiln, tree, env(os.path.join(work, "warm-cache-" + name)), "warm-" + name, False)
            shutil.rmtree(tree)
        wall = {}
        cpu = {}
        scpu = {}
        for rnd in range(args.rounds):
            for side in sides:
                order = ("A", "B") if (rnd + sides.index(side)) % 2 == 0 else ("B", "A")
                for name in order:
                    label = "%s-%s-%d" % (side, name, rnd)
                    tree = fresh("t-" + label)
                    if side == "local":
                        e = env(os.path.join(work, "warm-cache-" + name))
                    else:
                        e = env(os.path.join(work, "empty-" + label), KILN_REMOTE_CACHE=urls[side])
                    before = server_cpu(pids[side]) if side in pids else 0
                    s, c = build(bins[name], tree, e, label, True)
                    if side in pids:
                        scpu.setdefault((side, name), []).append(server_cpu(pids[side]) - before)
                    wall.setdefault((side, name), []).append(s)
                    cpu.setdefault((side, name), []).append(c)
                    shutil.rmtree(tree, ignore_errors=True)
                    shutil.rmtree(os.path.join(work, "empty-" + label), ignore_errors=True)
        med = {k: statistics.median(v) for k, v in wall.items()}
        cmed = {k: statistics.median(v) for k, v in cpu.items()}
        print("kiln restore A/B on synth %d units, %d rounds, -j%d" % (args.units, args.rounds, args.jobs))
        print("  A: %s\n  B: %s" % (bins["A"], bins["B"]))
        print("| side | A wall | B wall | B/A | A CPU | B CPU | B/A CPU | A min | B min |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for side in sides:
            a, b = (side, "A"), (side, "B")
            print("| %s | %.3f s | %.3f s | %.2fx | %.3f s | %.3f s | %.2fx | %.3f s | %.3f s |" % (
                side, med[a], med[b], med[b] / med[a], cmed[a], cmed[b], cmed[b] / cmed[a],
                min(wall[a]), min(wall[b])))
        for side in sides:
            if (side, "A") in scpu:
                print("%s server CPU per restore (median): A %.3f s, B %.3f s" % (
                    side, statistics.median(scpu[(side, "A")]), statistics.median(scpu[(side, "B")])))
        if "local" in sides:
            for side in sides:
                if side != "local":
                    print("%s / warm local: A %.2fx, B %.2fx" % (
                        side, med[(side, "A")] / med[("local", "A")], med[(side, "B")] / med[("local", "B")]))
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
