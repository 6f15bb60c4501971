/* Save-area compression, on both CPUs when there are two.
 *
 * The applier's thread reads the bytes to save and writes the compressed
 * ones to the journal; the worker only compresses, because an upd_io handle
 * belongs to one thread (io.h).  A ring of UPD_ZJ_JOBS jobs: the applier
 * fills the next while earlier ones are compressed, and takes outputs back
 * in submission order.  Each job is a zstd frame of its own (a fresh session,
 * its length pledged), so a job's bytes do not depend on the jobs before
 * it nor on which context compresses it: the worker takes the oldest queued
 * job, and the applier's thread, rather than wait for an output, compresses
 * a queued job itself with its own context.  Without a worker a job is
 * compressed when it is submitted: the same bytes come out every way. */
#include "applier.h"
#include "../common/parallel.h"

#include <pthread.h>
#include <stdlib.h>

enum { J_FREE, J_QUEUED, J_BUSY, J_DONE };

typedef struct {
    uint8_t *in, *out;
    size_t   in_len, out_len;
    int      state, err;
} zjob;

struct upd_zjobs {
    ZSTD_CCtx *cctx[2];         /* the caller's, the worker's */
    zjob       j[UPD_ZJ_JOBS];
    unsigned   fill, take;      /* the job filled next, the oldest not taken */
    int        threaded, quit;
    pthread_t  th;
    pthread_mutex_t mu;
    pthread_cond_t  cv;         /* a job queued or done, or quit */
};

/* ZSTD_compress2 starts a fresh frame and pledges SRC's length (the frame
 * header carries it); the level is the context's only parameter. */
static int compress_job(ZSTD_CCtx *c, zjob *j)
{
    size_t r = ZSTD_compress2(c, j->out, UPD_ZJ_OUT, j->in, j->in_len);
    if (ZSTD_isError(r))
        return UPD_E_COMPRESS;
    j->out_len = r;
    return 0;
}

/* The oldest queued job, or NULL (the lock held).  Jobs are submitted
 * round the ring and the pending ones start at take, so it is the first
 * queued one from take on. */
static zjob *oldest_queued(upd_zjobs *z)
{
    for (unsigned k = 0; k < UPD_ZJ_JOBS; k++) {
        zjob *j = &z->j[(z->take + k) % UPD_ZJ_JOBS];
        if (j->state == J_QUEUED)
            return j;
    }
    return NULL;
}

/* Compress queued job J with context C, the lock held (released meanwhile). */
static void run_locked(upd_zjobs *z, zjob *j, ZSTD_CCtx *c)
{
    j->state = J_BUSY;
    pthread_mutex_unlock(&z->mu);
    int rc = compress_job(c, j);
    pthread_mutex_lock(&z->mu);
    j->err = rc;
    j->state = J_DONE;
    pthread_cond_broadcast(&z->cv);
}

static void *worker(void *arg)
{
    upd_zjobs *z = arg;
    pthread_mutex_lock(&z->mu);
    for (;;) {
        zjob *j = NULL;
        while (!z->quit && !(j = oldest_queued(z)))
            pthread_cond_wait(&z->cv, &z->mu);
        if (z->quit)
            break;
        run_locked(z, j, z->cctx[1]);
    }
    pthread_mutex_unlock(&z->mu);
    return NULL;
}

static ZSTD_CCtx *new_cctx(int level)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    if (c && ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level))) {
        ZSTD_freeCCtx(c);
        return NULL;
    }
    return c;
}

int upd_zj_create(upd_zjobs **out, int threaded, int level)
{
    upd_zjobs *z = calloc(1, sizeof *z);
    if (!z)
        return UPD_E_NOMEM;
    z->cctx[0] = new_cctx(level);
    int ok = z->cctx[0] != NULL;
    for (unsigned i = 0; i < UPD_ZJ_JOBS; i++) {
        z->j[i].in = malloc(UPD_ZJ_IN);
        z->j[i].out = malloc(UPD_ZJ_OUT);
        ok = ok && z->j[i].in && z->j[i].out;
    }
    if (!ok) {
        upd_zj_free(z);
        return UPD_E_NOMEM;
    }
    /* the worker's context: without it (no memory), compress inline */
    if (threaded && (z->cctx[1] = new_cctx(level)) && pthread_mutex_init(&z->mu, NULL) == 0) {
        if (pthread_cond_init(&z->cv, NULL) == 0) {
            /* no thread (resource limits): compress inline, as on one CPU */
            z->threaded = upd_thread_start(&z->th, worker, z, 0);
            if (!z->threaded)
                pthread_cond_destroy(&z->cv);
        }
        if (!z->threaded)
            pthread_mutex_destroy(&z->mu);
    }
    *out = z;
    return 0;
}

void upd_zj_free(upd_zjobs *z)
{
    if (!z)
        return;
    if (z->threaded) {
        pthread_mutex_lock(&z->mu);
        z->quit = 1;
        pthread_cond_broadcast(&z->cv);
        pthread_mutex_unlock(&z->mu);
        pthread_join(z->th, NULL);
        pthread_cond_destroy(&z->cv);
        pthread_mutex_destroy(&z->mu);
    }
    for (int i = 0; i < 2; i++)
        ZSTD_freeCCtx(z->cctx[i]);
    for (unsigned i = 0; i < UPD_ZJ_JOBS; i++) {
        free(z->j[i].in);
        free(z->j[i].out);
    }
    free(z);
}

/* Whether job I is free: only the caller's thread frees or fills a job, so
 * the answer does not depend on the worker's progress. */
static int is_free(upd_zjobs *z, unsigned i)
{
    if (!z->threaded)
        return z->j[i].state == J_FREE;
    pthread_mutex_lock(&z->mu);
    int f = z->j[i].state == J_FREE;
    pthread_mutex_unlock(&z->mu);
    return f;
}

uint8_t *upd_zj_fill(upd_zjobs *z)
{
    return is_free(z, z->fill) ? z->j[z->fill].in : NULL;
}

int upd_zj_submit(upd_zjobs *z, size_t len)
{
    zjob *j = &z->j[z->fill];
    if (!is_free(z, z->fill) || len > UPD_ZJ_IN)
        return UPD_E_INTERNAL;
    j->in_len = len;
    z->fill = (z->fill + 1) % UPD_ZJ_JOBS;
    if (!z->threaded) {
        j->err = compress_job(z->cctx[0], j);
        j->state = J_DONE;
        return 0;
    }
    pthread_mutex_lock(&z->mu);
    j->state = J_QUEUED;
    pthread_cond_broadcast(&z->cv);
    pthread_mutex_unlock(&z->mu);
    return 0;
}

int upd_zj_take(upd_zjobs *z, const uint8_t **p, size_t *n)
{
    zjob *j = &z->j[z->take];
    if (z->threaded) {
        pthread_mutex_lock(&z->mu);
        while (j->state == J_QUEUED || j->state == J_BUSY) {
            zjob *q = oldest_queued(z);
            if (q)
                run_locked(z, q, z->cctx[0]);   /* compress rather than wait */
            else
                pthread_cond_wait(&z->cv, &z->mu);
        }
        pthread_mutex_unlock(&z->mu);
    }
    if (j->state != J_DONE)
        return 0;
    if (j->err) {
        int rc = j->err;
        upd_zj_release(z);
        return rc;
    }
    *p = j->out;
    *n = j->out_len;
    return 1;
}

void upd_zj_release(upd_zjobs *z)
{
    if (z->threaded)
        pthread_mutex_lock(&z->mu);
    z->j[z->take].state = J_FREE;   /* the worker may be looking at it */
    z->take = (z->take + 1) % UPD_ZJ_JOBS;
    if (z->threaded)
        pthread_mutex_unlock(&z->mu);
}

void upd_zj_cancel(upd_zjobs *z)
{
    if (z->threaded)
        pthread_mutex_lock(&z->mu);
    for (;;) {
        int busy = 0;
        for (unsigned i = 0; i < UPD_ZJ_JOBS; i++) {
            if (z->j[i].state == J_BUSY)
                busy = 1;   /* the worker is writing its output: wait */
            else
                z->j[i].state = J_FREE;
        }
        if (!busy)
            break;
        pthread_cond_wait(&z->cv, &z->mu);
    }
    z->take = z->fill;
    if (z->threaded)
        pthread_mutex_unlock(&z->mu);
}

int upd_zj_pending(upd_zjobs *z)
{
    int n = 0;
    for (unsigned i = 0; i < UPD_ZJ_JOBS; i++)
        n += !is_free(z, i);
    return n;
}
