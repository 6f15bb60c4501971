#define _GNU_SOURCE   /* pthread_sigmask, sigset_t under -std=c11 */
#include "parallel.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

typedef struct {
    upd_item_fn   fn;
    void         *ctx;
    size_t        n;
    atomic_size_t next;
    atomic_int    err;
} batch;

typedef struct {
    batch   *b;
    unsigned thread;
} runner;

static void *run(void *arg)
{
    const runner *r = arg;
    batch *b = r->b;
    for (;;) {
        size_t i = atomic_fetch_add(&b->next, 1);
        if (i >= b->n || atomic_load(&b->err))
            return NULL;
        int rc = b->fn(b->ctx, i, r->thread);
        if (rc < 0) {
            int none = 0;
            atomic_compare_exchange_strong(&b->err, &none, rc);
            return NULL;
        }
    }
}

int upd_parallel(size_t n, unsigned threads, upd_item_fn fn, void *ctx)
{
    batch b = { .fn = fn, .ctx = ctx, .n = n };
    atomic_init(&b.next, 0);
    atomic_init(&b.err, 0);
    if (threads > UPD_PARALLEL_MAX)
        threads = UPD_PARALLEL_MAX;
    if (threads > n)
        threads = (unsigned)n;
    pthread_t tid[UPD_PARALLEL_MAX];
    runner rs[UPD_PARALLEL_MAX];
    unsigned started = 0;
    for (unsigned t = 1; t < threads; t++) {
        rs[t] = (runner){ &b, t };
        if (!upd_thread_start(&tid[started], run, &rs[t], 0))
            break;   /* fewer threads is still correct */
        started++;
    }
    rs[0] = (runner){ &b, 0 };
    run(&rs[0]);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    return atomic_load(&b.err);
}

int upd_thread_start(pthread_t *t, void *(*fn)(void *), void *arg, size_t stack)
{
    pthread_attr_t at;
    if (pthread_attr_init(&at) != 0)
        return 0;
    if (stack)
        pthread_attr_setstacksize(&at, stack);
    sigset_t all, old;
    sigfillset(&all);
    /* a fault's signal must still reach the host's handler (a crash
     * reporter, a sanitizer): blocked, the kernel would kill the process
     * with the default action instead */
    static const int faults[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS };
    for (size_t i = 0; i < sizeof faults / sizeof *faults; i++)
        sigdelset(&all, faults[i]);
    pthread_sigmask(SIG_SETMASK, &all, &old);   /* the new thread inherits it */
    int ok = pthread_create(t, &at, fn, arg) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&at);
    return ok;
}
