/* Format layer: header and manifest codecs, op encoding, varint rules. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static upd_header sample_header(void)
{
    upd_header h = { .version = UPD_FORMAT_VERSION, .block_size = 4096, .seg_count = 3, .seg_max = 1000,
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
    memcpy(b2, buf, sizeof b2); b2[8] = 1;                      /* version 1: dense diffs */
    cr_assert_eq(upd_header_decode(b2, sizeof b2, &out), UPD_E_PKG_VERSION);
    memcpy(b2, buf, sizeof b2); b2[8] = 3;
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
    upd_seg_entry e = { .csize = 100, .ctrl_len = 10, .diff_len = 300, .dbyte_len = 200,
                        .lit_len = 490, .op_count = 5 }, back;
    uint8_t buf[UPD_SEG_ENTRY_SIZE];
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), 0);
    cr_assert_eq(memcmp(&e, &back, sizeof e), 0);
    cr_assert_eq(upd_seg_entry_usize(&back), 1000);
    e.lit_len = 491;                                            /* 1001 > seg_max */
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), UPD_E_PKG_MANIFEST);
    e.lit_len = 490;
    e.dbyte_len = 201;                                          /* diff bytes count too */
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), UPD_E_PKG_MANIFEST);
    e.dbyte_len = 200;
    e.diff_len = 199;                                           /* fewer run bytes than diff bytes */
    e.lit_len = 591;
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), UPD_E_PKG_MANIFEST);
    e.diff_len = 300;
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

/* Records of ZEROS zero bytes and BYTES spelled back as a diff of LEN. */
static int sparse_decode(const uint8_t *runs, size_t nr, const uint8_t *bytes, size_t nb,
                         uint64_t len, uint8_t *out)
{
    upd_sparse_cursor c;
    uint64_t pos = 0, z;
    uint8_t b;
    int rc;
    upd_sparse_init(&c, runs, nr, bytes, nb);
    while ((rc = upd_sparse_next(&c, pos, len, &z, &b)) > 0) {
        memset(out + pos, 0, z);
        out[pos + z] = b;
        pos += z + 1;
    }
    if (rc == 0) {
        memset(out + pos, 0, z);
        if (c.run != c.run_end || c.byte != c.byte_end)
            return UPD_E_OP_STREAM;
    }
    return rc;
}

Test(format, sparse_records, .description = "sparse DIFF records: encode/decode round trip, canonical and bounded")
{
    /* zero runs of every varint width, and back-to-back non-zero bytes */
    static uint8_t old_img[70000], new_img[70000], got[70000], runs[70100], bytes[70000];
    size_t cuts[] = { 0, 1, 127, 128, 129, 200, 16383, 16384, 16500, 69999, 70000 };
    for (size_t i = 0; i < sizeof old_img; i++)
        new_img[i] = old_img[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        for (size_t k = 0; k < 3 && cuts[i] + k < sizeof new_img; k++)
            new_img[cuts[i] + k] += (uint8_t)(1 + k);
        size_t len = cuts[i] + 1 < sizeof new_img ? cuts[i] + 1 : sizeof new_img;
        size_t nr, nb, nr2, nb2;
        upd_sparse_encode(old_img, new_img, len, runs, &nr, bytes, &nb);
        upd_sparse_encode(old_img, new_img, len, NULL, &nr2, NULL, &nb2);
        cr_assert(nr == nr2 && nb == nb2, "counting agrees with encoding");
        cr_assert_leq(nr, len + 10);
        cr_assert_eq(sparse_decode(runs, nr, bytes, nb, len, got), 0);
        for (size_t j = 0; j < len; j++)
            cr_assert_eq((uint8_t)(old_img[j] + got[j]), new_img[j], "byte %zu of %zu", j, len);
    }
    /* hand-made records of a 10-byte op */
    static const uint8_t ok_runs[] = { 2, 0, 6 }, ok_bytes[] = { 5, 9 };
    cr_assert_eq(sparse_decode(ok_runs, 3, ok_bytes, 2, 10, got), 0);
    cr_assert(got[2] == 5 && got[3] == 9 && !got[4] && !got[9]);
    static const uint8_t past[] = { 11 }, overlong[] = { 0x8a, 0x00 }, short_end[] = { 2 };
    static const uint8_t zero_byte[] = { 0 };
    cr_assert_eq(sparse_decode(past, 1, NULL, 0, 10, got), UPD_E_OP_DECODE, "run past the op");
    cr_assert_eq(sparse_decode(overlong, 2, NULL, 0, 10, got), UPD_E_OP_DECODE, "overlong varint");
    cr_assert_eq(sparse_decode(ok_runs, 3, zero_byte, 1, 10, got), UPD_E_OP_DECODE,
                 "a zero diff byte");
    cr_assert_eq(sparse_decode(short_end, 1, ok_bytes, 2, 10, got), UPD_E_OP_STREAM,
                 "no terminal run");
    cr_assert_eq(sparse_decode(ok_runs, 3, ok_bytes, 1, 10, got), UPD_E_OP_STREAM,
                 "diff bytes end early");
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
