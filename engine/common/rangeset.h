/* A set of disjoint half-open byte ranges, merged on insert, optionally
 * carrying a value per range (a range map).
 *
 * The applier records every image range written so far and asks, before
 * each read of the old image, whether the range meets any of them (a
 * hostile or buggy package must never read bytes it already overwrote).
 * As a map it records which old ranges were saved to the stash and where:
 * VAL is the stash offset of the range's first byte, and two ranges merge
 * only when both their bytes and their stash offsets are contiguous.
 * Writes arrive in schedule order, not address order, so this is a treap
 * keyed by range start: O(log n) insert and query.  Nodes live in one
 * array that grows up to a hard cap (bounded memory); inserting past the
 * cap fails with UPD_E_LIMIT.  A node is 24 bytes (bounds and children;
 * its treap priority is a keyed hash of its index, not stored); a map keeps
 * the values in a second array, 8 bytes more per range.  At scale these
 * sets are most of the applier's memory (a 1 GiB image with 140,000 ranges
 * live), so a byte saved per node counts. */
#ifndef UPD_RANGESET_H
#define UPD_RANGESET_H

#include <stddef.h>
#include <stdint.h>

typedef struct upd_rnode upd_rnode;

typedef struct {
    upd_rnode *nodes;
    uint64_t  *vals;           /* a map's values, by node index (NULL: a set) */
    int        is_map;
    uint32_t   alloc, used, cap;
    uint32_t   root, free_head;
    uint32_t   count;          /* ranges in the set */
    uint64_t   seed;           /* keys the treap priorities */
} upd_rangeset;

/* CAP: most ranges ever held (0: the set must stay empty).  A set takes
 * upd_rangeset_add, a map upd_rangemap_add. */
void upd_rangeset_init(upd_rangeset *s, uint32_t cap);
void upd_rangemap_init(upd_rangeset *s, uint32_t cap);
void upd_rangeset_free(upd_rangeset *s);
/* Add [lo, hi) to a set (lo < hi); 0, UPD_E_LIMIT, UPD_E_NOMEM, or
 * UPD_E_INVAL on a map. */
int upd_rangeset_add(upd_rangeset *s, uint64_t lo, uint64_t hi);
/* Map form: add [lo, hi) -> VAL.  0, UPD_E_INVAL when it meets a range
 * already present (or S is a set), UPD_E_LIMIT, UPD_E_NOMEM. */
int upd_rangemap_add(upd_rangeset *s, uint64_t lo, uint64_t hi, uint64_t val);
/* Remove every byte of [lo, hi) from S (a set or a map; a map's range cut
 * at hi keeps the values of its bytes).  0, or UPD_E_LIMIT/UPD_E_NOMEM when
 * cutting one range in two needs a node past the cap (S is then unchanged). */
int upd_rangeset_remove(upd_rangeset *s, uint64_t lo, uint64_t hi);
/* The first range ending after POS: 1 and its bounds and value (0 in a
 * set), or 0. */
int upd_rangeset_next(const upd_rangeset *s, uint64_t pos, uint64_t *lo, uint64_t *hi,
                      uint64_t *val);
/* Non-zero when [lo, hi) meets a range in the set. */
int upd_rangeset_intersects(const upd_rangeset *s, uint64_t lo, uint64_t hi);
/* Non-zero when [lo, hi) lies entirely inside one range of the set. */
int upd_rangeset_covers(const upd_rangeset *s, uint64_t lo, uint64_t hi);
/* The treap's height (0: empty): tests check that it stays logarithmic. */
uint32_t upd_rangeset_height(const upd_rangeset *s);
/* Bytes of memory the set or map holds now, and at most for capacity CAP
 * (a set, a map). */
size_t upd_rangeset_mem(const upd_rangeset *s);
size_t upd_rangeset_max_mem(uint32_t cap);
size_t upd_rangemap_max_mem(uint32_t cap);

#endif
