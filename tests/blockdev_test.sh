#!/bin/sh
# In-place apply on a real block device (a loop device over a file): growth
# within the capacity, the stash outside the device, a device too small for
# the new image refused untouched.  Needs root and loop devices; when the
# kernel or sandbox has none it says so and skips (exit 77).
# Usage: blockdev_test.sh UPDELTA UPDELTA_SYNTH
set -u
UPD=$1; SYNTH=$2
T=$(mktemp -d /tmp/upd-blk-XXXXXX)
LOOP=""
cleanup() { [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$UPD" keygen "$T/v" >/dev/null || { echo "keygen failed"; exit 1; }
pass=0; fail=0
check() { desc=$1; shift; if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $desc" >&2; fi; }

attach() {  # attach FILE, set LOOP
    [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
    LOOP=$(losetup -f --show "$1" 2>/dev/null) || LOOP=""
    [ -n "$LOOP" ]
}

"$SYNTH" grow 4 2M "$T/old" "$T/new"
"$UPD" diff --sign "$T/v.key" "$T/old" "$T/new" -o "$T/pkg" -q
new_size=$(stat -c %s "$T/new")

truncate -s 8M "$T/dev.img"
dd if="$T/old" of="$T/dev.img" conv=notrunc status=none
if ! attach "$T/dev.img"; then
    echo "blockdev: SKIP: cannot attach a loop device here (not root, or no loop support)"
    exit 77
fi
"$UPD" apply --pubkey "$T/v.pub" --in-place "$LOOP" "$T/pkg" -q
check "apply on $LOOP exits 0" test $? -eq 0
check "device holds the new image" cmp -s -n "$new_size" "$LOOP" "$T/new"
check "bytes past the image untouched" sh -c "tail -c +$((new_size + 1)) '$LOOP' | tr -d '\\000' | wc -c | grep -qx 0"
check "default journal file removed" sh -c "! ls /var/tmp/updelta-$(basename "$LOOP").journal 2>/dev/null"
"$UPD" apply --pubkey "$T/v.pub" --in-place "$LOOP" "$T/pkg" > "$T/again" 2>&1
check "second apply is a no-op (the device already holds the new image)" grep -q "^applied   already" "$T/again"

# a device smaller than the new image: refused before any write
# the same apply through each backend explicitly (the one above is --io=auto)
for io in "--io=posix" "--io=uring" "--io=uring --direct"; do
    dd if="$T/old" of="$T/dev.img" conv=notrunc status=none
    attach "$T/dev.img"
    # shellcheck disable=SC2086
    "$UPD" apply --pubkey "$T/v.pub" --in-place "$LOOP" "$T/pkg" -q $io
    check "apply $io on $LOOP" cmp -s -n "$new_size" "$LOOP" "$T/new"
done

truncate -s 3M "$T/small.img"
dd if="$T/old" of="$T/small.img" conv=notrunc status=none
cp "$T/small.img" "$T/small.before"
attach "$T/small.img"
"$UPD" apply --pubkey "$T/v.pub" --in-place "$LOOP" "$T/pkg" -q 2>"$T/err"
check "small device: exit 1" test $? -eq 1
check "small device: UPD_E_BASE_SIZE" grep -q UPD_E_BASE_SIZE "$T/err"
losetup -d "$LOOP"; LOOP=""
check "small device: untouched" cmp -s "$T/small.img" "$T/small.before"

echo "blockdev: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
