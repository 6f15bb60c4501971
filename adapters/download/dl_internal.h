/* Internal pieces of the download agent, separate so the unit tests can
 * reach them: HTTP header parsing, the retry delay, the state file, and
 * the curl/HTTP -> upd_err mapping.  Not installed, not exported. */
#ifndef UPD_DL_INTERNAL_H
#define UPD_DL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "updelta/download.h"

/* Content-Range of a 206: FIRST-LAST/TOTAL, TOTAL 0 when the server sent '*'. */
typedef struct {
    uint64_t first, last, total;
} dl_range;

/* Parse a Content-Range value ("bytes 0-99/1000").  Spaces around every
 * token and an '=' after "bytes" are tolerated ("bytes = 0 - 99 / 1000"),
 * as some servers send them.  0, or -1 when malformed (LAST < FIRST,
 * LAST >= TOTAL, overflow, trailing junk). */
int dl_parse_content_range(const char *v, size_t len, dl_range *r);

/* If header line LINE (LEN bytes, CRLF included or not) is NAME (case-
 * insensitive), copy its trimmed value into OUT (CAP bytes) and return 1;
 * 0 when it is another header or the value does not fit. */
int dl_header_value(const char *line, size_t len, const char *name, char *out, size_t cap);

/* Delay before retry ATTEMPT (1 = first retry): BASE doubled per attempt,
 * capped at CAP, then "equal jitter": half fixed, half drawn from RND, so
 * many devices cut off at once do not retry in step. */
unsigned dl_backoff_ms(unsigned attempt, unsigned base, unsigned cap, uint32_t rnd);

/* What a partial download has made durable.  Saved beside the partial
 * file; loaded only when every field parses and the URL matches. */
typedef struct {
    char     url[2048];
    char     validator[256];    /* "ETag: ..." or "Last-Modified: ..." value, may be empty */
    int      validator_is_etag;
    uint64_t total;             /* package size, 0 unknown */
    uint64_t done;              /* bytes of the partial file that are durable and valid */
} dl_state;

/* Write S to PATH atomically: PATH.tmp, fsync, rename, fsync of the
 * directory.  0 or UPD_E_IO_WRITE / UPD_E_IO_FLUSH / UPD_E_INVAL (a field
 * with a newline). */
int dl_state_save(const char *path, const dl_state *s);

/* Read PATH into S.  0, or UPD_E_IO_OPEN (absent) / UPD_E_IO_READ
 * (malformed: treat as absent). */
int dl_state_load(const char *path, dl_state *s);

/* The upd_err for a failed curl_easy_perform() result (a CURLcode), and
 * for a final HTTP status that is not 200/206 (0 for those). */
int dl_map_curl(int curl_code);
int dl_map_http(long status);

/* Whether error CODE is worth another attempt (network trouble, server
 * trouble) rather than final (bad URL, 404, auth, TLS, size, disk). */
int dl_retryable(int code);

#endif
