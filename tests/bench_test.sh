#!/bin/bash
# Checks of the benchmark tooling: updelta-micro reports every hot path
# with sane numbers and refuses bad arguments; bench/run.sh measures a small
# scaling pair bit-exact, and reports a tool whose output is wrong as FAIL,
# one that hangs as TIMEOUT and one killed before the timeout as OOM
# instead of dropping it.  The failing tools are a wrapper around the real
# updelta.  Usage: bench_test.sh UPDELTA UPDELTA_SYNTH UPDELTA_MICRO
set -u
UPD=$1 SYNTH=$2 MICRO=$3
root=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/upd-bench-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { desc=$1; shift; if "$@"; then ok; else bad "$desc"; fi; }
for c in python3 gnuplot zstd /usr/bin/time; do
    command -v "$c" >/dev/null || { echo "bench_test: needs $c (scripts/deps.sh installs it)" >&2; exit 1; }
done

# ---- updelta-micro
"$MICRO" --mib 4 --runs 3 --level 3 --json >"$T/micro.json"
check "micro exits 0" test $? -eq 0
check "micro: every path with a positive median, memcpy the reference" python3 - "$T/micro.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
names = [p["name"] for p in d["paths"]]
assert names == ["memcpy", "add", "zstd-decode", "sha256", "xxh3"], names
for p in d["paths"]:
    m = p["mb_s"]
    assert 0 < m["min"] <= m["median"] <= m["max"], p
assert d["paths"][0]["vs_memcpy"] == 1.0
EOF
"$MICRO" --mib 0 >/dev/null 2>&1
check "micro --mib 0 is a usage error" test $? -eq 2
"$MICRO" "$T/missing" >/dev/null 2>&1
check "micro on a missing file fails" test $? -eq 1

# ---- bench/run.sh with a wrapper that misbehaves as FAKE_MODE says
mkdir -p "$T/bin"
ln -s "$SYNTH" "$T/bin/updelta-synth"
ln -s "$MICRO" "$T/bin/updelta-micro"
cat >"$T/bin/updelta" <<EOF
#!/bin/bash
case "\${FAKE_MODE:-}:\$1:\$2" in
corrupt:apply:--in-place) "$UPD" "\$@" || exit; printf x | dd of="\$3" bs=1 seek=100 conv=notrunc 2>/dev/null ;;
hang:diff:*) sleep 30 ;;
killed:apply:--in-place) kill -9 \$\$ ;;
*) exec "$UPD" "\$@" ;;
esac
EOF
chmod +x "$T/bin/updelta"

run() { # mode out tools [options]
    local mode=$1 out=$2 tools=$3
    shift 3
    FAKE_MODE=$mode "$root/bench/run.sh" --updelta "$T/bin/updelta" --pairs none --scaling-sizes 2 \
        --tools "$tools" --no-micro --no-fetch --mem-cap 0 --io-backends posix --out "$out" "$@" \
        >"$out.log" 2>&1
}
status() { # out pair tool -> status and failed step
    python3 - "$1/results.json" "$2" "$3" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
r = [r for r in d["scaling"] if r["pair"] == sys.argv[2] and r["tool"] == sys.argv[3]]
print("%s %s" % (r[0]["status"], r[0]["failed_step"]) if r else "missing")
EOF
}

run corrupt "$T/c" updelta,zstd-patch
rc=$?
# the log goes with $T at exit: show it when run.sh itself gave up
[ -f "$T/c/results.json" ] || { echo "run.sh log:"; cat "$T/c.log"; }
check "run.sh exits 0 when a tool fails" test $rc -eq 0
check "correct tools are ok" test "$(status "$T/c" synth-2M updelta) $(status "$T/c" synth-2M zstd-patch)" = "ok  ok "
check "wrong in-place output is FAIL at cmp" test "$(status "$T/c" synth-2M updelta-inplace-posix)" = "FAIL cmp"
check "the FAIL is in the Markdown" grep -q 'updelta-inplace-posix: \*\*FAIL\*\* at cmp' "$T/c/results.md"
check "scaling plot drawn" test -s "$T/c/scaling.png"
check "in-place written bytes and flushes recorded" python3 - "$T/c/results.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
r = [r for r in d["scaling"] if r["tool"] == "updelta"][0]
assert r["apply"]["mb_per_s"]["median"] > 0 and r["patch_bytes"] > 0
EOF

run hang "$T/h" updelta --timeout 2
check "run.sh exits 0 when nothing succeeded" test $? -eq 0
check "a hanging diff is TIMEOUT" test "$(status "$T/h" synth-2M updelta)" = "TIMEOUT diff"
check "its in-place row too" test "$(status "$T/h" synth-2M updelta-inplace-posix)" = "TIMEOUT diff"

run killed "$T/k" updelta
check "an apply killed before the timeout is OOM" test "$(status "$T/k" synth-2M updelta-inplace-posix)" = "OOM apply"
check "the out-of-place row is unaffected" test "$(status "$T/k" synth-2M updelta)" = "ok "

echo "bench_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
