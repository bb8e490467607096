#!/bin/sh
# How much of a real CMake project's build a second worktree restores from kiln's cache
# (issue 14): the project committed into a git repository, a second worktree of the same
# commit at another path, each configured with `cmake -G Ninja -DCMAKE_BUILD_TYPE=Debug`
# (-g) and kiln-ninja as CMAKE_MAKE_PROGRAM; the first built with `kiln ninja`, then the
# second with the same KILN_CACHE_DIR, counting edges restored and run (`--json`) and why
# each ran (`--explain`). Twice: with -g alone, then with
#   -ffile-prefix-map=<checkout>=. -ffile-prefix-map=<build folder>=build
# in CMAKE_C_FLAGS and CMAKE_ASM_FLAGS (each time with a fresh cache). Then the second
# worktree's outputs are checked byte for byte against a plain ninja build of the same
# worktree at the same path, and the objects are searched for absolute paths.
#
#   sh bench/worktree_share.sh KILN SOURCE [CMAKE_SUBDIR [CMAKE_ARG...]]
#
# SOURCE: an unpacked source tree (e.g. `apt-get source json-c`), copied, not changed.
# CMAKE_SUBDIR: where its CMakeLists.txt is (default: the top). Prints one line per
# variant and a summary; writes everything to WORKTREE_SHARE_OUT (default: a new folder
# under /tmp, printed), logs and --json files included. Exit 1 when an output of the
# second worktree differs from ninja's.
set -eu
if [ $# -lt 2 ]; then
    echo "usage: sh bench/worktree_share.sh KILN SOURCE [CMAKE_SUBDIR [CMAKE_ARG...]]" >&2
    exit 2
fi
kiln=$1
src=$2
sub=${3:-.}
shift 2
[ $# -gt 0 ] && shift
extra="$*"     # more cmake arguments (split at spaces)
case $kiln in /*) ;; *) kiln=$(pwd)/$kiln ;; esac
[ -x "$kiln" ] || { echo "worktree_share.sh: $kiln: not an executable" >&2; exit 2; }
[ -f "$src/$sub/CMakeLists.txt" ] || { echo "worktree_share.sh: no $src/$sub/CMakeLists.txt" >&2; exit 2; }
for tool in cmake ninja git python3 cc; do
    command -v $tool >/dev/null 2>&1 || { echo "worktree_share.sh: needs $tool" >&2; exit 2; }
done

out=${WORKTREE_SHARE_OUT:-$(mktemp -d /tmp/kiln-worktree-share.XXXXXX)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
jobs=${BENCH_JOBS:-2}
# Not the caller's kiln or ccache settings.
unset KILN_CACHE_DIR KILN_BASE_DIR KILN_REMOTE_CACHE KILN_WORKSPACE 2>/dev/null || true
export LC_ALL=C

# Two checkouts of one commit at different paths (and of different lengths).
first=$out/checkout
second=$out/worktrees/second-checkout-elsewhere
rm -rf "$first" "$out/worktrees" "$out/bin"
mkdir -p "$first" "$out/worktrees" "$out/bin"
cp -R "$src/." "$first/"
rm -rf "$first/.git"
git_() { git -c core.hooksPath=/dev/null -c init.defaultBranch=main -c user.name=bench -c user.email=bench@localhost "$@"; }
git_ -C "$first" init -q
git_ -C "$first" add -A -f
git_ -C "$first" commit -q -m "the project"
git_ -C "$first" worktree add -q --detach "$second" HEAD
# kiln under ninja's name, as CMake runs it.
ln -s "$kiln" "$out/bin/kiln-ninja"
link=$out/bin/kiln-ninja

# configure CHECKOUT BUILD_FOLDER MAKE_PROGRAM PREFIX_MAP(0|1) LOG
configure() {
    flags=""
    if [ "$4" = 1 ]; then
        # The build folder's map last: GCC applies the last that matches, and the build
        # folder lies inside the checkout.
        flags="-ffile-prefix-map=$1=. -ffile-prefix-map=$2=build"
    fi
    cmake -S "$1/$sub" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_MAKE_PROGRAM="$3" \
        -DCMAKE_C_FLAGS="$flags" -DCMAKE_ASM_FLAGS="$flags" $extra >"$5" 2>&1 || {
        echo "worktree_share.sh: cmake failed, see $5" >&2; exit 1; }
}

# The build's outputs that are ELF files or archives (objects, libraries, programs),
# with their digests, relative to the build folder; CMake's own configure-time files
# (CMakeFiles/<version>/, CMakeScratch) left out.
digests() {
    (cd "$1" && find . -type f ! -path './CMakeFiles/3.*' ! -path '*/CMakeScratch/*' ! -path './.kiln/*' \
        -exec sh -c 'for f; do case $(head -c 8 "$f" | od -An -c | tr -d " ") in
            177ELF*|"!<arch>"*) echo "$f";; esac; done' sh {} + | LC_ALL=C sort | xargs sha256sum)
}

# summary JSON FIRST SECOND: "EDGES RESTORED RAN WHY", WHY: the edges that ran, by
# rule (CMake's rule names, the target's name dropped) and reason, the checkouts'
# paths written as FIRST and SECOND.
summary() {
    python3 - "$@" <<'EOF'
import collections, json, re, sys
d = json.load(open(sys.argv[1]))
why = collections.Counter()
for t in d["tasks"]:
    if t["outcome"] != "ran":
        continue
    rule = re.sub(r"__.*", "", t["task"])
    reasons = "; ".join(t.get("reasons") or ["?"]).replace(sys.argv[3], "SECOND").replace(sys.argv[2], "FIRST")
    why[(rule, reasons)] += 1
text = "; ".join("%d %s (%s)" % (n, rule, r) for (rule, r), n in why.most_common())
print(len(d["tasks"]), d["restored"], d["ran"], text or "-")
EOF
}

status=0
printf '%-12s %8s %8s %8s %s\n' variant edges restored ran "what ran in the second worktree, and why (--json)"
for variant in g prefix-map; do
    map=0; [ $variant = prefix-map ] && map=1
    cache=$out/cache-$variant
    rm -rf "$cache"
    export KILN_CACHE_DIR=$cache
    b1=$first/_build-$variant
    b2=$second/_build-$variant
    configure "$first" "$b1" "$link" $map "$out/configure-first-$variant.log"
    configure "$second" "$b2" "$link" $map "$out/configure-second-$variant.log"
    (cd "$b1" && "$link" -j"$jobs" --json >"$out/first-$variant.json" 2>"$out/first-$variant.log") || {
        echo "worktree_share.sh: the first build failed, see $out/first-$variant.log" >&2; exit 1; }
    (cd "$b2" && "$link" -j"$jobs" --json --explain >"$out/second-$variant.json" 2>"$out/second-$variant.log") || {
        echo "worktree_share.sh: the second build failed, see $out/second-$variant.log" >&2; exit 1; }
    summary "$out/second-$variant.json" "$first" "$second" | {
        read -r edges restored ran why
        printf '%-12s %8s %8s %8s %s\n' $variant "$edges" "$restored" "$ran" "$why"
    }
    python3 - "$out/first-$variant.json" "$out/second-$variant.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
print("             kiln ninja: the first worktree in %.2f s, the second in %.2f s" % (a["wall_time"], b["wall_time"]))
EOF
    # Absolute paths left in the second worktree's objects.
    objs=$(find "$b2" -name '*.o' ! -path '*/CMakeFiles/3.*' ! -path '*/CMakeScratch/*' | wc -l)
    with=$(find "$b2" -name '*.o' ! -path '*/CMakeFiles/3.*' ! -path '*/CMakeScratch/*' -exec grep -l -a -F "$second" {} + | wc -l || true)
    echo "             objects naming the second checkout's path: $with of $objs"
    digests "$b2" >"$out/kiln-$variant.sha256"
    # The same worktree, the same build folder, built by plain ninja.
    rm -rf "$b2"
    configure "$second" "$b2" "$(command -v ninja)" $map "$out/configure-ninja-$variant.log"
    (cd "$b2" && ninja -j"$jobs" >"$out/ninja-$variant.log" 2>&1)
    digests "$b2" >"$out/ninja-$variant.sha256"
    n=$(wc -l <"$out/ninja-$variant.sha256")
    if cmp -s "$out/kiln-$variant.sha256" "$out/ninja-$variant.sha256"; then
        echo "             byte for byte ninja's: all $n objects, libraries and programs"
    else
        echo "             DIFFERENT from ninja's build of the same worktree:"
        diff "$out/ninja-$variant.sha256" "$out/kiln-$variant.sha256" | sed 's/^/               /' | head -20
        status=1
    fi
done
echo "worktree_share.sh: logs, --json and digests in $out"
exit $status
