/* Covers -> operations.
 *
 * Bytes that are the same at the same offset in both images need no
 * operation at all, whatever the matcher chose for them (a zero run matched
 * somewhere else, an identity cover's zero diff).  In a literal stretch or
 * a shifted cover any run of at least same_run (64 by default) such bytes
 * is cut out of the ops around it, so applying it costs no read and no
 * write.  A cover over its own offset stays one DIFF with its unchanged
 * runs inside: they are zero diff bytes, which the sparse payload stores
 * as one run length, where a cut costs an op and a write range per hole;
 * in place the applier leaves such runs alone (exec.c).  Literal
 * stretches made of one repeated byte become FILL.  Every op is at most UPD_PIECE bytes, so no op outgrows a segment
 * and the scheduler works at a useful granularity. */
#include "diff_internal.h"
#include "../common/check.h"

#include <stdlib.h>
#include <string.h>

#define FILL_RUN 32     /* repeated bytes worth a FILL instead of literals */

typedef struct {
    const uint8_t *old, *nw;
    size_t oldn, newn;
    uint64_t same_run;
    upd_gops *out;
    upd_diff_stats *st;
} builder;

int upd_gops_push(upd_gops *a, const upd_gop *op)
{
    void *grown = upd_grow(a->v, a->n, &a->cap, sizeof *a->v);
    if (!grown)
        return UPD_E_NOMEM;
    a->v = grown;
    a->v[a->n++] = *op;
    return 0;
}

/* Push OP split into pieces of at most UPD_PIECE bytes. */
static int push_pieces(builder *b, upd_gop op)
{
    while (op.len) {
        upd_gop piece = op;
        piece.len = op.len < UPD_PIECE ? op.len : UPD_PIECE;
        UPD_CHECK(upd_gops_push(b->out, &piece));
        op.dst += piece.len;
        op.src += piece.len;
        op.data += piece.len;
        op.len -= piece.len;
    }
    return 0;
}

static int emit_literal(builder *b, uint64_t a, uint64_t e)
{
    const uint8_t *nw = b->nw;
    uint64_t lit = a;
    for (uint64_t x = a; x < e;) {
        uint64_t y = x + 1;
        while (y < e && nw[y] == nw[x])
            y++;
        if (y - x >= FILL_RUN) {
            if (x > lit)
                UPD_CHECK(push_pieces(b, (upd_gop){ .kind = UPD_OP_LIT, .dst = lit, .len = x - lit }));
            UPD_CHECK(push_pieces(b, (upd_gop){ .kind = UPD_OP_FILL, .fill = nw[x], .dst = x,
                                                .len = y - x }));
            lit = y;
        }
        x = y;
    }
    if (e > lit)
        UPD_CHECK(push_pieces(b, (upd_gop){ .kind = UPD_OP_LIT, .dst = lit, .len = e - lit }));
    return 0;
}

/* new[a..e) taken from old at offset a + DELTA: COPY when equal, else DIFF. */
static int emit_cover(builder *b, uint64_t a, uint64_t e, int64_t delta)
{
    uint64_t src = (uint64_t)((int64_t)a + delta);
    int kind = memcmp(b->nw + a, b->old + src, e - a) ? UPD_OP_DIFF : UPD_OP_COPY;
    return push_pieces(b, (upd_gop){ .kind = (uint8_t)kind, .dst = a, .src = src, .data = src,
                                     .len = e - a });
}

/* A cover over its own offset, new[a..e) ~ old[a..e): one DIFF, or
 * nothing when no byte changed.  Its unchanged ends stay in it too: cut,
 * they would save a run varint and cost the next op a non-zero position
 * delta (measured: packages no smaller). */
static int emit_in_place(builder *b, uint64_t a, uint64_t e)
{
    if (!memcmp(b->nw + a, b->old + a, e - a)) {
        b->st->unchanged_bytes += e - a;
        return 0;
    }
    return push_pieces(b, (upd_gop){ .kind = UPD_OP_DIFF, .dst = a, .src = a, .data = a,
                                     .len = e - a });
}

/* Emit new[a..e) as a cover (IS_COVER, source at offset a + DELTA) or as
 * literals, leaving out every long run that is unchanged in place. */
static int emit_region(builder *b, uint64_t a, uint64_t e, int is_cover, int64_t delta)
{
    if (is_cover && delta == 0)
        return emit_in_place(b, a, e);
    uint64_t start = a, x = a;
    uint64_t same_end = e < b->oldn ? e : b->oldn;
    while (x < same_end) {
        if (b->nw[x] != b->old[x]) {
            x++;
            continue;
        }
        uint64_t y = x + 1;
        while (y < same_end && b->nw[y] == b->old[y])
            y++;
        if (y - x >= b->same_run) {
            if (x > start)
                UPD_CHECK(is_cover ? emit_cover(b, start, x, delta) : emit_literal(b, start, x));
            b->st->unchanged_bytes += y - x;
            start = y;
        }
        x = y;
    }
    if (e > start)
        UPD_CHECK(is_cover ? emit_cover(b, start, e, delta) : emit_literal(b, start, e));
    return 0;
}

int upd_build_ops(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len,
                  const upd_covers *cv, uint64_t same_run, upd_gops *out, upd_diff_stats *st)
{
    builder b = { old_img, new_img, old_len, new_len, same_run, out, st };
    uint64_t pos = 0;
    for (size_t i = 0; i < cv->n; i++) {
        const upd_cover *c = &cv->v[i];
        if (c->dst > pos)
            UPD_CHECK(emit_region(&b, pos, c->dst, 0, 0));
        UPD_CHECK(emit_region(&b, c->dst, c->dst + c->len, 1, (int64_t)c->src - (int64_t)c->dst));
        pos = c->dst + c->len;
    }
    if (new_len > pos)
        UPD_CHECK(emit_region(&b, pos, new_len, 0, 0));
    return 0;
}
