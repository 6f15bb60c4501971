/* The client session: packages 1-4, authentication both ways, multi-message
 * packages, abort (dmclient.h). */
#define _POSIX_C_SOURCE 200809L
#include "dmc_int.h"
#include "updelta/dm_notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DMC_MAX_ROUNDS 4096       /* messages per session before we call it a loop
                                     (a large object comes in one message per chunk) */
#define DMC_MAX_ALIVE 130         /* messages kept while answers are carried over */
#define DMC_AUTH_RETRIES 2

enum { ST_OK = 200, ST_AUTH_OK = 212, ST_UNAUTHORIZED = 401, ST_AUTH_REQUIRED = 407 };

void dmc_log(const dmc *s, const char *fmt, ...)
{
    if (!s->p->log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->p->log(s->p->log_user, line);
}

typedef struct {
    char session_id[8];
    char *url;                 /* current target: server_url or the RespURI */
    uint32_t msg_id;           /* of our next message */
    uint32_t server_max;       /* server's MaxMsgSize, 0 = unknown */
    int client_auth_ok;        /* 212 received */
    int auth_retries;
    uint16_t init_session;     /* package #0 session id, 0 for client-initiated */
} sess;

void upd_dmc_nonces_sure(upd_dmc_nonces *n)
{
    memcpy(n->server, n->server_unsure, n->server_unsure_len);
    n->server_len = n->server_unsure_len;
    n->server_unsure_len = 0;
}

static int set_url(sess *ss, const char *url)
{
    char *u = strdup(url);
    if (!u)
        return UPD_E_NOMEM;
    free(ss->url);
    ss->url = u;
    return 0;
}

/* Pkg #1: Alert 1200/1201, DevInfo, the generic alerts. */
static int build_pkg1(dmc *s, sess *ss, upd_dmc_alert *alerts, size_t n, upd_dm_msg *m,
                      uint32_t *alert_ids)
{
    upd_dm_cmd *a = upd_dm_alert_add(m, ss->init_session ? UPD_DM_ALERT_SERVER_INIT
                                                         : UPD_DM_ALERT_CLIENT_INIT);
    upd_dm_cmd *rep = a ? upd_dm_cmd_add(m, NULL, UPD_DM_CMD_REPLACE) : NULL;
    if (!rep)
        return UPD_E_NOMEM;
    static const char *const leaves[] = { "./DevInfo/DevId", "./DevInfo/Man", "./DevInfo/Mod",
                                          "./DevInfo/DmV", "./DevInfo/Lang" };
    for (size_t i = 0; i < 5; i++) {
        const char *v;
        size_t len;
        if (upd_tree_value(s->tree, leaves[i], &v, &len) < 0)
            continue;
        upd_dm_item *it = upd_dm_item_add(m, rep);
        if (!it || upd_dm_item_set_data(m, it, v, len) < 0)
            return UPD_E_NOMEM;
        it->source = leaves[i];
        it->meta.format = "chr";
        it->meta.type = "text/plain";
    }
    for (size_t i = 0; i < n; i++) {
        upd_dm_cmd *g = upd_dm_alert_add(m, UPD_DM_ALERT_GENERIC);
        upd_dm_item *it = g ? upd_dm_item_add(m, g) : NULL;
        char num[16];
        int nl = snprintf(num, sizeof num, "%d", alerts[i].result);
        if (!it || upd_dm_item_set_data(m, it, num, (size_t)nl) < 0)
            return UPD_E_NOMEM;
        g->correlator = alerts[i].correlator;
        it->source = alerts[i].source;
        it->meta.type = alerts[i].type;
        it->meta.format = "int";
        it->meta.mark = alerts[i].mark;
        alert_ids[i] = g->cmd_id;
    }
    m->final = 1;
    return 0;
}

static int set_header(dmc *s, sess *ss, upd_dm_msg *m)
{
    const upd_dmc_params *p = s->p;
    m->hdr.session_id = ss->session_id;
    m->hdr.msg_id = ss->msg_id;
    m->hdr.target = p->server_url;
    const char *devid = "";
    size_t dl;
    (void)upd_tree_value(s->tree, "./DevInfo/DevId", &devid, &dl);   /* "" when missing */
    m->hdr.source = devid;
    m->hdr.meta.max_msg_size = p->max_msg_size ? p->max_msg_size : 65536;
    if (p->user && !p->hmac && !ss->client_auth_ok) {
        const char *type = p->auth ? p->auth : UPD_DM_AUTH_MD5;
        DMC_CHECK(upd_dm_cred_set(m, type, p->user, p->pass ? p->pass : "", s->nonces->client,
                                  s->nonces->client_len));
    } else if (p->user) {
        m->hdr.source_name = p->user;
    }
    return 0;
}

/* Renumber M's commands 1.. (carried commands come from older messages). */
static void renumber(upd_dm_msg *m)
{
    uint32_t id = 1;
    for (upd_dm_cmd *c = m->cmds; c; c = c->next)
        c->cmd_id = id++;
}

/* Encode M, cutting its command list so the message fits the server's
 * MaxMsgSize; the cut-off commands are returned in *REST (still owned by
 * their message's arena) and M loses its Final.  The first KEEP commands
 * are never cut: the SyncHdr status, and when commands were carried from
 * before, the answers in front of them and the first of them, so every
 * message makes progress.  A message that cannot be smaller goes out as it
 * is and the server may refuse it (413). */
static int encode_fitting(const dmc *s, const sess *ss, upd_dm_msg *m, size_t keep,
                          uint8_t **out, size_t *len, upd_dm_cmd **rest)
{
    *rest = NULL;
    upd_dm_encoding enc = s->p->enc ? s->p->enc : UPD_DM_XML;
    for (;;) {
        renumber(m);
        DMC_CHECK(upd_dm_write(m, enc, out, len));
        if (!ss->server_max || *len <= ss->server_max || upd_dm_cmd_count(m->cmds) <= keep)
            return 0;
        free(*out);
        /* move the last command to the front of REST */
        upd_dm_cmd **pp = &m->cmds;
        while ((*pp)->next)
            pp = &(*pp)->next;
        (*pp)->next = *rest;
        *rest = *pp;
        *pp = NULL;
        m->final = 0;
    }
}

static void append_cmds(upd_dm_msg *m, upd_dm_cmd *list)
{
    upd_dm_cmd **tail = &m->cmds;
    while (*tail)
        tail = &(*tail)->next;
    *tail = list;
}

/* Send M, receive and parse the answer into *IN. */
static int exchange(dmc *s, sess *ss, upd_dm_msg *m, size_t keep, upd_dm_cmd **rest,
                    upd_dm_msg **in)
{
    const upd_dmc_params *p = s->p;
    uint8_t *body;
    size_t len;
    DMC_CHECK(encode_fitting(s, ss, m, keep, &body, &len, rest));
    char hmac[512], *hp = NULL;
    if (p->hmac && p->user) {
        int rc = upd_dm_hmac_header(p->user, p->pass ? p->pass : "", s->nonces->client,
                                    s->nonces->client_len, body, len, hmac, sizeof hmac);
        if (rc < 0) {
            free(body);
            return rc;
        }
        hp = hmac;
    }
    upd_dm_encoding enc = p->enc ? p->enc : UPD_DM_XML;
    dmc_reply r;
    int rc = dmc_http_post(ss->url, upd_dm_media_type(enc), body, len, hp,
                           p->timeout_ms ? p->timeout_ms : 30000, p->ca_file, &r);
    free(body);
    upd_dmc_nonces *nc = s->nonces;
    if (rc < 0) {
        if (s->next_server_nonce_set) {
            /* the server may or may not have stored it before the
             * connection broke: keep both */
            memcpy(nc->server_unsure, s->next_server_nonce, sizeof s->next_server_nonce);
            nc->server_unsure_len = sizeof s->next_server_nonce;
        }
        return rc;
    }
    if (s->next_server_nonce_set) {
        /* the server has our new nonce now; a message never sent does not
         * rotate it */
        memcpy(nc->server, s->next_server_nonce, sizeof s->next_server_nonce);
        nc->server_len = sizeof s->next_server_nonce;
        nc->server_unsure_len = 0;
        s->next_server_nonce_set = 0;
    }
    s->st.messages_sent++;
    dmc_log(s, "sent message %u (%zu bytes%s), got HTTP %d (%zu bytes)", ss->msg_id, len,
            *rest ? ", more to come" : "", r.http, r.len);
    ss->msg_id++;
    int renc = upd_dm_media_encoding(r.ctype);
    if (r.http != 200 || !renc) {
        dmc_reply_free(&r);
        return UPD_E_DM_PROTOCOL;
    }
    s->server_mac = 0;
    /* our stored nonce, then the unsure one if any */
    for (int unsure = 0; s->server_required && r.hmac[0] && s->server_mac <= 0
                         && unsure < (nc->server_unsure_len ? 2 : 1); unsure++)
        s->server_mac = upd_dm_hmac_verify(r.hmac, p->server_id, p->server_pass,
                                           unsure ? nc->server_unsure : nc->server,
                                           unsure ? nc->server_unsure_len : nc->server_len,
                                           r.body, r.len) == 0 ? 1 + unsure : -1;
    if (s->server_mac == 2)
        upd_dmc_nonces_sure(nc);
    char why[128] = "";
    rc = upd_dm_parse(r.body, r.len, (upd_dm_encoding)renc, NULL, in, why, sizeof why);
    dmc_reply_free(&r);
    if (rc < 0)
        dmc_log(s, "bad server message: %s", why);
    return rc;
}

/* Check the server's credentials in IN's header (or its HMAC, checked
 * per message): the SyncHdr status. */
static int server_auth(dmc *s, const upd_dm_msg *in)
{
    if (!s->server_required)
        return ST_OK;
    if (s->server_mac) {
        if (s->server_mac < 0) {
            dmc_log(s, "server message MAC refused");
            return ST_UNAUTHORIZED;
        }
        s->server_ok = 1;
        s->st.server_authenticated = 1;
        return ST_OK;
    }
    if (in->hdr.cred) {
        upd_dmc_nonces *nc = s->nonces;
        int rc = upd_dm_cred_verify(in->hdr.cred, in->hdr.source_name, s->p->server_id,
                                    s->p->server_pass, nc->server, nc->server_len);
        if (rc != 0 && nc->server_unsure_len
            && upd_dm_cred_verify(in->hdr.cred, in->hdr.source_name, s->p->server_id,
                                  s->p->server_pass, nc->server_unsure,
                                  nc->server_unsure_len) == 0) {
            upd_dmc_nonces_sure(nc);
            rc = 0;
        }
        if (rc == 0) {
            s->server_ok = 1;
            s->st.server_authenticated = 1;
            return ST_AUTH_OK;
        }
        dmc_log(s, "server credentials refused");
        return ST_UNAUTHORIZED;
    }
    return s->server_ok ? ST_OK : ST_AUTH_REQUIRED;
}

/* Our SyncHdr status, with a Chal carrying a fresh server nonce when the
 * server authenticates (rotation: every message, also after a refusal). */
static int hdr_status(dmc *s, const upd_dm_msg *in, upd_dm_msg *out, int code)
{
    upd_dm_cmd *st = upd_dm_status_add(out, in->hdr.msg_id, 0, "SyncHdr", code);
    if (!st)
        return UPD_E_NOMEM;
    st->target_ref = in->hdr.target;
    st->source_ref = in->hdr.source;
    if (!s->server_required)
        return 0;
    uint8_t nonce[16];
    char b64[32];
    DMC_CHECK(upd_dm_nonce_new(nonce, sizeof nonce));
    DMC_CHECK(upd_dm_b64_encode(nonce, sizeof nonce, b64, sizeof b64));
    upd_dm_meta *chal = upd_dm_status_chal(out, st);
    if (!chal)
        return UPD_E_NOMEM;
    chal->type = UPD_DM_AUTH_MD5;
    chal->format = "b64";
    chal->next_nonce = upd_dm_strdup(out, b64);
    if (!chal->next_nonce)
        return UPD_E_NOMEM;
    memcpy(s->next_server_nonce, nonce, sizeof nonce);
    s->next_server_nonce_set = 1;
    return 0;
}

/* Take a NextNonce the server sent for us. */
static void take_chal(dmc *s, const upd_dm_meta *chal)
{
    if (!chal || !chal->next_nonce)
        return;
    uint8_t n[UPD_DMC_NONCE_MAX];
    int len = upd_dm_b64_decode(chal->next_nonce, n, sizeof n);
    if (len < 0)
        return;
    memcpy(s->nonces->client, n, (size_t)len);
    s->nonces->client_len = (size_t)len;
}

/* Read the Statuses the server sent for our messages.  Returns 1 when Pkg #1
 * must be sent again with new credentials, 0 otherwise. */
static int read_statuses(dmc *s, sess *ss, const upd_dm_msg *in, upd_dmc_alert *alerts,
                         size_t n, const uint32_t *alert_ids, uint32_t pkg1_msg, int trusted)
{
    int resend = 0;
    for (const upd_dm_cmd *c = in->cmds; c; c = c->next) {
        if (c->type != UPD_DM_CMD_STATUS)
            continue;
        if (c->cmd_ref == 0) {
            take_chal(s, c->chal);
            if (c->code == ST_AUTH_OK) {
                ss->client_auth_ok = 1;
            } else if (c->code == ST_UNAUTHORIZED || c->code == ST_AUTH_REQUIRED) {
                dmc_log(s, "server answered %d to our credentials", c->code);
                resend = 1;
            }
            continue;
        }
        /* an acknowledgement counts only from an authenticated server */
        if (c->msg_ref != (int64_t)pkg1_msg || !trusted)
            continue;
        for (size_t i = 0; i < n; i++)
            if (c->cmd_ref == (int64_t)alert_ids[i] && (c->code == 200 || c->code == 202)) {
                alerts[i].acked = 1;
                dmc_log(s, "generic alert %s acknowledged (%d)", alerts[i].source, c->code);
            }
    }
    return resend;
}

static const upd_dm_cmd *find_alert(const upd_dm_msg *in, int code)
{
    for (const upd_dm_cmd *c = in->cmds; c; c = c->next)
        if (c->type == UPD_DM_CMD_ALERT && c->code == code)
            return c;
    return NULL;
}

static int has_work(const upd_dm_msg *m)
{
    /* anything beyond the SyncHdr status needs sending */
    return m->cmds && m->cmds->next;
}

int upd_dmc_session(const upd_dmc_params *p, upd_tree *tree, uint16_t session_id,
                    upd_dmc_alert *alerts, size_t n_alerts, upd_dmc_nonces *nonces,
                    upd_dmc_stats *st)
{
    if (!p || !p->server_url || !tree || !nonces || (n_alerts && !alerts) ||
        (p->server_pass && !p->server_id) || n_alerts > 64)
        return UPD_E_INVAL;
    dmc s = { .p = p, .tree = tree, .nonces = nonces, .server_required = p->server_pass != NULL };
    sess ss = { .msg_id = 1, .init_session = session_id };
    if (!session_id) {
        uint8_t r[2];
        DMC_CHECK(upd_dm_nonce_new(r, sizeof r));
        session_id = (uint16_t)(((r[0] << 8) | r[1]) | 1u);   /* never 0 */
    }
    upd_dm_notify_session_text(session_id, ss.session_id);
    DMC_CHECK(set_url(&ss, p->server_url));
    uint32_t alert_ids[64] = { 0 };
    for (size_t i = 0; i < n_alerts; i++)
        alerts[i].acked = 0;

    /* Messages stay alive while referenced: our answers point into the
     * server's message they answer, carried commands into our older ones. */
    upd_dm_msg *alive[DMC_MAX_ALIVE];
    size_t nalive = 0;
    upd_dm_msg *out = NULL, *in = NULL;
    upd_dm_cmd *rest = NULL;
    uint32_t pkg1_msg = 0;
    size_t keep = 1;      /* leading commands of OUT never cut (see encode_fitting) */
    int rc = 0, send_pkg1 = 1;
    for (int round = 0; rc == 0; round++) {
        if (round == DMC_MAX_ROUNDS) {
            rc = UPD_E_DM_PROTOCOL;
            break;
        }
        if (send_pkg1) {
            send_pkg1 = 0;
            if (!(out = upd_dm_msg_new())) {
                rc = UPD_E_NOMEM;
                break;
            }
            alive[nalive++] = out;
            pkg1_msg = ss.msg_id;
            keep = 1;
            if ((rc = build_pkg1(&s, &ss, alerts, n_alerts, out, alert_ids)) < 0)
                break;
            dmc_log(&s, "session %s: package 1 (%s, %zu generic alerts)", ss.session_id,
                    ss.init_session ? "server-initiated 1200" : "client-initiated 1201",
                    n_alerts);
        }
        if ((rc = set_header(&s, &ss, out)) < 0)
            break;
        in = NULL;
        rc = exchange(&s, &ss, out, keep, &rest, &in);
        if (rc < 0)
            break;
        if (!rest) {
            /* nothing carried over: only IN will be referenced from now on */
            while (nalive)
                upd_dm_msg_free(alive[--nalive]);
        } else if (nalive + 2 > DMC_MAX_ALIVE) {
            upd_dm_msg_free(in);
            rc = UPD_E_DM_LIMIT;   /* a reply split over too many messages */
            break;
        }
        alive[nalive++] = in;
        if (in->hdr.msg_id == 0 ||
            (in->hdr.session_id && strcmp(in->hdr.session_id, ss.session_id) != 0)) {
            rc = UPD_E_DM_PROTOCOL;
            break;
        }
        if (in->hdr.resp_uri && (rc = set_url(&ss, in->hdr.resp_uri)) < 0)
            break;
        if (in->hdr.meta.max_msg_size > 0)
            ss.server_max = (uint32_t)in->hdr.meta.max_msg_size;
        s.server_msg_id = in->hdr.msg_id;
        if (find_alert(in, UPD_DM_ALERT_SESSION_ABORT)) {
            dmc_log(&s, "server aborted the session (1223)");
            s.st.aborted = 1;
            break;
        }
        int hcode = server_auth(&s, in);
        int allowed = hcode == ST_OK || hcode == ST_AUTH_OK;
        int resend = read_statuses(&s, &ss, in, alerts, n_alerts, alert_ids, pkg1_msg, allowed);
        if (!(out = upd_dm_msg_new())) {
            rc = UPD_E_NOMEM;
            break;
        }
        alive[nalive++] = out;
        if ((rc = hdr_status(&s, in, out, hcode)) < 0)
            break;
        if (resend) {
            if (++ss.auth_retries > DMC_AUTH_RETRIES || !p->user) {
                rc = UPD_E_DM_AUTH;
                break;
            }
            send_pkg1 = 1;
            s.next_server_nonce_set = 0;   /* its Chal is not sent */
            nalive--;
            upd_dm_msg_free(out);
            out = NULL;
            continue;
        }
        if ((rc = dmc_run_commands(&s, in, out, allowed, hcode)) < 0)
            break;
        int more_asked = find_alert(in, UPD_DM_ALERT_NEXT_MESSAGE) != NULL;
        if (!in->final && !more_asked && !upd_dm_alert_add(out, UPD_DM_ALERT_NEXT_MESSAGE)) {
            /* the server's package continues: we ask for its next message */
            rc = UPD_E_NOMEM;
            break;
        }
        keep = rest ? upd_dm_cmd_count(out->cmds) + 1 : 1;
        append_cmds(out, rest);
        rest = NULL;
        out->final = in->final || more_asked;
        if (in->final && !has_work(out))
            break;      /* only a SyncHdr status would go back: the session is over */
    }
    dmc_large_free(&s);
    while (nalive)
        upd_dm_msg_free(alive[--nalive]);
    free(ss.url);
    dmc_log(&s, "session %s ended: %s", ss.session_id, rc < 0 ? upd_errname(rc) : "ok");
    if (st)
        *st = s.st;
    return rc;
}
