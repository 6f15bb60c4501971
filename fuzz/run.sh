#!/bin/sh
# A real libFuzzer session on one target.
#
#   fuzz/run.sh TARGET SECONDS [libFuzzer flags...]
#
# Builds the libFuzzer targets with clang in build-fz (FUZZ_BUILD=DIR to
# change it; make runs with -j2, FUZZ_JOBS=N to change), then fuzzes TARGET
# for SECONDS with the flags of fuzz/TARGET.options (dictionary, max_len),
# -timeout=25 and -rss_limit_mb=2048 as on OSS-Fuzz, and any flags given.
# New inputs go to the working corpus BUILD/corpus/TARGET (the committed
# seeds in fuzz/corpus/TARGET are read, never written); a crash, leak,
# timeout or OOM is written to BUILD/artifacts/TARGET/.  Exit status is
# libFuzzer's: 0 when nothing was found.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
usage() {
    echo "usage: fuzz/run.sh TARGET SECONDS [libFuzzer flags...]" >&2
    echo "targets: $(cd "$ROOT/fuzz" && ls fuzz_*.c | grep -v fuzz_common | sed 's/\.c$//' | tr '\n' ' ')" >&2
    exit 2
}
[ $# -ge 2 ] || usage
T=$1
SECS=$2
shift 2
[ -f "$ROOT/fuzz/$T.c" ] && [ "$T" != fuzz_common ] || usage
case $SECS in '' | *[!0-9]*) usage ;; esac
B=${FUZZ_BUILD:-$ROOT/build-fz}

if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz/run.sh: clang not found; install it (apt-get install -y clang)" >&2
    exit 1
fi
cmake -S "$ROOT" -B "$B" -DUPD_FUZZ=ON -DUPD_TESTS=OFF -DCMAKE_C_COMPILER=clang \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
make -C "$B" -j"${FUZZ_JOBS:-2}" "$T" >/dev/null

# TARGET.options as OSS-Fuzz reads it: [libfuzzer] keys become flags (dict
# relative to fuzz/), [asan] keys join ASAN_OPTIONS
section_keys() {   # FILE SECTION -> key=value lines
    sed -n "/^\[$2\]/,/^\[/{s/^[[:space:]]*\([a-z_]*\)[[:space:]]*=[[:space:]]*\(.*[^[:space:]]\)[[:space:]]*\$/\1=\2/p}" "$1"
}
opts=""
o=$ROOT/fuzz/$T.options
if [ -f "$o" ]; then
    opts=$(section_keys "$o" libfuzzer | while IFS== read -r k v; do
               [ "$k" = dict ] && v=$ROOT/fuzz/$v
               printf ' -%s=%s' "$k" "$v"
           done)
    asan=$(section_keys "$o" asan | tr '\n' ':')
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}${asan%:}
    export ASAN_OPTIONS
fi
work=$B/corpus/$T
art=$B/artifacts/$T
mkdir -p "$work" "$art"
# shellcheck disable=SC2086
exec "$B/fuzz/$T" -max_total_time="$SECS" -timeout=25 -rss_limit_mb=2048 \
     -print_final_stats=1 -artifact_prefix="$art/" $opts "$@" "$work" "$ROOT/fuzz/corpus/$T"
