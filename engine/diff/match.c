/* Matching: bsdiff's scan (Percival 2003) over a libdivsufsort suffix
 * array of the old image.
 *
 * For each position of the new image we find the longest exact match in the
 * old image by binary search over the suffix array, and keep it only when it
 * beats, by more than a margin (bsdiff's is 8 bytes), simply continuing the
 * previous alignment.  The scan is greedy, so which margin gives the
 * smaller package depends on the pair; upd_match scans once per margin it
 * is given, on one index, and the caller keeps the best (diff.c).
 * A kept match is then grown forward and backward into an approximate
 * match (a cover) while at least half its bytes agree, because the bytewise
 * difference of two approximately aligned code regions is mostly zeros and
 * compresses far better than either region. */
#include "diff_internal.h"
#include "../common/check.h"
#include "../common/parallel.h"

#include <divsufsort.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const int32_t  *sa;
    const uint8_t  *old;
    size_t          oldn;
    const uint64_t *seen;    /* Bloom filter of old's 8-byte strings */
    unsigned        shift;   /* 64 - log2(its bits) */
} sa_index;

/* With bsdiff's margin the scan keeps a match only when it is 9 bytes or
 * longer (or exactly continues the alignment it already has), yet in a
 * changed region most positions start no such match, and each search
 * costs some 25 cache misses.  So a one-hash Bloom filter of every 8-byte
 * string in the old image (8 bits per old byte) answers first: a string it
 * has not seen starts a match of at most 7 bytes, and its position needs
 * no search.  The smaller margins of the match trials would keep some
 * such matches; the filter skips them still (but for its false
 * positives), so a smaller margin changes which matches of 8 bytes or
 * more start a cover (what the trials' sizes were measured with). */
#define GRAM 8

static uint64_t gram_hash(const uint8_t *p, unsigned shift)
{
    uint64_t x;
    memcpy(&x, p, GRAM);
    x ^= x >> 29;
    return (x * 0x9E3779B97F4A7C15u) >> shift;
}

static int gram_filter(sa_index *ix)
{
    unsigned lg = 6;
    while (lg < 63 && ((uint64_t)1 << lg) < (uint64_t)ix->oldn * 8)
        lg++;
    uint64_t *bits = calloc((size_t)1 << (lg - 6), sizeof *bits);
    if (!bits)
        return UPD_E_NOMEM;
    ix->shift = 64 - lg;
    for (size_t i = 0; i + GRAM <= ix->oldn; i++) {
        uint64_t h = gram_hash(ix->old + i, ix->shift);
        bits[h >> 6] |= (uint64_t)1 << (h & 63);
    }
    ix->seen = bits;
    return 0;
}

/* 0 only if no string of the old image starts with NW's first 8 bytes. */
static int gram_seen(const sa_index *ix, const uint8_t *nw, size_t nn)
{
    if (nn < GRAM)
        return 1;
    uint64_t h = gram_hash(nw, ix->shift);
    return (int)(ix->seen[h >> 6] >> (h & 63)) & 1;
}

/* Length of the common prefix, 8 bytes at a time: in runs of zeros or
 * other repeats matches are megabytes long. */
static size_t common_prefix(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y) {
            /* the first differing byte in memory order */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return i + (size_t)__builtin_ctzll(x ^ y) / 8;
#else
            return i + (size_t)__builtin_clzll(x ^ y) / 8;
#endif
        }
    }
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* Longest match of NW[0..NN) among the old image's suffixes; *POS gets its
 * old offset.  A binary search for NW's place in the suffix array, each
 * probe compared from the prefix NW shares with both ends of the range (the
 * suffixes between two that share a prefix with NW share it too), so a long
 * match is not compared again at every probe (Manber and Myers' mlr
 * heuristic). */
static size_t sa_longest(const sa_index *ix, const uint8_t *nw, size_t nn, size_t *pos)
{
    size_t lo = 0, hi = ix->oldn - 1;
    size_t olo = (size_t)ix->sa[lo], ohi = (size_t)ix->sa[hi];
    size_t llcp = common_prefix(ix->old + olo, ix->oldn - olo, nw, nn);
    size_t rlcp = common_prefix(ix->old + ohi, ix->oldn - ohi, nw, nn);
    while (hi - lo >= 2) {
        size_t mid = lo + (hi - lo) / 2;
        size_t o = (size_t)ix->sa[mid], n = ix->oldn - o < nn ? ix->oldn - o : nn;
        size_t k = llcp < rlcp ? llcp : rlcp;
        k += common_prefix(ix->old + o + k, n - k, nw + k, n - k);
        /* a suffix that ends inside NW sorts before it (bsdiff sends the
         * search the other way there, so at the end of an image that ends
         * in a long run every probe compares the whole run and the match
         * is missed) */
        if (k < n ? ix->old[o + k] < nw[k] : n < nn) {
            lo = mid;
            llcp = k;
        } else {
            hi = mid;
            rlcp = k;
        }
    }
    *pos = llcp >= rlcp ? (size_t)ix->sa[lo] : (size_t)ix->sa[hi];
    return llcp >= rlcp ? llcp : rlcp;
}

static int covers_push(upd_covers *c, uint64_t dst, uint64_t src, uint64_t len)
{
    void *grown = upd_grow(c->v, c->n, &c->cap, sizeof *c->v);
    if (!grown)
        return UPD_E_NOMEM;
    c->v = grown;
    c->v[c->n++] = (upd_cover){ dst, src, len };
    return 0;
}

/* old[i + off] == nw[i], with the old index checked on both sides. */
static int agrees(const sa_index *ix, const uint8_t *nw, size_t i, int64_t off)
{
    int64_t j = (int64_t)i + off;
    return j >= 0 && (uint64_t)j < ix->oldn && ix->old[j] == nw[i];
}

/* Given the previous cover's start (LASTSCAN, LASTPOS) and the next exact
 * match at (SCAN, POS), choose how far the previous cover extends forward
 * (*LENF) and the next one backward (*LENB): each grows while at least half
 * its bytes agree, and where they would overlap the split point that keeps
 * the most agreeing bytes wins. */
static void extend(const sa_index *ix, const uint8_t *nw, size_t nn, size_t lastscan,
                   size_t lastpos, size_t scan, size_t pos, size_t *lenf, size_t *lenb)
{
    const uint8_t *old = ix->old;
    int64_t s = 0, best = 0;
    size_t lf = 0, lb = 0;
    for (size_t i = 0; lastscan + i < scan && lastpos + i < ix->oldn;) {
        if (old[lastpos + i] == nw[lastscan + i])
            s++;
        i++;
        if (s * 2 - (int64_t)i > best * 2 - (int64_t)lf) {
            best = s;
            lf = i;
        }
    }
    if (scan < nn) {
        s = best = 0;
        for (size_t i = 1; scan >= lastscan + i && pos >= i; i++) {
            if (old[pos - i] == nw[scan - i])
                s++;
            if (s * 2 - (int64_t)i > best * 2 - (int64_t)lb) {
                best = s;
                lb = i;
            }
        }
    }
    if (lastscan + lf > scan - lb) {
        size_t overlap = (lastscan + lf) - (scan - lb), keep = 0;
        s = best = 0;
        for (size_t i = 0; i < overlap; i++) {
            if (nw[lastscan + lf - overlap + i] == old[lastpos + lf - overlap + i])
                s++;
            if (nw[scan - lb + i] == old[pos - lb + i])
                s--;
            if (s > best) {
                best = s;
                keep = i + 1;
            }
        }
        lf = lf + keep - overlap;
        lb -= keep;
    }
    *lenf = lf;
    *lenb = lb;
}

/* A match found at one position, still this long at the next, is taken
 * there as it is (one byte shorter, one byte on) instead of searched for
 * again.  Without this, a long run (zeros in a filesystem image) that the
 * current alignment covers but for a few bytes costs a search as long as
 * the run at each of its positions: bsdiff's scan is quadratic there (a
 * 5 MiB pair with two 4 MiB zero runs took 95 s to match, bsdiff itself
 * over 5 minutes).  Such a match cannot trigger a new cover before the
 * alignment catches up, so the scan's choices are unchanged unless a yet
 * longer match starts inside it. */
#define REUSE_MIN 256

/* The new image is scanned in fixed chunks, on the generator's threads:
 * the covers depend on the chunk size, never on the thread count.  Each
 * chunk starts from the same-offset alignment, as the image does, and its
 * matches end at its end; a cover that would cross is cut in two. */
#define CHUNK (8u << 20)

typedef struct {
    const sa_index *ix;
    const uint8_t  *nw;
    size_t          nn, chunks;
    const unsigned *margins;
    size_t          n_margins;
    upd_covers     *parts;        /* one cover list per margin and chunk */
    atomic_size_t   scanned;      /* over all margins */
    const upd_diff_params *p;
} scan_job;

/* Progress: bytes scanned are added to J->scanned, which the caller's
 * thread (THREAD 0) reports. */
static void scan_progress(scan_job *j, size_t *reported, size_t scan, unsigned thread)
{
    size_t total = atomic_fetch_add(&j->scanned, scan - *reported) + (scan - *reported);
    *reported = scan;
    if (thread == 0 && j->p->progress)
        j->p->progress(j->p->progress_user, UPD_PHASE_MATCH, total, j->nn * j->n_margins);
}

/* bsdiff's scan of new[from, to) as if the new image ended at TO, with
 * margin ITEM / chunks, chunk ITEM % chunks. */
static int scan_chunk(void *ctx, size_t item, unsigned thread)
{
    scan_job *j = ctx;
    const sa_index *ix = j->ix;
    const uint8_t *nw = j->nw;
    size_t chunk = item % j->chunks, margin = j->margins[item / j->chunks];
    size_t from = chunk * CHUNK, nn = j->nn - from < CHUNK ? j->nn : from + CHUNK;
    upd_covers *out = &j->parts[item];
    size_t scan = from, len = 0, pos = 0, lastscan = from, lastpos = from, reported = from;
    int64_t lastoffset = 0;
    while (scan < nn) {
        size_t oldscore = 0, scsc;
        scsc = scan += len;
        len = 0;
        for (; scan < nn; scan++) {
            if (len > REUSE_MIN) {
                len--;
                pos++;
            } else {
                /* an unseen string means a match too short to keep: a
                 * short one that only continues the alignment is not
                 * taken as a resync point, so the scan goes on byte by
                 * byte */
                len = gram_seen(ix, nw + scan, nn - scan) ? sa_longest(ix, nw + scan, nn - scan, &pos)
                                                          : 0;
            }
            for (; scsc < scan + len; scsc++)
                oldscore += agrees(ix, nw, scsc, lastoffset);
            if ((len == oldscore && len != 0) || len > oldscore + margin)
                break;
            /* oldscore counts agreements in [scan, scsc) */
            if (scsc > scan)
                oldscore -= (size_t)agrees(ix, nw, scan, lastoffset);
            else
                scsc = scan + 1;
        }
        if (len != oldscore || scan == nn) {
            size_t lenf, lenb;
            extend(ix, nw, nn, lastscan, lastpos, scan, pos, &lenf, &lenb);
            if (lenf)
                UPD_CHECK(covers_push(out, lastscan, lastpos, lenf));
            lastscan = scan - lenb;
            lastpos = pos - lenb;
            lastoffset = (int64_t)pos - (int64_t)scan;
        }
        if (scan - reported >= (1u << 20))
            scan_progress(j, &reported, scan, thread);
    }
    scan_progress(j, &reported, scan, thread);
    return 0;
}

/* The chunks' covers, in order, into OUT (each chunk's lie inside it). */
static int join_parts(upd_covers *parts, size_t n, upd_covers *out)
{
    for (size_t c = 0; c < n; c++)
        for (size_t i = 0; i < parts[c].n; i++)
            UPD_CHECK(covers_push(out, parts[c].v[i].dst, parts[c].v[i].src, parts[c].v[i].len));
    return 0;
}


int upd_match(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len,
              const unsigned *margins, size_t n_margins, upd_covers *out,
              const upd_diff_params *p, upd_diff_stats *st)
{
    if (old_len >= INT32_MAX)
        return UPD_E_DIFF_TOO_LARGE;
    if (old_len < 2 || !new_len)
        return 0;   /* nothing to match against: all literal */
    double t0 = upd_now();
    int32_t *sa = malloc(old_len * sizeof *sa);
    size_t chunks = (new_len + CHUNK - 1) / CHUNK, items = chunks * n_margins;
    upd_covers *parts = calloc(items, sizeof *parts);
    if (!sa || !parts) {
        free(sa);
        free(parts);
        return UPD_E_NOMEM;
    }
    if (p->progress)
        p->progress(p->progress_user, UPD_PHASE_INDEX, 0, old_len);
    int rc = divsufsort(old_img, sa, (int32_t)old_len) == 0 ? 0 : UPD_E_NOMEM;
    double t1 = upd_now();
    if (!rc && p->progress)
        p->progress(p->progress_user, UPD_PHASE_INDEX, old_len, old_len);
    sa_index ix = { sa, old_img, old_len, NULL, 0 };
    if (!rc)
        rc = gram_filter(&ix);
    scan_job j = { .ix = &ix, .nw = new_img, .nn = new_len, .chunks = chunks, .margins = margins,
                   .n_margins = n_margins, .parts = parts, .p = p };
    atomic_init(&j.scanned, 0);
    if (!rc)
        rc = upd_parallel(items, p->threads, scan_chunk, &j);
    for (size_t m = 0; !rc && m < n_margins; m++)
        rc = join_parts(parts + m * chunks, chunks, &out[m]);
    for (size_t i = 0; i < items; i++)
        free(parts[i].v);
    free(parts);
    free((void *)ix.seen);
    free(sa);
    st->t_index = t1 - t0;
    st->t_match = upd_now() - t1;
    return rc;
}
