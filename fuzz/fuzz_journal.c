/* libFuzzer target: journal recovery from arbitrary journal bytes.
 *
 * At start-up, one package is applied journaled on the simulated device
 * and the power is cut at several points; each cut leaves a real journal
 * and a half-updated image (the bases).  Each input picks a base and
 * patches its journal anywhere (slots, save-area directories, the zstd
 * frames, the stash); the patched slots and checksums are then made valid
 * again (upd_jr_fuzz_reseal, an internal hook), so the bytes reach the
 * code behind the checksums: slot choice, directory checks, the save-area
 * decoder, the restore, the replay.
 *
 * Input:  base (1 byte) | patches until the end: offset (u32 LE, modulo the
 *         journal length) | count (1) | count bytes
 *
 * Oracle: no crash, no sanitizer report, nothing written outside the image
 * (the memory handles are capped); a run that succeeds leaves the new
 * image bit for bit (the applier's own hash check, asserted again here).
 * Failing is fine: a journal that lies can only make the run fail. */
#include "fuzz_common.h"
#include "../corpora/synth.h"

#include <string.h>
#include <updelta/iosim.h>

/* engine/apply/applier.h: fuzzing only */
void upd_jr_fuzz_reseal(uint8_t *j, size_t len, const uint8_t pkg[32], const upd_header *h);

#define CAP    (8u << 20)
#define NBASE  8

static struct {
    int ready;
    synth_pair sp;
    buf_t pkg;
    uint8_t digest[32];
    upd_header h;
    buf_t t[NBASE], j[NBASE];
    int n;
} fx;

static int run(upd_io *t, upd_io *j)
{
    upd_apply_params p = { .target = t, .journal = j, .journal_unit = 8192,
                           .window = 4u << 20, .flags = UPD_APPLY_INSECURE };
    return apply_io(&p, fx.pkg.p, fx.pkg.n, 0, NULL);
}

static void snap(upd_io *io, buf_t *b)
{
    const uint8_t *d;
    size_t n;
    upd_io_mem_view(io, &d, &n);
    buf_sink(b, d, n);
}

/* Journals left by power cuts spread over one run. */
static void setup(void)
{
    FUZZ_ASSERT(synth_make("transpose", 7, 48 << 10, &fx.sp) == 0);
    upd_diff_params dp;
    upd_diff_params_default(&dp);
    dp.threads = 1;
    dp.level = 1;
    dp.trials = 1;   /* the applier is under test here, not the generator */
    FUZZ_ASSERT(make_pkg(fx.sp.old_img, fx.sp.old_len, fx.sp.new_img, fx.sp.new_len, &dp,
                         &fx.pkg) == 0);
    upd_header h;
    FUZZ_ASSERT(upd_header_decode(fx.pkg.p, fx.pkg.n, &h) == 0);
    fx.h = h;
    /* the auth block starts with SHA-256(header || manifest): the package's name */
    memcpy(fx.digest, fx.pkg.p + upd_pkg_prefix_size(&h) - UPD_AUTH_SIZE, 32);
    uint64_t total = 0;
    for (int i = 0; i <= NBASE; i++) {
        upd_sim_power *pw;
        upd_io *t, *j, *ct, *cj;
        FUZZ_ASSERT(upd_sim_power_create(&pw) == 0);
        FUZZ_ASSERT(upd_io_open_sim(&t, pw, fx.sp.old_img, fx.sp.old_len, CAP, 512) == 0);
        FUZZ_ASSERT(upd_io_open_sim(&j, pw, NULL, 0, CAP, 512) == 0);
        if (i)
            FUZZ_ASSERT(upd_sim_power_crash_at(pw, total * (uint64_t)i / (NBASE + 1)) == 0);
        run(t, j);
        if (!i) {
            total = upd_sim_power_boundaries(pw);
        } else {
            FUZZ_ASSERT(upd_sim_crash_image(t, UPD_SIM_KEEP_ALL, 0, &ct) == 0);
            FUZZ_ASSERT(upd_sim_crash_image(j, UPD_SIM_KEEP_ALL, 0, &cj) == 0);
            snap(ct, &fx.t[fx.n]);
            snap(cj, &fx.j[fx.n]);
            fx.n++;
            upd_io_close(ct);
            upd_io_close(cj);
        }
        upd_io_close(t);
        upd_io_close(j);
        upd_sim_power_free(pw);
    }
    fx.ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fx.ready)
        setup();
    fuzz_input in = { data, size };
    int b = fuzz_u8(&in) % fx.n;
    buf_t j = { 0 };
    buf_sink(&j, fx.j[b].p, fx.j[b].n);
    while (in.n >= 5 && j.n) {
        uint32_t off = (uint32_t)fuzz_u16(&in) | (uint32_t)fuzz_u16(&in) << 16;
        size_t cnt = fuzz_u8(&in), got;
        const uint8_t *p = fuzz_bytes(&in, cnt, &got);
        off %= (uint32_t)j.n;
        if (got > j.n - off)
            got = j.n - off;
        memcpy(j.p + off, p, got);
    }
    upd_jr_fuzz_reseal(j.p, j.n, fx.digest, &fx.h);
    upd_io *mt, *mj;
    FUZZ_ASSERT(upd_io_open_mem(&mt, fx.t[b].p, fx.t[b].n, CAP) == 0);
    FUZZ_ASSERT(upd_io_open_mem(&mj, j.p, j.n, CAP) == 0);
    int rc = run(mt, mj);
    fuzz_note("base %d: %s\n", b, rc ? upd_errname(rc) : "recovered");
    if (rc == 0) {
        const uint8_t *d;
        size_t n;
        upd_io_mem_view(mt, &d, &n);
        FUZZ_ASSERT(n == fx.sp.new_len && !memcmp(d, fx.sp.new_img, n));
    }
    upd_io_close(mt);
    upd_io_close(mj);
    buf_free(&j);
    return 0;
}
