/* Crash consistency of the journaled in-place apply, on the simulated
 * device (iosim.h): cut the power at every write and flush boundary, build
 * the image a reboot would find under several tear models, run the same
 * apply again, and require the new image bit-exact.  Then crash again at
 * every boundary of some recovery runs.  Also: an I/O error at every
 * boundary ends the run with a clear error, and a rerun recovers.
 * Seven of the pairs run as multi-segment packages, and three recoveries in four
 * seeks past the bytes the applier says it no longer needs, as a download
 * agent does: a resumed run must not need the segments before its own.
 *
 * UPD_CRASH_SOAK=1 in the environment widens every loop (more seeds, every
 * nested crash point); UPD_CRASH_ONLY=K[:K2] replays one case. */
#define _GNU_SOURCE   /* memmem */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <updelta/iosim.h>
#include <xxhash.h>
#include <zstd.h>

#include "helpers.h"

/* engine/apply/applier.h: fuzzing and tests only */
void upd_jr_fuzz_reseal(uint8_t *j, size_t len, const uint8_t pkg[32], const upd_header *h);

#define CAP (8u << 20)          /* device capacity: images and journal fit */
#define UNIT 8192u              /* small units: many boundaries per run */

typedef struct {
    synth_pair sp;
    buf_t pkg;
    uint32_t sector;
    uint64_t states, resumed, fresh;   /* counters for the report */
    uint64_t skipped;                  /* package bytes seeking recoveries never read */
    unsigned flags;                    /* UPD_APPLY_JOURNAL_INLINE for half the pairs */
    size_t window;                     /* 0: 4 MiB */
} crash_case;

static int soak(void) { return getenv("UPD_CRASH_SOAK") != NULL; }

/* UPD_CRASH_ONLY=K[:K2]: replay one failing case (first crash at K, and
 * when K2 is given, the nested crash at K2 of its recovery). */
static int only(uint64_t k, int level)
{
    const char *e = getenv("UPD_CRASH_ONLY");
    if (!e)
        return 1;
    char *end;
    unsigned long long want = strtoull(e, &end, 10);
    if (level == 1)
        want = *end == ':' ? strtoull(end + 1, NULL, 10) : k;
    return k == want;
}

static int same(const uint8_t *p, size_t n, const uint8_t *q, size_t m)
{
    return n == m && (n == 0 || !memcmp(p, q, n));
}

static size_t window_of(const crash_case *c) { return c->window ? c->window : 4u << 20; }

/* Apply C's package in place on TARGET with JOURNAL; ST optional. */
static int run(const crash_case *c, upd_io *target, upd_io *journal, upd_apply_stats *st)
{
    upd_apply_params p = { .target = target, .journal = journal, .journal_unit = UNIT,
                           .window = window_of(c), .flags = UPD_APPLY_INSECURE | c->flags };
    return apply_io(&p, c->pkg.p, c->pkg.n, 4096, st);   /* in pieces, as a download */
}

static void expect_bytes(upd_io *io, const uint8_t *want, size_t n, const char *what)
{
    const uint8_t *d;
    size_t len;
    cr_assert_eq(upd_io_mem_view(io, &d, &len), 0);
    cr_assert_eq(len, n, "%s: length %zu, want %zu", what, len, n);
    cr_assert(same(d, len, want, n), "%s: bytes differ", what);
}

/* Sim devices in one power domain, holding the given images. */
typedef struct {
    upd_sim_power *pw;
    upd_io *target, *journal;
} rig;

static void rig_open(rig *r, const crash_case *c, const uint8_t *img, size_t n,
                     const uint8_t *jr, size_t jn)
{
    cr_assert_eq(upd_sim_power_create(&r->pw), 0);
    cr_assert_eq(upd_io_open_sim(&r->target, r->pw, img, n, CAP, c->sector), 0);
    cr_assert_eq(upd_io_open_sim(&r->journal, r->pw, jr, jn, CAP, c->sector), 0);
}

static void rig_close(rig *r)
{
    upd_io_close(r->target);
    upd_io_close(r->journal);
    upd_sim_power_free(r->pw);
}

/* Views of two mem handles' bytes, copied (the handles may go away). */
static void snapshot(upd_io *io, buf_t *b)
{
    const uint8_t *d;
    size_t n;
    cr_assert_eq(upd_io_mem_view(io, &d, &n), 0);
    memset(b, 0, sizeof *b);
    buf_sink(b, d, n);
}

/* Recover from the crash images T / J: a plain rerun on memory handles
 * must end bit-exact.  A rerun that did not resume started afresh, which is
 * only right when the crash left the old image. */
static void recover(crash_case *c, const buf_t *t, const buf_t *j, const char *where)
{
    upd_io *mt, *mj;
    cr_assert_eq(upd_io_open_mem(&mt, t->p, t->n, CAP), 0);
    cr_assert_eq(upd_io_open_mem(&mj, j->p, j->n, CAP), 0);
    upd_apply_stats st;
    upd_apply_params p = { .target = mt, .journal = mj, .journal_unit = UNIT,
                           .window = window_of(c), .flags = UPD_APPLY_INSECURE | c->flags };
    uint64_t skipped = 0;
    int rc = c->states % 4 ? apply_io_seeking(&p, c->pkg.p, c->pkg.n, 61, &st, &skipped)
                           : run(c, mt, mj, &st);
    cr_assert_eq(rc, 0, "%s: recovery failed: %s", where, upd_errname(rc));
    c->skipped += skipped;
    expect_bytes(mt, c->sp.new_img, c->sp.new_len, where);
    if (st.resumed)
        c->resumed++;
    else if (!st.already_applied) {
        cr_assert(same(t->p, t->n, c->sp.old_img, c->sp.old_len),
                  "%s: fresh start on an image that is not the old one", where);
        c->fresh++;
    }
    upd_journal_status js;
    cr_assert_eq(upd_journal_read_status(mj, &js), 0);
    cr_assert_eq(js.state, UPD_JOURNAL_EMPTY, "%s: journal not cleared after success", where);
    c->states++;
    upd_io_close(mt);
    upd_io_close(mj);
}

/* Run on a rig armed to crash after boundary K; returns the boundaries a
 * clean run would need when K is UPD_SIM_NEVER. */
static uint64_t crash_run(crash_case *c, rig *r, uint64_t k)
{
    cr_assert_eq(upd_sim_power_crash_at(r->pw, k), 0);
    int rc = run(c, r->target, r->journal, NULL);
    if (k == UPD_SIM_NEVER)
        cr_assert_eq(rc, 0, "clean run: %s", upd_errname(rc));
    else
        cr_assert(rc < 0 || upd_sim_power_boundaries(r->pw) <= k + 1,
                  "crash at %llu not reported", (unsigned long long)k);
    return upd_sim_power_boundaries(r->pw);
}

static const upd_sim_mode modes[] = {
    UPD_SIM_KEEP_ALL, UPD_SIM_DROP_ALL, UPD_SIM_RANDOM_SUBSET, UPD_SIM_RANDOM_SUBSET,
    UPD_SIM_TORN_ZERO, UPD_SIM_TORN_GARBAGE, UPD_SIM_REORDER, UPD_SIM_RANDOM_SUBSET,
};

static void crash_images(const rig *r, upd_sim_mode m, uint64_t seed, buf_t *t, buf_t *j)
{
    upd_io *ct, *cj;
    cr_assert_eq(upd_sim_crash_image(r->target, m, seed, &ct), 0);
    cr_assert_eq(upd_sim_crash_image(r->journal, m, seed, &cj), 0);
    snapshot(ct, t);
    snapshot(cj, j);
    upd_io_close(ct);
    upd_io_close(cj);
}

/* The images (mode M) after boundary K of a fresh run of C. */
static void journal_at(crash_case *c, uint64_t k, buf_t *t, buf_t *j, upd_sim_mode m)
{
    rig r;
    rig_open(&r, c, c->sp.old_img, c->sp.old_len, NULL, 0);
    crash_run(c, &r, k);
    crash_images(&r, m, 0, t, j);
    rig_close(&r);
}

static upd_journal_status status_of(const buf_t *j)
{
    upd_io *mj;
    upd_journal_status js;
    cr_assert_eq(upd_io_open_mem(&mj, j->p, j->n, CAP), 0);
    cr_assert_eq(upd_journal_read_status(mj, &js), 0);
    upd_io_close(mj);
    return js;
}

/* C made from KIND/SEED/SIZE with the default generator settings; returns
 * the boundaries of a clean run. */
static uint64_t setup_case(crash_case *c, const char *kind, uint64_t seed, size_t size)
{
    cr_assert_eq(synth_make(kind, seed, size, &c->sp), 0);
    cr_assert_eq(make_pkg(c->sp.old_img, c->sp.old_len, c->sp.new_img, c->sp.new_len, NULL,
                          &c->pkg), 0);
    rig r;
    rig_open(&r, c, c->sp.old_img, c->sp.old_len, NULL, 0);
    uint64_t total = crash_run(c, &r, UPD_SIM_NEVER);
    rig_close(&r);
    return total;
}

/* Crash the recovery from (T, J) at every boundary, recover each again. */
static void nested(crash_case *c, const buf_t *t, const buf_t *j, uint64_t first)
{
    rig r;
    rig_open(&r, c, t->p, t->n, j->p, j->n);
    uint64_t total = crash_run(c, &r, UPD_SIM_NEVER);
    rig_close(&r);
    for (uint64_t k = 0; k < total; k++) {
        if (!only(k, 1))
            continue;
        rig_open(&r, c, t->p, t->n, j->p, j->n);
        crash_run(c, &r, k);
        buf_t t2, j2;
        upd_sim_mode m = modes[(first + k) % (sizeof modes / sizeof modes[0])];
        crash_images(&r, m, first * 1000 + k, &t2, &j2);
        rig_close(&r);
        char where[96];
        snprintf(where, sizeof where, "crash %llu then %llu (mode %d)", (unsigned long long)first,
                 (unsigned long long)k, (int)m);
        recover(c, &t2, &j2, where);
        buf_free(&t2);
        buf_free(&j2);
    }
}

/* make_pkg's defaults (one thread, level 3) with zstd segments only. */
static upd_diff_params zstd_params(void)
{
    upd_diff_params dp;
    upd_diff_params_default(&dp);
    dp.threads = 1;
    dp.level = 3;
    dp.lzma = UPD_LZMA_NEVER;
    return dp;
}

static void crash_pair(const char *kind, uint64_t seed, size_t size, uint32_t sector,
                       unsigned segs, unsigned lzma, unsigned flags)
{
    /* the save areas' worker thread on even seeds, none on odd ones: the
     * write sequence is the same, the code that makes it is not; with
     * UPD_APPLY_PKG_AT_HAND a window with room for a second decoder */
    crash_case c = { .sector = sector, .flags = flags | (seed & 1 ? UPD_APPLY_JOURNAL_INLINE : 0),
                     .window = flags & UPD_APPLY_PKG_AT_HAND ? 16u << 20 : 0 };
    /* text: lines whose literals a dictionary serves (text_dict_pair) */
    int text = !strcmp(kind, "text-edits");
    cr_assert_eq(text ? text_dict_pair(seed, size, 8, &c.sp) : synth_make(kind, seed, size, &c.sp),
                 0);
    upd_diff_params dp = zstd_params();
    /* resegment() cuts one-frame zstd segments only: no literal dictionary */
    dp.dict_max = segs > 1 ? 0 : dp.dict_max;
    dp.lzma = lzma;
    int own_cut = segs == 0;
    if (own_cut) {
        /* segments cut by the generator, with DROPs: a resumed run rebuilds
         * the saved map from the validation log, forgotten ranges included */
        upd_diff_stats st;
        cr_assert_eq(make_pkg_dropping(c.sp.old_img, c.sp.old_len, c.sp.new_img, c.sp.new_len,
                                       &dp, &c.pkg, &st), 0, "%s: no DROP", kind);
        segs = st.segments;
    } else {
        cr_assert_eq(make_pkg(c.sp.old_img, c.sp.old_len, c.sp.new_img, c.sp.new_len, &dp,
                              &c.pkg), 0);
    }
    /* text: the literals' dictionary is read again by every resumed run */
    if (text)
        cr_assert_gt(pkg_dict_segments(&c.pkg), 0, "text-edits: no literal dictionary");
    /* LZMA2: every resumed run decodes its segment again */
    if (lzma == UPD_LZMA_ALWAYS)
        cr_assert_gt(pkg_lzma_segments(&c.pkg), 0, "%s: no LZMA2 segment", kind);
    if (segs > 1 && !own_cut) {
        buf_t one = c.pkg;
        cr_assert_eq(resegment(&one, segs, &c.pkg), 0, "%s: cannot cut into %u segments", kind, segs);
        buf_free(&one);
    }

    if (flags & UPD_APPLY_PKG_AT_HAND) {
        /* a segment waits, decoded, for the next: crashes come while it does */
        upd_io *mt, *mj;
        upd_apply_stats st;
        cr_assert_eq(upd_io_open_mem(&mt, c.sp.old_img, c.sp.old_len, CAP), 0);
        cr_assert_eq(upd_io_open_mem(&mj, NULL, 0, CAP), 0);
        cr_assert_eq(run(&c, mt, mj, &st), 0);
        cr_assert_geq(st.segments_ahead, 1, "%s: no segment decoded ahead", kind);
        upd_io_close(mt);
        upd_io_close(mj);
    }

    /* pass 0: a clean run counts the boundaries */
    rig r;
    rig_open(&r, &c, c.sp.old_img, c.sp.old_len, NULL, 0);
    uint64_t total = crash_run(&c, &r, UPD_SIM_NEVER);
    buf_t t0, j0;
    crash_images(&r, UPD_SIM_DROP_ALL, 0, &t0, &j0);   /* what is durable */
    cr_assert(same(t0.p, t0.n, c.sp.new_img, c.sp.new_len), "clean run: not durable");
    buf_free(&t0);
    buf_free(&j0);
    rig_close(&r);
    cr_assert_gt(total, 8u, "%s: only %llu boundaries", kind, (unsigned long long)total);

    size_t nmodes = sizeof modes / sizeof modes[0];
    int variants = soak() ? 32 : (int)nmodes;
    uint64_t nested_every = soak() ? 1 : total / 3 + 1;
    for (uint64_t k = 0; k < total; k++) {
        if (!only(k, 0))
            continue;
        rig_open(&r, &c, c.sp.old_img, c.sp.old_len, NULL, 0);
        crash_run(&c, &r, k);
        for (int v = 0; v < variants; v++) {
            buf_t t, j;
            upd_sim_mode m = modes[v % nmodes];
            crash_images(&r, m, k * 100 + (uint64_t)v, &t, &j);
            char where[96];
            snprintf(where, sizeof where, "%s: crash at %llu, mode %d seed %llu", kind,
                     (unsigned long long)k, (int)m, (unsigned long long)(k * 100 + (uint64_t)v));
            recover(&c, &t, &j, where);
            /* pass 3: crash the recovery itself, at every boundary */
            if (v == 2 && k % nested_every == 0)
                nested(&c, &t, &j, k);
            buf_free(&t);
            buf_free(&j);
        }
        rig_close(&r);
    }
    cr_log_info("%s: %llu boundaries, %llu crash states recovered (%llu resumed, %llu fresh, "
                "%llu package bytes skipped)", kind, (unsigned long long)total,
                (unsigned long long)c.states, (unsigned long long)c.resumed,
                (unsigned long long)c.fresh, (unsigned long long)c.skipped);
    cr_assert(getenv("UPD_CRASH_ONLY") || c.resumed > 0,
              "no state ever resumed: the journal was not exercised");
    cr_assert(getenv("UPD_CRASH_ONLY") || segs <= 1 || c.skipped > 0,
              "no recovery skipped a done segment");
    synth_free(&c.sp);
    buf_free(&c.pkg);
}

/* Fourteen pairs in zstd segments: cycles (transpose, rotate,
 * reverse-blocks), shifts (insert-delete, exe-like, mixed), grow and
 * shrink, same-offset edits, unrelated data, zeros, data to empty, text
 * whose literals use a dictionary, and small swapped blocks whose saved
 * ranges are dropped (SEGS 0: the generator's own segments); two in
 * LZMA2 segments; and one whose segments decode two at once (the package
 * at hand; segment 1 compresses to more than the 16 KiB worth a thread). */
#define CRASH_TEST(name, kind, seed, size, sector, segs) \
    Test(crash, name, .timeout = 1800) \
    { crash_pair(kind, seed, size, sector, segs, UPD_LZMA_NEVER, 0); }
#define CRASH_TEST_LZMA(name, kind, seed, size, sector) \
    Test(crash, name, .timeout = 1800) \
    { crash_pair(kind, seed, size, sector, 1, UPD_LZMA_ALWAYS, 0); }
#define CRASH_TEST_AHEAD(name, kind, seed, size, sector, segs) \
    Test(crash, name, .timeout = 1800) \
    { crash_pair(kind, seed, size, sector, segs, UPD_LZMA_NEVER, UPD_APPLY_PKG_AT_HAND); }

CRASH_TEST(transpose, "transpose", 1, 96 << 10, 512, 4)
CRASH_TEST(rotate, "rotate", 2, 64 << 10, 4096, 1)
CRASH_TEST(reverse_blocks, "reverse-blocks", 3, 96 << 10, 512, 3)
CRASH_TEST(insert_delete, "insert-delete", 4, 96 << 10, 4096, 3)
CRASH_TEST(exe_like, "exe-like", 5, 128 << 10, 512, 5)
CRASH_TEST(mixed, "mixed", 6, 96 << 10, 4096, 2)
CRASH_TEST(grow, "grow", 7, 48 << 10, 512, 3)
CRASH_TEST(shrink, "shrink", 8, 128 << 10, 4096, 4)
CRASH_TEST(same_offset_edits, "same-offset-edits", 9, 96 << 10, 512, 1)
CRASH_TEST(unrelated, "unrelated", 10, 64 << 10, 4096, 1)
CRASH_TEST(zeros, "zeros", 11, 96 << 10, 512, 1)
CRASH_TEST(data_to_empty, "data-to-empty", 12, 64 << 10, 4096, 1)
/* text with lines a literal dictionary serves: crash_pair asserts that
 * the package has one */
CRASH_TEST(text_edits, "text-edits", 14, 96 << 10, 512, 1)
CRASH_TEST(swap_small_drops, "swap-small", 15, 128 << 10, 4096, 0)
CRASH_TEST_LZMA(exe_like_lzma, "exe-like", 16, 128 << 10, 512)
CRASH_TEST_LZMA(mixed_lzma, "mixed", 17, 96 << 10, 4096)
CRASH_TEST_AHEAD(grow_ahead, "grow", 18, 128 << 10, 512, 4)

/* A recovery that passes over the newer slot (its save area did not check
 * out) re-runs the older slot's unit with the same salt, and so writes the
 * newer slot's area again, byte for byte, while that unit runs (a small
 * area goes out whole early).  Were the newer slot still there, a crash
 * then could revive it: the next run would skip the unit, though this run
 * had put its saved bytes back and not yet redone all of its writes.  The
 * crash states here: the first run cut right after the write of each slot
 * that uses save area 0 (at a known place, 8192), the first byte of that
 * area flipped (torn); the recovery cut at each boundary (every write up
 * to the cut landed).  Found by the soak's nested crashes (grow, exe-like,
 * swap-small). */
static void passed_over(const char *kind, uint64_t seed, size_t size, unsigned segs)
{
    crash_case c = { .sector = 512 };
    cr_assert_eq(synth_make(kind, seed, size, &c.sp), 0);
    upd_diff_params dp = zstd_params();   /* resegment() cuts one-frame zstd segments */
    dp.dict_max = 0;
    cr_assert_eq(make_pkg(c.sp.old_img, c.sp.old_len, c.sp.new_img, c.sp.new_len, &dp, &c.pkg), 0);
    buf_t one = c.pkg;
    cr_assert_eq(resegment(&one, segs, &c.pkg), 0);
    buf_free(&one);
    rig r;
    rig_open(&r, &c, c.sp.old_img, c.sp.old_len, NULL, 0);
    uint64_t total = crash_run(&c, &r, UPD_SIM_NEVER);
    rig_close(&r);
    unsigned slots = 0, cases = 0;
    uint64_t last_seq = 0;
    for (uint64_t k = 0; k < total; k++) {
        buf_t t, j;
        journal_at(&c, k, &t, &j, UPD_SIM_KEEP_ALL);
        upd_journal_status js = status_of(&j);
        int take = js.state == UPD_JOURNAL_RUNNING && js.seq != last_seq && js.seq >= 2
                   && js.seq % 2 == 0;
        if (js.state == UPD_JOURNAL_RUNNING)
            last_seq = js.seq;
        uint64_t total2 = 0;
        if (take) {
            j.p[8192] ^= 0x5a;
            rig_open(&r, &c, t.p, t.n, j.p, j.n);
            total2 = crash_run(&c, &r, UPD_SIM_NEVER);
            rig_close(&r);
            slots++;
        }
        for (uint64_t k2 = 0; k2 < total2; k2++) {
            rig_open(&r, &c, t.p, t.n, j.p, j.n);
            crash_run(&c, &r, k2);
            upd_io *ct, *cj;
            cr_assert_eq(upd_sim_crash_image(r.target, UPD_SIM_KEEP_ALL, 0, &ct), 0);
            cr_assert_eq(upd_sim_crash_image(r.journal, UPD_SIM_KEEP_ALL, 0, &cj), 0);
            buf_t t2, j2;
            snapshot(ct, &t2);
            snapshot(cj, &j2);
            upd_io_close(ct);
            upd_io_close(cj);
            rig_close(&r);
            char where[96];
            snprintf(where, sizeof where, "%s: slot %llu passed over, recovery cut at %llu", kind,
                     (unsigned long long)js.seq, (unsigned long long)k2);
            recover(&c, &t2, &j2, where);
            buf_free(&t2);
            buf_free(&j2);
            cases++;
        }
        buf_free(&t);
        buf_free(&j);
    }
    cr_assert_gt(slots, 1u, "%s: too few slots on save area 0", kind);
    cr_log_info("%s: %u slots passed over, %u crash states recovered", kind, slots, cases);
    synth_free(&c.sp);
    buf_free(&c.pkg);
}

Test(crash, passed_slot_not_revived, .timeout = 600)
{
    passed_over("grow", 7, 48 << 10, 3);
    passed_over("exe-like", 5, 128 << 10, 5);
    passed_over("transpose", 1, 96 << 10, 4);
}

/* The save areas come out the same with the worker thread and without:
 * the same writes and flushes in the same order (the crash tests above
 * rely on it: they count boundaries on one run and crash another), the
 * same journal bytes (counted, and the save areas compared), the same
 * image. */
Test(crash, worker_and_inline_write_alike, .timeout = 300)
{
    crash_case c[2] = { { .sector = 512 }, { .sector = 512, .flags = UPD_APPLY_JOURNAL_INLINE } };
    uint64_t bounds[2], jbytes[2], units[2];
    buf_t jr[2];
    /* (an LZMA2 decoder would not leave a 512 KiB image's segment room in
     * the rig's 4 MiB window) */
    upd_diff_params dp = zstd_params();
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(synth_make("exe-like", 31, 512 << 10, &c[i].sp), 0);
        cr_assert_eq(make_pkg(c[i].sp.old_img, c[i].sp.old_len, c[i].sp.new_img, c[i].sp.new_len,
                              &dp, &c[i].pkg), 0);
        rig r;
        rig_open(&r, &c[i], c[i].sp.old_img, c[i].sp.old_len, NULL, 0);
        upd_apply_stats st;
        int rc = run(&c[i], r.target, r.journal, &st);
        cr_assert_eq(rc, 0, "apply: %s", upd_errname(rc));
        buf_t t, j;
        crash_images(&r, UPD_SIM_DROP_ALL, 0, &t, &j);   /* what is durable */
        cr_assert(same(t.p, t.n, c[i].sp.new_img, c[i].sp.new_len), "apply: not bit-exact");
        buf_free(&t);
        jr[i] = j;
        bounds[i] = upd_sim_power_boundaries(r.pw);
        jbytes[i] = st.journal_bytes;
        units[i] = st.units;
        rig_close(&r);
    }
    cr_assert_gt(units[0], 8u, "too few units (%llu) to prepare any", (unsigned long long)units[0]);
    cr_assert_eq(bounds[0], bounds[1], "boundaries: worker %llu, inline %llu",
                 (unsigned long long)bounds[0], (unsigned long long)bounds[1]);
    cr_assert_eq(jbytes[0], jbytes[1], "journal bytes: worker %llu, inline %llu",
                 (unsigned long long)jbytes[0], (unsigned long long)jbytes[1]);
    /* the save areas and the stash, byte for byte: everything after the
     * slots (which hold each run's random salt; so would the validation
     * log, empty for a one-segment package) */
    const uint8_t vmagic[8] = { 'U', 'P', 'D', 'V', 'L', 'O', 'G', '1' };
    cr_assert_null(memmem(jr[0].p, jr[0].n, vmagic, 8), "a validation log: not one segment");
    cr_assert(same(jr[0].p + 8192, jr[0].n - 8192, jr[1].p + 8192, jr[1].n - 8192),
              "journal: worker and inline bytes differ");
    for (int i = 0; i < 2; i++) {
        buf_free(&jr[i]);
        synth_free(&c[i].sp);
        buf_free(&c[i].pkg);
    }
}

/* An I/O error at any request (read, write or flush, of the target or the
 * journal) ends the run with an UPD_E_IO_* error; a restart, whether the
 * unflushed writes survived or not, ends bit-exact. */
Test(crash, eio_anywhere_then_restart, .timeout = 900)
{
    crash_case c = { .sector = 512 };
    cr_assert_eq(synth_make("transpose", 21, 64 << 10, &c.sp), 0);
    cr_assert_eq(make_pkg(c.sp.old_img, c.sp.old_len, c.sp.new_img, c.sp.new_len, NULL, &c.pkg), 0);
    static const upd_sim_kind kinds[] = { UPD_SIM_WRITE, UPD_SIM_FLUSH, UPD_SIM_READ };
    uint64_t failures = 0;
    for (int dev = 0; dev < 2; dev++) {
        for (size_t kk = 0; kk < sizeof kinds / sizeof kinds[0]; kk++) {
            for (uint64_t nth = 1;; nth++) {
                rig r;
                rig_open(&r, &c, c.sp.old_img, c.sp.old_len, NULL, 0);
                cr_assert_eq(upd_sim_fail_at(dev ? r.journal : r.target, kinds[kk], nth, 0), 0);
                int rc = run(&c, r.target, r.journal, NULL);
                if (rc == 0) {      /* fewer than NTH such requests: done */
                    rig_close(&r);
                    break;
                }
                cr_assert(rc <= UPD_E_IO_OPEN && rc >= UPD_E_IO_RESIZE,
                          "device %d kind %zu nth %llu: %s is not an I/O error", dev, kk,
                          (unsigned long long)nth, upd_errname(rc));
                failures++;
                for (int keep = 0; keep < 2; keep++) {
                    buf_t t, j;
                    crash_images(&r, keep ? UPD_SIM_KEEP_ALL : UPD_SIM_DROP_ALL, nth, &t, &j);
                    char where[96];
                    snprintf(where, sizeof where, "EIO device %d kind %zu nth %llu keep %d", dev,
                             kk, (unsigned long long)nth, keep);
                    recover(&c, &t, &j, where);
                    buf_free(&t);
                    buf_free(&j);
                }
                rig_close(&r);
            }
        }
    }
    cr_log_info("EIO: %llu injected failures, each restarted bit-exact",
                (unsigned long long)failures);
    cr_assert_gt(failures, 20u);
    synth_free(&c.sp);
    buf_free(&c.pkg);
}

/* Open a rig whose devices hold durable images D (target, journal) with
 * the bytes where K differs still unflushed: what a killed process leaves
 * in the page cache.  The power is still on. */
static void rig_open_killed(rig *r, const crash_case *c, const buf_t d[2], const buf_t k[2])
{
    rig_open(r, c, d[0].p, d[0].n, d[1].p, d[1].n);
    upd_io *dev[2] = { r->target, r->journal };
    for (int i = 0; i < 2; i++) {
        if (k[i].n != d[i].n)
            cr_assert_eq(upd_io_resize(dev[i], k[i].n), 0);
        for (size_t x = 0; x < k[i].n;) {
            size_t e = x;
            while (e < k[i].n && (e >= d[i].n || k[i].p[e] != d[i].p[e]))
                e++;
            if (e > x)
                cr_assert_eq(upd_io_write(dev[i], k[i].p + x, e - x, x), 0);
            x = e + 1;
        }
    }
}

/* A process killed (kill -9) after writing a slot and before flushing it
 * leaves the slot in the page cache, where the next run reads it; a power
 * cut during that run can still lose it.  So the resumed run must not act
 * on what it read (write the target, and flush it) before the journal is
 * durable: else the cut leaves the older slot, which re-runs its unit over
 * the newer unit's durable writes.  Here: the first run stopped right
 * after each slot's write (its unflushed writes kept as a kill keeps
 * them), the restarted run cut at each boundary, only flushed data left. */
Test(crash, killed_then_power_cut, .timeout = 600)
{
    crash_case c = { .sector = 512 };
    uint64_t total = setup_case(&c, "exe-like", 5, 128 << 10);
    rig r;
    unsigned kills = 0, cases = 0;
    for (uint64_t k = 0; k < total; k++) {
        buf_t d[2], kk[2];
        journal_at(&c, k, &d[0], &d[1], UPD_SIM_DROP_ALL);
        journal_at(&c, k, &kk[0], &kk[1], UPD_SIM_KEEP_ALL);
        upd_journal_status js[2] = { status_of(&d[1]), status_of(&kk[1]) };
        /* a slot written, not flushed, over a durable older one */
        int take = js[1].state == UPD_JOURNAL_RUNNING && js[0].state == UPD_JOURNAL_RUNNING
                   && js[1].seq > js[0].seq;
        uint64_t total2 = 0;
        if (take) {
            rig_open_killed(&r, &c, d, kk);
            uint64_t b0 = upd_sim_power_boundaries(r.pw);
            total2 = crash_run(&c, &r, UPD_SIM_NEVER) - b0;
            rig_close(&r);
            kills++;
        }
        for (uint64_t k2 = 0; k2 < total2; k2++) {
            rig_open_killed(&r, &c, d, kk);
            crash_run(&c, &r, upd_sim_power_boundaries(r.pw) + k2);
            buf_t t2, j2;
            crash_images(&r, UPD_SIM_DROP_ALL, 0, &t2, &j2);
            rig_close(&r);
            char where[96];
            snprintf(where, sizeof where, "killed at %llu, power cut at %llu of the restart",
                     (unsigned long long)k, (unsigned long long)k2);
            recover(&c, &t2, &j2, where);
            buf_free(&t2);
            buf_free(&j2);
            cases++;
        }
        for (int i = 0; i < 2; i++) {
            buf_free(&d[i]);
            buf_free(&kk[i]);
        }
    }
    cr_assert_gt(kills, 2u, "too few slots written before a kill");
    cr_log_info("killed_then_power_cut: %u kills, %u crash states recovered", kills, cases);
    synth_free(&c.sp);
    buf_free(&c.pkg);
}

/* A slot lives at position seq & 1.  A tampered journal with a newer slot
 * of the same parity at the other position (its area the older slot's, so
 * it fails its check) must not make recovery zero the slot it resumes
 * from: the slot is not this journal's and is ignored.  Checked by cutting
 * that recovery at every boundary: each state must still recover. */
Test(crash, misplaced_slot_ignored, .timeout = 300)
{
    crash_case c = { .sector = 512 };
    uint64_t total = setup_case(&c, "exe-like", 5, 128 << 10);
    rig r;
    /* T, J: slot 2 durable (position 0); S: slot 4's bytes (position 0) */
    buf_t t = { 0 }, j = { 0 }, s4 = { 0 };
    for (uint64_t k = 0; k < total && !s4.n; k++) {
        buf_t tk, jk;
        journal_at(&c, k, &tk, &jk, UPD_SIM_DROP_ALL);
        upd_journal_status js = status_of(&jk);
        if (js.state == UPD_JOURNAL_RUNNING && js.seq == 2 && !j.n) {
            t = tk;
            j = jk;
            continue;
        }
        if (js.state == UPD_JOURNAL_RUNNING && js.seq == 4) {
            s4 = jk;
            buf_free(&tk);
            continue;
        }
        buf_free(&tk);
        buf_free(&jk);
    }
    cr_assert(j.n && s4.n, "no run reached slots 2 and 4");
    memcpy(j.p + 4096, s4.p, 512);    /* slot 4 at position 1 */
    buf_free(&s4);
    rig_open(&r, &c, t.p, t.n, j.p, j.n);
    uint64_t total2 = crash_run(&c, &r, UPD_SIM_NEVER);
    rig_close(&r);
    for (uint64_t k2 = 0; k2 < total2; k2++) {
        rig_open(&r, &c, t.p, t.n, j.p, j.n);
        crash_run(&c, &r, k2);
        buf_t t2, j2;
        crash_images(&r, UPD_SIM_DROP_ALL, 0, &t2, &j2);
        rig_close(&r);
        char where[64];
        snprintf(where, sizeof where, "misplaced slot, recovery cut at %llu",
                 (unsigned long long)k2);
        recover(&c, &t2, &j2, where);
        buf_free(&t2);
        buf_free(&j2);
    }
    buf_free(&t);
    buf_free(&j);
    synth_free(&c.sp);
    buf_free(&c.pkg);
}

/* With a separate stash file, the journal has no stash region: recovery
 * puts the saved stash block back into the stash file (the replay), never
 * into the journal (past the journal's end: on a device that cannot grow,
 * every resume failed).  Every boundary of a run with a stash file, exact
 * state (KEEP_ALL) and flushed data only (DROP_ALL). */
static uint64_t stash_run(crash_case *c, uint64_t k, rig *r, upd_io **st)
{
    rig_open(r, c, c->sp.old_img, c->sp.old_len, NULL, 0);
    cr_assert_eq(upd_io_open_sim(st, r->pw, NULL, 0, CAP, c->sector), 0);
    cr_assert_eq(upd_sim_power_crash_at(r->pw, k), 0);
    upd_apply_params p = { .target = r->target, .journal = r->journal, .stash = *st,
                           .journal_unit = UNIT, .window = 4u << 20, .flags = UPD_APPLY_INSECURE };
    int rc = apply_io(&p, c->pkg.p, c->pkg.n, 4096, NULL);
    cr_assert(k != UPD_SIM_NEVER || rc == 0, "clean run: %s", upd_errname(rc));
    return upd_sim_power_boundaries(r->pw);
}

Test(crash, separate_stash_recovers, .timeout = 300)
{
    crash_case c = { .sector = 512 };
    cr_assert_eq(synth_make("transpose", 1, 96 << 10, &c.sp), 0);
    cr_assert_eq(make_pkg(c.sp.old_img, c.sp.old_len, c.sp.new_img, c.sp.new_len, NULL, &c.pkg), 0);
    rig r;
    upd_io *st;
    uint64_t total = stash_run(&c, UPD_SIM_NEVER, &r, &st), resumed = 0;
    upd_io_close(st);
    rig_close(&r);
    for (uint64_t k = 0; k < total; k++) {
        stash_run(&c, k, &r, &st);
        for (int m = 0; m < 2; m++) {
            upd_io *dev[3] = { r.target, r.journal, st }, *mem[3];
            buf_t b[3];
            for (int i = 0; i < 3; i++) {
                upd_io *img;
                cr_assert_eq(upd_sim_crash_image(dev[i], m ? UPD_SIM_KEEP_ALL : UPD_SIM_DROP_ALL,
                                                 0, &img), 0);
                snapshot(img, &b[i]);
                upd_io_close(img);
                cr_assert_eq(upd_io_open_mem(&mem[i], b[i].p, b[i].n, CAP), 0);
            }
            upd_apply_params p = { .target = mem[0], .journal = mem[1], .stash = mem[2],
                                   .journal_unit = UNIT, .window = 4u << 20,
                                   .flags = UPD_APPLY_INSECURE };
            upd_apply_stats as;
            int rc = apply_io(&p, c.pkg.p, c.pkg.n, 4096, &as);
            cr_assert_eq(rc, 0, "crash at %llu mode %d: %s", (unsigned long long)k, m,
                         upd_errname(rc));
            expect_bytes(mem[0], c.sp.new_img, c.sp.new_len, "separate stash");
            uint64_t jlen;
            cr_assert_eq(upd_io_size(mem[1], &jlen), 0);
            cr_assert(b[1].n == 0 || jlen == b[1].n, "crash at %llu: journal %zu -> %llu bytes",
                      (unsigned long long)k, b[1].n, (unsigned long long)jlen);
            resumed += as.resumed;
            for (int i = 0; i < 3; i++) {
                upd_io_close(mem[i]);
                buf_free(&b[i]);
            }
        }
        upd_io_close(st);
        rig_close(&r);
    }
    cr_assert_gt(resumed, 0u, "no recovery resumed");
    synth_free(&c.sp);
    buf_free(&c.pkg);
}

/* A journal left by another package's interrupted run is not resumed: the
 * apply starts afresh (base check, new salt) and ends bit-exact; the other
 * package's progress is gone, not mixed in. */
Test(crash, foreign_journal_ignored, .timeout = 300)
{
    crash_case a = { .sector = 512 }, b = { .sector = 512 };
    cr_assert_eq(synth_make("transpose", 31, 64 << 10, &a.sp), 0);
    cr_assert_eq(synth_make("transpose", 31, 64 << 10, &b.sp), 0);
    /* same base, another new image */
    synth_pair other;
    cr_assert_eq(synth_make("rotate", 33, 64 << 10, &other), 0);
    free(b.sp.new_img);
    b.sp.new_img = other.new_img;
    b.sp.new_len = other.new_len;
    free(other.old_img);
    cr_assert_eq(make_pkg(a.sp.old_img, a.sp.old_len, a.sp.new_img, a.sp.new_len, NULL, &a.pkg), 0);
    cr_assert_eq(make_pkg(b.sp.old_img, b.sp.old_len, b.sp.new_img, b.sp.new_len, NULL, &b.pkg), 0);
    /* B crashes right after its first slot is durable, before any target write */
    rig r;
    rig_open(&r, &b, b.sp.old_img, b.sp.old_len, NULL, 0);
    uint64_t k = 0;
    for (;; k++) {
        rig_close(&r);
        rig_open(&r, &b, b.sp.old_img, b.sp.old_len, NULL, 0);
        crash_run(&b, &r, k);
        buf_t t, j;
        crash_images(&r, UPD_SIM_DROP_ALL, 0, &t, &j);
        int found = status_of(&j).state == UPD_JOURNAL_RUNNING;
        if (found) {
            cr_assert(same(t.p, t.n, b.sp.old_img, b.sp.old_len), "target written before the slot");
            recover(&a, &t, &j, "package A over B's journal");
            cr_assert_eq(a.resumed, 0u, "A resumed B's run");
        }
        buf_free(&t);
        buf_free(&j);
        if (found)
            break;
        cr_assert_lt(k, 200u, "B never made a slot durable");
    }
    rig_close(&r);
    synth_free(&a.sp);
    synth_free(&b.sp);
    buf_free(&a.pkg);
    buf_free(&b.pkg);
}

/* A package refused before its first segment checked out whole leaves
 * another update's pending journal (and the target) byte for byte as they
 * were, so that update still resumes.  The tools run no dry run before a
 * package of one segment (upd_pkg_one_pass_safe), so the real run's order
 * is what protects the journal: it begins, and sizes the stash, only after
 * segment 0 passed.  Two crash states of update A: the journal running
 * with the target still A's old image (any package from that image passes
 * the base check), and with the target half written (only a full image,
 * which has no base to match, gets that far). */
#define REFUSED 7

/* PKG's header claims the new size N (FORMAT.md 2, offset 40); resealed. */
static void claim_new_size(buf_t *pkg, uint64_t n)
{
    for (int b = 0; b < 8; b++)
        pkg->p[40 + b] = (uint8_t)(n >> (8 * b));
    cr_assert_eq(reseal(pkg->p, pkg->n), 0);
}

/* New image with REFUSED refused packages: deltas from A's old image and
 * full images, one of each with a segment big enough to be decoded on the
 * side thread beside the base check. */
static void refused_packages(const crash_case *a, buf_t bad[REFUSED], int want[REFUSED])
{
    static uint8_t img[64 << 10];
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < sizeof img; i++) {   /* incompressible: a 64 KiB segment */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        img[i] = (uint8_t)x;
    }
    upd_diff_params dp = zstd_params();
    /* 0, 1: a full image, then a delta, whose header claims one byte more
     * than its ops make: RESULT_SIZE once the segment validated */
    cr_assert_eq(make_pkg(img, 0, img, sizeof img, &dp, &bad[0]), 0);
    cr_assert_eq(make_pkg(a->sp.old_img, a->sp.old_len, img, sizeof img, &dp, &bad[1]), 0);
    for (int i = 0; i < 2; i++) {
        upd_seg_entry e;
        size_t at;
        cr_assert_eq(pkg_segments(&bad[i]), 1);
        cr_assert_eq(pkg_segment(&bad[i], 0, &e, &at), 0);
        cr_assert_geq(e.csize, 16u << 10, "package %d: too small for the side thread", i);
        claim_new_size(&bad[i], sizeof img + 1);
        want[i] = UPD_E_RESULT_SIZE;
    }
    /* 2: the same claim, a full image of a small segment */
    cr_assert_eq(make_pkg(img, 0, img, 8192, &dp, &bad[2]), 0);
    claim_new_size(&bad[2], 8192 + 1);
    want[2] = UPD_E_RESULT_SIZE;
    /* 3: a full image whose one segment writes past its length */
    craft_seg s = { .ops = { { .kind = UPD_OP_LIT, .dst = 0, .len = 200 } }, .nops = 1,
                    .lit = img, .lit_len = 200 };
    cr_assert_eq(craft_pkg(img, 0, img, 100, 0, &s, 1, &bad[3]), 0);
    want[3] = UPD_E_OP_BOUNDS;
    /* 4: a full image of no segment, new size 1 */
    cr_assert_eq(craft_pkg(img, 0, img, 1, 0, NULL, 0, &bad[4]), 0);
    want[4] = UPD_E_RESULT_SIZE;
    /* 5: a delta that stashes (stash_size > 0), then writes past the end */
    craft_seg st = { .ops = { { .kind = UPD_OP_STASH, .src = 0, .len = 100 },
                              { .kind = UPD_OP_LIT, .dst = a->sp.old_len, .len = 10 } },
                     .nops = 2, .lit = img, .lit_len = 10 };
    cr_assert_eq(craft_pkg(a->sp.old_img, a->sp.old_len, img, a->sp.old_len, 100, &st, 1,
                           &bad[5]), 0);
    want[5] = UPD_E_OP_BOUNDS;
    /* 6: a delta whose segment does not decode (digest recomputed) */
    static const uint8_t junk[] = "not a zstd frame, though its digest is right";
    craft_seg g = { .ops = { { .kind = UPD_OP_LIT, .dst = 0, .len = 10 } }, .nops = 1,
                    .lit = img, .lit_len = 10, .raw_frame = junk, .raw_frame_len = sizeof junk };
    cr_assert_eq(craft_pkg(a->sp.old_img, a->sp.old_len, img, a->sp.old_len, 0, &g, 1,
                           &bad[6]), 0);
    want[6] = UPD_E_SEG_DECODE;
    for (int i = 0; i < REFUSED; i++)
        cr_assert_eq(upd_pkg_one_pass_safe(bad[i].p, bad[i].n, bad[i].n), 1, "package %d", i);
}

Test(crash, refused_package_keeps_pending_journal, .timeout = 300)
{
    crash_case a = { .sector = 512 };
    setup_case(&a, "transpose", 41, 64 << 10);
    buf_t bad[REFUSED];
    int want[REFUSED];
    refused_packages(&a, bad, want);
    int done[2] = { 0, 0 };    /* states tried: target still old, half written */
    for (uint64_t k = 0; !(done[0] && done[1]); k++) {
        cr_assert_lt(k, 2000u, "no crash left A running with the target %s",
                     done[0] ? "half written" : "still old");
        buf_t t, j;
        journal_at(&a, k, &t, &j, UPD_SIM_KEEP_ALL);
        int old = same(t.p, t.n, a.sp.old_img, a.sp.old_len);
        if (status_of(&j).state == UPD_JOURNAL_RUNNING && !done[!old]) {
            done[!old] = 1;
            for (int i = 0; i < REFUSED; i++) {
                upd_io *mt, *mj;
                cr_assert_eq(upd_io_open_mem(&mt, t.p, t.n, CAP), 0);
                cr_assert_eq(upd_io_open_mem(&mj, j.p, j.n, CAP), 0);
                upd_apply_params p = { .target = mt, .journal = mj, .journal_unit = UNIT,
                                       .window = 4u << 20, .flags = UPD_APPLY_INSECURE };
                int rc = apply_io(&p, bad[i].p, bad[i].n, 4096, NULL);
                /* a delta meets a half-written target at its base check */
                int expect = !old && (i == 1 || i >= 5) ? UPD_E_BASE_HASH : want[i];
                cr_assert_eq(rc, expect, "package %d, target %s: %s", i, old ? "old" : "written",
                             upd_errname(rc));
                expect_bytes(mt, t.p, t.n, "target after the refused package");
                expect_bytes(mj, j.p, j.n, "journal after the refused package");
                upd_io_close(mt);
                upd_io_close(mj);
            }
            uint64_t resumed = a.resumed;
            recover(&a, &t, &j, "A after the refused packages");
            cr_assert_eq(a.resumed, resumed + 1, "A did not resume");
        }
        buf_free(&t);
        buf_free(&j);
    }
    for (int i = 0; i < REFUSED; i++)
        buf_free(&bad[i]);
    synth_free(&a.sp);
    buf_free(&a.pkg);
}

/* The validation log stands in for the segments a resumed run skips: the
 * bytes of those segments are never read (garbage there changes nothing),
 * and a damaged log entry is refused with UPD_E_JOURNAL, never trusted. */
Test(crash, resume_skips_done_segments, .timeout = 300)
{
    crash_case c = { .sector = 512 };
    cr_assert_eq(synth_make("exe-like", 41, 128 << 10, &c.sp), 0);
    buf_t one;
    upd_diff_params dp;
    upd_diff_params_default(&dp);
    dp.dict_max = 0;   /* resegment() cuts one-frame zstd segments */
    dp.lzma = UPD_LZMA_NEVER;
    cr_assert_eq(make_pkg(c.sp.old_img, c.sp.old_len, c.sp.new_img, c.sp.new_len, &dp, &one), 0);
    cr_assert_eq(resegment(&one, 6, &c.pkg), 0);
    buf_free(&one);
    upd_header h;
    cr_assert_eq(upd_header_decode(c.pkg.p, c.pkg.n, &h), 0);
    uint64_t seg0 = upd_pkg_prefix_size(&h);
    /* find a crash state whose journal resumes at segment 2 or later */
    rig r;
    upd_journal_status js = { 0 };
    buf_t t = { 0 }, j = { 0 };
    for (uint64_t k = 0; js.segment < 2; k++) {
        buf_free(&t);
        buf_free(&j);
        rig_open(&r, &c, c.sp.old_img, c.sp.old_len, NULL, 0);
        cr_assert_lt(crash_run(&c, &r, k), k + 2, "never resumed at segment 2");
        crash_images(&r, UPD_SIM_DROP_ALL, 0, &t, &j);
        rig_close(&r);
        upd_io *mj;
        cr_assert_eq(upd_io_open_mem(&mj, j.p, j.n, CAP), 0);
        cr_assert_eq(upd_journal_read_status(mj, &js), 0);
        upd_io_close(mj);
    }
    /* the segments before the resumed one are garbage: still bit-exact */
    buf_t junk = { 0 };
    buf_sink(&junk, c.pkg.p, c.pkg.n);
    memset(junk.p + seg0, 0xa5, junk.n - seg0 > 64 ? 64 : junk.n - seg0);
    buf_t tmp = c.pkg;
    c.pkg = junk;
    recover(&c, &t, &j, "garbage in done segments");
    c.pkg = tmp;
    cr_assert_eq(c.resumed, 1u);
    buf_free(&junk);
    /* a damaged byte in the first log entry: refused, image untouched */
    const uint8_t magic[8] = { 'U', 'P', 'D', 'V', 'L', 'O', 'G', '2' };
    uint8_t *e = memmem(j.p, j.n, magic, 8);
    cr_assert(e != NULL, "no validation log in the journal");
    for (size_t at = 8; at < 160; at += 37) {
        e[at] ^= 0x10;
        upd_io *mt, *mj;
        cr_assert_eq(upd_io_open_mem(&mt, t.p, t.n, CAP), 0);
        cr_assert_eq(upd_io_open_mem(&mj, j.p, j.n, CAP), 0);
        int rc = run(&c, mt, mj, NULL);
        cr_assert_eq(rc, UPD_E_JOURNAL, "log byte %zu damaged: %s", at, upd_errname(rc));
        expect_bytes(mt, t.p, t.n, "image after a refused resume");
        upd_io_close(mt);
        upd_io_close(mj);
        e[at] ^= 0x10;
    }
    buf_free(&t);
    buf_free(&j);
    synth_free(&c.sp);
    buf_free(&c.pkg);
}

/* A crash state of an exe-like pair's run (journal unit UNIT_BIG) whose
 * newest slot has an even sequence number, so its save area is the first
 * (journal offset 8192), and whose area holds at least two frames: the
 * images T, J, the status JS, the area's length ALEN. */
#define UNIT_BIG (256u << 10)
#define SLOT_ALEN 104u          /* journal.c: a slot's area length */
#define AREA0 8192u

static int run_big(const crash_case *c, upd_io *target, upd_io *journal)
{
    upd_apply_params p = { .target = target, .journal = journal, .journal_unit = UNIT_BIG,
                           .window = 4u << 20, .flags = UPD_APPLY_INSECURE | c->flags };
    return apply_io(&p, c->pkg.p, c->pkg.n, 4096, NULL);
}

static size_t frames_in(const uint8_t *p, size_t n)
{
    size_t k = 0;
    for (size_t at = 0; at < n; k++) {
        size_t f = ZSTD_findFrameCompressedSize(p + at, n - at);
        cr_assert(!ZSTD_isError(f), "area: not a sequence of frames");
        at += f;
    }
    return k;
}

typedef struct {
    crash_case c;
    upd_header h;
    buf_t t, j;
    upd_journal_status js;
    uint64_t alen;
} mf_state;

static void mf_open(mf_state *m)
{
    crash_case *c = &m->c;
    *m = (mf_state){ .c = { .sector = 512 } };
    cr_assert_eq(synth_make("exe-like", 51, 1u << 20, &c->sp), 0);
    /* the schedule these crash states were found on: zstd, literals last
     * against a dictionary */
    upd_diff_params dp = zstd_params();
    cr_assert_eq(make_pkg(c->sp.old_img, c->sp.old_len, c->sp.new_img, c->sp.new_len, &dp,
                          &c->pkg), 0);
    cr_assert_eq(upd_header_decode(c->pkg.p, c->pkg.n, &m->h), 0);
    for (uint64_t k = 0;; k++) {
        rig r;
        rig_open(&r, c, c->sp.old_img, c->sp.old_len, NULL, 0);
        cr_assert_eq(upd_sim_power_crash_at(r.pw, k), 0);
        cr_assert(run_big(c, r.target, r.journal) < 0, "no state with a two-frame area");
        crash_images(&r, UPD_SIM_DROP_ALL, 0, &m->t, &m->j);
        rig_close(&r);
        upd_io *mj;
        const uint8_t *jp = m->j.p;
        cr_assert_eq(upd_io_open_mem(&mj, jp, m->j.n, CAP), 0);
        cr_assert_eq(upd_journal_read_status(mj, &m->js), 0);
        upd_io_close(mj);
        if (m->js.state == UPD_JOURNAL_RUNNING && m->js.seq % 2 == 0) {
            uint64_t len = 0;   /* slot 0: even sequence numbers */
            for (int b = 7; b >= 0; b--)
                len = len << 8 | jp[SLOT_ALEN + b];
            uint32_t n = (uint32_t)jp[AREA0] | (uint32_t)jp[AREA0 + 1] << 8
                         | (uint32_t)jp[AREA0 + 2] << 16 | (uint32_t)jp[AREA0 + 3] << 24;
            size_t dir = 8 + 16 * (size_t)n;
            if (frames_in(jp + AREA0 + dir, (size_t)len - dir) >= 2) {
                m->alen = len;
                return;
            }
        }
        buf_free(&m->t);
        buf_free(&m->j);
    }
}

static void mf_close(mf_state *m)
{
    buf_free(&m->t);
    buf_free(&m->j);
    synth_free(&m->c.sp);
    buf_free(&m->c.pkg);
}

/* Resume from T and journal bytes JR (resealed for package PKG): the result. */
static int resume_from(crash_case *c, const buf_t *t, uint8_t *jr, size_t jn,
                       const uint8_t pkg[32], const upd_header *h)
{
    upd_jr_fuzz_reseal(jr, jn, pkg, h);
    upd_io *mt, *mj;
    cr_assert_eq(upd_io_open_mem(&mt, t->p, t->n, CAP), 0);
    cr_assert_eq(upd_io_open_mem(&mj, jr, jn, CAP), 0);
    int rc = run_big(c, mt, mj);
    if (rc == 0)
        expect_bytes(mt, c->sp.new_img, c->sp.new_len, "resumed");
    upd_io_close(mt);
    upd_io_close(mj);
    return rc;
}

/* A save area is a sequence of frames (one a compression job): replay
 * takes them all, and refuses (UPD_E_JOURNAL) a frame that is not one, a
 * cut area, bytes after the last frame, and an area that decodes to more
 * bytes than its directory names, even with every checksum made to hold. */
Test(crash, save_area_frames_checked, .timeout = 300)
{
    mf_state m;
    mf_open(&m);
    uint8_t *w = malloc(m.j.n);
    cr_assert(w);
    uint32_t n = (uint32_t)m.j.p[AREA0] | (uint32_t)m.j.p[AREA0 + 1] << 8;
    size_t dir = 8 + 16 * (size_t)n, f0 = AREA0 + dir;
    size_t f1 = f0 + ZSTD_findFrameCompressedSize(m.j.p + f0, (size_t)m.alen - dir);

    /* untouched, resealed: resumes bit-exact */
    memcpy(w, m.j.p, m.j.n);
    cr_assert_eq(resume_from(&m.c, &m.t, w, m.j.n, m.js.package, &m.h), 0);
    for (int v = 0; v < 4; v++) {
        memcpy(w, m.j.p, m.j.n);
        uint64_t len = m.alen;
        if (v == 0)
            w[f1] ^= 0x01;                   /* the second frame's magic */
        else if (v == 1)
            len = m.alen - 1;                /* the last frame cut */
        else if (v == 2)
            memset(w + AREA0 + m.alen, 0xa5, 8), len = m.alen + 8;   /* trailing bytes */
        else
            w[AREA0 + 8 + 8] -= 1;           /* the first range one byte shorter */
        for (int b = 0; b < 8; b++)
            w[SLOT_ALEN + b] = (uint8_t)(len >> (8 * b));
        int rc = resume_from(&m.c, &m.t, w, m.j.n, m.js.package, &m.h);
        cr_assert_eq(rc, UPD_E_JOURNAL, "damage %d: %s", v, upd_errname(rc));
    }
    free(w);
    mf_close(&m);
}

/* A run left by version-2 code (same slots, save areas in one frame) is
 * reported as running but never resumed: UPD_E_JOURNAL, nothing written. */
Test(crash, older_journal_version_refused, .timeout = 300)
{
    mf_state m;
    mf_open(&m);
    for (int s = 0; s < 2; s++) {   /* version 2, slot checksum made to hold */
        uint8_t *p = m.j.p + 4096 * s;
        p[8] = 2;
        uint64_t sum = XXH3_64bits_withSeed(p, 504, 0x7570646a726e6c31ull);
        for (int b = 0; b < 8; b++)
            p[504 + b] = (uint8_t)(sum >> (8 * b));
    }
    upd_io *mj;
    upd_journal_status js2;
    cr_assert_eq(upd_io_open_mem(&mj, m.j.p, m.j.n, CAP), 0);
    cr_assert_eq(upd_journal_read_status(mj, &js2), 0);
    upd_io_close(mj);
    cr_assert_eq(js2.state, UPD_JOURNAL_RUNNING, "an older run must stay visible");
    cr_assert_eq(js2.seq, m.js.seq);
    upd_io *mt;
    cr_assert_eq(upd_io_open_mem(&mt, m.t.p, m.t.n, CAP), 0);
    cr_assert_eq(upd_io_open_mem(&mj, m.j.p, m.j.n, CAP), 0);
    int rc = run_big(&m.c, mt, mj);
    cr_assert_eq(rc, UPD_E_JOURNAL, "version 2 journal: %s", upd_errname(rc));
    expect_bytes(mt, m.t.p, m.t.n, "image after a refused resume");
    expect_bytes(mj, m.j.p, m.j.n, "journal after a refused resume");
    upd_io_close(mt);
    upd_io_close(mj);
    mf_close(&m);
}
