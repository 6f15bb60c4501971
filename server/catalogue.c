/* The package catalogue, ROM images by version, and the update choice. */
#define _POSIX_C_SOURCE 200809L
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

static int cat_add_tx(srv_store *st, void *arg)
{
    srv_cat *c = arg;
    sqlite3_stmt *s = srv_prep(st, "INSERT INTO catalogue(pkg_id, from_version, to_version, size, "
                                   "sha256, key_id, file, created) VALUES(?, ?, ?, ?, ?, ?, ?, ?) "
                                   "ON CONFLICT(pkg_id, from_version, to_version) DO UPDATE SET "
                                   "size = excluded.size, sha256 = excluded.sha256, "
                                   "key_id = excluded.key_id, file = excluded.file, "
                                   "created = excluded.created RETURNING id");
    if (!s)
        return UPD_E_IO_WRITE;
    srv_bind_text(s, 1, c->pkg_id);
    srv_bind_text(s, 2, c->from);
    srv_bind_text(s, 3, c->to);
    sqlite3_bind_int64(s, 4, (int64_t)c->size);
    srv_bind_text(s, 5, c->sha256);
    srv_bind_text(s, 6, c->key_id);
    srv_bind_text(s, 7, c->file);
    sqlite3_bind_int64(s, 8, srv_now());
    if (sqlite3_step(s) == SQLITE_ROW)
        c->id = sqlite3_column_int64(s, 0);
    return srv_step_done(st, s);
}

int srv_cat_add(srv_store *st, srv_cat *c)
{
    if (!c->pkg_id[0] || !c->to[0] || !strcmp(c->from, c->to) || !c->file[0])
        return UPD_E_INVAL;
    return srv_tx(st, cat_add_tx, c);
}

#define CAT_COLS "id, pkg_id, from_version, to_version, size, sha256, key_id, file FROM catalogue "

static void cat_row(sqlite3_stmt *s, void *out)
{
    srv_cat *c = out;
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(s, 0);
    srv_col_text(s, 1, c->pkg_id, sizeof c->pkg_id);
    srv_col_text(s, 2, c->from, sizeof c->from);
    srv_col_text(s, 3, c->to, sizeof c->to);
    c->size = (uint64_t)sqlite3_column_int64(s, 4);
    srv_col_text(s, 5, c->sha256, sizeof c->sha256);
    srv_col_text(s, 6, c->key_id, sizeof c->key_id);
    srv_col_text(s, 7, c->file, sizeof c->file);
}

int srv_cat_get(srv_store *st, int64_t id, srv_cat *c)
{
    srv_lock(st);
    int rc = srv_one(st, srv_prep_bind(st, "SELECT " CAT_COLS "WHERE id = ?1", id, NULL, NULL,
                                       NULL), cat_row, c);
    srv_unlock(st);
    return rc;
}

int srv_cat_find(srv_store *st, const char *pkg_id, const char *from, const char *to, srv_cat *c)
{
    srv_lock(st);
    int rc = srv_one(st, srv_prep_bind(st, "SELECT " CAT_COLS "WHERE pkg_id = ?2 AND "
                                       "from_version = ?3 AND to_version = ?4", 0, pkg_id, from,
                                       to), cat_row, c);
    srv_unlock(st);
    return rc;
}

/* Every catalogue row of PKG_ID into a malloc'd array; count or error. */
static int cat_load(srv_store *st, const char *pkg_id, srv_cat **out)
{
    *out = NULL;
    srv_lock(st);
    sqlite3_stmt *s = srv_prep(st, "SELECT " CAT_COLS "WHERE pkg_id = ? ORDER BY id");
    if (!s) {
        srv_unlock(st);
        return UPD_E_IO_READ;
    }
    srv_bind_text(s, 1, pkg_id);
    srv_cat *a = NULL;
    int n = 0, cap = 0, rc = 0, r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            srv_cat *g = realloc(a, (size_t)cap * sizeof *g);
            if (!g) {
                rc = UPD_E_NOMEM;
                break;
            }
            a = g;
        }
        cat_row(s, &a[n++]);
    }
    if (!rc && r != SQLITE_DONE)
        rc = srv_fail(st, UPD_E_IO_READ);
    sqlite3_finalize(s);
    srv_unlock(st);
    if (rc) {
        free(a);
        return rc;
    }
    *out = a;
    return n;
}

/* The newest to-version among C[0..N) into OUT; 0 when N is 0. */
static int latest_of(const srv_cat *c, int n, char out[SRV_VERSION_MAX + 1])
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if (best < 0 || upd_version_cmp(c[i].to, c[best].to) > 0)
            best = i;
    if (best < 0)
        return 0;
    memcpy(out, c[best].to, sizeof c[best].to);
    return 1;
}

int srv_cat_latest(srv_store *st, const char *pkg_id, char out[SRV_VERSION_MAX + 1])
{
    srv_cat *c;
    int n = cat_load(st, pkg_id, &c);
    if (n < 0)
        return n;
    int rc = latest_of(c, n, out);
    free(c);
    return rc;
}

struct image { const char *pkg_id, *version, *file, *sha256; uint64_t size; };

static int image_tx(srv_store *st, void *arg)
{
    const struct image *a = arg;
    sqlite3_stmt *s = srv_prep(st, "INSERT INTO images(pkg_id, version, file, size, sha256) "
                                   "VALUES(?, ?, ?, ?, ?) ON CONFLICT(pkg_id, version) DO UPDATE "
                                   "SET file = excluded.file, size = excluded.size, "
                                   "sha256 = excluded.sha256");
    if (s) {
        srv_bind_text(s, 1, a->pkg_id);
        srv_bind_text(s, 2, a->version);
        srv_bind_text(s, 3, a->file);
        sqlite3_bind_int64(s, 4, (int64_t)a->size);
        srv_bind_text(s, 5, a->sha256);
    }
    return srv_step_done(st, s);
}

int srv_image_add(srv_store *st, const char *pkg_id, const char *version, const char *file,
                  uint64_t size, const char *sha256)
{
    if (!pkg_id[0] || !version[0] || strlen(version) > SRV_VERSION_MAX)
        return UPD_E_INVAL;
    struct image a = { pkg_id, version, file, sha256, size };
    return srv_tx(st, image_tx, &a);
}

struct vf { char *v, *f; };

static int vf_cmp(const void *a, const void *b)
{
    return upd_version_cmp(((const struct vf *)a)->v, ((const struct vf *)b)->v);
}

int srv_image_versions(srv_store *st, const char *pkg_id, char ***out, char ***files)
{
    *out = NULL;
    if (files)
        *files = NULL;
    struct vf *a = NULL;
    int n = 0, cap = 0, rc = 0, r = SQLITE_DONE;
    srv_lock(st);
    sqlite3_stmt *s = srv_prep(st, "SELECT version, file FROM images WHERE pkg_id = ?");
    if (!s)
        rc = UPD_E_IO_READ;
    else
        srv_bind_text(s, 1, pkg_id);
    while (!rc && (r = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            struct vf *g = realloc(a, (size_t)cap * sizeof *g);
            if (!g) {
                rc = UPD_E_NOMEM;
                break;
            }
            a = g;
        }
        a[n].v = strdup((const char *)sqlite3_column_text(s, 0));
        a[n].f = strdup((const char *)sqlite3_column_text(s, 1));
        n++;
        if (!a[n - 1].v || !a[n - 1].f)
            rc = UPD_E_NOMEM;
    }
    if (!rc && r != SQLITE_DONE)
        rc = srv_fail(st, UPD_E_IO_READ);
    sqlite3_finalize(s);
    srv_unlock(st);
    char **vs = NULL, **fs = NULL;
    if (!rc && n) {
        qsort(a, (size_t)n, sizeof *a, vf_cmp);
        vs = malloc((size_t)n * sizeof *vs);
        fs = malloc((size_t)n * sizeof *fs);
        if (!vs || !fs)
            rc = UPD_E_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        if (rc) {
            free(a[i].v);
            free(a[i].f);
            continue;
        }
        vs[i] = a[i].v;
        fs[i] = a[i].f;
    }
    free(a);
    if (rc || !files) {
        for (int i = 0; !rc && i < n; i++)
            free(fs[i]);
        free(fs);
        fs = NULL;
    }
    if (rc) {
        free(vs);
        return rc;
    }
    *out = vs;
    if (files)
        *files = fs;
    return n;
}

/* Cheapest chain FROM -> TARGET over the deltas in C[0..N): the catalogue
 * only holds forward deltas, so the versions form a DAG in version order
 * and one pass over them in that order finds the least total bytes. */
static int best_chain(const srv_cat *c, int n, const char *from, const char *target,
                      srv_plan *plan)
{
    /* node i is the to-version of row i, plus node n for FROM */
    uint64_t *dist = malloc((size_t)(n + 1) * sizeof *dist);
    int *prev = malloc((size_t)(n + 1) * sizeof *prev), *hops = malloc((size_t)(n + 1) * sizeof *hops);
    int *order = malloc((size_t)n * sizeof *order);
    if (!dist || !prev || !hops || !order) {
        free(dist), free(prev), free(hops), free(order);
        return UPD_E_NOMEM;
    }
    for (int i = 0; i <= n; i++) {
        dist[i] = UINT64_MAX;
        prev[i] = -1;
        hops[i] = 0;
    }
    dist[n] = 0;
    /* rows sorted by from-version: relaxing them in that order settles
       every version before any delta leaves it */
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && upd_version_cmp(c[order[j - 1]].from, c[order[j]].from) > 0; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int k = 0; k < n; k++) {
        const srv_cat *e = &c[order[k]];
        if (!e->from[0] || upd_version_cmp(e->to, e->from) <= 0
            || upd_version_cmp(e->from, from) < 0)
            continue;
        /* the cheapest way to reach e->from: FROM itself or any row ending there */
        uint64_t best = strcmp(e->from, from) == 0 ? 0 : UINT64_MAX;
        int via = strcmp(e->from, from) == 0 ? n : -1;
        for (int i = 0; i < n; i++)
            if (dist[i] < best && !strcmp(c[i].to, e->from)) {
                best = dist[i];
                via = i;
            }
        if (via < 0 || hops[via] + 1 > SRV_CHAIN_MAX)
            continue;
        int me = order[k];
        if (best + e->size < dist[me]) {
            dist[me] = best + e->size;
            prev[me] = via;
            hops[me] = hops[via] + 1;
        }
    }
    int end = -1;
    for (int i = 0; i < n; i++)
        if (dist[i] != UINT64_MAX && !strcmp(c[i].to, target) && (end < 0 || dist[i] < dist[end]))
            end = i;
    if (end >= 0) {
        plan->n = (unsigned)hops[end];
        plan->bytes = dist[end];
        for (int i = end, k = hops[end] - 1; i != n; i = prev[i], k--)
            plan->step[k] = c[i].id;
    }
    free(dist), free(prev), free(hops), free(order);
    return end >= 0;
}

static void plan_one(srv_plan *plan, srv_plan_kind kind, const srv_cat *c)
{
    plan->kind = kind;
    plan->n = 1;
    plan->step[0] = c->id;
    plan->bytes = c->size;
}

int srv_plan_update(srv_store *st, const char *pkg_id, const char *from, srv_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    srv_cat *c;
    int n = cat_load(st, pkg_id, &c);
    if (n < 0)
        return n;
    int rc = UPD_E_LIMIT;
    if (!latest_of(c, n, plan->target))
        goto out;
    if (from[0] && upd_version_cmp(from, plan->target) >= 0) {
        plan->kind = SRV_PLAN_NONE;
        rc = 0;
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (from[0] && !strcmp(c[i].from, from) && !strcmp(c[i].to, plan->target)) {
            plan_one(plan, SRV_PLAN_DIRECT, &c[i]);
            rc = 0;
            goto out;
        }
    if (from[0]) {
        rc = best_chain(c, n, from, plan->target, plan);
        if (rc < 0)
            goto out;
        if (rc) {
            plan->kind = SRV_PLAN_CHAIN;
            rc = 0;
            goto out;
        }
        rc = UPD_E_LIMIT;
    }
    for (int i = 0; i < n; i++)
        if (!c[i].from[0] && !strcmp(c[i].to, plan->target)) {
            plan_one(plan, SRV_PLAN_FULL, &c[i]);
            rc = 0;
            break;
        }
out:
    free(c);
    return rc;
}
