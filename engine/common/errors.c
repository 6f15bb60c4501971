/* Names and descriptions of every upd_err, in one table so a code and its
 * text cannot drift apart (tests check every code has both). */
#include "updelta/common.h"

#include <stddef.h>

typedef struct { int code; const char *name; const char *text; } err_row;

#define ROW(c, t) { c, #c, t }
static const err_row err_table[] = {
    ROW(UPD_OK,               "success"),
    ROW(UPD_E_INVAL,          "invalid argument"),
    ROW(UPD_E_NOMEM,          "out of memory"),
    ROW(UPD_E_LIMIT,          "input exceeds a configured limit (memory window or count)"),
    ROW(UPD_E_STATE,          "call not valid in the current state"),
    ROW(UPD_E_IO_OPEN,        "cannot open or stat the file or device"),
    ROW(UPD_E_IO_READ,        "read failed"),
    ROW(UPD_E_IO_WRITE,       "write failed"),
    ROW(UPD_E_IO_FLUSH,       "flush to stable storage failed (data state unknown; recover from the journal)"),
    ROW(UPD_E_IO_RESIZE,      "cannot resize the image (truncate failed or device too small)"),
    ROW(UPD_E_PKG_MAGIC,      "not an updelta package (bad magic)"),
    ROW(UPD_E_PKG_VERSION,    "unsupported package format version"),
    ROW(UPD_E_PKG_HEADER,     "malformed package header field"),
    ROW(UPD_E_PKG_MANIFEST,   "malformed package manifest entry"),
    ROW(UPD_E_PKG_DIGEST,     "package header/manifest digest mismatch (corrupt package)"),
    ROW(UPD_E_PKG_TRUNCATED,  "package is truncated"),
    ROW(UPD_E_PKG_TRAILING,   "unexpected bytes after the last segment"),
    ROW(UPD_E_SEG_DIGEST,     "segment digest mismatch (corrupt package)"),
    ROW(UPD_E_SEG_DECODE,     "segment does not decompress to its declared size"),
    ROW(UPD_E_PKG_SIGNATURE,  "package signature block malformed or signature invalid"),
    ROW(UPD_E_OP_DECODE,      "malformed operation encoding"),
    ROW(UPD_E_OP_BOUNDS,      "operation outside the image or stash bounds"),
    ROW(UPD_E_OP_STALE,       "operation reads image bytes already overwritten"),
    ROW(UPD_E_OP_STASH,       "stash operation saves bytes already saved"),
    ROW(UPD_E_OP_STREAM,      "operations do not consume the segment's payload exactly"),
    ROW(UPD_E_OP_DICT,        "literal dictionary outside the image, or overwritten after it was taken"),
    ROW(UPD_E_OP_DROP,        "drop operation after another kind of operation in its segment"),
    ROW(UPD_E_BASE_SIZE,      "base image size does not match the package"),
    ROW(UPD_E_BASE_HASH,      "base image hash does not match the package (wrong base image)"),
    ROW(UPD_E_RESULT_HASH,    "updated image hash does not match the package"),
    ROW(UPD_E_RESULT_SIZE,    "updated image size does not match the package"),
    ROW(UPD_E_DIFF_TOO_LARGE, "image too large for the generator"),
    ROW(UPD_E_COMPRESS,       "compression failed"),
    ROW(UPD_E_PLAN,           "in-place schedule failed its simulator check"),
    ROW(UPD_E_SIG_MISSING,    "package is not signed (unsigned packages need an explicit insecure mode)"),
    ROW(UPD_E_SIG_KEY_UNKNOWN, "package is signed by a key that is not trusted"),
    ROW(UPD_E_SIG_KEY_REVOKED, "package is signed by a revoked key"),
    ROW(UPD_E_KEY,            "key unreadable or not an Ed25519 key of the needed kind"),
    ROW(UPD_E_PKG_WRONG_ID,   "package is for another ROM package id (device mismatch)"),
    ROW(UPD_E_PKG_WRONG_FROM, "package is for another installed version"),
    ROW(UPD_E_PKG_ROLLBACK,   "package version is not newer than the installed one (rollback refused)"),
    ROW(UPD_E_PKG_CHANGED,    "package is not the one checked before (the file changed in between)"),
    ROW(UPD_E_JOURNAL,        "the journal cannot serve this run (made with other settings, or damaged)"),
    ROW(UPD_E_NET_URL,        "malformed URL or unsupported scheme"),
    ROW(UPD_E_NET_CONNECT,    "download server unreachable"),
    ROW(UPD_E_NET_TIMEOUT,    "download timed out (server stalled)"),
    ROW(UPD_E_NET_AUTH,       "download server refused authentication"),
    ROW(UPD_E_NET_NOT_FOUND,  "package not found on the download server"),
    ROW(UPD_E_NET_SERVER,     "download server error or malformed reply"),
    ROW(UPD_E_NET_TRANSFER,   "connection dropped and retries used up"),
    ROW(UPD_E_NET_TLS,        "TLS handshake or certificate check failed"),
    ROW(UPD_E_NET_TOO_LARGE,  "package larger than the configured maximum"),
    ROW(UPD_E_NO_SPACE,       "not enough free space for the download"),
    ROW(UPD_E_DM_PARSE,       "malformed DM message (XML, WBXML or SyncML structure)"),
    ROW(UPD_E_DM_LIMIT,       "DM message exceeds a size, depth or count limit"),
    ROW(UPD_E_DM_AUTH,        "DM authentication failed"),
    ROW(UPD_E_DM_NOTIFY,      "bad notification (package #0)"),
    ROW(UPD_E_DM_PROTOCOL,    "DM session protocol violation"),
    ROW(UPD_E_DM_NODE,        "management tree: no such node or command not allowed"),
    ROW(UPD_E_INTERNAL,       "internal error (a bug)"),
};
#undef ROW

static const err_row *err_find(int code)
{
    for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
        if (err_table[i].code == code)
            return &err_table[i];
    return NULL;
}

const char *upd_strerror(int code)
{
    const err_row *r = err_find(code);
    return r ? r->text : "unknown error";
}

const char *upd_errname(int code)
{
    const err_row *r = err_find(code);
    return r ? r->name : "UPD_E_UNKNOWN";
}

unsigned upd_version_number(void) { return UPD_VERSION_NUMBER; }

const char *upd_version_string(void) { return UPD_VERSION_STRING; }
