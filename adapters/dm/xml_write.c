/* Model -> SyncML DM 1.2 XML, compact, in the element order of the DTD
 * (and of the SyncML RTK encoder), so strict peers read it too. */
#include "dm_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <updelta/dm_auth.h>

#define NS_METINF " xmlns=\"syncml:metinf\""

void dm_buf_put(dm_buf *b, const void *p, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->failed = 1;
                return;
            }
            cap *= 2;
        }
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->failed = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void dm_buf_puts(dm_buf *b, const char *s)
{
    dm_buf_put(b, s, strlen(s));
}

/* Length of the UTF-8 sequence at P (at most N bytes) that encodes an XML
 * 1.0 Char, or 0 when it is not one (control bytes, surrogates, FFFE/FFFF,
 * overlong or truncated sequences). */
static size_t xml_char_len(const uint8_t *p, size_t n)
{
    uint32_t c = p[0];
    size_t len;
    if (c < 0x80)
        return (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') ? 1 : 0;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        c &= 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        c &= 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        c &= 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3F);
    }
    static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF) || c == 0xFFFE || c == 0xFFFF)
        return 0;
    return len;
}

/* Escaped text; UPD_E_INVAL when the bytes are not XML characters (binary
 * data must use Format bin). */
static int put_text(dm_buf *b, const uint8_t *p, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        size_t len = xml_char_len(p + i, n - i);
        if (!len)
            return UPD_E_INVAL;
        const char *esc = NULL;
        switch (p[i]) {
        case '&': esc = "&amp;"; break;
        case '<': esc = "&lt;"; break;
        case '>': esc = "&gt;"; break;
        case '\r': esc = "&#13;"; break;   /* a raw CR would be normalised away */
        }
        if (esc) {
            dm_buf_put(b, p + run, i - run);
            dm_buf_puts(b, esc);
            run = i + 1;
        }
        i += len;
    }
    dm_buf_put(b, p + run, n - run);
    return 0;
}

/* <NAME ATTR>text</NAME> when S is not NULL. */
static int put_elem(dm_buf *b, const char *name, const char *attr, const char *s)
{
    if (!s)
        return 0;
    dm_buf_puts(b, "<");
    dm_buf_puts(b, name);
    dm_buf_puts(b, attr);
    dm_buf_puts(b, ">");
    int rc = put_text(b, (const uint8_t *)s, strlen(s));
    dm_buf_puts(b, "</");
    dm_buf_puts(b, name);
    dm_buf_puts(b, ">");
    return rc;
}

static void put_int(dm_buf *b, const char *name, const char *attr, int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, v);
    put_elem(b, name, attr, num);
}

static int meta_empty(const upd_dm_meta *mt)
{
    return !mt->type && !mt->format && !mt->mark && !mt->next_nonce && mt->size < 0
           && mt->max_msg_size < 0 && mt->max_obj_size < 0;
}

/* <Meta> in the MetInf DTD order; nothing when every field is absent. */
static int put_meta(dm_buf *b, const upd_dm_meta *mt)
{
    if (meta_empty(mt))
        return 0;
    int rc = 0;
    dm_buf_puts(b, "<Meta>");
    rc |= put_elem(b, "Format", NS_METINF, mt->format);
    rc |= put_elem(b, "Type", NS_METINF, mt->type);
    rc |= put_elem(b, "Mark", NS_METINF, mt->mark);
    if (mt->size >= 0)
        put_int(b, "Size", NS_METINF, mt->size);
    rc |= put_elem(b, "NextNonce", NS_METINF, mt->next_nonce);
    if (mt->max_msg_size >= 0)
        put_int(b, "MaxMsgSize", NS_METINF, mt->max_msg_size);
    if (mt->max_obj_size >= 0)
        put_int(b, "MaxObjSize", NS_METINF, mt->max_obj_size);
    dm_buf_puts(b, "</Meta>");
    return rc;
}

static int put_locus(dm_buf *b, const char *name, const char *uri, const char *locname)
{
    if (!uri && !locname)
        return 0;
    int rc = 0;
    dm_buf_puts(b, "<");
    dm_buf_puts(b, name);
    dm_buf_puts(b, ">");
    rc |= put_elem(b, "LocURI", "", uri);
    rc |= put_elem(b, "LocName", "", locname);
    dm_buf_puts(b, "</");
    dm_buf_puts(b, name);
    dm_buf_puts(b, ">");
    return rc;
}

static int put_data(dm_buf *b, const uint8_t *p, size_t n, int bin)
{
    if (!bin) {
        dm_buf_puts(b, "<Data>");
        int rc = put_text(b, p, n);
        dm_buf_puts(b, "</Data>");
        return rc;
    }
    if (n > (SIZE_MAX - 1) / 4 * 3)
        return UPD_E_INVAL;
    size_t cap = (n + 2) / 3 * 4 + 1;
    char *enc = malloc(cap);
    if (!enc)
        return UPD_E_NOMEM;
    int len = upd_dm_b64_encode(p, n, enc, cap);
    if (len >= 0) {
        dm_buf_puts(b, "<Data>");
        dm_buf_put(b, enc, (size_t)len);
        dm_buf_puts(b, "</Data>");
    }
    free(enc);
    return len < 0 ? len : 0;
}

static int put_item(dm_buf *b, const upd_dm_item *it, const upd_dm_meta *cmd_meta)
{
    int rc = 0;
    dm_buf_puts(b, "<Item>");
    rc |= put_locus(b, "Target", it->target, it->target_name);
    rc |= put_locus(b, "Source", it->source, it->source_name);
    rc |= put_meta(b, &it->meta);
    if (it->data) {
        const char *fmt = it->meta.format ? it->meta.format : cmd_meta->format;
        int r = put_data(b, it->data, it->data_len, dm_format_is_bin(fmt));
        if (r < 0)
            return r;
    }
    if (it->more_data)
        dm_buf_puts(b, "<MoreData/>");
    dm_buf_puts(b, "</Item>");
    return rc;
}

static int put_cmds(dm_buf *b, const upd_dm_cmd *c, int depth);

static int put_cmd(dm_buf *b, const upd_dm_cmd *c, int depth)
{
    const char *name = upd_dm_cmd_name(c->type);
    if (!name || c->cmd_id == 0)   /* CmdID 0 reads back as missing */
        return UPD_E_INVAL;
    int rc = 0;
    dm_buf_puts(b, "<");
    dm_buf_puts(b, name);
    dm_buf_puts(b, ">");
    put_int(b, "CmdID", "", c->cmd_id);
    switch (c->type) {
    case UPD_DM_CMD_STATUS:
        if (c->msg_ref >= 0)
            put_int(b, "MsgRef", "", c->msg_ref);
        if (c->cmd_ref >= 0)
            put_int(b, "CmdRef", "", c->cmd_ref);
        rc |= put_elem(b, "Cmd", "", c->cmd_name);
        rc |= put_elem(b, "TargetRef", "", c->target_ref);
        rc |= put_elem(b, "SourceRef", "", c->source_ref);
        if (c->chal) {
            dm_buf_puts(b, "<Chal>");
            rc |= put_meta(b, c->chal);
            dm_buf_puts(b, "</Chal>");
        }
        put_int(b, "Data", "", c->code);
        break;
    case UPD_DM_CMD_RESULTS:
        if (c->msg_ref >= 0)
            put_int(b, "MsgRef", "", c->msg_ref);
        if (c->cmd_ref >= 0)
            put_int(b, "CmdRef", "", c->cmd_ref);
        rc |= put_meta(b, &c->meta);
        rc |= put_elem(b, "TargetRef", "", c->target_ref);
        rc |= put_elem(b, "SourceRef", "", c->source_ref);
        break;
    case UPD_DM_CMD_ALERT:
        if (c->no_resp)
            dm_buf_puts(b, "<NoResp/>");
        put_int(b, "Data", "", c->code);
        rc |= put_elem(b, "Correlator", "", c->correlator);
        break;
    default:
        if (c->no_resp)
            dm_buf_puts(b, "<NoResp/>");
        rc |= put_meta(b, &c->meta);
        if (c->type == UPD_DM_CMD_EXEC)
            rc |= put_elem(b, "Correlator", "", c->correlator);
        break;
    }
    if (c->children) {
        if (c->type != UPD_DM_CMD_SEQUENCE && c->type != UPD_DM_CMD_ATOMIC)
            return UPD_E_INVAL;
        int r = put_cmds(b, c->children, depth + 1);
        if (r < 0)
            return r;
    }
    for (const upd_dm_item *it = c->items; it; it = it->next) {
        int r = put_item(b, it, &c->meta);
        if (r < 0)
            return r;
    }
    dm_buf_puts(b, "</");
    dm_buf_puts(b, name);
    dm_buf_puts(b, ">");
    return rc;
}

static int put_cmds(dm_buf *b, const upd_dm_cmd *c, int depth)
{
    if (depth > 8)      /* a cycle, or nesting no peer accepts */
        return UPD_E_INVAL;
    for (; c; c = c->next) {
        int rc = put_cmd(b, c, depth);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int put_hdr(dm_buf *b, const upd_dm_hdr *h)
{
    int rc = 0;
    dm_buf_puts(b, "<SyncHdr>");
    rc |= put_elem(b, "VerDTD", "", h->ver_dtd);
    rc |= put_elem(b, "VerProto", "", h->ver_proto);
    rc |= put_elem(b, "SessionID", "", h->session_id);
    put_int(b, "MsgID", "", h->msg_id);
    rc |= put_locus(b, "Target", h->target, h->target_name);
    rc |= put_locus(b, "Source", h->source, h->source_name);
    rc |= put_elem(b, "RespURI", "", h->resp_uri);
    if (h->no_resp)
        dm_buf_puts(b, "<NoResp/>");
    if (h->cred) {
        dm_buf_puts(b, "<Cred>");
        rc |= put_meta(b, &h->cred->meta);
        rc |= put_elem(b, "Data", "", h->cred->data);
        dm_buf_puts(b, "</Cred>");
    }
    rc |= put_meta(b, &h->meta);
    dm_buf_puts(b, "</SyncHdr>");
    return rc;
}

int dm_xml_write(const upd_dm_msg *m, dm_buf *b)
{
    const upd_dm_hdr *h = &m->hdr;
    /* what a reader requires (xml_read.c check_msg): refuse to send less */
    if (!h->ver_dtd || !h->ver_proto || !h->session_id || !h->target || !h->source)
        return UPD_E_INVAL;
    dm_buf_puts(b, "<SyncML xmlns=\"SYNCML:SYNCML1.2\">");
    int rc = put_hdr(b, &m->hdr);
    if (rc < 0)
        return UPD_E_INVAL;
    dm_buf_puts(b, "<SyncBody>");
    rc = put_cmds(b, m->cmds, 0);
    if (rc < 0)
        return rc;
    if (m->final)
        dm_buf_puts(b, "<Final/>");
    dm_buf_puts(b, "</SyncBody></SyncML>");
    return dm_buf_failed(b) ? UPD_E_NOMEM : 0;
}
