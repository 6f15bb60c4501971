/* Random batches through an I/O backend, checked against a model of the
 * file (io_model.h). */
#define _GNU_SOURCE
#include "io_model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROOM  (64u << 10)      /* files and requests stay below ROOM + LEN_MAX */
#define LEN_MAX 3000u
#define REQS  100u
#define GUARD 0xa5

typedef struct {
    uint64_t s;
    uint8_t  model[ROOM + LEN_MAX];
    size_t   size;                       /* the model file's length */
    uint8_t  used[ROOM + LEN_MAX];       /* bytes some request of this batch covers */
    uint8_t  buf[REQS][LEN_MAX + 1];     /* a guard byte after each */
    upd_io_req r[REQS];
} model_t;

static uint64_t rnd(model_t *m)
{
    m->s ^= m->s << 13;
    m->s ^= m->s >> 7;
    m->s ^= m->s << 17;
    return m->s;
}

/* Up to REQS requests of OP that overlap no other one, laid out as a run
 * up the file, a run down it, or at random, with gaps of 0 to 5000 bytes
 * (so that read holes come both under and over UPD_IO_HOLE), some of no
 * bytes; returns how many. */
static unsigned make_batch(model_t *m, int op)
{
    memset(m->used, 0, sizeof m->used);
    unsigned n = 0, want = 1 + (unsigned)(rnd(m) % REQS), way = (unsigned)(rnd(m) % 3);
    uint64_t at = rnd(m) % ROOM;
    for (unsigned i = 0; i < want; i++) {
        uint32_t len = rnd(m) % 5 == 0 ? 0 : (uint32_t)(rnd(m) % LEN_MAX);
        uint64_t gap = rnd(m) % 2 ? 0 : rnd(m) % 5000, off;
        if (way == 0)
            off = rnd(m) % ROOM;
        else if (way == 1)
            off = at + gap;
        else
            off = at >= gap + len ? at - gap - len : 0;
        if (off + len > ROOM + LEN_MAX)
            continue;
        int clash = 0;
        for (uint64_t x = off; x < off + len && !clash; x++)
            clash = m->used[x];
        if (clash)
            continue;
        memset(m->used + off, 1, len);
        at = way == 1 ? off + len : off;
        for (uint32_t j = 0; j <= LEN_MAX; j++)
            m->buf[n][j] = op == UPD_IO_WRITE ? (uint8_t)rnd(m) : GUARD;
        m->r[n] = (upd_io_req){ m->buf[n], off, len, op };
        n++;
    }
    return n;
}

__attribute__((format(printf, 3, 4)))
static int fail(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return -1;
}

int io_model_rounds(io_model_open open_fn, const char *path, unsigned rounds, uint64_t seed,
                    char *why, size_t why_cap)
{
    model_t *m = malloc(sizeof *m);
    if (!m)
        return fail(why, why_cap, "no memory");
    m->s = seed | 1;
    int rc = 0;
    for (unsigned round = 0; round < rounds && !rc; round++) {
        m->size = rnd(m) % ROOM;
        for (size_t i = 0; i < m->size; i++)
            m->model[i] = (uint8_t)rnd(m);
        FILE *f = fopen(path, "wb");
        int wrote = f && fwrite(m->model, 1, m->size, f) == m->size;
        if (!f || fclose(f) || !wrote) {
            rc = fail(why, why_cap, "round %u: cannot write the file (errno %d)", round, errno);
            break;
        }
        upd_io *io;
        if (open_fn(&io, path)) {
            rc = fail(why, why_cap, "round %u: open failed (errno %d)", round, errno);
            break;
        }
        /* writes: past the end they extend the file, zeros between */
        unsigned n = make_batch(m, UPD_IO_WRITE);
        int got = upd_io_run(io, m->r, n);
        if (got)
            rc = fail(why, why_cap, "round %u: write batch of %u failed: %d", round, n, got);
        for (unsigned i = 0; !rc && i < n; i++) {
            const upd_io_req *q = &m->r[i];
            if (!q->len)
                continue;
            if (q->off > m->size)
                memset(m->model + m->size, 0, q->off - m->size);
            memcpy(m->model + q->off, q->buf, q->len);
            if (q->off + q->len > m->size)
                m->size = q->off + q->len;
        }
        /* reads: a request with bytes past the end fails the batch */
        n = rc ? 0 : make_batch(m, UPD_IO_READ);
        int past = 0;
        for (unsigned i = 0; i < n; i++)
            past |= m->r[i].len && m->r[i].off + m->r[i].len > m->size;
        got = n ? upd_io_run(io, m->r, n) : 0;
        if (n && past && (got != UPD_E_IO_READ || upd_io_last_errno(io) != ENODATA))
            rc = fail(why, why_cap, "round %u: %u reads past the end gave %d", round, n, got);
        else if (n && !past && got)
            rc = fail(why, why_cap, "round %u: read batch of %u failed: %d", round, n, got);
        for (unsigned i = 0; !rc && i < n; i++) {
            const upd_io_req *q = &m->r[i];
            if (m->buf[i][q->len] != GUARD)
                rc = fail(why, why_cap, "round %u: read %u wrote past its buffer", round, i);
            else if (!past && memcmp(q->buf, m->model + q->off, q->len))
                rc = fail(why, why_cap, "round %u: read %u got other bytes", round, i);
        }
        upd_io_close(io);
        /* the file is the model */
        f = rc ? NULL : fopen(path, "rb");
        if (f) {
            static uint8_t back[ROOM + LEN_MAX + 1];
            size_t k = fread(back, 1, sizeof back, f);
            fclose(f);
            if (k != m->size || memcmp(back, m->model, k))
                rc = fail(why, why_cap, "round %u: the file (%zu bytes) differs from the model (%zu)",
                          round, k, m->size);
        }
    }
    free(m);
    return rc;
}
