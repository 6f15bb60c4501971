/* Emission: the schedule is cut into segments of about segment_size decoded
 * bytes (control | diff runs | diff bytes | literal; the diff bytes split
 * into heads and tails where that is smaller), each compressed as one
 * independent zstd frame (in parallel: frames share nothing), hashed, and
 * written after the header, manifest and auth block.  A segment whose
 * literals compress better against a window of the image as the applier
 * will find it (lits.c) gets two frames instead: control and diff streams,
 * then the literals against that dictionary.  A segment with DIFF ops
 * whose LZMA2 form (xz.c) is smaller by UPD_XZ_GAIN gets that instead. */
#include "diff_internal.h"
#include "../common/parallel.h"
#include "../common/check.h"
#include "../crypto/digest.h"
#include "updelta/apply.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
/* for ZSTD_getCParams alone (upd_zstd_cap_chain); zstd has kept it, and its
 * struct, since 1.0 */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

typedef struct {
    uint8_t *raw;               /* ctrl | runs | dbytes | lit */
    size_t   ctrl, runs, dbytes, lit;
    uint32_t nops;
    uint8_t *comp;
    size_t   csize;
    size_t   first, end;        /* its ops: sched[first, end) */
    upd_window win;             /* its literals' dictionary (len 0: none) */
    size_t   lcsize;            /* the literal frame's share of csize (0: one frame) */
    size_t   dtail;             /* diff bytes split: the tails (0: record order) */
    uint64_t dense;             /* LZMA2: the DIFF ops' bytes (0: zstd) */
} segment;

typedef struct {
    segment *v;
    size_t   n, cap;
} segments;

typedef struct {
    upd_bytes runs, dbytes, lit;
    uint32_t nops;
} seg_builder;

static size_t seg_usize(const segment *s)
{
    return s->ctrl + s->runs + s->dbytes + s->lit;
}

/* The wire op of a planned one. */
static upd_op op_of(const upd_gop *g)
{
    return (upd_op){ (upd_op_kind)g->kind, g->dst, g->src, g->len, g->fill };
}

/* The control region of OPS[FIRST, END) into OUT (upd_ctrl_bound of their
 * count), its length in *LEN. */
static int ctrl_of(const upd_gops *ops, size_t first, size_t end, uint8_t *out, size_t *len)
{
    upd_op *v = malloc((end - first) * sizeof *v);   /* a segment has an op */
    if (!v)
        return UPD_E_NOMEM;
    for (size_t i = first; i < end; i++)
        v[i - first] = op_of(&ops->v[i]);
    int rc = upd_ctrl_encode(v, end - first, out, upd_ctrl_bound(end - first), len);
    free(v);
    return rc ? UPD_E_INTERNAL : 0;   /* the schedule's ops are valid */
}

/* The segment of ops sched[FIRST, END), its payload streams built in SB. */
static int close_segment(seg_builder *sb, segments *out, const upd_gops *sched, size_t first,
                         size_t end)
{
    void *grown = upd_grow(out->v, out->n, &out->cap, sizeof *out->v);
    if (!grown)
        return UPD_E_NOMEM;
    out->v = grown;
    segment *s = &out->v[out->n];
    memset(s, 0, sizeof *s);
    s->first = first;
    s->end = end;
    s->runs = sb->runs.n;
    s->dbytes = sb->dbytes.n;
    s->lit = sb->lit.n;
    s->nops = sb->nops;
    s->raw = malloc(upd_ctrl_bound(end - first) + seg_usize(s));
    if (!s->raw)
        return UPD_E_NOMEM;
    out->n++;
    UPD_CHECK(ctrl_of(sched, first, end, s->raw, &s->ctrl));
    /* every segment's bytes are kept until the package is written: no slack */
    uint8_t *fit = realloc(s->raw, seg_usize(s));
    s->raw = fit ? fit : s->raw;
    uint8_t *p = s->raw + s->ctrl;
    const upd_bytes *part[] = { &sb->runs, &sb->dbytes, &sb->lit };
    for (size_t i = 0; i < 3; i++) {
        if (part[i]->n)
            memcpy(p, part[i]->p, part[i]->n);
        p += part[i]->n;
    }
    sb->runs.n = sb->dbytes.n = sb->lit.n = 0;
    sb->nops = 0;
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

int upd_cuts_push(upd_cuts *c, size_t at)
{
    void *grown = upd_grow(c->v, c->n, &c->cap, sizeof *c->v);
    if (!grown)
        return UPD_E_NOMEM;
    c->v = grown;
    c->v[c->n++] = at;
    return 0;
}

int upd_emit_cut(const upd_gops *sched, const uint8_t *old_img, const uint8_t *new_img,
                 uint32_t target, uint32_t max_stash, upd_cuts *out)
{
    uint64_t used = UPD_CTRL_HEAD_MAX, stashes = 0;
    upd_op_base base = { 0 };
    uint8_t scratch[UPD_OP_MAX_ENCODED], part[4];
    out->n = 0;
    UPD_CHECK(upd_cuts_push(out, 0));
    for (size_t i = 0; i < sched->n; i++) {
        const upd_gop *g = &sched->v[i];
        uint64_t payload = upd_gop_payload(g, old_img, new_img);
        int full = g->kind == UPD_OP_STASH && max_stash && stashes == max_stash;
        if (i > out->v[out->n - 1] && (full || used + payload + UPD_OP_MAX_ENCODED > target)) {
            UPD_CHECK(upd_cuts_push(out, i));
            used = UPD_CTRL_HEAD_MAX;
            stashes = 0;
            base = (upd_op_base){ 0 };
        }
        stashes += g->kind == UPD_OP_STASH;
        upd_op op = op_of(g);
        int n = upd_op_encode(&op, &base, scratch, part);
        if (n < 0)
            return UPD_E_INTERNAL;
        used += (uint64_t)n + payload;
    }
    return sched->n ? upd_cuts_push(out, sched->n) : 0;
}


static int add_op(seg_builder *sb, const upd_gop *g, const uint8_t *old, const uint8_t *nw,
                  upd_diff_stats *st)
{
    sb->nops++;
    st->ops[g->kind]++;
    if (g->kind == UPD_OP_DIFF) {
        size_t nr, nb;
        UPD_CHECK(upd_bytes_reserve(&sb->runs, g->len + 10));
        UPD_CHECK(upd_bytes_reserve(&sb->dbytes, g->len));
        upd_sparse_encode(old + g->data, nw + g->dst, g->len, sb->runs.p + sb->runs.n, &nr,
                          sb->dbytes.p + sb->dbytes.n, &nb);
        sb->runs.n += nr;
        sb->dbytes.n += nb;
        st->diff_bytes += g->len;
    } else if (g->kind == UPD_OP_LIT) {
        UPD_CHECK(upd_bytes_reserve(&sb->lit, g->len));
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

/* The level of the fast trial compressions that choose a segment's
 * layout (try_split, which weighs a slight gain again at the package's
 * level, and try_dict). */
#define TRIAL_LEVEL      3
/* The literal frame's dictionary is worth a second frame (and the
 * applier's read of the window) only when the trial saves at least this
 * many bytes with it. */
#define DICT_GAIN_MIN    32
/* An LZMA2 segment decodes at a fraction of zstd's speed: it replaces the
 * zstd form only when more than this fraction smaller. */
#define UPD_XZ_GAIN      32

typedef struct {
    segments *segs;
    const upd_gops *sched;
    const upd_gops *lits_last;  /* the same ops, each segment's LITs last */
    const uint8_t *nw;
    atomic_size_t done;
    int level;
    const upd_diff_params *p;   /* progress, reported from the caller's thread only */
    /* one context per thread, made at its first use and reused: a fresh
     * level-19 context costs 30-40 ms to set up whatever the input (its
     * tables are about 90 MiB), which was most of a small package's diff
     * time */
    ZSTD_CCtx *cc[UPD_PARALLEL_MAX];
    upd_xz *xz[UPD_PARALLEL_MAX];   /* the same for LZMA2 (NULL: not tried) */
    int try_xz;                 /* LZMA2 allowed: the applier's memory has room */
    const uint8_t *old;
} zjob;

static size_t parts_len(const size_t *part, unsigned npart)
{
    size_t n = 0;
    for (unsigned i = 0; i < npart; i++)
        n += part[i];
    return n;
}

/* diff_internal.h.  With no size pledged zstd takes the level's tables as
 * they are, and clears them at every frame: level 19's chain table has
 * 2^24 entries (64 MiB), which a 2 MiB segment never fills (lodash's
 * diff: 85,200 page faults, then 17,900).  For the optimal parsers (btopt
 * and up: levels 16-22) the chain table holds a binary tree of
 * 2^(chainLog-1) positions, so at chainLog = ceil(log2 N) + 1 none falls
 * out and the frame is the same, with a prefix dictionary or without
 * (emit/chain_cap_keeps_the_frame).  The faster strategies keep their
 * tables: dfast's "chain" is a hash table, and btlazy2's frames against a
 * dictionary came out different. */
void upd_zstd_cap_chain(ZSTD_CCtx *cc, int level, uint64_t n)
{
    ZSTD_compressionParameters cp = ZSTD_getCParams(level, 0, 0);
    unsigned need = 1;
    while ((1ull << need) < n)
        need++;
    need++;
    if (cp.strategy >= ZSTD_btopt && cp.chainLog > need && need >= ZSTD_CHAINLOG_MIN)
        ZSTD_CCtx_setParameter(cc, ZSTD_c_chainLog, (int)need);
}

/* The streams PART[0..NPART) (their lengths; laid end to end from SRC) as
 * one zstd frame in OUT (CAP bytes, at least the bound of their sum),
 * against the raw-content prefix DICT[0..DLEN) when DICT is set.  The
 * compressed size, or 0 on failure. */
static size_t zcompress(ZSTD_CCtx *cc, int level, const uint8_t *dict, size_t dlen,
                        const uint8_t *src, const size_t *part, unsigned npart, uint8_t *out,
                        size_t cap)
{
    ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 0);   /* SHA-256 covers it */
    if (dict) {
        /* matches reach back over the whole dictionary */
        int wlog = 23;
        while (wlog < 27 && (1ull << wlog) < (uint64_t)dlen + parts_len(part, npart))
            wlog++;
        ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, wlog);
        ZSTD_CCtx_refPrefix(cc, dict, dlen);
    }
    upd_zstd_cap_chain(cc, level, (uint64_t)dlen + parts_len(part, npart));
    /* streamed with no size pledged: zstd then keeps the level's full
     * parameters instead of scaling them down for a small segment (a 36 KB
     * segment compressed 2% smaller), at the price of the frame's optional
     * content-size field (FORMAT.md 5).  A flush after each stream but the
     * last ends the block there, so each stream gets entropy tables of its
     * own: control varints, diff bytes and text mixed in one block share
     * one set (typescript's segment: 21,364 -> 21,312 bytes; esbuild's
     * 453,944 -> 453,259). */
    ZSTD_outBuffer o = { out, cap, 0 };
    /* the frame ends with the last stream that has bytes: a flush before
     * empty ones would leave an empty last block (3 bytes) */
    while (npart > 1 && !part[npart - 1])
        npart--;
    int ok = npart > 0;
    size_t at = 0;
    for (unsigned i = 0; ok && i < npart; at += part[i++]) {
        ZSTD_EndDirective how = i + 1 == npart ? ZSTD_e_end : ZSTD_e_flush;
        ZSTD_inBuffer in = { src + at, part[i], 0 };
        /* the frame's first call continues: an end there, with all the
         * input, would pledge its size; later ones flush or end at once
         * (a continue would send out a part that fills whole blocks, and
         * an end after it would add an empty last block) */
        size_t r = i ? 0 : ZSTD_compressStream2(cc, &o, &in, ZSTD_e_continue);
        do
            r = ZSTD_isError(r) ? r : ZSTD_compressStream2(cc, &o, &in, how);
        while (r && !ZSTD_isError(r) && o.pos < o.size);
        ok = !ZSTD_isError(r) && !r && in.pos == in.size;
    }
    return ok ? o.pos : 0;
}

/* zcompress with a flush between streams, except that when the streams
 * hold at most one zstd block's bytes (128 KiB), where a trial costs
 * little, they are also tried as one block and the smaller frame kept:
 * on a small segment the tables a flush adds can cost more than they save
 * (lodash's control and diff frame: 7 bytes more). */
static size_t zcompress_streams(ZSTD_CCtx *cc, int level, const uint8_t *src,
                                const size_t *part, unsigned npart, uint8_t *out, size_t cap)
{
    size_t split = zcompress(cc, level, NULL, 0, src, part, npart, out, cap);
    size_t n = parts_len(part, npart);
    if (!split || npart < 2 || n > ZSTD_BLOCKSIZE_MAX)
        return split;
    uint8_t *one = malloc(cap);
    if (!one)
        return 0;    /* failing beats a package that depends on free memory */
    size_t whole = zcompress(cc, level, NULL, 0, src, &n, 1, one, cap);
    if (whole && whole < split) {
        memcpy(out, one, whole);
        split = whole;
    }
    free(one);
    return split;
}

/* The dictionary of S's literal frame as the applier builds it: the new
 * image's bytes in the window, those of S's own LIT ops zeroed. */
static uint8_t *make_dict(const zjob *j, const segment *s)
{
    uint64_t lo = s->win.off, hi = lo + s->win.len;
    uint8_t *d = malloc(s->win.len);
    if (!d)
        return NULL;
    memcpy(d, j->nw + lo, s->win.len);
    for (size_t i = s->first; i < s->end; i++) {
        const upd_gop *g = &j->sched->v[i];
        if (g->kind != UPD_OP_LIT || g->dst >= hi || g->dst + g->len <= lo)
            continue;
        uint64_t x = g->dst > lo ? g->dst : lo, y = g->dst + g->len < hi ? g->dst + g->len : hi;
        memset(d + (x - lo), 0, y - x);
    }
    return d;
}

/* S's streams before its literals, its control region in the literals-last
 * order (the diff streams keep their order: the DIFF ops keep theirs), into
 * OUT (room for upd_ctrl_bound of its ops and its diff streams); the new
 * control length in *CTRL, the bytes in *N. */
static int head_lits_last(const zjob *j, const segment *s, uint8_t *out, size_t *ctrl,
                          size_t *n)
{
    UPD_CHECK(ctrl_of(j->lits_last, s->first, s->end, out, ctrl));
    memcpy(out + *ctrl, s->raw + s->ctrl, s->runs + s->dbytes);
    *n = *ctrl + s->runs + s->dbytes;
    return 0;
}

/* Two frames for S (its one frame, CSIZE bytes, is in s->comp) when its
 * literals against the dictionary make up for what compressing the streams
 * apart loses (on text, that loss can match the gain): sets csize, lcsize
 * and the control region's new length; otherwise drops the window. */
static int try_dict(const zjob *j, segment *s, ZSTD_CCtx *cc)
{
    size_t head = seg_usize(s) - s->lit, tcap = ZSTD_compressBound(s->lit);
    const uint8_t *lit = s->raw + head;
    uint8_t *d = make_dict(j, s), *trial = malloc(tcap);
    int rc = d && trial ? 0 : UPD_E_NOMEM;
    size_t plain = 0, with = 0;
    if (!rc) {
        plain = zcompress(cc, TRIAL_LEVEL, NULL, 0, lit, &s->lit, 1, trial, tcap);
        with = zcompress(cc, TRIAL_LEVEL, d, s->win.len, lit, &s->lit, 1, trial, tcap);
        rc = plain && with ? 0 : UPD_E_COMPRESS;
    }
    uint8_t *two = NULL, *h2 = NULL;
    if (!rc && with + DICT_GAIN_MIN <= plain) {
        size_t ctrl2 = 0, n2 = 0, room = upd_ctrl_bound(s->nops) + s->runs + s->dbytes;
        size_t acap = ZSTD_compressBound(room);
        two = malloc(acap + tcap);
        h2 = malloc(room);
        rc = two && h2 ? head_lits_last(j, s, h2, &ctrl2, &n2) : UPD_E_NOMEM;
        const size_t part[] = { ctrl2, s->runs, s->dbytes - s->dtail, s->dtail };
        size_t a = rc ? 0 : zcompress_streams(cc, j->level, h2, part, 4, two, acap);
        size_t b = a ? zcompress(cc, j->level, d, s->win.len, lit, &s->lit, 1, two + a, tcap)
                     : 0;
        rc = rc ? rc : b ? 0 : UPD_E_COMPRESS;
        /* readers bound a segment by one frame's bound (FORMAT.md 2) */
        if (b && a + b < s->csize && a + b <= ZSTD_compressBound(n2 + s->lit)) {
            memcpy(s->comp, two, a + b);
            s->csize = a + b;
            s->lcsize = b;
            s->ctrl = ctrl2;
        }
    }
    if (!s->lcsize)
        s->win = (upd_window){ 0, 0 };
    free(h2);
    free(two);
    free(d);
    free(trial);
    return rc;
}

/* S's diff bytes as heads then tails (upd_sparse_cursor) into OUT, its
 * DIFF ops' records walked in order; the number of tails in *TAILS. */
static int split_diff_bytes(const zjob *j, const segment *s, uint8_t *out, size_t *tails)
{
    const uint8_t *runs = s->raw + s->ctrl;
    uint8_t *tail = malloc(s->dbytes);
    if (!tail)
        return UPD_E_NOMEM;
    upd_sparse_cursor c;
    upd_sparse_init(&c, runs, s->runs, runs + s->runs, s->dbytes, 0);
    size_t nh = 0, nt = 0;
    int rc = 0;
    for (size_t i = s->first; !rc && i < s->end; i++) {
        const upd_gop *g = &j->sched->v[i];
        if (g->kind == UPD_OP_DIFF)
            rc = upd_sparse_split_op(&c, g->len, out, &nh, tail, &nt);
    }
    if (!rc)
        memcpy(out + nh, tail, nt);
    free(tail);
    *tails = nt;
    return rc ? UPD_E_INTERNAL : 0;   /* the records were made here: valid */
}

/* The N diff bytes DBYTES compressed at LEVEL as they are (*ONE) and as
 * SPLIT, heads then tails (PART, *TWO), each alone as try_split weighs
 * them. */
static int split_trial(ZSTD_CCtx *cc, int level, const uint8_t *dbytes, const uint8_t *split,
                       size_t n, const size_t part[2], uint8_t *scratch, size_t cap,
                       size_t *one, size_t *two)
{
    *one = zcompress(cc, level, NULL, 0, dbytes, &n, 1, scratch, cap);
    *two = zcompress(cc, level, NULL, 0, split, part, 2, scratch, cap);
    return *one && *two ? 0 : UPD_E_COMPRESS;
}

/* Split S's diff bytes into heads and tails when that compresses them
 * smaller: on code, a changed address's first byte and its carries are two
 * distinct sources (libsystemd-shared 252.38 -> 252.39: 17,258 -> 5,072
 * bytes), elsewhere the split can cut repeats in two (postgres 15.18 ->
 * 15.20 lost 2% with every segment split).  Judged on the diff bytes
 * alone, by a fast trial (at the package's level for every segment it
 * cost esbuild's diff 20% more time).  A gain of an eighth or more stands
 * (libsystemd-shared 70%, openssl 43%); a smaller one is weighed again at
 * the package's level, where it can turn into a loss (libcrypto: 4.3% at
 * level 3, -0.1% at 19; periodic diff bytes: 62 bytes saved, 1,239 lost). */
static int try_split(const zjob *j, segment *s, ZSTD_CCtx *cc)
{
    if (!s->dbytes)
        return 0;
    uint8_t *dbytes = s->raw + s->ctrl + s->runs, *split = malloc(s->dbytes);
    size_t cap = ZSTD_compressBound(s->dbytes), tails = 0, one = 0, two = 0;
    uint8_t *scratch = malloc(cap);
    int rc = split && scratch ? split_diff_bytes(j, s, split, &tails) : UPD_E_NOMEM;
    if (!rc && tails && tails < s->dbytes) {
        const size_t part[] = { s->dbytes - tails, tails };
        rc = split_trial(cc, TRIAL_LEVEL, dbytes, split, s->dbytes, part, scratch, cap, &one,
                         &two);
        if (!rc && two < one && two > one - one / 8 && j->level != TRIAL_LEVEL)
            rc = split_trial(cc, j->level, dbytes, split, s->dbytes, part, scratch, cap, &one,
                             &two);
        if (!rc && two < one) {
            memcpy(dbytes, split, s->dbytes);
            s->dtail = tails;
        }
    }
    free(split);
    free(scratch);
    return rc;
}

/* The LZMA2 form of S instead of its zstd form (s->csize bytes in s->comp,
 * one frame or two) when it is more than a UPD_XZ_GAIN-th smaller (with
 * UPD_LZMA_ALWAYS: when it fits the format's bound of a segment). */
static int try_xz(zjob *j, segment *s, unsigned thread)
{
    uint8_t *ctrl = malloc(upd_ctrl_bound(s->end - s->first)), *out = NULL;
    size_t ctrl_len = 0, len = 0;
    uint64_t dense = 0;
    int rc = ctrl ? 0 : UPD_E_NOMEM;
    if (!rc && !j->xz[thread])
        rc = upd_xz_create(&j->xz[thread]);
    /* the control region in schedule order (try_dict may have left the
     * literals-last one): the length compress_one sized s->comp by */
    if (!rc)
        rc = ctrl_of(j->sched, s->first, s->end, ctrl, &ctrl_len);
    size_t bound = ZSTD_compressBound(ctrl_len + s->runs + s->dbytes + s->lit);
    size_t cap = j->p->lzma == UPD_LZMA_ALWAYS ? bound : s->csize - s->csize / UPD_XZ_GAIN;
    if (!rc && cap) {
        out = malloc(cap);
        rc = out ? upd_xz_segment(j->xz[thread], j->level, ctrl, ctrl_len,
                                  j->sched->v + s->first, s->end - s->first, j->old, j->nw,
                                  out, cap, &len, &dense)
                 : UPD_E_NOMEM;
    }
    /* (rc 1: it did not fit CAP) */
    if (!rc && cap && (j->p->lzma == UPD_LZMA_ALWAYS || len < cap)) {
        memcpy(s->comp, out, len);
        s->csize = len;
        s->dense = dense;
        s->dtail = 0;   /* the dense diff decodes to record order */
        /* one stream, the ops in schedule order: no literal frame */
        s->ctrl = ctrl_len;
        s->lcsize = 0;
        s->win = (upd_window){ 0, 0 };
    }
    free(ctrl);
    free(out);
    return rc < 0 ? rc : 0;
}

static int compress_one(void *ctx, size_t i, unsigned thread)
{
    zjob *j = ctx;
    segment *s = &j->segs->v[i];
    size_t usize = seg_usize(s);
    ZSTD_CCtx *cc = j->cc[thread] ? j->cc[thread] : (j->cc[thread] = ZSTD_createCCtx());
    if (!cc)
        return UPD_E_NOMEM;
    /* one frame; two replace it only when smaller (try_dict) */
    size_t cap = ZSTD_compressBound(usize);
    s->comp = malloc(cap);
    if (!s->comp)
        return UPD_E_NOMEM;
    UPD_CHECK(try_split(j, s, cc));
    const size_t part[] = { s->ctrl, s->runs, s->dbytes - s->dtail, s->dtail, s->lit };
    s->csize = zcompress_streams(cc, j->level, s->raw, part, 5, s->comp, cap);
    if (!s->csize)
        return UPD_E_COMPRESS;
    if (s->win.len && s->lit)
        UPD_CHECK(try_dict(j, s, cc));
    else
        s->win = (upd_window){ 0, 0 };
    if (j->try_xz && s->runs)
        UPD_CHECK(try_xz(j, s, thread));
    free(s->raw);
    s->raw = NULL;
    size_t done = atomic_fetch_add(&j->done, 1) + 1;
    if (thread == 0 && j->p->progress)
        j->p->progress(j->p->progress_user, UPD_PHASE_COMPRESS, done, j->segs->n);
    return 0;
}

static int compress_all(segments *segs, const upd_gops *sched, const upd_gops *lits_last,
                        const uint8_t *old_img, const uint8_t *new_img, int xz,
                        const upd_diff_params *p)
{
    zjob j = { .segs = segs, .sched = sched, .lits_last = lits_last, .nw = new_img,
               .old = old_img, .level = p->level, .p = p, .try_xz = xz };
    atomic_init(&j.done, 0);
    int rc = upd_parallel(segs->n, p->threads, compress_one, &j);
    for (unsigned t = 0; t < UPD_PARALLEL_MAX; t++) {
        ZSTD_freeCCtx(j.cc[t]);
        upd_xz_free(j.xz[t]);
    }
    return rc;
}

/* ---- package ------------------------------------------------------------- */

/* The package's bytes go to the caller's sink and, as they are written, to
 * a dry-run applier with the package's window (every digest, op and limit
 * an applier checks, no image; not the update policy, which is the
 * device's): what the generator hands out, every such applier accepts, or
 * the diff fails with UPD_E_INTERNAL.  The schedule check (plan_check)
 * covers the ops; this covers the rest, such as the header's counts
 * (frozen_ranges once declared one range too few). */
typedef struct {
    upd_write_fn out;
    void *user;
    upd_applier *check;
} checked_sink;

/* A dry run's verdict as the diff's: its own allocation failing is not a
 * generator bug. */
static int dry_run_rc(int rc)
{
    return rc == UPD_E_NOMEM ? rc : rc < 0 ? UPD_E_INTERNAL : 0;
}

static int checked_write(void *user, const void *data, size_t len)
{
    checked_sink *c = user;
    UPD_CHECK(dry_run_rc(upd_applier_push(c->check, data, len)));
    return c->out(c->user, data, len);
}

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
                            .dtail_len = (uint32_t)s->dtail, .dense_len = s->dense,
                            .lit_len = (uint32_t)s->lit, .op_count = s->nops,
                            .lit_csize = (uint32_t)s->lcsize, .dict_len = s->win.len,
                            .dict_off = s->win.off };
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

/* The header's dictionary fields: the largest window used, and the most
 * disjoint ranges the windows make at once (the applier's frozen set). */
static int dict_fields(const segments *segs, upd_header *h)
{
    upd_window *w = malloc((segs->n ? segs->n : 1) * sizeof *w);
    if (!w)
        return UPD_E_NOMEM;
    for (size_t i = 0; i < segs->n; i++) {
        w[i] = segs->v[i].win;
        h->dict_max = w[i].len > h->dict_max ? w[i].len : h->dict_max;
    }
    int rc = upd_dict_frozen_peak(w, segs->n, &h->frozen_ranges);
    free(w);
    return rc;
}

/* Whether SCHED[I] is a DROP after another kind of op of the segment that
 * starts at FIRST, which the applier refuses (UPD_E_OP_DROP). */
static int drop_misplaced(const upd_gops *sched, size_t first, size_t i)
{
    return sched->v[i].kind == UPD_OP_DROP && i > first
           && sched->v[i - 1].kind != UPD_OP_DROP;
}

int upd_emit(const upd_gops *sched, const upd_gops *lits_last, const upd_cuts *cuts,
             const uint8_t *old_img, size_t old_len,
             const uint8_t *new_img, size_t new_len, const upd_plan_info *info,
             uint32_t dict_budget, int xz, const upd_diff_params *p, upd_write_fn out,
             void *out_user, upd_diff_stats *st)
{
    seg_builder sb = { 0 };
    segments segs = { 0 };
    upd_window *win = NULL;
    int rc = 0;
    double t0 = upd_now();
    size_t nseg = cuts->n ? cuts->n - 1 : 0;
    for (size_t k = 0; !rc && k < nseg; k++) {
        for (size_t i = cuts->v[k]; !rc && i < cuts->v[k + 1]; i++)
            rc = drop_misplaced(sched, cuts->v[k], i)
                     ? UPD_E_PLAN : add_op(&sb, &sched->v[i], old_img, new_img, st);
        if (!rc)
            rc = close_segment(&sb, &segs, sched, cuts->v[k], cuts->v[k + 1]);
    }
    if (!rc && dict_budget && nseg && lits_last) {
        win = calloc(nseg, sizeof *win);
        rc = win ? upd_dict_windows(sched, cuts, dict_budget, win) : UPD_E_NOMEM;
        for (size_t k = 0; !rc && k < nseg; k++)
            segs.v[k].win = win[k];
    }
    if (!rc && p->progress)
        p->progress(p->progress_user, UPD_PHASE_COMPRESS, 0, segs.n);
    if (!rc)
        rc = compress_all(&segs, sched, lits_last, old_img, new_img, xz, p);
    upd_header h = { .version = UPD_FORMAT_VERSION, .block_size = p->block_size,
                     .seg_count = (uint32_t)segs.n, .old_size = old_len, .new_size = new_len,
                     .stash_size = info->stash_size, .write_ranges = info->write_ranges,
                     .stash_ranges = info->stash_ranges };
    if (!rc)
        rc = dict_fields(&segs, &h);
    for (size_t i = 0; !rc && i < segs.n; i++) {
        segment *s = &segs.v[i];
        size_t usize = seg_usize(s);
        h.seg_max = usize > h.seg_max ? (uint32_t)usize : h.seg_max;
        h.seg_cmax = s->csize > h.seg_cmax ? (uint32_t)s->csize : h.seg_cmax;
        h.op_count += s->nops;
        st->dict_segments += s->lcsize != 0;
        st->lzma_segments += s->dense != 0;
        h.flags |= s->dense ? UPD_PKG_LZMA : 0;
        st->ctrl_raw += s->ctrl;
        st->diff_raw += s->runs + s->dbytes;
        st->lit_raw += s->lit;
    }
    /* the budget was an upper bound taken before the literals moved */
    if (!rc && upd_applier_mem_need(&h, p->window) + UPD_JOURNAL_MEM > p->window)
        rc = UPD_E_LIMIT;
    if (!rc) {
        strcpy(h.package_id, p->package_id ? p->package_id : "");
        strcpy(h.from_version, p->from_version ? p->from_version : "");
        strcpy(h.to_version, p->to_version ? p->to_version : "");
        rc = upd_sha256(old_img, old_len, h.old_sha256);
    }
    if (!rc)
        rc = upd_sha256(new_img, new_len, h.new_sha256);
    checked_sink cs = { out, out_user, NULL };
    upd_apply_params dry = { .window = p->window,
                             .flags = UPD_APPLY_DRY_RUN | UPD_APPLY_INSECURE
                                      | UPD_APPLY_ALLOW_DOWNGRADE };
    if (!rc)
        rc = upd_applier_create(&cs.check, &dry);
    if (!rc)
        rc = write_package(&segs, &h, checked_write, &cs, &st->pkg_size);
    if (!rc)
        rc = dry_run_rc(upd_applier_finish(cs.check));
    upd_applier_free(cs.check);
    st->segments = (uint32_t)segs.n;
    for (size_t i = 0; i < segs.n; i++) {
        free(segs.v[i].raw);
        free(segs.v[i].comp);
    }
    free(segs.v);
    free(win);
    free(sb.runs.p);
    free(sb.dbytes.p);
    free(sb.lit.p);
    st->t_emit = upd_now() - t0;
    return rc;
}
