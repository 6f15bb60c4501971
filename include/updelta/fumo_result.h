/*
 * updelta: the FUMO result code of every upd_err, in one table.
 *
 * A device reports the outcome of a firmware update to its OMA DM server as
 * a FUMO result code (OMA FUMO 1.0, the generic alert 1226 and the
 * ResultCode the server reads back).  The download agent, the FwUpdate
 * object and the tools all take the code from here, so one failure is never
 * reported two ways.
 *
 * The choices that are not obvious from the code names:
 *   - UPD_E_NET_NOT_FOUND (404/410 from the download server) -> 411
 *     "Malformed or bad URL": the URL is well formed but names no package.
 *   - UPD_E_NET_TLS -> 406 "Alternate download authentication failure": the
 *     download server failed to authenticate itself (certificate check).
 *   - UPD_E_NET_TOO_LARGE and UPD_E_NO_SPACE -> 501 "Download failed, device
 *     out of memory": the package does not fit what the device may store.
 *   - UPD_E_NOMEM and UPD_E_LIMIT -> 502 "Update failed, device out of
 *     memory": both stop the install for lack of RAM (the applier's window).
 *   - UPD_E_PKG_MAGIC and the other container, segment and op errors -> 402
 *     "Corrupted firmware update package": the bytes delivered are not the
 *     package the signed manifest describes (an HTML error page served in
 *     its place is the common case of a bad magic), or, UPD_E_PKG_CHANGED,
 *     not the package a check before passed.
 *   - UPD_E_PKG_VERSION and UPD_E_PKG_ROLLBACK -> 405 "Package not
 *     acceptable": intact, but a format or a version this device refuses.
 *   - UPD_E_PKG_SIGNATURE and UPD_E_SIG_* -> 404 "Failed package validation".
 *   - UPD_E_BASE_*, UPD_E_PKG_WRONG_ID, UPD_E_PKG_WRONG_FROM -> 403
 *     "Package-device mismatch": a good package for another image.
 *   - UPD_E_IO_*, UPD_E_RESULT_*, UPD_E_JOURNAL -> 410 "Firmware update
 *     failed": the device could not carry the update out.
 *   - UPD_E_INVAL, UPD_E_STATE, UPD_E_KEY (the device's own key store),
 *     the generator's codes, the DM session codes and UPD_E_INTERNAL -> 400
 *     "Management client error": faults of the client software itself,
 *     never of the package or the network.
 * 409 "Undefined error" is reserved for values that are no upd_err at all.
 */
#ifndef UPDELTA_FUMO_RESULT_H
#define UPDELTA_FUMO_RESULT_H

#include "common.h"

/* FUMO 1.0 result codes (OMA-TS-DM-FUMO section "Result codes"). */
enum {
    UPD_FUMO_SUCCESS             = 200,
    UPD_FUMO_CLIENT_ERROR        = 400,
    UPD_FUMO_USER_CANCELLED      = 401,
    UPD_FUMO_CORRUPT_PACKAGE     = 402,
    UPD_FUMO_PACKAGE_MISMATCH    = 403,
    UPD_FUMO_VALIDATION_FAILED   = 404,
    UPD_FUMO_NOT_ACCEPTABLE      = 405,
    UPD_FUMO_DL_AUTH_FAILED      = 406,
    UPD_FUMO_DL_TIMEOUT          = 407,
    UPD_FUMO_NOT_IMPLEMENTED     = 408,
    UPD_FUMO_UNDEFINED           = 409,
    UPD_FUMO_UPDATE_FAILED       = 410,
    UPD_FUMO_BAD_URL             = 411,
    UPD_FUMO_DL_SERVER_UNAVAIL   = 412,
    UPD_FUMO_DL_SERVER_ERROR     = 500,
    UPD_FUMO_DL_OUT_OF_MEMORY    = 501,
    UPD_FUMO_UPDATE_OUT_OF_MEMORY = 502,
    UPD_FUMO_DL_NETWORK          = 503
};

/* The FUMO result code for CODE: UPD_FUMO_SUCCESS for UPD_OK (and any
 * non-negative count), the table's code for every named upd_err, and
 * UPD_FUMO_UNDEFINED for a negative value that is no upd_err.  Pure and
 * thread-safe. */
UPD_API int upd_fumo_result(int code);

/* A short English description of FUMO result code RESULT ("Corrupted
 * firmware update package"), or NULL when RESULT is not a FUMO 1.0 code.
 * The string is static. */
UPD_API const char *upd_fumo_result_text(int result);

#endif /* UPDELTA_FUMO_RESULT_H */
