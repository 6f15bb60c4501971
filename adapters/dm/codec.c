/* upd_dm_parse() and upd_dm_write(): the encoding dispatch (dm.h). */
#include "dm_int.h"

#include <stdlib.h>

int upd_dm_parse(const void *buf, size_t len, upd_dm_encoding enc, const upd_dm_limits *lim,
                 upd_dm_msg **out, char *why, size_t why_len)
{
    if (why && why_len)
        why[0] = 0;
    if (!out)
        return UPD_E_INVAL;
    *out = NULL;
    if ((!buf && len) || (enc != UPD_DM_XML && enc != UPD_DM_WBXML))
        return dm_fail(UPD_E_INVAL, why, why_len, "bad arguments");
    upd_dm_limits def;
    if (!lim) {
        upd_dm_limits_default(&def);
        lim = &def;
    }
    if (enc == UPD_DM_XML)
        return dm_xml_read(buf ? buf : "", len, lim, out, why, why_len);
    uint8_t *xml = NULL;
    size_t xml_len = 0;
    int rc = dm_wbxml_to_xml(buf, len, lim, &xml, &xml_len, why, why_len);
    if (rc == 0) {
        /* XML spells every tag and base64 grows opaque data by 4/3 */
        upd_dm_limits xlim = *lim;
        xlim.max_msg_bytes = lim->max_msg_bytes > SIZE_MAX / 8 ? SIZE_MAX : lim->max_msg_bytes * 8;
        xlim.max_value_bytes = lim->max_value_bytes > SIZE_MAX / 2 ? SIZE_MAX
                                                                   : lim->max_value_bytes * 2;
        rc = dm_xml_read(xml, xml_len, &xlim, out, why, why_len);
    }
    free(xml);
    return rc;
}

int upd_dm_write(const upd_dm_msg *m, upd_dm_encoding enc, uint8_t **out, size_t *out_len)
{
    if (!m || !out || !out_len || (enc != UPD_DM_XML && enc != UPD_DM_WBXML))
        return UPD_E_INVAL;
    *out = NULL;
    *out_len = 0;
    dm_buf b = { 0 };
    int rc = dm_xml_write(m, &b);
    if (rc < 0) {
        free(b.p);
        return rc;
    }
    if (enc == UPD_DM_XML) {
        *out = b.p;
        *out_len = b.len;
        return 0;
    }
    rc = dm_xml_to_wbxml(b.p, b.len, out, out_len);
    free(b.p);
    return rc;
}
