/* POSIX backend: pread/pwrite/fdatasync on a regular file or block device.
 * Requests run synchronously inside submit; reap reports nothing new.
 * Short transfers are continued, EINTR retried; a read that meets end of
 * file is -ENODATA (the caller asked for bytes that are not there).
 * upd_io_writeback's start runs on a thread of its own (px_writeback). */
#define _GNU_SOURCE
#include "updelta/io.h"
#include "io_internal.h"
#include "../common/parallel.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

typedef struct {
    int      fd;
    int      rdonly;
    uint64_t capacity;     /* block devices: fixed size */
    upd_io_wb wb;
    pthread_t wb_tid;      /* upd_io_writeback's start, running ... */
    int      wb_thread;    /* ... (1) until joined ... */
    int      wb_res;       /* ... with this outcome */
} posix_io;

static int px_xfer(int fd, const upd_io_req *r)
{
    uint8_t *b = r->buf;
    size_t left = r->len;
    off_t off = (off_t)r->off;
    while (left) {
        ssize_t n = r->op == UPD_IO_READ ? pread(fd, b, left, off) : pwrite(fd, b, left, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return r->op == UPD_IO_READ ? -ENODATA : -EIO;
        b += n;
        off += n;
        left -= (size_t)n;
    }
    return 0;
}

/* A run of requests for one system call: all reads or all writes, each
 * next to the one before on the file, upward or downward (in-place
 * schedules often write down the image).  Reads may leave holes of at most
 * UPD_IO_HOLE bytes between them, read into SINK: a system call costs more
 * than copying that much more from the page cache (docs/ARCHITECTURE.md,
 * "Requests per system call").  The iovecs are in file order. */
unsigned upd_io_gather(const upd_io_req *reqs, unsigned n, uint8_t *sink, upd_io_span *s)
{
    const uint64_t hole_max = reqs[0].op == UPD_IO_READ ? UPD_IO_HOLE : 0;
    uint64_t lo = reqs[0].off, hi = lo + reqs[0].len;
    unsigned k = 1, niov = 1;
    int dir = 0;
    for (; k < n && reqs[k].op == reqs[0].op; k++) {
        uint64_t off = reqs[k].off, end = off + reqs[k].len, gap;
        int d = dir >= 0 && off >= hi ? 1 : dir <= 0 && end <= lo ? -1 : 0;
        if (!d)
            break;
        gap = d > 0 ? off - hi : lo - end;
        /* (a run stays within one request's limit: the kernel moves at
         * most about 2 GiB a call) */
        if (gap > hole_max || niov + 1 + (gap > 0) > UPD_IO_IOV
            || (d > 0 ? end - lo : hi - off) > UPD_IO_MAX_REQ)
            break;
        niov += 1 + (gap > 0);
        dir = d;
        if (d > 0)
            hi = end;
        else
            lo = off;
    }
    s->off = lo;
    s->total = (size_t)(hi - lo);
    s->niov = 0;
    uint64_t at = lo;
    for (unsigned i = 0; i < k; i++) {
        const upd_io_req *r = &reqs[dir < 0 ? k - 1 - i : i];
        if (r->off > at)
            s->iov[s->niov++] = (struct iovec){ sink, (size_t)(r->off - at) };
        s->iov[s->niov++] = (struct iovec){ r->buf, r->len };
        at = r->off + r->len;
    }
    return k;
}

int upd_io_fd_xfer(int fd, const upd_io_req *reqs, unsigned n)
{
    uint8_t sink[UPD_IO_HOLE];
    for (unsigned i = 0; i < n;) {
        upd_io_span s;
        unsigned k = upd_io_gather(reqs + i, n - i, sink, &s);
        ssize_t got = 0;
        if (s.niov > 1)
            got = reqs[i].op == UPD_IO_READ ? preadv(fd, s.iov, (int)s.niov, (off_t)s.off)
                                            : pwritev(fd, s.iov, (int)s.niov, (off_t)s.off);
        /* a lone request, or a short or failed run: request by request,
         * which finishes them (bytes moved again are the same bytes) and
         * names the cause */
        for (unsigned j = i; j < i + k && (got < 0 || (size_t)got < s.total); j++) {
            int rc = px_xfer(fd, &reqs[j]);
            if (rc < 0)
                return rc;
        }
        i += k;
    }
    return 0;
}

void upd_io_wb_result(upd_io_wb *wb, int neg)
{
    if (neg == -EINVAL || neg == -ESPIPE || neg == -ENOSYS)
        wb->off = 1;
    else if (neg < 0 && !wb->err)
        wb->err = neg;
}

static void wb_start(int fd, upd_io_wb *wb, uint64_t off, uint64_t len)
{
    wb->bytes = 0;
    upd_io_wb_result(wb, sync_file_range(fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE)
                             ? -errno : 0);
}

void upd_io_wb_note(int fd, upd_io_wb *wb, const upd_io_req *reqs, unsigned n)
{
    uint64_t lo = UINT64_MAX, hi = 0, bytes = 0;
    for (unsigned i = 0; i < n; i++)
        if (reqs[i].op == UPD_IO_WRITE && reqs[i].len) {
            lo = reqs[i].off < lo ? reqs[i].off : lo;
            hi = reqs[i].off + reqs[i].len > hi ? reqs[i].off + reqs[i].len : hi;
            bytes += reqs[i].len;
        }
    wb->dirty += bytes;
    if (wb->off || !wb->armed || !bytes)
        return;
    if (!wb->bytes || lo < wb->lo)
        wb->lo = lo;
    if (!wb->bytes || hi > wb->hi)
        wb->hi = hi;
    wb->bytes += bytes;
    if (wb->bytes >= UPD_IO_WB_BYTES)
        wb_start(fd, wb, wb->lo, wb->hi - wb->lo);
}

void upd_io_wb_all(int fd, upd_io_wb *wb)
{
    if (!wb->off)
        wb_start(fd, wb, 0, 0);       /* length 0: to the end of the file */
}

int upd_io_wb_take(upd_io_wb *wb)
{
    int kept = wb->err;
    wb->bytes = wb->dirty = 0;
    wb->err = 0;
    wb->armed = 1;
    return kept;
}

static int px_submit(void *ctx, const upd_io_req *reqs, unsigned n)
{
    posix_io *p = ctx;
    for (unsigned i = 0; i < n; i++)
        if (reqs[i].op == UPD_IO_WRITE && p->rdonly)
            return -EBADF;
    int rc = upd_io_fd_xfer(p->fd, reqs, n);
    if (!rc)
        upd_io_wb_note(p->fd, &p->wb, reqs, n);
    return rc;
}

static int px_reap(void *ctx) { (void)ctx; return 0; }

static void *px_wb_run(void *arg)
{
    posix_io *p = arg;
    p->wb_res = sync_file_range(p->fd, 0, 0, SYNC_FILE_RANGE_WRITE) ? -errno : 0;
    return NULL;
}

/* Wait for the writeback start on its thread, and keep its outcome. */
static void px_wb_join(posix_io *p)
{
    if (!p->wb_thread)
        return;
    pthread_join(p->wb_tid, NULL);
    p->wb_thread = 0;
    upd_io_wb_result(&p->wb, p->wb_res);
}

/* The whole file's writeback, started on a thread of its own when much
 * was written since the last flush: sync_file_range hands every dirty page
 * to the block layer before it returns, work that then runs on another
 * core while the caller goes on (the applier hashes the new image); the
 * next flush, or close, joins it first.  Below PX_WB_THREAD bytes, or where
 * no thread can be made, on this one: a thread costs more than the call
 * saves there (docs/ARCHITECTURE.md, "Early writeback"). */
#define PX_WB_THREAD (8u << 20)
#define PX_WB_STACK  (256u << 10)  /* one system call, and the static TLS a
                                      thread's stack holds */

static void px_writeback(void *ctx)
{
    posix_io *p = ctx;
    if (p->rdonly || p->wb.off)
        return;
    px_wb_join(p);
    p->wb_thread = p->wb.dirty >= PX_WB_THREAD
                   && upd_thread_start(&p->wb_tid, px_wb_run, p, PX_WB_STACK);
    if (!p->wb_thread)
        upd_io_wb_all(p->fd, &p->wb);
}

static int px_flush(void *ctx)
{
    posix_io *p = ctx;
    if (p->rdonly)
        return 0;
    px_wb_join(p);
    int kept = upd_io_wb_take(&p->wb);
    return fdatasync(p->fd) < 0 ? -errno : kept;
}

int upd_io_fd_size(int fd, uint64_t capacity, uint64_t *size)
{
    if (capacity) {
        *size = capacity;
        return 0;
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

int upd_io_fd_resize(int fd, int rdonly, uint64_t capacity, uint64_t size)
{
    if (rdonly)
        return -EBADF;
    if (capacity)
        return size <= capacity ? 0 : -ENOSPC;
    return ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
}

static int px_size(void *ctx, uint64_t *size)
{
    const posix_io *p = ctx;
    return upd_io_fd_size(p->fd, p->capacity, size);
}

static int px_resize(void *ctx, uint64_t size)
{
    const posix_io *p = ctx;
    return upd_io_fd_resize(p->fd, p->rdonly, p->capacity, size);
}

static void px_close(void *ctx)
{
    posix_io *p = ctx;
    px_wb_join(p);
    close(p->fd);
    free(p);
}

static const upd_io_methods posix_file_methods = {
    "posix", 0, px_submit, px_reap, px_flush, px_size, px_resize, px_close,
    .writeback = px_writeback
};
static const upd_io_methods posix_blk_methods = {
    "posix", UPD_IO_FIXED_SIZE, px_submit, px_reap, px_flush, px_size, px_resize, px_close,
    .writeback = px_writeback
};

int upd_io_open_fd(const char *path, unsigned flags, int *fd_out, uint64_t *capacity)
{
    int oflags = O_CLOEXEC | ((flags & UPD_IO_RDONLY) ? O_RDONLY : O_RDWR);
    if (flags & UPD_IO_CREATE)
        oflags |= O_CREAT;
    if (flags & UPD_IO_TRUNC)
        oflags |= O_TRUNC;
    int fd = open(path, oflags, 0644);
    if (fd < 0)
        return UPD_E_IO_OPEN;
    struct stat st;
    int bad = fstat(fd, &st) < 0 ? errno
            : S_ISDIR(st.st_mode) ? EISDIR
            : !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) ? EINVAL : 0;
    *capacity = 0;
    if (!bad && S_ISBLK(st.st_mode))
        bad = ioctl(fd, BLKGETSIZE64, capacity) < 0 ? errno : *capacity ? 0 : EINVAL;
    if (bad) {
        close(fd);
        errno = bad;
        return UPD_E_IO_OPEN;
    }
    *fd_out = fd;
    return 0;
}

int upd_io_open_posix(upd_io **out, const char *path, unsigned flags)
{
    if (!out || !path || (flags & ~(UPD_IO_RDONLY | UPD_IO_CREATE | UPD_IO_TRUNC)))
        return UPD_E_INVAL;
    int fd;
    uint64_t cap;
    int rc = upd_io_open_fd(path, flags, &fd, &cap);
    if (rc < 0)
        return rc;
    posix_io *p = calloc(1, sizeof *p);
    if (!p) {
        close(fd);
        return UPD_E_NOMEM;
    }
    p->fd = fd;
    p->rdonly = !!(flags & UPD_IO_RDONLY);
    p->capacity = cap;
    rc = upd_io_create(out, cap ? &posix_blk_methods : &posix_file_methods, p);
    if (rc < 0)
        px_close(p);
    return rc;
}
