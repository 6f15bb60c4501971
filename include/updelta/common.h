/*
 * updelta: what every layer shares: the API macro, error codes, progress callback.
 *
 * Every library function that can fail returns an int (or int64_t) that is
 * zero or a count on success and a negative upd_err on failure, in the
 * style of liburing's -errno and zstd's ZSTD_isError().  Numeric values are
 * stable: they appear in logs and map to FUMO result codes, so a code is
 * never renumbered or reused.  Test with upd_is_error(), name with
 * upd_strerror().
 *
 * I/O failures keep their operating-system cause: the library records the
 * errno of the last failed system call per handle (see upd_io_last_errno()
 * in io.h), as SQLite's extended I/O codes do.
 */
#ifndef UPDELTA_COMMON_H
#define UPDELTA_COMMON_H

#include <stdint.h>

#if defined(__GNUC__) && __GNUC__ >= 4
#  define UPD_API __attribute__((visibility("default")))
#else
#  define UPD_API
#endif

typedef enum {
    UPD_OK               = 0,
    /* caller and environment */
    UPD_E_INVAL          = -1,   /* invalid argument from the caller */
    UPD_E_NOMEM          = -2,   /* allocation failed */
    UPD_E_LIMIT          = -3,   /* input exceeds a configured limit (memory window, counts) */
    UPD_E_STATE          = -4,   /* call not valid in the object's current state */
    /* I/O */
    UPD_E_IO_OPEN        = -10,  /* open/stat of a file or device failed */
    UPD_E_IO_READ        = -11,  /* read failed or returned short at end of device */
    UPD_E_IO_WRITE       = -12,  /* write failed */
    UPD_E_IO_FLUSH       = -13,  /* fsync/fdatasync failed: fatal for the run, never retried */
    UPD_E_IO_RESIZE      = -14,  /* truncate/extend failed, or a block device is too small */
    /* package container */
    UPD_E_PKG_MAGIC      = -20,  /* not an updelta package */
    UPD_E_PKG_VERSION    = -21,  /* format version not supported by this reader */
    UPD_E_PKG_HEADER     = -22,  /* a header field is malformed or out of range */
    UPD_E_PKG_MANIFEST   = -23,  /* a manifest entry is malformed or out of range */
    UPD_E_PKG_DIGEST     = -24,  /* header+manifest digest mismatch (corrupt header) */
    UPD_E_PKG_TRUNCATED  = -25,  /* the package ended early */
    UPD_E_PKG_TRAILING   = -26,  /* bytes after the last segment */
    UPD_E_SEG_DIGEST     = -27,  /* a segment's SHA-256 does not match its manifest entry */
    UPD_E_SEG_DECODE     = -28,  /* a segment's zstd frame does not decode to its declared size */
    UPD_E_PKG_SIGNATURE  = -29,  /* signature block malformed or signature invalid */
    /* operations */
    UPD_E_OP_DECODE      = -30,  /* malformed operation encoding in a control region */
    UPD_E_OP_BOUNDS      = -31,  /* operation reads or writes outside the image or stash */
    UPD_E_OP_STALE       = -32,  /* operation reads image bytes an earlier operation overwrote */
    UPD_E_OP_STASH       = -33,  /* a STASH saves old bytes that are already saved */
    UPD_E_OP_STREAM      = -34,  /* a segment's ops consume more or fewer payload bytes than it holds */
    UPD_E_OP_DICT        = -35,  /* a literal dictionary lies outside the image, or an op
                                    writes into one after it was taken */
    UPD_E_OP_DROP        = -36,  /* a DROP comes after another kind of operation in its segment */
    /* images */
    UPD_E_BASE_SIZE      = -40,  /* target/source image size differs from the package's old size */
    UPD_E_BASE_HASH      = -41,  /* target/source image hash differs: wrong base image */
    UPD_E_RESULT_HASH    = -42,  /* the written image does not hash to the package's new hash */
    UPD_E_RESULT_SIZE    = -43,  /* the final image size differs from the package's new size */
    /* generator */
    UPD_E_DIFF_TOO_LARGE = -50,  /* an input image exceeds what the generator can index */
    UPD_E_COMPRESS       = -51,  /* zstd failed while compressing a segment */
    UPD_E_PLAN           = -52,  /* the in-place schedule failed its own simulator check */
    /* trust and update policy (trust.h) */
    UPD_E_SIG_MISSING    = -60,  /* package not signed, and unsigned packages are not allowed */
    UPD_E_SIG_KEY_UNKNOWN = -61, /* signed by a key that is not trusted */
    UPD_E_SIG_KEY_REVOKED = -62, /* signed by a revoked key */
    UPD_E_KEY            = -63,  /* key file unreadable, not Ed25519, or not the kind needed */
    UPD_E_PKG_WRONG_ID   = -64,  /* package is for another ROM package id */
    UPD_E_PKG_WRONG_FROM = -65,  /* package is for another installed (from) version */
    UPD_E_PKG_ROLLBACK   = -66,  /* package's to-version is not newer than the installed one */
    UPD_E_PKG_CHANGED    = -67,  /* not the package the caller checked before (expect_package):
                                    the file changed in between */
    /* journal */
    UPD_E_JOURNAL        = -70,  /* the journal cannot serve this run (other chunk size, damaged
                                    save area of the unit to resume) */
    /* download agent (download.h) */
    UPD_E_NET_URL        = -80,  /* malformed URL or unsupported scheme */
    UPD_E_NET_CONNECT    = -81,  /* server unreachable: refused, no route, DNS failure */
    UPD_E_NET_TIMEOUT    = -82,  /* connect or low-speed timeout: the server stalled */
    UPD_E_NET_AUTH       = -83,  /* the server asked for credentials or refused them (401/403) */
    UPD_E_NET_NOT_FOUND  = -84,  /* the server has no such package (404, 410) */
    UPD_E_NET_SERVER     = -85,  /* the server answered with an error (5xx) or a malformed reply
                                    (wrong Content-Range, body longer than announced) */
    UPD_E_NET_TRANSFER   = -86,  /* the connection dropped and retries were used up */
    UPD_E_NET_TLS        = -87,  /* TLS handshake or certificate check failed */
    UPD_E_NET_TOO_LARGE  = -88,  /* the package exceeds the configured maximum size */
    UPD_E_NO_SPACE       = -89,  /* not enough free space for the download */
    /* OMA DM codec and session (dm.h) */
    UPD_E_DM_PARSE       = -90,  /* malformed XML/WBXML or SyncML structure */
    UPD_E_DM_LIMIT       = -91,  /* message exceeds a size, depth or count limit */
    UPD_E_DM_AUTH        = -92,  /* credentials or HMAC/MD5 digest wrong */
    UPD_E_DM_NOTIFY      = -93,  /* package #0 malformed, unknown server id or bad digest */
    UPD_E_DM_PROTOCOL    = -94,  /* a peer broke the session protocol (bad ids, order, status) */
    UPD_E_DM_NODE        = -95,  /* management tree: no such node, or command not allowed on it */
    UPD_E_INTERNAL       = -99   /* an internal invariant failed (a bug: please report) */
} upd_err;

/* Non-zero when CODE is a negative upd_err. */
static inline int upd_is_error(int64_t code) { return code < 0; }

/* A short English description of CODE ("unknown error" for a value that is
 * not an upd_err).  The string is static; never free it.  Thread-safe. */
UPD_API const char *upd_strerror(int code);

/* The symbolic name of CODE ("UPD_E_PKG_DIGEST"), or "UPD_E_UNKNOWN". */
UPD_API const char *upd_errname(int code);

/* Progress callback used by the generator and the applier: PHASE says what
 * runs (UPD_PHASE_*), DONE of TOTAL units (bytes) are finished.  Called from
 * the caller's thread, at most a few hundred times per phase; it must not
 * call back into the object that reports. */
typedef void (*upd_progress_fn)(void *user, int phase, uint64_t done, uint64_t total);

enum {
    UPD_PHASE_INDEX = 1,      /* generator: suffix array over the old image */
    UPD_PHASE_MATCH,          /* generator: matching the new image */
    UPD_PHASE_PLAN,           /* generator: in-place schedule */
    UPD_PHASE_COMPRESS,       /* generator: compressing segments */
    UPD_PHASE_CHECK_BASE,     /* applier: hashing the old image */
    UPD_PHASE_APPLY,          /* applier: package bytes consumed */
    UPD_PHASE_CHECK_RESULT,   /* applier: hashing the new image */
    UPD_PHASE_COPY_UNCHANGED  /* applier, out of place onto a file: the old bytes no
                                 operation writes, copied after the last segment */
};

/* Library version as MAJOR*10000 + MINOR*100 + PATCH, and as a string
 * (CMake refuses to configure when they differ from project(VERSION)). */
#define UPD_VERSION_NUMBER 600
#define UPD_VERSION_STRING "0.6.0"
UPD_API unsigned upd_version_number(void);
UPD_API const char *upd_version_string(void);

#endif /* UPDELTA_COMMON_H */
