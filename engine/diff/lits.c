/* Literal dictionaries.  New text is mostly made of pieces of the text
 * around it, which the matcher's long covers miss: compressed against the
 * image around them, literals shrink by a fifth to a third (lodash.js,
 * typescript.js).  The old image cannot serve as that dictionary in place
 * (the segment's own writes destroy it), the new one can: the applier reads
 * the window from the target after the segment's other ops have run, once
 * every byte in it is final.  So a segment's LITs run last, and its window
 * holds no byte a later segment writes; the applier refuses any write into
 * a window after it was taken (UPD_E_OP_DICT), so a re-run after a crash
 * decodes the same literals.  The segment's own LIT bytes in the window are
 * zeroed on both sides: they change while the frame is in use. */
#include "diff_internal.h"
#include "../common/check.h"
#include "../common/rangeset.h"

#include <stdlib.h>
#include <string.h>

int upd_lits_last(upd_gops *sched, const upd_cuts *cuts)
{
    upd_gop *tmp = NULL;
    size_t cap = 0;
    for (size_t k = 0; k + 1 < cuts->n; k++) {
        size_t a = cuts->v[k], e = cuts->v[k + 1], o = a, nl = 0;
        if (e - a > cap) {
            free(tmp);
            cap = e - a;
            tmp = malloc(cap * sizeof *tmp);
            if (!tmp)
                return UPD_E_NOMEM;
        }
        for (size_t i = a; i < e; i++) {
            if (sched->v[i].kind == UPD_OP_LIT)
                tmp[nl++] = sched->v[i];
            else
                sched->v[o++] = sched->v[i];
        }
        memcpy(sched->v + o, tmp, nl * sizeof *tmp);
    }
    free(tmp);
    return 0;
}

/* What segment K changes in the image: its writes, and what a shrink cuts. */
static int add_writes(const upd_gops *sched, size_t a, size_t e, upd_rangeset *later)
{
    for (size_t i = a; i < e; i++) {
        const upd_gop *g = &sched->v[i];
        if (g->kind == UPD_OP_RESIZE)
            UPD_CHECK(upd_rangeset_add(later, g->len, UPD_MAX_IMAGE + 1));
        else if (upd_gop_writes(g))
            UPD_CHECK(upd_rangeset_add(later, g->dst, g->dst + g->len));
    }
    return 0;
}

int upd_dict_windows(const upd_gops *sched, const upd_cuts *cuts, uint32_t max, upd_window *w)
{
    size_t nseg = cuts->n ? cuts->n - 1 : 0;
    upd_rangeset later;
    /* a range per write at most */
    upd_rangeset_init(&later, (uint32_t)(sched->n < INT32_MAX ? sched->n : INT32_MAX));
    int rc = 0;
    /* last segment first: LATER holds what the segments after K write */
    for (size_t k = nseg; !rc && k-- > 0;) {
        uint64_t end = 0;
        for (size_t i = cuts->v[k]; i < cuts->v[k + 1]; i++) {
            const upd_gop *g = &sched->v[i];
            if (g->kind == UPD_OP_LIT && g->dst + g->len > end)
                end = g->dst + g->len;
        }
        uint64_t lo = end > max ? end - max : 0, rlo, rhi, val;
        for (uint64_t x = lo; x < end && upd_rangeset_next(&later, x, &rlo, &rhi, &val) && rlo < end;
             x = rhi)
            lo = rhi;
        w[k] = lo < end ? (upd_window){ lo, (uint32_t)(end - lo) } : (upd_window){ 0, 0 };
        rc = add_writes(sched, cuts->v[k], cuts->v[k + 1], &later);
    }
    upd_rangeset_free(&later);
    return rc;
}

int upd_dict_frozen_peak(const upd_window *w, size_t n, uint32_t *peak)
{
    upd_rangeset frozen;
    upd_rangeset_init(&frozen, (uint32_t)n);
    int rc = 0;
    *peak = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        if (!w[i].len)
            continue;
        rc = upd_rangeset_add(&frozen, w[i].off, w[i].off + w[i].len);
        if (frozen.count > *peak)
            *peak = frozen.count;
    }
    upd_rangeset_free(&frozen);
    return rc;
}
