/* upd_err -> FUMO result code: the one table (reasons in fumo_result.h). */
#include "updelta/fumo_result.h"

#include <stddef.h>

typedef struct { int err; int fumo; } fumo_row;

static const fumo_row fumo_table[] = {
    { UPD_E_INVAL,           UPD_FUMO_CLIENT_ERROR },
    { UPD_E_NOMEM,           UPD_FUMO_UPDATE_OUT_OF_MEMORY },
    { UPD_E_LIMIT,           UPD_FUMO_UPDATE_OUT_OF_MEMORY },
    { UPD_E_STATE,           UPD_FUMO_CLIENT_ERROR },
    { UPD_E_IO_OPEN,         UPD_FUMO_UPDATE_FAILED },
    { UPD_E_IO_READ,         UPD_FUMO_UPDATE_FAILED },
    { UPD_E_IO_WRITE,        UPD_FUMO_UPDATE_FAILED },
    { UPD_E_IO_FLUSH,        UPD_FUMO_UPDATE_FAILED },
    { UPD_E_IO_RESIZE,       UPD_FUMO_UPDATE_FAILED },
    { UPD_E_PKG_MAGIC,       UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_PKG_VERSION,     UPD_FUMO_NOT_ACCEPTABLE },
    { UPD_E_PKG_HEADER,      UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_PKG_MANIFEST,    UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_PKG_DIGEST,      UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_PKG_TRUNCATED,   UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_PKG_TRAILING,    UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_SEG_DIGEST,      UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_SEG_DECODE,      UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_PKG_SIGNATURE,   UPD_FUMO_VALIDATION_FAILED },
    { UPD_E_OP_DECODE,       UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_OP_BOUNDS,       UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_OP_STALE,        UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_OP_STASH,        UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_OP_STREAM,       UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_OP_DICT,         UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_OP_DROP,         UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_BASE_SIZE,       UPD_FUMO_PACKAGE_MISMATCH },
    { UPD_E_BASE_HASH,       UPD_FUMO_PACKAGE_MISMATCH },
    { UPD_E_RESULT_HASH,     UPD_FUMO_UPDATE_FAILED },
    { UPD_E_RESULT_SIZE,     UPD_FUMO_UPDATE_FAILED },
    { UPD_E_DIFF_TOO_LARGE,  UPD_FUMO_CLIENT_ERROR },
    { UPD_E_COMPRESS,        UPD_FUMO_CLIENT_ERROR },
    { UPD_E_PLAN,            UPD_FUMO_CLIENT_ERROR },
    { UPD_E_SIG_MISSING,     UPD_FUMO_VALIDATION_FAILED },
    { UPD_E_SIG_KEY_UNKNOWN, UPD_FUMO_VALIDATION_FAILED },
    { UPD_E_SIG_KEY_REVOKED, UPD_FUMO_VALIDATION_FAILED },
    { UPD_E_KEY,             UPD_FUMO_CLIENT_ERROR },
    { UPD_E_PKG_WRONG_ID,    UPD_FUMO_PACKAGE_MISMATCH },
    { UPD_E_PKG_WRONG_FROM,  UPD_FUMO_PACKAGE_MISMATCH },
    { UPD_E_PKG_ROLLBACK,    UPD_FUMO_NOT_ACCEPTABLE },
    { UPD_E_PKG_CHANGED,     UPD_FUMO_CORRUPT_PACKAGE },
    { UPD_E_JOURNAL,         UPD_FUMO_UPDATE_FAILED },
    { UPD_E_NET_URL,         UPD_FUMO_BAD_URL },
    { UPD_E_NET_CONNECT,     UPD_FUMO_DL_SERVER_UNAVAIL },
    { UPD_E_NET_TIMEOUT,     UPD_FUMO_DL_TIMEOUT },
    { UPD_E_NET_AUTH,        UPD_FUMO_DL_AUTH_FAILED },
    { UPD_E_NET_NOT_FOUND,   UPD_FUMO_BAD_URL },
    { UPD_E_NET_SERVER,      UPD_FUMO_DL_SERVER_ERROR },
    { UPD_E_NET_TRANSFER,    UPD_FUMO_DL_NETWORK },
    { UPD_E_NET_TLS,         UPD_FUMO_DL_AUTH_FAILED },
    { UPD_E_NET_TOO_LARGE,   UPD_FUMO_DL_OUT_OF_MEMORY },
    { UPD_E_NO_SPACE,        UPD_FUMO_DL_OUT_OF_MEMORY },
    { UPD_E_DM_PARSE,        UPD_FUMO_CLIENT_ERROR },
    { UPD_E_DM_LIMIT,        UPD_FUMO_CLIENT_ERROR },
    { UPD_E_DM_AUTH,         UPD_FUMO_CLIENT_ERROR },
    { UPD_E_DM_NOTIFY,       UPD_FUMO_CLIENT_ERROR },
    { UPD_E_DM_PROTOCOL,     UPD_FUMO_CLIENT_ERROR },
    { UPD_E_DM_NODE,         UPD_FUMO_CLIENT_ERROR },
    { UPD_E_INTERNAL,        UPD_FUMO_CLIENT_ERROR },
};

int upd_fumo_result(int code)
{
    if (code >= 0)
        return UPD_FUMO_SUCCESS;
    for (size_t i = 0; i < sizeof fumo_table / sizeof fumo_table[0]; i++)
        if (fumo_table[i].err == code)
            return fumo_table[i].fumo;
    return UPD_FUMO_UNDEFINED;
}

const char *upd_fumo_result_text(int result)
{
    switch (result) {
    case UPD_FUMO_SUCCESS:              return "Successful";
    case UPD_FUMO_CLIENT_ERROR:         return "Management client error";
    case UPD_FUMO_USER_CANCELLED:       return "User cancelled";
    case UPD_FUMO_CORRUPT_PACKAGE:      return "Corrupted firmware update package";
    case UPD_FUMO_PACKAGE_MISMATCH:     return "Package mismatch";
    case UPD_FUMO_VALIDATION_FAILED:    return "Failed package validation";
    case UPD_FUMO_NOT_ACCEPTABLE:       return "Package not acceptable";
    case UPD_FUMO_DL_AUTH_FAILED:       return "Alternate download authentication failure";
    case UPD_FUMO_DL_TIMEOUT:           return "Alternate download request time-out";
    case UPD_FUMO_NOT_IMPLEMENTED:      return "Not implemented";
    case UPD_FUMO_UNDEFINED:            return "Undefined error";
    case UPD_FUMO_UPDATE_FAILED:        return "Firmware update failed";
    case UPD_FUMO_BAD_URL:              return "Malformed or bad URL";
    case UPD_FUMO_DL_SERVER_UNAVAIL:    return "Alternate download server unavailable";
    case UPD_FUMO_DL_SERVER_ERROR:      return "Alternate download server error";
    case UPD_FUMO_DL_OUT_OF_MEMORY:     return "Download failed, device out of memory";
    case UPD_FUMO_UPDATE_OUT_OF_MEMORY: return "Update failed, device out of memory";
    case UPD_FUMO_DL_NETWORK:           return "Download failed, network issues";
    default:                            return NULL;
    }
}
