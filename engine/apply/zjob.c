/* Save-area compression, on a worker thread when there is a second CPU.
 *
 * The applier's thread reads the bytes to save and writes the compressed
 * ones to the journal; the worker only compresses, because an upd_io handle
 * belongs to one thread (io.h).  Two jobs, double-buffered: the applier
 * fills one while the worker compresses the other, and takes outputs back
 * in submission order.  Each job ends with a zstd flush, so its output is
 * bounded by UPD_ZJ_OUT whatever the compressor buffered before.  Without a
 * worker a job is compressed when it is submitted: the same bytes come out
 * either way. */
#include "applier.h"

#include <pthread.h>
#include <stdlib.h>

enum { J_FREE, J_QUEUED, J_DONE };

typedef struct {
    uint8_t *in, *out;
    size_t   in_len, out_len;
    int      end, state, err;
} zjob;

struct upd_zjobs {
    ZSTD_CCtx *cctx;
    zjob       j[2];
    unsigned   fill, take;      /* the job filled next, the oldest not taken */
    int        threaded, quit;
    pthread_t  th;
    pthread_mutex_t mu;
    pthread_cond_t  cv;         /* a job queued or done, or quit */
};

static int compress_job(ZSTD_CCtx *c, zjob *j)
{
    ZSTD_inBuffer in = { j->in, j->in_len, 0 };
    ZSTD_outBuffer out = { j->out, UPD_ZJ_OUT, 0 };
    size_t r;
    do {
        r = ZSTD_compressStream2(c, &out, &in, j->end ? ZSTD_e_end : ZSTD_e_flush);
        if (ZSTD_isError(r))
            return UPD_E_COMPRESS;
    } while (r != 0 && out.pos < out.size);
    j->out_len = out.pos;
    return r == 0 ? 0 : UPD_E_INTERNAL;   /* UPD_ZJ_OUT bounds one flushed job */
}

static void *worker(void *arg)
{
    upd_zjobs *z = arg;
    unsigned i = 0;   /* jobs are queued alternately, starting with 0 */
    pthread_mutex_lock(&z->mu);
    for (;;) {
        while (!z->quit && z->j[i].state != J_QUEUED)
            pthread_cond_wait(&z->cv, &z->mu);
        if (z->quit)
            break;
        pthread_mutex_unlock(&z->mu);
        int rc = compress_job(z->cctx, &z->j[i]);
        pthread_mutex_lock(&z->mu);
        z->j[i].err = rc;
        z->j[i].state = J_DONE;
        pthread_cond_broadcast(&z->cv);
        i ^= 1;
    }
    pthread_mutex_unlock(&z->mu);
    return NULL;
}

/* Job I's state: the worker moves QUEUED to DONE under the lock. */
static int state_of(upd_zjobs *z, unsigned i, int wait)
{
    if (!z->threaded)
        return z->j[i].state;
    pthread_mutex_lock(&z->mu);
    while (wait && z->j[i].state == J_QUEUED)
        pthread_cond_wait(&z->cv, &z->mu);
    int st = z->j[i].state;
    pthread_mutex_unlock(&z->mu);
    return st;
}

int upd_zj_create(upd_zjobs **out, int threaded)
{
    upd_zjobs *z = calloc(1, sizeof *z);
    if (!z)
        return UPD_E_NOMEM;
    z->cctx = ZSTD_createCCtx();
    for (int i = 0; i < 2; i++) {
        z->j[i].in = malloc(UPD_ZJ_IN);
        z->j[i].out = malloc(UPD_ZJ_OUT);
    }
    if (!z->cctx || !z->j[0].in || !z->j[0].out || !z->j[1].in || !z->j[1].out) {
        upd_zj_free(z);
        return UPD_E_NOMEM;
    }
    if (threaded && pthread_mutex_init(&z->mu, NULL) == 0) {
        if (pthread_cond_init(&z->cv, NULL) == 0) {
            /* no thread (resource limits): compress inline, as on one CPU */
            z->threaded = pthread_create(&z->th, NULL, worker, z) == 0;
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
    ZSTD_freeCCtx(z->cctx);
    for (int i = 0; i < 2; i++) {
        free(z->j[i].in);
        free(z->j[i].out);
    }
    free(z);
}

int upd_zj_frame(upd_zjobs *z, int level, int wlog, uint64_t total)
{
    if (upd_zj_pending(z))
        return UPD_E_INTERNAL;
    ZSTD_CCtx_reset(z->cctx, ZSTD_reset_session_and_parameters);
    if (ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level))
        || ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_windowLog, wlog))
        || ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(z->cctx, total)))
        return UPD_E_COMPRESS;
    return 0;
}

uint8_t *upd_zj_fill(upd_zjobs *z)
{
    return state_of(z, z->fill, 0) == J_FREE ? z->j[z->fill].in : NULL;
}

int upd_zj_submit(upd_zjobs *z, size_t len, int end)
{
    zjob *j = &z->j[z->fill];
    if (state_of(z, z->fill, 0) != J_FREE || len > UPD_ZJ_IN)
        return UPD_E_INTERNAL;
    j->in_len = len;
    j->end = end;
    z->fill ^= 1;
    if (!z->threaded) {
        j->err = compress_job(z->cctx, j);
        j->state = J_DONE;
        return 0;
    }
    pthread_mutex_lock(&z->mu);
    j->state = J_QUEUED;
    pthread_cond_broadcast(&z->cv);
    pthread_mutex_unlock(&z->mu);
    return 0;
}

int upd_zj_take(upd_zjobs *z, int wait, const uint8_t **p, size_t *n)
{
    zjob *j = &z->j[z->take];
    if (state_of(z, z->take, wait) != J_DONE)
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
    if (z->threaded)
        pthread_mutex_unlock(&z->mu);
    z->take ^= 1;
}

int upd_zj_pending(upd_zjobs *z)
{
    return (state_of(z, 0, 0) != J_FREE) + (state_of(z, 1, 0) != J_FREE);
}
