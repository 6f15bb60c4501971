#!/bin/bash
# I/O backend bench: in-place apply through posix and io_uring, buffered and
# O_DIRECT, with a queue-depth x block-size sweep for io_uring, on real
# corpus pairs and a synthetic image, against fio's sequential-write ceiling
# (io_uring engine, same file system, same run).  See bench/README.md.
#
#   bench/io.sh [--quick] [--runs N] [--pairs a,b] [--synth-size SIZE]
#               [--window SIZE] [--corpus DIR] [--updelta PATH] [--synth PATH]
#               [--dir DIR] [--cache DIR] [--out DIR]
#
# The synthetic pair is 256 MiB by default; the issue's 1 GiB image is
# --synth-size 1G (its package takes minutes to make on two cores, and is
# cached like the rest).
# Packages (and the synthetic pair) are made once and kept in --cache
# (default bench/.io-cache, beside the scratch directory): a 1 GiB diff takes
# many minutes on two cores.  Delete the cache after changing the format.
#
# Every apply starts from a fresh copy of OLD (the copy is not timed, and is
# followed by sync so that its writeback does not land in the apply) and is
# checked bit-exact against NEW.  Times are medians of --runs.  The figure
# compared with fio is the apply phase (t_apply from --json: every segment
# executed, journal and image flushed); "of fio" is how long fio would take to
# write the image bytes the apply wrote, divided by that time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0 RUNS= PAIRS= SYNTH_SIZE=256M WINDOW=
CORPUS=/work/corpus-cache UPD=$ROOT/build/updelta SYNTH=$ROOT/build/updelta-synth
DIR= OUT= CACHE=$ROOT/bench/.io-cache
while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1 ;;
        --runs) RUNS=$2; shift ;;
        --pairs) PAIRS=$2; shift ;;
        --synth-size) SYNTH_SIZE=$2; shift ;;
        --window) WINDOW=$2; shift ;;
        --corpus) CORPUS=$2; shift ;;
        --updelta) UPD=$2; shift ;;
        --synth) SYNTH=$2; shift ;;
        --dir) DIR=$2; shift ;;
        --out) OUT=$2; shift ;;
        --cache) CACHE=$2; shift ;;
        *) echo "usage: bench/io.sh [--quick] [--runs N] [--pairs a,b] [--synth-size SIZE]" \
                "[--window SIZE] [--corpus DIR] [--updelta PATH] [--synth PATH] [--dir DIR] [--cache DIR] [--out DIR]" >&2
           exit 2 ;;
    esac
    shift
done
[ -n "$RUNS" ] || RUNS=$([ $QUICK = 1 ] && echo 1 || echo 3)
[ -n "$PAIRS" ] || PAIRS=$([ $QUICK = 1 ] && echo libcrypto,esbuild || echo libcrypto,esbuild,typescript,rootfs)
for tool in fio "$UPD" "$SYNTH"; do
    command -v "$tool" >/dev/null || { echo "io.sh: $tool missing (scripts/deps.sh installs fio)" >&2; exit 1; }
done
# the scratch directory decides the file system measured: default beside the repo
DIR=${DIR:-$(mktemp -d "$ROOT/bench/.io-XXXXXX")}
OUT=${OUT:-$ROOT/bench/results/$(date -u +%F)-io}
mkdir -p "$DIR" "$OUT" "$CACHE"
trap 'rm -rf "$DIR"' EXIT
FS=$(df -T "$DIR" | awk 'NR == 2 { print $2 " on " $1 }')

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { sed -n "s/.*\"$1\":\\([0-9.]*\\).*/\\1/p"; }
mbs() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.0f", (t > 0 ? b / t / 1048576 : 0) }'; }

# fio's sequential-write ceiling for BYTES (at least 256 MiB), buffered
# (end_fsync: the data reach the disk, as the apply's flushes make them) or
# O_DIRECT: MB/s, median of RUNS.
fio_ceiling() {
    local bytes=$1 direct=$2 size r
    size=$(( bytes > 268435456 ? bytes : 268435456 ))
    for r in $(seq "$RUNS"); do
        fio --name=ceiling --filename="$DIR/fio.dat" --ioengine=io_uring --rw=write --bs=1M \
            --iodepth=16 --size="$size" --direct="$direct" --end_fsync=1 --output-format=json \
            > "$DIR/fio.json"
        rm -f "$DIR/fio.dat"
        awk '/"write" : \{/ { w = 1 } w && /"bw_bytes"/ { gsub(/[^0-9]/, "", $0); print $0 / 1048576; exit }' \
            "$DIR/fio.json"
    done | median
}

# One configuration on one image: median t_apply, bytes written, wall time.
apply_runs() {
    local name=$1 opts=$2 r t
    : > "$DIR/t" ; : > "$DIR/w"
    for r in $(seq "$RUNS"); do
        cp "$CACHE/$name.old" "$DIR/tgt"
        sync
        t0=$(date +%s%N)
        # shellcheck disable=SC2086
        "$UPD" apply --insecure --in-place "$DIR/tgt" "$CACHE/$name.pkg" --json $opts \
            ${WINDOW:+--window "$WINDOW"} > "$DIR/apply.json"
        t1=$(date +%s%N)
        cmp -s "$DIR/tgt" "$CACHE/$name.new" || { echo "io.sh: $name $opts: result differs" >&2; exit 1; }
        field t_apply < "$DIR/apply.json" >> "$DIR/t"
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }' >> "$DIR/w"
    done
    echo "$(median < "$DIR/t") $(field bytes_written < "$DIR/apply.json") $(median < "$DIR/w")" \
         "$(field journal_bytes < "$DIR/apply.json") $(field flushes < "$DIR/apply.json")"
}

# ---- images ----------------------------------------------------------------
IMAGES=()
for p in ${PAIRS//,/ }; do
    [ -f "$CORPUS/$p/old" ] || { echo "io.sh: no pair $p in $CORPUS" >&2; exit 1; }
    ln -sf "$CORPUS/$p/old" "$CACHE/$p.old"
    ln -sf "$CORPUS/$p/new" "$CACHE/$p.new"
    IMAGES+=("$p")
done
if [ "$SYNTH_SIZE" != 0 ]; then
    s=synth-$SYNTH_SIZE
    [ -f "$CACHE/$s.new" ] || "$SYNTH" insert-delete 1 "$SYNTH_SIZE" "$CACHE/$s.old" "$CACHE/$s.new"
    IMAGES+=("$s")
fi
for i in "${IMAGES[@]}"; do
    [ -f "$CACHE/$i.pkg" ] || "$UPD" diff "$CACHE/$i.old" "$CACHE/$i.new" -o "$CACHE/$i.pkg" -q --threads 2 --level 1
done

# ---- configurations ------------------------------------------------------------
# the default journal unit (4 MiB) flushes often; 64 MiB units show how much
# of the gap to fio is those barriers rather than the backend; without the journal,
# how near the applier's own I/O comes to fio
CONFIGS=("posix|--io=posix" "uring|--io=uring" "uring O_DIRECT|--io=uring --direct"
         "posix, 64M units|--io=posix --journal-unit 64M"
         "uring, 64M units|--io=uring --journal-unit 64M"
         "uring O_DIRECT, 64M units|--io=uring --direct --journal-unit 64M"
         "posix, no journal|--io=posix --no-journal"
         "uring, no journal|--io=uring --no-journal"
         "uring O_DIRECT, no journal|--io=uring --direct --no-journal")
if [ $QUICK = 1 ]; then DEPTHS="1 16"; BLOCKS="64K 1M"; else DEPTHS="1 4 16 64"; BLOCKS="64K 256K 1M"; fi
SWEEP=()
for d in $DEPTHS; do
    for b in $BLOCKS; do
        SWEEP+=("uring qd$d bs$b|--io=uring --io-depth $d --io-block $b"
                "uring O_DIRECT qd$d bs$b|--io=uring --direct --io-depth $d --io-block $b")
    done
done

{
echo "# I/O backends: in-place apply vs the fio sequential-write ceiling"
echo
echo "$(date -u '+%F %H:%M UTC'), $(uname -r), $(nproc) cores, scratch on $FS;"
echo "updelta $("$UPD" version 2>/dev/null | head -1), fio $(fio --version); runs: $RUNS (medians)."
echo "Command: bench/io.sh $([ $QUICK = 1 ] && echo --quick) --runs $RUNS --pairs $PAIRS --synth-size $SYNTH_SIZE${WINDOW:+ --window $WINDOW}"
echo
echo "apply s is the apply phase (t_apply): every segment executed and, with the journal, every unit's"
echo "flushes; without it the image's one flush falls in the result check, outside this figure (fio's"
echo "figure includes its fsync). whole run s: the command, hashing both images included. The first"
echo "'of fio' counts the image's bytes only; the second all the bytes the apply must write, the journal's too."
echo
} > "$OUT/io.md"

for i in "${IMAGES[@]}"; do
    size=$(stat -L -c %s "$CACHE/$i.new")
    configs=("${CONFIGS[@]}")
    # the sweep runs on the synthetic image, the largest
    case $i in synth-*) configs+=("${SWEEP[@]}") ;; esac
    fio_buf=$(fio_ceiling "$size" 0)
    fio_dir=$(fio_ceiling "$size" 1)
    {
    echo "## $i ($(numfmt --to=iec "$size") new image)"
    echo
    printf 'fio ceiling (io_uring, 1 MiB sequential writes, iodepth 16): buffered + fsync %.0f MB/s, O_DIRECT %.0f MB/s\n' "$fio_buf" "$fio_dir"
    echo
    echo "| backend | apply s | image bytes written | journal bytes | flushes | apply MB/s (image bytes) | fio ceiling MB/s | of fio | MB/s (image + journal) | of fio | whole run s |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    } >> "$OUT/io.md"
    for c in "${configs[@]}"; do
        label=${c%%|*} opts=${c#*|}
        read -r t w wall j fl < <(apply_runs "$i" "$opts")
        case $label in *O_DIRECT*) ceil=$fio_dir ;; *) ceil=$fio_buf ;; esac
        rate=$(mbs "$w" "$t")
        frac=$(awk -v r="$rate" -v c="$ceil" 'BEGIN { printf "%.0f%%", (c > 0 ? 100 * r / c : 0) }')
        all=$(mbs "$((w + j))" "$t")
        fall=$(awk -v r="$all" -v c="$ceil" 'BEGIN { printf "%.0f%%", (c > 0 ? 100 * r / c : 0) }')
        printf '| %s | %.3f | %s | %s | %s | %s | %.0f | %s | %s | %s | %.2f |\n' "$label" "$t" "$w" "$j" \
            "$fl" "$rate" "$ceil" "$frac" "$all" "$fall" "$wall" >> "$OUT/io.md"
    done
    echo >> "$OUT/io.md"
done
cat "$OUT/io.md"
