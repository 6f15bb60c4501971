/* The upd_io handle: argument checks, counters, errno keeping and the
 * "a failed flush is final" rule, shared by every backend. */
#include "updelta/io.h"
#include "../common/check.h"
#include "io_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct upd_io {
    const upd_io_methods *m;
    void        *ctx;
    upd_io_stats st;
    int          last_errno;
    int          failed;        /* a flush failed: no more writes */
    int          pending_err;   /* first submit error, reported by reap */
    int          writes_out;    /* writes submitted since the last reap */
};

int upd_io_create(upd_io **out, const upd_io_methods *m, void *ctx)
{
    if (!out || !m || !m->submit || !m->reap || !m->flush || !m->size || !m->resize
        || !m->buf_alloc != !m->buf_free)
        return UPD_E_INVAL;
    upd_io *io = calloc(1, sizeof *io);
    if (!io)
        return UPD_E_NOMEM;
    io->m = m;
    io->ctx = ctx;
    *out = io;
    return 0;
}

static int io_fail(upd_io *io, int neg_errno, int code)
{
    io->last_errno = -neg_errno;
    return code;
}

/* Check and count a batch, then hand it to the backend: to RUN when the
 * caller reaps it at once and the backend has that method. */
static int io_submit(upd_io *io, const upd_io_req *reqs, unsigned n, int run)
{
    if (!io || (!reqs && n))
        return UPD_E_INVAL;
    for (unsigned i = 0; i < n; i++) {
        const upd_io_req *r = &reqs[i];
        if ((r->op != UPD_IO_READ && r->op != UPD_IO_WRITE) || r->len > UPD_IO_MAX_REQ
            || (!r->buf && r->len) || upd_range_exceeds(r->off, r->len, INT64_MAX))
            return UPD_E_INVAL;
        if (r->op == UPD_IO_WRITE) {
            if (io->failed)
                return UPD_E_STATE;
            io->st.writes++;
            io->st.bytes_written += r->len;
            io->writes_out = 1;
        } else {
            io->st.reads++;
            io->st.bytes_read += r->len;
        }
    }
    if (!n)
        return 0;
    io->st.batches++;
    int rc = run && io->m->run ? io->m->run(io->ctx, reqs, n) : io->m->submit(io->ctx, reqs, n);
    if (rc < 0) {
        /* the batch's first failing direction names the code */
        int code = UPD_E_IO_READ;
        for (unsigned i = 0; i < n; i++)
            if (reqs[i].op == UPD_IO_WRITE)
                code = UPD_E_IO_WRITE;
        if (rc == -EROFS || rc == -EBADF)
            code = UPD_E_IO_WRITE;
        rc = io_fail(io, rc, code);
        if (!io->pending_err)
            io->pending_err = rc;
        return rc;
    }
    return 0;
}

int upd_io_submit(upd_io *io, const upd_io_req *reqs, unsigned n)
{
    return io_submit(io, reqs, n, 0);
}

int upd_io_reap(upd_io *io)
{
    if (!io)
        return UPD_E_INVAL;
    int rc = io->m->reap(io->ctx);
    int pend = io->pending_err, writes = io->writes_out;
    io->pending_err = io->writes_out = 0;
    if (pend)
        return pend;
    /* an asynchronous backend reports here: a batch without writes failed
     * reading, one with writes is named for them unless the end of the
     * device was met */
    if (rc < 0)
        return io_fail(io, rc, rc == -ENODATA || !writes ? UPD_E_IO_READ : UPD_E_IO_WRITE);
    return 0;
}

int upd_io_run(upd_io *io, const upd_io_req *reqs, unsigned n)
{
    int rc = io_submit(io, reqs, n, 1);
    int rr = upd_io_reap(io);
    return rc ? rc : rr;
}

static int io_one(upd_io *io, uint8_t op, void *buf, size_t len, uint64_t off)
{
    while (len) {
        upd_io_req r = { buf, off, (uint32_t)(len > UPD_IO_MAX_REQ ? UPD_IO_MAX_REQ : len), op };
        UPD_CHECK(upd_io_run(io, &r, 1));   /* its reap takes a failure: none is left over */
        buf = (uint8_t *)buf + r.len;
        off += r.len;
        len -= r.len;
    }
    return 0;
}

int upd_io_read(upd_io *io, void *buf, size_t len, uint64_t off)
{
    return io_one(io, UPD_IO_READ, buf, len, off);
}

int upd_io_write(upd_io *io, const void *buf, size_t len, uint64_t off)
{
    return io_one(io, UPD_IO_WRITE, (void *)buf, len, off);
}

int upd_io_flush(upd_io *io)
{
    if (!io)
        return UPD_E_INVAL;
    if (io->failed)
        return UPD_E_IO_FLUSH;
    io->st.flushes++;
    int rc = io->m->flush(io->ctx);
    if (rc < 0) {
        io->failed = 1;
        return io_fail(io, rc, UPD_E_IO_FLUSH);
    }
    return 0;
}

void upd_io_writeback(upd_io *io)
{
    if (io && !io->failed && io->m->writeback)
        io->m->writeback(io->ctx);
}

int upd_io_size(upd_io *io, uint64_t *size)
{
    if (!io || !size)
        return UPD_E_INVAL;
    int rc = io->m->size(io->ctx, size);
    return rc < 0 ? io_fail(io, rc, UPD_E_IO_OPEN) : 0;
}

int upd_io_resize(upd_io *io, uint64_t size)
{
    if (!io)
        return UPD_E_INVAL;
    if (io->failed)
        return UPD_E_STATE;
    int rc = io->m->resize(io->ctx, size);
    return rc < 0 ? io_fail(io, rc, UPD_E_IO_RESIZE) : 0;
}

unsigned upd_io_flags(const upd_io *io) { return io ? io->m->flags : 0; }

const char *upd_io_name(const upd_io *io) { return io ? io->m->name : "none"; }

void upd_io_describe(const upd_io *io, char *out, size_t cap)
{
    if (!out || !cap)
        return;
    if (io && io->m->describe)
        io->m->describe(io->ctx, out, cap);
    else
        snprintf(out, cap, "%s", upd_io_name(io));
}

void *upd_io_buf_alloc(upd_io *io, size_t size)
{
    if (io && io->m->buf_alloc)
        return io->m->buf_alloc(io->ctx, size);
    size_t a = UPD_IO_BUF_ALIGN;
    return size > SIZE_MAX - a ? NULL : aligned_alloc(a, (size ? size + a - 1 : a) / a * a);
}

void upd_io_buf_free(upd_io *io, void *p, size_t size)
{
    if (p && io && io->m->buf_free)
        io->m->buf_free(io->ctx, p, size);
    else
        free(p);
}

int upd_io_last_errno(const upd_io *io) { return io ? io->last_errno : 0; }

void upd_io_get_stats(const upd_io *io, upd_io_stats *st)
{
    if (io && st)
        *st = io->st;
}

void upd_io_close(upd_io *io)
{
    if (!io)
        return;
    if (io->m->close)
        io->m->close(io->ctx);
    free(io);
}

void *upd_io_backend_ctx(const upd_io *io, const upd_io_methods *m)
{
    return io && io->m == m ? io->ctx : NULL;
}
