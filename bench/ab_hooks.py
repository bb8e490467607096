#!/usr/bin/env python3
"""A/B kiln binaries (and pre-commit) on the hooks group's cold commit, rounds interleaved.

    python3 bench/ab_hooks.py KILN_A [KILN_B ...] [--pre-commit] [--files 300] [--rounds 7]

The repository of bench/hooks.py (the same generated Python files, kiln.yml and
.pre-commit-config.yaml), copied once per tool. Each round, per tool in a rotated order:
untimed, the tool's cache emptied and its hook installed again (kiln: `.git/kiln/`
deleted too), every Python file edited and staged, `os.sync()`; timed, `git commit`.
Prints each tool's median, minimum, the median CPU time of the commit (git, the hook and
all it ran) and the ratio to the first tool. Every commit must succeed.
"""
import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import hooks  # noqa: E402

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("PRE_COMMIT", "GIT_", "KILN_"))}
ENV.update(hooks.GIT_ENV)


def quiet(argv, cwd, env):
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def generate(base, n):
    """bench/hooks.py's repository: returns the Python files' paths."""
    rng = random.Random(hooks.SEED)
    files = []
    for i in range(n):
        rel = "%s/mod_%04d.py" % (rng.choice(hooks.FOLDERS), i)
        files.append(rel)
        os.makedirs(os.path.join(base, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(base, rel), "w") as f:
            f.write(hooks.module_text(rng, i))
    py = hooks.python()
    for name, text in (("kiln.yml", hooks.kiln_yml(py)), (".pre-commit-config.yaml", hooks.pre_commit_config(py)),
                       (".gitignore", "__pycache__/\n/out/\n/.kiln/\n"), ("README.md", "# hooks\n")):
        with open(os.path.join(base, name), "w") as f:
            f.write(text)
    for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "generated"]):
        quiet(argv, base, ENV)
    return sorted(files)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kilns", nargs="+")
    ap.add_argument("--pre-commit", action="store_true")
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    scratch = tempfile.mkdtemp(prefix="kiln-abh.")
    base = os.path.join(scratch, "base")
    files = generate(base, args.files)
    tools = []
    for i, kiln in enumerate(args.kilns):
        binary = os.path.join(scratch, "kiln-%d" % i)  # a private copy, as bench.py does
        shutil.copy(os.path.abspath(kiln), binary)
        tools.append(("%d:%s" % (i, kiln), binary))
    if args.pre_commit:
        tools.append(("pre-commit", None))
    times = {name: [] for name, _ in tools}
    cpus = {name: [] for name, _ in tools}
    for rnd in range(args.rounds):
        for name, binary in tools[rnd % len(tools):] + tools[:rnd % len(tools)]:
            tree = os.path.join(scratch, "tree-" + name.split(":")[0])
            if not os.path.exists(tree):
                shutil.copytree(base, tree, symlinks=True)
            env = dict(ENV, KILN_CACHE_DIR=os.path.join(scratch, "cache-" + name.split(":")[0]),
                       PRE_COMMIT_HOME=os.path.join(scratch, "pc-home"))
            hook = os.path.join(tree, ".git", "hooks", "pre-commit")
            if os.path.exists(hook):
                os.remove(hook)
            if binary is None:
                shutil.rmtree(env["PRE_COMMIT_HOME"], ignore_errors=True)
                quiet(["pre-commit", "install"], tree, env)
            else:
                shutil.rmtree(env["KILN_CACHE_DIR"], ignore_errors=True)
                shutil.rmtree(os.path.join(tree, ".git", "kiln"), ignore_errors=True)
                quiet([binary, "hooks", "install"], tree, env)
            for rel in files:
                path = os.path.join(tree, rel)
                with open(path) as f:
                    text = f.read()
                with open(path, "w") as f:
                    f.write(hooks.edited(text, "cold %d" % rnd))
            quiet(["git", "add", "-A"], tree, env)
            os.sync()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            p = subprocess.run(["git", "commit", "-q", "-m", "cold %d" % rnd], cwd=tree, env=env, capture_output=True)
            seconds = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if p.returncode != 0:
                sys.exit("ab_hooks: %s's commit failed (%s): %s" % (name, p.returncode, p.stderr.decode()[-400:]))
            times[name].append(seconds)
            cpus[name].append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    ref = statistics.median(times[tools[0][0]])
    print("hooks, cold commit of %d files, %d rounds" % (args.files, args.rounds))
    print("| tool | median | min | CPU median | /first |")
    print("|---|---:|---:|---:|---:|")
    for name, _ in tools:
        m = statistics.median(times[name])
        print("| %s | %.3f s | %.3f s | %.3f s | %.2fx |" % (name, m, min(times[name]), statistics.median(cpus[name]),
                                                          m / ref))
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
