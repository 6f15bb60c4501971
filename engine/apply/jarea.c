/* A journal save area: a directory of saved ranges, then their bytes, in
 * directory order, as a sequence of zstd frames of at most UPD_ZJ_IN bytes
 * each (level 1: the bytes are old image data, which a fast level halves
 * on executables; independent frames, so that zjob.c compresses them on
 * both CPUs, mostly while the unit before runs).
 *
 *   u32 n | u32 0 | n x (u64 off, u64 len) | zstd frames of sum(len) bytes
 *
 * Bit 63 of off marks a range of the stash rather than the target. */
#include "applier.h"
#include "../common/check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

static int zj_get(upd_applier *a)
{
    /* a worker only when it can run beside this thread */
    int threads = !(a->p.flags & (UPD_APPLY_JOURNAL_INLINE | UPD_APPLY_ONE_THREAD))
                  && sysconf(_SC_NPROCESSORS_ONLN) > 1;
    return a->zj ? 0 : upd_zj_create(&a->zj, threads, UPD_JR_ZSTD_LEVEL);
}

/* ---- writing ------------------------------------------------------------
 * A save area is opened (its directory written), filled, and closed (its
 * last frame: its length and checksum for the slot).  Its first ranges,
 * the "early" ones, hold bytes no unit before it writes, so they can be
 * read and compressed while the unit before runs (exec.c pumps between
 * groups of steps); the rest are read when it closes.  Which I/O happens when
 * depends on the package alone, never on how fast the worker is: a job's
 * output is written when its buffer is next needed, waiting for it if it
 * must, so crash tests see the same write sequence on every run. */

/* Target ranges at most this far apart are read as one (their hull), the
 * bytes between dropped after: a save list holds thousands of small ranges
 * where sparse edits are, and a request costs more than 4 KiB of copying. */
#define HULL_GAP 4096u

/* Read the ranges of the directory from W's position on, up to LIMIT, into
 * BUF (CAP bytes): *GOT bytes, W moved past them. */
static int read_ranges(upd_applier *a, uint8_t *buf, size_t cap, size_t limit, size_t *got)
{
    upd_jwriter *w = &a->jw;
    const upd_jrange *v = a->saved_dir.v;
    *got = 0;
    while (*got < cap && w->ri < limit) {
        const upd_jrange *r = &v[w->ri];
        uint64_t off = (r->off & ~UPD_JR_STASH) + w->rdone, room = cap - *got;
        uint64_t left = r->len - w->rdone, k = left < room ? left : room, take = k;
        size_t j = w->ri + 1;   /* past the ranges this read takes whole */
        if (r->off & UPD_JR_STASH) {
            UPD_CHECK(upd_io_read(a->stash, buf + *got, (size_t)k, off));
            a->st.bytes_read += k;
        } else {
            /* whole ranges after it, close and fitting, join the read */
            uint64_t end = off + k;
            while (k == left && j < limit && !(v[j].off & UPD_JR_STASH) && v[j].off >= end
                   && v[j].off - end <= HULL_GAP && v[j].off + v[j].len - off <= room) {
                end = v[j].off + v[j].len;
                j++;
            }
            UPD_CHECK(upd_ap_wq_guard(a, off, end - off));
            UPD_CHECK(upd_io_read(a->p.target, buf + *got, (size_t)(end - off), off));
            a->st.bytes_read += end - off;
            for (size_t i = w->ri + 1; i < j; i++) {
                memmove(buf + *got + take, buf + *got + (v[i].off - off), (size_t)v[i].len);
                take += v[i].len;
            }
        }
        *got += (size_t)take;
        if (k == left) {
            w->ri = j;
            w->rdone = 0;
        } else {
            w->rdone += k;
        }
    }
    return 0;
}

/* Read the next bytes of the directory's ranges [0, LIMIT) into the free
 * job and submit it (the area's last once every range is read).  A job
 * holds early or late bytes, never both, so the frames come out the same
 * however far the early part got while the unit before ran. */
static int feed(upd_applier *a, size_t limit)
{
    upd_jwriter *w = &a->jw;
    uint8_t *buf = upd_zj_fill(a->zj);
    if (!buf)
        return UPD_E_INTERNAL;
    if (w->ri < w->n_early)
        limit = w->n_early;
    size_t got;
    UPD_CHECK(read_ranges(a, buf, UPD_ZJ_IN, limit, &got));
    w->fed += got;
    w->ended = w->ri == a->saved_dir.n;
    return upd_zj_submit(a->zj, got);
}

/* Write the oldest job's output (waiting for it), freeing its buffer. */
static int drain_one(upd_applier *a)
{
    upd_jwriter *w = &a->jw;
    const uint8_t *p;
    size_t n;
    int rc = upd_zj_take(a->zj, &p, &n);
    if (rc <= 0)
        return rc < 0 ? rc : UPD_E_INTERNAL;
    if (w->at + n > w->limit)
        rc = UPD_E_INTERNAL;   /* the area cap bounds its jobs' frames */
    else
        rc = upd_io_write(a->p.journal, p, n, w->at);
    XXH3_64bits_update(w->x, p, n);
    upd_zj_release(a->zj);
    w->at += n;
    return rc;
}

/* Feed one job of ranges [0, LIMIT), first writing the oldest output when
 * every job is pending. */
static int feed_next(upd_applier *a, size_t limit)
{
    if (!upd_zj_fill(a->zj))
        UPD_CHECK(drain_one(a));
    return feed(a, limit);
}

void upd_jr_area_abort(upd_applier *a)
{
    if (a->zj)
        upd_zj_cancel(a->zj);
    a->jw.open = 0;
}

int upd_jr_area_open(upd_applier *a, const upd_jlist *save, size_t n_early, uint64_t base,
                     uint64_t cap, uint64_t seed)
{
    upd_jwriter *w = &a->jw;
    uint64_t dir = 8 + 16ull * save->n, early = 0;
    if (w->open)
        return UPD_E_INTERNAL;
    UPD_CHECK(zj_get(a));
    if (!w->x && !(w->x = XXH3_createState()))
        return UPD_E_NOMEM;
    upd_jlist *d = &a->saved_dir;
    if (save != d) {
        d->n = 0;
        for (size_t i = 0; i < save->n; i++)
            UPD_CHECK(upd_jlist_push(d, save->v[i].off, save->v[i].len));
    }
    uint8_t *buf = a->iobuf;
    upd_wr32(buf, (uint32_t)save->n);
    upd_wr32(buf + 4, 0);
    for (size_t i = 0; i < save->n; i++) {
        upd_wr64(buf + 8 + 16 * i, save->v[i].off);
        upd_wr64(buf + 8 + 16 * i + 8, save->v[i].len);
        if (i < n_early)
            early += save->v[i].len;
    }
    XXH3_64bits_reset_withSeed(w->x, seed);
    XXH3_64bits_update(w->x, buf, (size_t)dir);
    UPD_CHECK(upd_io_write(a->p.journal, buf, (size_t)dir, base));
    *w = (upd_jwriter){ .open = 1, .x = w->x, .n_early = n_early, .early = early,
                        .base = base, .at = base + dir, .limit = base + cap, .seed = seed };
    return 0;
}

int upd_jr_area_pump(upd_applier *a, uint64_t done, uint64_t total)
{
    upd_jwriter *w = &a->jw;
    /* the early bytes fed keep pace with the unit's steps (both are below
     * 2^32 here: a unit's save area, its steps) */
    while (w->open && w->ri < w->n_early && w->fed * total < w->early * done)
        UPD_CHECK(feed_next(a, w->n_early));
    return 0;
}

/* 1 when the open area is SAVE's at BASE with SEED. */
static int is_open_as(const upd_applier *a, const upd_jlist *save, size_t n_early, uint64_t base,
                      uint64_t seed)
{
    const upd_jwriter *w = &a->jw;
    const upd_jlist *d = &a->saved_dir;
    if (!w->open || w->base != base || w->seed != seed || w->n_early != n_early || d->n != save->n)
        return 0;
    for (size_t i = 0; i < save->n; i++)
        if (d->v[i].off != save->v[i].off || d->v[i].len != save->v[i].len)
            return 0;
    return 1;
}

int upd_jr_area_write(upd_applier *a, const upd_jlist *save, size_t n_early, uint64_t base,
                      uint64_t cap, uint64_t seed, uint64_t *len, uint64_t *sum)
{
    upd_jwriter *w = &a->jw;
    if (!is_open_as(a, save, n_early, base, seed)) {
        upd_jr_area_abort(a);   /* prepared for another unit: not used */
        UPD_CHECK(upd_jr_area_open(a, save, n_early, base, cap, seed));
    }
    int rc = 0;
    while (rc == 0 && !w->ended)
        rc = feed_next(a, a->saved_dir.n);
    while (rc == 0 && upd_zj_pending(a->zj))
        rc = drain_one(a);
    if (rc) {
        upd_jr_area_abort(a);
        return rc;
    }
    w->open = 0;
    *sum = XXH3_64bits_digest(w->x);
    *len = w->at - base;
    return 0;
}

/* Write the decoded bytes [pos, pos+n) of the area to their ranges
 * (*RI: the range holding POS), only stash ranges when STASH_ONLY. */
static int scatter(upd_applier *a, const uint8_t *p, size_t n, uint64_t pos, size_t *ri,
                   int stash_only, uint64_t stash_at)
{
    const upd_jlist *d = &a->saved_dir;
    while (n) {
        if (*ri >= d->n)
            return UPD_E_JOURNAL;   /* more bytes than the directory names */
        const upd_jrange *r = &d->v[*ri];
        uint64_t in_r = pos - r->at, k = r->len - in_r < n ? r->len - in_r : n;
        int stash = (r->off & UPD_JR_STASH) != 0;
        uint64_t off = (r->off & ~UPD_JR_STASH) + in_r;
        if (stash && stash_only)
            UPD_CHECK(upd_io_write(a->p.journal, p, (size_t)k, stash_at + off));
        else if (!stash_only)
            UPD_CHECK(upd_io_write(stash ? a->stash : a->p.target, p, (size_t)k, off));
        p += k;
        pos += k;
        n -= (size_t)k;
        if (pos == r->at + r->len)
            (*ri)++;
    }
    return 0;
}

/* compressed frames are read whole into the I/O buffer (at least 128 KiB:
 * the smallest window is 1 MiB, reader.c) */
_Static_assert(UPD_ZJ_OUT <= (1u << 20) / 8, "a save-area frame fits the I/O buffer");

int upd_jr_area_replay(upd_applier *a, uint64_t base, uint64_t area_len, int stash_only,
                       uint64_t stash_at)
{
    const upd_jlist *d = &a->saved_dir;
    uint64_t dir = 8 + 16ull * d->n, total = d->n ? d->v[d->n - 1].at + d->v[d->n - 1].len : 0;
    UPD_CHECK(zj_get(a));
    /* no save area is being written during a replay: a job's buffer is free */
    uint8_t *jbuf = a->jw.open ? NULL : upd_zj_fill(a->zj);
    if (!jbuf)
        return UPD_E_INTERNAL;
    ZSTD_DCtx_reset(a->dctx, ZSTD_reset_session_and_parameters);
    uint64_t pos = 0, at = base + dir, end = base + area_len;
    size_t ri = 0;
    while (at < end) {
        size_t k = end - at < UPD_ZJ_OUT ? (size_t)(end - at) : UPD_ZJ_OUT;
        UPD_CHECK(upd_io_read(a->p.journal, a->iobuf, k, at));
        /* a zstd frame (not a skippable one), whole, that declares a job's
         * length at most: anything else is garbage or a cut area */
        size_t fsz = ZSTD_findFrameCompressedSize(a->iobuf, k);
        unsigned long long n = ZSTD_getFrameContentSize(a->iobuf, k);
        if (k < 4 || upd_rd32(a->iobuf) != ZSTD_MAGICNUMBER || ZSTD_isError(fsz) || n > UPD_ZJ_IN)
            return UPD_E_JOURNAL;
        size_t r = ZSTD_decompressDCtx(a->dctx, jbuf, UPD_ZJ_IN, a->iobuf, fsz);
        if (ZSTD_isError(r) || r != n)
            return UPD_E_JOURNAL;
        UPD_CHECK(scatter(a, jbuf, r, pos, &ri, stash_only, stash_at));
        pos += r;
        at += fsz;
    }
    return pos == total ? 0 : UPD_E_JOURNAL;
}
