/* libFuzzer target: arbitrary packages applied to a memory image.
 *
 * Input:  mode (1 byte) | chunk seed (1) | old_len (u16 LE) | old image | package
 *
 *   mode 0x01  out of place (old image in a source handle), else in place
 *        0x02  a caller-supplied stash handle, else the in-memory stash
 *        0x04  raw segments: after the auth block, each segment is given
 *              decoded (ctrl | diff runs | diff bytes | lit, as long as
 *              its manifest entry says; ctrl | dense diff | lit for an
 *              entry with dense_len) and the harness compresses it (zstd
 *              level 1, the literals as a frame of their own when the entry
 *              has a literal frame; LZMA2 at xz's preset 0 for dense_len),
 *              setting its csize (and lit_csize) and, if needed, the
 *              header's seg_cmax; mutations then land on op bytes instead
 *              of on a compressed frame
 *        0x08  keep the digests as given (no reseal)
 *        0x10  UPD_APPLY_ALLOW_DOWNGRADE (else the header's versions must
 *              go up, as the update policy wants)
 *        0x60  piece sizes of the pushes (fuzz_apply_cfg.chunk_shape)
 *        0x80  4 MiB window, else 1 MiB
 *
 * Reseal: production code checks the SHA-256 of header||manifest and of
 * every segment, which no mutation passes.  Like tests/helpers.c reseal(),
 * the harness recomputes them (and old_sha256, over the given old image)
 * before pushing, so the fuzzer reaches the op decoder and validator with
 * the engine unchanged.  The signature is off (UPD_APPLY_INSECURE).
 *
 * Every package runs as a dry run, then (when its op count keeps the work
 * small) as a real run.  Oracles, beyond ASan/UBSan: nothing is written
 * before the header, manifest, auth block and base image are accepted; the
 * source is never written; memory stays within the window (fuzz_common.c);
 * and the real run fails exactly as the dry run does, except with errors
 * only a real run can meet (base image, I/O, in-memory stash, result hash);
 * and when upd_pkg_one_pass_safe() lets the tools skip the dry run, a
 * package the dry run refuses leaves the target (in place) and a stash
 * handle as they were. */
#include "fuzz_common.h"

enum {
    MODE_OUT_OF_PLACE = 0x01, MODE_STASH_IO = 0x02, MODE_RAW = 0x04, MODE_KEEP = 0x08,
    MODE_DOWNGRADE = 0x10, MODE_BIG_WINDOW = 0x80
};

/* A real run costs up to op_count * image length bytes of I/O; past this
 * many ops only the dry run (no image I/O) runs. */
#define REAL_RUN_MAX_OPS 2048

enum { H_OPS = 56 };   /* header op_count offset (FORMAT.md 2) */

/* Errors a dry run cannot meet: it reads no image, holds no in-memory
 * stash and hashes no result. */
static int real_run_only(int rc)
{
    return rc == UPD_E_BASE_SIZE || rc == UPD_E_BASE_HASH || rc == UPD_E_RESULT_HASH
        || rc == UPD_E_LIMIT || rc == UPD_E_NOMEM
        || (rc <= UPD_E_IO_OPEN && rc >= UPD_E_IO_RESIZE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = { data, size };
    const uint8_t mode = fuzz_u8(&in);
    const uint8_t seed = fuzz_u8(&in);
    size_t old_len;
    const uint8_t *old_img = fuzz_bytes(&in, fuzz_u16(&in), &old_len);

    buf_t pkg = { 0 };
    if (mode & MODE_RAW)
        fuzz_frame_segments(in.p, in.n, &pkg);
    else
        FUZZ_ASSERT(buf_sink(&pkg, in.p, in.n) == 0);
    if (!(mode & MODE_KEEP))
        fuzz_reseal(pkg.p, pkg.n, old_img, old_len);

    fuzz_apply_cfg cfg = {
        .flags = mode & MODE_DOWNGRADE ? UPD_APPLY_ALLOW_DOWNGRADE : 0,
        .out_of_place = !!(mode & MODE_OUT_OF_PLACE),
        .stash_io = !!(mode & MODE_STASH_IO),
        .window = mode & MODE_BIG_WINDOW ? 4u << 20 : 1u << 20,
        .cap = 2 * FUZZ_IMAGE_MAX,
        .chunk_shape = (mode >> 5) & 3,
        .chunk_seed = seed,
    };
    fuzz_apply_cfg dry = cfg;
    dry.flags |= UPD_APPLY_DRY_RUN;
    const int rc_dry = fuzz_apply_mem(&dry, old_img, old_len, pkg.p, pkg.n, NULL);
    const uint64_t ops = pkg.n >= UPD_HEADER_FIXED ? fuzz_rd64(pkg.p + H_OPS) : 0;
    fuzz_note("fuzz_apply: mode 0x%02x, %zu package bytes: dry run %s", mode, pkg.n,
              upd_errname(rc_dry));
    if (ops <= REAL_RUN_MAX_OPS) {
        const int one_pass = upd_pkg_one_pass_safe(pkg.p, pkg.n, pkg.n);
        /* in place: out of place the base check sizes the target, which
         * the tools make a temporary file */
        cfg.refused = one_pass && rc_dry < 0 && !cfg.out_of_place;
        const int rc = fuzz_apply_mem(&cfg, old_img, old_len, pkg.p, pkg.n, NULL);
        fuzz_note(", real run %s%s", upd_errname(rc), one_pass ? " (one pass)" : "");
        if (!real_run_only(rc))
            FUZZ_ASSERT(rc == rc_dry);
        if (rc == 0 || rc == UPD_E_RESULT_HASH)
            FUZZ_ASSERT(rc_dry == 0);
    }
    fuzz_note("\n");
    buf_free(&pkg);
    return 0;
}
