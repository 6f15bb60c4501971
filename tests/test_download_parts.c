/* The download agent's pure parts: Content-Range parsing (spaces and all),
 * header values, the retry delay, the state file, and the curl/HTTP ->
 * upd_err mapping. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dl_internal.h"

static int cr(const char *s, dl_range *r) { return dl_parse_content_range(s, strlen(s), r); }

Test(content_range, plain_and_spaced)
{
    static const char *const same[] = {
        "bytes 100-199/1000", "bytes=100-199/1000", "bytes = 100 - 199 / 1000",
        "  BYTES 100-199/1000\r\n", "bytes\t100 -199/ 1000", "Bytes =100-199/1000  ",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        dl_range r = { 0 };
        cr_expect_eq(cr(same[i], &r), 0, "'%s' refused", same[i]);
        cr_expect(r.first == 100 && r.last == 199 && r.total == 1000, "'%s' misread", same[i]);
    }
    dl_range r;
    cr_expect_eq(cr("bytes 0-0/1", &r), 0);
    cr_expect_eq(cr("bytes 5-9/*", &r), 0);
    cr_expect_eq(r.total, 0, "'*' means unknown");
    cr_expect_eq(cr("bytes 0-18446744073709551614/18446744073709551615", &r), 0);
}

Test(content_range, malformed)
{
    static const char *const bad[] = {
        "", "bytes", "bytes 1-/10", "bytes -5/10", "bytes 9-5/10", "bytes 0-10/10",
        "bytes 0-9", "bytes 0-9/", "bytes 0-9/10x", "items 0-9/10", "bytes 0-9/10/11",
        "bytes 0-99999999999999999999/10", "bytes -1-9/10", "bytes */10", "bytes 0 9/10",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dl_range r;
        cr_expect_eq(cr(bad[i], &r), -1, "'%s' accepted", bad[i]);
    }
}

Test(headers, value_trimmed_and_case_blind)
{
    char v[16];
    const char *l = "etag:   \"abc\" \r\n";
    cr_expect_eq(dl_header_value(l, strlen(l), "ETag", v, sizeof v), 1);
    cr_expect_str_eq(v, "\"abc\"");
    l = "ETags: x\r\n";
    cr_expect_eq(dl_header_value(l, strlen(l), "ETag", v, sizeof v), 0);
    l = "ETag: 0123456789abcdefXYZ\r\n";
    cr_expect_eq(dl_header_value(l, strlen(l), "ETag", v, sizeof v), 0, "too long for OUT");
}

Test(backoff, doubles_caps_and_jitters)
{
    /* equal jitter: [d/2, d] */
    for (uint32_t rnd = 0; rnd < 5000; rnd += 7) {
        unsigned d1 = dl_backoff_ms(1, 100, 10000, rnd);
        unsigned d3 = dl_backoff_ms(3, 100, 10000, rnd);
        unsigned d20 = dl_backoff_ms(20, 100, 10000, rnd);
        cr_assert(d1 >= 50 && d1 <= 100, "attempt 1: %u", d1);
        cr_assert(d3 >= 200 && d3 <= 400, "attempt 3: %u", d3);
        cr_assert(d20 >= 5000 && d20 <= 10000, "attempt 20 capped: %u", d20);
    }
    cr_expect_neq(dl_backoff_ms(4, 100, 10000, 1), dl_backoff_ms(4, 100, 10000, 401),
                  "the random part changes the delay");
    cr_expect_eq(dl_backoff_ms(1000000, 100, 30000, 0), 15000, "no overflow on huge attempts");
}

static char tmpdir[64];

static void mkdir_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/upd-dlstate-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(state, .init = mkdir_tmp, .fini = rm_tmp);

Test(state, round_trip_and_atomic_replace)
{
    char path[128], tmp[160];
    snprintf(path, sizeof path, "%s/x.part.state", tmpdir);
    snprintf(tmp, sizeof tmp, "%s/.x.part.state.tmp", tmpdir);
    dl_state s = { .url = "https://127.0.0.1:8443/pkg", .validator = "\"5f-17a\"",
                   .validator_is_etag = 1, .total = 123456789012ull, .done = 4096 };
    cr_assert_eq(dl_state_save(path, &s), 0);
    cr_expect_neq(access(tmp, F_OK), 0, "temporary file left behind");
    s.done = 8192;
    cr_assert_eq(dl_state_save(path, &s), 0);
    dl_state l;
    memset(&l, 0xAA, sizeof l);
    cr_assert_eq(dl_state_load(path, &l), 0);
    cr_expect_str_eq(l.url, s.url);
    cr_expect_str_eq(l.validator, s.validator);
    cr_expect_eq(l.validator_is_etag, 1);
    cr_expect_eq(l.total, s.total);
    cr_expect_eq(l.done, 8192);
    dl_state e = { .url = "http://h/p", .validator = "" };
    cr_assert_eq(dl_state_save(path, &e), 0);
    cr_assert_eq(dl_state_load(path, &l), 0);
    cr_expect_str_eq(l.validator, "");
    cr_expect_eq(l.validator_is_etag, 0);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(state, damaged_files_are_refused)
{
    static const char *const bad[] = {
        "",
        "updelta-download-state 1\nurl http://h/p\nvalidator E\"x\"\ntotal 10\ndone 5\n",
        "updelta-download-state 2\nurl http://h/p\nvalidator E\"x\"\ntotal 10\ndone 5\nend\n",
        "updelta-download-state 1\nurl http://h/p\nvalidator X\"x\"\ntotal 10\ndone 5\nend\n",
        "updelta-download-state 1\nurl http://h/p\nvalidator E\"x\"\ntotal 10\ndone 11\nend\n",
        "updelta-download-state 1\nurl http://h/p\nvalidator E\"x\"\ntotal 10\ndone -1\nend\n",
        "updelta-download-state 1\nurl http://h/p\nvalidator E\"x\"\ntotal 1x\ndone 5\nend\n",
        "updelta-download-state 1\nurl http://h/p\nvalidator E\"x\"\ndone 5\ntotal 10\nend\n",
        "updelta-download-state 1\nurl http://h/p\nvalidator E\"x\"\ntotal 10\ndone 5\nend\nmore",
    };
    char path[128];
    snprintf(path, sizeof path, "%s/bad.state", tmpdir);
    dl_state s;
    cr_expect_eq(dl_state_load(path, &s), UPD_E_IO_OPEN, "absent");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i]);
        cr_expect_eq(dl_state_load(path, &s), UPD_E_IO_READ, "accepted #%zu", i);
    }
    dl_state nl = { .url = "http://h/p\nvalidator Eevil" };
    cr_expect_eq(dl_state_save(path, &nl), UPD_E_INVAL, "a newline would forge a field");
}

Test(mapping, curl_and_http)
{
    static const struct { int curl, err; } curl_rows[] = {
        { CURLE_OK, 0 }, { CURLE_URL_MALFORMAT, UPD_E_NET_URL },
        { CURLE_UNSUPPORTED_PROTOCOL, UPD_E_NET_URL }, { CURLE_COULDNT_CONNECT, UPD_E_NET_CONNECT },
        { CURLE_COULDNT_RESOLVE_HOST, UPD_E_NET_CONNECT },
        { CURLE_OPERATION_TIMEDOUT, UPD_E_NET_TIMEOUT },
        { CURLE_PEER_FAILED_VERIFICATION, UPD_E_NET_TLS }, { CURLE_SSL_CONNECT_ERROR, UPD_E_NET_TLS },
        { CURLE_PARTIAL_FILE, UPD_E_NET_TRANSFER }, { CURLE_RECV_ERROR, UPD_E_NET_TRANSFER },
        { CURLE_GOT_NOTHING, UPD_E_NET_TRANSFER }, { CURLE_WEIRD_SERVER_REPLY, UPD_E_NET_SERVER },
        { CURLE_OUT_OF_MEMORY, UPD_E_NOMEM },
    };
    static const struct { long status; int err; } http_rows[] = {
        { 200, 0 }, { 206, 0 }, { 401, UPD_E_NET_AUTH }, { 403, UPD_E_NET_AUTH },
        { 404, UPD_E_NET_NOT_FOUND }, { 410, UPD_E_NET_NOT_FOUND }, { 500, UPD_E_NET_SERVER },
        { 503, UPD_E_NET_SERVER }, { 416, UPD_E_NET_SERVER },
    };
    for (size_t i = 0; i < sizeof curl_rows / sizeof curl_rows[0]; i++)
        cr_expect_eq(dl_map_curl(curl_rows[i].curl), curl_rows[i].err, "curl %d", curl_rows[i].curl);
    for (size_t i = 0; i < sizeof http_rows / sizeof http_rows[0]; i++)
        cr_expect_eq(dl_map_http(http_rows[i].status), http_rows[i].err, "HTTP %ld",
                     http_rows[i].status);
    /* what is retried: the network and the server; never a final answer */
    cr_expect(dl_retryable(UPD_E_NET_TRANSFER) && dl_retryable(UPD_E_NET_TIMEOUT) &&
              dl_retryable(UPD_E_NET_CONNECT) && dl_retryable(UPD_E_NET_SERVER));
    cr_expect(!dl_retryable(UPD_E_NET_URL) && !dl_retryable(UPD_E_NET_NOT_FOUND) &&
              !dl_retryable(UPD_E_NET_AUTH) && !dl_retryable(UPD_E_NET_TLS) &&
              !dl_retryable(UPD_E_NET_TOO_LARGE) && !dl_retryable(UPD_E_NO_SPACE) &&
              !dl_retryable(UPD_E_IO_WRITE) && !dl_retryable(UPD_E_SEG_DIGEST));
}
