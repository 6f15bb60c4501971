/* updelta: make, apply and inspect delta packages.  A thin program over the
 * public API (include/updelta/); every decision lives in the library. */
#define _DEFAULT_SOURCE   /* readlink */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int usage(FILE *f)
{
    fprintf(f,
        "usage: updelta COMMAND ...\n"
        "  diff OLD NEW -o PKG [--level N] [--segment-size N] [--stash-max N]\n"
        "       [--block-size N] [--threads N] [--trials N] [--dict-max N] [--window N]\n"
        "       [--lzma auto|never|always] [--package-id ID]\n"
        "       [--from V] [--to V] [--sign PRIVATE.key]\n"
        "  apply OLD PKG -o NEW [TRUST] [POLICY] [--window N] [IO]  out of place\n"
        "  apply --in-place TARGET PKG [TRUST] [POLICY] [--window N]\n"
        "        [--journal PATH | --no-journal] [--journal-unit N] [--journal-inline]\n"
        "        [--stash PATH] [IO]\n"
        "                                              PKG may be - (stdin, streamed);\n"
        "                                              after a crash, run it again to resume\n"
        "  fetch URL -o FILE [DOWNLOAD]                download a package; run again to resume\n"
        "  install URL --in-place TARGET [--stream] [DOWNLOAD] [TRUST] [POLICY] [apply options]\n"
        "                                              download, verify, apply (--stream: no\n"
        "                                              staging file; resumes from the journal)\n"
        "  status TARGET [--journal PATH] [--json] [IO]  where an in-place update stands\n"
        "  keygen NAME                                 NAME.key (private, 0600), NAME.pub\n"
        "  sign PKG --key PRIVATE.key\n"
        "  verify PKG [TRUST] [POLICY]                 signature, digests, every op\n"
        "  inspect PKG [--json]\n"
        "  version\n"
        "TRUST:  --pubkey FILE (repeatable), --keydir DIR (*.pub and a 'revoked' id list;\n"
        "        default /etc/updelta/keys), or --insecure to accept unsigned packages\n"
        "DOWNLOAD: --cacert PEM, --max-size N, --retries N (in a row without progress),\n"
        "        --connect-timeout S, --stall-timeout S, --backoff MS (first retry delay)\n"
        "POLICY: --package-id ID, --installed-version V, --allow-downgrade (apply only)\n"
        "IO (apply, status): --io=auto|uring|posix (default posix; auto: io_uring when the\n"
        "        kernel allows it, else POSIX; -v says which), --direct (io_uring: O_DIRECT\n"
        "        where aligned), --io-depth N (requests in flight, 64), --io-block SIZE (256K)\n"
        "common: -q/--quiet (no progress, no summary), -v/--verbose, --json (machine summary)\n");
    return f == stderr ? 2 : 0;
}

/* fetch and install run in updelta-net beside this program, so that the
 * other commands never load libcurl (see CMakeLists.txt). */
static int run_net(char **argv)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - sizeof "updelta-net");
    if (n > 0)
        path[n] = '\0';
    char *slash = n > 0 ? strrchr(path, '/') : NULL;
    if (!slash) {
        fprintf(stderr, "updelta: %s: cannot find this program's directory\n", argv[1]);
        return 1;
    }
    strcpy(slash + 1, "updelta-net");
    execv(path, argv);
    fprintf(stderr, "updelta: %s needs %s: %s\n", argv[1], path, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    /* this process uses OpenSSL only through libupdelta (fetch and install,
     * whose libcurl does TLS, run in updelta-net) */
    if (upd_crypto_init_lean() < 0) {
        fprintf(stderr, "updelta: %s\n", upd_strerror(UPD_E_STATE));
        return 1;
    }
    if (!strcmp(cmd, "diff"))
        return cmd_diff(argc - 1, argv + 1);
    if (!strcmp(cmd, "apply"))
        return cmd_apply(argc - 1, argv + 1);
    if (!strcmp(cmd, "fetch") || !strcmp(cmd, "install"))
        return run_net(argv);
    if (!strcmp(cmd, "status"))
        return cmd_status(argc - 1, argv + 1);
    if (!strcmp(cmd, "keygen"))
        return cmd_keygen(argc - 1, argv + 1);
    if (!strcmp(cmd, "sign"))
        return cmd_sign(argc - 1, argv + 1);
    if (!strcmp(cmd, "verify"))
        return cmd_verify(argc - 1, argv + 1);
    if (!strcmp(cmd, "inspect"))
        return cmd_inspect(argc - 1, argv + 1);
    if (!strcmp(cmd, "version")) {
        printf("updelta %s (package format %d)\n", upd_version_string(), UPD_FORMAT_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help"))
        return usage(stdout);
    fprintf(stderr, "updelta: unknown command '%s'\n", cmd);
    return usage(stderr);
}
