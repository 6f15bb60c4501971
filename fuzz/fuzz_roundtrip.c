/* libFuzzer target: diff -> apply round trip on fuzzer-chosen images.
 *
 * Input:  flags (1 byte) | chunk seed (1) | old_len (u16 LE) | old image | rest
 *
 *   flags 0x03  generator stash budget: default, 0 (every cycle becomes
 *               literals), 64 bytes, 4 KiB (partial stash, partial literals)
 *         0x04  REST is an edit script over the old image (below), else
 *               REST is the new image itself
 *         0x08  the applier gets a caller-supplied stash handle
 *         0x30  piece sizes of the pushes (fuzz_apply_cfg.chunk_shape)
 *         0x40  every match trial (UPD_MAX_TRIALS), else one: whichever
 *               trial is kept must apply exactly
 *
 * Edit script: commands until the input ends, each a byte C with K = C & 3
 * and A = C >> 2:
 *   K=0  copy old[off, off+len)                       off, len: u16 each
 *   K=1  A+1 literal bytes from the script
 *   K=2  copy old[off, off+len), every (A+1)-th byte incremented (a DIFF)
 *   K=3  len copies of byte B                         len: u16, B: 1 byte
 * Offsets wrap modulo old_len and copies stop at its end; the new image
 * stops at FUZZ_IMAGE_MAX.  Moved, edited and repeated blocks are what
 * make the in-place planner cut cycles, which raw splits rarely reach.
 *
 * Oracle: upd_diff succeeds (small images, generous window), and its
 * package applied out of place and in place gives NEW bit for bit. */
#include "fuzz_common.h"

#include <string.h>

enum { F_STASH = 0x03, F_EDIT = 0x04, F_STASH_IO = 0x08, F_TRIALS = 0x40 };

/* LEN cut to what the new image may still take. */
static size_t room(const buf_t *nw, size_t len)
{
    return len < FUZZ_IMAGE_MAX - nw->n ? len : FUZZ_IMAGE_MAX - nw->n;
}

/* Copy LEN bytes of OLD from OFF (wrapped) into NEW, adding 1 to every
 * STEP-th byte when STEP is non-zero. */
static void put_copy(buf_t *nw, const uint8_t *old_img, size_t old_len, size_t off,
                     size_t len, size_t step)
{
    if (!old_len)
        return;
    off %= old_len;
    len = room(nw, len < old_len - off ? len : old_len - off);
    size_t at = nw->n;
    FUZZ_ASSERT(buf_sink(nw, old_img + off, len) == 0);
    for (size_t i = step ? step - 1 : len; i < len; i += step)
        nw->p[at + i]++;
}

static void run_script(fuzz_input *in, const uint8_t *old_img, size_t old_len, buf_t *nw)
{
    while (in->n && nw->n < FUZZ_IMAGE_MAX) {
        const uint8_t c = fuzz_u8(in);
        const size_t a = c >> 2;
        size_t off, len;
        const uint8_t *lit;
        switch (c & 3) {
        case 0:
        case 2:
            off = fuzz_u16(in);
            len = fuzz_u16(in);
            put_copy(nw, old_img, old_len, off, len, (c & 3) == 2 ? a + 1 : 0);
            break;
        case 1:
            lit = fuzz_bytes(in, a + 1, &len);
            FUZZ_ASSERT(buf_sink(nw, lit, room(nw, len)) == 0);
            break;
        default:
            len = room(nw, fuzz_u16(in));
            uint8_t run[256];
            memset(run, fuzz_u8(in), sizeof run);
            for (size_t n; len; len -= n) {
                n = len < sizeof run ? len : sizeof run;
                FUZZ_ASSERT(buf_sink(nw, run, n) == 0);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t stash_max[4] = { UPD_DEFAULT_STASH_MAX, 0, 64, 4096 };
    fuzz_input in = { data, size };
    const uint8_t flags = fuzz_u8(&in);
    const uint8_t seed = fuzz_u8(&in);
    size_t old_len, new_len;
    const uint8_t *old_img = fuzz_bytes(&in, fuzz_u16(&in), &old_len);
    buf_t nw = { 0 };
    if (flags & F_EDIT) {
        run_script(&in, old_img, old_len, &nw);
    } else {
        const uint8_t *p = fuzz_bytes(&in, FUZZ_IMAGE_MAX, &new_len);
        FUZZ_ASSERT(buf_sink(&nw, p, new_len) == 0);
    }

    upd_diff_params dp;
    upd_diff_params_default(&dp);
    dp.level = 1;
    dp.threads = 1;
    dp.stash_max = stash_max[flags & F_STASH];
    dp.trials = flags & F_TRIALS ? UPD_MAX_TRIALS : 1;
    buf_t pkg = { 0 };
    int rc = upd_diff(old_img, old_len, nw.p, nw.n, &dp, buf_sink, &pkg, NULL);
    FUZZ_ASSERT(rc == 0);
    fuzz_note("fuzz_roundtrip: flags 0x%02x, %zu -> %zu bytes, package %zu bytes\n", flags,
              old_len, nw.n, pkg.n);

    buf_t got = { 0 };
    for (int out_of_place = 0; out_of_place <= 1; out_of_place++) {
        fuzz_apply_cfg cfg = {
            .out_of_place = out_of_place,
            .stash_io = !!(flags & F_STASH_IO),
            .window = UPD_DEFAULT_WINDOW,
            .cap = FUZZ_IMAGE_MAX,
            .chunk_shape = (flags >> 4) & 3,
            .chunk_seed = seed,
        };
        rc = fuzz_apply_mem(&cfg, old_img, old_len, pkg.p, pkg.n, &got);
        FUZZ_ASSERT(rc == 0);
        FUZZ_ASSERT(got.n == nw.n && (!got.n || !memcmp(got.p, nw.p, got.n)));
    }
    buf_free(&got);
    buf_free(&pkg);
    buf_free(&nw);
    return 0;
}
