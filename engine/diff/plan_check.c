/* The schedule simulator: replays a schedule on a copy of the old image
 * under the applier's rules before anything is emitted (blockimgdiff's
 * AssertSequenceGood, made exact):
 *   - an op never reads an image range an earlier op wrote (the applier's
 *     own stale-read check, same range-set code);
 *   - what an op reads, image or stash, is exactly the old bytes its diff
 *     was computed against;
 *   - the final image equals the new image, byte for byte.
 * It needs one image copy and the stash in memory: cheap next to the
 * suffix array. */
#include "diff_internal.h"
#include "../common/check.h"
#include "../common/rangeset.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *img, *stash;
    uint64_t size, low;
    upd_rangeset written, filled;  /* exactly the applier's two sets */
    uint32_t written_peak, filled_peak;
} sim;

/* Add to SET as the applier will, and keep its peak size. */
static int track(upd_rangeset *set, uint32_t *peak, uint64_t lo, uint64_t hi)
{
    if (upd_rangeset_add(set, lo, hi) < 0)
        return UPD_E_NOMEM;
    if (set->count > *peak)
        *peak = set->count;
    return 0;
}

static int sim_op(sim *s, const upd_gop *g, const uint8_t *old, size_t oldn,
                  const uint8_t *nw, uint64_t stash_size)
{
    uint64_t old_valid = oldn < s->low ? oldn : s->low;
    if (g->kind == UPD_OP_RESIZE) {
        s->size = g->len;
        if (g->len < s->low)
            s->low = g->len;
        return 0;
    }
    if (g->kind == UPD_OP_STASH) {
        if (upd_range_exceeds(g->dst, g->len, stash_size)
            || upd_range_exceeds(g->src, g->len, old_valid)
            || upd_rangeset_intersects(&s->written, g->src, g->src + g->len)
            || memcmp(s->img + g->src, old + g->src, g->len))
            return UPD_E_PLAN;
        memcpy(s->stash + g->dst, s->img + g->src, g->len);
        return track(&s->filled, &s->filled_peak, g->dst, g->dst + g->len);
    }
    if (upd_range_exceeds(g->dst, g->len, s->size))
        return UPD_E_PLAN;
    if (g->kind == UPD_OP_COPY || g->kind == UPD_OP_DIFF) {
        if (upd_range_exceeds(g->data, g->len, oldn))
            return UPD_E_PLAN;
        if (g->from_stash) {
            if (upd_range_exceeds(g->src, g->len, stash_size)
                || memcmp(s->stash + g->src, old + g->data, g->len))
                return UPD_E_PLAN;
        } else if (g->src != g->data || upd_range_exceeds(g->src, g->len, old_valid)
                   || upd_rangeset_intersects(&s->written, g->src, g->src + g->len)
                   || memcmp(s->img + g->src, old + g->src, g->len)) {
            return UPD_E_PLAN;
        }
        if (g->kind == UPD_OP_COPY && memcmp(old + g->data, nw + g->dst, g->len))
            return UPD_E_PLAN;
    } else if (g->kind == UPD_OP_FILL) {
        for (uint64_t i = 0; i < g->len; i++)
            if (nw[g->dst + i] != g->fill)
                return UPD_E_PLAN;
    } else if (g->kind != UPD_OP_LIT) {
        return UPD_E_PLAN;
    }
    memcpy(s->img + g->dst, nw + g->dst, g->len);
    return track(&s->written, &s->written_peak, g->dst, g->dst + g->len);
}

int upd_plan_check(const upd_gops *sched, const uint8_t *old_img, size_t old_len,
                   const uint8_t *new_img, size_t new_len, upd_plan_info *info)
{
    size_t max = old_len > new_len ? old_len : new_len;
    uint64_t stash_size = info->stash_size;
    sim s = { malloc(max ? max : 1), malloc(stash_size ? stash_size : 1), old_len, old_len };
    int rc = 0;
    if (!s.img || !s.stash)
        rc = UPD_E_NOMEM;
    if (!rc) {
        memcpy(s.img, old_img, old_len);
        memset(s.img + old_len, 0, max - old_len);
        upd_rangeset_init(&s.written, UINT32_MAX - 2);
        upd_rangeset_init(&s.filled, UINT32_MAX - 2);
    }
    for (size_t i = 0; !rc && i < sched->n; i++) {
        if (sched->v[i].dst + sched->v[i].len > max && sched->v[i].kind != UPD_OP_RESIZE
            && sched->v[i].kind != UPD_OP_STASH)
            rc = UPD_E_PLAN;
        else
            rc = sim_op(&s, &sched->v[i], old_img, old_len, new_img, stash_size);
    }
    if (!rc && (s.size != new_len || memcmp(s.img, new_img, new_len)))
        rc = UPD_E_PLAN;
    info->write_ranges = s.written_peak;
    info->stash_ranges = s.filled_peak;
    upd_rangeset_free(&s.written);
    upd_rangeset_free(&s.filled);
    free(s.img);
    free(s.stash);
    return rc;
}
