/* The schedule simulator: replays a schedule on a copy of the old image
 * under the applier's rules before anything is emitted (blockimgdiff's
 * AssertSequenceGood, made exact):
 *   - an op reads old bytes only where no earlier op wrote, or where an
 *     earlier STASH saved them (the applier's own checks, same range sets);
 *   - what an op reads, from the image or the stash, is exactly the old
 *     bytes its diff was computed against;
 *   - the final image equals the new image, byte for byte.
 * It also measures the peaks of the applier's two range sets, which the
 * header declares.  Cost: one image copy and the stash, in memory. */
#include "diff_internal.h"
#include "../common/check.h"
#include "../common/rangeset.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *img, *stash;
    uint64_t size, low, stash_end;
    upd_rangeset written, saved;   /* exactly the applier's two sets */
    uint32_t written_peak, saved_peak;
} sim;

static int peak(const upd_rangeset *set, uint32_t *p)
{
    if (set->count > *p)
        *p = set->count;
    return 0;
}

/* Old bytes [x, x+n) as the applier would read them now, compared with OLD. */
static int read_ok(const sim *s, const uint8_t *old, uint64_t x, uint64_t n)
{
    uint64_t end = x + n, lo, hi, val;
    while (x < end) {
        int found = upd_rangeset_next(&s->saved, x, &lo, &hi, &val);
        if (found && lo <= x) {
            uint64_t stop = hi < end ? hi : end;
            if (memcmp(s->stash + val + (x - lo), old + x, stop - x))
                return 0;
            x = stop;
            continue;
        }
        uint64_t stop = found && lo < end ? lo : end;
        if (upd_rangeset_intersects(&s->written, x, stop) || memcmp(s->img + x, old + x, stop - x))
            return 0;
        x = stop;
    }
    return 1;
}

static int sim_op(sim *s, const upd_gop *g, const uint8_t *old, size_t oldn,
                  const uint8_t *nw, uint64_t stash_size)
{
    uint64_t old_valid = oldn < s->low ? oldn : s->low;
    switch (g->kind) {
    case UPD_OP_RESIZE:
        s->size = g->len;
        if (g->len < s->low)
            s->low = g->len;
        return 0;
    case UPD_OP_STASH:
        if (upd_range_exceeds(s->stash_end, g->len, stash_size)
            || upd_range_exceeds(g->src, g->len, old_valid)
            || upd_rangeset_intersects(&s->written, g->src, g->src + g->len)
            || memcmp(s->img + g->src, old + g->src, g->len)
            || upd_rangemap_add(&s->saved, g->src, g->src + g->len, s->stash_end) < 0)
            return UPD_E_PLAN;
        memcpy(s->stash + s->stash_end, s->img + g->src, g->len);
        s->stash_end += g->len;
        return peak(&s->saved, &s->saved_peak);
    case UPD_OP_COPY:
    case UPD_OP_DIFF:
        if (g->src != g->data || upd_range_exceeds(g->src, g->len, old_valid)
            || !read_ok(s, old, g->src, g->len))
            return UPD_E_PLAN;
        if (g->kind == UPD_OP_COPY && memcmp(old + g->src, nw + g->dst, g->len))
            return UPD_E_PLAN;
        break;
    case UPD_OP_FILL:
        for (uint64_t i = 0; i < g->len; i++)
            if (nw[g->dst + i] != g->fill)
                return UPD_E_PLAN;
        break;
    case UPD_OP_DROP:
        if (upd_range_exceeds(g->src, g->len, oldn)
            || upd_rangeset_remove(&s->saved, g->src, g->src + g->len) < 0)
            return UPD_E_PLAN;
        return peak(&s->saved, &s->saved_peak);   /* a cut in two adds a range */
    case UPD_OP_LIT:
        break;
    default:
        return UPD_E_PLAN;
    }
    if (upd_range_exceeds(g->dst, g->len, s->size))
        return UPD_E_PLAN;
    memcpy(s->img + g->dst, nw + g->dst, g->len);
    if (upd_rangeset_add(&s->written, g->dst, g->dst + g->len) < 0)
        return UPD_E_NOMEM;
    return peak(&s->written, &s->written_peak);
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
        if (old_len)
            memcpy(s.img, old_img, old_len);
        memset(s.img + old_len, 0, max - old_len);
        upd_rangeset_init(&s.written, UINT32_MAX - 2);
        upd_rangemap_init(&s.saved, UINT32_MAX - 2);
    }
    for (size_t i = 0; !rc && i < sched->n; i++) {
        const upd_gop *g = &sched->v[i];
        if (upd_gop_writes(g) && g->dst + g->len > max)
            rc = UPD_E_PLAN;
        else
            rc = sim_op(&s, g, old_img, old_len, new_img, stash_size);
    }
    if (!rc && (s.size != new_len || (new_len && memcmp(s.img, new_img, new_len))))
        rc = UPD_E_PLAN;
    info->write_ranges = s.written_peak;
    info->stash_ranges = s.saved_peak;
    upd_rangeset_free(&s.written);
    upd_rangeset_free(&s.saved);
    free(s.img);
    free(s.stash);
    return rc;
}
