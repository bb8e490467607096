#!/usr/bin/env python3
"""A/B kiln binaries (and ninja) on issue 16's two daily paths, rounds interleaved.

    python3 bench/ab_daily.py trivial KILN_A [KILN_B ...] [--ninja] [--tasks 1000] [--rounds 9]
    python3 bench/ab_daily.py worktree KILN_A [KILN_B ...] [--ninja] [--units 400] [--rounds 9]
    python3 bench/ab_daily.py cold KILN_A [KILN_B ...] [--ninja] [--units 30] [--rounds 9]
    python3 bench/ab_daily.py demo KILN_A [KILN_B ...] [--ninja] [--rounds 9]

*trivial*: 1,000 `cp` tasks (bench/gen_trivial.py), cold: no outputs, no .kiln/, an
empty cache (ninja: no .ninja_log). *worktree*: the synth project (bench/gen_synth.py)
committed into git and built once per tool in its main checkout (untimed); each round
`git worktree add --detach` of HEAD at a fresh path (untimed), then the timed build
there, then the worktree removed (untimed). *cold* (issue 16, second round): the synth
project at --units (the bench's synth-small has 30), and *demo*: fixtures/demo (ninja:
bench/demo.ninja), each built cold: no outputs, no .kiln/, an empty cache (ninja: no
.ninja_log, .ninja_deps). As bench/bench.py times them.

Every round runs each tool once, in a rotated order, so a slow moment of the shared
machine hits all of them; prints medians, minimums, user+system CPU medians and each
tool's ratio to the first. Each tool has its own copy and its own cache. A tool named
`KILN:ARG1,ARG2` passes extra arguments to `kiln build` (e.g. `--no-cache`);
`env:NAME=VALUE@KILN` sets a variable. Exit status and outputs are checked.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def timed(argv, cwd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode != 0:
        sys.exit("ab_daily: %s in %s failed (%s): %s" % (argv, cwd, p.returncode, p.stderr.decode()[-400:]))
    return seconds, cpu


class Tool:
    def __init__(self, spec, scratch, index, jobs):
        self.spec = spec
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
        extra_env = {}
        while spec.startswith("env:"):
            assignment, spec = spec[4:].split("@", 1)
            name, value = assignment.split("=", 1)
            extra_env[name] = value
        self.ninja = spec == "ninja"
        args = []
        if ":" in spec and not self.ninja:
            spec, more = spec.split(":", 1)
            args = more.split(",")
        self.name = "%d:%s" % (index, self.spec)
        self.cache = os.path.join(scratch, "cache-%d" % index)
        self.env.update(KILN_CACHE_DIR=self.cache, HOME=os.path.join(scratch, "home-%d" % index), LC_ALL="C")
        self.env.update(extra_env)
        self.cache = self.env["KILN_CACHE_DIR"]
        if self.ninja:
            self.argv = ["ninja", "-j", str(jobs)]
        else:
            # A private copy, as bench.py does: the binary's own page cache state.
            binary = os.path.join(scratch, "kiln-%d" % index)
            shutil.copy(os.path.abspath(spec), binary)
            self.argv = [binary, "build", "-j", str(jobs)] + args


def git(args, cwd):
    subprocess.run(["git"] + args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario", choices=["trivial", "worktree", "cold", "demo"])
    ap.add_argument("tools", nargs="+")
    ap.add_argument("--ninja", action="store_true")
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--units", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    scratch = tempfile.mkdtemp(prefix="kiln-abd.")
    specs = args.tools + (["ninja"] if args.ninja else [])
    tools = [Tool(s, scratch, i, args.jobs) for i, s in enumerate(specs)]
    src = os.path.join(scratch, "src")
    if args.scenario == "trivial":
        subprocess.run([sys.executable, os.path.join(HERE, "gen_trivial.py"), src, "--tasks", str(args.tasks)],
                       check=True, stdout=subprocess.DEVNULL)
    elif args.scenario == "cold":
        subprocess.run([sys.executable, os.path.join(HERE, "gen_synth.py"), src, "--units", str(args.units)],
                       check=True, stdout=subprocess.DEVNULL)
    elif args.scenario == "demo":
        shutil.copytree(os.path.join(os.path.dirname(HERE), "fixtures", "demo"), src, symlinks=True,
                        ignore=shutil.ignore_patterns("build", "gen", "bin", ".kiln", ".ninja_*"))
        shutil.copy(os.path.join(HERE, "demo.ninja"), os.path.join(src, "build.ninja"))
    else:
        subprocess.run([sys.executable, os.path.join(HERE, "gen_synth.py"), src, "--units", str(args.units)],
                       check=True, stdout=subprocess.DEVNULL)
        if not os.path.exists(os.path.join(src, ".gitignore")):
            with open(os.path.join(src, ".gitignore"), "w") as f:
                f.write(".kiln/\nbuild/\nbin/\ngen/\n.ninja_log\n.ninja_deps\n")
        git(["init", "-q"], src)
        git(["add", "-A"], src)
        git(["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "synth"], src)
    for t in tools:
        t.root = os.path.join(scratch, "tree-%s" % t.name.split(":")[0])
        shutil.copytree(src, t.root, symlinks=True)
        if args.scenario == "worktree":
            timed(t.argv, t.root, t.env)  # the main checkout built once: caches warm

    times = {t.name: [] for t in tools}
    cpus = {t.name: [] for t in tools}
    for rnd in range(args.rounds):
        order = tools[rnd % len(tools):] + tools[:rnd % len(tools)]
        for t in order:
            if args.scenario in ("trivial", "cold", "demo"):
                outputs = ("out",) if args.scenario == "trivial" else ("build", "gen", "bin")
                for name in outputs + (".kiln", ".ninja_log", ".ninja_deps"):
                    path = os.path.join(t.root, name)
                    shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else (
                        os.path.exists(path) and os.remove(path))
                shutil.rmtree(t.cache, ignore_errors=True)
                cwd = t.root
            else:
                cwd = os.path.join(scratch, "wt-%s-%d" % (t.name.split(":")[0], rnd))
                git(["worktree", "add", "-q", "--detach", cwd, "HEAD"], t.root)
            s, c = timed(t.argv, cwd, t.env)
            times[t.name].append(s)
            cpus[t.name].append(c)
            if args.scenario == "trivial":
                from gen_trivial import Trivial
                ok, message = Trivial(args.tasks).check(t.root)
                if not ok:
                    sys.exit("ab_daily: %s built a wrong out/: %s" % (t.name, message))
            elif args.scenario in ("cold", "demo"):
                program = [os.path.join(cwd, "bin", "synth")] if args.scenario == "cold" else [
                    os.path.join(cwd, "bin", "demo"), "--checksum"]
                if subprocess.run(program, capture_output=True).returncode != 0:
                    sys.exit("ab_daily: %s's program failed in %s" % (t.name, cwd))
            else:
                out = subprocess.run([os.path.join(cwd, "bin", "synth")], capture_output=True)
                if out.returncode != 0:
                    sys.exit("ab_daily: %s's program failed in %s" % (t.name, cwd))
                if not args.keep:
                    shutil.rmtree(cwd)
                    git(["worktree", "prune"], t.root)
    ref = statistics.median(times[tools[0].name])
    ref_cpu = statistics.median(cpus[tools[0].name])
    print("%s, %d rounds, -j%d" % (args.scenario, args.rounds, args.jobs))
    print("| tool | median | min | CPU median | /first | CPU /first |")
    print("|---|---:|---:|---:|---:|---:|")
    for t in tools:
        m, c = statistics.median(times[t.name]), statistics.median(cpus[t.name])
        print("| %s | %.3f s | %.3f s | %.3f s | %.2fx | %.2fx |" % (
            t.name, m, min(times[t.name]), c, m / ref, c / ref_cpu))
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
