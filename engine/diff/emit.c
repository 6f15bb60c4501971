/* Emission: the schedule is cut into segments of about segment_size decoded
 * bytes (control | diff runs | diff bytes | literal), each compressed as one independent zstd
 * frame (in parallel: frames share nothing), hashed, and written after the
 * header, manifest and auth block. */
#include "diff_internal.h"
#include "../common/parallel.h"
#include "../common/check.h"
#include "../crypto/digest.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

typedef struct {
    uint8_t *raw;               /* ctrl | runs | dbytes | lit */
    size_t   ctrl, runs, dbytes, lit;
    uint32_t nops;
    uint8_t *comp;
    size_t   csize;
} segment;

typedef struct {
    segment *v;
    size_t   n, cap;
} segments;

typedef struct {               /* a growing byte buffer */
    uint8_t *p;
    size_t   n, cap;
} bytes;

static int bytes_reserve(bytes *b, size_t more)
{
    if (b->n + more <= b->cap)
        return 0;
    size_t n = b->cap ? b->cap : 65536;
    while (n < b->n + more)
        n *= 2;
    uint8_t *p = realloc(b->p, n);
    if (!p)
        return UPD_E_NOMEM;
    b->p = p;
    b->cap = n;
    return 0;
}

typedef struct {
    bytes ctrl, runs, dbytes, lit;
    uint32_t nops;
    uint64_t prev_end;          /* op delta base, reset per segment */
} seg_builder;

static size_t seg_usize(const segment *s)
{
    return s->ctrl + s->runs + s->dbytes + s->lit;
}

static int close_segment(seg_builder *sb, segments *out)
{
    if (!sb->nops)
        return 0;
    void *grown = upd_grow(out->v, out->n, &out->cap, sizeof *out->v);
    if (!grown)
        return UPD_E_NOMEM;
    out->v = grown;
    segment *s = &out->v[out->n];
    memset(s, 0, sizeof *s);
    s->ctrl = sb->ctrl.n;
    s->runs = sb->runs.n;
    s->dbytes = sb->dbytes.n;
    s->lit = sb->lit.n;
    s->nops = sb->nops;
    s->raw = malloc(seg_usize(s));
    if (!s->raw)
        return UPD_E_NOMEM;
    out->n++;
    uint8_t *p = s->raw;
    const bytes *part[] = { &sb->ctrl, &sb->runs, &sb->dbytes, &sb->lit };
    for (size_t i = 0; i < 4; i++) {
        if (part[i]->n)
            memcpy(p, part[i]->p, part[i]->n);
        p += part[i]->n;
    }
    sb->ctrl.n = sb->runs.n = sb->dbytes.n = sb->lit.n = 0;
    sb->nops = 0;
    sb->prev_end = 0;
    return 0;
}

uint64_t upd_gop_payload(const upd_gop *g, const uint8_t *old_img, const uint8_t *new_img)
{
    if (g->kind == UPD_OP_LIT)
        return g->len;
    if (g->kind != UPD_OP_DIFF)
        return 0;
    size_t nr, nb;
    upd_sparse_encode(old_img + g->data, new_img + g->dst, g->len, NULL, &nr, NULL, &nb);
    return nr + nb;
}

static int add_op(seg_builder *sb, segments *out, const upd_gop *g, const uint8_t *old,
                  const uint8_t *nw, uint32_t target, upd_diff_stats *st)
{
    uint64_t payload = upd_gop_payload(g, old, nw);
    if (sb->nops
        && sb->ctrl.n + sb->runs.n + sb->dbytes.n + sb->lit.n + payload + UPD_OP_MAX_ENCODED > target)
        UPD_CHECK(close_segment(sb, out));
    upd_op op = { (upd_op_kind)g->kind, g->dst, g->src, g->len, g->fill };
    UPD_CHECK(bytes_reserve(&sb->ctrl, UPD_OP_MAX_ENCODED));
    int n = upd_op_encode(&op, &sb->prev_end, sb->ctrl.p + sb->ctrl.n);
    if (n < 0)
        return UPD_E_INTERNAL;
    sb->ctrl.n += (size_t)n;
    sb->nops++;
    st->ops[g->kind]++;
    if (g->kind == UPD_OP_DIFF) {
        size_t nr, nb;
        UPD_CHECK(bytes_reserve(&sb->runs, g->len + 10));
        UPD_CHECK(bytes_reserve(&sb->dbytes, g->len));
        upd_sparse_encode(old + g->data, nw + g->dst, g->len, sb->runs.p + sb->runs.n, &nr,
                          sb->dbytes.p + sb->dbytes.n, &nb);
        sb->runs.n += nr;
        sb->dbytes.n += nb;
        st->diff_bytes += g->len;
    } else if (g->kind == UPD_OP_LIT) {
        UPD_CHECK(bytes_reserve(&sb->lit, g->len));
        memcpy(sb->lit.p + sb->lit.n, nw + g->dst, g->len);
        sb->lit.n += g->len;
        st->lit_bytes += g->len;
    } else if (g->kind == UPD_OP_COPY) {
        st->copy_bytes += g->len;
    } else if (g->kind == UPD_OP_FILL) {
        st->fill_bytes += g->len;
    }
    return 0;
}

/* ---- parallel compression ----------------------------------------------- */

typedef struct {
    segments *segs;
    atomic_size_t done;
    int level;
    const upd_diff_params *p;   /* progress, reported from the caller's thread only */
} zjob;

static int compress_one(void *ctx, size_t i, unsigned thread)
{
    zjob *j = ctx;
    segment *s = &j->segs->v[i];
    size_t usize = seg_usize(s), bound = ZSTD_compressBound(usize);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    s->comp = malloc(bound);
    if (!cc || !s->comp) {
        ZSTD_freeCCtx(cc);
        return UPD_E_NOMEM;
    }
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, j->level);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 0);   /* SHA-256 covers it */
    /* streamed with no size pledged: zstd then keeps the level's full
     * parameters instead of scaling them down for a small segment (a 36 KB
     * segment compressed 2% smaller), at the price of the frame's optional
     * content-size field (FORMAT.md 5) */
    ZSTD_outBuffer o = { s->comp, bound, 0 };
    ZSTD_inBuffer in = { s->raw, usize, 0 };
    size_t r = ZSTD_compressStream2(cc, &o, &in, ZSTD_e_continue);
    if (!ZSTD_isError(r)) {
        do
            r = ZSTD_compressStream2(cc, &o, &in, ZSTD_e_end);
        while (r && !ZSTD_isError(r) && o.pos < o.size);
    }
    ZSTD_freeCCtx(cc);
    if (ZSTD_isError(r) || r || in.pos < in.size)
        return UPD_E_COMPRESS;
    s->csize = o.pos;
    free(s->raw);
    s->raw = NULL;
    size_t done = atomic_fetch_add(&j->done, 1) + 1;
    if (thread == 0 && j->p->progress)
        j->p->progress(j->p->progress_user, UPD_PHASE_COMPRESS, done, j->segs->n);
    return 0;
}

static int compress_all(segments *segs, const upd_diff_params *p)
{
    zjob j = { .segs = segs, .level = p->level, .p = p };
    atomic_init(&j.done, 0);
    return upd_parallel(segs->n, p->threads, compress_one, &j);
}

/* ---- package ------------------------------------------------------------- */

static int write_package(const segments *segs, upd_header *h, upd_write_fn out, void *user,
                         uint64_t *total)
{
    uint8_t *pre = malloc(UPD_HEADER_MAX + segs->n * UPD_SEG_ENTRY_SIZE + UPD_AUTH_SIZE);
    if (!pre)
        return UPD_E_NOMEM;
    int rc = upd_header_encode(h, pre, UPD_HEADER_MAX);
    if (rc > 0) {
        h->header_size = (uint16_t)rc;
        rc = 0;
    }
    for (size_t i = 0; !rc && i < segs->n; i++) {
        const segment *s = &segs->v[i];
        upd_seg_entry e = { .csize = (uint32_t)s->csize, .ctrl_len = (uint32_t)s->ctrl,
                            .diff_len = (uint32_t)s->runs, .dbyte_len = (uint32_t)s->dbytes,
                            .lit_len = (uint32_t)s->lit, .op_count = s->nops };
        rc = upd_sha256(s->comp, s->csize, e.sha256);
        upd_seg_entry_encode(&e, pre + h->header_size + i * UPD_SEG_ENTRY_SIZE);
    }
    size_t hm = h->header_size + segs->n * UPD_SEG_ENTRY_SIZE;
    upd_auth au = { .sig_alg = UPD_SIG_NONE };
    if (!rc)
        rc = upd_sha256(pre, hm, au.digest);
    if (!rc) {
        upd_auth_encode(&au, pre + hm);
        rc = out(user, pre, hm + UPD_AUTH_SIZE);
    }
    *total = hm + UPD_AUTH_SIZE;
    for (size_t i = 0; !rc && i < segs->n; i++) {
        rc = out(user, segs->v[i].comp, segs->v[i].csize);
        *total += segs->v[i].csize;
    }
    free(pre);
    return rc;
}

int upd_emit(const upd_gops *sched, const uint8_t *old_img, size_t old_len,
             const uint8_t *new_img, size_t new_len, const upd_plan_info *info,
             const upd_diff_params *p, upd_write_fn out, void *out_user, upd_diff_stats *st)
{
    seg_builder sb = { 0 };
    segments segs = { 0 };
    int rc = 0;
    double t0 = upd_now();
    for (size_t i = 0; !rc && i < sched->n; i++)
        rc = add_op(&sb, &segs, &sched->v[i], old_img, new_img, p->segment_size, st);
    if (!rc)
        rc = close_segment(&sb, &segs);
    if (!rc && p->progress)
        p->progress(p->progress_user, UPD_PHASE_COMPRESS, 0, segs.n);
    if (!rc)
        rc = compress_all(&segs, p);
    upd_header h = { .version = UPD_FORMAT_VERSION, .block_size = p->block_size,
                     .seg_count = (uint32_t)segs.n, .old_size = old_len, .new_size = new_len,
                     .stash_size = info->stash_size, .write_ranges = info->write_ranges,
                     .stash_ranges = info->stash_ranges };
    for (size_t i = 0; !rc && i < segs.n; i++) {
        segment *s = &segs.v[i];
        size_t usize = seg_usize(s);
        h.seg_max = usize > h.seg_max ? (uint32_t)usize : h.seg_max;
        h.seg_cmax = s->csize > h.seg_cmax ? (uint32_t)s->csize : h.seg_cmax;
        h.op_count += s->nops;
        st->ctrl_raw += s->ctrl;
        st->diff_raw += s->runs + s->dbytes;
        st->lit_raw += s->lit;
    }
    if (!rc) {
        strcpy(h.package_id, p->package_id ? p->package_id : "");
        strcpy(h.from_version, p->from_version ? p->from_version : "");
        strcpy(h.to_version, p->to_version ? p->to_version : "");
        rc = upd_sha256(old_img, old_len, h.old_sha256);
    }
    if (!rc)
        rc = upd_sha256(new_img, new_len, h.new_sha256);
    if (!rc)
        rc = write_package(&segs, &h, out, out_user, &st->pkg_size);
    st->segments = (uint32_t)segs.n;
    for (size_t i = 0; i < segs.n; i++) {
        free(segs.v[i].raw);
        free(segs.v[i].comp);
    }
    free(segs.v);
    free(sb.ctrl.p);
    free(sb.runs.p);
    free(sb.dbytes.p);
    free(sb.lit.p);
    st->t_emit = upd_now() - t0;
    return rc;
}
