/* libFuzzer target: the OMA DM WBXML reader (upd_dm_parse, UPD_DM_WBXML):
 * the token checker in adapters/dm/wbxml.c, then libwbxml, then expat.
 *
 * The input is the message.  Oracles as fuzz_dm_xml (fuzz_dm_common.c);
 * the WBXML writer also runs on what is accepted, without an oracle. */
#include "fuzz_common.h"
#include "fuzz_dm_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dm_message(data, size, UPD_DM_WBXML);
    return 0;
}
