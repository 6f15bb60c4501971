/* One decoded segment: pass 1 validates every operation without touching
 * the image, pass 2 runs them.  A segment with one bad op therefore writes
 * nothing at all.
 *
 * Zero-copy discipline: literal bytes are written straight from the decoded
 * segment buffer; a DIFF reads its source into the I/O buffer, adds the diff
 * bytes there, and writes that same buffer. */
#include "applier.h"
#include "../common/check.h"

#include <string.h>

typedef struct {
    const uint8_t *diff, *lit;        /* payload streams in dbuf */
    uint64_t diff_used, lit_used;
} payload;

static void payload_init(payload *pl, const upd_applier *a, const upd_seg_entry *e)
{
    pl->diff = a->dbuf + e->ctrl_len;
    pl->lit = pl->diff + e->diff_len;
    pl->diff_used = pl->lit_used = 0;
}

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
    case UPD_OP_COPY:
    case UPD_OP_DIFF:
        UPD_CHECK(check_old_read(a, op->src, op->len, *low));
        if (op->kind == UPD_OP_DIFF) {
            if (upd_range_exceeds(pl->diff_used, op->len, e->diff_len))
                return UPD_E_OP_STREAM;
            pl->diff_used += op->len;
        }
        break;
    case UPD_OP_LIT:
        if (upd_range_exceeds(pl->lit_used, op->len, e->lit_len))
            return UPD_E_OP_STREAM;
        pl->lit_used += op->len;
        break;
    case UPD_OP_FILL:
        break;
    default:
        return UPD_E_OP_DECODE;
    }
    if (upd_range_exceeds(op->dst, op->len, a->cur_size))
        return UPD_E_OP_BOUNDS;
    return upd_rangeset_add(&a->written, op->dst, op->dst + op->len);
}

int upd_ap_validate_segment(upd_applier *a, const upd_seg_entry *e)
{
    upd_op_cursor c;
    upd_op op;
    payload pl;
    uint32_t n = 0;
    int rc;
    uint64_t low = a->low_water;
    payload_init(&pl, a, e);
    upd_op_cursor_init(&c, a->dbuf, e->ctrl_len);
    while ((rc = upd_op_next(&c, &op)) > 0) {
        if (++n > e->op_count)
            return UPD_E_OP_STREAM;
        UPD_CHECK(validate_op(a, &op, e, &pl, &low));
        a->st.ops[op.kind]++;
    }
    UPD_CHECK(rc);
    if (n != e->op_count || pl.diff_used != e->diff_len || pl.lit_used != e->lit_len)
        return UPD_E_OP_STREAM;
    a->low_water = low;
    return 0;
}

/* Bytewise add mod 256 of SRC into DST, 16 bytes at a time with the
 * compiler's vector extension (gcc and clang), the scalar tail after. */
static void add_bytes(uint8_t *dst, const uint8_t *src, size_t n)
{
    typedef uint8_t v16 __attribute__((vector_size(16)));
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v16 x, y;
        memcpy(&x, dst + i, 16);
        memcpy(&y, src + i, 16);
        x += y;
        memcpy(dst + i, &x, 16);
    }
    for (; i < n; i++)
        dst[i] = (uint8_t)(dst[i] + src[i]);
}

/* Fill BUF with old bytes [x, x+n): parts saved by a STASH that has already
 * run come from the stash, the rest from the old image.  (Pass 1 recorded
 * the whole segment's saves; a save not yet run means the image there has
 * not been overwritten yet.) */
static int read_old(upd_applier *a, uint8_t *buf, uint64_t x, size_t n)
{
    uint64_t end = x + n, lo, hi, val;
    while (x < end) {
        int found = upd_rangeset_next(&a->saved, x, &lo, &hi, &val);
        uint64_t stop = found && lo < end ? lo : end;
        int from_stash = 0;
        if (found && lo <= x) {
            /* merged saves: only the part whose STASH already ran counts */
            uint64_t spos = val + (x - lo);
            stop = hi < end ? hi : end;
            if (spos < a->stash_done) {
                from_stash = 1;
                if (stop - x > a->stash_done - spos)
                    stop = x + (a->stash_done - spos);
            }
        }
        size_t k = (size_t)(stop - x);
        if (from_stash)
            UPD_CHECK(upd_io_read(a->stash, buf, k, val + (x - lo)));
        else
            UPD_CHECK(upd_io_read(upd_ap_old(a), buf, k, x));
        a->st.bytes_read += k;
        buf += k;
        x = stop;
    }
    return 0;
}

/* COPY/DIFF: chunks through the I/O buffer.  In place, a source that
 * overlaps its own destination from below is walked back to front (memmove
 * order), so no chunk reads bytes an earlier chunk of the same op wrote. */
static int run_move(upd_applier *a, const upd_op *op, const uint8_t *diff)
{
    int backward = !a->p.source && op->src < op->dst && op->src + op->len > op->dst;
    uint64_t chunk = a->iobuf_size;
    uint64_t nchunks = (op->len + chunk - 1) / chunk;
    for (uint64_t k = 0; k < nchunks; k++) {
        uint64_t idx = backward ? nchunks - 1 - k : k;
        uint64_t off = idx * chunk;
        size_t n = (size_t)(op->len - off < chunk ? op->len - off : chunk);
        UPD_CHECK(read_old(a, a->iobuf, op->src + off, n));
        if (diff)
            add_bytes(a->iobuf, diff + off, n);
        UPD_CHECK(upd_io_write(a->p.target, a->iobuf, n, op->dst + off));
    }
    return 0;
}

static int run_fill(upd_applier *a, const upd_op *op)
{
    size_t n0 = op->len < a->iobuf_size ? (size_t)op->len : a->iobuf_size;
    memset(a->iobuf, op->fill, n0);
    for (uint64_t off = 0; off < op->len;) {
        size_t n = op->len - off < n0 ? (size_t)(op->len - off) : n0;
        UPD_CHECK(upd_io_write(a->p.target, a->iobuf, n, op->dst + off));
        off += n;
    }
    return 0;
}

static int run_stash(upd_applier *a, const upd_op *op)
{
    for (uint64_t off = 0; off < op->len;) {
        size_t n = op->len - off < a->iobuf_size ? (size_t)(op->len - off) : a->iobuf_size;
        UPD_CHECK(upd_io_read(upd_ap_old(a), a->iobuf, n, op->src + off));
        UPD_CHECK(upd_io_write(a->stash, a->iobuf, n, a->stash_done + off));
        a->st.bytes_read += n;
        a->st.stash_bytes += n;
        off += n;
    }
    a->stash_done += op->len;
    return 0;
}

int upd_ap_execute_segment(upd_applier *a, const upd_seg_entry *e)
{
    upd_op_cursor c;
    upd_op op;
    payload pl;
    int rc;
    payload_init(&pl, a, e);
    upd_op_cursor_init(&c, a->dbuf, e->ctrl_len);
    while ((rc = upd_op_next(&c, &op)) > 0) {
        switch (op.kind) {
        case UPD_OP_COPY:
            rc = run_move(a, &op, NULL);
            break;
        case UPD_OP_DIFF:
            rc = run_move(a, &op, pl.diff + pl.diff_used);
            pl.diff_used += op.len;
            break;
        case UPD_OP_LIT:
            rc = upd_io_write(a->p.target, pl.lit + pl.lit_used, (size_t)op.len, op.dst);
            pl.lit_used += op.len;
            break;
        case UPD_OP_FILL:
            rc = run_fill(a, &op);
            break;
        case UPD_OP_STASH:
            rc = run_stash(a, &op);
            break;
        case UPD_OP_RESIZE:
            rc = upd_io_resize(a->p.target, op.len);
            break;
        default:
            rc = UPD_E_INTERNAL;   /* pass 1 accepted only the kinds above */
        }
        UPD_CHECK(rc);
    }
    return rc;
}
