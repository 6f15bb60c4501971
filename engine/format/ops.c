/* Operation encoding: one kind byte, then LEB128 varints, each field in
 * the stream of its kind (kinds, destinations, sources, lengths), because
 * zstd models a stream of like values far better than one interleaved
 * sequence (typescript 5.9 -> 6.0: the control region 13% smaller).  Image
 * offsets are delta-coded (zigzag) against a base that follows the
 * previous image write, because ops cluster and code moves by small
 * amounts (Burns et al. measured explicit 4-byte offsets costing 16%).  An
 * in-place schedule writes runs both upward (data shifted down) and
 * downward (data shifted up by an insert), so a write is coded either up
 * from the base (the base becomes its end) or down from it (the base
 * becomes its start): either way a contiguous run costs a 0 delta per op.
 * The shorter coding is the only valid one, so every op sequence still has
 * exactly one encoding.  A source is coded as its shift (src - dst) less
 * the previous COPY or DIFF's shift: consecutive covers of one alignment,
 * or across an edit that keeps the length, code 0. */
#include "updelta/format.h"
#include "../common/check.h"

#include <stdint.h>
#include <string.h>

#define KIND_MASK   0x07u
#define DOWN        0x08u         /* write coded down from the base */
#define OFF_LIMIT   (1ull << 62)   /* decoded offsets stay far from wrap-around */

enum { S_KIND, S_DST, S_SRC, S_LEN };

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

/* Canonical LEB128 from [*p, end): at most 10 bytes, no bits past 64, no
 * trailing zero continuation byte (so every value has exactly one
 * encoding). */
static int read_var(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return UPD_E_OP_DECODE;
        uint8_t b = *(*p)++;
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

static int get_var(upd_op_cursor *c, int stream, uint64_t *v)
{
    return read_var(&c->s[stream], c->end[stream], v);
}

/* BASE + zigzag delta U, refused when the result leaves [0, OFF_LIMIT). */
static int add_rel(uint64_t base, uint64_t u, uint64_t *out)
{
    int64_t d = zz_dec(u);
    if (d < 0 ? (uint64_t)-(d + 1) + 1 > base : (uint64_t)d >= OFF_LIMIT - base)
        return UPD_E_OP_DECODE;
    *out = base + (uint64_t)d;
    return 0;
}

/* The two codings of a write [dst, dst+len) against BASE: up (dst - base)
 * and down (base - (dst + len)), as zigzag values.  All three are below
 * 2^62, so the differences fit in 64 bits. */
static uint64_t code_up(uint64_t base, uint64_t dst)
{
    return zz_enc((int64_t)(dst - base));
}

static uint64_t code_down(uint64_t base, uint64_t dst, uint64_t len)
{
    return zz_enc((int64_t)(base - dst - len));
}

/* Down coding is used exactly when it is the smaller value (canonical). */
static int use_down(uint64_t base, uint64_t dst, uint64_t len)
{
    return code_down(base, dst, len) < code_up(base, dst);
}

/* Destination from its coded value U (read before LEN, applied after). */
static int get_dst(uint64_t base, uint64_t u, int down, uint64_t len, uint64_t *dst)
{
    if (!down)
        return add_rel(base, u, dst);
    int64_t d = zz_dec(u);   /* dst + len = base - d */
    if (d > 0 ? (uint64_t)d > base : (uint64_t)-(d + 1) + 1 >= OFF_LIMIT - base)
        return UPD_E_OP_DECODE;
    uint64_t end = base - (uint64_t)d;
    if (end < len)
        return UPD_E_OP_DECODE;
    *dst = end - len;
    return 0;
}

/* Source of a write at DST from its coded value U: the shift PREV + zz(U),
 * refused when the source leaves [0, OFF_LIMIT). */
static int get_src(int64_t prev, uint64_t u, uint64_t dst, uint64_t *src, int64_t *shift)
{
    int64_t d = zz_dec(u);
    if (d > 0 ? prev > INT64_MAX - d : prev < INT64_MIN - d)
        return UPD_E_OP_DECODE;
    int64_t sh = prev + d;
    if (sh < 0 ? 0 - (uint64_t)sh > dst : (uint64_t)sh >= OFF_LIMIT - dst)
        return UPD_E_OP_DECODE;
    *src = dst + (uint64_t)sh;
    *shift = sh;
    return 0;
}

static int get_abs(upd_op_cursor *c, int stream, uint64_t *out)
{
    if (get_var(c, stream, out) < 0 || *out >= OFF_LIMIT)
        return UPD_E_OP_DECODE;
    return 0;
}

static int get_len(upd_op_cursor *c, uint64_t start, uint64_t *len)
{
    if (get_abs(c, S_LEN, len) < 0 || *len == 0 || *len >= OFF_LIMIT - start)
        return UPD_E_OP_DECODE;
    return 0;
}

int upd_op_cursor_init(upd_op_cursor *c, const void *ctrl, size_t len)
{
    memset(c, 0, sizeof *c);
    if (!ctrl || len < 3)   /* the head alone takes 3 bytes (and NULL + 0 is undefined) */
        return UPD_E_OP_DECODE;
    const uint8_t *p = ctrl, *end = p + len;
    uint64_t n[3];
    for (int i = 0; i < 3; i++)
        if (read_var(&p, end, &n[i]) < 0)
            return UPD_E_OP_DECODE;
    for (int i = 0; i < 3; i++) {
        if (n[i] > (uint64_t)(end - p))
            return UPD_E_OP_DECODE;
        c->s[i] = p;
        c->end[i] = p += n[i];
    }
    c->s[S_LEN] = p;
    c->end[S_LEN] = end;
    return 0;
}

int upd_op_next(upd_op_cursor *c, upd_op *op)
{
    if (c->s[S_KIND] == c->end[S_KIND]) {
        for (int i = S_DST; i <= S_LEN; i++)
            if (c->s[i] != c->end[i])
                return UPD_E_OP_DECODE;   /* fields no op owns */
        return 0;
    }
    uint8_t b = *c->s[S_KIND]++;
    memset(op, 0, sizeof *op);
    op->kind = (upd_op_kind)(b & KIND_MASK);
    int down = (b & DOWN) != 0;
    if (b & ~(KIND_MASK | DOWN))
        return UPD_E_OP_DECODE;
    uint64_t ud, us = 0;
    switch (op->kind) {
    case UPD_OP_COPY:
    case UPD_OP_DIFF:
    case UPD_OP_LIT:
    case UPD_OP_FILL: {
        int reads = op->kind == UPD_OP_COPY || op->kind == UPD_OP_DIFF;
        int64_t shift = 0;
        if (get_var(c, S_DST, &ud) < 0 || (reads && get_var(c, S_SRC, &us) < 0)
            || get_abs(c, S_LEN, &op->len) < 0 || !op->len
            || get_dst(c->prev_end, ud, down, op->len, &op->dst) < 0)
            return UPD_E_OP_DECODE;
        if (reads && get_src(c->prev_shift, us, op->dst, &op->src, &shift) < 0)
            return UPD_E_OP_DECODE;
        uint64_t start = op->dst > op->src ? op->dst : op->src;
        if (op->len >= OFF_LIMIT - start || use_down(c->prev_end, op->dst, op->len) != down)
            return UPD_E_OP_DECODE;
        if (op->kind == UPD_OP_FILL) {
            if (c->s[S_LEN] >= c->end[S_LEN])
                return UPD_E_OP_DECODE;
            op->fill = *c->s[S_LEN]++;
        }
        c->prev_end = down ? op->dst : op->dst + op->len;
        if (reads)
            c->prev_shift = shift;
        return 1;
    }
    case UPD_OP_STASH:
    case UPD_OP_DROP:
        if (down || get_var(c, S_SRC, &us) < 0 || add_rel(c->prev_end, us, &op->src) < 0
            || get_len(c, op->src, &op->len) < 0)
            return UPD_E_OP_DECODE;
        /* a save writes no image byte: the delta base stays; DROPs come in
         * a run, each coded from the end of the one before */
        if (op->kind == UPD_OP_DROP)
            c->prev_end = op->src + op->len;
        return 1;
    case UPD_OP_RESIZE:
        if (down || get_abs(c, S_LEN, &op->len) < 0)
            return UPD_E_OP_DECODE;
        return 1;
    default:
        return UPD_E_OP_DECODE;
    }
}

int upd_op_encode(const upd_op *op, upd_op_base *b, uint8_t *out, uint8_t part[4])
{
    if (!op || !b || !out || !part || op->dst >= OFF_LIMIT || op->src >= OFF_LIMIT
        || op->len >= OFF_LIMIT || b->prev_end >= OFF_LIMIT || b->prev_shift >= (int64_t)OFF_LIMIT
        || b->prev_shift <= -(int64_t)OFF_LIMIT)
        return UPD_E_INVAL;
    /* the decoder bounds len by the larger of the offsets it reads */
    uint64_t start = op->dst;
    int saves = op->kind == UPD_OP_STASH || op->kind == UPD_OP_DROP;
    if ((saves || op->kind == UPD_OP_COPY || op->kind == UPD_OP_DIFF) && op->src > op->dst)
        start = op->src;
    if (op->kind != UPD_OP_RESIZE && (op->len == 0 || op->len >= OFF_LIMIT - start))
        return UPD_E_INVAL;
    if (saves && op->dst)
        return UPD_E_INVAL;
    if (op->kind < UPD_OP_COPY || op->kind > UPD_OP_DROP)
        return UPD_E_INVAL;
    int writes = op->kind <= UPD_OP_FILL, reads = op->kind <= UPD_OP_DIFF;
    int down = writes && use_down(b->prev_end, op->dst, op->len);
    int64_t shift = (int64_t)(op->src - op->dst);
    uint8_t *p = out;
    *p++ = (uint8_t)(op->kind | (down ? DOWN : 0));
    part[S_KIND] = 1;
    uint8_t *q = p;
    if (writes)
        p += put_var(p, down ? code_down(b->prev_end, op->dst, op->len)
                             : code_up(b->prev_end, op->dst));
    part[S_DST] = (uint8_t)(p - q);
    q = p;
    if (reads)
        p += put_var(p, zz_enc(shift - b->prev_shift));   /* both in (-2^62, 2^62): fits */
    else if (saves)
        p += put_var(p, zz_enc((int64_t)(op->src - b->prev_end)));
    part[S_SRC] = (uint8_t)(p - q);
    q = p;
    p += put_var(p, op->len);
    if (op->kind == UPD_OP_FILL)
        *p++ = op->fill;
    part[S_LEN] = (uint8_t)(p - q);
    if (writes)
        b->prev_end = down ? op->dst : op->dst + op->len;
    else if (op->kind == UPD_OP_DROP)
        b->prev_end = op->src + op->len;
    if (reads)
        b->prev_shift = shift;
    return (int)(p - out);
}

size_t upd_ctrl_bound(size_t n)
{
    return UPD_CTRL_HEAD_MAX + n * UPD_OP_MAX_ENCODED;
}

int upd_ctrl_encode(const upd_op *ops, size_t n, void *out, size_t cap, size_t *len)
{
    uint8_t tmp[UPD_OP_MAX_ENCODED], part[4];
    uint64_t size[4] = { 0 };
    upd_op_base b = { 0 };
    for (size_t i = 0; i < n; i++) {
        if (upd_op_encode(&ops[i], &b, tmp, part) < 0)
            return UPD_E_INVAL;
        for (int k = 0; k < 4; k++)
            size[k] += part[k];
    }
    uint8_t head[UPD_CTRL_HEAD_MAX];
    size_t h = 0;
    for (int k = 0; k < 3; k++)
        h += (size_t)put_var(head + h, size[k]);
    uint64_t total = h + size[0] + size[1] + size[2] + size[3];
    if (!out || !len || total > cap)
        return UPD_E_LIMIT;
    uint8_t *at[4], *o = out;
    memcpy(o, head, h);
    at[0] = o + h;
    for (int k = 1; k < 4; k++)
        at[k] = at[k - 1] + size[k - 1];
    b = (upd_op_base){ 0 };
    for (size_t i = 0; i < n; i++) {
        const uint8_t *f = tmp;
        upd_op_encode(&ops[i], &b, tmp, part);   /* encoded above: valid */
        for (int k = 0; k < 4; k++) {
            memcpy(at[k], f, part[k]);
            at[k] += part[k];
            f += part[k];
        }
    }
    *len = (size_t)total;
    return 0;
}

/* ---- sparse DIFF payload ------------------------------------------------ */

void upd_sparse_init(upd_sparse_cursor *c, const void *runs, size_t runs_len, const void *bytes,
                     size_t bytes_len, size_t tail_len)
{
    c->run = runs;
    c->run_end = c->run + runs_len;
    c->byte = bytes;
    c->byte_end = c->byte + (bytes_len - tail_len);
    c->tail = tail_len ? c->byte_end : NULL;
    c->tail_end = tail_len ? c->byte_end + tail_len : NULL;
}

/* Where the byte of a record with a run of Z comes from. */
static const uint8_t **byte_src(upd_sparse_cursor *c, uint64_t z, const uint8_t **end)
{
    int tail = z == 0 && c->tail;
    *end = tail ? c->tail_end : c->byte_end;
    return tail ? &c->tail : &c->byte;
}

int upd_sparse_next(upd_sparse_cursor *c, uint64_t pos, uint64_t len, uint64_t *z, uint8_t *b)
{
    if (c->run >= c->run_end)
        return UPD_E_OP_STREAM;
    if (read_var(&c->run, c->run_end, z) < 0 || *z > len - pos)
        return UPD_E_OP_DECODE;
    if (*z == len - pos)
        return 0;
    const uint8_t *end, **src = byte_src(c, *z, &end);
    if (*src >= end)
        return UPD_E_OP_STREAM;
    *b = *(*src)++;
    return *b ? 1 : UPD_E_OP_DECODE;
}

/* upd_sparse_skip with SPLIT a constant, so that each kind of segment gets
 * a loop of its own: the record-order one as lean as before tails.  Split,
 * heads and tails alternate without a pattern, so the stream is picked by
 * index, not by a branch (mariadbd's three split segments: this loop took
 * 5.9% of the apply with a branch, 4.2% by index, against 2.5% for the
 * record-order loop on format 5's package). */
static inline int skip_records(upd_sparse_cursor *c, uint64_t len, const unsigned split)
{
    uint64_t pos = 0, z;
    uint8_t b;
    const uint8_t *r = c->run, *p[2] = { c->byte, c->tail }, *e[2] = { c->byte_end, c->tail_end };
    for (;;) {
        /* the common record, a one-byte run before a byte, inline (a
         * segment holds millions); the rest through upd_sparse_next */
        if (r < c->run_end && *r < 0x80 && *r < len - pos) {
            const unsigned k = split & (*r == 0);
            if (p[k] < e[k] && *p[k]) {
                pos += *r++ + 1u;
                p[k]++;
                continue;
            }
        }
        c->run = r;
        c->byte = p[0];
        c->tail = p[1];
        int rc = upd_sparse_next(c, pos, len, &z, &b);
        r = c->run;
        p[0] = c->byte;
        p[1] = c->tail;
        if (rc <= 0)
            return rc;
        pos += z + 1;
    }
}

int upd_sparse_skip(upd_sparse_cursor *c, uint64_t len)
{
    return c->tail ? skip_records(c, len, 1) : skip_records(c, len, 0);
}

int upd_sparse_split_op(upd_sparse_cursor *c, uint64_t len, uint8_t *heads, size_t *nh,
                        uint8_t *tails, size_t *nt)
{
    uint64_t pos = 0, z;
    uint8_t b;
    int rc;
    while ((rc = upd_sparse_next(c, pos, len, &z, &b)) > 0) {
        if (z)
            heads[(*nh)++] = b;
        else
            tails[(*nt)++] = b;
        pos += z + 1;
    }
    return rc;
}

void upd_sparse_writer_init(upd_sparse_writer *w, void *runs, size_t runs_cap, void *bytes,
                            size_t bytes_cap)
{
    w->run = runs;
    w->run_end = w->run + runs_cap;
    w->byte = bytes;
    w->byte_end = w->byte + bytes_cap;
    w->zeros = 0;
}

static int put_run(upd_sparse_writer *w)
{
    uint8_t v[10];
    size_t n = (size_t)put_var(v, w->zeros);
    if ((size_t)(w->run_end - w->run) < n)
        return UPD_E_LIMIT;
    memcpy(w->run, v, n);
    w->run += n;
    w->zeros = 0;
    return 0;
}

int upd_sparse_write(upd_sparse_writer *w, const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t z = upd_zero_prefix(d + i, n - i);   /* a dense diff is mostly zeros */
        w->zeros += z;
        i += z;
        if (i == n)
            break;
        if (w->byte == w->byte_end)
            return UPD_E_LIMIT;
        /* the common record, a run shorter than 128, in one byte (the
         * LZMA2 form's decode spends a sixth of its time here) */
        if (w->zeros < 0x80 && w->run < w->run_end) {
            *w->run++ = (uint8_t)w->zeros;
            w->zeros = 0;
        } else {
            UPD_CHECK(put_run(w));
        }
        *w->byte++ = d[i];
    }
    return 0;
}

int upd_sparse_write_end(upd_sparse_writer *w)
{
    return put_run(w);
}

void upd_sparse_encode(const uint8_t *old_img, const uint8_t *new_img, size_t len, uint8_t *runs,
                       size_t *runs_len, uint8_t *bytes, size_t *bytes_len)
{
    uint8_t var[10];
    size_t nr = 0, nb = 0, zero = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t d = (uint8_t)(new_img[i] - old_img[i]);
        if (!d) {
            zero++;
            continue;
        }
        int n = put_var(runs ? runs + nr : var, zero);
        nr += (size_t)n;
        if (bytes)
            bytes[nb] = d;
        nb++;
        zero = 0;
    }
    nr += (size_t)put_var(runs ? runs + nr : var, zero);
    *runs_len = nr;
    *bytes_len = nb;
}
