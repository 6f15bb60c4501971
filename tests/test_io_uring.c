/* The io_uring backend beyond the round trips (test_roundtrip runs every
 * apply over it): fallback when io_uring is refused, short writes and
 * reads, real EIO, the flush barrier collecting failed writes, registered
 * buffers, batches larger than the ring, and argument checks. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "io_model.h"
#include "../engine/io/io_internal.h"

static char dir[] = "/tmp/upd-uring-XXXXXX";
static char path[64];

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/img", dir);
}

static void teardown(void)
{
    remove(path);
    rmdir(dir);
}

TestSuite(io_uring, .init = setup, .fini = teardown);

/* preadv2 interposed: upd_io_run's page-cache attempts are counted here,
 * and with refuse_nowait set they are refused as for bytes not cached
 * (EAGAIN), so what follows them through the ring is tested for sure. */
static unsigned preadv2_calls;
static ssize_t preadv2_ret;        /* what the last one returned */
static int refuse_nowait;

ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    static ssize_t (*real)(int, const struct iovec *, int, off_t, int);
    preadv2_calls++;
    if (refuse_nowait && (flags & RWF_NOWAIT)) {
        errno = EAGAIN;
        return preadv2_ret = -1;
    }
    if (!real)
        real = (ssize_t (*)(int, const struct iovec *, int, off_t, int))dlsym(RTLD_NEXT, "preadv2");
    return preadv2_ret = real(fd, iov, cnt, off, flags);
}

/* A read submitted and reaped apart, as the base and result passes do:
 * always through the ring (upd_io_read may take upd_io_run's shortcut). */
static int ring_read(upd_io *io, void *buf, uint32_t len, uint64_t off)
{
    upd_io_req r = { buf, off, len, UPD_IO_READ };
    int rc = upd_io_submit(io, &r, 1);
    int rr = upd_io_reap(io);
    return rc ? rc : rr;
}

static upd_io *open_uring(unsigned flags, unsigned depth, uint32_t block)
{
    upd_io *io;
    upd_io_params p = { UPD_IO_URING, depth, block };
    int rc = upd_io_open_uring(&io, path, flags | UPD_IO_CREATE, &p);
    cr_assert_eq(rc, 0, "open: %s (%s)", upd_strerror(rc), strerror(errno));
    cr_assert_str_eq(upd_io_name(io), "uring");
    return io;
}

/* In a child with io_uring_setup failing with ERR: AUTO picks POSIX, an
 * explicit io_uring open fails with ERR kept in errno, and the POSIX handle
 * works.  Exit status 0 when all of that held. */
static int fallback_child(int err)
{
    if (deny_io_uring(err) < 0)
        return 10;
    if (upd_io_uring_probe() != UPD_E_IO_OPEN || errno != err)
        return 11;
    upd_io *io;
    if (upd_io_open_uring(&io, path, UPD_IO_CREATE, NULL) != UPD_E_IO_OPEN || errno != err)
        return 12;
    if (upd_io_open(&io, path, UPD_IO_CREATE | UPD_IO_DIRECT, NULL) != 0)
        return 13;
    int ok = !strcmp(upd_io_name(io), "posix") && upd_io_write(io, "abc", 3, 0) == 0
             && upd_io_flush(io) == 0;
    upd_io_close(io);
    return ok ? 0 : 14;
}

Test(io_uring, auto_falls_back, .description = "io_uring_setup refused (ENOSYS, EPERM, ENOMEM): auto runs POSIX")
{
    static const int errs[] = { ENOSYS, EPERM, ENOMEM };
    for (size_t i = 0; i < 3; i++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0)
            _exit(fallback_child(errs[i]));
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "errno %d: child status %d", errs[i],
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    /* and without the filter, auto takes io_uring */
    upd_io *io;
    cr_assert_eq(upd_io_open(&io, path, UPD_IO_CREATE, NULL), 0);
    cr_assert_str_eq(upd_io_name(io), "uring");
    upd_io_close(io);
}

/* Under a file size limit of LIMIT bytes (SIGXFSZ ignored), the kernel
 * writes short, then refuses with EFBIG.  One 1 MiB write in one piece: it
 * must not succeed, and the EFBIG (not a made-up EIO) shows the remainder
 * was resubmitted after the short completion.  O_DIRECT (aligned buffer,
 * offset and limit), so that the write goes through the ring: a buffered
 * handle writes on the caller's thread (the POSIX path). */
static int short_write_child(void)
{
    const size_t n = 1u << 20, limit = 73 * 4096;
    struct rlimit rl = { limit, limit };
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
        return 10;
    upd_io *io;
    upd_io_params p = { UPD_IO_URING, 4, 1u << 20 };
    if (upd_io_open_uring(&io, path, UPD_IO_CREATE | UPD_IO_TRUNC | UPD_IO_DIRECT, &p))
        return 11;
    uint8_t *b = upd_io_buf_alloc(io, n);
    memset(b, 0x5a, n);
    int rc = upd_io_write(io, b, n, 0);
    int e = upd_io_last_errno(io);
    upd_io_buf_free(io, b, n);
    upd_io_close(io);
    struct stat st;
    if (stat(path, &st) < 0)
        return 12;
    if (rc != UPD_E_IO_WRITE)
        return 13;
    if (e != EFBIG)
        return 14;
    return st.st_size == (off_t)limit ? 0 : 15;
}

Test(io_uring, short_write_resubmitted_then_fails, .description = "RLIMIT_FSIZE: a short write is resubmitted, EFBIG reported, never success")
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(short_write_child());
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d",
              WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

Test(io_uring, short_read_is_enodata, .description = "a read past the end: the short part is retried, then UPD_E_IO_READ (ENODATA)")
{
    upd_io *io = open_uring(UPD_IO_TRUNC, 0, 0);
    uint8_t b[8192];
    memset(b, 7, sizeof b);
    cr_assert_eq(upd_io_write(io, b, 1000, 0), 0);
    cr_assert_eq(ring_read(io, b, 4096, 0), UPD_E_IO_READ);
    cr_assert_eq(upd_io_last_errno(io), ENODATA);
    memset(b, 0, sizeof b);
    cr_assert_eq(ring_read(io, b, 1000, 0), 0);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(b[i], 7);
    upd_io_close(io);
}

/* /proc/self/mem reads and writes of an unmapped address fail with EIO in
 * the kernel's own I/O path (mem_rw), a real EIO without a failing disk. */
Test(io_uring, eio_from_the_kernel, .description = "EIO (unmapped /proc/self/mem page): reads and writes fail with UPD_E_IO_*, errno EIO")
{
    for (int be = 0; be < 2; be++) {
        upd_io *io;
        upd_io_params p = { be ? UPD_IO_URING : UPD_IO_POSIX, 0, 0 };
        cr_assert_eq(upd_io_open(&io, "/proc/self/mem", 0, &p), 0);
        cr_assert_str_eq(upd_io_name(io), be ? "uring" : "posix");
        uint8_t *b = upd_io_buf_alloc(io, 4096);
        /* page 0 is never mapped */
        cr_assert_eq(upd_io_read(io, b, 4096, 0), UPD_E_IO_READ, "%s", upd_io_name(io));
        cr_assert_eq(upd_io_last_errno(io), EIO, "%s: errno %d", upd_io_name(io),
                     upd_io_last_errno(io));
        cr_assert_eq(upd_io_write(io, b, 4096, 0), UPD_E_IO_WRITE);
        cr_assert_eq(upd_io_last_errno(io), EIO);
        /* a mapped address works through the same handle */
        static uint8_t mapped[4096] = { 42 };
        cr_assert_eq(upd_io_read(io, b, 16, (uint64_t)(uintptr_t)mapped), 0);
        cr_assert_eq(b[0], 42);
        upd_io_buf_free(io, b, 4096);
        upd_io_close(io);
    }
}

/* With UPD_IO_DIRECT and aligned writes, so that they go through the ring
 * (buffered writes run inside submit). */
Test(io_uring, flush_collects_unreaped_writes, .description = "flush waits for every write in flight and reports a failed one instead of syncing")
{
    upd_io *io = open_uring(UPD_IO_TRUNC | UPD_IO_DIRECT, 0, 0);
    uint8_t *b = upd_io_buf_alloc(io, 4096);
    memset(b, 1, 4096);
    upd_io_req r[2] = { { b, 0, 4096, UPD_IO_WRITE }, { b, 8192, 4096, UPD_IO_WRITE } };
    cr_assert_eq(upd_io_submit(io, r, 2), 0);
    cr_assert_eq(upd_io_flush(io), 0);     /* no reap: flush collected them */
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_size, 12288);
    upd_io_buf_free(io, b, 4096);
    upd_io_close(io);
    /* a write that fails in flight makes the barrier fail: page 1 is never
     * mapped, and aligned it takes the direct path */
    io = open_uring(UPD_IO_DIRECT, 0, 0);
    upd_io_req bad = { (void *)4096, 0, 4096, UPD_IO_WRITE };   /* EFAULT in the kernel */
    cr_assert_eq(upd_io_submit(io, &bad, 1), 0);
    cr_assert_eq(upd_io_flush(io), UPD_E_IO_FLUSH);
    cr_assert_eq(upd_io_last_errno(io), EFAULT);
    uint8_t one = 1;
    cr_assert_eq(upd_io_write(io, &one, 1, 0), UPD_E_STATE, "a failed flush is final");
    upd_io_close(io);
}

/* Both ways: buffered (writes on the caller's thread, reads through the
 * ring) and with O_DIRECT (the aligned middles of writes, and the reads,
 * through the ring). */
Test(io_uring, big_batches_and_order, .description = "a batch of 1000 pieces through a 4-entry ring; batches in flight keep their order")
{
    for (int direct = 0; direct < 2; direct++) {
        upd_io *io = open_uring(UPD_IO_TRUNC | (direct ? UPD_IO_DIRECT : 0), 4, 4096);
        size_t n = 1000 * 4096 + 123;
        uint8_t *a = upd_io_buf_alloc(io, n), *b = malloc(n);
        for (size_t i = 0; i < n; i++)
            a[i] = (uint8_t)(i * 31 + 7);
        cr_assert_eq(upd_io_write(io, a, n, 5), 0);
        cr_assert_eq(ring_read(io, b, (uint32_t)n, 5), 0);
        cr_assert(memcmp(a, b, n) == 0);
        /* memory congruent to the offset: with O_DIRECT the request is cut
         * at its first and last aligned offsets, the middle goes direct */
        for (size_t i = 0; i < n; i++)
            a[i] = (uint8_t)(i * 7 + 3);
        cr_assert_eq(upd_io_write(io, a + 100, n - 100, 100), 0);
        cr_assert_eq(ring_read(io, b, (uint32_t)(n - 100), 100), 0);
        cr_assert(memcmp(a + 100, b, n - 100) == 0);
        cr_assert_eq(ring_read(io, b, 95, 5), 0);
        for (size_t i = 0; i < 95; i++)
            cr_assert_eq(b[i], (uint8_t)(i * 31 + 7), "byte %zu before the write", i + 5);
        /* two overlapping writes in two batches without a reap between:
         * the second lands last */
        memset(a, 1, 1 << 20);
        memset(b, 2, 1 << 20);
        upd_io_req w1 = { a, 0, 1u << 20, UPD_IO_WRITE }, w2 = { b, 4096, 1u << 20, UPD_IO_WRITE };
        cr_assert_eq(upd_io_submit(io, &w1, 1), 0);
        cr_assert_eq(upd_io_submit(io, &w2, 1), 0);
        cr_assert_eq(upd_io_reap(io), 0);
        cr_assert_eq(ring_read(io, a, 8192, 0), 0);
        cr_assert(a[0] == 1 && a[4095] == 1 && a[4096] == 2 && a[8191] == 2, "direct %d", direct);
        upd_io_buf_free(io, a, n);
        free(b);
        upd_io_close(io);
    }
}

/* O_DIRECT writes of one batch that do not fill their blocks, beside
 * direct ones: many short writes share blocks, two fill a block between
 * them, one spans whole blocks (its middle goes direct, its ends through
 * the page cache), one is in memory not congruent to its offset (none of
 * it can go direct), one reaches past the end of the file (which grows to
 * the byte).  Every byte lands. */
Test(io_uring, direct_partial_blocks, .description = "O_DIRECT: one batch of unaligned writes beside direct middles")
{
    enum { LEN = 40000, GROWN = 40100 };
    upd_io *io = open_uring(UPD_IO_TRUNC | UPD_IO_DIRECT, 8, 4096);
    /* page-aligned: a request at SRC + OFF is congruent to OFF */
    uint8_t *want = upd_io_buf_alloc(io, GROWN), *src = upd_io_buf_alloc(io, GROWN);
    uint8_t *got = malloc(GROWN), *mis = malloc(GROWN + 1);
    cr_assert(want && got && src && mis);
    for (size_t i = 0; i < GROWN; i++) {
        want[i] = (uint8_t)(i * 13 + 5);
        src[i] = mis[i + 1] = (uint8_t)(i * 29 + 1);
    }
    cr_assert_eq(upd_io_write(io, want, LEN, 0), 0);
    upd_io_req rq[200];
    unsigned n = 0;
    for (uint64_t off = 3; off + 37 <= 8192; off += 50)     /* 37 of every 50 bytes */
        rq[n++] = (upd_io_req){ src + off, off, 37, UPD_IO_WRITE };
    rq[n++] = (upd_io_req){ src + 8192, 8192, 1808, UPD_IO_WRITE };
    rq[n++] = (upd_io_req){ src + 10000, 10000, 2288, UPD_IO_WRITE };
    rq[n++] = (upd_io_req){ mis + 1 + 12345, 12345, 10000, UPD_IO_WRITE };
    rq[n++] = (upd_io_req){ src + 24476, 24476, 36914 - 24476, UPD_IO_WRITE };
    rq[n++] = (upd_io_req){ src + 39000, 39000, GROWN - 39000, UPD_IO_WRITE };
    for (unsigned i = 0; i < n; i++)
        memcpy(want + rq[i].off, rq[i].buf, rq[i].len);
    cr_assert_eq(upd_io_submit(io, rq, n), 0);
    cr_assert_eq(upd_io_reap(io), 0);
    uint64_t size;
    cr_assert_eq(upd_io_size(io, &size), 0);
    cr_assert_eq(size, GROWN, "the block past the end is written to the byte");
    upd_io *p;
    cr_assert_eq(upd_io_open_posix(&p, path, UPD_IO_RDONLY), 0);
    cr_assert_eq(upd_io_read(p, got, GROWN, 0), 0);
    for (size_t i = 0; i < GROWN; i++)
        cr_assert_eq(got[i], want[i], "byte %zu", i);
    upd_io_close(p);
    upd_io_buf_free(io, want, GROWN);
    upd_io_buf_free(io, src, GROWN);
    upd_io_close(io);
    free(got);
    free(mis);
}

Test(io_uring, buffered_writes_after_reads_in_flight, .description = "buffered: a write batch runs after the reads in flight (they see the old bytes), its failure reported by submit")
{
    upd_io *io = open_uring(UPD_IO_TRUNC, 4, 4096);
    size_t n = 256 * 4096;
    uint8_t *old = malloc(n), *got = malloc(n), *nw = malloc(n);
    memset(old, 0x11, n);
    memset(nw, 0x22, n);
    cr_assert_eq(upd_io_write(io, old, n, 0), 0);
    /* 256 pieces through a 4-entry ring: most are still queued when the
     * writes come */
    upd_io_req rd = { got, 0, (uint32_t)n, UPD_IO_READ };
    upd_io_req wr[2] = { { nw, 0, (uint32_t)(n / 2), UPD_IO_WRITE },
                         { nw + n / 2, n / 2, (uint32_t)(n / 2), UPD_IO_WRITE } };
    cr_assert_eq(upd_io_submit(io, &rd, 1), 0);
    cr_assert_eq(upd_io_submit(io, wr, 2), 0);
    cr_assert_eq(upd_io_reap(io), 0);
    for (size_t i = 0; i < n; i += 4093)
        cr_assert_eq(got[i], 0x11, "byte %zu read after the write", i);
    cr_assert_eq(upd_io_read(io, got, n, 0), 0);
    cr_assert(memcmp(got, nw, n) == 0);
    /* EFAULT: the batch fails at once, named for the write */
    upd_io_req bad = { (void *)1, 0, 4096, UPD_IO_WRITE };
    cr_assert_eq(upd_io_submit(io, &bad, 1), UPD_E_IO_WRITE);
    cr_assert_eq(upd_io_last_errno(io), EFAULT);
    cr_assert_eq(upd_io_reap(io), UPD_E_IO_WRITE, "reported once more by the reap");
    cr_assert_eq(upd_io_write(io, nw, 10, 0), 0, "the handle still works");
    free(old);
    free(got);
    free(nw);
    upd_io_close(io);
}

Test(io_uring, run_lone_and_batched_reads, .description = "upd_io_run: a lone read (pread), reads beside reads in flight, batches from the page cache and, refused there, through the ring; EOF and EFAULT named")
{
    upd_io *io = open_uring(UPD_IO_TRUNC, 4, 4096);
    size_t n = 64 * 4096;
    uint8_t *img = malloc(n), *got = malloc(n), one[5000];
    for (size_t i = 0; i < n; i++)
        img[i] = (uint8_t)(i * 7 + i / 4096);
    cr_assert_eq(upd_io_write(io, img, n, 0), 0);
    upd_io_stats st0, st1;
    upd_io_get_stats(io, &st0);
    upd_io_req lone = { one, 12345, sizeof one, UPD_IO_READ };
    cr_assert_eq(upd_io_run(io, &lone, 1), 0);
    cr_assert(memcmp(one, img + 12345, sizeof one) == 0);
    upd_io_get_stats(io, &st1);
    cr_assert_eq(st1.batches - st0.batches, 1);
    cr_assert_eq(st1.bytes_read - st0.bytes_read, sizeof one);
    /* beside 64 pieces still in flight through a 4-entry ring */
    upd_io_req all = { got, 0, (uint32_t)n, UPD_IO_READ };
    cr_assert_eq(upd_io_submit(io, &all, 1), 0);
    memset(one, 0, sizeof one);
    cr_assert_eq(upd_io_run(io, &lone, 1), 0);
    cr_assert(memcmp(one, img + 12345, sizeof one) == 0);
    cr_assert(memcmp(got, img, n) == 0, "the reads in flight completed too");
    cr_assert_eq(upd_io_reap(io), 0);
    upd_io_req two[2] = { { got, 4096, 8192, UPD_IO_READ }, { one, n - 100, 100, UPD_IO_READ } };
    memset(got, 0, n);
    cr_assert_eq(upd_io_run(io, two, 2), 0);
    cr_assert(memcmp(got, img + 4096, 8192) == 0 && memcmp(one, img + n - 100, 100) == 0);
    upd_io_req past = { one, n - 10, 20, UPD_IO_READ };
    cr_assert_eq(upd_io_run(io, &past, 1), UPD_E_IO_READ);
    cr_assert_eq(upd_io_last_errno(io), ENODATA);
    upd_io_req past2[2] = { { got, 0, 100, UPD_IO_READ }, { one, n - 10, 20, UPD_IO_READ } };
    cr_assert_eq(upd_io_run(io, past2, 2), UPD_E_IO_READ);
    cr_assert_eq(upd_io_last_errno(io), ENODATA);
    /* each read of a batch tries the page cache once: two calls for two
     * reads, none for a lone one */
    unsigned c0 = preadv2_calls;
    cr_assert_eq(upd_io_run(io, two, 2), 0);
    cr_assert_eq(preadv2_calls, c0 + 2);
    upd_io_req small = { one, 100, 4000, UPD_IO_READ };
    cr_assert_eq(upd_io_run(io, &small, 1), 0);
    cr_assert_eq(preadv2_calls, c0 + 2, "a lone read of one block at most is a plain pread");
    cr_assert(memcmp(one, img + 100, 4000) == 0);
    cr_assert_eq(upd_io_run(io, &lone, 1), 0);
    cr_assert_eq(preadv2_calls, c0 + 3, "a longer one (5000 bytes, 4096-byte blocks) tries the cache");
    /* reads near each other, up or down the file: one attempt a run */
    upd_io_req many[100];
    const unsigned per_run = (UPD_IO_IOV + 1) / 2;    /* a read and a hole each */
    for (int down = 0; down < 2; down++) {
        memset(got, 0, n);
        for (unsigned i = 0; i < 100; i++) {
            unsigned at = down ? 99 - i : i;
            many[i] = (upd_io_req){ got + at * 2000, (uint64_t)at * 2600, 2000, UPD_IO_READ };
        }
        c0 = preadv2_calls;
        cr_assert_eq(upd_io_run(io, many, 100), 0);
        cr_assert_eq(preadv2_calls, c0 + (100 + per_run - 1) / per_run, "down %d", down);
        for (unsigned i = 0; i < 100; i++)
            cr_assert(memcmp(got + i * 2000, img + i * 2600, 2000) == 0, "read %u", i);
    }
    /* a run cut short by the end of the file: its first read stands, the
     * second is tried alone, then fails through the ring (where the file
     * system takes RWF_NOWAIT and the bytes are cached, as here, once
     * written: else the run goes to the ring whole) */
    upd_io_req cut[2] = { { got, n - 300, 100, UPD_IO_READ }, { one, n - 150, 200, UPD_IO_READ } };
    upd_io_req tail = { got, n - 5000, 5000, UPD_IO_READ };   /* > a block: tries the cache */
    c0 = preadv2_calls;
    cr_assert_eq(upd_io_run(io, &tail, 1), 0);
    int cached = preadv2_calls == c0 + 1 && preadv2_ret == 5000;
    memset(got, 0, 100);
    c0 = preadv2_calls;
    cr_assert_eq(upd_io_run(io, cut, 2), UPD_E_IO_READ);
    cr_assert_eq(upd_io_last_errno(io), ENODATA);
    cr_assert_eq(preadv2_calls, c0 + (cached ? 3 : 1),
                 "cached: the run, the second read's cached part, its end; else the run");
    cr_assert(memcmp(got, img + n - 300, 100) == 0);
    /* every attempt refused (bytes not cached): 100 reads, more than the
     * ring holds, all through the ring in one submission, each run tried
     * once */
    refuse_nowait = 1;
    memset(got, 0, n);
    for (unsigned i = 0; i < 100; i++)
        many[i] = (upd_io_req){ got + i * 2000, (uint64_t)i * 2600, 2000, UPD_IO_READ };
    c0 = preadv2_calls;
    cr_assert_eq(upd_io_run(io, many, 100), 0);
    cr_assert_eq(preadv2_calls, c0 + (100 + per_run - 1) / per_run);
    for (unsigned i = 0; i < 100; i++)
        cr_assert(memcmp(got + i * 2000, img + i * 2600, 2000) == 0, "read %u", i);
    upd_io_req far = { one, n - 100, 200, UPD_IO_READ };
    cr_assert_eq(upd_io_run(io, (upd_io_req[2]){ two[0], far }, 2), UPD_E_IO_READ,
                 "end of file met through the ring");
    cr_assert_eq(upd_io_last_errno(io), ENODATA);
    refuse_nowait = 0;
    upd_io_req fault = { (void *)1, 0, 4096, UPD_IO_READ };
    cr_assert_eq(upd_io_run(io, &fault, 1), UPD_E_IO_READ);
    cr_assert_eq(upd_io_last_errno(io), EFAULT);
    cr_assert_eq(upd_io_reap(io), 0, "each failure was reported once, by its run");
    cr_assert_eq(upd_io_run(io, &lone, 1), 0, "the handle still works");
    free(img);
    free(got);
    upd_io_close(io);
}

static int open_small_ring(upd_io **io, const char *p)
{
    upd_io_params prm = { UPD_IO_URING, 4, 4096 };
    return upd_io_open_uring(io, p, 0, &prm);
}

Test(io_uring, batches_match_a_model, .timeout = 120,
     .description = "300 rounds of random write and read batches (runs up and down, holes, empty requests, reads past the end) through a 4-entry ring with 4 KiB blocks agree with a model of the file")
{
    char why[160];
    cr_assert_eq(io_model_rounds(open_small_ring, path, 300, 0xfeed, why, sizeof why), 0, "%s",
                 why);
}

/* The outcome of the ring's writeback starts (the --wrap in
 * tests/CMakeLists.txt routes io_uring.c's calls here): RING_WB_FAIL, when
 * set, instead of the kernel's. */
static int ring_wb_fail;
void __real_upd_io_wb_result(upd_io_wb *wb, int neg);
void __wrap_upd_io_wb_result(upd_io_wb *wb, int neg);
void __wrap_upd_io_wb_result(upd_io_wb *wb, int neg)
{
    __real_upd_io_wb_result(wb, ring_wb_fail ? ring_wb_fail : neg);
}

/* SQEs the kernel has taken from this process's rings: fdinfo's SqHead,
 * summed over every io_uring descriptor. */
static unsigned long ring_sqes(void)
{
    unsigned long sum = 0;
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        char p[300], link[64] = "", line[128];
        snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(p, link, sizeof link - 1);
        if (n <= 0 || strcmp(link, "anon_inode:[io_uring]"))
            continue;
        snprintf(p, sizeof p, "/proc/self/fdinfo/%s", e->d_name);
        FILE *f = fopen(p, "r");
        cr_assert_not_null(f);
        int found = 0;
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "SqHead:", 7)) {
                sum += strtoul(line + 7, NULL, 10);
                found = 1;
            }
        fclose(f);
        cr_assert(found, "%s has no SqHead line", p);
    }
    closedir(d);
    return sum;
}

Test(io_uring, early_writeback_buffered_only, .description = "buffered handle, once flushed: 256 KiB of writes start their writeback, a flush restarts the count; upd_io_writeback starts it all in the ring (the call while a start is uncollected), the flush collects it; an O_DIRECT handle never")
{
    static uint8_t b[300 << 10];
    memset(b, 0x33, sizeof b);
    upd_io *io = open_uring(UPD_IO_TRUNC, 0, 0);
    unsigned c0 = wb_calls;
    cr_assert_eq(upd_io_write(io, b, sizeof b, 0), 0);
    cr_assert_eq(wb_calls, c0, "never flushed: left alone");
    cr_assert_eq(upd_io_flush(io), 0);
    cr_assert_eq(upd_io_write(io, b, 200 << 10, 0), 0);
    cr_assert_eq(upd_io_flush(io), 0);
    cr_assert_eq(upd_io_write(io, b, 200 << 10, 8192), 0);
    cr_assert_eq(wb_calls, c0, "the flush took the first 200 KiB");
    cr_assert_eq(upd_io_write(io, b, 100 << 10, 0), 0);
    cr_assert_eq(wb_calls, c0 + 1);
    cr_assert_eq(wb_log[c0 % WB_LOG_MAX].off, 0);
    cr_assert_eq(wb_log[c0 % WB_LOG_MAX].len, 8192 + (200 << 10));
    cr_assert_eq(wb_log[c0 % WB_LOG_MAX].flags, SYNC_FILE_RANGE_WRITE);
    unsigned long s0 = ring_sqes();
    upd_io_writeback(io);
    cr_assert_eq(wb_calls, c0 + 1, "upd_io_writeback makes no system call on this thread ...");
    cr_assert_eq(ring_sqes(), s0 + 1, "... it starts the whole file's writeback in the ring");
    upd_io_writeback(io);
    cr_assert_eq(wb_calls, c0 + 2, "with that start not yet collected: the call");
    cr_assert(wb_log[(c0 + 1) % WB_LOG_MAX].off == 0 && wb_log[(c0 + 1) % WB_LOG_MAX].len == 0);
    cr_assert_eq(upd_io_flush(io), 0, "the flush collects the start's outcome");
    upd_io_writeback(io);
    cr_assert_eq(ring_sqes(), s0 + 3, "in the ring again once collected (the fsync went between)");
    wb_fail = EIO;
    upd_io_writeback(io);
    wb_fail = 0;
    cr_assert_eq(upd_io_flush(io), UPD_E_IO_FLUSH, "a failed call fails the flush, the ring's "
                 "start collected beside it");
    upd_io_close(io);
    io = open_uring(UPD_IO_DIRECT, 0, 0);
    cr_assert_eq(upd_io_flush(io), 0);
    char d[256];
    upd_io_describe(io, d, sizeof d);
    int direct = strstr(d, "O_DIRECT when") != NULL;   /* the file system can */
    void *al = upd_io_buf_alloc(io, sizeof b);
    cr_assert_not_null(al);
    memset(al, 0x44, sizeof b);
    c0 = wb_calls;
    for (int i = 0; i < 4; i++)
        cr_assert_eq(upd_io_write(io, al, sizeof b, (uint64_t)i * sizeof b), 0);
    cr_assert_eq(wb_calls, direct ? c0 : c0 + 4,
                 "O_DIRECT writes leave no page cache to start (%s)", d);
    upd_io_buf_free(io, al, sizeof b);
    upd_io_close(io);
}

Test(io_uring, ring_writeback_outcome, .description = "a writeback start the ring failed fails the very next flush (collected before its fsync), for good; an unsupported one stops the starts, and no flush fails for it")
{
    static uint8_t b[64 << 10];
    for (int unsupported = 0; unsupported < 2; unsupported++) {
        upd_io *io = open_uring(UPD_IO_TRUNC, 0, 0);
        cr_assert_eq(upd_io_write(io, b, sizeof b, 0), 0);
        ring_wb_fail = unsupported ? -EINVAL : -EIO;
        unsigned long s0 = ring_sqes();
        unsigned c0 = wb_calls;
        upd_io_writeback(io);
        cr_assert_eq(ring_sqes(), s0 + 1, "started in the ring");
        int rc = upd_io_flush(io);
        ring_wb_fail = 0;
        if (!unsupported) {
            cr_assert_eq(rc, UPD_E_IO_FLUSH, "the flush right after it fails");
            cr_assert_eq(upd_io_last_errno(io), EIO);
            cr_assert_eq(upd_io_write(io, b, 1, 0), UPD_E_STATE, "for good");
        } else {
            cr_assert_eq(rc, 0, "unsupported is no failure");
            cr_assert_eq(upd_io_write(io, b, sizeof b, 0), 0);
            s0 = ring_sqes();
            upd_io_writeback(io);
            cr_assert(ring_sqes() == s0 && wb_calls == c0, "and no start is made again");
            cr_assert_eq(upd_io_flush(io), 0);
        }
        upd_io_close(io);
    }
}

Test(io_uring, registered_buffers, .description = "buf_alloc buffers are page-aligned and registered; others still work")
{
    upd_io *io = open_uring(UPD_IO_TRUNC | UPD_IO_DIRECT, 0, 0);
    char d[256];
    upd_io_describe(io, d, sizeof d);
    cr_assert(strstr(d, "0 registered buffers"), "%s", d);
    uint8_t *x = upd_io_buf_alloc(io, 100000), *y = upd_io_buf_alloc(io, 5);
    cr_assert(x && y && (uintptr_t)x % 4096 == 0 && (uintptr_t)y % 4096 == 0);
    upd_io_describe(io, d, sizeof d);
    cr_assert(strstr(d, "2 registered buffers"), "%s", d);
    cr_assert(strstr(d, "O_DIRECT when"), "ext4/xfs/tmpfs report a direct I/O alignment: %s", d);
    memset(x, 9, 100000);
    cr_assert_eq(upd_io_write(io, x, 98304, 4096), 0);       /* aligned: direct */
    cr_assert_eq(upd_io_write(io, x + 1, 1000, 3), 0);       /* unaligned: buffered */
    uint8_t plain[2000];
    cr_assert_eq(upd_io_read(io, plain, 2000, 0), 0);         /* unregistered memory */
    cr_assert_eq(plain[3], 9);
    cr_assert_eq(plain[1500], 0);
    cr_assert_eq(plain[1999], 0);
    upd_io_buf_free(io, x, 100000);
    upd_io_describe(io, d, sizeof d);
    cr_assert(strstr(d, "1 registered buffers"), "%s", d);
    upd_io_buf_free(io, y, 5);
    upd_io_close(io);
}

Test(io_uring, bad_arguments, .description = "invalid flags, depths and blocks are refused; read-only refuses writes")
{
    upd_io *io;
    upd_io_params p = { UPD_IO_URING, 5000, 0 };
    cr_assert_eq(upd_io_open_uring(&io, path, UPD_IO_CREATE, &p), UPD_E_INVAL);
    p = (upd_io_params){ UPD_IO_URING, 0, 1000 };
    cr_assert_eq(upd_io_open_uring(&io, path, UPD_IO_CREATE, &p), UPD_E_INVAL);
    cr_assert_eq(upd_io_open_uring(&io, path, 0x100, NULL), UPD_E_INVAL);
    cr_assert_eq(upd_io_open_uring(&io, dir, 0, NULL), UPD_E_IO_OPEN);
    cr_assert_eq(errno, EISDIR);
    p = (upd_io_params){ UPD_IO_POSIX, 0, 0 };
    cr_assert_eq(upd_io_open(&io, path, UPD_IO_CREATE | UPD_IO_DIRECT, &p), UPD_E_INVAL);
    io = open_uring(0, 0, 0);
    upd_io_close(io);
    cr_assert_eq(upd_io_open_uring(&io, path, UPD_IO_RDONLY, NULL), 0);
    cr_assert_eq(upd_io_write(io, "x", 1, 0), UPD_E_IO_WRITE);
    cr_assert_eq(upd_io_last_errno(io), EBADF);
    cr_assert_eq(upd_io_flush(io), 0);
    upd_io_close(io);
}
