/* Covers after the scan: keep those that pay, and grow every cover into
 * the gaps beside it.
 *
 * Selection (HDiffPatch's select_cover, with a cost model of our own
 * making): a cover is kept when its differences cost at least SCORE units
 * less than its bytes as literals, its op included, both priced by what
 * the kept covers' differences and the literals between them were so far
 * (run_cost).  Covers on one alignment at most LINK_GAP bytes apart join
 * into one, the bytes between becoming differences.  It replaced a rule
 * that dropped every cover under 64 bytes off its neighbours' alignment:
 * that kept long covers whose differences cost more than literals, and
 * dropped short ones that saved bytes.
 *
 * Growth: the scan grows a cover only up to the next match it found, and
 * a dropped cover leaves a hole of literal bytes where the neighbours'
 * alignment often still holds (code between two changes, shifted alike).
 * So every cover is grown into its gaps before and after the selection
 * (the idea of HDiffPatch's extend_cover): over the length whose agreeing
 * bytes are the largest share of the length plus a few bytes of slack,
 * when that share is at least 55% (563/1024).  The second round grows
 * every cover, not only those beside a hole: the best share stops at a
 * well-agreeing prefix, and from its end another stretch may agree well
 * enough.  A differing byte costs the sparse DIFF payload about two bytes
 * (a run length and the byte) where a literal costs one, so a grown
 * stretch pays only when clearly more than half of it agrees (at
 * HDiffPatch's 46%, with the old rule, esbuild shrank 3.0% but the
 * far-jump pair grew 1.2%).
 *
 * Packages of the real pairs against the scan's covers with the old rule
 * and no growth: mariadbd -8.6%, rootfs -5.0%, esbuild-far -3.7%,
 * typescript -3.0%, esbuild -1.4%, biome -1.0%, openssl -0.4%,
 * changelog.gz -0.2%, libcrypto -0.2%; lodash +7.8% (915 to 986 bytes;
 * bsdiff 1,048). */
#include "diff_internal.h"
#include "../common/check.h"

#include <stdlib.h>

/* HDiffPatch's defaults: the least a kept cover saves (units: about a
 * byte), and the farthest apart two covers on one alignment join */
#define SCORE    6.0
#define LINK_GAP 511

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

/* ---- selection by estimated cost -------------------------------------- */

/* An adaptive order-1 model of a stream of values: how often each value
 * followed each other one, a row's counts halved once they sum to ROW_MAX
 * so that it follows the stream.  A value costs log2((row + 256) /
 * (count + 1)) bits, at most MAX_BITS. */
#define ROW_MAX  4096
#define MAX_BITS 12
typedef struct {
    uint16_t    *pair;          /* [prev * 256 + cur] */
    uint32_t     row[256];
    uint8_t      prev;
    const double *log2_of;       /* [0, ROW_MAX + 256] */
} model;

static void model_add(model *m, uint8_t cur)
{
    uint16_t *r = m->pair + m->prev * 256;
    if (m->row[m->prev] >= ROW_MAX) {
        uint32_t sum = 0;
        for (int i = 0; i < 256; i++)
            sum += r[i] = (uint16_t)(r[i] >> 1);
        m->row[m->prev] = sum;
    }
    r[cur]++;
    m->row[m->prev]++;
    m->prev = cur;
}

static double model_bits(const model *m, uint8_t prev, uint8_t cur)
{
    double b = m->log2_of[m->row[prev] + 256] - m->log2_of[m->pair[prev * 256 + cur] + 1];
    return b < MAX_BITS ? b : MAX_BITS;
}

/* Cost of BYTES[i] - SUB[i] (SUB NULL: the bytes themselves), i < N, in
 * units: runs of one value; a run of 0x00 or 0xff is one unit, another
 * run its value (MAX_BITS bits = one unit) and a unit more when longer
 * than a byte.  TRAIN: M learns the values. */
static double run_cost(model *m, const uint8_t *bytes, const uint8_t *sub, uint64_t n, int train)
{
    double units = 0, bits = 0;
    uint8_t prev = m->prev;
    for (uint64_t i = 0; i < n;) {
        uint8_t v = (uint8_t)(bytes[i] - (sub ? sub[i] : 0));
        uint64_t j = i + 1;
        while (j < n && (uint8_t)(bytes[j] - (sub ? sub[j] : 0)) == v)
            j++;
        if (v == 0x00 || v == 0xff) {
            units += 1;
        } else {
            units += j - i > 1;
            bits += model_bits(m, prev, v);
            prev = v;
            if (train)
                model_add(m, v);
        }
        i = j;
    }
    return units + bits / MAX_BITS;
}

static unsigned varint_len(uint64_t v)
{
    unsigned n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* log2(X) for X >= 1 by squaring (20 bits of fraction), without libm:
 * the same bits on every platform, and no libm pages in the applier's
 * process (the rss test runs close to its limit). */
static double binary_log(uint64_t x)
{
    double r = 63 - __builtin_clzll(x), m = (double)x / (double)(1ull << (unsigned)r), bit = 1;
    for (int i = 0; i < 20; i++) {
        m *= m;
        bit /= 2;
        if (m >= 2) {
            m /= 2;
            r += bit;
        }
    }
    return r;
}

/* Keep a cover whose differences cost SCORE units less than its bytes as
 * literals, its op included; covers on one alignment at most LINK_GAP
 * apart join (the bytes between become differences). */
static int select_covers(const images *im, upd_covers *cv)
{
    double *lg = malloc((ROW_MAX + 257) * sizeof *lg);
    model lit = { calloc(65536, sizeof *lit.pair), { 0 }, 0, lg };
    model dif = { calloc(65536, sizeof *dif.pair), { 0 }, 0, lg };
    if (!lg || !lit.pair || !dif.pair) {
        free(lg);
        free(lit.pair);
        free(dif.pair);
        return UPD_E_NOMEM;
    }
    for (size_t i = 1; i < ROW_MAX + 257; i++)
        lg[i] = binary_log(i);
    size_t k = 0;
    for (size_t i = 0; i < cv->n; i++) {
        upd_cover c = cv->v[i];
        while (i + 1 < cv->n && shift_of(&cv->v[i + 1]) == shift_of(&c)
               && cv->v[i + 1].dst - (c.dst + c.len) <= LINK_GAP) {
            i++;
            c.len = cv->v[i].dst + cv->v[i].len - c.dst;
        }
        upd_cover *last = k ? &cv->v[k - 1] : NULL;
        uint64_t last_end = last ? last->dst + last->len : 0;
        if (last && shift_of(last) == shift_of(&c) && c.dst - last_end <= LINK_GAP) {
            uint64_t n = c.dst + c.len - last_end;
            run_cost(&dif, im->nw + last_end, im->old + last->src + last->len, n, 1);
            last->len += n;
            continue;
        }
        int64_t ds = shift_of(&c) - (last ? shift_of(last) : 0);
        uint64_t zz = ds < 0 ? ((uint64_t)-ds << 1) - 1 : (uint64_t)ds << 1;
        double ctrl = (double)(varint_len(zz) + varint_len(c.len) + varint_len(c.dst - last_end));
        double as_lit = run_cost(&lit, im->nw + c.dst, NULL, c.len, 0);
        double as_diff = run_cost(&dif, im->nw + c.dst, im->old + c.src, c.len, 0);
        if (as_lit - as_diff - ctrl < SCORE)
            continue;
        run_cost(&lit, im->nw + last_end, NULL, c.dst - last_end, 1);
        run_cost(&dif, im->nw + c.dst, im->old + c.src, c.len, 1);
        cv->v[k++] = c;
    }
    cv->n = k;
    free(lg);
    free(lit.pair);
    free(dif.pair);
    return 0;
}

int upd_covers_refine(const uint8_t *old_img, size_t old_len, const uint8_t *new_img,
                      size_t new_len, upd_covers *cv)
{
    images im = { old_img, new_img, old_len };
    grow_all(&im, cv, new_len);
    UPD_CHECK(select_covers(&im, cv));
    grow_all(&im, cv, new_len);
    return 0;
}
