/* The DM server's side of a session: authentication both ways, DevInfo,
 * the ROMPackage query, the update choice, Replace + Exec with a
 * correlator, generic alerts 1226, and the version check after success.
 *
 * A session walks these phases, one server message each (the device
 * answers every command of a message in its next one):
 *   AUTH      challenge until the device's Cred is right (407/401 + Chal)
 *   ROMLIST   Get <rompkg root> (the child names; ./Vendor/updelta/ROMPackage by default)
 *   ROMVERS   Get <x>/PkgVersion and <x>/PkgName for every child
 *   EXEC      per package that needs it: Replace PkgURL and PkgName, Exec
 *             DownloadAndUpdate with the job's correlator (Add when the
 *             node is missing)
 *   DONE      Status + Final only: the session ends
 */
#define _POSIX_C_SOURCE 200809L
#include "server.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <updelta/dm.h>
#include <updelta/dm_auth.h>

#define SESSION_IDLE_MAX 300   /* seconds before a silent session is forgotten */
#define PENDING_MAX 256
#define ROMS_MAX 64
#define NONCE_LEN 16
#define MAX_MSG_SIZE (512 * 1024)   /* what we accept (the HTTP layer takes up to 1 MiB) */

typedef enum { PH_AUTH, PH_ROMLIST, PH_ROMVERS, PH_EXEC, PH_DONE } phase;

typedef enum { P_ROMLIST, P_VERSION, P_NAME, P_URL, P_PKGNAME, P_EXEC } pending_kind;

typedef struct {
    uint32_t msg_id, cmd_id;
    pending_kind kind;
    int idx;                  /* ROM index (P_VERSION/P_NAME) */
    int64_t job;              /* P_URL/P_PKGNAME/P_EXEC */
    int add;                  /* sent as Add (after a 404 on Replace) */
} pending;

typedef struct sess {
    char sid[64];
    char dev_id[SRV_NAME_MAX + 1];
    srv_device dev;
    int64_t row;              /* sessions table */
    phase ph;
    int authed, auth_fails, srv_authed, srv_tries, failed;
    int hmac;                 /* the device authenticates each message by x-syncml-hmac */
    int refused;              /* the device refused our Cred in this message */
    int followup;             /* notify the device again once this session ends */
    phase sent_ph;            /* the phase our last commands belonged to */
    uint32_t msg_id;          /* our last MsgID */
    pending pend[PENDING_MAX];
    unsigned npend;
    srv_rom roms[ROMS_MAX];
    unsigned nroms;
    int64_t retry_add[ROMS_MAX];   /* jobs whose Replace met 404: Add next */
    unsigned nretry;
    time_t last;
    struct sess *next;
} sess;

struct srv_dm {
    srv_store *st;
    char server_id[SRV_NAME_MAX + 1];
    char download_url[SRV_TEXT_MAX + 1];
    char rompkg[SRV_TEXT_MAX + 1];    /* the device's ROMPackage root */
    pthread_mutex_t mu;       /* one message at a time: sessions and their steps */
    sess *sessions;
};

int srv_dm_create(srv_dm **out, srv_store *st, const char *server_id)
{
    *out = NULL;
    if (!st || !server_id || !server_id[0] || strlen(server_id) > SRV_NAME_MAX)
        return UPD_E_INVAL;
    srv_dm *dm = calloc(1, sizeof *dm);
    if (!dm)
        return UPD_E_NOMEM;
    dm->st = st;
    snprintf(dm->server_id, sizeof dm->server_id, "%s", server_id);
    int rc = srv_config_get(st, "rompkg_root", SRV_ROMPKG_ROOT, dm->rompkg, sizeof dm->rompkg);
    if (rc) {
        free(dm);
        return rc;
    }
    pthread_mutex_init(&dm->mu, NULL);
    *out = dm;
    return 0;
}

int srv_dm_set_download_url(srv_dm *dm, const char *url)
{
    if (!url || !url[0] || strlen(url) > SRV_TEXT_MAX)
        return UPD_E_INVAL;
    pthread_mutex_lock(&dm->mu);
    snprintf(dm->download_url, sizeof dm->download_url, "%s", url);
    pthread_mutex_unlock(&dm->mu);
    return 0;
}

void srv_dm_free(srv_dm *dm)
{
    if (!dm)
        return;
    while (dm->sessions) {
        sess *s = dm->sessions;
        dm->sessions = s->next;
        free(s);
    }
    pthread_mutex_destroy(&dm->mu);
    free(dm);
}

static void event(srv_dm *dm, sess *s, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void event(srv_dm *dm, sess *s, const char *kind, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    /* the audit trail is best effort here: a failed insert must not turn
       a device's update into a failure (the store error shows elsewhere) */
    srv_event(dm->st, s ? s->dev.id : 0, s ? s->row : 0, kind, text);
}

/* Drop sessions idle too long; find (SID, DEV_ID) or NULL. */
static sess *session_find(srv_dm *dm, const char *sid, const char *dev_id)
{
    time_t now = time(NULL);
    for (sess **pp = &dm->sessions; *pp;) {
        sess *s = *pp;
        if (now - s->last > SESSION_IDLE_MAX) {
            *pp = s->next;
            if (s->ph != PH_DONE)
                srv_session_end(dm->st, s->row, "abandoned");
            free(s);
            continue;
        }
        if (!strcmp(s->sid, sid) && !strcmp(s->dev_id, dev_id))
            return s;
        pp = &s->next;
    }
    return NULL;
}

static void session_forget(srv_dm *dm, sess *gone)
{
    for (sess **pp = &dm->sessions; *pp; pp = &(*pp)->next)
        if (*pp == gone) {
            *pp = gone->next;
            free(gone);
            return;
        }
}

static int add_pending(sess *s, uint32_t msg_id, const upd_dm_cmd *c, pending_kind k, int idx,
                       int64_t job, int add)
{
    if (s->npend == PENDING_MAX)
        return UPD_E_LIMIT;
    s->pend[s->npend++] = (pending){ msg_id, c->cmd_id, k, idx, job, add };
    return 0;
}

/* The pending command a Status/Results C answers: its index, or -1. */
static int find_pending(const sess *s, const upd_dm_cmd *c)
{
    for (unsigned i = 0; i < s->npend; i++)
        if (s->pend[i].msg_id == (uint32_t)c->msg_ref && s->pend[i].cmd_id == (uint32_t)c->cmd_ref)
            return (int)i;
    return -1;
}

/* Remove pending command I, returning it. */
static pending drop_pending(sess *s, int i)
{
    pending p = s->pend[i];
    s->pend[i] = s->pend[--s->npend];
    return p;
}

/* ---- authentication ------------------------------------------------------ */

/* Issue a fresh client nonce, stored before it leaves, as STATUS's Chal. */
static int challenge(srv_dm *dm, sess *s, upd_dm_msg *m, upd_dm_cmd *status)
{
    uint8_t nonce[NONCE_LEN];
    char b64[64];
    int rc = upd_dm_nonce_new(nonce, sizeof nonce);
    if (!rc)
        rc = srv_nonce_set(dm->st, s->dev.id, SRV_NONCE_CLIENT, nonce, sizeof nonce);
    if (rc)
        return rc;
    upd_dm_b64_encode(nonce, sizeof nonce, b64, sizeof b64);
    upd_dm_meta *chal = upd_dm_status_chal(m, status);
    if (!chal)
        return UPD_E_NOMEM;
    chal->type = UPD_DM_AUTH_MD5;
    chal->format = "b64";
    chal->next_nonce = upd_dm_strdup(m, b64);
    return chal->next_nonce ? 0 : UPD_E_NOMEM;
}

/* Check the device's Cred: 212 (authenticated for the session), 407
 * (none), 401 (wrong); or its HMAC over this message's body: 200 (this
 * message only: every message must carry one, each with a new nonce). */
static int check_cred(srv_dm *dm, sess *s, const upd_dm_msg *in, const srv_dm_request *rq)
{
    if (!in->hdr.cred && !rq->hmac)
        return 407;
    uint8_t nonce[SRV_NONCE_MAX];
    int n = srv_nonce_get(dm->st, s->dev.id, SRV_NONCE_CLIENT, nonce);
    if (n < 0)
        return n;
    if (in->hdr.cred)
        return upd_dm_cred_verify(in->hdr.cred, in->hdr.source_name, s->dev.user, s->dev.secret,
                                  nonce, (size_t)n) == 0 ? 212 : 401;
    if (upd_dm_hmac_verify(rq->hmac, s->dev.user, s->dev.secret, nonce, (size_t)n, rq->body,
                           rq->len) != 0)
        return 401;
    s->hmac = 1;
    return 200;
}

/* Our Cred for the device (auth-md5 with the server nonce it gave us). */
static int server_cred(srv_dm *dm, sess *s, upd_dm_msg *m)
{
    uint8_t nonce[SRV_NONCE_MAX];
    int n = srv_nonce_get(dm->st, s->dev.id, SRV_NONCE_SERVER, nonce);
    if (n < 0)
        return n;
    return upd_dm_cred_set(m, UPD_DM_AUTH_MD5, dm->server_id, s->dev.server_secret, nonce,
                           (size_t)n);
}

/* The device's answer to our SyncHdr: whether it accepted our Cred, and
 * the nonce it wants next time. */
static int srv_auth_status(srv_dm *dm, sess *s, const upd_dm_cmd *c)
{
    if (c->chal && c->chal->next_nonce) {
        uint8_t nonce[SRV_NONCE_MAX];
        int n = upd_dm_b64_decode(c->chal->next_nonce, nonce, sizeof nonce);
        if (n >= 0) {
            int rc = srv_nonce_set(dm->st, s->dev.id, SRV_NONCE_SERVER, nonce, (size_t)n);
            if (rc)
                return rc;
        }
    }
    if (c->code == 212 || c->code == 200) {
        if (!s->srv_authed)
            event(dm, s, "auth", "device accepted the server's credentials (%d)", c->code);
        s->srv_authed = 1;
    } else if (c->code == 401 || c->code == 407) {
        s->srv_authed = 0;
        s->srv_tries++;
        s->refused = 1;
        event(dm, s, "auth", "device refused the server's credentials (%d)", c->code);
    }
    return 0;
}

static int fail_device(srv_dm *dm, sess *s, const char *why)
{
    s->failed = 1;
    /* stored before it is told: whoever reads the event finds the state */
    int rc = srv_device_set_state(dm->st, s->dev.id, SRV_DEV_FAILED, why);
    event(dm, s, "state", "device failed: %s", why);
    return rc;
}

/* ---- what the device sends ----------------------------------------------- */

static const char *fumo_reason(int code)
{
    switch (code) {
    case 200: return "successful";
    case 401: return "user cancelled";
    case 402: return "corrupted firmware update package";
    case 403: return "package does not match the device";
    case 404: return "package failed validation (signature)";
    case 405: return "package not acceptable";
    case 408: return "not implemented";
    case 410: return "firmware update failed";
    case 411: return "malformed or bad URL";
    case 412: return "download server unavailable";
    case 500: return "download server error";
    case 501: return "download failed: out of memory";
    case 502: return "update failed: out of memory";
    case 503: return "download failed: network";
    default:
        return code >= 250 && code < 300 ? "successful (vendor code)" : "failed (vendor code)";
    }
}

static int generic_alert(srv_dm *dm, sess *s, const upd_dm_cmd *c)
{
    const upd_dm_item *it = c->items;
    const char *data = it && it->data ? (const char *)it->data : NULL;
    srv_alert a = { c->code, c->correlator, it ? it->source : NULL, it ? it->meta.type : NULL,
                    it ? it->meta.mark : NULL, data };
    int rc = srv_alert_log(dm->st, s->row, s->dev.id, &a);
    if (rc)
        return rc;
    int result = data ? atoi(data) : 0;
    srv_job job;
    int found = c->correlator ? srv_job_by_corr(dm->st, c->correlator, &job) : 0;
    if (found < 0)
        return found;
    if (!found || job.device != s->dev.id) {
        event(dm, s, "alert", "1226 result %d with unknown correlator %s: logged only", result,
              c->correlator ? c->correlator : "(none)");
        return 0;
    }
    int ok = result >= 200 && result < 300;
    event(dm, s, "alert", "1226 %s %s -> %s: result %d (%s), correlator %s", job.pkg_id,
          job.from[0] ? job.from : "(full)", job.to, result, fumo_reason(result), job.correlator);
    rc = srv_job_set(dm->st, job.id, ok ? SRV_JOB_REPORTED : SRV_JOB_FAILED, result,
                     ok ? "" : fumo_reason(result));
    if (!rc && !ok) {
        char why[SRV_TEXT_MAX + 1];
        snprintf(why, sizeof why, "%s %s: FUMO %d %s", job.pkg_id, job.to, result,
                 fumo_reason(result));
        rc = fail_device(dm, s, why);
    }
    return rc;
}

static void devinfo(srv_dm *dm, sess *s, const upd_dm_cmd *c)
{
    const char *man = NULL, *mod = NULL;
    for (const upd_dm_item *it = c->items; it; it = it->next) {
        const char *uri = it->source ? it->source : it->target;
        if (!uri || !it->data)
            continue;
        if (!strcmp(uri, "./DevInfo/Man"))
            man = (const char *)it->data;
        else if (!strcmp(uri, "./DevInfo/Mod"))
            mod = (const char *)it->data;
    }
    srv_device_seen(dm->st, s->dev.id, man, mod);
    event(dm, s, "devinfo", "DevInfo: %s %s", man ? man : "?", mod ? mod : "?");
}

/* Results of our Gets. */
static void results(srv_dm *dm, sess *s, const upd_dm_cmd *c)
{
    int i = find_pending(s, c);
    if (i < 0)
        return;
    pending p = drop_pending(s, i);
    if (!c->items || !c->items->data)
        return;
    const char *data = (const char *)c->items->data;
    if (p.kind == P_ROMLIST) {
        s->nroms = 0;
        const char *q = data;
        while (*q && s->nroms < ROMS_MAX) {
            size_t n = strcspn(q, "/");
            srv_rom *r = &s->roms[s->nroms];
            memset(r, 0, sizeof *r);
            /* ids go into URIs, the store and file names: keep them plain */
            if (n <= SRV_NAME_MAX) {
                memcpy(r->pkg_id, q, n);
                s->nroms += srv_name_ok(r->pkg_id, SRV_NAME_MAX);
            }
            q += n;
            q += *q == '/';
        }
        event(dm, s, "rompkg", "ROMPackage lists %u package(s): %s", s->nroms, data);
    } else if (p.kind == P_VERSION && p.idx < (int)s->nroms) {
        snprintf(s->roms[p.idx].version, sizeof s->roms[p.idx].version, "%s", data);
    } else if (p.kind == P_NAME && p.idx < (int)s->nroms) {
        snprintf(s->roms[p.idx].name, sizeof s->roms[p.idx].name, "%s", data);
    }
}

/* Statuses of our commands (other than the SyncHdr's). */
static int command_status(srv_dm *dm, sess *s, const upd_dm_cmd *c)
{
    int i = find_pending(s, c);
    if (i < 0)
        return 0;
    pending_kind k = s->pend[i].kind;
    /* a Get answers with Status then Results: keep it for the Results */
    if ((k == P_ROMLIST || k == P_VERSION || k == P_NAME) && c->code == 200)
        return 0;
    pending p = drop_pending(s, i);
    if (k == P_ROMLIST) {
        event(dm, s, "rompkg", "Get %s refused: %d", dm->rompkg, c->code);
        return 0;
    }
    int rc;
    if (p.kind == P_URL && c->code == 404 && !p.add) {
        if (s->nretry < ROMS_MAX)
            s->retry_add[s->nretry++] = p.job;
        return 0;
    }
    if (p.kind == P_EXEC) {
        int accepted = c->code == 202 || c->code == 200;
        event(dm, s, "exec", "Exec answered %d%s", c->code, accepted ? " (accepted)" : "");
        int already_retry = 0;
        for (unsigned r = 0; r < s->nretry; r++)
            already_retry |= s->retry_add[r] == p.job;
        if (already_retry)
            return 0;             /* the Add round sends the Exec again */
        if (accepted)
            return srv_job_set(dm->st, p.job, SRV_JOB_ACCEPTED, 0, NULL);
        char why[64];
        snprintf(why, sizeof why, "Exec refused with status %d", c->code);
        rc = srv_job_set(dm->st, p.job, SRV_JOB_FAILED, 0, why);
        if (!rc && c->code == 405) {
            /* the State forbids it now (an update running, a final alert
             * still pending): again in a later session */
            s->followup = 1;
            return 0;
        }
        return rc ? rc : fail_device(dm, s, why);
    }
    return 0;
}

/* ---- what the server sends ----------------------------------------------- */

static upd_dm_cmd *cmd_item(upd_dm_msg *m, upd_dm_cmd_type t, const char *uri, const char *value)
{
    upd_dm_cmd *c = upd_dm_cmd_add(m, NULL, t);
    upd_dm_item *it = c ? upd_dm_item_add(m, c) : NULL;
    if (!it || !(it->target = upd_dm_strdup(m, uri)))
        return NULL;
    if (value) {
        it->meta.format = "chr";
        it->meta.type = "text/plain";
        if (upd_dm_item_set_data(m, it, value, strlen(value)))
            return NULL;
    }
    return c;
}

/* Replace (or Add) PkgURL and PkgName of FwUpdate/<x>, then Exec
 * DownloadAndUpdate with JOB's correlator. */
static int send_job(srv_dm *dm, sess *s, upd_dm_msg *m, const srv_job *job, int add)
{
    srv_cat cat;
    int rc = srv_cat_get(dm->st, job->cat, &cat);
    if (rc <= 0)
        return rc < 0 ? rc : UPD_E_INVAL;
    char base[SRV_TEXT_MAX + 1], uri[2 * SRV_TEXT_MAX + 2], url[2 * SRV_TEXT_MAX + 2];
    snprintf(base, sizeof base, SRV_FWUPDATE_ROOT "/%s", job->pkg_id);
    snprintf(url, sizeof url, "%s/%s", dm->download_url, cat.file);
    upd_dm_cmd_type t = add ? UPD_DM_CMD_ADD : UPD_DM_CMD_REPLACE;
    snprintf(uri, sizeof uri, "%s/DownloadAndUpdate/PkgURL", base);
    upd_dm_cmd *c = cmd_item(m, t, uri, url);
    if (!c || add_pending(s, m->hdr.msg_id, c, P_URL, 0, job->id, add))
        return UPD_E_NOMEM;
    snprintf(uri, sizeof uri, "%s/PkgName", base);
    if (!(c = cmd_item(m, t, uri, cat.file))
        || add_pending(s, m->hdr.msg_id, c, P_PKGNAME, 0, job->id, add))
        return UPD_E_NOMEM;
    snprintf(uri, sizeof uri, "%s/DownloadAndUpdate", base);
    if (!(c = cmd_item(m, UPD_DM_CMD_EXEC, uri, NULL))
        || !(c->correlator = upd_dm_strdup(m, job->correlator))
        || add_pending(s, m->hdr.msg_id, c, P_EXEC, 0, job->id, add))
        return UPD_E_NOMEM;
    event(dm, s, "exec", "%s %s %s -> %s (%s, %llu bytes), Exec DownloadAndUpdate, correlator %s",
          add ? "Add" : "Replace", job->pkg_id, job->from[0] ? job->from : "(full)", job->to,
          url, (unsigned long long)cat.size, job->correlator);
    return 0;
}

/* One ROM package as reported: verify a reported job, then start the next
 * step of its update if it needs one.  *BUSY is set while a job runs. */
static int campaign_rom(srv_dm *dm, sess *s, upd_dm_msg *m, const srv_rom *r, int *busy)
{
    srv_job job;
    int rc = srv_job_open(dm->st, s->dev.id, r->pkg_id, &job);
    if (rc < 0)
        return rc;
    int just_verified = rc && !strcmp(job.state, SRV_JOB_REPORTED);
    if (just_verified) {
        if (!strcmp(r->version, job.to)) {
            event(dm, s, "verify", "%s now at %s: verified", r->pkg_id, r->version);
            rc = srv_job_set(dm->st, job.id, SRV_JOB_VERIFIED, 0, NULL);
        } else {
            char why[SRV_TEXT_MAX + 1];
            if (snprintf(why, sizeof why, "%s reports %s after the update to %s", r->pkg_id,
                         r->version, job.to) >= (int)sizeof why)
                memcpy(why + sizeof why - 4, "...", 4);   /* cut to the column: say so */
            rc = srv_job_set(dm->st, job.id, SRV_JOB_FAILED, 0, why);
            if (!rc)
                rc = fail_device(dm, s, why);
            return rc;
        }
        if (rc)
            return rc;
    } else if (rc && !strcmp(job.state, SRV_JOB_ACCEPTED)) {
        *busy = 1;                /* downloading or installing: its alert will come */
        return 0;
    } else if (rc) {
        /* Exec sent in an earlier session and never answered: send again */
        rc = srv_job_set(dm->st, job.id, SRV_JOB_FAILED, 0, "Exec never answered");
        if (rc)
            return rc;
    }
    srv_plan plan;
    rc = srv_plan_update(dm->st, r->pkg_id, r->version, &plan);
    if (rc == UPD_E_LIMIT) {
        event(dm, s, "plan", "%s %s: not in the catalogue", r->pkg_id, r->version);
        return 0;
    }
    if (rc || plan.kind == SRV_PLAN_NONE)
        return rc;
    if (just_verified) {
        /* the next step of a chain: the device's FUMO node takes no Exec
           before its final alert is acknowledged, which is this session's
           end; so it goes in a new session, started by package #0 */
        event(dm, s, "plan", "%s %s -> %s: next step in a new session", r->pkg_id, r->version,
              plan.target);
        s->followup = 1;
        *busy = 1;
        return 0;
    }
    static const char *const kind[] = { "none", "direct delta", "chain of deltas", "full image" };
    /* a package that already failed on this device waits for an operator */
    srv_job last;
    rc = srv_job_last(dm->st, s->dev.id, r->pkg_id, &last);
    if (rc < 0)
        return rc;
    /* (a failure the device reported, or a failed version check, counts; an
       Exec that was refused or never answered is tried again) */
    if (rc && !strcmp(last.state, SRV_JOB_FAILED) && last.result != 0 && last.cat == plan.step[0]) {
        event(dm, s, "plan", "%s %s -> %s: last attempt failed (%s), not retried", r->pkg_id,
              r->version, plan.target, last.reason);
        s->failed = 1;
        return 0;
    }
    event(dm, s, "plan", "%s %s -> %s: %s, %u step(s), %llu bytes", r->pkg_id, r->version,
          plan.target, kind[plan.kind], plan.n, (unsigned long long)plan.bytes);
    rc = srv_job_create(dm->st, s->dev.id, plan.step[0], &job);
    if (!rc)
        rc = send_job(dm, s, m, &job, 0);
    *busy = 1;
    return rc;
}

/* After the versions arrived: record them, verify, start updates, and set
 * the device's state. */
static int campaign(srv_dm *dm, sess *s, upd_dm_msg *m)
{
    srv_rom got[ROMS_MAX];
    unsigned n = 0;
    memset(got, 0, sizeof got);
    for (unsigned i = 0; i < s->nroms; i++)
        if (s->roms[i].version[0])
            got[n++] = s->roms[i];
    if (!n) {
        event(dm, s, "rompkg", "no ROM package versions reported: nothing checked");
        return 0;
    }
    int rc = srv_rom_record(dm->st, s->dev.id, s->row, got, n);
    int busy = 0;
    for (unsigned i = 0; !rc && i < n; i++) {
        event(dm, s, "rompkg", "%s (%s) at version %s", got[i].pkg_id,
              got[i].name[0] ? got[i].name : "-", got[i].version);
        rc = campaign_rom(dm, s, m, &got[i], &busy);
    }
    if (rc || s->failed)
        return rc;
    rc = srv_device_set_state(dm->st, s->dev.id, busy ? SRV_DEV_UPDATING : SRV_DEV_VERIFIED, NULL);
    event(dm, s, "state", "device %s",
          busy ? "updating" : "verified: every package at its newest version");
    return rc;
}

/* The commands of our next message, by phase. */
static int next_commands(srv_dm *dm, sess *s, upd_dm_msg *m)
{
    int rc = 0;
    switch (s->ph) {
    case PH_AUTH: {
        upd_dm_cmd *c = cmd_item(m, UPD_DM_CMD_GET, dm->rompkg, NULL);
        if (!c)
            return UPD_E_NOMEM;
        s->ph = PH_ROMLIST;
        return add_pending(s, m->hdr.msg_id, c, P_ROMLIST, 0, 0, 0);
    }
    case PH_ROMLIST:
        for (unsigned i = 0; !rc && i < s->nroms; i++) {
            char uri[SRV_TEXT_MAX * 2 + 16];
            snprintf(uri, sizeof uri, "%s/%s/PkgVersion", dm->rompkg, s->roms[i].pkg_id);
            upd_dm_cmd *c = cmd_item(m, UPD_DM_CMD_GET, uri, NULL);
            rc = c ? add_pending(s, m->hdr.msg_id, c, P_VERSION, (int)i, 0, 0) : UPD_E_NOMEM;
            snprintf(uri, sizeof uri, "%s/%s/PkgName", dm->rompkg, s->roms[i].pkg_id);
            c = rc ? NULL : cmd_item(m, UPD_DM_CMD_GET, uri, NULL);
            rc = rc ? rc : c ? add_pending(s, m->hdr.msg_id, c, P_NAME, (int)i, 0, 0) : UPD_E_NOMEM;
        }
        s->ph = s->nroms ? PH_ROMVERS : PH_DONE;
        return rc;
    case PH_ROMVERS:
        s->ph = PH_EXEC;
        return campaign(dm, s, m);
    case PH_EXEC:
        for (unsigned i = 0; !rc && i < s->nretry; i++) {
            srv_job job;
            rc = srv_job_get(dm->st, s->retry_add[i], &job);
            if (rc == 1)
                rc = send_job(dm, s, m, &job, 1);
        }
        s->nretry = 0;
        return rc;
    case PH_DONE:
        return 0;
    }
    return 0;
}

/* ---- one message ----------------------------------------------------------- */

/* A session for the message IN from a known device, or NULL (unknown
 * device: *CODE says why). */
static sess *session_open(srv_dm *dm, const upd_dm_msg *in, int *code)
{
    sess *s = session_find(dm, in->hdr.session_id, in->hdr.source);
    if (s)
        return s;
    srv_device dev;
    int rc = srv_device_get(dm->st, in->hdr.source, &dev);
    if (rc <= 0) {
        *code = rc < 0 ? 500 : 403;
        if (!rc) {
            char text[SRV_TEXT_MAX + 1];
            snprintf(text, sizeof text, "unknown device %.200s refused (403)", in->hdr.source);
            srv_event(dm->st, 0, 0, "auth", text);
        }
        return NULL;
    }
    if (!(s = calloc(1, sizeof *s))) {
        *code = 500;
        return NULL;
    }
    snprintf(s->sid, sizeof s->sid, "%s", in->hdr.session_id);
    snprintf(s->dev_id, sizeof s->dev_id, "%s", in->hdr.source);
    s->dev = dev;
    int64_t row = srv_session_begin(dm->st, dev.id, s->sid);
    if (row < 0) {
        free(s);
        *code = 500;
        return NULL;
    }
    s->row = row;
    s->next = dm->sessions;
    dm->sessions = s;
    const upd_dm_cmd *a = in->cmds;
    while (a && a->type != UPD_DM_CMD_ALERT)
        a = a->next;
    event(dm, s, "session", "session %s opened (%s)", s->sid,
          !a ? "no alert" : a->code == UPD_DM_ALERT_SERVER_INIT ? "alert 1200: answers package #0"
          : a->code == UPD_DM_ALERT_CLIENT_INIT ? "alert 1201: device-initiated" : "other alert");
    return s;
}

/* Answer the device's commands in IN (after authentication). */
static int answer_commands(srv_dm *dm, sess *s, const upd_dm_msg *in, upd_dm_msg *m, int *abort)
{
    int rc = 0;
    for (const upd_dm_cmd *c = in->cmds; !rc && c; c = c->next) {
        int code = 200;
        switch (c->type) {
        case UPD_DM_CMD_STATUS:
            rc = c->cmd_ref == 0 ? srv_auth_status(dm, s, c) : command_status(dm, s, c);
            continue;
        case UPD_DM_CMD_RESULTS:
            results(dm, s, c);
            continue;
        case UPD_DM_CMD_ALERT:
            if (c->code == UPD_DM_ALERT_GENERIC)
                rc = generic_alert(dm, s, c);
            else if (c->code == UPD_DM_ALERT_SESSION_ABORT)
                *abort = 1;
            break;
        case UPD_DM_CMD_REPLACE:
            devinfo(dm, s, c);
            break;
        default:
            code = 406;             /* a client sends only Replace, Alert, Status, Results */
            break;
        }
        if (!c->no_resp && !upd_dm_status_add(m, in->hdr.msg_id, c->cmd_id,
                                               upd_dm_cmd_name(c->type), code))
            rc = UPD_E_NOMEM;
    }
    return rc;
}

/* Build the reply to IN into M; *END when the session is over. */
static int reply_to(srv_dm *dm, sess *s, const upd_dm_msg *in, const srv_dm_request *rq,
                    upd_dm_msg *m, int *end)
{
    m->hdr.session_id = s->sid;
    m->hdr.msg_id = ++s->msg_id;
    m->hdr.target = s->dev_id;
    m->hdr.source = in->hdr.target ? in->hdr.target : dm->server_id;
    m->hdr.meta.max_msg_size = MAX_MSG_SIZE;
    m->hdr.meta.max_obj_size = MAX_MSG_SIZE;
    m->final = 1;
    int code = s->authed && !s->hmac ? 200 : check_cred(dm, s, in, rq);
    if (code < 0)
        return code;
    int fresh = !s->authed;
    upd_dm_cmd *st = upd_dm_status_add(m, in->hdr.msg_id, 0, "SyncHdr", code);
    if (!st)
        return UPD_E_NOMEM;
    st->target_ref = in->hdr.target;
    st->source_ref = in->hdr.source;
    int rc = 0;
    if (code != 200 || s->hmac) {
        /* a fresh nonce with every challenge, with 212 for the next session,
           and with every HMAC'd message for the next message */
        rc = challenge(dm, s, m, st);
        if (rc)
            return rc;
    }
    if (code == 401 || code == 407) {
        event(dm, s, "auth", "device credentials %s: challenge %d with a new nonce",
              code == 407 ? "missing" : "wrong", code);
        /* three wrong answers end the session; the device may start again */
        *end = code == 401 && ++s->auth_fails >= 3;
        return 0;
    }
    s->authed = 1;
    if (fresh)
        event(dm, s, "auth", "device authenticated (%s), next nonce issued",
              s->hmac ? "HMAC-MD5 per message" : in->hdr.cred->meta.type ? in->hdr.cred->meta.type
              : "?");
    int abort = 0;
    s->refused = 0;
    rc = answer_commands(dm, s, in, m, &abort);
    if (rc)
        return rc;
    /* after the device's verdict on our last Cred, with the nonce it sent */
    if (!s->srv_authed && s->srv_tries >= 3) {
        event(dm, s, "auth", "device refused the server's credentials 3 times: session ends");
        *end = 1;
        return 0;
    }
    if (!s->srv_authed && (rc = server_cred(dm, s, m)))
        return rc;
    if (abort) {
        event(dm, s, "session", "device aborted the session (alert 1223)");
        *end = 1;
        return 0;
    }
    if (!in->final) {
        /* the device's package goes on in another message: ask for it
           (1222) and send nothing new until it is complete */
        return upd_dm_alert_add(m, UPD_DM_ALERT_NEXT_MESSAGE) ? 0 : UPD_E_NOMEM;
    }
    /* the device's package is complete: what it left unanswered will not come */
    s->npend = 0;
    /* a device that refused our Cred ran none of our commands: send them again */
    if (s->refused)
        s->ph = s->sent_ph;
    s->sent_ph = s->ph;
    size_t before = upd_dm_cmd_count(m->cmds);
    rc = next_commands(dm, s, m);
    if (!rc && upd_dm_cmd_count(m->cmds) == before) {
        s->ph = PH_DONE;
        *end = 1;
    }
    return rc;
}

/* The reply's x-syncml-hmac with the server credentials, for a device
 * that authenticates by HMAC (and so checks ours). */
static int reply_hmac(srv_dm *dm, sess *s, srv_dm_request *rq)
{
    uint8_t nonce[SRV_NONCE_MAX];
    int n = srv_nonce_get(dm->st, s->dev.id, SRV_NONCE_SERVER, nonce);
    if (n < 0)
        return n;
    int rc = upd_dm_hmac_header(dm->server_id, s->dev.server_secret, nonce, (size_t)n, rq->reply,
                                rq->reply_len, rq->reply_hmac, sizeof rq->reply_hmac);
    return rc < 0 ? rc : 0;
}

int srv_dm_handle(void *user, srv_dm_request *rq)
{
    srv_dm *dm = user;
    rq->reply = NULL;
    rq->reply_len = 0;
    rq->reply_hmac[0] = 0;
    int enc = upd_dm_media_encoding(rq->content_type);
    if (!enc)
        return 415;
    upd_dm_msg *in = NULL;
    char why[128];
    if (upd_dm_parse(rq->body, rq->len, (upd_dm_encoding)enc, NULL, &in, why, sizeof why) != 0)
        return 400;
    if (!in->hdr.session_id || !in->hdr.source) {
        upd_dm_msg_free(in);
        return 400;
    }
    upd_dm_msg *m = upd_dm_msg_new();
    if (!m) {
        upd_dm_msg_free(in);
        return 500;
    }
    pthread_mutex_lock(&dm->mu);
    int code = 200, end = 0, rc = 0;
    sess *s = session_open(dm, in, &code);
    if (s) {
        s->last = time(NULL);
        rc = reply_to(dm, s, in, rq, m, &end);
    } else if (code == 403) {
        /* unknown device: one Status, no session, nothing stored but the event */
        m->hdr.session_id = in->hdr.session_id;
        m->hdr.target = in->hdr.source;
        m->hdr.source = in->hdr.target ? in->hdr.target : dm->server_id;
        m->final = 1;
        rc = upd_dm_status_add(m, in->hdr.msg_id, 0, "SyncHdr", 403) ? 0 : UPD_E_NOMEM;
        code = 200;
    }
    if (!rc && code == 200) {
        rc = upd_dm_write(m, (upd_dm_encoding)enc, &rq->reply, &rq->reply_len);
        rq->reply_type = upd_dm_media_type((upd_dm_encoding)enc);
    }
    if (!rc && s && s->hmac)
        rc = reply_hmac(dm, s, rq);
    if (rc) {
        free(rq->reply);
        rq->reply = NULL;
        code = 500;
        end = s != NULL;
    }
    if (s && end) {
        srv_session_end(dm->st, s->row, rc ? "server error" : s->failed ? "failed"
                        : s->authed ? "done" : "not authenticated");
        event(dm, s, "session", "session %s closed", s->sid);
        if (s->followup && !rc && s->dev.notify[0])
            srv_notify_send(dm->st, dm->server_id, s->dev_id, 0, NULL);
        session_forget(dm, s);
    }
    pthread_mutex_unlock(&dm->mu);
    upd_dm_msg_free(in);
    upd_dm_msg_free(m);
    return code;
}
