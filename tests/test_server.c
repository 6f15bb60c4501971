/* updelta-server parts without the network: the SQLite store (schema,
 * migrations, devices, nonces, ROM versions, jobs, audit), the catalogue
 * and the update choice (direct, chain, full), publish, and the download
 * server's Range / If-Range rules. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "server.h"

static char dir[64];
static srv_store *st;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/upd-srvtest-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char db[128];
    snprintf(db, sizeof db, "%s/db", dir);
    cr_assert_eq(srv_store_open(&st, db), 0);
}

static void teardown(void)
{
    srv_store_close(st);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(store, .init = setup, .fini = teardown);

Test(store, schema_versioned_and_reopen_keeps_data)
{
    cr_expect_eq(srv_store_schema_version(st), SRV_SCHEMA_VERSION);
    cr_assert_eq(srv_config_set(st, "server_id", "srv.one"), 0);
    srv_store_close(st);
    char db[128];
    snprintf(db, sizeof db, "%s/db", dir);
    cr_assert_eq(srv_store_open(&st, db), 0);
    char v[32];
    cr_assert_eq(srv_config_get(st, "server_id", "x", v, sizeof v), 0);
    cr_expect_str_eq(v, "srv.one");
    cr_assert_eq(srv_config_get(st, "nothing", "dflt", v, sizeof v), 0);
    cr_expect_str_eq(v, "dflt");
    cr_expect_eq(srv_config_get(st, "server_id", "", v, 4), UPD_E_LIMIT);
}

Test(store, refuses_a_newer_schema_and_uses_wal)
{
    char db[128];
    snprintf(db, sizeof db, "%s/db", dir);
    sqlite3 *raw;
    cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_expect_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    cr_assert_eq(sqlite3_exec(raw, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    srv_store *other = NULL;
    cr_expect_eq(srv_store_open(&other, db), UPD_E_STATE);
    cr_expect_null(other);
}

static void mkdev(srv_device *d, const char *id)
{
    memset(d, 0, sizeof *d);
    snprintf(d->dev_id, sizeof d->dev_id, "%s", id);
    snprintf(d->user, sizeof d->user, "u-%s", id);
    snprintf(d->secret, sizeof d->secret, "s3cret");
    snprintf(d->server_secret, sizeof d->server_secret, "srvpwd");
    snprintf(d->notify, sizeof d->notify, "127.0.0.1:9");
}

Test(store, devices_credentials_state)
{
    srv_device d, g;
    mkdev(&d, "IMEI:1");
    cr_assert_eq(srv_device_add(st, &d), 0);
    cr_expect_gt(d.id, 0);
    cr_expect_eq(srv_device_add(st, &d), UPD_E_INVAL, "a DevId is unique");
    cr_assert_eq(srv_device_get(st, "IMEI:1", &g), 1);
    cr_expect_str_eq(g.user, "u-IMEI:1");
    cr_expect_str_eq(g.server_secret, "srvpwd");
    cr_expect_str_eq(g.state, SRV_DEV_NEW);
    cr_expect_eq(srv_device_get(st, "IMEI:2", &g), 0);
    cr_assert_eq(srv_device_seen(st, d.id, "Acme", NULL), 0);
    cr_assert_eq(srv_device_get_id(st, d.id, &g), 1);
    cr_expect_str_eq(g.man, "Acme");
    cr_expect_str_eq(g.state, SRV_DEV_IDLE, "seen once: no longer new");
    cr_expect_gt(g.last_seen, 0);
    cr_expect_eq(srv_device_set_state(st, d.id, "bogus", NULL), UPD_E_INVAL);
    cr_assert_eq(srv_device_set_state(st, d.id, SRV_DEV_FAILED, "why"), 0);
    srv_device_get_id(st, d.id, &g);
    cr_expect_str_eq(g.state, SRV_DEV_FAILED);
    cr_expect_str_eq(g.reason, "why");
}

Test(store, nonces_rotate_per_kind)
{
    srv_device d;
    mkdev(&d, "dev");
    cr_assert_eq(srv_device_add(st, &d), 0);
    uint8_t out[SRV_NONCE_MAX];
    cr_expect_eq(srv_nonce_get(st, d.id, SRV_NONCE_CLIENT, out), 0, "none stored yet");
    cr_assert_eq(srv_nonce_set(st, d.id, SRV_NONCE_CLIENT, (const uint8_t *)"abcd", 4), 0);
    cr_assert_eq(srv_nonce_set(st, d.id, SRV_NONCE_SERVER, (const uint8_t *)"xy", 2), 0);
    cr_assert_eq(srv_nonce_get(st, d.id, SRV_NONCE_CLIENT, out), 4);
    cr_expect_eq(memcmp(out, "abcd", 4), 0);
    cr_assert_eq(srv_nonce_set(st, d.id, SRV_NONCE_CLIENT, (const uint8_t *)"\0\1\2", 3), 0);
    cr_assert_eq(srv_nonce_get(st, d.id, SRV_NONCE_CLIENT, out), 3);
    cr_expect_eq(memcmp(out, "\0\1\2", 3), 0, "binary nonces survive");
    cr_assert_eq(srv_nonce_get(st, d.id, SRV_NONCE_SERVER, out), 2);
    cr_assert_eq(srv_nonce_set(st, d.id, SRV_NONCE_SERVER, NULL, 0), 0);
    cr_expect_eq(srv_nonce_get(st, d.id, SRV_NONCE_SERVER, out), 0, "empty nonce stored");
    cr_expect_eq(srv_nonce_set(st, d.id, 7, out, 1), UPD_E_INVAL);
    cr_expect_eq(srv_nonce_set(st, d.id, SRV_NONCE_CLIENT, out, SRV_NONCE_MAX + 1), UPD_E_INVAL);
}

Test(store, rom_versions_current_and_history)
{
    srv_device d;
    mkdev(&d, "dev");
    cr_assert_eq(srv_device_add(st, &d), 0);
    srv_rom r[2] = { { "os", "OS", "1.0", 0 }, { "radio", "Radio", "2.0", 0 } };
    cr_assert_eq(srv_rom_record(st, d.id, 0, r, 2), 0);
    snprintf(r[0].version, sizeof r[0].version, "1.1");
    cr_assert_eq(srv_rom_record(st, d.id, 0, r, 1), 0);
    srv_rom out[4];
    cr_assert_eq(srv_rom_current(st, d.id, out, 4), 1, "only the last report is current");
    cr_expect_str_eq(out[0].pkg_id, "os");
    cr_expect_str_eq(out[0].version, "1.1");
    cr_expect_str_eq(out[0].name, "OS");
    cr_expect_eq(srv_rom_current(st, d.id, out, 0), 1, "count without room");
}

/* ---- catalogue and the update choice ------------------------------------ */

static int64_t cat(const char *from, const char *to, uint64_t size)
{
    srv_cat c;
    memset(&c, 0, sizeof c);
    snprintf(c.pkg_id, sizeof c.pkg_id, "os");
    snprintf(c.from, sizeof c.from, "%s", from);
    snprintf(c.to, sizeof c.to, "%s", to);
    snprintf(c.file, sizeof c.file, "os_%s_%s.upd", from[0] ? from : "full", to);
    snprintf(c.sha256, sizeof c.sha256, "00");
    snprintf(c.key_id, sizeof c.key_id, "00");
    c.size = size;
    cr_assert_eq(srv_cat_add(st, &c), 0);
    return c.id;
}

Test(store, plan_direct_chain_full_none)
{
    int64_t a = cat("1.0", "1.1", 100), b = cat("1.1", "1.2", 100), c = cat("1.2", "2.0", 100);
    int64_t big = cat("1.1", "2.0", 1000), full = cat("", "2.0", 5000);
    int64_t direct = cat("1.0", "2.0", 900);
    srv_plan p;
    char latest[SRV_VERSION_MAX + 1];
    cr_assert_eq(srv_cat_latest(st, "os", latest), 1);
    cr_expect_str_eq(latest, "2.0");

    cr_assert_eq(srv_plan_update(st, "os", "1.0", &p), 0);
    cr_expect_eq(p.kind, SRV_PLAN_DIRECT, "a direct delta wins even when a chain is smaller");
    cr_expect_eq(p.step[0], direct);

    cr_assert_eq(srv_plan_update(st, "os", "1.2", &p), 0);
    cr_expect_eq(p.kind, SRV_PLAN_DIRECT);
    cr_expect_eq(p.step[0], c);

    /* 0.9 has no direct delta: the cheapest chain, 0.9 -> 1.0 -> 1.1 -> 1.2 -> 2.0
       (350 bytes), beats 0.9 -> 1.0 -> 2.0 (950) and the full image */
    (void)big;
    int64_t x = cat("0.9", "1.0", 50);
    cr_assert_eq(srv_plan_update(st, "os", "0.9", &p), 0);
    cr_expect_eq(p.kind, SRV_PLAN_CHAIN);
    cr_assert_eq(p.n, 4);
    cr_expect_eq(p.step[0], x);
    cr_expect_eq(p.step[1], a);
    cr_expect_eq(p.step[2], b);
    cr_expect_eq(p.step[3], c);
    cr_expect_eq(p.bytes, 350u);
    cr_expect_str_eq(p.target, "2.0");

    cr_assert_eq(srv_plan_update(st, "os", "0.5", &p), 0);
    cr_expect_eq(p.kind, SRV_PLAN_FULL, "an unknown version gets the full image");
    cr_expect_eq(p.step[0], full);
    cr_expect_eq(p.bytes, 5000u);

    cr_assert_eq(srv_plan_update(st, "os", "2.0", &p), 0);
    cr_expect_eq(p.kind, SRV_PLAN_NONE);
    cr_assert_eq(srv_plan_update(st, "os", "3.0", &p), 0);
    cr_expect_eq(p.kind, SRV_PLAN_NONE, "newer than the catalogue: nothing to do");
    cr_expect_eq(srv_plan_update(st, "radio", "1.0", &p), UPD_E_LIMIT, "unknown package");
}

Test(store, plan_chain_takes_fewest_bytes)
{
    int64_t s1 = cat("1", "2", 10), s2 = cat("2", "3", 10), s3 = cat("3", "4", 10);
    cat("1", "3", 100);
    srv_plan p;
    cr_assert_eq(srv_plan_update(st, "os", "1", &p), 0);
    cr_expect_eq(p.kind, SRV_PLAN_CHAIN);
    cr_assert_eq(p.n, 3);
    cr_expect_eq(p.step[0], s1);
    cr_expect_eq(p.step[1], s2);
    cr_expect_eq(p.step[2], s3);
    cr_expect_eq(p.bytes, 30u);
    /* no route and no full image: refused, not guessed */
    cr_expect_eq(srv_plan_update(st, "os", "0", &p), UPD_E_LIMIT);
}

Test(store, catalogue_replaces_same_triple_and_rejects_bad)
{
    int64_t a = cat("1", "2", 10), b = cat("1", "2", 20);
    cr_expect_eq(a, b, "same (pkg, from, to) is one row");
    srv_cat c;
    cr_assert_eq(srv_cat_get(st, a, &c), 1);
    cr_expect_eq(c.size, 20u);
    cr_assert_eq(srv_cat_find(st, "os", "1", "2", &c), 1);
    cr_expect_eq(srv_cat_find(st, "os", "2", "1", &c), 0);
    memset(&c, 0, sizeof c);
    snprintf(c.pkg_id, sizeof c.pkg_id, "os");
    snprintf(c.from, sizeof c.from, "1");
    snprintf(c.to, sizeof c.to, "1");
    snprintf(c.file, sizeof c.file, "f");
    cr_expect_eq(srv_cat_add(st, &c), UPD_E_INVAL, "from == to");
}

/* ---- jobs and the audit trail -------------------------------------------- */

static void count_event(void *user, const srv_event_row *e)
{
    (*(int *)user)++;
    cr_expect_str_eq(e->dev_id, "dev");
}

Test(store, jobs_by_correlator_and_audit)
{
    srv_device d;
    mkdev(&d, "dev");
    cr_assert_eq(srv_device_add(st, &d), 0);
    int64_t c = cat("1", "2", 10);
    srv_job j1, j2, g;
    cr_assert_eq(srv_job_create(st, d.id, c, &j1), 0);
    cr_assert_eq(srv_job_create(st, d.id, c, &j2), 0);
    cr_expect_eq(strlen(j1.correlator), SRV_CORR_LEN);
    cr_expect_str_neq(j1.correlator, j2.correlator, "a fresh correlator per Exec");
    cr_expect_eq(srv_job_create(st, d.id, 999, &g), UPD_E_INVAL);
    cr_assert_eq(srv_job_by_corr(st, j1.correlator, &g), 1);
    cr_expect_eq(g.id, j1.id);
    cr_expect_str_eq(g.to, "2");
    cr_expect_str_eq(g.state, SRV_JOB_SENT);
    cr_assert_eq(srv_job_set(st, j2.id, SRV_JOB_FAILED, 404, "sig"), 0);
    cr_assert_eq(srv_job_open(st, d.id, "os", &g), 1);
    cr_expect_eq(g.id, j1.id, "the failed one is not open");
    cr_assert_eq(srv_job_last(st, d.id, "os", &g), 1);
    cr_expect_eq(g.id, j2.id);
    cr_expect_eq(g.result, 404);
    cr_expect_str_eq(g.reason, "sig");
    cr_expect_eq(srv_job_set(st, j2.id, "nope", 0, NULL), UPD_E_INVAL);
    cr_expect_eq(srv_job_set(st, 12345, SRV_JOB_FAILED, 0, NULL), UPD_E_INVAL);

    int64_t s = srv_session_begin(st, d.id, "1A");
    cr_assert_gt(s, 0);
    srv_alert a = { 1226, j1.correlator, "./FwUpdate/os/DownloadAndUpdate", SRV_FUMO_ALERT_TYPE,
                    NULL, "200" };
    cr_assert_eq(srv_alert_log(st, s, d.id, &a), 0);
    cr_assert_eq(srv_event(st, d.id, s, "alert", "one"), 0);
    cr_assert_eq(srv_event(st, d.id, s, "alert", "two"), 0);
    cr_assert_eq(srv_session_end(st, s, "done"), 0);
    int n = 0;
    int64_t last = srv_event_each(st, 0, count_event, &n);
    cr_expect_eq(n, 2);
    n = 0;
    cr_expect_eq(srv_event_each(st, last, count_event, &n), last);
    cr_expect_eq(n, 0, "only newer events");
}

Test(store, status_json_names_packages_and_last_job)
{
    srv_device d;
    mkdev(&d, "dev\"q");
    cr_assert_eq(srv_device_add(st, &d), 0);
    int64_t c = cat("1", "2", 10);
    srv_rom r = { "os", "OS", "1", 0 };
    cr_assert_eq(srv_rom_record(st, d.id, 0, &r, 1), 0);
    srv_job j;
    cr_assert_eq(srv_job_create(st, d.id, c, &j), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(srv_status_write(st, f, 1), 0);
    fclose(f);
    cr_expect_not_null(strstr(buf, "\"dev_id\":\"dev\\\"q\""), "%s", buf);
    cr_expect_not_null(strstr(buf, "{\"pkg_id\":\"os\",\"name\":\"OS\",\"version\":\"1\","
                                   "\"latest\":\"2\"}"), "%s", buf);
    cr_expect_not_null(strstr(buf, "\"last_job\":{\"pkg_id\":\"os\",\"from\":\"1\",\"to\":\"2\","
                                   "\"state\":\"sent\""), "%s", buf);
    free(buf);
}

/* ---- publish --------------------------------------------------------------- */

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void read_all(const char *path, buf_t *b)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    uint8_t tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        cr_assert_eq(buf_sink(b, tmp, n), 0);
    fclose(f);
}

Test(store, publish_makes_signed_deltas_that_apply)
{
    /* three versions of one image */
    size_t n = 200000;
    uint8_t *v[3];
    char path[3][160];
    const char *vers[3] = { "1.0", "1.1", "1.2" };
    const char *files[3];
    for (int i = 0; i < 3; i++) {
        v[i] = malloc(n);
        for (size_t k = 0; k < n; k++)
            v[i][k] = (uint8_t)(k * 7 + (k % 977 == 0 ? (size_t)i * 13 : 0));
        snprintf(path[i], sizeof path[i], "%s/img%d", dir, i);
        write_file(path[i], v[i], n);
        files[i] = path[i];
    }
    upd_key *key;
    cr_assert_eq(upd_key_generate(&key), 0);
    char repo[128];
    snprintf(repo, sizeof repo, "%s/repo", dir);
    srv_publish_params p = { "os", repo, key, 1, 0, NULL };
    cr_assert_eq(srv_publish(st, &p, vers, files, 2), 0);
    /* the third version later: the delta from the previous one appears */
    cr_assert_eq(srv_publish(st, &p, vers + 2, files + 2, 1), 0);

    srv_cat c;
    cr_assert_eq(srv_cat_find(st, "os", "1.0", "1.1", &c), 1);
    cr_assert_eq(srv_cat_find(st, "os", "1.1", "1.2", &c), 1);
    cr_expect_eq(srv_cat_find(st, "os", "1.0", "1.2", &c), 0, "no direct delta unless asked");
    cr_assert_eq(srv_cat_find(st, "os", "", "1.2", &c), 1, "full image of the newest");
    cr_assert_eq(srv_cat_find(st, "os", "", "1.1", &c), 1, "kept from the first publish");
    srv_plan plan;
    cr_assert_eq(srv_plan_update(st, "os", "1.0", &plan), 0);
    cr_expect_eq(plan.kind, SRV_PLAN_CHAIN);
    cr_expect_eq(plan.n, 2);

    /* every delta is signed by KEY and turns its from-image into its to-image */
    upd_keyring *kr;
    cr_assert_eq(upd_keyring_create(&kr), 0);
    cr_assert_eq(upd_keyring_add(kr, key), 0);
    uint8_t kid[UPD_KEY_ID_SIZE];
    char kid_hex[2 * UPD_KEY_ID_SIZE + 1];
    upd_key_id(key, kid);
    srv_hex(kid, sizeof kid, kid_hex);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(srv_cat_find(st, "os", vers[i], vers[i + 1], &c), 1);
        cr_expect_str_eq(c.key_id, kid_hex);
        char pkgpath[512];
        snprintf(pkgpath, sizeof pkgpath, "%s/pkg/%s", repo, c.file);
        buf_t pkg = { 0 }, out = { 0 };
        read_all(pkgpath, &pkg);
        cr_expect_eq(pkg.n, c.size);
        upd_apply_params ap;
        memset(&ap, 0, sizeof ap);
        ap.keys = kr;
        cr_assert_eq(apply_mem_with(pkg.p, pkg.n, v[i], n, 1, 0, &ap, &out, NULL), 0);
        cr_expect_eq(out.n, n);
        cr_expect_eq(memcmp(out.p, v[i + 1], n), 0);
        buf_free(&pkg);
        buf_free(&out);
    }
    struct stat sb;
    char part[512];
    snprintf(part, sizeof part, "%s/pkg/os_1.0_1.1.upd.part", repo);
    cr_expect_neq(stat(part, &sb), 0, "no half package left");
    const char *bad[1] = { "../x" };
    cr_expect_eq(srv_publish(st, &p, bad, files, 1), UPD_E_INVAL, "versions become file names");
    const char *twice[2] = { "2.0", "2.0" };
    cr_expect_eq(srv_publish(st, &p, twice, files, 2), UPD_E_INVAL);
    upd_keyring_free(kr);
    upd_key_free(key);
    for (int i = 0; i < 3; i++)
        free(v[i]);
}

/* ---- download: Range and If-Range -------------------------------------- */

Test(download, range_forms)
{
    srv_range r = srv_range_parse("bytes=0-99", 1000);
    cr_expect_eq(r.kind, SRV_RANGE_OK);
    cr_expect_eq(r.first, 0u);
    cr_expect_eq(r.last, 99u);
    r = srv_range_parse("bytes = 0-11648", 20000);
    cr_expect_eq(r.kind, SRV_RANGE_OK, "Windows Mobile's spaces around '='");
    cr_expect_eq(r.last, 11648u);
    r = srv_range_parse("bytes=500-", 1000);
    cr_expect_eq(r.kind, SRV_RANGE_OK);
    cr_expect_eq(r.first, 500u);
    cr_expect_eq(r.last, 999u);
    r = srv_range_parse("bytes=-100", 1000);
    cr_expect_eq(r.first, 900u);
    cr_expect_eq(r.last, 999u);
    r = srv_range_parse("bytes=-5000", 1000);
    cr_expect_eq(r.first, 0u, "suffix longer than the file: all of it");
    r = srv_range_parse("bytes=10-99999", 1000);
    cr_expect_eq(r.last, 999u, "clamped to the end");
    cr_expect_eq(srv_range_parse("bytes=1000-", 1000).kind, SRV_RANGE_UNSATISFIABLE);
    cr_expect_eq(srv_range_parse("bytes=-0", 1000).kind, SRV_RANGE_UNSATISFIABLE);
    cr_expect_eq(srv_range_parse("bytes=0-", 0).kind, SRV_RANGE_UNSATISFIABLE);
    cr_expect_eq(srv_range_parse(NULL, 1000).kind, SRV_RANGE_NONE);
    cr_expect_eq(srv_range_parse("bytes=0-1,5-6", 1000).kind, SRV_RANGE_NONE, "multi-range: 200");
    cr_expect_eq(srv_range_parse("bytes=5-1", 1000).kind, SRV_RANGE_NONE, "invalid: ignored");
    cr_expect_eq(srv_range_parse("items=0-1", 1000).kind, SRV_RANGE_NONE);
    cr_expect_eq(srv_range_parse("bytes=99999999999999999999-", 1000).kind, SRV_RANGE_NONE);
}

Test(download, if_range_strong_etag_or_exact_date)
{
    char etag[64];
    srv_etag(etag, 1000, 1700000000, 5);
    cr_expect(srv_if_range_ok(NULL, etag, 1700000000));
    cr_expect(srv_if_range_ok(etag, etag, 1700000000));
    cr_expect_not(srv_if_range_ok("\"other\"", etag, 1700000000));
    char weak[80];
    snprintf(weak, sizeof weak, "W/%s", etag);
    cr_expect_not(srv_if_range_ok(weak, etag, 1700000000), "weak tags never match");
    cr_expect(srv_if_range_ok("Tue, 14 Nov 2023 22:13:20 GMT", etag, 1700000000));
    cr_expect_not(srv_if_range_ok("Tue, 14 Nov 2023 22:13:21 GMT", etag, 1700000000));
    cr_expect_not(srv_if_range_ok("garbage", etag, 1700000000));
    char e2[64];
    srv_etag(e2, 1000, 1700000000, 6);
    cr_expect_str_neq(etag, e2, "a rewrite within the same second changes the tag");
}
