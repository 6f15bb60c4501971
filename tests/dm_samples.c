/* Sample DM messages (dm_samples.h). */
#include "dm_samples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <updelta/dm_auth.h>

#define FUMO "./FwUpdate/pkg1"
#define DLU_TYPE "org.openmobilealliance.dm.firmwareupdate.downloadandupdate"

static void *must(void *p)
{
    if (!p) {
        fprintf(stderr, "dm_samples: out of memory\n");
        abort();
    }
    return p;
}

#define DEV "IMEI:493005100592800"
#define SRV "http://127.0.0.1:8080/dm"

/* A message from the device (FROM_SERVER 0: with its Meta limits) or the
 * server, with Final. */
static upd_dm_msg *new_msg(const char *session, uint32_t msg_id, int from_server)
{
    upd_dm_msg *m = must(upd_dm_msg_new());
    m->hdr.session_id = session;
    m->hdr.msg_id = msg_id;
    m->hdr.target = from_server ? DEV : SRV;
    m->hdr.source = from_server ? SRV : DEV;
    if (!from_server) {
        m->hdr.meta.max_msg_size = 16384;
        m->hdr.meta.max_obj_size = 1048576;
    }
    m->final = 1;
    return m;
}

static upd_dm_msg *client_msg(const char *session, uint32_t msg_id)
{
    return new_msg(session, msg_id, 0);
}

static upd_dm_msg *server_msg(const char *session, uint32_t msg_id)
{
    return new_msg(session, msg_id, 1);
}

static upd_dm_item *item(upd_dm_msg *m, upd_dm_cmd *c, const char *target, const char *source,
                         const char *format, const char *type, const char *data)
{
    upd_dm_item *it = must(upd_dm_item_add(m, c));
    it->target = target;
    it->source = source;
    it->meta.format = format;
    it->meta.type = type;
    if (data && upd_dm_item_set_data(m, it, data, strlen(data)) != 0)
        must(NULL);
    return it;
}

/* Pkg #1: SyncHdr with auth-md5 Cred, Alert 1200, DevInfo, a generic alert. */
static upd_dm_msg *pkg1(void)
{
    upd_dm_msg *m = client_msg("2A", 1);
    if (upd_dm_cred_set(m, UPD_DM_AUTH_MD5, "Bruce2", "OhBehave", "Nonce", 5) != 0)
        must(NULL);
    must(upd_dm_alert_add(m, UPD_DM_ALERT_SERVER_INIT));
    upd_dm_cmd *r = must(upd_dm_cmd_add(m, NULL, UPD_DM_CMD_REPLACE));
    static const char *const leaves[][2] = {
        { "./DevInfo/DevId", "IMEI:493005100592800" }, { "./DevInfo/Man", "Example & Sons" },
        { "./DevInfo/Mod", "<model one>" }, { "./DevInfo/DmV", "1.2" },
        { "./DevInfo/Lang", "en-US" },
    };
    for (size_t i = 0; i < sizeof leaves / sizeof leaves[0]; i++)
        item(m, r, NULL, leaves[i][0], "chr", "text/plain", leaves[i][1]);
    upd_dm_cmd *a = must(upd_dm_alert_add(m, UPD_DM_ALERT_GENERIC));
    a->correlator = "abc123";
    upd_dm_item *it = item(m, a, NULL, FUMO "/DownloadAndUpdate", "int", DLU_TYPE, "200");
    it->meta.mark = "informational";
    return m;
}

/* Pkg #2: Status with Chal, Get, Add with two items, Exec with Correlator. */
static upd_dm_msg *pkg2(void)
{
    upd_dm_msg *m = server_msg("2A", 1);
    m->hdr.resp_uri = "http://127.0.0.1:8080/dm?s=2A";
    upd_dm_cmd *st = must(upd_dm_status_add(m, 1, 0, "SyncHdr", 212));
    st->target_ref = "http://127.0.0.1:8080/dm";
    st->source_ref = "IMEI:493005100592800";
    upd_dm_meta *chal = must(upd_dm_status_chal(m, st));
    chal->type = UPD_DM_AUTH_MD5;
    chal->format = "b64";
    chal->next_nonce = "Tm9uY2U=";
    must(upd_dm_status_add(m, 1, 1, "Alert", 200));
    must(upd_dm_status_add(m, 1, 2, "Replace", 200));
    upd_dm_cmd *g = must(upd_dm_cmd_add(m, NULL, UPD_DM_CMD_GET));
    item(m, g, "./Vendor/MSFT/ROMPackage", NULL, NULL, NULL, NULL);
    upd_dm_cmd *add = must(upd_dm_cmd_add(m, NULL, UPD_DM_CMD_ADD));
    item(m, add, FUMO "/DownloadAndUpdate/PkgURL", NULL, "chr", NULL,
         "http://127.0.0.1:8081/p/a.upd?x=1&y=2");
    item(m, add, FUMO "/PkgName", NULL, "chr", NULL, "  spaced name\n");
    upd_dm_cmd *ex = must(upd_dm_cmd_add(m, NULL, UPD_DM_CMD_EXEC));
    ex->correlator = "corr-0001";
    item(m, ex, FUMO "/DownloadAndUpdate", NULL, NULL, NULL, NULL);
    return m;
}

/* Pkg #3: Statuses (Exec 202), Results for the Get with node format. */
static upd_dm_msg *pkg3(void)
{
    upd_dm_msg *m = client_msg("2A", 2);
    must(upd_dm_status_add(m, 1, 0, "SyncHdr", 200));
    upd_dm_cmd *s = must(upd_dm_status_add(m, 1, 4, "Get", 200));
    s->target_ref = "./Vendor/MSFT/ROMPackage";
    must(upd_dm_status_add(m, 1, 6, "Exec", 202));
    upd_dm_cmd *res = must(upd_dm_cmd_add(m, NULL, UPD_DM_CMD_RESULTS));
    res->msg_ref = 1;
    res->cmd_ref = 4;
    item(m, res, NULL, "./Vendor/MSFT/ROMPackage", "node", NULL, "a1/b2");
    return m;
}

/* Nested Sequence/Atomic, Delete, Replace, NoResp, an Alert 1222 (no Final). */
static upd_dm_msg *nested(void)
{
    upd_dm_msg *m = server_msg("1", 7);
    m->final = 0;
    upd_dm_cmd *seq = must(upd_dm_cmd_add(m, NULL, UPD_DM_CMD_SEQUENCE));
    seq->no_resp = 1;
    upd_dm_cmd *del = must(upd_dm_cmd_add(m, seq, UPD_DM_CMD_DELETE));
    item(m, del, "./FwUpdate/old", NULL, NULL, NULL, NULL);
    upd_dm_cmd *at = must(upd_dm_cmd_add(m, seq, UPD_DM_CMD_ATOMIC));
    upd_dm_cmd *rep = must(upd_dm_cmd_add(m, at, UPD_DM_CMD_REPLACE));
    rep->meta.format = "int";
    item(m, rep, "./x/int", NULL, NULL, NULL, "42");
    must(upd_dm_alert_add(m, UPD_DM_ALERT_NEXT_MESSAGE));
    return m;
}

/* A large-object chunk: Format bin at the command, Size, MoreData, binary
 * bytes (NUL, 0xFF) carried base64 in XML. */
static upd_dm_msg *chunk(void)
{
    upd_dm_msg *m = server_msg("FFFF", 3);
    m->hdr.target_name = "dev name";
    m->hdr.source_name = "srv";
    upd_dm_cmd *rep = must(upd_dm_cmd_add(m, NULL, UPD_DM_CMD_REPLACE));
    rep->meta.format = "bin";
    rep->meta.type = "application/octet-stream";
    upd_dm_item *it = must(upd_dm_item_add(m, rep));
    it->target = FUMO "/Update/PkgData";
    it->meta.size = 70000;
    uint8_t bytes[300];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)(i * 7);
    if (upd_dm_item_set_data(m, it, bytes, sizeof bytes) != 0)
        must(NULL);
    it->more_data = 1;
    return m;
}

/* Basic auth Cred, Alert 1201 with an empty-data item, Status 401 with
 * Chal, Copy, DM 1.2 Results with Meta, an empty Data. */
static upd_dm_msg *misc(void)
{
    upd_dm_msg *m = client_msg("1", 1);
    if (upd_dm_cred_set(m, UPD_DM_AUTH_BASIC, "Bruce2", "OhBehave", NULL, 0) != 0)
        must(NULL);
    m->hdr.no_resp = 1;
    must(upd_dm_alert_add(m, UPD_DM_ALERT_CLIENT_INIT));
    upd_dm_cmd *st = must(upd_dm_status_add(m, 3, 5, "Replace", 401));
    upd_dm_meta *chal = must(upd_dm_status_chal(m, st));
    chal->type = UPD_DM_AUTH_BASIC;
    chal->format = "b64";
    upd_dm_cmd *cp = must(upd_dm_cmd_add(m, NULL, UPD_DM_CMD_COPY));
    item(m, cp, "./a", "./b", NULL, NULL, "");
    upd_dm_cmd *res = must(upd_dm_cmd_add(m, NULL, UPD_DM_CMD_RESULTS));
    res->cmd_ref = 9;
    res->meta.type = "text/plain";
    res->target_ref = "./t";
    res->source_ref = "./s";
    item(m, res, NULL, "./DevDetail/SwV", "chr", NULL, "\xc3\xa9t\xc3\xa9 \xe2\x82\xac");
    return m;
}

static const struct { const char *name; upd_dm_msg *(*make)(void); } samples[DM_SAMPLE_COUNT] = {
    { "pkg1", pkg1 }, { "pkg2", pkg2 }, { "pkg3", pkg3 },
    { "nested", nested }, { "chunk", chunk }, { "misc", misc },
};

const char *dm_sample_name(size_t i)
{
    return i < DM_SAMPLE_COUNT ? samples[i].name : NULL;
}

upd_dm_msg *dm_sample(size_t i)
{
    return i < DM_SAMPLE_COUNT ? samples[i].make() : NULL;
}

/* ---- deep equality ------------------------------------------------------- */

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int meta_eq(const upd_dm_meta *a, const upd_dm_meta *b)
{
    return str_eq(a->type, b->type) && str_eq(a->format, b->format) && str_eq(a->mark, b->mark)
           && str_eq(a->next_nonce, b->next_nonce) && a->size == b->size
           && a->max_msg_size == b->max_msg_size && a->max_obj_size == b->max_obj_size;
}

static int item_eq(const upd_dm_item *a, const upd_dm_item *b)
{
    for (; a && b; a = a->next, b = b->next) {
        if (!str_eq(a->target, b->target) || !str_eq(a->target_name, b->target_name)
            || !str_eq(a->source, b->source) || !str_eq(a->source_name, b->source_name)
            || !meta_eq(&a->meta, &b->meta) || !a->data != !b->data
            || a->data_len != b->data_len || a->more_data != b->more_data
            || (a->data && memcmp(a->data, b->data, a->data_len) != 0))
            return 0;
    }
    return !a && !b;
}

static int cmd_eq(const upd_dm_cmd *a, const upd_dm_cmd *b)
{
    for (; a && b; a = a->next, b = b->next) {
        if (a->type != b->type || a->cmd_id != b->cmd_id || a->no_resp != b->no_resp
            || !meta_eq(&a->meta, &b->meta) || a->code != b->code
            || !str_eq(a->correlator, b->correlator) || a->msg_ref != b->msg_ref
            || a->cmd_ref != b->cmd_ref || !str_eq(a->cmd_name, b->cmd_name)
            || !str_eq(a->target_ref, b->target_ref) || !str_eq(a->source_ref, b->source_ref)
            || !a->chal != !b->chal || (a->chal && !meta_eq(a->chal, b->chal))
            || !item_eq(a->items, b->items) || !cmd_eq(a->children, b->children))
            return 0;
    }
    return !a && !b;
}

int dm_msg_equal(const upd_dm_msg *a, const upd_dm_msg *b)
{
    const upd_dm_hdr *x = &a->hdr, *y = &b->hdr;
    if (!str_eq(x->ver_dtd, y->ver_dtd) || !str_eq(x->ver_proto, y->ver_proto)
        || !str_eq(x->session_id, y->session_id) || x->msg_id != y->msg_id
        || !str_eq(x->target, y->target) || !str_eq(x->target_name, y->target_name)
        || !str_eq(x->source, y->source) || !str_eq(x->source_name, y->source_name)
        || !str_eq(x->resp_uri, y->resp_uri) || x->no_resp != y->no_resp
        || !meta_eq(&x->meta, &y->meta) || !x->cred != !y->cred)
        return 0;
    if (x->cred && (!meta_eq(&x->cred->meta, &y->cred->meta) || !str_eq(x->cred->data, y->cred->data)))
        return 0;
    return a->final == b->final && cmd_eq(a->cmds, b->cmds);
}
