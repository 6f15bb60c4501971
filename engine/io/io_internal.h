/* Backend-side access to a handle (engine-internal). */
#ifndef UPD_IO_INTERNAL_H
#define UPD_IO_INTERNAL_H

#include "updelta/io.h"

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

/* Run REQS[0..N) on FD synchronously, in order (pread/pwrite; requests
 * that continue each other in one preadv/pwritev).  0 or a negative errno
 * (-ENODATA: a read met end of file; -EIO: a write moved nothing). */
int upd_io_fd_xfer(int fd, const upd_io_req *reqs, unsigned n);

/* Alignment of upd_io_buf_alloc() buffers: a page, which also satisfies
 * O_DIRECT on every file system and device updelta targets. */
#define UPD_IO_BUF_ALIGN 4096u

#endif
