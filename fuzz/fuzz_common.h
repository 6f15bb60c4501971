/* Shared helpers of the fuzz targets (fuzz/README.md): an oracle assert, a
 * data producer that carves parameters from the input, one in-memory apply
 * used by every target that runs the applier, and the raw-package framing
 * and resealing of fuzz_apply.  Byte buffers are the tests' (buf_t of
 * tests/helpers.c).  Not part of the library; public API only. */
#ifndef UPD_FUZZ_COMMON_H
#define UPD_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <updelta/updelta.h>
#include "../tests/helpers.h"   /* buf_t, buf_sink (an upd_write_fn), buf_free */

/* Every target defines this; libFuzzer or fuzz/replay_main.c calls it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An oracle failed: print where and abort (a finding, not bad input). */
#define FUZZ_ASSERT(c) \
    do { if (!(c)) fuzz_fail(__FILE__, __LINE__, #c); } while (0)
__attribute__((noreturn)) void fuzz_fail(const char *file, int line, const char *what);

/* printf to stderr when the environment sets FUZZ_VERBOSE (replays, when
 * writing seeds: what each input reached); silent while fuzzing. */
__attribute__((format(printf, 1, 2))) void fuzz_note(const char *fmt, ...);

/* Image bounds shared by the targets: inputs and images stay small so a
 * run takes milliseconds (zstd's fuzzers bound their inputs the same way). */
#define FUZZ_IMAGE_MAX   (64u << 10)    /* old and new images, bytes */

/* Data producer (zstd's FUZZ_dataProducer): parameters are taken from the
 * front of the input, the rest stays payload.  Reading past the end gives
 * zeros, so every input is usable. */
typedef struct {
    const uint8_t *p;
    size_t n;
} fuzz_input;

uint8_t  fuzz_u8(fuzz_input *in);
uint16_t fuzz_u16(fuzz_input *in);     /* little-endian */
/* Up to MAX bytes from the front (fewer when the input is shorter); *LEN
 * receives the count. */
const uint8_t *fuzz_bytes(fuzz_input *in, size_t max, size_t *len);

/* How a package is applied to a memory image.  UPD_APPLY_INSECURE is
 * always added to FLAGS: the harnesses test parsing and applying, not
 * signatures (nothing can forge one by mutation). */
typedef struct {
    unsigned flags;          /* more UPD_APPLY_* flags (DRY_RUN: no image at all) */
    int      out_of_place;   /* old image in a source handle, new one in an empty target */
    int      stash_io;       /* caller-supplied memory stash instead of the in-memory one */
    size_t   window;         /* applier window, 0 = 1 MiB (the smallest allowed) */
    size_t   cap;            /* largest length the target may reach */
    unsigned chunk_shape;    /* 0: one push; 1..3: pieces of 1..7, 1..300, 1..5000 bytes */
    uint32_t chunk_seed;     /* piece sizes are a function of this seed */
    int      refused;        /* a failure must leave the target and the stash as they
                                were, wherever it comes (a dry run refused the package
                                and the tools would skip it: upd_pkg_one_pass_safe) */
} fuzz_apply_cfg;

/* Apply PKG to a memory image holding OLD as CFG says: push in pieces,
 * finish, and return the first error (0 on success).  When OUT is set it
 * receives the target's final bytes.  Aborts (a finding) when the applier
 * wrote to the source, or changed the target or stash before the header,
 * manifest and auth block were accepted. */
int fuzz_apply_mem(const fuzz_apply_cfg *cfg, const uint8_t *old_img, size_t old_len,
                   const uint8_t *pkg, size_t pkg_len, buf_t *out);

/* The raw package form (fuzz_apply.c, mode 0x04) made whole: header,
 * manifest and auth block copied, then each segment's decoded bytes (as
 * many as its manifest entry's ctrl_len + diff_len + dbyte_len + lit_len) compressed
 * into a zstd frame whose size goes into the entry's csize and, when
 * larger, the header's seg_cmax; what follows the last segment is kept as
 * trailing bytes.  Input shorter than its prefix is copied unchanged. */
void fuzz_frame_segments(const uint8_t *in, size_t len, buf_t *out);

/* Make the digests of PKG right (tests/helpers.c reseal, extended):
 * old_sha256 := SHA-256 of OLD, every segment the package holds whole gets
 * its manifest SHA-256, and the auth digest covers header||manifest.  The
 * fields are found by raw offsets, so any bytes are accepted. */
void fuzz_reseal(uint8_t *pkg, size_t len, const uint8_t *old_img, size_t old_len);

/* Little-endian field access into raw package bytes. */
uint32_t fuzz_rd32(const uint8_t *p);
uint64_t fuzz_rd64(const uint8_t *p);
void     fuzz_wr32(uint8_t *p, uint32_t v);

#endif /* UPD_FUZZ_COMMON_H */
