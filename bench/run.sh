#!/usr/bin/env bash
# bench/run.sh - patch size, time and memory of updelta against bsdiff,
# xdelta3 and zstd on the real-pair corpus (corpora/pairs.tsv and the ext4
# pair of corpora/rootfs.sh), optionally a synthetic scaling series, and
# the hot-path microbenchmark (updelta-micro).
#
#   bench/run.sh [--quick] [--pairs a,b] [--tools t1,t2] [--runs N]
#                [--io-backends b1,b2] [--scaling] [--scaling-max MIB]
#                [--scaling-sizes L] [--corpus DIR] [--updelta PATH] [--out DIR]
#                [--timeout SECS] [--mem-cap MIB] [--no-fetch] [--no-micro]
#
# Writes OUT/results.json, OUT/results.md, PNG plots (bench/plot.py) and
# OUT/raw/ (per-run logs), then prints results.md.  See bench/README.md for what is measured and how.
#
# Exit status: 0 all ran (a tool's FAIL/TIMEOUT is a result, not an error),
# 1 setup error, 2 usage error.

set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=bench/run.sh

ALL_TOOLS=(updelta bsdiff xdelta3 zstd-patch zstd-ultra zstd-19)
# tools whose numbers updelta is compared with ("best peer")
PEERS=(bsdiff xdelta3 zstd-patch zstd-ultra)
# --quick: pairs whose larger file is under this many bytes (keeps the run
# under 5 minutes on 2 cores: zstd --ultra -22 is the slowest step)
QUICK_MAX_BYTES=$((10 * 1024 * 1024))
# scaling series: old image sizes in MiB, up to --scaling-max
SCALE_SIZES=(16 32 64 128 256 512 1024)

die() { echo "$prog: $*" >&2; exit 1; }
note() { echo "$prog: $*" >&2; }
usage() {
    cat <<EOF
usage: $prog [--quick] [--pairs a,b] [--tools t1,t2] [--runs N] [--io-backends b1,b2]
       [--scaling] [--scaling-max MIB] [--scaling-sizes L] [--corpus DIR] [--updelta PATH]
       [--out DIR] [--timeout SECS] [--mem-cap MIB] [--no-fetch] [--no-micro]

  --quick         1 run, only pairs under 10 MiB, scaling (if asked) to 64 MiB, a
                  shorter microbenchmark (an explicit --pairs/--runs/--scaling-max wins)
  --pairs a,b     pairs from corpora/pairs.tsv and "rootfs" (default: all; see
                  corpora/fetch.sh --list); "none" runs no pair
  --tools t1,t2   any of: ${ALL_TOOLS[*]} (default: all)
                  updelta gives an out-of-place row and one in-place row per I/O backend
  --runs N        runs per tool; median, min and max are reported (default 3)
  --io-backends L in-place apply once per backend in L (e.g. posix,uring), passing
                  --io=NAME when the updelta binary has that option (default posix,uring
                  when it has; one in-place row with its built-in backend when not)
  --scaling       also the synthetic scaling series (updelta-synth exe-like pairs,
                  16 MiB up to --scaling-max), 1 run per size and tool
  --scaling-max M largest scaling size in MiB (default 1024; 64 with --quick)
  --scaling-sizes L  these scaling sizes in MiB instead (e.g. 16,64,256; implies --scaling)
  --no-micro      skip the hot-path microbenchmark (updelta-micro)
  --corpus DIR    pair files DIR/<pair>/{old,new}, fetched/verified with
                  corpora/fetch.sh (default: bench/.corpus-cache)
  --no-fetch      use the corpus as it is, without calling corpora/fetch.sh
  --updelta PATH  updelta binary (default: build/updelta, built with cmake if missing)
  --out DIR       results directory (default: bench/results/<YYYY-MM-DD>)
  --timeout SECS  a single diff or apply running longer is killed: TIMEOUT (default 900)
  --mem-cap MIB   address-space limit of every step (default: half of MemAvailable;
                  0: none); a step that dies of it is reported as OOM
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
timeout_s=900 want_io="" scaling=0 scaling_max="" scaling_sizes="" micro=1 mem_cap=""
set_opt() {
    case $1 in
    --pairs) want_pairs=$2 ;;
    --io-backends) want_io=$2 ;;
    --scaling-max) scaling_max=$2 ;;
    --scaling-sizes) scaling_sizes=$2 ;;
    --mem-cap) mem_cap=$2 ;;
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
    --no-micro) micro=0 ;;
    --scaling) scaling=1 ;;
    --pairs | --tools | --runs | --corpus | --updelta | --out | --timeout | --io-backends | --scaling-max | --scaling-sizes | --mem-cap)
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
if [[ -z $scaling_max ]]; then
    if ((quick)); then scaling_max=64; else scaling_max=1024; fi
fi
[[ $scaling_max =~ ^[1-9][0-9]*$ ]] || usage_err "--scaling-max wants a size in MiB, not '$scaling_max'"
if [[ -n $scaling_sizes ]]; then
    [[ $scaling_sizes =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || usage_err "--scaling-sizes wants MiB sizes like 16,64,256"
    IFS=',' read -r -a SCALE_SIZES <<<"$scaling_sizes"
    scaling=1 scaling_max=$((1 << 30)) # the list says it all
fi
# Half of the memory available now: the machine may be shared, and a tool
# that wants more (bsdiff needs ~17x the image) is reported as OOM.
mem_cap=${mem_cap:-$(awk '/^MemAvailable:/ { printf "%d\n", $2 / 2048 }' /proc/meminfo)}
[[ $mem_cap =~ ^[0-9]+$ ]] || usage_err "--mem-cap wants a size in MiB, not '$mem_cap'"
mem_cap_kib=$((mem_cap * 1024))
((mem_cap)) || mem_cap_kib=unlimited # 0: no cap (sanitizer builds reserve terabytes)
[[ -z $want_io || $want_io =~ ^[a-z0-9]+(,[a-z0-9]+)*$ ]] || usage_err "--io-backends wants names like posix,uring"

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
{ has_tool zstd-patch || has_tool zstd-ultra || has_tool zstd-19; } && need_cmd zstd zstd
need_cmd python3 python3          # bench/plot.py reads results.json ...
need_cmd gnuplot gnuplot-nox      # ... and draws the PNGs
((micro)) && need_cmd fio fio     # the storage ceiling next to the microbenchmark
((${#need[@]} == 0)) || apt_install "${need[@]}"

# ---------------------------------------------------------------- updelta

build_target() { # cmake target of the repo, built in build/ (Release, no tests)
    local b=$root/build pk=() c
    for c in cmake:cmake make:make cc:gcc pkg-config:pkg-config; do
        command -v "${c%%:*}" >/dev/null || pk+=("${c#*:}")
    done
    ((${#pk[@]} == 0)) || apt_install "${pk[@]}"
    pk=()
    pkg-config --exists libzstd || pk+=(libzstd-dev)
    pkg-config --exists libcrypto || pk+=(libssl-dev)
    pkg-config --exists libdivsufsort || pk+=(libdivsufsort-dev)
    pkg-config --exists libxxhash || pk+=(libxxhash-dev)
    pkg-config --exists liblzma || pk+=(liblzma-dev)
    ((${#pk[@]} == 0)) || apt_install "${pk[@]}"
    if [[ ! -f $b/CMakeCache.txt ]]; then
        note "configuring $b (Release, no tests)"
        cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=Release -DUPD_TESTS=OFF >&2 ||
            die "cmake configure failed"
    fi
    note "building $1 in $b"
    cmake --build "$b" --target "$1" -j 2 >&2 || die "$1 build failed"
}
# helper PROGRAM: updelta-micro or updelta-synth beside the binary under
# test, else from build/ (built when missing)
helper() {
    local d
    d=$(dirname "${updelta:-$root/build/updelta}")
    if [[ -x $d/$1 ]]; then echo "$d/$1"; return; fi
    [[ -x $root/build/$1 ]] || build_target "$1"
    [[ -x $root/build/$1 ]] || die "no $root/build/$1 after building"
    echo "$root/build/$1"
}

if has_tool updelta; then
    if [[ -n $updelta ]]; then
        [[ -f $updelta && -x $updelta ]] || die "--updelta $updelta: not an executable file"
    else
        updelta=$root/build/updelta
        [[ -x $updelta ]] || build_target updelta_cli
        [[ -x $updelta ]] || die "no updelta at $updelta after building"
    fi
    updelta=$(cd "$(dirname "$updelta")" && pwd)/$(basename "$updelta")
    "$updelta" version >/dev/null 2>&1 || die "$updelta does not run ('$updelta version' failed)"
fi

# In-place rows: one per I/O backend when the binary has --io=NAME (its
# usage text names the option), else one row with its built-in backend.
io_flag=0
if has_tool updelta && "$updelta" --help 2>&1 | grep -q -- '--io[= ]'; then io_flag=1; fi
io_backends=()
if ((io_flag)); then
    IFS=',' read -r -a io_backends <<<"${want_io:-posix,uring}"
elif [[ -n $want_io ]]; then
    note "--io-backends $want_io: this updelta has no --io option; one in-place row with its built-in backend"
fi
inplace_rows=()
if ((${#io_backends[@]})); then
    for b in "${io_backends[@]}"; do inplace_rows+=("updelta-inplace-$b"); done
else
    inplace_rows=(updelta-inplace)
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
# built, not fetched: corpora/rootfs.sh (pinned debs, byte-identical builds)
M_NAME+=(rootfs) M_KIND+=(rootfs-image)
M_DESC+=("ext4 images (96 MiB) of 8 Debian packages, 4 of them moved to their next security release; built by corpora/rootfs.sh")

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
if [[ $want_pairs == none ]]; then
    :
elif [[ -n $want_pairs ]]; then
    IFS=',' read -r -a wp <<<"$want_pairs"
    for p in "${wp[@]}"; do
        f=-1
        for i in "${!M_NAME[@]}"; do [[ ${M_NAME[i]} == "$p" ]] && f=$i; done
        ((f >= 0)) || usage_err "unknown pair '$p' (see corpora/fetch.sh --list, and rootfs)"
    done
    for i in "${!M_NAME[@]}"; do
        for p in "${wp[@]}"; do [[ ${M_NAME[i]} == "$p" ]] && { sel+=("$i"); break; }; done
    done
else
    for i in "${!M_NAME[@]}"; do
        if ((quick)) && (($(pair_bytes "$i") >= QUICK_MAX_BYTES)); then
            note "--quick: skipping ${M_NAME[i]} ($((QUICK_MAX_BYTES >> 20)) MiB or more)"
            continue
        fi
        sel+=("$i")
    done
fi
((${#sel[@]} > 0)) || ((scaling)) || ((micro)) || die "nothing to run: no pairs selected"

sel_names() { # fetched pairs of the selection, comma-separated
    local i s=()
    for i in "${sel[@]}"; do [[ ${M_NAME[i]} == rootfs ]] || s+=("${M_NAME[i]}"); done
    (IFS=,; echo "${s[*]}")
}
if ((fetch)) && [[ -n $(sel_names) ]]; then
    note "checking the corpus in $corpus (corpora/fetch.sh)"
    "$fetch_sh" --pairs "$(sel_names)" "$corpus" >&2 || die "corpora/fetch.sh failed"
fi
for i in "${sel[@]}"; do
    if ((fetch)) && [[ ${M_NAME[i]} == rootfs ]]; then
        note "building or checking the rootfs pair in $corpus (corpora/rootfs.sh)"
        "$root/corpora/rootfs.sh" "$corpus" >&2 || die "corpora/rootfs.sh failed"
    fi
done
for i in "${sel[@]}"; do
    for s in old new; do
        [[ -f $corpus/${M_NAME[i]}/$s ]] || die "missing $corpus/${M_NAME[i]}/$s"
    done
done
if ((quick)) && [[ -z $want_pairs ]]; then # re-check on real sizes
    s2=()
    for i in "${sel[@]}"; do
        if (($(pair_bytes "$i") >= QUICK_MAX_BYTES)); then
            note "--quick: skipping ${M_NAME[i]} ($((QUICK_MAX_BYTES >> 20)) MiB or more)"
        else
            s2+=("$i")
        fi
    done
    sel=("${s2[@]}")
fi
declare -A PDIR=() # pair name -> directory with old and new
for i in "${sel[@]}"; do PDIR[${M_NAME[i]}]=$corpus/${M_NAME[i]}; done

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

# timed PREFIX CMD... : runs CMD under /usr/bin/time and timeout, with the
# address space capped at --mem-cap, stdin from /dev/null, stdout/stderr to
# PREFIX.out/.err.  Sets T_RC, T_S (wall seconds,
# 3 decimals, from $EPOCHREALTIME around the call), T_E (GNU time %e),
# T_RSS (peak RSS KiB, %M), T_USER, T_SYS.
timed() {
    local pre=$1 t0 t1 d line
    shift
    T_RC=0
    t0=$EPOCHREALTIME
    (
        ulimit -v "$mem_cap_kib"
        exec /usr/bin/time -o "$pre.time" -f '%e %M %U %S' \
            timeout -k 30 "$timeout_s" "$@" >"$pre.out" 2>"$pre.err" </dev/null
    ) || T_RC=$?
    t1=$EPOCHREALTIME
    d=$(($(usec "$t1") - $(usec "$t0") + 500))
    T_US=$d
    T_S=$(printf '%d.%03d' $((d / 1000000)) $(((d % 1000000) / 1000)))
    line=$(tail -n 1 "$pre.time" 2>/dev/null || true)
    T_E=- T_RSS=- T_USER=- T_SYS=-
    read -r T_E T_RSS T_USER T_SYS <<<"$line" || true
    [[ $T_RSS =~ ^[0-9]+$ ]] || T_RSS=-
}

# Results, keyed "pair/tool".  Lists are space-separated samples.
declare -A R_STATUS=() R_REASON=() R_FSTEP=() R_SIZES=() R_DCMD=() R_ACMD=() \
    R_DS=() R_DRSS=() R_DU=() R_DSYS=() R_AS=() R_ARSS=() R_AU=() R_ASYS=() \
    R_JD=() R_JA=() R_NOTE=() R_DE=() R_AE=() R_WR=() R_JB=() R_FL=() R_SYSC=()

rec_init() {
    R_STATUS[$1]=ok R_REASON[$1]="" R_FSTEP[$1]="" R_SIZES[$1]="" R_DCMD[$1]="" R_ACMD[$1]=""
    R_DS[$1]="" R_DRSS[$1]="" R_DU[$1]="" R_DSYS[$1]="" R_AS[$1]="" R_ARSS[$1]=""
    R_AU[$1]="" R_ASYS[$1]="" R_JD[$1]="" R_JA[$1]="" R_NOTE[$1]="" R_DE[$1]="" R_AE[$1]=""
    R_WR[$1]="" R_JB[$1]="" R_FL[$1]=""
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
# step_ok KEY STEP PREFIX RUN : after timed; records FAIL/TIMEOUT/OOM, returns 1.
# OOM: killed (SIGKILL) before the timeout, or an allocation failure in
# its stderr (malloc failing at the --mem-cap address-space limit).
step_ok() {
    local msg
    if ((T_RC == 124)) || { ((T_RC == 137)) && ((T_US >= timeout_s * 1000000)); }; then
        rec_fail "$1" TIMEOUT "$2" "killed after ${timeout_s}s (run $4)"
        return 1
    elif ((T_RC == 137)) || { ((T_RC != 0)) && grep -qiE 'memory|alloc' "$3.err" 2>/dev/null; }; then
        msg=$(grep -v '^[[:space:]]*$' "$3.err" 2>/dev/null | tail -n 1 | scrub | cut -c1-200 || true)
        rec_fail "$1" OOM "$2" "exit status $T_RC with the address space capped at ${mem_cap} MiB (0: no cap) (run $4)${msg:+: $msg}"
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
    zstd-patch) CMD=(zstd -q -19 "--long=$zlong" "--patch-from=$2" "$3" -o "$4") ;;
    zstd-ultra) CMD=(zstd -q --ultra -22 "--long=$zlong" "--patch-from=$2" "$3" -o "$4") ;;
    zstd-19) CMD=(zstd -q -19 "$3" -o "$4") ;;
    esac
}
cmd_apply() { # tool old pkg out -> CMD   (updelta-inplace*: old is the target)
    case $1 in
    updelta) CMD=("$updelta" apply "$2" "$3" -o "$4" -q --json --pubkey "$work/bench.pub") ;;
    updelta-inplace*)
        CMD=("$updelta" apply --in-place "$2" "$3" -q --json --pubkey "$work/bench.pub")
        if [[ $1 == updelta-inplace-* ]]; then CMD+=("--io=${1#updelta-inplace-}"); fi
        ;;
    bsdiff) CMD=(bspatch "$2" "$4" "$3") ;;
    xdelta3) CMD=(xdelta3 -d -s "$2" "$3" "$4") ;;
    zstd-patch | zstd-ultra) CMD=(zstd -q -d "--long=$zlong" "--patch-from=$2" "$3" -o "$4") ;;
    zstd-19) CMD=(zstd -q -d "$3" -o "$4") ;;
    esac
}
jfield() { sed -nE "s/.*\"$1\":([0-9]+).*/\1/p" <<<"$2"; } # name json-line -> integer

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
            if [[ $t == updelta-inplace* ]]; then # the engine's own counts
                add R_WR "$k" "$(jfield bytes_written "${R_JA[$k]}")"
                add R_JB "$k" "$(jfield journal_bytes "${R_JA[$k]}")"
                add R_FL "$k" "$(jfield flushes "${R_JA[$k]}")"
            fi
            progress "$k" apply
        else
            rec_fail "$k" FAIL cmp "$t result differs from new (run $r)"
        fi
    fi
    [[ $result == "$src" ]] || rm -f "$result"
}

bench_peer() { # pair tool
    local p=$1 t=$2 k=$1/$2 r pre
    local old=${PDIR[$1]}/old new=${PDIR[$1]}/new pkg=$work/pkg outf=$work/out
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
    local new=${PDIR[$1]}/new pkg=$work/pkg outf=$work/out
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
# place on a fresh copy of old, once per I/O backend (rows
# "updelta-inplace[-BACKEND]"); all rows share the diff numbers.
bench_updelta() { # pair
    local p=$1 r pre k k1=$1/updelta t all_failed
    local old=${PDIR[$1]}/old new=${PDIR[$1]}/new pkg=$work/pkg outf=$work/out tgt=$work/target
    local keys=("$k1")
    for t in "${inplace_rows[@]}"; do keys+=("$p/$t"); done
    for k in "${keys[@]}"; do rec_init "$k"; done
    for ((r = 1; r <= runs; r++)); do
        all_failed=1
        for k in "${keys[@]}"; do rec_failed "$k" || all_failed=0; done
        ((all_failed)) && break
        rm -f "$pkg" "$outf" "$tgt" "$tgt.upd-stash"
        note "[$p] updelta run $r/$runs"
        cmd_diff updelta "$old" "$new" "$pkg"
        pre=$raw/$p/updelta.r$r.diff
        timed "$pre" "${CMD[@]}"
        if ! step_ok "$k1" diff "$pre" "$r"; then
            for k in "${keys[@]:1}"; do rec_fail "$k" "${R_STATUS[$k1]}" diff "${R_REASON[$k1]}"; done
            break
        fi
        if [[ ! -f $pkg ]]; then
            for k in "${keys[@]}"; do rec_fail "$k" FAIL diff "no patch written (run $r)"; done
            break
        fi
        for k in "${keys[@]}"; do
            R_DCMD[$k]=$(qcmd "${CMD[@]}")
            push_diff "$k"
            add_size "$k" "$pkg"
            R_JD[$k]=$(json_line "$pre.out")
        done
        progress "$k1" diff

        updelta_apply "$k1" updelta "$old" "$outf" "$outf" "$pkg" "$new" "$raw/$p/updelta.r$r.apply" "$r"
        for t in "${inplace_rows[@]}"; do
            cp "$old" "$tgt" # fresh copy, not timed
            updelta_apply "$p/$t" "$t" "$tgt" - "$tgt" "$pkg" "$new" "$raw/$p/$t.r$r.apply" "$r"
            rm -f "$tgt" "$tgt.upd-stash"
            ((r == 1)) && count_syncs "$p/$t" "$t" "$old" "$pkg"
        done
    done
    rm -f "$pkg" "$outf" "$tgt" "$tgt.upd-stash"
}

# count_syncs KEY ROW OLD PKG: one more in-place apply, untimed, under
# strace, to count the sync system calls (fsync, fdatasync, sync_file_range,
# syncfs) next to the engine's own flush count.  io_uring submits its
# fsyncs as ring operations, which strace does not see.
count_syncs() {
    local tgt=$work/target
    R_SYSC[$1]=-
    command -v strace >/dev/null && ! rec_failed "$1" || return 0
    cp "$3" "$tgt"
    cmd_apply "$2" "$tgt" "$4" -
    if strace -f -qq -e trace=fsync,fdatasync,sync_file_range,syncfs -o "$work/strace" \
        "${CMD[@]}" >/dev/null 2>&1; then
        R_SYSC[$1]=$(grep -cE '(fsync|fdatasync|sync_file_range|syncfs)\(' "$work/strace" || true)
    fi
    rm -f "$tgt" "$tgt.upd-stash" "$work/strace"
}

# Scaling: a tool that ran out of time or memory at one size is not run at
# the larger ones (it would only burn the timeout again); its cells there
# say so.
declare -A GAVE_UP=() # tool -> "TIMEOUT at 256 MiB"
tool_keys() { # pair tool -> the result keys the tool fills
    if [[ $2 == updelta ]]; then
        local r
        echo "$1/updelta"
        for r in "${inplace_rows[@]}"; do echo "$1/$r"; done
    else
        echo "$1/$2"
    fi
}
bench_pair() { # pair: every selected tool
    local t k
    mkdir -p "$raw/$1"
    for t in "${tools[@]}"; do
        if ((scale_pass)) && [[ -n ${GAVE_UP[$t]:-} ]]; then
            for k in $(tool_keys "$1" "$t"); do
                rec_init "$k"
                rec_fail "$k" "${GAVE_UP[$t]%% *}" diff "not run: ${GAVE_UP[$t]}"
            done
            continue
        fi
        case $t in
        updelta) bench_updelta "$1" ;;
        zstd-19) ((scale_pass)) || bench_baseline "$1" ;;
        *) bench_peer "$1" "$t" ;;
        esac
        k=$(tool_keys "$1" "$t" | head -n 1)
        if ((scale_pass)) && [[ ${R_STATUS[$k]:-ok} == @(TIMEOUT|OOM) ]]; then
            GAVE_UP[$t]="${R_STATUS[$k]} at ${1#synth-}iB"
        fi
    done
}

# Scaling series: updelta-synth exe-like pairs (seed 1) of 16 MiB up to
# --scaling-max, one run per size and tool, the pair deleted after its run.
# zstd's --long window grows with the image (2^N >= new size, at least
# 2^27), or zstd could not reach the whole old image.
scale_names=()
bench_scaling() {
    local synth sz p d runs=1 zlong scale_pass=1
    synth=$(helper updelta-synth)
    for sz in "${SCALE_SIZES[@]}"; do
        ((sz <= scaling_max)) || continue
        p=synth-${sz}M d=$work/scale/$p
        mkdir -p "$d"
        note "[$p] generating (updelta-synth exe-like 1 ${sz}M)"
        "$synth" exe-like 1 "${sz}M" "$d/old" "$d/new" || die "updelta-synth failed for ${sz} MiB"
        PDIR[$p]=$d
        zlong=27
        while (((1 << zlong) < $(stat -c %s "$d/new"))); do zlong=$((zlong + 1)); done
        ZLONG[$p]=$zlong
        bench_pair "$p"
        P_OLD[$p]=$(stat -c %s "$d/old") P_NEW[$p]=$(stat -c %s "$d/new")
        scale_names+=("$p")
        rm -rf "$d"
    done
}

# Hot paths against memcpy (updelta-micro), and the storage ceiling for
# in-place apply: fio sequential 1 MiB writes to a file beside the work
# files, fsync at the end, with the psync and io_uring engines.
MICRO_JSON="" FIO_JSON=""
bench_micro() {
    local m mib=256 mr=9 fsz=512M e bw fbw t0 t1
    ((quick)) && mib=32 mr=5 fsz=128M
    m=$(helper updelta-micro)
    note "microbenchmark: $m --mib $mib --runs $mr"
    MICRO_JSON=$("$m" --json --mib "$mib" --runs "$mr" 2>"$raw/micro.err") ||
        { note "updelta-micro failed: $(tail -n 1 "$raw/micro.err")"; MICRO_JSON=""; }
    FIO_JSON=""
    # bytes / wall time of the whole fio run, so the final fsync counts
    # (fio's own bandwidth leaves it out; it is kept as fio_bw_bytes)
    for e in psync io_uring; do
        note "fio: sequential write $fsz, $e, fsync at end"
        t0=$EPOCHREALTIME
        if fio --name="seq-$e" --filename="$work/fio.dat" --rw=write --bs=1M --size="$fsz" \
            --ioengine="$e" --end_fsync=1 --output-format=json >"$raw/fio-$e.json" 2>"$raw/fio-$e.err"; then
            t1=$EPOCHREALTIME
            bw=$(((${fsz%M} << 20) * 1000000 / ($(usec "$t1") - $(usec "$t0"))))
            fbw=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["write"]["bw_bytes"])' \
                "$raw/fio-$e.json" 2>/dev/null || echo null)
        else
            bw=null fbw=null
            note "fio $e failed: $(tail -n 1 "$raw/fio-$e.err" | scrub)"
        fi
        FIO_JSON+="${FIO_JSON:+,}{\"engine\":\"$e\",\"size\":\"$fsz\",\"write_bytes_per_s\":$bw,\"fio_bw_bytes\":$fbw}"
        rm -f "$work/fio.dat"
    done
}

declare -A ZLONG=() P_OLD=() P_NEW=()
zlong=27 scale_pass=0
t_start=$EPOCHREALTIME
started=$(date -u +%FT%TZ)
# what was measured, taken before the run (commits made during it do not count)
repo_head=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
ud_sha=-
if has_tool updelta; then
    # the engine is the shared library the binary loads, not only the binary
    ud_lib=$(ldd "$updelta" 2>/dev/null | awk '/libupdelta/ { print $3; exit }' || true)
    [[ -f $ud_lib ]] || ud_lib=   # a static or scripted binary, or "not found"
    ud_sha=$(cat "$updelta" ${ud_lib:+"$ud_lib"} | sha256sum | cut -d' ' -f1)
fi
note "results in $out; work files in $work; $runs run(s) per tool; timeout ${timeout_s}s; address-space cap ${mem_cap} MiB"
for i in "${sel[@]}"; do
    p=${M_NAME[i]}
    ZLONG[$p]=27
    bench_pair "$p"
done
((scaling)) && bench_scaling
((micro)) && bench_micro
t_end=$EPOCHREALTIME
total_s=$((($(usec "$t_end") - $(usec "$t_start")) / 1000000))

# ---------------------------------------------------------------- report

rows=() # tool rows, in table order
for t in "${tools[@]}"; do
    if [[ $t == updelta ]]; then rows+=(updelta "${inplace_rows[@]}"); else rows+=("$t"); fi
done
scale_rows=() # the scaling series has no zstd-19 baseline
for t in "${rows[@]}"; do [[ $t == zstd-19 ]] || scale_rows+=("$t"); done

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
mbs_list() { # key new-bytes -> apply MB/s (10^6 bytes/s) per sample
    local v out=""
    for v in ${R_AS[$1]}; do out+="${out:+ }$(fdiv "$2" "$(awk -v s="$v" 'BEGIN { print s * 1e6 }')" %.1f)"; done
    echo "$out"
}
mib_list() { # list of bytes -> MiB
    local v out=""
    for v in $1; do out+="${out:+ }$(fdiv "$v" 1048576 %.2f)"; done
    echo "$out"
}
old_bytes() { echo "${P_OLD[$1]:-$(stat -c %s "${PDIR[$1]}/old")}"; }
new_bytes() { echo "${P_NEW[$1]:-$(stat -c %s "${PDIR[$1]}/new")}"; }

# Best peer per column of one pair: BEST[col] value, BEST_T[col] tool.
# Columns: size, ds (diff s), drss, as (apply s), arss; lower is better.
declare -A BEST=() BEST_T=()
best_peers() { # pair
    local t k v c
    BEST=() BEST_T=()
    for t in "${rows[@]}"; do
        k=$1/$t
        if ! is_peer "$t" || [[ ${R_STATUS[$k]} != ok ]]; then continue; fi
        for c in size ds drss as arss; do
            case $c in
            size) v=$(patch_bytes "$k") ;;
            ds) v=$(med %.3f "${R_DS[$k]}") ;;
            drss) v=$(med %.0f "${R_DRSS[$k]}") ;;
            as) v=$(med %.3f "${R_AS[$k]}") ;;
            arss) v=$(med %.0f "${R_ARSS[$k]}") ;;
            esac
            [[ $v =~ ^[0-9.]+$ ]] || continue
            if [[ -z ${BEST[$c]:-} ]] || awk -v a="$v" -v b="${BEST[$c]}" 'BEGIN { exit !(a < b) }'; then
                BEST[$c]=$v BEST_T[$c]=$t
            fi
        done
    done
}
ratio() { # value column -> "0.97×" against BEST, or n/a
    [[ $1 =~ ^[0-9.]+$ && -n ${BEST[$2]:-} ]] || { echo n/a; return; }
    echo "$(fdiv "$1" "${BEST[$2]}" %.2f)×"
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
json_rec() { # pair tool kind -> one result object (no trailing comma)
    local p=$1 t=$2 k=$1/$2 ob nb pb pct
    ob=$(old_bytes "$p") nb=$(new_bytes "$p")
    pb=$(patch_bytes "$k")
    pct=null
    [[ $pb != - ]] && pct=$(fdiv "$((pb * 100))" "$nb" %.4f)
    printf '    {"pair": %s, "kind": %s, "tool": %s, "status": %s, "failed_step": %s, "reason": %s, "note": %s,\n' \
        "$(json_str "$p")" "$(json_str "$3")" "$(json_str "$t")" \
        "$(json_str "${R_STATUS[$k]}")" "$(json_str "${R_FSTEP[$k]}")" \
        "$(json_str "${R_REASON[$k]}")" "$(json_str "${R_NOTE[$k]}")"
    printf '     "old_bytes": %s, "new_bytes": %s, "patch_bytes": %s, "patch_pct_of_new": %s, "patch_bytes_samples": [%s],\n' \
        "$ob" "$nb" "$(jnum_or_null "$pb")" "$pct" "${R_SIZES[$k]// /,}"
    printf '     "diff": {"cmd": %s, "elapsed_s": %s, "time_e_s": %s, "rss_kib": %s, "user_s": %s, "sys_s": %s},\n' \
        "$(json_str "${R_DCMD[$k]}")" "$(jstat %.3f "${R_DS[$k]}")" "$(jstat %.2f "${R_DE[$k]}")" \
        "$(jstat %.0f "${R_DRSS[$k]}")" "$(jstat %.2f "${R_DU[$k]}")" "$(jstat %.2f "${R_DSYS[$k]}")"
    printf '     "apply": {"cmd": %s, "timed": %s, "elapsed_s": %s, "mb_per_s": %s, "time_e_s": %s, "rss_kib": %s, "user_s": %s, "sys_s": %s}' \
        "$(json_str "${R_ACMD[$k]}")" "$([[ $t == zstd-19 ]] && echo false || echo true)" \
        "$(jstat %.3f "${R_AS[$k]}")" "$(jstat %.1f "$(mbs_list "$k" "$nb")")" \
        "$(jstat %.2f "${R_AE[$k]}")" "$(jstat %.0f "${R_ARSS[$k]}")" \
        "$(jstat %.2f "${R_AU[$k]}")" "$(jstat %.2f "${R_ASYS[$k]}")"
    if [[ $t == updelta-inplace* ]]; then
        local req=null eio
        [[ $t == updelta-inplace-* ]] && req=$(json_str "${t#updelta-inplace-}")
        eio=$(sed -nE 's/.*"io":"([a-z0-9_]+)".*/\1/p' <<<"${R_JA[$k]}")
        printf ',\n     "inplace": {"io_requested": %s, "io_reported": %s, "bytes_written": %s, "journal_bytes": %s, "flushes": %s, "sync_syscalls_strace": %s}' \
            "$req" "$(json_str "${eio:--}")" "$(jstat %.0f "${R_WR[$k]}")" \
            "$(jstat %.0f "${R_JB[$k]}")" "$(jstat %.0f "${R_FL[$k]}")" "$(jnum_or_null "${R_SYSC[$k]:--}")"
    fi
    if [[ $t == updelta* ]]; then
        printf ',\n     "updelta_diff_json": %s, "updelta_apply_json": %s' \
            "$(jraw_or_null "${R_JD[$k]}")" "$(jraw_or_null "${R_JA[$k]}")"
    fi
    printf '}'
}

json_list() { # rows-array-name "pair:kind"... -> the records, then "]"
    local -n rr=$1
    local e t sep=$'\n'
    shift
    for e in "$@"; do
        for t in "${rr[@]}"; do
            printf '%s' "$sep"
            json_rec "${e%%:*}" "$t" "${e#*:}"
            sep=$',\n'
        done
    done
    printf '\n  ]'
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
declare -A SHA_OLD=() SHA_NEW=()
for i in "${sel[@]}"; do
    p=${M_NAME[i]}
    SHA_OLD[$p]=$(sha256sum "${PDIR[$p]}/old" | cut -d' ' -f1)
    SHA_NEW[$p]=$(sha256sum "${PDIR[$p]}/new" | cut -d' ' -f1)
done

{
    printf '{\n'
    printf '  "started": %s,\n' "$(json_str "$started")"
    printf '  "total_seconds": %s,\n' "$total_s"
    printf '  "runs": %s,\n  "timeout_seconds": %s,\n  "mem_cap_mib": %s,\n' "$runs" "$timeout_s" "$mem_cap"
    printf '  "host": {"nproc": %s, "cpu": %s, "kernel": %s},\n' "$(nproc)" \
        "$(json_str "$cpu")" "$(json_str "$(uname -sr)")"
    printf '  "repo_head": %s,\n' "$(json_str "$repo_head")"
    printf '  "updelta": {"path": %s, "sha256": %s, "io_option": %s},\n' "$(json_str "${updelta:--}")" \
        "$(json_str "$ud_sha")" "$( ((io_flag)) && echo true || echo false)"
    printf '  "corpus": %s,\n' "$(json_str "$corpus")"
    printf '  "pairs": ['
    sep=""
    for i in "${sel[@]}"; do
        p=${M_NAME[i]}
        printf '%s\n    {"pair": %s, "kind": %s, "description": %s, "old_sha256": %s, "new_sha256": %s}' "$sep" \
            "$(json_str "$p")" "$(json_str "${M_KIND[i]}")" "$(json_str "${M_DESC[i]}")" \
            "$(json_str "${SHA_OLD[$p]}")" "$(json_str "${SHA_NEW[$p]}")"
        sep=,
    done
    printf '\n  ],\n'
    printf '  "tools": {'
    sep=""
    for t in "${rows[@]}"; do
        printf '%s%s: %s' "$sep" "$(json_str "$t")" "$(json_str "$(tool_version "$t")")"
        sep=", "
    done
    printf '},\n'
    printf '  "measure": %s,\n' "$(json_str "each diff/apply: ulimit -v ${mem_cap_kib}; /usr/bin/time -f '%e %M %U %S' timeout -k 30 $timeout_s CMD; elapsed_s is wall time around that call from \$EPOCHREALTIME (ms), time_e_s is GNU time %e, rss_kib is %M; mb_per_s is new bytes / elapsed_s / 10^6")"
    entries=()
    for i in "${sel[@]}"; do entries+=("${M_NAME[i]}:${M_KIND[i]}"); done
    printf '  "results": ['
    json_list rows "${entries[@]}"
    entries=()
    for p in "${scale_names[@]}"; do entries+=("$p:synthetic exe-like, zstd --long=${ZLONG[$p]}"); done
    printf ',\n  "scaling": ['
    json_list scale_rows "${entries[@]}"
    printf ',\n'
    printf '  "micro": %s,\n' "$(jraw_or_null "$MICRO_JSON")"
    printf '  "fio": [%s]\n' "$FIO_JSON"
    printf '}\n'
} >"$out/results.json"

# ---- Markdown
cell_t() { # list -> "m (a–b)" seconds
    local m a b
    [[ -n $1 ]] || { echo -; return; }
    # shellcheck disable=SC2086
    read -r m a b < <(stats %.3f $1)
    if [[ $1 == *" "* ]]; then echo "$m ($a–$b)"; else echo "$m"; fi
}
cell_n() { # fmt list -> "m (a–b)" when the samples differ
    local m a b
    [[ -n $2 ]] || { echo -; return; }
    # shellcheck disable=SC2086
    read -r m a b < <(stats "$1" $2)
    if [[ $a != "$b" ]]; then echo "$m ($a–$b)"; else echo "$m"; fi
}
cell_m() { # list of KiB -> MiB "m (a–b)"
    # shellcheck disable=SC2046
    cell_n %.1f "$(awk '{ for (i = 1; i <= NF; i++) printf "%.1f ", $i / 1024 }' <<<"$1")"
}
pct_of() { # bytes new
    awk -v a="$1" -v b="$2" 'BEGIN { v = 100 * a / b; printf (v < 0.1 ? "%.3f" : "%.2f") "\n", v }'
}
bt() { [[ -n ${BEST_T[$1]:-} ]] && echo " (${BEST_T[$1]})"; } # column -> " (tool)"

declare -A SUMMARY=()
md_pair() { # index
    local i=$1 p=${M_NAME[$1]} ob nb t k pb st fs dcell acell wcell notes=() first_ip=${inplace_rows[0]}
    ob=$(old_bytes "$p") nb=$(new_bytes "$p")
    printf '## %s (%s)\n\n' "$p" "${M_KIND[i]}"
    printf '%s. old %s bytes, new %s bytes; sha256 old %s…, new %s….\n\n' "${M_DESC[i]}" "$(commas "$ob")" \
        "$(commas "$nb")" "${SHA_OLD[$p]:0:16}" "${SHA_NEW[$p]:0:16}"
    printf '| tool | patch bytes | %% of new | diff s | diff RSS MiB | apply s | apply MB/s | apply RSS MiB | written MiB (target + journal) | fsyncs (engine; strace) |\n'
    printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
    for t in "${rows[@]}"; do
        k=$p/$t st=${R_STATUS[$k]} fs=${R_FSTEP[$k]}
        pb=$(patch_bytes "$k")
        wcell="— | —"
        if [[ $st != ok && $fs == diff ]]; then
            printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$st" "$st" "$st" "$st" "$st" "$st" "$st" "$st" "$st"
        else
            if [[ $t == zstd-19 ]]; then
                dcell="— | —" acell="— | — | —"
            else
                dcell="$(cell_t "${R_DS[$k]}") | $(cell_m "${R_DRSS[$k]}")"
                if [[ $st != ok ]]; then
                    acell="$st | $st | $st"
                else
                    acell="$(cell_t "${R_AS[$k]}") | $(cell_n %.1f "$(mbs_list "$k" "$nb")") | $(cell_m "${R_ARSS[$k]}")"
                    [[ $t == updelta-inplace* ]] &&
                        wcell="$(cell_n %.2f "$(mib_list "${R_WR[$k]}")") + $(cell_n %.2f "$(mib_list "${R_JB[$k]}")") | $(cell_n %.0f "${R_FL[$k]}") (strace: ${R_SYSC[$k]:--})"
                fi
            fi
            [[ $st != ok && $t == zstd-19 ]] && acell="$st | $st | $st"
            printf '| %s | %s | %s | %s | %s | %s |\n' "$t" "$(commas "$pb")" "$(pct_of "$pb" "$nb")" "$dcell" "$acell" "$wcell"
        fi
        [[ $st != ok ]] && notes+=("$t: **$st** at $fs: ${R_REASON[$k]}")
        [[ -n ${R_NOTE[$k]} ]] && notes+=("$t: ${R_NOTE[$k]} (${R_SIZES[$k]})")
        if [[ $t == updelta-inplace-* && $st == ok ]]; then
            local eio
            eio=$(sed -nE 's/.*"io":"([a-z0-9_]+)".*/\1/p' <<<"${R_JA[$k]}")
            [[ $eio == "${t#updelta-inplace-}" ]] ||
                notes+=("$t: asked for --io=${t#updelta-inplace-}, the engine reports io \"${eio:-?}\"")
        fi
    done
    best_peers "$p"
    if has_tool updelta; then
        if [[ -z ${BEST[size]:-} ]]; then
            printf '\nNo peer succeeded: no ratios.\n'
        else
            for t in updelta "${inplace_rows[@]}"; do
                k=$p/$t
                [[ ${R_STATUS[$k]} == ok ]] || continue
                printf '| *%s ÷ best peer* | %s%s | | %s%s | %s%s | %s%s | — | %s%s | | |\n' "$t" \
                    "$(ratio "$(patch_bytes "$k")" size)" "$(bt size)" \
                    "$(ratio "$(med %.3f "${R_DS[$k]}")" ds)" "$(bt ds)" \
                    "$(ratio "$(med %.0f "${R_DRSS[$k]}")" drss)" "$(bt drss)" \
                    "$(ratio "$(med %.3f "${R_AS[$k]}")" as)" "$(bt as)" \
                    "$(ratio "$(med %.0f "${R_ARSS[$k]}")" arss)" "$(bt arss)"
            done
        fi
        local ua=- ui_a=-
        [[ ${R_STATUS[$p/updelta]} == ok ]] && ua=$(med %.3f "${R_AS[$p/updelta]}")
        [[ ${R_STATUS[$p/$first_ip]} == ok ]] && ui_a=$(med %.3f "${R_AS[$p/$first_ip]}")
        SUMMARY[$p]="| $p | $(commas "$nb") | $(commas "$(patch_bytes "$p/updelta")") | $(commas "${BEST[size]:--}")$(bt size) | $(ratio "$(patch_bytes "$p/updelta")" size) | $(ratio "$(med %.3f "${R_DS[$p/updelta]}")" ds) | $ua / $ui_a | ${BEST[as]:--}$(bt as) | $(ratio "$ua" as) / $(ratio "$ui_a" as) | $(ratio "$(med %.0f "${R_ARSS[$p/$first_ip]}")" arss) |"
    fi
    printf '\n'
    if ((${#notes[@]})); then
        printf 'Notes:\n\n'
        printf -- '- %s\n' "${notes[@]}"
        printf '\n'
    fi
}

scale_cell() { # wall-list user-list sys-list rss-kib-list -> " w (c) / m |" (one run each)
    printf ' %s (%s) / %s |' "$(med %.2f "$1")" "$(awk -v u="${2%% *}" -v s="${3%% *}" 'BEGIN { printf "%.2f", u + s }')" \
        "$(fdiv "${4%% *}" 1024 %.0f)"
}
# shellcheck disable=SC2016 # the backticks are Markdown
md_scaling() {
    local p t k st c
    printf '## Scaling (synthetic)\n\n'
    printf '`updelta-synth exe-like 1 SIZE` pairs (old SIZE, new ~1.04 × SIZE), one run per size and tool; zstd uses `--long=N` with 2^N ≥ the new image (27 up to 128 MiB). Cells: wall seconds (user + system CPU seconds, less sensitive to other load on the machine) / peak RSS MiB; TIMEOUT, OOM (address space capped at %s MiB; 0: no cap) and FAIL are results.\n\n' "$mem_cap"
    for c in diff apply size; do
        case $c in
        diff) printf '### diff: wall s (CPU s) / peak RSS MiB\n\n' ;;
        apply) printf '### apply: wall s (CPU s) / peak RSS MiB\n\n' ;;
        size) printf '### patch, %% of new\n\n' ;;
        esac
        printf '| tool |'
        for p in "${scale_names[@]}"; do printf ' %s |' "${p#synth-}"; done
        printf '\n|---|'
        for p in "${scale_names[@]}"; do printf -- '---:|'; done
        printf '\n'
        for t in "${scale_rows[@]}"; do
            printf '| %s |' "$t"
            for p in "${scale_names[@]}"; do
                k=$p/$t st=${R_STATUS[$k]}
                # a failed apply still leaves the diff's numbers
                if [[ $st != ok ]] && [[ $c == apply || -z ${R_DS[$k]} ]]; then
                    printf ' %s |' "$st"
                    continue
                fi
                case $c in
                diff) scale_cell "${R_DS[$k]}" "${R_DU[$k]}" "${R_DSYS[$k]}" "${R_DRSS[$k]}" ;;
                apply) scale_cell "${R_AS[$k]}" "${R_AU[$k]}" "${R_ASYS[$k]}" "${R_ARSS[$k]}" ;;
                size) printf ' %s |' "$(pct_of "$(patch_bytes "$k")" "$(new_bytes "$p")")" ;;
                esac
            done
            printf '\n'
        done
        printf '\n'
    done
    for p in "${scale_names[@]}"; do
        for t in "${scale_rows[@]}"; do
            k=$p/$t
            [[ ${R_STATUS[$k]} == ok ]] || printf -- '- %s %s: **%s** at %s: %s\n' "$p" "$t" "${R_STATUS[$k]}" "${R_FSTEP[$k]}" "${R_REASON[$k]}"
        done
    done
    printf '\n![scaling](scaling.png)\n\n'
}

md_micro() {
    printf '## Hot paths against memcpy (updelta-micro)\n\n'
    if [[ -z $MICRO_JSON ]]; then
        printf 'updelta-micro failed (see raw/micro.err).\n\n'
    else
        printf '| path | MB/s median | min | max | vs memcpy |\n|---|---:|---:|---:|---:|\n'
        sed 's/},{/}\n{/g' <<<"${MICRO_JSON#*\"paths\":[}" |
            sed -nE 's/.*"name":"([^"]+)","mb_s":\{"median":([0-9.]+),"min":([0-9.]+),"max":([0-9.]+)\},"vs_memcpy":([0-9.]+).*/| \1 | \2 | \3 | \4 | \5× |/p'
        printf '\n%s\n\n' "$(sed -nE 's/^\{"mib":([0-9]+),"runs":([0-9]+),"zstd_level":([0-9]+),"input":"([^"]+)".*/\1 MiB buffers (\4), median of \2 runs; zstd-decode: 2 MiB segments at level \3, over the first 8 MiB. MB\/s = 10^6 bytes\/s of input (add: bytes added). add is a copy of the applier'"'"'s loop (static in engine\/apply\/exec.c); sha256 is the engine'"'"'s upd_sha256 (OpenSSL)./p' <<<"$MICRO_JSON")"
    fi
    if [[ -n $FIO_JSON ]]; then
        printf 'Storage ceiling for in-place apply (fio, sequential 1 MiB writes and one fsync at the end, beside the work files; bytes ÷ wall time of the fio run): '
        sed 's/},{/}\n{/g' <<<"$FIO_JSON" | sed -nE 's/.*"engine":"([^"]+)","size":"([^"]+)","write_bytes_per_s":([0-9.a-z]+),.*/\1 \2 \3/p' |
            while read -r e z b; do
                if [[ $b == null ]]; then echo "$e: failed"; else echo "$e $(fdiv "$b" 1000000 %.0f) MB/s ($z)"; fi
            done | paste -sd ';' | sed 's/;/; /g'
        printf '\n'
    fi
}

: >"$work/pairs.md"
for i in "${sel[@]}"; do md_pair "$i" >>"$work/pairs.md"; done # fills SUMMARY
# shellcheck disable=SC2016 # the backticks are Markdown
{
    printf '# updelta benchmark, %s\n\n' "$(date +%F)"
    printf 'updelta: `%s` (%s, sha256 of the binary and its libupdelta %s; repo HEAD when the run began %s). ' "${updelta:--}" \
        "$(tool_version updelta)" "${ud_sha:0:12}" "${repo_head:0:12}"
    printf 'Peers: bsdiff %s, %s, %s.\n' "$(dpkg-query -W -f '${Version}' bsdiff 2>/dev/null || echo '?')" \
        "$(xdelta3 -V 2>&1 | head -n 1 | awk '{ print "xdelta3 " $3 }' | tr -d ',')" \
        "$(zstd -V 2>&1 | grep -oE 'v[0-9.]+' | head -n 1 | sed 's/^/zstd /')"
    printf '%s run(s) per tool, sequential; times are wall seconds, median (min–max); RSS is peak resident set (GNU time %%M); ' "$runs"
    printf 'host: %s cores, %s. Timeout %ss per step, address space capped at %s MiB (0: no cap). Total run time %dm%02ds.\n\n' \
        "$(nproc)" "$cpu" "$timeout_s" "$mem_cap" $((total_s / 60)) $((total_s % 60))
    if ((io_flag)); then
        printf 'In-place apply once per I/O backend: %s (`--io=NAME`).\n\n' "${io_backends[*]}"
    else
        printf 'In-place apply with the binary'"'"'s built-in I/O backend (it has no `--io` option).\n\n'
    fi
    if has_tool updelta && ((${#SUMMARY[@]})); then
        printf '## Summary\n\n'
        printf '| pair | new bytes | updelta patch | best peer patch | size ratio | diff s ratio | updelta apply s (out / %s) | best peer apply s | apply ratio (out / in place) | in-place RSS ratio |\n' "${inplace_rows[0]}"
        printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
        for i in "${sel[@]}"; do printf '%s\n' "${SUMMARY[${M_NAME[i]}]}"; done
        printf '\nRatios are updelta ÷ the best of %s in that column (below 1: updelta smaller/faster/leaner); the best peer may differ per column. zstd-19 is the no-delta baseline and is not a peer.\n\n' "${PEERS[*]}"
    fi
    cat "$work/pairs.md"
    ((${#scale_names[@]})) && md_scaling
    ((micro)) && md_micro
    printf '\n## Commands\n\n'
    printf -- '- updelta: `updelta diff OLD NEW -o PKG -q --json --sign KEY`; `updelta apply OLD PKG -o OUT -q --json --pubkey PUB`; `updelta apply --in-place TARGET PKG -q --json --pubkey PUB [--io=BACKEND]` (TARGET a fresh copy of OLD, copy not timed; written bytes, journal bytes and fsyncs are the engine'"'"'s own counts from its --json: bytes_written, journal_bytes, flushes)\n'
    printf -- '- bsdiff: `bsdiff OLD NEW PKG`; `bspatch OLD OUT PKG`\n'
    printf -- '- xdelta3: `xdelta3 -e -9 -S lzma -s OLD NEW PKG`; `xdelta3 -d -s OLD PKG OUT`\n'
    printf -- '- zstd-patch: `zstd -q -19 --long=27 --patch-from=OLD NEW -o PKG`; `zstd -q -d --long=27 --patch-from=OLD PKG -o OUT`\n'
    printf -- '- zstd-ultra: `zstd -q --ultra -22 --long=27 --patch-from=OLD NEW -o PKG`; same decode as zstd-patch\n'
    printf -- '- zstd-19 (no-delta baseline, size only, one run): `zstd -q -19 NEW -o PKG` (checked with `zstd -d`, untimed)\n'
    printf -- '- every apply output is compared with NEW by `cmp`; a mismatch is FAIL. Each step runs under `ulimit -v %s; /usr/bin/time -f "%%e %%M %%U %%S" timeout -k 30 %s`.\n' "$mem_cap_kib" "$timeout_s"
    printf -- '- exact command lines per pair and tool, all samples, user/sys CPU and updelta'"'"'s own --json: `results.json`; per-run logs: `raw/`.\n'
} >"$out/results.md"

python3 "$root/bench/plot.py" "$out" >/dev/null || die "bench/plot.py failed"
if ((${#sel[@]})); then
    printf '\n## Plots\n\n![patch size](patch_size.png)\n\n![apply throughput against memory](apply_vs_memory.png)\n' >>"$out/results.md"
fi
note "done in ${total_s}s: $out/results.md, $out/results.json, $out/*.png"
cat "$out/results.md"
