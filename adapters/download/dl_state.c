/* The partial-download state file: what the partial file holds, made
 * durable only after the data it counts (see download.h). */
#define _POSIX_C_SOURCE 200809L
#include "dl_internal.h"
#include "afile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_MAGIC "updelta-download-state 1"

int dl_state_save(const char *path, const dl_state *s)
{
    if (strpbrk(s->url, "\r\n") || strpbrk(s->validator, "\r\n"))
        return UPD_E_INVAL;
    char buf[2600], dir[4096];
    int n = snprintf(buf, sizeof buf, STATE_MAGIC "\nurl %s\nvalidator %c%s\ntotal %" PRIu64
                     "\ndone %" PRIu64 "\nend\n", s->url, s->validator_is_etag ? 'E' : 'L',
                     s->validator, s->total, s->done);
    if (n < 0 || (size_t)n >= sizeof buf)
        return UPD_E_INVAL;
    upd_afile_dir_of(path, dir, sizeof dir);
    const char *slash = strrchr(path, '/');
    return upd_afile_write(dir, slash ? slash + 1 : path, buf, (size_t)n, NULL, NULL);
}

/* The rest of line KEY from *P (advanced past it) into OUT. */
static int take_line(char **p, const char *key, char *out, size_t cap)
{
    size_t k = strlen(key);
    char *nl = strchr(*p, '\n');
    if (!nl || strncmp(*p, key, k) != 0 || (*p)[k] != ' ')
        return -1;
    size_t len = (size_t)(nl - (*p + k + 1));
    if (len >= cap)
        return -1;
    memcpy(out, *p + k + 1, len);
    out[len] = 0;
    *p = nl + 1;
    return 0;
}

static int take_u64(char **p, const char *key, uint64_t *out)
{
    char num[32], *end;
    if (take_line(p, key, num, sizeof num) < 0 || !num[0] || num[0] == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(num, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int dl_state_load(const char *path, dl_state *s)
{
    char buf[2700];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return UPD_E_IO_OPEN;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0 || (size_t)n == sizeof buf - 1)
        return UPD_E_IO_READ;
    buf[n] = 0;
    char *p = buf, v[sizeof s->validator + 1];
    size_t m = strlen(STATE_MAGIC);
    if (strncmp(p, STATE_MAGIC "\n", m + 1) != 0)
        return UPD_E_IO_READ;
    p += m + 1;
    if (take_line(&p, "url", s->url, sizeof s->url) < 0 ||
        take_line(&p, "validator", v, sizeof v) < 0 || (v[0] != 'E' && v[0] != 'L') ||
        take_u64(&p, "total", &s->total) < 0 || take_u64(&p, "done", &s->done) < 0 ||
        strcmp(p, "end\n") != 0 || (s->total && s->done > s->total))
        return UPD_E_IO_READ;
    s->validator_is_etag = v[0] == 'E';
    memcpy(s->validator, v + 1, strlen(v + 1) + 1);
    return 0;
}
