/* A model check for the I/O backends: random batches of reads and writes
 * (runs up and down the file, holes between reads under and over
 * UPD_IO_HOLE, requests of no bytes, reads past the end) on a file, each
 * result checked against a model of it. */
#ifndef UPD_TEST_IO_MODEL_H
#define UPD_TEST_IO_MODEL_H

#include "updelta/io.h"

#include <stddef.h>
#include <stdint.h>

/* Opens PATH (it exists) on the backend under test: 0 or an error. */
typedef int (*io_model_open)(upd_io **io, const char *path);

/* ROUNDS rounds from SEED, each on a fresh file at PATH of random length:
 * a batch of writes, then one of reads, then the file compared with the
 * model.  0, or -1 with what went wrong in WHY[0..WHY_CAP). */
int io_model_rounds(io_model_open open_fn, const char *path, unsigned rounds, uint64_t seed,
                    char *why, size_t why_cap);

#endif
