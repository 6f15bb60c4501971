/*
 * synth_main.c - updelta-synth: write one synthetic old/new pair to files.
 *
 *   updelta-synth KIND SEED SIZE OLD_OUT NEW_OUT
 *   updelta-synth --list
 *
 * Exit status: 0 ok, 1 I/O or memory failure, 2 bad arguments.
 */
#include "synth.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *prog = "updelta-synth";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s KIND SEED SIZE OLD_OUT NEW_OUT\n"
            "       %s --list\n"
            "  KIND  pair kind (see --list)\n"
            "  SEED  unsigned 64-bit integer, decimal or 0x hex\n"
            "  SIZE  old image size in bytes (decimal or 0x hex); suffix K, M or G\n"
            "        multiplies by 1024, 1024^2, 1024^3\n",
            prog, prog);
}

static int bad_args(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    usage(stderr);
    return 2;
}

/* Unsigned parse, decimal or 0x hex.  strtoull alone accepts "-1", " 7"
 * and (with base 0) reads "010" as octal 8; none of that should silently
 * become a seed or a size. */
static int parse_u64(const char *s, uint64_t *v, char **rest)
{
    char *end;
    unsigned long long x;
    int base = 10;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!isxdigit((unsigned char)*s) || (base == 10 && !isdigit((unsigned char)*s)))
        return -1;
    errno = 0;
    x = strtoull(s, &end, base);
    if (errno || end == s)
        return -1;
    *v = (uint64_t)x;
    *rest = end;
    return 0;
}

static int parse_size(const char *s, size_t *out)
{
    uint64_t v, mul = 1;
    char *rest;

    if (parse_u64(s, &v, &rest))
        return -1;
    if (*rest) {
        switch (*rest) {
        case 'K': case 'k': mul = 1024; break;
        case 'M': case 'm': mul = 1024 * 1024; break;
        case 'G': case 'g': mul = 1024 * 1024 * 1024; break;
        default: return -1;
        }
        if (rest[1])
            return -1;
    }
    if (v > UINT64_MAX / mul || v * mul > SIZE_MAX)
        return -1;
    *out = (size_t)(v * mul);
    return 0;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");

    if (!f) {
        fprintf(stderr, "%s: cannot create %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    if ((n && fwrite(p, 1, n, f) != n) || fflush(f)) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
        fclose(f);
        return -1;
    }
    if (fclose(f)) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *const *k;
    synth_pair pair;
    uint64_t seed;
    size_t size;
    char *rest;
    int rc;

    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (k = synth_kinds(); *k; k++)
            printf("%s\n", *k);
        return fflush(stdout) ? 1 : 0;
    }
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc != 6)
        return bad_args("expected 5 arguments or --list%s", "");
    for (k = synth_kinds(); *k; k++)
        if (strcmp(*k, argv[1]) == 0)
            break;
    if (!*k)
        return bad_args("unknown kind '%s' (try --list)", argv[1]);
    if (parse_u64(argv[2], &seed, &rest) || *rest)
        return bad_args("bad SEED '%s'", argv[2]);
    if (parse_size(argv[3], &size))
        return bad_args("bad SIZE '%s'", argv[3]);

    rc = synth_make(argv[1], seed, size, &pair);
    if (rc == -2) {
        fprintf(stderr, "%s: out of memory generating %s of size %s\n", prog,
                argv[1], argv[3]);
        return 1;
    }
    if (rc != 0)
        return bad_args("unknown kind '%s' (try --list)", argv[1]);
    rc = write_file(argv[4], pair.old_img, pair.old_len) ||
         write_file(argv[5], pair.new_img, pair.new_len);
    synth_free(&pair);
    return rc ? 1 : 0;
}
