/* The simulated crashing device (iosim.h): durability only after a flush,
 * crash images under every tear mode, determinism by seed, a power domain
 * shared by two devices, injected EIO, and the applier running on it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <updelta/iosim.h>

#include "helpers.h"

#define SEEDS 48
#define SECTOR 512u

static const upd_sim_mode all_modes[] = { UPD_SIM_DROP_ALL, UPD_SIM_KEEP_ALL,
                                          UPD_SIM_RANDOM_SUBSET, UPD_SIM_TORN_ZERO,
                                          UPD_SIM_TORN_GARBAGE, UPD_SIM_REORDER };
#define NMODES (sizeof all_modes / sizeof all_modes[0])

/* Bytes that are never zero and differ between the two patterns at every
 * offset, so a sector's content names its origin. */
static void pattern(uint8_t *p, size_t n, uint8_t base)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(base + i % 61);
}

static upd_sim_power *power_new(void)
{
    upd_sim_power *p;
    cr_assert_eq(upd_sim_power_create(&p), 0);
    return p;
}

static upd_io *dev_new(upd_sim_power *p, const void *data, size_t len, size_t cap)
{
    upd_io *io;
    cr_assert_eq(upd_io_open_sim(&io, p, data, len, cap, SECTOR), 0);
    cr_assert_str_eq(upd_io_name(io), "sim");
    return io;
}

/* A fresh domain *P and a device holding OLD[0..LEN), which it first
 * fills with pattern 1. */
static upd_io *patterned_dev(upd_sim_power **p, uint8_t *old, size_t len, size_t cap)
{
    pattern(old, len, 1);
    *p = power_new();
    return dev_new(*p, old, len, cap);
}

/* The crash image of IO under MODE/SEED, copied into *OUT. */
static void crash_bytes(const upd_io *io, upd_sim_mode mode, uint64_t seed, buf_t *out)
{
    upd_io *img;
    cr_assert_eq(upd_sim_crash_image(io, mode, seed, &img), 0, "mode %d seed %llu", mode,
                 (unsigned long long)seed);
    const uint8_t *d;
    size_t n;
    cr_assert_eq(upd_io_mem_view(img, &d, &n), 0);
    memset(out, 0, sizeof *out);
    cr_assert_eq(buf_sink(out, d, n), 0);
    upd_io_close(img);
}

static int bytes_eq(const buf_t *b, const uint8_t *want, size_t n)
{
    return b->n == n && (n == 0 || memcmp(b->p, want, n) == 0);
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

enum { S_OLD, S_NEW, S_ZERO, S_GARBAGE, S_BAD, S_KINDS };

/* Classify each sector of crash image R after one unflushed write of
 * W[0..WLEN) at WOFF over durable image OLD[0..LEN): a sector the write
 * does not touch must be old (else S_BAD); a touched one is old, new (its
 * part of the write new, the rest old), zero or garbage (neither, whole).
 * COUNT[k] gets the number of sectors of kind k. */
static void classify(const buf_t *r, const uint8_t *old, size_t len, const uint8_t *w,
                     size_t woff, size_t wlen, unsigned count[S_KINDS])
{
    cr_assert_eq(r->n, len, "a write never changes the length");
    memset(count, 0, S_KINDS * sizeof count[0]);
    for (size_t s = 0; s < len; s += SECTOR) {
        const size_t end = s + SECTOR < len ? s + SECTOR : len;
        const size_t lo = woff > s ? woff : s, hi = woff + wlen < end ? woff + wlen : end;
        const uint8_t *got = r->p + s;
        int kind;
        if (memcmp(got, old + s, end - s) == 0)
            kind = S_OLD;
        else if (lo >= hi)
            kind = S_BAD;
        else if (memcmp(got, old + s, lo - s) == 0 && memcmp(r->p + lo, w + (lo - woff), hi - lo) == 0
                 && memcmp(r->p + hi, old + hi, end - hi) == 0)
            kind = S_NEW;
        else if (all_zero(got, end - s))
            kind = S_ZERO;
        else
            kind = S_GARBAGE;
        count[kind]++;
    }
}

/* Fixture for the tear tests: a 16 KiB flushed image and one unflushed,
 * unaligned 5000-byte write across 11 sectors. */
#define T_LEN   (16u << 10)
#define T_WOFF  700u
#define T_WLEN  5000u
#define T_SECTORS ((T_WOFF + T_WLEN + SECTOR - 1) / SECTOR - T_WOFF / SECTOR)

typedef struct {
    upd_sim_power *p;
    upd_io *io;
    uint8_t old[T_LEN], w[T_WLEN];
} tear_fix;

static void tear_setup(tear_fix *f)
{
    pattern(f->old, T_LEN, 1);
    pattern(f->w, T_WLEN, 101);
    f->p = power_new();
    f->io = dev_new(f->p, f->old, T_LEN, T_LEN);
    cr_assert_eq(upd_io_write(f->io, f->w, T_WLEN, T_WOFF), 0);
    upd_sim_power_cut(f->p);
}

static void tear_teardown(tear_fix *f)
{
    upd_io_close(f->io);
    upd_sim_power_free(f->p);
}

/* Over SEEDS seeds of MODE: no sector the write does not touch changes,
 * no sector is of a kind in FORBID (bit mask of S_*), some sector of each
 * kind in REQUIRE occurs, some image drops the write and some keeps it
 * whole.  Returns how many images tore it (old and other sectors mixed). */
static unsigned tear_survey(tear_fix *f, upd_sim_mode mode, unsigned forbid, unsigned require)
{
    const unsigned sectors = T_LEN / SECTOR, untouched = sectors - T_SECTORS;
    unsigned seen = 0, n_old = 0, n_new = 0, n_mixed = 0;
    for (uint64_t seed = 0; seed < SEEDS; seed++) {
        buf_t r;
        unsigned c[S_KINDS];
        crash_bytes(f->io, mode, seed, &r);
        classify(&r, f->old, T_LEN, f->w, T_WOFF, T_WLEN, c);
        buf_free(&r);
        for (int k = 0; k < S_KINDS; k++)
            seen |= c[k] ? 1u << k : 0;
        cr_assert_eq(c[S_BAD], 0, "mode %d seed %llu: a sector the write does not touch changed",
                     mode, (unsigned long long)seed);
        cr_assert_eq(seen & forbid, 0, "mode %d seed %llu: a sector of a forbidden kind (%#x)", mode,
                     (unsigned long long)seed, seen & forbid);
        n_old += c[S_OLD] == sectors;
        n_new += c[S_NEW] == T_SECTORS && c[S_OLD] == untouched;
        n_mixed += c[S_OLD] > untouched && c[S_OLD] < sectors;
    }
    cr_assert_eq(seen & require, require, "mode %d: kinds %#x never seen", mode, require & ~seen);
    cr_assert_gt(n_old, 0, "mode %d: some seed must drop the unflushed write", mode);
    cr_assert_gt(n_new, 0, "mode %d: some seed must keep it whole", mode);
    return n_mixed;
}

Test(io_sim, reads_see_unflushed, .description = "reads and size see unflushed writes; a flush makes them durable")
{
    uint8_t old[4096], w[1000], got[1000];
    pattern(w, sizeof w, 101);
    upd_sim_power *p;
    upd_io *io = patterned_dev(&p, old, sizeof old, 8192);
    cr_assert_eq(upd_io_write(io, w, sizeof w, 100), 0);
    cr_assert_eq(upd_io_read(io, got, sizeof got, 100), 0);
    cr_assert_eq(memcmp(got, w, sizeof w), 0, "the volatile view holds the write");
    cr_assert_eq(upd_io_resize(io, 6000), 0);
    uint64_t sz;
    cr_assert_eq(upd_io_size(io, &sz), 0);
    cr_assert_eq(sz, 6000);
    cr_assert_eq(upd_io_read(io, got, 10, 5995), UPD_E_IO_READ, "read past the end");
    cr_assert_eq(upd_io_last_errno(io), ENODATA);
    cr_assert_eq(upd_io_write(io, w, 10, 5995), UPD_E_IO_WRITE, "write past the end");

    buf_t r;
    crash_bytes(io, UPD_SIM_DROP_ALL, 0, &r);
    cr_assert(bytes_eq(&r, old, sizeof old), "nothing flushed yet: DROP_ALL is the initial image");
    buf_free(&r);
    upd_sim_stats st;
    cr_assert_eq(upd_sim_get_stats(io, &st), 0);
    cr_assert_eq(st.pending_entries, 2);
    cr_assert_eq(st.pending_bytes, sizeof w);
    cr_assert_eq(st.durable_len, sizeof old);
    cr_assert_eq(st.volatile_len, 6000);

    cr_assert_eq(upd_io_flush(io), 0);
    uint8_t want[6000] = { 0 };
    memcpy(want, old, sizeof old);
    memcpy(want + 100, w, sizeof w);
    crash_bytes(io, UPD_SIM_DROP_ALL, 0, &r);
    cr_assert(bytes_eq(&r, want, sizeof want), "flushed: DROP_ALL holds the write and the growth");
    buf_free(&r);
    cr_assert_eq(upd_sim_get_stats(io, &st), 0);
    cr_assert_eq(st.pending_entries, 0);
    cr_assert_eq(st.durable_len, 6000);
    cr_assert_eq(st.writes, 2, "the failed write past the end reached the device");
    cr_assert_eq(st.reads, 2);
    cr_assert_eq(st.flushes, 1);
    cr_assert_eq(st.resizes, 1);
    upd_io_close(io);
    upd_sim_power_free(p);
}

Test(io_sim, flushed_survives_every_mode, .description = "flushed bytes and length survive every mode and seed; only touched sectors may change")
{
    enum { LEN = 16384 };
    uint8_t old[LEN], a[3000], b[2000], flushed[LEN];
    pattern(a, sizeof a, 101);
    pattern(b, sizeof b, 181);
    upd_sim_power *p;
    upd_io *io = patterned_dev(&p, old, LEN, 2 * LEN);
    cr_assert_eq(upd_io_write(io, a, sizeof a, 1000), 0);
    cr_assert_eq(upd_io_flush(io), 0);
    memcpy(flushed, old, LEN);
    memcpy(flushed + 1000, a, sizeof a);
    /* unflushed: B overwrites the tail of A; a write at 12000 */
    cr_assert_eq(upd_io_write(io, b, sizeof b, 3500), 0);
    cr_assert_eq(upd_io_write(io, b, 100, 12000), 0);
    upd_sim_power_cut(p);
    /* sectors the unflushed writes touch: [3072, 5632) and [11776, 12288) */
    for (size_t m = 0; m < NMODES; m++)
        for (uint64_t seed = 0; seed < SEEDS; seed++) {
            buf_t r;
            crash_bytes(io, all_modes[m], seed, &r);
            cr_assert_eq(r.n, LEN, "mode %d seed %llu: length", all_modes[m],
                         (unsigned long long)seed);
            cr_assert_eq(memcmp(r.p, flushed, 3072), 0, "mode %d seed %llu: flushed A lost",
                         all_modes[m], (unsigned long long)seed);
            cr_assert_eq(memcmp(r.p + 5632, flushed + 5632, 11776 - 5632), 0,
                         "mode %d seed %llu", all_modes[m], (unsigned long long)seed);
            cr_assert_eq(memcmp(r.p + 12288, flushed + 12288, LEN - 12288), 0,
                         "mode %d seed %llu", all_modes[m], (unsigned long long)seed);
            buf_free(&r);
        }
    upd_io_close(io);
    upd_sim_power_free(p);
}

Test(io_sim, drop_all_and_keep_all, .description = "DROP_ALL is the flushed image, KEEP_ALL the volatile one")
{
    tear_fix f;
    tear_setup(&f);
    buf_t r;
    crash_bytes(f.io, UPD_SIM_DROP_ALL, 3, &r);
    cr_assert(bytes_eq(&r, f.old, T_LEN));
    buf_free(&r);
    uint8_t want[T_LEN];
    memcpy(want, f.old, T_LEN);
    memcpy(want + T_WOFF, f.w, T_WLEN);
    crash_bytes(f.io, UPD_SIM_KEEP_ALL, 3, &r);
    cr_assert(bytes_eq(&r, want, T_LEN));
    buf_free(&r);
    tear_teardown(&f);
}

Test(io_sim, random_subset_tears_old_or_new, .description = "RANDOM_SUBSET: the write vanishes, lands or tears; every sector all old or all new")
{
    tear_fix f;
    tear_setup(&f);
    cr_assert_gt(tear_survey(&f, UPD_SIM_RANDOM_SUBSET, 1u << S_ZERO | 1u << S_GARBAGE, 1u << S_NEW),
                 0, "some seed must tear the write");
    tear_teardown(&f);
}

Test(io_sim, torn_zero_fills_whole_sectors, .description = "TORN_ZERO: torn sectors are old, new or zero over the whole sector")
{
    tear_fix f;
    tear_setup(&f);
    tear_survey(&f, UPD_SIM_TORN_ZERO, 1u << S_GARBAGE, 1u << S_ZERO);
    tear_teardown(&f);
}

Test(io_sim, torn_garbage_fills_whole_sectors, .description = "TORN_GARBAGE: torn sectors are old, new or garbage, and garbage covers the whole sector")
{
    tear_fix f;
    tear_setup(&f);
    tear_survey(&f, UPD_SIM_TORN_GARBAGE, 1u << S_ZERO, 1u << S_GARBAGE);
    /* the first touched sector [512, 1024) holds 188 bytes outside the
     * write: a garbage fill damages them too (no powersafe overwrite) */
    int outside = 0;
    for (uint64_t seed = 0; seed < SEEDS && !outside; seed++) {
        buf_t r;
        crash_bytes(f.io, UPD_SIM_TORN_GARBAGE, seed, &r);
        outside = memcmp(r.p + 512, f.old + 512, T_WOFF - 512) != 0;
        buf_free(&r);
    }
    cr_assert(outside, "a garbage sector must cover bytes outside the write");
    tear_teardown(&f);
}

Test(io_sim, determinism_by_seed, .description = "one seed gives the same image twice; different seeds differ")
{
    uint8_t old[8192], w[3000];
    pattern(w, sizeof w, 101);
    upd_sim_power *p;
    upd_io *io = patterned_dev(&p, old, sizeof old, 16384);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(upd_io_write(io, w + 100 * i, 1500, 900u * (unsigned)i + 7), 0);
    cr_assert_eq(upd_io_resize(io, 12000), 0);
    cr_assert_eq(upd_io_write(io, w, 2500, 9000), 0);
    for (size_t m = 2; m < NMODES; m++) {
        int differ = 0;
        buf_t first;
        crash_bytes(io, all_modes[m], 0, &first);
        for (uint64_t seed = 0; seed < 8; seed++) {
            buf_t a, b;
            crash_bytes(io, all_modes[m], seed, &a);
            crash_bytes(io, all_modes[m], seed, &b);
            cr_assert(a.n == b.n && memcmp(a.p, b.p, a.n) == 0, "mode %d seed %llu not repeatable",
                      all_modes[m], (unsigned long long)seed);
            differ |= a.n != first.n || memcmp(a.p, first.p, a.n) != 0;
            buf_free(&a);
            buf_free(&b);
        }
        cr_assert(differ, "mode %d: 8 seeds gave one image", all_modes[m]);
        buf_free(&first);
    }
    upd_io_close(io);
    upd_sim_power_free(p);
}

Test(io_sim, reorder_overlapping, .description = "REORDER: a later overlapping write lands, the earlier one does not")
{
    uint8_t old[8192], w1[1024], w2[1024], w3[512];
    memset(w1, 'a', sizeof w1);
    memset(w2, 'b', sizeof w2);
    memset(w3, 'c', sizeof w3);
    upd_sim_power *p;
    upd_io *io = patterned_dev(&p, old, sizeof old, sizeof old);
    cr_assert_eq(upd_io_write(io, w1, sizeof w1, 0), 0);
    cr_assert_eq(upd_io_write(io, w2, sizeof w2, 512), 0);
    cr_assert_eq(upd_io_write(io, w3, sizeof w3, 4096), 0);
    uint8_t want[8192];
    memcpy(want, old, sizeof old);
    memcpy(want + 512, w2, sizeof w2);
    memcpy(want + 4096, w3, sizeof w3);
    /* only w1 has a later write over it: every seed must drop exactly w1 */
    for (uint64_t seed = 0; seed < 16; seed++) {
        buf_t r;
        crash_bytes(io, UPD_SIM_REORDER, seed, &r);
        cr_assert(bytes_eq(&r, want, sizeof want), "seed %llu", (unsigned long long)seed);
        buf_free(&r);
    }
    upd_io_close(io);
    upd_sim_power_free(p);
}

Test(io_sim, reorder_disjoint, .description = "REORDER without overlap: one earlier write is missing, the last always lands")
{
    uint8_t old[4096], w[3][512];
    for (int i = 0; i < 3; i++)
        memset(w[i], 'a' + i, sizeof w[i]);
    upd_sim_power *p;
    upd_io *io = patterned_dev(&p, old, sizeof old, sizeof old);
    cr_assert_eq(upd_io_write(io, w[0], 512, 0), 0);
    buf_t r;
    crash_bytes(io, UPD_SIM_REORDER, 1, &r);
    cr_assert_eq(memcmp(r.p, w[0], 512), 0, "a single write: REORDER is KEEP_ALL");
    buf_free(&r);
    cr_assert_eq(upd_io_write(io, w[1], 512, 1024), 0);
    cr_assert_eq(upd_io_write(io, w[2], 512, 2048), 0);
    unsigned dropped[2] = { 0, 0 };
    for (uint64_t seed = 0; seed < 32; seed++) {
        crash_bytes(io, UPD_SIM_REORDER, seed, &r);
        const int have0 = memcmp(r.p, w[0], 512) == 0, have1 = memcmp(r.p + 1024, w[1], 512) == 0;
        cr_assert_eq(memcmp(r.p + 2048, w[2], 512), 0, "seed %llu: the last write must land",
                     (unsigned long long)seed);
        cr_assert_eq(have0 + have1, 1, "seed %llu: exactly one earlier write is missing",
                     (unsigned long long)seed);
        cr_assert_eq(memcmp(have0 ? r.p + 1024 : r.p, have0 ? old + 1024 : old, 512), 0,
                     "the missing write leaves old bytes");
        dropped[have0]++;
        buf_free(&r);
    }
    cr_assert(dropped[0] && dropped[1], "both earlier writes must be chosen by some seed");
    upd_io_close(io);
    upd_sim_power_free(p);
}

Test(io_sim, resize_is_durable_after_flush, .description = "an unflushed resize leaves the old or the new length; a flushed one always holds")
{
    uint8_t old[4096], w[1000];
    pattern(w, sizeof w, 101);
    upd_sim_power *p;
    upd_io *io = patterned_dev(&p, old, sizeof old, 8192);
    cr_assert_eq(upd_io_resize(io, 9000), UPD_E_IO_RESIZE, "beyond the capacity");
    cr_assert_eq(upd_io_resize(io, 8192), 0);
    cr_assert_eq(upd_io_write(io, w, sizeof w, 5000), 0);
    buf_t r;
    crash_bytes(io, UPD_SIM_DROP_ALL, 0, &r);
    cr_assert(bytes_eq(&r, old, sizeof old));
    buf_free(&r);
    crash_bytes(io, UPD_SIM_KEEP_ALL, 0, &r);
    cr_assert_eq(r.n, 8192);
    cr_assert_eq(memcmp(r.p, old, sizeof old), 0);
    cr_assert_eq(memcmp(r.p + 5000, w, sizeof w), 0);
    cr_assert(all_zero(r.p + 4096, 5000 - 4096), "growth reads as zeros");
    buf_free(&r);
    unsigned lens[2] = { 0, 0 };
    for (uint64_t seed = 0; seed < SEEDS; seed++) {
        crash_bytes(io, UPD_SIM_RANDOM_SUBSET, seed, &r);
        cr_assert(r.n == 4096 || r.n == 8192, "seed %llu: length %zu is neither old nor new",
                  (unsigned long long)seed, r.n);
        cr_assert_eq(memcmp(r.p, old, sizeof old), 0);
        lens[r.n == 8192]++;
        buf_free(&r);
    }
    cr_assert(lens[0] && lens[1], "both lengths must occur");

    /* flushed shrink, then an unflushed one */
    cr_assert_eq(upd_io_resize(io, 2048), 0);
    cr_assert_eq(upd_io_flush(io), 0);
    cr_assert_eq(upd_io_resize(io, 1024), 0);
    for (size_t m = 0; m < NMODES; m++)
        for (uint64_t seed = 0; seed < 8; seed++) {
            crash_bytes(io, all_modes[m], seed, &r);
            cr_assert(r.n == 2048 || (r.n == 1024 && all_modes[m] != UPD_SIM_DROP_ALL),
                      "mode %d: length %zu", all_modes[m], r.n);
            cr_assert_eq(memcmp(r.p, old, r.n), 0);
            cr_assert(all_modes[m] != UPD_SIM_KEEP_ALL || r.n == 1024);
            buf_free(&r);
        }
    upd_io_close(io);
    upd_sim_power_free(p);
}

Test(io_sim, crash_at_boundary, .description = "crash_at(K): boundary K completes, every later request fails with EIO")
{
    uint8_t old[4096], w[512];
    memset(w, 'x', sizeof w);
    upd_sim_power *p;
    upd_io *io = patterned_dev(&p, old, sizeof old, sizeof old);
    cr_assert_eq(upd_io_write(io, w, 512, 0), 0);
    cr_assert_eq(upd_sim_power_boundaries(p), 1);
    cr_assert_eq(upd_sim_power_crash_at(p, 0), UPD_E_INVAL, "boundary 0 already passed");
    cr_assert_eq(upd_sim_power_crash_at(p, 3), 0);
    /* one batch of three writes: the third is past the crash */
    upd_io_req reqs[3] = { { w, 512, 512, UPD_IO_WRITE }, { w, 1024, 512, UPD_IO_WRITE },
                           { w, 1536, 512, UPD_IO_WRITE } };
    cr_assert_eq(upd_io_submit(io, reqs, 3), UPD_E_IO_WRITE);
    cr_assert_eq(upd_io_reap(io), UPD_E_IO_WRITE);
    cr_assert_eq(upd_io_last_errno(io), EIO);
    cr_assert(upd_sim_power_is_off(p));
    cr_assert_eq(upd_sim_power_boundaries(p), 3);
    uint8_t got[16];
    cr_assert_eq(upd_io_read(io, got, 16, 0), UPD_E_IO_READ, "reads fail after the crash too");
    cr_assert_eq(upd_io_flush(io), UPD_E_IO_FLUSH);
    uint64_t sz;
    cr_assert_lt(upd_io_size(io, &sz), 0);
    cr_assert_eq(upd_sim_power_boundaries(p), 3, "refused requests are not boundaries");
    cr_assert_eq(upd_sim_power_crash_at(p, 10), UPD_E_STATE);
    buf_t r;
    crash_bytes(io, UPD_SIM_KEEP_ALL, 0, &r);
    cr_assert_eq(memcmp(r.p, w, 512), 0);
    cr_assert_eq(memcmp(r.p + 512, w, 512), 0);
    cr_assert_eq(memcmp(r.p + 1024, w, 512), 0, "boundary 3 completed");
    cr_assert_eq(memcmp(r.p + 1536, old + 1536, 512), 0, "the request after the crash never ran");
    buf_free(&r);
    upd_sim_stats st;
    cr_assert_eq(upd_sim_get_stats(io, &st), 0);
    cr_assert_eq(st.writes, 3);
    cr_assert_eq(st.refused, 4);
    upd_io *late;
    cr_assert_eq(upd_io_open_sim(&late, p, NULL, 0, 0, SECTOR), UPD_E_STATE);
    upd_io_close(io);
    upd_sim_power_free(p);
}

Test(io_sim, crash_now_and_disarm, .description = "crash_at(current) cuts at once; UPD_SIM_NEVER disarms")
{
    upd_sim_power *p = power_new();
    upd_io *io = dev_new(p, NULL, 0, 4096);
    cr_assert_eq(upd_sim_power_crash_at(p, 2), 0);
    cr_assert_eq(upd_sim_power_crash_at(p, UPD_SIM_NEVER), 0);
    cr_assert_eq(upd_io_resize(io, 4096), 0);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(upd_io_write(io, "z", 1, (uint64_t)i), 0, "disarmed: no crash at 2");
    cr_assert_eq(upd_sim_power_crash_at(p, upd_sim_power_boundaries(p)), 0);
    cr_assert(upd_sim_power_is_off(p));
    cr_assert_eq(upd_io_write(io, "z", 1, 0), UPD_E_IO_WRITE);
    upd_io_close(io);
    upd_sim_power_free(p);
}

Test(io_sim, joint_crash_two_devices, .description = "a target and a journal in one domain count boundaries jointly and crash together")
{
    uint8_t old[4096], rec[512], w[512];
    pattern(old, sizeof old, 1);
    memset(rec, 'J', sizeof rec);
    memset(w, 'T', sizeof w);
    upd_sim_power *p = power_new();
    upd_io *target = dev_new(p, old, sizeof old, sizeof old);
    upd_io *journal = dev_new(p, NULL, 0, 65536);
    cr_assert_eq(upd_sim_power_crash_at(p, 4), 0);
    cr_assert_eq(upd_io_resize(journal, 4096), 0);          /* boundary 1 */
    cr_assert_eq(upd_io_write(journal, rec, 512, 0), 0);    /* 2 */
    cr_assert_eq(upd_io_flush(journal), 0);                 /* 3 */
    cr_assert(!upd_sim_power_is_off(p));
    cr_assert_eq(upd_io_write(target, w, 512, 1024), 0);    /* 4: the last one */
    cr_assert(upd_sim_power_is_off(p));
    cr_assert_eq(upd_io_write(journal, rec, 512, 512), UPD_E_IO_WRITE, "the journal lost power too");
    cr_assert_eq(upd_io_last_errno(journal), EIO);
    uint8_t got[8];
    cr_assert_eq(upd_io_read(target, got, 8, 0), UPD_E_IO_READ);
    cr_assert_eq(upd_io_flush(target), UPD_E_IO_FLUSH);
    cr_assert_eq(upd_sim_power_boundaries(p), 4);
    for (size_t m = 0; m < NMODES; m++) {
        buf_t r;
        crash_bytes(journal, all_modes[m], 9, &r);
        cr_assert_eq(r.n, 4096, "the flushed journal length survives");
        cr_assert_eq(memcmp(r.p, rec, 512), 0, "the flushed journal record survives");
        buf_free(&r);
    }
    buf_t r;
    crash_bytes(target, UPD_SIM_DROP_ALL, 0, &r);
    cr_assert(bytes_eq(&r, old, sizeof old), "the target was never flushed");
    buf_free(&r);
    crash_bytes(target, UPD_SIM_KEEP_ALL, 0, &r);
    cr_assert_eq(memcmp(r.p + 1024, w, 512), 0);
    buf_free(&r);
    upd_io_close(target);
    upd_io_close(journal);
    upd_sim_power_free(p);
}

Test(io_sim, eio_read, .description = "fail the Nth read once, or sticky from the Nth on")
{
    uint8_t old[1024], got[16];
    upd_sim_power *p;
    upd_io *io = patterned_dev(&p, old, sizeof old, sizeof old);
    cr_assert_eq(upd_sim_fail_at(io, UPD_SIM_READ, 3, 0), 0);
    cr_assert_eq(upd_io_read(io, got, 16, 0), 0);
    cr_assert_eq(upd_io_read(io, got, 16, 0), 0);
    cr_assert_eq(upd_io_read(io, got, 16, 0), UPD_E_IO_READ);
    cr_assert_eq(upd_io_last_errno(io), EIO);
    cr_assert_eq(upd_io_read(io, got, 16, 0), 0, "one-shot: the 4th read works");
    cr_assert_eq(memcmp(got, old, 16), 0);
    cr_assert_eq(upd_sim_fail_at(io, UPD_SIM_READ, 6, UPD_SIM_STICKY), 0);
    cr_assert_eq(upd_io_read(io, got, 16, 0), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(upd_io_read(io, got, 16, 0), UPD_E_IO_READ, "sticky read %d", 6 + i);
    }
    cr_assert_eq(upd_sim_fail_at(io, UPD_SIM_READ, 0, 0), 0);
    cr_assert_eq(upd_io_read(io, got, 16, 0), 0, "disarmed");
    cr_assert_eq(upd_sim_power_boundaries(p), 0, "reads are not boundaries");
    upd_sim_stats st;
    cr_assert_eq(upd_sim_get_stats(io, &st), 0);
    cr_assert_eq(st.injected, 4);
    cr_assert_eq(st.reads, 9);
    upd_io_close(io);
    upd_sim_power_free(p);
}

Test(io_sim, eio_write, .description = "fail the Nth write: UPD_E_IO_WRITE, nothing written, still a boundary")
{
    uint8_t old[2048];
    upd_sim_power *p;
    upd_io *io = patterned_dev(&p, old, sizeof old, sizeof old);
    cr_assert_eq(upd_sim_fail_at(io, UPD_SIM_WRITE, 2, 0), 0);
    cr_assert_eq(upd_io_write(io, "aaaa", 4, 0), 0);
    cr_assert_eq(upd_io_write(io, "bbbb", 4, 100), UPD_E_IO_WRITE);
    cr_assert_eq(upd_io_last_errno(io), EIO);
    cr_assert_eq(upd_io_write(io, "cccc", 4, 200), 0);
    cr_assert_eq(upd_sim_power_boundaries(p), 3);
    uint8_t got[4];
    cr_assert_eq(upd_io_read(io, got, 4, 100), 0);
    cr_assert_eq(memcmp(got, old + 100, 4), 0, "the failed write changed nothing");
    buf_t r;
    crash_bytes(io, UPD_SIM_KEEP_ALL, 0, &r);
    cr_assert_eq(memcmp(r.p + 100, old + 100, 4), 0, "the failed write is not in the log");
    cr_assert_eq(memcmp(r.p + 200, "cccc", 4), 0);
    buf_free(&r);
    upd_io_close(io);
    upd_sim_power_free(p);
}

Test(io_sim, eio_flush_is_final, .description = "a failed flush makes nothing durable and the handle refuses writes")
{
    uint8_t old[2048];
    upd_sim_power *p;
    upd_io *io = patterned_dev(&p, old, sizeof old, 4096);
    cr_assert_eq(upd_sim_fail_at(io, UPD_SIM_FLUSH, 1, 0), 0);
    cr_assert_eq(upd_io_write(io, "aaaa", 4, 0), 0);
    cr_assert_eq(upd_io_flush(io), UPD_E_IO_FLUSH);
    cr_assert_eq(upd_io_last_errno(io), EIO);
    cr_assert_eq(upd_io_write(io, "bbbb", 4, 0), UPD_E_STATE, "no write after a failed flush");
    cr_assert_eq(upd_io_resize(io, 4096), UPD_E_STATE);
    cr_assert_eq(upd_io_flush(io), UPD_E_IO_FLUSH, "never retried");
    upd_sim_stats st;
    cr_assert_eq(upd_sim_get_stats(io, &st), 0);
    cr_assert_eq(st.flushes, 1, "the handle did not call the device again");
    cr_assert_eq(st.pending_entries, 1);
    buf_t r;
    crash_bytes(io, UPD_SIM_DROP_ALL, 0, &r);
    cr_assert(bytes_eq(&r, old, sizeof old), "the failed flush made nothing durable");
    buf_free(&r);
    upd_io_close(io);
    upd_sim_power_free(p);
}

Test(io_sim, eio_resize, .description = "fail the Nth resize: UPD_E_IO_RESIZE, length unchanged")
{
    upd_sim_power *p = power_new();
    upd_io *io = dev_new(p, "abc", 3, 4096);
    cr_assert_eq(upd_sim_fail_at(io, UPD_SIM_RESIZE, 1, 0), 0);
    cr_assert_eq(upd_io_resize(io, 100), UPD_E_IO_RESIZE);
    uint64_t sz;
    cr_assert_eq(upd_io_size(io, &sz), 0);
    cr_assert_eq(sz, 3);
    cr_assert_eq(upd_io_resize(io, 100), 0);
    upd_io_close(io);
    upd_sim_power_free(p);
}

Test(io_sim, bad_arguments, .description = "invalid arguments and non-sim handles are refused")
{
    upd_sim_power *p = power_new();
    upd_io *io, *mem;
    cr_assert_eq(upd_sim_power_create(NULL), UPD_E_INVAL);
    cr_assert_eq(upd_io_open_sim(&io, p, "abc", 3, 2, SECTOR), UPD_E_INVAL, "len > cap");
    cr_assert_eq(upd_io_open_sim(&io, p, NULL, 3, 8, SECTOR), UPD_E_INVAL);
    cr_assert_eq(upd_io_open_sim(&io, p, "abc", 3, 8, 0), UPD_E_INVAL);
    cr_assert_eq(upd_io_open_sim(&io, p, "abc", 3, 8, 768), UPD_E_INVAL, "not a power of two");
    cr_assert_eq(upd_io_open_sim(&io, p, "abc", 3, 8, 2u << 20), UPD_E_INVAL);
    cr_assert_eq(upd_io_open_sim(&io, NULL, "abc", 3, 8, SECTOR), UPD_E_INVAL);
    cr_assert_eq(upd_io_open_mem(&mem, "abc", 3, 8), 0);
    upd_sim_stats st;
    cr_assert_eq(upd_sim_fail_at(mem, UPD_SIM_WRITE, 1, 0), UPD_E_INVAL);
    cr_assert_eq(upd_sim_crash_image(mem, UPD_SIM_KEEP_ALL, 0, &io), UPD_E_INVAL);
    cr_assert_eq(upd_sim_get_stats(mem, &st), UPD_E_INVAL);
    upd_io_close(mem);
    io = dev_new(p, "abc", 3, 8);
    cr_assert_eq(upd_sim_fail_at(io, (upd_sim_kind)4, 1, 0), UPD_E_INVAL);
    cr_assert_eq(upd_sim_fail_at(io, UPD_SIM_READ, 1, 2), UPD_E_INVAL);
    cr_assert_eq(upd_sim_crash_image(io, (upd_sim_mode)6, 0, &mem), UPD_E_INVAL);
    cr_assert_eq(upd_sim_crash_image(io, UPD_SIM_KEEP_ALL, 0, NULL), UPD_E_INVAL);
    cr_assert_eq(upd_sim_power_crash_at(NULL, 1), UPD_E_INVAL);
    cr_assert_eq(upd_sim_power_boundaries(NULL), 0);
    upd_io_close(io);
    upd_sim_power_free(p);
}

Test(io_sim, domain_outlives_its_creator, .description = "freeing the domain before its devices is safe (checked under ASan)")
{
    upd_sim_power *p = power_new();
    upd_io *a = dev_new(p, "abc", 3, 8);
    upd_io *b = dev_new(p, "xyz", 3, 8);
    upd_sim_power_free(p);
    cr_assert_eq(upd_io_write(a, "q", 1, 0), 0);
    upd_io_close(a);
    cr_assert_eq(upd_io_flush(b), 0);
    upd_io_close(b);
}

/* ---- the applier on the simulated device --------------------------------- */

/* A synthetic pair and its package. */
typedef struct {
    synth_pair sp;
    buf_t pkg;
} sim_case;

static void case_make(const char *kind, sim_case *c)
{
    cr_assert_eq(synth_make(kind, 4, 256 << 10, &c->sp), 0);
    cr_assert_eq(make_pkg(c->sp.old_img, c->sp.old_len, c->sp.new_img, c->sp.new_len, NULL, &c->pkg),
                 0);
}

static void case_free(sim_case *c)
{
    buf_free(&c->pkg);
    synth_free(&c->sp);
}

/* Apply C's package in place onto a sim device holding its old image in
 * domain P, after ARM(device, ARG) when ARM is set; the applier's result
 * code.  *IO is the device (the caller closes it). */
static int sim_apply(upd_sim_power *p, const sim_case *c, upd_io **io,
                     void (*arm)(upd_io *, uint64_t), uint64_t arg)
{
    const synth_pair *sp = &c->sp;
    *io = dev_new(p, sp->old_img, sp->old_len, sp->old_len > sp->new_len ? sp->old_len : sp->new_len);
    if (arm)
        arm(*io, arg);
    upd_apply_params ap = { .target = *io, .flags = UPD_APPLY_INSECURE };  /* unsigned test packages */
    return apply_io(&ap, c->pkg.p, c->pkg.n, 0, NULL);
}

/* A clean apply of C: its boundary count, and the device's counters. */
static uint64_t clean_run(const sim_case *c, upd_sim_stats *st)
{
    upd_sim_power *p = power_new();
    upd_io *io;
    cr_assert_eq(sim_apply(p, c, &io, NULL, 0), 0);
    const uint64_t total = upd_sim_power_boundaries(p);
    cr_assert_eq(upd_sim_get_stats(io, st), 0);
    upd_io_close(io);
    upd_sim_power_free(p);
    return total;
}

Test(io_sim, apply_clean_bit_exact, .timeout = 120,
     .description = "an in-place apply on the sim device is bit-exact and fully durable in every mode")
{
    static const char *const kinds[] = { "transpose", "grow", "shrink" };
    for (int k = 0; k < 3; k++) {
        sim_case c;
        case_make(kinds[k], &c);
        upd_sim_power *p = power_new();
        upd_io *io;
        int rc = sim_apply(p, &c, &io, NULL, 0);
        cr_assert_eq(rc, 0, "%s: %s", kinds[k], upd_errname(rc));
        cr_assert_gt(upd_sim_power_boundaries(p), 1, "%s: the apply wrote and flushed", kinds[k]);
        uint8_t *got = malloc(c.sp.new_len + 1);
        cr_assert_eq(upd_io_read(io, got, c.sp.new_len, 0), 0);
        cr_assert_eq(memcmp(got, c.sp.new_img, c.sp.new_len), 0, "%s: volatile view", kinds[k]);
        free(got);
        for (size_t m = 0; m < NMODES; m++) {
            buf_t r;
            crash_bytes(io, all_modes[m], 5, &r);
            cr_assert(bytes_eq(&r, c.sp.new_img, c.sp.new_len),
                      "%s mode %d: the finished apply is durable", kinds[k], all_modes[m]);
            buf_free(&r);
        }
        upd_io_close(io);
        upd_sim_power_free(p);
        case_free(&c);
    }
}

static void arm_write_eio(upd_io *io, uint64_t n)
{
    cr_assert_eq(upd_sim_fail_at(io, UPD_SIM_WRITE, n, 0), 0);
}

Test(io_sim, apply_write_eio, .timeout = 120,
     .description = "an injected write EIO stops the applier with UPD_E_IO_WRITE")
{
    sim_case c;
    case_make("transpose", &c);
    upd_sim_stats st;
    clean_run(&c, &st);
    cr_assert_gt(st.writes, 2);
    const uint64_t nth[] = { 1, st.writes / 2, st.writes };
    for (int i = 0; i < 3; i++) {
        upd_sim_power *p = power_new();
        upd_io *io;
        int rc = sim_apply(p, &c, &io, arm_write_eio, nth[i]);
        cr_assert_eq(rc, UPD_E_IO_WRITE, "write %llu of %llu: %s", (unsigned long long)nth[i],
                     (unsigned long long)st.writes, upd_errname(rc));
        cr_assert_eq(upd_io_last_errno(io), EIO);
        upd_io_close(io);
        upd_sim_power_free(p);
    }
    case_free(&c);
}

Test(io_sim, apply_crash_midway, .timeout = 120,
     .description = "a crash during the apply stops it with an I/O error; before the final flush, KEEP_ALL is the new image")
{
    sim_case c;
    case_make("grow", &c);
    upd_sim_stats st;
    const uint64_t total = clean_run(&c, &st);
    const uint64_t ks[] = { 1, total / 2, total - 1 };
    for (int i = 0; i < 3; i++) {
        upd_sim_power *p = power_new();
        cr_assert_eq(upd_sim_power_crash_at(p, ks[i]), 0);
        upd_io *io;
        int rc = sim_apply(p, &c, &io, NULL, 0);
        cr_assert(rc <= UPD_E_IO_OPEN && rc >= UPD_E_IO_RESIZE, "crash at %llu of %llu: %s",
                  (unsigned long long)ks[i], (unsigned long long)total, upd_errname(rc));
        cr_assert_eq(upd_sim_power_boundaries(p), ks[i]);
        if (ks[i] == total - 1) {
            /* the last boundary of a clean run is its flush */
            buf_t r;
            crash_bytes(io, UPD_SIM_KEEP_ALL, 0, &r);
            cr_assert(bytes_eq(&r, c.sp.new_img, c.sp.new_len), "every write before the flush landed");
            buf_free(&r);
        }
        upd_io_close(io);
        upd_sim_power_free(p);
    }
    case_free(&c);
}

Test(io_sim, log_is_bounded, .timeout = 120,
     .description = "past UPD_SIM_LOG_ENTRIES unflushed entries a write fails with ENOSPC; a flush empties the log")
{
    upd_sim_power *p = power_new();
    upd_io *io = dev_new(p, NULL, 0, 4096);
    cr_assert_eq(upd_io_resize(io, 4096), 0);
    for (uint32_t i = 1; i < UPD_SIM_LOG_ENTRIES; i++)
        cr_assert_eq(upd_io_write(io, "w", 1, i % 4096), 0);
    cr_assert_eq(upd_io_write(io, "w", 1, 0), UPD_E_IO_WRITE);
    cr_assert_eq(upd_io_last_errno(io), ENOSPC);
    upd_sim_stats st;
    cr_assert_eq(upd_sim_get_stats(io, &st), 0);
    cr_assert_eq(st.pending_entries, UPD_SIM_LOG_ENTRIES);
    cr_assert_eq(upd_io_flush(io), 0);
    cr_assert_eq(upd_io_write(io, "w", 1, 0), 0);
    upd_io_close(io);
    upd_sim_power_free(p);
}
