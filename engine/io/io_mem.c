/* Memory backend: a growable byte array bounded by a capacity.  For tests,
 * fuzzing and the generator's own schedule check. */
#include "updelta/io.h"
#include "io_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t   len, alloc, cap;
} mem_io;

static int mem_reserve(mem_io *m, size_t need)
{
    if (need <= m->alloc)
        return 0;
    size_t n = m->alloc ? m->alloc : 4096;
    while (n < need)
        n = n > m->cap / 2 ? m->cap : n * 2;
    uint8_t *d = realloc(m->data, n);
    if (!d)
        return -ENOMEM;
    m->data = d;
    m->alloc = n;
    return 0;
}

static int mem_submit(void *ctx, const upd_io_req *reqs, unsigned n)
{
    mem_io *m = ctx;
    for (unsigned i = 0; i < n; i++) {
        const upd_io_req *r = &reqs[i];
        if (r->off > m->len || r->len > m->len - r->off)
            return r->op == UPD_IO_READ ? -ENODATA : -ENOSPC;
        if (r->op == UPD_IO_READ)
            memcpy(r->buf, m->data + r->off, r->len);
        else
            memcpy(m->data + r->off, r->buf, r->len);
    }
    return 0;
}

static int mem_reap(void *ctx) { (void)ctx; return 0; }
static int mem_flush(void *ctx) { (void)ctx; return 0; }

static int mem_size(void *ctx, uint64_t *size)
{
    *size = ((mem_io *)ctx)->len;
    return 0;
}

static int mem_resize(void *ctx, uint64_t size)
{
    mem_io *m = ctx;
    if (size > m->cap)
        return -ENOSPC;
    if (mem_reserve(m, (size_t)size) < 0)
        return -ENOMEM;
    if (size > m->len)
        memset(m->data + m->len, 0, (size_t)size - m->len);
    m->len = (size_t)size;
    return 0;
}

static void mem_close(void *ctx)
{
    mem_io *m = ctx;
    free(m->data);
    free(m);
}

static const upd_io_methods mem_methods = {
    "mem", 0, mem_submit, mem_reap, mem_flush, mem_size, mem_resize, mem_close
};

int upd_io_open_mem(upd_io **out, const void *data, size_t len, size_t cap)
{
    if (!out || len > cap || (len && !data))
        return UPD_E_INVAL;
    mem_io *m = calloc(1, sizeof *m);
    if (!m)
        return UPD_E_NOMEM;
    m->cap = cap;
    if (mem_reserve(m, len ? len : 1) < 0) {
        free(m);
        return UPD_E_NOMEM;
    }
    if (len)
        memcpy(m->data, data, len);
    m->len = len;
    int rc = upd_io_create(out, &mem_methods, m);
    if (rc < 0)
        mem_close(m);
    return rc;
}

int upd_io_mem_view(const upd_io *io, const uint8_t **data, size_t *len)
{
    mem_io *m = upd_io_backend_ctx(io, &mem_methods);
    if (!m || !data || !len)
        return UPD_E_INVAL;
    *data = m->data;
    *len = m->len;
    return 0;
}
