#!/bin/sh
# The test command: install dependencies, build twice (release, and
# AddressSanitizer + UndefinedBehaviorSanitizer), run every suite in both,
# compile a debug build (-O0 warns where -O2 does not; warnings are errors),
# then the bounded-memory check (in-place apply of 128 MiB synthetic images
# and of a real 100 MiB pair within 16 MiB peak RSS) and the kill -9 test on
# a real pair (POSIX and io_uring) (real pairs fetched by exact,
# sha256-pinned version); with CI=true also a 30 s fuzz smoke run of every
# libFuzzer target.  Long soak/fuzz runs are not part of this: see
# docs/JOURNAL.md (UPD_CRASH_SOAK=1) and fuzz/README.md.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh bash
JOBS=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)

echo "== release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUPD_TESTS=ON >/dev/null
make -C build -j"$JOBS" >/dev/null
(cd build && ctest --output-on-failure -j2)

echo "== debug build (compiled only)"
cmake -S . -B build-debug -DCMAKE_BUILD_TYPE=Debug -DUPD_TESTS=ON >/dev/null
make -C build-debug -j"$JOBS" >/dev/null

echo "== ASan + UBSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUPD_SANITIZE=ON -DUPD_TESTS=ON >/dev/null
make -C build-asan -j"$JOBS" >/dev/null
(cd build-asan && ctest --output-on-failure -j2)

CACHE=${UPDELTA_CORPUS:-$PWD/corpora/.cache}
bash corpora/fetch.sh --pairs esbuild,biome "$CACHE" >/dev/null

echo "== bounded memory: in-place apply of 128 MiB images and of biome (99.7 MB)"
sh tests/rss_test.sh build/updelta build/updelta-synth 128M 16384 "$CACHE/biome/old" "$CACHE/biome/new"

echo "== kill -9 at random instants, resume, verify (real pair, POSIX and io_uring backends)"
bash tests/kill_test.sh build/updelta "$CACHE/esbuild/old" "$CACHE/esbuild/new" 200 --io=posix
bash tests/kill_test.sh build/updelta "$CACHE/esbuild/old" "$CACHE/esbuild/new" 100 --io=uring

if [ "${CI:-}" = true ]; then
    echo "== fuzz smoke: each libFuzzer target for 30 s (clang, ASan+UBSan)"
    sh fuzz/smoke.sh 30
fi

echo "== all tests passed in $(( $(date +%s) - start )) s"
