#!/bin/sh
# Regenerate the seed corpora fuzz/corpus/<target>/ of the targets whose
# seeds are made by fuzz/make_seeds.c and make_dm_seeds.c (deterministic:
# the same bytes on every run and machine; the result is committed).
#   fuzz/make_seeds.sh [BUILD_DIR]      default: build-seeds
set -eu
cd "$(dirname "$0")/.."
B=${1:-build-seeds}
cmake -S . -B "$B" -DUPD_TESTS=ON >/dev/null
make -C "$B" -j2 fuzz_make_seeds fuzz_make_dm_seeds >/dev/null
rm -rf fuzz/corpus.new
mkdir fuzz/corpus.new
"$B/fuzz/fuzz_make_seeds" fuzz/corpus.new
"$B/fuzz/fuzz_make_dm_seeds" fuzz/corpus.new
# only the targets the generators write are replaced: the other seed sets
# (fuzz_crash, fuzz_journal, fuzz_http_range) are kept as committed
for n in fuzz/corpus.new/*; do
    d=fuzz/corpus/$(basename "$n")
    rm -rf "$d"
    mv "$n" "$d"
    echo "$d: $(ls "$d" | wc -l) files, $(du -sk "$d" | cut -f1) KiB"
done
rmdir fuzz/corpus.new
