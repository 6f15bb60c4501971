#!/bin/sh
# End-to-end checks of the download agent against real servers on
# 127.0.0.1: nginx (HTTP, and HTTPS with a self-signed certificate made
# here) and dl_fault.py (a relay that cuts connections at random offsets,
# and a server with faults: no Range, wrong Content-Range, truncated
# bodies, a stall).  Every download must end bit-exact or fail with the
# right error and FUMO code, with the partial file a clean prefix.
# Usage: download_test.sh UPDELTA UPDELTA_SYNTH
# DL_ROUNDS=N (default 2) sets the rounds of the cut and kill tests.
set -u
UPD=$1
SYNTH=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${DL_ROUNDS:-2}
command -v nginx >/dev/null || PATH=$PATH:/usr/sbin
command -v nginx >/dev/null || { echo "SKIP: nginx not installed (scripts/deps.sh)"; exit 77; }
T=$(mktemp -d /tmp/upd-dl-XXXXXX)
chmod 755 "$T"
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    [ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null
    sleep 0.2
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# sanitizer builds: reports go to files, checked at the end (many commands
# here are expected to fail, so an exit status alone would hide them)
if [ -n "${ASAN_OPTIONS:-}" ]; then
    export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$T/sanitizer"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:log_path=$T/sanitizer"
fi
pass=0
fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { desc=$1; shift; if "$@"; then ok; else bad "$desc"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FAST="--retries 8 --backoff 5 -q"

# ---- content: a plain blob and a signed delta package -------------------
mkdir -p "$T/www" "$T/tmp"
head -c 6000000 /dev/urandom > "$T/www/blob"
"$UPD" keygen "$T/v" >/dev/null && "$UPD" keygen "$T/other" >/dev/null || { echo "keygen failed"; exit 1; }
"$SYNTH" unrelated 7 3M "$T/old" "$T/new" || { echo "synth failed"; exit 1; }
"$UPD" diff --sign "$T/v.key" --segment-size 2M "$T/old" "$T/new" -o "$T/www/pkg" -q ||
    { echo "diff failed"; exit 1; }
cp "$T/www/pkg" "$T/www/slowpkg"
cp "$T/www/blob" "$T/www/slowblob"
chmod -R a+rX "$T/www"

# ---- nginx: HTTP and HTTPS ----------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null || { echo "openssl failed"; exit 1; }
HP=$(free_port)
SP=$(free_port)
cat > "$T/nginx.conf" <<CONF
daemon on;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx-error.log;
events { worker_connections 256; }
http {
    access_log $T/access.log;
    client_body_temp_path $T/tmp/body;
    proxy_temp_path $T/tmp/proxy;
    fastcgi_temp_path $T/tmp/fastcgi;
    uwsgi_temp_path $T/tmp/uwsgi;
    scgi_temp_path $T/tmp/scgi;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$HP;
        root $T/www;
        location = /err500 { return 500; }
        location = /slowpkg { limit_rate 1m; }
        location = /slowblob { limit_rate 2m; }
        location = /moving { limit_rate 2m; }
    }
    server {
        listen 127.0.0.1:$SP ssl;
        ssl_certificate $T/cert.pem;
        ssl_certificate_key $T/key.pem;
        root $T/www;
    }
}
CONF
nginx -c "$T/nginx.conf" -p "$T" 2>"$T/nginx.start" || { cat "$T/nginx.start"; echo "nginx failed"; exit 1; }
H="http://127.0.0.1:$HP"
S="https://127.0.0.1:$SP"

# start_fault NAME ARGS...: dl_fault.py on a free port; sets PORT
start_fault() {
    name=$1; shift
    rm -f "$T/$name.port" "$T/$name.log"
    python3 "$HERE/dl_fault.py" "$T/$name.port" "$T/$name.log" "$@" &
    PIDS="$PIDS $!"
    for _ in $(seq 50); do [ -s "$T/$name.port" ] && break; sleep 0.1; done
    PORT=$(cat "$T/$name.port")
}
sent() { awk '{s += $1} END {print s + 0}' "$T/$1.log"; }
# expect_fail DESC NAME CODE FUMO CMD...: CMD exits 1 naming CODE and FUMO
expect_fail() {
    what=$1 code=$2 fumo=$3; shift 3
    "$@" 2>"$T/err" >/dev/null
    rc=$?
    check "$what: exit 1" test $rc -eq 1
    check "$what: $code" grep -q "($code)" "$T/err"
    check "$what: FUMO $fumo" grep -q "FUMO result $fumo " "$T/err"
}
# start_killed ROUNDS CMD...: run CMD ROUNDS times, each killed with -9
# after a random 0.3-0.9 s
start_killed() {
    n=$1; shift
    for _ in $(seq "$n"); do
        "$@" 2>/dev/null &
        p=$!
        sleep "0.$(shuf -i 3-9 -n 1)"
        kill -9 $p 2>/dev/null
        wait $p 2>/dev/null
    done
}
is_prefix() { n=$(stat -c %s "$1"); cmp -s -n "$n" "$1" "$2"; }
size=$(stat -c %s "$T/www/blob")

# ---- plain fetches ---------------------------------------------------------
"$UPD" fetch "$H/blob" -o "$T/f1" --json > "$T/f1.json"
check "http fetch is bit-exact" cmp -s "$T/f1" "$T/www/blob"
check "  ... in one request" grep -q '"requests":1,' "$T/f1.json"
check "  ... leaving no partial or state file" test ! -e "$T/f1.part" -a ! -e "$T/f1.part.state"
"$UPD" fetch "$S/blob" -o "$T/f2" --cacert "$T/cert.pem" -q
check "https fetch with --cacert is bit-exact" cmp -s "$T/f2" "$T/www/blob"
expect_fail "https without trusting the self-signed certificate" UPD_E_NET_TLS 406 \
    "$UPD" fetch "$S/blob" -o "$T/f3" -q
check "  ... writes nothing" sh -c "test ! -s '$T/f3.part' && test ! -e '$T/f3'"

# ---- connections cut at random offsets: resume with Range, bit-exact ------
r=1
while [ $r -le "$ROUNDS" ]; do
    start_fault "cut$r" relay "127.0.0.1:$HP" 20000 400000 "$r"
    "$UPD" fetch "http://127.0.0.1:$PORT/blob" -o "$T/c$r" --retries 4 --backoff 5 --json > "$T/c$r.json"
    check "cut round $r: bit-exact" cmp -s "$T/c$r" "$T/www/blob"
    total=$(sent "cut$r")
    conns=$(wc -l < "$T/cut$r.log")
    check "cut round $r: $conns connections, $total bytes served <= 1.05 x $size" \
        test "$total" -le $((size + size / 20))
    check "cut round $r: resumed many times" test "$conns" -ge 5
    r=$((r + 1))
done
start_fault cuts relay "127.0.0.1:$SP" 30000 400000 99
"$UPD" fetch "https://127.0.0.1:$PORT/blob" -o "$T/cs" --cacert "$T/cert.pem" $FAST
check "https cut at random offsets: bit-exact" cmp -s "$T/cs" "$T/www/blob"
check "  ... bytes served <= 1.05 x size" test "$(sent cuts)" -le $((size + size / 20))

# ---- kill -9 at random instants, then resume -------------------------------
r=1
while [ $r -le "$ROUNDS" ]; do
    rm -f "$T/k"*
    start_killed 3 "$UPD" fetch "$H/slowblob" -o "$T/k" -q
    check "kill round $r: the partial is a clean prefix" is_prefix "$T/k.part" "$T/www/blob"
    "$UPD" fetch "$H/slowblob" -o "$T/k" --json > "$T/k.json" 2>/dev/null
    check "kill round $r: resumed fetch is bit-exact" cmp -s "$T/k" "$T/www/blob"
    check "kill round $r: it resumed past byte 0" sh -c "! grep -q '\"resumed_from\":0,' '$T/k.json'"
    r=$((r + 1))
done

# ---- faulty servers --------------------------------------------------------
start_fault norange serve "$T/www/blob" norange
"$UPD" fetch "http://127.0.0.1:$PORT/x" -o "$T/n" --retries 4 --backoff 5 --json > "$T/n.json"
check "server without Range: bit-exact" cmp -s "$T/n" "$T/www/blob"
check "  ... restarted from byte 0" sh -c "! grep -q '\"restarts\":0,' '$T/n.json'"

start_fault spaces serve "$T/www/blob" spaces 7
"$UPD" fetch "http://127.0.0.1:$PORT/x" -o "$T/sp" $FAST
check "Content-Range 'bytes = a - b / t' with cuts: bit-exact" cmp -s "$T/sp" "$T/www/blob"

start_fault trunc serve "$T/www/blob" truncate
"$UPD" fetch "http://127.0.0.1:$PORT/x" -o "$T/tr" $FAST
check "truncated bodies: resumed, bit-exact" cmp -s "$T/tr" "$T/www/blob"

start_fault badr serve "$T/www/blob" badrange
expect_fail "wrong Content-Range" UPD_E_NET_SERVER 500 \
    "$UPD" fetch "http://127.0.0.1:$PORT/x" -o "$T/br" --retries 2 --backoff 5 -q
check "  ... the partial stays a clean prefix" is_prefix "$T/br.part" "$T/www/blob"
check "  ... of the bytes before the fault" test "$(stat -c %s "$T/br.part")" -eq 100000

start_fault stall serve "$T/www/blob" stall
expect_fail "stalled server" UPD_E_NET_TIMEOUT 407 \
    "$UPD" fetch "http://127.0.0.1:$PORT/x" -o "$T/st" --stall-timeout 1 --retries 1 --backoff 5 -q
check "  ... the partial stays a clean prefix" is_prefix "$T/st.part" "$T/www/blob"

# a file replaced on the server between two attempts: no splice
cp "$T/www/blob" "$T/www/moving"
# under load a kill may land before the first checkpoint: try again until
# the state counts some durable bytes (bytes past its count are dropped as
# possibly torn, so the next fetch would start at 0 without a restart)
for _ in 1 2 3 4 5 6 7 8; do
    start_killed 1 "$UPD" fetch "$H/moving" -o "$T/mv" -q
    grep -q '^done [1-9]' "$T/mv.part.state" 2>/dev/null && break
done
check "replaced file: the first attempt stopped part-way, some bytes durable" \
    sh -c "grep -q '^done [1-9]' '$T/mv.part.state' && test -s '$T/mv.part'"
head -c "$size" /dev/urandom > "$T/www/moving.new"
touch -d '+1 minute' "$T/www/moving.new"
chmod a+r "$T/www/moving.new"
mv "$T/www/moving.new" "$T/www/moving"
"$UPD" fetch "$H/moving" -o "$T/mv" --json > "$T/mv.json"
check "replaced file: the result is the new file" cmp -s "$T/mv" "$T/www/moving"
check "  ... after a restart from byte 0" sh -c "! grep -q '\"restarts\":0,' '$T/mv.json'"

expect_fail "404" UPD_E_NET_NOT_FOUND 411 "$UPD" fetch "$H/missing" -o "$T/e1" -q
expect_fail "500" UPD_E_NET_SERVER 500 "$UPD" fetch "$H/err500" -o "$T/e2" --retries 1 --backoff 5 -q
dead=$(free_port)
expect_fail "refused connection" UPD_E_NET_CONNECT 412 \
    "$UPD" fetch "http://127.0.0.1:$dead/x" -o "$T/e3" --retries 1 --backoff 5 -q
expect_fail "unsupported scheme" UPD_E_NET_URL 411 "$UPD" fetch "ftp://127.0.0.1/x" -o "$T/e4" -q
expect_fail "package over --max-size" UPD_E_NET_TOO_LARGE 501 \
    "$UPD" fetch "$H/blob" -o "$T/e5" --max-size 1M -q
check "  ... nothing stored" test ! -s "$T/e5.part"
if mkdir -p "$T/small" && mount -t tmpfs -o size=2m tmpfs "$T/small" 2>/dev/null; then
    expect_fail "not enough disk space" UPD_E_NO_SPACE 501 "$UPD" fetch "$H/blob" -o "$T/small/f" -q
    check "  ... nothing stored" test ! -s "$T/small/f.part"
    umount "$T/small"
else
    echo "note: no tmpfs mount here (not root?): the disk-space check is not exercised" >&2
fi

# ---- install: staged and streamed ------------------------------------------
K="--pubkey $T/v.pub"
cp "$T/old" "$T/t1"
"$UPD" install "$H/pkg" --in-place "$T/t1" $K -q
check "install (download, verify, apply) is bit-exact" cmp -s "$T/t1" "$T/new"
check "  ... and removes the staged package" test ! -e "$T/t1.upd-download"
cp "$T/old" "$T/t2"
"$UPD" install "$H/pkg" --in-place "$T/t2" --stream $K -q
check "install --stream is bit-exact" cmp -s "$T/t2" "$T/new"
start_fault scut relay "127.0.0.1:$HP" 20000 120000 5
cp "$T/old" "$T/t3"
"$UPD" install "http://127.0.0.1:$PORT/pkg" --in-place "$T/t3" --stream $K $FAST
check "install --stream through random cuts is bit-exact" cmp -s "$T/t3" "$T/new"
cp "$T/old" "$T/t4"
expect_fail "install --stream of a package signed by an unknown key" UPD_E_SIG_KEY_UNKNOWN 404 \
    "$UPD" install "$H/pkg" --in-place "$T/t4" --stream --pubkey "$T/other.pub" -q
check "  ... leaves the target untouched" cmp -s "$T/t4" "$T/old"
# a corrupt segment: refused before it runs; the good package then finishes the job
psize=$(stat -c %s "$T/www/pkg")
cp "$T/www/pkg" "$T/www/bad"
printf 'Z' | dd of="$T/www/bad" bs=1 seek=$((psize - 1000)) conv=notrunc 2>/dev/null
cp "$T/old" "$T/t5"
expect_fail "install of a corrupt package" UPD_E_SEG_DIGEST 402 \
    "$UPD" install "$H/bad" --in-place "$T/t5" $K -q
check "  ... staged: verified first, the target is untouched" cmp -s "$T/t5" "$T/old"
expect_fail "install --stream of a corrupt package" UPD_E_SEG_DIGEST 402 \
    "$UPD" install "$H/bad" --in-place "$T/t5" --stream $K -q
"$UPD" install "$H/pkg" --in-place "$T/t5" --stream $K -q
check "  ... streamed: the good package resumes it, bit-exact" cmp -s "$T/t5" "$T/new"

start_fault snr serve "$T/www/pkg" norange 3
cp "$T/old" "$T/t6"
"$UPD" install "http://127.0.0.1:$PORT/pkg" --in-place "$T/t6" --stream $K $FAST
check "install --stream from a server without Range, cut twice: bit-exact" cmp -s "$T/t6" "$T/new"
# the package replaced on the server while the agent waits to retry: a
# stream cannot splice; it stops, and the journal lets the right package finish
cp "$T/www/pkg" "$T/www/pkgmv"
cp "$T/old" "$T/t7"
start_fault mvcut relay "127.0.0.1:$HP" 1500000 1500000 1
"$UPD" install "http://127.0.0.1:$PORT/pkgmv" --in-place "$T/t7" --stream $K --backoff 4000 -q \
    2>"$T/mv.err" &
p=$!
for _ in $(seq 100); do [ -s "$T/mvcut.log" ] && break; sleep 0.1; done
cp "$T/www/blob" "$T/www/pkgmv.new"
touch -d '+1 minute' "$T/www/pkgmv.new"
chmod a+r "$T/www/pkgmv.new"
mv "$T/www/pkgmv.new" "$T/www/pkgmv"
wait $p
check "install --stream of a package replaced mid-stream: exit 1" test $? -eq 1
check "  ... UPD_E_NET_SERVER, FUMO 500" sh -c "grep -q '(UPD_E_NET_SERVER)' '$T/mv.err' && grep -q 'FUMO result 500 ' '$T/mv.err'"
"$UPD" install "$H/pkg" --in-place "$T/t7" --stream $K -q
check "  ... then the right package finishes it, bit-exact" cmp -s "$T/t7" "$T/new"

r=1
while [ $r -le "$ROUNDS" ]; do
    cp "$T/old" "$T/ks"
    rm -f "$T/ks.upd-"*
    start_killed 4 "$UPD" install "$H/slowpkg" --in-place "$T/ks" --stream $K -q
    "$UPD" install "$H/slowpkg" --in-place "$T/ks" --stream $K -q
    check "stream kill round $r: resumed, bit-exact" cmp -s "$T/ks" "$T/new"
    check "stream kill round $r: journal and stash gone" sh -c "! ls '$T'/ks.upd-* 2>/dev/null"
    r=$((r + 1))
done

# resume with Range after a kill: the relay cuts after two of three
# segments, the agent (waiting to retry) is killed, the next run reads the
# header and jumps to the third segment
cp "$T/old" "$T/kj"
start_fault jcut relay "127.0.0.1:$HP" 2300000 2300000 1
"$UPD" install "http://127.0.0.1:$PORT/pkg" --in-place "$T/kj" --stream $K --backoff 20000 -q 2>/dev/null &
p=$!
for _ in $(seq 100); do [ -s "$T/jcut.log" ] && break; sleep 0.1; done
sleep 1
kill -9 $p 2>/dev/null
wait $p 2>/dev/null
check "stream resume: the killed run left a journal" test -s "$T/kj.upd-journal"
lines=$(wc -l < "$T/access.log")
"$UPD" install "$H/pkg" --in-place "$T/kj" --stream $K --json > "$T/kj.json"
check "stream resume: bit-exact" cmp -s "$T/kj" "$T/new"
check "stream resume: the applier says it resumed" grep -q '"resumed":true' "$T/kj.json"
tail -n +"$((lines + 1))" "$T/access.log" > "$T/resume.log"
check "stream resume: asked for the rest with a Range (206)" grep -q '"GET /pkg HTTP/1.1" 206 ' "$T/resume.log"
got=$(sed -n 's/.*"bytes_received":\([0-9]*\).*/\1/p' "$T/kj.json")
check "stream resume: received $got bytes, a segment less than the package ($psize)" \
    test "${got:-$psize}" -lt $((psize - 500000))

check "no sanitizer report" sh -c "! ls '$T'/sanitizer.* 2>/dev/null"
echo "download: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
