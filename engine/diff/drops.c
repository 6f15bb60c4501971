/* DROPs: the applier's map of saved ranges holds a range from its STASH
 * until the package ends, so on an image whose schedule stashes often (many
 * small moves that form cycles) the map, not the image, sets the memory an
 * apply needs: 292,000 ranges (9.4 MB) on a 200 MiB image of shuffled
 * 100-400 byte blocks.  A DROP forgets ranges no later op reads; the map
 * then holds only the live ones.
 *
 * DROPs come first in a segment (the applier validates a whole segment
 * before running it, so a range its validation forgot must not be read by
 * the segment's own ops): a range whose last reader is in segment k is
 * dropped at the start of segment k+1.  Neighbouring dead ranges with no
 * live saved byte between them go in one DROP, so a schedule that works
 * its way through the image drops everything behind it in a few ops.
 * (Android's blockimgdiff frees its stash entries the same way, one
 * command per entry.) */
#include "diff_internal.h"
#include "../common/check.h"
#include "../common/rangeset.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t src, len, off;   /* old range, its stash log offset */
    uint32_t last;            /* segment of its last reader (or its STASH) */
} stashed;

/* The stashed range whose stash bytes hold offset V (offsets increase). */
static size_t find_off(const stashed *v, size_t n, uint64_t off)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].off <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* The applier's saved map, replayed: ranges -> stash log offsets. */
typedef struct {
    upd_rangeset map;
    uint64_t end;             /* stash log bytes so far */
} saves;

static void saves_init(saves *s)
{
    upd_rangemap_init(&s->map, UINT32_MAX - 2);
    s->end = 0;
}

/* G into the map, as the applier does with a STASH; other ops change
 * nothing. */
static int note_stash(saves *s, const upd_gop *g)
{
    if (g->kind != UPD_OP_STASH)
        return 0;
    s->end += g->len;
    return upd_rangemap_add(&s->map, g->src, g->src + g->len, s->end - g->len);
}

/* Every stash op into *OUT, with the segment of its last reader: a read
 * of a saved byte is served from the stash (as the applier does). */
static int last_readers(const upd_gops *sched, const upd_cuts *cuts, stashed **out, size_t *n)
{
    size_t ns = 0;
    for (size_t i = 0; i < sched->n; i++)
        ns += sched->v[i].kind == UPD_OP_STASH;
    stashed *v = malloc((ns ? ns : 1) * sizeof *v);
    if (!v)
        return UPD_E_NOMEM;
    saves sv;
    saves_init(&sv);
    int rc = 0;
    size_t j = 0;
    for (uint32_t k = 0; !rc && k + 1 < cuts->n; k++) {
        for (size_t i = cuts->v[k]; !rc && i < cuts->v[k + 1]; i++) {
            const upd_gop *g = &sched->v[i];
            if (g->kind == UPD_OP_STASH)
                v[j++] = (stashed){ g->src, g->len, sv.end, k };
            rc = note_stash(&sv, g);
            if (g->kind != UPD_OP_COPY && g->kind != UPD_OP_DIFF)
                continue;
            uint64_t x = g->src, end = g->src + g->len, lo, hi, val;
            while (x < end && upd_rangeset_next(&sv.map, x, &lo, &hi, &val) && lo < end) {
                uint64_t a = lo > x ? lo : x, b = hi < end ? hi : end;
                uint64_t s = val + (a - lo), e = val + (b - lo);
                for (size_t t = find_off(v, j, s); t < j && v[t].off < e; t++)
                    v[t].last = k;
                x = b;
            }
        }
    }
    upd_rangeset_free(&sv.map);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *n = j;
    return 0;
}

static int by_last_then_src(const void *x, const void *y)
{
    const stashed *p = x, *q = y;
    if (p->last != q->last)
        return p->last < q->last ? -1 : 1;
    return p->src < q->src ? -1 : p->src > q->src;
}

static void peak(const saves *s, uint32_t *p)
{
    if (s->map.count > *p)
        *p = s->map.count;
}

/* The DROPs that open segment K: DEAD[0..n) sorted by src, joined while no
 * saved byte lies between them (the map as segment K starts; a gap never
 * meets a range dropped before it). */
static int push_drops(upd_gops *out, saves *s, const stashed *dead, size_t n, uint32_t *top)
{
    for (size_t i = 0; i < n;) {
        uint64_t lo = dead[i].src, hi = dead[i].src + dead[i].len;
        for (i++; i < n && !upd_rangeset_intersects(&s->map, hi, dead[i].src); i++)
            hi = dead[i].src + dead[i].len;
        UPD_CHECK(upd_rangeset_remove(&s->map, lo, hi));
        peak(s, top);
        UPD_CHECK(upd_gops_push(out, &(upd_gop){ .kind = UPD_OP_DROP, .src = lo, .len = hi - lo }));
    }
    return 0;
}

int upd_plan_drops(const upd_gops *sched, const upd_cuts *cuts, upd_gops *out,
                   upd_cuts *out_cuts, uint64_t *drop_bytes, uint32_t *saved_peak)
{
    stashed *v = NULL;
    size_t ns = 0;
    *drop_bytes = 0;
    *saved_peak = 0;
    UPD_CHECK(last_readers(sched, cuts, &v, &ns));
    qsort(v, ns, sizeof *v, by_last_then_src);
    out->n = 0;
    out_cuts->n = 0;
    saves sv;
    saves_init(&sv);
    size_t d = 0;
    int rc = 0;
    for (uint32_t k = 0; !rc && k + 1 < cuts->n; k++) {
        rc = upd_cuts_push(out_cuts, out->n);
        /* ranges last read in an earlier segment (none is read in this one) */
        size_t first = d;
        while (d < ns && v[d].last < k)
            d++;
        size_t before = out->n;
        if (!rc)
            rc = push_drops(out, &sv, v + first, d - first, saved_peak);
        uint64_t bytes = (uint64_t)(out->n - before) * UPD_OP_MAX_ENCODED;
        *drop_bytes = bytes > *drop_bytes ? bytes : *drop_bytes;
        for (size_t i = cuts->v[k]; !rc && i < cuts->v[k + 1]; i++) {
            rc = note_stash(&sv, &sched->v[i]);
            peak(&sv, saved_peak);
            if (!rc)
                rc = upd_gops_push(out, &sched->v[i]);
        }
    }
    if (!rc && cuts->n)
        rc = upd_cuts_push(out_cuts, out->n);
    upd_rangeset_free(&sv.map);
    free(v);
    return rc;
}
