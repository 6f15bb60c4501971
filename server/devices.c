/* Devices, their credentials and nonces, and the ROM package versions they report. */
#define _POSIX_C_SOURCE 200809L
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

static int fits(const char *s, size_t max)
{
    return s && strlen(s) <= max;
}

static int device_add_tx(srv_store *st, void *arg)
{
    srv_device *d = arg;
    sqlite3_stmt *s = srv_prep(st, "INSERT INTO devices(dev_id, created) VALUES(?, ?)");
    if (s) {
        srv_bind_text(s, 1, d->dev_id);
        sqlite3_bind_int64(s, 2, srv_now());
    }
    int rc = srv_step_done(st, s);
    if (rc)
        return rc;
    d->id = sqlite3_last_insert_rowid(st->db);
    s = srv_prep(st, "INSERT INTO credentials(device, user, secret, server_secret, notify) "
                     "VALUES(?, ?, ?, ?, ?)");
    if (s) {
        sqlite3_bind_int64(s, 1, d->id);
        srv_bind_text(s, 2, d->user);
        srv_bind_text(s, 3, d->secret);
        srv_bind_text(s, 4, d->server_secret);
        srv_bind_text(s, 5, d->notify);
    }
    return srv_step_done(st, s);
}

int srv_device_add(srv_store *st, srv_device *dev)
{
    if (!dev->dev_id[0] || !fits(dev->user, SRV_NAME_MAX) || !fits(dev->secret, SRV_SECRET_MAX)
        || !fits(dev->server_secret, SRV_SECRET_MAX) || !fits(dev->notify, SRV_TEXT_MAX))
        return UPD_E_INVAL;
    return srv_tx(st, device_add_tx, dev);
}

#define DEVICE_COLS "d.id, d.dev_id, c.user, c.secret, c.server_secret, c.notify, d.man, " \
                    "d.model, d.state, d.reason, d.last_seen " \
                    "FROM devices d JOIN credentials c ON c.device = d.id "

static void device_row(sqlite3_stmt *s, void *out)
{
    srv_device *d = out;
    memset(d, 0, sizeof *d);
    d->id = sqlite3_column_int64(s, 0);
    srv_col_text(s, 1, d->dev_id, sizeof d->dev_id);
    srv_col_text(s, 2, d->user, sizeof d->user);
    srv_col_text(s, 3, d->secret, sizeof d->secret);
    srv_col_text(s, 4, d->server_secret, sizeof d->server_secret);
    srv_col_text(s, 5, d->notify, sizeof d->notify);
    srv_col_text(s, 6, d->man, sizeof d->man);
    srv_col_text(s, 7, d->mod, sizeof d->mod);
    srv_col_text(s, 8, d->state, sizeof d->state);
    srv_col_text(s, 9, d->reason, sizeof d->reason);
    d->last_seen = sqlite3_column_int64(s, 10);
}

int srv_device_get(srv_store *st, const char *dev_id, srv_device *dev)
{
    srv_lock(st);
    int rc = srv_one(st, srv_prep_bind(st, "SELECT " DEVICE_COLS "WHERE d.dev_id = ?2", 0,
                                       dev_id, NULL, NULL), device_row, dev);
    srv_unlock(st);
    return rc;
}

int srv_device_get_id(srv_store *st, int64_t id, srv_device *dev)
{
    srv_lock(st);
    int rc = srv_one(st, srv_prep_bind(st, "SELECT " DEVICE_COLS "WHERE d.id = ?1", id, NULL,
                                       NULL, NULL), device_row, dev);
    srv_unlock(st);
    return rc;
}

struct seen { int64_t id; const char *man, *mod, *state, *reason; };

static int seen_tx(srv_store *st, void *arg)
{
    const struct seen *a = arg;
    sqlite3_stmt *s = srv_prep(st, "UPDATE devices SET man = coalesce(?, man), "
                                   "model = coalesce(?, model), last_seen = ?, "
                                   "state = CASE state WHEN 'new' THEN 'idle' ELSE state END "
                                   "WHERE id = ?");
    if (s) {
        srv_bind_text(s, 1, a->man);
        srv_bind_text(s, 2, a->mod);
        sqlite3_bind_int64(s, 3, srv_now());
        sqlite3_bind_int64(s, 4, a->id);
    }
    return srv_step_done(st, s);
}

int srv_device_seen(srv_store *st, int64_t id, const char *man, const char *mod)
{
    struct seen a = { id, man, mod, NULL, NULL };
    return srv_tx(st, seen_tx, &a);
}

static int state_tx(srv_store *st, void *arg)
{
    const struct seen *a = arg;
    sqlite3_stmt *s = srv_prep(st, "UPDATE devices SET state = ?, reason = ? WHERE id = ?");
    if (s) {
        srv_bind_text(s, 1, a->state);
        srv_bind_text(s, 2, a->reason ? a->reason : "");
        sqlite3_bind_int64(s, 3, a->id);
    }
    return srv_step_done(st, s);
}

int srv_device_set_state(srv_store *st, int64_t id, const char *state, const char *reason)
{
    static const char *const ok[] = { SRV_DEV_NEW, SRV_DEV_IDLE, SRV_DEV_UPDATING,
                                      SRV_DEV_VERIFIED, SRV_DEV_FAILED };
    if (!srv_one_of(state, ok, sizeof ok / sizeof ok[0]))
        return UPD_E_INVAL;
    struct seen a = { id, NULL, NULL, state, reason };
    return srv_tx(st, state_tx, &a);
}

int srv_device_each(srv_store *st, int (*fn)(void *user, const srv_device *d), void *user)
{
    /* copy the rows out first: FN may call back into the store */
    srv_device *all = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    srv_lock(st);
    sqlite3_stmt *s = srv_prep(st, "SELECT " DEVICE_COLS "ORDER BY d.dev_id");
    if (!s)
        rc = UPD_E_IO_READ;
    int r;
    while (!rc && (r = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            srv_device *g = realloc(all, nc * sizeof *g);
            if (!g) {
                rc = UPD_E_NOMEM;
                break;
            }
            all = g;
            cap = nc;
        }
        device_row(s, &all[n++]);
    }
    if (!rc && r != SQLITE_DONE)
        rc = srv_fail(st, UPD_E_IO_READ);
    sqlite3_finalize(s);
    srv_unlock(st);
    for (size_t i = 0; !rc && i < n; i++)
        rc = fn(user, &all[i]);
    free(all);
    return rc;
}

int srv_nonce_get(srv_store *st, int64_t device, int kind, uint8_t out[SRV_NONCE_MAX])
{
    srv_lock(st);
    sqlite3_stmt *s = srv_prep(st, "SELECT nonce FROM nonces WHERE device = ? AND kind = ?");
    int rc = s ? 0 : UPD_E_IO_READ;
    if (s) {
        sqlite3_bind_int64(s, 1, device);
        sqlite3_bind_int(s, 2, kind);
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW) {
            int n = sqlite3_column_bytes(s, 0);
            if (n > SRV_NONCE_MAX)
                n = SRV_NONCE_MAX;
            if (n > 0)
                memcpy(out, sqlite3_column_blob(s, 0), (size_t)n);
            rc = n;
        } else if (r != SQLITE_DONE) {
            rc = srv_fail(st, UPD_E_IO_READ);
        }
    }
    sqlite3_finalize(s);
    srv_unlock(st);
    return rc;
}

struct nonce { int64_t device; int kind; const uint8_t *p; size_t n; };

static int nonce_tx(srv_store *st, void *arg)
{
    const struct nonce *a = arg;
    sqlite3_stmt *s = srv_prep(st, "INSERT INTO nonces(device, kind, nonce, updated) "
                                   "VALUES(?, ?, ?, ?) ON CONFLICT(device, kind) DO UPDATE "
                                   "SET nonce = excluded.nonce, updated = excluded.updated");
    if (s) {
        sqlite3_bind_int64(s, 1, a->device);
        sqlite3_bind_int(s, 2, a->kind);
        /* a zero-length blob, not NULL: "empty nonce" is a valid state */
        sqlite3_bind_blob(s, 3, a->n ? (const void *)a->p : "", (int)a->n, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 4, srv_now());
    }
    return srv_step_done(st, s);
}

int srv_nonce_set(srv_store *st, int64_t device, int kind, const uint8_t *nonce, size_t len)
{
    if ((kind != SRV_NONCE_CLIENT && kind != SRV_NONCE_SERVER) || len > SRV_NONCE_MAX)
        return UPD_E_INVAL;
    struct nonce a = { device, kind, nonce, len };
    return srv_tx(st, nonce_tx, &a);
}

struct roms { int64_t device, session; const srv_rom *r; size_t n; };

static int rom_tx(srv_store *st, void *arg)
{
    const struct roms *a = arg;
    sqlite3_stmt *s = srv_prep(st, "UPDATE rom_seen SET current = 0 WHERE device = ? AND current");
    if (s)
        sqlite3_bind_int64(s, 1, a->device);
    int rc = srv_step_done(st, s);
    for (size_t i = 0; !rc && i < a->n; i++) {
        s = srv_prep(st, "INSERT INTO rom_seen(device, session, pkg_id, name, version, seen, "
                         "current) VALUES(?, ?, ?, ?, ?, ?, 1)");
        if (s) {
            sqlite3_bind_int64(s, 1, a->device);
            if (a->session > 0)
                sqlite3_bind_int64(s, 2, a->session);
            srv_bind_text(s, 3, a->r[i].pkg_id);
            srv_bind_text(s, 4, a->r[i].name);
            srv_bind_text(s, 5, a->r[i].version);
            sqlite3_bind_int64(s, 6, srv_now());
        }
        rc = srv_step_done(st, s);
    }
    return rc;
}

int srv_rom_record(srv_store *st, int64_t device, int64_t session, const srv_rom *roms, size_t n)
{
    struct roms a = { device, session, roms, n };
    return srv_tx(st, rom_tx, &a);
}

int srv_rom_current(srv_store *st, int64_t device, srv_rom *out, size_t cap)
{
    srv_lock(st);
    sqlite3_stmt *s = srv_prep(st, "SELECT pkg_id, name, version, seen FROM rom_seen "
                                   "WHERE device = ? AND current ORDER BY pkg_id");
    int rc = s ? 0 : UPD_E_IO_READ, n = 0, r = SQLITE_DONE;
    if (s)
        sqlite3_bind_int64(s, 1, device);
    while (!rc && (r = sqlite3_step(s)) == SQLITE_ROW) {
        if ((size_t)n < cap) {
            srv_rom *o = &out[n];
            srv_col_text(s, 0, o->pkg_id, sizeof o->pkg_id);
            srv_col_text(s, 1, o->name, sizeof o->name);
            srv_col_text(s, 2, o->version, sizeof o->version);
            o->seen = sqlite3_column_int64(s, 3);
        }
        n++;
    }
    if (!rc && r != SQLITE_DONE)
        rc = srv_fail(st, UPD_E_IO_READ);
    sqlite3_finalize(s);
    srv_unlock(st);
    return rc ? rc : n;
}
