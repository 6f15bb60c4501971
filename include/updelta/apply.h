/*
 * updelta: the streaming applier.
 *
 * The applier consumes a package front to back through upd_applier_push(),
 * in pieces of any size (a file read loop, a pipe, a download agent's
 * callback), and never seeks in it.  It rewrites the image either in place
 * (source == NULL: the target holds the old image and ends holding the new
 * one, with no second copy anywhere) or out of place (old image read from
 * SOURCE, new image written to TARGET).
 *
 * Guarantees, in order:
 *   - Nothing is written before the header, the manifest, their digest and
 *     the signature check out (a signature by a trusted key is required
 *     unless the caller sets UPD_APPLY_INSECURE), the package passes the update policy
 *     (package id, installed version, no rollback), and the base image has
 *     the size and SHA-256 the package names.  Wrong base, wrong key,
 *     corrupt or truncated header: a clear error and an untouched target.
 *     The base image is checked once the first segment's bytes are in
 *     (beside its decoding, unless UPD_APPLY_ONE_THREAD), or at finish
 *     when the package ends before; its verdict comes before that
 *     segment's.
 *   - Each segment is checked against its manifest SHA-256 before any of its
 *     operations runs, then decoded and fully validated (bounds, stale
 *     reads of bytes an earlier op overwrote and no STASH saved, stash
 *     rules, stream lengths; after the last one, the final length) before
 *     its first write.  A fresh run first writes the journal and a stash
 *     handle once segment 0 passed (with no segment, once the final length
 *     checked): a package refused before leaves another update's pending
 *     journal as it was.  A resumed run, whose journal is this package's,
 *     opens them at the auth block.
 *   - After the last segment the image has the new size and is re-read and
 *     hashed; UPD_E_RESULT_HASH if it differs.
 * A failure after the first write leaves segments already applied in place:
 * to keep a target untouched by a corrupt or truncated package that is not
 * streamed, first run the whole package through an applier made with
 * UPD_APPLY_DRY_RUN (no image I/O at all), unless upd_pkg_one_pass_safe()
 * says the real run's own checks all come first; the command-line tool and
 * the device do this for every package file they apply in place (out of
 * place the tool writes a temporary file, removed on failure).  A dry run,
 * and a real run with UPD_APPLY_PKG_AT_HAND, decodes two segments at once
 * when more than one CPU is online (unless UPD_APPLY_ONE_THREAD) and a
 * second decoder fits the window less UPD_PROCESS_RESERVE beside what the
 * run needs; its verdicts and writes are the serial ones, in order, but a
 * segment's come with the push that completes the next one (or at
 * upd_applier_finish).
 * Power-fail safety is the journal's job (journal.h): with a journal, a
 * crash at any instant is repaired by running the same apply again.  In
 * place, an image that already is the new one is reported as done
 * (already_applied) instead of as a wrong base.
 *
 * Memory is bounded by the window (default 16 MiB), whatever the image
 * size: a package whose segment buffers, manifest, range sets (sized by the
 * header) and in-memory stash need more is refused with UPD_E_LIMIT before
 * any write.
 * Thread safety: an applier is used by one thread at a time.
 */
#ifndef UPDELTA_APPLY_H
#define UPDELTA_APPLY_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"
#include "format.h"
#include "io.h"
#include "trust.h"
#include "journal.h"

#define UPD_DEFAULT_WINDOW  (16u << 20)
/* What an applier process holds resident besides the engine's window
 * (libraries, stack; measured in diff.h): the generator aims a package's
 * need at the window less this (UPD_DIFF_PROCESS_RESERVE), and a run (a
 * dry one, or a real one with UPD_APPLY_PKG_AT_HAND) spends memory past
 * what it needs only within that aim (a second decoder, made once the
 * header is in). */
#define UPD_PROCESS_RESERVE (6u << 20)

/* Flags for upd_apply_params.flags. */
#define UPD_APPLY_DRY_RUN   1u   /* parse, verify and validate everything; no image I/O */
#define UPD_APPLY_INSECURE  2u   /* accept unsigned packages (tests, fuzzing, explicit
                                    user choice); digests are still checked, and a
                                    signature that is present is still verified */
#define UPD_APPLY_ALLOW_DOWNGRADE 4u /* accept a to-version not newer than the installed one */
#define UPD_APPLY_JOURNAL_INLINE  8u /* compress the journal's save areas on the calling
                                        thread alone; by default, when more than one CPU
                                        is online, a worker thread compresses too, mostly
                                        while the unit before runs (the bytes written are
                                        the same) */
#define UPD_APPLY_ONE_THREAD     16u /* no thread but the caller's: implies JOURNAL_INLINE,
                                        the first segment is decoded after the base
                                        check, and every run decodes one segment at a
                                        time; by default, when more than one CPU is
                                        online and that segment has 16 KiB or more, a
                                        thread decodes it while the caller's checks the
                                        base image (the result is the same) */
#define UPD_APPLY_PKG_AT_HAND    32u /* the caller has the whole package (a file, not a
                                        stream that may break off): a real run may then
                                        decode two segments at once as a dry run does,
                                        holding segment k, decoded, until k+1 is in; a
                                        stream cut meanwhile would lose k's progress, so
                                        without this flag a real run decodes one at a
                                        time (the result is the same either way) */

typedef struct {
    upd_io  *target;          /* required unless DRY_RUN; not owned; kept open until
                                 upd_applier_free (the buffers come from it) */
    upd_io  *source;          /* out-of-place old image, or NULL for in place; not owned */
    upd_io  *stash;           /* stash store, or NULL: inside the journal when there
                                 is one, else in memory counted against the window;
                                 not owned.  Out of place no stash is used (ignored):
                                 every old byte stays readable in SOURCE */
    upd_io  *journal;         /* in place only: the power-fail journal (journal.h),
                                 or NULL for none; not owned.  When it holds a run of
                                 this package, the apply resumes it */
    uint32_t journal_unit;    /* image bytes written per commit unit (0 = default,
                                 at least UPD_JOURNAL_UNIT_MIN) */
    size_t   window;          /* memory budget in bytes; 0 = UPD_DEFAULT_WINDOW */
    unsigned flags;
    const upd_keyring *keys;  /* trusted keys; required unless INSECURE; not owned */
    const uint8_t *expect_package; /* or NULL: the digest (upd_applier_package, 32 bytes,
                                 copied) of the package an earlier check passed; a
                                 package with another digest is refused with
                                 UPD_E_PKG_CHANGED before its signature is checked or
                                 any file is written.  Pins what a dry run checked to
                                 the real run, should the file change in between (the
                                 digest covers the manifest, so every segment's) */
    /* Update policy, checked after the signature and before any write.
     * package_id: the ROM package this image is (NULL: not checked); the
     * package's id must equal it.  installed_version: the version installed
     * now (NULL: the package's own from-version stands for it, which the
     * base-image hash then confirms); the package's from-version must equal
     * it (except a full image: old size 0 and no from-version, which in
     * place installs over any base) and its to-version must be newer
     * (upd_version_cmp) unless ALLOW_DOWNGRADE.  When the installed version
     * is empty or unknown, no version is checked. */
    const char *package_id;
    const char *installed_version;
    upd_progress_fn progress; /* optional */
    void    *progress_user;
} upd_apply_params;

typedef struct {
    uint64_t pkg_bytes;               /* package bytes consumed */
    uint32_t segments_done;
    uint32_t segments_ahead;          /* segments decoded on a second thread while the
                                         next one arrived and decoded (a dry run, or
                                         a real run with UPD_APPLY_PKG_AT_HAND) */
    uint64_t ops[UPD_OP_KINDS];       /* validated (and, unless DRY_RUN, run), by upd_op_kind */
    uint64_t bytes_written;           /* to the target */
    uint64_t bytes_read;              /* from source/target, including the hash passes */
    uint64_t stash_bytes;             /* written to the stash */
    size_t   mem_peak;                /* bytes allocated by the applier at its peak */
    uint64_t journal_bytes;           /* written to the journal (save areas and slots) */
    uint64_t flushes;                 /* flush barriers issued (target, journal, stash) */
    uint64_t units;                   /* commit units run */
    int      resumed;                 /* 1 when the run continued a journaled one */
    int      already_applied;         /* 1 when the image already was the new one */
    int      signature_verified;      /* 1 when a trusted signature was checked */
    uint8_t  key_id[UPD_KEY_ID_SIZE]; /* ... by the key with this id (else zeros) */
    double   t_check_base, t_apply, t_check_result;   /* seconds */
    double   t_verify;                /* seconds spent hashing package bytes and
                                         checking the signature */
} upd_apply_stats;

typedef struct upd_applier upd_applier;

/* Bytes of memory an applier with memory budget WINDOW needs for a package
 * with header H, not counting an in-memory stash (add h->stash_size when
 * applying in place with no stash handle) nor a journal (add UPD_JOURNAL_MEM).  A package
 * is applicable when this is at most WINDOW; the generator checks the same
 * figure plus UPD_JOURNAL_MEM (upd_diff_params.window), so its packages
 * apply journaled. */
UPD_API uint64_t upd_applier_mem_need(const upd_header *h, size_t window);

/* Bytes of a package's start that upd_pkg_one_pass_safe() needs at most:
 * the longest header and one manifest entry. */
#define UPD_PKG_PROBE_SIZE  (UPD_HEADER_MAX + UPD_SEG_ENTRY_SIZE)

/* Whether a package file of SIZE bytes, whose first LEN bytes are BUF, can
 * be applied in place with no dry run first and still leave the target
 * untouched whenever it is refused: 1 when its header decodes, it has at
 * most one segment, and SIZE is exactly the length that header and
 * manifest entry give.  A real run then checks everything a dry run would
 * before its first write (the only segment is verified, decoded and
 * validated whole before any of its operations runs), and no byte can
 * follow the package.  0 otherwise: more segments, another length, a
 * header that does not decode (the dry run then names the error), or LEN
 * too short to tell (pass min(SIZE, UPD_PKG_PROBE_SIZE) bytes).  Skipping
 * the dry run saves decoding the segment twice. */
UPD_API int upd_pkg_one_pass_safe(const void *buf, size_t len, uint64_t size);

/* Make an applier.  Errors: UPD_E_INVAL (no target without DRY_RUN, window
 * smaller than 1 MiB, unknown flags), UPD_E_SIG_MISSING (no keyring and not
 * INSECURE: refused up front rather than after the download), UPD_E_NOMEM. */
UPD_API int upd_applier_create(upd_applier **out, const upd_apply_params *p);

/* Feed the next LEN package bytes.  Returns 0 when all were consumed.  On
 * failure returns the error and stays failed (every later call returns the
 * same error).  Errors: every UPD_E_PKG_* (UPD_E_PKG_CHANGED: not the
 * expect_package), UPD_E_SEG_*, UPD_E_OP_*,
 * UPD_E_SIG_*, UPD_E_BASE_*, UPD_E_IO_*, UPD_E_LIMIT, UPD_E_NOMEM. */
UPD_API int upd_applier_push(upd_applier *a, const void *data, size_t len);

/* The package offset of the next byte the applier needs: the bytes
 * consumed so far, except that once the header, manifest and auth block are
 * verified it jumps ahead when part of the package is not needed: to the
 * segment a journal's interrupted run resumes at (the segments before it
 * are done; their effect on validation comes from the journal).  Pushed
 * bytes below this
 * offset are skipped unread, so a caller that cannot seek just keeps
 * pushing; one that can (an HTTP Range request, a file seek) calls
 * upd_applier_seek() and continues from here.  0 for NULL. */
UPD_API uint64_t upd_applier_offset(const upd_applier *a);

/* Declare that the next pushed byte is at package offset OFF, which lies
 * between the caller's position (every byte pushed so far) and
 * upd_applier_offset(A): the bytes in between are never needed.
 * Errors: UPD_E_INVAL (A NULL), UPD_E_STATE (OFF outside that range), or
 * the sticky error. */
UPD_API int upd_applier_seek(upd_applier *a, uint64_t off);

/* Declare the end of the package: checks that every segment arrived and
 * nothing followed, sets the final size, flushes, and verifies the new
 * image hash (skipped for DRY_RUN).  Errors: UPD_E_PKG_TRUNCATED,
 * UPD_E_RESULT_SIZE, UPD_E_RESULT_HASH, UPD_E_IO_*, or the sticky error. */
UPD_API int upd_applier_finish(upd_applier *a);

/* The decoded header once the header and manifest digest were verified,
 * else NULL.  Valid until upd_applier_free(). */
UPD_API const upd_header *upd_applier_header(const upd_applier *a);

/* The package's digest, SHA-256(header || manifest), once the header and
 * manifest were verified (as upd_applier_header), else NULL: what a
 * journal's upd_journal_status.package names when this package wrote it.
 * 32 bytes, valid until upd_applier_free(). */
UPD_API const uint8_t *upd_applier_package(const upd_applier *a);

/* Copy counters into *ST (any time). */
UPD_API void upd_applier_stats(const upd_applier *a, upd_apply_stats *st);

/* Free the applier (NULL is a no-op).  I/O handles are not closed. */
UPD_API void upd_applier_free(upd_applier *a);

#endif /* UPDELTA_APPLY_H */
