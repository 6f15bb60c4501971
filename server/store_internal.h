/* What the store's files share: the handle and small SQLite helpers.
 * Only the files in server/ include this; the rest of the program uses server.h. */
#ifndef UPD_STORE_INTERNAL_H
#define UPD_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include "server.h"

struct srv_store {
    sqlite3 *db;
    pthread_mutex_t mu;       /* one caller at a time, for a whole transaction */
    char err[256];            /* SQLite's message of the last failure */
};

/* Take / release ST's mutex. */
void srv_lock(srv_store *st);
void srv_unlock(srv_store *st);

/* Keep SQLite's message and return CODE. */
int srv_fail(srv_store *st, int code);

/* BEGIN IMMEDIATE (the write lock up front, so a busy database waits in
 * busy_timeout instead of failing mid-transaction), COMMIT, ROLLBACK.
 * begin/commit return 0 or UPD_E_IO_WRITE; rollback cannot fail usefully. */
int srv_begin(srv_store *st);
int srv_commit(srv_store *st);
void srv_rollback(srv_store *st);

/* Run FN(ST, ARG) in one write transaction under ST's mutex: committed
 * when FN returns 0, rolled back otherwise; returns FN's or the commit's
 * error. */
int srv_tx(srv_store *st, int (*fn)(srv_store *st, void *arg), void *arg);

/* Prepare SQL; NULL on failure (message kept). */
sqlite3_stmt *srv_prep(srv_store *st, const char *sql);

/* Prepare SQL and bind ?1 = I and ?2, ?3, ?4 = T1, T2, T3 (text; NULL binds
 * SQL NULL), each only when SQL has that many parameters; NULL on failure. */
sqlite3_stmt *srv_prep_bind(srv_store *st, const char *sql, int64_t i, const char *t1,
                            const char *t2, const char *t3);

/* Run the bound one-row query S (finalized here): 1 and ROW(S, OUT)
 * called when there is a row, 0 when none, UPD_E_IO_READ (also when S is
 * NULL: its prepare failed). */
int srv_one(srv_store *st, sqlite3_stmt *s, void (*row)(sqlite3_stmt *s, void *out), void *out);

/* Non-zero when S is one of the N strings in LIST. */
int srv_one_of(const char *s, const char *const *list, size_t n);

/* Bind text (NULL binds SQL NULL), copied by SQLite. */
int srv_bind_text(sqlite3_stmt *s, int i, const char *v);

/* Copy column I's text into OUT[0..CAP) (truncated, "" for NULL). */
void srv_col_text(sqlite3_stmt *s, int i, char *out, size_t cap);

/* Run a prepared write statement to completion and finalize it:
 * 0 or UPD_E_IO_WRITE (UPD_E_INVAL for a constraint violation). */
int srv_step_done(srv_store *st, sqlite3_stmt *s);

/* Unix time now, seconds. */
int64_t srv_now(void);

#endif
