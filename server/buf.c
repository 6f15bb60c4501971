/* A growing byte buffer (package bytes from the generator, POST bodies,
 * files read whole). */
#define _POSIX_C_SOURCE 200809L
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int srv_buf_append(void *buf, const void *data, size_t len)
{
    srv_buf *b = buf;
    if (len > SIZE_MAX / 2 - b->n)
        return UPD_E_NOMEM;
    if (b->n + len > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + len)
            nc *= 2;
        uint8_t *g = realloc(b->p, nc);
        if (!g)
            return UPD_E_NOMEM;
        b->p = g;
        b->cap = nc;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return 0;
}

int srv_buf_read_file(const char *path, srv_buf *b)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return UPD_E_IO_OPEN;
    struct stat sb;
    int rc = fstat(fd, &sb) == 0 ? 0 : UPD_E_IO_READ;
    b->n = 0;
    if (!rc && (uint64_t)sb.st_size > SIZE_MAX / 2)
        rc = UPD_E_LIMIT;
    if (!rc) {
        b->cap = (size_t)sb.st_size + 1;
        b->p = malloc(b->cap);
        rc = b->p ? 0 : UPD_E_NOMEM;
    }
    while (!rc) {
        ssize_t r = read(fd, b->p + b->n, b->cap - b->n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = UPD_E_IO_READ;
        else if (r == 0)
            break;
        else if ((b->n += (size_t)r) == b->cap)
            rc = UPD_E_LIMIT;   /* the file grew while read */
    }
    close(fd);
    if (!rc)
        b->p[b->n] = 0;   /* room kept: PEM text is a C string */
    return rc;
}
