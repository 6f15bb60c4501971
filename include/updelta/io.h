/*
 * updelta: the image I/O layer.
 *
 * Every byte the applier reads from or writes to an image, and every stash
 * byte, goes through an upd_io handle.  One small interface, several
 * backends: POSIX files and block devices (pread/pwrite/fdatasync), io_uring
 * (liburing: batched, registered file and buffers, optional O_DIRECT),
 * memory (tests, fuzzing), and any backend a caller supplies through
 * upd_io_create() (a flash driver, the crash simulator).
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
 * Buffers: upd_io_buf_alloc() gives memory the backend transfers best from
 *   (io_uring: page-aligned and registered with the ring); any memory works.
 * Errors: UPD_E_IO_* codes; upd_io_last_errno() keeps the OS cause.
 * Thread safety: a handle is used by one thread at a time (an io_uring
 *   handle by the thread that opened it: its ring is single-issuer).
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
 * their size is the capacity and resize only checks that the new length fits.
 * buf_alloc/buf_free (optional, both or neither) hand out and take back the
 * backend's transfer buffers (see upd_io_buf_alloc); describe (optional)
 * writes a one-line account of the backend's setup.  run (optional) is
 * submit for a batch the caller reaps at once (upd_io_run): a backend may
 * then run it synchronously where that is cheaper; without it, submit.
 * writeback (optional) starts moving the completed writes to the device
 * without waiting (upd_io_writeback); a failure it meets must fail the
 * next flush.
 * Until 1.0 optional members may be added at the end (each with a new
 * SOVERSION: a table built against the shorter struct is too short):
 * define the table with designated initialisers, so that new ones are
 * NULL once the caller is rebuilt. */
typedef struct {
    const char *name;
    unsigned    flags;       /* UPD_IO_FIXED_SIZE */
    int  (*submit)(void *ctx, const upd_io_req *reqs, unsigned n);
    int  (*reap)(void *ctx);
    int  (*flush)(void *ctx);
    int  (*size)(void *ctx, uint64_t *size);
    int  (*resize)(void *ctx, uint64_t size);
    void (*close)(void *ctx);
    void *(*buf_alloc)(void *ctx, size_t size);
    void (*buf_free)(void *ctx, void *p, size_t size);
    void (*describe)(void *ctx, char *out, size_t cap);
    int  (*run)(void *ctx, const upd_io_req *reqs, unsigned n);
    void (*writeback)(void *ctx);
} upd_io_methods;

#define UPD_IO_FIXED_SIZE 1u

/* Wrap a caller-supplied backend.  The handle calls M->close(CTX) when
 * closed (M itself must outlive the handle).  Errors: UPD_E_INVAL, UPD_E_NOMEM. */
UPD_API int upd_io_create(upd_io **out, const upd_io_methods *m, void *ctx);

/* Flags for upd_io_open_posix(). */
#define UPD_IO_RDONLY  1u    /* open read-only; writes, flush, resize fail with UPD_E_STATE */
#define UPD_IO_CREATE  2u    /* create the file if missing (mode 0644), truncating nothing */
#define UPD_IO_TRUNC   4u    /* truncate an existing file to zero length */
#define UPD_IO_DIRECT  8u    /* io_uring only: O_DIRECT for the aligned requests */

/* Open PATH (a regular file or a block device) with pread/pwrite/fdatasync.
 * A block device is UPD_IO_FIXED_SIZE with its capacity as size.
 * Errors: UPD_E_IO_OPEN (errno kept in upd_io_last_errno of nothing: returned
 * handle is NULL, so the errno is left in the C errno), UPD_E_NOMEM, UPD_E_INVAL. */
UPD_API int upd_io_open_posix(upd_io **out, const char *path, unsigned flags);

/* Backends upd_io_open() chooses between. */
typedef enum { UPD_IO_AUTO = 0, UPD_IO_POSIX, UPD_IO_URING } upd_io_backend;

/* How to open a file backend (all zero: AUTO with io_uring's defaults). */
typedef struct {
    upd_io_backend backend;
    unsigned queue_depth;    /* io_uring: requests in flight at most (0: 64, max 4096) */
    uint32_t block;          /* io_uring: requests are cut at multiples of BLOCK bytes
                                and the pieces run concurrently (0: 256 KiB;
                                else a multiple of 4096) */
} upd_io_params;

/* Open PATH with io_uring (liburing): one ring with the file registered,
 * setup flags tried from the strongest (single issuer, deferred task work)
 * to none, requests cut into P's blocks and submitted in batches of up to
 * P's queue depth, short transfers resubmitted, flush = every write's
 * completion collected and checked, then IORING_OP_FSYNC (datasync).
 * UPD_IO_DIRECT opens a second, O_DIRECT descriptor when the file system
 * reports an alignment (statx STATX_DIOALIGN, or a block device's logical
 * block size; at least a page): pieces whose offset, length and buffer are
 * aligned bypass the page cache, the rest go through it.  Without that
 * alignment the handle stays buffered (upd_io_describe says which).
 * P may be NULL (defaults); its backend field is ignored.  Other flags as
 * upd_io_open_posix.  Errors: UPD_E_IO_OPEN, with the cause in errno
 * (ENOSYS: no io_uring in the kernel or in this build; EPERM: forbidden by
 * seccomp or the kernel.io_uring_disabled sysctl; ENOMEM: locked-memory
 * limit), UPD_E_NOMEM, UPD_E_INVAL. */
UPD_API int upd_io_open_uring(upd_io **out, const char *path, unsigned flags,
                              const upd_io_params *p);

/* Whether io_uring can run here: 0, or UPD_E_IO_OPEN with the cause in errno
 * (as for upd_io_open_uring).  Sets up and tears down a two-entry ring. */
UPD_API int upd_io_uring_probe(void);

/* Open PATH with P's backend (P NULL: AUTO).  AUTO: io_uring when
 * upd_io_uring_probe() says it runs, else POSIX (upd_io_name() tells which
 * it got); once the probe succeeded, a failing io_uring open is an error,
 * not a fallback.  UPD_IO_DIRECT needs io_uring: AUTO drops it on fallback,
 * POSIX refuses it (UPD_E_INVAL).  Errors as the chosen backend's open. */
UPD_API int upd_io_open(upd_io **out, const char *path, unsigned flags, const upd_io_params *p);

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

/* Submit N requests and reap them: 0, or the first failure (every request
 * has completed either way).  The backend knows nothing is left to overlap
 * with the batch, so it may run it synchronously (io_uring: a lone
 * buffered read costs a pread, not a ring round trip).  Errors as
 * upd_io_submit and upd_io_reap. */
UPD_API int upd_io_run(upd_io *io, const upd_io_req *reqs, unsigned n);

/* Convenience: one read / one write, submitted and reaped.  LEN may exceed
 * UPD_IO_MAX_REQ (split internally). */
UPD_API int upd_io_read(upd_io *io, void *buf, size_t len, uint64_t off);
UPD_API int upd_io_write(upd_io *io, const void *buf, size_t len, uint64_t off);

/* Durability barrier: every completed write is durable when this returns 0.
 * Errors: UPD_E_IO_FLUSH (final: the handle refuses further writes). */
UPD_API int upd_io_flush(upd_io *io);

/* A hint before a flush: start writing the completed writes to the device
 * without waiting for them to land (queueing them may block the caller;
 * the file backends do that elsewhere where it pays: io_uring in a kernel
 * worker, POSIX on a thread of its own once 8 MiB were written since the
 * last flush), so
 * that the caller's work until its flush (the applier hashes the result)
 * overlaps the device's.  It makes nothing durable; a failure it meets is
 * reported by the next upd_io_flush().  Does nothing on a backend without
 * the method, on a failed handle, or on NULL. */
UPD_API void upd_io_writeback(upd_io *io);

/* Current length (capacity for UPD_IO_FIXED_SIZE backends). */
UPD_API int upd_io_size(upd_io *io, uint64_t *size);

/* Set the length (files: truncate/extend; fixed-size: check it fits).
 * Errors: UPD_E_IO_RESIZE. */
UPD_API int upd_io_resize(upd_io *io, uint64_t size);

/* Backend flags (UPD_IO_FIXED_SIZE). */
UPD_API unsigned upd_io_flags(const upd_io *io);

/* Backend name ("posix", "uring", "mem", ...). */
UPD_API const char *upd_io_name(const upd_io *io);

/* One line on the backend's setup into OUT (CAP bytes, NUL-terminated):
 * for io_uring the setup flags, queue depth, registered buffers and
 * O_DIRECT alignment; otherwise the name. */
UPD_API void upd_io_describe(const upd_io *io, char *out, size_t cap);

/* A transfer buffer of SIZE bytes for requests on IO (NULL IO: plain
 * page-aligned memory): from an io_uring handle, page-aligned and
 * registered with its ring when the ring has room (requests on it then skip
 * the kernel's per-request page pinning).  Free it with upd_io_buf_free()
 * on the same IO, before IO is closed.  NULL when out of memory. */
UPD_API void *upd_io_buf_alloc(upd_io *io, size_t size);
UPD_API void upd_io_buf_free(upd_io *io, void *p, size_t size);

/* errno of the last failed backend call, 0 if none. */
UPD_API int upd_io_last_errno(const upd_io *io);

/* Copy the handle's counters into *ST. */
UPD_API void upd_io_get_stats(const upd_io *io, upd_io_stats *st);

/* Close the handle and free it (NULL is a no-op).  Closing does not flush. */
UPD_API void upd_io_close(upd_io *io);

#endif /* UPDELTA_IO_H */
