/* updelta status TARGET [--journal PATH] [--json]: where an in-place update
 * of TARGET stands, read from its journal. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void cli_side_path(char *out, const char *target, upd_io *io, const char *suffix)
{
    if (upd_io_flags(io) & UPD_IO_FIXED_SIZE) {
        const char *base = strrchr(target, '/');
        snprintf(out, 4096, "/var/tmp/updelta-%s.%s", base ? base + 1 : target, suffix);
    } else {
        snprintf(out, 4096, "%s.upd-%s", target, suffix);
    }
}

static const char *state_name(upd_journal_state s)
{
    switch (s) {
    case UPD_JOURNAL_RUNNING: return "running";
    default: return "none";
    }
}

int cmd_status(int argc, char **argv)
{
    static const struct option lo[] = {
        { "journal", required_argument, 0, 'J' }, { "json", no_argument, 0, 'j' },
        CLI_IO_OPTIONS, { 0, 0, 0, 0 }
    };
    cli_io io = CLI_IO_DEFAULT;
    const char *jpath = NULL;
    int c, json = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        int took = cli_io_opt(&io, c, optarg);
        if (took < 0)
            return 2;
        if (took)
            continue;
        if (c == 'J')
            jpath = optarg;
        else if (c == 'j')
            json = 1;
        else
            return 2;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "usage: updelta status TARGET [--journal PATH] [--json] [--io=auto|uring|posix]\n");
        return 2;
    }
    const char *target = argv[optind];
    upd_io *t;
    int rc = cli_io_open(&io, &t, target, UPD_IO_RDONLY);
    if (rc < 0)
        return cli_fail(target, rc);
    char path[4096], says[512];
    cli_io_says(&io, t, says, sizeof says);
    const char *io_name = upd_io_name(t);
    if (jpath)
        snprintf(path, sizeof path, "%s", jpath);
    else
        cli_side_path(path, target, t, "journal");
    upd_io_close(t);
    upd_journal_status st = { .state = UPD_JOURNAL_EMPTY };
    upd_io *j = NULL;
    if (access(path, F_OK) == 0) {
        rc = cli_io_open(&io, &j, path, UPD_IO_RDONLY);
        if (!rc)
            rc = upd_journal_read_status(j, &st);
        upd_io_close(j);
        if (rc < 0)
            return cli_fail(path, rc);
    }
    char pkg[65];
    cli_hex(st.package, 32, pkg);
    if (json) {
        printf("{\"target\":\"%s\",\"journal\":\"%s\",\"state\":\"%s\",\"package\":\"%s\","
               "\"units_committed\":%llu,\"segment\":%u,\"op\":%u,\"step\":%llu,"
               "\"stash_bytes\":%llu,\"image_size\":%llu,\"io\":\"%s\"}\n",
               target, path, state_name(st.state), st.state ? pkg : "",
               (unsigned long long)(st.seq ? st.seq - 1 : 0), st.segment, st.op,
               (unsigned long long)st.step, (unsigned long long)st.stash_done,
               (unsigned long long)st.image_size, io_name);
        return 0;
    }
    printf("io        %s\n", says);
    if (st.state == UPD_JOURNAL_EMPTY) {
        printf("status    no update in progress on %s (no journal at %s)\n", target, path);
        return 0;
    }
    printf("status    update interrupted on %s\n", target);
    printf("package   %s (SHA-256 of header and manifest)\n", pkg);
    printf("progress  %llu units committed; next: segment %u, operation %u, step %llu\n",
               (unsigned long long)(st.seq - 1), st.segment, st.op, (unsigned long long)st.step);
    printf("resume    run the same 'updelta apply --in-place' command again\n");
    return 0;
}
