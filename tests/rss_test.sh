#!/bin/sh
# Peak RSS of an in-place apply must stay within the memory window, whatever
# the image size.  Usage: rss_test.sh UPDELTA SYNTH SIZE MAX_KIB
set -eu
UPD=$1; SYNTH=$2; SIZE=$3; MAX=$4
T=$(mktemp -d /tmp/upd-rss-XXXXXX)
trap 'rm -rf "$T"' EXIT
"$UPD" keygen "$T/v" >/dev/null || { echo "keygen failed"; exit 1; }
pass=0; fail=0
for kind in exe-like transpose; do
    "$SYNTH" "$kind" 3 "$SIZE" "$T/old" "$T/new"
    "$UPD" diff --sign "$T/v.key" "$T/old" "$T/new" -o "$T/pkg" -q
    cp "$T/old" "$T/tgt"
    /usr/bin/time -f '%M' -o "$T/rss" "$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/pkg" -q
    rss=$(cat "$T/rss")
    if cmp -s "$T/tgt" "$T/new" && [ "$rss" -le "$MAX" ]; then
        pass=$((pass + 1))
        echo "rss: $kind $SIZE in place: peak $rss KiB (limit $MAX), bit-exact"
    else
        fail=$((fail + 1))
        echo "rss: FAIL $kind $SIZE in place: peak $rss KiB (limit $MAX)" >&2
    fi
done
echo "rss: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
