/* Work items on a few threads, and how the library starts a thread. */
#ifndef UPD_PARALLEL_H
#define UPD_PARALLEL_H

#include <pthread.h>
#include <stddef.h>

/* Threads a batch runs on at most: THREAD below is less than this (and
 * than the batch's THREADS), so per-thread state can be an array of it. */
#define UPD_PARALLEL_MAX 64u

/* Item I of a batch, on THREAD (0 is the caller's: the one that may report
 * progress).  0 or a negative upd_err. */
typedef int (*upd_item_fn)(void *ctx, size_t i, unsigned thread);

/* Run FN for items 0..N-1 on up to THREADS threads, the caller's included;
 * threads claim items in increasing order.  After an item fails no other
 * starts.  Returns the first error (a thread that cannot be started is not
 * one: fewer threads do the work). */
int upd_parallel(size_t n, unsigned threads, upd_item_fn fn, void *ctx);

/* Start FN(ARG) on a thread of its own into *T, with STACK bytes of stack
 * (0: the default) and every signal blocked in it but those a fault raises
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS), so that the host's
 * signals reach the host's threads, never the library's.  1, or 0 when no
 * thread could be had (the caller then does the work itself). */
int upd_thread_start(pthread_t *t, void *(*fn)(void *), void *arg, size_t stack);

#endif
