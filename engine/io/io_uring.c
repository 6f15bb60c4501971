/* io_uring backend (liburing).
 *
 * submit() queues a batch's requests as SQEs and enters the kernel once;
 * reap() waits for every completion.  A batch larger than the ring is fed
 * in as completions free entries.  A new batch submitted while an earlier
 * one is still in flight starts with IOSQE_IO_DRAIN, so batches keep their
 * order (the caller may rely on it, as on the synchronous backends).
 *
 * Each completion is checked against its length: a short transfer is
 * resubmitted for the rest (the retry then reports the real error, e.g.
 * EFBIG or ENOSPC), a read that meets end of file is -ENODATA, a write that
 * moves nothing is -EIO.  The first failure of a batch stops the feeding of
 * its remaining requests and is what reap returns; requests already in
 * flight are still collected, so no buffer is in use after reap.
 *
 * Buffered writes run on the caller's thread, after the requests in
 * flight, through pwrite/pwritev: file systems without asynchronous
 * buffered writes (ext4) make io_uring hand each to a kernel worker, two
 * context switches per request for the same page-cache copy, and the
 * caller waits for the batch anyway (rootfs pair, 5,300 write requests:
 * apply phase 70-78 ms through the ring against 28 ms).  With an O_DIRECT
 * twin a write is cut at its first and last aligned offsets, so only its
 * ends (under the alignment each) are buffered; a batch's ends go in one
 * upd_io_fd_xfer, where one request's tail and the next one's head meet
 * in one pwritev.  Reads, the fsync and
 * O_DIRECT writes go through the ring; reads the caller waits for at once
 * try the page cache on this thread first (ur_run).
 *
 * flush() is the journal's barrier: it first collects every outstanding
 * completion (a write is only known good once its res == len) and the
 * outcome of a writeback start (writeback() sends the whole file's as
 * IORING_OP_SYNC_FILE_RANGE, which a kernel worker runs), then sends
 * IORING_OP_FSYNC with IORING_FSYNC_DATASYNC and waits for it.  The ring is
 * never IOPOLL (that needs every request O_DIRECT, and the applier's
 * unaligned ones are not), so the fsync may go through the ring.
 *
 * Buffers from buf_alloc are page-aligned and registered in a sparse table
 * (IORING_REGISTER_BUFFERS2/UPDATE): requests inside one use READ_FIXED /
 * WRITE_FIXED; other memory works with plain READ/WRITE.  The file (and its
 * O_DIRECT twin) is registered too. */
#define _GNU_SOURCE
#include "updelta/io.h"
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define UR_DEPTH 64u
#define UR_BLOCK (256u << 10)
#define UR_BUFS  16u           /* registered buffer slots (the applier uses up to 4, its
                                  second decoder 3 more) */
#define UR_FSYNC UINT64_MAX    /* user_data of the barrier ... */
#define UR_WB    (UINT64_MAX - 1)  /* ... and of a writeback start */

typedef struct {
    uint8_t *buf;
    uint64_t off;
    uint32_t left;             /* bytes still to move */
    uint8_t  op;
} ur_req;

typedef struct {
    struct io_uring ring;
    int      fd, dfd;          /* buffered and O_DIRECT descriptors (-1: none) */
    int      fixed_files;      /* both registered: SQEs name slots 0 and 1 */
    unsigned dalign;           /* O_DIRECT alignment of offset, length, buffer */
    int      rdonly;
    uint64_t capacity;         /* block devices: fixed size */
    unsigned depth, inflight, setup;
    uint32_t block;            /* requests are cut at multiples of this */
    ur_req  *q;                /* the requests since the last reap ... */
    size_t   nq, capq, next;   /* ... and the first not yet given to the ring */
    upd_io_req *bw;            /* a batch's buffered write pieces (O_DIRECT twin) */
    size_t   nbw, capbw;
    int      err;              /* first failure since the last reap */
    int      dead;             /* io_uring_enter failed: requests may be in flight,
                                  every call fails until close tears the ring down */
    size_t   drain_at;         /* this request waits for all before it (SIZE_MAX: none) */
    int      fixed_bufs;       /* the sparse buffer table exists */
    upd_io_wb wb;              /* buffered writes' early writeback */
    int      wb_busy;          /* a writeback start in the ring, not yet completed */
    struct { uint8_t *p; size_t len; } bufs[UR_BUFS];
} uring_io;

/* ---- requests in and completions out ------------------------------------ */

static int ur_buf_index(const uring_io *u, const uint8_t *p, size_t len)
{
    for (unsigned i = 0; u->fixed_bufs && i < UR_BUFS; i++)
        if (u->bufs[i].p && p >= u->bufs[i].p && len <= u->bufs[i].len
            && (size_t)(p - u->bufs[i].p) <= u->bufs[i].len - len)
            return (int)i;
    return -1;
}

static int ur_direct(const uring_io *u, const ur_req *r)
{
    uint64_t a = u->dalign;
    return u->dfd >= 0 && (uintptr_t)r->buf % a == 0 && r->off % a == 0 && r->left % a == 0;
}

/* The buffered descriptor as an SQE names it (slot 0 when registered). */
static int ur_fd(const uring_io *u) { return u->fixed_files ? 0 : u->fd; }

/* Finish a prepared SQE: registered-file flag, and DATA to know its
 * completion by (a request's index, UR_FSYNC, UR_WB). */
static void ur_tag(const uring_io *u, struct io_uring_sqe *sqe, uint64_t data)
{
    if (u->fixed_files)
        sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, data);
}

/* Give request I to the ring (there is room: inflight < depth). */
static void ur_issue(uring_io *u, size_t i)
{
    const ur_req *r = &u->q[i];
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    int direct = ur_direct(u, r);
    int file = u->fixed_files ? direct : direct ? u->dfd : u->fd;
    int bi = ur_buf_index(u, r->buf, r->left);
    if (r->op == UPD_IO_READ && bi >= 0)
        io_uring_prep_read_fixed(sqe, file, r->buf, r->left, r->off, bi);
    else if (r->op == UPD_IO_READ)
        io_uring_prep_read(sqe, file, r->buf, r->left, r->off);
    else if (bi >= 0)
        io_uring_prep_write_fixed(sqe, file, r->buf, r->left, r->off, bi);
    else
        io_uring_prep_write(sqe, file, r->buf, r->left, r->off);
    if (i == u->drain_at)
        sqe->flags |= IOSQE_IO_DRAIN;
    ur_tag(u, sqe, i);
    u->inflight++;
}

/* Feed queued requests while the ring has room and nothing failed (a
 * writeback start holds one entry: it may sit unsubmitted in the queue). */
static void ur_feed(uring_io *u)
{
    if (u->err)
        u->next = u->nq;
    while (u->next < u->nq && u->inflight + (unsigned)u->wb_busy < u->depth)
        ur_issue(u, u->next++);
}

static void ur_fail(uring_io *u, int neg)
{
    if (!u->err)
        u->err = neg;
}

static void ur_complete(uring_io *u, uint64_t i, int res)
{
    ur_req *r = &u->q[i];
    u->inflight--;
    if (res == -EINTR || res == -EAGAIN) {
        ur_issue(u, i);
        return;
    }
    if (res < 0) {
        ur_fail(u, res);
        return;
    }
    if (res == 0) {
        ur_fail(u, r->op == UPD_IO_READ ? -ENODATA : -EIO);
        return;
    }
    if ((uint32_t)res < r->left) {
        /* short: the rest goes again (its retry names the cause, if any) */
        r->buf += res;
        r->off += (unsigned)res;
        r->left -= (uint32_t)res;
        ur_issue(u, i);
        return;
    }
    r->left = 0;
}

/* Take every completion there is; enter the kernel (submitting what is
 * queued and waiting for at least WAIT completions) only when none is
 * ready: a request that completed inline (a read from the page cache)
 * costs its submission's system call alone. */
static int ur_enter(uring_io *u, unsigned wait, int *fsync_res)
{
    int rc = 0;
    if (!io_uring_cq_ready(&u->ring) || io_uring_sq_ready(&u->ring))
        do
            rc = io_uring_submit_and_wait(&u->ring, wait);
        while (rc == -EINTR || rc == -EAGAIN || rc == -EBUSY);
    if (rc < 0)
        return rc;
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe) {
        uint64_t d = io_uring_cqe_get_data64(cqe);
        if (d == UR_FSYNC) {
            *fsync_res = cqe->res;
        } else if (d == UR_WB) {
            u->wb_busy = 0;
            upd_io_wb_result(&u->wb, cqe->res);
        } else {
            ur_complete(u, d, cqe->res);
        }
        seen++;
    }
    io_uring_cq_advance(&u->ring, seen);
    return 0;
}

/* Wait until every queued request has completed. */
static int ur_drain(uring_io *u)
{
    int unused = 0;
    ur_feed(u);
    while (u->inflight) {
        int rc = ur_enter(u, 1, &unused);
        if (rc < 0)
            return u->dead = rc;
        ur_feed(u);
    }
    return 0;
}

/* ---- methods -------------------------------------------------------------- */

/* P (*CAP elements of SIZE bytes) with room for element N: P itself, or
 * P moved and grown, or NULL (P is left as it was). */
static void *ur_grow(void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return p;
    size_t c = *cap ? 2 * *cap : 64;
    void *q = realloc(p, c * size);
    if (q)
        *cap = c;
    return q;
}

/* Where the piece of [off, end) that starts at OFF ends: at the next
 * multiple of the block, and with an O_DIRECT twin also at the first
 * aligned offset (an unaligned head) and at the last one (before an
 * unaligned tail), so that only the ends of a request, each under the
 * alignment, miss the direct path. */
static uint64_t ur_cut(const uring_io *u, uint64_t off, uint64_t end)
{
    uint64_t cut = (off / u->block + 1) * u->block;
    if (u->dfd >= 0) {
        uint64_t a = u->dalign, up = (off + a - 1) / a * a, down = end / a * a;
        if (off < up && up < cut)
            cut = up;
        else if (off < down && down < cut)
            cut = down;
    }
    return cut < end ? cut : end;
}

/* Queue request R, cut into pieces (ur_cut); a buffered write piece is
 * listed in u->bw, for ur_submit to write on this thread.  0 or a negative
 * errno. */
static int ur_queue(uring_io *u, const upd_io_req *req)
{
    uint8_t *b = req->buf;
    uint64_t off = req->off, end = off + req->len;
    while (off < end) {
        uint32_t k = (uint32_t)(ur_cut(u, off, end) - off);
        ur_req r = { b, off, k, req->op };
        int buffered = r.op == UPD_IO_WRITE && !ur_direct(u, &r);
        void *to = buffered ? ur_grow(u->bw, &u->capbw, u->nbw, sizeof *u->bw)
                            : ur_grow(u->q, &u->capq, u->nq, sizeof *u->q);
        if (!to) {
            ur_fail(u, -ENOMEM);
            return -ENOMEM;
        }
        if (buffered) {
            u->bw = to;
            u->bw[u->nbw++] = (upd_io_req){ b, off, k, UPD_IO_WRITE };
        } else {
            u->q = to;
            u->q[u->nq++] = r;
        }
        b += k;
        off += k;
    }
    return 0;
}

/* Give the ring what it has room for, and enter the kernel once. */
static int ur_kick(uring_io *u)
{
    ur_feed(u);
    int rc = io_uring_submit(&u->ring);
    return rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY ? rc : 0;
}

static int ur_submit(void *ctx, const upd_io_req *reqs, unsigned n)
{
    uring_io *u = ctx;
    if (u->dead)
        return u->dead;
    int writes = 0;
    for (unsigned i = 0; i < n; i++)
        writes |= reqs[i].op == UPD_IO_WRITE;
    if (writes && u->rdonly)
        return -EBADF;
    if (writes) {
        /* buffered writes run on this thread: after what is in flight */
        int rc = ur_drain(u);
        if (rc < 0)
            return rc;
        if (u->dfd < 0) {
            rc = upd_io_fd_xfer(u->fd, reqs, n);
            if (!rc)
                upd_io_wb_note(u->fd, &u->wb, reqs, n);
            return rc;
        }
    }
    u->drain_at = u->inflight || u->next < u->nq ? u->nq : SIZE_MAX;
    u->nbw = 0;
    for (unsigned i = 0; i < n; i++) {
        int rc = ur_queue(u, &reqs[i]);
        if (rc < 0)
            return rc;
    }
    /* the buffered ends in one go: the tail of one request and the head
     * of the next, when they meet, in one pwritev (the caller sends its
     * writes in file order); none after a failure not yet reaped, whose
     * batch's direct pieces are not fed either */
    if (u->err)
        return u->err;
    int rc = u->nbw ? upd_io_fd_xfer(u->fd, u->bw, (unsigned)u->nbw) : 0;
    if (rc < 0) {
        ur_fail(u, rc);       /* the batch's queued pieces are not fed */
        return rc;
    }
    return ur_kick(u);
}

/* Read R from the page cache (preadv2 RWF_NOWAIT) as far as it goes,
 * and queue the rest for the ring. */
static int ur_nowait_or_queue(uring_io *u, upd_io_req r)
{
    while (r.len) {
        struct iovec v = { r.buf, r.len };
        ssize_t got = preadv2(u->fd, &v, 1, (off_t)r.off, RWF_NOWAIT);
        if (got <= 0)
            break;
        r.buf = (uint8_t *)r.buf + got;
        r.off += (uint64_t)got;
        r.len -= (uint32_t)got;
    }
    return r.len ? ur_queue(u, &r) : 0;
}

/* A batch of reads the caller reaps at once, with nothing in flight: a
 * lone read of at most one block runs on this thread (upd_io_fd_xfer, as
 * the POSIX backend does); every other read first tries
 * preadv2(RWF_NOWAIT), which copies from the page cache or refuses
 * (EAGAIN) for one system call: a run of reads at a time (upd_io_gather);
 * a run refused at its start goes to the ring whole, the rest of one cut
 * short is tried read by read.  Only what that leaves (bytes
 * not cached, end of file, an error) is queued for the ring, all of it in
 * one submission, concurrently, where a failure is named as usual.  A
 * ring round trip costs more than a pread for the same page-cache copy,
 * and the caller is waiting, so there is nothing to overlap
 * (docs/ARCHITECTURE.md has the measurement).  Not with an O_DIRECT twin,
 * whose aligned reads bypass the cache. */
static int ur_run(void *ctx, const upd_io_req *reqs, unsigned n)
{
    uring_io *u = ctx;
    int reads = !u->dead && u->dfd < 0 && !u->inflight && u->next == u->nq;
    for (unsigned i = 0; reads && i < n; i++)
        reads = reqs[i].op == UPD_IO_READ;
    if (!reads)
        return ur_submit(ctx, reqs, n);
    if (n == 1 && reqs[0].len <= u->block)
        return upd_io_fd_xfer(u->fd, reqs, 1);
    uint8_t sink[UPD_IO_HOLE];
    for (unsigned i = 0, k; i < n; i += k) {
        upd_io_span s;
        k = upd_io_gather(reqs + i, n - i, sink, &s);
        ssize_t got = s.niov > 1 ? preadv2(u->fd, s.iov, (int)s.niov, (off_t)s.off, RWF_NOWAIT)
                                 : 0;
        for (unsigned j = i; j < i + k; j++) {
            if (got > 0 && reqs[j].off + reqs[j].len <= s.off + (uint64_t)got)
                continue;       /* read by the run */
            /* a lone read tries the cache itself; a run refused at its
             * start goes to the ring whole */
            int rc = s.niov > 1 && got <= 0 ? ur_queue(u, &reqs[j])
                                            : ur_nowait_or_queue(u, reqs[j]);
            if (rc < 0)
                return rc;
        }
    }
    return u->nq ? ur_kick(u) : 0;
}

static int ur_reap(void *ctx)
{
    uring_io *u = ctx;
    if (u->dead)
        return u->dead;
    int rc = ur_drain(u);
    int err = rc < 0 ? rc : u->err;
    u->nq = u->next = 0;
    u->drain_at = SIZE_MAX;
    u->err = 0;
    return err;
}

static int ur_flush(void *ctx)
{
    uring_io *u = ctx;
    int rc = ur_reap(u);
    if (rc < 0 || u->rdonly)
        return rc;
    int unused = 0;
    while (u->wb_busy && rc == 0)
        rc = ur_enter(u, 1, &unused);   /* the writeback start's outcome first */
    if (rc < 0)
        return u->dead = rc;
    int kept = upd_io_wb_take(&u->wb);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    io_uring_prep_fsync(sqe, ur_fd(u), IORING_FSYNC_DATASYNC);
    ur_tag(u, sqe, UR_FSYNC);
    int res = 1;
    while (res == 1 && rc == 0)
        rc = ur_enter(u, 1, &res);
    if (rc < 0)
        u->dead = rc;
    return rc < 0 ? rc : res < 0 ? res : kept;
}

static int ur_size(void *ctx, uint64_t *size)
{
    const uring_io *u = ctx;
    return upd_io_fd_size(u->fd, u->capacity, size);
}

static int ur_resize(void *ctx, uint64_t size)
{
    const uring_io *u = ctx;
    return upd_io_fd_resize(u->fd, u->rdonly, u->capacity, size);
}

static void ur_close(void *ctx)
{
    uring_io *u = ctx;
    if (u->ring.ring_fd >= 0)
        io_uring_queue_exit(&u->ring);
    for (unsigned i = 0; i < UR_BUFS; i++)
        free(u->bufs[i].p);       /* buffers the caller did not give back */
    if (u->dfd >= 0)
        close(u->dfd);
    close(u->fd);
    free(u->q);
    free(u->bw);
    free(u);
}

static void *ur_buf_alloc(void *ctx, size_t size)
{
    uring_io *u = ctx;
    size_t a = u->dalign > UPD_IO_BUF_ALIGN ? u->dalign : UPD_IO_BUF_ALIGN;
    size_t len = (size ? size + a - 1 : a) / a * a;
    void *p;
    if (posix_memalign(&p, a, len))
        return NULL;
    for (unsigned i = 0; u->fixed_bufs && i < UR_BUFS; i++) {
        if (u->bufs[i].p)
            continue;
        /* a failed registration (locked-memory limit) leaves the buffer
         * usable through plain READ/WRITE */
        struct iovec iov = { p, len };
        if (io_uring_register_buffers_update_tag(&u->ring, i, &iov, NULL, 1) == 1) {
            u->bufs[i].p = p;
            u->bufs[i].len = len;
        }
        break;
    }
    return p;
}

static void ur_buf_free(void *ctx, void *p, size_t size)
{
    uring_io *u = ctx;
    (void)size;
    for (unsigned i = 0; i < UR_BUFS; i++) {
        if (u->bufs[i].p != p)
            continue;
        struct iovec none = { NULL, 0 };
        (void)io_uring_register_buffers_update_tag(&u->ring, i, &none, NULL, 1);
        u->bufs[i].p = NULL;
    }
    free(p);
}

/* The whole file's writeback (the buffered descriptor's: direct writes
 * need none), started in the ring: the kernel runs
 * IORING_OP_SYNC_FILE_RANGE in a worker (it may block), so this thread
 * goes on (the applier hashes the new image) while another core hands the
 * dirty pages to the device, work sync_file_range does on the caller's
 * thread.  The next flush collects its outcome before its fsync; close
 * leaves it to the kernel (it holds its own reference to the file) and
 * drops it.  Until it completes it holds one of the
 * ring's entries (ur_feed), and a batch that must wait for what is in
 * flight (IOSQE_IO_DRAIN) waits for it too: the applier has reaped its
 * requests by then.  With a one-entry ring, a full one, no room in it, a
 * start still in it, or a broken ring: the call. */
static void ur_writeback(void *ctx)
{
    uring_io *u = ctx;
    if (u->rdonly || u->wb.off)
        return;
    struct io_uring_sqe *sqe = u->dead || u->wb_busy || u->depth < 2 || u->inflight >= u->depth
                             ? NULL : io_uring_get_sqe(&u->ring);
    if (!sqe) {
        upd_io_wb_all(u->fd, &u->wb);
        return;
    }
    io_uring_prep_sync_file_range(sqe, ur_fd(u), 0, 0, SYNC_FILE_RANGE_WRITE);
    ur_tag(u, sqe, UR_WB);
    u->wb_busy = 1;
    (void)ur_kick(u);   /* a failed submission leaves it queued for the next entry */
}

static void ur_describe(void *ctx, char *out, size_t cap)
{
    const uring_io *u = ctx;
    unsigned nb = 0;
    for (unsigned i = 0; i < UR_BUFS; i++)
        nb += u->bufs[i].p != NULL;
    char direct[48] = "buffered";
    if (u->dfd >= 0)
        snprintf(direct, sizeof direct, "O_DIRECT when %u-aligned", u->dalign);
    snprintf(out, cap, "uring (setup %s%s%s, depth %u, block %u KiB, %s file, "
             "%u registered buffers, %s)",
             u->setup & IORING_SETUP_SINGLE_ISSUER ? "SINGLE_ISSUER|" : "",
             u->setup & IORING_SETUP_DEFER_TASKRUN ? "DEFER_TASKRUN|"
             : u->setup & IORING_SETUP_COOP_TASKRUN ? "COOP_TASKRUN|" : "",
             u->setup & IORING_SETUP_SUBMIT_ALL ? "SUBMIT_ALL" : "none",
             u->depth, u->block >> 10, u->fixed_files ? "registered" : "plain", nb, direct);
}

static const upd_io_methods uring_file_methods = {
    "uring", 0, ur_submit, ur_reap, ur_flush, ur_size, ur_resize, ur_close,
    ur_buf_alloc, ur_buf_free, ur_describe, ur_run, ur_writeback
};
static const upd_io_methods uring_blk_methods = {
    "uring", UPD_IO_FIXED_SIZE, ur_submit, ur_reap, ur_flush, ur_size, ur_resize, ur_close,
    ur_buf_alloc, ur_buf_free, ur_describe, ur_run, ur_writeback
};

/* ---- setup ------------------------------------------------------------------ */

/* Strongest first: one issuing task with completions run only when it
 * waits (fewest wake-ups), then cooperative task work, then none.  A kernel
 * that does not know a flag says EINVAL; any other error is final. */
static int ur_setup(struct io_uring *ring, unsigned depth, unsigned *chosen)
{
    static const unsigned tries[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof tries / sizeof *tries && rc == -EINVAL; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i];
        rc = io_uring_queue_init_params(depth, ring, &p);
        if (rc == 0)
            *chosen = tries[i];
    }
    return rc;
}

/* The O_DIRECT alignment of FD (0: none): statx(STATX_DIOALIGN), or a block
 * device's logical block size; never below a page, so that a direct request
 * never shares a page-cache page with a buffered one. */
static unsigned ur_dio_align(int fd, int blk)
{
    unsigned a = 0;
    struct statx sx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN))
        a = sx.stx_dio_offset_align > sx.stx_dio_mem_align ? sx.stx_dio_offset_align
                                                          : sx.stx_dio_mem_align;
    int lbs = 0;
    if (!a && blk && ioctl(fd, BLKSSZGET, &lbs) == 0 && lbs > 0)
        a = (unsigned)lbs;
    return !a ? 0 : a < UPD_IO_BUF_ALIGN ? UPD_IO_BUF_ALIGN : a;
}

int upd_io_uring_probe(void)
{
    struct io_uring ring;
    int rc = io_uring_queue_init(2, &ring, 0);
    if (rc < 0) {
        errno = -rc;
        return UPD_E_IO_OPEN;
    }
    io_uring_queue_exit(&ring);
    return 0;
}

static int ur_open_direct(uring_io *u, const char *path)
{
    u->dalign = ur_dio_align(u->fd, u->capacity != 0);
    if (!u->dalign)
        return 0;          /* the file system takes no O_DIRECT: buffered */
    u->dfd = open(path, O_CLOEXEC | O_DIRECT | (u->rdonly ? O_RDONLY : O_RDWR));
    return u->dfd < 0 ? UPD_E_IO_OPEN : 0;
}

int upd_io_open_uring(upd_io **out, const char *path, unsigned flags, const upd_io_params *p)
{
    const unsigned known = UPD_IO_RDONLY | UPD_IO_CREATE | UPD_IO_TRUNC | UPD_IO_DIRECT;
    const upd_io_params none = { 0 };
    if (!p)
        p = &none;
    if (!out || !path || (flags & ~known) || p->queue_depth > 4096 || p->block % 4096)
        return UPD_E_INVAL;
    uring_io *u = calloc(1, sizeof *u);
    if (!u)
        return UPD_E_NOMEM;
    u->ring.ring_fd = u->dfd = -1;
    u->drain_at = SIZE_MAX;
    u->depth = p->queue_depth ? p->queue_depth : UR_DEPTH;
    u->block = p->block ? p->block : UR_BLOCK;
    u->rdonly = !!(flags & UPD_IO_RDONLY);
    int rc = upd_io_open_fd(path, flags & ~UPD_IO_DIRECT, &u->fd, &u->capacity);
    if (rc < 0) {
        free(u);
        return rc;
    }
    if (flags & UPD_IO_DIRECT)
        rc = ur_open_direct(u, path);
    int neg = rc < 0 ? 0 : ur_setup(&u->ring, u->depth, &u->setup);
    if (rc < 0 || neg < 0) {
        int e = rc < 0 ? errno : -neg;
        u->ring.ring_fd = -1;
        ur_close(u);
        errno = e;
        return UPD_E_IO_OPEN;
    }
    int files[2] = { u->fd, u->dfd };
    u->fixed_files = io_uring_register_files(&u->ring, files, u->dfd >= 0 ? 2 : 1) == 0;
    u->fixed_bufs = io_uring_register_buffers_sparse(&u->ring, UR_BUFS) == 0;
    rc = upd_io_create(out, u->capacity ? &uring_blk_methods : &uring_file_methods, u);
    if (rc < 0)
        ur_close(u);
    return rc;
}
