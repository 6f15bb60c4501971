/* updelta keygen NAME | sign PKG --key K | verify PKG --pubkey P ... */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void print_key_id(const char *what, const upd_key *k)
{
    uint8_t id[UPD_KEY_ID_SIZE];
    char hx[2 * UPD_KEY_ID_SIZE + 1];
    upd_key_id(k, id);
    cli_hex(id, sizeof id, hx);
    printf("%s key id %s\n", what, hx);
}

int cmd_keygen(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: updelta keygen NAME   (writes NAME.key, mode 0600, and NAME.pub)\n");
        return 2;
    }
    char priv[4096], pub[4096];
    snprintf(priv, sizeof priv, "%s.key", argv[1]);
    snprintf(pub, sizeof pub, "%s.pub", argv[1]);
    upd_key *k;
    int rc = upd_key_generate(&k);
    if (!rc && (rc = upd_key_save_private(k, priv)) < 0)
        fprintf(stderr, "updelta: %s: %s\n", priv, errno ? strerror(errno) : upd_strerror(rc));
    else if (!rc && (rc = upd_key_save_public(k, pub)) < 0)
        fprintf(stderr, "updelta: %s: %s\n", pub, upd_strerror(rc));
    if (!rc)
        print_key_id("generated", k);
    upd_key_free(k);
    return rc ? 1 : 0;
}

/* Load the private key PATH and sign package file PKG with it. */
int cli_sign_with(const char *pkg, const char *path, int quiet)
{
    upd_key *k;
    int rc = upd_key_load(&k, path);
    if (rc < 0)
        return cli_fail(path, rc);
    rc = cli_sign_file(pkg, k);
    if (!rc && !quiet)
        print_key_id("signed with", k);
    upd_key_free(k);
    return rc ? cli_fail(pkg, rc) : 0;
}

int cmd_sign(int argc, char **argv)
{
    static const struct option lo[] = {
        { "key", required_argument, 0, 'k' }, { "quiet", no_argument, 0, 'q' }, { 0, 0, 0, 0 }
    };
    const char *key = NULL;
    int c, quiet = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:q", lo, NULL)) != -1) {
        if (c == 'k')
            key = optarg;
        else if (c == 'q')
            quiet = 1;
        else
            return 2;
    }
    if (argc - optind != 1 || !key) {
        fprintf(stderr, "usage: updelta sign PKG --key PRIVATE.key\n");
        return 2;
    }
    return cli_sign_with(argv[optind], key, quiet);
}

int cmd_verify(int argc, char **argv)
{
    static const struct option lo[] = {
        CLI_TRUST_OPTIONS, { "package-id", required_argument, 0, 'P' },
        { "installed-version", required_argument, 0, 'I' }, { "quiet", no_argument, 0, 'q' },
        { 0, 0, 0, 0 }
    };
    cli_trust t = { 0 };
    upd_apply_params p = { .flags = UPD_APPLY_DRY_RUN };
    int c, quiet = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "q", lo, NULL)) != -1) {
        int took = cli_trust_opt(&t, c, optarg);
        if (took < 0 || (took == 0 && c != 'P' && c != 'I' && c != 'q'))
            return 2;
        if (c == 'P')
            p.package_id = optarg;
        else if (c == 'I')
            p.installed_version = optarg;
        else if (c == 'q')
            quiet = 1;
    }
    if (argc - optind != 1 || t.insecure) {
        fprintf(stderr, "usage: updelta verify PKG [--pubkey FILE]... [--keydir DIR]\n"
                        "       [--package-id ID] [--installed-version V]\n");
        return 2;
    }
    upd_keyring *kr;
    if (cli_trust_load(&t, &kr) < 0)
        return 1;
    p.keys = kr;
    /* streamed, as apply reads it: memory stays within the window */
    uint8_t *buf = malloc(CLI_CHUNK);
    upd_applier *a = NULL;
    int fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
    int rc = fd < 0 ? UPD_E_IO_OPEN : !buf ? UPD_E_NOMEM : 0;
    if (!rc)
        rc = upd_applier_create(&a, &p);
    if (!rc)
        rc = cli_feed_fd(a, fd, buf, UINT64_MAX);
    if (!rc && !quiet) {
        /* the key the applier checked, not a second read of the file */
        upd_apply_stats st;
        upd_applier_stats(a, &st);
        char hx[2 * UPD_KEY_ID_SIZE + 1];
        cli_hex(st.key_id, UPD_KEY_ID_SIZE, hx);
        printf("verified  signature by key %s, %u segment digests, every operation valid\n",
               hx, upd_applier_header(a)->seg_count);
    }
    upd_applier_free(a);
    upd_keyring_free(kr);
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc ? cli_fail(argv[optind], rc) : 0;
}
