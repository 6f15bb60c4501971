/* Matching: bsdiff's scan (Percival 2003) over a libdivsufsort suffix
 * array of the old image.
 *
 * For each position of the new image we find the longest exact match in the
 * old image by binary search over the suffix array, and keep it only when it
 * beats, by more than 8 bytes, simply continuing the previous alignment.
 * A kept match is then grown forward and backward into an approximate
 * match (a cover) while at least half its bytes agree, because the bytewise
 * difference of two approximately aligned code regions is mostly zeros and
 * compresses far better than either region.  The new image is scanned in
 * fixed 32 MiB chunks, on the generator's threads. */
#include "diff_internal.h"
#include "../common/check.h"
#include "../common/parallel.h"

#include <divsufsort.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const int32_t *sa;
    const uint8_t *old;
    size_t         oldn;
} sa_index;

static size_t common_prefix(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* Longest match of NW[0..NN) among the old image's suffixes; *POS gets its
 * old offset.  A binary search for NW's place in the suffix array, each
 * probe compared from the prefix NW shares with both ends of the range (the
 * suffixes between two that share a prefix with NW share it too), so a long
 * match is not compared again at every probe (Manber and Myers' mlr
 * heuristic); the probes and their outcomes are those of a plain memcmp
 * search. */
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
        if (k < n && ix->old[o + k] < nw[k]) {
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

/* bsdiff's scan of new[from, to) as if the new image ended at TO, starting
 * from the same-offset alignment; covers to OUT.  Progress: bytes scanned
 * are added to *SCANNED, which the caller's thread (THREAD 0) reports. */
typedef struct {
    const sa_index *ix;
    const uint8_t  *nw;
    size_t          nn;
    upd_covers     *parts;        /* one cover list per chunk */
    atomic_size_t   scanned;
    const upd_diff_params *p;
} scan_job;

#define CHUNK (32u << 20)         /* new-image bytes per scan item: fixed, so the
                                     covers do not depend on the thread count */

static int scan_chunk(void *ctx, size_t chunk, unsigned thread)
{
    scan_job *j = ctx;
    const sa_index *ix = j->ix;
    const uint8_t *nw = j->nw;
    size_t from = chunk * CHUNK, nn = j->nn - from < CHUNK ? j->nn : from + CHUNK;
    upd_covers *out = &j->parts[chunk];
    size_t scan = from, len = 0, pos = 0, lastscan = from, lastpos = from, reported = from;
    int64_t lastoffset = 0;
    while (scan < nn) {
        size_t oldscore = 0, scsc;
        scsc = scan += len;
        for (; scan < nn; scan++) {
            len = sa_longest(ix, nw + scan, nn - scan, &pos);
            for (; scsc < scan + len; scsc++)
                oldscore += agrees(ix, nw, scsc, lastoffset);
            if ((len == oldscore && len != 0) || len > oldscore + 8)
                break;
            if (agrees(ix, nw, scan, lastoffset))
                oldscore--;
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
        if (scan - reported >= (1u << 20) || scan >= nn) {
            size_t total = atomic_fetch_add(&j->scanned, scan - reported) + (scan - reported);
            reported = scan;
            if (thread == 0 && j->p->progress)
                j->p->progress(j->p->progress_user, UPD_PHASE_MATCH, total, j->nn);
        }
    }
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
              upd_covers *out, const upd_diff_params *p, upd_diff_stats *st)
{
    if (old_len >= INT32_MAX)
        return UPD_E_DIFF_TOO_LARGE;
    if (old_len < 2 || !new_len)
        return 0;   /* nothing to match against: all literal */
    double t0 = upd_now();
    int32_t *sa = malloc(old_len * sizeof *sa);
    size_t chunks = (new_len + CHUNK - 1) / CHUNK;
    upd_covers *parts = calloc(chunks, sizeof *parts);
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
    sa_index ix = { sa, old_img, old_len };
    scan_job j = { .ix = &ix, .nw = new_img, .nn = new_len, .parts = parts, .p = p };
    atomic_init(&j.scanned, 0);
    if (!rc)
        rc = upd_parallel(chunks, p->threads, scan_chunk, &j);
    if (!rc)
        rc = join_parts(parts, chunks, out);
    for (size_t c = 0; c < chunks; c++)
        free(parts[c].v);
    free(parts);
    free(sa);
    st->t_index = t1 - t0;
    st->t_match = upd_now() - t1;
    return rc;
}
