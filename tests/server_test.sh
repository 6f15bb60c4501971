#!/bin/sh
# updelta-server end to end over HTTP on 127.0.0.1: publish signed deltas,
# serve them, and check the download server's Range / If-Range / HEAD
# answers against nginx serving the same files (the same curl checks run
# against both); the DM endpoint's media types and first challenge; the
# status command and JSON endpoint; state kept across a restart.
# Usage: server_test.sh UPDELTA_SERVER UPDELTA UPDELTA_SYNTH
set -u
SRV=$1
UPD=$2
SYNTH=$3
. "$(dirname "$0")/server_lib.sh"

# ---- publish ------------------------------------------------------------
"$UPD" keygen "$T/vendor" >/dev/null || { echo "keygen failed"; exit 1; }
"$SYNTH" exe-like 7 3M "$T/os-1.0" "$T/os-1.1" >/dev/null || { echo "synth failed"; exit 1; }
"$SRV" init --db "$T/db" --server-id srv.test >/dev/null
check "init" test $? -eq 0
"$SRV" publish --db "$T/db" --repo "$T/repo" --key "$T/vendor.key" --package-id os \
    --full 1.0="$T/os-1.0" 1.1="$T/os-1.1" > "$T/publish.out"
check "publish exits 0" test $? -eq 0
PKG="$T/repo/pkg/os_1.0_1.1.upd"
check "delta written" test -s "$PKG"
check "full image written" test -s "$T/repo/pkg/os_full_1.1.upd"
"$UPD" verify "$PKG" --pubkey "$T/vendor.pub" >/dev/null 2>&1
check "published delta verifies with the vendor key" test $? -eq 0
cp "$T/os-1.0" "$T/target"
"$UPD" apply --in-place "$T/target" "$PKG" --pubkey "$T/vendor.pub" -q
check "published delta applies to 1.0 and gives 1.1" cmp -s "$T/target" "$T/os-1.1"
"$SRV" plan --db "$T/db" --package-id os --from 1.0 > "$T/plan.out"
check "plan: direct delta for 1.0" grep -q "direct, 1 step" "$T/plan.out"
"$SRV" plan --db "$T/db" --package-id os --from 0.1 > "$T/plan.out"
check "plan: full image for an unknown version" grep -q "full, 1 step" "$T/plan.out"
"$SRV" publish --db "$T/db" --repo "$T/repo" --key "$T/vendor.pub" --package-id os 2.0="$T/os-1.1" \
    >/dev/null 2>"$T/err"
check "publish refuses a public key" test $? -ne 0
"$SRV" device --db "$T/db" IMEI:1 --user dev1 --secret pw --server-secret srvpwd
check "device provisioned" test $? -eq 0
"$SRV" device --db "$T/db" IMEI:1 --user dev1 --secret pw --server-secret srvpwd 2>/dev/null
check "device provisioned twice is refused" test $? -ne 0

# ---- servers ------------------------------------------------------------
start_server() {
    rm -f "$T/port"
    mkdir -p "$T/trace"
    "$SRV" serve --db "$T/db" --repo "$T/repo" --port-file "$T/port" --trace "$T/trace" \
        > "$T/serve.out" 2>&1 &
    SPID=$!
    i=0
    while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    PORT=$(cat "$T/port" 2>/dev/null)
}
start_server
check "updelta-server listens" test -n "$PORT"
OURS="http://127.0.0.1:$PORT/pkg"

start_nginx "$T/ngx" "$T/repo/pkg"
check "nginx started for the comparison" test -n "$NGINX_URL"

SIZE=$(stat -c %s "$PKG")
NAME=$(basename "$PKG")
dd if="$PKG" of="$T/mid" bs=1 skip=100 count=100 2>/dev/null
tail -c 100 "$PKG" > "$T/tail"

# hdr FILE NAME: a response header's value (case-insensitive, CR stripped)
hdr() { grep -i "^$2:" "$1" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
status() { head -1 "$1" | cut -d' ' -f2; }

range_checks() {
    who=$1
    base=$2
    U="$base/$NAME"
    curl -s -I "$U" > "$T/h"
    check "$who: HEAD 200" test "$(status "$T/h")" = 200
    check "$who: HEAD Content-Length" test "$(hdr "$T/h" Content-Length)" = "$SIZE"
    check "$who: HEAD Accept-Ranges bytes" test "$(hdr "$T/h" Accept-Ranges)" = bytes
    ETAG=$(hdr "$T/h" ETag)
    LM=$(hdr "$T/h" Last-Modified)
    check "$who: ETag present" test -n "$ETAG"

    curl -s -D "$T/h" -o "$T/body" "$U"
    check "$who: GET 200 whole file" sh -c "test $(status "$T/h") = 200 && cmp -s '$T/body' '$PKG'"
    curl -s -D "$T/h" -o "$T/body" -H "Range: bytes=100-199" "$U"
    check "$who: Range a-b is 206" test "$(status "$T/h")" = 206
    check "$who: Content-Range a-b" test "$(hdr "$T/h" Content-Range)" = "bytes 100-199/$SIZE"
    check "$who: Range a-b bytes" cmp -s "$T/body" "$T/mid"
    curl -s -D "$T/h" -o "$T/body" -H "Range: bytes=-100" "$U"
    check "$who: suffix range" sh -c "test $(status "$T/h") = 206 && cmp -s '$T/body' '$T/tail'"
    check "$who: Content-Range suffix" test "$(hdr "$T/h" Content-Range)" = "bytes $((SIZE - 100))-$((SIZE - 1))/$SIZE"
    curl -s -D "$T/h" -o "$T/body" -H "Range: bytes=$SIZE-" "$U"
    check "$who: past the end is 416" test "$(status "$T/h")" = 416
    check "$who: 416 names the size" test "$(hdr "$T/h" Content-Range)" = "bytes */$SIZE"
    curl -s -D "$T/h" -o "$T/body" -H "Range: bytes=100-199" -H "If-Range: $ETAG" "$U"
    check "$who: If-Range with the ETag keeps the range" test "$(status "$T/h")" = 206
    curl -s -D "$T/h" -o "$T/body" -H "Range: bytes=100-199" -H 'If-Range: "stale"' "$U"
    check "$who: If-Range with another ETag sends everything" \
        sh -c "test $(status "$T/h") = 200 && cmp -s '$T/body' '$PKG'"
    curl -s -D "$T/h" -o "$T/body" -H "Range: bytes=100-199" -H "If-Range: $LM" "$U"
    check "$who: If-Range with the Last-Modified date keeps the range" test "$(status "$T/h")" = 206
    # a cut download resumed from where it stopped
    curl -s -o "$T/resumed" -r 0-99999 "$U"
    curl -s -C - -o "$T/resumed" "$U"
    check "$who: cut download resumed bit-exact" cmp -s "$T/resumed" "$PKG"
    curl -s -o /dev/null -w '%{http_code}' "$base/nothing.upd" > "$T/code"
    check "$who: missing package 404" test "$(cat "$T/code")" = 404
}
range_checks updelta-server "$OURS"
[ -n "$NGINX_URL" ] && range_checks nginx "$NGINX_URL"

# ours only: what Windows Mobile sends, and what must never be served
curl -s -D "$T/h" -o "$T/body" -H "Range: bytes = 100-199" "$OURS/$NAME"
check "spaces around '=' (Windows Mobile) still a range" \
    sh -c "test $(status "$T/h") = 206 && cmp -s '$T/body' '$T/mid'"
curl -s -o /dev/null -w '%{http_code}' --path-as-is "$OURS/../db" > "$T/code"
check "no path out of the download root" test "$(cat "$T/code")" = 404
curl -s -o /dev/null -w '%{http_code}' "$OURS/.hidden" > "$T/code"
check "no dot files" test "$(cat "$T/code")" = 404

# many downloads at once, each complete
i=0
pids=""
while [ $i -lt 16 ]; do curl -s -o "$T/par$i" "$OURS/$NAME" & pids="$pids $!"; i=$((i + 1)); done
for p in $pids; do wait "$p"; done
i=0
allok=1
while [ $i -lt 16 ]; do cmp -s "$T/par$i" "$PKG" || allok=0; i=$((i + 1)); done
check "16 parallel downloads all bit-exact" test $allok -eq 1

# ---- DM endpoint over HTTP ---------------------------------------------
cat > "$T/pkg1.xml" <<'EOF'
<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>http://127.0.0.1/dm</LocURI></Target><Source><LocURI>IMEI:1</LocURI></Source></SyncHdr><SyncBody><Alert><CmdID>1</CmdID><Data>1201</Data></Alert><Final/></SyncBody></SyncML>
EOF
DM="http://127.0.0.1:$PORT/dm"
curl -s -D "$T/h" -o "$T/reply" -H "Content-Type: application/vnd.syncml.dm+xml" \
    --data-binary @"$T/pkg1.xml" "$DM"
check "DM: 200 for a SyncML message" test "$(status "$T/h")" = 200
check "DM: answered in XML" grep -qi "Content-Type: application/vnd.syncml.dm+xml" "$T/h"
check "DM: no credentials -> 407 with a challenge" \
    sh -c "grep -q '<Data>407</Data>' '$T/reply' && grep -q 'NextNonce' '$T/reply'"
check "DM: --trace keeps the message and the reply" \
    sh -c "cmp -s '$T/pkg1.xml' '$T/trace/000001-in.xml' && cmp -s '$T/reply' '$T/trace/000001-out.xml'"
curl -s -o /dev/null -w '%{http_code}' -H "Content-Type: text/plain" --data-binary @"$T/pkg1.xml" \
    "$DM" > "$T/code"
check "DM: another media type -> 415" test "$(cat "$T/code")" = 415
curl -s -o /dev/null -w '%{http_code}' -H "Content-Type: application/vnd.syncml.dm+xml" \
    --data-binary "garbage" "$DM" > "$T/code"
check "DM: not SyncML -> 400" test "$(cat "$T/code")" = 400
head -c 1100000 /dev/zero > "$T/huge"
curl -s -o /dev/null -w '%{http_code}' -H "Content-Type: application/vnd.syncml.dm+xml" \
    --data-binary @"$T/huge" "$DM" > "$T/code"
check "DM: a message over 1 MiB -> 413" test "$(cat "$T/code")" = 413
curl -sv -o /dev/null -o /dev/null "$OURS/$NAME" "$OURS/$NAME" 2> "$T/verbose"
check "connections are kept alive between requests" grep -q "Re-using existing connection" "$T/verbose"
sed 's/IMEI:1/IMEI:unknown/' "$T/pkg1.xml" > "$T/pkg1u.xml"
curl -s -o "$T/reply" -H "Content-Type: application/vnd.syncml+xml" --data-binary @"$T/pkg1u.xml" "$DM"
check "DM: an unknown device gets 403 (DS media type accepted)" grep -q '<Data>403</Data>' "$T/reply"

# ---- status, and state across a restart ---------------------------------
curl -s "http://127.0.0.1:$PORT/status.json" > "$T/status.json"
check "status.json lists the device" grep -q '"dev_id":"IMEI:1"' "$T/status.json"
"$SRV" status --db "$T/db" > "$T/status.txt"
check "status text" grep -q '^IMEI:1 ' "$T/status.txt"
kill "$SPID"
wait "$SPID"
rc=$?
SPID=""
check "server stops cleanly on SIGTERM (no leak under ASan)" test $rc -eq 0
[ $rc -eq 0 ] || cat "$T/serve.out" >&2
start_server
check "server restarts on the same database" test -n "$PORT"
curl -s "http://127.0.0.1:$PORT/status.json" > "$T/status2.json"
check "devices survive the restart" grep -q '"dev_id":"IMEI:1"' "$T/status2.json"
curl -s -o "$T/body" "http://127.0.0.1:$PORT/pkg/$NAME"
check "packages served after the restart" cmp -s "$T/body" "$PKG"

echo "server_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
