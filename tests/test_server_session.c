/* The DM server's session logic against a scripted device speaking SyncML
 * through the real codec (adapters/dm): authentication both ways with
 * nonce rotation, DevInfo, the ROMPackage query, the update choice,
 * Replace + Exec with a correlator, generic alert 1226, the version check,
 * the failure path, the Add fallback, unknown devices and bad input. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <updelta/dm.h>
#include <updelta/dm_auth.h>
#include <updelta/dm_notify.h>

#include "server.h"

#define DEV "IMEI:493005100592800"
#define SRV_URI "http://127.0.0.1/dm"

static char dir[64];
static srv_store *st;
static srv_dm *dm;
static int64_t dev_row, cat_row;

/* The scripted device's view of one session. */
typedef struct {
    const char *sid;
    uint32_t msg_id;
    uint8_t nonce[64];        /* client nonce the server issued */
    int nonce_len;
    int enc;
    int hmac;                 /* authenticate every message by x-syncml-hmac */
    upd_dm_msg *last;         /* the server's last reply */
} device;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/upd-srvsess-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char db[128];
    snprintf(db, sizeof db, "%s/db", dir);
    cr_assert_eq(srv_store_open(&st, db), 0);
    srv_device d;
    memset(&d, 0, sizeof d);
    snprintf(d.dev_id, sizeof d.dev_id, DEV);
    snprintf(d.user, sizeof d.user, "dev1");
    snprintf(d.secret, sizeof d.secret, "pw");
    snprintf(d.server_secret, sizeof d.server_secret, "srvpwd");
    cr_assert_eq(srv_device_add(st, &d), 0);
    dev_row = d.id;
    srv_cat c;
    memset(&c, 0, sizeof c);
    snprintf(c.pkg_id, sizeof c.pkg_id, "os");
    snprintf(c.from, sizeof c.from, "1.0");
    snprintf(c.to, sizeof c.to, "1.1");
    snprintf(c.file, sizeof c.file, "os_1.0_1.1.upd");
    snprintf(c.sha256, sizeof c.sha256, "00");
    snprintf(c.key_id, sizeof c.key_id, "00");
    c.size = 1234;
    cr_assert_eq(srv_cat_add(st, &c), 0);
    cat_row = c.id;
    cr_assert_eq(srv_dm_create(&dm, st, "srv.example"), 0);
    cr_assert_eq(srv_dm_set_download_url(dm, "http://127.0.0.1:8080/pkg"), 0);
}

static void teardown(void)
{
    srv_dm_free(dm);
    srv_store_close(st);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(session, .init = setup, .fini = teardown);

/* The device's next session SID: same encoding and mode, the client nonce
 * the last one ended with. */
static device follow(const device *prev, const char *sid)
{
    device d = *prev;
    d.sid = sid;
    d.msg_id = 0;
    d.last = NULL;
    return d;
}

static upd_dm_msg *dev_msg(device *d, int with_cred)
{
    upd_dm_msg *m = upd_dm_msg_new();
    cr_assert_not_null(m);
    m->hdr.session_id = d->sid;
    m->hdr.msg_id = ++d->msg_id;
    m->hdr.target = SRV_URI;
    m->hdr.source = DEV;
    m->final = 1;
    if (with_cred)
        cr_assert_eq(upd_dm_cred_set(m, UPD_DM_AUTH_MD5, "dev1", "pw", d->nonce,
                                     (size_t)d->nonce_len), 0);
    return m;
}

static void item(upd_dm_msg *m, upd_dm_cmd *c, const char *src, const char *data)
{
    upd_dm_item *it = upd_dm_item_add(m, c);
    cr_assert_not_null(it);
    it->source = src;
    if (data)
        cr_assert_eq(upd_dm_item_set_data(m, it, data, strlen(data)), 0);
}

/* Package #1: Alert CODE, DevInfo, and ALERT_CORR's generic alert with RESULT. */
static upd_dm_msg *pkg1(device *d, int with_cred, const char *alert_corr, int result)
{
    upd_dm_msg *m = dev_msg(d, with_cred);
    cr_assert_not_null(upd_dm_alert_add(m, alert_corr ? UPD_DM_ALERT_CLIENT_INIT
                                                      : UPD_DM_ALERT_SERVER_INIT));
    upd_dm_cmd *r = upd_dm_cmd_add(m, NULL, UPD_DM_CMD_REPLACE);
    item(m, r, "./DevInfo/DevId", DEV);
    item(m, r, "./DevInfo/Man", "Acme");
    item(m, r, "./DevInfo/Mod", "Phone 1");
    if (alert_corr) {
        upd_dm_cmd *a = upd_dm_alert_add(m, UPD_DM_ALERT_GENERIC);
        a->correlator = alert_corr;
        char code[16];
        snprintf(code, sizeof code, "%d", result);
        item(m, a, "./FwUpdate/os/DownloadAndUpdate", code);
        a->items->meta.type = SRV_FUMO_ALERT_TYPE;
        a->items->meta.format = "int";
    }
    return m;
}

/* Send M (freed) and keep the parsed reply in d->last; with d->hmac the
 * body carries an x-syncml-hmac made with the client nonce instead of a
 * Cred, and the reply's must verify with the server credentials. */
static int exchange(device *d, upd_dm_msg *m)
{
    uint8_t *body;
    size_t len;
    cr_assert_eq(upd_dm_write(m, (upd_dm_encoding)d->enc, &body, &len), 0);
    upd_dm_msg_free(m);
    char mac[256];
    srv_dm_request rq = { upd_dm_media_type((upd_dm_encoding)d->enc), NULL, body, len,
                          NULL, 0, NULL, "" };
    if (d->hmac) {
        cr_assert_gt(upd_dm_hmac_header("dev1", "pw", d->nonce, (size_t)d->nonce_len, body, len,
                                        mac, sizeof mac), 0);
        rq.hmac = mac;
    }
    int code = srv_dm_handle(dm, &rq);
    free(body);
    upd_dm_msg_free(d->last);
    d->last = NULL;
    if (code == 200) {
        cr_assert_str_eq(rq.reply_type, upd_dm_media_type((upd_dm_encoding)d->enc));
        cr_assert_eq(upd_dm_parse(rq.reply, rq.reply_len, (upd_dm_encoding)d->enc, NULL, &d->last,
                                  NULL, 0), 0);
        cr_expect_str_eq(d->last->hdr.session_id, d->sid);
        cr_expect_str_eq(d->last->hdr.target, DEV);
        cr_expect(d->last->final);
        if (d->hmac) {
            uint8_t sn[64];
            int n = srv_nonce_get(st, dev_row, SRV_NONCE_SERVER, sn);
            cr_expect_eq(upd_dm_hmac_verify(rq.reply_hmac, "srv.example", "srvpwd", sn,
                                            (size_t)n, rq.reply, rq.reply_len), 0,
                         "the reply carries the server's HMAC");
        } else {
            cr_expect_str_eq(rq.reply_hmac, "", "no HMAC for a device that does not use it");
        }
    }
    free(rq.reply);
    return code;
}

static const upd_dm_cmd *find_cmd(const upd_dm_msg *m, upd_dm_cmd_type t, int nth)
{
    for (const upd_dm_cmd *c = m->cmds; c; c = c->next)
        if (c->type == t && nth-- == 0)
            return c;
    return NULL;
}

static size_t count_non_status(const upd_dm_msg *m)
{
    size_t n = 0;
    for (const upd_dm_cmd *c = m->cmds; c; c = c->next)
        n += c->type != UPD_DM_CMD_STATUS;
    return n;
}

/* The SyncHdr status; keeps its Chal's nonce as the next client nonce. */
static int hdr_status(device *d)
{
    const upd_dm_cmd *s = find_cmd(d->last, UPD_DM_CMD_STATUS, 0);
    cr_assert_not_null(s);
    cr_assert_eq(s->cmd_ref, 0);
    cr_expect_str_eq(s->cmd_name, "SyncHdr");
    if (s->chal && s->chal->next_nonce) {
        cr_expect_str_eq(s->chal->type, UPD_DM_AUTH_MD5);
        d->nonce_len = upd_dm_b64_decode(s->chal->next_nonce, d->nonce, sizeof d->nonce);
        cr_assert_geq(d->nonce_len, 16);
    }
    return s->code;
}

/* Statuses answering every command of the server's last reply (CODES in
 * order for the non-Status commands, 200 past the end), the SyncHdr status
 * first (212 with NEXT as the server's next nonce). */
static upd_dm_msg *answer(device *d, const int *codes, size_t ncodes, const char *next)
{
    upd_dm_msg *m = dev_msg(d, 0);
    upd_dm_cmd *s = upd_dm_status_add(m, d->last->hdr.msg_id, 0, "SyncHdr", 212);
    cr_assert_not_null(s);
    if (next) {
        upd_dm_meta *ch = upd_dm_status_chal(m, s);
        char b64[64];
        upd_dm_b64_encode(next, strlen(next), b64, sizeof b64);
        ch->type = UPD_DM_AUTH_MD5;
        ch->format = "b64";
        ch->next_nonce = upd_dm_strdup(m, b64);
    }
    size_t k = 0;
    for (const upd_dm_cmd *c = d->last->cmds; c; c = c->next) {
        if (c->type == UPD_DM_CMD_STATUS)
            continue;
        int code = k < ncodes ? codes[k] : 200;
        k++;
        cr_assert_not_null(upd_dm_status_add(m, d->last->hdr.msg_id, c->cmd_id,
                                             upd_dm_cmd_name(c->type), code));
    }
    return m;
}

/* Results for every Get of the last reply, values from LOOKUP(uri). */
static void add_results(device *d, upd_dm_msg *m, const char *(*lookup)(const char *uri))
{
    for (const upd_dm_cmd *c = d->last->cmds; c; c = c->next) {
        if (c->type != UPD_DM_CMD_GET)
            continue;
        upd_dm_cmd *r = upd_dm_cmd_add(m, NULL, UPD_DM_CMD_RESULTS);
        r->msg_ref = d->last->hdr.msg_id;
        r->cmd_ref = c->cmd_id;
        const char *uri = upd_dm_strdup(m, c->items->target);
        item(m, r, uri, lookup(uri));
    }
}

static const char *os_version = "1.0";

static const char *rom_tree(const char *uri)
{
    if (!strcmp(uri, SRV_ROMPKG_ROOT))
        return "os/radio";
    if (!strcmp(uri, SRV_ROMPKG_ROOT "/os/PkgVersion"))
        return os_version;
    if (!strcmp(uri, SRV_ROMPKG_ROOT "/radio/PkgVersion"))
        return "5.0";
    if (strstr(uri, "/PkgName"))
        return strstr(uri, "/os/") ? "Operating system" : "Radio";
    cr_assert_fail("unexpected Get %s", uri);
    return "";
}

/* Authenticate (407 first), then walk ROMPackage; returns after the
 * server's reply to the versions. */
static void open_session(device *d, const char *alert_corr, int result)
{
    cr_assert_eq(exchange(d, pkg1(d, d->nonce_len > 0, alert_corr, result)), 200);
    if (hdr_status(d) == 407) {
        cr_expect_eq(count_non_status(d->last), 0, "a challenge carries only Status");
        cr_assert_eq(exchange(d, pkg1(d, 1, alert_corr, result)), 200);
        cr_assert_eq(hdr_status(d), 212);
    }
    /* the server authenticates itself to the device */
    cr_assert_not_null(d->last->hdr.cred, "server Cred in its first message");
    uint8_t srv_nonce[64];
    int sn = srv_nonce_get(st, dev_row, SRV_NONCE_SERVER, srv_nonce);
    cr_assert_geq(sn, 0);
    cr_expect_eq(upd_dm_cred_verify(d->last->hdr.cred, d->last->hdr.source_name, "srv.example",
                                    "srvpwd", srv_nonce, (size_t)sn), 0);
    const upd_dm_cmd *get = find_cmd(d->last, UPD_DM_CMD_GET, 0);
    cr_assert_not_null(get, "ROMPackage query");
    cr_expect_str_eq(get->items->target, SRV_ROMPKG_ROOT);
    upd_dm_msg *m = answer(d, NULL, 0, "SRVNONCE2");
    add_results(d, m, rom_tree);
    cr_assert_eq(exchange(d, m), 200);
    cr_expect_eq(count_non_status(d->last), 4, "PkgVersion and PkgName of both packages");
    m = answer(d, NULL, 0, NULL);
    add_results(d, m, rom_tree);
    cr_assert_eq(exchange(d, m), 200);
}

static void job_state(const char *want, srv_job *j)
{
    cr_assert_eq(srv_job_last(st, dev_row, "os", j), 1);
    cr_expect_str_eq(j->state, want);
}

static void dev_state(const char *want)
{
    srv_device d;
    cr_assert_eq(srv_device_get_id(st, dev_row, &d), 1);
    cr_expect_str_eq(d.state, want, "reason: %s", d.reason);
}

static void full_flow(int enc)
{
    device d = { .sid = "1A", .enc = enc };
    os_version = "1.0";
    open_session(&d, NULL, 0);
    /* step 4: Replace PkgURL + PkgName, Exec with a fresh correlator */
    const upd_dm_cmd *url = find_cmd(d.last, UPD_DM_CMD_REPLACE, 0);
    const upd_dm_cmd *name = find_cmd(d.last, UPD_DM_CMD_REPLACE, 1);
    const upd_dm_cmd *ex = find_cmd(d.last, UPD_DM_CMD_EXEC, 0);
    cr_assert(url && name && ex);
    cr_expect_str_eq(url->items->target, "./FwUpdate/os/DownloadAndUpdate/PkgURL");
    cr_expect_str_eq((const char *)url->items->data, "http://127.0.0.1:8080/pkg/os_1.0_1.1.upd");
    cr_expect_str_eq(name->items->target, "./FwUpdate/os/PkgName");
    cr_expect_str_eq(ex->items->target, "./FwUpdate/os/DownloadAndUpdate");
    cr_assert_not_null(ex->correlator);
    char corr[SRV_CORR_LEN + 1];
    snprintf(corr, sizeof corr, "%s", ex->correlator);
    srv_job j;
    job_state(SRV_JOB_SENT, &j);
    cr_expect_str_eq(j.correlator, corr);
    cr_expect_eq(j.cat, cat_row);
    dev_state(SRV_DEV_UPDATING);
    uint8_t sn[64];
    cr_assert_eq(srv_nonce_get(st, dev_row, SRV_NONCE_SERVER, sn), 9, "device's nonce stored");
    cr_expect_eq(memcmp(sn, "SRVNONCE2", 9), 0);

    int codes[] = { 200, 200, 202 };
    cr_assert_eq(exchange(&d, answer(&d, codes, 3, NULL)), 200);
    cr_expect_eq(count_non_status(d.last), 0, "nothing more: the session ends");
    job_state(SRV_JOB_ACCEPTED, &j);

    /* steps 9-10: a new session with the final alert, then ROMPackage again */
    device d2 = follow(&d, "1B");
    os_version = "1.1";
    open_session(&d2, corr, 200);
    cr_expect_eq(count_non_status(d2.last), 0, "up to date: no more commands");
    job_state(SRV_JOB_VERIFIED, &j);
    cr_expect_eq(j.result, 200);
    dev_state(SRV_DEV_VERIFIED);
    srv_rom roms[4];
    cr_assert_eq(srv_rom_current(st, dev_row, roms, 4), 2);
    cr_expect_str_eq(roms[0].version, "1.1");
    cr_expect_str_eq(roms[0].name, "Operating system");
    upd_dm_msg_free(d.last);
    upd_dm_msg_free(d2.last);
}

Test(session, full_flow_xml) { full_flow(UPD_DM_XML); }
Test(session, full_flow_wbxml) { full_flow(UPD_DM_WBXML); }

/* Session SID1 up to the accepted Exec, then
 * session SID2 reporting RESULT for it with os at AFTER. */
static void update_and_report(const char *sid1, const char *sid2, int result, const char *after)
{
    device d = { .sid = sid1, .enc = UPD_DM_XML };
    os_version = "1.0";
    open_session(&d, NULL, 0);
    const upd_dm_cmd *ex = find_cmd(d.last, UPD_DM_CMD_EXEC, 0);
    cr_assert_not_null(ex);
    char corr[SRV_CORR_LEN + 1];
    snprintf(corr, sizeof corr, "%s", ex->correlator);
    int codes[] = { 200, 200, 202 };
    cr_assert_eq(exchange(&d, answer(&d, codes, 3, NULL)), 200);
    device d2 = follow(&d, sid2);
    os_version = after;
    open_session(&d2, corr, result);
    cr_expect_eq(count_non_status(d2.last), 0, "a failed package is not sent again");
    upd_dm_msg_free(d.last);
    upd_dm_msg_free(d2.last);
}

Test(session, failure_alert_fails_the_device_and_is_not_retried)
{
    update_and_report("2", "3", 404, "1.0");
    srv_job j;
    job_state(SRV_JOB_FAILED, &j);
    cr_expect_eq(j.result, 404);
    cr_expect_str_eq(j.reason, "package failed validation (signature)");
    srv_device dv;
    srv_device_get_id(st, dev_row, &dv);
    cr_expect_str_eq(dv.state, SRV_DEV_FAILED);
    cr_expect_not_null(strstr(dv.reason, "404"), "%s", dv.reason);
}

Test(session, missing_fumo_node_gets_add_then_exec)
{
    device d = { .sid = "4", .enc = UPD_DM_XML };
    os_version = "1.0";
    open_session(&d, NULL, 0);
    int codes[] = { 404, 404, 404 };
    cr_assert_eq(exchange(&d, answer(&d, codes, 3, NULL)), 200);
    const upd_dm_cmd *add = find_cmd(d.last, UPD_DM_CMD_ADD, 0);
    const upd_dm_cmd *ex = find_cmd(d.last, UPD_DM_CMD_EXEC, 0);
    cr_assert(add && ex, "Add PkgURL and Exec again");
    cr_expect_str_eq(add->items->target, "./FwUpdate/os/DownloadAndUpdate/PkgURL");
    srv_job j;
    job_state(SRV_JOB_SENT, &j);
    cr_expect_str_eq(ex->correlator, j.correlator, "the same job");
    int ok[] = { 200, 200, 202 };
    cr_assert_eq(exchange(&d, answer(&d, ok, 3, NULL)), 200);
    job_state(SRV_JOB_ACCEPTED, &j);
    upd_dm_msg_free(d.last);
}

Test(session, wrong_credentials_rechallenged_with_new_nonce)
{
    device d = { .sid = "5", .enc = UPD_DM_XML };
    cr_assert_eq(exchange(&d, pkg1(&d, 0, NULL, 0)), 200);
    cr_assert_eq(hdr_status(&d), 407);
    uint8_t first[64];
    memcpy(first, d.nonce, sizeof first);
    d.nonce[0] ^= 1;           /* the device hashes with a wrong nonce */
    cr_assert_eq(exchange(&d, pkg1(&d, 1, NULL, 0)), 200);
    cr_assert_eq(hdr_status(&d), 401);
    cr_expect_neq(memcmp(first, d.nonce, 16), 0, "a fresh nonce with every challenge");
    cr_expect_eq(count_non_status(d.last), 0);
    cr_assert_eq(exchange(&d, pkg1(&d, 1, NULL, 0)), 200);
    cr_expect_eq(hdr_status(&d), 212, "the new nonce works");
    upd_dm_msg_free(d.last);
}

Test(session, unknown_device_and_bad_input)
{
    upd_dm_msg *m = upd_dm_msg_new();
    m->hdr.session_id = "9";
    m->hdr.msg_id = 1;
    m->hdr.target = SRV_URI;
    m->hdr.source = "IMEI:000";
    m->final = 1;
    uint8_t *body;
    size_t len;
    cr_assert_eq(upd_dm_write(m, UPD_DM_XML, &body, &len), 0);
    upd_dm_msg_free(m);
    srv_dm_request rq = { UPD_DM_MIME_XML, NULL, body, len, NULL, 0, NULL, "" };
    cr_assert_eq(srv_dm_handle(dm, &rq), 200);
    upd_dm_msg *r;
    cr_assert_eq(upd_dm_parse(rq.reply, rq.reply_len, UPD_DM_XML, NULL, &r, NULL, 0), 0);
    cr_expect_eq(r->cmds->code, 403);
    cr_expect_null(r->cmds->next);
    upd_dm_msg_free(r);
    free(rq.reply);
    rq.content_type = "text/html";
    cr_expect_eq(srv_dm_handle(dm, &rq), 415);
    cr_expect_null(rq.reply);
    free(body);
    rq.content_type = UPD_DM_MIME_XML;
    rq.body = (const uint8_t *)"<SyncML>";
    rq.len = 8;
    cr_expect_eq(srv_dm_handle(dm, &rq), 400);
    cr_expect_null(rq.reply);
}

Test(session, success_alert_but_old_version_fails_verification)
{
    update_and_report("6", "7", 200, "1.0");   /* says 200, still reports 1.0 */
    srv_job j;
    job_state(SRV_JOB_FAILED, &j);
    cr_expect_str_eq(j.reason, "os reports 1.0 after the update to 1.1");
    dev_state(SRV_DEV_FAILED);
}

Test(session, package0_over_udp_verifies_with_the_device_credentials)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    srv_device d;
    memset(&d, 0, sizeof d);
    snprintf(d.dev_id, sizeof d.dev_id, "dev-udp");
    snprintf(d.user, sizeof d.user, "u");
    snprintf(d.secret, sizeof d.secret, "p");
    snprintf(d.server_secret, sizeof d.server_secret, "srvpwd");
    snprintf(d.notify, sizeof d.notify, "127.0.0.1:%u", ntohs(sa.sin_port));
    cr_assert_eq(srv_device_add(st, &d), 0);
    cr_assert_eq(srv_nonce_set(st, d.id, SRV_NONCE_SERVER, (const uint8_t *)"N1", 2), 0);
    uint16_t sid = 0;
    cr_assert_eq(srv_notify_send(st, "srv.example", "dev-udp", UPD_DM_UI_BACKGROUND, &sid), 0);
    uint8_t buf[512];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    cr_assert_gt(n, UPD_DM_NOTIFY_HDR_LEN);
    upd_dm_notify got;
    cr_expect_eq(upd_dm_notify_verify(buf, (size_t)n, "srv.example", "srvpwd", "N1", 2, &got), 0,
                 "digest made with the stored server nonce");
    cr_expect_eq(got.session_id, sid);
    cr_expect_eq(got.initiator, 1u);
    cr_expect_eq(got.ui_mode, (unsigned)UPD_DM_UI_BACKGROUND);
    cr_expect_neq(upd_dm_notify_verify(buf, (size_t)n, "srv.example", "other", "N1", 2, NULL), 0);
    cr_expect_eq(srv_notify_send(st, "srv.example", DEV, 0, NULL), UPD_E_INVAL,
                 "no notify address");
    cr_expect_eq(srv_notify_send(st, "srv.example", "nobody", 0, NULL), UPD_E_INVAL);
    close(fd);
}

Test(session, rompackage_root_is_configurable)
{
    cr_assert_eq(srv_config_set(st, "rompkg_root", "./Vendor/MSFT/ROMPackage"), 0);
    srv_dm *other;
    cr_assert_eq(srv_dm_create(&other, st, "srv.example"), 0);
    srv_dm *keep = dm;
    dm = other;
    device d = { .sid = "8", .enc = UPD_DM_XML };
    cr_assert_eq(exchange(&d, pkg1(&d, 0, NULL, 0)), 200);
    cr_assert_eq(hdr_status(&d), 407);
    cr_assert_eq(exchange(&d, pkg1(&d, 1, NULL, 0)), 200);
    const upd_dm_cmd *get = find_cmd(d.last, UPD_DM_CMD_GET, 0);
    cr_assert_not_null(get);
    cr_expect_str_eq(get->items->target, "./Vendor/MSFT/ROMPackage");
    upd_dm_msg_free(d.last);
    dm = keep;
    srv_dm_free(other);
}

Test(session, multi_message_package_is_awaited_with_alert_1222)
{
    device d = { .sid = "9", .enc = UPD_DM_XML };
    os_version = "1.0";
    cr_assert_eq(exchange(&d, pkg1(&d, 0, NULL, 0)), 200);
    cr_assert_eq(hdr_status(&d), 407);
    cr_assert_eq(exchange(&d, pkg1(&d, 1, NULL, 0)), 200);
    cr_assert_eq(hdr_status(&d), 212);
    upd_dm_msg *m = answer(&d, NULL, 0, NULL);
    add_results(&d, m, rom_tree);
    cr_assert_eq(exchange(&d, m), 200);
    /* the device answers the four Gets in two messages */
    m = answer(&d, NULL, 0, NULL);
    m->final = 0;
    upd_dm_msg *gets = d.last;
    d.last = NULL;
    cr_assert_eq(exchange(&d, m), 200);
    const upd_dm_cmd *a = find_cmd(d.last, UPD_DM_CMD_ALERT, 0);
    cr_assert_not_null(a, "asks for the rest");
    cr_expect_eq(a->code, UPD_DM_ALERT_NEXT_MESSAGE);
    cr_expect_eq(count_non_status(d.last), 1, "and nothing else yet");
    upd_dm_msg *keep = d.last;
    d.last = gets;
    m = dev_msg(&d, 0);
    cr_assert_not_null(upd_dm_status_add(m, keep->hdr.msg_id, 0, "SyncHdr", 200));
    cr_assert_not_null(upd_dm_status_add(m, keep->hdr.msg_id, a->cmd_id, "Alert", 200));
    add_results(&d, m, rom_tree);
    upd_dm_msg_free(keep);
    cr_assert_eq(exchange(&d, m), 200);
    cr_expect_not_null(find_cmd(d.last, UPD_DM_CMD_EXEC, 0), "the update once all is in");
    upd_dm_msg_free(d.last);
}

Test(session, refused_server_credentials_are_resent_with_the_new_nonce)
{
    device d = { .sid = "A", .enc = UPD_DM_XML };
    cr_assert_eq(exchange(&d, pkg1(&d, 0, NULL, 0)), 200);
    cr_assert_eq(hdr_status(&d), 407);
    cr_assert_eq(exchange(&d, pkg1(&d, 1, NULL, 0)), 200);
    cr_assert_eq(hdr_status(&d), 212);
    cr_assert_not_null(d.last->hdr.cred);
    /* the device refuses our Cred, names a new nonce, runs nothing */
    upd_dm_msg *m = answer(&d, (const int[]){ 401 }, 1, "N9");
    m->cmds->code = 401;
    cr_assert_eq(exchange(&d, m), 200);
    cr_assert_not_null(d.last->hdr.cred, "Cred again");
    cr_expect_eq(upd_dm_cred_verify(d.last->hdr.cred, d.last->hdr.source_name, "srv.example",
                                    "srvpwd", "N9", 2), 0, "made with the device's new nonce");
    const upd_dm_cmd *get = find_cmd(d.last, UPD_DM_CMD_GET, 0);
    cr_assert_not_null(get, "the refused commands are sent again");
    cr_expect_str_eq(get->items->target, SRV_ROMPKG_ROOT);
    upd_dm_msg_free(d.last);
}

Test(session, hmac_authenticates_every_message_with_a_new_nonce)
{
    device d = { .sid = "B", .enc = UPD_DM_XML, .hmac = 1 };
    os_version = "1.0";
    cr_assert_eq(exchange(&d, pkg1(&d, 0, NULL, 0)), 200);
    cr_assert_eq(hdr_status(&d), 200, "HMAC: 200 per message, not 212");
    const upd_dm_cmd *get = find_cmd(d.last, UPD_DM_CMD_GET, 0);
    cr_assert_not_null(get, "authenticated by the mac alone (empty nonce at first)");
    uint8_t first[64];
    memcpy(first, d.nonce, sizeof first);
    upd_dm_msg *m = answer(&d, NULL, 0, NULL);
    add_results(&d, m, rom_tree);
    cr_assert_eq(exchange(&d, m), 200);
    cr_assert_eq(hdr_status(&d), 200, "the next message with the nonce of the last reply");
    cr_expect_neq(memcmp(first, d.nonce, 16), 0, "a new nonce every message");
    cr_expect_eq(count_non_status(d.last), 4);
    d.nonce[0] ^= 1;
    m = answer(&d, NULL, 0, NULL);
    add_results(&d, m, rom_tree);
    cr_assert_eq(exchange(&d, m), 200);
    cr_expect_eq(hdr_status(&d), 401, "a wrong mac is refused");
    cr_expect_eq(count_non_status(d.last), 0);
    upd_dm_msg_free(d.last);
}

static void add_cat(const char *from, const char *to)
{
    srv_cat c;
    memset(&c, 0, sizeof c);
    snprintf(c.pkg_id, sizeof c.pkg_id, "os");
    snprintf(c.from, sizeof c.from, "%s", from);
    snprintf(c.to, sizeof c.to, "%s", to);
    snprintf(c.file, sizeof c.file, "os_%s_%s.upd", from, to);
    snprintf(c.sha256, sizeof c.sha256, "00");
    snprintf(c.key_id, sizeof c.key_id, "00");
    c.size = 10;
    cr_assert_eq(srv_cat_add(st, &c), 0);
}

Test(session, chain_next_step_waits_for_a_new_session)
{
    add_cat("1.1", "1.2");
    device d = { .sid = "C1", .enc = UPD_DM_XML };
    os_version = "1.0";
    open_session(&d, NULL, 0);
    const upd_dm_cmd *ex = find_cmd(d.last, UPD_DM_CMD_EXEC, 0);
    cr_assert_not_null(ex);
    char corr[SRV_CORR_LEN + 1];
    snprintf(corr, sizeof corr, "%s", ex->correlator);
    cr_expect_str_eq((const char *)find_cmd(d.last, UPD_DM_CMD_REPLACE, 0)->items->data,
                     "http://127.0.0.1:8080/pkg/os_1.0_1.1.upd", "first step of the chain");
    int codes[] = { 200, 200, 202 };
    cr_assert_eq(exchange(&d, answer(&d, codes, 3, NULL)), 200);
    device d2 = follow(&d, "C2");
    os_version = "1.1";
    open_session(&d2, corr, 200);
    cr_expect_eq(count_non_status(d2.last), 0,
                 "no Exec while the device's final alert is being acknowledged");
    srv_job j;
    job_state(SRV_JOB_VERIFIED, &j);
    dev_state(SRV_DEV_UPDATING);
    device d3 = follow(&d2, "C3");
    open_session(&d3, NULL, 0);
    const upd_dm_cmd *url = find_cmd(d3.last, UPD_DM_CMD_REPLACE, 0);
    cr_assert_not_null(url, "the next session carries the second step");
    cr_expect_str_eq((const char *)url->items->data, "http://127.0.0.1:8080/pkg/os_1.1_1.2.upd");
    upd_dm_msg_free(d.last);
    upd_dm_msg_free(d2.last);
    upd_dm_msg_free(d3.last);
}

/* A session up to the Replace + Exec, answered with CODES (Replace PkgURL,
 * Replace PkgName, Exec); the job then failed. */
static void refused_exec(device *d, const int codes[3])
{
    os_version = "1.0";
    open_session(d, NULL, 0);
    cr_assert_eq(exchange(d, answer(d, codes, 3, NULL)), 200);
    srv_job j;
    job_state(SRV_JOB_FAILED, &j);
    cr_expect_eq(j.result, 0, "no device result: the device never ran it");
}

Test(session, busy_node_405_is_retried_not_a_failure)
{
    device d = { .sid = "D1", .enc = UPD_DM_XML };
    refused_exec(&d, (const int[]){ 405, 405, 405 });
    cr_expect_eq(count_non_status(d.last), 0, "405 on Replace is not a missing node: no Add");
    dev_state(SRV_DEV_UPDATING);
    device d2 = follow(&d, "D2");
    open_session(&d2, NULL, 0);
    cr_expect_not_null(find_cmd(d2.last, UPD_DM_CMD_EXEC, 0), "sent again in the next session");
    upd_dm_msg_free(d.last);
    upd_dm_msg_free(d2.last);
}

/* 412 on Exec is an incomplete command (no PkgURL on the device): the job
 * and the device fail with the reason, nothing is retried. */
Test(session, exec_412_fails_the_job)
{
    device d = { .sid = "E1", .enc = UPD_DM_XML };
    refused_exec(&d, (const int[]){ 200, 200, 412 });
    dev_state(SRV_DEV_FAILED);
    upd_dm_msg_free(d.last);
}
