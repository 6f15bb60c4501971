/* libFuzzer target: the OMA DM XML parser (upd_dm_parse, UPD_DM_XML).
 *
 * The input is the message.  Oracles (fuzz_dm_common.c): the parser
 * accepts or refuses with a DM error (never another code, a crash or a
 * leak); what it accepts writes back as XML, and that XML parses to the
 * same model (the writer can encode everything the parser can produce). */
#include "fuzz_common.h"
#include "fuzz_dm_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dm_message(data, size, UPD_DM_XML);
    return 0;
}
