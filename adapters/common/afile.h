/* Durable small files for the adapters (download state, FUMO record, the
 * device's other records): written whole to a temporary file, fsync'ed,
 * renamed over the target, and the directory fsync'ed, so a crash leaves
 * either the old file or the new one.  Internal to adapters/: not a public
 * header. */
#ifndef UPD_AFILE_H
#define UPD_AFILE_H

#include <stddef.h>

/* The points where a test may cut the write short (upd_afile_write's
 * CRASH_AT): what a kill at that instant would leave. */
enum {
    UPD_AFILE_STEP_TEMP_WRITE = 1,  /* half the temporary file written */
    UPD_AFILE_STEP_TEMP_SYNC,       /* written, before its fsync */
    UPD_AFILE_STEP_RENAME,          /* fsync'ed, before the rename */
    UPD_AFILE_STEP_DIR_SYNC         /* renamed, before the directory fsync */
};

/* Write DATA[0..LEN) as DIR/NAME atomically (temporary DIR/.NAME.tmp, mode
 * 0600).  CRASH_AT (may be NULL) is asked at each step with USER; when it
 * returns non-zero the write stops there, as a kill would leave it, and
 * UPD_E_IO_WRITE is returned.  Errors: UPD_E_INVAL (NAME holds a '/', a path
 * too long), UPD_E_IO_OPEN, UPD_E_IO_WRITE, UPD_E_IO_FLUSH. */
int upd_afile_write(const char *dir, const char *name, const void *data, size_t len,
                    int (*crash_at)(void *user, int step), void *user);

/* The directory part of PATH ("." when it has none) into OUT[0..CAP). */
void upd_afile_dir_of(const char *path, char *out, size_t cap);

/* fsync the directory holding PATH, so a rename or create in it is durable.
 * Errors: UPD_E_IO_OPEN, UPD_E_IO_FLUSH. */
int upd_afile_sync_dir_of(const char *path);

#endif /* UPD_AFILE_H */
