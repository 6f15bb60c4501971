/* Internal helpers shared by the engine layers (never installed). */
#ifndef UPD_CHECK_H
#define UPD_CHECK_H

#include <stdint.h>
#include <string.h>

/* Forward an error: evaluate E once, return it if negative (zstd's CHECK_F). */
#define UPD_CHECK(e) do { int upd_rc_ = (e); if (upd_rc_ < 0) return upd_rc_; } while (0)

static inline uint16_t upd_rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t upd_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t upd_rd64(const uint8_t *p)
{
    return (uint64_t)upd_rd32(p) | (uint64_t)upd_rd32(p + 4) << 32;
}
/* How many of P's first MAX bytes are zero before the first non-zero one,
 * 8 at a time: a stretch of non-zero diff bytes is a stretch of 0x00 run
 * varints in the sparse DIFF payload, millions long in a changed region. */
static inline size_t upd_zero_prefix(const uint8_t *p, size_t max)
{
    size_t i = 0;
    for (; i + 8 <= max; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (!v)
            continue;
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* the word's first byte is its low one: no byte loop (a dense
         * diff of rebuilt code has short runs, mostly) */
        return i + (size_t)__builtin_ctzll(v) / 8;
#else
        break;
#endif
    }
    while (i < max && !p[i])
        i++;
    return i;
}

static inline void upd_wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void upd_wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void upd_wr64(uint8_t *p, uint64_t v)
{
    upd_wr32(p, (uint32_t)v);
    upd_wr32(p + 4, (uint32_t)(v >> 32));
}

/* a + b > limit without overflow. */
static inline int upd_range_exceeds(uint64_t a, uint64_t b, uint64_t limit)
{
    return a > limit || b > limit - a;
}

/* Room for element N in the growable array ARR of *CAP elements of ELEM
 * bytes (the capacity doubles): the array, possibly moved, or NULL when
 * memory runs out (ARR is then untouched and still the caller's). */
void *upd_grow(void *arr, size_t n, size_t *cap, size_t elem);

/* A growing byte buffer (all zero: empty); the caller frees p. */
typedef struct {
    uint8_t *p;
    size_t   n, cap;
} upd_bytes;

/* Room for MORE bytes after B's N (the capacity doubles from 64 KiB):
 * 0, or UPD_E_NOMEM with B unchanged. */
int upd_bytes_reserve(upd_bytes *b, size_t more);

/* Append DATA[0..LEN) to B: 0, or UPD_E_NOMEM with B unchanged. */
int upd_bytes_put(upd_bytes *b, const void *data, size_t len);

/* Seconds on the monotonic clock. */
double upd_now(void);

/* 64 random bits from getrandom(); if that fails, a mix of the clock and
 * SALT's address (unpredictable enough for treap priorities; journal salts
 * only need to differ between runs). */
uint64_t upd_random64(const void *salt);

#endif /* UPD_CHECK_H */
