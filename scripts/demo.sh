#!/bin/sh
# The main job: an end-to-end over-the-air update on 127.0.0.1, the seed's
# ten steps with the reference DM server and device.
#
#   sh scripts/demo.sh [--pairs esbuild,typescript,libcrypto]
#
# 1. installs the build deps (scripts/deps.sh), builds updelta,
#    updelta-server and updelta-device (Release, in build/ or
#    $UPDELTA_BUILD), fetches real image pairs pinned by sha256
#    (corpora/fetch.sh; cache: $UPDELTA_CORPUS, default corpora/.cache);
# 2. makes a vendor signing key, publishes each pair on the server
#    (updelta-server publish: a signed delta old -> new), and a device whose
#    ROM holds one image file per pair at its OLD version;
# 3. starts updelta-server (DM + package downloads with Range) and
#    updelta-device on free loopback ports in a temp dir, sends the
#    notification (package #0) and prints each step of the flow as it
#    happens, each FUMO State change and the download progress; waits for
#    the final alerts 1226 and the server's ROMPackage check, then prints a
#    table per package (from -> to, package vs image size, time from the
#    download's start to the image verified after the reboot, result code,
#    image bit-exact with the new version);
# 4. the failure path: a next version is published for the last pair and its
#    package tampered with on the download server (one byte flipped in a
#    segment); the device must refuse it before writing (image
#    byte-identical to a saved copy), report alert 1226 with result 402
#    (corrupt package), and stay at its version.
# Exits 0 only if every check held; otherwise prints the logs' tails and
# exits 1.  Everything runs in a temp dir removed at exit.
set -eu
cd "$(dirname "$0")/.."
PAIRS=esbuild,typescript,libcrypto
[ "${1:-}" = "--pairs" ] && PAIRS=$2
sh scripts/deps.sh bash
B=${UPDELTA_BUILD:-build}
echo "== building updelta, updelta-server, updelta-device (Release) in $B"
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DUPD_TESTS=OFF >/dev/null
cmake --build "$B" -j"$(nproc 2>/dev/null || echo 2)" \
    --target updelta_cli updelta-server updelta-device >/dev/null
B=$(cd "$B" && pwd)
CACHE=${UPDELTA_CORPUS:-$PWD/corpora/.cache}
bash corpora/fetch.sh --pairs "$PAIRS" "$CACHE"
UPD=$B/updelta SRV=$B/updelta-server DEVICE=$B/updelta-device
W=$(mktemp -d /tmp/updelta-demo-XXXXXX)
SPID="" DPID="" TPID=""
cleanup() {
    for p in $TPID $DPID $SPID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
TTY=0
[ -t 1 ] && TTY=1
fails=0
ok()  { printf '   ok    %s\n' "$1"; }
bad() { printf '   FAIL  %s\n' "$1"; fails=$((fails + 1)); }
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
# wait_for FILE PATTERN [SECONDS]: until grep -E finds PATTERN in FILE
wait_for() {
    i=0
    while ! grep -Eq "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt $(( ${3:-60} * 10 )) ] && return 1
        sleep 0.1
    done
}
# re TEXT: TEXT as a literal in an extended regex (versions hold '.', '+', '~')
re() { printf '%s' "$1" | sed 's/[][\\.^$*+?(){}|]/\\&/g'; }
field() { awk -F'\t' -v p="$1" -v f="$2" '$1 == p { print $f }' corpora/pairs.tsv; }
free_udp_port() {
    python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- 2. vendor key, catalogue, device ROM -----------------------------------
echo
echo "== the vendor signs and publishes the updates (updelta-server publish)"
mkdir -p "$W/keys" "$W/state" "$W/rom" "$W/img"
"$UPD" keygen "$W/vendor" >/dev/null
cp "$W/vendor.pub" "$W/keys/"
"$SRV" init --db "$W/db" --server-id updelta-demo --rompkg-root ./Vendor/updelta/ROMPackage >/dev/null
for p in $(echo "$PAIRS" | tr , ' '); do
    from=$(field "$p" 5) to=$(field "$p" 6)
    [ -n "$from" ] || { echo "demo: no pair $p in corpora/pairs.tsv" >&2; exit 2; }
    cp "$CACHE/$p/old" "$W/img/$p-old" && cp "$CACHE/$p/new" "$W/img/$p-new"
    "$SRV" publish --db "$W/db" --repo "$W/repo" --key "$W/vendor.key" --package-id "$p" \
        "$from=$W/img/$p-old" "$to=$W/img/$p-new" | sed 's/^/   /'
    cp "$W/img/$p-old" "$W/rom/$p.img"
done
NPORT=$(free_udp_port)
"$SRV" device --db "$W/db" IMEI:350000000000001 --user demo-device --secret device-pw \
    --server-secret server-pw --notify "127.0.0.1:$NPORT"

# ---- 3. server and device on loopback ---------------------------------------
# (TZ=UTC: its event times read like the device's)
TZ=UTC "$SRV" serve --db "$W/db" --repo "$W/repo" --port 0 --port-file "$W/port" --events \
    > "$W/server.log" 2>&1 &
SPID=$!
wait_for "$W/port" . 10 || { echo "demo: the server did not start" >&2; cat "$W/server.log"; exit 1; }
PORT=$(cat "$W/port")
{
    cat <<EOF
server_url = http://127.0.0.1:$PORT/dm
server_id = updelta-demo
server_password = server-pw
user = demo-device
password = device-pw
dev_id = IMEI:350000000000001
man = Acme
mod = Demo Phone
state_dir = $W/state
keys_dir = $W/keys
notify_port = $NPORT
retry_ms = 500
EOF
    for p in $(echo "$PAIRS" | tr , ' '); do
        printf 'rom.%s.name = %s\nrom.%s.image = %s\nrom.%s.version = %s\n' \
            "$p" "$p" "$p" "$W/rom/$p.img" "$p" "$(field "$p" 5)"
    done
} > "$W/device.conf"
"$DEVICE" -c "$W/device.conf" > "$W/device.log" 2>&1 &
DPID=$!
wait_for "$W/device.log" "notifications on udp" 10 ||
    { echo "demo: the device did not start" >&2; cat "$W/device.log"; exit 1; }
echo
echo "== server http://127.0.0.1:$PORT/ (DM at /dm, packages at /pkg/), device on udp $NPORT"

# narrate: print the lines of both logs that mark a step of the flow, from
# now until stopped (stop_narrator)
narrate() {
    sh -c 'echo $$ > "$1/tail.pid"; exec tail -n 0 -s 0.1 -F "$1/server.log" "$1/device.log" 2>/dev/null' \
        sh "$W" | awk -v tty="$TTY" -f scripts/demo_narrate.awk &
    NPID=$!
    wait_for "$W/tail.pid" . 5 || true
    TPID="$(cat "$W/tail.pid" 2>/dev/null) $NPID"
}
stop_narrator() {
    sleep 0.3                  # the last lines reach the narrator
    kill "$(cat "$W/tail.pid" 2>/dev/null)" 2>/dev/null || true
    wait $NPID 2>/dev/null || true
    rm -f "$W/tail.pid"
    TPID=""
}
# logs_since FILE N: FILE from line N+1
logs_since() { tail -n +$(($2 + 1)) "$1"; }
server_has() { logs_since "$W/server.log" "$S0" | grep -Eq "$1"; }
# wait_server PATTERN SECONDS: until the server logs PATTERN; gives up early
# when the server or the device died
wait_server() {
    i=0
    while ! server_has "$1"; do
        i=$((i + 1)); [ $i -gt $(( $2 * 10 )) ] && return 1
        kill -0 "$SPID" 2>/dev/null && kill -0 "$DPID" 2>/dev/null || return 1
        sleep 0.1
    done
}
# wait_end SECONDS: the campaign's end, or a session that could not plan it
wait_end() {
    wait_server "device (verified|failed)|refused|nothing checked|not in the catalogue" "$1" || true
}

echo
echo "== campaign 1: update every ROM package to its new version"
S0=$(wc -l < "$W/server.log")
narrate
T0=$(date +%s.%N)
"$SRV" notify --db "$W/db" IMEI:350000000000001 >/dev/null
wait_end 240
T1=$(date +%s.%N)
stop_narrator
echo
echo "== checks"
for p in $(echo "$PAIRS" | tr , ' '); do
    from=$(field "$p" 5) to=$(field "$p" 6)
    check "$p: alert 1226 for $from -> $to with result 200" \
        server_has "1226 $p $(re "$from") -> $(re "$to"): result 200 "
    check "$p: the server read version $to back from ROMPackage" \
        server_has "$p now at $(re "$to"): verified"
    check "$p: image bit-exact with the new version" cmp -s "$W/rom/$p.img" "$W/img/$p-new"
done
check "the server marks the device verified" server_has "device verified"
"$SRV" status --db "$W/db" --json > "$W/status.json"
check "status.json: device verified" grep -q '"state":"verified"' "$W/status.json"

# the table: sizes from the catalogue's plan lines and the files, times from
# the device log (Exec accepted to verified), codes from the server's alerts
echo
printf '%-11s %-42s %10s %10s %7s %9s %6s %s\n' package "from -> to" package image "%image" "dl+inst s" result verified
for p in $(echo "$PAIRS" | tr , ' '); do
    from=$(field "$p" 5) to=$(field "$p" 6)
    psize=$(logs_since "$W/server.log" "$S0" | sed -n "s/.* $p .* -> .*: direct delta, .* \([0-9][0-9]*\) bytes$/\1/p" | head -1)
    isize=$(stat -c %s "$W/img/$p-new")
    res=$(logs_since "$W/server.log" "$S0" | sed -n "s/.*1226 $p .*: result \([0-9]*\) .*/\1/p" | tail -1)
    secs=$(awk -v p="$p" '
        function t(s) { split(substr(s, 12, 12), a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
        (index($0, "new update available: ") && index($0, "/" p "_")) ||
            index($0, " " p ": download progress ") { if (!s) s = t($1) }
        index($0, " " p ": State 60 -> ") { e = t($1) }
        END { if (s && e) printf "%.2f", e - s; else print "?" }' "$W/device.log")
    if cmp -s "$W/rom/$p.img" "$W/img/$p-new" && server_has "$p now at $(re "$to"): verified"; then v=yes; else v=NO; fi
    awk -v p="$p" -v ft="$from -> $to" -v ps="${psize:-0}" -v is="$isize" -v s="$secs" -v r="${res:-none}" -v v="$v" \
        'BEGIN { printf "%-11s %-42s %10d %10d %6.2f%% %9s %6s %s\n", p, ft, ps, is, is ? 100 * ps / is : 0, s, r, v }'
done
server_has "device verified" &&
    awk -v a="$T0" -v b="$T1" 'BEGIN { printf "campaign: notification to device verified in %.1f s\n", b - a }'

# ---- 4. the failure path: a tampered package ---------------------------------
VP=$(echo "$PAIRS" | tr , '\n' | tail -1)
vcur=$(field "$VP" 6)
vnext="$vcur+hotfix1"
echo
echo "== campaign 2: $VP $vcur -> $vnext, its package tampered with on the download server"
cp "$W/img/$VP-new" "$W/img/$VP-next"
printf 'HOTFIX' | dd of="$W/img/$VP-next" bs=1 seek=4096 conv=notrunc 2>/dev/null
"$SRV" publish --db "$W/db" --repo "$W/repo" --key "$W/vendor.key" --package-id "$VP" \
    "$vnext=$W/img/$VP-next" > "$W/publish.out"
sed 's/^/   /' "$W/publish.out"
PKG=$W/repo/pkg/$(sed -n 's/^publish *\([^ ]*\.upd\): .*/\1/p' "$W/publish.out")
psz=$(stat -c %s "$PKG")
"$UPD" inspect "$PKG" --json > "$W/inspect.json"
nseg=$(sed -n 's/.*"segments":\([0-9]*\).*/\1/p' "$W/inspect.json")
prefix=$(sed -n 's/.*"prefix_size":\([0-9]*\).*/\1/p' "$W/inspect.json")
off=$(( (prefix + psz) / 2 ))     # the middle of the segments (docs/FORMAT.md)
byte=$(od -An -tu1 -j "$off" -N1 "$PKG" | tr -d ' ')
printf "\\$(printf '%03o' $((byte ^ 0x5a)))" | dd of="$PKG" bs=1 seek="$off" conv=notrunc 2>/dev/null
echo "   flipped byte $off of $(basename "$PKG") ($psz bytes, $nseg segment(s)); updelta verify says:"
"$UPD" verify "$PKG" --pubkey "$W/vendor.pub" 2>&1 | sed 's/^/     /' || true
cp "$W/rom/$VP.img" "$W/$VP.before"
S0=$(wc -l < "$W/server.log")
D0=$(wc -l < "$W/device.log")
narrate
"$SRV" notify --db "$W/db" IMEI:350000000000001 >/dev/null
wait_end 120
stop_narrator
echo
echo "== checks"
check "$VP: the server sent the Exec for $vcur -> $vnext" server_has "$VP $(re "$vcur") -> $(re "$vnext") .*Exec DownloadAndUpdate"
tail -n +$((D0 + 1)) "$W/device.log" > "$W/device.2.log"
check "$VP: the device refused the package (its dry run, or the install's checks before any write)" \
    eval "grep -q '$VP: install failed: .*(UPD_E_\(SEG\|PKG\|OP\)_' '$W/device.2.log' &&
          ! grep -q '$VP: installed version' '$W/device.2.log'"
check "$VP: no byte of the image written (cmp with the saved copy)" cmp -s "$W/rom/$VP.img" "$W/$VP.before"
check "$VP: alert 1226 with result 402 (corrupted package)" server_has "1226 $VP $(re "$vcur") -> $(re "$vnext"): result 402 "
check "the server marks the device failed with the reason" server_has "device failed: .*402"
"$SRV" status --db "$W/db" --json > "$W/status.json"
check "status.json: $VP still at $vcur" \
    grep -q "\"pkg_id\":\"$VP\",\"name\":\"$VP\",\"version\":\"$vcur\"" "$W/status.json"
check "the device still runs (no crash)" kill -0 "$DPID"

echo
if [ "$fails" -eq 0 ]; then
    echo "demo: every check held: the signed deltas were installed in place and verified, and"
    echo "the tampered package was refused before any write and reported (402)."
    exit 0
fi
echo "demo: $fails check(s) FAILED"
echo "--- server log (tail)"; tail -40 "$W/server.log"
echo "--- device log (tail)"; tail -60 "$W/device.log"
exit 1
