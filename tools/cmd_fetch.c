/* updelta fetch URL -o FILE: download a package, resumable.
 * updelta install URL --in-place TARGET [--stream]: download and apply it,
 * either staged (the package is fetched to a file beside the target, then
 * verified and applied as "apply" does) or streamed into the applier with
 * no staging file.  Both print a notice before the first byte, a progress
 * bar on a terminal, and the FUMO result code of a failure. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <updelta/download.h>
#include <updelta/fumo_result.h>

typedef struct {
    upd_dl_params p;
    upd_dl_stats st;
    cli_opts o;
    cli_progress pr;
    const char *out;
    int stream;
} fetch_args;

/* Take ARGV[*I] if it is a download option (fetch and install share them):
 * 1 taken (and its value), 0 not one, -1 bad value. */
static int dl_opt(fetch_args *a, int argc, char **argv, int *i)
{
    static const char *const with_value[] = { "--cacert", "--max-size", "--retries",
                                              "--connect-timeout", "--stall-timeout",
                                              "--backoff", NULL };
    const char *o = argv[*i];
    if (!strcmp(o, "--stream")) {
        a->stream = 1;
        return 1;
    }
    int k = 0;
    while (with_value[k] && strcmp(o, with_value[k]))
        k++;
    if (!with_value[k])
        return 0;
    if (*i + 1 >= argc)
        return -1;
    const char *v = argv[++*i];
    uint64_t n = 0;
    if (k > 0 && (cli_parse_size(v, &n) || n > 1000000000000ull))
        return -1;
    switch (k) {
    case 0: a->p.ca_file = v; break;
    case 1: a->p.max_size = n; break;
    case 2: a->p.max_retries = (unsigned)n; break;
    case 3: a->p.connect_timeout_ms = (long)n * 1000; break;
    case 4: a->p.low_speed_time_s = (long)n; break;
    default: a->p.backoff_base_ms = (unsigned)n; break;
    }
    return 1;
}

static void on_notice(void *user, const char *url, uint64_t total, uint64_t from)
{
    const fetch_args *a = user;
    char t[32], f[32];
    if (a->o.quiet)
        return;
    if (from)
        fprintf(stderr, "update    available: %s (%s bytes), resuming at byte %s\n", url,
                cli_num(total, t), cli_num(from, f));
    else
        fprintf(stderr, "update    available: %s (%s bytes)\n", url, cli_num(total, t));
}

static void on_progress(void *user, uint64_t done, uint64_t total, double rate, double eta)
{
    fetch_args *a = user;
    cli_progress_download(&a->pr, done, total, rate, eta);
}

static void init_params(fetch_args *a, const char *url)
{
    a->p.url = url;
    a->p.notice = on_notice;
    a->p.user = a;
    if (!a->stream)   /* streamed, the applier's bar shows the same bytes */
        a->p.progress = on_progress;
    cli_progress_init(&a->pr, &a->o);
}

/* The FUMO result code of failure RC, on stderr; the exit status. */
static int fumo_line(int rc)
{
    int f = upd_fumo_result(rc);
    fprintf(stderr, "updelta: FUMO result %d (%s)\n", f, upd_fumo_result_text(f));
    return 1;
}

/* Report a download failure with its FUMO result code; the exit status. */
static int dl_fail(const char *url, int rc)
{
    cli_fail(url, rc);
    return fumo_line(rc);
}

/* The download's counters: after "fetch" (LABEL "fetched") and after an
 * install's apply summary (LABEL "download"). */
static void print_download(const fetch_args *a, const char *label)
{
    const upd_dl_stats *s = &a->st;
    char t[32], r[32], f[32];
    if (a->o.json) {
        printf("{\"%s\":true,\"total\":%llu,\"resumed_from\":%llu,\"bytes_received\":%llu,\"requests\":%u,"
               "\"retries\":%u,\"restarts\":%u,\"http\":%d,\"seconds\":%.3f}\n", label,
               (unsigned long long)s->total, (unsigned long long)s->resumed_from,
               (unsigned long long)s->bytes_received, s->requests, s->retries, s->restarts,
               s->last_http, s->seconds);
    } else if (!a->o.quiet) {
        printf("%-9s %s: %s bytes (resumed at %s), %s received in %u requests, "
               "%u retries, %u restarts, %.2f s\n", label, a->p.url, cli_num(s->total, t),
               cli_num(s->resumed_from, f), cli_num(s->bytes_received, r), s->requests,
               s->retries, s->restarts, s->seconds);
    }
}

int cmd_fetch(int argc, char **argv)
{
    fetch_args a = { 0 };
    int bad = argc < 2 || argv[1][0] == '-';
    for (int i = 2; !bad && i < argc; i++) {
        int took = dl_opt(&a, argc, argv, &i);
        if (took)
            bad = took < 0 || a.stream;
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            a.out = argv[++i];
        else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
            a.o.quiet = 1;
        else if (!strcmp(argv[i], "--json"))
            a.o.json = 1;
        else
            bad = 1;
    }
    if (bad || !a.out) {
        fprintf(stderr, "usage: updelta fetch URL -o FILE [DOWNLOAD]   (see updelta --help)\n");
        return 2;
    }
    init_params(&a, argv[1]);
    int rc = upd_download_file(&a.p, a.out, &a.st);
    cli_progress_end(&a.pr);
    if (rc)
        return dl_fail(argv[1], rc);
    print_download(&a, "fetched");
    return 0;
}

static int stream_feed(void *user, upd_applier *ap)
{
    fetch_args *a = user;
    return upd_download_stream(&a->p, ap, &a->st);
}

/* Where a staged install keeps the package: beside the target, or in
 * /var/tmp for a block device (cli_side_path). */
static void stage_path(char *out, const char *target)
{
    upd_io *io = NULL;
    if (upd_io_open_posix(&io, target, UPD_IO_RDONLY) == 0)
        cli_side_path(out, target, io, "download");
    else
        snprintf(out, 4096, "%s.upd-download", target);
    upd_io_close(io);
}

int cmd_install(int argc, char **argv)
{
    fetch_args a = { 0 };
    const char *target = NULL;
    /* the download options are ours; the rest, with the package last, is
     * an "apply --in-place" command line */
    char **rest = calloc((size_t)argc + 2, sizeof *rest);
    int n = 0, bad = argc < 2 || argv[1][0] == '-' || !rest;
    if (rest)
        rest[n++] = argv[0];
    for (int i = 2; !bad && i < argc; i++) {
        int took = dl_opt(&a, argc, argv, &i);
        if (took) {
            bad = took < 0;
            continue;
        }
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
            a.o.quiet = 1;
        if (!strcmp(argv[i], "--json"))
            a.o.json = 1;
        if (!strcmp(argv[i], "--in-place") && i + 1 < argc)
            target = argv[i + 1];
        rest[n++] = argv[i];
    }
    if (bad || !target) {
        fprintf(stderr, "usage: updelta install URL --in-place TARGET [--stream] [DOWNLOAD] "
                        "[TRUST] [POLICY]   (see updelta --help)\n");
        free(rest);
        return 2;
    }
    init_params(&a, argv[1]);
    int status;
    if (a.stream) {
        rest[n++] = argv[1];
        cli_feeder src = { stream_feed, &a };
        status = cli_apply(n, rest, &src);
        if (!status)
            print_download(&a, "download");
    } else {
        char staged[4096];
        stage_path(staged, target);
        int rc = upd_download_file(&a.p, staged, &a.st);
        cli_progress_end(&a.pr);
        if (rc) {
            status = dl_fail(argv[1], rc);
        } else {
            rest[n++] = staged;
            status = cli_apply(n, rest, NULL);
            remove(staged);
            if (!status)
                print_download(&a, "download");
        }
    }
    free(rest);
    return status < 0 ? fumo_line(status) : status;
}
