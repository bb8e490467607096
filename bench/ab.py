#!/usr/bin/env python3
"""A/B two kiln binaries on the same generated project, rounds interleaved.

    python3 bench/ab.py OLD_KILN NEW_KILN [--units 400] [--rounds 7] [--jobs 2]

`make bench` sets kiln beside ninja; this sets one kiln beside another, so a change's
cost can be told from the machine's noise (the load on a shared machine moves every
figure of a long run; two binaries measured in alternation see the same load). For
each scenario (cold with an empty cache, null, edit one .c, clean rebuild restored
from the cache) every round runs A then B or B then A, alternating, each in its own
copy of the project with its own cache. Prints the median wall time of each and B/A.
Every build's exit status is checked; the outputs of A and B are compared byte for
byte after the cold build.
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


def run(kiln, cwd, env):
    t0 = time.perf_counter()
    p = subprocess.run([kiln, "build", "-j", str(env["AB_JOBS"])], cwd=cwd, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit("ab: %s in %s failed (%s): %s" % (kiln, cwd, p.returncode, p.stderr.decode()[-400:]))
    return seconds


def tree_bytes(root):
    out = {}
    for folder in ("build", "bin", "gen"):
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in files:
                path = os.path.join(dirpath, name)
                if name.endswith(".d"):
                    continue
                with open(path, "rb") as f:
                    out[os.path.relpath(path, root)] = f.read()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--units", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--scenarios", default="cold,null,edit,clean", help="a comma-separated subset, in this order")
    args = ap.parse_args()
    scratch = tempfile.mkdtemp(prefix="kiln-ab.")
    src = os.path.join(scratch, "src")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_synth.py"), src, "--units", str(args.units)],
                   check=True, stdout=subprocess.DEVNULL)
    sides = {}
    for name, kiln in (("A", os.path.abspath(args.a)), ("B", os.path.abspath(args.b))):
        root = os.path.join(scratch, name)
        shutil.copytree(src, root)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
        env.update(KILN_CACHE_DIR=os.path.join(scratch, "cache-" + name), HOME=os.path.join(scratch, "home-" + name),
                   LC_ALL="C", AB_JOBS=str(args.jobs))
        sides[name] = (kiln, root, env)

    def reset(name, keep_state, keep_cache):
        kiln, root, env = sides[name]
        for folder in ("build", "bin", "gen"):
            shutil.rmtree(os.path.join(root, folder), ignore_errors=True)
        if not keep_state:
            shutil.rmtree(os.path.join(root, ".kiln"), ignore_errors=True)
        if not keep_cache:
            shutil.rmtree(env["KILN_CACHE_DIR"], ignore_errors=True)

    times = {}
    unit = None
    for dirpath, _, files in sorted(os.walk(os.path.join(src, "src"))):
        cs = sorted(f for f in files if f.endswith(".c"))
        if cs:
            unit = os.path.relpath(os.path.join(dirpath, cs[0]), src)
            break
    scenarios = [s for s in ("cold", "null", "edit", "clean") if s in args.scenarios.split(",")]
    for name in ("A", "B"):  # the state and the cache every scenario after cold starts from
        kiln, root, env = sides[name]
        run(kiln, root, env)
    for scenario in scenarios:
        for rnd in range(args.rounds):
            order = ("A", "B") if rnd % 2 == 0 else ("B", "A")
            for name in order:
                kiln, root, env = sides[name]
                if scenario == "cold":
                    reset(name, keep_state=False, keep_cache=False)
                elif scenario == "edit":
                    with open(os.path.join(root, unit), "a") as f:
                        f.write("int ab_edit_%s_%d;\n" % (name, rnd))
                elif scenario == "clean":
                    reset(name, keep_state=True, keep_cache=True)
                times.setdefault((scenario, name), []).append(run(kiln, root, env))
            if scenario == "cold" and rnd == 0 and tree_bytes(sides["A"][1]) != tree_bytes(sides["B"][1]):
                sys.exit("ab: A and B built different outputs")
    print("kiln A/B on synth %d units, %d rounds, -j%d" % (args.units, args.rounds, args.jobs))
    print("  A: %s\n  B: %s" % (sides["A"][0], sides["B"][0]))
    print("| scenario | A median | B median | B/A | A min | B min |")
    print("|---|---:|---:|---:|---:|---:|")
    for scenario in scenarios:
        a, b = times[(scenario, "A")], times[(scenario, "B")]
        print("| %s | %.3f s | %.3f s | %.2fx | %.3f s | %.3f s |" % (
            scenario, statistics.median(a), statistics.median(b), statistics.median(b) / statistics.median(a),
            min(a), min(b)))
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
