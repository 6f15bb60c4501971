/*
 * updelta: OMA DM 1.2 notification package #0 (OMA-TS-DM_Notification-V1_2).
 *
 * changes: (none yet; later changes are additive and listed here)
 *
 * Layout (big-endian, bit-packed), after a 16-byte raw MD5 digest:
 *   version 10 | ui-mode 2 | initiator 1 | future-use 27 (zero) |
 *   session-id 16 | server-id-len 8 | server-id | vendor-specific bytes
 * digest = MD5( B64(MD5("server-id:password")) ":" nonce ":"
 *               B64(MD5(everything after the digest)) )
 * with the server credentials (SRVCRED) of the account whose server id is
 * in the trigger.  Media type application/vnd.syncml.notification.
 *
 * Thread-safe, no state.  Errors: UPD_E_DM_NOTIFY (malformed trigger,
 * unknown server id, bad digest), UPD_E_INVAL (bad arguments).
 */
#ifndef UPDELTA_DM_NOTIFY_H
#define UPDELTA_DM_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define UPD_DM_MIME_NOTIFY "application/vnd.syncml.notification"

#define UPD_DM_NOTIFY_VERSION 11      /* emitted; 11 and 12 are accepted */
#define UPD_DM_NOTIFY_DIGEST_LEN 16
#define UPD_DM_NOTIFY_HDR_LEN 24      /* digest + the fixed 64-bit word */
#define UPD_DM_NOTIFY_MAX_SERVER_ID 255

enum {
    UPD_DM_UI_NOT_SPECIFIED = 0,
    UPD_DM_UI_BACKGROUND    = 1,
    UPD_DM_UI_INFORMATIVE   = 2,
    UPD_DM_UI_USER_INTERACT = 3
};

typedef struct {
    unsigned version;           /* notification version x 10 (11) */
    unsigned ui_mode;           /* UPD_DM_UI_* */
    unsigned initiator;         /* 0 client/user, 1 server */
    uint16_t session_id;        /* 1..0xFFFF */
    char server_id[UPD_DM_NOTIFY_MAX_SERVER_ID + 1];
    const uint8_t *vendor;      /* decode: points into the caller's buffer; may be NULL */
    size_t vendor_len;
} upd_dm_notify;

/* Encodes N and signs it with SERVER-ID (n->server_id), PASSWORD and the
 * NONCE_LEN raw NONCE bytes into OUT (OUT_SIZE bytes).  Returns the package
 * length, UPD_E_INVAL (field out of range: version > 1023, ui_mode > 3,
 * initiator > 1, session id 0, empty server id, OUT too small). */
UPD_API int upd_dm_notify_encode(const upd_dm_notify *n, const char *password,
                                 const void *nonce, size_t nonce_len,
                                 uint8_t *out, size_t out_size);

/* Decodes the header of the LEN-byte package BUF into *OUT without checking
 * the digest (to find the server id whose credentials verify it).  Rejects
 * (UPD_E_DM_NOTIFY) a short package, a server-id length beyond the package,
 * a server id with NUL or control bytes, a version other than 11/12, non-zero
 * future-use bits and session id 0. */
UPD_API int upd_dm_notify_decode(const void *buf, size_t len, upd_dm_notify *out);

/* Decodes BUF and checks it came from SERVER_ID with PASSWORD: the trigger's
 * server id must equal SERVER_ID, and the digest must match with NONCE
 * (NONCE_LEN raw bytes, the stored SRVCRED nonce).  When that fails the
 * digest is tried with the reset nonces peers use (4 zero bytes, then the
 * text "0x00000000"); a match there means the nonces must be renegotiated
 * in the session.  Returns 0 (matched with NONCE), 1 (matched with a reset
 * nonce), UPD_E_DM_NOTIFY (malformed, other server id, bad digest).
 * *OUT (may be NULL) receives the decoded header on success. */
UPD_API int upd_dm_notify_verify(const void *buf, size_t len, const char *server_id,
                                 const char *password, const void *nonce, size_t nonce_len,
                                 upd_dm_notify *out);

/* The SyncHdr SessionID for SESSION_ID: 1-4 uppercase hex digits without
 * leading zeros, into OUT[5].  Returns its length, or UPD_E_INVAL for 0. */
UPD_API int upd_dm_notify_session_text(uint16_t session_id, char out[5]);

#endif /* UPDELTA_DM_NOTIFY_H */
