/* A journal save area: a directory of saved ranges, then their bytes, in
 * directory order, as one zstd frame (level 1: the bytes are old image
 * data, which a fast level halves on executables, and the copy is on the
 * critical path of every unit).
 *
 *   u32 n | u32 0 | n x (u64 off, u64 len) | zstd frame of sum(len) bytes
 *
 * Bit 63 of off marks a range of the stash rather than the target. */
#include "applier.h"
#include "../common/check.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define JBUF_SIZE (128u << 10)

static int jbuf_get(upd_applier *a)
{
    if (!a->jbuf && !(a->jbuf = malloc(JBUF_SIZE)))
        return UPD_E_NOMEM;
    return 0;
}

static int cctx_get(upd_applier *a, uint64_t total)
{
    if (!a->jcctx) {
        a->jcctx = ZSTD_createCCtx();
        if (!a->jcctx)
            return UPD_E_NOMEM;
    }
    ZSTD_CCtx_reset(a->jcctx, ZSTD_reset_session_and_parameters);
    if (ZSTD_isError(ZSTD_CCtx_setParameter(a->jcctx, ZSTD_c_compressionLevel, 1))
        || ZSTD_isError(ZSTD_CCtx_setParameter(a->jcctx, ZSTD_c_windowLog, UPD_JR_ZSTD_WLOG))
        || ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(a->jcctx, total)))
        return UPD_E_COMPRESS;
    return 0;
}

/* Compress IN (END: last input) and append what comes out at *AT. */
static int squeeze(upd_applier *a, XXH3_state_t *x, ZSTD_inBuffer *in, int end, uint64_t *at,
                   uint64_t limit)
{
    for (;;) {
        ZSTD_outBuffer out = { a->jbuf, JBUF_SIZE, 0 };
        size_t r = ZSTD_compressStream2(a->jcctx, &out, in, end ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(r))
            return UPD_E_COMPRESS;
        if (out.pos) {
            if (*at + out.pos > limit)
                return UPD_E_INTERNAL;   /* the area cap is a compress bound */
            XXH3_64bits_update(x, a->jbuf, out.pos);
            UPD_CHECK(upd_io_write(a->p.journal, a->jbuf, out.pos, *at));
            *at += out.pos;
        }
        if (end ? r == 0 : in->pos == in->size)
            return 0;
    }
}

int upd_jr_area_write(upd_applier *a, const upd_jlist *save, uint64_t base, uint64_t cap,
                      uint64_t seed, uint64_t *len, uint64_t *sum)
{
    uint64_t dir = 8 + 16ull * save->n, total = 0;
    for (size_t i = 0; i < save->n; i++)
        total += save->v[i].len;
    UPD_CHECK(jbuf_get(a));
    UPD_CHECK(cctx_get(a, total));
    uint8_t *buf = a->iobuf;
    upd_wr32(buf, (uint32_t)save->n);
    upd_wr32(buf + 4, 0);
    for (size_t i = 0; i < save->n; i++) {
        upd_wr64(buf + 8 + 16 * i, save->v[i].off);
        upd_wr64(buf + 8 + 16 * i + 8, save->v[i].len);
    }
    XXH3_state_t *x = XXH3_createState();
    if (!x)
        return UPD_E_NOMEM;
    XXH3_64bits_reset_withSeed(x, seed);
    XXH3_64bits_update(x, buf, (size_t)dir);
    int rc = upd_io_write(a->p.journal, buf, (size_t)dir, base);
    uint64_t at = base + dir;
    for (size_t i = 0; i < save->n && rc == 0; i++) {
        const upd_jrange *r = &save->v[i];
        upd_io *from = r->off & UPD_JR_STASH ? a->stash : a->p.target;
        uint64_t off = r->off & ~UPD_JR_STASH;
        for (uint64_t done = 0; done < r->len && rc == 0;) {
            size_t k = r->len - done < a->iobuf_size ? (size_t)(r->len - done) : a->iobuf_size;
            rc = upd_io_read(from, a->iobuf, k, off + done);
            ZSTD_inBuffer in = { a->iobuf, k, 0 };
            if (rc == 0)
                rc = squeeze(a, x, &in, 0, &at, base + cap);
            a->st.bytes_read += k;
            done += k;
        }
    }
    ZSTD_inBuffer none = { NULL, 0, 0 };
    if (rc == 0)
        rc = squeeze(a, x, &none, 1, &at, base + cap);
    *sum = XXH3_64bits_digest(x);
    XXH3_freeState(x);
    *len = at - base;
    return rc;
}

/* Write the decoded bytes [pos, pos+n) of the frame to their ranges
 * (*RI: the range holding POS), only stash ranges when STASH_ONLY. */
static int scatter(upd_applier *a, const uint8_t *p, size_t n, uint64_t pos, size_t *ri,
                   int stash_only, uint64_t stash_at)
{
    const upd_jlist *d = &a->saved_dir;
    while (n) {
        if (*ri >= d->n)
            return UPD_E_JOURNAL;   /* more bytes than the directory names */
        const upd_jrange *r = &d->v[*ri];
        uint64_t in_r = pos - r->at, k = r->len - in_r < n ? r->len - in_r : n;
        int stash = (r->off & UPD_JR_STASH) != 0;
        uint64_t off = (r->off & ~UPD_JR_STASH) + in_r;
        if (stash && stash_only)
            UPD_CHECK(upd_io_write(a->p.journal, p, (size_t)k, stash_at + off));
        else if (!stash_only)
            UPD_CHECK(upd_io_write(stash ? a->stash : a->p.target, p, (size_t)k, off));
        p += k;
        pos += k;
        n -= (size_t)k;
        if (pos == r->at + r->len)
            (*ri)++;
    }
    return 0;
}

int upd_jr_area_replay(upd_applier *a, uint64_t base, uint64_t area_len, int stash_only,
                       uint64_t stash_at)
{
    const upd_jlist *d = &a->saved_dir;
    uint64_t dir = 8 + 16ull * d->n, total = d->n ? d->v[d->n - 1].at + d->v[d->n - 1].len : 0;
    UPD_CHECK(jbuf_get(a));
    ZSTD_DCtx_reset(a->dctx, ZSTD_reset_session_and_parameters);
    ZSTD_DCtx_setParameter(a->dctx, ZSTD_d_windowLogMax, UPD_JR_ZSTD_WLOG);
    uint64_t pos = 0, at = base + dir, end = base + area_len;
    size_t ri = 0, r = 1;
    int full = 0;   /* the last call filled the output: more may be pending */
    while (r != 0) {
        size_t k = end - at < JBUF_SIZE ? (size_t)(end - at) : JBUF_SIZE;
        if (!k && !full)
            return UPD_E_JOURNAL;   /* the frame ends early */
        if (k)
            UPD_CHECK(upd_io_read(a->p.journal, a->jbuf, k, at));
        at += k;
        ZSTD_inBuffer in = { a->jbuf, k, 0 };
        do {
            ZSTD_outBuffer out = { a->iobuf, a->iobuf_size, 0 };
            r = ZSTD_decompressStream(a->dctx, &out, &in);
            if (ZSTD_isError(r) || (r == 0 && in.pos < in.size))
                return UPD_E_JOURNAL;
            UPD_CHECK(scatter(a, a->iobuf, out.pos, pos, &ri, stash_only, stash_at));
            pos += out.pos;
            full = out.pos == out.size;
        } while (r != 0 && (in.pos < in.size || full));
    }
    if (at != end)
        return UPD_E_JOURNAL;
    /* the segments' one-shot decoding uses the same context: no window cap */
    ZSTD_DCtx_reset(a->dctx, ZSTD_reset_session_and_parameters);
    return pos == total ? 0 : UPD_E_JOURNAL;
}
