/*
 * synth.h - deterministic synthetic old/new image pairs.
 *
 * Used by the tests and as fuzz seeds: every pair is a pure function of
 * (kind, seed, size), so a failing case can be named in a bug report and
 * regenerated bit-for-bit on any machine.  Library part is libc only.
 */
#ifndef UPDELTA_SYNTH_H
#define UPDELTA_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint8_t *old_img;
    size_t old_len;
    uint8_t *new_img;
    size_t new_len;
} synth_pair;

/* Names of every kind, NULL-terminated static array. */
const char *const *synth_kinds(void);

/* Make pair KIND from SEED with old image about SIZE bytes (kinds that are
 * size-fixed, like "empty"/"one-byte", ignore size).
 *
 * Lengths: old_len == SIZE exactly for every kind except "empty" (0/0),
 * "one-byte" (1/1), "empty-to-data" (old 0, new max(SIZE,1)) and
 * "data-to-empty" (old max(SIZE,1), new 0).  new_len is SIZE for the
 * same-length kinds (identical, zeros, same-offset-edits, transpose,
 * swap-small, rotate, reverse-blocks, unrelated), ~2.5x SIZE for "grow", <= SIZE/2 for
 * "shrink", and near SIZE otherwise ("exe-like" ~ +4%, "insert-delete"
 * and "mixed" roughly -20%..+50%; very small SIZEs can come out a few
 * hundred bytes larger).  Every kind except "empty" and "identical"
 * guarantees old != new unless both are empty.
 *
 * Deterministic: same (kind, seed, size) gives the same bytes on every
 * machine.  Returns 0, -1 for an unknown kind (or a NULL argument), -2 on
 * allocation failure.  Buffers are malloc'd (NULL when the length is 0).
 * On failure *out is left empty, so synth_free(out) is always safe. */
int synth_make(const char *kind, uint64_t seed, size_t size, synth_pair *out);

/* Frees both images and empties *p.  NULL is allowed. */
void synth_free(synth_pair *p);

#ifdef __cplusplus
}
#endif

#endif /* UPDELTA_SYNTH_H */
