# Sourced by the server test scripts: a work directory T (removed at exit,
# after stopping the processes in SPID, DPID and NPID), the check helpers,
# wait_for, start_server and start_nginx.
T=$(mktemp -d /tmp/upd-srv-XXXXXX)
chmod 755 "$T"              # nginx's worker runs unprivileged
SPID=""
DPID=""
NPID=""
cleanup() {
    for p in $DPID $NPID $SPID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
pass=0
fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { desc=$1; shift; if "$@"; then ok; else bad "$desc"; fi; }

# wait_for FILE PATTERN [SECONDS]: until grep finds PATTERN in FILE
wait_for() {
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt $(( ${3:-30} * 10 )) ] && return 1
        sleep 0.1
    done
}

# Fixed ports stay below the kernel's ephemeral range (32768 and up), so a
# port a test frees and binds again is not taken meanwhile by some client's
# outgoing connection: nginx 10000-19999, servers 20000-29999, UDP
# notifications 30000-32767.
# start_nginx DIR ROOT serves ROOT/ at
# http://127.0.0.1:PORT/pkg/ with nginx (config, pid, logs under DIR), on
# the first free port it finds; sets NGINX_URL ("" when nginx would not
# start) and NPID (stop it with kill "$NPID").  One process, no master: a
# test can pause the download server with kill -STOP "$NPID".
start_nginx() {
    NGINX_URL=""
    NPID=""
    mkdir -p "$1"
    for try in 1 2 3 4 5 6 7 8; do
        ngx_port=$(( (($$ + try * 7919) % 10000) + 10000 ))
        cat > "$1/nginx.conf" <<EOF
daemon off;
master_process off;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$ngx_port;
        location /pkg/ { alias $2/; }
    }
}
EOF
        nginx -c "$1/nginx.conf" -p "$1" 2>/dev/null &
        NPID=$!
        sleep 0.3
        if kill -0 "$NPID" 2>/dev/null && curl -s -o /dev/null "http://127.0.0.1:$ngx_port/pkg/"; then
            NGINX_URL="http://127.0.0.1:$ngx_port/pkg"
            return 0
        fi
        wait "$NPID" 2>/dev/null
        NPID=""
    done
    return 1
}

# start_server PORT [ARGS]: updelta-server ($SRV) serving $T/db and $T/repo
# on PORT, --events appended to $T/server.log; SPID is its pid.
# (SERVE_EXTRA: more serve options for every start, e.g. --tls-cert/--tls-key)
start_server() {
    rm -f "$T/port"
    # shellcheck disable=SC2086
    "$SRV" serve --db "$T/db" --repo "$T/repo" --port-file "$T/port" --events ${SERVE_EXTRA:-} \
        --port "$@" >> "$T/server.log" 2>&1 &
    SPID=$!
    wait_for "$T/port" . 10
}
# start_server_fixed: start_server on the first of a few fixed ports that
# binds (a device's config names it), which goes to PORT
start_server_fixed() {
    for try in 1 2 3 4 5 6 7 8; do
        PORT=$(( (($$ + try * 7919) % 10000) + 20000 ))
        start_server "$PORT" && return 0
        kill "$SPID" 2>/dev/null
        wait "$SPID" 2>/dev/null
    done
    return 1
}
