/* The SQLite store: open, schema migrations, transactions, configuration. */
#define _POSIX_C_SOURCE 200809L
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Migration N brings the schema from version N-1 to N.  Append, never
 * edit: a database in the field has run the earlier ones already. */
static const char *const migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE config(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE devices("
    "  id INTEGER PRIMARY KEY,"
    "  dev_id TEXT NOT NULL UNIQUE,"
    "  man TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '',"
    "  state TEXT NOT NULL DEFAULT 'new', reason TEXT NOT NULL DEFAULT '',"
    "  created INTEGER NOT NULL, last_seen INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE credentials("
    "  device INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,"
    "  user TEXT NOT NULL, secret TEXT NOT NULL, server_secret TEXT NOT NULL,"
    "  notify TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE nonces("
    "  device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  kind INTEGER NOT NULL, nonce BLOB NOT NULL, updated INTEGER NOT NULL,"
    "  PRIMARY KEY(device, kind));"
    "CREATE TABLE sessions("
    "  id INTEGER PRIMARY KEY,"
    "  device INTEGER REFERENCES devices(id),"
    "  session_id TEXT NOT NULL, started INTEGER NOT NULL, ended INTEGER,"
    "  outcome TEXT);"
    "CREATE TABLE rom_seen("
    "  id INTEGER PRIMARY KEY,"
    "  device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  session INTEGER REFERENCES sessions(id),"
    "  pkg_id TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,"
    "  seen INTEGER NOT NULL, current INTEGER NOT NULL);"
    "CREATE INDEX rom_seen_current ON rom_seen(device, current, pkg_id);"
    "CREATE TABLE images("
    "  pkg_id TEXT NOT NULL, version TEXT NOT NULL, file TEXT NOT NULL,"
    "  size INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY(pkg_id, version));"
    "CREATE TABLE catalogue("
    "  id INTEGER PRIMARY KEY,"
    "  pkg_id TEXT NOT NULL, from_version TEXT NOT NULL, to_version TEXT NOT NULL,"
    "  size INTEGER NOT NULL, sha256 TEXT NOT NULL, key_id TEXT NOT NULL,"
    "  file TEXT NOT NULL, created INTEGER NOT NULL,"
    "  UNIQUE(pkg_id, from_version, to_version));"
    "CREATE TABLE jobs("
    "  id INTEGER PRIMARY KEY,"
    "  device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  cat INTEGER NOT NULL REFERENCES catalogue(id),"
    "  pkg_id TEXT NOT NULL, from_version TEXT NOT NULL, to_version TEXT NOT NULL,"
    "  correlator TEXT NOT NULL UNIQUE, state TEXT NOT NULL,"
    "  result INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '',"
    "  created INTEGER NOT NULL, updated INTEGER NOT NULL);"
    "CREATE INDEX jobs_device ON jobs(device, pkg_id, state);"
    "CREATE TABLE alerts("
    "  id INTEGER PRIMARY KEY,"
    "  session INTEGER REFERENCES sessions(id),"
    "  device INTEGER REFERENCES devices(id),"
    "  code INTEGER NOT NULL, correlator TEXT, source TEXT, type TEXT, mark TEXT,"
    "  data TEXT, received INTEGER NOT NULL);"
    "CREATE TABLE events("
    "  id INTEGER PRIMARY KEY,"
    "  device INTEGER REFERENCES devices(id),"
    "  session INTEGER REFERENCES sessions(id),"
    "  at INTEGER NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL);",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

_Static_assert(N_MIGRATIONS == SRV_SCHEMA_VERSION, "one migration per schema version");

void srv_lock(srv_store *st) { pthread_mutex_lock(&st->mu); }
void srv_unlock(srv_store *st) { pthread_mutex_unlock(&st->mu); }

int srv_fail(srv_store *st, int code)
{
    snprintf(st->err, sizeof st->err, "%s", sqlite3_errmsg(st->db));
    return code;
}

static int exec_sql(srv_store *st, const char *sql, int code)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    snprintf(st->err, sizeof st->err, "%s", msg ? msg : sqlite3_errmsg(st->db));
    sqlite3_free(msg);
    return code;
}

int srv_begin(srv_store *st) { return exec_sql(st, "BEGIN IMMEDIATE", UPD_E_IO_WRITE); }
int srv_commit(srv_store *st) { return exec_sql(st, "COMMIT", UPD_E_IO_WRITE); }
void srv_rollback(srv_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

sqlite3_stmt *srv_prep(srv_store *st, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        srv_fail(st, 0);
        return NULL;
    }
    return s;
}

sqlite3_stmt *srv_prep_bind(srv_store *st, const char *sql, int64_t i, const char *t1,
                            const char *t2, const char *t3)
{
    sqlite3_stmt *s = srv_prep(st, sql);
    if (!s)
        return NULL;
    int n = sqlite3_bind_parameter_count(s);
    const char *t[3] = { t1, t2, t3 };
    if (n >= 1)
        sqlite3_bind_int64(s, 1, i);
    for (int k = 0; k < 3 && k + 2 <= n; k++)
        srv_bind_text(s, k + 2, t[k]);
    return s;
}

int srv_one(srv_store *st, sqlite3_stmt *s, void (*row)(sqlite3_stmt *s, void *out), void *out)
{
    if (!s)
        return UPD_E_IO_READ;
    int r = sqlite3_step(s), rc = 0;
    if (r == SQLITE_ROW) {
        row(s, out);
        rc = 1;
    } else if (r != SQLITE_DONE) {
        rc = srv_fail(st, UPD_E_IO_READ);
    }
    sqlite3_finalize(s);
    return rc;
}

int srv_one_of(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, list[i]))
            return 1;
    return 0;
}

int srv_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

void srv_col_text(sqlite3_stmt *s, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

int srv_step_done(srv_store *st, sqlite3_stmt *s)
{
    if (!s)
        return UPD_E_IO_WRITE;
    int rc = sqlite3_step(s);
    int out = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        out = srv_fail(st, (rc & 0xff) == SQLITE_CONSTRAINT ? UPD_E_INVAL : UPD_E_IO_WRITE);
    sqlite3_finalize(s);
    return out;
}

int64_t srv_now(void)
{
    return (int64_t)time(NULL);
}

static int user_version(srv_store *st)
{
    sqlite3_stmt *s = srv_prep(st, "PRAGMA user_version");
    int v = -1;
    if (s && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* Run the migrations the database lacks, each with its version bump in
 * one transaction, so a crash leaves the schema at a whole version. */
static int migrate(srv_store *st)
{
    int v = user_version(st);
    if (v < 0)
        return srv_fail(st, UPD_E_IO_OPEN);
    if (v > SRV_SCHEMA_VERSION) {
        snprintf(st->err, sizeof st->err, "database schema %d is newer than this server (%d)",
                 v, SRV_SCHEMA_VERSION);
        return UPD_E_STATE;
    }
    for (; v < N_MIGRATIONS; v++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version=%d", v + 1);
        if (srv_begin(st) || exec_sql(st, migrations[v], UPD_E_IO_OPEN)
            || exec_sql(st, bump, UPD_E_IO_OPEN) || srv_commit(st)) {
            srv_rollback(st);
            return UPD_E_IO_OPEN;
        }
    }
    return 0;
}

int srv_store_open(srv_store **out, const char *path)
{
    *out = NULL;
    srv_store *st = calloc(1, sizeof *st);
    if (!st)
        return UPD_E_NOMEM;
    pthread_mutex_init(&st->mu, NULL);
    int rc = 0;
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                        | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        rc = st->db ? srv_fail(st, UPD_E_IO_OPEN) : UPD_E_NOMEM;
    /* WAL: readers (status) never block the server's writes; NORMAL
       sync is durable at every WAL checkpoint and loses at most the last
       transactions on power loss, never consistency */
    if (!rc) {
        sqlite3_busy_timeout(st->db, 10000);
        rc = exec_sql(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                          "PRAGMA foreign_keys=ON;", UPD_E_IO_OPEN);
    }
    if (!rc)
        rc = migrate(st);
    if (rc) {
        srv_store_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void srv_store_close(srv_store *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

int srv_store_schema_version(srv_store *st)
{
    srv_lock(st);
    int v = user_version(st);
    srv_unlock(st);
    return v;
}

const char *srv_store_errmsg(srv_store *st)
{
    return st->err;
}

int srv_config_get(srv_store *st, const char *key, const char *def, char *out, size_t cap)
{
    srv_lock(st);
    sqlite3_stmt *s = srv_prep(st, "SELECT value FROM config WHERE key=?");
    int rc = s ? 0 : UPD_E_IO_READ;
    const char *v = def ? def : "";
    if (s) {
        srv_bind_text(s, 1, key);
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW)
            v = (const char *)sqlite3_column_text(s, 0);
        else if (r != SQLITE_DONE)
            rc = srv_fail(st, UPD_E_IO_READ);
    }
    if (!rc && strlen(v) >= cap)
        rc = UPD_E_LIMIT;
    if (!rc)
        memcpy(out, v, strlen(v) + 1);
    sqlite3_finalize(s);
    srv_unlock(st);
    return rc;
}

int srv_tx(srv_store *st, int (*fn)(srv_store *st, void *arg), void *arg)
{
    srv_lock(st);
    int rc = srv_begin(st);
    if (!rc)
        rc = fn(st, arg);
    if (!rc)
        rc = srv_commit(st);
    if (rc)
        srv_rollback(st);
    srv_unlock(st);
    return rc;
}

struct kv { const char *key, *value; };

static int config_set_tx(srv_store *st, void *arg)
{
    const struct kv *kv = arg;
    sqlite3_stmt *s = srv_prep(st, "INSERT INTO config(key, value) VALUES(?, ?) "
                                   "ON CONFLICT(key) DO UPDATE SET value=excluded.value");
    if (s) {
        srv_bind_text(s, 1, kv->key);
        srv_bind_text(s, 2, kv->value);
    }
    return srv_step_done(st, s);
}

int srv_config_set(srv_store *st, const char *key, const char *value)
{
    struct kv kv = { key, value };
    return srv_tx(st, config_set_tx, &kv);
}

void srv_hex(const uint8_t *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}
