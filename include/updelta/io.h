/*
 * updelta: the image I/O layer.
 *
 * Every byte the applier reads from or writes to an image, and every stash
 * byte, goes through an upd_io handle.  One small interface, several
 * backends: POSIX files and block devices (pread/pwrite/fdatasync), memory
 * (tests, fuzzing), and any backend a caller supplies through
 * upd_io_create() (a flash driver, the crash simulator, io_uring).
 *
 * Model: requests are submitted in batches and completed together.
 *   upd_io_submit() queues a batch; a backend may start it at once and run
 *   its requests in any order or concurrently.  upd_io_reap() waits until
 *   every submitted request has completed and returns the first failure.
 *   Buffers belong to the caller and must stay valid until the reap.
 *   The caller never puts a write and another request over overlapping
 *   bytes in one batch (the applier orders such requests across batches).
 * Durability: a write is durable only after a later upd_io_flush() returns
 *   0.  Until then a crash may lose it, tear it, or reorder it against other
 *   unflushed writes.  A flush failure is final for the handle: the data
 *   state is unknown, so the caller must stop and recover from its journal
 *   (PostgreSQL "fsyncgate"); the handle refuses further writes.
 * Errors: UPD_E_IO_* codes; upd_io_last_errno() keeps the OS cause.
 * Thread safety: a handle is used by one thread at a time.
 */
#ifndef UPDELTA_IO_H
#define UPDELTA_IO_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"

typedef struct upd_io upd_io;

enum { UPD_IO_READ = 1, UPD_IO_WRITE = 2 };

/* One request.  LEN is at most UPD_IO_MAX_REQ bytes. */
typedef struct {
    void    *buf;
    uint64_t off;
    uint32_t len;
    uint8_t  op;             /* UPD_IO_READ or UPD_IO_WRITE */
} upd_io_req;

#define UPD_IO_MAX_REQ (1u << 30)

/* Counters kept by the handle for every backend (for benchmarks and the
 * write-amplification figures). */
typedef struct {
    uint64_t bytes_read, bytes_written;
    uint64_t reads, writes, flushes, batches;
} upd_io_stats;

/* A backend.  Every method returns 0 or a negative errno value (-EIO ...);
 * the handle turns that into the matching UPD_E_IO_* code and remembers the
 * errno.  submit may run requests synchronously, in which case reap only
 * reports what submit saw.  A read that meets end-of-device returns -ENODATA.
 * size reports the current image length; resize sets it.  Backends whose
 * length cannot change (block devices, fixed flash) set UPD_IO_FIXED_SIZE:
 * their size is the capacity and resize only checks that the new length fits. */
typedef struct {
    const char *name;
    unsigned    flags;       /* UPD_IO_FIXED_SIZE */
    int  (*submit)(void *ctx, const upd_io_req *reqs, unsigned n);
    int  (*reap)(void *ctx);
    int  (*flush)(void *ctx);
    int  (*size)(void *ctx, uint64_t *size);
    int  (*resize)(void *ctx, uint64_t size);
    void (*close)(void *ctx);
} upd_io_methods;

#define UPD_IO_FIXED_SIZE 1u

/* Wrap a caller-supplied backend.  The handle calls M->close(CTX) when
 * closed (M itself must outlive the handle).  Errors: UPD_E_INVAL, UPD_E_NOMEM. */
UPD_API int upd_io_create(upd_io **out, const upd_io_methods *m, void *ctx);

/* Flags for upd_io_open_posix(). */
#define UPD_IO_RDONLY  1u    /* open read-only; writes, flush, resize fail with UPD_E_STATE */
#define UPD_IO_CREATE  2u    /* create the file if missing (mode 0644), truncating nothing */
#define UPD_IO_TRUNC   4u    /* truncate an existing file to zero length */

/* Open PATH (a regular file or a block device) with pread/pwrite/fdatasync.
 * A block device is UPD_IO_FIXED_SIZE with its capacity as size.
 * Errors: UPD_E_IO_OPEN (errno kept in upd_io_last_errno of nothing: returned
 * handle is NULL, so the errno is left in the C errno), UPD_E_NOMEM, UPD_E_INVAL. */
UPD_API int upd_io_open_posix(upd_io **out, const char *path, unsigned flags);

/* A growable in-memory image, initialised with a copy of DATA[0..LEN).
 * CAP bounds its length (resize beyond CAP fails with UPD_E_IO_RESIZE).
 * Errors: UPD_E_INVAL (LEN > CAP), UPD_E_NOMEM. */
UPD_API int upd_io_open_mem(upd_io **out, const void *data, size_t len, size_t cap);

/* For a memory handle: its current bytes (valid until the next write,
 * resize or close).  Errors: UPD_E_INVAL when IO is not a memory handle. */
UPD_API int upd_io_mem_view(const upd_io *io, const uint8_t **data, size_t *len);

/* Queue N requests (see the model above).  Errors: UPD_E_INVAL (bad request),
 * UPD_E_STATE (write on a read-only or failed handle), UPD_E_IO_READ/WRITE. */
UPD_API int upd_io_submit(upd_io *io, const upd_io_req *reqs, unsigned n);

/* Wait for every submitted request; 0 or the first failure. */
UPD_API int upd_io_reap(upd_io *io);

/* Convenience: one read / one write, submitted and reaped.  LEN may exceed
 * UPD_IO_MAX_REQ (split internally). */
UPD_API int upd_io_read(upd_io *io, void *buf, size_t len, uint64_t off);
UPD_API int upd_io_write(upd_io *io, const void *buf, size_t len, uint64_t off);

/* Durability barrier: every completed write is durable when this returns 0.
 * Errors: UPD_E_IO_FLUSH (final: the handle refuses further writes). */
UPD_API int upd_io_flush(upd_io *io);

/* Current length (capacity for UPD_IO_FIXED_SIZE backends). */
UPD_API int upd_io_size(upd_io *io, uint64_t *size);

/* Set the length (files: truncate/extend; fixed-size: check it fits).
 * Errors: UPD_E_IO_RESIZE. */
UPD_API int upd_io_resize(upd_io *io, uint64_t size);

/* Backend flags (UPD_IO_FIXED_SIZE). */
UPD_API unsigned upd_io_flags(const upd_io *io);

/* Backend name ("posix", "mem", ...). */
UPD_API const char *upd_io_name(const upd_io *io);

/* errno of the last failed backend call, 0 if none. */
UPD_API int upd_io_last_errno(const upd_io *io);

/* Copy the handle's counters into *ST. */
UPD_API void upd_io_get_stats(const upd_io *io, upd_io_stats *st);

/* Close the handle and free it (NULL is a no-op).  Closing does not flush. */
UPD_API void upd_io_close(upd_io *io);

#endif /* UPDELTA_IO_H */
