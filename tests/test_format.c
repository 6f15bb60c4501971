/* Format layer: header and manifest codecs, op encoding, varint rules. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include <zstd.h>

static upd_header sample_header(void)
{
    upd_header h = { .version = UPD_FORMAT_VERSION, .block_size = 4096, .seg_count = 3, .seg_max = 1000,
                     .seg_cmax = 900, .old_size = 123456, .new_size = 654321,
                     .stash_size = 77, .op_count = 12, .write_ranges = 5, .stash_ranges = 4,
                     .dict_max = 700, .frozen_ranges = 2 };
    memset(h.old_sha256, 0x11, 32);
    memset(h.new_sha256, 0x22, 32);
    strcpy(h.package_id, "rom.system");
    strcpy(h.from_version, "1.2.3");
    strcpy(h.to_version, "1.2.4");
    return h;
}

static uint64_t rd(const uint8_t *p, int width)
{
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void wr(uint8_t *p, int width, uint64_t v)
{
    for (int i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}

/* Every fixed header field at its FORMAT.md offset. */
#define SAMPLE_HSIZE (UPD_HEADER_MIN + 10 + 5 + 5)
static const struct { size_t off; int width; uint64_t v; } header_layout[] = {
    { 8, 2, UPD_FORMAT_VERSION }, { 10, 2, SAMPLE_HSIZE }, { 12, 4, 0 }, { 16, 4, 4096 },
    { 20, 4, 3 }, { 24, 4, 1000 }, { 28, 4, 900 }, { 32, 8, 123456 }, { 40, 8, 654321 },
    { 48, 8, 77 }, { 56, 8, 12 }, { 128, 4, 5 }, { 132, 4, 4 }, { 136, 4, 700 }, { 140, 4, 2 },
};

Test(format, header_roundtrip, .description = "encode then decode gives the same header, at the documented offsets")
{
    upd_header h = sample_header(), back;
    uint8_t buf[UPD_HEADER_MAX];
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), SAMPLE_HSIZE);
    cr_assert_eq(upd_header_decode(buf, SAMPLE_HSIZE, &back), 0);
    h.header_size = SAMPLE_HSIZE;
    cr_assert_eq(memcmp(&h, &back, sizeof h), 0);
    cr_assert_eq(upd_pkg_prefix_size(&back), SAMPLE_HSIZE + 3 * 84 + 105);
    cr_assert_eq(memcmp(buf, UPD_MAGIC, 8), 0);
    for (size_t i = 0; i < sizeof header_layout / sizeof *header_layout; i++)
        cr_assert_eq(rd(buf + header_layout[i].off, header_layout[i].width), header_layout[i].v,
                     "field at %zu", header_layout[i].off);
    cr_assert(buf[64] == 0x11 && buf[95] == 0x11 && buf[96] == 0x22 && buf[127] == 0x22);
    cr_assert_eq(memcmp(buf + 144, "\x0arom.system\x05" "1.2.3\x05" "1.2.4", SAMPLE_HSIZE - 144), 0);
    /* a header that is only the fixed fields and three empty strings */
    h = sample_header();
    h.package_id[0] = h.from_version[0] = h.to_version[0] = 0;
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), UPD_HEADER_MIN);
    cr_assert_eq(upd_header_decode(buf, UPD_HEADER_MIN, &back), 0);
    cr_assert_eq(back.header_size, UPD_HEADER_MIN);
    cr_assert_str_eq(back.to_version, "");
    /* and the longest one: full-width strings */
    memset(h.package_id, 'a', UPD_ID_MAX);
    memset(h.from_version, '~', UPD_VERSION_MAX);
    memset(h.to_version, ' ', UPD_VERSION_MAX);
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), UPD_HEADER_MAX);
    cr_assert_eq(upd_header_encode(&h, buf, UPD_HEADER_MAX - 1), UPD_E_INVAL);
    cr_assert_eq(upd_header_decode(buf, UPD_HEADER_MAX, &back), 0);
    cr_assert_str_eq(back.package_id, h.package_id);
    cr_assert_str_eq(back.to_version, h.to_version);
    cr_assert_eq(upd_header_size(buf, UPD_HEADER_PREAMBLE), UPD_HEADER_MAX);
}

Test(format, memory_window_example, .description = "FORMAT.md §9's worked need figure, and each range set's price per range")
{
    upd_header h = { .version = UPD_FORMAT_VERSION, .block_size = 4096, .seg_count = 1,
                     .seg_max = 23, .seg_cmax = 32, .old_size = 8192, .new_size = 8192,
                     .op_count = 1, .write_ranges = 1 };
    cr_assert_eq(upd_applier_mem_need(&h, 0), 1212663);
    h.write_ranges = 2;
    cr_assert_eq(upd_applier_mem_need(&h, 0), 1212663 + 24);
    h.stash_ranges = 1;
    cr_assert_eq(upd_applier_mem_need(&h, 0), 1212663 + 24 + 32);
    h.frozen_ranges = 1;
    cr_assert_eq(upd_applier_mem_need(&h, 0), 1212663 + 24 + 32 + 24);
    /* the LZMA2 decoder and its piece buffer */
    h.flags = UPD_PKG_LZMA;
    cr_assert_eq(upd_applier_mem_need(&h, 0), 1212663 + 24 + 32 + 24 + 1245184);
}

Test(format, header_truncated, .description = "every cut of the header is UPD_E_PKG_TRUNCATED")
{
    upd_header h = sample_header(), out;
    uint8_t buf[UPD_HEADER_MAX + 8] = { 0 };
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), SAMPLE_HSIZE);
    for (size_t len = 0; len < SAMPLE_HSIZE; len++)
        cr_assert_eq(upd_header_decode(buf, len, &out), UPD_E_PKG_TRUNCATED, "cut at %zu", len);
    for (size_t len = 0; len < UPD_HEADER_PREAMBLE; len++)
        cr_assert_eq(upd_header_size(buf, len), UPD_E_PKG_TRUNCATED, "cut at %zu", len);
    /* bytes after the header are the manifest's: not read */
    cr_assert_eq(upd_header_decode(buf, sizeof buf, &out), 0);
    cr_assert_eq(out.header_size, SAMPLE_HSIZE);
}

/* Any one flipped bit: refused, or read back as a different header that
 * encodes to exactly the flipped bytes (every bit is some field's). */
Test(format, header_every_bit, .description = "each flipped header bit is refused or changes one field canonically")
{
    upd_header h = sample_header(), out;
    uint8_t buf[UPD_HEADER_MAX], t[UPD_HEADER_MAX], enc[UPD_HEADER_MAX];
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), SAMPLE_HSIZE);
    cr_assert_eq(upd_header_decode(buf, SAMPLE_HSIZE, &h), 0);   /* as decoded: padding too */
    for (size_t i = 0; i < SAMPLE_HSIZE * 8; i++) {
        memcpy(t, buf, SAMPLE_HSIZE);
        t[i / 8] ^= (uint8_t)(1u << i % 8);
        int rc = upd_header_decode(t, SAMPLE_HSIZE, &out);
        if (rc < 0) {
            cr_assert(rc == UPD_E_PKG_MAGIC || rc == UPD_E_PKG_VERSION || rc == UPD_E_PKG_HEADER
                      || rc == UPD_E_PKG_TRUNCATED, "bit %zu: %s", i, upd_errname(rc));
            continue;
        }
        cr_assert_neq(memcmp(&out, &h, sizeof h), 0, "bit %zu was read as nothing", i);
        cr_assert_eq(upd_header_encode(&out, enc, sizeof enc), SAMPLE_HSIZE, "bit %zu", i);
        cr_assert_eq(memcmp(enc, t, SAMPLE_HSIZE), 0, "bit %zu: not canonical", i);
    }
}

Test(format, header_rejects, .description = "each out-of-range field has its own refusal")
{
    upd_header h = sample_header(), out;
    uint8_t buf[UPD_HEADER_MAX], b2[UPD_HEADER_MAX];
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), SAMPLE_HSIZE);
    enum { id = 144, from = id + 1 + 10, to = from + 1 + 5 };   /* the length bytes */
    static const struct { size_t off; int width; uint64_t v; int want; } cases[] = {
        { 0, 1, 0x88, UPD_E_PKG_MAGIC },
        { 7, 1, 0x0b, UPD_E_PKG_MAGIC },
        { 8, 2, 1, UPD_E_PKG_VERSION },                        /* dense diffs */
        { 8, 2, 2, UPD_E_PKG_VERSION },                        /* the 256-byte header */
        { 8, 2, 3, UPD_E_PKG_VERSION },                        /* one interleaved control stream */
        { 8, 2, 4, UPD_E_PKG_VERSION },                        /* no DROP */
        { 8, 2, 5, UPD_E_PKG_VERSION },                        /* diff bytes in one order */
        { 8, 2, 6, UPD_E_PKG_VERSION },                        /* zstd segments only */
        { 8, 2, 8, UPD_E_PKG_VERSION },
        { 10, 2, UPD_HEADER_MIN - 1, UPD_E_PKG_HEADER },       /* header_size range */
        { 10, 2, UPD_HEADER_MAX + 1, UPD_E_PKG_HEADER },
        { 10, 2, 256, UPD_E_PKG_HEADER },                      /* not what the strings take */
        { 10, 2, SAMPLE_HSIZE + 1, UPD_E_PKG_HEADER },
        { 10, 2, SAMPLE_HSIZE - 1, UPD_E_PKG_HEADER },
        { 12, 4, 2, UPD_E_PKG_HEADER },                        /* unknown flag */
        { 12, 4, UPD_PKG_LZMA | 4, UPD_E_PKG_HEADER },
        { 12, 4, 0x80000000u, UPD_E_PKG_HEADER },
        { 16, 4, 12288, UPD_E_PKG_HEADER },                    /* not a power of two */
        { 16, 4, 256, UPD_E_PKG_HEADER },
        { 16, 4, 2u << 20, UPD_E_PKG_HEADER },
        { 20, 4, UPD_MAX_SEGMENTS + 1, UPD_E_PKG_HEADER },
        { 20, 4, 0, UPD_E_PKG_HEADER },                        /* no segments but a seg_max */
        { 24, 4, UPD_MAX_SEG_SIZE + 1, UPD_E_PKG_HEADER },
        { 24, 4, 0, UPD_E_PKG_HEADER },
        { 24, 4, 800, UPD_E_PKG_HEADER },                      /* seg_cmax past its bound */
        { 28, 4, ZSTD_COMPRESSBOUND(1000) + 1, UPD_E_PKG_HEADER },
        { 28, 4, 0, UPD_E_PKG_HEADER },
        { 32, 8, UPD_MAX_IMAGE + 1, UPD_E_PKG_HEADER },
        { 32, 8, 76, UPD_E_PKG_HEADER },                       /* below stash_size */
        { 40, 8, UPD_MAX_IMAGE + 1, UPD_E_PKG_HEADER },
        { 48, 8, 123457, UPD_E_PKG_HEADER },                   /* stash past the old image */
        { 56, 8, 0, UPD_E_PKG_HEADER },
        { 56, 8, 3 * 500 + 1, UPD_E_PKG_HEADER },              /* more ops than control bytes */
        { 56, 8, 4, UPD_E_PKG_HEADER },                        /* below write_ranges */
        { 128, 4, 13, UPD_E_PKG_HEADER },                      /* write_ranges > op_count */
        { 132, 4, 13, UPD_E_PKG_HEADER },                      /* stash_ranges > op_count */
        { 136, 4, UPD_MAX_SEG_SIZE + 1, UPD_E_PKG_HEADER },    /* dict_max */
        { 140, 4, 4, UPD_E_PKG_HEADER },                       /* frozen_ranges > seg_count */
        { id, 1, UPD_ID_MAX + 1, UPD_E_PKG_HEADER },           /* string lengths */
        { id, 1, 9, UPD_E_PKG_HEADER },
        { id + 1, 1, 0x07, UPD_E_PKG_HEADER },                 /* control character in the id */
        { id + 10, 1, 0x00, UPD_E_PKG_HEADER },                /* NUL inside a string */
        { from, 1, UPD_VERSION_MAX + 1, UPD_E_PKG_HEADER },
        { from, 1, 6, UPD_E_PKG_HEADER },
        { from + 1, 1, 0x80, UPD_E_PKG_HEADER },
        { to, 1, 4, UPD_E_PKG_HEADER },
        { to, 1, 0xff, UPD_E_PKG_HEADER },
        { to + 5, 1, 0x7f, UPD_E_PKG_HEADER },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        memset(b2, 0, sizeof b2);   /* (a longer header_size reads these zeros) */
        memcpy(b2, buf, SAMPLE_HSIZE);
        wr(b2 + cases[i].off, cases[i].width, cases[i].v);
        int rc = upd_header_decode(b2, sizeof b2, &out);
        cr_assert_eq(rc, cases[i].want, "case %zu: %s", i, upd_errname(rc));
    }
    /* the encoder refuses what the decoder would */
    h.seg_cmax = 0;
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), UPD_E_PKG_HEADER);
    h = sample_header();
    h.version = 2;
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), UPD_E_PKG_VERSION);
    h = sample_header();
    h.frozen_ranges = 4;
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), UPD_E_PKG_HEADER);
    h = sample_header();
    h.dict_max = UPD_MAX_SEG_SIZE + 1;
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), UPD_E_PKG_HEADER);
    h = sample_header();
    h.to_version[0] = '\n';
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), UPD_E_PKG_HEADER);
    h = sample_header();
    memset(h.package_id, 'a', sizeof h.package_id);   /* no NUL: one byte too long */
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), UPD_E_PKG_HEADER);
    /* no segments: no dictionary limits either */
    h = (upd_header){ .version = UPD_FORMAT_VERSION, .block_size = 4096 };
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), UPD_HEADER_MIN);
    h.dict_max = 1;
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), UPD_E_PKG_HEADER);
    h.dict_max = 0;
    h.frozen_ranges = 1;
    cr_assert_eq(upd_header_encode(&h, buf, sizeof buf), UPD_E_PKG_HEADER);
}

static const upd_seg_entry sample_entry = {
    .csize = 100, .ctrl_len = 13, .diff_len = 300, .dbyte_len = 200, .lit_len = 487,
    .op_count = 5, .lit_csize = 40, .dict_len = 700, .dict_off = 654321 - 700, .dtail_len = 77,
    .sha256 = { 0x33, [31] = 0x44 }
};

Test(format, manifest_entry_roundtrip, .description = "entries round trip, at the documented offsets")
{
    upd_header h = sample_header();
    upd_seg_entry e, back;
    uint8_t buf[UPD_SEG_ENTRY_SIZE];
    /* the struct has padding: copied and cleared bytewise, so memcmp sees fields only */
    memcpy(&e, &sample_entry, sizeof e);
    memset(&back, 0, sizeof back);
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), 0);
    cr_assert_eq(memcmp(&e, &back, sizeof e), 0);
    cr_assert_eq(upd_seg_entry_usize(&back), 1000);
    static const struct { size_t off; int width; uint64_t v; } layout[] = {
        { 0, 4, 100 }, { 4, 4, 13 }, { 8, 4, 300 }, { 12, 4, 487 }, { 16, 4, 5 },
        { 20, 4, 200 }, { 24, 4, 40 }, { 28, 4, 700 }, { 32, 8, 654321 - 700 },
        { 40, 4, 77 }, { 44, 8, 0 }, { 52, 1, 0x33 }, { 83, 1, 0x44 },
    };
    for (size_t i = 0; i < sizeof layout / sizeof *layout; i++)
        cr_assert_eq(rd(buf + layout[i].off, layout[i].width), layout[i].v, "field at %zu",
                     layout[i].off);
    /* one flipped bit anywhere: refused, or read back changed and canonical */
    for (size_t i = 0; i < UPD_SEG_ENTRY_SIZE * 8; i++) {
        uint8_t t[UPD_SEG_ENTRY_SIZE], enc[UPD_SEG_ENTRY_SIZE];
        memcpy(t, buf, sizeof t);
        t[i / 8] ^= (uint8_t)(1u << i % 8);
        int rc = upd_seg_entry_decode(t, &h, &back);
        if (rc < 0) {
            cr_assert_eq(rc, UPD_E_PKG_MANIFEST, "bit %zu", i);
            continue;
        }
        cr_assert_neq(memcmp(&back, &e, sizeof e), 0, "bit %zu was read as nothing", i);
        upd_seg_entry_encode(&back, enc);
        cr_assert_eq(memcmp(enc, t, sizeof t), 0, "bit %zu: not canonical", i);
    }
    /* no literal frame: no dictionary */
    e.lit_csize = e.dict_len = 0;
    e.dict_off = 0;
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), 0);
}

Test(format, manifest_entry_rules, .description = "each out-of-range entry field is refused")
{
    upd_header h = sample_header();
    upd_seg_entry back;
    uint8_t buf[UPD_SEG_ENTRY_SIZE];
    static const struct { size_t off; int width; uint64_t v; } cases[] = {
        { 0, 4, 0 },                         /* csize */
        { 0, 4, 901 },                       /* > seg_cmax */
        { 0, 4, 40 },                        /* not above lit_csize */
        { 4, 4, 14 },                        /* 1001 decoded bytes > seg_max */
        { 4, 4, 12 },                        /* op_count > (ctrl_len - 3) / 2 */
        { 4, 4, 2 },                         /* shorter than a region's head */
        { 4, 4, 0xffffffffu },               /* the sum counts in 64 bits */
        { 8, 4, 199 },                       /* fewer run bytes than diff bytes */
        { 8, 4, 301 },
        { 12, 4, 488 },
        { 12, 4, 0 },                        /* a literal frame without literals */
        { 16, 4, 0 },                        /* op_count */
        { 16, 4, 6 },
        { 20, 4, 201 },
        { 24, 4, 100 },                      /* lit_csize not below csize */
        { 24, 4, 0 },                        /* a dictionary without a literal frame */
        { 28, 4, 0 },                        /* a literal frame without a dictionary */
        { 28, 4, 701 },                      /* > dict_max */
        { 32, 8, 654321 - 699 },             /* window past the larger image */
        { 32, 8, 0xffffffffffffff00ull },    /* the sum would wrap */
        { 40, 4, 201 },                      /* more tails than diff bytes */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        upd_seg_entry_encode(&sample_entry, buf);
        wr(buf + cases[i].off, cases[i].width, cases[i].v);
        cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), UPD_E_PKG_MANIFEST, "case %zu", i);
    }
    /* the window may end exactly at the larger image, old or new */
    upd_seg_entry e = sample_entry;
    e.dict_off = 654321 - 700;
    h.new_size = 100;
    h.old_size = 654321;
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), 0);
    /* an offset without a dictionary */
    e.lit_csize = e.dict_len = 0;
    e.dict_off = 1;
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), UPD_E_PKG_MANIFEST);
    /* every diff byte may be a tail */
    e = sample_entry;
    e.dtail_len = e.dbyte_len;
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), 0);
}

/* An LZMA2 segment's entry: no tails, no literal frame. */
static const upd_seg_entry dense_entry = {
    .csize = 100, .ctrl_len = 13, .diff_len = 300, .dbyte_len = 200, .lit_len = 487,
    .op_count = 5, .dense_len = 5000, .sha256 = { 0x33, [31] = 0x44 }
};

Test(format, manifest_entry_dense, .description = "an LZMA2 segment's dense_len: its offset and rules")
{
    upd_header h = sample_header(), nolzma = sample_header();
    h.flags = UPD_PKG_LZMA;
    upd_seg_entry e = dense_entry, back;
    uint8_t buf[UPD_SEG_ENTRY_SIZE];
    memset(&back, 0, sizeof back);
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(rd(buf + 44, 8), 5000);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), 0);
    cr_assert_eq(back.dense_len, 5000);
    cr_assert_eq(upd_seg_entry_decode(buf, &nolzma, &back), UPD_E_PKG_MANIFEST,
                 "a header without UPD_PKG_LZMA");
    /* as few dense bytes as diff bytes, and up to the larger image */
    e.dense_len = e.dbyte_len;
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), 0);
    e.dense_len = h.new_size;
    upd_seg_entry_encode(&e, buf);
    cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), 0);
    static const struct { size_t off; int width; uint64_t v; } cases[] = {
        { 44, 8, 199 },                      /* fewer dense bytes than diff bytes */
        { 44, 8, 654322 },                   /* past the larger image */
        { 44, 8, 1ull << 63 },
        { 40, 4, 1 },                        /* tails: the dense diff is in record order */
        { 24, 4, 40 },                       /* a literal frame */
        { 8, 4, 0 },                         /* no diff runs: no DIFF op */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        upd_seg_entry_encode(&dense_entry, buf);
        wr(buf + cases[i].off, cases[i].width, cases[i].v);
        if (cases[i].off == 24)
            wr(buf + 28, 4, 700);            /* with its dictionary, as the rules want */
        if (cases[i].off == 8)
            wr(buf + 20, 4, 0);              /* and no diff bytes either */
        cr_assert_eq(upd_seg_entry_decode(buf, &h, &back), UPD_E_PKG_MANIFEST, "case %zu", i);
    }
}

Test(format, auth_rules, .description = "auth block: layout, unknown algorithm and stray bytes refused")
{
    upd_auth a = { .sig_alg = UPD_SIG_ED25519, .key_id = { 1, [7] = 8 }, .sig = { 9, [63] = 10 },
                   .digest = { 0x55, [31] = 0x66 } }, back;
    uint8_t buf[UPD_AUTH_SIZE];
    upd_auth_encode(&a, buf);
    cr_assert_eq(upd_auth_decode(buf, &back), 0);
    cr_assert_eq(memcmp(&a, &back, sizeof a), 0);
    cr_assert(buf[0] == 0x55 && buf[31] == 0x66 && buf[32] == 1 && buf[33] == 1 && buf[40] == 8
              && buf[41] == 9 && buf[104] == 10);
    cr_assert_eq(UPD_AUTH_SIGNED, 41);   /* digest | alg | key id */
    buf[32] = 2;
    cr_assert_eq(upd_auth_decode(buf, &back), UPD_E_PKG_SIGNATURE);
    buf[32] = 0xff;
    cr_assert_eq(upd_auth_decode(buf, &back), UPD_E_PKG_SIGNATURE);
    /* unsigned: every key id and signature byte must be zero */
    a = (upd_auth){ .sig_alg = UPD_SIG_NONE, .digest = { 0x55 } };
    upd_auth_encode(&a, buf);
    cr_assert_eq(upd_auth_decode(buf, &back), 0);
    for (size_t i = 33; i < UPD_AUTH_SIZE; i++) {
        buf[i] = 1;
        cr_assert_eq(upd_auth_decode(buf, &back), UPD_E_PKG_SIGNATURE, "byte %zu", i);
        buf[i] = 0;
    }
}

static uint64_t rnd(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Records of ZEROS zero bytes and BYTES (the last TAILS of them tails)
 * spelled back as a diff of LEN; upd_sparse_skip must agree. */
static int sparse_decode_split(const uint8_t *runs, size_t nr, const uint8_t *bytes, size_t nb,
                               size_t tails, uint64_t len, uint8_t *out)
{
    upd_sparse_cursor c, s;
    uint64_t pos = 0, z;
    uint8_t b;
    int rc;
    upd_sparse_init(&c, runs, nr, bytes, nb, tails);
    s = c;
    while ((rc = upd_sparse_next(&c, pos, len, &z, &b)) > 0) {
        memset(out + pos, 0, z);
        out[pos + z] = b;
        pos += z + 1;
    }
    cr_assert_eq(upd_sparse_skip(&s, len), rc, "skip and next agree on the verdict");
    if (rc == 0) {
        cr_assert(s.run == c.run && s.byte == c.byte && s.tail == c.tail, "and on the end");
        memset(out + pos, 0, z);
        if (c.run != c.run_end || c.byte != c.byte_end || c.tail != c.tail_end)
            return UPD_E_OP_STREAM;
    }
    return rc;
}

static int sparse_decode(const uint8_t *runs, size_t nr, const uint8_t *bytes, size_t nb,
                         uint64_t len, uint8_t *out)
{
    return sparse_decode_split(runs, nr, bytes, nb, 0, len, out);
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

Test(format, sparse_split_records, .description = "split diff bytes: heads for records after zeros, tails for the rest; every stream consumed exactly")
{
    /* the diff 07 00 05 09 0c 00 00 03 00 00: records (0, 07) (1, 05)
     * (0, 09) (0, 0c) (2, 03), then the run of 2 that ends the op */
    static const uint8_t runs[] = { 0, 1, 0, 0, 2, 2 };
    static const uint8_t in_order[] = { 7, 5, 9, 12, 3 }, split[] = { 5, 3, 7, 9, 12 };
    static const uint8_t want[10] = { 7, 0, 5, 9, 12, 0, 0, 3, 0, 0 };
    uint8_t got[10], bytes[5];
    cr_assert_eq(sparse_decode(runs, 6, in_order, 5, 10, got), 0);
    cr_assert_eq(memcmp(got, want, 10), 0);
    memset(got, 0xee, sizeof got);
    cr_assert_eq(sparse_decode_split(runs, 6, split, 5, 3, 10, got), 0);
    cr_assert_eq(memcmp(got, want, 10), 0, "heads 05 03, tails 07 09 0c");
    memcpy(bytes, in_order, 5);
    cr_assert_eq(split_tails(runs, 6, bytes, 5, 10), 3);
    cr_assert_eq(memcmp(bytes, split, 5), 0, "the generator's order");
    /* the same bytes read as if in record order are another diff */
    cr_assert_eq(sparse_decode(runs, 6, split, 5, 10, got), 0);
    cr_assert_neq(memcmp(got, want, 10), 0);
    /* a tail short, a tail over, a head short */
    static const uint8_t short_tail[] = { 5, 3, 7, 9 }, extra[] = { 5, 3, 7, 9, 12, 1 };
    cr_assert_eq(sparse_decode_split(runs, 6, short_tail, 4, 2, 10, got), UPD_E_OP_STREAM,
                 "tails end early");
    cr_assert_eq(sparse_decode_split(runs, 6, extra, 6, 4, 10, got), UPD_E_OP_STREAM,
                 "a tail left over");
    cr_assert_eq(sparse_decode_split(runs, 6, short_tail + 1, 3, 2, 10, got), UPD_E_OP_STREAM,
                 "heads end early");
    static const uint8_t zero_tail[] = { 5, 3, 7, 0, 12 };
    cr_assert_eq(sparse_decode_split(runs, 6, zero_tail, 5, 3, 10, got), UPD_E_OP_DECODE,
                 "a zero tail");
    /* random diffs: split, decoded, exact */
    static uint8_t old_img[50000], new_img[50000], out[50000], r[50010], b[50000];
    uint64_t seed = 7;
    for (int round = 0; round < 50; round++) {
        size_t len = 1 + (size_t)(rnd(&seed) % sizeof old_img);
        for (size_t i = 0; i < len; i++) {
            old_img[i] = (uint8_t)rnd(&seed);
            uint64_t x = rnd(&seed) % 16;
            new_img[i] = (uint8_t)(old_img[i] + (x < 3 ? (uint8_t)rnd(&seed) : 0));
        }
        size_t nr, nb;
        upd_sparse_encode(old_img, new_img, len, r, &nr, b, &nb);
        long t = split_tails(r, nr, b, nb, len);
        cr_assert_geq(t, 0);
        cr_assert_eq(sparse_decode_split(r, nr, b, nb, (size_t)t, len, out), 0, "round %d", round);
        for (size_t i = 0; i < len; i++)
            cr_assert_eq((uint8_t)(old_img[i] + out[i]), new_img[i], "round %d byte %zu", round, i);
    }
}

Test(format, sparse_writer, .description = "dense diffs written in pieces of any size give upd_sparse_encode's streams; a full stream is UPD_E_LIMIT")
{
    static uint8_t old_img[40000], new_img[40000], d[40000], r1[40010], b1[40000], r2[40010],
        b2[40000];
    uint64_t seed = 11;
    for (int round = 0; round < 60; round++) {
        /* two ops per round, so the writer's state crosses an op's end */
        size_t len = 1 + (size_t)(rnd(&seed) % 20000), len2 = 1 + (size_t)(rnd(&seed) % 20000);
        unsigned density = (unsigned)(rnd(&seed) % 4);   /* none, sparse, dense, all */
        for (size_t i = 0; i < len + len2; i++) {
            old_img[i] = (uint8_t)rnd(&seed);
            int change = density == 3 || (density && rnd(&seed) % (density == 1 ? 97 : 3) == 0);
            new_img[i] = (uint8_t)(old_img[i] + (change ? 1 + rnd(&seed) % 255 : 0));
            d[i] = (uint8_t)(new_img[i] - old_img[i]);
        }
        size_t nr = 0, nb = 0, k, l;
        upd_sparse_encode(old_img, new_img, len, r1, &k, b1, &l);
        nr += k, nb += l;
        upd_sparse_encode(old_img + len, new_img + len, len2, r1 + nr, &k, b1 + nb, &l);
        nr += k, nb += l;
        upd_sparse_writer w;
        upd_sparse_writer_init(&w, r2, nr, b2, nb);
        size_t op_len[2] = { len, len2 }, at = 0;
        for (int op = 0; op < 2; op++) {
            for (size_t x = 0; x < op_len[op];) {
                size_t piece = 1 + (size_t)(rnd(&seed) % 3000);
                piece = piece < op_len[op] - x ? piece : op_len[op] - x;
                cr_assert_eq(upd_sparse_write(&w, d + at + x, piece), 0, "round %d", round);
                x += piece;
            }
            at += op_len[op];
            cr_assert_eq(upd_sparse_write_end(&w), 0, "round %d", round);
        }
        cr_assert(w.run == r2 + nr && w.byte == b2 + nb, "round %d: streams filled exactly", round);
        cr_assert_eq(memcmp(r1, r2, nr), 0, "round %d: runs", round);
        cr_assert_eq(memcmp(b1, b2, nb), 0, "round %d: bytes", round);
        /* one byte less room in either stream: refused */
        int limited = 0;
        for (int which = 0; which < 2; which++) {
            if ((which ? nb : nr) == 0)
                continue;
            upd_sparse_writer_init(&w, r2, nr - !which, b2, nb - which);
            int rc = upd_sparse_write(&w, d, len);
            rc = rc ? rc : upd_sparse_write_end(&w);
            rc = rc ? rc : upd_sparse_write(&w, d + len, len2);
            rc = rc ? rc : upd_sparse_write_end(&w);
            cr_assert_eq(rc, UPD_E_LIMIT, "round %d, %s one short", round, which ? "bytes" : "runs");
            limited++;
        }
        cr_assert_geq(limited, 1);
    }
    /* a run that needs a long varint: 2^21 zeros */
    static uint8_t zeros[1u << 21];
    uint8_t run[4], byte[1];
    upd_sparse_writer w;
    upd_sparse_writer_init(&w, run, sizeof run, byte, 0);
    cr_assert_eq(upd_sparse_write(&w, zeros, sizeof zeros), 0);
    cr_assert_eq(upd_sparse_write_end(&w), 0);
    cr_assert(w.run == run + 4 && run[0] == 0x80 && run[1] == 0x80 && run[2] == 0x80 && run[3] == 0x01);
}

Test(format, op_roundtrip_random, .description = "100k random ops encode and decode exactly")
{
    uint64_t seed = 1;
    uint8_t *buf = malloc(upd_ctrl_bound(100000));
    upd_op *ops = malloc(100000 * sizeof *ops);
    size_t n = 0;
    for (int i = 0; i < 100000; i++) {
        upd_op *op = &ops[i];
        memset(op, 0, sizeof *op);
        op->kind = (upd_op_kind)(1 + rnd(&seed) % 7);
        int big = rnd(&seed) % 4 == 0;
        uint64_t lim = big ? (1ull << 61) : (1ull << 24);
        op->dst = rnd(&seed) % lim;
        op->len = 1 + rnd(&seed) % (big ? (1ull << 40) : 4096);
        op->src = rnd(&seed) % lim;
        if (op->kind == UPD_OP_STASH || op->kind == UPD_OP_DROP)
            op->dst = 0;
        if (op->kind == UPD_OP_FILL)
            op->fill = (uint8_t)rnd(&seed);
        if (op->kind == UPD_OP_LIT || op->kind == UPD_OP_FILL || op->kind == UPD_OP_RESIZE)
            op->src = 0;
        if (op->kind == UPD_OP_RESIZE)
            op->dst = 0;
    }
    cr_assert_eq(upd_ctrl_encode(ops, 100000, buf, upd_ctrl_bound(100000), &n), 0);
    cr_assert_eq(upd_ctrl_encode(ops, 100000, buf, n - 1, &n), UPD_E_LIMIT);
    cr_assert_eq(upd_ctrl_encode(ops, 100000, buf, upd_ctrl_bound(100000), &n), 0);
    upd_op_cursor c;
    upd_op got;
    cr_assert_eq(upd_op_cursor_init(&c, buf, n), 0);
    for (int i = 0; i < 100000; i++) {
        cr_assert_eq(upd_op_next(&c, &got), 1, "op %d", i);
        cr_assert_eq(got.kind, ops[i].kind);
        cr_assert_eq(got.dst, ops[i].dst, "op %d dst", i);
        cr_assert_eq(got.src, ops[i].src, "op %d src", i);
        cr_assert_eq(got.len, ops[i].len);
        cr_assert_eq(got.fill, ops[i].fill);
    }
    cr_assert_eq(upd_op_next(&c, &got), 0);
    /* the widest swing of shift, +(2^62 - 2) to -(2^62 - 2), takes a
     * 10-byte source field: the longest op, 29 bytes */
    const uint64_t far = (1ull << 62) - 2;
    upd_op swing[2] = { { UPD_OP_COPY, 0, far, 1, 0 }, { UPD_OP_DIFF, far, 0, 1, 0 } };
    upd_op_base base = { 0 };
    uint8_t part[4];
    cr_assert_eq(upd_op_encode(&swing[0], &base, buf, part), 12);
    cr_assert_eq(upd_op_encode(&swing[1], &base, buf, part), 21);
    cr_assert_eq(part[2], 10);
    cr_assert_eq(upd_ctrl_encode(swing, 2, buf, upd_ctrl_bound(2), &n), 0);
    cr_assert_eq(upd_op_cursor_init(&c, buf, n), 0);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(upd_op_next(&c, &got), 1);
        cr_assert(got.kind == swing[i].kind && got.dst == swing[i].dst && got.src == swing[i].src);
    }
    cr_assert_eq(upd_op_next(&c, &got), 0);
    free(buf);
    free(ops);
}

/* Decode every op of the control region B[0..N); the last result. */
static int decode_all(const uint8_t *b, size_t n)
{
    upd_op_cursor c;
    upd_op op;
    int rc = upd_op_cursor_init(&c, b, n);
    while (rc >= 0 && (rc = upd_op_next(&c, &op)) == 1)
        ;
    return rc;
}

/* A region of one op: kind byte K, destination field D, source field S and
 * length field L (string literals, "" for none), each in its stream.
 * Returns 1 when it decodes to exactly that op, else the error. */
#define ONE(k, d, s, l) one_op(k, (const uint8_t *)d, sizeof d - 1, (const uint8_t *)s, \
                               sizeof s - 1, (const uint8_t *)l, sizeof l - 1)
static int one_op(uint8_t k, const uint8_t *d, size_t nd, const uint8_t *s, size_t ns,
                  const uint8_t *l, size_t nl)
{
    uint8_t b[64];
    size_t n = 0;
    b[n++] = 1;
    b[n++] = (uint8_t)nd;
    b[n++] = (uint8_t)ns;
    b[n++] = k;
    memcpy(b + n, d, nd);
    memcpy(b + n + nd, s, ns);
    memcpy(b + n + nd + ns, l, nl);
    upd_op_cursor c;
    upd_op op;
    int rc = upd_op_cursor_init(&c, b, n + nd + ns + nl);
    if (rc == 0)
        rc = upd_op_next(&c, &op);
    if (rc == 1)
        rc = upd_op_next(&c, &op) == 0 ? 1 : UPD_E_OP_DECODE;   /* every stream used up */
    return rc;
}

Test(format, op_decode_rejects, .description = "malformed op bytes are refused, never misread")
{
    cr_assert_eq(ONE(0x00, "\x00", "", "\x01"), UPD_E_OP_DECODE, "kind 0");
    cr_assert_eq(ONE(0x07, "\x00", "", "\x01"), UPD_E_OP_DECODE, "DROP without a source");
    cr_assert_eq(ONE(0x07, "", "\x04", "\x01"), 1, "DROP [2, 3)");
    cr_assert_eq(ONE(0x0f, "", "\x04", "\x01"), UPD_E_OP_DECODE, "DROP with DOWN");
    cr_assert_eq(ONE(0x07, "", "\x04", "\x00"), UPD_E_OP_DECODE, "DROP of nothing");
    cr_assert_eq(ONE(0x13, "\x00", "", "\x01"), UPD_E_OP_DECODE, "high bits");
    cr_assert_eq(ONE(0x0b, "\x00", "", "\x01"), UPD_E_OP_DECODE, "DOWN where up is shorter");
    cr_assert_eq(ONE(0x0d, "", "\x00", "\x01"), UPD_E_OP_DECODE, "STASH with DOWN");
    cr_assert_eq(ONE(0x03, "\x00", "", "\x00"), UPD_E_OP_DECODE, "zero length");
    cr_assert_eq(ONE(0x01, "\x80", "", ""), UPD_E_OP_DECODE, "truncated varint");
    cr_assert_eq(ONE(0x01, "\x00", "", "\x01"), UPD_E_OP_DECODE, "COPY without a source");
    cr_assert_eq(ONE(0x03, "\x80\x00", "", "\x01"), UPD_E_OP_DECODE, "overlong varint");
    cr_assert_eq(ONE(0x03, "\x01", "", "\x01"), UPD_E_OP_DECODE, "dst = 0 - 1");
    cr_assert_eq(ONE(0x01, "\x00", "\x01", "\x01"), UPD_E_OP_DECODE, "src = dst + 0 - 1");
    cr_assert_eq(ONE(0x03, "\x00", "", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
                 UPD_E_OP_DECODE, "length 2^64 - 1");
    cr_assert_eq(ONE(0x06, "", "", "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"),
                 UPD_E_OP_DECODE, "eleven-byte varint");
    cr_assert_eq(ONE(0x04, "\x00", "", "\x05"), UPD_E_OP_DECODE, "FILL without its byte");
    cr_assert_eq(ONE(0x04, "\x00", "", "\x05\xaa"), 1);
    cr_assert_eq(ONE(0x01, "\x00", "\x04", "\x01"), 1, "COPY from 2");
    cr_assert_eq(ONE(0x01, "\x00", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "\x01"),
                 UPD_E_OP_DECODE, "a shift of -2^63");
    cr_assert_eq(ONE(0x06, "\x00", "", "\x05"), UPD_E_OP_DECODE, "a field no op owns");
    cr_assert_eq(ONE(0x06, "", "\x00", "\x05"), UPD_E_OP_DECODE, "a source no op owns");
    cr_assert_eq(ONE(0x06, "", "", "\x05\x05"), UPD_E_OP_DECODE, "a length no op owns");
    /* LIT [0, 4), then LIT [4, 5) coded down (end 5 = 4 - zz_dec(01)) where
     * up (zz 0) is shorter: not the canonical choice */
    static const uint8_t down[] = { 0x02, 0x02, 0x00, 0x03, 0x0b, 0x00, 0x01, 0x04, 0x01 };
    static const uint8_t up[] = { 0x02, 0x02, 0x00, 0x03, 0x03, 0x00, 0x00, 0x04, 0x01 };
    cr_assert_eq(decode_all(down, sizeof down), UPD_E_OP_DECODE, "DOWN not canonical");
    cr_assert_eq(decode_all(up, sizeof up), 0, "the same ops coded up");
    /* a DROP codes its source from the end of the one before, and a write
     * after DROPs from the last one's end: DROP [2, 3), DROP [3, 5), LIT [5, 6) */
    static const uint8_t drops[] = { 0x03, 0x01, 0x02, 0x07, 0x07, 0x03, 0x00,
                                     0x04, 0x00, 0x01, 0x02, 0x01 };
    upd_op_cursor dc;
    upd_op dop[3];
    cr_assert_eq(upd_op_cursor_init(&dc, drops, sizeof drops), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(upd_op_next(&dc, &dop[i]), 1, "op %d", i);
    upd_op end;
    cr_assert_eq(upd_op_next(&dc, &end), 0);
    cr_assert(dop[0].kind == UPD_OP_DROP && dop[0].src == 2 && dop[0].len == 1);
    cr_assert(dop[1].kind == UPD_OP_DROP && dop[1].src == 3 && dop[1].len == 2);
    cr_assert(dop[2].kind == UPD_OP_LIT && dop[2].dst == 5 && dop[2].len == 1);
    static const uint8_t past_end[] = { 0x01, 0x05, 0x00, 0x06, 0x05 };
    cr_assert_eq(decode_all(past_end, sizeof past_end), UPD_E_OP_DECODE, "stream past the end");
    static const uint8_t no_head[] = { 0x01, 0x00 };
    cr_assert_eq(decode_all(no_head, sizeof no_head), UPD_E_OP_DECODE, "head cut short");
    cr_assert_eq(decode_all(NULL, 0), UPD_E_OP_DECODE, "no head at all");
    static const uint8_t empty[] = { 0x00, 0x00, 0x00 };
    cr_assert_eq(decode_all(empty, sizeof empty), 0, "no ops");
    /* the shift carries over: COPY 0 <- 0 + 2, then COPY 1 <- 1 + (2 - 3),
     * then COPY 2 <- 2 + (-1 - 2): below 0, refused */
    static const uint8_t carry[] = { 0x03, 0x03, 0x03, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00,
                                     0x04, 0x05, 0x03, 0x01, 0x01, 0x01 };
    upd_op_cursor c;
    upd_op op;
    cr_assert_eq(upd_op_cursor_init(&c, carry, sizeof carry), 0);
    cr_assert_eq(upd_op_next(&c, &op), 1);
    cr_assert(op.dst == 0 && op.src == 2);
    cr_assert_eq(upd_op_next(&c, &op), 1);
    cr_assert(op.dst == 1 && op.src == 0, "dst %llu src %llu", (unsigned long long)op.dst,
              (unsigned long long)op.src);
    cr_assert_eq(upd_op_next(&c, &op), UPD_E_OP_DECODE);
    /* a shift delta that overflows 64 bits is refused, not wrapped */
    static const uint8_t wrap[] = { 0x02, 0x02, 0x13, 0x01, 0x01, 0x00, 0x00,
                                    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40,
                                    0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                                    0x01, 0x01 };
    cr_assert_eq(upd_op_cursor_init(&c, wrap, sizeof wrap), 0);
    cr_assert_eq(upd_op_next(&c, &op), 1);
    cr_assert_eq(op.src, 1ull << 61);
    cr_assert_eq(upd_op_next(&c, &op), UPD_E_OP_DECODE);
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

Test(version, number_matches_string, .description = "upd_version_number() and upd_version_string() name the same MAJOR.MINOR.PATCH, and the headers' macros are what the library reports")
{
    unsigned n = upd_version_number();
    char s[32];
    snprintf(s, sizeof s, "%u.%u.%u", n / 10000, n / 100 % 100, n % 100);
    cr_assert_str_eq(s, upd_version_string());
    cr_assert_eq(n, UPD_VERSION_NUMBER);
    cr_assert_str_eq(upd_version_string(), UPD_VERSION_STRING);
}
