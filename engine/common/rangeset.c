#include "rangeset.h"
#include "updelta/common.h"
#include "check.h"

#include <stdlib.h>

#define NIL 0u   /* node 0 is never used, so 0 can mean "none" */

struct upd_rnode {
    uint64_t lo, hi;
    uint32_t left, right;
};

_Static_assert(sizeof(upd_rnode) == 24, "FORMAT.md's memory window counts 24 bytes a node");

/* Treap priorities must be unpredictable: with a fixed seed a hostile
 * package can order its writes so the treap degenerates into a chain
 * (quadratic time, deep recursion).  A node's priority is its index hashed
 * under the set's random key (splitmix64's finaliser): fixed while the node
 * lives, unknown to whoever chose the package.  Correctness never depends
 * on them. */
static uint32_t prio(const upd_rangeset *s, uint32_t i)
{
    uint64_t z = s->seed + (uint64_t)i * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

void upd_rangeset_init(upd_rangeset *s, uint32_t cap)
{
    *s = (upd_rangeset){ .cap = cap, .seed = upd_random64(s) };
}

void upd_rangemap_init(upd_rangeset *s, uint32_t cap)
{
    upd_rangeset_init(s, cap);
    s->is_map = 1;
}

void upd_rangeset_free(upd_rangeset *s)
{
    free(s->nodes);
    free(s->vals);
    s->nodes = NULL;
    s->vals = NULL;
    s->alloc = s->used = s->root = s->free_head = s->count = 0;
}

static size_t node_bytes(int is_map) { return sizeof(upd_rnode) + (is_map ? sizeof(uint64_t) : 0); }

size_t upd_rangeset_mem(const upd_rangeset *s) { return (size_t)s->alloc * node_bytes(s->is_map); }

size_t upd_rangeset_max_mem(uint32_t cap) { return ((size_t)cap + 1) * node_bytes(0); }

size_t upd_rangemap_max_mem(uint32_t cap) { return ((size_t)cap + 1) * node_bytes(1); }

/* Both arrays to N entries; ALLOC moves only when both did. */
static int grow(upd_rangeset *s, uint32_t n)
{
    upd_rnode *p = realloc(s->nodes, (size_t)n * sizeof *p);
    if (!p)
        return UPD_E_NOMEM;
    s->nodes = p;
    if (s->is_map) {
        uint64_t *v = realloc(s->vals, (size_t)n * sizeof *v);
        if (!v)
            return UPD_E_NOMEM;
        s->vals = v;
    }
    s->alloc = n;
    return 0;
}

static int node_new(upd_rangeset *s, uint64_t lo, uint64_t hi, uint64_t val, uint32_t *out)
{
    uint32_t i;
    if (s->free_head) {
        i = s->free_head;
        s->free_head = s->nodes[i].left;
    } else {
        if (!s->used)
            s->used = 1;                       /* index 0 is NIL */
        if (s->used >= s->alloc) {
            if (s->alloc > s->cap)
                return UPD_E_LIMIT;
            uint32_t n = s->alloc ? s->alloc * 2 : 64;
            if (n > s->cap + 1)
                n = s->cap + 1;
            if (n <= s->used)
                return UPD_E_LIMIT;
            UPD_CHECK(grow(s, n));
        }
        i = s->used++;
    }
    s->nodes[i] = (upd_rnode){ lo, hi, NIL, NIL };
    if (s->vals)
        s->vals[i] = val;
    *out = i;
    return 0;
}

static void node_release(upd_rangeset *s, uint32_t i)
{
    s->nodes[i].left = s->free_head;
    s->free_head = i;
}

/* Split T into keys < KEY (*l) and >= KEY (*r). */
static void split(upd_rnode *n, uint32_t t, uint64_t key, uint32_t *l, uint32_t *r)
{
    if (t == NIL) {
        *l = *r = NIL;
    } else if (n[t].lo < key) {
        split(n, n[t].right, key, &n[t].right, r);
        *l = t;
    } else {
        split(n, n[t].left, key, l, &n[t].left);
        *r = t;
    }
}

static uint32_t merge(upd_rangeset *s, uint32_t a, uint32_t b)
{
    if (a == NIL)
        return b;
    if (b == NIL)
        return a;
    upd_rnode *n = s->nodes;
    if (prio(s, a) > prio(s, b)) {
        n[a].right = merge(s, n[a].right, b);
        return a;
    }
    n[b].left = merge(s, a, n[b].left);
    return b;
}

/* Free a whole subtree, returning the largest hi in it. */
static uint64_t drop_tree(upd_rangeset *s, uint32_t t, uint64_t hi)
{
    while (t != NIL) {
        uint32_t r = s->nodes[t].right;
        if (s->nodes[t].hi > hi)
            hi = s->nodes[t].hi;
        hi = drop_tree(s, s->nodes[t].left, hi);
        node_release(s, t);
        s->count--;
        t = r;
    }
    return hi;
}

int upd_rangeset_add(upd_rangeset *s, uint64_t lo, uint64_t hi)
{
    if (s->is_map)
        return UPD_E_INVAL;
    if (lo >= hi)
        return 0;
    upd_rnode *n = s->nodes;
    uint32_t left, mid, right;
    split(n, s->root, lo, &left, &right);
    /* the last range of LEFT may reach or touch lo: absorb it */
    if (left != NIL) {
        uint32_t p = NIL, t = left;
        while (n[t].right != NIL) {
            p = t;
            t = n[t].right;
        }
        if (n[t].hi >= lo) {
            lo = n[t].lo;
            if (n[t].hi > hi)
                hi = n[t].hi;
            if (p == NIL)
                left = n[t].left;
            else
                n[p].right = n[t].left;
            node_release(s, t);
            s->count--;
        }
    }
    /* every range of RIGHT starting at or before hi is absorbed */
    split(n, right, hi + 1, &mid, &right);
    hi = drop_tree(s, mid, hi);
    uint32_t t;
    int rc = node_new(s, lo, hi, 0, &t);
    if (rc < 0) {
        /* keep the set valid: put back what we can (ranges merged into
         * [lo,hi) are lost, so report the failure as final) */
        s->root = merge(s, left, right);
        return rc;
    }
    s->count++;
    s->root = merge(s, merge(s, left, t), right);
    return 0;
}

/* Remove the node whose key is exactly LO. */
static void erase_key(upd_rangeset *s, uint64_t lo)
{
    uint32_t left, mid, right;
    split(s->nodes, s->root, lo, &left, &right);
    split(s->nodes, right, lo + 1, &mid, &right);
    if (mid != NIL) {
        node_release(s, mid);
        s->count--;
    }
    s->root = merge(s, left, right);
}

/* The range with the smallest lo >= KEY, or NIL. */
static uint32_t ceil_node(const upd_rangeset *s, uint64_t key)
{
    uint32_t t = s->root, best = NIL;
    while (t != NIL) {
        if (s->nodes[t].lo >= key) {
            best = t;
            t = s->nodes[t].left;
        } else {
            t = s->nodes[t].right;
        }
    }
    return best;
}

static uint32_t floor_node(const upd_rangeset *s, uint64_t key);

/* A new range can take over a neighbour in place: keys keep their order
 * because nothing lies between the neighbour and the new range. */
int upd_rangemap_add(upd_rangeset *s, uint64_t lo, uint64_t hi, uint64_t val)
{
    if (!s->is_map || lo >= hi || upd_rangeset_intersects(s, lo, hi))
        return UPD_E_INVAL;
    uint32_t l = floor_node(s, lo), r = ceil_node(s, hi);
    int join_l = l != NIL && s->nodes[l].hi == lo && s->vals[l] + (lo - s->nodes[l].lo) == val;
    int join_r = r != NIL && s->nodes[r].lo == hi && val + (hi - lo) == s->vals[r];
    if (join_l && join_r) {
        uint64_t rhi = s->nodes[r].hi;
        erase_key(s, s->nodes[r].lo);
        s->nodes[l].hi = rhi;
    } else if (join_l) {
        s->nodes[l].hi = hi;
    } else if (join_r) {
        s->nodes[r].lo = lo;
        s->vals[r] = val;
    } else {
        uint32_t t, left, right;
        UPD_CHECK(node_new(s, lo, hi, val, &t));
        s->count++;
        split(s->nodes, s->root, lo, &left, &right);
        s->root = merge(s, merge(s, left, t), right);
    }
    return 0;
}

int upd_rangeset_remove(upd_rangeset *s, uint64_t lo, uint64_t hi)
{
    if (lo >= hi || s->root == NIL)
        return 0;
    /* the range holding lo, when it starts before it, keeps [its lo, lo) */
    uint32_t l = floor_node(s, lo);
    if (l != NIL && s->nodes[l].lo < lo && s->nodes[l].hi > lo) {
        uint64_t end = s->nodes[l].hi;
        if (end > hi) {
            /* one range around [lo, hi): its tail becomes a node of its own */
            uint32_t t, left, right;
            uint64_t val = s->vals ? s->vals[l] + (hi - s->nodes[l].lo) : 0;
            UPD_CHECK(node_new(s, hi, end, val, &t));
            s->count++;
            s->nodes[l].hi = lo;
            split(s->nodes, s->root, hi, &left, &right);
            s->root = merge(s, merge(s, left, t), right);
            return 0;
        }
        s->nodes[l].hi = lo;
    }
    /* ranges starting in [lo, hi) go; the last may keep a tail past hi */
    uint32_t left, mid, right;
    split(s->nodes, s->root, lo, &left, &right);
    split(s->nodes, right, hi, &mid, &right);
    uint32_t p = NIL, t = mid;
    while (t != NIL && s->nodes[t].right != NIL) {
        p = t;
        t = s->nodes[t].right;
    }
    if (t != NIL && s->nodes[t].hi > hi) {
        /* detach it and keep it as [hi, its hi): nothing lies between */
        if (p == NIL)
            mid = s->nodes[t].left;
        else
            s->nodes[p].right = s->nodes[t].left;
        if (s->vals)
            s->vals[t] += hi - s->nodes[t].lo;
        s->nodes[t].lo = hi;
        s->nodes[t].left = s->nodes[t].right = NIL;
        right = merge(s, t, right);
    }
    drop_tree(s, mid, 0);
    s->root = merge(s, left, right);
    return 0;
}

int upd_rangeset_next(const upd_rangeset *s, uint64_t pos, uint64_t *lo, uint64_t *hi,
                      uint64_t *val)
{
    uint32_t t = floor_node(s, pos);
    if (t == NIL || s->nodes[t].hi <= pos)
        t = ceil_node(s, pos + 1);
    if (t == NIL)
        return 0;
    *lo = s->nodes[t].lo;
    *hi = s->nodes[t].hi;
    *val = s->vals ? s->vals[t] : 0;
    return 1;
}

/* The range with the largest lo <= KEY, or NIL. */
static uint32_t floor_node(const upd_rangeset *s, uint64_t key)
{
    uint32_t t = s->root, best = NIL;
    while (t != NIL) {
        if (s->nodes[t].lo <= key) {
            best = t;
            t = s->nodes[t].right;
        } else {
            t = s->nodes[t].left;
        }
    }
    return best;
}

int upd_rangeset_intersects(const upd_rangeset *s, uint64_t lo, uint64_t hi)
{
    if (lo >= hi || s->root == NIL)
        return 0;
    uint32_t t = floor_node(s, hi - 1);
    return t != NIL && s->nodes[t].hi > lo;
}

int upd_rangeset_covers(const upd_rangeset *s, uint64_t lo, uint64_t hi)
{
    if (lo >= hi)
        return 1;
    uint32_t t = floor_node(s, lo);
    return t != NIL && s->nodes[t].hi >= hi;
}

static uint32_t height(const upd_rnode *n, uint32_t t)
{
    if (t == NIL)
        return 0;
    uint32_t l = height(n, n[t].left), r = height(n, n[t].right);
    return 1 + (l > r ? l : r);
}

uint32_t upd_rangeset_height(const upd_rangeset *s) { return height(s->nodes, s->root); }
