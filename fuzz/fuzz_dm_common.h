/* Shared by the OMA DM message targets (fuzz/README.md). */
#ifndef UPD_FUZZ_DM_COMMON_H
#define UPD_FUZZ_DM_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <updelta/dm.h>

/* Parses DATA as ENC; accepts or refuses with a DM error; what is accepted
 * writes back as XML that parses to the same model.  Aborts (a finding)
 * when an oracle fails. */
void fuzz_dm_message(const uint8_t *data, size_t size, upd_dm_encoding enc);

#endif
