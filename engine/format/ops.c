/* Operation encoding: one kind byte, then LEB128 varints.  Image offsets
 * are delta-coded (zigzag) against the end of the previous image write, and
 * an old-image source against its own destination, because ops cluster and
 * code moves by small amounts (Burns et al. measured explicit 4-byte
 * offsets costing 16%). */
#include "updelta/format.h"

#include <string.h>

#define KIND_MASK   0x07u
#define OFF_LIMIT   (1ull << 62)   /* decoded offsets stay far from wrap-around */

static uint64_t zz_enc(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static int64_t zz_dec(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

static int put_var(uint8_t *out, uint64_t v)
{
    int n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* Canonical LEB128: at most 10 bytes, no bits past 64, no trailing zero
 * continuation byte (so every value has exactly one encoding). */
static int get_var(upd_op_cursor *c, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (c->p >= c->end)
            return UPD_E_OP_DECODE;
        uint8_t b = *c->p++;
        if (shift == 63 && b > 1)
            return UPD_E_OP_DECODE;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && shift)
                return UPD_E_OP_DECODE;
            *v = r;
            return 0;
        }
    }
    return UPD_E_OP_DECODE;
}

/* BASE + zigzag delta, refused when the result leaves [0, OFF_LIMIT). */
static int get_rel(upd_op_cursor *c, uint64_t base, uint64_t *out)
{
    uint64_t u;
    if (get_var(c, &u) < 0)
        return UPD_E_OP_DECODE;
    int64_t d = zz_dec(u);
    if (d < 0 ? (uint64_t)-(d + 1) + 1 > base : (uint64_t)d >= OFF_LIMIT - base)
        return UPD_E_OP_DECODE;
    *out = base + (uint64_t)d;
    return 0;
}

static int get_abs(upd_op_cursor *c, uint64_t *out)
{
    if (get_var(c, out) < 0 || *out >= OFF_LIMIT)
        return UPD_E_OP_DECODE;
    return 0;
}

static int get_len(upd_op_cursor *c, uint64_t start, uint64_t *len)
{
    if (get_abs(c, len) < 0 || *len == 0 || *len >= OFF_LIMIT - start)
        return UPD_E_OP_DECODE;
    return 0;
}

void upd_op_cursor_init(upd_op_cursor *c, const void *ctrl, size_t len)
{
    c->p = ctrl;
    c->end = c->p + len;
    c->prev_end = 0;
}

int upd_op_next(upd_op_cursor *c, upd_op *op)
{
    if (c->p == c->end)
        return 0;
    uint8_t b = *c->p++;
    memset(op, 0, sizeof *op);
    op->kind = (upd_op_kind)(b & KIND_MASK);
    if (b & ~KIND_MASK)
        return UPD_E_OP_DECODE;
    switch (op->kind) {
    case UPD_OP_COPY:
    case UPD_OP_DIFF:
        if (get_rel(c, c->prev_end, &op->dst) < 0)
            return UPD_E_OP_DECODE;
        if (get_rel(c, op->dst, &op->src) < 0)
            return UPD_E_OP_DECODE;
        if (get_len(c, op->dst > op->src ? op->dst : op->src, &op->len) < 0)
            return UPD_E_OP_DECODE;
        break;
    case UPD_OP_LIT:
    case UPD_OP_FILL:
        if (get_rel(c, c->prev_end, &op->dst) < 0 || get_len(c, op->dst, &op->len) < 0)
            return UPD_E_OP_DECODE;
        if (op->kind == UPD_OP_FILL) {
            if (c->p >= c->end)
                return UPD_E_OP_DECODE;
            op->fill = *c->p++;
        }
        break;
    case UPD_OP_STASH:
        if (get_rel(c, c->prev_end, &op->src) < 0 || get_len(c, op->src, &op->len) < 0)
            return UPD_E_OP_DECODE;
        return 1;   /* a save writes no image byte: the delta base stays */
    case UPD_OP_RESIZE:
        if (get_abs(c, &op->len) < 0)
            return UPD_E_OP_DECODE;
        return 1;
    default:
        return UPD_E_OP_DECODE;
    }
    c->prev_end = op->dst + op->len;
    return 1;
}

int upd_op_encode(const upd_op *op, uint64_t *prev_end, uint8_t *out)
{
    int n = 0;
    if (!op || !prev_end || !out || op->dst >= OFF_LIMIT || op->src >= OFF_LIMIT
        || op->len >= OFF_LIMIT)
        return UPD_E_INVAL;
    /* the decoder bounds len by the larger of the offsets it reads */
    uint64_t base = op->dst;
    if ((op->kind == UPD_OP_STASH || op->kind == UPD_OP_COPY || op->kind == UPD_OP_DIFF)
        && op->src > op->dst)
        base = op->src;
    if (op->kind != UPD_OP_RESIZE && (op->len == 0 || op->len >= OFF_LIMIT - base))
        return UPD_E_INVAL;
    if (op->kind == UPD_OP_STASH && op->dst)
        return UPD_E_INVAL;
    out[n++] = (uint8_t)op->kind;
    switch (op->kind) {
    case UPD_OP_COPY:
    case UPD_OP_DIFF:
        n += put_var(out + n, zz_enc((int64_t)(op->dst - *prev_end)));
        n += put_var(out + n, zz_enc((int64_t)(op->src - op->dst)));
        n += put_var(out + n, op->len);
        break;
    case UPD_OP_LIT:
    case UPD_OP_FILL:
        n += put_var(out + n, zz_enc((int64_t)(op->dst - *prev_end)));
        n += put_var(out + n, op->len);
        if (op->kind == UPD_OP_FILL)
            out[n++] = op->fill;
        break;
    case UPD_OP_STASH:
        n += put_var(out + n, zz_enc((int64_t)(op->src - *prev_end)));
        n += put_var(out + n, op->len);
        return n;
    case UPD_OP_RESIZE:
        n += put_var(out + n, op->len);
        return n;
    default:
        return UPD_E_INVAL;
    }
    *prev_end = op->dst + op->len;
    return n;
}
