#!/bin/sh
# kiln beside ninja, ninja+ccache and make (issue 4's benchmark): a generated C project
# (cold, null, touch, edit, header edit, clean rebuild, fresh worktree), a bigger one's
# null build, trivial `cp` tasks (cold; null and peak RSS), hashing a big file against
# xxhsum, fixtures/demo, issue 5's workspaces (4 `kiln ws new` + builds at once
# against 4 `git worktree add` + ninja builds), and issue 7's hooks (`git commit` with
# kiln's pre-commit hook against pre-commit's, same check, same repository: cold, one
# file, nothing relevant, cached), and issue 14's cmake group (the generated project as a
# CMake project, configured by cmake -G Ninja for ninja, ninja+ccache and kiln-ninja: cold,
# null, touch, edit, clean, fresh worktree with and without -g and prefix maps), and issue
# 15's launcher group (`kiln gcc` beside `ccache gcc` and gcc on the generated project and
# Lua 5.4 from Debian's source package, by their own Makefiles; hit latency; 200 compiles
# at once), and issue 19's isolate group (what `isolate: true` adds per task). Every
# build's and commit's result is checked. Writes
# docs/benchmarks.md, bench/out/results.json and bench/out/logs/; exit 1 if any build
# came out wrong.
#
#   sh bench/run.sh [--quick] /path/to/kiln     (make bench; make bench-quick: --quick)
#
# Knobs (environment): BENCH_ROUNDS, BENCH_ROUNDS_FULL, BENCH_UNITS, BENCH_UNITS_BIG, BENCH_UNITS_SMALL,
# BENCH_TRIVIAL, BENCH_TRIVIAL_BIG, BENCH_HASH_MIB, BENCH_UNITS_WS, BENCH_ROUNDS_WS,
# BENCH_FILES_HOOKS, BENCH_ROUNDS_HOOKS, BENCH_UNITS_CMAKE, BENCH_CMAKE_RENDER,
# BENCH_UNITS_LAUNCHER, BENCH_ROUNDS_LAUNCHER, BENCH_CALLS_LAUNCHER,
# BENCH_CONCURRENT_LAUNCHER, BENCH_LUA_SOURCE, BENCH_ONLY, BENCH_REMOTE_TMPFS,
# BENCH_JOBS, BENCH_KEEP=1, BENCH_OUT,
# BENCH_DOC; see bench/bench.py.
set -eu
quick=""
if [ "${1:-}" = "--quick" ]; then
    quick=--quick
    shift
fi
if [ $# -ne 1 ]; then
    echo "usage: sh bench/run.sh [--quick] KILN_BINARY" >&2
    exit 2
fi
kiln=$1
case $kiln in /*) ;; *) kiln=$(pwd)/$kiln ;; esac
if [ ! -x "$kiln" ]; then
    echo "bench/run.sh: $kiln: not an executable (build it with: make release)" >&2
    exit 2
fi
missing=""
for tool in python3 ninja make ccache xxhsum cc ar git pre-commit cmake; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
[ -x /usr/bin/time ] || missing="$missing /usr/bin/time"
if [ -n "$missing" ]; then
    echo "bench/run.sh: missing:$missing (make deps-bench installs them)" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
exec python3 -B "$here/bench.py" $quick "$kiln"
