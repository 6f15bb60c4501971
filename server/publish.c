/* Publish ROM images by version: keep them, make and sign the deltas
 * between versions, register them in the catalogue. */
#define _POSIX_C_SOURCE 200809L
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Write DATA to DIR/NAME through NAME.part, fsync and rename, so the name
 * only ever shows a whole file. */
static int write_atomic(const char *dir, const char *name, const uint8_t *data, size_t len)
{
    char tmp[4096], fin[4096];
    snprintf(fin, sizeof fin, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/%s.part", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return UPD_E_IO_OPEN;
    int rc = 0;
    for (size_t off = 0; !rc && off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = UPD_E_IO_WRITE;
        else
            off += (size_t)w;
    }
    if (!rc && fsync(fd) != 0)
        rc = UPD_E_IO_FLUSH;
    close(fd);
    if (!rc && rename(tmp, fin) != 0)
        rc = UPD_E_IO_WRITE;
    if (rc)
        unlink(tmp);
    /* the rename is durable once the directory is */
    int dfd = rc ? -1 : open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            rc = UPD_E_IO_FLUSH;
        close(dfd);
    }
    return rc;
}

static void sha256_hex(const uint8_t *p, size_t n, char out[65])
{
    uint8_t d[32];
    unsigned dl = 0;
    EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL);
    srv_hex(d, 32, out);
}

static int ensure_dir(const char *path)
{
    return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : UPD_E_IO_OPEN;
}

static void say(const srv_publish_params *p, const char *fmt, const char *a, const char *b,
                const char *c)
{
    if (p->log) {
        fprintf(p->log, fmt, a, b, c);
        fflush(p->log);
    }
}

/* Make, sign and register the package FROM -> TO (FROM "" = full image)
 * unless the catalogue has it. */
static int make_package(srv_store *st, const srv_publish_params *p, const char *from,
                        const char *from_file, const char *to, const char *to_file)
{
    srv_cat c;
    int rc = srv_cat_find(st, p->pkg_id, from, to, &c);
    if (rc)
        return rc < 0 ? rc : 0;
    char path[4096];
    srv_buf old = { 0 }, nw = { 0 }, pkg = { 0 };
    if (from[0]) {
        snprintf(path, sizeof path, "%s/images/%s", p->repo, from_file);
        rc = srv_buf_read_file(path, &old);
    }
    snprintf(path, sizeof path, "%s/images/%s", p->repo, to_file);
    if (!rc)
        rc = srv_buf_read_file(path, &nw);
    upd_diff_params dp;
    upd_diff_params_default(&dp);
    dp.package_id = p->pkg_id;
    dp.from_version = from;
    dp.to_version = to;
    say(p, "publish   %s %s -> %s: diff\n", p->pkg_id, from[0] ? from : "(full image)", to);
    if (!rc)
        rc = upd_diff(old.p ? old.p : (const uint8_t *)"", old.n, nw.p, nw.n, &dp, srv_buf_append,
                      &pkg, NULL);
    upd_header h;
    if (!rc)
        rc = upd_header_decode(pkg.p, pkg.n, &h);
    if (!rc)
        rc = upd_sign_prefix(pkg.p, (size_t)upd_pkg_prefix_size(&h), p->key);
    memset(&c, 0, sizeof c);
    snprintf(c.pkg_id, sizeof c.pkg_id, "%s", p->pkg_id);
    snprintf(c.from, sizeof c.from, "%s", from);
    snprintf(c.to, sizeof c.to, "%s", to);
    snprintf(c.file, sizeof c.file, "%s_%s_%s.upd", p->pkg_id, from[0] ? from : "full", to);
    snprintf(path, sizeof path, "%s/pkg", p->repo);
    if (!rc)
        rc = write_atomic(path, c.file, pkg.p, pkg.n);
    if (!rc) {
        uint8_t kid[UPD_KEY_ID_SIZE];
        upd_key_id(p->key, kid);
        srv_hex(kid, sizeof kid, c.key_id);
        sha256_hex(pkg.p, pkg.n, c.sha256);
        c.size = pkg.n;
        rc = srv_cat_add(st, &c);
    }
    if (!rc) {
        char sz[32];
        snprintf(sz, sizeof sz, "%zu", pkg.n);
        say(p, "publish   %s: %s bytes, signed by %s\n", c.file, sz, c.key_id);
    }
    free(old.p);
    free(nw.p);
    free(pkg.p);
    return rc;
}

static void free_list(char **l, int n)
{
    for (int i = 0; l && i < n; i++)
        free(l[i]);
    free(l);
}

int srv_publish(srv_store *st, const srv_publish_params *p, const char *const *versions,
                const char *const *files, size_t n)
{
    if (!p->pkg_id || !srv_name_ok(p->pkg_id, SRV_NAME_MAX) || !p->repo || !p->key || !upd_key_is_private(p->key))
        return UPD_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        if (!srv_name_ok(versions[i], SRV_VERSION_MAX))
            return UPD_E_INVAL;
        for (size_t j = 0; j < i; j++)
            if (!upd_version_cmp(versions[i], versions[j]))
                return UPD_E_INVAL;
    }
    char dir[4096];
    int rc = ensure_dir(p->repo);
    snprintf(dir, sizeof dir, "%s/images", p->repo);
    if (!rc)
        rc = ensure_dir(dir);
    char pkgdir[4096];
    snprintf(pkgdir, sizeof pkgdir, "%s/pkg", p->repo);
    if (!rc)
        rc = ensure_dir(pkgdir);
    for (size_t i = 0; !rc && i < n; i++) {
        srv_buf img = { 0 };
        char name[256], hex[65];
        rc = srv_buf_read_file(files[i], &img);
        snprintf(name, sizeof name, "%s_%s.img", p->pkg_id, versions[i]);
        if (!rc)
            rc = write_atomic(dir, name, img.p, img.n);
        if (!rc) {
            sha256_hex(img.p, img.n, hex);
            rc = srv_image_add(st, p->pkg_id, versions[i], name, img.n, hex);
        }
        free(img.p);
    }
    char **vs = NULL, **fs = NULL;
    int nv = rc ? 0 : srv_image_versions(st, p->pkg_id, &vs, &fs);
    if (nv < 0)
        return nv;
    for (int i = 0; !rc && i + 1 < nv; i++)
        rc = make_package(st, p, vs[i], fs[i], vs[i + 1], fs[i + 1]);
    for (int i = 0; !rc && p->direct && i + 2 < nv; i++)
        rc = make_package(st, p, vs[i], fs[i], vs[nv - 1], fs[nv - 1]);
    if (!rc && p->full && nv > 0)
        rc = make_package(st, p, "", NULL, vs[nv - 1], fs[nv - 1]);
    free_list(vs, nv);
    free_list(fs, nv);
    return rc;
}
