#!/bin/sh
# The few minutes' version of bench/run.sh (make bench-quick): fewer rounds, a smaller
# synth-big, trivial-big and workspaces project, fewer files in the hooks repository
# (the report says which sizes were used).
#
#   sh bench/quick.sh /path/to/kiln
set -eu
exec sh "$(dirname "$0")/run.sh" --quick "$@"
