/* fuzz_make_seeds OUTDIR: write the seed corpora OUTDIR/<target>/<name>.
 *
 * Deterministic: the synthetic pairs of corpora/synth.c (seed 1, 1 KiB),
 * the generator at its default level on one thread, and hand-made packages
 * (tests/helpers.c craft_pkg) that hit each applier rule, valid and not.  fuzz/make_seeds.sh builds and runs it; the output is committed.
 *
 *   fuzz_header     prefixes (header, manifest, auth) and control streams
 *   fuzz_apply      every pair's package as is and in raw form (fuzz_apply.c),
 *                   and the hand-made packages (raw form)
 *   fuzz_roundtrip  every pair (old | new), and a few edit scripts */
#define _POSIX_C_SOURCE 200809L
#include "fuzz_common.h"
#include "../corpora/synth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lzma.h>
#include <sys/stat.h>
#include <zstd.h>

/* fuzz_apply.c and fuzz_roundtrip.c mode bits used here */
enum { A_OUT_OF_PLACE = 0x01, A_STASH_IO = 0x02, A_RAW = 0x04, A_KEEP = 0x08,
       A_DOWNGRADE = 0x10, A_BIG_WINDOW = 0x80 };
enum { R_EDIT = 0x04, R_STASH_IO = 0x08, R_TRIALS = 0x40 };

#define PAIR_SIZE 1024

static const char *outdir;

static void die(const char *what)
{
    fprintf(stderr, "make_seeds: %s\n", what);
    exit(1);
}

static void put(buf_t *b, const void *p, size_t n)
{
    if (buf_sink(b, p, n) < 0)
        die("out of memory");
}

static void save(const char *target, const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, target);
    if (mkdir(path, 0755) && errno != EEXIST)
        die(path);
    snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f))
        die(path);
}

/* The apply/roundtrip input layout: mode | seed | old_len | old | (rest). */
static void start_input(buf_t *b, uint8_t mode, uint8_t seed, const uint8_t *old_img,
                        size_t old_len)
{
    const uint8_t h[4] = { mode, seed, (uint8_t)old_len, (uint8_t)(old_len >> 8) };
    b->n = 0;
    put(b, h, sizeof h);
    put(b, old_img, old_len);
}

/* PKG with every segment decoded: the raw form fuzz_apply reads in mode
 * 0x04.  Returns the length of the first control stream in *CTRL0. */
/* Whether the raw LZMA2 stream IN[0..N) decodes to exactly CAP bytes. */
static int lzma2_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    lzma_options_lzma opt = { .dict_size = UPD_LZMA_DICT };
    const lzma_filter chain[] = { { LZMA_FILTER_LZMA2, &opt }, { LZMA_VLI_UNKNOWN, NULL } };
    size_t ip = 0, op = 0;
    return lzma_raw_buffer_decode(chain, NULL, in, &ip, n, out, &op, cap) == LZMA_OK
           && ip == n && op == cap;
}

static void raw_form(const buf_t *pkg, buf_t *raw, size_t *ctrl0_at, size_t *ctrl0_len)
{
    upd_header h;
    if (upd_header_decode(pkg->p, pkg->n, &h))
        die("generator package does not decode");
    size_t off = (size_t)upd_pkg_prefix_size(&h);
    put(raw, pkg->p, off);
    *ctrl0_len = 0;
    for (uint32_t i = 0; i < h.seg_count; i++) {
        upd_seg_entry e;
        if (upd_seg_entry_decode(pkg->p + h.header_size + (size_t)i * UPD_SEG_ENTRY_SIZE,
                                 &h, &e))
            die("generator manifest does not decode");
        /* an LZMA2 segment's raw form is what its stream holds: the
         * control region, the dense diff, the literals */
        size_t usize = e.dense_len ? e.ctrl_len + (size_t)e.dense_len + e.lit_len
                                   : (size_t)upd_seg_entry_usize(&e);
        uint8_t *d = malloc(usize);
        if (!d || (e.dense_len ? !lzma2_decode(pkg->p + off, e.csize, d, usize)
                               : ZSTD_decompress(d, usize, pkg->p + off, e.csize) != usize))
            die("generator segment does not decode");
        if (!i) {
            *ctrl0_at = raw->n;
            *ctrl0_len = e.ctrl_len;
        }
        put(raw, d, usize);
        free(d);
        off += e.csize;
    }
}

/* One synthetic pair: its round trip, its package applied (as is and raw),
 * its prefix and first control stream.  IDX varies the modes. */
static void pair_seeds(const char *kind, unsigned idx)
{
    synth_pair sp;
    if (synth_make(kind, 1, PAIR_SIZE, &sp))
        die(kind);
    if (sp.old_len > UINT16_MAX || sp.new_len > FUZZ_IMAGE_MAX)
        die("pair larger than the harnesses take");
    char name[128];
    buf_t in = { 0 }, pkg = { 0 }, raw = { 0 };

    const uint8_t rt = (uint8_t)((idx & 3) | (idx % 3 == 0 ? R_STASH_IO : 0)
                                 | ((idx >> 2) & 3) << 4 | (idx & 1 ? R_TRIALS : 0));
    start_input(&in, rt, (uint8_t)idx, sp.old_img, sp.old_len);
    put(&in, sp.new_img, sp.new_len);
    snprintf(name, sizeof name, "%s.pair", kind);
    save("fuzz_roundtrip", name, in.p, in.n);

    upd_diff_params dp;
    upd_diff_params_default(&dp);
    dp.threads = 1;
    if (upd_diff(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &dp, buf_sink, &pkg,
                 NULL))
        die("upd_diff failed");
    const uint8_t mode = (uint8_t)((idx & 1 ? A_OUT_OF_PLACE : 0) | (idx & 2 ? A_STASH_IO : 0)
                                   | ((idx >> 2) & 3) << 5);
    start_input(&in, mode, (uint8_t)idx, sp.old_img, sp.old_len);
    put(&in, pkg.p, pkg.n);
    snprintf(name, sizeof name, "%s.pkg", kind);
    save("fuzz_apply", name, in.p, in.n);

    /* the raw form needs every frame decodable alone: a literal frame
     * needs the image its dictionary is read from; in zstd segments, and
     * in LZMA2 ones where the pair has DIFF ops */
    size_t ctrl_at = 0, ctrl_len = 0;
    dp.dict_max = 0;
    static const struct { unsigned lzma; const char *suffix; } forms[] = {
        { UPD_LZMA_NEVER, "raw" }, { UPD_LZMA_ALWAYS, "lzma.raw" }
    };
    for (size_t f = 0; f < sizeof forms / sizeof *forms; f++) {
        buf_t one = { 0 }, r = { 0 };
        size_t at, len;
        dp.lzma = forms[f].lzma;
        if (upd_diff(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &dp, buf_sink, &one, NULL))
            die("upd_diff failed");
        raw_form(&one, &r, &at, &len);
        upd_header oh;
        if (upd_header_decode(one.p, one.n, &oh))
            die("generator package does not decode");
        if (!f) {
            raw = r;
            ctrl_at = at;
            ctrl_len = len;
        }
        if (!f || (oh.flags & UPD_PKG_LZMA)) {
            /* the LZMA2 decoder does not fit the 1 MiB window */
            start_input(&in, (uint8_t)(mode | A_RAW | (f ? A_BIG_WINDOW : 0)), (uint8_t)idx,
                        sp.old_img, sp.old_len);
            put(&in, r.p, r.n);
            snprintf(name, sizeof name, "%s.%s", kind, forms[f].suffix);
            save("fuzz_apply", name, in.p, in.n);
        }
        if (f)
            buf_free(&r);
        buf_free(&one);
    }

    upd_header h;
    if (upd_header_decode(pkg.p, pkg.n, &h))
        die("generator package does not decode");
    snprintf(name, sizeof name, "%s.prefix", kind);
    save("fuzz_header", name, pkg.p, (size_t)upd_pkg_prefix_size(&h));
    if (ctrl_len) {
        snprintf(name, sizeof name, "%s.ops", kind);
        save("fuzz_header", name, raw.p + ctrl_at, ctrl_len);
    }
    buf_free(&in);
    buf_free(&pkg);
    buf_free(&raw);
    synth_free(&sp);
}

/* ---- hand-made packages (tests/helpers.c craft_pkg) ---------------------- */

#define MAX_SEGS 3

typedef struct {
    const char *name;
    uint8_t  mode;                 /* fuzz_apply mode bits (A_RAW is added) */
    uint16_t old_len;
    uint64_t new_size, stash_size;
    const char *from, *to;         /* header versions, NULL: empty */
    uint8_t  sig_alg;              /* auth block algorithm */
    size_t   trailing;             /* junk bytes after the last segment */
    craft_seg seg[MAX_SEGS];
    size_t   nseg;
} craft_spec;

static const uint8_t payload[64] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!";
static const uint8_t zero_runs[65];   /* a DIFF of non-zero bytes: a 0 run before each, one after */
/* a DIFF of 32 records, a head (run 1) then three tails (run 0) eight times,
 * then the op's last run of 0: 40 bytes, 8 heads and 24 tails */
static const uint8_t split_runs[33] = { 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0,
                                        1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0 };
/* the dense diff of a DIFF of 40 bytes: records (3, 7) (0, 9) (15, 1) and
 * the op's last run of 19, so 4 run bytes and 3 diff bytes */
static const uint8_t dense40[40] = { [3] = 7, [4] = 9, [20] = 1 };

#define COPY(d, s, l)   { .kind = UPD_OP_COPY, .dst = (d), .src = (s), .len = (l) }
#define DIFF(d, s, l)   { .kind = UPD_OP_DIFF, .dst = (d), .src = (s), .len = (l) }
#define LIT(d, l)       { .kind = UPD_OP_LIT, .dst = (d), .len = (l) }
#define FILL(d, l, b)   { .kind = UPD_OP_FILL, .dst = (d), .len = (l), .fill = (b) }
#define STASH(s, l)     { .kind = UPD_OP_STASH, .src = (s), .len = (l) }
#define RESIZE(l)       { .kind = UPD_OP_RESIZE, .len = (l) }
#define DROP(s, l)      { .kind = UPD_OP_DROP, .src = (s), .len = (l) }
/* NDIFF diff bytes (all non-zero: NDIFF + 1 zero runs) */
#define SEG(ndiff, nlit, nops_, ...) \
    { .ops = { __VA_ARGS__ }, .nops = (nops_), .diff = zero_runs, \
      .diff_len = (ndiff) ? (ndiff) + 1 : 0, .dbytes = payload, .dbyte_len = (ndiff), \
      .lit = payload, .lit_len = (nlit) }
/* the same with its diff bytes split: heads (runs after zeros), then NTAIL
 * tails (FORMAT.md 6.5) */
#define SEGT(ndiff, ntail, nlit, nops_, ...) \
    { .ops = { __VA_ARGS__ }, .nops = (nops_), .diff = split_runs, \
      .diff_len = (ndiff) + 1, .dbytes = payload, .dbyte_len = (ndiff), .dtail_len = (ntail), \
      .lit = payload, .lit_len = (nlit) }

/* an LZMA2 segment (FORMAT.md 5.2) of ops OPS: the dense diff DENSE40, the
 * manifest claiming NRUN run bytes and NBYTE diff bytes */
#define SEGD(nrun, nbyte, nops_, ...) \
    { .ops = { __VA_ARGS__ }, .nops = (nops_), .diff_len = (nrun), .dbyte_len = (nbyte), \
      .dense = dense40, .dense_len = sizeof dense40 }

static const craft_spec crafted[] = {
    { "grow-fill-lit-diff", 0, 1024, 1536, 0, NULL, NULL, 0, 0,
      { SEG(32, 16, 4, RESIZE(1536), FILL(1024, 512, 0xaa), LIT(0, 16), DIFF(100, 100, 32)) },
      1 },
    { "shrink", A_OUT_OF_PLACE, 1024, 300, 0, NULL, NULL, 0, 0,
      { SEG(0, 0, 2, COPY(0, 512, 256), RESIZE(300)) }, 1 },
    { "stash-swap", 0x20, 1024, 1024, 512, NULL, NULL, 0, 0,
      { SEG(0, 0, 3, STASH(0, 512), COPY(0, 512, 512), COPY(512, 0, 512)) }, 1 },
    { "stash-swap-io", A_STASH_IO | 0x40, 1024, 1024, 512, NULL, NULL, 0, 0,
      { SEG(0, 0, 3, STASH(0, 512), COPY(0, 512, 512), COPY(512, 0, 512)) }, 1 },
    { "stale-read", 0, 1024, 1024, 0, NULL, NULL, 0, 0,
      { SEG(0, 0, 2, COPY(0, 512, 512), COPY(512, 0, 512)) }, 1 },
    { "stash-twice", 0, 1024, 1024, 200, NULL, NULL, 0, 0,
      { SEG(0, 0, 2, STASH(0, 100), STASH(50, 100)) }, 1 },
    { "read-past-old", 0, 1024, 1024, 0, NULL, NULL, 0, 0,
      { SEG(0, 0, 1, COPY(0, 1000, 100)) }, 1 },
    { "diff-stream-short", 0, 1024, 1024, 0, NULL, NULL, 0, 0,
      { SEG(5, 0, 1, DIFF(0, 0, 10)) }, 1 },
    { "diff-split", 0x40, 1024, 1024, 0, NULL, NULL, 0, 0,
      { SEGT(32, 24, 0, 1, DIFF(100, 60, 40)) }, 1 },
    { "diff-split-tails-short", A_OUT_OF_PLACE, 1024, 1024, 0, NULL, NULL, 0, 0,
      { SEGT(32, 20, 0, 1, DIFF(100, 60, 40)) }, 1 },
    { "old-gone-after-shrink", 0, 1024, 1024, 0, NULL, NULL, 0, 0,
      { SEG(0, 0, 3, RESIZE(100), RESIZE(1024), COPY(0, 200, 10)) }, 1 },
    { "memmove-overlap", 0x60, 1024, 1024, 0, NULL, NULL, 0, 0,
      { SEG(0, 0, 1, COPY(100, 0, 900)) }, 1 },
    { "stash-across-segments", 0x20, 1024, 1024, 256, NULL, NULL, 0, 0,
      { SEG(0, 0, 2, STASH(0, 256), COPY(0, 256, 256)), SEG(0, 0, 1, COPY(256, 0, 256)),
        SEG(0, 8, 2, LIT(512, 8), FILL(520, 8, 0)) }, 3 },
    { "stash-dropped", 0x20, 1024, 1024, 256, NULL, NULL, 0, 0,
      { SEG(0, 0, 2, STASH(0, 256), COPY(0, 256, 256)), SEG(0, 0, 1, COPY(256, 0, 256)),
        SEG(0, 8, 3, DROP(0, 256), LIT(512, 8), FILL(520, 8, 0)) }, 3 },
    { "drop-then-read", 0x20, 1024, 1024, 256, NULL, NULL, 0, 0,
      { SEG(0, 0, 2, STASH(0, 256), COPY(0, 256, 256)),
        SEG(0, 0, 2, DROP(0, 256), COPY(256, 0, 256)) }, 2 },
    { "signed-alg", A_OUT_OF_PLACE, 512, 512, 0, NULL, NULL, UPD_SIG_ED25519, 0,
      { SEG(0, 64, 1, LIT(0, 64)) }, 1 },
    { "version-upgrade", 0, 512, 512, 0, "1.0~rc1", "1.0", 0, 0,
      { SEG(0, 0, 1, FILL(0, 64, 1)) }, 1 },
    { "version-rollback", 0, 512, 512, 0, "2.0", "1.9.9", 0, 0,
      { SEG(0, 0, 1, FILL(0, 64, 1)) }, 1 },
    { "version-downgrade-allowed", A_DOWNGRADE, 512, 512, 0, "2.0", "1.9.9", 0, 0,
      { SEG(0, 0, 1, FILL(0, 64, 1)) }, 1 },
    { "trailing-bytes", 0, 512, 512, 0, NULL, NULL, 0, 7,
      { SEG(0, 0, 1, FILL(0, 64, 1)) }, 1 },
    { "digests-kept", A_KEEP, 512, 512, 0, NULL, NULL, 0, 0,
      { SEG(0, 0, 1, FILL(0, 64, 1)) }, 1 },
    { "no-segments", 0, 512, 512, 0, NULL, NULL, 0, 0, { SEG(0, 0, 0, RESIZE(0)) }, 0 },
    /* (the LZMA2 decoder needs the 4 MiB window) */
    { "dense-diff", A_BIG_WINDOW, 1024, 1024, 0, NULL, NULL, 0, 0,
      { SEGD(4, 3, 1, DIFF(100, 60, 40)) }, 1 },
    { "dense-diff-runs-long", A_OUT_OF_PLACE | A_BIG_WINDOW, 1024, 1024, 0, NULL, NULL, 0, 0,
      { SEGD(5, 3, 1, DIFF(100, 60, 40)) }, 1 },
    { "dense-diff-then-zstd", 0x40 | A_BIG_WINDOW, 1024, 1024, 0, NULL, NULL, 0, 0,
      { SEGD(4, 3, 1, DIFF(100, 60, 40)), SEG(5, 8, 2, DIFF(0, 0, 10), LIT(10, 8)) }, 2 },
};

static void old_pattern(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31 + 7 + (i >> 8));
}

/* S made by craft_pkg, named new image included: applied once against a
 * guess, a valid package's result is the new image its header must name. */
static void craft_package(const craft_spec *s, const uint8_t *old_img, buf_t *pkg)
{
    uint8_t *guess = calloc(s->new_size ? s->new_size : 1, 1);
    buf_t got = { 0 };
    if (!guess || craft_pkg(old_img, s->old_len, guess, s->new_size, s->stash_size, s->seg,
                            s->nseg, pkg))
        die(s->name);
    fuzz_apply_cfg cfg = { .flags = UPD_APPLY_ALLOW_DOWNGRADE, .cap = 2 * FUZZ_IMAGE_MAX,
                           .window = s->mode & A_BIG_WINDOW ? 4u << 20 : 0 };
    if (fuzz_apply_mem(&cfg, old_img, s->old_len, pkg->p, pkg->n, &got) == UPD_E_RESULT_HASH) {
        buf_free(pkg);
        if (craft_pkg(old_img, s->old_len, got.p, got.n, s->stash_size, s->seg, s->nseg, pkg))
            die(s->name);
    }
    buf_free(&got);
    free(guess);
}

/* PKG with its header's versions set to FROM and TO (NULL: kept): the
 * header is encoded again (its length follows the strings) and resealed. */
static void set_versions(buf_t *pkg, const char *from, const char *to)
{
    upd_header h;
    uint8_t hdr[UPD_HEADER_MAX];
    if (upd_header_decode(pkg->p, pkg->n, &h))
        die("crafted package does not decode");
    snprintf(h.from_version, sizeof h.from_version, "%s", from ? from : h.from_version);
    snprintf(h.to_version, sizeof h.to_version, "%s", to ? to : h.to_version);
    int n = upd_header_encode(&h, hdr, sizeof hdr);
    if (n < 0)
        die("crafted versions do not encode");
    buf_t out = { 0 };
    put(&out, hdr, (size_t)n);
    put(&out, pkg->p + h.header_size, pkg->n - h.header_size);
    buf_free(pkg);
    *pkg = out;
    if (reseal(pkg->p, pkg->n))
        die("crafted package does not reseal");
}

/* A hand-made package in raw form for fuzz_apply, with what craft_pkg has
 * no parameter for patched in (versions, algorithm, trailing bytes); its
 * prefix and first control stream for fuzz_header. */
static void craft_seed(const craft_spec *s)
{
    static uint8_t old_img[UINT16_MAX];
    old_pattern(old_img, s->old_len);
    buf_t pkg = { 0 }, raw = { 0 }, sealed = { 0 }, in = { 0 };
    size_t ctrl_at, ctrl_len;
    craft_package(s, old_img, &pkg);
    set_versions(&pkg, s->from, s->to);
    raw_form(&pkg, &raw, &ctrl_at, &ctrl_len);
    upd_header h;
    if (upd_header_decode(raw.p, raw.n, &h))
        die("crafted package does not decode");
    const size_t auth = h.header_size + s->nseg * UPD_SEG_ENTRY_SIZE;
    raw.p[auth + 32] = s->sig_alg;
    if (s->mode & A_KEEP)
        memset(raw.p + auth, 0, 32);   /* a digest the harness leaves wrong */
    static const uint8_t junk[16] = "trailing bytes!";
    put(&raw, junk, s->trailing);

    char name[128];
    start_input(&in, (uint8_t)(s->mode | A_RAW), 0, old_img, s->old_len);
    put(&in, raw.p, raw.n);
    snprintf(name, sizeof name, "%s.raw", s->name);
    save("fuzz_apply", name, in.p, in.n);

    fuzz_frame_segments(raw.p, raw.n, &sealed);
    fuzz_reseal(sealed.p, sealed.n, old_img, s->old_len);
    snprintf(name, sizeof name, "%s.prefix", s->name);
    save("fuzz_header", name, sealed.p, auth + UPD_AUTH_SIZE);
    if (ctrl_len) {
        snprintf(name, sizeof name, "%s.ops", s->name);
        save("fuzz_header", name, raw.p + ctrl_at, ctrl_len);
    }
    buf_free(&pkg);
    buf_free(&raw);
    buf_free(&sealed);
    buf_free(&in);
}

/* ---- edit scripts (fuzz_roundtrip.c) ------------------------------------ */

typedef struct {
    const char *name;
    uint8_t flags;
    const uint8_t *script;
    size_t len;
} edit_spec;

#define U16(v) (uint8_t)((v) & 0xff), (uint8_t)((v) >> 8)
#define E_COPY(off, len)            0x00, U16(off), U16(len)
#define E_LIT1(b)                   0x01, (b)
#define E_EDIT(step, off, len)      (uint8_t)(0x02 | ((step) - 1) << 2), U16(off), U16(len)
#define E_FILL(len, b)              0x03, U16(len), (b)

static const uint8_t ed_rotate[] = { E_COPY(1536, 512), E_COPY(0, 1536) };
static const uint8_t ed_swap_edit[] = { E_EDIT(16, 1024, 1024), E_COPY(0, 1024),
                                        E_LIT1('x'), E_FILL(300, 0) };
static const uint8_t ed_repeat[] = { E_COPY(0, 256), E_COPY(0, 256), E_COPY(128, 256),
                                     E_FILL(100, 0xff), E_EDIT(3, 1800, 248) };
static const uint8_t ed_reverse[] = { E_COPY(1792, 256), E_COPY(1536, 256), E_COPY(1280, 256),
                                      E_COPY(1024, 256), E_COPY(768, 256), E_COPY(512, 256),
                                      E_COPY(256, 256), E_COPY(0, 256) };

static const edit_spec edits[] = {
    { "rotate", R_EDIT, ed_rotate, sizeof ed_rotate },
    { "swap-edit", R_EDIT | 0x01, ed_swap_edit, sizeof ed_swap_edit },
    { "repeat", R_EDIT | R_STASH_IO | 0x10, ed_repeat, sizeof ed_repeat },
    { "reverse-nostash", R_EDIT | 0x02, ed_reverse, sizeof ed_reverse },
    { "reverse-stash64", R_EDIT | 0x03 | 0x20, ed_reverse, sizeof ed_reverse },
};

static void edit_seed(const edit_spec *s)
{
    synth_pair sp;
    if (synth_make("exe-like", 2, 2048, &sp))
        die("synth exe-like");
    buf_t in = { 0 };
    start_input(&in, s->flags, 0, sp.old_img, sp.old_len);
    put(&in, s->script, s->len);
    char name[128];
    snprintf(name, sizeof name, "%s.edit", s->name);
    save("fuzz_roundtrip", name, in.p, in.n);
    buf_free(&in);
    synth_free(&sp);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_make_seeds OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    const char *const *kinds = synth_kinds();
    for (unsigned i = 0; kinds[i]; i++)
        pair_seeds(kinds[i], i);
    for (size_t i = 0; i < sizeof crafted / sizeof crafted[0]; i++)
        craft_seed(&crafted[i]);
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++)
        edit_seed(&edits[i]);
    return 0;
}
