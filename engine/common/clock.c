/* Clock and randomness. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdint.h>
#include <sys/random.h>
#include <time.h>

double upd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t upd_random64(const void *salt)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
        v = (uint64_t)(upd_now() * 1e9) * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)salt;
    return v;
}
