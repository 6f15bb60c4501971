#!/bin/sh
# End-to-end checks of the updelta command-line tool: round trips (file and
# streamed from stdin), inspect, and every refusal leaving the target
# byte-identical.  Usage: cli_test.sh UPDELTA UPDELTA_SYNTH
set -u
UPD=$1
SYNTH=$2
T=$(mktemp -d /tmp/upd-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { desc=$1; shift; if "$@"; then ok; else bad "$desc"; fi; }

"$SYNTH" exe-like 5 3M "$T/old" "$T/new" || { echo "synth failed"; exit 1; }
"$UPD" diff "$T/old" "$T/new" -o "$T/pkg" -q --package-id rom.sys --from 1.0 --to 1.1
check "diff exits 0" test $? -eq 0
check "no .part left by diff" test ! -e "$T/pkg.part"

"$UPD" apply "$T/old" "$T/pkg" -o "$T/out" -q
check "out-of-place apply" cmp -s "$T/out" "$T/new"

cp "$T/old" "$T/tgt"
"$UPD" apply --in-place "$T/tgt" "$T/pkg" -q
check "in-place apply" cmp -s "$T/tgt" "$T/new"
check "stash file removed" test ! -e "$T/tgt.upd-stash"

cp "$T/old" "$T/tgt"
"$UPD" apply --in-place "$T/tgt" - -q < "$T/pkg"
check "in-place apply streamed from stdin" cmp -s "$T/tgt" "$T/new"

cat "$T/pkg" | "$UPD" apply "$T/old" - -o "$T/out2" -q
check "out-of-place apply from a pipe" cmp -s "$T/out2" "$T/new"

"$UPD" inspect "$T/pkg" --json > "$T/inspect.json"
check "inspect --json says valid" grep -q '"valid":"ok"' "$T/inspect.json"
check "inspect --json has the package id" grep -q '"package_id":"rom.sys"' "$T/inspect.json"
"$UPD" inspect "$T/pkg" > "$T/inspect.txt"
check "inspect text names the io backend" grep -q '^io ' "$T/inspect.txt"

"$UPD" apply --in-place "$T/tgt" "$T/pkg" -q -v >/dev/null 2>&1
check "re-applying to the new image is refused (wrong base)" test $? -eq 1
check "  ... and leaves it intact" cmp -s "$T/tgt" "$T/new"

# refusals: the target stays byte-identical
size=$(stat -c %s "$T/pkg")
for cut in 0 1 100 255 256 300 383 384 385 $((size / 2)) $((size - 1)); do
    head -c "$cut" "$T/pkg" > "$T/cut"
    cp "$T/old" "$T/tgt"
    "$UPD" apply --in-place "$T/tgt" "$T/cut" -q 2>"$T/err"
    check "truncated at $cut: exit 1" test $? -eq 1
    check "truncated at $cut: target intact" cmp -s "$T/tgt" "$T/old"
    check "truncated at $cut: message" grep -q 'UPD_E_' "$T/err"
done
for off in 10 40 100 200 300 500 1000 $((size - 10)); do
    cp "$T/pkg" "$T/corrupt"
    printf '\377' | dd of="$T/corrupt" bs=1 seek="$off" conv=notrunc 2>/dev/null
    cp "$T/old" "$T/tgt"
    "$UPD" apply --in-place "$T/tgt" "$T/corrupt" -q 2>/dev/null
    check "corrupt byte $off: exit 1" test $? -eq 1
    check "corrupt byte $off: target intact" cmp -s "$T/tgt" "$T/old"
done
"$UPD" apply "$T/old" "$T/corrupt" -o "$T/out3" -q 2>/dev/null
check "failed out-of-place apply leaves no output" test ! -e "$T/out3" -a ! -e "$T/out3.part"

"$SYNTH" exe-like 6 3M "$T/other" "$T/unused"
cp "$T/other" "$T/tgt"
"$UPD" apply --in-place "$T/tgt" "$T/pkg" -q 2>"$T/err"
check "wrong base: exit 1" test $? -eq 1
check "wrong base: named" grep -q UPD_E_BASE "$T/err"
check "wrong base: target intact" cmp -s "$T/tgt" "$T/other"

head -c 1000 "$T/pkg" > "$T/cut"
cp "$T/old" "$T/tgt"
"$UPD" apply --in-place "$T/tgt" - -q < "$T/cut" 2>"$T/err"
check "streamed truncation: exit 1 with UPD_E_PKG_TRUNCATED" grep -q UPD_E_PKG_TRUNCATED "$T/err"

"$UPD" diff "$T/old" -o "$T/x" -q 2>/dev/null
check "diff with a missing argument: usage, exit 2" test $? -eq 2
"$UPD" diff "$T/old" "$T/new" -o "$T/x" --level 99 -q 2>/dev/null
check "diff with a bad level: exit 1" test $? -eq 1
"$UPD" nosuch 2>/dev/null
check "unknown command: exit 2" test $? -eq 2

"$SYNTH" transpose 1 2M "$T/o2" "$T/n2"
"$UPD" diff "$T/o2" "$T/n2" -o "$T/p2" --stash-max 16K --json > "$T/d.json"
check "diff --json reports the stash size" grep -q '"stash_size":' "$T/d.json"
cp "$T/o2" "$T/tgt"
"$UPD" apply --in-place "$T/tgt" "$T/p2" --stash "$T/mystash" -q
check "in-place with a named stash file" cmp -s "$T/tgt" "$T/n2"
check "  ... which is removed" test ! -e "$T/mystash"

echo "cli: $pass passed, $fail failed"
test "$fail" -eq 0
