/* The message model: its arena, the builders, the limits and the media
 * types (dm.h). */
#define _DEFAULT_SOURCE   /* strncasecmp */
#include "dm_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A chain of blocks; the message and everything in it are carved from
 * them, so one free releases a whole parsed message. */
struct upd_dm_arena {
    struct upd_dm_arena *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define ARENA_BLOCK 8192u

void *dm_alloc(upd_dm_msg *m, size_t n)
{
    size_t need = (n + 15u) & ~(size_t)15u;
    if (need < n)
        return NULL;
    struct upd_dm_arena *a = m->arena;
    if (!a || a->cap - a->used < need) {
        size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
        if (cap > SIZE_MAX - sizeof *a)
            return NULL;
        struct upd_dm_arena *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        /* A large block goes behind the current one so the current block's
         * free space stays in use. */
        if (a && need > ARENA_BLOCK) {
            b->next = a->next;
            a->next = b;
        } else {
            b->next = a;
            m->arena = b;
        }
        a = b;
    }
    void *p = a->data + a->used;
    a->used += need;
    memset(p, 0, n);
    return p;
}

void upd_dm_meta_init(upd_dm_meta *meta)
{
    memset(meta, 0, sizeof *meta);
    meta->size = meta->max_msg_size = meta->max_obj_size = UPD_DM_ABSENT;
}

upd_dm_msg *upd_dm_msg_new(void)
{
    upd_dm_msg *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->hdr.ver_dtd = "1.2";
    m->hdr.ver_proto = "DM/1.2";
    m->hdr.msg_id = 1;
    upd_dm_meta_init(&m->hdr.meta);
    m->next_cmd_id = 1;
    return m;
}

void upd_dm_msg_free(upd_dm_msg *m)
{
    if (!m)
        return;
    struct upd_dm_arena *a = m->arena;
    while (a) {
        struct upd_dm_arena *next = a->next;
        free(a);
        a = next;
    }
    free(m);
}

void *upd_dm_memdup(upd_dm_msg *m, const void *p, size_t n)
{
    if (!m || (!p && n) || n == SIZE_MAX)
        return NULL;
    char *d = dm_alloc(m, n + 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

char *upd_dm_strdup(upd_dm_msg *m, const char *s)
{
    return s ? upd_dm_memdup(m, s, strlen(s)) : NULL;
}

upd_dm_cmd *upd_dm_cmd_add(upd_dm_msg *m, upd_dm_cmd *parent, upd_dm_cmd_type t)
{
    if (!m || !upd_dm_cmd_name(t))
        return NULL;
    if (parent && parent->type != UPD_DM_CMD_SEQUENCE && parent->type != UPD_DM_CMD_ATOMIC)
        return NULL;
    upd_dm_cmd *c = dm_alloc(m, sizeof *c);
    if (!c)
        return NULL;
    c->type = t;
    c->cmd_id = m->next_cmd_id++;
    c->msg_ref = c->cmd_ref = UPD_DM_ABSENT;
    upd_dm_meta_init(&c->meta);
    upd_dm_cmd **tail = parent ? &parent->children : &m->cmds;
    while (*tail)
        tail = &(*tail)->next;
    *tail = c;
    return c;
}

upd_dm_item *upd_dm_item_add(upd_dm_msg *m, upd_dm_cmd *c)
{
    if (!m || !c)
        return NULL;
    upd_dm_item *it = dm_alloc(m, sizeof *it);
    if (!it)
        return NULL;
    upd_dm_meta_init(&it->meta);
    upd_dm_item **tail = &c->items;
    while (*tail)
        tail = &(*tail)->next;
    *tail = it;
    return it;
}

int upd_dm_item_set_data(upd_dm_msg *m, upd_dm_item *item, const void *data, size_t n)
{
    if (!m || !item || (!data && n))
        return UPD_E_INVAL;
    uint8_t *d = upd_dm_memdup(m, data, n);
    if (!d)
        return UPD_E_NOMEM;
    item->data = d;
    item->data_len = n;
    return 0;
}

upd_dm_meta *upd_dm_status_chal(upd_dm_msg *m, upd_dm_cmd *c)
{
    if (!m || !c || c->type != UPD_DM_CMD_STATUS)
        return NULL;
    upd_dm_meta *chal = dm_alloc(m, sizeof *chal);
    if (chal) {
        upd_dm_meta_init(chal);
        c->chal = chal;
    }
    return chal;
}

upd_dm_cred *upd_dm_hdr_cred(upd_dm_msg *m)
{
    if (!m)
        return NULL;
    upd_dm_cred *cred = dm_alloc(m, sizeof *cred);
    if (cred) {
        upd_dm_meta_init(&cred->meta);
        m->hdr.cred = cred;
    }
    return cred;
}

upd_dm_cmd *upd_dm_status_add(upd_dm_msg *m, uint32_t msg_ref, uint32_t cmd_ref,
                              const char *cmd_name, int code)
{
    upd_dm_cmd *c = upd_dm_cmd_add(m, NULL, UPD_DM_CMD_STATUS);
    if (c) {
        c->msg_ref = msg_ref;
        c->cmd_ref = cmd_ref;
        c->cmd_name = cmd_name;
        c->code = code;
    }
    return c;
}

upd_dm_cmd *upd_dm_alert_add(upd_dm_msg *m, int code)
{
    upd_dm_cmd *c = upd_dm_cmd_add(m, NULL, UPD_DM_CMD_ALERT);
    if (c)
        c->code = code;
    return c;
}

size_t upd_dm_cmd_count(const upd_dm_cmd *list)
{
    size_t n = 0;
    for (; list; list = list->next)
        n++;
    return n;
}

const char *upd_dm_cmd_name(upd_dm_cmd_type t)
{
    static const char *const names[] = {
        [UPD_DM_CMD_ALERT] = "Alert",     [UPD_DM_CMD_STATUS] = "Status",
        [UPD_DM_CMD_RESULTS] = "Results", [UPD_DM_CMD_GET] = "Get",
        [UPD_DM_CMD_REPLACE] = "Replace", [UPD_DM_CMD_ADD] = "Add",
        [UPD_DM_CMD_DELETE] = "Delete",   [UPD_DM_CMD_EXEC] = "Exec",
        [UPD_DM_CMD_COPY] = "Copy",       [UPD_DM_CMD_SEQUENCE] = "Sequence",
        [UPD_DM_CMD_ATOMIC] = "Atomic",
    };
    if ((unsigned)t >= sizeof names / sizeof names[0])
        return NULL;
    return names[t];
}

int dm_format_is_bin(const char *format)
{
    return format && strcmp(format, "bin") == 0;
}

void upd_dm_limits_default(upd_dm_limits *lim)
{
    lim->max_msg_bytes = 1u << 20;
    lim->max_depth = 32;
    lim->max_cmds = 1024;
    lim->max_items = 4096;
    lim->max_value_bytes = 512u << 10;
}

int dm_fail(int err, char *why, size_t why_len, const char *fmt, ...)
{
    if (why && why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* ---- media types --------------------------------------------------------- */

int upd_dm_media_encoding(const char *ct)
{
    static const struct { const char *name; int enc; } types[] = {
        { UPD_DM_MIME_XML, UPD_DM_XML },       { UPD_DM_MIME_WBXML, UPD_DM_WBXML },
        { UPD_DM_MIME_DS_XML, UPD_DM_XML },    { UPD_DM_MIME_DS_WBXML, UPD_DM_WBXML },
    };
    if (!ct)
        return 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strlen(types[i].name) == n && strncasecmp(ct, types[i].name, n) == 0)
            return types[i].enc;
    return 0;
}

const char *upd_dm_media_type(upd_dm_encoding enc)
{
    return enc == UPD_DM_XML ? UPD_DM_MIME_XML : enc == UPD_DM_WBXML ? UPD_DM_MIME_WBXML : NULL;
}
