/* WBXML <-> XML through libwbxml2 (SyncML 1.2, public id 0x1201).
 *
 * libwbxml builds a tree with recursion and no limits of its own, so the
 * token stream is checked here first: header fields, every length against
 * the input, string-table indexes, element depth and count, no attributes,
 * processing instructions or extension tokens, nothing after the root, no
 * Meta Type that makes libwbxml parse Data as nested WBXML.  Its XML output
 * is then parsed by xml_read.c with the same limits. */
#include "dm_int.h"

#include <stdlib.h>
#include <string.h>

#include <wbxml/wbxml.h>

typedef struct {
    const uint8_t *p;
    size_t n, at;
} cursor;

/* A WBXML mb_u_int32: at most 5 bytes, value below 2^32. */
static int mb_u32(cursor *c, uint32_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 5; i++) {
        if (c->at >= c->n)
            return -1;
        uint8_t b = c->p[c->at++];
        x = x << 7 | (b & 0x7F);
        if (!(b & 0x80))
            break;
        if (i == 4)
            return -1;
    }
    if (x > UINT32_MAX)
        return -1;
    *v = (uint32_t)x;
    return 0;
}

/* Skips LEN bytes of text or opaque data bounded by the value limit. */
static int skip_bytes(cursor *c, size_t len, const upd_dm_limits *lim)
{
    if (len > c->n - c->at || len > lim->max_value_bytes)
        return -1;
    c->at += len;
    return 0;
}

/* libwbxml parses the Data of an Item whose Meta Type is this as a nested
 * WBXML document (SyncML DS DevInf), out of reach of check(): refused.
 * The text of every MetInf Type element is collected to compare. */
#define NESTED_WBXML_TYPE "application/vnd.syncml-devinf+wbxml"
#define TAG_METINF_TYPE 0x13   /* code page 1 */

typedef struct {
    size_t depth;           /* depth of the open Type element, 0: none */
    char text[sizeof NESTED_WBXML_TYPE + 1];
    size_t len;             /* may exceed sizeof text: then no match */
} type_text;

static void type_add(type_text *tt, const uint8_t *p, size_t n)
{
    if (tt->depth && tt->len + n < sizeof tt->text)
        memcpy(tt->text + tt->len, p, n);
    if (tt->depth)
        tt->len += n < sizeof tt->text ? n : sizeof tt->text;
}

static int type_is_nested(const type_text *tt)
{
    size_t n = sizeof NESTED_WBXML_TYPE - 1;
    return tt->len == n && memcmp(tt->text, NESTED_WBXML_TYPE, n) == 0;
}

/* Checks the document's structure; returns 0 or an error with WHY set. */
static int check(const uint8_t *p, size_t n, const upd_dm_limits *lim, char *why, size_t why_len)
{
    cursor c = { p, n, 0 };
    uint32_t pubid = 0, charset = 0, strtbl = 0, idx = 0;
    if (n < 4 || p[0] > 0x03)
        return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: bad version byte");
    c.at = 1;
    if (mb_u32(&c, &pubid) < 0 || (pubid == 0 && mb_u32(&c, &idx) < 0) || mb_u32(&c, &charset) < 0
        || mb_u32(&c, &strtbl) < 0 || strtbl > c.n - c.at)
        return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: truncated header");
    if (charset != 0 && charset != 3 && charset != 106)   /* unknown, US-ASCII, UTF-8 */
        return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: charset %u not supported",
                       (unsigned)charset);
    if (pubid == 0 && idx >= strtbl)
        return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: public id index out of range");
    const uint8_t *tbl = c.p + c.at;
    c.at += strtbl;
    /* each element becomes a tree node of ~100 bytes inside libwbxml */
    size_t max_elems = ((size_t)lim->max_cmds + lim->max_items) * 16;
    size_t depth = 0, elems = 0;
    int root_done = 0;
    uint8_t page = 0;
    type_text tt = { 0 };
    while (c.at < c.n) {
        uint8_t t = c.p[c.at++];
        uint32_t len;
        int is_type = 0;
        if (root_done)
            return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: data after the root element");
        switch (t) {
        case 0x00:  /* SWITCH_PAGE: SyncML (0) and MetInf (1) only */
            if (c.at >= c.n || c.p[c.at] > 1)
                return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: bad code page");
            page = c.p[c.at++];
            continue;
        case 0x01:  /* END */
            if (depth == 0)
                return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: END outside an element");
            if (tt.depth == depth) {
                if (type_is_nested(&tt))
                    return dm_fail(UPD_E_DM_PARSE, why, why_len,
                                   "WBXML: nested WBXML data (%s) not supported", NESTED_WBXML_TYPE);
                tt.depth = 0;
            }
            root_done = --depth == 0;
            continue;
        case 0x02:  /* ENTITY: a character number */
            /* libwbxml asserts (aborts) on an entity of 2^31 or more: only
             * Unicode scalar values pass */
            if (depth == 0 || mb_u32(&c, &len) < 0 || len == 0 || len > 0x10FFFF
                || (len >= 0xD800 && len <= 0xDFFF))
                return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: bad entity");
            type_add(&tt, (const uint8_t *)"?", 1);   /* never part of a match */
            continue;
        case 0x40: case 0x41: case 0x42:  /* EXT_I_n */
        case 0x80: case 0x81: case 0x82:  /* EXT_T_n */
        case 0xC0: case 0xC1: case 0xC2:  /* EXT_n */
            /* SyncML defines no extensions, and libwbxml does not read
             * them as this check would (it took an EXT_I_2 for a tag and
             * then met an entity of 2^32 - 1 inside the "string": an
             * assertion, found by fuzz_dm_wbxml): refused */
            return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: extension tokens are not SyncML");
        case 0x83: {  /* STR_T */
            if (depth == 0 || mb_u32(&c, &len) < 0 || len >= strtbl)
                return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: bad string table reference");
            const uint8_t *end = memchr(tbl + len, 0, strtbl - len);
            type_add(&tt, tbl + len, end ? (size_t)(end - (tbl + len)) : strtbl - len);
            continue;
        }
        case 0x03: {  /* STR_I */
            const uint8_t *at = c.p + c.at;
            const uint8_t *end = depth ? memchr(at, 0, c.n - c.at) : NULL;
            if (!end)
                return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: unterminated string");
            if (skip_bytes(&c, (size_t)(end - at) + 1, lim) < 0)
                return dm_fail(UPD_E_DM_LIMIT, why, why_len, "WBXML: string too long");
            type_add(&tt, at, (size_t)(end - at));
            continue;
        }
        case 0xC3:  /* OPAQUE */
            if (depth == 0 || mb_u32(&c, &len) < 0 || len > c.n - c.at)
                return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: bad or truncated opaque");
            type_add(&tt, c.p + c.at, len);
            if (skip_bytes(&c, len, lim) < 0)
                return dm_fail(UPD_E_DM_LIMIT, why, why_len, "WBXML: opaque data too long");
            continue;
        case 0x04: case 0x44:  /* LITERAL(_C): a tag named in the string table */
            if (mb_u32(&c, &len) < 0 || len >= strtbl)
                return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: bad literal tag");
            is_type = strtbl - len >= 5 && memcmp(tbl + len, "Type", 5) == 0;
            t = (uint8_t)(t == 0x44 ? 0x40 : 0);
            break;
        case 0x43: case 0x84: case 0xC4:
            return dm_fail(UPD_E_DM_PARSE, why, why_len,
                           "WBXML: processing instruction or attributes");
        default:
            is_type = page == 1 && (t & 0x3F) == TAG_METINF_TYPE;
            break;
        }
        /* a tag of the current page */
        if (t & 0x80)
            return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: attributes are not SyncML");
        if (++elems > max_elems)
            return dm_fail(UPD_E_DM_LIMIT, why, why_len, "WBXML: too many elements");
        if (t & 0x40) {
            if (++depth > lim->max_depth)
                return dm_fail(UPD_E_DM_LIMIT, why, why_len, "WBXML: nested too deep");
            if (is_type && !tt.depth) {
                tt.depth = depth;
                tt.len = 0;
            }
        } else if (depth == 0) {
            root_done = 1;
        }
    }
    if (!root_done)
        return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: truncated document");
    return 0;
}

int dm_wbxml_to_xml(const void *buf, size_t len, const upd_dm_limits *lim, uint8_t **xml,
                    size_t *xml_len, char *why, size_t why_len)
{
    *xml = NULL;
    if (len > lim->max_msg_bytes)
        return dm_fail(UPD_E_DM_LIMIT, why, why_len, "message of %zu bytes exceeds %zu", len,
                       lim->max_msg_bytes);
    int rc = check(buf, len, lim, why, why_len);
    if (rc < 0)
        return rc;
    WBXMLConvWBXML2XML *conv = NULL;
    if (wbxml_conv_wbxml2xml_create(&conv) != WBXML_OK)
        return dm_fail(UPD_E_NOMEM, why, why_len, "out of memory");
    wbxml_conv_wbxml2xml_set_gen_type(conv, WBXML_GEN_XML_COMPACT);
    /* used only when the document's public id is unknown */
    wbxml_conv_wbxml2xml_set_language(conv, WBXML_LANG_SYNCML_SYNCML12);
    wbxml_conv_wbxml2xml_enable_preserve_whitespaces(conv);
    WB_UTINY *out = NULL;
    WB_ULONG out_len = 0;
    WBXMLError e = wbxml_conv_wbxml2xml_run(conv, (WB_UTINY *)buf, (WB_ULONG)len, &out, &out_len);
    wbxml_conv_wbxml2xml_destroy(conv);
    if (e != WBXML_OK) {
        free(out);
        return dm_fail(UPD_E_DM_PARSE, why, why_len, "WBXML: %s",
                       (const char *)wbxml_errors_string(e));
    }
    *xml = out;
    *xml_len = out_len;
    return 0;
}

int dm_xml_to_wbxml(const uint8_t *xml, size_t xml_len, uint8_t **out, size_t *out_len)
{
    WBXMLConvXML2WBXML *conv = NULL;
    *out = NULL;
    if (xml_len > UINT32_MAX)
        return UPD_E_DM_LIMIT;
    if (wbxml_conv_xml2wbxml_create(&conv) != WBXML_OK)
        return UPD_E_NOMEM;
    wbxml_conv_xml2wbxml_set_version(conv, WBXML_VERSION_12);
    wbxml_conv_xml2wbxml_enable_preserve_whitespaces(conv);
    /* inline strings, as the SyncML RTK writes: simpler for peers */
    wbxml_conv_xml2wbxml_disable_string_table(conv);
    WB_UTINY *w = NULL;
    WB_ULONG w_len = 0;
    WBXMLError e = wbxml_conv_xml2wbxml_run(conv, (WB_UTINY *)xml, (WB_ULONG)xml_len, &w, &w_len);
    wbxml_conv_xml2wbxml_destroy(conv);
    if (e != WBXML_OK) {
        free(w);
        return e == WBXML_ERROR_NOT_ENOUGH_MEMORY ? UPD_E_NOMEM : UPD_E_DM_LIMIT;
    }
    *out = w;
    *out_len = w_len;
    return 0;
}
