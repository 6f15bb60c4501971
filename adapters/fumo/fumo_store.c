/* Atomic small-file writes for the device's state directory (fumo.h,
 * upd_fumo_store_file): the adapters' durable-file writer, with the FUMO
 * crash points. */
#include "updelta/fumo.h"

#include "afile.h"

_Static_assert((int)UPD_FUMO_STEP_TEMP_WRITE == (int)UPD_AFILE_STEP_TEMP_WRITE
               && (int)UPD_FUMO_STEP_TEMP_SYNC == (int)UPD_AFILE_STEP_TEMP_SYNC
               && (int)UPD_FUMO_STEP_RENAME == (int)UPD_AFILE_STEP_RENAME
               && (int)UPD_FUMO_STEP_DIR_SYNC == (int)UPD_AFILE_STEP_DIR_SYNC,
               "FUMO crash points are the durable-file writer's steps");

int upd_fumo_store_file(const char *dir, const char *name, const void *data, size_t len,
                        const upd_fumo_fault *fault)
{
    return upd_afile_write(dir, name, data, len, fault ? fault->at : NULL,
                           fault ? fault->user : NULL);
}
