/* The download server's HTTP semantics: Range, If-Range, ETag (RFC 9110). */
#define _GNU_SOURCE
#include "server.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Parse a decimal number at *S (no sign); 0 and *S advanced, or -1. */
static int parse_u64(const char **s, uint64_t *v)
{
    const char *p = *s;
    if (!isdigit((unsigned char)*p))
        return -1;
    uint64_t x = 0;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *s = p;
    *v = x;
    return 0;
}

srv_range srv_range_parse(const char *hdr, uint64_t size)
{
    srv_range r = { SRV_RANGE_NONE, 0, 0 };
    if (!hdr)
        return r;
    const char *p = skip_ws(hdr);
    if (strncasecmp(p, "bytes", 5) != 0)
        return r;
    p = skip_ws(p + 5);
    if (*p++ != '=')
        return r;
    p = skip_ws(p);
    uint64_t a = 0, b = 0;
    int has_a = parse_u64(&p, &a) == 0;
    p = skip_ws(p);
    if (*p++ != '-')
        return r;
    p = skip_ws(p);
    int has_b = parse_u64(&p, &b) == 0;
    p = skip_ws(p);
    /* several ranges (",") or junk: serve the whole representation */
    if (*p || (!has_a && !has_b) || (has_a && has_b && b < a))
        return r;
    if (!has_a) {                       /* suffix: the last B bytes */
        if (b == 0 || size == 0) {
            r.kind = SRV_RANGE_UNSATISFIABLE;
            return r;
        }
        r.kind = SRV_RANGE_OK;
        r.first = b >= size ? 0 : size - b;
        r.last = size - 1;
        return r;
    }
    if (a >= size) {
        r.kind = SRV_RANGE_UNSATISFIABLE;
        return r;
    }
    r.kind = SRV_RANGE_OK;
    r.first = a;
    r.last = has_b && b < size ? b : size - 1;
    return r;
}

int srv_if_range_ok(const char *if_range, const char *etag, int64_t mtime)
{
    if (!if_range)
        return 1;
    const char *v = skip_ws(if_range);
    if (v[0] == '"' || !strncmp(v, "W/", 2))
        return strcmp(v, etag) == 0;    /* strong comparison: W/ never equals */
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return end && !*skip_ws(end) && (int64_t)timegm(&tm) == mtime;
}

int srv_name_ok(const char *s, size_t max)
{
    if (!s[0] || s[0] == '.' || strlen(s) > max)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._+~-", *s))
            return 0;
    return 1;
}

void srv_etag(char out[64], uint64_t size, int64_t mtime_sec, long mtime_nsec)
{
    snprintf(out, 64, "\"%llx-%llx\"", (unsigned long long)size,
             (unsigned long long)mtime_sec * 1000000000ull + (unsigned long long)mtime_nsec);
}
