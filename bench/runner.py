"""Running one timed command, and the build tools the bench compares (kiln, ninja,
ninja+ccache, make): how each is invoked, what state a cold build deletes, and what
each says it did."""
import collections
import itertools
import os
import re
import shutil
import signal
import subprocess
import threading
import time

TIMEOUT = 900

# start, end: perf_counter readings (Proc.wait)
Run = collections.namedtuple("Run", "seconds cpu_seconds status output start end", defaults=(None, None))


def bench_env():
    """The environment of every command the bench runs: not the caller's kiln or
    ccache settings, nor those of a `make bench` around us; LC_ALL=C."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KILN_", "CCACHE_"))
           and k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GNUMAKEFLAGS")}
    env["LC_ALL"] = "C"
    return env


# Where rm() moves what it removes (bench.py sets it: a folder in the run's scratch
# folder), emptied once the run's timed builds are over (empty_trash). On a file system
# without a journal, ext4 will not reuse an inode freed a few seconds before: every file
# a build creates next to what was just deleted waits for a search past those inodes.
# This machine's / is such a file system, and deleting the outputs just before a cold
# build put that search into the build's time (about a quarter of a 30-unit cold build's
# CPU, and up to a third more wall time in one folder than in another: which tool paid more
# depended on where its tree lay). Moved aside, nothing is freed while builds are timed.
TRASH = None
_trashed = itertools.count(1)


def rm(path):
    if not os.path.lexists(path):
        return
    if TRASH is not None:
        try:
            os.makedirs(TRASH, exist_ok=True)
            os.rename(path, os.path.join(TRASH, str(next(_trashed))))
            return
        except OSError:
            pass   # another file system: deleted at once
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def empty_trash():
    """Deletes what rm() moved aside (after the last timed build)."""
    if TRASH is not None:
        shutil.rmtree(TRASH, ignore_errors=True)


def fresh_dir(path):
    rm(path)
    os.makedirs(path)


def first_line(argv, env=None):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=30, env=env).stdout
        return out.strip().splitlines()[0].strip() if out.strip() else "?"
    except (OSError, subprocess.SubprocessError) as e:
        return "? (%s)" % e


def quiet(argv, cwd=None, env=None):
    """Runs an untimed helper command; raises with its output if it fails."""
    p = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise SystemExit("bench: `%s` (in %s) failed:\n%s" % (" ".join(argv), cwd, p.stdout))
    return p.stdout


def run_logged(argv, cwd, env, logpath):
    """Runs argv with its output in logpath; returns a Run. The wall timer
    (perf_counter: monotonic, sub-ms) covers only the process's lifetime; CPU is user +
    system time of the process and every child it waited for (wait4's rusage). Not
    its ru_maxrss: that counts this Python process too, whose memory the child has
    until it execs (see peak_rss)."""
    return Proc(argv, cwd, env, logpath).wait()


class Proc:
    """A started command, its output in logpath (stdout alone in stdout_path when
    given, stderr still in logpath), reaped by a thread of its own so that several can
    run at once; wait() gives its Run (start and end: perf_counter readings, to time a
    group of commands from the first start to the last end)."""

    def __init__(self, argv, cwd, env, logpath, stdout_path=None):
        self.logpath, self.stdout_path = logpath, stdout_path
        self.done = {}
        with open(logpath, "w") as logf:
            logf.write("$ (cd %s && %s)\n" % (cwd, " ".join(argv)))
            logf.flush()
            outf = open(stdout_path, "w") if stdout_path else logf
            try:
                self.start = time.perf_counter()
                self.p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=outf, stderr=logf,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
            finally:
                if stdout_path:
                    outf.close()
        self.waiter = threading.Thread(target=self._reap, daemon=True)
        self.waiter.start()

    def _reap(self):
        _, st, ru = os.wait4(self.p.pid, 0)
        self.done["end"] = time.perf_counter()
        self.done["status"], self.done["cpu"] = os.waitstatus_to_exitcode(st), ru.ru_utime + ru.ru_stime

    def wait(self, timeout=TIMEOUT):
        try:
            self.waiter.join(max(0, self.start + timeout - time.perf_counter()))
            if self.waiter.is_alive():
                os.killpg(self.p.pid, signal.SIGKILL)
                self.waiter.join()
                self.done["status"] = "timeout"
        except KeyboardInterrupt:
            os.killpg(self.p.pid, signal.SIGINT)
            self.waiter.join()
            raise
        finally:
            self.p.returncode = self.done.get("status", -1)   # reaped here, not by Popen
        with open(self.stdout_path or self.logpath) as f:
            output = f.read()
        return Run(self.done["end"] - self.start, self.done["cpu"], self.done["status"], output,
                   self.start, self.done["end"])


def peak_rss(argv, cwd, env, logpath):
    """(exit status, peak resident set size in KiB) of argv, measured by GNU time
    (`/usr/bin/time -f %M`): its child starts as a copy of that small program, not of
    this Python process. Untimed: time's own fork and wait would add to short runs."""
    rss_file = logpath + ".rss"
    run = run_logged(["/usr/bin/time", "-f", "%M", "-o", rss_file] + argv, cwd, env, logpath)
    try:
        with open(rss_file) as f:
            kib = int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        kib = None
    rm(rss_file)
    return run.status, kib


class Tool:
    """One build tool. Its tree in each project is PROJECT/<name>/."""

    name = ""     # key in results.json
    label = ""    # in the tables

    def argv(self, jobs):
        raise NotImplementedError

    def env(self, base, project):
        return base

    def forget(self, tree, project):
        """Deletes this tool's own state in tree and its cache (a cold build)."""

    def before(self, env):
        """Untimed, just before each build."""

    def work(self, output, env):
        """What the tool says it did: a small dict, or None."""
        return None

    @staticmethod
    def work_str(w):
        return "?" if w is None else "%d ran" % w["ran"]


KILN_SUMMARY = re.compile(r"kiln: (\d+) ran, (\d+) restored, (\d+) up to date.* in (?:(\d+)m)?([\d.]+)(ms|s)\b")


class Kiln(Tool):
    name = label = "kiln"

    def __init__(self, binary):
        self.binary = binary

    def argv(self, jobs):
        return [self.binary, "build", "-j%d" % jobs]

    def env(self, base, project):
        return dict(base, KILN_CACHE_DIR=project.kiln_cache)

    def forget(self, tree, project):
        rm(os.path.join(tree, ".kiln"))
        fresh_dir(project.kiln_cache)

    def work(self, output, env):
        m = None
        for m in KILN_SUMMARY.finditer(output):
            pass
        if m is None:
            return None
        own = float(m.group(5)) / (1000 if m.group(6) == "ms" else 1) + 60 * int(m.group(4) or 0)
        # own_seconds: the time kiln's summary line reports, for comparison with the
        # process's wall time (start-up, graph, manifest load and save are outside it).
        return {"ran": int(m.group(1)), "restored": int(m.group(2)), "up_to_date": int(m.group(3)),
                "own_seconds": round(own, 3)}

    @staticmethod
    def work_str(w):
        return "?" if w is None else "%d ran, %d restored" % (w["ran"], w["restored"])


NINJA_EDGE = re.compile(r"^\[\d+/\d+\] ", re.M)


class Ninja(Tool):
    name = label = "ninja"
    build_file = None

    def argv(self, jobs):
        return ["ninja"] + (["-f", self.build_file] if self.build_file else []) + ["-j%d" % jobs]

    def forget(self, tree, project):
        rm(os.path.join(tree, ".ninja_log"))
        rm(os.path.join(tree, ".ninja_deps"))

    def work(self, output, env):
        return {"ran": len(NINJA_EDGE.findall(output))}


class NinjaCcache(Ninja):
    """ninja with build-ccache.ninja: every compile is `ccache cc`. CCACHE_DIR is
    private to the project; CCACHE_BASEDIR is the project folder, which holds the
    main trees and the worktrees, so that paths under it are hashed relative."""
    name = "ccache"
    label = "ninja+ccache"
    build_file = "build-ccache.ninja"

    def env(self, base, project):
        return dict(base, CCACHE_DIR=project.ccache_dir, CCACHE_BASEDIR=project.work)

    def forget(self, tree, project):
        super().forget(tree, project)
        fresh_dir(project.ccache_dir)

    def before(self, env):
        quiet(["ccache", "-z"], env=env)

    def work(self, output, env):
        w = super().work(output, env)
        w.update(ccache_stats(env))
        return w

    @staticmethod
    def work_str(w):
        if w is None:
            return "?"
        return "%d ran (ccache: %d hits, %d misses)" % (w["ran"], w["ccache_hits"], w["ccache_misses"])


def ccache_stats(env):
    """ccache's hits and misses since its last `ccache -z` (in env's CCACHE_DIR)."""
    stats = {}
    for line in quiet(["ccache", "--print-stats"], env=env).splitlines():
        k, _, v = line.partition("\t")
        stats[k] = v
    return {"ccache_hits": int(stats.get("direct_cache_hit", 0)) + int(stats.get("preprocessed_cache_hit", 0)),
            "ccache_misses": int(stats.get("cache_miss", 0))}


# The recipes of the generated Makefiles; make echoes each command it runs.
MAKE_RECIPE = re.compile(r"^(?:cc |rm -f |sh tools/|cp )", re.M)


class Make(Tool):
    name = label = "make"

    def argv(self, jobs):
        return ["make", "-j%d" % jobs]

    def work(self, output, env):
        return {"ran": len(MAKE_RECIPE.findall(output))}
