#!/usr/bin/env bash
# bench/run.sh - patch size, time and memory of updelta against bsdiff,
# xdelta3 and zstd on the real-pair corpus (corpora/pairs.tsv).
#
#   bench/run.sh [--quick] [--pairs a,b] [--tools t1,t2] [--runs N]
#                [--corpus DIR] [--updelta PATH] [--out DIR]
#                [--timeout SECS] [--no-fetch]
#
# Writes OUT/results.json, OUT/results.md, two PNG plots (bench/plot.py) and
# OUT/raw/ (per-run logs), then prints results.md.  See bench/README.md for what is measured and how.
#
# Exit status: 0 all ran (a tool's FAIL/TIMEOUT is a result, not an error),
# 1 setup error, 2 usage error.

set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=bench/run.sh

ALL_TOOLS=(updelta bsdiff xdelta3 zstd-patch zstd-19)
# tools whose numbers updelta is compared with ("best peer")
PEERS=(bsdiff xdelta3 zstd-patch)
QUICK_MAX_BYTES=$((30 * 1024 * 1024))

die() { echo "$prog: $*" >&2; exit 1; }
note() { echo "$prog: $*" >&2; }
usage() {
    cat <<EOF
usage: $prog [--quick] [--pairs a,b] [--tools t1,t2] [--runs N] [--corpus DIR]
       [--updelta PATH] [--out DIR] [--timeout SECS] [--no-fetch]

  --quick         1 run, and only pairs under 30 MiB (unless --pairs/--runs say otherwise)
  --pairs a,b     pairs from corpora/pairs.tsv (default: all; see corpora/fetch.sh --list)
  --tools t1,t2   any of: ${ALL_TOOLS[*]} (default: all)
                  updelta gives two rows: out-of-place apply and in-place apply
  --runs N        runs per tool; median, min and max are reported (default 3)
  --corpus DIR    pair files DIR/<pair>/{old,new}, fetched/verified with
                  corpora/fetch.sh (default: bench/.corpus-cache)
  --no-fetch      use the corpus as it is, without calling corpora/fetch.sh
  --updelta PATH  updelta binary (default: build/updelta, built with cmake if missing)
  --out DIR       results directory (default: bench/results/<YYYY-MM-DD>)
  --timeout SECS  a single diff or apply running longer is killed: TIMEOUT (default 900)
EOF
}
usage_err() {
    echo "$prog: $*" >&2
    usage >&2
    exit 2
}

# Tool output can name the servers it talked to; this project's messages
# must not (same rule as corpora/fetch.sh).
scrub() { sed -E 's#[A-Za-z][A-Za-z0-9+.-]*://[^[:space:]]+#<url>#g'; }

# ---------------------------------------------------------------- options

quick=0 fetch=1 want_pairs="" want_tools="" runs="" corpus="" updelta="" out=""
timeout_s=900
set_opt() {
    case $1 in
    --pairs) want_pairs=$2 ;;
    --tools) want_tools=$2 ;;
    --runs) runs=$2 ;;
    --corpus) corpus=$2 ;;
    --updelta) updelta=$2 ;;
    --out) out=$2 ;;
    --timeout) timeout_s=$2 ;;
    *) usage_err "unknown option $1" ;;
    esac
}
while (($#)); do
    case $1 in
    --quick) quick=1 ;;
    --no-fetch) fetch=0 ;;
    --pairs | --tools | --runs | --corpus | --updelta | --out | --timeout)
        (($# >= 2)) || usage_err "$1 needs a value"
        set_opt "$1" "$2"
        shift
        ;;
    --*=*) set_opt "${1%%=*}" "${1#*=}" ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) usage_err "unknown argument $1" ;;
    esac
    shift
done

if [[ -z $runs ]]; then
    if ((quick)); then runs=1; else runs=3; fi
fi
[[ $runs =~ ^[1-9][0-9]*$ ]] || usage_err "--runs wants a positive integer, not '$runs'"
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || usage_err "--timeout wants a positive integer, not '$timeout_s'"

tools=()
if [[ -n $want_tools ]]; then
    IFS=',' read -r -a wt <<<"$want_tools"
    for t in "${wt[@]}"; do
        ok=0
        for a in "${ALL_TOOLS[@]}"; do [[ $t == "$a" ]] && ok=1; done
        ((ok)) || usage_err "unknown tool '$t' (tools: ${ALL_TOOLS[*]})"
    done
    for a in "${ALL_TOOLS[@]}"; do # canonical order
        for t in "${wt[@]}"; do
            [[ $t == "$a" ]] && { tools+=("$a"); break; }
        done
    done
else
    tools=("${ALL_TOOLS[@]}")
fi
has_tool() {
    local t
    for t in "${tools[@]}"; do [[ $t == "$1" ]] && return 0; done
    return 1
}

# ---------------------------------------------------------------- packages

apt_updated=0
apt_install() {
    local log
    [[ $(id -u) -eq 0 ]] || die "missing packages: $* (install them, e.g. as root: apt-get install -y $*)"
    command -v apt-get >/dev/null || die "missing packages: $*, and there is no apt-get to install them"
    if ((!apt_updated)); then
        note "apt-get update"
        log=$(apt-get update -q 2>&1) || { echo "$log" | scrub >&2; die "apt-get update failed"; }
        apt_updated=1
    fi
    note "apt-get install -y $*"
    log=$(DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" 2>&1) ||
        { echo "$log" | scrub >&2; die "apt-get install $* failed"; }
}

need=() # packages to install
need_cmd() { # command package
    command -v "$1" >/dev/null 2>&1 && return 0
    local p
    for p in "${need[@]}"; do [[ $p == "$2" ]] && return 0; done
    need+=("$2")
}
[[ -x /usr/bin/time ]] || need+=(time) # GNU time; the shell keyword is no use
need_cmd cmp diffutils
need_cmd timeout coreutils
need_cmd awk gawk
has_tool bsdiff && { need_cmd bsdiff bsdiff; need_cmd bspatch bsdiff; }
has_tool xdelta3 && need_cmd xdelta3 xdelta3
{ has_tool zstd-patch || has_tool zstd-19; } && need_cmd zstd zstd
need_cmd python3 python3          # bench/plot.py reads results.json ...
need_cmd gnuplot gnuplot-nox      # ... and draws the PNGs
((${#need[@]} == 0)) || apt_install "${need[@]}"

# ---------------------------------------------------------------- updelta

build_updelta() {
    local b=$root/build pk=() c
    for c in cmake:cmake make:make cc:gcc pkg-config:pkg-config; do
        command -v "${c%%:*}" >/dev/null || pk+=("${c#*:}")
    done
    ((${#pk[@]} == 0)) || apt_install "${pk[@]}"
    pk=()
    pkg-config --exists libzstd || pk+=(libzstd-dev)
    pkg-config --exists libcrypto || pk+=(libssl-dev)
    pkg-config --exists libdivsufsort || pk+=(libdivsufsort-dev)
    ((${#pk[@]} == 0)) || apt_install "${pk[@]}"
    if [[ ! -f $b/CMakeCache.txt ]]; then
        note "configuring $b (Release, no tests)"
        cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=Release -DUPD_TESTS=OFF >&2 ||
            die "cmake configure failed"
    fi
    note "building updelta in $b"
    cmake --build "$b" --target updelta_cli -j 2 >&2 || die "updelta build failed"
}

if has_tool updelta; then
    if [[ -n $updelta ]]; then
        [[ -f $updelta && -x $updelta ]] || die "--updelta $updelta: not an executable file"
    else
        updelta=$root/build/updelta
        [[ -x $updelta ]] || build_updelta
        [[ -x $updelta ]] || die "no updelta at $updelta after building"
    fi
    updelta=$(cd "$(dirname "$updelta")" && pwd)/$(basename "$updelta")
    "$updelta" version >/dev/null 2>&1 || die "$updelta does not run ('$updelta version' failed)"
fi

# ---------------------------------------------------------------- pairs

fetch_sh=$root/corpora/fetch.sh
[[ -x $fetch_sh ]] || die "missing $fetch_sh"
declare -a M_NAME=() M_KIND=() M_DESC=()
while read -r n k d; do
    [[ -n $n ]] || continue
    M_NAME+=("$n") M_KIND+=("$k") M_DESC+=("$d")
done < <("$fetch_sh" --list)
((${#M_NAME[@]} > 0)) || die "corpora/fetch.sh --list listed no pairs"

corpus=${corpus:-$here/.corpus-cache}
mkdir -p "$corpus"
corpus=$(cd "$corpus" && pwd)

# size hint from the description ("(~11 MiB)", "(~9 -> 11 MiB)", "(~530 KiB text)")
hint_bytes() {
    awk '{ m = 0
           for (i = 2; i <= NF; i++) {
               v = $(i - 1); gsub(/[^0-9.]/, "", v)
               if (v == "") continue
               if ($i ~ /^MiB/) v *= 1048576; else if ($i ~ /^KiB/) v *= 1024; else continue
               if (v > m) m = v }
           printf "%d\n", m }' <<<"$1"
}
pair_bytes() { # name -> largest of old/new on disk, else the description's hint
    local i=$1 o n
    if [[ -f $corpus/${M_NAME[i]}/old && -f $corpus/${M_NAME[i]}/new ]]; then
        o=$(stat -c %s "$corpus/${M_NAME[i]}/old") n=$(stat -c %s "$corpus/${M_NAME[i]}/new")
        echo $((o > n ? o : n))
    else
        hint_bytes "${M_DESC[i]}"
    fi
}

sel=() # indexes into M_*
if [[ -n $want_pairs ]]; then
    IFS=',' read -r -a wp <<<"$want_pairs"
    for p in "${wp[@]}"; do
        f=-1
        for i in "${!M_NAME[@]}"; do [[ ${M_NAME[i]} == "$p" ]] && f=$i; done
        ((f >= 0)) || usage_err "unknown pair '$p' (see corpora/fetch.sh --list)"
    done
    for i in "${!M_NAME[@]}"; do
        for p in "${wp[@]}"; do [[ ${M_NAME[i]} == "$p" ]] && { sel+=("$i"); break; }; done
    done
else
    for i in "${!M_NAME[@]}"; do
        if ((quick)) && (($(pair_bytes "$i") >= QUICK_MAX_BYTES)); then
            note "--quick: skipping ${M_NAME[i]} (30 MiB or more)"
            continue
        fi
        sel+=("$i")
    done
fi
((${#sel[@]} > 0)) || die "no pairs selected"

sel_names() { local i s=(); for i in "${sel[@]}"; do s+=("${M_NAME[i]}"); done; (IFS=,; echo "${s[*]}"); }
if ((fetch)); then
    note "checking the corpus in $corpus (corpora/fetch.sh)"
    "$fetch_sh" --pairs "$(sel_names)" "$corpus" >&2 || die "corpora/fetch.sh failed"
fi
for i in "${sel[@]}"; do
    for s in old new; do
        [[ -f $corpus/${M_NAME[i]}/$s ]] || die "missing $corpus/${M_NAME[i]}/$s"
    done
done
if ((quick)) && [[ -z $want_pairs ]]; then # re-check on real sizes
    s2=()
    for i in "${sel[@]}"; do
        if (($(pair_bytes "$i") >= QUICK_MAX_BYTES)); then
            note "--quick: skipping ${M_NAME[i]} (30 MiB or more)"
        else
            s2+=("$i")
        fi
    done
    sel=("${s2[@]}")
    ((${#sel[@]} > 0)) || die "no pairs selected"
fi

# ---------------------------------------------------------------- output dirs

out=${out:-$here/results/$(date +%F)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
raw=$out/raw
rm -rf "$raw"
mkdir -p "$raw"
work=$(mktemp -d "${TMPDIR:-/tmp}/updelta-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
# updelta packages are signed and applied with the signature checked, as on
# a device: the verification cost is part of every apply figure
if has_tool updelta; then
    "$updelta" keygen "$work/bench" >/dev/null || die "updelta keygen failed"
fi

# ---------------------------------------------------------------- helpers

usec() { local s=${1%.*} f=${1#*.}; echo $((10#$s * 1000000 + 10#$f)); }
qcmd() { local s; s=$(printf '%q ' "$@"); echo "${s% }"; }
json_str() { # JSON string literal
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/\\t}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/}
    printf '"%s"' "$s"
}
# stats FMT v... -> "median min max" (or "- - -" with no values)
stats() {
    local fmt=$1
    shift
    (($#)) || { echo "- - -"; return; }
    printf '%s\n' "$@" | sort -g | awk -v f="$fmt" '{ v[NR] = $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf f " " f " " f "\n", m, v[1], v[NR] }'
}
commas() { # 1234567 -> 1,234,567
    local n=$1 r=""
    [[ $n =~ ^[0-9]+$ ]] || { echo "$n"; return; }
    while ((${#n} > 3)); do r=,${n: -3}$r n=${n:0:${#n}-3}; done
    echo "$n$r"
}
fdiv() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf f "\n", a / b }'; }

# timed PREFIX CMD... : runs CMD under /usr/bin/time and timeout, stdin from
# /dev/null, stdout/stderr to PREFIX.out/.err.  Sets T_RC, T_S (wall seconds,
# 3 decimals, from $EPOCHREALTIME around the call), T_E (GNU time %e),
# T_RSS (peak RSS KiB, %M), T_USER, T_SYS.
timed() {
    local pre=$1 t0 t1 d line
    shift
    T_RC=0
    t0=$EPOCHREALTIME
    /usr/bin/time -o "$pre.time" -f '%e %M %U %S' \
        timeout -k 30 "$timeout_s" "$@" >"$pre.out" 2>"$pre.err" </dev/null || T_RC=$?
    t1=$EPOCHREALTIME
    d=$(($(usec "$t1") - $(usec "$t0") + 500))
    T_S=$(printf '%d.%03d' $((d / 1000000)) $(((d % 1000000) / 1000)))
    line=$(tail -n 1 "$pre.time" 2>/dev/null || true)
    T_E=- T_RSS=- T_USER=- T_SYS=-
    read -r T_E T_RSS T_USER T_SYS <<<"$line" || true
    [[ $T_RSS =~ ^[0-9]+$ ]] || T_RSS=-
}

# Results, keyed "pair/tool".  Lists are space-separated samples.
declare -A R_STATUS=() R_REASON=() R_FSTEP=() R_SIZES=() R_DCMD=() R_ACMD=() \
    R_DS=() R_DRSS=() R_DU=() R_DSYS=() R_AS=() R_ARSS=() R_AU=() R_ASYS=() \
    R_JD=() R_JA=() R_NOTE=() R_DE=() R_AE=()

rec_init() {
    R_STATUS[$1]=ok R_REASON[$1]="" R_FSTEP[$1]="" R_SIZES[$1]="" R_DCMD[$1]="" R_ACMD[$1]=""
    R_DS[$1]="" R_DRSS[$1]="" R_DU[$1]="" R_DSYS[$1]="" R_AS[$1]="" R_ARSS[$1]=""
    R_AU[$1]="" R_ASYS[$1]="" R_JD[$1]="" R_JA[$1]="" R_NOTE[$1]="" R_DE[$1]="" R_AE[$1]=""
}
rec_failed() { [[ ${R_STATUS[$1]} != ok ]]; }
rec_fail() { # key status step reason
    R_STATUS[$1]=$2 R_FSTEP[$1]=$3 R_REASON[$1]=$4
    note "  $1: $2 at $3: $4"
}
add() { # array-name key value : append a sample
    local -n arr=$1
    arr[$2]="${arr[$2]:+${arr[$2]} }$3"
}
push_diff() {
    add R_DS "$1" "$T_S"
    add R_DRSS "$1" "$T_RSS"
    add R_DU "$1" "$T_USER"
    add R_DSYS "$1" "$T_SYS"
    add R_DE "$1" "$T_E"
}
push_apply() {
    add R_AS "$1" "$T_S"
    add R_ARSS "$1" "$T_RSS"
    add R_AU "$1" "$T_USER"
    add R_ASYS "$1" "$T_SYS"
    add R_AE "$1" "$T_E"
}
# step_ok KEY STEP PREFIX RUN : after timed; records FAIL/TIMEOUT, returns 1
step_ok() {
    local msg
    if ((T_RC == 124 || T_RC == 137)); then
        rec_fail "$1" TIMEOUT "$2" "killed after ${timeout_s}s (run $4)"
        return 1
    elif ((T_RC != 0)); then
        msg=$(grep -v '^[[:space:]]*$' "$3.err" 2>/dev/null | tail -n 1 | scrub | cut -c1-200 || true)
        rec_fail "$1" FAIL "$2" "exit status $T_RC (run $4)${msg:+: $msg}"
        return 1
    fi
    return 0
}
add_size() { # key pkgfile
    local s
    s=$(stat -c %s "$2")
    if [[ -n ${R_SIZES[$1]} && " ${R_SIZES[$1]} " != *" $s "* ]]; then
        R_NOTE[$1]="patch size differs between runs"
    fi
    add R_SIZES "$1" "$s"
}
json_line() { # file -> its last line if it looks like one JSON object, else empty
    local l
    l=$(grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 || true)
    [[ $l == \{*\} ]] && echo "$l"
    return 0
}
progress() { # key step
    note "  $1 $2: ${T_S}s, $(fdiv "$T_RSS" 1024 %.1f) MiB"
}

cmd_diff() { # tool old new pkg -> CMD
    case $1 in
    updelta) CMD=("$updelta" diff "$2" "$3" -o "$4" -q --json --sign "$work/bench.key") ;;
    bsdiff) CMD=(bsdiff "$2" "$3" "$4") ;;
    xdelta3) CMD=(xdelta3 -e -9 -S lzma -s "$2" "$3" "$4") ;;
    zstd-patch) CMD=(zstd -q -19 --long=27 "--patch-from=$2" "$3" -o "$4") ;;
    zstd-19) CMD=(zstd -q -19 "$3" -o "$4") ;;
    esac
}
cmd_apply() { # tool old pkg out -> CMD   (updelta-inplace: old is the target)
    case $1 in
    updelta) CMD=("$updelta" apply "$2" "$3" -o "$4" -q --json --pubkey "$work/bench.pub") ;;
    updelta-inplace) CMD=("$updelta" apply --in-place "$2" "$3" -q --json --pubkey "$work/bench.pub") ;;
    bsdiff) CMD=(bspatch "$2" "$4" "$3") ;;
    xdelta3) CMD=(xdelta3 -d -s "$2" "$3" "$4") ;;
    zstd-patch) CMD=(zstd -q -d --long=27 "--patch-from=$2" "$3" -o "$4") ;;
    zstd-19) CMD=(zstd -q -d "$3" -o "$4") ;;
    esac
}

# ---------------------------------------------------------------- benchmarks

# One timed, cmp-checked updelta apply: key tool src out result pkg new prefix run
updelta_apply() {
    local k=$1 t=$2 src=$3 outarg=$4 result=$5 pkg=$6 new=$7 pre=$8 r=$9
    rec_failed "$k" && return 0
    cmd_apply "$t" "$src" "$pkg" "$outarg"
    R_ACMD[$k]=$(qcmd "${CMD[@]}")
    timed "$pre" "${CMD[@]}"
    if step_ok "$k" apply "$pre" "$r"; then
        if cmp -s "$result" "$new"; then
            push_apply "$k"
            R_JA[$k]=$(json_line "$pre.out")
            progress "$k" apply
        else
            rec_fail "$k" FAIL cmp "$t result differs from new (run $r)"
        fi
    fi
    [[ $result == "$src" ]] || rm -f "$result"
}

bench_peer() { # pair tool
    local p=$1 t=$2 k=$1/$2 r pre
    local old=$corpus/$1/old new=$corpus/$1/new pkg=$work/pkg outf=$work/out
    rec_init "$k"
    for ((r = 1; r <= runs; r++)); do
        rm -f "$pkg" "$outf"
        note "[$p] $t run $r/$runs"
        cmd_diff "$t" "$old" "$new" "$pkg"
        R_DCMD[$k]=$(qcmd "${CMD[@]}")
        pre=$raw/$p/$t.r$r.diff
        timed "$pre" "${CMD[@]}"
        step_ok "$k" diff "$pre" "$r" || break
        [[ -f $pkg ]] || { rec_fail "$k" FAIL diff "no patch written (run $r)"; break; }
        push_diff "$k"
        add_size "$k" "$pkg"
        progress "$k" diff
        cmd_apply "$t" "$old" "$pkg" "$outf"
        R_ACMD[$k]=$(qcmd "${CMD[@]}")
        pre=$raw/$p/$t.r$r.apply
        timed "$pre" "${CMD[@]}"
        step_ok "$k" apply "$pre" "$r" || break
        cmp -s "$outf" "$new" || { rec_fail "$k" FAIL cmp "apply output differs from new (run $r)"; break; }
        push_apply "$k"
        progress "$k" apply
    done
    rm -f "$pkg" "$outf"
}

# zstd -19 NEW alone: size only, one run; decompressed once (untimed) and
# compared so a broken baseline cannot go unnoticed.
bench_baseline() { # pair
    local p=$1 t=zstd-19 k=$1/zstd-19 pre
    local new=$corpus/$1/new pkg=$work/pkg outf=$work/out
    rec_init "$k"
    rm -f "$pkg" "$outf"
    note "[$p] $t (size only)"
    cmd_diff "$t" - "$new" "$pkg"
    R_DCMD[$k]=$(qcmd "${CMD[@]}")
    pre=$raw/$p/$t.r1.diff
    timed "$pre" "${CMD[@]}"
    if step_ok "$k" diff "$pre" 1; then
        push_diff "$k"
        add_size "$k" "$pkg"
        cmd_apply "$t" - "$pkg" "$outf"
        R_ACMD[$k]=$(qcmd "${CMD[@]}")
        pre=$raw/$p/$t.r1.apply
        timed "$pre" "${CMD[@]}"
        if step_ok "$k" apply "$pre" 1; then
            cmp -s "$outf" "$new" || rec_fail "$k" FAIL cmp "decompressed output differs from new"
        fi
    fi
    rm -f "$pkg" "$outf"
}

# updelta: one diff per run, then apply out of place (row "updelta") and in
# place on a fresh copy of old (row "updelta-inplace"); both rows share the
# diff numbers.
bench_updelta() { # pair
    local p=$1 r pre k1=$1/updelta k2=$1/updelta-inplace
    local old=$corpus/$1/old new=$corpus/$1/new pkg=$work/pkg outf=$work/out tgt=$work/target
    rec_init "$k1"
    rec_init "$k2"
    for ((r = 1; r <= runs; r++)); do
        rec_failed "$k1" && rec_failed "$k2" && break
        rm -f "$pkg" "$outf" "$tgt" "$tgt.upd-stash"
        note "[$p] updelta run $r/$runs"
        cmd_diff updelta "$old" "$new" "$pkg"
        R_DCMD[$k1]=$(qcmd "${CMD[@]}") R_DCMD[$k2]=${R_DCMD[$k1]}
        pre=$raw/$p/updelta.r$r.diff
        timed "$pre" "${CMD[@]}"
        if ! step_ok "$k1" diff "$pre" "$r"; then
            rec_fail "$k2" "${R_STATUS[$k1]}" diff "${R_REASON[$k1]}"
            break
        fi
        if [[ ! -f $pkg ]]; then
            rec_fail "$k1" FAIL diff "no patch written (run $r)"
            rec_fail "$k2" FAIL diff "no patch written (run $r)"
            break
        fi
        push_diff "$k1"
        push_diff "$k2"
        add_size "$k1" "$pkg"
        add_size "$k2" "$pkg"
        R_JD[$k1]=$(json_line "$pre.out") R_JD[$k2]=${R_JD[$k1]}
        progress "$k1" diff

        updelta_apply "$k1" updelta "$old" "$outf" "$outf" "$pkg" "$new" "$raw/$p/updelta.r$r.apply" "$r"
        cp "$old" "$tgt" # fresh copy, not timed
        updelta_apply "$k2" updelta-inplace "$tgt" - "$tgt" "$pkg" "$new" \
            "$raw/$p/updelta-inplace.r$r.apply" "$r"
        rm -f "$tgt" "$tgt.upd-stash"
    done
    rm -f "$pkg" "$outf" "$tgt" "$tgt.upd-stash"
}

t_start=$EPOCHREALTIME
started=$(date -u +%FT%TZ)
note "results in $out; work files in $work; $runs run(s) per tool; timeout ${timeout_s}s"
for i in "${sel[@]}"; do
    p=${M_NAME[i]}
    mkdir -p "$raw/$p"
    for t in "${tools[@]}"; do
        case $t in
        updelta) bench_updelta "$p" ;;
        zstd-19) bench_baseline "$p" ;;
        *) bench_peer "$p" "$t" ;;
        esac
    done
done
t_end=$EPOCHREALTIME
total_s=$((($(usec "$t_end") - $(usec "$t_start")) / 1000000))

# ---------------------------------------------------------------- report

rows=() # tool rows, in table order
for t in "${tools[@]}"; do
    if [[ $t == updelta ]]; then rows+=(updelta updelta-inplace); else rows+=("$t"); fi
done

is_peer() { local x; for x in "${PEERS[@]}"; do [[ $x == "$1" ]] && return 0; done; return 1; }
# median of a sample list, or "-"
med() { # fmt list
    local m
    # shellcheck disable=SC2086 # word splitting of the sample list is the point
    read -r m _ _ < <(stats "$1" $2)
    echo "$m"
}
patch_bytes() { # key -> bytes of the last run, or -
    local s=${R_SIZES[$1]:-}
    [[ -n $s ]] && echo "${s##* }" || echo -
}

# ---- JSON
jstat() { # fmt list -> {"median":..,"min":..,"max":..,"samples":[..]} or null
    local m a b
    [[ -n $2 ]] || { echo null; return; }
    # shellcheck disable=SC2086
    read -r m a b < <(stats "$1" $2)
    printf '{"median":%s,"min":%s,"max":%s,"samples":[%s]}' "$m" "$a" "$b" "${2// /,}"
}
jnum_or_null() { [[ $1 =~ ^[0-9.]+$ ]] && echo "$1" || echo null; }
jraw_or_null() { [[ -n $1 ]] && echo "$1" || echo null; }
tool_version() {
    case $1 in
    updelta*) "$updelta" version 2>/dev/null | head -n 1 ;;
    bsdiff) dpkg-query -W -f 'bsdiff ${Version}' bsdiff 2>/dev/null || echo bsdiff ;;
    xdelta3) xdelta3 -V 2>&1 | head -n 1 ;;
    zstd*) zstd -V 2>&1 | head -n 1 ;;
    esac
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
repo_head=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
ud_sha=-
has_tool updelta && ud_sha=$(sha256sum "$updelta" | cut -d' ' -f1)

{
    printf '{\n'
    printf '  "started": %s,\n' "$(json_str "$started")"
    printf '  "total_seconds": %s,\n' "$total_s"
    printf '  "runs": %s,\n  "timeout_seconds": %s,\n' "$runs" "$timeout_s"
    printf '  "host": {"nproc": %s, "cpu": %s, "kernel": %s},\n' "$(nproc)" \
        "$(json_str "$cpu")" "$(json_str "$(uname -sr)")"
    printf '  "repo_head": %s,\n' "$(json_str "$repo_head")"
    printf '  "updelta": {"path": %s, "sha256": %s},\n' "$(json_str "${updelta:--}")" "$(json_str "$ud_sha")"
    printf '  "corpus": %s,\n' "$(json_str "$corpus")"
    printf '  "tools": {'
    sep=""
    for t in "${rows[@]}"; do
        printf '%s%s: %s' "$sep" "$(json_str "$t")" "$(json_str "$(tool_version "$t")")"
        sep=", "
    done
    printf '},\n'
    printf '  "measure": %s,\n' "$(json_str "each diff/apply: /usr/bin/time -f '%e %M %U %S' timeout -k 30 $timeout_s CMD; elapsed_s is wall time around that call from \$EPOCHREALTIME (ms), time_e_s is GNU time %e, rss_kib is %M")"
    printf '  "results": [\n'
    sep=""
    for i in "${sel[@]}"; do
        p=${M_NAME[i]}
        ob=$(stat -c %s "$corpus/$p/old") nb=$(stat -c %s "$corpus/$p/new")
        for t in "${rows[@]}"; do
            k=$p/$t
            pb=$(patch_bytes "$k")
            pct=null
            [[ $pb != - ]] && pct=$(fdiv "$((pb * 100))" "$nb" %.4f)
            printf '%s    {"pair": %s, "kind": %s, "tool": %s, "status": %s, "failed_step": %s, "reason": %s, "note": %s,\n' \
                "$sep" "$(json_str "$p")" "$(json_str "${M_KIND[i]}")" "$(json_str "$t")" \
                "$(json_str "${R_STATUS[$k]}")" "$(json_str "${R_FSTEP[$k]}")" \
                "$(json_str "${R_REASON[$k]}")" "$(json_str "${R_NOTE[$k]}")"
            printf '     "old_bytes": %s, "new_bytes": %s, "patch_bytes": %s, "patch_pct_of_new": %s, "patch_bytes_samples": [%s],\n' \
                "$ob" "$nb" "$(jnum_or_null "$pb")" "$pct" "${R_SIZES[$k]// /,}"
            printf '     "diff": {"cmd": %s, "elapsed_s": %s, "time_e_s": %s, "rss_kib": %s, "user_s": %s, "sys_s": %s},\n' \
                "$(json_str "${R_DCMD[$k]}")" "$(jstat %.3f "${R_DS[$k]}")" "$(jstat %.2f "${R_DE[$k]}")" \
                "$(jstat %.0f "${R_DRSS[$k]}")" "$(jstat %.2f "${R_DU[$k]}")" "$(jstat %.2f "${R_DSYS[$k]}")"
            printf '     "apply": {"cmd": %s, "timed": %s, "elapsed_s": %s, "time_e_s": %s, "rss_kib": %s, "user_s": %s, "sys_s": %s}' \
                "$(json_str "${R_ACMD[$k]}")" "$([[ $t == zstd-19 ]] && echo false || echo true)" \
                "$(jstat %.3f "${R_AS[$k]}")" "$(jstat %.2f "${R_AE[$k]}")" "$(jstat %.0f "${R_ARSS[$k]}")" \
                "$(jstat %.2f "${R_AU[$k]}")" "$(jstat %.2f "${R_ASYS[$k]}")"
            if [[ $t == updelta* ]]; then
                printf ',\n     "updelta_diff_json": %s, "updelta_apply_json": %s' \
                    "$(jraw_or_null "${R_JD[$k]}")" "$(jraw_or_null "${R_JA[$k]}")"
            fi
            printf '}'
            sep=$',\n'
        done
    done
    printf '\n  ]\n}\n'
} >"$out/results.json"

# ---- Markdown
cell_t() { # list -> "m (a–b)" seconds
    local m a b
    [[ -n $1 ]] || { echo -; return; }
    # shellcheck disable=SC2086
    read -r m a b < <(stats %.3f $1)
    if [[ $1 == *" "* ]]; then echo "$m ($a–$b)"; else echo "$m"; fi
}
cell_m() { # list of KiB -> MiB "m (a–b)"
    local m a b
    [[ -n $1 ]] || { echo -; return; }
    # shellcheck disable=SC2046,SC2086
    read -r m a b < <(stats %.1f $(awk '{ for (i = 1; i <= NF; i++) printf "%.1f\n", $i / 1024 }' <<<"$1"))
    if [[ $a != "$b" ]]; then echo "$m ($a–$b)"; else echo "$m"; fi
}
pct_of() { # bytes new
    awk -v a="$1" -v b="$2" 'BEGIN { v = 100 * a / b; printf (v < 0.1 ? "%.3f" : "%.2f") "\n", v }'
}

declare -A SUMMARY=()
md_pair() { # index
    local i=$1 p=${M_NAME[$1]} ob nb t k pb st fs dcell acell pct
    local best_sz=- best_sz_t="" best_ap=- best_ap_t="" v notes=()
    ob=$(stat -c %s "$corpus/$p/old") nb=$(stat -c %s "$corpus/$p/new")
    printf '## %s (%s)\n\n' "$p" "${M_KIND[i]}"
    printf '%s. old %s bytes, new %s bytes.\n\n' "${M_DESC[i]}" "$(commas "$ob")" "$(commas "$nb")"
    printf '| tool | patch bytes | %% of new | diff s | diff RSS MiB | apply s | apply RSS MiB |\n'
    printf '|---|---:|---:|---:|---:|---:|---:|\n'
    for t in "${rows[@]}"; do
        k=$p/$t st=${R_STATUS[$k]} fs=${R_FSTEP[$k]}
        pb=$(patch_bytes "$k")
        if [[ $st != ok && $fs == diff ]]; then
            printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$st" "$st" "$st" "$st" "$st" "$st"
        else
            pct=$(pct_of "$pb" "$nb")
            if [[ $t == zstd-19 ]]; then
                dcell="— | —" acell="— | —"
            else
                dcell="$(cell_t "${R_DS[$k]}") | $(cell_m "${R_DRSS[$k]}")"
                if [[ $st != ok ]]; then
                    acell="$st | $st"
                else
                    acell="$(cell_t "${R_AS[$k]}") | $(cell_m "${R_ARSS[$k]}")"
                fi
            fi
            [[ $st != ok && $t == zstd-19 ]] && acell="$st | $st"
            printf '| %s | %s | %s | %s | %s |\n' "$t" "$(commas "$pb")" "$pct" "$dcell" "$acell"
        fi
        [[ $st != ok ]] && notes+=("$t: **$st** at $fs: ${R_REASON[$k]}")
        [[ -n ${R_NOTE[$k]} ]] && notes+=("$t: ${R_NOTE[$k]} (${R_SIZES[$k]})")
        if is_peer "$t" && [[ $st == ok ]]; then
            if [[ $best_sz == - ]] || ((pb < best_sz)); then best_sz=$pb best_sz_t=$t; fi
            v=$(med %.3f "${R_AS[$k]}")
            if [[ $best_ap == - ]] || awk -v a="$v" -v b="$best_ap" 'BEGIN { exit !(a < b) }'; then
                best_ap=$v best_ap_t=$t
            fi
        fi
    done
    printf '\n'
    if has_tool updelta; then
        local u=$p/updelta ui=$p/updelta-inplace ub ua ui_a rs ra rai mp=""
        ub=$(patch_bytes "$u")
        ua=- ui_a=-
        [[ ${R_STATUS[$u]} == ok ]] && ua=$(med %.3f "${R_AS[$u]}")
        [[ ${R_STATUS[$ui]} == ok ]] && ui_a=$(med %.3f "${R_AS[$ui]}")
        rs=n/a ra=n/a rai=n/a
        [[ $best_sz != - && $ub != - ]] && rs=$(fdiv "$ub" "$best_sz" %.2f)×
        [[ $best_ap != - && $ua != - ]] && ra=$(fdiv "$ua" "$best_ap" %.2f)×
        [[ $best_ap != - && $ui_a != - ]] && rai=$(fdiv "$ui_a" "$best_ap" %.2f)×
        if [[ -n ${R_JA[$ui]} ]]; then
            mp=$(sed -nE 's/.*"mem_peak":([0-9]+).*/\1/p' <<<"${R_JA[$ui]}")
            [[ -n $mp ]] && mp="; in-place apply: peak RSS $(cell_m "${R_ARSS[$ui]}") MiB, engine mem_peak $(fdiv "$mp" 1048576 %.1f) MiB"
        fi
        if [[ $best_sz == - ]]; then
            printf '**updelta vs best peer:** no peer succeeded.\n\n'
        else
            printf '**updelta vs best peer** (updelta ÷ peer; below 1 is better): patch size **%s** (best peer %s, %s bytes); apply time out of place **%s**, in place **%s** (best peer %s, %s s)%s.\n\n' \
                "$rs" "$best_sz_t" "$(commas "$best_sz")" "$ra" "$rai" "$best_ap_t" "$best_ap" "$mp"
        fi
        SUMMARY[$p]="| $p | $(commas "$nb") | $(commas "$ub") | $(commas "$best_sz")${best_sz_t:+ ($best_sz_t)} | $rs | $ua / $ui_a | $best_ap${best_ap_t:+ ($best_ap_t)} | $ra / $rai |"
    fi
    if ((${#notes[@]})); then
        printf 'Notes:\n\n'
        printf -- '- %s\n' "${notes[@]}"
        printf '\n'
    fi
}

: >"$work/pairs.md"
for i in "${sel[@]}"; do md_pair "$i" >>"$work/pairs.md"; done # fills SUMMARY
# shellcheck disable=SC2016 # the backticks are Markdown
{
    printf '# updelta benchmark, %s\n\n' "$(date +%F)"
    printf 'updelta: `%s` (%s, sha256 %s; repo HEAD at run time %s). ' "${updelta:--}" \
        "$(tool_version updelta)" "${ud_sha:0:12}" "${repo_head:0:12}"
    printf 'Peers: bsdiff %s, %s, %s.\n' "$(dpkg-query -W -f '${Version}' bsdiff 2>/dev/null || echo '?')" \
        "$(xdelta3 -V 2>&1 | head -n 1 | awk '{ print "xdelta3 " $3 }' | tr -d ',')" \
        "$(zstd -V 2>&1 | grep -oE 'v[0-9.]+' | head -n 1 | sed 's/^/zstd /')"
    printf '%s run(s) per tool, sequential; times are wall seconds, median (min–max); RSS is peak resident set (GNU time %%M); ' "$runs"
    printf 'host: %s cores, %s. Timeout %ss per step. Total run time %dm%02ds.\n\n' "$(nproc)" "$cpu" "$timeout_s" \
        $((total_s / 60)) $((total_s % 60))
    if has_tool updelta && ((${#SUMMARY[@]})); then
        printf '## Summary\n\n'
        printf '| pair | new bytes | updelta patch | best peer patch | size ratio | updelta apply s (out / in place) | best peer apply s | apply ratio (out / in place) |\n'
        printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
        for i in "${sel[@]}"; do printf '%s\n' "${SUMMARY[${M_NAME[i]}]}"; done
        printf '\nRatios are updelta ÷ best of %s (below 1: updelta smaller/faster). zstd-19 is the no-delta baseline and is not a peer.\n\n' "${PEERS[*]}"
    fi
    cat "$work/pairs.md"
    printf '\n## Commands\n\n'
    printf -- '- updelta: `updelta diff OLD NEW -o PKG -q --json`; `updelta apply OLD PKG -o OUT -q --json`; `updelta apply --in-place TARGET PKG -q --json` (TARGET a fresh copy of OLD, copy not timed)\n'
    printf -- '- bsdiff: `bsdiff OLD NEW PKG`; `bspatch OLD OUT PKG`\n'
    printf -- '- xdelta3: `xdelta3 -e -9 -S lzma -s OLD NEW PKG`; `xdelta3 -d -s OLD PKG OUT`\n'
    printf -- '- zstd-patch: `zstd -q -19 --long=27 --patch-from=OLD NEW -o PKG`; `zstd -q -d --long=27 --patch-from=OLD PKG -o OUT`\n'
    printf -- '- zstd-19 (no-delta baseline, size only, one run): `zstd -q -19 NEW -o PKG` (checked with `zstd -d`, untimed)\n'
    printf -- '- every apply output is compared with NEW by `cmp`; a mismatch is FAIL. Each step runs under `/usr/bin/time -f "%%e %%M %%U %%S" timeout -k 30 %s`.\n' "$timeout_s"
    printf -- '- exact command lines per pair and tool, all samples, user/sys CPU and updelta'"'"'s own --json: `results.json`; per-run logs: `raw/`.\n'
} >"$out/results.md"

python3 "$root/bench/plot.py" "$out" >/dev/null || die "bench/plot.py failed"
printf '\n## Plots\n\n![patch size](patch_size.png)\n\n![apply time against memory](apply_vs_memory.png)\n' >>"$out/results.md"
note "done in ${total_s}s: $out/results.md, $out/results.json, $out/*.png"
cat "$out/results.md"
