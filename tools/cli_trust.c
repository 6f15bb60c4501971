/* Trust options shared by apply and verify, and signing a package file. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_trust_opt(cli_trust *t, int c, const char *arg)
{
    switch (c) {
    case CLI_OPT_PUBKEY:
        if (t->npub == CLI_MAX_KEYS)
            return -1;
        t->pub[t->npub++] = arg;
        return 1;
    case CLI_OPT_KEYDIR: t->keydir = arg; return 1;
    case CLI_OPT_INSECURE: t->insecure = 1; return 1;
    default: return 0;
    }
}

int cli_trust_load(const cli_trust *t, upd_keyring **out)
{
    *out = NULL;
    if (t->insecure && !t->npub && !t->keydir)
        return 0;
    int rc = upd_keyring_create(out);
    const char *dir = t->keydir;
    /* the default key directory counts only when nothing else is named */
    if (!rc && !dir && !t->npub && access(CLI_DEFAULT_KEYDIR, F_OK) == 0)
        dir = CLI_DEFAULT_KEYDIR;
    if (!rc && dir && (rc = upd_keyring_load_dir(*out, dir)) < 0)
        fprintf(stderr, "updelta: key directory %s: %s\n", dir, upd_strerror(rc));
    for (unsigned i = 0; !rc && i < t->npub; i++) {
        upd_key *k;
        if ((rc = upd_key_load(&k, t->pub[i])) < 0) {
            fprintf(stderr, "updelta: %s: %s\n", t->pub[i], upd_strerror(rc));
            break;
        }
        rc = upd_keyring_add(*out, k);
        upd_key_free(k);
    }
    if (!rc && !upd_keyring_count(*out) && !t->insecure) {
        fprintf(stderr, "updelta: no trusted key: give --pubkey FILE or --keydir DIR "
                        "(default " CLI_DEFAULT_KEYDIR "), or --insecure\n");
        rc = UPD_E_SIG_MISSING;
    }
    if (rc < 0) {
        upd_keyring_free(*out);
        *out = NULL;
    }
    return rc;
}

void cli_hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

/* Read exactly LEN bytes at OFF. */
static int read_at(int fd, void *buf, size_t len, off_t off)
{
    ssize_t n = pread(fd, buf, len, off);
    return n == (ssize_t)len ? 0 : UPD_E_PKG_TRUNCATED;
}

int cli_sign_file(const char *path, const upd_key *k)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return UPD_E_IO_OPEN;
    uint8_t hb[UPD_HEADER_MAX];
    upd_header h;
    uint8_t *prefix = NULL;
    size_t len = 0;
    /* the preamble sizes the header */
    int rc = read_at(fd, hb, UPD_HEADER_PREAMBLE, 0);
    int size = rc ? rc : upd_header_size(hb, UPD_HEADER_PREAMBLE);
    rc = size < 0 ? size : read_at(fd, hb, (size_t)size, 0);
    if (!rc)
        rc = upd_header_decode(hb, (size_t)size, &h);
    if (!rc) {
        len = (size_t)upd_pkg_prefix_size(&h);
        prefix = malloc(len);
        rc = prefix ? read_at(fd, prefix, len, 0) : UPD_E_NOMEM;
    }
    if (!rc)
        rc = upd_sign_prefix(prefix, len, k);
    /* only the auth block changes: rewrite it in place and make it durable */
    size_t at = len - UPD_AUTH_SIZE;
    if (!rc && (pwrite(fd, prefix + at, UPD_AUTH_SIZE, (off_t)at) != UPD_AUTH_SIZE
                || fdatasync(fd) != 0))
        rc = UPD_E_IO_WRITE;
    free(prefix);
    close(fd);
    return rc;
}
