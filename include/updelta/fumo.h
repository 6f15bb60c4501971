/*
 * updelta: the FUMO (OMA DM Firmware Update Management Object) of one
 * ROM package.
 *
 * An upd_fumo is the state machine of FUMO 1.0 (figure 10.2) for one
 * FwUpdate/<x> node, persisted in a state directory so that a device killed
 * at any instant (kill -9, power loss) comes back in the same state:
 *
 *   10 Idle --Exec Download|DownloadAndUpdate--> 30 Download progressing
 *   10 --Replace Update/PkgData--> 50 Ready to update
 *   30 --download failed--> 20 Download failed          (final alert)
 *   30 --download complete--> 40 Download complete
 *   40 --proceed (Download)--> 50 Ready to update       (final alert 200)
 *   40 --proceed (DownloadAndUpdate)--> 60 Update progressing
 *   50 --Exec Update--> 60 Update progressing
 *   50 --new PkgURL/PkgData--> 10
 *   60 --install failed--> 70 Update failed, have data   (final alert)
 *   60 --install succeeded--> 90 Update successful, have data (final alert 200)
 *   cleanup: 70 -> 80, 90 -> 100 (data removed; when the final alert is
 *   acknowledged), 20, 80, 100 -> 10 (implicitly, by the next Exec/PkgData)
 * No Exec or PkgData is accepted while a final alert is pending, so a
 * result is never lost.
 *
 * Every change is written to <dir>/fumo-<id>.state before the call returns:
 * written to a temporary file, fsync'd, renamed over the old one, and the
 * directory fsync'd, so the file always holds either the old or the new
 * record.  The record holds the state, the operation (which node was
 * Exec'd), the package URL, the Exec correlator, the result code and the
 * pending final alert (kept until the server acknowledges it), plus a
 * device note (free text the daemon uses for its own resume points).
 *
 * Tree binding (upd_fumo_attach): the nodes of FwUpdate/<x> (PkgName,
 * PkgVersion, Download/PkgURL, Update/PkgData, DownloadAndUpdate/PkgURL,
 * State, Ext) with their FUMO access rights; Exec of Download, Update or
 * DownloadAndUpdate moves the state, persists it, calls the device's
 * start callback and returns 202; the State leaf follows every change.
 *
 * Errors: UPD_E_STATE (event not allowed in the current state),
 * UPD_E_IO_* (state file), UPD_E_IO_READ also for a malformed state file,
 * UPD_E_INVAL, UPD_E_NOMEM.  The object never prints.  One thread at a time.
 */
#ifndef UPDELTA_FUMO_H
#define UPDELTA_FUMO_H

#include <stddef.h>
#include "common.h"
#include "tree.h"

/* FUMO 1.0 State values. */
typedef enum {
    UPD_FUMO_ST_IDLE            = 10,
    UPD_FUMO_ST_DL_FAILED       = 20,
    UPD_FUMO_ST_DL_PROGRESS     = 30,
    UPD_FUMO_ST_DL_COMPLETE     = 40,
    UPD_FUMO_ST_READY           = 50,
    UPD_FUMO_ST_UPD_PROGRESS    = 60,
    UPD_FUMO_ST_UPD_FAILED_DATA = 70,
    UPD_FUMO_ST_UPD_FAILED      = 80,
    UPD_FUMO_ST_UPD_OK_DATA     = 90,
    UPD_FUMO_ST_UPD_OK          = 100
} upd_fumo_state;

/* The operation the server started (which node it Exec'd). */
typedef enum {
    UPD_FUMO_OP_NONE = 0,
    UPD_FUMO_OP_DOWNLOAD,          /* x/Download */
    UPD_FUMO_OP_UPDATE,            /* x/Update */
    UPD_FUMO_OP_DOWNLOAD_UPDATE    /* x/DownloadAndUpdate */
} upd_fumo_op;

/* Events of the state machine (besides Exec, see upd_fumo_exec). */
typedef enum {
    UPD_FUMO_EV_PKGDATA = 1,   /* a package arrived by Replace Update/PkgData: 10 -> 50 */
    UPD_FUMO_EV_DL_FAILED,     /* 30 -> 20 */
    UPD_FUMO_EV_DL_DONE,       /* 30 -> 40 */
    UPD_FUMO_EV_PROCEED,       /* 40 -> 50 (Download) or 60 (DownloadAndUpdate) */
    UPD_FUMO_EV_UPD_FAILED,    /* 60 -> 70 */
    UPD_FUMO_EV_UPD_DONE,      /* 60 -> 90 */
    UPD_FUMO_EV_RESET,         /* 50 -> 10: the ready package is discarded */
    UPD_FUMO_EV_CLEANUP        /* 70 -> 80, 90 -> 100, 20/80/100 -> 10 */
} upd_fumo_ev;

/* Crash-point injection for the state file write (tests, like SQLite's
 * crash VFS): called before each step; a non-zero return stops the write
 * there exactly as a kill would (nothing cleaned up) and the call fails with
 * UPD_E_IO_WRITE.  Steps: */
enum {
    UPD_FUMO_STEP_TEMP_WRITE = 1,  /* before writing the temporary file (half written) */
    UPD_FUMO_STEP_TEMP_SYNC,       /* written, before its fsync */
    UPD_FUMO_STEP_RENAME,          /* fsync'd, before the rename */
    UPD_FUMO_STEP_DIR_SYNC         /* renamed, before the directory fsync */
};
typedef struct {
    int (*at)(void *user, int step);
    void *user;
} upd_fumo_fault;

/* Called by an Exec (after the state change is durable) so the device
 * starts the work asynchronously; OP says which node was Exec'd. */
typedef void (*upd_fumo_start_fn)(void *user, upd_fumo_op op);

/* The persisted record (read-only view). */
typedef struct {
    upd_fumo_state state;
    upd_fumo_op op;
    const char *url;          /* PkgURL given with the Exec ("" if none) */
    const char *correlator;   /* of the Exec, NULL when it had none */
    int result;               /* FUMO result code of the finished operation, 0 if none */
    int alert_pending;        /* 1 until the final 1226 alert is acknowledged */
    const char *note;         /* device note ("" when none) */
} upd_fumo_record;

typedef struct upd_fumo upd_fumo;

/* Open the FUMO object of ROM package ID (a file-name-safe string: letters,
 * digits, '.', '_', '-') whose state lives in directory DIR (must exist).
 * A missing state file means state 10.  A leftover temporary file from a
 * crashed write is ignored.  FAULT (copied; may be NULL) injects crashes
 * into every later write.  Errors: UPD_E_INVAL (bad ID), UPD_E_IO_READ
 * (unreadable or malformed state file), UPD_E_NOMEM. */
UPD_API int upd_fumo_open(upd_fumo **out, const char *dir, const char *id,
                          const upd_fumo_fault *fault);

/* Free F (NULL is a no-op); the state file stays. */
UPD_API void upd_fumo_free(upd_fumo *f);

/* The current record; pointers valid until the next call that changes F. */
UPD_API void upd_fumo_get(const upd_fumo *f, upd_fumo_record *rec);

/* The package id F was opened with. */
UPD_API const char *upd_fumo_id(const upd_fumo *f);

/* The Exec of OP's node with package URL (NULL/"" for Update) and
 * CORRELATOR (NULL when none).  Download and DownloadAndUpdate are allowed
 * in 10, 20, 80 and 100 (the last three are cleaned up to 10 first) and go
 * to 30; Update is allowed in 50 and goes to 60; none while a final alert is
 * pending.  A new operation clears the device note.
 * Errors: UPD_E_STATE (not allowed now; nothing changes),
 * UPD_E_INVAL (no URL for a download, a newline in URL or CORRELATOR),
 * UPD_E_IO_*, UPD_E_NOMEM. */
UPD_API int upd_fumo_exec(upd_fumo *f, upd_fumo_op op, const char *url, const char *correlator);

/* Apply EV (PKGDATA first cleans 20/80/100 up to 10, and is refused while
 * a final alert is pending).  RESULT is the FUMO result code reported for a failure event
 * (EV_DL_FAILED, EV_UPD_FAILED; must be 400..599) and ignored otherwise.
 * The end of an operation (20, 50 after a Download, 70, 90) records the
 * result and makes the final alert pending.  Errors: UPD_E_STATE,
 * UPD_E_INVAL (RESULT out of range), UPD_E_IO_*, UPD_E_NOMEM. */
UPD_API int upd_fumo_event(upd_fumo *f, upd_fumo_ev ev, int result);

/* The next state of EV from S for operation OP, or UPD_E_STATE: the pure
 * transition table used by upd_fumo_event (exposed for tests and docs). */
UPD_API int upd_fumo_next(upd_fumo_state s, upd_fumo_ev ev, upd_fumo_op op);

/* The final generic alert to send, when one is pending. */
typedef struct {
    const char *source;       /* "./FwUpdate/<x>/DownloadAndUpdate" etc. */
    const char *type;         /* "org.openmobilealliance.dm.firmwareupdate.<op>" */
    const char *mark;         /* NULL for success, "critical" for a failure */
    const char *correlator;   /* NULL when the Exec had none */
    int result;               /* FUMO result code */
} upd_fumo_alert;

/* Fill *A and return 1 when a final alert is pending, else return 0.
 * Strings valid until the next call that changes F. */
UPD_API int upd_fumo_alert_get(const upd_fumo *f, upd_fumo_alert *a);

/* The server acknowledged the final alert (Status 200 or 202): clear it and
 * clean up (70 -> 80, 90 -> 100; 20 and 50 stay).  Errors: UPD_E_STATE (no
 * alert pending), UPD_E_IO_*. */
UPD_API int upd_fumo_alert_acked(upd_fumo *f);

/* Replace the device note (NULL = "") and persist.  Errors: UPD_E_IO_*,
 * UPD_E_NOMEM, UPD_E_INVAL (a newline in NOTE). */
UPD_API int upd_fumo_set_note(upd_fumo *f, const char *note);

/* Create the nodes of BASE ("./FwUpdate/<x>") in tree T with the FUMO
 * access rights, PkgName NAME and PkgVersion VERSION, hook Exec and the
 * PkgURL/PkgData Replaces to F, and keep State in step from now on.
 * PKGDATA_PATH is where a package sent in-band (Replace Update/PkgData) is
 * written (atomically) before the state goes to 50.  START (may be NULL)
 * is called after each accepted Exec.  F keeps T, BASE and PKGDATA_PATH
 * (copied); T must outlive F or be detached by freeing F first.
 * Errors: UPD_E_INVAL, UPD_E_NOMEM. */
UPD_API int upd_fumo_attach(upd_fumo *f, upd_tree *t, const char *base, const char *name,
                            const char *version, const char *pkgdata_path,
                            upd_fumo_start_fn start, void *start_user);

/* Write LEN bytes at DATA to file NAME in directory DIR atomically (temp
 * file, fsync, rename, directory fsync), with FAULT's crash points (may be
 * NULL).  The daemon keeps its other small records with it.
 * Errors: UPD_E_IO_OPEN, UPD_E_IO_WRITE, UPD_E_IO_FLUSH, UPD_E_INVAL. */
UPD_API int upd_fumo_store_file(const char *dir, const char *name, const void *data,
                                size_t len, const upd_fumo_fault *fault);

/* "Idle", "Download Progressing", ... for logs; "?" for another value. */
UPD_API const char *upd_fumo_state_name(int state);

#endif /* UPDELTA_FUMO_H */
