/*
 * updelta: OMA DM 1.2 authentication helpers (OpenSSL libcrypto).
 *
 * changes: (none yet; later changes are additive and listed here)
 *
 * Both directions use the same helpers: the device authenticates to the
 * server with the client credentials (CLCRED) and checks the server's Cred
 * with the server credentials (SRVCRED); the server does the reverse.
 *
 *   auth-basic   Cred Data = B64("user:password")
 *   auth-md5     Cred Data = B64(MD5(B64(MD5("user:password")) ":" nonce))
 *                (nonce = the raw bytes of the last NextNonce, which travels
 *                base64-encoded in Chal/Meta/NextNonce)
 *   auth-MAC     HTTP header x-syncml-hmac: algorithm=MD5, username="user",
 *                mac=B64(MD5(B64(MD5("user:password")) ":" nonce ":"
 *                B64(MD5(body))))  over the whole HTTP body (XML or WBXML)
 *
 * All functions are thread-safe and keep no state.  Outputs are written to
 * caller buffers; every base64 MD5 digest is UPD_DM_B64_MD5_LEN bytes with
 * its NUL.  Errors: UPD_E_INVAL (NULL or too small buffer), UPD_E_DM_AUTH
 * (credentials wrong), UPD_E_DM_PARSE (malformed base64 or header),
 * UPD_E_INTERNAL (libcrypto failed).
 */
#ifndef UPDELTA_DM_AUTH_H
#define UPDELTA_DM_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "dm.h"

#define UPD_DM_AUTH_BASIC "syncml:auth-basic"
#define UPD_DM_AUTH_MD5   "syncml:auth-md5"
#define UPD_DM_AUTH_MAC   "syncml:auth-MAC"
#define UPD_DM_HMAC_HEADER "x-syncml-hmac"

/* 24 base64 characters of a 16-byte MD5 plus the NUL. */
#define UPD_DM_B64_MD5_LEN 25

/* Base64 (RFC 4648, with padding, no line breaks) of the N bytes at P into
 * OUT (OUT_SIZE bytes including the NUL).  Returns the text length, or
 * UPD_E_INVAL when OUT is too small. */
UPD_API int upd_dm_b64_encode(const void *p, size_t n, char *out, size_t out_size);

/* Decodes the base64 text S (blanks and line breaks ignored) into OUT.
 * Returns the byte count, UPD_E_DM_PARSE for malformed text, UPD_E_INVAL
 * when OUT is too small. */
UPD_API int upd_dm_b64_decode(const char *s, uint8_t *out, size_t out_size);

/* B64("USER:PASS") into OUT.  Returns the text length or UPD_E_INVAL. */
UPD_API int upd_dm_auth_basic(const char *user, const char *pass, char *out, size_t out_size);

/* The auth-md5 digest of USER, PASS and the NONCE_LEN raw nonce bytes into
 * OUT[UPD_DM_B64_MD5_LEN].  Spec vector: Bruce2 / OhBehave / "Nonce" ->
 * "Zz6EivR3yeaaENcRN6lpAQ==".  Returns 0 or UPD_E_INVAL/UPD_E_INTERNAL. */
UPD_API int upd_dm_auth_md5(const char *user, const char *pass, const void *nonce,
                            size_t nonce_len, char out[UPD_DM_B64_MD5_LEN]);

/* Fills M's SyncHdr Cred for TYPE (UPD_DM_AUTH_BASIC or UPD_DM_AUTH_MD5,
 * Format "b64") and sets hdr.source_name to USER (copied into M's arena).
 * NONCE is ignored for basic.  Returns 0, UPD_E_INVAL (unknown TYPE),
 * UPD_E_NOMEM. */
UPD_API int upd_dm_cred_set(upd_dm_msg *m, const char *type, const char *user,
                            const char *pass, const void *nonce, size_t nonce_len);

/* Checks CRED (from a received SyncHdr; NULL = no Cred) against the expected
 * USER and PASS.  For auth-md5 the user is the one received in the header's
 * Source/LocName (USER_SEEN, compared with USER) and NONCE is the nonce this
 * side issued; for auth-basic the user is inside the data.  Returns 0 when
 * they match, UPD_E_DM_AUTH when CRED is NULL, of another type, or wrong. */
UPD_API int upd_dm_cred_verify(const upd_dm_cred *cred, const char *user_seen,
                               const char *user, const char *pass,
                               const void *nonce, size_t nonce_len);

/* The HMAC-MD5 mac of BODY (BODY_LEN bytes) for USER/PASS/NONCE into
 * OUT[UPD_DM_B64_MD5_LEN].  Returns 0 or UPD_E_INVAL/UPD_E_INTERNAL. */
UPD_API int upd_dm_hmac_mac(const char *user, const char *pass, const void *nonce,
                            size_t nonce_len, const void *body, size_t body_len,
                            char out[UPD_DM_B64_MD5_LEN]);

/* The value of the x-syncml-hmac header, `algorithm=MD5, username="USER",
 * mac=MAC`, into OUT.  Returns its length or UPD_E_INVAL (OUT too small,
 * USER contains '"'). */
UPD_API int upd_dm_hmac_header(const char *user, const char *pass, const void *nonce,
                               size_t nonce_len, const void *body, size_t body_len,
                               char *out, size_t out_size);

/* Parses an x-syncml-hmac header value (parameters in any order, blanks
 * tolerated, username quoted or not, algorithm must be MD5 if present) into
 * USER (USER_SIZE) and MAC (MAC_SIZE).  Returns 0, UPD_E_DM_PARSE (malformed,
 * missing username or mac, other algorithm), UPD_E_INVAL (buffer small). */
UPD_API int upd_dm_hmac_parse(const char *header, char *user, size_t user_size,
                              char *mac, size_t mac_size);

/* Verifies HEADER (an x-syncml-hmac value) for BODY: the username must equal
 * USER and the mac match.  Returns 0, UPD_E_DM_AUTH (wrong user or mac),
 * UPD_E_DM_PARSE (malformed header). */
UPD_API int upd_dm_hmac_verify(const char *header, const char *user, const char *pass,
                               const void *nonce, size_t nonce_len,
                               const void *body, size_t body_len);

/* N random bytes from the OpenSSL DRBG into OUT (use >= 16 for a nonce).
 * Returns 0 or UPD_E_INTERNAL. */
UPD_API int upd_dm_nonce_new(uint8_t *out, size_t n);

#endif /* UPDELTA_DM_AUTH_H */
