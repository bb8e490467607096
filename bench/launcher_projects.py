"""The launcher group's compilers and projects (bench/launcher.py runs them): how each
compiler is put in CC and what it says it did (ccache's statistics; kiln's `kiln cache
stats --json`, optional), and the two Makefile projects (the synth project; Lua 5.4 from
Debian's source package): their make command, outputs, edits and checks.
"""
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import tarfile

from gen_synth import Synth
from projects import digest, git, run_program
from runner import fresh_dir, quiet, rm

GCC = "gcc"
SYNTH_CFLAGS = "-O0 -Wall -I$(CURDIR)/include"
# The debug build of the clean-g scenario: objects free of paths all the same.
SYNTH_CFLAGS_DEBUG = "-O0 -g -Wall -I$(CURDIR)/include -ffile-prefix-map=$(CURDIR)=."
LUA_SCRIPT = ('local s = 0 for i = 1, 200000 do s = (s * 31 + i) % 1000000007 end '
              'local t = {} for w in string.gmatch("the quick brown fox", "%a+") do t[#t + 1] = w:upper() end '
              'print(s, table.concat(t, ","), string.format("%.3f", math.sqrt(2)), utf8.char(72, 105))')
LUA_EDIT_FILES = ("lstrlib.c", "lvm.c", "ltable.c", "lparser.c", "lapi.c", "lgc.c", "llex.c", "lcode.c")
LABELS = {"plain": "gcc", "ccache": "ccache", "ccache-base": "ccache (base_dir)", "kiln": "kiln",
          "kiln-masq": "kiln (masquerade link)"}


def log(msg):
    print(msg, flush=True)


def flat_numbers(obj, prefix=""):
    """{"a.b.c": number} for every number in a JSON value."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flat_numbers(v, "%s.%s" % (prefix, k) if prefix else str(k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(flat_numbers(v, "%s.%d" % (prefix, i)))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix] = obj
    return out


# -- the compilers --------------------------------------------------------------------
class Compiler:
    name = ""
    cache_name = None     # the cache folder's name (default: name)

    def words(self):
        """What CC starts with, before `gcc`."""
        return []

    def cc(self, extra=""):
        return " ".join(self.words() + [GCC] + ([extra] if extra else []))

    def cache(self, base):
        return os.path.join(base, self.cache_name or self.name)

    def env(self, base_env, caches, project_dir):
        return base_env

    def forget(self, caches, tree):
        """An empty cache (and no state of the tool's in tree)."""

    def before(self, env):
        """Untimed, before a timed command: what after() compares with."""
        return None

    def after(self, env, before):
        """What the tool says it did since before(): a small dict, or None."""
        return None


class Plain(Compiler):
    name = "plain"


class Ccache(Compiler):
    name = "ccache"

    def words(self):
        return ["ccache"]

    def env(self, base_env, caches, project_dir):
        return dict(base_env, CCACHE_DIR=self.cache(caches))

    def forget(self, caches, tree):
        fresh_dir(self.cache(caches))

    def before(self, env):
        quiet(["ccache", "-z"], env=env)

    def after(self, env, before):
        stats = {}
        for line in quiet(["ccache", "--print-stats"], env=env).splitlines():
            k, _, v = line.partition("\t")
            stats[k] = v

        def n(k):
            try:
                return int(stats.get(k, 0))
            except ValueError:
                return 0
        return {"direct_hits": n("direct_cache_hit"), "preprocessed_hits": n("preprocessed_cache_hit"),
                "misses": n("cache_miss"), "uncacheable": sum(n(k) for k in stats if k.startswith(
                    ("called_for_link", "compiler_produced_no_output", "could_not_use_", "unsupported_",
                     "no_input_file", "multiple_source_files", "called_for_preprocessing")))}


class CcacheBase(Ccache):
    """ccache with base_dir: paths under the project's folder are hashed (and given to
    the compiler) relative to the current folder."""
    name = "ccache-base"

    def env(self, base_env, caches, project_dir):
        return dict(super().env(base_env, caches, project_dir), CCACHE_BASEDIR=project_dir)


class Kiln(Compiler):
    name = "kiln"

    def __init__(self, binary):
        self.binary = binary

    def words(self):
        return [self.binary]

    def env(self, base_env, caches, project_dir):
        return dict(base_env, KILN_CACHE_DIR=self.cache(caches))

    def forget(self, caches, tree):
        fresh_dir(self.cache(caches))
        if tree:
            rm(os.path.join(tree, ".kiln"))

    def stats(self, env):
        """`kiln cache stats --json`'s numbers, flattened (None if it gives none)."""
        try:
            p = subprocess.run([self.binary, "cache", "stats", "--json"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, timeout=60)
            return flat_numbers(json.loads(p.stdout)) if p.returncode == 0 else None
        except (OSError, ValueError, subprocess.SubprocessError):
            return None

    def before(self, env):
        return self.stats(env)

    def after(self, env, before):
        """The launcher's counters that changed (the top-level "launcher" object's, else
        any key naming it, else every number; not timestamps or rates), or None: their
        shape is kiln's business."""
        now = self.stats(env)
        if now is None or before is None:
            return None
        keys = [k for k in now if k.startswith("launcher.")] or [k for k in now if "launcher" in k.lower()] \
            or list(now)
        keys = [k for k in keys if not k.rsplit(".", 1)[-1] in ("first", "last", "hit_rate")]
        return {(k[len("launcher."):] if k.startswith("launcher.") else k): round(now[k] - before.get(k, 0), 6)
                for k in keys if now[k] != before.get(k, 0)}


class KilnMasquerade(Kiln):
    """kiln through a folder first on PATH holding a link named gcc to it."""
    name = "kiln-masq"
    cache_name = "kiln"

    def __init__(self, binary, folder):
        super().__init__(binary)
        self.folder = folder

    def install(self):
        fresh_dir(self.folder)
        os.symlink(self.binary, os.path.join(self.folder, GCC))

    def words(self):
        return []

    def env(self, base_env, caches, project_dir):
        e = super().env(base_env, caches, project_dir)
        return dict(e, PATH=self.folder + os.pathsep + e.get("PATH", ""))


def kiln_misses(work):
    """The launcher's misses in kiln's own stats (misses, stored or not), or None."""
    if not work:
        return None
    keys = [k for k in work if k.rsplit(".", 1)[-1] in ("misses", "not_stored")]
    return sum(work[k] for k in keys) if keys else None


def did(name, w):
    if w is None:
        return ""
    if name.startswith("ccache"):
        return "ccache: %d direct hits, %d preprocessed hits, %d misses" % (
            w["direct_hits"], w["preprocessed_hits"], w["misses"])
    if name.startswith("kiln"):
        return "kiln cache stats: " + (", ".join("%s %+g" % (k, v) for k, v in sorted(w.items())
                                                 if not k.endswith("seconds")) or "no change")
    return ""


# -- the projects ----------------------------------------------------------------------
class Project:
    name = ""

    def __init__(self, lb, compilers):
        self.lb = lb
        self.work = os.path.join(lb.root, self.name)
        self.caches = os.path.join(self.work, "caches")
        self.compilers = compilers          # name -> Compiler
        self.edit_state = {n: 0 for n in compilers}   # rounds of edits applied to each main checkout

    def tree(self, c):
        return os.path.join(self.work, c.name)

    def copy_sources(self, base):
        git(["init", "-q"], base)
        git(["add", "-A"], base)
        git(["commit", "-q", "-m", self.name], base)
        for c in self.compilers.values():
            shutil.copytree(base, self.tree(c), symlinks=True)

    def make_argv(self, c, jobs, debug=False):
        raise NotImplementedError

    def wipe(self, tree):
        raise NotImplementedError

    def artifacts(self, tree):
        """{relative path: digest} of every output compared with plain gcc's."""
        raise NotImplementedError

    def normalized_digest(self, path, tree):
        """A depfile's digest with its checkout's path written as <TREE>; and whether
        it names another checkout of the project."""
        with open(path, "rb") as f:
            text = f.read().replace(tree.encode() + b"/", b"<TREE>/")
        return hashlib.sha256(text).hexdigest(), self.work.encode() + b"/" in text

    def append_header_comment(self, tree, rnd):
        with open(os.path.join(tree, self.header), "a") as f:
            f.write("/* bench: comment-only edit %d (issue 15) */\n" % (rnd + 1))

    def check_program(self, tree, edits):
        """(ok, what the program printed, what it should print)."""
        raise NotImplementedError


class SynthLauncher(Project):
    name = "synth"
    header = "include/common.h"

    def setup(self):
        self.synth = Synth(self.lb.cfg.units_launcher)
        base = os.path.join(self.work, "src")
        self.synth.write(base)
        self.copy_sources(base)
        rng = random.Random(15)
        self.edit_units = rng.sample(range(self.synth.units), min(self.synth.units, self.lb.rounds))

    def describe(self):
        s = self.synth
        return ("the synth project (bench/gen_synth.py): %s units + %d rendered templates + main, 43 headers "
                "(include/common.h in every file), its GNU Makefile (-MMD -MP depfiles) with CC overridden and "
                "CFLAGS=\"%s\" (the include folder as an absolute path) -> build/libsynth.a -> bin/synth"
                % ("{:,}".format(s.units), s.templates, SYNTH_CFLAGS))

    def compiles(self):
        return self.synth.units + self.synth.templates + 1

    def make_argv(self, c, jobs, debug=False):
        return ["make", "-j%d" % jobs, "CC=" + c.cc(), "CFLAGS=" + (SYNTH_CFLAGS_DEBUG if debug else SYNTH_CFLAGS)]

    def wipe(self, tree):
        for o in ("build", "bin", "gen"):
            rm(os.path.join(tree, o))

    def artifacts(self, tree):
        out, foreign = {}, []
        for rel in ("build/libsynth.a", "bin/synth"):
            p = os.path.join(tree, rel)
            out[rel] = digest(p) if os.path.exists(p) else None
        for d, _, files in os.walk(os.path.join(tree, "build")):
            for f in files:
                p = os.path.join(d, f)
                rel = os.path.relpath(p, tree)
                if f.endswith(".o"):
                    out[rel] = digest(p)
                elif f.endswith(".d"):
                    out[rel], names_other = self.normalized_digest(p, tree)
                    if names_other:
                        foreign.append(rel)
        return out, foreign

    def apply_edit(self, tree, rnd):
        i = self.edit_units[rnd % len(self.edit_units)]
        rel = self.synth.unit_path(i)
        path = os.path.join(tree, rel)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(Synth.with_value(text, self.edit_value(i, rnd)))
        return "edit " + rel

    def edit_value(self, i, rnd):
        return self.synth.unit_c[i] + 1_000_000 * (rnd + 1)

    def expected(self, edits):
        values = {}
        for rnd in range(edits):
            i = self.edit_units[rnd % len(self.edit_units)]
            values[i] = self.edit_value(i, rnd)
        return str(self.synth.checksum(values))

    def check_program(self, tree, edits):
        expected = self.expected(edits)
        actual = run_program(["./bin/synth"], tree)
        return actual == expected, actual, expected


class LuaLauncher(Project):
    name = "lua"
    header = "src/luaconf.h"

    def __init__(self, lb, compilers, source):
        super().__init__(lb, compilers)
        self.source = source        # the tarball or folder

    def setup(self):
        base = os.path.join(self.work, "src")
        if os.path.isdir(self.source):
            shutil.copytree(self.source, base, symlinks=True)
        else:
            x = os.path.join(self.work, "extract")
            fresh_dir(x)
            with tarfile.open(self.source) as t:
                t.extractall(x, filter="data") if hasattr(tarfile, "data_filter") else t.extractall(x)
            tops = [d for d in os.listdir(x) if os.path.isdir(os.path.join(x, d))]
            if len(tops) != 1:
                raise SystemExit("bench: launcher: %s: expected one folder in the tarball, found %s"
                                 % (self.source, tops))
            shutil.move(os.path.join(x, tops[0]), base)
            rm(x)
        if not os.path.exists(os.path.join(base, "src", "lua.c")):
            raise SystemExit("bench: launcher: %s holds no src/lua.c (not Lua's sources?)" % self.source)
        for rel in ("src/lua", "src/luac"):      # a folder given may hold a build
            rm(os.path.join(base, rel))
        self.wipe(base)
        with open(os.path.join(base, ".gitignore"), "w") as f:
            f.write("*.o\n/src/liblua.a\n/src/lua\n/src/luac\n/.kiln/\n")
        with open(os.path.join(base, "src", "lua.h")) as f:
            m = re.search(r'LUA_VERSION_RELEASE\s+"(\d+)"', f.read())
        self.version = "5.4." + m.group(1) if m else "5.4"
        self.units = len([f for f in os.listdir(os.path.join(base, "src")) if f.endswith(".c")])
        self.copy_sources(base)
        self.expected_output = lua_expected()

    def describe(self):
        return ("Lua %s (the upstream tarball of Debian's source package lua5.4): %d .c files, its own Makefiles "
                "(`make linux`: the top-level one runs src/Makefile's, -O2 -Wall -Wextra, relative paths, header "
                "dependencies written out in the Makefile) with CC=\"... gcc -std=gnu99\" -> src/liblua.a, "
                "src/lua, src/luac" % (self.version, self.units))

    def compiles(self):
        return self.units

    def make_argv(self, c, jobs, debug=False):
        return ["make", "-j%d" % jobs, "linux", "CC=" + c.cc("-std=gnu99")]

    def wipe(self, tree):
        src = os.path.join(tree, "src")
        for f in os.listdir(src):
            if f.endswith(".o") or f in ("liblua.a", "lua", "luac"):
                os.remove(os.path.join(src, f))

    def artifacts(self, tree):
        src = os.path.join(tree, "src")
        out = {}
        for f in sorted(os.listdir(src)):
            if f.endswith(".o"):
                out["src/" + f] = digest(os.path.join(src, f))
        for f in ("liblua.a", "lua", "luac"):
            p = os.path.join(src, f)
            out["src/" + f] = digest(p) if os.path.exists(p) else None
        return out, []

    def apply_edit(self, tree, rnd):
        rel = "src/" + LUA_EDIT_FILES[rnd % len(LUA_EDIT_FILES)]
        with open(os.path.join(tree, rel), "a") as f:
            f.write("\nint bench_edit_%d (void);\nint bench_edit_%d (void) { return %d; }\n"
                    % (rnd, rnd, 1000 + rnd))
        return "edit " + rel

    def check_program(self, tree, edits):
        actual = run_program(["./src/lua", "-e", LUA_SCRIPT], tree)
        return actual == self.expected_output, actual, self.expected_output


def lua_expected():
    s = 0
    for i in range(1, 200001):
        s = (s * 31 + i) % 1000000007
    return "%d\tTHE,QUICK,BROWN,FOX\t1.414\tHi" % s


def lua_source(out_dir):
    """(path of Lua's sources, None) or (None, why not)."""
    given = os.environ.get("BENCH_LUA_SOURCE")
    if given:
        return (given, None) if os.path.exists(given) else (None, "BENCH_LUA_SOURCE=%s does not exist" % given)
    cache = os.path.join(out_dir, "sources")
    os.makedirs(cache, exist_ok=True)

    def cached():
        found = sorted(f for f in os.listdir(cache) if re.match(r"lua5\.4_[\d.]+\.orig\.tar\.(gz|xz|bz2)$", f))
        return os.path.join(cache, found[-1]) if found else None
    if cached():
        return cached(), None
    log("   fetching Lua 5.4's sources: `apt-get source --download-only lua5.4` in %s" % cache)
    try:
        p = subprocess.run(["apt-get", "source", "--download-only", "lua5.4"], cwd=cache, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        msg = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "exit status %d" % p.returncode
    except (OSError, subprocess.SubprocessError) as e:
        msg = str(e)
    if cached():
        return cached(), None
    return None, ("`apt-get source --download-only lua5.4` fetched no tarball (%s); it needs a deb-src line for "
                  "this Debian release in /etc/apt/sources.list.d/ and `apt-get update`, or set BENCH_LUA_SOURCE "
                  "to a Lua 5.4 tarball or folder" % msg)
