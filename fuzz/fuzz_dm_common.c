/* The oracle fuzz_dm_xml and fuzz_dm_wbxml share (fuzz_dm_common.h). */
#include "fuzz_dm_common.h"
#include "fuzz_common.h"
#include "../tests/dm_samples.h"

#include <stdlib.h>

void fuzz_dm_message(const uint8_t *data, size_t size, upd_dm_encoding enc)
{
    upd_dm_msg *m;
    int rc = upd_dm_parse(data, size, enc, NULL, &m, NULL, 0);
    FUZZ_ASSERT(rc == 0 || rc == UPD_E_DM_PARSE || rc == UPD_E_DM_LIMIT);
    fuzz_note("dm %s: %s\n", enc == UPD_DM_XML ? "xml" : "wbxml", upd_errname(rc));
    if (rc < 0)
        return;
    uint8_t *out;
    size_t len;
    FUZZ_ASSERT(upd_dm_write(m, UPD_DM_XML, &out, &len) == 0);
    upd_dm_msg *back;
    FUZZ_ASSERT(upd_dm_parse(out, len, UPD_DM_XML, NULL, &back, NULL, 0) == 0);
    FUZZ_ASSERT(dm_msg_equal(m, back));
    upd_dm_msg_free(back);
    free(out);
    /* no oracle on the WBXML writer: libwbxml's conversion is lossy for
     * some values (dm.h); it must only not crash or leak */
    if (enc == UPD_DM_WBXML && upd_dm_write(m, UPD_DM_WBXML, &out, &len) == 0)
        free(out);
    upd_dm_msg_free(m);
}
