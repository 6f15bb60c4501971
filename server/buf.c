/* A growing byte buffer (package bytes from the generator, POST bodies). */
#include "server.h"

#include <stdlib.h>
#include <string.h>

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
