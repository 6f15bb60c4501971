/* Update jobs (one per Exec, matched by correlator) and the audit trail:
 * sessions, alerts, events. */
#define _GNU_SOURCE
#include "store_internal.h"

#include <string.h>
#include <sys/random.h>

struct job_new { int64_t device, cat; srv_job *job; };

static int job_create_tx(srv_store *st, void *arg)
{
    struct job_new *a = arg;
    srv_job *j = a->job;
    sqlite3_stmt *s = srv_prep(st, "SELECT pkg_id, from_version, to_version FROM catalogue "
                                   "WHERE id = ?");
    if (!s)
        return UPD_E_IO_READ;
    sqlite3_bind_int64(s, 1, a->cat);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        srv_col_text(s, 0, j->pkg_id, sizeof j->pkg_id);
        srv_col_text(s, 1, j->from, sizeof j->from);
        srv_col_text(s, 2, j->to, sizeof j->to);
    }
    sqlite3_finalize(s);
    if (r != SQLITE_ROW)
        return r == SQLITE_DONE ? UPD_E_INVAL : srv_fail(st, UPD_E_IO_READ);
    uint8_t rnd[SRV_CORR_LEN / 2];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return UPD_E_INTERNAL;
    srv_hex(rnd, sizeof rnd, j->correlator);
    j->device = a->device;
    j->cat = a->cat;
    j->created = j->updated = srv_now();
    snprintf(j->state, sizeof j->state, "%s", SRV_JOB_SENT);
    s = srv_prep(st, "INSERT INTO jobs(device, cat, pkg_id, from_version, to_version, correlator, "
                     "state, created, updated) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (s) {
        sqlite3_bind_int64(s, 1, j->device);
        sqlite3_bind_int64(s, 2, j->cat);
        srv_bind_text(s, 3, j->pkg_id);
        srv_bind_text(s, 4, j->from);
        srv_bind_text(s, 5, j->to);
        srv_bind_text(s, 6, j->correlator);
        srv_bind_text(s, 7, j->state);
        sqlite3_bind_int64(s, 8, j->created);
        sqlite3_bind_int64(s, 9, j->updated);
    }
    int rc = srv_step_done(st, s);
    if (!rc)
        j->id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int srv_job_create(srv_store *st, int64_t device, int64_t cat, srv_job *job)
{
    memset(job, 0, sizeof *job);
    struct job_new a = { device, cat, job };
    return srv_tx(st, job_create_tx, &a);
}

#define JOB_COLS "id, device, cat, pkg_id, from_version, to_version, correlator, state, result, " \
                 "reason, created, updated FROM jobs "

static void job_row(sqlite3_stmt *s, void *out)
{
    srv_job *j = out;
    memset(j, 0, sizeof *j);
    j->id = sqlite3_column_int64(s, 0);
    j->device = sqlite3_column_int64(s, 1);
    j->cat = sqlite3_column_int64(s, 2);
    srv_col_text(s, 3, j->pkg_id, sizeof j->pkg_id);
    srv_col_text(s, 4, j->from, sizeof j->from);
    srv_col_text(s, 5, j->to, sizeof j->to);
    srv_col_text(s, 6, j->correlator, sizeof j->correlator);
    srv_col_text(s, 7, j->state, sizeof j->state);
    j->result = sqlite3_column_int(s, 8);
    srv_col_text(s, 9, j->reason, sizeof j->reason);
    j->created = sqlite3_column_int64(s, 10);
    j->updated = sqlite3_column_int64(s, 11);
}

/* The newest job matching WHERE (?1 = I, ?2 = T). */
static int job_query(srv_store *st, const char *where, int64_t i, const char *t, srv_job *job)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT " JOB_COLS "%s ORDER BY id DESC LIMIT 1", where);
    srv_lock(st);
    int rc = srv_one(st, srv_prep_bind(st, sql, i, t, NULL, NULL), job_row, job);
    srv_unlock(st);
    return rc;
}

int srv_job_get(srv_store *st, int64_t id, srv_job *job)
{
    return job_query(st, "WHERE id = ?1", id, NULL, job);
}

int srv_job_by_corr(srv_store *st, const char *corr, srv_job *job)
{
    return job_query(st, "WHERE correlator = ?2", 0, corr, job);
}

int srv_job_open(srv_store *st, int64_t device, const char *pkg_id, srv_job *job)
{
    return job_query(st, "WHERE device = ?1 AND pkg_id = ?2 AND "
                         "state IN ('sent', 'accepted', 'reported')", device, pkg_id, job);
}

int srv_job_last(srv_store *st, int64_t device, const char *pkg_id, srv_job *job)
{
    return job_query(st, "WHERE device = ?1 AND (?2 IS NULL OR pkg_id = ?2)", device, pkg_id, job);
}

struct job_set { int64_t id; const char *state; int result; const char *reason; };

static int job_set_tx(srv_store *st, void *arg)
{
    const struct job_set *a = arg;
    sqlite3_stmt *s = srv_prep(st, "UPDATE jobs SET state = ?, "
                                   "result = CASE WHEN ? != 0 THEN ? ELSE result END, "
                                   "reason = coalesce(?, reason), updated = ? WHERE id = ?");
    if (s) {
        srv_bind_text(s, 1, a->state);
        sqlite3_bind_int(s, 2, a->result);
        sqlite3_bind_int(s, 3, a->result);
        srv_bind_text(s, 4, a->reason);
        sqlite3_bind_int64(s, 5, srv_now());
        sqlite3_bind_int64(s, 6, a->id);
    }
    int rc = srv_step_done(st, s);
    return !rc && sqlite3_changes(st->db) != 1 ? UPD_E_INVAL : rc;
}

int srv_job_set(srv_store *st, int64_t id, const char *state, int result, const char *reason)
{
    static const char *const ok[] = { SRV_JOB_SENT, SRV_JOB_ACCEPTED, SRV_JOB_REPORTED,
                                      SRV_JOB_VERIFIED, SRV_JOB_FAILED };
    if (!srv_one_of(state, ok, sizeof ok / sizeof ok[0]))
        return UPD_E_INVAL;
    struct job_set a = { id, state, result, reason };
    return srv_tx(st, job_set_tx, &a);
}

struct sess { int64_t device, id; const char *text; };

static int session_begin_tx(srv_store *st, void *arg)
{
    struct sess *a = arg;
    sqlite3_stmt *s = srv_prep(st, "INSERT INTO sessions(device, session_id, started) "
                                   "VALUES(?, ?, ?)");
    if (s) {
        if (a->device > 0)
            sqlite3_bind_int64(s, 1, a->device);
        srv_bind_text(s, 2, a->text);
        sqlite3_bind_int64(s, 3, srv_now());
    }
    int rc = srv_step_done(st, s);
    if (!rc)
        a->id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int64_t srv_session_begin(srv_store *st, int64_t device, const char *session_id)
{
    struct sess a = { device, 0, session_id };
    int rc = srv_tx(st, session_begin_tx, &a);
    return rc ? rc : a.id;
}

static int session_end_tx(srv_store *st, void *arg)
{
    const struct sess *a = arg;
    sqlite3_stmt *s = srv_prep(st, "UPDATE sessions SET ended = ?, outcome = ? WHERE id = ?");
    if (s) {
        sqlite3_bind_int64(s, 1, srv_now());
        srv_bind_text(s, 2, a->text);
        sqlite3_bind_int64(s, 3, a->id);
    }
    return srv_step_done(st, s);
}

int srv_session_end(srv_store *st, int64_t session, const char *outcome)
{
    struct sess a = { 0, session, outcome };
    return srv_tx(st, session_end_tx, &a);
}

struct alert { int64_t session, device; const srv_alert *a; };

static int alert_tx(srv_store *st, void *arg)
{
    const struct alert *x = arg;
    sqlite3_stmt *s = srv_prep(st, "INSERT INTO alerts(session, device, code, correlator, source, "
                                   "type, mark, data, received) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (s) {
        if (x->session > 0)
            sqlite3_bind_int64(s, 1, x->session);
        if (x->device > 0)
            sqlite3_bind_int64(s, 2, x->device);
        sqlite3_bind_int(s, 3, x->a->code);
        srv_bind_text(s, 4, x->a->correlator);
        srv_bind_text(s, 5, x->a->source);
        srv_bind_text(s, 6, x->a->type);
        srv_bind_text(s, 7, x->a->mark);
        srv_bind_text(s, 8, x->a->data);
        sqlite3_bind_int64(s, 9, srv_now());
    }
    return srv_step_done(st, s);
}

int srv_alert_log(srv_store *st, int64_t session, int64_t device, const srv_alert *a)
{
    struct alert x = { session, device, a };
    return srv_tx(st, alert_tx, &x);
}

struct ev { int64_t device, session; const char *kind, *text; };

static int event_tx(srv_store *st, void *arg)
{
    const struct ev *e = arg;
    sqlite3_stmt *s = srv_prep(st, "INSERT INTO events(device, session, at, kind, text) "
                                   "VALUES(?, ?, ?, ?, ?)");
    if (s) {
        if (e->device > 0)
            sqlite3_bind_int64(s, 1, e->device);
        if (e->session > 0)
            sqlite3_bind_int64(s, 2, e->session);
        sqlite3_bind_int64(s, 3, srv_now());
        srv_bind_text(s, 4, e->kind);
        srv_bind_text(s, 5, e->text);
    }
    return srv_step_done(st, s);
}

int srv_event(srv_store *st, int64_t device, int64_t session, const char *kind, const char *text)
{
    struct ev e = { device, session, kind, text };
    return srv_tx(st, event_tx, &e);
}

int64_t srv_event_each(srv_store *st, int64_t after,
                       void (*fn)(void *user, const srv_event_row *e), void *user)
{
    srv_lock(st);
    sqlite3_stmt *s = srv_prep(st, "SELECT e.id, coalesce(e.device, 0), coalesce(e.session, 0), "
                                   "e.at, coalesce(d.dev_id, ''), e.kind, e.text FROM events e "
                                   "LEFT JOIN devices d ON d.id = e.device WHERE e.id > ? "
                                   "ORDER BY e.id");
    int64_t last = after;
    int r = SQLITE_DONE;
    if (s) {
        sqlite3_bind_int64(s, 1, after);
        while ((r = sqlite3_step(s)) == SQLITE_ROW) {
            srv_event_row e = {
                sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
                sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3),
                (const char *)sqlite3_column_text(s, 4), (const char *)sqlite3_column_text(s, 5),
                (const char *)sqlite3_column_text(s, 6) };
            fn(user, &e);
            last = e.id;
        }
    }
    int64_t rc = (!s || r != SQLITE_DONE) ? srv_fail(st, UPD_E_IO_READ) : last;
    sqlite3_finalize(s);
    srv_unlock(st);
    return rc;
}
