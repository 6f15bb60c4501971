/* The upd_err -> FUMO result code table (fumo_result.h): every row as
 * specified, and no named error left out of it. */
#include <criterion/criterion.h>
#include <string.h>

#include <updelta/fumo_result.h>

/* The expected code of every upd_err: a second, independent statement of
 * the table, checked row by row (FUMO 1.0 result codes, reference 3.4). */
static const struct { int err, fumo; } expect[] = {
    { UPD_E_INVAL, 400 }, { UPD_E_NOMEM, 502 }, { UPD_E_LIMIT, 502 }, { UPD_E_STATE, 400 },
    { UPD_E_IO_OPEN, 410 }, { UPD_E_IO_READ, 410 }, { UPD_E_IO_WRITE, 410 },
    { UPD_E_IO_FLUSH, 410 }, { UPD_E_IO_RESIZE, 410 },
    { UPD_E_PKG_MAGIC, 402 }, { UPD_E_PKG_VERSION, 405 }, { UPD_E_PKG_HEADER, 402 },
    { UPD_E_PKG_MANIFEST, 402 }, { UPD_E_PKG_DIGEST, 402 }, { UPD_E_PKG_TRUNCATED, 402 },
    { UPD_E_PKG_TRAILING, 402 }, { UPD_E_SEG_DIGEST, 402 }, { UPD_E_SEG_DECODE, 402 },
    { UPD_E_PKG_SIGNATURE, 404 },
    { UPD_E_OP_DECODE, 402 }, { UPD_E_OP_BOUNDS, 402 }, { UPD_E_OP_STALE, 402 },
    { UPD_E_OP_STASH, 402 }, { UPD_E_OP_STREAM, 402 }, { UPD_E_OP_DICT, 402 }, { UPD_E_OP_DROP, 402 },
    { UPD_E_BASE_SIZE, 403 }, { UPD_E_BASE_HASH, 403 }, { UPD_E_RESULT_HASH, 410 },
    { UPD_E_RESULT_SIZE, 410 },
    { UPD_E_DIFF_TOO_LARGE, 400 }, { UPD_E_COMPRESS, 400 }, { UPD_E_PLAN, 400 },
    { UPD_E_SIG_MISSING, 404 }, { UPD_E_SIG_KEY_UNKNOWN, 404 }, { UPD_E_SIG_KEY_REVOKED, 404 },
    { UPD_E_KEY, 400 }, { UPD_E_PKG_WRONG_ID, 403 }, { UPD_E_PKG_WRONG_FROM, 403 },
    { UPD_E_PKG_ROLLBACK, 405 }, { UPD_E_PKG_CHANGED, 402 }, { UPD_E_JOURNAL, 410 },
    { UPD_E_NET_URL, 411 }, { UPD_E_NET_CONNECT, 412 }, { UPD_E_NET_TIMEOUT, 407 },
    { UPD_E_NET_AUTH, 406 }, { UPD_E_NET_NOT_FOUND, 411 }, { UPD_E_NET_SERVER, 500 },
    { UPD_E_NET_TRANSFER, 503 }, { UPD_E_NET_TLS, 406 }, { UPD_E_NET_TOO_LARGE, 501 },
    { UPD_E_NO_SPACE, 501 },
    { UPD_E_DM_PARSE, 400 }, { UPD_E_DM_LIMIT, 400 }, { UPD_E_DM_AUTH, 400 },
    { UPD_E_DM_NOTIFY, 400 }, { UPD_E_DM_PROTOCOL, 400 }, { UPD_E_DM_NODE, 400 },
    { UPD_E_INTERNAL, 400 },
};
#define NEXPECT (sizeof expect / sizeof expect[0])

Test(fumo, every_row_as_specified)
{
    for (size_t i = 0; i < NEXPECT; i++)
        cr_expect_eq(upd_fumo_result(expect[i].err), expect[i].fumo, "%s -> %d, want %d",
                     upd_errname(expect[i].err), upd_fumo_result(expect[i].err), expect[i].fumo);
}

/* A new upd_err added without a decision here fails: every named code
 * from -1 to -128 has a row in the table (not the 409 fallback) and a row
 * in this test, and maps to a FUMO 1.0 code with a text. */
Test(fumo, every_named_error_is_mapped)
{
    unsigned named = 0;
    for (int c = -1; c >= -128; c--) {
        if (!strcmp(upd_errname(c), "UPD_E_UNKNOWN"))
            continue;
        named++;
        int f = upd_fumo_result(c);
        cr_expect_neq(f, UPD_FUMO_UNDEFINED, "%s has no row in the FUMO table", upd_errname(c));
        cr_expect_not_null(upd_fumo_result_text(f), "%s -> %d, not a FUMO code",
                           upd_errname(c), f);
        cr_expect(f >= 400 && f <= 599, "%s -> %d is not a failure code", upd_errname(c), f);
        size_t i = 0;
        while (i < NEXPECT && expect[i].err != c)
            i++;
        cr_expect_lt(i, NEXPECT, "%s is missing from this test's table", upd_errname(c));
    }
    cr_expect_eq(named, NEXPECT);
}

Test(fumo, success_and_unknown)
{
    cr_expect_eq(upd_fumo_result(UPD_OK), 200);
    cr_expect_eq(upd_fumo_result(12345), 200);   /* a count is a success */
    cr_expect_eq(upd_fumo_result(-77), UPD_FUMO_UNDEFINED);
    cr_expect_eq(upd_fumo_result(-100000), UPD_FUMO_UNDEFINED);
    cr_expect_str_eq(upd_fumo_result_text(402), "Corrupted firmware update package");
    cr_expect_null(upd_fumo_result_text(299));
    cr_expect_null(upd_fumo_result_text(0));
}
