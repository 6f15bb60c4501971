/*
 * updelta: the download agent (adapters/download, library upd_download).
 *
 * Fetches an update package over HTTP or HTTPS (libcurl) and either stores
 * it in a file (upd_download_file: download, then verify and install with
 * the applier) or pushes it straight into an applier as it arrives
 * (upd_download_stream: no staging file; the signed manifest and the
 * per-segment digests keep every unverified byte off the image).
 *
 * Resume.  upd_download_file keeps PATH.part (the bytes so far) and
 * PATH.part.state (URL, validator, total size, durable byte count), written
 * atomically (temp file, fsync, rename, fsync of the directory) after the
 * data it counts was fdatasync'ed.  A later call for the same URL and PATH,
 * after a dropped connection, a killed process or a reboot, asks for the
 * rest with a Range request and the saved validator in If-Range (a strong
 * ETag, else Last-Modified).  A server that ignores Range, or a file that changed
 * (200 instead of 206, another validator, another total), restarts the
 * download from byte 0: two files are never spliced.  A 206 whose
 * Content-Range does not start where asked, or a body longer than
 * announced, is a server error and writes nothing.  The streaming mode
 * resumes through the engine's journal: the applier says which package
 * byte it needs next (the start of the first segment not yet done) and the
 * agent asks for that range.
 *
 * Retries.  A dropped or stalled connection, a refused connection and a
 * 5xx answer are retried after a delay that doubles each time (with
 * jitter, up to backoff_max_ms); the count of retries in a row that made
 * no progress is bounded by max_retries (a stall counts even after some
 * progress, so a server that trickles bytes and stops still ends it).  A bad URL, 404, 401/403, a
 * failed certificate check, a package over max_size or a full disk fail at
 * once.
 *
 * Errors (every function; map them to FUMO with fumo_result.h):
 *   UPD_E_NET_URL       malformed URL or unsupported scheme (curl 1, 3)
 *   UPD_E_NET_CONNECT   refused, unreachable, DNS failure (curl 5, 6, 7)
 *   UPD_E_NET_TIMEOUT   connect timeout, or below low_speed_bytes per second
 *                       for low_speed_time_s (curl 28)
 *   UPD_E_NET_AUTH      HTTP 401, 403, 407
 *   UPD_E_NET_NOT_FOUND HTTP 404, 410
 *   UPD_E_NET_SERVER    HTTP 5xx or another unexpected status, a wrong
 *                       Content-Range, no length, a body longer than
 *                       announced, too many redirects
 *   UPD_E_NET_TRANSFER  connection dropped or body cut short (curl 18, 52,
 *                       55, 56) and the retries were used up
 *   UPD_E_NET_TLS       TLS handshake or certificate check (curl 35, 60, ...)
 *   UPD_E_NET_TOO_LARGE the announced size exceeds max_size
 *   UPD_E_NO_SPACE      the file system lacks room for the rest (statvfs,
 *                       checked before the first byte is written)
 *   UPD_E_IO_*          the partial or state file could not be written
 *   UPD_E_NOMEM, UPD_E_INVAL, and in streaming mode every applier error.
 * Thread safety: calls share nothing; call upd_download_global_init() once
 * before threads start (libcurl's global init is not thread-safe).
 */
#ifndef UPDELTA_DOWNLOAD_H
#define UPDELTA_DOWNLOAD_H

#include <stdint.h>
#include "common.h"
#include "apply.h"

/* Progress of a transfer: DONE of TOTAL package bytes are in hand (TOTAL
 * is 0 while unknown), RATE bytes per second over this call, ETA seconds
 * left (negative while unknown).  Called at most ~10 times per second and
 * once at the end, from the caller's thread. */
typedef void (*upd_dl_progress_fn)(void *user, uint64_t done, uint64_t total,
                                   double rate, double eta);

/* "A new update is available": called once per call, before the first
 * package byte is stored or pushed, with the URL, the package size and the
 * byte the transfer resumes from (0 for a fresh download). */
typedef void (*upd_dl_notice_fn)(void *user, const char *url, uint64_t total,
                                 uint64_t resume_from);

typedef struct {
    const char *url;              /* http:// or https://; required; not owned */
    const char *ca_file;          /* PEM CA bundle for HTTPS, NULL: the system's */
    long     connect_timeout_ms;  /* 0: 10000 */
    long     low_speed_time_s;    /* stall limit: 0: 30 */
    long     low_speed_bytes;     /* bytes per second counted as a stall; 0: 1 */
    unsigned max_retries;         /* retries in a row without progress (or after
                                     a stall); 0: 5 */
    unsigned backoff_base_ms;     /* first retry delay; 0: 500 */
    unsigned backoff_max_ms;      /* delay cap; 0: 30000 */
    uint64_t max_size;            /* largest package accepted; 0: 4 GiB */
    upd_dl_progress_fn progress;  /* optional */
    upd_dl_notice_fn notice;      /* optional */
    void    *user;                /* passed to both callbacks */
} upd_dl_params;

typedef struct {
    uint64_t total;               /* package size */
    uint64_t resumed_from;        /* bytes already in hand when the call began */
    uint64_t bytes_received;      /* body bytes received over the network, all requests */
    unsigned requests;            /* HTTP requests made */
    unsigned retries;             /* failed attempts that were retried */
    unsigned restarts;            /* times the download restarted from byte 0 */
    int      last_http;           /* status of the last response (0: none) */
    double   seconds;             /* wall time of the call */
} upd_dl_stats;

/* Initialise libcurl once per process, before any thread runs a download
 * (later calls are no-ops).  Errors: UPD_E_NOMEM. */
UPD_API int upd_download_global_init(void);

/* Download P->url into PATH, resuming PATH.part as described above; on
 * success PATH holds the whole package (renamed into place, durable) and
 * the partial files are gone.  On failure the partial files stay for the
 * next call.  ST (optional) receives the counters.  Errors: see above. */
UPD_API int upd_download_file(const upd_dl_params *p, const char *path, upd_dl_stats *st);

/* Stream P->url into applier A (created by the caller, not owned; with a
 * journal for in-place resume) and finish it.  The transfer starts at byte
 * 0 (the header, manifest and auth block are always read) and skips ahead
 * with a Range request when the applier's journal shows segments already
 * done.  Returns 0 after upd_applier_finish() succeeded.  Errors: see
 * above, plus every error of upd_applier_push/finish; a package that
 * changes on the server mid-stream fails with UPD_E_NET_SERVER (the
 * journal keeps the image resumable). */
UPD_API int upd_download_stream(const upd_dl_params *p, upd_applier *a, upd_dl_stats *st);

#endif /* UPDELTA_DOWNLOAD_H */
