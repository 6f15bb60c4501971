/*
 * updelta: the power-fail-safe journal of an in-place apply.
 *
 * An applier given a journal handle (upd_apply_params.journal) runs each
 * segment in commit units of bounded size and keeps, in the journal:
 *   - two checksummed header slots, written alternately; the valid one with
 *     the higher sequence number says where the update stands (the unit to
 *     run next) and which package it belongs to;
 *   - two save areas, one per slot: before a unit runs, the image bytes it
 *     both reads and overwrites, and the rest of every block its writes
 *     touch (a torn write may damage whole blocks), are copied there,
 *     zstd-compressed: the only bytes whose loss would make re-running the
 *     unit wrong;
 *   - the stash (STASH operations' saved ranges), unless the caller gives
 *     a separate stash handle.
 * Per unit: save area and slot written, journal flushed; the unit's writes;
 * target flushed (a stash inside the journal is made durable by the next
 * slot's flush, which carries its checksum).  Crash anywhere, run the same apply again:
 * the applier finds the slot, skips the package up to that unit (still
 * verifying every digest), re-runs the unit with its saved bytes, and
 * continues.  Records carry a per-run random salt, a sequence number and
 * an XXH3 checksum, so a torn, zeroed or stale record never validates.
 * docs/JOURNAL.md states the invariants and the tests that check them.
 */
#ifndef UPDELTA_JOURNAL_H
#define UPDELTA_JOURNAL_H

#include <stdint.h>
#include "common.h"
#include "io.h"

#define UPD_JOURNAL_UNIT_DEFAULT (4u << 20)   /* bytes written per commit unit */
#define UPD_JOURNAL_UNIT_MIN     4096u
/* Memory a journaled apply needs beyond upd_applier_mem_need(): the commit
 * units' range lists and the save areas' zstd compressor and buffers. */
#define UPD_JOURNAL_MEM          (2u << 20)

typedef enum {
    UPD_JOURNAL_EMPTY = 0,     /* no valid slot: nothing to resume */
    UPD_JOURNAL_RUNNING        /* an update is under way: run it again to resume */
} upd_journal_state;

typedef struct {
    upd_journal_state state;
    uint64_t seq;              /* units committed so far, plus one */
    uint8_t  package[32];      /* SHA-256(header || manifest) of the package */
    uint32_t segment;          /* the unit to run next: segment ... */
    uint32_t op;               /* ... operation within it ... */
    uint64_t step;             /* ... and chunk within that operation */
    uint64_t stash_done;       /* stash bytes durable */
    uint64_t image_size;       /* image length at that unit's start */
} upd_journal_status;

/* Read the journal behind IO (the file given to an apply) and describe it.
 * A missing, empty, zeroed or foreign file reads as UPD_JOURNAL_EMPTY.  A
 * run left by an older journal format (version 2) reads as
 * UPD_JOURNAL_RUNNING, though upd_apply refuses to resume it
 * (UPD_E_JOURNAL): keep the file for the version that wrote it.
 * Errors: UPD_E_IO_READ. */
UPD_API int upd_journal_read_status(upd_io *io, upd_journal_status *st);

#endif /* UPDELTA_JOURNAL_H */
