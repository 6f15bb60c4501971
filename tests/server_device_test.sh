#!/bin/sh
# updelta-server against updelta-device on 127.0.0.1: the seed's ten steps
# for a device with three ROM packages, one updated by a chain of two
# deltas (package #0, session with both
# sides authenticated, DevInfo, ROMPackage query, update choice, Replace +
# Exec with a correlator, download with Range, in-place install, State
# changes, alert 1226 matched by correlator, ROMPackage again, verified),
# then a package signed with an unknown key: refused before any write,
# alert 1226 with 404, device image intact, server marks the device failed;
# then the server killed (-9) right after the device accepted an Exec,
# packages served by nginx meanwhile, restarted on the same database: the
# device's alert reaches the new server, which verifies the update.
# Usage: server_device_test.sh UPDELTA_SERVER UPDELTA_DEVICE UPDELTA UPDELTA_SYNTH [MODE]
# MODE: xml (default), wbxml, hmac (XML, the device authenticating every
# message by x-syncml-hmac instead of a Cred), or tls (XML over HTTPS: DM
# and downloads, a certificate made here, the device trusting only it)
set -u
SRV=$1
DEVICE=$2
UPD=$3
SYNTH=$4
MODE=${5:-xml}
case $MODE in
    xml) ENCODING=xml; HMAC=0 ;;
    wbxml) ENCODING=wbxml; HMAC=0 ;;
    hmac) ENCODING=xml; HMAC=1 ;;
    tls) ENCODING=xml; HMAC=0 ;;
    *) echo "unknown mode $MODE"; exit 2 ;;
esac
. "$(dirname "$0")/server_lib.sh"
mkdir -p "$T/keys" "$T/state"
"$UPD" keygen "$T/vendor" >/dev/null && "$UPD" keygen "$T/rogue" >/dev/null || exit 1
cp "$T/vendor.pub" "$T/keys/"
"$SYNTH" exe-like 11 2M "$T/os-1.0" "$T/os-1.1" >/dev/null &&
"$SYNTH" mixed 12 1M "$T/radio-2.0" "$T/radio-2.1" >/dev/null &&
"$SYNTH" insert-delete 13 512K "$T/apps-3.0" "$T/apps-3.1" >/dev/null || { echo "synth failed"; exit 1; }
cp "$T/apps-3.1" "$T/apps-3.2"
printf 'APPS32' | dd of="$T/apps-3.2" bs=1 seek=4000 conv=notrunc 2>/dev/null
for p in os-1.0 radio-2.0 apps-3.0; do cp "$T/$p" "$T/${p%-*}.img"; done

"$SRV" init --db "$T/db" --server-id updelta-server --rompkg-root ./Vendor/updelta/ROMPackage >/dev/null
"$SRV" publish --db "$T/db" --repo "$T/repo" --key "$T/vendor.key" --package-id os \
    1.0="$T/os-1.0" 1.1="$T/os-1.1" >/dev/null &&
"$SRV" publish --db "$T/db" --repo "$T/repo" --key "$T/vendor.key" --package-id radio \
    2.0="$T/radio-2.0" 2.1="$T/radio-2.1" >/dev/null &&
"$SRV" publish --db "$T/db" --repo "$T/repo" --key "$T/vendor.key" --package-id apps \
    3.0="$T/apps-3.0" 3.1="$T/apps-3.1" 3.2="$T/apps-3.2" >/dev/null
check "three packages published" test $? -eq 0
NPORT=$(( ($$ % 2700) + 30000 ))
"$SRV" device --db "$T/db" IMEI:1 --user dev1 --secret pw --server-secret srvpwd \
    --notify "127.0.0.1:$NPORT"

SCHEME=http
if [ "$MODE" = tls ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
        -keyout "$T/tls.key" -out "$T/tls.pem" -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 2>/dev/null || { echo "openssl failed"; exit 1; }
    SERVE_EXTRA="--tls-cert $T/tls.pem --tls-key $T/tls.key"
    SCHEME=https
fi
start_server_fixed || { echo "server did not start"; exit 1; }
if [ "$MODE" = tls ]; then
    check "tls: the server serves HTTPS" grep -q "serving   https://" "$T/server.log"
    curl -sf -o /dev/null "https://127.0.0.1:$PORT/status.json"
    check "tls: a client without the certificate is refused" test $? -eq 60
    check "tls: a client trusting it gets through" \
        curl -sf -o /dev/null --cacert "$T/tls.pem" "https://127.0.0.1:$PORT/status.json"
    echo "ca_file = $T/tls.pem" > "$T/dev.extra"
else
    : > "$T/dev.extra"
fi
cat > "$T/dev.conf" <<EOF
server_url = $SCHEME://127.0.0.1:$PORT/dm
server_id = updelta-server
server_password = srvpwd
user = dev1
password = pw
dev_id = IMEI:1
man = Acme
mod = Phone 1
state_dir = $T/state
keys_dir = $T/keys
notify_port = $NPORT
retry_ms = 300
encoding = $ENCODING
hmac = $HMAC
rom.os.name = OS
rom.os.image = $T/os.img
rom.os.version = 1.0
rom.radio.name = Radio
rom.radio.image = $T/radio.img
rom.radio.version = 2.0
rom.apps.name = Apps
rom.apps.image = $T/apps.img
rom.apps.version = 3.0
EOF
cat "$T/dev.extra" >> "$T/dev.conf"
"$DEVICE" -c "$T/dev.conf" > "$T/device.log" 2>&1 &
DPID=$!
wait_for "$T/device.log" "notifications on udp" 10
"$SRV" notify --db "$T/db" IMEI:1 >/dev/null
check "step 1: package #0 sent" wait_for "$T/server.log" "notify .*package #0" 5
check "step 1: the device accepts it (digest, server id)" wait_for "$T/device.log" "notification accepted" 5
check "step 2: session answers package #0 (alert 1200)" wait_for "$T/server.log" "alert 1200" 5
check "step 2: device authenticated" wait_for "$T/server.log" "device authenticated" 5
[ "$HMAC" = 1 ] && check "step 2: by HMAC" wait_for "$T/server.log" "authenticated (HMAC-MD5" 5
check "step 2: server authenticated by the device" wait_for "$T/server.log" "accepted the server's credentials" 5
check "step 2: DevInfo" wait_for "$T/server.log" "DevInfo: Acme Phone 1" 5
check "step 3: ROMPackage lists three packages" wait_for "$T/server.log" "lists 3 package" 5
check "step 3: each version read" wait_for "$T/server.log" "radio (Radio) at version 2.0" 5
check "step 4: update chosen per package" wait_for "$T/server.log" "radio 2.0 -> 2.1: direct delta" 5
check "step 4: a chain where no direct delta exists" \
    wait_for "$T/server.log" "apps 3.0 -> 3.2: chain of deltas, 2 step" 5
check "step 4: Replace + Exec with correlator" wait_for "$T/server.log" "Exec DownloadAndUpdate, correlator" 5
[ "$MODE" = tls ] && check "tls: packages offered over https" \
    wait_for "$T/server.log" "(https://127.0.0.1:$PORT/pkg/" 5
check "step 5: Exec accepted (202)" wait_for "$T/server.log" "Exec answered 202" 5
check "step 6: download" wait_for "$T/device.log" "os: downloaded" 30
check "step 7: install" wait_for "$T/device.log" "os: installed version 1.1" 30
check "step 8: State changes" wait_for "$T/device.log" "State 60 -> 90" 30
for p in os radio apps; do
    check "step 9: alert 1226 for $p matched by correlator" \
        wait_for "$T/server.log" "1226 $p .*result 200" 30
    check "step 10: $p verified by ROMPackage" wait_for "$T/server.log" "$p now at .*: verified" 30
done
check "chain: the second step in a new session" \
    wait_for "$T/server.log" "apps 3.1 -> 3.2: next step in a new session" 30
check "chain: second step verified" wait_for "$T/server.log" "apps now at 3.2: verified" 30
check "device verified" wait_for "$T/server.log" "device verified" 30
check "os image is 1.1" cmp -s "$T/os.img" "$T/os-1.1"
check "radio image is 2.1" cmp -s "$T/radio.img" "$T/radio-2.1"
check "apps image is 3.2" cmp -s "$T/apps.img" "$T/apps-3.2"
"$SRV" status --db "$T/db" --json > "$T/status.json"
check "status: verified" grep -q '"state":"verified"' "$T/status.json"
check "status: os at 1.1" grep -q '"pkg_id":"os","name":"OS","version":"1.1","latest":"1.1"' "$T/status.json"

# ---- a package signed by an unknown key --------------------------------
cp "$T/os-1.1" "$T/os-1.2"
printf 'NEW' | dd of="$T/os-1.2" bs=1 seek=5000 conv=notrunc 2>/dev/null
"$SRV" publish --db "$T/db" --repo "$T/repo" --key "$T/rogue.key" --package-id os 1.2="$T/os-1.2" \
    >/dev/null
check "rogue package published" test $? -eq 0
cp "$T/os.img" "$T/os.before"
"$SRV" notify --db "$T/db" IMEI:1 >/dev/null
check "rogue: Exec sent" wait_for "$T/server.log" "os 1.1 -> 1.2: direct delta" 10
check "rogue: alert 1226 with 404 (validation)" \
    wait_for "$T/server.log" "1226 os 1.1 -> 1.2: result 404" 30
check "rogue: device marked failed" wait_for "$T/server.log" "device failed\|FUMO 404" 10
check "rogue: image untouched" cmp -s "$T/os.img" "$T/os.before"
"$SRV" status --db "$T/db" --json > "$T/status.json"
check "status: failed with the reason" grep -q '"state":"failed","reason":"os 1.2: FUMO 404' "$T/status.json"

# ---- the server dies mid-campaign; nginx keeps serving the packages ------
start_nginx "$T/ngx" "$T/repo/pkg"
check "nginx started" test -n "$NGINX_URL"
kill "$SPID"
wait "$SPID"
check "server stops cleanly on SIGTERM (no leak under ASan)" test $? -eq 0
start_server "$PORT" --download-url "$NGINX_URL"
check "server back on its port, packages on nginx" test "$(cat "$T/port")" = "$PORT"
cp "$T/radio-2.1" "$T/radio-2.2"
printf 'RADIO22' | dd of="$T/radio-2.2" bs=1 seek=70000 conv=notrunc 2>/dev/null
"$SRV" publish --db "$T/db" --repo "$T/repo" --key "$T/vendor.key" --package-id radio \
    2.2="$T/radio-2.2" >/dev/null
seen=$(wc -l < "$T/server.log")
# nginx paused: the device cannot finish (and report) before the server is gone
kill -STOP "$NPID"
"$SRV" notify --db "$T/db" IMEI:1 >/dev/null
check "restart: Exec for radio 2.2 sent with nginx's URL" \
    wait_for "$T/server.log" "radio 2.1 -> 2.2 ($NGINX_URL/" 10
new_202() { tail -n +$((seen + 1)) "$T/server.log" | grep -q "Exec answered 202"; }
i=0
while ! new_202 && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "restart: Exec accepted" new_202
kill -9 "$SPID"
wait "$SPID" 2>/dev/null
SPID=""
kill -CONT "$NPID"
check "restart: device installs while the server is down" \
    wait_for "$T/device.log" "radio: installed version 2.2" 30
sleep 0.5
start_server "$PORT" --download-url "$NGINX_URL"
check "restart: the alert reaches the restarted server" \
    wait_for "$T/server.log" "1226 radio 2.1 -> 2.2: result 200" 30
check "restart: radio verified at 2.2" wait_for "$T/server.log" "radio now at 2.2: verified" 30
check "restart: radio image is 2.2" cmp -s "$T/radio.img" "$T/radio-2.2"

echo "server_device_test ($MODE): $pass passed, $fail failed"
[ "$fail" -eq 0 ] || { echo "--- server"; cat "$T/server.log"; echo "--- device"; tail -40 "$T/device.log"; }
[ "$fail" -eq 0 ]
