/* no_uring ERRNO COMMAND...: run COMMAND with io_uring_setup(2) failing
 * with ERRNO (ENOSYS, EPERM or ENOMEM), as under a seccomp profile, a
 * kernel without io_uring, kernel.io_uring_disabled or a locked-memory limit.
 * For the forced-fallback checks of tests/uring_test.sh. */
#include "helpers.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    static const struct { const char *name; int err; } errs[] = {
        { "ENOSYS", ENOSYS }, { "EPERM", EPERM }, { "ENOMEM", ENOMEM },
    };
    int err = 0;
    for (size_t i = 0; argc > 1 && i < sizeof errs / sizeof *errs; i++)
        if (!strcmp(argv[1], errs[i].name))
            err = errs[i].err;
    if (argc < 3 || !err) {
        fprintf(stderr, "usage: no_uring ENOSYS|EPERM|ENOMEM COMMAND [ARG...]\n");
        return 2;
    }
    if (deny_io_uring(err) < 0) {
        perror("no_uring: seccomp");
        return 1;
    }
    execvp(argv[2], argv + 2);
    perror("no_uring: exec");
    return 127;
}
