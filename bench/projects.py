"""The projects the bench builds, one tree per tool, and their scenarios: what each
scenario changes before a timed build, and how each build's result is checked.

    synth        the generated C project (bench/gen_synth.py), BENCH_UNITS units:
                 cold, null, touch, clean, worktree, edit, header
    synth-big    the same generator at BENCH_UNITS_BIG units: one cold build (setup,
                 timed once), then null builds
    synth-small  the same at BENCH_UNITS_SMALL units (a project of Lua's size): the
                 same two scenarios
    trivial      BENCH_TRIVIAL `cp` tasks (bench/gen_trivial.py): cold
    trivial-big  BENCH_TRIVIAL_BIG `cp` tasks: one cold build (setup), then null
                 builds (with each tool's peak RSS)
    demo         fixtures/demo (kiln and ninja only: bench/demo.ninja)
"""
import hashlib
import os
import random
import shutil
import subprocess

from gen_synth import HEADER, Synth
from gen_trivial import Trivial
from runner import quiet, rm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# What each scenario does, for the tables and results.json.
SCENARIO_TEXT = {
    "cold": "no outputs; kiln: no .kiln/ and an empty cache; ninja: no .ninja_log/.ninja_deps; "
            "ninja+ccache: also an empty CCACHE_DIR",
    "null": "nothing changed since the last build (after two untimed settling builds per tool)",
    "touch": "one .c file's mtime bumped, content unchanged (another file each round)",
    "edit": "one .c file's content changed to a value never built before (another file each round)",
    "header": "include/util.h (included by about a third of the units) changed to a value never built before",
    "clean": "every output deleted; tool state and caches kept",
    "worktree": "`git worktree add` of HEAD in a fresh folder (untimed), then build there; caches shared",
}

GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost",
           "GIT_AUTHOR_DATE": "2024-06-11T00:00:00Z", "GIT_COMMITTER_DATE": "2024-06-11T00:00:00Z"}


def digest(path):
    """The SHA-256 of a file, read 1 MiB at a time (the builds' outputs compared)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def git(args, cwd):
    return quiet(["git", "-c", "core.hooksPath=/dev/null", "-c", "init.defaultBranch=main"] + args,
                 cwd=cwd, env=dict(os.environ, **GIT_ENV))


class Project:
    """A source tree copied once per tool (PROJECT/kiln/, PROJECT/ninja/, ...)."""

    name = ""
    outputs = ()        # what `rm -rf` removes for cold and clean

    def __init__(self, work, tools, cfg):
        self.work = os.path.join(work, self.name)
        self.tools = tools
        self.cfg = cfg
        self.kiln_cache = os.path.join(self.work, "caches", "kiln")
        self.ccache_dir = os.path.join(self.work, "caches", "ccache")

    def tree(self, tool):
        """Where the tool builds."""
        return os.path.join(self.work, tool.name)

    def source(self, tool):
        """The tool's copy of the sources (its git checkout, where there is one): the
        folder it builds in, except for an out-of-tree build (the cmake group)."""
        return self.tree(tool)

    # Scenarios in which everything the build needs is in the cache (a flag when kiln
    # runs anything, or ccache misses).
    cached_scenarios = ("clean", "worktree")

    def what(self, scenario):
        """The scenario's one-line description (results.json, the report)."""
        return SCENARIO_TEXT.get(scenario, "")

    def scenarios(self):
        """[(scenario, rounds)] in the order they run."""
        raise NotImplementedError

    def before_scenario(self, scenario, settle):
        """Untimed, once before a scenario's rounds; settle(tool, cwd) builds once and
        checks the result. Null builds follow two settling builds per tool: a file
        written moments before a build is hashed again by the next one (kiln's stat
        cache trusts no mtime that close to the hashing), so one may not be enough."""
        if scenario == "null":
            for _ in range(2):
                for tool in self.tools:
                    settle(tool, self.tree(tool))
        # One untimed round of the edit scenarios first, each tool in turn. The rounds
        # rotate the tools starting with the first (kiln): without it, kiln's first edit
        # was always the first build after the scenario before, and paid for what that
        # scenario did to the page cache. On this machine DAMON pages out file pages left
        # untouched for a minute, so the first build after the minute-long worktree
        # rounds read its executable, its state and the compilers back from the disk:
        # kiln's round 0 took 0.41 s and 0.40 s in two runs (0.15-0.25 s the others),
        # 48 ms of it before its snapshot question started. A round-0 number measured
        # the order of the tools, not the tools.
        if scenario in ("edit", "header"):
            for tool in self.tools:
                cwd, _ = self.change(tool, scenario, WARMUP_ROUND)
                settle(tool, cwd)

    def prepare(self, tool, scenario, rnd):
        """Untimed setup before one timed build: returns (folder to build in, what
        changed)."""
        t = self.tree(tool)
        if scenario == "cold":
            self.wipe(t)
            tool.forget(t, self)
            return t, "outputs, state and cache deleted"
        if scenario == "clean":
            self.wipe(t)
            return t, "outputs deleted"
        if scenario == "null":
            return t, ""
        return self.change(tool, scenario, rnd)

    def change(self, tool, scenario, rnd):
        raise NotImplementedError(scenario)

    def after(self, tool, scenario, rnd, cwd):
        """Untimed, after the build and its check."""

    def wipe(self, tree):
        for o in self.outputs:
            rm(os.path.join(tree, o))

    def check(self, tool, cwd):
        """(ok, what the build gave, what a clean build gives)."""
        raise NotImplementedError


# The round number of the untimed edit before the timed ones (`before_scenario`): past
# every timed round, so its edit is one no round makes.
WARMUP_ROUND = 99


def run_program(argv, cwd):
    try:
        p = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return "(cannot run %s: %s)" % (argv[0], e)
    if p.returncode != 0:
        return "(%s exited %d: %s)" % (argv[0], p.returncode, p.stdout.strip()[:200])
    return p.stdout.strip()


class SynthProject(Project):
    name = "synth"
    outputs = ("build", "bin", "gen")
    program = "./bin/synth"     # relative to the folder built in

    def __init__(self, work, tools, cfg, units=None):
        super().__init__(work, tools, cfg)
        self.units = units or cfg.units

    def scenarios(self):
        r, rf = self.cfg.rounds, self.cfg.rounds_full
        # clean and worktree before edit and header: the main checkouts are still at
        # HEAD, so the worktree scenario's settling build in them has nothing to do.
        # Twice the rounds for edit: a build of about 0.2 s whose rounds spread from 0.15
        # to 0.3 s for every tool on this machine; the header's 2 s builds spread less.
        return [("cold", rf), ("null", r), ("touch", r), ("clean", rf), ("worktree", rf), ("edit", 2 * r),
                ("header", r)]

    def setup(self):
        self.synth = Synth(self.units)
        base = os.path.join(self.work, "src")
        self.synth.write(base)
        if any(s == "worktree" for s, _ in self.scenarios()):
            git(["init", "-q"], base)
            git(["add", "-A"], base)
            git(["commit", "-q", "-m", "synthetic project"], base)
        for t in self.tools:
            shutil.copytree(base, self.source(t), symlinks=True)
        rng = random.Random(42)
        n = self.cfg.rounds
        picks = rng.sample(range(self.units), min(self.units, 2 * n))
        self.touch_units = picks[0::2]
        self.edit_units = picks[1::2]
        # The sources of each tree: {unit: UNIT_VALUE} after the edits so far, and
        # SYN_UTIL_BIAS.
        self.values = {t.name: {} for t in self.tools}
        self.bias = {t.name: 0 for t in self.tools}

    def describe(self):
        s = self.synth
        return ("%s units in src/pNN/dNNN/ (%d folders, 25 units each, 4 per parent), 43 headers in include/ "
                "(common.h everywhere, module headers including their parent, util.h in %d units), "
                "%d templates rendered by a sed script into gen/*.c -> build/libsynth.a -> bin/synth"
                % ("{:,}".format(s.units), (s.units + 24) // 25, s.header_users(), s.templates))

    def change(self, tool, scenario, rnd):
        t, src = self.tree(tool), self.source(tool)
        if scenario == "touch":
            rel = self.synth.unit_path(self.touch_units[rnd % len(self.touch_units)])
            os.utime(os.path.join(src, rel))
            return t, "touch " + rel
        if scenario == "edit":
            i = self.edit_units[rnd % len(self.edit_units)]
            rel = self.synth.unit_path(i)
            new = self.synth.unit_c[i] + 1_000_000 * (rnd + 1)   # never built before
            path = os.path.join(src, rel)
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(Synth.with_value(text, new))
            self.values[tool.name][i] = new
            return t, "edit " + rel
        if scenario == "header":
            self.bias[tool.name] = 1000 * (rnd + 1)                # never built before
            with open(os.path.join(src, HEADER), "w") as f:
                f.write(Synth.util_h(self.bias[tool.name]))
            return t, "edit %s (SYN_UTIL_BIAS %d)" % (HEADER, self.bias[tool.name])
        if scenario == "worktree":
            wt = os.path.join(self.work, "wt", "%s-%d" % (tool.name, rnd))
            os.makedirs(os.path.dirname(wt), exist_ok=True)
            git(["worktree", "add", "-q", "--detach", wt, "HEAD"], src)
            return wt, "fresh worktree " + os.path.relpath(wt, self.work)
        raise ValueError(scenario)

    def before_scenario(self, scenario, settle):
        super().before_scenario(scenario, settle)
        if scenario == "worktree":
            # At HEAD (the worktrees' sources), built once in the main checkout.
            for tool in self.tools:
                git(["reset", "-q", "--hard", "HEAD"], self.source(tool))
                self.values[tool.name], self.bias[tool.name] = {}, 0
                settle(tool, self.tree(tool))

    def after(self, tool, scenario, rnd, cwd):
        if scenario == "worktree" and not self.cfg.keep:
            rm(cwd)
            git(["worktree", "prune"], self.source(tool))

    def expected(self, tool, cwd):
        if cwd != self.tree(tool):       # a worktree: HEAD's sources
            return str(self.synth.checksum())
        return str(self.synth.checksum(self.values[tool.name], self.bias[tool.name]))

    def check(self, tool, cwd):
        expected = self.expected(tool, cwd)
        actual = run_program([self.program], cwd)
        return actual == expected, actual, expected


class SynthBigProject(SynthProject):
    """The null build of a bigger C project; its cold build is the setup."""
    name = "synth-big"

    def __init__(self, work, tools, cfg):
        super().__init__(work, tools, cfg, units=cfg.units_big)

    def scenarios(self):
        return [("cold", 1), ("null", self.cfg.rounds)]


class SynthSmallProject(SynthBigProject):
    """The cold and null builds of a small C project (Lua has 35 units), where a tool's
    start-up is most of a null build and its fixed costs weigh on a cold one; the cold
    build runs as many rounds as synth's (it takes well under a second: one round was
    one sample of a 50 ms difference)."""
    name = "synth-small"

    def __init__(self, work, tools, cfg):
        SynthProject.__init__(self, work, tools, cfg, units=cfg.units_small)

    def scenarios(self):
        return [("cold", self.cfg.rounds_full), ("null", self.cfg.rounds)]


class TrivialProject(Project):
    name = "trivial"
    outputs = ("out",)

    def __init__(self, work, tools, cfg, tasks=None):
        super().__init__(work, tools, cfg)
        self.tasks = tasks or cfg.trivial

    def scenarios(self):
        return [("cold", self.cfg.rounds_full)]

    def setup(self):
        self.trivial = Trivial(self.tasks)
        base = os.path.join(self.work, "src")
        self.trivial.write(base)
        for t in self.tools:
            shutil.copytree(base, self.tree(t), symlinks=True)

    def describe(self):
        return ("{:,} `cp` tasks: src/dNNN/fNNNNN.txt (100 per folder) -> out/src/dNNN/fNNNNN.txt; "
                "kiln: one foreach task; ninja: one edge each; make: a static pattern rule per folder"
                .format(self.tasks))

    def check(self, tool, cwd):
        ok, msg = self.trivial.check(cwd)
        return ok, msg, "%d copies" % self.tasks


class TrivialBigProject(TrivialProject):
    name = "trivial-big"

    def __init__(self, work, tools, cfg):
        super().__init__(work, tools, cfg, tasks=cfg.trivial_big)

    def scenarios(self):
        return [("cold", 1), ("null", self.cfg.rounds)]


class DemoProject(Project):
    name = "demo"
    outputs = ("build", "gen", "bin")
    program = ("./bin/demo", "--checksum")
    touch_rel = "src/lib/report.c"
    edit_rel = "src/lib/geometry.c"

    def scenarios(self):
        r, rf = self.cfg.rounds, self.cfg.rounds_full
        return [("cold", rf), ("null", r), ("touch", r), ("edit", r), ("clean", rf)]

    def setup(self):
        src = os.path.join(ROOT, "fixtures", "demo")
        ignore = shutil.ignore_patterns("build", "gen", "bin", ".kiln", ".ninja_*")
        self.ref_dir = os.path.join(self.work, "ref")
        for d in [self.tree(t) for t in self.tools] + [self.ref_dir]:
            shutil.copytree(src, d, symlinks=True, ignore=ignore)
            shutil.copy(os.path.join(HERE, "demo.ninja"), os.path.join(d, "build.ninja"))
        with open(os.path.join(src, self.edit_rel)) as f:
            self.edit_orig = f.read()
        self.ref_cache = {}
        self.current_edit = {t.name: None for t in self.tools}

    def describe(self):
        return ("fixtures/demo: 4 templates rendered to C, 8 library objects + main, "
                "libdemo.a, bin/demo, a cached self-test (bench/demo.ninja for ninja)")

    def edit_text(self, rnd):
        return self.edit_orig + "\nint bench_edit_%d(void) { return %d; }\n" % (rnd, 1000 + rnd)

    def change(self, tool, scenario, rnd):
        t = self.tree(tool)
        if scenario == "touch":
            os.utime(os.path.join(t, self.touch_rel))
            return t, "touch " + self.touch_rel
        if scenario == "edit":
            with open(os.path.join(t, self.edit_rel), "w") as f:
                f.write(self.edit_text(rnd))
            self.current_edit[tool.name] = rnd
            return t, "edit " + self.edit_rel
        raise ValueError(scenario)

    def expected(self, rnd):
        """The checksum a clean ninja build of these sources prints."""
        if rnd not in self.ref_cache:
            text = self.edit_orig if rnd is None else self.edit_text(rnd)
            with open(os.path.join(self.ref_dir, self.edit_rel), "w") as f:
                f.write(text)
            for o in self.outputs + (".ninja_log", ".ninja_deps"):
                rm(os.path.join(self.ref_dir, o))
            quiet(["ninja", "-j%d" % self.cfg.jobs], cwd=self.ref_dir)
            self.ref_cache[rnd] = run_program(list(self.program), self.ref_dir)
        return self.ref_cache[rnd]

    def check(self, tool, cwd):
        expected = self.expected(self.current_edit[tool.name])
        actual = run_program(list(self.program), cwd)
        return actual == expected, actual, expected
