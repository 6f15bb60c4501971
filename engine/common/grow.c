#include "check.h"

#include <stdlib.h>

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
