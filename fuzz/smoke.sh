#!/bin/sh
# Smoke fuzzing for CI: every target for SECONDS each (default 30), one
# after another, through fuzz/run.sh.  Prints each target's final stats;
# on a finding prints the end of the log and the artifact, and fails.
#
#   fuzz/smoke.sh [SECONDS]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
S=${1:-30}
B=${FUZZ_BUILD:-$ROOT/build-fz}
mkdir -p "$B"
for src in "$ROOT"/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    # shared helpers (fuzz_common.c, fuzz_dm_common.c) are not targets
    grep -q LLVMFuzzerTestOneInput "$src" || continue
    log=$B/smoke-$t.log
    echo "== fuzz smoke: $t, $S s"
    if sh "$ROOT/fuzz/run.sh" "$t" "$S" >"$log" 2>&1; then
        grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' "$log" || true
    else
        tail -n 60 "$log"
        echo "fuzz smoke: $t found a problem; inputs in $B/artifacts/$t/ (log: $log)" >&2
        exit 1
    fi
done
echo "== fuzz smoke: no finding"
