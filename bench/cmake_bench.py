"""The cmake group (issue 14): kiln as CMake's ninja (`kiln ninja`, under the name
`kiln-ninja`) beside ninja and ninja with ccache as CMake's compiler launcher, on the
synth project (bench/gen_synth.py) written as a CMake project (its CMakeLists.txt).

The project, at BENCH_UNITS_CMAKE units, is committed into a git repository and copied
once per tool (PROJECT/kiln/, PROJECT/ninja/, PROJECT/ccache/); each copy is configured
by the real `cmake -G Ninja` into its own build folder, PROJECT/TOOL/build:

    ninja    plain
    ccache   -DCMAKE_C_COMPILER_LAUNCHER=ccache; CCACHE_DIR a fresh folder of the
             bench's, configured as a user sharing a cache across checkouts would
             (`ccache -o base_dir=PROJECT -o hash_dir=false`: PROJECT holds every
             checkout and worktree of the group)
    kiln     -DCMAKE_MAKE_PROGRAM=<a `kiln-ninja` link to the kiln under test>, which
             also builds; KILN_CACHE_DIR a fresh folder of the bench's

Configuring is untimed (it is the same cmake for every tool); every timed command is
the tool alone in the build folder, -jBENCH_JOBS. Flag sets (the CMake cache
variables CMAKE_BUILD_TYPE and SYNTH_PREFIX_MAP of the CMakeLists):

    debug-map  Debug (-g) and -ffile-prefix-map for the source and build folders:
               objects name no absolute path (cold, null, touch, edit, clean, worktree)
    debug      Debug (-g) alone: the debug info names the checkout (worktree-nomap)
    plain      neither (-O0 -Wall only): no path in the objects (worktree-nog)

Every build is checked: the program prints the checksum the generator predicts, and
(compare_rounds) where the flag set keeps paths out of the outputs, kiln's executable
and both libraries are byte for byte ninja's of the same round; where it does not
(debug), kiln's executable must name no other checkout than its own. ccache's are
compared and counted in the flags, not failed: base_dir makes it compile with relative
paths (other debug info than ninja's), and hash_dir = false lets it restore objects
naming another checkout (that is the trade).
"""
import os

from projects import SynthProject, digest, git
from runner import Kiln, Ninja, NinjaCcache, bench_env, quiet, rm, run_logged

FLAVOURS = {  # name: (what, CMake cache variables, objects free of absolute paths)
    "debug-map": ("-g with -ffile-prefix-map for the source and build folders",
                  {"CMAKE_BUILD_TYPE": "Debug", "SYNTH_PREFIX_MAP": "ON"}, True),
    "debug": ("-g, no prefix map (the debug info names the checkout)",
              {"CMAKE_BUILD_TYPE": "Debug", "SYNTH_PREFIX_MAP": "OFF"}, False),
    "plain": ("no -g, no prefix map", {"CMAKE_BUILD_TYPE": "", "SYNTH_PREFIX_MAP": "OFF"}, True),
}
FLAVOUR_OF = {"worktree-nomap": "debug", "worktree-nog": "plain"}   # else debug-map
OUTPUTS = ("synth", "libsynth_units.a", "libsynth_gen.a")   # compared byte for byte

SCENARIO_TEXT = {
    "cold": "fresh build folder configured by cmake (untimed), empty caches; -g with prefix maps",
    "null": "nothing changed since the last build (after two untimed settling builds per tool)",
    "touch": "one .c file's mtime bumped, content unchanged (another file each round)",
    "edit": "one .c file's content changed to a value never built before (another file each round)",
    "clean": "the build folder's objects, libraries, executable and rendered sources deleted; tool state and "
             "caches kept (ccache and kiln should restore)",
    "worktree": "`git worktree add` of HEAD at another path and `cmake` there (untimed), then the build; caches "
                "warm from the main checkout; -g with -ffile-prefix-map",
    "worktree-nomap": "the same with -g and no prefix map: the objects name their checkout (kiln must compile; "
                      "ccache, told hash_dir = false, restores objects naming the first checkout)",
    "worktree-nog": "the same without -g and without prefix maps (no path in the objects)",
}


class CMakeNinja(Ninja):
    """ninja, as `cmake -G Ninja` finds it on PATH."""

    def cmake_args(self, project):
        return []


class CMakeCcache(NinjaCcache):
    """ninja, every compile through ccache (CMAKE_C_COMPILER_LAUNCHER); ccache's settings
    in its own CCACHE_DIR's ccache.conf, as `ccache -o` writes them."""
    build_file = None

    def env(self, base, project):
        return dict(base, CCACHE_DIR=project.ccache_dir)

    def forget(self, tree, project):
        super().forget(tree, project)     # .ninja_log, .ninja_deps; an empty CCACHE_DIR
        # base_dir: paths under it are hashed relative to the build folder, so the same
        # compile in another checkout under it hits; hash_dir = false: with -g the build
        # folder is left out of the hash too (with prefix maps it already is).
        quiet(["ccache", "-o", "base_dir=" + project.work, "-o", "hash_dir=false"],
              env=self.env(bench_env(), project))

    def cmake_args(self, project):
        return ["-DCMAKE_C_COMPILER_LAUNCHER=ccache"]


class CMakeKiln(Kiln):
    """kiln under the name `kiln-ninja` (a symbolic link beside the binary), CMake's
    CMAKE_MAKE_PROGRAM: it is `kiln ninja`."""

    def __init__(self, binary):
        super().__init__(binary)
        self.link = os.path.join(os.path.dirname(binary), "kiln-ninja")

    def install(self):
        rm(self.link)
        os.symlink(os.path.basename(self.binary), self.link)

    def argv(self, jobs):
        return [self.link, "-j%d" % jobs]

    def cmake_args(self, project):
        return ["-DCMAKE_MAKE_PROGRAM=" + self.link]


class CMakeProject(SynthProject):
    name = "cmake"
    program = "./synth"
    cached_scenarios = ("clean", "worktree", "worktree-nog")

    def __init__(self, work, tools, cfg):
        super().__init__(work, tools, cfg, units=cfg.units_cmake)
        self.render = cfg.cmake_render
        self.logs = os.path.join(cfg.out, "logs")
        self.env = bench_env()

    # -- layout ----------------------------------------------------------------
    def source(self, tool):
        return os.path.join(self.work, tool.name)

    def tree(self, tool):
        return os.path.join(self.source(tool), "build")

    def scenarios(self):
        r, rf = self.cfg.rounds, self.cfg.rounds_full
        # The worktree scenarios last: the later two configure the main checkouts with
        # other flags (a full build each, untimed).
        return [("cold", rf), ("null", r), ("touch", r), ("edit", r), ("clean", rf), ("worktree", rf),
                ("worktree-nomap", rf), ("worktree-nog", rf)]

    def what(self, scenario):
        return SCENARIO_TEXT.get(scenario, "")

    def setup(self):
        for t in self.tools:
            if isinstance(t, CMakeKiln):
                t.install()
        super().setup()   # the sources, committed; one copy per tool; the rounds' picks
        self.flavour = {t.name: None for t in self.tools}     # what each main build folder is configured with
        self.current = {t.name: None for t in self.tools}     # (scenario, round) of the build under way
        self.results = {}                                     # (scenario, round) -> tool -> check details
        self.configure_seconds = []

    def describe(self):
        s = self.synth
        render = ("rendered by add_custom_command (sed) into the build folder" if self.render == "build"
                  else "rendered while configuring (execute_process; BENCH_CMAKE_RENDER=configure)")
        return ("the synth project as a CMake project: %s units in two folders' depth, 43 headers, %d templates %s; "
                "static libraries libsynth_units.a (the units) and libsynth_gen.a (the rendered files), the "
                "executable synth; `cmake -G Ninja` (untimed) once per tool: ninja, ninja with "
                "CMAKE_C_COMPILER_LAUNCHER=ccache (base_dir, hash_dir = false), kiln as CMAKE_MAKE_PROGRAM "
                "(a kiln-ninja link)" % ("{:,}".format(s.units), s.templates, render))

    # -- configuring -------------------------------------------------------------
    def configure(self, tool, checkout, flavour, label):
        """`cmake -S checkout -B checkout/build -G Ninja` with the flag set and the tool's
        own variables (untimed; a failure stops the bench, as a failed git does)."""
        variables = dict(FLAVOURS[flavour][1], SYNTH_RENDER_AT_BUILD="ON" if self.render == "build" else "OFF")
        argv = ["cmake", "-S", checkout, "-B", os.path.join(checkout, "build"), "-G", "Ninja"] + \
               ["-D%s=%s" % kv for kv in sorted(variables.items())] + tool.cmake_args(self)
        logpath = os.path.join(self.logs, "cmake-configure-%s-%s.log" % (label, tool.name))
        run = run_logged(argv, checkout, tool.env(self.env, self), logpath)
        if run.status != 0:
            raise SystemExit("bench: cmake failed to configure %s for %s (log: %s)" % (checkout, tool.label, logpath))
        self.configure_seconds.append(run.seconds)
        return run.seconds

    # -- scenarios ---------------------------------------------------------------
    def before_scenario(self, scenario, settle):
        self.current = {t.name: None for t in self.tools}
        if scenario == "null":
            super().before_scenario(scenario, settle)      # two settling builds
        elif scenario.startswith("worktree"):
            # The main checkouts at HEAD (the worktrees' sources) and configured with the
            # scenario's flags, built once: the caches hold HEAD's results.
            flavour = FLAVOUR_OF.get(scenario, "debug-map")
            for tool in self.tools:
                git(["reset", "-q", "--hard", "HEAD"], self.source(tool))
                self.values[tool.name], self.bias[tool.name] = {}, 0
                if self.flavour[tool.name] != flavour:
                    self.configure(tool, self.source(tool), flavour, "settle-%s" % scenario)
                    self.flavour[tool.name] = flavour
                settle(tool, self.tree(tool))

    def prepare(self, tool, scenario, rnd):
        self.current[tool.name] = (scenario, rnd)
        build = self.tree(tool)
        if scenario == "cold":
            rm(build)
            secs = self.configure(tool, self.source(tool), "debug-map", "cold-%d" % rnd)
            self.flavour[tool.name] = "debug-map"
            tool.forget(build, self)     # what configuring left in the caches goes too
            return build, "fresh build folder, configured in %.2f s (untimed); empty caches" % secs
        if scenario == "clean":
            return build, "deleted %d outputs" % self.delete_outputs(build)
        if scenario == "null":
            return build, ""
        if scenario.startswith("worktree"):
            wt = os.path.join(self.work, "wt", "%s-%s-%d" % (tool.name, scenario, rnd))
            os.makedirs(os.path.dirname(wt), exist_ok=True)
            git(["worktree", "add", "-q", "--detach", wt, "HEAD"], self.source(tool))
            secs = self.configure(tool, wt, FLAVOUR_OF.get(scenario, "debug-map"), "%s-%d" % (scenario, rnd))
            return os.path.join(wt, "build"), "fresh worktree %s, configured in %.2f s (untimed)" % (
                os.path.relpath(wt, self.work), secs)
        return self.change(tool, scenario, rnd)      # touch, edit: in the main checkout

    def delete_outputs(self, build):
        """Every object, both libraries, the executable and (rendered at build time) the
        rendered sources; CMake's files, the tools' state and the caches stay."""
        n = 0
        for d, _, files in os.walk(build):
            if os.path.basename(d) == ".kiln":
                continue
            for f in files:
                rel = os.path.relpath(os.path.join(d, f), build)
                if f.endswith(".o") or rel in OUTPUTS or (self.render == "build" and rel.startswith("gen/")):
                    rm(os.path.join(d, f))   # moved aside (runner.TRASH)
                    n += 1
        return n

    def after(self, tool, scenario, rnd, cwd):
        self.current[tool.name] = None
        if scenario.startswith("worktree") and not self.cfg.keep:
            rm(os.path.dirname(cwd))
            git(["worktree", "prune"], self.source(tool))

    # -- checks ------------------------------------------------------------------
    def check(self, tool, cwd):
        if self.current[tool.name] is not None:
            self.results.setdefault(self.current[tool.name], {})[tool.name] = self.inspect(tool, cwd)
        return super().check(tool, cwd)     # the checksum (a worktree: HEAD's)

    def inspect(self, tool, build):
        """The outputs' digests, and how many times the executable names this group's
        folder (PROJECT) and another checkout than its own."""
        out = {"digests": {}}
        for rel in OUTPUTS:
            p = os.path.join(build, rel)
            out["digests"][rel] = digest(p) if os.path.exists(p) else None
        try:
            with open(os.path.join(build, "synth"), "rb") as f:
                exe = f.read()
        except OSError:
            exe = b""
        own = os.path.dirname(build)
        out["absolute_paths"] = exe.count(self.work.encode() + b"/")
        # The main checkouts but the build's own (from a worktree: all of them).
        out["foreign_paths"] = sum(exe.count(self.source(t).encode() + b"/") for t in self.tools
                                   if self.source(t) != own)
        return out

    def compare_rounds(self, scenario, runs, bench):
        """After a scenario's rounds: where the flag set keeps paths out of the outputs,
        kiln's executable and libraries must be ninja's of the same round, byte for byte
        (the trees are at different paths); where it does not, kiln's executable must
        name no other checkout than its own. ccache's are compared and counted, not
        failed: with base_dir it runs the compiler with paths relative to the build
        folder, so its debug info names ../src/... where ninja's names ./src/...."""
        path_free = FLAVOURS[FLAVOUR_OF.get(scenario, "debug-map")][2]
        differing = {}    # tool label -> rounds whose outputs differ from ninja's
        for rnd, by_tool in sorted((k[1], v) for k, v in self.results.items() if k[0] == scenario):
            ref = by_tool.get("ninja")
            for tool in self.tools:
                got = by_tool.get(tool.name)
                run = next((r for r in runs[tool.name] if r["round"] == rnd), None)
                if got is None or run is None or run["exit"] != 0:
                    continue      # a failed build is WRONG already
                run["absolute_paths"] = got["absolute_paths"]
                run["foreign_paths"] = got["foreign_paths"]
                where = "cmake %s round %d, %s" % (scenario, rnd, tool.label)
                kiln = isinstance(tool, Kiln)
                if path_free:
                    differ = [rel for rel in OUTPUTS if ref is None or got["digests"][rel] != ref["digests"][rel]]
                    run["same_as_ninja"] = not differ
                    if differ and kiln:
                        run["ok"] = False
                        bench.fail("%s: WRONG (%s not byte for byte ninja's of the same round)"
                                   % (where, ", ".join(differ)))
                    elif differ:
                        differing.setdefault(tool.label, []).append(rnd)
                    if got["absolute_paths"]:
                        bench.notes.append("%s: the executable names the project's folder %d times although "
                                           "the flags should keep paths out" % (where, got["absolute_paths"]))
                else:
                    run["same_as_ninja"] = None
                    if got["foreign_paths"] and kiln:
                        run["ok"] = False
                        bench.fail("%s: WRONG (the executable names another checkout %d times: a path-dependent "
                                   "output restored at another path)" % (where, got["foreign_paths"]))
                    elif got["foreign_paths"]:
                        bench.notes.append("%s: the executable names another checkout (%d times): objects restored "
                                           "from a build at another path" % (where, got["foreign_paths"]))
        for label, rounds in differing.items():
            bench.notes.append("cmake %s: %s's executable and libraries differ from ninja's in %d round(s) (with "
                               "base_dir ccache compiles with paths relative to the build folder: its debug info "
                               "names ../src/... where ninja's and kiln's name ./src/...)"
                               % (scenario, label, len(rounds)))
