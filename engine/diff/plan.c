/* In-place scheduling (Burns, Stockmeyer & Long; Android blockimgdiff).
 *
 * Vertices are the ops; an edge u -> v says u reads old bytes that v
 * overwrites, so u must run first.  Destinations are disjoint and sorted,
 * so each reader finds its edges by binary search.  A vertex's key is the
 * number of bytes it would destroy if it ran now (the unplaced readers of
 * its destination); key 0 means it can run.
 *
 * Order.  Ready vertices run in a preferred order (rank_ops): destination
 * order, with each run of ops that read their left neighbour (data shifted
 * up by an insert, which can only be rewritten top down) reversed.  So the
 * schedule is made of contiguous runs, up or down, which the op encoding
 * codes in a byte each (FORMAT.md 6.2) and the applier writes sequentially.
 *
 * Cuts.  When nothing is ready, a vertex that lies on a cycle (a strongly
 * connected component of the initial graph, find_cycles) is cut: the bytes
 * its readers still need are saved to the stash first (one STASH per
 * disjoint range), and the applier serves those readers from the stash, so
 * a cut costs one small op and no change to the readers.  In the package a
 * cut costs its STASH ops, not the bytes saved, so a cut of at most one
 * block (the I/O granularity, where saving costs the applier one block
 * read and write) is taken in the preferred order; larger cuts, which cost
 * stash space and I/O, go cheapest first, after all small ones.  On real
 * pairs cheapest-bytes cuts inside one large component took 10-20x more
 * cuts than following the order.  A vertex on no cycle is never cut: it
 * only waits for readers blocked elsewhere, and saving its bytes would
 * break nothing.  When a range does not fit the stash budget (total bytes
 * saved), the readers' parts in it become literal bytes instead; the
 * largest ranges are saved first, so what is lost to literals is small.
 * A reader whose source overlaps its own destination is not an edge: the
 * applier runs such an op in memmove order. */
#include "diff_internal.h"
#include "../common/check.h"

#include <stdlib.h>
#include <string.h>

enum { E_OPEN, E_ORDERED, E_STASHED, E_LITERAL };

typedef struct {
    uint32_t u, v;          /* u reads [lo, hi) that v writes */
    uint8_t  mode;          /* E_* */
    uint64_t lo, hi;
} edge;

typedef struct { uint64_t key; uint32_t rank, v; } hent;

#define ACYCLIC (1ull << 62)   /* above every byte count */

typedef struct {
    const upd_gops *ops;
    edge     *e;
    size_t    ne;
    size_t   *out_start;    /* CSR by reader: edges of u are e[out_start[u] .. out_start[u+1]) */
    uint32_t *in_idx;       /* CSR by writer: edge indices */
    size_t   *in_start;
    uint64_t *key;
    uint32_t *rank;         /* preferred position (runs by shift direction) */
    uint8_t  *placed;
    uint8_t  *cyclic;       /* on a cycle of the initial graph (a strongly
                               connected component of two or more) */
    hent     *heap;
    size_t    nh, hcap;
    uint64_t  stash_max, stash_total;
    uint64_t  small_cut;    /* cuts up to this many bytes follow the preferred order */
    upd_gops *out;
    upd_diff_stats *st;
} planner;

static int is_reader(const upd_gop *g)
{
    return g->kind == UPD_OP_COPY || g->kind == UPD_OP_DIFF;
}

/* ---- heap of (key, vertex), lazily invalidated ------------------------- */

static int hless(const hent *a, const hent *b)
{
    return a->key < b->key || (a->key == b->key && a->rank < b->rank);
}

/* Heap key of V: 0 when it can run.  Else, on a cycle, a cut there can
 * be needed: 1 (then the preferred order decides) while the bytes it would
 * save fit in one block, else 1 + those bytes (the cheapest large cut
 * first).  Else it waits for readers that are blocked elsewhere, and
 * cutting it would break no cycle: after every vertex on a cycle. */
static uint64_t hkey(const planner *p, uint32_t v)
{
    uint64_t k = p->key[v];
    if (!k)
        return 0;
    if (!p->cyclic[v])
        return ACYCLIC;
    return k <= p->small_cut ? 1 : 1 + k;
}

static int heap_push(planner *p, uint32_t v)
{
    uint64_t key = hkey(p, v);
    void *grown = upd_grow(p->heap, p->nh, &p->hcap, sizeof *p->heap);
    if (!grown)
        return UPD_E_NOMEM;
    p->heap = grown;
    size_t i = p->nh++;
    p->heap[i] = (hent){ key, p->rank[v], v };
    while (i && hless(&p->heap[i], &p->heap[(i - 1) / 2])) {
        hent t = p->heap[i];
        p->heap[i] = p->heap[(i - 1) / 2];
        p->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return 0;
}

static hent heap_pop(planner *p)
{
    hent top = p->heap[0];
    p->heap[0] = p->heap[--p->nh];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < p->nh && hless(&p->heap[l], &p->heap[m]))
            m = l;
        if (r < p->nh && hless(&p->heap[r], &p->heap[m]))
            m = r;
        if (m == i)
            break;
        hent t = p->heap[i];
        p->heap[i] = p->heap[m];
        p->heap[m] = t;
        i = m;
    }
    return top;
}

/* ---- graph ------------------------------------------------------------- */

/* First op whose destination ends after POS (ops are sorted by dst). */
static size_t first_ending_after(const upd_gops *ops, uint64_t pos)
{
    size_t lo = 0, hi = ops->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ops->v[mid].dst + ops->v[mid].len <= pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int build_graph(planner *p)
{
    const upd_gops *ops = p->ops;
    size_t n = ops->n, cap = 0;
    p->out_start = calloc(n + 1, sizeof *p->out_start);
    p->in_start = calloc(n + 1, sizeof *p->in_start);
    p->key = calloc(n ? n : 1, sizeof *p->key);
    p->placed = calloc(n ? n : 1, 1);
    if (!p->out_start || !p->in_start || !p->key || !p->placed)
        return UPD_E_NOMEM;
    for (size_t u = 0; u < n; u++) {
        p->out_start[u] = p->ne;
        const upd_gop *g = &ops->v[u];
        if (!is_reader(g))
            continue;
        uint64_t s = g->src, e = g->src + g->len;
        for (size_t v = first_ending_after(ops, s); v < n && ops->v[v].dst < e; v++) {
            if (v == u)
                continue;
            uint64_t lo = s > ops->v[v].dst ? s : ops->v[v].dst;
            uint64_t hi = e < ops->v[v].dst + ops->v[v].len ? e : ops->v[v].dst + ops->v[v].len;
            void *grown = upd_grow(p->e, p->ne, &cap, sizeof *p->e);
            if (!grown)
                return UPD_E_NOMEM;
            p->e = grown;
            p->e[p->ne++] = (edge){ (uint32_t)u, (uint32_t)v, E_OPEN, lo, hi };
            p->key[v] += hi - lo;
            p->in_start[v + 1]++;
        }
    }
    p->out_start[n] = p->ne;
    for (size_t v = 0; v < n; v++)
        p->in_start[v + 1] += p->in_start[v];
    p->in_idx = malloc((p->ne ? p->ne : 1) * sizeof *p->in_idx);
    size_t *fill = calloc(n ? n : 1, sizeof *fill);
    if (!p->in_idx || !fill) {
        free(fill);
        return UPD_E_NOMEM;
    }
    for (size_t i = 0; i < p->ne; i++) {
        uint32_t v = p->e[i].v;
        p->in_idx[p->in_start[v] + fill[v]++] = (uint32_t)i;
    }
    free(fill);
    return 0;
}

/* Mark the vertices of every strongly connected component of two or more
 * (Tarjan, iterative: the graph can be millions of vertices deep). */
static int find_cycles(planner *p)
{
    size_t n = p->ops->n;
    uint32_t *idx = malloc((n ? n : 1) * sizeof *idx), *low = malloc((n ? n : 1) * sizeof *low);
    uint32_t *stk = malloc((n ? n : 1) * sizeof *stk), *cs = malloc((n ? n : 1) * sizeof *cs);
    size_t *it = malloc((n ? n : 1) * sizeof *it);
    uint8_t *on = calloc(n ? n : 1, 1);
    p->cyclic = calloc(n ? n : 1, 1);
    int rc = idx && low && stk && cs && it && on && p->cyclic ? 0 : UPD_E_NOMEM;
    if (!rc)
        for (size_t i = 0; i < n; i++)
            idx[i] = UINT32_MAX;
    uint32_t counter = 0;
    size_t ns = 0;
    for (size_t r = 0; !rc && r < n; r++) {
        if (idx[r] != UINT32_MAX)
            continue;
        size_t nc = 0;
        cs[nc++] = (uint32_t)r;
        idx[r] = low[r] = counter++;
        it[r] = p->out_start[r];
        stk[ns++] = (uint32_t)r;
        on[r] = 1;
        while (nc) {
            uint32_t u = cs[nc - 1];
            if (it[u] < p->out_start[u + 1]) {
                uint32_t w = p->e[it[u]++].v;
                if (idx[w] == UINT32_MAX) {
                    idx[w] = low[w] = counter++;
                    it[w] = p->out_start[w];
                    stk[ns++] = w;
                    on[w] = 1;
                    cs[nc++] = w;
                } else if (on[w] && idx[w] < low[u]) {
                    low[u] = idx[w];
                }
                continue;
            }
            nc--;
            if (nc && low[u] < low[cs[nc - 1]])
                low[cs[nc - 1]] = low[u];
            if (low[u] != idx[u])
                continue;
            uint32_t w;
            int many = stk[ns - 1] != u;
            do {
                w = stk[--ns];
                on[w] = 0;
                p->cyclic[w] = (uint8_t)many;
            } while (w != u);
        }
    }
    free(idx);
    free(low);
    free(stk);
    free(cs);
    free(it);
    free(on);
    return rc;
}

/* Whether reader U reads the destination of op W. */
static int reads_op(const planner *p, uint32_t u, uint32_t w)
{
    for (size_t i = p->out_start[u]; i < p->out_start[u + 1]; i++)
        if (p->e[i].v == w)
            return 1;
    return 0;
}

/* Preferred order: destination order, except that a run of ops that read
 * their left neighbour's destination (data shifted up by an insert) can
 * only run top down, so each such run, from its first to its last such
 * op with no op reading its right neighbour in between, is reversed.
 * Ties in the heap follow this order, so the schedule is made of
 * contiguous runs in either direction, which the op encoding codes in a
 * byte (FORMAT.md 6.2). */
static int rank_ops(planner *p)
{
    size_t n = p->ops->n, run = SIZE_MAX, last = 0;
    p->rank = malloc((n ? n : 1) * sizeof *p->rank);
    if (!p->rank)
        return UPD_E_NOMEM;
    for (size_t u = 0; u < n; u++)
        p->rank[u] = (uint32_t)u;
    for (size_t u = 0; u <= n; u++) {
        int down = u < n && u > 0 && reads_op(p, (uint32_t)u, (uint32_t)(u - 1));
        int up = u < n && !down && u + 1 < n && reads_op(p, (uint32_t)u, (uint32_t)(u + 1));
        if (down && run == SIZE_MAX)
            run = u;
        if (down)
            last = u;
        if ((up || u == n) && run != SIZE_MAX) {
            for (size_t i = run; i <= last; i++)
                p->rank[i] = (uint32_t)(run + last - i);
            run = SIZE_MAX;
        }
    }
    return 0;
}

/* ---- placement ---------------------------------------------------------- */

static int cmp_edge_lo(const void *a, const void *b)
{
    const edge *x = *(const edge *const *)a, *y = *(const edge *const *)b;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

typedef struct { uint64_t lo, hi; size_t first, last; } span;   /* open[first..last] */

static int cmp_span_len_desc(const void *a, const void *b)
{
    const span *x = a, *y = b;
    uint64_t lx = x->hi - x->lo, ly = y->hi - y->lo;
    return lx < ly ? 1 : lx > ly ? -1 : (x->lo > y->lo) - (x->lo < y->lo);
}

/* V runs while readers still need its destination: save the union of the
 * ranges they need, largest spans first while the budget lasts. */
static int cut_cycle(planner *p, uint32_t v)
{
    size_t a = p->in_start[v], b = p->in_start[v + 1], k = 0, ns = 0;
    edge **open = malloc((b - a) * sizeof *open);
    span *sp = malloc((b - a) * sizeof *sp);
    if (!open || !sp) {
        free(open);
        free(sp);
        return UPD_E_NOMEM;
    }
    for (size_t i = a; i < b; i++)
        if (p->e[p->in_idx[i]].mode == E_OPEN)
            open[k++] = &p->e[p->in_idx[i]];
    qsort(open, k, sizeof *open, cmp_edge_lo);
    for (size_t i = 0; i < k; i++) {
        if (ns && open[i]->lo <= sp[ns - 1].hi) {
            if (open[i]->hi > sp[ns - 1].hi)
                sp[ns - 1].hi = open[i]->hi;
            sp[ns - 1].last = i;
        } else {
            sp[ns++] = (span){ open[i]->lo, open[i]->hi, i, i };
        }
    }
    qsort(sp, ns, sizeof *sp, cmp_span_len_desc);
    int rc = 0;
    for (size_t i = 0; i < ns && !rc; i++) {
        uint64_t len = sp[i].hi - sp[i].lo;
        int save = p->stash_total + len <= p->stash_max;
        if (save) {
            p->stash_total += len;
            rc = upd_gops_push(p->out, &(upd_gop){ .kind = UPD_OP_STASH, .src = sp[i].lo,
                                                   .data = sp[i].lo, .len = len });
        }
        for (size_t j = sp[i].first; j <= sp[i].last; j++) {
            open[j]->mode = save ? E_STASHED : E_LITERAL;
            if (!save)
                p->st->cycle_lit_bytes += open[j]->hi - open[j]->lo;
            p->key[v] -= open[j]->hi - open[j]->lo;
        }
    }
    free(open);
    free(sp);
    return rc;
}

typedef struct { uint64_t lo, hi; const edge *e; } piece;

static int cmp_piece(const void *a, const void *b)
{
    const piece *x = a, *y = b;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

static int emit_sub(planner *p, const upd_gop *g, uint64_t lo, uint64_t hi, int literal)
{
    upd_gop s = *g;
    s.dst = g->dst + (lo - g->src);
    s.len = hi - lo;
    s.src = s.data = literal ? 0 : lo;
    if (literal)
        s.kind = UPD_OP_LIT;
    return upd_gops_push(p->out, &s);
}

/* Emit reader U, split where parts of its source became literals (past the
 * stash budget); parts run in memmove order for its own overlap. */
static int emit_reader(planner *p, uint32_t u)
{
    const upd_gop *g = &p->ops->v[u];
    size_t a = p->out_start[u], b = p->out_start[u + 1], k = 0;
    for (size_t i = a; i < b; i++)
        k += p->e[i].mode == E_LITERAL;
    if (!k)
        return upd_gops_push(p->out, g);
    piece *pc = malloc((2 * k + 1) * sizeof *pc);
    if (!pc)
        return UPD_E_NOMEM;
    size_t np = 0;
    for (size_t i = a; i < b; i++)
        if (p->e[i].mode == E_LITERAL)
            pc[np++] = (piece){ p->e[i].lo, p->e[i].hi, &p->e[i] };
    qsort(pc, np, sizeof *pc, cmp_piece);
    /* the parts between literal pieces still read the old image */
    size_t nlit = np;
    uint64_t pos = g->src;
    for (size_t i = 0; i < nlit; i++) {
        if (pc[i].lo > pos)
            pc[np++] = (piece){ pos, pc[i].lo, NULL };
        pos = pc[i].hi;
    }
    if (g->src + g->len > pos)
        pc[np++] = (piece){ pos, g->src + g->len, NULL };
    qsort(pc, np, sizeof *pc, cmp_piece);
    int backward = g->src < g->dst;
    int rc = 0;
    for (size_t i = 0; i < np && !rc; i++) {
        const piece *x = &pc[backward ? np - 1 - i : i];
        rc = emit_sub(p, g, x->lo, x->hi, x->e != NULL);
    }
    free(pc);
    return rc;
}

static int place(planner *p, uint32_t v)
{
    p->placed[v] = 1;
    if (is_reader(&p->ops->v[v]))
        UPD_CHECK(emit_reader(p, v));
    else
        UPD_CHECK(upd_gops_push(p->out, &p->ops->v[v]));
    for (size_t i = p->out_start[v]; i < p->out_start[v + 1]; i++) {
        edge *e = &p->e[i];
        if (e->mode != E_OPEN)
            continue;
        e->mode = E_ORDERED;
        p->key[e->v] -= e->hi - e->lo;
        UPD_CHECK(heap_push(p, e->v));
    }
    return 0;
}

static void planner_free(planner *p)
{
    free(p->e);
    free(p->out_start);
    free(p->in_start);
    free(p->in_idx);
    free(p->key);
    free(p->placed);
    free(p->rank);
    free(p->cyclic);
    free(p->heap);
}

int upd_plan(const upd_gops *ops, uint64_t old_len, uint64_t new_len, uint64_t stash_max,
             uint32_t block_size, upd_gops *out, uint64_t *stash_size, upd_diff_stats *st)
{
    planner p = { .ops = ops, .stash_max = stash_max, .small_cut = block_size, .out = out,
                  .st = st };
    int rc = 0;
    double t0 = upd_now();
    if (ops->n >= UINT32_MAX)
        return UPD_E_DIFF_TOO_LARGE;
    if (new_len > old_len)
        rc = upd_gops_push(out, &(upd_gop){ .kind = UPD_OP_RESIZE, .len = new_len });
    if (!rc)
        rc = build_graph(&p);
    if (!rc)
        rc = rank_ops(&p);
    if (!rc)
        rc = find_cycles(&p);
    for (uint32_t v = 0; !rc && v < ops->n; v++)
        rc = heap_push(&p, v);
    /* Locality: after placing v, a ready destination neighbour (v-1 or
     * v+1, in the direction we were going first) runs next, so the
     * schedule is made of contiguous runs, which the op encoding codes in
     * a byte and the applier writes sequentially. */
    uint32_t last = UINT32_MAX;
    int dir = 1;
    while (!rc && p.nh) {
        uint32_t v = UINT32_MAX;
        if (last != UINT32_MAX) {
            uint32_t ahead = last + (uint32_t)dir, back = last - (uint32_t)dir;
            if (ahead < ops->n && !p.placed[ahead] && !p.key[ahead])
                v = ahead;
            else if (back < ops->n && !p.placed[back] && !p.key[back])
                v = back, dir = -dir;
        }
        if (v == UINT32_MAX) {
            hent h = heap_pop(&p);
            if (p.placed[h.v] || h.key != hkey(&p, h.v))
                continue;   /* stale entry */
            v = h.v;
            if (p.key[v])
                rc = cut_cycle(&p, v);
        }
        if (!rc)
            rc = place(&p, v);
        last = v;
    }
    if (!rc && new_len < old_len)
        rc = upd_gops_push(out, &(upd_gop){ .kind = UPD_OP_RESIZE, .len = new_len });
    *stash_size = p.stash_total;
    st->stash_size = p.stash_total;
    st->t_plan = upd_now() - t0;
    planner_free(&p);
    return rc;
}
