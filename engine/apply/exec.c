/* Pass 2: run a validated segment.  Each operation runs as steps of at most
 * one chunk (the I/O buffer); with a journal, consecutive steps form commit
 * units of about journal_unit moved bytes.
 *
 * A unit is made safe to re-run before it starts.  Its save area (written
 * with the slot naming the unit, then a flush) gets the image bytes it reads
 * and also overwrites, and the "fringes": the rest of every block its writes
 * touch (the header's block_size), because a torn write may damage a whole
 * block (zeros, garbage), not only the bytes written; likewise the block
 * before the stash bytes it appends.  Every other byte the unit reads or
 * leaves alone is untouched while it runs (pass 1 rejects reads of bytes
 * written earlier unless the stash serves them).  After a crash, the saved
 * ranges are put back and the unit re-runs from its first step, ending in
 * the same state as an uninterrupted run.  After the unit: target and stash
 * flushed; the next unit's slot records the progress.
 *
 * Zero-copy discipline: literal bytes are written straight from the decoded
 * segment buffer (a run of at most 4 KiB is copied beside the writes
 * around it, to go with them as one request); a DIFF reads its source into the I/O buffer, adds its non-zero diff
 * bytes there, and writes that same buffer.  In place, a DIFF
 * step over its own bytes reads and writes only its dirty parts (outside
 * long zero runs): the unit's plan takes the same parts (dirty_next), so
 * the journal saves only what is really overwritten. */
#include "applier.h"
#include "../common/check.h"
#include "../io/io_internal.h"

#include <stdlib.h>
#include <string.h>

/* In place, a DIFF step whose source is its own destination and is read
 * from the image leaves alone every zero run of at least this many bytes:
 * those bytes already are the new ones.  Shorter runs are read and written
 * through (an extra I/O request costs more than 64 bytes).  At most
 * SKIP_PIECES dirty parts per step (the last takes the rest), so a step's
 * reads, writes and their fringes fit a save area's directory. */
#define SKIP_RUN    64
#define SKIP_PIECES 2048
_Static_assert(3 * SKIP_PIECES + 1 <= UPD_JR_RANGES_MAX,
               "a lone step's save list (parts and their fringes) must fit a directory");

/* A sparse DIFF op's records, walked either way: the current one covers
 * zeros [pos, pos+z), then the byte at pos+z, unless pos+z == len (the
 * last record, which has no byte).  The records were checked when the op
 * was loaded, so the varints here are decoded without checks. */
typedef struct {
    const uint8_t *r0;          /* the op's first varint */
    const uint8_t *rp, *rn;     /* the current record's varint, and past it */
    const uint8_t *bp;          /* the first head at or after the current record */
    const uint8_t *tp;          /* the same for tails (NULL: not split) */
    uint64_t pos, z, len;
} sparse_rec;

/* The pointer the current record's byte is at (upd_sparse_cursor). */
static const uint8_t **rec_src(sparse_rec *r)
{
    return r->z == 0 && r->tp ? &r->tp : &r->bp;
}

static void rec_decode(sparse_rec *r)
{
    const uint8_t *p = r->rp;
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
        v |= (uint64_t)(*p & 0x7f) << shift;
        if (!(*p++ & 0x80))
            break;
    }
    r->z = v;
    r->rn = p;
}

static uint64_t rec_end(const sparse_rec *r)
{
    return r->pos + r->z == r->len ? r->len : r->pos + r->z + 1;
}

static void rec_next(sparse_rec *r)
{
    r->pos += r->z + 1;
    (*rec_src(r))++;
    r->rp = r->rn;
    rec_decode(r);
}

/* The start of the varint that ends at END (a varint's last byte is the
 * only one with the high bit clear). */
static const uint8_t *var_start(const sparse_rec *r, const uint8_t *end)
{
    const uint8_t *p = end - 1;
    while (p > r->r0 && (p[-1] & 0x80))
        p--;
    return p;
}

/* The record before: its varint ends where the current one starts. */
static void rec_prev(sparse_rec *r)
{
    r->rp = var_start(r, r->rp);
    rec_decode(r);
    (*rec_src(r))--;
    r->pos -= r->z + 1;
}

/* Move R to the record that holds position X (X < len). */
static void rec_seek(sparse_rec *r, uint64_t x)
{
    while (rec_end(r) <= x)
        rec_next(r);
    while (r->pos > x)
        rec_prev(r);
}

/* Walks a segment's operations as steps, in execution order. */
typedef struct {
    upd_op_cursor c;
    upd_sparse_cursor diff;     /* next unread records */
    const uint8_t *lit;         /* next unread literal bytes */
    upd_op   op;                /* the current operation ... */
    const uint8_t *payload;     /* ... its literal bytes */
    sparse_rec rec;             /* ... its record at the current step's start (DIFF) */
    uint32_t index;             /* ... its index in the segment */
    uint64_t nsteps, step;
    int      backward, done;
} step_iter;

typedef struct {
    upd_op_kind kind;
    uint8_t  fill;              /* FILL: the byte */
    uint64_t size;              /* RESIZE: the new length */
    uint64_t dst, src, n;       /* this step's part of the operation ... */
    uint64_t off;               /* ... from this offset in it */
    const uint8_t *payload;
    sparse_rec rec;             /* DIFF: the record holding the step's first byte */
} step_t;

static uint64_t step_off(const upd_applier *a, const step_iter *it)
{
    return (it->backward ? it->nsteps - 1 - it->step : it->step) * a->chunk;
}

/* The DIFF op just loaded: its records (checked here, once per load, which
 * also finds where the next op's records start), the cursor on the first
 * step's. */
static int load_records(const upd_applier *a, step_iter *it)
{
    sparse_rec *r = &it->rec;
    r->r0 = r->rp = it->diff.run;
    r->bp = it->diff.byte;
    r->tp = it->diff.tail;
    r->pos = 0;
    r->len = it->op.len;
    UPD_CHECK(upd_sparse_skip(&it->diff, it->op.len));
    if (it->backward) {
        /* start from the last record: no scan from the front per step */
        r->rp = var_start(r, it->diff.run);
        r->bp = it->diff.byte;
        r->tp = it->diff.tail;
        rec_decode(r);
        r->pos = r->len - r->z;
    } else {
        rec_decode(r);
    }
    rec_seek(r, step_off(a, it));
    return 0;
}

static int iter_load(const upd_applier *a, step_iter *it)
{
    int rc = upd_op_next(&it->c, &it->op);
    /* a DROP only changed the saved map, in pass 1: nothing to run */
    while (rc > 0 && it->op.kind == UPD_OP_DROP) {
        it->index++;
        rc = upd_op_next(&it->c, &it->op);
    }
    UPD_CHECK(rc);
    it->done = rc == 0;
    if (it->done)
        return 0;
    const upd_op *op = &it->op;
    it->payload = NULL;
    if (op->kind == UPD_OP_LIT) {
        it->payload = it->lit;
        it->lit += op->len;
    }
    it->step = 0;
    it->nsteps = op->kind == UPD_OP_RESIZE || !op->len ? 1 : (op->len + a->chunk - 1) / a->chunk;
    /* in place, a source overlapping its destination from below is walked
     * back to front (memmove order) */
    it->backward = (op->kind == UPD_OP_COPY || op->kind == UPD_OP_DIFF) && !a->p.source
                   && op->src < op->dst && op->src + op->len > op->dst;
    return op->kind == UPD_OP_DIFF ? load_records(a, it) : 0;
}

static int iter_init(const upd_applier *a, step_iter *it, const upd_seg_entry *e)
{
    memset(it, 0, sizeof *it);
    UPD_CHECK(upd_op_cursor_init(&it->c, a->dbuf, e->ctrl_len));
    upd_ap_sparse_init(a, e, &it->diff);
    it->lit = it->diff.tail ? it->diff.tail_end : it->diff.byte_end;
    return iter_load(a, it);
}

/* Step STEP of the current op; its DIFF records' cursor follows. */
static void iter_step(const upd_applier *a, step_iter *it, uint64_t step)
{
    it->step = step;
    if (it->op.kind == UPD_OP_DIFF)
        rec_seek(&it->rec, step_off(a, it));
}

static int iter_advance(const upd_applier *a, step_iter *it)
{
    if (it->step + 1 < it->nsteps) {
        iter_step(a, it, it->step + 1);
        return 0;
    }
    it->index++;
    return iter_load(a, it);
}

static void iter_get(const upd_applier *a, const step_iter *it, step_t *s)
{
    const upd_op *op = &it->op;
    uint64_t off = step_off(a, it);
    s->kind = op->kind;
    s->fill = op->fill;
    s->size = op->len;
    s->n = op->kind == UPD_OP_RESIZE ? 0 : (op->len - off < a->chunk ? op->len - off : a->chunk);
    s->off = off;
    s->dst = op->dst + off;
    s->src = op->src + off;
    s->payload = it->payload ? it->payload + off : NULL;
    s->rec = it->rec;
}

/* Position IT at step STEP of operation OP (a journal's resume point). */
static int iter_seek(const upd_applier *a, step_iter *it, uint32_t op, uint64_t step)
{
    while (!it->done && it->index < op) {
        it->index++;
        UPD_CHECK(iter_load(a, it));
    }
    if (it->done || step >= it->nsteps)
        return UPD_E_JOURNAL;
    iter_step(a, it, step);
    return 0;
}

/* ---- a DIFF step's dirty parts ------------------------------------------ */

/* The parts of a step [x, end) (offsets in the op) outside the long zero
 * runs: what an in-place DIFF over its own bytes reads and writes.  One
 * walker for the step that runs and the journal's plan of it. */
typedef struct {
    sparse_rec r;
    uint64_t x, end;
    unsigned n;                 /* parts returned */
} dirty_iter;

static void dirty_init(dirty_iter *d, const step_t *s)
{
    *d = (dirty_iter){ .r = s->rec, .x = s->off, .end = s->off + s->n };
}

static int in_gap(const dirty_iter *d)
{
    return d->r.z >= SKIP_RUN && d->x < d->r.pos + d->r.z && d->n < SKIP_PIECES;
}

/* The next part [*lo, *hi) (offsets in the op), or 0 when none is left. */
static int dirty_next(dirty_iter *d, uint64_t *lo, uint64_t *hi)
{
    while (d->x < d->end && in_gap(d))
        d->x = d->r.pos + d->r.z < d->end ? d->r.pos + d->r.z : d->end;
    if (d->x >= d->end)
        return 0;
    *lo = d->x;
    d->n++;
    while (d->x < d->end && !in_gap(d)) {
        uint64_t e = rec_end(&d->r);
        d->x = e < d->end ? e : d->end;
        if (d->x < d->end)
            rec_next(&d->r);
    }
    *hi = d->x;
    return 1;
}

/* A DIFF step in place whose source is its destination and whose old
 * bytes all come from the image (with STASH_DONE stash bytes): only its
 * dirty parts are read and written.  Bytes the stash serves may have been
 * overwritten in the image: such a step writes everything. */
static int skips_zero_runs(const upd_applier *a, const step_t *s, uint64_t stash_done)
{
    uint64_t soff, part;
    return s->kind == UPD_OP_DIFF && !a->p.source && s->src == s->dst
           && !upd_ap_old_part(a, s->src, s->src + s->n, stash_done, &soff, &part)
           && part == s->n;
}

/* ---- queued target writes ------------------------------------------------ */

static int cmp_req(const void *x, const void *y)
{
    const upd_io_req *p = x, *q = y;
    return p->off < q->off ? -1 : p->off > q->off;
}

/* Run the N requests of RQ as one batch in file order (N becomes 0): a
 * batch may run in any order (io.h), and sorted, pieces that meet in the
 * file join into one system call (upd_io_gather) whatever the order of
 * the steps that made them; a group's steps often read a few places in
 * turn (a schedule made for cycles visits the image out of order). */
static int run_sorted(upd_io *io, upd_io_req *rq, unsigned *n)
{
    unsigned k = *n;
    *n = 0;
    if (!k)
        return 0;
    qsort(rq, k, sizeof *rq, cmp_req);
    return upd_io_run(io, rq, k);
}

/* Steps do not write one by one: their writes are queued and submitted
 * together (a unit's end, a full queue or buffer, a resize, before the
 * dictionary window is read, and before any read or write of bytes a queued
 * write covers), so a run of small writes costs one io_uring_enter, or one
 * pwritev where they are contiguous, instead of a system call each.  A
 * step's bytes get a room in the I/O buffer after the queued ones (and
 * after a group's rooms, wq_hold); a write joins the one before it when
 * both are contiguous in the image and in memory.  The queue goes in file
 * order (run_sorted). */
static int wq_submit(upd_applier *a)
{
    a->wq_used = a->wq_hold;
    return run_sorted(a->p.target, a->wq, &a->wq_n);
}

int upd_ap_wq_guard(upd_applier *a, uint64_t off, uint64_t len)
{
    if (!a->wq_n || off >= a->wq_hi || off + len <= a->wq_lo)
        return 0;
    for (unsigned i = 0; i < a->wq_n; i++)
        if (off < a->wq[i].off + a->wq[i].len && a->wq[i].off < off + len)
            return wq_submit(a);
    return 0;
}

static int in_iobuf(const upd_applier *a, const void *p)
{
    return (const uint8_t *)p >= a->iobuf && (const uint8_t *)p < a->iobuf + a->iobuf_size;
}

/* Room in the I/O buffer for N bytes bound for DST, after the bytes in use,
 * at an address congruent to DST modulo the buffer alignment (so that the
 * request's aligned middle stays O_DIRECT-able, and a room whose step
 * continues the one before in the image continues it in memory too).
 * When there is none: the queue is submitted first if SUBMIT, else 1. */
static int wq_room(upd_applier *a, uint64_t dst, uint64_t n, int submit, uint8_t **buf)
{
    const size_t al = UPD_IO_BUF_ALIGN;
    size_t want = (size_t)(dst % al);
    size_t at = (a->wq_used + al - 1 - want) / al * al + want;
    if (at < a->wq_used || at + n > a->iobuf_size) {
        if (!submit)
            return 1;
        if (a->wq_hold)
            return UPD_E_INTERNAL;   /* rooms held: the buffer is not free */
        UPD_CHECK(wq_submit(a));
        at = want + n <= a->iobuf_size ? want : 0;
    }
    a->wq_used = at + n;
    *buf = a->iobuf + at;
    return 0;
}

/* Queue the write of BUF[0..N) at DST (BUF in a room, or the segment's
 * literal bytes). */
static int wq_write(upd_applier *a, const uint8_t *buf, uint64_t n, uint64_t dst)
{
    if (!n)
        return 0;
    /* a batch never holds two writes over the same bytes (io.h: a
     * backend may run its requests in any order) */
    UPD_CHECK(upd_ap_wq_guard(a, dst, n));
    if (in_iobuf(a, buf) && (size_t)(buf - a->iobuf) + n > a->wq_used)
        a->wq_used = (size_t)(buf - a->iobuf + n);
    if (!a->wq_n) {
        a->wq_lo = dst;
        a->wq_hi = dst + n;
    }
    upd_io_req *last = a->wq_n ? &a->wq[a->wq_n - 1] : NULL;
    if (last && last->off + last->len == dst && (const uint8_t *)last->buf + last->len == buf
        && last->len + n <= UPD_IO_MAX_REQ)
        last->len += (uint32_t)n;
    else
        a->wq[a->wq_n++] = (upd_io_req){ (void *)buf, dst, (uint32_t)n, UPD_IO_WRITE };
    a->wq_lo = dst < a->wq_lo ? dst : a->wq_lo;
    a->wq_hi = dst + n > a->wq_hi ? dst + n : a->wq_hi;
    return a->wq_n == UPD_WQ_MAX ? wq_submit(a) : 0;
}

/* ---- the diff bytes ------------------------------------------------------ */

/* 16 bytes at a time with the compiler's vector extension (gcc and
 * clang), the scalar tail after. */
void upd_ap_add_bytes(uint8_t *dst, const uint8_t *src, size_t n)
{
    typedef uint8_t v16 __attribute__((vector_size(16)));
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v16 x, y;
        memcpy(&x, dst + i, 16);
        memcpy(&y, src + i, 16);
        x += y;
        memcpy(dst + i, &x, 16);
    }
    for (; i < n; i++)
        dst[i] = (uint8_t)(dst[i] + src[i]);
}

/* Add the step's diff bytes to BUF (its bytes from offset s->off in the
 * op); runs of consecutive non-zero bytes are added as one span. */
static void add_records(const step_t *s, uint8_t *buf)
{
    sparse_rec r = s->rec;
    uint64_t end = s->off + s->n;
    while (r.pos + r.z < end && r.pos + r.z < r.len) {
        uint64_t at = r.pos + r.z;
        const uint8_t **src = rec_src(&r), *b = *src;
        size_t k = 1;
        rec_next(&r);
        /* the records after it with no zeros before their byte: one 0x00
         * varint each, taken in bulk (split, they are tails, in a row) */
        size_t j = r.z || r.pos >= end ? 0 : upd_zero_prefix(r.rp, (size_t)(end - r.pos));
        if (j) {
            if (r.tp && src == &r.bp) {
                upd_ap_add_bytes(buf + (at - s->off), b, 1);   /* the head */
                at++;
                b = r.tp;
                k = 0;
            }
            k += j;
            r.pos += j;
            *rec_src(&r) += j;
            r.rp += j;
            rec_decode(&r);
        }
        upd_ap_add_bytes(buf + (at - s->off), b, k);
    }
}

/* ---- groups of steps ----------------------------------------------------- */

/* Steps run in groups: first each step gets its room in the I/O buffer
 * (literal runs of at most GRP_COPY_MAX bytes and fills are placed there)
 * and its image and stash reads are listed; then the reads go to each
 * backend as one batch (one io_uring_enter for up to GRP_STEPS steps);
 * then each step's diff bytes are added and its writes queued, in step
 * order, and the group's STASH bytes go to the stash as one batch.
 * Reading a group's sources before its writes is what running the steps
 * one by one does too: no step reads image bytes an earlier one wrote
 * (pass 1; the stash serves those), and within an op the walk order keeps
 * a step's writes off the later steps' sources.  A STASH reads bytes no
 * step wrote yet, so a later step of its group reads them from the image
 * too, in the same batch, rather than from the stash they have not
 * reached (BASE: the stash bytes written before the group); the
 * journal's plan counts them among the unit's reads, through the STASH.
 * Short literal runs are copied so that they join the writes around
 * them: one request instead of three costs less than the copy. */
#define GRP_STEPS    64
#define GRP_READS    128
#define GRP_COPY_MAX 4096u

typedef struct {
    step_t   s[GRP_STEPS];
    uint8_t *buf[GRP_STEPS];    /* the step's room (NULL: a long literal run,
                                   written from the decoded segment) */
    uint8_t  dirty[GRP_STEPS];  /* the step reads and writes its dirty parts only */
    unsigned n;
    upd_io_req rq[GRP_READS];   /* image reads not yet submitted ... */
    unsigned nr;
    upd_io_req sr[GRP_READS];   /* ... and stash reads */
    unsigned nsr;
    upd_io_req sw[GRP_STEPS];   /* its STASH steps' stash writes */
    unsigned nsw;
    uint64_t base;              /* stash bytes written before the group */
} group_t;

/* The group's reads: from the image, and from the stash (bytes saved by
 * the STASH steps of earlier groups, written before this one began). */
static int grp_read_flush(upd_applier *a, group_t *g)
{
    UPD_CHECK(run_sorted(upd_ap_old(a), g->rq, &g->nr));
    return run_sorted(a->stash, g->sr, &g->nsr);
}

/* List the read of image bytes [x, x+n) into BUF, or with STASH of stash
 * bytes [x, x+n). */
static int grp_read(upd_applier *a, group_t *g, int stash, uint8_t *buf, uint64_t x, uint64_t n)
{
    a->st.bytes_read += n;
    if (!a->p.source && !stash)
        UPD_CHECK(upd_ap_wq_guard(a, x, n));
    if (g->nr == GRP_READS || g->nsr == GRP_READS)
        UPD_CHECK(grp_read_flush(a, g));
    upd_io_req r = { buf, x, (uint32_t)n, UPD_IO_READ };
    if (stash)
        g->sr[g->nsr++] = r;
    else
        g->rq[g->nr++] = r;
    return 0;
}

/* A COPY/DIFF step's old bytes into BUF: its DIRTY parts only; else every
 * byte, from the stash where a STASH of an earlier group saved it, else
 * from the image. */
static int grp_reads(upd_applier *a, group_t *g, const step_t *s, uint8_t *buf, int dirty)
{
    if (dirty) {
        dirty_iter d;
        uint64_t lo, hi;
        for (dirty_init(&d, s); dirty_next(&d, &lo, &hi);)
            UPD_CHECK(grp_read(a, g, 0, buf + (lo - s->off), s->src + (lo - s->off), hi - lo));
        return 0;
    }
    for (uint64_t x = s->src, end = s->src + s->n; x < end;) {
        uint64_t soff, k;
        int stash = upd_ap_old_part(a, x, end, g->base, &soff, &k);
        UPD_CHECK(grp_read(a, g, stash, buf, stash ? soff : x, k));
        buf += k;
        x += k;
    }
    return 0;
}

/* A STASH step in a group: its bytes are read into BUF with the group's
 * and written to the stash after them (out of place nothing is read or
 * written: its bytes stay readable in the source, upd_ap_old_part). */
static int grp_stash(upd_applier *a, group_t *g, const step_t *s, uint8_t *buf)
{
    if (!a->p.source) {
        UPD_CHECK(grp_read(a, g, 0, buf, s->src, s->n));
        g->sw[g->nsw++] = (upd_io_req){ buf, a->stash_done, (uint32_t)s->n, UPD_IO_WRITE };
        a->st.stash_bytes += s->n;
    }
    a->stash_done += s->n;
    return 0;
}

/* A grouped step, its reads done: add the diff, queue the writes. */
static int grp_finish(upd_applier *a, const step_t *s, const uint8_t *buf, int dirty)
{
    if (s->kind == UPD_OP_STASH)
        return 0;
    if (s->kind == UPD_OP_DIFF)
        add_records(s, (uint8_t *)buf);
    if (dirty) {
        dirty_iter d;
        uint64_t lo, hi;
        for (dirty_init(&d, s); dirty_next(&d, &lo, &hi);)
            UPD_CHECK(wq_write(a, buf + (lo - s->off), hi - lo, s->dst + (lo - s->off)));
        return 0;
    }
    return wq_write(a, buf ? buf : s->payload, s->n, s->dst);
}

/* Run the steps from IT, at most MAX (at least one) and while they can
 * share a group; returns how many ran, IT past them.  A RESIZE runs
 * alone. */
static int64_t run_group(upd_applier *a, step_iter *it, int64_t max)
{
    group_t g;
    step_t s;
    g.n = g.nr = g.nsr = g.nsw = 0;
    g.base = a->stash_done;
    iter_get(a, it, &s);
    if (s.kind == UPD_OP_RESIZE) {
        UPD_CHECK(wq_submit(a));
        a->exec_size = s.size;
        UPD_CHECK(upd_io_resize(a->p.target, s.size));
        UPD_CHECK(iter_advance(a, it));
        return 1;
    }
    /* the literal frame is decoded against its dictionary when the first
     * LIT runs (the ops before it wrote the window's bytes) */
    if (s.kind == UPD_OP_LIT && !a->lits_ready && a->manifest[a->seg].dict_len) {
        UPD_CHECK(wq_submit(a));
        UPD_CHECK(upd_ap_decode_lits(a, &a->manifest[a->seg]));
        a->lits_ready = 1;
    }
    for (; g.n < GRP_STEPS && g.n < max && !it->done; g.n++) {
        iter_get(a, it, &s);
        if (s.kind == UPD_OP_RESIZE
            || (s.kind == UPD_OP_LIT && !a->lits_ready && a->manifest[a->seg].dict_len))
            break;
        uint8_t *buf = NULL;
        int stash = s.kind == UPD_OP_STASH;
        if (stash ? !a->p.source : s.kind != UPD_OP_LIT || s.n <= GRP_COPY_MAX) {
            int rc = wq_room(a, stash ? s.src : s.dst, s.n, g.n == 0, &buf);
            UPD_CHECK(rc);
            if (rc)
                break;      /* no room left without submitting the group's */
        }
        a->wq_hold = a->wq_used;
        /* as running the steps one by one decides it (and the unit's plan) */
        g.dirty[g.n] = (uint8_t)skips_zero_runs(a, &s, a->stash_done);
        if (s.kind == UPD_OP_LIT && buf)
            memcpy(buf, s.payload, (size_t)s.n);
        else if (s.kind == UPD_OP_FILL)
            memset(buf, s.fill, (size_t)s.n);
        else if (stash)
            UPD_CHECK(grp_stash(a, &g, &s, buf));
        else if (s.kind != UPD_OP_LIT)
            UPD_CHECK(grp_reads(a, &g, &s, buf, g.dirty[g.n]));
        g.s[g.n] = s;
        g.buf[g.n] = buf;
        UPD_CHECK(iter_advance(a, it));
    }
    UPD_CHECK(grp_read_flush(a, &g));
    for (unsigned i = 0; i < g.n; i++)
        UPD_CHECK(grp_finish(a, &g.s[i], g.buf[i], g.dirty[i]));
    if (g.nsw)
        UPD_CHECK(upd_io_run(a->stash, g.sw, g.nsw));
    a->wq_hold = 0;
    return g.n;
}

/* ---- commit units -------------------------------------------------------- */

/* The hull of the image-served parts of old bytes [x, x+n) when the stash
 * holds STASH_DONE bytes: a superset of what the step reads from the image
 * (saving a few bytes too many is harmless; one range per step keeps the
 * directory bounded however the stash fragments). */
static int push_image_reads(upd_applier *a, uint64_t x, uint64_t n, uint64_t stash_done)
{
    uint64_t first = UINT64_MAX, last = 0;
    for (uint64_t end = x + n; x < end;) {
        uint64_t soff, k;
        if (!upd_ap_old_part(a, x, end, stash_done, &soff, &k)) {
            if (first == UINT64_MAX)
                first = x;
            last = x + k;
        }
        x += k;
    }
    return first == UINT64_MAX ? 0 : upd_jlist_push(&a->rd, first, last - first);
}

/* What run_dirty reads and writes: pushed to a->rd and a->wr when PUSH,
 * else only counted.  Returns the parts; *MOVED gets their bytes. */
static int64_t plan_dirty(upd_applier *a, const step_t *s, int push, uint64_t *moved)
{
    dirty_iter d;
    uint64_t lo, hi;
    int64_t n = 0;
    *moved = 0;
    for (dirty_init(&d, s); dirty_next(&d, &lo, &hi); n++) {
        if (push) {
            UPD_CHECK(upd_jlist_push(&a->rd, s->src + (lo - s->off), hi - lo));
            UPD_CHECK(upd_jlist_push(&a->wr, s->dst + (lo - s->off), hi - lo));
        }
        *moved += hi - lo;
    }
    return n;
}

/* Walk the unit that starts at IT (a copy), at most MAX_STEPS steps:
 * collect its image reads and writes in a->rd and a->wr and the stash
 * bytes it appends; returns its step count, *END the iterator past it.
 * The unit ends once its steps moved unit_bytes (reads and writes) or its
 * range lists fill the save area's directory. */
static int64_t plan_unit(upd_applier *a, step_iter it, int64_t max_steps, uint64_t stash_done,
                         uint64_t size, step_iter *end)
{
    uint64_t moved = 0;
    int64_t k = 0;
    a->rd.n = a->wr.n = 0;
    a->stash_from = stash_done;
    a->resize_planned = 0;
    for (; !it.done && k < max_steps; k++) {
        if (k && (moved >= a->js.unit_bytes
                  || a->rd.n + 3 * a->wr.n + 8 > UPD_JR_RANGES_MAX))
            break;
        step_t s;
        iter_get(a, &it, &s);
        uint64_t step_moved = s.n;
        switch (s.kind) {
        case UPD_OP_COPY:
        case UPD_OP_DIFF:
            if (skips_zero_runs(a, &s, stash_done)) {
                /* one step may add many ranges: it goes to the next unit
                 * when they would overflow this one's directory */
                int64_t parts = plan_dirty(a, &s, 0, &step_moved);
                if (k && a->rd.n + 3 * a->wr.n + 4 * (uint64_t)parts + 8 > UPD_JR_RANGES_MAX)
                    goto end;
                UPD_CHECK(plan_dirty(a, &s, 1, &step_moved));
                break;
            }
            UPD_CHECK(push_image_reads(a, s.src, s.n, stash_done));
            /* fall through */
        case UPD_OP_LIT:
        case UPD_OP_FILL:
            UPD_CHECK(upd_jlist_push(&a->wr, s.dst, s.n));
            break;
        case UPD_OP_STASH:
            UPD_CHECK(upd_jlist_push(&a->rd, s.src, s.n));
            stash_done += s.n;
            break;
        case UPD_OP_RESIZE:
            /* a shrink destroys the bytes past the new end */
            if (it.op.len < size)
                UPD_CHECK(upd_jlist_push(&a->wr, it.op.len, size - it.op.len));
            size = it.op.len;
            a->resize_planned = 1;
            break;
        default:
            return UPD_E_INTERNAL;
        }
        moved += step_moved;
        UPD_CHECK(iter_advance(a, &it));
    }
end:
    a->stash_done_planned = stash_done;
    a->size_planned = size;
    *end = it;
    return k;
}

static int cmp_range(const void *x, const void *y)
{
    const upd_jrange *p = x, *q = y;
    return p->off < q->off ? -1 : p->off > q->off;
}

/* Sort L's ranges from FROM on and merge those that overlap or touch. */
static void normalize(upd_jlist *l, size_t from)
{
    size_t o = from, i = from + 1;
    /* steps mostly walk the image forward: often sorted already */
    while (i < l->n && l->v[i - 1].off <= l->v[i].off)
        i++;
    if (i < l->n)
        qsort(l->v + from, l->n - from, sizeof *l->v, cmp_range);
    for (i = from; i < l->n; i++) {
        if (!l->v[i].len)
            continue;
        if (o > from && l->v[i].off <= l->v[o - 1].off + l->v[o - 1].len) {
            uint64_t end = l->v[i].off + l->v[i].len;
            if (end > l->v[o - 1].off + l->v[o - 1].len)
                l->v[o - 1].len = end - l->v[o - 1].off;
        } else {
            l->v[o++] = l->v[i];
        }
    }
    l->n = o;
}

/* What the unit planned in a->rd / a->wr must save, into OUT: first the
 * bytes it reads and overwrites (*N_EARLY ranges: no unit before it writes
 * them, as pass 1 checked, so they may be saved while the unit before
 * runs), then the fringes of the blocks its writes touch (within the image
 * as it is when the unit starts, SIZE bytes) and the stash block its first
 * STASH write lands in. */
static int save_list(upd_applier *a, uint64_t size, upd_jlist *out, size_t *n_early)
{
    uint64_t bs = a->h.block_size;
    normalize(&a->rd, 0);
    normalize(&a->wr, 0);
    out->n = 0;
    for (size_t i = 0, j = 0; i < a->rd.n && j < a->wr.n;) {
        const upd_jrange *r = &a->rd.v[i], *w = &a->wr.v[j];
        uint64_t lo = r->off > w->off ? r->off : w->off;
        uint64_t re = r->off + r->len, we = w->off + w->len, hi = re < we ? re : we;
        if (lo < hi)
            UPD_CHECK(upd_jlist_push(out, lo, hi - lo));
        if (re < we)
            i++;
        else
            j++;
    }
    *n_early = out->n;
    for (size_t j = 0; j < a->wr.n; j++) {
        const upd_jrange *w = &a->wr.v[j];
        uint64_t prev_end = j ? a->wr.v[j - 1].off + a->wr.v[j - 1].len : 0;
        uint64_t next = j + 1 < a->wr.n ? a->wr.v[j + 1].off : UINT64_MAX;
        uint64_t head = w->off / bs * bs, end = w->off + w->len;
        uint64_t tail = end % bs ? end + (bs - end % bs) : end;
        head = head > prev_end ? head : prev_end;
        tail = tail < next ? tail : next;
        tail = tail < size ? tail : size;
        if (head < w->off && head < size)
            UPD_CHECK(upd_jlist_push(out, head, (w->off < size ? w->off : size) - head));
        if (end < tail)
            UPD_CHECK(upd_jlist_push(out, end, tail - end));
    }
    normalize(out, *n_early);
    uint64_t s0 = a->stash_from / bs * bs;
    if (a->stash_done_planned > a->stash_from && s0 < a->stash_from)
        UPD_CHECK(upd_jlist_push(out, s0 | UPD_JR_STASH, a->stash_from - s0));
    return 0;
}

/* A unit's plan: where it starts (operation, step, stash bytes, image
 * length), its steps and early ranges, the iterator past it, and the state
 * it leaves. */
typedef struct {
    uint32_t at_op;
    uint64_t at_step, at_stash, at_size;
    int64_t  k;                 /* 0: no plan */
    size_t   n_early;
    step_iter end;
    uint64_t stash_after, size_after;
    int      resizes;
} unit_plan;

/* The unit at IT, when it starts with STASH_DONE stash bytes and an image
 * of SIZE bytes, into P, with its save list in SAVE (the first P->n_early
 * ranges early).  A unit whose save list would overflow the save area
 * (many write fringes) is halved until it fits; the result depends on the
 * package alone, so a re-run after a crash finds the same unit. */
static int next_unit(upd_applier *a, const step_iter *it, uint64_t stash_done, uint64_t size,
                     upd_jlist *save, unit_plan *p)
{
    int64_t k = INT64_MAX;
    for (;;) {
        k = plan_unit(a, *it, k, stash_done, size, &p->end);
        if (k < 0)
            return (int)k;
        UPD_CHECK(save_list(a, size, save, &p->n_early));
        uint64_t bytes = 0;
        for (size_t i = 0; i < save->n; i++)
            bytes += save->v[i].len;
        if (k == 1 || (save->n <= UPD_JR_RANGES_MAX && bytes <= upd_jr_data_cap(a)))
            break;
        k /= 2;
    }
    *p = (unit_plan){ .at_op = it->index, .at_step = it->step, .at_stash = stash_done,
                      .at_size = size, .k = k, .n_early = p->n_early, .end = p->end,
                      .stash_after = a->stash_done_planned, .size_after = a->size_planned,
                      .resizes = a->resize_planned };
    return 0;
}

/* The unit at IT, planned: NEXT when that is its plan (prepared while the
 * unit before ran, the plan a pure function of where the unit starts), its
 * save list then a->saved_dir; else planned now into CUR, its save list in
 * a->save.  Returns the save list. */
static const upd_jlist *plan_of(upd_applier *a, const step_iter *it, const unit_plan *next,
                                unit_plan *cur, int *rc)
{
    *rc = 0;
    if (next->k && next->at_op == it->index && next->at_step == it->step
        && next->at_stash == a->stash_done && next->at_size == a->exec_size) {
        *cur = *next;
        return &a->saved_dir;
    }
    *rc = next_unit(a, it, a->stash_done, a->exec_size, &a->save, cur);
    return &a->save;
}

/* The unit CUR is committed and about to run: plan the unit after it in
 * this segment into NEXT and open its save area, whose early ranges are
 * then saved between this unit's steps.  Not after a unit that resizes the
 * image (the next one's reads may lie past today's end).  Planned from the
 * state CUR will leave; should the unit start elsewhere (plan_of plans it
 * again), upd_jr_commit keeps the area only if it saves the same ranges. */
static int prepare_next(upd_applier *a, const unit_plan *cur, unit_plan *next)
{
    next->k = 0;
    if (cur->resizes || cur->end.done)
        return 0;
    UPD_CHECK(next_unit(a, &cur->end, cur->stash_after, cur->size_after, &a->saved_dir, next));
    return upd_jr_prepare(a, &a->saved_dir, next->n_early);
}

static int flush_unit(upd_applier *a, uint64_t stash_before)
{
    UPD_CHECK(wq_submit(a));
    a->st.flushes++;
    UPD_CHECK(upd_io_flush(a->p.target));
    /* a stash inside the journal is made durable by the next slot's flush */
    if (a->stash_done != stash_before && a->stash != a->stash_view) {
        a->st.flushes++;
        UPD_CHECK(upd_io_flush(a->stash));
    }
    a->st.units++;
    return 0;
}

int upd_ap_execute_segment(upd_applier *a, const upd_seg_entry *e)
{
    step_iter it;
    int replay = 0;
    a->lits_ready = 0;
    UPD_CHECK(iter_init(a, &it, e));
    if (a->resume && a->js.seg == a->seg) {
        UPD_CHECK(iter_seek(a, &it, a->js.op, a->js.step));
        a->stash_done = a->js.stash_done;
        a->exec_size = a->js.image_size;
        a->resume = 0;
        replay = 1;
    }
    if (!a->p.journal) {
        while (!it.done) {
            int64_t m = run_group(a, &it, INT64_MAX);
            if (m < 0)
                return (int)m;
        }
        return wq_submit(a);
    }
    unit_plan cur, next = { .k = 0 };
    while (!it.done) {
        int rc;
        const upd_jlist *save = plan_of(a, &it, &next, &cur, &rc);
        UPD_CHECK(rc);
        if (replay) {
            /* back to the state the unit first started from */
            UPD_CHECK(upd_io_resize(a->p.target, a->exec_size));
            UPD_CHECK(upd_jr_restore(a));
        } else {
            UPD_CHECK(upd_jr_commit(a, a->seg, it.index, it.step, save, cur.n_early));
        }
        UPD_CHECK(prepare_next(a, &cur, &next));
        uint64_t stash_before = a->unit_stash_from = a->stash_done;
        const int64_t k = cur.k;
        for (int64_t i = 0; i < k;) {
            int64_t m = run_group(a, &it, k - i);
            if (m < 0)
                return (int)m;
            i += m;
            UPD_CHECK(upd_jr_area_pump(a, (uint64_t)i, (uint64_t)k));
        }
        UPD_CHECK(flush_unit(a, stash_before));
        replay = 0;
    }
    return 0;
}
