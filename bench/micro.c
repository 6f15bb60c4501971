/*
 * micro.c - updelta-micro: throughput of the applier's hot paths against
 * memcpy on the same buffers, the physical ceiling of this machine.
 *
 *   updelta-micro [--mib N] [--runs N] [--level L] [--json] [FILE]
 *
 * The input is FILE (repeated to N MiB; a new image from the corpus is a
 * fair choice) or, without FILE, the new image of updelta-synth's exe-like
 * pair.  Each path runs --runs times over the whole buffer; the median,
 * min and max throughput are printed as decimal MB/s (10^6 bytes/s) with
 * the median's ratio to memcpy's median.
 *
 *   memcpy         memcpy(dst, src, n): the ceiling
 *   add            DIFF op: dst[i] += src[i] mod 256, the applier's own loop
 *                  (upd_ap_add_bytes, engine/apply/exec.c).
 *   zstd-decode    ZSTD_decompressDCtx of whole segments, one DCtx reused,
 *                  as engine/apply/reader.c decodes them; segments are the
 *                  input cut into UPD_DEFAULT_SEGMENT (2 MiB) pieces and
 *                  compressed at level L (default 19, updelta diff's
 *                  default); only the first 8 MiB, so level 19 stays fast.
 *                  Bytes counted are decoded bytes.
 *   sha256         upd_sha256() from engine/crypto (OpenSSL EVP): the same
 *                  function the applier hashes segments and images with.
 *   xxh3           XXH3_64bits (libxxhash), the journal's record checksum.
 *
 * Exit status: 0 ok, 1 I/O or memory failure, 2 bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include "../corpora/synth.h"
#include "../engine/apply/applier.h"
#include "../engine/crypto/digest.h"
#include "updelta/diff.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>
#include <zstd.h>

#define DECODE_SPAN (8u << 20)

static const char *prog = "updelta-micro";

typedef struct {
    const char *name;
    double mbs[64];
    int n;
} result;

typedef struct {
    uint8_t *src, *dst;
    size_t n;
    /* zstd-decode: compressed segments of src[0 .. dec_n) */
    uint8_t *comp;
    size_t seg_csize[DECODE_SPAN / UPD_DEFAULT_SEGMENT];
    size_t nseg, dec_n;
    ZSTD_DCtx *dctx;
    volatile uint64_t sink;    /* keeps the hashes live */
} bench;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Each returns the bytes it processed, or 0 on failure. */
static size_t run_memcpy(bench *b)
{
    memcpy(b->dst, b->src, b->n);
    return b->n;
}

static size_t run_add(bench *b)
{
    upd_ap_add_bytes(b->dst, b->src, b->n);
    return b->n;
}

static size_t run_decode(bench *b)
{
    const uint8_t *c = b->comp;
    size_t done = 0;
    for (size_t i = 0; i < b->nseg; i++) {
        size_t want = b->dec_n - done < UPD_DEFAULT_SEGMENT ? b->dec_n - done : UPD_DEFAULT_SEGMENT;
        size_t r = ZSTD_decompressDCtx(b->dctx, b->dst + done, want, c, b->seg_csize[i]);
        if (ZSTD_isError(r) || r != want)
            return 0;
        c += b->seg_csize[i];
        done += want;
    }
    return memcmp(b->dst, b->src, done) ? 0 : done;
}

static size_t run_sha256(bench *b)
{
    uint8_t d[32];
    if (upd_sha256(b->src, b->n, d))
        return 0;
    b->sink += d[0];
    return b->n;
}

static size_t run_xxh3(bench *b)
{
    b->sink += XXH3_64bits(b->src, b->n);
    return b->n;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, c = *(const double *)y;
    return (a > c) - (a < c);
}

static double median(result *r)
{
    qsort(r->mbs, (size_t)r->n, sizeof r->mbs[0], cmp_double);
    return r->n % 2 ? r->mbs[r->n / 2] : (r->mbs[r->n / 2 - 1] + r->mbs[r->n / 2]) / 2;
}

static int measure(bench *b, result *r, size_t (*fn)(bench *), int runs)
{
    fn(b);    /* warm-up: page faults and caches out of the numbers */
    for (r->n = 0; r->n < runs; r->n++) {
        double t0 = now();
        size_t bytes = fn(b);
        double dt = now() - t0;
        if (!bytes) {
            fprintf(stderr, "%s: %s failed\n", prog, r->name);
            return -1;
        }
        r->mbs[r->n] = (double)bytes / (dt > 1e-9 ? dt : 1e-9) / 1e6;
    }
    return 0;
}

/* Fills SRC from PATH, repeated until N bytes; or from the synthetic
 * exe-like image when PATH is NULL. */
static int fill(uint8_t *src, size_t n, const char *path)
{
    if (!path) {
        synth_pair p;
        if (synth_make("exe-like", 1, n, &p))
            return -1;
        size_t k = p.new_len < n ? p.new_len : n;
        memcpy(src, p.new_img, k);
        memcpy(src + k, p.old_img, n - k);    /* old_len == n */
        synth_free(&p);
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    size_t got = fread(src, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || !got) {
        fprintf(stderr, "%s: cannot read %s\n", prog, path);
        return -1;
    }
    for (size_t at = got; at < n; at += got)
        memcpy(src + at, src, n - at < got ? n - at : got);
    return 0;
}

static int prepare_decode(bench *b, int level)
{
    b->dec_n = b->n < DECODE_SPAN ? b->n : DECODE_SPAN;
    b->nseg = (b->dec_n + UPD_DEFAULT_SEGMENT - 1) / UPD_DEFAULT_SEGMENT;
    b->comp = malloc(b->nseg * ZSTD_compressBound(UPD_DEFAULT_SEGMENT));
    b->dctx = ZSTD_createDCtx();
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    int rc = -1;
    if (!b->comp || !b->dctx || !cc)
        goto out;
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
    uint8_t *c = b->comp;
    for (size_t i = 0, done = 0; i < b->nseg; i++) {
        size_t want = b->dec_n - done < UPD_DEFAULT_SEGMENT ? b->dec_n - done : UPD_DEFAULT_SEGMENT;
        size_t r = ZSTD_compress2(cc, c, ZSTD_compressBound(want), b->src + done, want);
        if (ZSTD_isError(r))
            goto out;
        b->seg_csize[i] = r;
        c += r;
        done += want;
    }
    rc = 0;
out:
    ZSTD_freeCCtx(cc);
    return rc;
}

static int usage(FILE *f, int rc)
{
    fprintf(f, "usage: %s [--mib N] [--runs N] [--level L] [--json] [FILE]\n"
               "  --mib N    buffer size in MiB (1..4096, default 64)\n"
               "  --runs N   timed runs per path (1..64, default 7); median, min, max\n"
               "  --level L  zstd level of the decoded segments (1..22, default 19)\n"
               "  --json     one JSON object instead of the table\n"
               "  FILE       input bytes (repeated to N MiB); default synthetic exe-like\n",
            prog);
    return rc;
}

static int arg_int(const char *s, int lo, int hi, int *v)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi)
        return -1;
    *v = (int)x;
    return 0;
}

int main(int argc, char **argv)
{
    int mib = 64, runs = 7, level = UPD_DEFAULT_LEVEL, json = 0, i;
    const char *path = NULL;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            return usage(stdout, 0);
        } else if (!strcmp(a, "--mib") || !strcmp(a, "--runs") || !strcmp(a, "--level")) {
            int *v = a[2] == 'm' ? &mib : a[2] == 'r' ? &runs : &level;
            int hi = a[2] == 'm' ? 4096 : a[2] == 'r' ? 64 : 22;
            if (++i == argc || arg_int(argv[i], 1, hi, v)) {
                fprintf(stderr, "%s: %s wants an integer 1..%d\n", prog, a, hi);
                return usage(stderr, 2);
            }
        } else if (a[0] == '-' || path) {
            fprintf(stderr, "%s: unexpected argument %s\n", prog, a);
            return usage(stderr, 2);
        } else {
            path = a;
        }
    }

    bench b = {.n = (size_t)mib << 20};
    b.src = malloc(b.n);
    b.dst = malloc(b.n);
    int rc = 1;
    if (!b.src || !b.dst) {
        fprintf(stderr, "%s: out of memory for 2 x %d MiB\n", prog, mib);
        goto out;
    }
    if (fill(b.src, b.n, path))
        goto out;
    memset(b.dst, 0x5a, b.n);
    if (prepare_decode(&b, level)) {
        fprintf(stderr, "%s: zstd setup failed\n", prog);
        goto out;
    }

    static result r[] = {{.name = "memcpy"}, {.name = "add"}, {.name = "zstd-decode"},
                         {.name = "sha256"}, {.name = "xxh3"}};
    size_t (*const fn[])(bench *) = {run_memcpy, run_add, run_decode, run_sha256, run_xxh3};
    const int np = (int)(sizeof r / sizeof r[0]);
    for (i = 0; i < np; i++)
        if (measure(&b, &r[i], fn[i], runs))
            goto out;
    double ceil = median(&r[0]);
    if (json) {
        printf("{\"mib\":%d,\"runs\":%d,\"zstd_level\":%d,\"input\":\"%s\",\"paths\":[", mib,
               runs, level, path ? "file" : "synthetic exe-like");
        for (i = 0; i < np; i++) {
            double m = median(&r[i]);
            printf("%s{\"name\":\"%s\",\"mb_s\":{\"median\":%.1f,\"min\":%.1f,\"max\":%.1f},"
                   "\"vs_memcpy\":%.3f}", i ? "," : "", r[i].name, m, r[i].mbs[0],
                   r[i].mbs[r[i].n - 1], m / ceil);
        }
        printf("]}\n");
    } else {
        printf("%-12s %10s %10s %10s %9s\n", "path", "MB/s", "min", "max", "vs memcpy");
        for (i = 0; i < np; i++) {
            double m = median(&r[i]);
            printf("%-12s %10.1f %10.1f %10.1f %8.3fx\n", r[i].name, m, r[i].mbs[0],
                   r[i].mbs[r[i].n - 1], m / ceil);
        }
        printf("(%d MiB buffer, %s; median of %d runs; zstd-decode over the first %zu MiB, level %d)\n",
               mib, path ? path : "synthetic exe-like", runs, b.dec_n >> 20, level);
    }
    rc = fflush(stdout) ? 1 : 0;
out:
    free(b.src);
    free(b.dst);
    free(b.comp);
    ZSTD_freeDCtx(b.dctx);
    return rc;
}
