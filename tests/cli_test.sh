#!/bin/sh
# End-to-end checks of the updelta command-line tool: round trips (file and
# streamed from stdin), inspect, and every refusal leaving the target
# byte-identical.  Usage: cli_test.sh UPDELTA UPDELTA_SYNTH SWAP_FILE_SO
set -u
UPD=$1
SYNTH=$2
SWAP=$3
T=$(mktemp -d /tmp/upd-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
"$UPD" keygen "$T/v" >/dev/null || { echo "keygen failed"; exit 1; }
pass=0
fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { desc=$1; shift; if "$@"; then ok; else bad "$desc"; fi; }

"$SYNTH" exe-like 5 3M "$T/old" "$T/new" || { echo "synth failed"; exit 1; }
"$UPD" diff --sign "$T/v.key" "$T/old" "$T/new" -o "$T/pkg" -q --package-id rom.sys --from 1.0 --to 1.1
check "diff exits 0" test $? -eq 0
check "no .part left by diff" test ! -e "$T/pkg.part"

"$UPD" apply --pubkey "$T/v.pub" "$T/old" "$T/pkg" -o "$T/out" -q
check "out-of-place apply" cmp -s "$T/out" "$T/new"
# durable in this order: NEW.part's bytes, the rename, then the directory
# that holds the new name (scripts/deps.sh installs strace)
strace -f -qq -e trace=fdatasync,fsync,rename,renameat,renameat2 -o "$T/sys" \
    "$UPD" apply --pubkey "$T/v.pub" "$T/old" "$T/pkg" -o "$T/out" -q
check "out-of-place: flush, rename, then the directory's fsync" \
    sh -c "grep -oE '^[0-9]+ +(fdatasync|fsync|rename[a-z0-9]*)' '$T/sys' | awk '{print \$2}' | tr '\n' ' ' | grep -qx 'fdatasync rename fsync '"

cp "$T/old" "$T/tgt"
"$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/pkg" -q
check "in-place apply" cmp -s "$T/tgt" "$T/new"
check "stash file removed" test ! -e "$T/tgt.upd-stash"

cp "$T/old" "$T/tgt"
"$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" - -q < "$T/pkg"
check "in-place apply streamed from stdin" cmp -s "$T/tgt" "$T/new"

cat "$T/pkg" | "$UPD" apply --pubkey "$T/v.pub" "$T/old" - -o "$T/out2" -q
check "out-of-place apply from a pipe" cmp -s "$T/out2" "$T/new"

"$UPD" inspect "$T/pkg" --json > "$T/inspect.json"
check "inspect --json says valid" grep -q '"valid":"ok"' "$T/inspect.json"
check "inspect --json has the package id" grep -q '"package_id":"rom.sys"' "$T/inspect.json"
"$UPD" inspect "$T/pkg" > "$T/inspect.txt"
check "inspect text names the io backend" grep -q '^io ' "$T/inspect.txt"
check "inspect text counts split segments" grep -q "diff bytes split in [0-9]* of $(sed -n 's/.*"segments":\([0-9]*\).*/\1/p' "$T/inspect.json") segments" "$T/inspect.txt"
# a pair whose one segment gets its diff bytes split into heads and tails
# (test_roundtrip's diff_bytes_split_where_smaller says when)
"$SYNTH" mixed 1 1M "$T/eo" "$T/en" && "$UPD" diff "$T/eo" "$T/en" -o "$T/ep" -q --lzma never
"$UPD" inspect "$T/ep" --json > "$T/ep.json"
check "inspect --json counts split segments" grep -q '"split_segments":1,' "$T/ep.json"
cp "$T/eo" "$T/et"
"$UPD" apply --insecure --in-place "$T/et" "$T/ep" -q
check "  ... and that package applies exactly" cmp -s "$T/et" "$T/en"
# the same pair in LZMA2 segments
"$UPD" diff "$T/eo" "$T/en" -o "$T/el" -q --lzma always --json > "$T/el.json"
"$UPD" inspect "$T/el" --json > "$T/el.i.json"
check "diff --lzma always: LZMA2 segments, counted by diff and inspect" python3 -c '
import json, sys
d, i = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert d["lzma_segments"] == i["lzma_segments"] == i["segments"] >= 1 and i["split_segments"] == 0
' "$T/el.json" "$T/el.i.json"
cp "$T/eo" "$T/et"
"$UPD" apply --insecure --in-place "$T/et" "$T/el" -q
check "  ... and that package applies exactly in place" cmp -s "$T/et" "$T/en"
"$UPD" apply --insecure "$T/eo" "$T/el" -o "$T/eout" -q
check "  ... and out of place" cmp -s "$T/eout" "$T/en"
"$UPD" diff "$T/eo" "$T/en" -o "$T/x" --lzma sometimes -q 2>/dev/null
check "diff --lzma sometimes: usage, exit 2" test $? -eq 2

"$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/pkg" > "$T/again" 2>&1
check "re-applying a finished update is a no-op (exit 0)" test $? -eq 0
check "  ... that says so" grep -q "^applied   already" "$T/again"
check "  ... and leaves the image intact" cmp -s "$T/tgt" "$T/new"
cp "$T/old" "$T/wrong"
printf 'X' | dd of="$T/wrong" bs=1 seek=1000 conv=notrunc 2>/dev/null
"$UPD" apply --pubkey "$T/v.pub" --in-place "$T/wrong" "$T/pkg" -q 2>"$T/err"
check "a wrong base image is refused" grep -q UPD_E_BASE_HASH "$T/err"
check "  ... untouched, and no journal or stash left" sh -c "printf 'X' | cmp -s - '$T/wrong' -i 0:1000 -n 1 && test ! -e '$T/wrong.upd-journal' -a ! -e '$T/wrong.upd-stash'"

# the header is as long as its strings: 147 bytes + "rom.sys", "1.0", "1.1"
hsize=$(sed -n 's/.*"header_size":\([0-9]*\).*/\1/p' "$T/inspect.json")
prefix=$(sed -n 's/.*"prefix_size":\([0-9]*\).*/\1/p' "$T/inspect.json")
check "inspect --json: a 160-byte header" test "$hsize" = 160
nseg=$(sed -n 's/.*"segments":\([0-9]*\).*/\1/p' "$T/inspect.json")
check "inspect --json: prefix = header + 84 per segment + 105" test "$prefix" = $((160 + 84 * nseg + 105))

# refusals: the target stays byte-identical
size=$(stat -c %s "$T/pkg")
for cut in 0 1 11 12 $((hsize - 1)) "$hsize" $((hsize + 1)) $((prefix - 1)) "$prefix" \
           $((prefix + 1)) $((size / 2)) $((size - 1)); do
    head -c "$cut" "$T/pkg" > "$T/cut"
    cp "$T/old" "$T/tgt"
    "$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/cut" -q 2>"$T/err"
    check "truncated at $cut: exit 1" test $? -eq 1
    check "truncated at $cut: target intact" cmp -s "$T/tgt" "$T/old"
    check "truncated at $cut: message" grep -q 'UPD_E_' "$T/err"
done
for off in 10 40 100 200 300 500 1000 $((size - 10)); do
    cp "$T/pkg" "$T/corrupt"
    printf '\377' | dd of="$T/corrupt" bs=1 seek="$off" conv=notrunc 2>/dev/null
    cp "$T/old" "$T/tgt"
    "$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/corrupt" -q 2>/dev/null
    check "corrupt byte $off: exit 1" test $? -eq 1
    check "corrupt byte $off: target intact" cmp -s "$T/tgt" "$T/old"
done
# which checks ran: this package is one segment of the file's length, so
# the real run alone refused the corrupt bytes above (-v says so)
cp "$T/old" "$T/tgt"
"$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/pkg" -v > "$T/out.v"
check "one segment: no dry run" grep -q '^checks .*one segment.*no dry run' "$T/out.v"
check "one segment: applied" cmp -s "$T/tgt" "$T/new"
{ cat "$T/pkg"; printf 'x'; } > "$T/trail"
cp "$T/old" "$T/tgt"
"$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/trail" -q 2>"$T/err"
check "a byte after the package: refused (dry run)" grep -q UPD_E_PKG_TRAILING "$T/err"
check "a byte after the package: target intact" cmp -s "$T/tgt" "$T/old"
# several segments (5 MB of new data, 2 MiB segments): a corrupt last one
# must not follow the first ones' writes
"$SYNTH" unrelated 5 5M "$T/mo" "$T/mn"
"$UPD" diff --sign "$T/v.key" "$T/mo" "$T/mn" -o "$T/pkgm" -q --level 1
cp "$T/mo" "$T/tgt"
"$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/pkgm" -v > "$T/out.v"
check "several segments: a dry run first" grep -q '^checks .*a dry run' "$T/out.v"
check "several segments: applied" cmp -s "$T/tgt" "$T/mn"
# the package file rewritten between the dry run and the real run (the
# shim swaps it in at the CLI's rewind): the real run applies only the
# package the dry run passed, here another valid one for the same base
"$UPD" diff --sign "$T/v.key" "$T/mo" "$T/mn" -o "$T/pkgm3" -q --level 3
race() {   # race PKG OTHER BASE: apply PKG in place, OTHER swapped in
    cp "$1" "$T/race"
    cp "$3" "$T/tgt"
    UPD_SWAP_PATH="$T/race" UPD_SWAP_FROM="$2" LD_PRELOAD="$SWAP" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
        "$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/race" -q 2>"$T/err"
}
race "$T/pkgm" "$T/pkgm3" "$T/mo"
check "rewritten after the dry run: refused as another package" grep -q UPD_E_PKG_CHANGED "$T/err"
check "  ... target intact" cmp -s "$T/tgt" "$T/mo"
check "  ... the file did change" cmp -s "$T/race" "$T/pkgm3"
"$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/race" -q
check "  ... and what it now holds applies when checked itself" cmp -s "$T/tgt" "$T/mn"
"$UPD" diff --sign "$T/v.key" "$T/old" "$T/new" -o "$T/pkg3" -q --level 3 \
    --package-id rom.sys --from 1.0 --to 1.1
race "$T/pkg" "$T/pkg3" "$T/old"
check "one segment, rewritten after its prefix checked: refused" grep -q UPD_E_PKG_CHANGED "$T/err"
check "  ... target intact" cmp -s "$T/tgt" "$T/old"
msize=$(stat -c %s "$T/pkgm")
cp "$T/pkgm" "$T/pkgm.good"
printf '\377' | dd of="$T/pkgm" bs=1 seek=$((msize - 5)) conv=notrunc 2>/dev/null
cp "$T/mo" "$T/tgt"
"$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/pkgm" -q 2>"$T/err"
check "several segments, the last corrupt: refused" grep -q UPD_E_SEG_DIGEST "$T/err"
check "several segments, the last corrupt: target intact" cmp -s "$T/tgt" "$T/mo"
# streamed (a pipe: a file on stdin gets the dry run too), the same
# package leaves its progress in the journal; a signed
# one-segment full image that is refused after its segment validated (its
# header claims a byte more than its ops make) must leave that journal
# and the target as they were, and say whose progress the journal holds
cat "$T/pkgm" | "$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" - -q 2>/dev/null
check "streamed, the last segment corrupt: progress kept" test -s "$T/tgt.upd-journal"
cp "$T/tgt.upd-journal" "$T/j.before"
cp "$T/tgt" "$T/t.before"
: > "$T/empty"
head -c 100000 "$T/new" > "$T/small"
"$UPD" diff --sign "$T/v.key" "$T/empty" "$T/small" -o "$T/full" -q
printf '\241\206\001' | dd of="$T/full" bs=1 seek=40 conv=notrunc 2>/dev/null  # new_size 100001
# the header||manifest digest starts the auth block (FORMAT.md 4), then sign
at=$(( $(od -An -tu2 -j10 -N2 "$T/full" | tr -d ' ') + 84 ))
head -c "$at" "$T/full" | openssl dgst -sha256 -binary |
    dd of="$T/full" bs=1 seek="$at" conv=notrunc 2>/dev/null
"$UPD" sign "$T/full" --key "$T/v.key" >/dev/null
"$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/full" -v > "$T/out.v" 2>"$T/err"
check "a refused full image: UPD_E_RESULT_SIZE" grep -q UPD_E_RESULT_SIZE "$T/err"
check "a refused full image: the journal named as another update's" \
    grep -q "another update's progress" "$T/err"
check "a refused full image: the pending journal untouched" cmp -s "$T/tgt.upd-journal" "$T/j.before"
check "a refused full image: the target untouched" cmp -s "$T/tgt" "$T/t.before"
"$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/pkgm.good" -q
check "the interrupted update then resumes to the end" cmp -s "$T/tgt" "$T/mn"
check "and its journal is gone" test ! -e "$T/tgt.upd-journal"
rm -f "$T/mo" "$T/mn" "$T/pkgm" "$T/pkgm.good" "$T/t.before" "$T/j.before"
# nothing is opened before the package's prefix checks out: a key we do
# not trust is named even where the target's directory does not exist
"$UPD" keygen "$T/w" >/dev/null
"$UPD" apply --pubkey "$T/w.pub" --in-place "$T/no-such-dir/tgt" "$T/pkg" -q 2>"$T/err"
check "an untrusted key is refused before any file is opened" grep -q UPD_E_SIG_KEY_UNKNOWN "$T/err"
"$UPD" apply --pubkey "$T/v.pub" "$T/old" "$T/corrupt" -o "$T/out3" -q 2>/dev/null
check "failed out-of-place apply leaves no output" test ! -e "$T/out3" -a ! -e "$T/out3.part"
printf 'mine' > "$T/out4"; printf 'mine too' > "$T/out4.part"
"$UPD" apply --pubkey "$T/v.pub" "$T/old" "$T/corrupt" -o "$T/out4" -q 2>/dev/null
check "a failed out-of-place apply leaves an existing NEW as it was" \
    sh -c "test \"\$(cat '$T/out4')\" = mine && test ! -e '$T/out4.part'"
printf 'mine too' > "$T/out4.part"
"$UPD" apply --pubkey "$T/v.pub" "$T/no-such-old" "$T/pkg" -o "$T/out4" -q 2>/dev/null
check "an apply that cannot open OLD leaves a NEW.part it did not make" \
    sh -c "test \"\$(cat '$T/out4.part')\" = 'mine too'"
"$UPD" apply --pubkey "$T/v.pub" "$T/old" "$T/pkg" -o "$T/out5" --stash "$T/s5" -q 2>/dev/null
check "--stash out of place is a usage error (there is no stash)" test $? -eq 2 -a ! -e "$T/out5"

"$SYNTH" exe-like 6 3M "$T/other" "$T/unused"
cp "$T/other" "$T/tgt"
"$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/pkg" -q 2>"$T/err"
check "wrong base: exit 1" test $? -eq 1
check "wrong base: named" grep -q UPD_E_BASE "$T/err"
check "wrong base: target intact" cmp -s "$T/tgt" "$T/other"

head -c 1000 "$T/pkg" > "$T/cut"
cp "$T/old" "$T/tgt"
"$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" - -q < "$T/cut" 2>"$T/err"
check "streamed truncation: exit 1 with UPD_E_PKG_TRUNCATED" grep -q UPD_E_PKG_TRUNCATED "$T/err"

"$UPD" diff --sign "$T/v.key" "$T/old" -o "$T/x" -q 2>/dev/null
check "diff with a missing argument: usage, exit 2" test $? -eq 2
"$UPD" diff --sign "$T/v.key" "$T/old" "$T/new" -o "$T/x" --level 99 -q 2>/dev/null
check "diff with a bad level: exit 1" test $? -eq 1
"$UPD" diff --sign "$T/v.key" "$T/old" "$T/new" -o "$T/x" --trials x -q 2>/dev/null
check "diff --trials x: usage, exit 2" test $? -eq 2
"$UPD" diff --sign "$T/v.key" "$T/old" "$T/new" -o "$T/x" --trials 5 -q 2>/dev/null
check "diff --trials 5 (more than UPD_MAX_TRIALS): exit 1" test $? -eq 1
"$UPD" diff --sign "$T/v.key" "$T/old" "$T/new" -o "$T/x" --trials 2 --lzma never --json > "$T/t.json"
check "diff --trials 2 --json: two trial sizes, the kept one the package's" python3 -c '
import json, os, sys
j = json.load(open(sys.argv[1]))
s = j["trial_sizes"]
assert j["trials"] == 2 and len(s) == 2 and s[j["best_trial"]] == j["pkg_size"] == os.path.getsize(sys.argv[2])
assert j["pkg_size"] == min(x for x in s if x) and j["lzma_segments"] == 0
' "$T/t.json" "$T/x"
"$UPD" diff --sign "$T/v.key" "$T/old" "$T/new" -o "$T/x" --trials 2 --json > "$T/t2.json"
check "  ... with LZMA2 allowed: the same trials, a package no larger" python3 -c '
import json, os, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["trial_sizes"] == b["trial_sizes"] and b["pkg_size"] <= a["pkg_size"]
assert b["pkg_size"] == os.path.getsize(sys.argv[3])
' "$T/t.json" "$T/t2.json" "$T/x"
"$UPD" nosuch 2>/dev/null
check "unknown command: exit 2" test $? -eq 2

"$SYNTH" transpose 1 2M "$T/o2" "$T/n2"
"$UPD" diff --sign "$T/v.key" "$T/o2" "$T/n2" -o "$T/p2" --stash-max 16K --json > "$T/d.json"
check "diff --json reports the stash size" grep -q '"stash_size":' "$T/d.json"
cp "$T/o2" "$T/tgt"
"$UPD" apply --pubkey "$T/v.pub" --in-place "$T/tgt" "$T/p2" --stash "$T/mystash" -q
check "in-place with a named stash file" cmp -s "$T/tgt" "$T/n2"
check "  ... which is removed" test ! -e "$T/mystash"

# ---- signing, trust and policy
"$UPD" diff "$T/old" "$T/new" -o "$T/unsigned" -q --package-id rom.sys --from 1.0 --to 1.1
cp "$T/old" "$T/tgt"
"$UPD" apply --in-place "$T/tgt" "$T/unsigned" -q 2>"$T/err"
check "apply without any trusted key is refused" test $? -eq 1
check "  ... naming the missing key" grep -q "no trusted key" "$T/err"
"$UPD" apply --in-place "$T/tgt" "$T/unsigned" --pubkey "$T/v.pub" -q 2>"$T/err"
check "unsigned package refused with a key given" grep -q UPD_E_SIG_MISSING "$T/err"
check "  ... target untouched" cmp -s "$T/tgt" "$T/old"
"$UPD" apply --in-place "$T/tgt" "$T/unsigned" --insecure 2>/dev/null | grep -q "package is not signed"
check "--insecure applies an unsigned package, and says so" cmp -s "$T/tgt" "$T/new"
"$UPD" inspect "$T/unsigned" | grep -q "^signature   none"
check "inspect shows an unsigned package" test $? -eq 0
"$UPD" inspect "$T/pkg" --json | grep -q '"signature":"ed25519","key_id":"[0-9a-f]\{16\}"'
check "inspect --json shows the signing key id" test $? -eq 0
"$UPD" verify "$T/pkg" --pubkey "$T/v.pub" | grep -q "^verified"
check "verify accepts the vendor's signature" test $? -eq 0
kid=$("$UPD" inspect "$T/pkg" | sed -n 's/^signature   ed25519, key id \([0-9a-f]*\).*/\1/p')
cat "$T/pkg" | "$UPD" verify /dev/stdin --pubkey "$T/v.pub" > "$T/verify.out"
check "verify streams a package from a pipe and names the key it checked" \
    grep -q "^verified  signature by key $kid, " "$T/verify.out"
"$UPD" keygen "$T/other" >/dev/null
"$UPD" verify "$T/pkg" --pubkey "$T/other.pub" -q 2>"$T/err"
check "verify with the wrong key fails" grep -q UPD_E_SIG_KEY_UNKNOWN "$T/err"
"$UPD" keygen "$T/other" >/dev/null 2>&1
check "keygen refuses to overwrite a private key" test $? -ne 0
cp "$T/unsigned" "$T/resigned"
"$UPD" sign "$T/resigned" --key "$T/other.key" -q
"$UPD" verify "$T/resigned" --pubkey "$T/v.pub" --pubkey "$T/other.pub" -q
check "sign an existing package; verify with a two-key ring (rotation)" test $? -eq 0
"$UPD" sign "$T/resigned" --key "$T/other.pub" -q 2>/dev/null
check "signing with a public key fails" test $? -eq 1
mkdir "$T/keys"
cp "$T/v.pub" "$T/keys/vendor.pub"
cp "$T/old" "$T/tgt"
"$UPD" apply --in-place "$T/tgt" "$T/pkg" --keydir "$T/keys" -q
check "apply with a key directory" cmp -s "$T/tgt" "$T/new"
"$UPD" verify "$T/pkg" --keydir "$T/keys" | sed -n 's/.*by key \([0-9a-f]*\),.*/\1/p' > "$T/keys/revoked"
cp "$T/old" "$T/tgt"
"$UPD" apply --in-place "$T/tgt" "$T/pkg" --keydir "$T/keys" -q 2>"$T/err"
check "a revoked key is refused" grep -q UPD_E_SIG_KEY_REVOKED "$T/err"
check "  ... target untouched" cmp -s "$T/tgt" "$T/old"
"$UPD" apply --in-place "$T/tgt" "$T/pkg" --pubkey "$T/v.pub" --installed-version 1.1 -q 2>"$T/err"
check "replayed package (already on 1.1) refused as rollback" grep -q UPD_E_PKG_ROLLBACK "$T/err"
"$UPD" apply --in-place "$T/tgt" "$T/pkg" --pubkey "$T/v.pub" --package-id modem -q 2>"$T/err"
check "package for another ROM package id refused" grep -q UPD_E_PKG_WRONG_ID "$T/err"
"$UPD" apply --in-place "$T/tgt" "$T/pkg" --pubkey "$T/v.pub" --installed-version 0.9 -q 2>"$T/err"
check "package for another installed version refused" grep -q UPD_E_PKG_WRONG_FROM "$T/err"
check "  ... target untouched by every refusal" cmp -s "$T/tgt" "$T/old"
"$UPD" diff "$T/new" "$T/old" -o "$T/down" -q --sign "$T/v.key" --package-id rom.sys --from 1.1 --to 1.0
cp "$T/new" "$T/tgt"
"$UPD" apply --in-place "$T/tgt" "$T/down" --pubkey "$T/v.pub" -q 2>"$T/err"
check "a signed downgrade is refused by default" grep -q UPD_E_PKG_ROLLBACK "$T/err"
"$UPD" apply --in-place "$T/tgt" "$T/down" --pubkey "$T/v.pub" --allow-downgrade -q
check "  ... and applies with --allow-downgrade" cmp -s "$T/tgt" "$T/old"
"$UPD" diff "$T/old" "$T/new" -o "$T/badsign" -q --sign "$T/v.pub" 2>/dev/null
check "diff --sign with a public key fails and leaves no package" test $? -ne 0 -a ! -e "$T/badsign" -a ! -e "$T/badsign.part"

echo "cli: $pass passed, $fail failed"
test "$fail" -eq 0
