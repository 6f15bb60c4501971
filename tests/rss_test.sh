#!/bin/sh
# Peak RSS of an in-place apply (journaled, the default) must stay within
# MAX_KIB, whatever the image size: synthetic pairs of SIZE (swap-small
# saves hundreds of thousands of small ranges, which only DROPs keep
# within the generator's budget), then each real OLD NEW pair given (a
# 100 MiB one has full-size segments, dictionaries and a large stash, which
# the synthetic ones do not all have).
# Usage: rss_test.sh UPDELTA SYNTH SIZE MAX_KIB [OLD NEW]...
set -eu
UPD=$1; SYNTH=$2; SIZE=$3; MAX=$4
shift 4
T=$(mktemp -d /tmp/upd-rss-XXXXXX)
trap 'rm -rf "$T"' EXIT
"$UPD" keygen "$T/v" >/dev/null || { echo "keygen failed"; exit 1; }
pass=0; fail=0
# check NAME OLD NEW: diff, apply in place under /usr/bin/time, compare
check() {
    "$UPD" diff --sign "$T/v.key" "$2" "$3" -o "$T/pkg" -q
    cp "$2" "$T/tgt"
    /usr/bin/time -f '%M' -o "$T/rss" "$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/pkg" -q
    rss=$(cat "$T/rss")
    if cmp -s "$T/tgt" "$3" && [ "$rss" -le "$MAX" ]; then
        pass=$((pass + 1))
        echo "rss: $1 in place: peak $rss KiB (limit $MAX), bit-exact"
    else
        fail=$((fail + 1))
        echo "rss: FAIL $1 in place: peak $rss KiB (limit $MAX)" >&2
    fi
}
for kind in exe-like transpose swap-small; do
    "$SYNTH" "$kind" 3 "$SIZE" "$T/old" "$T/new"
    check "$kind $SIZE" "$T/old" "$T/new"
done
rm -f "$T/old" "$T/new"
while [ $# -ge 2 ]; do
    check "$1 ($(wc -c < "$1") bytes)" "$1" "$2"
    shift 2
done
echo "rss: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
