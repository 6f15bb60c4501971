#include "fuzz_common.h"

#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* Header offsets (FORMAT.md 2). */
enum { H_HSIZE = 10, H_SEGS = 20, H_SEGCMAX = 28, H_OLDSHA = 64 };
/* Manifest entry offsets (FORMAT.md 3). */
enum { M_CTRL = 4, M_DIFF = 8, M_LIT = 12, M_DBYTE = 20, M_LCSIZE = 24, M_DENSE = 44, M_SHA = 52 };

void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz oracle failed: %s\n", file, line, what);
    abort();
}

void fuzz_note(const char *fmt, ...)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (!verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

uint8_t fuzz_u8(fuzz_input *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

uint16_t fuzz_u16(fuzz_input *in)
{
    uint16_t lo = fuzz_u8(in);
    return (uint16_t)(lo | fuzz_u8(in) << 8);
}

const uint8_t *fuzz_bytes(fuzz_input *in, size_t max, size_t *len)
{
    const uint8_t *p = in->p;
    *len = in->n < max ? in->n : max;
    in->p += *len;
    in->n -= *len;
    return p;
}

uint32_t fuzz_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t fuzz_rd64(const uint8_t *p)
{
    return fuzz_rd32(p) | (uint64_t)fuzz_rd32(p + 4) << 32;
}

void fuzz_wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t xorshift32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* Push PKG in pieces whose sizes follow from the seed; zero-length pushes
 * included, because a network callback can deliver them. */
static int push_pieces(upd_applier *a, const fuzz_apply_cfg *c, const uint8_t *pkg, size_t len)
{
    static const uint32_t piece_max[4] = { 0, 7, 300, 5000 };
    const unsigned shape = c->chunk_shape & 3;
    uint32_t s = c->chunk_seed | 1;   /* xorshift never leaves 0 */
    int rc = 0;
    for (size_t off = 0; !rc && off < len;) {
        size_t n = shape ? xorshift32(&s) % (piece_max[shape] + 1) : len;
        if (n > len - off)
            n = len - off;
        rc = upd_applier_push(a, pkg + off, n);
        off += n;
    }
    return rc;
}

static int mem_equals(const upd_io *io, const uint8_t *want, size_t want_len)
{
    const uint8_t *d;
    size_t n;
    if (!io)
        return 1;
    FUZZ_ASSERT(upd_io_mem_view(io, &d, &n) == 0);
    return n == want_len && (!n || !memcmp(d, want, n));
}

/* The applier's promises before the first write (apply.h): a package whose
 * header, manifest, auth block or base image is refused leaves the target
 * and the stash as they were, and so does any failure when C->refused
 * says the package is one the run must refuse before writing; the source
 * is never written at all. */
static void check_untouched(const upd_applier *a, int rc, const fuzz_apply_cfg *c,
                            const upd_io *target, const upd_io *source, const upd_io *stash,
                            const uint8_t *old_img, size_t old_len)
{
    FUZZ_ASSERT(mem_equals(source, old_img, old_len));
    if (upd_applier_header(a) && rc != UPD_E_BASE_SIZE && rc != UPD_E_BASE_HASH
        && !(c->refused && rc < 0))
        return;
    FUZZ_ASSERT(c->out_of_place ? mem_equals(target, NULL, 0)
                                : mem_equals(target, old_img, old_len));
    FUZZ_ASSERT(mem_equals(stash, NULL, 0));
}

int fuzz_apply_mem(const fuzz_apply_cfg *cfg, const uint8_t *old_img, size_t old_len,
                   const uint8_t *pkg, size_t pkg_len, buf_t *out)
{
    upd_io *target = NULL, *source = NULL, *stash = NULL;
    upd_applier *a = NULL;
    int rc = 0;
    if (!(cfg->flags & UPD_APPLY_DRY_RUN)) {
        rc = upd_io_open_mem(&target, cfg->out_of_place ? NULL : old_img,
                             cfg->out_of_place ? 0 : old_len, cfg->cap);
        if (!rc && cfg->out_of_place)
            rc = upd_io_open_mem(&source, old_img, old_len, old_len);
        /* stash_size never exceeds old_size, which the base check ties to old_len */
        if (!rc && cfg->stash_io)
            rc = upd_io_open_mem(&stash, NULL, 0, old_len);
    }
    upd_apply_params p = { .target = target, .source = source, .stash = stash,
                           .window = cfg->window ? cfg->window : 1u << 20,
                           .flags = cfg->flags | UPD_APPLY_INSECURE };
    if (!rc)
        rc = upd_applier_create(&a, &p);
    if (!rc) {
        rc = push_pieces(a, cfg, pkg, pkg_len);
        if (!rc)
            rc = upd_applier_finish(a);
        upd_apply_stats st;
        upd_applier_stats(a, &st);
        /* memory is bounded by the window, whatever the package says */
        FUZZ_ASSERT(st.mem_peak <= p.window);
        check_untouched(a, rc, cfg, target, source, stash, old_img, old_len);
    }
    if (out) {
        const uint8_t *d;
        size_t n;
        out->n = 0;
        if (target && upd_io_mem_view(target, &d, &n) == 0 && buf_sink(out, d, n) < 0)
            rc = UPD_E_NOMEM;
    }
    upd_applier_free(a);
    upd_io_close(target);
    upd_io_close(source);
    upd_io_close(stash);
    return rc;
}

/* The manifest's offset (the raw header_size field) and entry count, and
 * the offset of the first segment, when the input holds the whole prefix
 * (header, manifest, auth block). */
static int prefix_of(const uint8_t *pkg, size_t len, size_t *hsize, uint32_t *nseg,
                     size_t *prefix)
{
    if (len < UPD_HEADER_FIXED)
        return 0;
    *hsize = (size_t)pkg[H_HSIZE] | (size_t)pkg[H_HSIZE + 1] << 8;
    *nseg = fuzz_rd32(pkg + H_SEGS);
    if (*hsize < UPD_HEADER_FIXED || *nseg > UPD_MAX_SEGMENTS)
        return 0;
    *prefix = *hsize + (size_t)*nseg * UPD_SEG_ENTRY_SIZE + UPD_AUTH_SIZE;
    return *prefix <= len;
}

/* Raw mode: copy the prefix, compress each segment's decoded bytes into a
 * zstd frame (LZMA2 for an entry with dense_len: its control region, dense
 * diff and literals) and point its manifest entry at it; bytes past the
 * last segment stay as trailing data. */
void fuzz_frame_segments(const uint8_t *in, size_t len, buf_t *out)
{
    static ZSTD_CCtx *cctx;
    uint32_t nseg;
    size_t hsize, off;
    if (!prefix_of(in, len, &hsize, &nseg, &off)) {
        FUZZ_ASSERT(buf_sink(out, in, len) == 0);
        return;
    }
    if (!cctx)
        FUZZ_ASSERT((cctx = ZSTD_createCCtx()) != NULL);
    FUZZ_ASSERT(buf_sink(out, in, off) == 0);
    uint32_t cmax = fuzz_rd32(in + H_SEGCMAX);
    size_t room = 2 * ZSTD_compressBound(len);   /* one frame or two */
    uint8_t *frame = malloc(room);
    FUZZ_ASSERT(frame != NULL);
    for (uint32_t i = 0; i < nseg && off < len; i++) {
        const uint8_t *e = in + hsize + (size_t)i * UPD_SEG_ENTRY_SIZE;
        uint64_t dense = fuzz_rd64(e + M_DENSE);
        uint64_t usize = (uint64_t)fuzz_rd32(e + M_CTRL) + fuzz_rd32(e + M_LIT)
                         + (dense ? dense : (uint64_t)fuzz_rd32(e + M_DIFF) + fuzz_rd32(e + M_DBYTE));
        size_t n = usize < len - off ? (size_t)usize : len - off;
        if (dense) {
            size_t cs = lzma2_raw(in + off, n, frame, room);
            FUZZ_ASSERT(cs > 0);
            fuzz_wr32(out->p + (e - in), (uint32_t)cs);
            cmax = cs > cmax ? (uint32_t)cs : cmax;
            FUZZ_ASSERT(buf_sink(out, frame, cs) == 0);
            off += n;
            continue;
        }
        /* an entry with a literal frame gets the literals as a second
         * frame (referring to nothing of its dictionary) */
        size_t lits = fuzz_rd32(e + M_LCSIZE) && n == usize ? fuzz_rd32(e + M_LIT) : 0;
        size_t cs = ZSTD_compressCCtx(cctx, frame, room, in + off, n - lits, 1);
        FUZZ_ASSERT(!ZSTD_isError(cs));
        if (lits) {
            size_t ls = ZSTD_compressCCtx(cctx, frame + cs, room - cs, in + off + n - lits, lits, 1);
            FUZZ_ASSERT(!ZSTD_isError(ls) && ls <= UINT32_MAX);
            fuzz_wr32(out->p + (e - in) + M_LCSIZE, (uint32_t)ls);
            cs += ls;
        }
        FUZZ_ASSERT(cs <= UINT32_MAX);
        fuzz_wr32(out->p + (e - in), (uint32_t)cs);
        if (cs > cmax)
            cmax = (uint32_t)cs;
        FUZZ_ASSERT(buf_sink(out, frame, cs) == 0);
        off += n;
    }
    free(frame);
    fuzz_wr32(out->p + H_SEGCMAX, cmax);
    FUZZ_ASSERT(buf_sink(out, in + off, len - off) == 0);
}

/* Recompute old_sha256 over OLD, the SHA-256 of every segment the package
 * holds whole, and the auth block's digest of header||manifest. */
void fuzz_reseal(uint8_t *pkg, size_t len, const uint8_t *old_img, size_t old_len)
{
    uint32_t nseg;
    size_t hsize, off;
    if (len >= UPD_HEADER_FIXED)
        SHA256(old_img, old_len, pkg + H_OLDSHA);
    if (!prefix_of(pkg, len, &hsize, &nseg, &off))
        return;
    for (uint32_t i = 0; i < nseg; i++) {
        uint8_t *e = pkg + hsize + (size_t)i * UPD_SEG_ENTRY_SIZE;
        uint32_t csize = fuzz_rd32(e);
        if (csize > len - off)
            break;
        SHA256(pkg + off, csize, e + M_SHA);
        off += csize;
    }
    size_t hm = hsize + (size_t)nseg * UPD_SEG_ENTRY_SIZE;
    SHA256(pkg, hm, pkg + hm);
}
