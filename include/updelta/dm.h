/*
 * updelta: OMA DM (SyncML DM 1.2) message codec.
 *
 * changes (additive only; newest last):
 *   - docs: the "bin" rule also applies when only the command's Meta has
 *     Format bin; WBXML limits spelled out (below).
 *   - docs: the parser keeps only the fields a command type uses (table
 *     above upd_dm_cmd); upd_dm_write refuses a header without VerDTD,
 *     VerProto, SessionID, Target or Source LocURI; blanks around every
 *     value except Item Data are trimmed when parsing.
 *
 * One message model (upd_dm_msg) read from and written to both encodings a
 * DM peer uses: XML (application/vnd.syncml.dm+xml, parsed with expat) and
 * WBXML (application/vnd.syncml.dm+wbxml, SyncML 1.2 public id 0x1201,
 * converted with libwbxml2).  The DS media types some peers send
 * (application/vnd.syncml+xml / +wbxml) are accepted as the same encodings.
 * This layer only encodes and decodes: the session state machine, the
 * management tree and FUMO live above it.  Authentication helpers are in
 * dm_auth.h, notification package #0 in dm_notify.h.
 *
 * Tiers:
 *   simple    upd_dm_parse() / upd_dm_write() on a whole message buffer;
 *   building  upd_dm_msg_new(), upd_dm_cmd_add(), upd_dm_item_add(),
 *             upd_dm_status_add() ... to compose a message;
 *   limits    upd_dm_limits to bound what the parser accepts.
 *
 * Parsing is lenient where peers differ (child element order, namespace
 * prefixes and xmlns on MetInf children, CDATA or escaped text, blanks
 * around values other than Item Data, unknown elements are skipped) and
 * strict on resources: the input size, element depth, command and item
 * counts and every text value are capped, and a DOCTYPE internal subset or
 * entity declaration is rejected outright (no entity expansion).
 *
 * Ownership: a message owns one arena.  Every string, item, command, Cred
 * and Chal reached from an upd_dm_msg made by upd_dm_parse() lives in that
 * arena and is freed by upd_dm_msg_free().  When building, the string
 * fields may point either into the arena (upd_dm_strdup(), upd_dm_memdup())
 * or to storage that outlives the message (string literals, the caller's
 * buffers); the library never frees a field on its own.  A message is not
 * thread-safe; distinct messages may be used from distinct threads.
 *
 * WBXML goes through libwbxml's XML conversion, which writes strings and
 * opaque data raw: over WBXML a CR in a value arrives as LF, a value with
 * bytes that are not UTF-8 is refused (UPD_E_DM_PARSE), and one holding
 * "]]>" can end libwbxml's CDATA early (refused, or read as markup: a
 * sender can only confuse its own message).
 * Binary Data (Format bin) therefore travels base64-encoded in WBXML too,
 * as in XML; a peer that sends raw binary opaque data is refused.  The
 * WBXML token stream is checked (lengths, depth, element count, no
 * attributes) before libwbxml sees it.
 *
 * Errors: UPD_E_DM_PARSE (not well-formed XML/WBXML, not SyncML, a required
 * element missing, a number that is not a number), UPD_E_DM_LIMIT (a limit
 * in upd_dm_limits exceeded, or a DOCTYPE/entity declaration), UPD_E_INVAL,
 * UPD_E_NOMEM.  Parse functions can also fill a short English reason.
 */
#ifndef UPDELTA_DM_H
#define UPDELTA_DM_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* ---- media types --------------------------------------------------------- */

#define UPD_DM_MIME_XML      "application/vnd.syncml.dm+xml"
#define UPD_DM_MIME_WBXML    "application/vnd.syncml.dm+wbxml"
#define UPD_DM_MIME_DS_XML   "application/vnd.syncml+xml"    /* accepted, never sent */
#define UPD_DM_MIME_DS_WBXML "application/vnd.syncml+wbxml"  /* accepted, never sent */

typedef enum {
    UPD_DM_XML   = 1,
    UPD_DM_WBXML = 2
} upd_dm_encoding;

/* The encoding named by an HTTP Content-Type value: one of the four types
 * above, case-insensitive, parameters (";charset=UTF-8") and surrounding
 * blanks ignored.  Returns UPD_DM_XML or UPD_DM_WBXML, or 0 when CT is NULL
 * or another type (the caller answers 415). */
UPD_API int upd_dm_media_encoding(const char *ct);

/* The Content-Type to send for ENC (the DM types); NULL for a bad ENC. */
UPD_API const char *upd_dm_media_type(upd_dm_encoding enc);

/* ---- message model ------------------------------------------------------- */

/* An absent integer field is -1 (UPD_DM_ABSENT); an absent string is NULL. */
#define UPD_DM_ABSENT (-1)

/* MetInf values.  In SyncHdr only max_msg_size/max_obj_size are used; in a
 * Chal only type/format/next_nonce; in an Item or command type/format/size/
 * mark.  next_nonce is the text as sent (base64 when format is "b64"). */
typedef struct {
    const char *type;        /* Meta/Type, e.g. "text/plain", "syncml:auth-md5",
                                "org.openmobilealliance.dm.firmwareupdate.downloadandupdate" */
    const char *format;      /* Meta/Format: "chr", "int", "bin", "b64", "node", ... */
    const char *mark;        /* Meta/Mark (generic alert severity) */
    const char *next_nonce;  /* Meta/NextNonce */
    int64_t size;            /* Meta/Size, UPD_DM_ABSENT when not sent */
    int64_t max_msg_size;    /* Meta/MaxMsgSize, UPD_DM_ABSENT when not sent */
    int64_t max_obj_size;    /* Meta/MaxObjSize, UPD_DM_ABSENT when not sent */
} upd_dm_meta;

/* Cred (SyncHdr only): meta.type is the scheme ("syncml:auth-basic",
 * "syncml:auth-md5"), meta.format usually "b64", data the credential text. */
typedef struct {
    upd_dm_meta meta;
    const char *data;
} upd_dm_cred;

/* One Item.  DATA holds the value bytes, DATA_LEN of them; data == NULL
 * means no Data element.  When the item's meta.format (or, if the item has
 * none, its command's meta.format) is "bin" the encoded form carries the
 * bytes base64-encoded and the model holds the decoded bytes; every other
 * format is text carried as is (escaped in XML) and must be valid UTF-8
 * without control characters other than tab, LF and CR.  Parsed data is always
 * followed by a NUL byte (not counted), so text can be used as a C string. */
typedef struct upd_dm_item {
    const char *target;       /* Target/LocURI */
    const char *target_name;  /* Target/LocName */
    const char *source;       /* Source/LocURI */
    const char *source_name;  /* Source/LocName */
    upd_dm_meta meta;
    const uint8_t *data;
    size_t data_len;
    int more_data;            /* MoreData: a large-object chunk follows */
    struct upd_dm_item *next;
} upd_dm_item;

typedef enum {
    UPD_DM_CMD_ALERT = 1,
    UPD_DM_CMD_STATUS,
    UPD_DM_CMD_RESULTS,
    UPD_DM_CMD_GET,
    UPD_DM_CMD_REPLACE,
    UPD_DM_CMD_ADD,
    UPD_DM_CMD_DELETE,
    UPD_DM_CMD_EXEC,
    UPD_DM_CMD_COPY,
    UPD_DM_CMD_SEQUENCE,
    UPD_DM_CMD_ATOMIC
} upd_dm_cmd_type;

/* The SyncML element name of T ("Alert", "Status", ...), NULL if unknown. */
UPD_API const char *upd_dm_cmd_name(upd_dm_cmd_type t);

/* Well-known Alert codes (RepPro 4.2). */
enum {
    UPD_DM_ALERT_DISPLAY        = 1100,
    UPD_DM_ALERT_CONFIRM        = 1101,
    UPD_DM_ALERT_SERVER_INIT    = 1200,
    UPD_DM_ALERT_CLIENT_INIT    = 1201,
    UPD_DM_ALERT_NEXT_MESSAGE   = 1222,
    UPD_DM_ALERT_SESSION_ABORT  = 1223,
    UPD_DM_ALERT_NO_END_OF_DATA = 1225,
    UPD_DM_ALERT_GENERIC        = 1226
};

/* One command of the SyncBody.  Which fields a type uses:
 *   all       cmd_id, no_resp, items
 *   Alert     code (the Alert code from Data), correlator, items
 *   Status    msg_ref, cmd_ref (0 = the SyncHdr), cmd_name ("SyncHdr",
 *             "Alert", ...), target_ref, source_ref, chal, code (the status
 *             from Data), items
 *   Results   msg_ref, cmd_ref, meta, target_ref, source_ref, items
 *   Get/Replace/Add/Delete/Copy   meta, items
 *   Exec      meta, correlator, items (Target/LocURI; optional Data argument)
 *   Sequence/Atomic   meta, children (nested commands, in order)
 * The parser skips child elements a type does not use (Meta in an Alert,
 * Data in a Get...), so what it fills is what upd_dm_write() writes.
 * Only the first TargetRef/SourceRef of a Status is kept. */
typedef struct upd_dm_cmd {
    upd_dm_cmd_type type;
    uint32_t cmd_id;
    int no_resp;
    upd_dm_meta meta;
    int code;                   /* Alert / Status Data; 0 when absent */
    const char *correlator;     /* Alert, Exec */
    int64_t msg_ref;            /* Status, Results; UPD_DM_ABSENT when not sent */
    int64_t cmd_ref;            /* Status, Results; UPD_DM_ABSENT when not sent */
    const char *cmd_name;       /* Status: Cmd */
    const char *target_ref;
    const char *source_ref;
    upd_dm_meta *chal;          /* Status: Chal, NULL when absent */
    upd_dm_item *items;         /* list in document order */
    struct upd_dm_cmd *children;/* Sequence, Atomic */
    struct upd_dm_cmd *next;
} upd_dm_cmd;

typedef struct {
    const char *ver_dtd;        /* "1.2" */
    const char *ver_proto;      /* "DM/1.2" */
    const char *session_id;     /* text: hex from package #0, or the client's choice */
    uint32_t msg_id;
    const char *target;         /* Target/LocURI: server URI or DevId */
    const char *target_name;    /* Target/LocName */
    const char *source;         /* Source/LocURI */
    const char *source_name;    /* Source/LocName: the user id for auth-md5 */
    const char *resp_uri;       /* RespURI (server -> client) */
    int no_resp;
    upd_dm_cred *cred;          /* NULL when absent */
    upd_dm_meta meta;           /* MaxMsgSize, MaxObjSize */
} upd_dm_hdr;

struct upd_dm_arena;            /* private */

typedef struct {
    upd_dm_hdr hdr;
    upd_dm_cmd *cmds;           /* SyncBody commands in document order */
    int final;                  /* Final present: last message of the package */
    struct upd_dm_arena *arena; /* private: owns the storage */
    uint32_t next_cmd_id;       /* private: next id upd_dm_cmd_add() assigns */
} upd_dm_msg;

/* ---- building ------------------------------------------------------------ */

/* A new empty message: VerDTD "1.2", VerProto "DM/1.2", msg_id 1, no
 * commands, every integer field UPD_DM_ABSENT.  Free with upd_dm_msg_free().
 * Returns NULL when out of memory. */
UPD_API upd_dm_msg *upd_dm_msg_new(void);

/* Frees M and everything in its arena.  NULL is a no-op. */
UPD_API void upd_dm_msg_free(upd_dm_msg *m);

/* A copy of S (NUL-terminated) / of N bytes at P (plus a NUL) in M's arena,
 * freed with M.  NULL when out of memory (or S is NULL). */
UPD_API char *upd_dm_strdup(upd_dm_msg *m, const char *s);
UPD_API void *upd_dm_memdup(upd_dm_msg *m, const void *p, size_t n);

/* Sets every integer field of META to UPD_DM_ABSENT and every string to
 * NULL. */
UPD_API void upd_dm_meta_init(upd_dm_meta *meta);

/* Appends a zeroed command of type T to PARENT's children (a Sequence or
 * Atomic) or, when PARENT is NULL, to the SyncBody.  cmd_id is assigned from
 * a per-message counter (1, 2, 3, ... in creation order; the caller may
 * overwrite it); msg_ref, cmd_ref and the meta integers start UPD_DM_ABSENT.
 * Returns NULL when out of memory or PARENT is not a Sequence/Atomic. */
UPD_API upd_dm_cmd *upd_dm_cmd_add(upd_dm_msg *m, upd_dm_cmd *parent, upd_dm_cmd_type t);

/* Appends an empty item (meta integers UPD_DM_ABSENT) to C.  NULL when out
 * of memory. */
UPD_API upd_dm_item *upd_dm_item_add(upd_dm_msg *m, upd_dm_cmd *c);

/* Copies N bytes at DATA into M's arena as ITEM's Data.  UPD_E_NOMEM. */
UPD_API int upd_dm_item_set_data(upd_dm_msg *m, upd_dm_item *item, const void *data, size_t n);

/* Gives C (a Status) a Chal, meta integers UPD_DM_ABSENT, and returns it;
 * NULL when out of memory or C is not a Status. */
UPD_API upd_dm_meta *upd_dm_status_chal(upd_dm_msg *m, upd_dm_cmd *c);

/* Gives M's SyncHdr an empty Cred and returns it; NULL when out of memory. */
UPD_API upd_dm_cred *upd_dm_hdr_cred(upd_dm_msg *m);

/* Convenience: appends a Status to the SyncBody answering command CMD_REF
 * (0 for the SyncHdr) named CMD_NAME of message MSG_REF with CODE.  The
 * strings are not copied.  NULL when out of memory. */
UPD_API upd_dm_cmd *upd_dm_status_add(upd_dm_msg *m, uint32_t msg_ref, uint32_t cmd_ref,
                                      const char *cmd_name, int code);

/* Convenience: appends an Alert with CODE to the SyncBody.  NULL when out
 * of memory. */
UPD_API upd_dm_cmd *upd_dm_alert_add(upd_dm_msg *m, int code);

/* Number of commands in LIST (top level only). */
UPD_API size_t upd_dm_cmd_count(const upd_dm_cmd *list);

/* ---- limits -------------------------------------------------------------- */

typedef struct {
    size_t max_msg_bytes;    /* encoded input size (and decoded XML size for WBXML) */
    unsigned max_depth;      /* element nesting depth */
    unsigned max_cmds;       /* commands in a message, nested ones included */
    unsigned max_items;      /* items in a message */
    size_t max_value_bytes;  /* one text value (Data, LocURI, ...) */
} upd_dm_limits;

/* The defaults: 1 MiB message, depth 32, 1024 commands, 4096 items, 512 KiB
 * per value.  For WBXML, max_msg_bytes bounds the WBXML input; the XML
 * libwbxml makes of it may be up to 8 times that, and a value twice
 * max_value_bytes (opaque data becomes base64); the element count is
 * bounded by 16 x (max_cmds + max_items). */
UPD_API void upd_dm_limits_default(upd_dm_limits *lim);

/* ---- codec --------------------------------------------------------------- */

/* Parses the LEN bytes at BUF, encoded as ENC, into a new message stored at
 * *OUT (free with upd_dm_msg_free()).  LIM NULL means the defaults.  WHY,
 * when not NULL, receives a short reason on failure (NUL-terminated, at
 * most WHY_LEN bytes).  *OUT is NULL on failure; nothing leaks.
 * WBXML goes through libwbxml's XML conversion, which writes strings and
 * opaque data raw: over WBXML a CR in a value arrives as LF, a value with
 * bytes that are not UTF-8 is refused (UPD_E_DM_PARSE), and one holding
 * "]]>" can end libwbxml's CDATA early (refused, or read as markup: a
 * sender can only confuse its own message).
 * Binary Data (Format bin) therefore travels base64-encoded in WBXML too,
 * as in XML; a peer that sends raw binary opaque data is refused.  The
 * WBXML token stream is checked (lengths, depth, element count, no
 * attributes) before libwbxml sees it.
 *
 * Errors: UPD_E_DM_PARSE, UPD_E_DM_LIMIT, UPD_E_INVAL (NULL args, bad ENC),
 * UPD_E_NOMEM. */
UPD_API int upd_dm_parse(const void *buf, size_t len, upd_dm_encoding enc,
                         const upd_dm_limits *lim, upd_dm_msg **out,
                         char *why, size_t why_len);

/* Encodes M as ENC into a malloc()ed buffer stored at *OUT (caller free()s
 * it) of *OUT_LEN bytes.  XML output is compact, UTF-8, with the xmlns
 * attributes of SyncML 1.2 and MetInf; WBXML is version 1.2, public id
 * 0x1201, UTF-8, no string table.  Errors: UPD_E_INVAL (NULL args, bad ENC,
 * VerDTD, VerProto, SessionID, Target or Source LocURI missing, a command of unknown type or with cmd_id 0, children under a command
 * that is not a Sequence/Atomic, nesting deeper than 8, text that is not
 * valid UTF-8 XML characters), UPD_E_NOMEM, UPD_E_DM_LIMIT (the libwbxml
 * conversion failed). */
UPD_API int upd_dm_write(const upd_dm_msg *m, upd_dm_encoding enc,
                         uint8_t **out, size_t *out_len);

#endif /* UPDELTA_DM_H */
