/* Sample OMA DM messages for the codec tests, the WBXML cross-check tool
 * and the fuzz seeds: one per package of a FUMO session, plus the corner
 * cases of the model (nested Sequence/Atomic, binary large-object chunk). */
#ifndef UPD_DM_SAMPLES_H
#define UPD_DM_SAMPLES_H

#include <stddef.h>
#include <updelta/dm.h>

#define DM_SAMPLE_COUNT 6

/* The name of sample I ("pkg1", ...). */
const char *dm_sample_name(size_t i);

/* A new message for sample I (free with upd_dm_msg_free()); aborts on OOM. */
upd_dm_msg *dm_sample(size_t i);

/* 1 when A and B hold the same model (every field, lists in order). */
int dm_msg_equal(const upd_dm_msg *a, const upd_dm_msg *b);

#endif
