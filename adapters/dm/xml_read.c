/* SyncML DM 1.2 XML -> model, with expat.
 *
 * Lenient on what peers vary: child order, namespace prefixes (dropped:
 * "syncml:Type" is Type), xmlns attributes, CDATA, a DOCTYPE without an
 * internal subset (libwbxml's own output carries one), a MetInf wrapper
 * inside Meta, unknown elements (skipped with their subtree).  Strict on
 * resources: depth, counts and value sizes are bounded while parsing, and
 * an entity declaration, internal DTD subset or reference to an undeclared
 * entity stops the parser, so no entity is ever expanded. */
#include "dm_int.h"

#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include <updelta/dm_auth.h>

/* Element names the model knows; anything else is skipped. */
typedef enum {
    E_UNKNOWN = 0,
    E_SYNCML, E_SYNCHDR, E_SYNCBODY, E_VERDTD, E_VERPROTO, E_SESSIONID, E_MSGID,
    E_TARGET, E_SOURCE, E_LOCURI, E_LOCNAME, E_RESPURI, E_NORESP, E_CRED, E_META,
    E_METINF, E_DATA, E_FINAL, E_CMDID, E_MSGREF, E_CMDREF, E_CMD, E_TARGETREF,
    E_SOURCEREF, E_CHAL, E_ITEM, E_MOREDATA, E_CORRELATOR,
    E_FORMAT, E_TYPE, E_MARK, E_SIZE, E_NEXTNONCE, E_MAXMSGSIZE, E_MAXOBJSIZE,
    E_CMD_FIRST   /* + upd_dm_cmd_type */
} elem;

static const struct { const char *name; elem e; } known[] = {
    { "SyncML", E_SYNCML },       { "SyncHdr", E_SYNCHDR },     { "SyncBody", E_SYNCBODY },
    { "VerDTD", E_VERDTD },       { "VerProto", E_VERPROTO },   { "SessionID", E_SESSIONID },
    { "MsgID", E_MSGID },         { "Target", E_TARGET },       { "Source", E_SOURCE },
    { "LocURI", E_LOCURI },       { "LocName", E_LOCNAME },     { "RespURI", E_RESPURI },
    { "NoResp", E_NORESP },       { "Cred", E_CRED },           { "Meta", E_META },
    { "MetInf", E_METINF },       { "Data", E_DATA },           { "Final", E_FINAL },
    { "CmdID", E_CMDID },         { "MsgRef", E_MSGREF },       { "CmdRef", E_CMDREF },
    { "Cmd", E_CMD },             { "TargetRef", E_TARGETREF }, { "SourceRef", E_SOURCEREF },
    { "Chal", E_CHAL },           { "Item", E_ITEM },           { "MoreData", E_MOREDATA },
    { "Correlator", E_CORRELATOR }, { "Format", E_FORMAT },     { "Type", E_TYPE },
    { "Mark", E_MARK },           { "Size", E_SIZE },           { "NextNonce", E_NEXTNONCE },
    { "MaxMsgSize", E_MAXMSGSIZE }, { "MaxObjSize", E_MAXOBJSIZE },
};

/* What a frame on the element stack fills. */
typedef struct {
    elem e;
    void *obj;          /* E_SYNCHDR: hdr; command: upd_dm_cmd; E_ITEM: item;
                           E_META/E_METINF/E_CHAL: upd_dm_meta; E_CRED: cred;
                           E_TARGET/E_SOURCE: const char *[2] (uri, name) */
    const char **loc[2];
} frame;

typedef struct {
    XML_Parser xp;
    upd_dm_msg *m;
    const upd_dm_limits *lim;
    frame *stack;
    unsigned depth;
    unsigned skip;          /* >0: inside an unknown element, its depth */
    unsigned cmds, items;
    dm_buf text;
    int err;
    char *why;
    size_t why_len;
    int seen_hdr, seen_body, seen_msgid;
} reader;

static void stop(reader *r, int err, const char *what)
{
    if (!r->err) {
        r->err = dm_fail(err, r->why, r->why_len, "%s (line %lu)", what,
                         (unsigned long)XML_GetCurrentLineNumber(r->xp));
    }
    XML_StopParser(r->xp, XML_FALSE);
}

static elem lookup(const char *name)
{
    const char *colon = strrchr(name, ':');
    if (colon)
        name = colon + 1;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(known[i].name, name) == 0)
            return known[i].e;
    for (int t = UPD_DM_CMD_ALERT; t <= UPD_DM_CMD_ATOMIC; t++)
        if (strcmp(upd_dm_cmd_name((upd_dm_cmd_type)t), name) == 0)
            return (elem)(E_CMD_FIRST + t);
    return E_UNKNOWN;
}

static int is_cmd(elem e) { return e > E_CMD_FIRST; }

/* Whether a command of type T carries child element E in the model (the
 * fields dm.h lists per type, which are exactly what xml_write.c writes);
 * the others are skipped, so parse(write(m)) == m for every parsed m. */
static int cmd_has(upd_dm_cmd_type t, elem e)
{
    int status = t == UPD_DM_CMD_STATUS, results = t == UPD_DM_CMD_RESULTS;
    int alert = t == UPD_DM_CMD_ALERT;
    switch (e) {
    case E_NORESP: return !status && !results;
    case E_MSGREF: case E_CMDREF: case E_TARGETREF: case E_SOURCEREF: return status || results;
    case E_CMD: case E_CHAL: return status;
    case E_CORRELATOR: return alert || t == UPD_DM_CMD_EXEC;
    case E_DATA: return alert || status;
    case E_META: return !alert && !status;
    default: return 1;
    }
}

/* Elements whose text is a value (the rest hold elements). */
static int is_leaf(elem e)
{
    switch (e) {
    case E_SYNCML: case E_SYNCHDR: case E_SYNCBODY: case E_TARGET: case E_SOURCE:
    case E_CRED: case E_META: case E_METINF: case E_CHAL: case E_ITEM:
        return 0;
    default:
        return !is_cmd(e);
    }
}

/* The text collected since the element opened, blanks trimmed, copied into
 * the arena; NULL on allocation failure (the parser is stopped). */
static const char *text_dup(reader *r, int trim)
{
    const char *p = (const char *)r->text.p;
    size_t n = r->text.len;
    if (trim) {
        while (n && strchr(" \t\r\n", p[0])) {
            p++;
            n--;
        }
        while (n && strchr(" \t\r\n", p[n - 1]))
            n--;
    }
    const char *s = upd_dm_memdup(r->m, n ? p : "", n);
    if (!s)
        stop(r, UPD_E_NOMEM, "out of memory");
    return s;
}

/* A decimal number in [0, MAX]; -1 (after stopping the parser) otherwise. */
static int64_t text_num(reader *r, int64_t max, const char *what)
{
    const char *s = text_dup(r, 1);
    if (!s)
        return -1;
    int64_t v = 0;
    if (!*s || strlen(s) > 18)
        goto bad;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            goto bad;
        v = v * 10 + (*s - '0');
    }
    if (v <= max)
        return v;
bad:
    stop(r, UPD_E_DM_PARSE, what);
    return -1;
}

static void push(reader *r, elem e, void *obj)
{
    frame *f = &r->stack[r->depth++];
    f->e = e;
    f->obj = obj;
    f->loc[0] = f->loc[1] = NULL;
}

static void *alloc_or_stop(reader *r, size_t n)
{
    void *p = dm_alloc(r->m, n);
    if (!p)
        stop(r, UPD_E_NOMEM, "out of memory");
    return p;
}

/* Opens a command under PARENT (NULL: the SyncBody). */
static void open_cmd(reader *r, upd_dm_cmd *parent, elem e)
{
    if (++r->cmds > r->lim->max_cmds) {
        stop(r, UPD_E_DM_LIMIT, "too many commands");
        return;
    }
    upd_dm_cmd *c = upd_dm_cmd_add(r->m, parent, (upd_dm_cmd_type)(e - E_CMD_FIRST));
    if (!c) {
        stop(r, UPD_E_NOMEM, "out of memory");
        return;
    }
    c->cmd_id = 0;   /* CmdID is required: 0 marks it missing until read */
    push(r, e, c);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    (void)atts;
    reader *r = ud;
    if (r->err)
        return;
    if (r->depth + r->skip >= r->lim->max_depth) {
        stop(r, UPD_E_DM_LIMIT, "elements nested too deep");
        return;
    }
    if (r->skip) {
        r->skip++;
        return;
    }
    if (r->depth && is_leaf(r->stack[r->depth - 1].e)) {
        r->skip = 1;   /* markup inside a value: its text is the value's */
        return;
    }
    r->text.len = 0;
    elem e = lookup(name);
    if (r->depth == 0) {
        if (e != E_SYNCML)
            stop(r, UPD_E_DM_PARSE, "root element is not SyncML");
        else
            push(r, e, NULL);
        return;
    }
    frame *p = &r->stack[r->depth - 1];
    upd_dm_cmd *pc = is_cmd(p->e) ? p->obj : NULL;
    switch (e) {
    case E_SYNCHDR:
        if (p->e == E_SYNCML && !r->seen_hdr++) {
            push(r, e, &r->m->hdr);
            return;
        }
        break;
    case E_SYNCBODY:
        if (p->e == E_SYNCML && !r->seen_body++) {
            push(r, e, NULL);
            return;
        }
        break;
    case E_TARGET:
    case E_SOURCE:
        if (p->e == E_SYNCHDR || p->e == E_ITEM) {
            push(r, e, NULL);
            frame *f = &r->stack[r->depth - 1];
            int src = e == E_SOURCE;
            if (p->e == E_SYNCHDR) {
                upd_dm_hdr *h = p->obj;
                f->loc[0] = src ? &h->source : &h->target;
                f->loc[1] = src ? &h->source_name : &h->target_name;
            } else {
                upd_dm_item *it = p->obj;
                f->loc[0] = src ? &it->source : &it->target;
                f->loc[1] = src ? &it->source_name : &it->target_name;
            }
            return;
        }
        break;
    case E_CRED:
        if (p->e == E_SYNCHDR) {
            upd_dm_cred *cred = upd_dm_hdr_cred(r->m);
            if (!cred)
                stop(r, UPD_E_NOMEM, "out of memory");
            else
                push(r, e, cred);
            return;
        }
        break;   /* Cred inside a command: not used by DM, skipped */
    case E_META:
        if (pc && !cmd_has(pc->type, e))
            break;
        if (p->e == E_SYNCHDR)
            push(r, E_META, &((upd_dm_hdr *)p->obj)->meta);
        else if (p->e == E_CRED)
            push(r, E_META, &((upd_dm_cred *)p->obj)->meta);
        else if (p->e == E_CHAL)
            push(r, E_META, p->obj);
        else if (p->e == E_ITEM)
            push(r, E_META, &((upd_dm_item *)p->obj)->meta);
        else if (pc)
            push(r, E_META, &pc->meta);
        else
            break;
        return;
    case E_METINF:
        if (p->e == E_META) {
            push(r, E_META, p->obj);
            return;
        }
        break;
    case E_CHAL:
        if (pc && pc->type == UPD_DM_CMD_STATUS && !pc->chal) {
            upd_dm_meta *chal = upd_dm_status_chal(r->m, pc);
            if (!chal)
                stop(r, UPD_E_NOMEM, "out of memory");
            else
                push(r, e, chal);
            return;
        }
        break;
    case E_ITEM:
        if (pc) {
            if (++r->items > r->lim->max_items) {
                stop(r, UPD_E_DM_LIMIT, "too many items");
                return;
            }
            upd_dm_item *it = upd_dm_item_add(r->m, pc);
            if (!it)
                stop(r, UPD_E_NOMEM, "out of memory");
            else
                push(r, e, it);
            return;
        }
        break;
    default:
        if (is_cmd(e)) {
            if (p->e == E_SYNCBODY)
                open_cmd(r, NULL, e);
            else if (pc && (pc->type == UPD_DM_CMD_SEQUENCE || pc->type == UPD_DM_CMD_ATOMIC))
                open_cmd(r, pc, e);
            else
                break;
            return;
        }
        if (e != E_UNKNOWN) {   /* a leaf: read at its end */
            push(r, e, NULL);
            return;
        }
        break;
    }
    r->skip = 1;   /* unknown here: skip the subtree */
}

/* Stores a leaf's text into the object of its parent frame P. */
static void end_leaf(reader *r, elem e, frame *p)
{
    if (p->e == E_TARGET || p->e == E_SOURCE) {
        if (e == E_LOCURI)
            *p->loc[0] = text_dup(r, 1);
        else if (e == E_LOCNAME)
            *p->loc[1] = text_dup(r, 1);
        return;
    }
    if (p->e == E_META) {
        upd_dm_meta *mt = p->obj;
        switch (e) {
        case E_FORMAT: mt->format = text_dup(r, 1); break;
        case E_TYPE: mt->type = text_dup(r, 1); break;
        case E_MARK: mt->mark = text_dup(r, 1); break;
        case E_NEXTNONCE: mt->next_nonce = text_dup(r, 1); break;
        case E_SIZE: mt->size = text_num(r, INT64_MAX / 2, "Meta/Size is not a number"); break;
        case E_MAXMSGSIZE:
            mt->max_msg_size = text_num(r, INT64_MAX / 2, "MaxMsgSize is not a number");
            break;
        case E_MAXOBJSIZE:
            mt->max_obj_size = text_num(r, INT64_MAX / 2, "MaxObjSize is not a number");
            break;
        default: break;
        }
        return;
    }
    if (p->e == E_SYNCHDR) {
        upd_dm_hdr *h = p->obj;
        switch (e) {
        case E_VERDTD: h->ver_dtd = text_dup(r, 1); break;
        case E_VERPROTO: h->ver_proto = text_dup(r, 1); break;
        case E_SESSIONID: h->session_id = text_dup(r, 1); break;
        case E_MSGID:
            h->msg_id = (uint32_t)text_num(r, UINT32_MAX, "MsgID is not a number");
            r->seen_msgid = 1;
            break;
        case E_RESPURI: h->resp_uri = text_dup(r, 1); break;
        case E_NORESP: h->no_resp = 1; break;
        default: break;
        }
        return;
    }
    if (p->e == E_CRED) {
        if (e == E_DATA)
            ((upd_dm_cred *)p->obj)->data = text_dup(r, 1);
        return;
    }
    if (p->e == E_SYNCBODY) {
        if (e == E_FINAL)
            r->m->final = 1;
        return;
    }
    if (p->e == E_ITEM) {
        upd_dm_item *it = p->obj;
        if (e == E_DATA) {
            /* untrimmed: a value's blanks are its own; "bin" is decoded when
             * the command ends and every Meta is known */
            it->data = (const uint8_t *)text_dup(r, 0);
            it->data_len = r->text.len;
        } else if (e == E_MOREDATA) {
            it->more_data = 1;
        }
        return;
    }
    if (!is_cmd(p->e) || !cmd_has(((upd_dm_cmd *)p->obj)->type, e))
        return;
    upd_dm_cmd *c = p->obj;
    switch (e) {
    case E_CMDID: c->cmd_id = (uint32_t)text_num(r, UINT32_MAX, "CmdID is not a number"); break;
    case E_NORESP: c->no_resp = 1; break;
    case E_MSGREF: c->msg_ref = text_num(r, UINT32_MAX, "MsgRef is not a number"); break;
    case E_CMDREF: c->cmd_ref = text_num(r, UINT32_MAX, "CmdRef is not a number"); break;
    case E_CMD: c->cmd_name = text_dup(r, 1); break;
    case E_TARGETREF: if (!c->target_ref) c->target_ref = text_dup(r, 1); break;
    case E_SOURCEREF: if (!c->source_ref) c->source_ref = text_dup(r, 1); break;
    case E_CORRELATOR: c->correlator = text_dup(r, 1); break;
    case E_DATA: c->code = (int)text_num(r, 99999, "Alert/Status Data is not a code"); break;
    default: break;
    }
}

/* Decodes the items' base64 Data when their Format (or the command's) is
 * "bin". */
static void end_cmd(reader *r, upd_dm_cmd *c)
{
    if (c->cmd_id == 0) {
        stop(r, UPD_E_DM_PARSE, "command without CmdID");
        return;
    }
    for (upd_dm_item *it = c->items; it; it = it->next) {
        const char *fmt = it->meta.format ? it->meta.format : c->meta.format;
        if (!it->data || !dm_format_is_bin(fmt))
            continue;
        uint8_t *bin = alloc_or_stop(r, it->data_len / 4 * 3 + 3);
        if (!bin)
            return;
        int n = upd_dm_b64_decode((const char *)it->data, bin, it->data_len / 4 * 3 + 3);
        if (n < 0) {
            stop(r, UPD_E_DM_PARSE, "Data with Format bin is not base64");
            return;
        }
        bin[n] = 0;
        it->data = bin;
        it->data_len = (size_t)n;
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    (void)name;
    reader *r = ud;
    if (r->err)
        return;
    if (r->skip) {
        r->skip--;
        return;
    }
    frame *f = &r->stack[--r->depth];
    if (is_cmd(f->e))
        end_cmd(r, f->obj);
    else if (is_leaf(f->e))
        end_leaf(r, f->e, &r->stack[r->depth - 1]);
    r->text.len = 0;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    reader *r = ud;
    if (r->err || r->skip)
        return;
    if (r->text.len + (size_t)len > r->lim->max_value_bytes) {
        stop(r, UPD_E_DM_LIMIT, "value too large");
        return;
    }
    dm_buf_put(&r->text, s, (size_t)len);
    if (dm_buf_failed(&r->text))
        stop(r, UPD_E_NOMEM, "out of memory");
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid;
    if (has_internal_subset)
        stop(ud, UPD_E_DM_LIMIT, "DOCTYPE with an internal subset");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid,
        (void)pubid, (void)notation;
    stop(ud, UPD_E_DM_LIMIT, "entity declaration");
}

static void XMLCALL on_skipped_entity(void *ud, const XML_Char *name, int is_param)
{
    (void)name, (void)is_param;
    stop(ud, UPD_E_DM_PARSE, "reference to an undeclared entity");
}

/* Checks what the DTD requires of the header. */
static int check_msg(reader *r)
{
    const upd_dm_hdr *h = &r->m->hdr;
    const char *miss = !r->seen_hdr ? "SyncHdr" : !r->seen_body ? "SyncBody"
                     : !h->ver_dtd ? "VerDTD" : !h->ver_proto ? "VerProto"
                     : !h->session_id ? "SessionID" : !r->seen_msgid ? "MsgID"
                     : !h->target ? "Target/LocURI" : !h->source ? "Source/LocURI" : NULL;
    if (miss)
        return dm_fail(UPD_E_DM_PARSE, r->why, r->why_len, "SyncML without %s", miss);
    return 0;
}

int dm_xml_read(const void *buf, size_t len, const upd_dm_limits *lim,
                upd_dm_msg **out, char *why, size_t why_len)
{
    *out = NULL;
    if (len > lim->max_msg_bytes)
        return dm_fail(UPD_E_DM_LIMIT, why, why_len, "message of %zu bytes exceeds %zu", len,
                       lim->max_msg_bytes);
    if (len > INT32_MAX || lim->max_depth == 0)
        return dm_fail(UPD_E_DM_LIMIT, why, why_len, "message too large");
    reader r = { .lim = lim, .why = why, .why_len = why_len };
    r.m = upd_dm_msg_new();
    r.stack = calloc(lim->max_depth, sizeof *r.stack);
    r.xp = XML_ParserCreate("UTF-8");
    if (!r.m || !r.stack || !r.xp) {
        r.err = dm_fail(UPD_E_NOMEM, why, why_len, "out of memory");
        goto done;
    }
    /* the model starts empty: the parse fills what the message holds */
    r.m->hdr.ver_dtd = r.m->hdr.ver_proto = NULL;
    r.m->hdr.msg_id = 0;
    XML_SetUserData(r.xp, &r);
    XML_SetElementHandler(r.xp, on_start, on_end);
    XML_SetCharacterDataHandler(r.xp, on_text);
    XML_SetStartDoctypeDeclHandler(r.xp, on_doctype);
    XML_SetEntityDeclHandler(r.xp, on_entity_decl);
    XML_SetSkippedEntityHandler(r.xp, on_skipped_entity);
    XML_SetParamEntityParsing(r.xp, XML_PARAM_ENTITY_PARSING_NEVER);
    if (XML_Parse(r.xp, buf, (int)len, XML_TRUE) == XML_STATUS_ERROR && !r.err)
        r.err = dm_fail(UPD_E_DM_PARSE, why, why_len, "XML: %s (line %lu)",
                        XML_ErrorString(XML_GetErrorCode(r.xp)),
                        (unsigned long)XML_GetCurrentLineNumber(r.xp));
    if (!r.err)
        r.err = check_msg(&r);
done:
    if (r.xp)
        XML_ParserFree(r.xp);
    free(r.stack);
    free(r.text.p);
    if (r.err) {
        upd_dm_msg_free(r.m);
        return r.err;
    }
    *out = r.m;
    return 0;
}
