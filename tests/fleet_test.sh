#!/bin/sh
# A fleet against one updelta-server on 127.0.0.1: N updelta-device
# processes (default 50, env UPD_FLEET_N), each with its own state dir and a
# ROM of two packages, notified at once (notify --all).  Phase 1: every
# device updated, nothing lost (each device verified at the new versions by
# the server, each image bit-exact, one verified job per device and package
# whose final alert 1226 was logged, no job left open, no final alert left
# pending on a device).  Phase 2: new versions again, the server killed (-9)
# mid-campaign and restarted on the same database and port: the jobs in
# flight at the kill are matched from SQLite and verified, the operator's
# second notify --all finishes the rest.  Prints the campaign's wall time,
# the server's CPU seconds and peak RSS, and sessions per device.
# Usage: fleet_test.sh UPDELTA_SERVER UPDELTA_DEVICE UPDELTA UPDELTA_SYNTH
set -u
SRV=$1
DEVICE=$2
UPD=$3
SYNTH=$4
N=${UPD_FLEET_N:-50}
. "$(dirname "$0")/server_lib.sh"
trap 'exit 1' INT TERM HUP     # through the EXIT trap: every process stopped
mkdir -p "$T/keys"
"$UPD" keygen "$T/vendor" >/dev/null || exit 1
cp "$T/vendor.pub" "$T/keys/"
"$SYNTH" exe-like 21 192K "$T/os-1.0" "$T/os-1.1" >/dev/null &&
"$SYNTH" mixed 22 96K "$T/radio-2.0" "$T/radio-2.1" >/dev/null || { echo "synth failed"; exit 1; }
cp "$T/os-1.1" "$T/os-1.2"
printf 'OS12' | dd of="$T/os-1.2" bs=1 seek=9000 conv=notrunc 2>/dev/null
cp "$T/radio-2.1" "$T/radio-2.2"
printf 'RADIO22' | dd of="$T/radio-2.2" bs=1 seek=30000 conv=notrunc 2>/dev/null

DB=$T/db
q() { sqlite3 -batch -noheader "$DB" "$1"; }
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
"$SRV" init --db "$DB" --server-id updelta-server >/dev/null &&
"$SRV" publish --db "$DB" --repo "$T/repo" --key "$T/vendor.key" --package-id os \
    1.0="$T/os-1.0" 1.1="$T/os-1.1" >/dev/null &&
"$SRV" publish --db "$DB" --repo "$T/repo" --key "$T/vendor.key" --package-id radio \
    2.0="$T/radio-2.0" 2.1="$T/radio-2.1" >/dev/null || { echo "publish failed"; exit 1; }

# N consecutive UDP ports for the notifications, none of them bound now
for try in 1 2 3 4 5 6 7 8; do
    NBASE=$(( (($$ + try * 7919) % (2767 - N)) + 30000 ))
    ss -Hlun | awk -v lo="$NBASE" -v hi="$((NBASE + N))" \
        '{ n = split($4, a, ":"); p = a[n] + 0; if (p >= lo && p < hi) bad = 1 } END { exit bad }' &&
        break
done
k=1
while [ $k -le "$N" ]; do
    "$SRV" device --db "$DB" "IMEI:$k" --user "dev$k" --secret "pw$k" --server-secret "srv$k" \
        --notify "127.0.0.1:$((NBASE + k))" || exit 1
    k=$((k + 1))
done

start_server_fixed || { echo "server did not start"; exit 1; }

k=1
while [ $k -le "$N" ]; do
    d=$T/d$k
    mkdir -p "$d/state"
    cp "$T/os-1.0" "$d/os.img"
    cp "$T/radio-2.0" "$d/radio.img"
    cat > "$d/dev.conf" <<EOF
server_url = http://127.0.0.1:$PORT/dm
server_id = updelta-server
server_password = srv$k
user = dev$k
password = pw$k
dev_id = IMEI:$k
man = Acme
mod = Fleet
state_dir = $d/state
keys_dir = $T/keys
notify_port = $((NBASE + k))
retry_ms = 300
rom.os.name = OS
rom.os.image = $d/os.img
rom.os.version = 1.0
rom.radio.name = Radio
rom.radio.image = $d/radio.img
rom.radio.version = 2.0
EOF
    "$DEVICE" -c "$d/dev.conf" > "$d/log" 2>&1 &
    DPID="$DPID $!"
    k=$((k + 1))
done
k=1
while [ $k -le "$N" ]; do
    wait_for "$T/d$k/log" "notifications on udp" 20 || { echo "device $k did not start"; cat "$T/d$k/log"; exit 1; }
    k=$((k + 1))
done

now() { date +%s.%N; }
# cpu PID: user + system seconds of a live process
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
# fleet_done OS RADIO: every device verified by the server, both packages at these versions
fleet_done() {
    "$SRV" status --db "$DB" --json > "$T/status.json" 2>/dev/null &&
    jq -e --argjson n "$N" --arg os "$1" --arg radio "$2" '[.devices[] | select(.state == "verified"
        and ([.packages[] | select((.pkg_id == "os" and .version == $os)
                                   or (.pkg_id == "radio" and .version == $radio))] | length) == 2)]
        | length == $n' "$T/status.json" >/dev/null
}
# wait_fleet OS RADIO: fleet_done within a minute plus a second per device
wait_fleet() {
    w=0
    while ! fleet_done "$1" "$2"; do
        w=$((w + 1))
        [ $w -gt $(( (60 + N) * 4 )) ] && return 1
        sleep 0.25
    done
}
# assert_fleet OS RADIO PHASE: nothing lost, on the devices and in SQLite
assert_fleet() {
    bad_img=0 pend=0 i=1
    while [ $i -le "$N" ]; do
        cmp -s "$T/d$i/os.img" "$T/os-$1" && cmp -s "$T/d$i/radio.img" "$T/radio-$2" ||
            bad_img=$((bad_img + 1))
        grep -q '^alert = 0$' "$T/d$i/state/fumo-os.state" &&
            grep -q '^alert = 0$' "$T/d$i/state/fumo-radio.state" || pend=$((pend + 1))
        i=$((i + 1))
    done
    check "$3: every device image bit-exact ($bad_img differ)" test "$bad_img" -eq 0
    check "$3: no final alert pending on a device ($pend pending)" test "$pend" -eq 0
    v="j.to_version IN ('$1', '$2')"
    check "$3: one verified job per device and package" test "$(q "SELECT count(*) FROM
        (SELECT device, pkg_id FROM jobs j WHERE $v AND state = 'verified' AND result = 200
         GROUP BY device, pkg_id HAVING count(*) = 1)")" -eq $((2 * N))
    check "$3: every verified job's final alert logged" test "$(q "SELECT count(*) FROM jobs j
        WHERE $v AND state = 'verified' AND NOT EXISTS (SELECT 1 FROM alerts a
        WHERE a.code = 1226 AND a.correlator = j.correlator AND a.data = '200')")" -eq 0
    check "$3: no job left open" test "$(q "SELECT count(*) FROM jobs j
        WHERE state IN ('sent', 'accepted', 'reported')")" -eq 0
    check "$3: no failure reported by a device" test "$(q "SELECT count(*) FROM jobs j
        WHERE state = 'failed' AND result != 0")" -eq 0
    check "$3: no device failed or pending" test "$(q "SELECT count(*) FROM devices
        WHERE state != 'verified'")" -eq 0
    check "$3: no alert with an unknown correlator" test "$(grep -c 'unknown correlator' "$T/server.log")" -eq 0
}
# sessions per device: min/max/total since session row AFTER
sessions() {
    q "SELECT min(c), max(c), sum(c) FROM (SELECT count(s.id) c FROM devices d
       LEFT JOIN sessions s ON s.device = d.id AND s.id > $1 GROUP BY d.id)" | tr '|' ' '
}

# ---- phase 1: every device 1.0/2.0 -> 1.1/2.1 at once ----------------------
c0=$(cpu "$SPID")
t0=$(now)
"$SRV" notify --db "$DB" --all >/dev/null
check "phase 1: every device verified at os 1.1, radio 2.1" wait_fleet 1.1 2.1
t1=$(now)
c1=$(cpu "$SPID")
rss1=$(hwm "$SPID")
set -- $(sessions 0)
echo "fleet phase 1: $N devices, wall $(calc "$t1 - $t0") s, server CPU $(calc "$c1 - $c0") s," \
     "server peak RSS $rss1 KiB, sessions per device min $1 max $2 (total $3)"
assert_fleet 1.1 2.1 "phase 1"

# ---- phase 2: the server killed mid-campaign, restarted on the same DB ----
"$SRV" publish --db "$DB" --repo "$T/repo" --key "$T/vendor.key" --package-id os \
    1.2="$T/os-1.2" >/dev/null &&
"$SRV" publish --db "$DB" --repo "$T/repo" --key "$T/vendor.key" --package-id radio \
    2.2="$T/radio-2.2" >/dev/null
check "phase 2: versions published" test $? -eq 0
srow=$(q "SELECT coalesce(max(id), 0) FROM sessions")
accepted() { q "SELECT count(*) FROM jobs WHERE to_version IN ('1.2', '2.2') AND state = 'accepted'"; }
c0=$(cpu "$SPID")
t0=$(now)
"$SRV" notify --db "$DB" --all >/dev/null
# kill once a tenth of the devices accepted an Exec (read from SQLite: the
# event log lags by up to 100 ms): some devices installing, some with a
# session cut, some not yet served
i=0
while [ "$(accepted)" -lt $(( N / 10 + 1 )) ] && [ $i -lt 3000 ]; do i=$((i + 1)); done
c1=$(cpu "$SPID")
rss2=$(hwm "$SPID")
kill -9 "$SPID"
wait "$SPID" 2>/dev/null
inflight=$(q "SELECT group_concat(id) FROM jobs WHERE to_version IN ('1.2', '2.2')
              AND state IN ('accepted', 'reported')")
check "phase 2: killed mid-campaign (jobs in flight)" test -n "$inflight"
check "phase 2: killed mid-campaign (not all verified)" test "$(q "SELECT count(*) FROM jobs
    WHERE to_version IN ('1.2', '2.2') AND state = 'verified'")" -lt $((2 * N))
echo "fleet phase 2: killed with $(q "SELECT group_concat(state || ' ' || c, ', ') FROM (SELECT state,
    count(*) c FROM jobs WHERE to_version IN ('1.2', '2.2') GROUP BY state)") jobs," \
     "$(q "SELECT count(*) FROM devices d WHERE NOT EXISTS (SELECT 1 FROM jobs j
           WHERE j.device = d.id AND j.to_version IN ('1.2', '2.2'))") devices not yet served"
start_server "$PORT"
check "phase 2: server back on its port" test "$(cat "$T/port")" = "$PORT"
c2=$(cpu "$SPID")
# the operator runs the campaign again: sessions cut by the kill start over
"$SRV" notify --db "$DB" --all >/dev/null
check "phase 2: every device verified at os 1.2, radio 2.2 after the restart" wait_fleet 1.2 2.2
t1=$(now)
c3=$(cpu "$SPID")
rss3=$(hwm "$SPID")
check "phase 2: every job in flight at the kill matched from SQLite and verified" \
    test "$(q "SELECT count(*) FROM jobs WHERE id IN ($inflight) AND state != 'verified'")" -eq 0
set -- $(sessions "$srow")
echo "fleet phase 2: $N devices, wall $(calc "$t1 - $t0") s with a restart, server CPU" \
     "$(calc "$c1 - $c0 + $c3 - $c2") s, peak RSS $rss2/$rss3 KiB (before/after the kill)," \
     "sessions per device min $1 max $2 (total $3), $(cat "$T"/d*/log |
     grep -c "nonce of a message left unanswered") package #0 checked with the nonce of a cut message"
assert_fleet 1.2 2.2 "phase 2"

# every process stops cleanly on SIGTERM (under ASan: no leak, no error)
kill "$SPID"
wait "$SPID"
check "server stops cleanly" test $? -eq 0
SPID=""
unclean=0
for p in $DPID; do
    kill "$p"
    wait "$p" || unclean=$((unclean + 1))
done
DPID=""
check "every device stops cleanly ($unclean did not)" test "$unclean" -eq 0

echo "fleet_test ($N devices): $pass passed, $fail failed"
if [ "$fail" -ne 0 ]; then
    echo "--- server (last 60 lines)"; tail -60 "$T/server.log"
    echo "--- device 1 (last 20 lines)"; tail -20 "$T/d1/log"
fi
[ "$fail" -eq 0 ]
