/* Backend-side access to a handle (engine-internal). */
#ifndef UPD_IO_INTERNAL_H
#define UPD_IO_INTERNAL_H

#include "updelta/io.h"

#include <sys/uio.h>

/* The backend context of IO when its methods are M, else NULL. */
void *upd_io_backend_ctx(const upd_io *io, const upd_io_methods *m);

/* Open PATH for a file backend (UPD_IO_RDONLY/CREATE/TRUNC): a regular
 * file or a block device, close-on-exec.  *CAPACITY: a block device's size,
 * 0 for a file.  Errors: UPD_E_IO_OPEN with the cause in errno. */
int upd_io_open_fd(const char *path, unsigned flags, int *fd, uint64_t *capacity);

/* size and resize of a file backend on FD (CAPACITY: a block device's
 * size, 0 for a file; RDONLY: resize is -EBADF).  0 or a negative errno. */
int upd_io_fd_size(int fd, uint64_t capacity, uint64_t *size);
int upd_io_fd_resize(int fd, int rdonly, uint64_t capacity, uint64_t size);

/* One system call's worth of REQS: see upd_io_gather. */
#define UPD_IO_IOV  64          /* iovecs per call */
#define UPD_IO_HOLE 4096u       /* the widest hole a read run bridges */
typedef struct {
    struct iovec iov[UPD_IO_IOV];
    unsigned niov;
    uint64_t off;               /* where iov[0] starts on the file */
    size_t   total;             /* bytes of all the iovecs, holes included */
} upd_io_span;

/* The run of REQS[0..N) (N >= 1) that starts at REQS[0], as iovecs in file
 * order in *S: the requests after it that move the same way (all reads or
 * all writes) and each lie next to the one before, all upward or all
 * downward on the file, spanning at most UPD_IO_MAX_REQ bytes; between
 * reads, holes of at most UPD_IO_HOLE bytes are read into SINK
 * (UPD_IO_HOLE bytes, contents undefined after).
 * Returns how many requests the run takes (at least 1). */
unsigned upd_io_gather(const upd_io_req *reqs, unsigned n, uint8_t *sink, upd_io_span *s);

/* Run REQS[0..N) on FD synchronously: each run (upd_io_gather) in one
 * preadv/pwritev, a lone request in pread/pwrite; the requests of a run
 * that comes up short are redone one by one (bytes already moved are moved
 * again).  0 or a negative errno
 * (-ENODATA: a read met end of file; -EIO: a write moved nothing). */
int upd_io_fd_xfer(int fd, const upd_io_req *reqs, unsigned n);

/* Early writeback for a file backend's buffered writes: on a handle that
 * has been flushed (its writes come in flush intervals, as a journal's
 * commit units do), once UPD_IO_WB_BYTES have been written since the last
 * start or flush, upd_io_wb_note starts their writeback (sync_file_range WRITE over the
 * span they cover; never a WAIT flag, which would consume the file's
 * writeback error), so the device writes while the caller computes and the
 * next flush waits only for the rest.  It changes no durability promise:
 * only a flush makes writes durable.  An error of that writeback may be
 * reported to this call alone (ext4 drops pages whose block allocation
 * failed), so it is kept and the next flush fails with it (upd_io_wb_take);
 * a file that does not support the call (EINVAL, ESPIPE, ENOSYS) just
 * stops getting it.  Before a handle's first flush (an out-of-place
 * output, an unjournaled target: written whole, flushed once) the kernel's
 * own writeback is left alone: starting it early there cost more than it
 * saved.  Measured in docs/ARCHITECTURE.md "Early writeback". */
#define UPD_IO_WB_BYTES (256u << 10)

typedef struct {
    uint64_t lo, hi, bytes;      /* span and bytes written since the last start */
    uint64_t dirty;              /* bytes written since the last flush */
    int      err;                /* the first failure of a start (negative errno) */
    int      off;                /* the file does not support it */
    int      armed;              /* the handle has been flushed */
} upd_io_wb;

/* Note buffered writes REQS[0..N) (reads are skipped) that succeeded on FD
 * (counted in dirty however the writeback stands). */
void upd_io_wb_note(int fd, upd_io_wb *wb, const upd_io_req *reqs, unsigned n);

/* Start the writeback of everything written to FD (upd_io_writeback), on
 * a handle flushed before or not (unlike the early writeback above: this
 * is asked for once, at the end), a failure kept as upd_io_wb_note keeps it. */
void upd_io_wb_all(int fd, upd_io_wb *wb);

/* Keep the outcome NEG (0 or a negative errno) of a writeback start made
 * some other way (io_uring's IORING_OP_SYNC_FILE_RANGE) as the starts above
 * keep theirs: unsupported stops them, a failure fails the next flush. */
void upd_io_wb_result(upd_io_wb *wb, int neg);

/* At a flush: nothing is pending after it, and early writeback is armed;
 * returns the kept failure (0 or a negative errno), which that flush must
 * report if it succeeds. */
int upd_io_wb_take(upd_io_wb *wb);

/* Alignment of upd_io_buf_alloc() buffers: a page, which also satisfies
 * O_DIRECT on every file system and device updelta targets. */
#define UPD_IO_BUF_ALIGN 4096u

#endif
