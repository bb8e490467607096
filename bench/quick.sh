#!/bin/sh
# kiln vs ninja on a generated 2,000-file C project and on fixtures/demo: cold, null,
# touch, edit and restore-from-cache builds, interleaved, medians; every build's
# program output is checked against a clean build. Writes docs/benchmarks.md,
# bench/out/results.json and bench/out/logs/. Exit 1 if any build came out wrong.
#
#   sh bench/quick.sh /path/to/kiln          (make bench-quick does this)
#
# Knobs (environment): BENCH_ROUNDS, BENCH_ROUNDS_FULL, BENCH_JOBS, BENCH_UNITS,
# BENCH_KEEP=1; see bench/bench.py.
set -eu
if [ $# -ne 1 ]; then
    echo "usage: sh bench/quick.sh KILN_BINARY" >&2
    exit 2
fi
kiln=$1
case $kiln in /*) ;; *) kiln=$(pwd)/$kiln ;; esac
if [ ! -x "$kiln" ]; then
    echo "bench/quick.sh: $kiln: not an executable (build it with: swift build -c release)" >&2
    exit 2
fi
missing=""
for tool in python3 ninja cc ar; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "bench/quick.sh: missing:$missing (make deps-bench installs them)" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
exec python3 -B "$here/bench.py" "$kiln"
