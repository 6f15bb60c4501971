/* The I/O backend options (--io, --direct, --io-depth, --io-block) and the
 * line that says which backend runs. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int cli_io_opt(cli_io *io, int c, const char *arg)
{
    uint64_t v;
    switch (c) {
    case CLI_OPT_IO:
        if (!strcmp(arg, "auto"))
            io->p.backend = UPD_IO_AUTO;
        else if (!strcmp(arg, "uring"))
            io->p.backend = UPD_IO_URING;
        else if (!strcmp(arg, "posix"))
            io->p.backend = UPD_IO_POSIX;
        else
            return -1;
        return 1;
    case CLI_OPT_DIRECT:
        io->flags |= UPD_IO_DIRECT;
        return 1;
    case CLI_OPT_IO_DEPTH:
        if (cli_parse_size(arg, &v) || v == 0 || v > 4096)
            return -1;
        io->p.queue_depth = (unsigned)v;
        return 1;
    case CLI_OPT_IO_BLOCK:
        if (cli_parse_size(arg, &v) || v == 0 || v % 4096 || v > (1u << 30))
            return -1;
        io->p.block = (uint32_t)v;
        return 1;
    default:
        return 0;
    }
}

int cli_io_open(const cli_io *io, upd_io **out, const char *path, unsigned flags)
{
    return upd_io_open(out, path, flags | io->flags, &io->p);
}

const char *cli_io_auto(char *out, size_t cap)
{
    if (upd_io_uring_probe() == 0)
        snprintf(out, cap, "uring");
    else
        snprintf(out, cap, "posix (io_uring unavailable: %s)", strerror(errno));
    return out;
}

void cli_io_says(const cli_io *io, upd_io *h, char *out, size_t cap)
{
    char d[256], why[128];
    upd_io_describe(h, d, sizeof d);
    if (io->p.backend == UPD_IO_AUTO && !strcmp(upd_io_name(h), "posix"))
        snprintf(out, cap, "%s, --io=auto: %s", d, cli_io_auto(why, sizeof why));
    else
        snprintf(out, cap, "%s", d);
}
