#include "check.h"
#include "updelta/common.h"

#include <stdlib.h>
#include <string.h>

void *upd_grow(void *arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t c = *cap ? *cap * 2 : 64;
    if (c > SIZE_MAX / elem)
        return NULL;
    void *p = realloc(arr, c * elem);
    if (p)
        *cap = c;
    return p;
}

int upd_bytes_reserve(upd_bytes *b, size_t more)
{
    if (more <= b->cap - b->n)
        return 0;
    if (more > SIZE_MAX / 2 - b->n)
        return UPD_E_NOMEM;
    size_t c = b->cap ? b->cap : 65536;
    while (c < b->n + more)
        c *= 2;
    uint8_t *p = realloc(b->p, c);
    if (!p)
        return UPD_E_NOMEM;
    b->p = p;
    b->cap = c;
    return 0;
}

int upd_bytes_put(upd_bytes *b, const void *data, size_t len)
{
    int rc = upd_bytes_reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->p + b->n, data, len);
    b->n += len;
    return 0;
}
