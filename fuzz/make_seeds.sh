#!/bin/sh
# Regenerate the seed corpora fuzz/corpus/<target>/ (deterministic: the same
# bytes on every run and machine; the result is committed).
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
rm -rf fuzz/corpus
mv fuzz/corpus.new fuzz/corpus
for d in fuzz/corpus/*; do
    echo "$d: $(ls "$d" | wc -l) files, $(du -sk "$d" | cut -f1) KiB"
done
