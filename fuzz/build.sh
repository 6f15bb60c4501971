#!/bin/bash -eu
# Build the fuzz targets the OSS-Fuzz way; works unchanged as (or called
# from) projects/updelta/build.sh and .clusterfuzzlite/build.sh.
#
# From the environment, as OSS-Fuzz sets them: CC, CFLAGS (sanitizers and
# -fsanitize=fuzzer-no-link), CXX, CXXFLAGS (the link: libFuzzer is C++),
# LIB_FUZZING_ENGINE, OUT, WORK.  Locally the defaults below give an
# ASan + UBSan libFuzzer build in fuzz/out/.
#
# Needs only OSS-Fuzz's base-builder and the apt packages libzstd-dev, liblzma-dev,
# libdivsufsort-dev, libssl-dev, libxxhash-dev.  The engine is compiled here
# from source with $CFLAGS (no cmake); libzstd, libcrypto, libxxhash and liblzma are
# linked statically, libdivsufsort (no static library in Debian/Ubuntu) is
# copied into $OUT/lib and found through an $ORIGIN rpath, because the
# runner image has none of these packages.
#
# Writes to $OUT, for each target: the binary, <target>_seed_corpus.zip
# (fuzz/corpus/<target> and fuzz/regressions/<target>), <target>.options,
# and the shared dictionary updelta.dict.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${CC:=clang}"
: "${CXX:=clang++}"
: "${CFLAGS:=-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -fsanitize=fuzzer-no-link}"
: "${CXXFLAGS:=$CFLAGS}"
: "${LIB_FUZZING_ENGINE:=-fsanitize=fuzzer}"
: "${OUT:=$ROOT/fuzz/out}"
: "${WORK:=$(mktemp -d)}"

TARGETS="fuzz_header fuzz_apply fuzz_roundtrip fuzz_crash fuzz_journal fuzz_dm_xml fuzz_dm_wbxml
         fuzz_dm_notify fuzz_http_range"
WBXML_CFLAGS=$(pkg-config --cflags libwbxml2 2>/dev/null || echo -I/usr/include/libwbxml-1.0)
obj=$WORK/updelta-fuzz
rm -rf "$obj"
mkdir -p "$obj" "$OUT/lib"

# the engine and the shared harness code, as one static library
# (and the OMA DM codec, adapters/dm, with the samples' model comparison)
for src in "$ROOT"/engine/*/*.c "$ROOT/fuzz/fuzz_common.c" "$ROOT/tests/helpers.c" \
           "$ROOT/corpora/synth.c" "$ROOT"/adapters/dm/*.c "$ROOT/tests/dm_samples.c" \
           "$ROOT/fuzz/fuzz_dm_common.c" "$ROOT/server/download.c"; do
    o=$obj/$(basename "$(dirname "$src")")_$(basename "$src" .c).o
    # shellcheck disable=SC2086
    $CC $CFLAGS -std=c11 -Wall -I"$ROOT/include" -I"$ROOT/server" $WBXML_CFLAGS -c "$src" -o "$o"
done
ar rcs "$obj/libupdelta_fuzz.a" "$obj"/*.o

# a static library when the system has one, else the shared one
static_or_shared() {
    local a
    a=$($CC -print-file-name="lib$1.a")
    if [ -f "$a" ]; then echo "$a"; else echo "-l$1"; fi
}
so=$($CC -print-file-name=libdivsufsort.so)
cp -L "$(dirname "$so")"/libdivsufsort.so.[0-9]* "$OUT/lib/" 2>/dev/null || cp -L "$so" "$OUT/lib/"
# libdivsufsort first: libzstd.a's dictionary builder defines a divsufsort()
# of its own, with another signature
LIBS="-ldivsufsort $(static_or_shared zstd) $(static_or_shared crypto) $(static_or_shared xxhash)
      $(static_or_shared lzma)"
# libwbxml2 has no static library either; it needs libexpat.so.1 at run time
for l in wbxml2 expat; do
    so=$($CC -print-file-name=lib$l.so)
    cp -L "$(dirname "$so")"/lib$l.so.[0-9] "$OUT/lib/" 2>/dev/null || cp -L "$so" "$OUT/lib/"
done
LIBS="$LIBS -lwbxml2 -lexpat -ldl -pthread"

for t in $TARGETS; do
    $CC $CFLAGS -std=c11 -Wall -I"$ROOT/include" -I"$ROOT/server" -c "$ROOT/fuzz/$t.c" -o "$obj/$t.o"
    # shellcheck disable=SC2086
    $CXX $CXXFLAGS "$obj/$t.o" -o "$OUT/$t" $LIB_FUZZING_ENGINE "$obj/libupdelta_fuzz.a" \
         -L"$OUT/lib" -Wl,-rpath,'$ORIGIN/lib' $LIBS
    cp "$ROOT/fuzz/$t.options" "$OUT/" 2>/dev/null || true
    rm -f "$OUT/${t}_seed_corpus.zip"
    seeds=$(find "$ROOT/fuzz/corpus/$t" "$ROOT/fuzz/regressions/$t" -type f ! -name '.*' 2>/dev/null)
    if command -v zip >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        zip -q -j "$OUT/${t}_seed_corpus.zip" $seeds
    else
        # shellcheck disable=SC2086
        python3 -m zipfile -c "$OUT/${t}_seed_corpus.zip" $seeds
    fi
done
cp "$ROOT/fuzz/updelta.dict" "$ROOT/fuzz/dm.dict" "$OUT/"
