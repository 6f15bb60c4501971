/* Notification package #0 (dm_notify.h): the reference's vectors both
 * ways, digest checks with the stored and the reset nonces, malformed
 * triggers refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <updelta/dm_notify.h>

/* server id com.example.dm, password srvpwd, session 0x002A, version 11,
 * initiator 1, ui 1 (reference, 2.2) */
#define TRIGGER_HEX "02d8000000002a0e636f6d2e6578616d706c652e646d"
static const char *const vectors[][2] = {
    { "", "ff306b8ff997af7ed597e91542176807" },
    { "\0\0\0\0", "0ad0a544d749283520571e41db14bda1" },
    { "0x00000000", "37b1924bdf3feff4decc50e48a82fcd3" },
};
static const size_t nonce_len[] = { 0, 4, 10 };

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

static upd_dm_notify example(unsigned ui)
{
    upd_dm_notify n = { .version = 11, .ui_mode = ui, .initiator = 1, .session_id = 0x2A };
    strcpy(n.server_id, "com.example.dm");
    return n;
}

Test(dm_notify, encode_vectors, .description = "encoding gives the reference's bytes for three nonces")
{
    for (size_t i = 0; i < 3; i++) {
        upd_dm_notify n = example(1);
        uint8_t out[128], want[128];
        char hex[200];
        snprintf(hex, sizeof hex, "%s%s", vectors[i][1], TRIGGER_HEX);
        size_t wn = unhex(hex, want);
        int len = upd_dm_notify_encode(&n, "srvpwd", vectors[i][0], nonce_len[i], out, sizeof out);
        cr_assert_eq(len, (int)wn, "vector %zu", i);
        cr_expect(memcmp(out, want, wn) == 0, "vector %zu bytes", i);
    }
}

Test(dm_notify, ui_mode_bits, .description = "ui-mode 0 and 3 give the reference's header bytes")
{
    uint8_t out[128], want[8];
    upd_dm_notify n = example(0);
    cr_assert_gt(upd_dm_notify_encode(&n, "p", NULL, 0, out, sizeof out), 0);
    unhex("02c8000000002a0e", want);
    cr_expect(memcmp(out + 16, want, 8) == 0);
    n = example(3);
    cr_assert_gt(upd_dm_notify_encode(&n, "p", NULL, 0, out, sizeof out), 0);
    unhex("02f8000000002a0e", want);
    cr_expect(memcmp(out + 16, want, 8) == 0);
}

Test(dm_notify, decode_and_verify_vectors, .description = "the vectors decode and verify; reset nonces are reported")
{
    for (size_t i = 0; i < 3; i++) {
        uint8_t pkg[128];
        char hex[200];
        snprintf(hex, sizeof hex, "%s%s", vectors[i][1], TRIGGER_HEX);
        size_t len = unhex(hex, pkg);
        upd_dm_notify n;
        cr_assert_eq(upd_dm_notify_decode(pkg, len, &n), 0);
        cr_expect_eq(n.version, 11);
        cr_expect_eq(n.ui_mode, 1);
        cr_expect_eq(n.initiator, 1);
        cr_expect_eq(n.session_id, 0x2A);
        cr_expect_str_eq(n.server_id, "com.example.dm");
        cr_expect_eq(n.vendor_len, 0);
        /* with the nonce it was made with: 0 */
        cr_expect_eq(upd_dm_notify_verify(pkg, len, "com.example.dm", "srvpwd", vectors[i][0],
                                          nonce_len[i], &n), 0, "vector %zu", i);
        /* with another stored nonce: the reset nonces match vectors 1 and 2 */
        int rc = upd_dm_notify_verify(pkg, len, "com.example.dm", "srvpwd", "stale", 5, NULL);
        cr_expect_eq(rc, i == 0 ? UPD_E_DM_NOTIFY : 1, "vector %zu with a stale nonce", i);
    }
}

Test(dm_notify, bad_digest_and_unknown_server, .description = "a flipped bit, another server id or password is UPD_E_DM_NOTIFY")
{
    upd_dm_notify n = example(2);
    uint8_t pkg[128];
    int len = upd_dm_notify_encode(&n, "srvpwd", "N1", 2, pkg, sizeof pkg);
    cr_assert_gt(len, 0);
    cr_expect_eq(upd_dm_notify_verify(pkg, (size_t)len, "com.example.dm", "srvpwd", "N1", 2, NULL), 0);
    cr_expect_eq(upd_dm_notify_verify(pkg, (size_t)len, "com.other.dm", "srvpwd", "N1", 2, NULL), UPD_E_DM_NOTIFY);
    cr_expect_eq(upd_dm_notify_verify(pkg, (size_t)len, "com.example.dm", "other", "N1", 2, NULL), UPD_E_DM_NOTIFY);
    for (int bit = 0; bit < len * 8; bit += 5) {
        uint8_t bad[128];
        memcpy(bad, pkg, (size_t)len);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_expect_eq(upd_dm_notify_verify(bad, (size_t)len, "com.example.dm", "srvpwd", "N1", 2, NULL),
                     UPD_E_DM_NOTIFY, "bit %d flipped", bit);
    }
}

Test(dm_notify, vendor_bytes, .description = "vendor-specific bytes after the server id are kept and covered by the digest")
{
    upd_dm_notify n = example(1);
    n.vendor = (const uint8_t *)"\x01\x02\x03";
    n.vendor_len = 3;
    uint8_t pkg[128];
    int len = upd_dm_notify_encode(&n, "pw", NULL, 0, pkg, sizeof pkg);
    cr_assert_eq(len, 24 + 14 + 3);
    upd_dm_notify got;
    cr_assert_eq(upd_dm_notify_verify(pkg, (size_t)len, "com.example.dm", "pw", NULL, 0, &got), 0);
    cr_expect_eq(got.vendor_len, 3);
    cr_expect(memcmp(got.vendor, "\x01\x02\x03", 3) == 0);
    cr_expect_eq(upd_dm_notify_verify(pkg, (size_t)len - 1, "com.example.dm", "pw", NULL, 0, NULL),
                 UPD_E_DM_NOTIFY, "a cut vendor part breaks the digest");
}

Test(dm_notify, malformed_triggers, .description = "short, bad version, future bits, session 0, id overrun, control bytes")
{
    upd_dm_notify n = example(1), got;
    uint8_t pkg[128];
    int len = upd_dm_notify_encode(&n, "pw", NULL, 0, pkg, sizeof pkg);
    cr_assert_gt(len, 0);
    for (int cut = 0; cut < 24 + 14; cut++)
        cr_expect_eq(upd_dm_notify_decode(pkg, (size_t)cut, &got), UPD_E_DM_NOTIFY, "cut at %d", cut);
    uint8_t bad[128];
    struct { int at; uint8_t val; const char *what; } edits[] = {
        { 16, 0x03, "version 15" }, { 18, 0x01, "future-use bit" }, { 21, 0x00, "session 0 (with 22)" },
        { 23, 0x20, "server id longer than the package" }, { 23, 0x00, "empty server id" },
        { 25, 0x07, "control byte in server id" },
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        memcpy(bad, pkg, (size_t)len);
        bad[edits[i].at] = edits[i].val;
        if (edits[i].at == 21)
            bad[22] = 0;
        cr_expect_eq(upd_dm_notify_decode(bad, (size_t)len, &got), UPD_E_DM_NOTIFY, "%s", edits[i].what);
    }
    /* version 12 is accepted */
    memcpy(bad, pkg, (size_t)len);
    bad[17] = (uint8_t)((bad[17] & 0x3F) | (12 & 3) << 6);
    bad[16] = 12 >> 2;
    cr_expect_eq(upd_dm_notify_decode(bad, (size_t)len, &got), 0);
    cr_expect_eq(got.version, 12);
}

Test(dm_notify, encode_checks_fields, .description = "out-of-range fields and small buffers are UPD_E_INVAL")
{
    uint8_t pkg[128];
    upd_dm_notify n = example(1);
    n.ui_mode = 4;
    cr_expect_eq(upd_dm_notify_encode(&n, "p", NULL, 0, pkg, sizeof pkg), UPD_E_INVAL);
    n = example(1);
    n.session_id = 0;
    cr_expect_eq(upd_dm_notify_encode(&n, "p", NULL, 0, pkg, sizeof pkg), UPD_E_INVAL);
    n = example(1);
    n.server_id[0] = 0;
    cr_expect_eq(upd_dm_notify_encode(&n, "p", NULL, 0, pkg, sizeof pkg), UPD_E_INVAL);
    n = example(1);
    cr_expect_eq(upd_dm_notify_encode(&n, "p", NULL, 0, pkg, 24 + 13), UPD_E_INVAL);
}

Test(dm_notify, session_text, .description = "SessionID text: uppercase hex, no leading zeros")
{
    char s[5];
    cr_expect_eq(upd_dm_notify_session_text(0x2A, s), 2);
    cr_expect_str_eq(s, "2A");
    cr_expect_eq(upd_dm_notify_session_text(0xFFFF, s), 4);
    cr_expect_str_eq(s, "FFFF");
    cr_expect_eq(upd_dm_notify_session_text(1, s), 1);
    cr_expect_str_eq(s, "1");
    cr_expect_eq(upd_dm_notify_session_text(0, s), UPD_E_INVAL);
}
