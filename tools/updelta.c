/* updelta: make, apply and inspect delta packages.  A thin program over the
 * public API (include/updelta/); every decision lives in the library. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static int usage(FILE *f)
{
    fprintf(f,
        "usage: updelta COMMAND ...\n"
        "  diff OLD NEW -o PKG [--level N] [--segment-size N] [--stash-max N]\n"
        "       [--block-size N] [--threads N] [--package-id ID] [--from V] [--to V]\n"
        "  apply OLD PKG -o NEW [--window N]          out of place\n"
        "  apply --in-place TARGET PKG [--stash PATH] [--window N]\n"
        "                                              PKG may be - (stdin, streamed)\n"
        "  inspect PKG [--json]\n"
        "  version\n"
        "common: -q/--quiet (no progress, no summary), -v/--verbose, --json (machine summary)\n");
    return f == stderr ? 2 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "diff"))
        return cmd_diff(argc - 1, argv + 1);
    if (!strcmp(cmd, "apply"))
        return cmd_apply(argc - 1, argv + 1);
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
