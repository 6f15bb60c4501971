/* The FwUpdate/<x> nodes of one FUMO object and the DM commands on them
 * (fumo.h, upd_fumo_attach). */
#define _POSIX_C_SOURCE 200809L
#include "fumo_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { ST_OK = 200, ST_ACCEPTED = 202, ST_NOT_ALLOWED = 405, ST_INCOMPLETE = 412,
       ST_FAILED = 500 };

static const char *path_of(const upd_fumo *f, const char *leaf, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", f->base, leaf);
    return buf;
}

void fumo_tree_state(upd_fumo *f)
{
    char uri[1200], v[16];
    int n = snprintf(v, sizeof v, "%d", (int)f->rec.state);
    /* the node exists since attach; a failure here can only be NOMEM, and
     * the next change retries it */
    (void)upd_tree_set(f->tree, path_of(f, "State", uri, sizeof uri), UPD_TREE_INT,
                       UPD_TREE_GET, NULL, v, (size_t)n);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0 && (a == b || s[a - b - 1] == '/');
}

static int busy(const upd_fumo *f)
{
    return f->rec.state == UPD_FUMO_ST_DL_PROGRESS || f->rec.state == UPD_FUMO_ST_DL_COMPLETE ||
           f->rec.state == UPD_FUMO_ST_UPD_PROGRESS || f->rec.alert;
}

static int on_exec(void *user, const char *uri, const void *data, size_t len,
                   const char *correlator)
{
    (void)data;
    (void)len;
    upd_fumo *f = user;
    upd_fumo_op op;
    const char *url_node = NULL;
    if (ends_with(uri, "DownloadAndUpdate")) {
        op = UPD_FUMO_OP_DOWNLOAD_UPDATE;
        url_node = "DownloadAndUpdate/PkgURL";
    } else if (ends_with(uri, "Download")) {
        op = UPD_FUMO_OP_DOWNLOAD;
        url_node = "Download/PkgURL";
    } else {
        op = UPD_FUMO_OP_UPDATE;
    }
    const char *url = NULL;
    size_t ul;
    char p[1200];
    if (url_node && upd_tree_value(f->tree, path_of(f, url_node, p, sizeof p), &url, &ul) < 0)
        return ST_FAILED;
    int rc = upd_fumo_exec(f, op, url, correlator);
    if (rc == UPD_E_STATE)
        return ST_NOT_ALLOWED;
    if (rc == UPD_E_INVAL)
        return ST_INCOMPLETE;     /* no PkgURL set, or unusable text */
    if (rc < 0)
        return ST_FAILED;
    if (f->start)
        f->start(f->start_user, op);
    return ST_ACCEPTED;
}

static int on_pkgurl(void *user, const char *uri, const void *data, size_t len)
{
    (void)uri;
    (void)data;
    (void)len;
    upd_fumo *f = user;
    if (busy(f))
        return ST_NOT_ALLOWED;
    if (f->rec.state == UPD_FUMO_ST_READY) {
        /* a new URL replaces the package waiting for Exec Update */
        if (upd_fumo_event(f, UPD_FUMO_EV_RESET, 0) < 0)
            return ST_FAILED;
        unlink(f->pkgdata_path);
    }
    return ST_OK;
}

static int on_pkgdata(void *user, const char *uri, const void *data, size_t len)
{
    (void)uri;
    upd_fumo *f = user;
    if (busy(f))
        return ST_NOT_ALLOWED;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", f->pkgdata_path);
    char *slash = strrchr(dir, '/');
    const char *name = slash ? slash + 1 : dir;
    if (slash)
        *slash = '\0';
    if (upd_fumo_store_file(slash ? dir : ".", name, data, len, NULL) < 0)
        return ST_FAILED;
    return upd_fumo_event(f, UPD_FUMO_EV_PKGDATA, 0) < 0 ? ST_FAILED : ST_OK;
}

int upd_fumo_attach(upd_fumo *f, upd_tree *t, const char *base, const char *name,
                    const char *version, const char *pkgdata_path, upd_fumo_start_fn start,
                    void *start_user)
{
    if (!f || !t || !base || !pkgdata_path || strlen(base) > 1000)
        return UPD_E_INVAL;
    char *b = strdup(base), *pp = strdup(pkgdata_path);
    if (!b || !pp) {
        free(b);
        free(pp);
        return UPD_E_NOMEM;
    }
    free(f->base);
    free(f->pkgdata_path);
    f->base = b;
    f->pkgdata_path = pp;
    f->tree = t;
    f->start = start;
    f->start_user = start_user;

    const unsigned G = UPD_TREE_GET, GR = UPD_TREE_GET | UPD_TREE_REPLACE,
                   GE = UPD_TREE_GET | UPD_TREE_EXEC;
    const upd_tree_hooks exec = { NULL, on_exec, f }, url = { on_pkgurl, NULL, f },
                         pkgdata = { on_pkgdata, NULL, f };
    static const char *const nodes[] = { "Download", "Update", "DownloadAndUpdate" };
    char p[1200];
    UPD_FUMO_CHECK(upd_tree_set(t, base, UPD_TREE_NODE, G, NULL, NULL, 0));
    UPD_FUMO_CHECK(upd_tree_set(t, path_of(f, "PkgName", p, sizeof p), UPD_TREE_CHR, GR, NULL,
                                name, name ? strlen(name) : 0));
    UPD_FUMO_CHECK(upd_tree_set(t, path_of(f, "PkgVersion", p, sizeof p), UPD_TREE_CHR, GR,
                                NULL, version, version ? strlen(version) : 0));
    for (int i = 0; i < 3; i++) {
        UPD_FUMO_CHECK(upd_tree_set(t, path_of(f, nodes[i], p, sizeof p), UPD_TREE_NODE, GE,
                                    NULL, NULL, 0));
        UPD_FUMO_CHECK(upd_tree_set_hooks(t, p, &exec));
    }
    UPD_FUMO_CHECK(upd_tree_set(t, path_of(f, "Download/PkgURL", p, sizeof p), UPD_TREE_CHR, GR,
                                NULL, NULL, 0));
    UPD_FUMO_CHECK(upd_tree_set_hooks(t, p, &url));
    UPD_FUMO_CHECK(upd_tree_set(t, path_of(f, "DownloadAndUpdate/PkgURL", p, sizeof p),
                                UPD_TREE_CHR, GR, NULL, NULL, 0));
    UPD_FUMO_CHECK(upd_tree_set_hooks(t, p, &url));
    UPD_FUMO_CHECK(upd_tree_set(t, path_of(f, "Update/PkgData", p, sizeof p), UPD_TREE_BIN,
                                UPD_TREE_REPLACE, "application/octet-stream", NULL, 0));
    UPD_FUMO_CHECK(upd_tree_set_hooks(t, p, &pkgdata));
    UPD_FUMO_CHECK(upd_tree_set(t, path_of(f, "Ext", p, sizeof p), UPD_TREE_NODE, G, NULL,
                                NULL, 0));
    UPD_FUMO_CHECK(upd_tree_set(t, path_of(f, "State", p, sizeof p), UPD_TREE_INT, G, NULL,
                                "10", 2));
    fumo_tree_state(f);
    return 0;
}
