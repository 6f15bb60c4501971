/* Choosing a file backend: io_uring when it runs here, else POSIX. */
#include "updelta/io.h"

#include <errno.h>

#ifndef UPD_HAVE_URING
/* Built without liburing (UPD_URING=OFF): io_uring is absent, as on a
 * kernel without it, and AUTO falls back to POSIX. */
int upd_io_uring_probe(void)
{
    errno = ENOSYS;
    return UPD_E_IO_OPEN;
}

int upd_io_open_uring(upd_io **out, const char *path, unsigned flags, const upd_io_params *p)
{
    (void)out, (void)path, (void)flags, (void)p;
    return upd_io_uring_probe();
}
#endif

int upd_io_open(upd_io **out, const char *path, unsigned flags, const upd_io_params *p)
{
    switch (p ? p->backend : UPD_IO_AUTO) {
    case UPD_IO_AUTO:
        if (upd_io_uring_probe() == 0)
            return upd_io_open_uring(out, path, flags, p);
        return upd_io_open_posix(out, path, flags & ~UPD_IO_DIRECT);
    case UPD_IO_URING:
        return upd_io_open_uring(out, path, flags, p);
    case UPD_IO_POSIX:
        return upd_io_open_posix(out, path, flags);
    default:
        return UPD_E_INVAL;
    }
}
