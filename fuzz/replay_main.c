/* Regression driver (zstd's regression_driver.c): a plain main() linked
 * with one fuzz target instead of libFuzzer.  Every argument is a file or
 * a directory; each file (directories: every regular file in it, sorted,
 * dot-files skipped) is fed once to LLVMFuzzerTestOneInput.  A directory
 * that does not exist is skipped with a note (fuzz/regressions/<target>/
 * may not exist yet); replaying nothing at all is a failure, because the
 * seed corpus always has inputs.  A finding aborts, which fails the test.
 *
 *   replay_fuzz_apply fuzz/corpus/fuzz_apply fuzz/regressions/fuzz_apply */
#define _DEFAULT_SOURCE   /* scandir, alphasort */
#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The input goes in a buffer of exactly its size, as libFuzzer passes it,
 * so ASan sees a read past the input as it would while fuzzing. */
static int replay_file(const char *path, size_t size)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = malloc(size ? size : 1);
    int ok = f && data && fread(data, 1, size, f) == size;
    if (ok)
        LLVMFuzzerTestOneInput(data, size);
    else
        fprintf(stderr, "replay: %s: cannot read %zu bytes\n", path, size);
    free(data);
    if (f)
        fclose(f);
    return ok ? 0 : -1;
}

static int skip_name(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Replays a file or every file in a directory; returns the inputs run or -1. */
static long replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s (skipped)\n", path, strerror(errno));
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path, (size_t)st.st_size) < 0 ? -1 : 1;
    struct dirent **names;
    int n = scandir(path, &names, skip_name, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    long done = 0;
    for (int i = 0; i < n; i++) {
        char sub[4096];
        int len = snprintf(sub, sizeof sub, "%s/%s", path, names[i]->d_name);
        if (done >= 0 && len > 0 && (size_t)len < sizeof sub && stat(sub, &st) == 0
            && S_ISREG(st.st_mode))
            done = replay_file(sub, (size_t)st.st_size) < 0 ? -1 : done + 1;
        free(names[i]);
    }
    free(names);
    return done;
}

int main(int argc, char **argv)
{
    long total = 0;
    for (int i = 1; i < argc; i++) {
        long n = replay_path(argv[i]);
        if (n < 0)
            return 1;
        printf("replay: %s: %ld inputs\n", argv[i], n);
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no inputs replayed\n");
        return 1;
    }
    printf("replay: %ld inputs, no finding\n", total);
    return 0;
}
