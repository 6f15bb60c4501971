/* libFuzzer target: the fixed parts of a package and the op decoder.
 *
 * The input is read twice:
 *   - as a package prefix: header (upd_header_decode), then the manifest
 *     entries that follow (upd_seg_entry_decode, against the decoded header,
 *     or against a permissive one when the header is refused, so entries
 *     are fuzzed either way), then the auth block (upd_auth_decode, and
 *     upd_keyring_verify against an empty keyring);
 *   - as a control stream (upd_op_cursor over every byte).
 * Oracles: every decoder either refuses or accepts, and what it accepts
 * encodes back to exactly the input bytes (the format is canonical: one
 * encoding per value, FORMAT.md); the version order over the header's
 * three strings is antisymmetric and transitive. */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

#define OFF_LIMIT (1ull << 62)   /* FORMAT.md 6.4: decoded offsets and ends */

static int sign(int v) { return (v > 0) - (v < 0); }

static void check_ops(const uint8_t *data, size_t size)
{
    upd_op_cursor c;
    upd_op op;
    upd_op_base base = { 0 };
    static upd_op ops[4096];   /* the first ones, to encode the region again */
    size_t n = 0;
    int rc = upd_op_cursor_init(&c, data, size);
    while (rc == 0) {
        const uint8_t *at[4];
        memcpy(at, c.s, sizeof at);
        rc = upd_op_next(&c, &op);
        if (rc != 1)
            break;
        rc = 0;
        if (n < sizeof ops / sizeof *ops)
            ops[n] = op;
        n++;
        FUZZ_ASSERT(op.kind >= UPD_OP_COPY && op.kind <= UPD_OP_DROP);
        FUZZ_ASSERT(op.dst < OFF_LIMIT && op.src < OFF_LIMIT && op.len < OFF_LIMIT);
        /* re-encoding gives back exactly the bytes each stream gave up */
        uint8_t enc[UPD_OP_MAX_ENCODED], part[4];
        int bytes = upd_op_encode(&op, &base, enc, part);
        FUZZ_ASSERT(bytes >= 2 && bytes <= 29);
        const uint8_t *e = enc;
        for (int k = 0; k < 4; k++) {
            FUZZ_ASSERT((size_t)(c.s[k] - at[k]) == part[k] && !memcmp(e, at[k], part[k]));
            FUZZ_ASSERT(c.s[k] <= c.end[k] && c.end[k] <= data + size);
            e += part[k];
        }
        FUZZ_ASSERT(base.prev_end == c.prev_end && base.prev_shift == c.prev_shift);
    }
    FUZZ_ASSERT(rc == 0 || rc == UPD_E_OP_DECODE);
    for (int k = 0; rc == 0 && k < 4; k++)
        FUZZ_ASSERT(c.s[k] == c.end[k]);
    if (rc == 0 && n < sizeof ops / sizeof *ops) {
        /* a region decoded to its end encodes back to itself, head included */
        uint8_t *again = malloc(upd_ctrl_bound(n));
        size_t len = 0;
        FUZZ_ASSERT(again && upd_ctrl_encode(ops, n, again, upd_ctrl_bound(n), &len) == 0);
        FUZZ_ASSERT(len == size && !memcmp(again, data, size));
        free(again);
    }
}

/* The three length-prefixed strings after the fixed fields, whatever their
 * bytes: cut at the input's end (and, as C strings, at a NUL). */
static void check_version_order(const uint8_t *data, size_t size)
{
    char v[3][256];
    size_t pos = UPD_HEADER_FIXED;
    for (int i = 0; i < 3; i++) {
        size_t n = pos < size ? data[pos++] : 0;
        n = n < size - pos ? n : size - pos;
        memcpy(v[i], data + pos, n);
        v[i][n] = 0;
        pos += n;
    }
    int c[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            c[i][j] = sign(upd_version_cmp(v[i], v[j]));
    for (int i = 0; i < 3; i++) {
        FUZZ_ASSERT(c[i][i] == 0);
        for (int j = 0; j < 3; j++) {
            FUZZ_ASSERT(c[i][j] == -c[j][i]);
            for (int k = 0; k < 3; k++)
                FUZZ_ASSERT(!(c[i][j] <= 0 && c[j][k] <= 0) || c[i][k] <= 0);
        }
    }
}

static void check_header(const uint8_t *data, size_t size, upd_header *h, int *ok)
{
    *ok = upd_header_decode(data, size, h) == 0;
    if (size < UPD_HEADER_FIXED)
        return;
    check_version_order(data, size);
    if (!*ok)
        return;
    FUZZ_ASSERT(h->header_size == UPD_HEADER_MIN + strlen(h->package_id)
                + strlen(h->from_version) + strlen(h->to_version));
    uint8_t enc[UPD_HEADER_MAX];
    FUZZ_ASSERT(upd_header_encode(h, enc, sizeof enc) == h->header_size);
    FUZZ_ASSERT(!memcmp(enc, data, h->header_size));
    FUZZ_ASSERT(upd_pkg_prefix_size(h) == h->header_size
                + (uint64_t)h->seg_count * UPD_SEG_ENTRY_SIZE + UPD_AUTH_SIZE);
    /* the window check must not overflow for any header the decoder accepts */
    FUZZ_ASSERT(upd_applier_mem_need(h, 0) >= (uint64_t)h->seg_max + h->seg_cmax);
}

static void check_entries(const uint8_t *data, size_t size, const upd_header *h, size_t *off)
{
    for (uint32_t i = 0; i < h->seg_count && size - *off >= UPD_SEG_ENTRY_SIZE; i++) {
        upd_seg_entry e;
        const uint8_t *p = data + *off;
        *off += UPD_SEG_ENTRY_SIZE;
        if (upd_seg_entry_decode(p, h, &e) < 0)
            continue;
        FUZZ_ASSERT(e.csize >= 1 && e.csize <= h->seg_cmax && e.op_count >= 1);
        FUZZ_ASSERT(upd_seg_entry_usize(&e) <= h->seg_max && e.dbyte_len <= e.diff_len
                    && e.dtail_len <= e.dbyte_len);
        FUZZ_ASSERT(e.lit_csize < e.csize && (e.lit_csize == 0) == (e.dict_len == 0));
        FUZZ_ASSERT(e.dict_len <= h->dict_max && (e.dict_len || !e.dict_off));
        FUZZ_ASSERT(e.dict_off + e.dict_len <= (h->old_size > h->new_size ? h->old_size
                                                                          : h->new_size));
        uint8_t enc[UPD_SEG_ENTRY_SIZE];
        upd_seg_entry_encode(&e, enc);
        FUZZ_ASSERT(!memcmp(enc, p, UPD_SEG_ENTRY_SIZE));
    }
}

static void check_auth(const uint8_t *p)
{
    static upd_keyring *empty;
    if (!empty)
        FUZZ_ASSERT(upd_keyring_create(&empty) == 0);
    upd_auth au;
    int rc = upd_auth_decode(p, &au);
    int vr = upd_keyring_verify(empty, p);
    /* nothing verifies against no keys */
    FUZZ_ASSERT(vr < 0 && vr != UPD_E_INTERNAL);
    if (rc < 0)
        return;
    uint8_t enc[UPD_AUTH_SIZE];
    upd_auth_encode(&au, enc);
    FUZZ_ASSERT(!memcmp(enc, p, UPD_AUTH_SIZE));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_ops(data, size);

    upd_header h;
    int ok;
    check_header(data, size, &h, &ok);
    if (size < UPD_HEADER_FIXED)
        return 0;
    size_t off = ok ? h.header_size : UPD_HEADER_MIN;
    if (!ok) {
        /* entries are still worth decoding: judge as many as the raw
         * seg_count field names, from where the raw header_size puts them
         * when it is in range, against the loosest header there is */
        uint32_t n = fuzz_rd32(data + 20);
        size_t hs = (size_t)data[10] | (size_t)data[11] << 8;
        if (hs >= UPD_HEADER_MIN && hs <= UPD_HEADER_MAX)
            off = hs;
        memset(&h, 0, sizeof h);
        h.seg_count = n < UPD_MAX_SEGMENTS ? n : UPD_MAX_SEGMENTS;
        h.seg_max = h.dict_max = UPD_MAX_SEG_SIZE;
        h.seg_cmax = UINT32_MAX;
        h.old_size = h.new_size = UPD_MAX_IMAGE;
    }
    if (off > size)
        return 0;
    check_entries(data, size, &h, &off);
    if (size - off >= UPD_AUTH_SIZE)
        check_auth(data + off);
    return 0;
}
