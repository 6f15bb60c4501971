#!/bin/bash
# Download + install throughput on loopback: "curl -o" then "updelta apply"
# (one after the other) against "updelta install" staged and streamed,
# each from the same nginx, median of RUNS wall times, same machine, same run.
# Usage: bench/download.sh [--runs N] [--updelta PATH] [--synth KIND SIZE] [OLD NEW]
#   Without OLD NEW: a synthetic pair from updelta-synth (default exe-like
#   32M; "unrelated" makes the package as large as the image).
set -eu
runs=5 kind=exe-like size=32M
root=$(cd "$(dirname "$0")/.." && pwd)
U=$root/build/updelta
while [[ ${1:-} == --* ]]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --updelta) U=$2; shift 2 ;;
    --synth) kind=$2 size=$3; shift 3 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
command -v nginx >/dev/null || PATH=$PATH:/usr/sbin
W=$(mktemp -d "${TMPDIR:-/tmp}/updelta-dlbench.XXXXXX")
chmod 755 "$W"
trap '[ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")"; rm -rf "$W"' EXIT
mkdir -p "$W/www" "$W/tmp"
if [[ $# -eq 2 ]]; then
    old=$1 new=$2
else
    "$(dirname "$U")/updelta-synth" "$kind" 11 "$size" "$W/old" "$W/new"
    old=$W/old new=$W/new
fi
"$U" keygen "$W/k" >/dev/null
"$U" diff "$old" "$new" -o "$W/www/pkg" -q --sign "$W/k.key"
chmod -R a+rX "$W/www"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$W/nginx.conf" <<CONF
daemon on; worker_processes 1; pid $W/nginx.pid; error_log $W/error.log;
events { worker_connections 64; }
http { access_log off; client_body_temp_path $W/tmp/b; proxy_temp_path $W/tmp/p;
       fastcgi_temp_path $W/tmp/f; uwsgi_temp_path $W/tmp/u; scgi_temp_path $W/tmp/s;
       server { listen 127.0.0.1:$port; root $W/www; } }
CONF
nginx -c "$W/nginx.conf" -p "$W"
url=http://127.0.0.1:$port/pkg
psize=$(stat -c %s "$W/www/pkg")
nsize=$(stat -c %s "$new")
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now() { date +%s.%N; }
declare -A t
methods="curl+apply install install-stream"
for r in $(seq 1 "$runs"); do
    for m in $methods; do
        cp "$old" "$W/tgt"
        rm -f "$W/pkg.dl"
        sync
        s=$(now)
        case $m in
        curl+apply)
            curl -sS -o "$W/pkg.dl" "$url"
            "$U" apply --in-place "$W/tgt" "$W/pkg.dl" --pubkey "$W/k.pub" -q ;;
        install)
            "$U" install "$url" --in-place "$W/tgt" --pubkey "$W/k.pub" -q ;;
        install-stream)
            "$U" install "$url" --in-place "$W/tgt" --pubkey "$W/k.pub" --stream -q ;;
        esac
        e=$(now)
        cmp -s "$W/tgt" "$new" || { echo "$m: wrong result" >&2; exit 1; }
        t[$m]="${t[$m]:-} $(awk "BEGIN { print $e - $s }")"
    done
done
echo "package $psize bytes, new image $nsize bytes, median of $runs runs (loopback nginx)"
printf '%-16s %9s %12s\n' method seconds "pkg MB/s"
for m in $methods; do
    med=$(echo "${t[$m]}" | tr ' ' '\n' | grep . | median)
    printf "%-16s %9.3f %12.1f\n" "$m" "$med" "$(awk "BEGIN { print $psize / $med / 1e6 }")"
done
