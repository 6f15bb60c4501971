#!/bin/sh
# End-to-end checks of the I/O backend choice: --io=auto|uring|posix and
# --direct give bit-exact results; -v, status and inspect say which backend
# runs; with io_uring_setup refused (ENOSYS, EPERM, ENOMEM: tests/no_uring)
# auto falls back to POSIX and says why, --io=uring fails cleanly and leaves
# the target untouched; kill -9 at random instants of an io_uring apply
# (tests/kill_test.sh) always resumes to a bit-exact image.
# Usage: uring_test.sh UPDELTA UPDELTA_SYNTH NO_URING
set -u
UPD=$1
SYNTH=$2
NO_URING=$3
HERE=$(dirname "$0")
T=$(mktemp -d /tmp/upd-uring-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
check() { desc=$1; shift; if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $desc" >&2; fi; }

"$SYNTH" exe-like 7 8M "$T/old" "$T/new" || { echo "synth failed"; exit 1; }
"$UPD" diff "$T/old" "$T/new" -o "$T/pkg" -q || { echo "diff failed"; exit 1; }

for io in "" "--io=auto" "--io=uring" "--io=posix" "--io=uring --direct" "--io=uring --io-depth 2 --io-block 4K"; do
    cp "$T/old" "$T/tgt"
    # shellcheck disable=SC2086
    "$UPD" apply --insecure --in-place "$T/tgt" "$T/pkg" -v $io > "$T/out.txt" 2>&1
    check "in-place apply $io" cmp -s "$T/tgt" "$T/new"
    # shellcheck disable=SC2086
    "$UPD" apply --insecure "$T/old" "$T/pkg" -o "$T/oop" -q $io
    check "out-of-place apply $io" cmp -s "$T/oop" "$T/new"
    case $io in
        ""|*posix*) want="io        posix" ;;   # the default is POSIX
        *) want="io        uring (setup" ;;
    esac
    check "-v says '$want' for $io" grep -q "^$want" "$T/out.txt"
done
check "--direct is reported" sh -c "'$UPD' apply --insecure '$T/old' '$T/pkg' -o '$T/oop' -v --io=uring --direct | grep -q 'O_DIRECT when'"

"$UPD" status "$T/tgt" > "$T/status.txt"
check "status names the default backend" grep -q "^io        posix" "$T/status.txt"
"$UPD" status "$T/tgt" --io=uring > "$T/status.txt"
check "status names the backend" grep -q "^io        uring" "$T/status.txt"
"$UPD" status "$T/tgt" --json --io=uring > "$T/status.json"
check "status --json names the backend" grep -q '"io":"uring"' "$T/status.json"
check "inspect says what auto would use" sh -c "'$UPD' inspect '$T/pkg' | grep -q 'auto would use uring'"

for e in ENOSYS EPERM ENOMEM; do
    cp "$T/old" "$T/tgt"
    "$NO_URING" $e "$UPD" apply --insecure --in-place "$T/tgt" "$T/pkg" -v --io=auto > "$T/fb.txt" 2>&1
    check "fallback $e: bit-exact" cmp -s "$T/tgt" "$T/new"
    check "fallback $e: -v says posix and why" grep -q "^io        posix, --io=auto: posix (io_uring unavailable: " "$T/fb.txt"
    cp "$T/old" "$T/tgt"
    "$NO_URING" $e "$UPD" apply --insecure --in-place "$T/tgt" "$T/pkg" --io=uring -q 2> "$T/err.txt"
    check "--io=uring under $e fails" test $? -ne 0
    check "--io=uring under $e leaves the target" cmp -s "$T/tgt" "$T/old"
    check "--io=uring under $e says so" grep -q "UPD_E_IO_OPEN" "$T/err.txt"
    check "--io=uring under $e names the cause" grep -q "system error: " "$T/err.txt"
done
"$NO_URING" EPERM "$UPD" status "$T/tgt" --io=auto > "$T/status.txt"
check "status under EPERM says posix and why" grep -q "^io        posix, --io=auto: posix (io_uring unavailable: Operation not permitted)" "$T/status.txt"
check "inspect under ENOSYS says posix" sh -c "'$NO_URING' ENOSYS '$UPD' inspect '$T/pkg' | grep -q 'auto would use posix (io_uring unavailable: Function not implemented)'"

"$UPD" keygen "$T/k" > /dev/null
check "kill -9 during io_uring applies resumes bit-exact" \
    bash "$HERE/kill_test.sh" "$UPD" "$T/old" "$T/new" "${UPD_URING_KILL_ROUNDS:-24}" "--io=uring"
check "kill -9 during io_uring O_DIRECT applies resumes bit-exact" \
    bash "$HERE/kill_test.sh" "$UPD" "$T/old" "$T/new" "${UPD_URING_KILL_ROUNDS:-24}" "--io=uring --direct"

echo "uring: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
