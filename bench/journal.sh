#!/bin/bash
# Journal cost on real pairs: write amplification (bytes written to target +
# journal, divided by the bytes of the new image that differ from the old at
# the same offset; also divided by the bytes of the 4 KiB blocks that hold
# such a byte, the least a block device must rewrite), flushes per MiB of new
# image, and in-place apply time with the journal against without (median
# of RUNS, same machine, same run), the journal's save areas compressed by
# its worker thread (the default) and inline (--journal-inline).
# Usage: bench/journal.sh [--runs N] [--unit SIZE] [--io "APPLY ARGS"] CORPUS_DIR PAIR...
#   --io: more arguments for every apply, e.g. "--io=uring --direct"
#   CORPUS_DIR holds PAIR/old and PAIR/new (corpora/fetch.sh makes it).
set -eu
runs=5 unit="" ioargs=""
while [[ ${1:-} == --* ]]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --unit) unit="--journal-unit $2"; shift 2 ;;
    --io) ioargs=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
corpus=$1; shift
root=$(cd "$(dirname "$0")/.." && pwd)
U=$root/build/updelta
W=$(mktemp -d "${TMPDIR:-/tmp}/updelta-jbench.XXXXXX")
trap 'rm -rf "$W"' EXIT
"$U" keygen "$W/k" >/dev/null
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
json() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
printf '%-11s %11s %11s %11s %11s %6s %8s %9s %9s %9s %8s %9s %8s\n' pair changed "chg blocks" target journal WA \
       "WA blk" "flush/MiB" "nojrnl s" "jrnl s" overhead "inline s" overhead
for p in "$@"; do
    old=$corpus/$p/old new=$corpus/$p/new
    "$U" diff "$old" "$new" -o "$W/pkg" -q --sign "$W/k.key"
    os=$(stat -c %s "$old") ns=$(stat -c %s "$new")
    # differing bytes, and the bytes of the 4 KiB blocks holding one; a grown
    # tail counts whole
    read -r changed blocks < <(cmp -l "$old" "$new" 2>/dev/null |
        awk -v os="$os" -v ns="$ns" '{ n++; b = int(($1 - 1) / 4096); if (b != last) { nb++; last = b } }
            END { if (ns > os) { n += ns - os; nb += int((ns + 4095) / 4096) - int(os / 4096) }
                  print n + 0, (nb + 0) * 4096 }' last=-1)
    t_plain=() t_jr=() t_in=()
    for r in $(seq 1 "$runs"); do
        for mode in plain jr in; do
            cp "$old" "$W/tgt"
            sync
            case $mode in
            plain) flag=--no-journal ;;
            jr) flag=$unit ;;
            in) flag="$unit --journal-inline" ;;
            esac
            s=$(date +%s%N)
            # shellcheck disable=SC2086 # word splitting of the option lists is the point
            "$U" apply --in-place "$W/tgt" "$W/pkg" --pubkey "$W/k.pub" --json $flag $ioargs > "$W/$mode.json"
            e=$(date +%s%N)
            cmp -s "$W/tgt" "$new" || { echo "$p: $mode apply not bit-exact" >&2; exit 1; }
            us=$(( (e - s) / 1000 ))
            case $mode in
            plain) t_plain+=("$us") ;;
            jr) t_jr+=("$us") ;;
            in) t_in+=("$us") ;;
            esac
        done
    done
    tw=$(json bytes_written < "$W/jr.json") jw=$(json journal_bytes < "$W/jr.json")
    [[ $(json journal_bytes < "$W/in.json") == "$jw" ]] ||
        { echo "$p: the worker and inline journals differ in size" >&2; exit 1; }
    fl=$(json flushes < "$W/jr.json")
    mp=$(printf '%s\n' "${t_plain[@]}" | median) mj=$(printf '%s\n' "${t_jr[@]}" | median)
    mi=$(printf '%s\n' "${t_in[@]}" | median)
    awk -v p="$p" -v c="$changed" -v cb="$blocks" -v tw="$tw" -v jw="$jw" -v fl="$fl" -v ns="$ns" \
        -v mp="$mp" -v mj="$mj" -v mi="$mi" \
        'BEGIN { printf "%-11s %11d %11d %11d %11d %5.2fx %7.2fx %9.2f %9.3f %9.3f %7.1f%% %9.3f %7.1f%%\n", p, c,
                 cb, tw, jw, (tw + jw) / (c ? c : 1), (tw + jw) / (cb ? cb : 1), fl / (ns / 1048576),
                 mp / 1e6, mj / 1e6, 100 * (mj - mp) / mp, mi / 1e6, 100 * (mi - mp) / mp }'
done
echo "(median of $runs runs each; target and journal on $(df -T "$W" | awk 'NR == 2 { print $2 }')${ioargs:+; apply $ioargs})"
