#define _DEFAULT_SOURCE
/* Engine internals with their own contracts: the range set (against a
 * brute-force bitmap) and the I/O layer (posix and memory backends). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "../engine/common/rangeset.h"

#define SPACE 5000

Test(rangeset, matches_bitmap, .description = "random adds and queries agree with a bitmap")
{
    uint64_t seed = 7;
    for (int round = 0; round < 20; round++) {
        upd_rangeset s;
        upd_rangeset_init(&s, 100000);
        uint8_t bits[SPACE] = { 0 };
        for (int i = 0; i < 400; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t lo = (seed >> 33) % SPACE, len = 1 + (seed >> 20) % 64;
            if (lo + len > SPACE)
                len = SPACE - lo;
            cr_assert_eq(upd_rangeset_add(&s, lo, lo + len), 0);
            memset(bits + lo, 1, len);
            uint64_t qlo = (seed >> 7) % SPACE, qlen = 1 + (seed >> 45) % 100;
            if (qlo + qlen > SPACE)
                qlen = SPACE - qlo;
            int any = 0, all = 1;
            for (uint64_t k = qlo; k < qlo + qlen; k++) {
                any |= bits[k];
                all &= bits[k];
            }
            cr_assert_eq(!!upd_rangeset_intersects(&s, qlo, qlo + qlen), any, "round %d i %d", round, i);
            cr_assert_eq(!!upd_rangeset_covers(&s, qlo, qlo + qlen), all, "round %d i %d", round, i);
        }
        /* the set holds exactly the maximal runs of the bitmap */
        uint32_t runs = 0;
        for (int k = 0; k < SPACE; k++)
            runs += bits[k] && (k == 0 || !bits[k - 1]);
        cr_assert_eq(s.count, runs);
        upd_rangeset_free(&s);
    }
}

Test(rangeset, cap_is_enforced, .description = "more disjoint ranges than the cap: UPD_E_LIMIT")
{
    upd_rangeset s;
    upd_rangeset_init(&s, 10);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(upd_rangeset_add(&s, (uint64_t)i * 10, (uint64_t)i * 10 + 5), 0);
    cr_assert_eq(upd_rangeset_add(&s, 1000, 1001), UPD_E_LIMIT);
    cr_assert_eq(upd_rangeset_add(&s, 5, 10), 0, "a merge needs no new node");
    upd_rangeset_free(&s);
}

Test(io, posix_file, .description = "posix backend: write, read, resize, flush, end-of-file")
{
    char path[] = "/tmp/upd-io-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    upd_io *io;
    cr_assert_eq(upd_io_open_posix(&io, path, 0), 0);
    cr_assert_str_eq(upd_io_name(io), "posix");
    cr_assert_eq(upd_io_flags(io) & UPD_IO_FIXED_SIZE, 0);
    cr_assert_eq(upd_io_write(io, "hello world", 11, 100), 0);
    uint64_t sz;
    cr_assert_eq(upd_io_size(io, &sz), 0);
    cr_assert_eq(sz, 111);
    char buf[16] = { 0 };
    cr_assert_eq(upd_io_read(io, buf, 5, 106), 0);
    cr_assert_str_eq(buf, "world");
    cr_assert_eq(upd_io_read(io, buf, 10, 105), UPD_E_IO_READ, "read past the end");
    cr_assert_eq(upd_io_last_errno(io), ENODATA);
    cr_assert_eq(upd_io_flush(io), 0);
    cr_assert_eq(upd_io_resize(io, 50), 0);
    cr_assert_eq(upd_io_size(io, &sz), 0);
    cr_assert_eq(sz, 50);
    upd_io_stats st;
    upd_io_get_stats(io, &st);
    cr_assert_eq(st.bytes_written, 11);
    cr_assert_eq(st.flushes, 1);
    upd_io_close(io);
    cr_assert_eq(upd_io_open_posix(&io, path, UPD_IO_RDONLY), 0);
    cr_assert_eq(upd_io_write(io, "x", 1, 0), UPD_E_IO_WRITE, "read-only handle");
    upd_io_close(io);
    unlink(path);
    cr_assert_eq(upd_io_open_posix(&io, "/nonexistent/dir/file", 0), UPD_E_IO_OPEN);
    cr_assert_eq(upd_io_open_posix(&io, "/tmp", 0), UPD_E_IO_OPEN, "a directory is not an image");
}

Test(io, mem_backend, .description = "memory backend honours its capacity")
{
    upd_io *io;
    cr_assert_eq(upd_io_open_mem(&io, "abc", 3, 8), 0);
    cr_assert_eq(upd_io_resize(io, 8), 0);
    cr_assert_eq(upd_io_resize(io, 9), UPD_E_IO_RESIZE);
    cr_assert_eq(upd_io_write(io, "xy", 2, 7), UPD_E_IO_WRITE, "write past the end");
    const uint8_t *d;
    size_t n;
    cr_assert_eq(upd_io_mem_view(io, &d, &n), 0);
    cr_assert_eq(n, 8);
    cr_assert_eq(memcmp(d, "abc\0\0\0\0\0", 8), 0);
    upd_io_close(io);
    cr_assert_eq(upd_io_open_mem(&io, "abc", 3, 2), UPD_E_INVAL);
}

/* A backend whose flush fails once: the handle must refuse every later
 * write (never retry an fsync and trust the data). */
static int ff_submit(void *c, const upd_io_req *r, unsigned n) { (void)c; (void)r; (void)n; return 0; }
static int ff_reap(void *c) { (void)c; return 0; }
static int ff_flush(void *c) { (void)c; return -EIO; }
static int ff_size(void *c, uint64_t *s) { (void)c; *s = 1 << 20; return 0; }
static int ff_resize(void *c, uint64_t s) { (void)c; (void)s; return 0; }
static const upd_io_methods failing_flush = { "ff", 0, ff_submit, ff_reap, ff_flush, ff_size,
                                              ff_resize, NULL };

Test(io, failed_flush_is_final, .description = "after a failed flush no write is accepted")
{
    upd_io *io;
    cr_assert_eq(upd_io_create(&io, &failing_flush, NULL), 0);
    cr_assert_eq(upd_io_write(io, "a", 1, 0), 0);
    cr_assert_eq(upd_io_flush(io), UPD_E_IO_FLUSH);
    cr_assert_eq(upd_io_last_errno(io), EIO);
    cr_assert_eq(upd_io_write(io, "a", 1, 0), UPD_E_STATE);
    cr_assert_eq(upd_io_flush(io), UPD_E_IO_FLUSH);
    upd_io_close(io);
}

/* Fixed-size (block-device-like) target: the applier must check capacity
 * instead of resizing, and leave bytes past the image alone. */
static int fx_size(void *c, uint64_t *s) { (void)c; *s = 3u << 20; return 0; }
static int fx_resize(void *c, uint64_t s) { (void)c; return s <= (3u << 20) ? 0 : -ENOSPC; }
static upd_io *fx_inner;
static int fx_submit(void *c, const upd_io_req *r, unsigned n)
{
    (void)c;
    for (unsigned i = 0; i < n; i++) {
        int rc = r[i].op == UPD_IO_READ ? upd_io_read(fx_inner, r[i].buf, r[i].len, r[i].off)
                                        : upd_io_write(fx_inner, r[i].buf, r[i].len, r[i].off);
        if (rc)
            return -EIO;
    }
    return 0;
}
static const upd_io_methods fixed = { "fixed", UPD_IO_FIXED_SIZE, fx_submit, ff_reap, ff_reap,
                                      fx_size, fx_resize, NULL };

Test(io, fixed_size_target, .description = "apply onto a fixed-size device: grow and shrink within capacity")
{
    static const char *const kinds[] = { "grow", "shrink", "transpose" };
    for (int k = 0; k < 3; k++) {
        synth_pair sp;
        cr_assert_eq(synth_make(kinds[k], 3, 1 << 20, &sp), 0);
        buf_t pkg;
        cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, NULL, &pkg), 0);
        uint8_t *dev = malloc(3u << 20);
        memset(dev, 0xee, 3u << 20);      /* junk past the image, as on a real device */
        memcpy(dev, sp.old_img, sp.old_len);
        cr_assert_eq(upd_io_open_mem(&fx_inner, dev, 3u << 20, 3u << 20), 0);
        upd_io *t;
        cr_assert_eq(upd_io_create(&t, &fixed, NULL), 0);
        upd_apply_params ap = { .target = t, .flags = UPD_APPLY_INSECURE };
        int rc = apply_io(&ap, pkg.p, pkg.n, 0, NULL);
        cr_assert_eq(rc, 0, "%s: %s", kinds[k], upd_errname(rc));
        const uint8_t *d;
        size_t n;
        upd_io_mem_view(fx_inner, &d, &n);
        cr_assert_eq(memcmp(d, sp.new_img, sp.new_len), 0, "%s", kinds[k]);
        upd_io_close(t);
        upd_io_close(fx_inner);
        free(dev);
        buf_free(&pkg);
        synth_free(&sp);
    }
}
