/*
 * updelta: the simulated crashing device (an upd_io backend for tests).
 *
 * A memory-backed device that behaves like a disk with a volatile write
 * cache, so a crash harness can cut the power at any I/O boundary and look
 * at what a real medium could hold afterwards (SQLite's crash VFS,
 * CrashMonkey's epochs, MCUboot's simulator).  It plugs in through
 * upd_io_create(): the applier and the journal run on it unchanged.
 *
 * Model (per device):
 *   - Reads see every completed write and resize (the volatile view, as the
 *     page cache would show it).
 *   - A write or a resize is durable only once a later flush of the same
 *     device returns 0.  Until then it sits in the device's log of unflushed
 *     entries.  A failed flush makes nothing durable.
 *   - At a crash any subset of the unflushed entries may survive, in any
 *     order; a surviving write may be torn at sector granularity: each
 *     sector it touches is all old or all new (or, in the TORN_ZERO and
 *     TORN_GARBAGE variants, zero- or garbage-filled as a whole sector).
 *     A resize is atomic: the length is one the device had.  A sector no
 *     unflushed write touches is never damaged; outside the written bytes
 *     a touched sector changes only when zero- or garbage-filled (those
 *     variants drop the powersafe-overwrite assumption).
 *
 * Power domain: devices that share a upd_sim_power crash at the same
 * instant (a target and its journal or stash file).  The domain counts
 * boundaries: every write request, flush and resize that reaches any of its
 * devices while the power is on, failed (injected) ones included; reads are
 * not boundaries.  upd_sim_power_crash_at(P, K) cuts the power right after
 * boundary K completes: from then on every request on every device of the
 * domain fails with -EIO (UPD_E_IO_* through upd_io_*), including reads
 * and size.  A batch cut in the middle keeps the requests before the cut.
 *
 * After (or instead of) a crash, upd_sim_crash_image() turns a device's
 * durable bytes plus a seeded choice over its unflushed log into a fresh
 * memory handle: the image a reboot would find.  It never changes the
 * device, so one run can be materialised under many modes and seeds.
 *
 * Fault injection: upd_sim_fail_at() makes the Nth read, write, flush or
 * resize request of a device fail with -EIO (the request does nothing).
 *
 * Bounds: the device holds two copies of the image (durable and volatile,
 * each at most CAP bytes) plus its unflushed log, at most UPD_SIM_LOG_MAX
 * data bytes and UPD_SIM_LOG_ENTRIES entries; a write past that fails with
 * -ENOSPC (UPD_E_IO_WRITE) and does nothing.
 * Determinism: every random choice comes from splitmix64 seeded by the
 * caller's seed and the device's index in its domain; no global state.
 * Thread safety: a domain and all its devices are used by one thread.
 * This header is not included by updelta.h: it is a test facility.
 */
#ifndef UPDELTA_IOSIM_H
#define UPDELTA_IOSIM_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"
#include "io.h"

#define UPD_SIM_LOG_MAX      (256u << 20)   /* unflushed data bytes per device */
#define UPD_SIM_LOG_ENTRIES  (1u << 20)     /* unflushed writes + resizes per device */
#define UPD_SIM_NEVER        UINT64_MAX     /* upd_sim_power_crash_at(): disarm */

typedef struct upd_sim_power upd_sim_power;

/* Make a power domain: boundary count 0, power on, no crash armed.
 * Errors: UPD_E_INVAL (OUT is NULL), UPD_E_NOMEM. */
UPD_API int upd_sim_power_create(upd_sim_power **out);

/* Drop the caller's reference (NULL is a no-op).  The domain lives on
 * until its last device is closed, so devices may be closed before or
 * after this call. */
UPD_API void upd_sim_power_free(upd_sim_power *p);

/* Arm the crash: the power goes off right after boundary K completes
 * (K counts from the domain's creation; K == upd_sim_power_boundaries()
 * cuts it now; UPD_SIM_NEVER disarms).  The boundary that reaches K
 * succeeds; every later request fails.  Once off, the power stays off.
 * Errors: UPD_E_INVAL (P NULL, or K already passed), UPD_E_STATE (the
 * power is already off). */
UPD_API int upd_sim_power_crash_at(upd_sim_power *p, uint64_t k);

/* Cut the power now (same as crash_at(P, boundaries)).  No-op when off. */
UPD_API void upd_sim_power_cut(upd_sim_power *p);

/* Boundaries counted so far (0 for NULL). */
UPD_API uint64_t upd_sim_power_boundaries(const upd_sim_power *p);

/* Non-zero once the power is off. */
UPD_API int upd_sim_power_is_off(const upd_sim_power *p);

/* Open a simulated device in domain P holding a copy of DATA[0..LEN) as
 * its durable (and volatile) image; CAP bounds its length as for
 * upd_io_open_mem (a resize beyond CAP fails).  SECTOR_SIZE, a power of
 * two from 1 to 1 MiB, is the tearing unit.  The handle keeps a reference
 * to P; upd_io_close() releases it.  The backend name is "sim".
 * Errors: UPD_E_INVAL (NULL OUT or P, LEN > CAP, DATA NULL with LEN > 0,
 * bad SECTOR_SIZE), UPD_E_STATE (P's power is off), UPD_E_NOMEM. */
UPD_API int upd_io_open_sim(upd_io **out, upd_sim_power *p, const void *data, size_t len,
                            size_t cap, uint32_t sector_size);

/* Request kinds for upd_sim_fail_at(). */
typedef enum {
    UPD_SIM_READ = 0,
    UPD_SIM_WRITE,
    UPD_SIM_FLUSH,
    UPD_SIM_RESIZE
} upd_sim_kind;

#define UPD_SIM_STICKY 1u    /* fail the Nth request of the kind and every later one */

/* Make the NTH request of KIND on IO (counted from the device's opening,
 * starting at 1, failed ones included) fail with -EIO; with UPD_SIM_STICKY
 * every later one too.  A failed request changes nothing on the device.
 * NTH 0 disarms KIND.  One arming per kind; a new call replaces it.
 * Errors: UPD_E_INVAL (IO not a sim handle, bad KIND or FLAGS). */
UPD_API int upd_sim_fail_at(upd_io *io, upd_sim_kind kind, uint64_t nth, unsigned flags);

/* How the unflushed log is treated by upd_sim_crash_image().  Flushed data
 * survives in every mode. */
typedef enum {
    UPD_SIM_DROP_ALL = 0,   /* only flushed data: every unflushed entry is lost */
    UPD_SIM_KEEP_ALL,       /* every unflushed entry lands, in order (at crash
                               point K: exactly the state after boundary K) */
    UPD_SIM_RANDOM_SUBSET,  /* each write kept, dropped or torn (1/3 each; torn:
                               each sector all old or all new, 1/2 each);
                               each resize kept or dropped (1/2 each) */
    UPD_SIM_TORN_ZERO,      /* as RANDOM_SUBSET, but a torn write's sector is new,
                               old or zero-filled (1/3 each) */
    UPD_SIM_TORN_GARBAGE,   /* as TORN_ZERO with seeded garbage instead of zeros */
    UPD_SIM_REORDER         /* everything lands but one write that a later one
                               overtook: chosen among the writes a later write
                               overlaps, else among all but the last write;
                               with fewer than two writes, as KEEP_ALL */
} upd_sim_mode;

/* The image a reboot would find if the power failed now: a fresh memory
 * handle (upd_io_open_mem, capacity CAP of the device) holding the durable
 * bytes with the unflushed log applied in order under MODE, every random
 * choice drawn from SEED.  Entries are replayed in log order, so "old"
 * means what the crash image held before that entry (the flushed bytes or
 * an earlier surviving write); a surviving write that ends past the crash
 * image's length (its growing resize was lost) is cut at that length.  A
 * zero or garbage fill covers the whole sector, within the length.  The
 * device is not changed and need not be powered off.  The caller owns *OUT
 * (upd_io_close).  Same device log, MODE and SEED: the same bytes.
 * Errors: UPD_E_INVAL (IO not a sim handle, bad MODE, OUT NULL), UPD_E_NOMEM. */
UPD_API int upd_sim_crash_image(const upd_io *io, upd_sim_mode mode, uint64_t seed,
                                upd_io **out);

/* Per-device counters (requests that reached the device; the handle's own
 * upd_io_stats count what the caller submitted). */
typedef struct {
    uint64_t reads, writes, flushes, resizes;  /* requests seen while powered, failed included */
    uint64_t injected;         /* requests failed by upd_sim_fail_at() */
    uint64_t refused;          /* requests refused because the power was off */
    uint64_t pending_entries;  /* unflushed writes + resizes in the log */
    uint64_t pending_bytes;    /* data bytes those writes hold */
    uint64_t durable_len;      /* length of the flushed image */
    uint64_t volatile_len;     /* length reads see */
} upd_sim_stats;

/* Copy IO's counters into *ST.  Errors: UPD_E_INVAL (not a sim handle). */
UPD_API int upd_sim_get_stats(const upd_io *io, upd_sim_stats *st);

#endif /* UPDELTA_IOSIM_H */
