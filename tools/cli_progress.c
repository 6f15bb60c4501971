/* Progress bar and small helpers for the command-line tool. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *phase_name(int phase)
{
    switch (phase) {
    case UPD_PHASE_INDEX:        return "index";
    case UPD_PHASE_MATCH:        return "match";
    case UPD_PHASE_PLAN:         return "plan";
    case UPD_PHASE_COMPRESS:     return "compress";
    case UPD_PHASE_CHECK_BASE:   return "check base";
    case UPD_PHASE_APPLY:        return "apply";
    case UPD_PHASE_CHECK_RESULT: return "check result";
    case UPD_PHASE_COPY_UNCHANGED: return "copy unchanged";
    case CLI_PHASE_DOWNLOAD:     return "download";
    default:                     return "work";
    }
}

void cli_progress_init(cli_progress *p, const cli_opts *o)
{
    memset(p, 0, sizeof *p);
    p->on = !o->quiet && isatty(STDERR_FILENO);
    p->t_start = now();
}

/* One redraw of the bar; ETA in seconds, negative when not shown. */
static void draw(cli_progress *p, int phase, uint64_t done, uint64_t total, double eta)
{
    if (!p->on)
        return;
    double t = now();
    if (phase == p->phase && t - p->t_last < 0.1 && done < total)
        return;
    if (phase != p->phase) {
        if (p->phase)
            fputc('\n', stderr);
        p->phase = phase;
        p->t_start = t;
    }
    p->t_last = t;
    double frac = total ? (double)done / (double)total : 1.0;
    if (frac > 1)
        frac = 1;
    int width = 30, fill = (int)(frac * width);
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double el = t - p->t_start;
    fprintf(stderr, "\r%-12s [%s] %5.1f%%", phase_name(phase), bar, frac * 100);
    /* plan and compress count ops and segments, not bytes */
    if (phase != UPD_PHASE_PLAN && phase != UPD_PHASE_COMPRESS && el > 0)
        fprintf(stderr, "  %8.1f MB/s", (double)done / el / 1e6);
    if (eta >= 0)
        fprintf(stderr, "  ETA %4.0f s", eta);
    fflush(stderr);
}

void cli_progress_cb(void *user, int phase, uint64_t done, uint64_t total)
{
    draw(user, phase, done, total, -1);
}

void cli_progress_download(void *user, uint64_t done, uint64_t total, double rate, double eta)
{
    (void)rate;   /* the bar shows this run's rate, as for every phase */
    draw(user, CLI_PHASE_DOWNLOAD, done, total, eta);
}

void cli_progress_end(cli_progress *p)
{
    if (p->on && p->phase)
        fputc('\n', stderr);
    p->phase = 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case 0:   break;
    case 'K': case 'k': shift = 10; end++; break;
    case 'M': case 'm': shift = 20; end++; break;
    case 'G': case 'g': shift = 30; end++; break;
    default:  return -1;
    }
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int cli_feed_fd(upd_applier *a, int fd, uint8_t *buf, uint64_t max)
{
    for (;;) {
        ssize_t n = max ? read(fd, buf, max < CLI_CHUNK ? (size_t)max : CLI_CHUNK) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return UPD_E_IO_READ;
        if (n == 0)
            return upd_applier_finish(a);
        int rc = upd_applier_push(a, buf, (size_t)n);
        if (rc < 0)
            return rc;
        max -= (uint64_t)n;
    }
}

int cli_read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    /* a regular file's size up front (one byte more, so that the first read
     * ends short): doubling would reserve up to twice a 1 GiB image's
     * address space, which counts against a memory limit */
    struct stat sb;
    size_t cap = 1 << 20, n = 0;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size < SIZE_MAX - 1)
        cap = (size_t)sb.st_size + 1;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = !buf || ferror(f);
    int e = bad ? (buf ? EIO : ENOMEM) : 0;
    fclose(f);
    if (bad) {
        free(buf);
        errno = e;
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

int cli_fail(const char *context, int code)
{
    fprintf(stderr, "updelta: %s: %s (%s)\n", context, upd_strerror(code), upd_errname(code));
    return 1;
}

const char *cli_num(uint64_t v, char buf[32])
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v), o = 0;
    for (int i = 0; i < n; i++) {
        buf[o++] = tmp[i];
        if ((n - i - 1) % 3 == 0 && i != n - 1)
            buf[o++] = ',';
    }
    buf[o] = 0;
    return buf;
}
