/* Covers after the scan: drop the short ones that break both neighbours'
 * alignment, and grow every cover into the gaps beside it.
 *
 * The scan grows a cover only up to the next match it found, and dropping
 * a short cover leaves a hole of literal bytes where the neighbours'
 * alignment often still holds (code between two changes, shifted alike).
 * So every cover is grown into its gaps before and after the drop (the
 * idea of HDiffPatch's extend_cover): over the length whose agreeing bytes
 * are the largest share of the length plus a few bytes of slack, when that
 * share is at least 55% (563/1024).  The second round grows every cover,
 * not only those beside a hole: the best share stops at a well-agreeing
 * prefix, and from its end another stretch may agree well enough (a third
 * round would find a little more; two are what was measured).  A
 * differing byte costs the sparse DIFF payload about two bytes (a run
 * length and the byte) where a literal costs one, so a grown stretch pays
 * only when clearly more than half of it agrees (at HDiffPatch's 46%
 * esbuild shrank 3.0% but the far-jump pair grew 1.2%).  Measured at 55%
 * on the real pairs: biome -1.0%, esbuild -0.5%, rootfs -0.45%, typescript
 * -0.45%, mariadbd and libcrypto -0.14%, esbuild-far +0.03%, the three
 * smallest within 20 bytes. */
#include "diff_internal.h"
#include "../common/check.h"

/* A cover shorter than this that does not continue its neighbours'
 * alignment becomes literal bytes: a short match from elsewhere saves
 * fewer bytes than its op costs, and in place it reads from far away, which
 * is what makes the read/write graph cyclic (measured on the real pairs:
 * 64 bytes cuts stash ops 4x and packages 4-40%; 32..160 all within 2%). */
#define MIN_COVER 64

/* Growth is scored as agreeing / (length + SLACK), in 1/1024ths, and taken
 * from GROW_MIN on (with the slack, no stretch under 5 bytes scores that). */
#define SLACK    4
#define GROW_MIN 563

typedef struct {
    const uint8_t *old, *nw;
    uint64_t oldn;
} images;

/* How far to grow from new offset N / old offset O by STEP (+1 forward,
 * -1 backward) without leaving new [LO, HI) or the old image: the best
 * scoring length, or 0. */
static uint64_t grow(const images *im, uint64_t n, uint64_t o, int step, uint64_t lo, uint64_t hi)
{
    uint64_t agree = 0, best = 0, best_len = 0;
    for (uint64_t len = 1;; len++) {
        if (step < 0 ? n == lo || o == 0 : n == hi || o == im->oldn)
            break;
        uint64_t x = step < 0 ? --n : n++, y = step < 0 ? --o : o++;
        if (im->nw[x] != im->old[y])
            continue;
        uint64_t score = ++agree * 1024 / (len + SLACK);
        if (score >= best) {
            best = score;
            best_len = len;
        }
    }
    return best >= GROW_MIN ? best_len : 0;
}

/* Grow each cover backward down to the end of the one before (as grown)
 * and forward up to the start of the one after. */
static void grow_all(const images *im, upd_covers *cv, uint64_t new_len)
{
    uint64_t prev_end = 0;
    for (size_t i = 0; i < cv->n; i++) {
        upd_cover *c = &cv->v[i];
        uint64_t next = i + 1 < cv->n ? cv->v[i + 1].dst : new_len;
        uint64_t b = grow(im, c->dst, c->src, -1, prev_end, next);
        c->dst -= b;
        c->src -= b;
        c->len += b;
        c->len += grow(im, c->dst + c->len, c->src + c->len, 1, prev_end, next);
        prev_end = c->dst + c->len;
    }
}

static int64_t shift_of(const upd_cover *c) { return (int64_t)c->dst - (int64_t)c->src; }

/* Drop the covers shorter than MIN_COVER whose shift is neither the kept
 * one's before them nor the next one's. */
static void drop_short(upd_covers *cv)
{
    size_t k = 0;
    int64_t prev = 0;
    for (size_t i = 0; i < cv->n; i++) {
        const upd_cover *c = &cv->v[i];
        int64_t s = shift_of(c), next = i + 1 < cv->n ? shift_of(&cv->v[i + 1]) : s + 1;
        if (c->len < MIN_COVER && s != prev && s != next)
            continue;
        prev = s;
        cv->v[k++] = *c;
    }
    cv->n = k;
}

void upd_covers_refine(const uint8_t *old_img, size_t old_len, const uint8_t *new_img,
                       size_t new_len, upd_covers *cv)
{
    images im = { old_img, new_img, old_len };
    grow_all(&im, cv, new_len);
    drop_short(cv);
    grow_all(&im, cv, new_len);
}
