/* libFuzzer target: the download server's request-header parsers
 * (server/download.c): Range, If-Range, and the file-name check that
 * guards the download root.
 *
 * Input: 8 bytes of representation size (little-endian, cut to 2^40),
 * then the Range value, a NUL, the If-Range value, a NUL, a file name.
 * Oracles: a satisfiable range lies inside the file with first <= last;
 * an unsatisfiable one only for an empty file, a zero suffix or a start
 * past the end; a range parsed from a value stays the same with blanks
 * added around '='; If-Range never accepts a weak tag and always accepts
 * the exact strong one; an accepted name has no '/' and does not start
 * with '.'. */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

#include "server.h"

/* The next NUL-terminated piece of IN (at most MAX bytes) into a fresh string. */
static char *piece(const uint8_t **p, const uint8_t *end, size_t max)
{
    const uint8_t *nul = memchr(*p, 0, (size_t)(end - *p));
    size_t n = (size_t)((nul ? nul : end) - *p);
    if (n > max)
        n = max;
    char *s = malloc(n + 1);
    FUZZ_ASSERT(s != NULL);
    memcpy(s, *p, n);
    s[n] = 0;
    *p = nul ? nul + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t len = fuzz_rd64(data) & ((1ull << 40) - 1);
    const uint8_t *p = data + 8, *end = data + size;
    char *range = piece(&p, end, 512), *if_range = piece(&p, end, 512);
    char *name = piece(&p, end, 512);

    srv_range r = srv_range_parse(range, len);
    fuzz_note("range: kind %d [%llu, %llu] of %llu\n", (int)r.kind, (unsigned long long)r.first,
              (unsigned long long)r.last, (unsigned long long)len);
    if (r.kind == SRV_RANGE_OK)
        FUZZ_ASSERT(len > 0 && r.first <= r.last && r.last < len);
    if (r.kind == SRV_RANGE_UNSATISFIABLE)
        FUZZ_ASSERT(len == 0 || strchr(range, '-') != NULL);
    /* blanks around '=' change nothing (Windows Mobile writes them) */
    char *eq = strchr(range, '=');
    if (eq) {
        size_t n = strlen(range);
        char *spaced = malloc(n + 3);
        FUZZ_ASSERT(spaced != NULL);
        size_t at = (size_t)(eq - range);
        memcpy(spaced, range, at);
        memcpy(spaced + at, " = ", 3);
        memcpy(spaced + at + 3, eq + 1, n - at);
        srv_range r2 = srv_range_parse(spaced, len);
        FUZZ_ASSERT(r2.kind == r.kind && r2.first == r.first && r2.last == r.last);
        free(spaced);
    }

    char etag[64];
    srv_etag(etag, len, 1700000000, 5);
    FUZZ_ASSERT(srv_if_range_ok(etag, etag, 1700000000));
    int ok = srv_if_range_ok(if_range, etag, 1700000000);
    if (!strncmp(if_range, "W/", 2))
        FUZZ_ASSERT(!ok);

    if (srv_name_ok(name, SRV_TEXT_MAX))
        FUZZ_ASSERT(!strchr(name, '/') && name[0] != '.' && name[0]);
    free(range);
    free(if_range);
    free(name);
    return 0;
}
