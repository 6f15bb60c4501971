/* The FUMO state machine of one ROM package and its persisted record
 * (fumo.h). */
#define _POSIX_C_SOURCE 200809L
#include "fumo_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *upd_fumo_state_name(int state)
{
    switch (state) {
    case UPD_FUMO_ST_IDLE:            return "Idle";
    case UPD_FUMO_ST_DL_FAILED:       return "Download Failed";
    case UPD_FUMO_ST_DL_PROGRESS:     return "Download Progressing";
    case UPD_FUMO_ST_DL_COMPLETE:     return "Download Complete";
    case UPD_FUMO_ST_READY:           return "Ready to Update";
    case UPD_FUMO_ST_UPD_PROGRESS:    return "Update Progressing";
    case UPD_FUMO_ST_UPD_FAILED_DATA: return "Update Failed / Have Data";
    case UPD_FUMO_ST_UPD_FAILED:      return "Update Failed / No Data";
    case UPD_FUMO_ST_UPD_OK_DATA:     return "Update Successful / Have Data";
    case UPD_FUMO_ST_UPD_OK:          return "Update Successful / No Data";
    default:                          return "?";
    }
}

static int valid_state(long s)
{
    return s >= 10 && s <= 100 && s % 10 == 0;
}

int upd_fumo_next(upd_fumo_state s, upd_fumo_ev ev, upd_fumo_op op)
{
    switch (ev) {
    case UPD_FUMO_EV_PKGDATA:
        if (s == UPD_FUMO_ST_IDLE || s == UPD_FUMO_ST_READY)
            return UPD_FUMO_ST_READY;
        break;
    case UPD_FUMO_EV_DL_FAILED:
        if (s == UPD_FUMO_ST_DL_PROGRESS)
            return UPD_FUMO_ST_DL_FAILED;
        break;
    case UPD_FUMO_EV_DL_DONE:
        if (s == UPD_FUMO_ST_DL_PROGRESS)
            return UPD_FUMO_ST_DL_COMPLETE;
        break;
    case UPD_FUMO_EV_PROCEED:
        if (s == UPD_FUMO_ST_DL_COMPLETE && op == UPD_FUMO_OP_DOWNLOAD)
            return UPD_FUMO_ST_READY;
        if (s == UPD_FUMO_ST_DL_COMPLETE && op == UPD_FUMO_OP_DOWNLOAD_UPDATE)
            return UPD_FUMO_ST_UPD_PROGRESS;
        break;
    case UPD_FUMO_EV_UPD_FAILED:
        if (s == UPD_FUMO_ST_UPD_PROGRESS)
            return UPD_FUMO_ST_UPD_FAILED_DATA;
        break;
    case UPD_FUMO_EV_UPD_DONE:
        if (s == UPD_FUMO_ST_UPD_PROGRESS)
            return UPD_FUMO_ST_UPD_OK_DATA;
        break;
    case UPD_FUMO_EV_RESET:
        if (s == UPD_FUMO_ST_READY)
            return UPD_FUMO_ST_IDLE;
        break;
    case UPD_FUMO_EV_CLEANUP:
        switch (s) {
        case UPD_FUMO_ST_UPD_FAILED_DATA: return UPD_FUMO_ST_UPD_FAILED;
        case UPD_FUMO_ST_UPD_OK_DATA:     return UPD_FUMO_ST_UPD_OK;
        case UPD_FUMO_ST_DL_FAILED:
        case UPD_FUMO_ST_UPD_FAILED:
        case UPD_FUMO_ST_UPD_OK:          return UPD_FUMO_ST_IDLE;
        default: break;
        }
        break;
    }
    return UPD_E_STATE;
}

/* ---- the record and its file -------------------------------------------- */

static int set_str(char **dst, const char *src)
{
    char *c = NULL;
    if (src && !(c = strdup(src)))
        return UPD_E_NOMEM;
    free(*dst);
    *dst = c;
    return 0;
}

static int has_newline(const char *s)
{
    return s && strpbrk(s, "\r\n") != NULL;
}

static char *serialize(const fumo_rec *r, size_t *len)
{
    size_t cap = 256 + strlen(r->url ? r->url : "") + strlen(r->corr ? r->corr : "") +
                 strlen(r->note ? r->note : "");
    char *b = malloc(cap);
    if (!b)
        return NULL;
    int n = snprintf(b, cap, "state = %d\nop = %d\nresult = %d\nalert = %d\nurl = %s\nnote = %s\n",
                     (int)r->state, (int)r->op, r->result, r->alert, r->url ? r->url : "",
                     r->note ? r->note : "");
    if (r->corr)
        n += snprintf(b + n, cap - (size_t)n, "correlator = %s\n", r->corr);
    *len = (size_t)n;
    return b;
}

static void rec_clear(fumo_rec *r)
{
    free(r->url);
    free(r->corr);
    free(r->note);
    memset(r, 0, sizeof *r);
}

static int rec_copy(fumo_rec *dst, const fumo_rec *src)
{
    fumo_rec c = { .state = src->state, .op = src->op, .result = src->result,
                   .alert = src->alert };
    if (set_str(&c.url, src->url) || set_str(&c.corr, src->corr) || set_str(&c.note, src->note)) {
        rec_clear(&c);
        return UPD_E_NOMEM;
    }
    *dst = c;
    return 0;
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

/* Parse one "key = value" line into R; -1 when it is malformed. */
static int parse_line(fumo_rec *r, char *line, unsigned *seen)
{
    char *eq = strstr(line, " = ");
    if (!eq)
        return -1;
    *eq = '\0';
    const char *k = line, *v = eq + 3;
    long x;
    if (strcmp(k, "state") == 0) {
        if (parse_int(v, 10, 100, &x) || !valid_state(x))
            return -1;
        r->state = (upd_fumo_state)x;
        *seen |= 1;
    } else if (strcmp(k, "op") == 0) {
        if (parse_int(v, 0, UPD_FUMO_OP_DOWNLOAD_UPDATE, &x))
            return -1;
        r->op = (upd_fumo_op)x;
    } else if (strcmp(k, "result") == 0) {
        if (parse_int(v, 0, 599, &x))
            return -1;
        r->result = (int)x;
    } else if (strcmp(k, "alert") == 0) {
        if (parse_int(v, 0, 1, &x))
            return -1;
        r->alert = (int)x;
    } else if (strcmp(k, "url") == 0) {
        return set_str(&r->url, v) ? -1 : 0;
    } else if (strcmp(k, "note") == 0) {
        return set_str(&r->note, v) ? -1 : 0;
    } else if (strcmp(k, "correlator") == 0) {
        return set_str(&r->corr, v) ? -1 : 0;
    } else {
        return -1;
    }
    return 0;
}

static int load(upd_fumo *f)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", f->dir, f->file);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        f->rec.state = UPD_FUMO_ST_IDLE;   /* never written: a fresh device */
        return 0;
    }
    char line[8192];
    unsigned seen = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, fp)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n')
            rc = UPD_E_IO_READ;     /* overlong or unterminated line */
        else {
            line[n - 1] = '\0';
            if (parse_line(&f->rec, line, &seen))
                rc = UPD_E_IO_READ;
        }
    }
    if (ferror(fp) || !(seen & 1))
        rc = UPD_E_IO_READ;
    fclose(fp);
    return rc;
}

/* Make NEXT the record: persist it, then adopt it.  On failure the object
 * keeps the old record (what the file most likely still holds). */
static int commit(upd_fumo *f, fumo_rec *next)
{
    size_t len;
    char *b = serialize(next, &len);
    if (!b) {
        rec_clear(next);
        return UPD_E_NOMEM;
    }
    int rc = upd_fumo_store_file(f->dir, f->file, b, len, f->fault.at ? &f->fault : NULL);
    free(b);
    if (rc < 0) {
        rec_clear(next);
        return rc;
    }
    int old_state = f->rec.state;
    rec_clear(&f->rec);
    f->rec = *next;
    if (f->tree && old_state != (int)f->rec.state)
        fumo_tree_state(f);
    return 0;
}

int upd_fumo_open(upd_fumo **out, const char *dir, const char *id, const upd_fumo_fault *fault)
{
    if (!out || !dir || !id || !*id || strlen(id) > 128)
        return UPD_E_INVAL;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-') || (p == id && *p == '.'))
            return UPD_E_INVAL;
    upd_fumo *f = calloc(1, sizeof *f);
    if (!f)
        return UPD_E_NOMEM;
    if (fault)
        f->fault = *fault;
    f->dir = strdup(dir);
    f->id = strdup(id);
    size_t fl = strlen(id) + 16;
    f->file = malloc(fl);
    f->base = malloc(fl);
    if (!f->dir || !f->id || !f->file || !f->base) {
        upd_fumo_free(f);
        return UPD_E_NOMEM;
    }
    snprintf(f->file, fl, "fumo-%s.state", id);
    snprintf(f->base, fl, "./FwUpdate/%s", id);
    int rc = load(f);
    if (rc < 0) {
        upd_fumo_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

void upd_fumo_free(upd_fumo *f)
{
    if (!f)
        return;
    rec_clear(&f->rec);
    free(f->dir);
    free(f->id);
    free(f->file);
    free(f->base);
    free(f->pkgdata_path);
    free(f);
}

const char *upd_fumo_id(const upd_fumo *f)
{
    return f->id;
}

void upd_fumo_get(const upd_fumo *f, upd_fumo_record *r)
{
    r->state = f->rec.state;
    r->op = f->rec.op;
    r->url = f->rec.url ? f->rec.url : "";
    r->correlator = f->rec.corr;
    r->result = f->rec.result;
    r->alert_pending = f->rec.alert;
    r->note = f->rec.note ? f->rec.note : "";
}

/* From 20/80/100 (nothing pending) back to 10, as the next operation's
 * first step, in the copy N. */
static void implicit_cleanup(fumo_rec *n)
{
    if (n->state == UPD_FUMO_ST_DL_FAILED || n->state == UPD_FUMO_ST_UPD_FAILED ||
        n->state == UPD_FUMO_ST_UPD_OK) {
        n->state = UPD_FUMO_ST_IDLE;
        n->result = 0;
    }
}

int upd_fumo_exec(upd_fumo *f, upd_fumo_op op, const char *url, const char *correlator)
{
    if (!f || op == UPD_FUMO_OP_NONE || (unsigned)op > UPD_FUMO_OP_DOWNLOAD_UPDATE ||
        has_newline(url) || has_newline(correlator))
        return UPD_E_INVAL;
    int download = op != UPD_FUMO_OP_UPDATE;
    if (download && (!url || !*url))
        return UPD_E_INVAL;
    if (f->rec.alert)
        return UPD_E_STATE;
    fumo_rec n;
    UPD_FUMO_CHECK(rec_copy(&n, &f->rec));
    implicit_cleanup(&n);
    if ((download && n.state != UPD_FUMO_ST_IDLE) || (!download && n.state != UPD_FUMO_ST_READY)) {
        rec_clear(&n);
        return UPD_E_STATE;
    }
    n.state = download ? UPD_FUMO_ST_DL_PROGRESS : UPD_FUMO_ST_UPD_PROGRESS;
    n.result = 0;
    /* Update keeps the URL of the download that delivered its package */
    if (download && set_str(&n.url, url)) {
        rec_clear(&n);
        return UPD_E_NOMEM;
    }
    n.op = op;
    if (set_str(&n.corr, correlator) || set_str(&n.note, NULL)) {
        rec_clear(&n);
        return UPD_E_NOMEM;
    }
    return commit(f, &n);
}

int upd_fumo_event(upd_fumo *f, upd_fumo_ev ev, int result)
{
    if (!f)
        return UPD_E_INVAL;
    int failure = ev == UPD_FUMO_EV_DL_FAILED || ev == UPD_FUMO_EV_UPD_FAILED;
    if (failure && (result < 400 || result > 599))
        return UPD_E_INVAL;
    if (f->rec.alert && ev == UPD_FUMO_EV_PKGDATA)
        return UPD_E_STATE;
    fumo_rec n;
    UPD_FUMO_CHECK(rec_copy(&n, &f->rec));
    if (ev == UPD_FUMO_EV_PKGDATA) {
        implicit_cleanup(&n);
        n.op = UPD_FUMO_OP_NONE;
        free(n.note);
        n.note = NULL;
    }
    int next = upd_fumo_next(n.state, ev, n.op);
    if (next < 0) {
        rec_clear(&n);
        return next;
    }
    n.state = (upd_fumo_state)next;
    /* the end of an operation: its result waits for the server */
    if (failure || next == UPD_FUMO_ST_UPD_OK_DATA ||
        (ev == UPD_FUMO_EV_PROCEED && next == UPD_FUMO_ST_READY)) {
        n.result = failure ? result : 200;
        n.alert = 1;
    }
    return commit(f, &n);
}

int upd_fumo_alert_get(const upd_fumo *f, upd_fumo_alert *a)
{
    if (!f || !f->rec.alert)
        return 0;
    static const char *const node[] = { "", "Download", "Update", "DownloadAndUpdate" };
    static const char *const type[] = {
        "", "org.openmobilealliance.dm.firmwareupdate.download",
        "org.openmobilealliance.dm.firmwareupdate.update",
        "org.openmobilealliance.dm.firmwareupdate.downloadandupdate" };
    upd_fumo *mf = (upd_fumo *)f;    /* the source URI is cached in the object */
    snprintf(mf->alert_src, sizeof mf->alert_src, "%s/%s", f->base, node[f->rec.op]);
    a->source = mf->alert_src;
    a->type = type[f->rec.op];
    a->mark = f->rec.result == 200 ? NULL : "critical";
    a->correlator = f->rec.corr;
    a->result = f->rec.result;
    return 1;
}

int upd_fumo_alert_acked(upd_fumo *f)
{
    if (!f || !f->rec.alert)
        return UPD_E_STATE;
    fumo_rec n;
    UPD_FUMO_CHECK(rec_copy(&n, &f->rec));
    n.alert = 0;
    if (n.state == UPD_FUMO_ST_UPD_FAILED_DATA || n.state == UPD_FUMO_ST_UPD_OK_DATA)
        n.state = (upd_fumo_state)upd_fumo_next(n.state, UPD_FUMO_EV_CLEANUP, n.op);
    return commit(f, &n);
}

int upd_fumo_set_note(upd_fumo *f, const char *note)
{
    if (!f || has_newline(note))
        return UPD_E_INVAL;
    fumo_rec n;
    UPD_FUMO_CHECK(rec_copy(&n, &f->rec));
    if (set_str(&n.note, note)) {
        rec_clear(&n);
        return UPD_E_NOMEM;
    }
    return commit(f, &n);
}
