/* libFuzzer target: crash-point apply.  The input picks a pair, where the
 * power fails during a journaled in-place apply on the simulated device
 * (iosim.h), how the unflushed writes land, and optionally a second crash
 * during the recovery; the recovery must end bit-exact.
 *
 * Input:  kind (1 byte) | size (u16 LE) | seed (1) | sector shift (1) |
 *         unit (1) | crash point (u16) | mode (1) | tear seed (u16) |
 *         second crash point (u16, 0xffff: none) | second mode (1)
 *
 *   kind      synthetic pair kind (corpora/synth.h), modulo their number
 *   size      old image size, up to FUZZ_IMAGE_MAX
 *   sector    the devices' tear unit, 2^(9 + shift % 4): 512 .. 4096
 *   unit      journal unit, (1 + unit % 16) * 4 KiB
 *   point     crash after that many write/flush/resize boundaries
 *             (modulo the clean run's count)
 *   mode      upd_sim_mode, modulo the number of modes
 *
 * Oracle: the first run stops with an error or finishes; the recovery run
 * (crashed again when asked, then run once more) finishes with the new
 * image, bit for bit.  Unlike tests/test_crash.c, which walks every crash
 * point of twelve fixed pairs, this explores pairs, unit sizes and tear
 * patterns the tests do not enumerate. */
#include "fuzz_common.h"
#include "../corpora/synth.h"

#include <string.h>
#include <updelta/iosim.h>

#define CAP (16u << 20)

typedef struct {
    const buf_t *pkg;
    uint32_t unit, sector;
} rig_cfg;

static int run(const rig_cfg *c, upd_io *t, upd_io *j)
{
    upd_apply_params p = { .target = t, .journal = j, .journal_unit = c->unit,
                           .window = 4u << 20, .flags = UPD_APPLY_INSECURE };
    return apply_io(&p, c->pkg->p, c->pkg->n, 0, NULL);
}

/* Run on sim devices holding T and J, crashing after boundary K (UINT64_MAX:
 * never); the crash images under MODE/SEED replace T and J.  Returns the
 * boundaries the run went through. */
static uint64_t crash_once(const rig_cfg *c, buf_t *t, buf_t *j, uint64_t k, upd_sim_mode mode,
                           uint64_t seed)
{
    upd_sim_power *pw;
    upd_io *st, *sj, *ct, *cj;
    FUZZ_ASSERT(upd_sim_power_create(&pw) == 0);
    FUZZ_ASSERT(upd_io_open_sim(&st, pw, t->p, t->n, CAP, c->sector) == 0);
    FUZZ_ASSERT(upd_io_open_sim(&sj, pw, j->p, j->n, CAP, c->sector) == 0);
    if (k != UINT64_MAX)
        FUZZ_ASSERT(upd_sim_power_crash_at(pw, k) == 0);
    int rc = run(c, st, sj);
    /* only the power cut may stop it */
    FUZZ_ASSERT(rc == 0 || (rc <= UPD_E_IO_OPEN && rc >= UPD_E_IO_RESIZE));
    uint64_t b = upd_sim_power_boundaries(pw);
    FUZZ_ASSERT(upd_sim_crash_image(st, mode, seed, &ct) == 0);
    FUZZ_ASSERT(upd_sim_crash_image(sj, mode, seed, &cj) == 0);
    const uint8_t *d;
    size_t n;
    buf_free(t);
    buf_free(j);
    upd_io_mem_view(ct, &d, &n);
    buf_sink(t, d, n);
    upd_io_mem_view(cj, &d, &n);
    buf_sink(j, d, n);
    upd_io_close(ct);
    upd_io_close(cj);
    upd_io_close(st);
    upd_io_close(sj);
    upd_sim_power_free(pw);
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = { data, size };
    const char *const *kinds = synth_kinds();
    size_t nk = 0;
    while (kinds[nk])
        nk++;
    const char *kind = kinds[fuzz_u8(&in) % nk];
    size_t isize = fuzz_u16(&in) % FUZZ_IMAGE_MAX + 1;
    uint8_t pseed = fuzz_u8(&in);
    rig_cfg c = { .sector = 512u << (fuzz_u8(&in) % 4),
                  .unit = (1u + fuzz_u8(&in) % 16) * 4096u };
    uint16_t point = fuzz_u16(&in);
    upd_sim_mode mode = (upd_sim_mode)(fuzz_u8(&in) % (UPD_SIM_REORDER + 1));
    uint16_t tseed = fuzz_u16(&in);
    uint16_t point2 = fuzz_u16(&in);
    upd_sim_mode mode2 = (upd_sim_mode)(fuzz_u8(&in) % (UPD_SIM_REORDER + 1));

    synth_pair sp;
    if (synth_make(kind, pseed, isize, &sp) < 0)
        return 0;
    upd_diff_params dp;
    upd_diff_params_default(&dp);
    dp.threads = 1;
    dp.level = 1;
    dp.trials = 1;   /* the applier is under test here, not the generator */
    buf_t pkg = { 0 };
    FUZZ_ASSERT(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &dp, &pkg) == 0);
    c.pkg = &pkg;

    /* a clean run counts the boundaries; the crash point falls among them */
    buf_t t = { 0 }, j = { 0 };
    buf_sink(&t, sp.old_img, sp.old_len);
    uint64_t total = crash_once(&c, &t, &j, UINT64_MAX, UPD_SIM_DROP_ALL, 0);
    FUZZ_ASSERT(t.n == sp.new_len && (!t.n || !memcmp(t.p, sp.new_img, t.n)));
    buf_free(&t);
    buf_free(&j);
    buf_sink(&t, sp.old_img, sp.old_len);
    crash_once(&c, &t, &j, total ? point % total : 0, mode, tseed);
    if (point2 != 0xffff)
        crash_once(&c, &t, &j, point2 % (total + 1), mode2, tseed ^ 0x5a5a);
    fuzz_note("%s %zu bytes, unit %u, sector %u: crash %u/%llu mode %d, then %d\n", kind, isize,
              c.unit, c.sector, point, (unsigned long long)total, (int)mode, (int)point2);

    /* the recovery: on memory, to the end */
    upd_io *mt, *mj;
    FUZZ_ASSERT(upd_io_open_mem(&mt, t.p, t.n, CAP) == 0);
    FUZZ_ASSERT(upd_io_open_mem(&mj, j.p, j.n, CAP) == 0);
    int rc = run(&c, mt, mj);
    FUZZ_ASSERT(rc == 0);
    const uint8_t *d;
    size_t n;
    upd_io_mem_view(mt, &d, &n);
    FUZZ_ASSERT(n == sp.new_len && (!n || !memcmp(d, sp.new_img, n)));
    upd_io_close(mt);
    upd_io_close(mj);
    buf_free(&t);
    buf_free(&j);
    buf_free(&pkg);
    synth_free(&sp);
    return 0;
}
