/* Pass 1 over one decoded segment: every operation is validated without
 * touching the image (exec.c runs them after), so a segment with one bad op
 * writes nothing at all.  Also the segment's decoding, literal frame and
 * its dictionary included. */
#include "applier.h"
#include "../common/check.h"

#include <string.h>

typedef struct {
    upd_sparse_cursor diff;           /* the DIFF ops' records in dbuf */
    uint64_t lit_used;
    int      lits;                    /* a LIT op was seen */
    int      others;                  /* an op other than DROP was seen */
} payload;

/* Old-image bytes stay valid below the smallest length the image has had:
 * a shrink followed by a grow leaves zeros, not old data, behind it. */
static uint64_t old_valid_end(const upd_applier *a, uint64_t low_water)
{
    return a->h.old_size < low_water ? a->h.old_size : low_water;
}

/* Old bytes [src, src+len) are readable when each part is either saved in
 * the stash or not yet written. */
static int check_old_read(const upd_applier *a, uint64_t src, uint64_t len, uint64_t low)
{
    if (upd_range_exceeds(src, len, old_valid_end(a, low)))
        return UPD_E_OP_BOUNDS;
    uint64_t end = src + len, lo, hi, val;
    for (uint64_t x = src; x < end;) {
        int found = upd_rangeset_next(&a->saved, x, &lo, &hi, &val);
        if (found && lo <= x) {
            x = hi < end ? hi : end;
            continue;
        }
        uint64_t gap_end = found && lo < end ? lo : end;
        if (upd_rangeset_intersects(&a->written, x, gap_end))
            return UPD_E_OP_STALE;
        x = gap_end;
    }
    return 0;
}

static int validate_op(upd_applier *a, const upd_op *op, const upd_seg_entry *e,
                       payload *pl, uint64_t *low)
{
    const upd_header *h = &a->h;
    switch (op->kind) {
    case UPD_OP_RESIZE: {
        uint64_t max = h->old_size > h->new_size ? h->old_size : h->new_size;
        if (op->len > max)
            return UPD_E_OP_BOUNDS;
        if (upd_rangeset_intersects(&a->frozen, op->len, UINT64_MAX))
            return UPD_E_OP_DICT;
        a->cur_size = op->len;
        if (op->len < *low)
            *low = op->len;
        return 0;
    }
    case UPD_OP_STASH: {
        /* saved bytes must still be old: not written, not saved before */
        if (upd_range_exceeds(a->stash_end, op->len, h->stash_size)
            || upd_range_exceeds(op->src, op->len, old_valid_end(a, *low)))
            return UPD_E_OP_BOUNDS;
        if (upd_rangeset_intersects(&a->written, op->src, op->src + op->len))
            return UPD_E_OP_STALE;
        int rc = upd_rangemap_add(&a->saved, op->src, op->src + op->len, a->stash_end);
        if (rc < 0)
            return rc == UPD_E_INVAL ? UPD_E_OP_STASH : rc;
        a->stash_end += op->len;
        return 0;
    }
    case UPD_OP_DROP:
        /* only the segment's first ops: the segment's run (pass 2) then
         * never needs a range its validation dropped */
        if (pl->others)
            return UPD_E_OP_DROP;
        if (upd_range_exceeds(op->src, op->len, h->old_size))
            return UPD_E_OP_BOUNDS;
        return upd_rangeset_remove(&a->saved, op->src, op->src + op->len);
    case UPD_OP_COPY:
    case UPD_OP_DIFF:
        UPD_CHECK(check_old_read(a, op->src, op->len, *low));
        if (op->kind == UPD_OP_DIFF)
            UPD_CHECK(upd_sparse_skip(&pl->diff, op->len));
        break;
    case UPD_OP_LIT:
        if (upd_range_exceeds(pl->lit_used, op->len, e->lit_len))
            return UPD_E_OP_STREAM;
        /* the dictionary is taken when the first LIT runs: it must lie
         * in the image as it is then */
        if (e->dict_len && !pl->lits && upd_range_exceeds(e->dict_off, e->dict_len, a->cur_size))
            return UPD_E_OP_DICT;
        pl->lits = 1;
        pl->lit_used += op->len;
        break;
    case UPD_OP_FILL:
        break;
    default:
        return UPD_E_OP_DECODE;
    }
    if (upd_range_exceeds(op->dst, op->len, a->cur_size))
        return UPD_E_OP_BOUNDS;
    if (upd_rangeset_intersects(&a->frozen, op->dst, op->dst + op->len))
        return UPD_E_OP_DICT;
    return upd_rangeset_add(&a->written, op->dst, op->dst + op->len);
}

int upd_ap_validate_segment(upd_applier *a, const upd_seg_entry *e)
{
    upd_op_cursor c;
    upd_op op;
    payload pl = { .lit_used = 0 };
    uint32_t n = 0;
    int rc;
    uint64_t low = a->low_water;
    upd_ap_sparse_init(a, e, &pl.diff);
    UPD_CHECK(upd_op_cursor_init(&c, a->dbuf, e->ctrl_len));
    while ((rc = upd_op_next(&c, &op)) > 0) {
        if (++n > e->op_count)
            return UPD_E_OP_STREAM;
        /* with a dictionary the LIT ops come last: every other write of
         * the segment is in place before the window is read */
        if (e->dict_len && pl.lits && op.kind != UPD_OP_LIT)
            return UPD_E_OP_DICT;
        UPD_CHECK(validate_op(a, &op, e, &pl, &low));
        pl.others |= op.kind != UPD_OP_DROP;
        a->st.ops[op.kind]++;
    }
    UPD_CHECK(rc);
    if (n != e->op_count || pl.diff.run != pl.diff.run_end || pl.diff.byte != pl.diff.byte_end
        || pl.diff.tail != pl.diff.tail_end || pl.lit_used != e->lit_len)
        return UPD_E_OP_STREAM;
    a->low_water = low;
    /* from now on no op may change the window: a re-run of this segment
     * after a crash must decode its literals from the same bytes */
    return e->dict_len ? upd_rangeset_add(&a->frozen, e->dict_off, e->dict_off + e->dict_len) : 0;
}

int upd_ap_freeze_before(upd_applier *a, uint32_t seg)
{
    for (uint32_t i = 0; i < seg; i++) {
        const upd_seg_entry *e = &a->manifest[i];
        if (e->dict_len)
            UPD_CHECK(upd_rangeset_add(&a->frozen, e->dict_off, e->dict_off + e->dict_len));
    }
    return 0;
}

/* ---- decoding -------------------------------------------------------------- */

static int decode_frame(ZSTD_DCtx *d, uint8_t *dst, size_t n, const uint8_t *src, size_t cn)
{
    if (ZSTD_findFrameCompressedSize(src, cn) != cn)
        return UPD_E_SEG_DECODE;
    size_t r = ZSTD_decompressDCtx(d, dst, n, src, cn);
    return ZSTD_isError(r) || r != n ? UPD_E_SEG_DECODE : 0;
}

/* Frame B must not carry a content checksum (bit 2 of the descriptor
 * after the magic): it would cover bytes decoded against the target's
 * window, so whether it holds would depend on the window's bytes, which
 * the check against zeros before any write cannot see. */
static int lit_frame_plain(const uint8_t *f, size_t n)
{
    return n > 4 && upd_rd32(f) == ZSTD_MAGICNUMBER && !(f[4] & 0x04);
}

/* A fresh decoder context for the next frame, each time: libzstd picks
 * one of its two sequence decoders by state the frames before leave in
 * the context (whether the dictionary is "cold", which only a compressed
 * block clears, so a literal frame of raw blocks hands it on), and on a
 * hostile frame the two decoders can disagree (found by fuzz_apply: the
 * check against zeros passed, the real decode with the same buffer
 * failed).  Every frame starting from the same state makes a verdict one
 * whatever was decoded before, and on which context (two segments may
 * decode at once, on two, reader.c). */
static int renew_dctx(upd_applier *a)
{
    ZSTD_DCtx *fresh = ZSTD_createDCtx();
    if (!fresh)
        return UPD_E_NOMEM;
    ZSTD_freeDCtx(a->dctx);
    a->dctx = fresh;
    return 0;
}

/* The literal frame against a->dict (its first dict_len bytes). */
static int decode_lit_frame(upd_applier *a, const upd_seg_entry *e)
{
    size_t frame_a = e->csize - e->lit_csize;
    size_t at = (size_t)upd_seg_entry_usize(e) - e->lit_len;
    int rc = UPD_E_SEG_DECODE;
    UPD_CHECK(renew_dctx(a));
    if (lit_frame_plain(a->cbuf + frame_a, e->lit_csize)
        && ZSTD_findFrameCompressedSize(a->cbuf + frame_a, e->lit_csize) == e->lit_csize
        && !ZSTD_isError(ZSTD_DCtx_refPrefix(a->dctx, a->dict, e->dict_len)))
        rc = decode_frame(a->dctx, a->dbuf + at, e->lit_len, a->cbuf + frame_a, e->lit_csize);
    /* a frame that failed may leave the prefix referenced */
    if (rc)
        ZSTD_DCtx_reset(a->dctx, ZSTD_reset_session_only);
    return rc;
}

int upd_ap_decode_segment(upd_applier *a, const upd_seg_entry *e)
{
    if (e->dense_len)
        return upd_ap_decode_xz(a, e);
    size_t lits = e->lit_csize ? e->lit_len : 0;
    UPD_CHECK(renew_dctx(a));
    UPD_CHECK(decode_frame(a->dctx, a->dbuf, (size_t)upd_seg_entry_usize(e) - lits, a->cbuf,
                           e->csize - e->lit_csize));
    if (!e->lit_csize)
        return 0;
    memset(a->dict, 0, e->dict_len);
    return decode_lit_frame(a, e);
}

int upd_ap_decode_lits(upd_applier *a, const upd_seg_entry *e)
{
    uint64_t lo = e->dict_off, hi = lo + e->dict_len;
    UPD_CHECK(upd_io_read(a->p.target, a->dict, e->dict_len, lo));
    a->st.bytes_read += e->dict_len;
    if (upd_ap_fills_gaps(a))
        UPD_CHECK(upd_ap_gaps_read(a, lo, hi, a->dict));
    upd_op_cursor c;
    upd_op op;
    int rc;
    UPD_CHECK(upd_op_cursor_init(&c, a->dbuf, e->ctrl_len));
    while ((rc = upd_op_next(&c, &op)) > 0) {
        if (op.kind != UPD_OP_LIT || op.dst >= hi || op.dst + op.len <= lo)
            continue;
        uint64_t x = op.dst > lo ? op.dst : lo, y = op.dst + op.len < hi ? op.dst + op.len : hi;
        memset(a->dict + (x - lo), 0, (size_t)(y - x));
    }
    UPD_CHECK(rc);
    return decode_lit_frame(a, e);
}

void upd_ap_sparse_init(const upd_applier *a, const upd_seg_entry *e, upd_sparse_cursor *c)
{
    const uint8_t *runs = a->dbuf + e->ctrl_len;
    upd_sparse_init(c, runs, e->diff_len, runs + e->diff_len, e->dbyte_len, e->dtail_len);
}

int upd_ap_old_part(const upd_applier *a, uint64_t x, uint64_t end, uint64_t stash_done,
                    uint64_t *stash_off, uint64_t *part)
{
    uint64_t lo, hi, val;
    if (a->p.source) {
        *part = end - x;
        return 0;
    }
    int found = upd_rangeset_next(&a->saved, x, &lo, &hi, &val);
    uint64_t stop = found && lo < end ? lo : end;
    int from_stash = 0;
    if (found && lo <= x) {
        /* merged saves: only the part whose STASH already ran counts */
        uint64_t spos = val + (x - lo);
        stop = hi < end ? hi : end;
        if (spos < stash_done) {
            from_stash = 1;
            *stash_off = spos;
            if (stop - x > stash_done - spos)
                stop = x + (stash_done - spos);
        }
    }
    *part = stop - x;
    return from_stash;
}
