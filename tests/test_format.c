/* Format layer: header and manifest codecs, op encoding, varint rules. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static upd_header sample_header(void)
{
    upd_header h = { .version = 1, .block_size = 4096, .seg_count = 3, .seg_max = 1000,
                     .seg_cmax = 900, .old_size = 123456, .new_size = 654321,
                     .stash_size = 77, .op_count = 12 };
    memset(h.old_sha256, 0x11, 32);
    memset(h.new_sha256, 0x22, 32);
    strcpy(h.package_id, "rom.system");
    strcpy(h.from_version, "1.2.3");
    strcpy(h.to_version, "1.2.4");
    return h;
}

Test(format, header_roundtrip, .description = "encode then decode gives the same header")
{
    upd_header h = sample_header(), back;
    uint8_t buf[UPD_HEADER_SIZE];
    cr_assert_eq(upd_header_encode(&h, buf), 0);
    cr_assert_eq(upd_header_decode(buf, sizeof buf, &back), 0);
    cr_assert_eq(memcmp(&h, &back, sizeof h), 0);
    cr_assert_eq(memcmp(buf, UPD_MAGIC, 8), 0);
}

Test(format, header_rejects, .description = "each out-of-range field has its own refusal")
{
    upd_header h = sample_header();
    uint8_t buf[UPD_HEADER_SIZE];
    cr_assert_eq(upd_header_encode(&h, buf), 0);
    upd_header out;
    cr_assert_eq(upd_header_decode(buf, UPD_HEADER_SIZE - 1, &out), UPD_E_PKG_TRUNCATED);
    uint8_t b2[UPD_HEADER_SIZE];
    memcpy(b2, buf, sizeof b2); b2[0] ^= 1;
    cr_assert_eq(upd_header_decode(b2, sizeof b2, &out), UPD_E_PKG_MAGIC);
    memcpy(b2, buf, sizeof b2); b2[8] = 2;
    cr_assert_eq(upd_header_decode(b2, sizeof b2, &out), UPD_E_PKG_VERSION);
    memcpy(b2, buf, sizeof b2); b2[12] = 1;                     /* unknown flag */
    cr_assert_eq(upd_header_decode(b2, sizeof b2, &out), UPD_E_PKG_HEADER);
    memcpy(b2, buf, sizeof b2); b2[17] = 0x30;                  /* block 12288: not a power of two */
    cr_assert_eq(upd_header_decode(b2, sizeof b2, &out), UPD_E_PKG_HEADER);
    memcpy(b2, buf, sizeof b2); b2[128] = 0x07;                 /* control character in the id */
    cr_assert_eq(upd_header_decode(b2, sizeof b2, &out), UPD_E_PKG_HEADER);
    memcpy(b2, buf, sizeof b2); b2[128 + 20] = 'x';             /* junk after the id's NUL */
    cr_assert_eq(upd_header_decode(b2, sizeof b2, &out), UPD_E_PKG_HEADER);
    h.seg_cmax = 0;                                             /* segments but no frame size */
    cr_assert_eq(upd_header_encode(&h, buf), UPD_E_PKG_HEADER);
    h = sample_header();
    h.op_count = 0;
    cr_assert_eq(upd_header_encode(&h, buf), UPD_E_PKG_HEADER);
    h = sample_header();
    memset(h.package_id, 'a', UPD_ID_MAX);
    h.package_id[UPD_ID_MAX] = 0;                               /* full width, no NUL: allowed */
    cr_assert_eq(upd_header_encode(&h, buf), 0);
    cr_assert_eq(upd_header_decode(buf, sizeof buf, &out), 0);
    cr_assert_str_eq(out.package_id, h.package_id);
}

Test(format, manifest_entry_rules, .description = "manifest entries are bounded by the header")
{
    upd_header h = sample_header();
    upd_seg_entry e = { 100, 10, 500, 490, 5, { 0 } }, back;
    uint8_t buf[UPD_SEG_ENTRY_SIZE];
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), 0);
    cr_assert_eq(memcmp(&e, &back, sizeof e), 0);
    e.lit_len = 491;                                            /* 1001 > seg_max */
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), UPD_E_PKG_MANIFEST);
    e.lit_len = 490;
    e.csize = 901;
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), UPD_E_PKG_MANIFEST);
    e.csize = 100;
    e.op_count = 6;                                             /* > ctrl_len / 2 */
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), UPD_E_PKG_MANIFEST);
    e.op_count = 5;
    upd_seg_entry_encode(&e, buf);
    buf[25] = 1;                                                /* reserved byte */
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), UPD_E_PKG_MANIFEST);
}

Test(format, auth_rules, .description = "auth block: unknown algorithm and stray bytes refused")
{
    upd_auth a = { .sig_alg = UPD_SIG_NONE }, back;
    uint8_t buf[UPD_AUTH_SIZE];
    upd_auth_encode(&a, buf);
    cr_assert_eq(upd_auth_decode(buf, &back), 0);
    buf[32] = 9;
    cr_assert_eq(upd_auth_decode(buf, &back), UPD_E_PKG_SIGNATURE);
    buf[32] = 0;
    buf[60] = 1;                                                /* signature bytes without algorithm */
    cr_assert_eq(upd_auth_decode(buf, &back), UPD_E_PKG_SIGNATURE);
}

static uint64_t rnd(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

Test(format, op_roundtrip_random, .description = "100k random ops encode and decode exactly")
{
    uint64_t seed = 1;
    uint8_t *buf = malloc(100000 * UPD_OP_MAX_ENCODED);
    upd_op *ops = malloc(100000 * sizeof *ops);
    size_t n = 0;
    uint64_t prev = 0;
    for (int i = 0; i < 100000; i++) {
        upd_op *op = &ops[i];
        memset(op, 0, sizeof *op);
        op->kind = (upd_op_kind)(1 + rnd(&seed) % 6);
        int big = rnd(&seed) % 4 == 0;
        uint64_t lim = big ? (1ull << 61) : (1ull << 24);
        op->dst = rnd(&seed) % lim;
        op->len = 1 + rnd(&seed) % (big ? (1ull << 40) : 4096);
        op->src = rnd(&seed) % lim;
        if (op->kind == UPD_OP_STASH)
            op->dst = 0;
        if (op->kind == UPD_OP_FILL)
            op->fill = (uint8_t)rnd(&seed);
        if (op->kind == UPD_OP_LIT || op->kind == UPD_OP_FILL || op->kind == UPD_OP_RESIZE)
            op->src = 0;
        if (op->kind == UPD_OP_RESIZE)
            op->dst = 0;
        int k = upd_op_encode(op, &prev, buf + n);
        cr_assert_gt(k, 0);
        n += (size_t)k;
    }
    upd_op_cursor c;
    upd_op got;
    upd_op_cursor_init(&c, buf, n);
    for (int i = 0; i < 100000; i++) {
        cr_assert_eq(upd_op_next(&c, &got), 1, "op %d", i);
        cr_assert_eq(got.kind, ops[i].kind);
        cr_assert_eq(got.dst, ops[i].dst, "op %d dst", i);
        cr_assert_eq(got.src, ops[i].src, "op %d src", i);
        cr_assert_eq(got.len, ops[i].len);
        cr_assert_eq(got.fill, ops[i].fill);
    }
    cr_assert_eq(upd_op_next(&c, &got), 0);
    free(buf);
    free(ops);
}

static int decode_one(const uint8_t *b, size_t n)
{
    upd_op_cursor c;
    upd_op op;
    upd_op_cursor_init(&c, b, n);
    return upd_op_next(&c, &op);
}

Test(format, op_decode_rejects, .description = "malformed op bytes are refused, never misread")
{
    static const uint8_t bad_kind[] = { 0x00, 0, 1 };
    static const uint8_t kind7[] = { 0x07, 0, 1 };
    static const uint8_t high_bits[] = { 0x13, 0, 1 };
    static const uint8_t stash_lit[] = { 0x0b, 0, 1 };          /* bit 3 set */
    static const uint8_t zero_len[] = { 0x03, 0x00, 0x00 };
    static const uint8_t truncated[] = { 0x01, 0x80 };
    static const uint8_t overlong[] = { 0x03, 0x80, 0x00, 0x01 };  /* 0 encoded in 2 bytes */
    static const uint8_t negative[] = { 0x03, 0x01, 0x01 };     /* dst = 0 - 1 */
    static const uint8_t huge[] = { 0x03, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
    static const uint8_t eleven[] = { 0x06, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
    cr_assert_eq(decode_one(bad_kind, sizeof bad_kind), UPD_E_OP_DECODE);
    cr_assert_eq(decode_one(kind7, sizeof kind7), UPD_E_OP_DECODE);
    cr_assert_eq(decode_one(high_bits, sizeof high_bits), UPD_E_OP_DECODE);
    cr_assert_eq(decode_one(stash_lit, sizeof stash_lit), UPD_E_OP_DECODE);
    cr_assert_eq(decode_one(zero_len, sizeof zero_len), UPD_E_OP_DECODE);
    cr_assert_eq(decode_one(truncated, sizeof truncated), UPD_E_OP_DECODE);
    cr_assert_eq(decode_one(overlong, sizeof overlong), UPD_E_OP_DECODE);
    cr_assert_eq(decode_one(negative, sizeof negative), UPD_E_OP_DECODE);
    cr_assert_eq(decode_one(huge, sizeof huge), UPD_E_OP_DECODE);
    cr_assert_eq(decode_one(eleven, sizeof eleven), UPD_E_OP_DECODE);
    static const uint8_t fill_no_byte[] = { 0x04, 0x00, 0x05 };
    cr_assert_eq(decode_one(fill_no_byte, sizeof fill_no_byte), UPD_E_OP_DECODE);
    static const uint8_t ok[] = { 0x04, 0x00, 0x05, 0xaa };
    cr_assert_eq(decode_one(ok, sizeof ok), 1);
}

Test(format, errors_named, .description = "every upd_err has a distinct name and text")
{
    const char *seen_names[128], *seen_text[128];
    int n = 0;
    for (int code = 0; code >= -128; code--) {
        const char *name = upd_errname(code);
        if (!strcmp(name, "UPD_E_UNKNOWN"))
            continue;
        const char *text = upd_strerror(code);
        cr_assert_str_neq(text, "unknown error", "code %d", code);
        for (int i = 0; i < n; i++) {
            cr_assert_str_neq(name, seen_names[i]);
            cr_assert_str_neq(text, seen_text[i]);
        }
        seen_names[n] = name;
        seen_text[n++] = text;
    }
    cr_assert_geq(n, 30);
    cr_assert_str_eq(upd_strerror(-1000), "unknown error");
    cr_assert(upd_is_error(UPD_E_PKG_DIGEST));
    cr_assert(!upd_is_error(0));
}
