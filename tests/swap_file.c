/* LD_PRELOAD shim for the tests: the file-changed-under-us race made
 * deterministic.  The file $UPD_SWAP_PATH gets the bytes of $UPD_SWAP_FROM,
 * written in place over the same inode as another process rewriting a
 * package would, once, at the moment the program comes back to read it:
 *   - the first lseek(fd, 0, SEEK_SET) on a descriptor open on it (the
 *     CLI's rewind between its dry run and the real run), or
 *   - with UPD_SWAP_AT_OPEN=N, just before its Nth fopen (the device
 *     opens the staged package once per pass).
 * Test-only: never linked into the project's programs. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int swapped, opens;

/* Whether PATH names $UPD_SWAP_PATH. */
static int is_victim(const char *path)
{
    const char *victim = getenv("UPD_SWAP_PATH");
    char want[PATH_MAX], got[PATH_MAX];
    return victim && realpath(victim, want) && realpath(path, got) && !strcmp(got, want);
}

static void swap_contents(void)
{
    const char *from = getenv("UPD_SWAP_FROM");
    int in = from ? open(from, O_RDONLY) : -1;
    int out = in >= 0 ? open(getenv("UPD_SWAP_PATH"), O_WRONLY | O_TRUNC) : -1;
    char buf[1 << 16];
    ssize_t n;
    while (out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            abort();   /* a half-made swap would test nothing */
    if (out < 0 || fsync(out) != 0)
        abort();
    close(in);
    close(out);
    swapped = 1;
}

off_t lseek(int fd, off_t off, int whence)
{
    static off_t (*real)(int, off_t, int);
    if (!real)
        real = (off_t (*)(int, off_t, int))dlsym(RTLD_NEXT, "lseek");
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    if (!swapped && !getenv("UPD_SWAP_AT_OPEN") && off == 0 && whence == SEEK_SET
        && is_victim(self))
        swap_contents();
    return real(fd, off, whence);
}

FILE *fopen(const char *path, const char *mode)
{
    static FILE *(*real)(const char *, const char *);
    if (!real)
        real = (FILE *(*)(const char *, const char *))dlsym(RTLD_NEXT, "fopen");
    const char *at = getenv("UPD_SWAP_AT_OPEN");
    if (!swapped && at && is_victim(path) && ++opens == atoi(at))
        swap_contents();
    return real(path, mode);
}
