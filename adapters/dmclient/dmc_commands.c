/* The server's commands run on the management tree: a Status for each
 * (Results after a Get's), large objects assembled from MoreData chunks. */
#define _POSIX_C_SOURCE 200809L
#include "dmc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_OK = 200, ST_CHUNK = 213, ST_NOT_EXECUTED = 215, ST_BAD = 400,
       ST_UNSUPPORTED = 406, ST_INCOMPLETE = 412, ST_TOO_LARGE = 413, ST_SIZE = 424,
       ST_FAILED = 500 };

#define DMC_LARGE_MAX (256u << 20)   /* largest object assembled in memory */

static void lo_reset(dmc_large *lo)
{
    free(lo->uri);
    free(lo->buf);
    memset(lo, 0, sizeof *lo);
}

static upd_dm_cmd *status_for(upd_dm_msg *out, uint32_t msg_ref, const upd_dm_cmd *c,
                              const char *target, int code)
{
    upd_dm_cmd *st = upd_dm_status_add(out, msg_ref, c->cmd_id, upd_dm_cmd_name(c->type), code);
    if (st)
        st->target_ref = target;   /* points into the server's message, which outlives OUT's send */
    return st;
}

static int item_format(const upd_dm_cmd *c, const upd_dm_item *it)
{
    const char *f = it->meta.format ? it->meta.format : c->meta.format;
    return f ? upd_tree_format_parse(f) : -1;
}

/* Append chunk IT to the large object; returns 0 while more is to come,
 * 1 when the object is complete in s->lo, or a DM status to answer. */
static int lo_chunk(dmc *s, const upd_dm_cmd *c, const upd_dm_item *it)
{
    dmc_large *lo = &s->lo;
    if (!lo->uri) {
        if (!it->more_data)
            return 1;
        if (!(lo->uri = strdup(it->target)))
            return ST_FAILED;
        lo->cmd = c->type;
        lo->format = item_format(c, it);
        lo->size = it->meta.size >= 0 ? it->meta.size : c->meta.size;
        if (lo->size > (int64_t)DMC_LARGE_MAX) {
            lo_reset(lo);
            return ST_TOO_LARGE;
        }
    }
    if (it->data_len > DMC_LARGE_MAX - lo->len) {
        lo_reset(lo);
        return ST_TOO_LARGE;
    }
    if (lo->len + it->data_len > lo->cap) {
        size_t cap = lo->cap ? lo->cap : 65536;
        while (cap < lo->len + it->data_len)
            cap *= 2;
        uint8_t *b = realloc(lo->buf, cap);
        if (!b) {
            lo_reset(lo);
            return ST_FAILED;
        }
        lo->buf = b;
        lo->cap = cap;
    }
    if (it->data_len)
        memcpy(lo->buf + lo->len, it->data, it->data_len);
    lo->len += it->data_len;
    if (it->more_data)
        return 0;
    if (lo->size >= 0 && (uint64_t)lo->size != lo->len) {
        lo_reset(lo);
        return ST_SIZE;
    }
    return 1;
}

static int to_status(int rc)
{
    return rc < 0 ? ST_FAILED : rc;
}

/* A large object in progress that C/IT does not continue was interrupted:
 * drop it and tell the server with Alert 1225 (no end of data). */
static int lo_interrupted(dmc *s, const upd_dm_cmd *c, const upd_dm_item *it, upd_dm_msg *out)
{
    if (!s->lo.uri || (c->type == s->lo.cmd && it->target && strcmp(it->target, s->lo.uri) == 0))
        return 0;
    dmc_log(s, "large object %s interrupted after %zu bytes: Alert 1225", s->lo.uri, s->lo.len);
    upd_dm_cmd *a = upd_dm_alert_add(out, UPD_DM_ALERT_NO_END_OF_DATA);
    upd_dm_item *ai = a ? upd_dm_item_add(out, a) : NULL;
    if (ai) {
        ai->target = upd_dm_strdup(out, s->lo.uri);
        ai->source = ai->target;
    }
    lo_reset(&s->lo);
    return ai && ai->target ? 0 : UPD_E_NOMEM;
}

static int run_item(dmc *s, const upd_dm_cmd *c, const upd_dm_item *it, upd_dm_msg *out,
                    upd_dm_cmd **results)
{
    const char *uri = it->target;
    if (!uri)
        return ST_BAD;
    DMC_CHECK(lo_interrupted(s, c, it, out));
    if (c->type == UPD_DM_CMD_GET) {
        upd_tree_result r = { 0 };
        int code = upd_tree_get(s->tree, uri, &r);
        if (code == UPD_E_NOMEM)
            return code;
        if (code != ST_OK)
            return code;
        if (!*results) {
            *results = upd_dm_cmd_add(out, NULL, UPD_DM_CMD_RESULTS);
            if (!*results) {
                upd_tree_result_free(&r);
                return UPD_E_NOMEM;
            }
            (*results)->msg_ref = s->server_msg_id;
            (*results)->cmd_ref = c->cmd_id;
        }
        upd_dm_item *ri = upd_dm_item_add(out, *results);
        int rc = ri ? upd_dm_item_set_data(out, ri, r.data, r.len) : UPD_E_NOMEM;
        if (rc == 0) {
            ri->source = uri;
            ri->meta.format = upd_tree_format_name(r.format);
            ri->meta.type = upd_dm_strdup(out, r.type);
            rc = ri->meta.type ? 0 : UPD_E_NOMEM;
        }
        upd_tree_result_free(&r);
        return rc < 0 ? rc : ST_OK;
    }
    if (c->type == UPD_DM_CMD_DELETE)
        return to_status(upd_tree_delete(s->tree, uri));
    if (c->type == UPD_DM_CMD_EXEC)
        return to_status(upd_tree_exec(s->tree, uri, it->data, it->data_len, c->correlator));
    /* Replace / Add, possibly in chunks */
    const void *data = it->data;
    size_t len = it->data_len;
    int format = item_format(c, it);
    if (it->more_data || (s->lo.uri && strcmp(s->lo.uri, uri) == 0)) {
        int lc = lo_chunk(s, c, it);
        if (lc == 0)
            return ST_CHUNK;
        if (lc > 1)
            return lc;
        if (s->lo.uri) {
            data = s->lo.buf;
            len = s->lo.len;
            format = s->lo.format;
        }
    }
    int code = c->type == UPD_DM_CMD_REPLACE ? upd_tree_replace(s->tree, uri, format, data, len)
                                             : upd_tree_add(s->tree, uri, format, data, len);
    lo_reset(&s->lo);
    return to_status(code);
}

static int run_list(dmc *s, const upd_dm_cmd *list, upd_dm_msg *out, int allowed, int deny);

static int run_cmd(dmc *s, const upd_dm_cmd *c, upd_dm_msg *out, int allowed, int deny)
{
    switch (c->type) {
    case UPD_DM_CMD_STATUS:
    case UPD_DM_CMD_RESULTS:
        return 0;    /* answers to us; the session reads them */
    case UPD_DM_CMD_ALERT:
        /* 1222 / 1223 are handled by the session; display alerts are
         * accepted without a user interface */
        if (c->no_resp)
            return 0;
        return status_for(out, s->server_msg_id, c, NULL, allowed ? ST_OK : deny) ? 0 : UPD_E_NOMEM;
    case UPD_DM_CMD_SEQUENCE:
        if (!status_for(out, s->server_msg_id, c, NULL, allowed ? ST_OK : deny))
            return UPD_E_NOMEM;
        return run_list(s, c->children, out, allowed, deny);
    case UPD_DM_CMD_ATOMIC:
    case UPD_DM_CMD_COPY:
        /* no rollback support: refused as a whole, children not run */
        if (!status_for(out, s->server_msg_id, c, NULL, allowed ? ST_UNSUPPORTED : deny))
            return UPD_E_NOMEM;
        return run_list(s, c->children, out, 0, allowed ? ST_NOT_EXECUTED : deny);
    default:
        break;
    }
    if (!allowed || !c->items) {
        if (c->no_resp)
            return 0;
        return status_for(out, s->server_msg_id, c, NULL, allowed ? ST_INCOMPLETE : deny)
                   ? 0 : UPD_E_NOMEM;
    }
    upd_dm_cmd *results = NULL;
    for (const upd_dm_item *it = c->items; it; it = it->next) {
        int code = run_item(s, c, it, out, &results);
        if (code < 0)
            return code;
        s->st.commands_run++;
        dmc_log(s, "%s %s -> %d", upd_dm_cmd_name(c->type), it->target ? it->target : "?", code);
        if (!c->no_resp && !status_for(out, s->server_msg_id, c, it->target, code))
            return UPD_E_NOMEM;
    }
    /* Results follow their command's Status */
    if (results) {
        upd_dm_cmd **pp = &out->cmds;
        while (*pp && *pp != results)
            pp = &(*pp)->next;
        *pp = results->next;
        results->next = NULL;
        upd_dm_cmd **tail = &out->cmds;
        while (*tail)
            tail = &(*tail)->next;
        *tail = results;
    }
    return 0;
}

static int run_list(dmc *s, const upd_dm_cmd *list, upd_dm_msg *out, int allowed, int deny)
{
    for (const upd_dm_cmd *c = list; c; c = c->next)
        DMC_CHECK(run_cmd(s, c, out, allowed, deny));
    return 0;
}

int dmc_run_commands(dmc *s, const upd_dm_msg *in, upd_dm_msg *out, int allowed, int deny)
{
    int rc = run_list(s, in->cmds, out, allowed, deny);
    if (rc < 0)
        lo_reset(&s->lo);
    return rc;
}

void dmc_large_free(dmc *s)
{
    lo_reset(&s->lo);
}
