/*
 * updelta: the device's OMA DM 1.2 client session engine.
 *
 * One call runs one management session against the server (HTTP POST with
 * libcurl, XML or WBXML through the dm codec, dm.h) and executes the
 * server's commands on the device's management tree (tree.h):
 *
 *   Pkg #1   SyncHdr (+Cred), Alert 1201 (client-initiated) or 1200 with
 *            the session id of package #0 (server-initiated), Replace of
 *            ./DevInfo/{DevId,Man,Mod,DmV,Lang}, the pending generic alerts
 *            (1226), Final.
 *   Pkg #2/4 from the server: Status of our SyncHdr and commands, then
 *            Get / Replace / Add / Delete / Exec / Sequence (in order).
 *   Pkg #3   Status for the SyncHdr and every command, Results after each
 *            Get's Status; repeated until the server sends nothing to do.
 *
 * Also: a challenge (401/407 + Chal) makes the client re-send Pkg #1 with
 * credentials for the new nonce (at most twice); auth-basic and auth-md5
 * client credentials; the HMAC-MD5 integrity header (x-syncml-hmac) on
 * every request; the device authenticates the server (auth-md5 Cred in
 * the server's SyncHdr, checked with the server credentials and the nonce
 * this device issued; a new server nonce in a Chal in every message: nonce
 * rotation); multi-message packages in both directions (a server message
 * without Final is answered with Alert 1222; a response larger than the
 * server's MaxMsgSize is split between commands and the rest sent when the
 * server asks with 1222); Alert 1223 aborts; large objects (MoreData chunks
 * answered 213, assembled, size checked, 424 on mismatch, Alert 1225 when
 * another command interrupts them).
 *
 * A server that fails to authenticate gets 401/407 (with a new nonce in a
 * Chal) on its SyncHdr and on every command, none of which runs, and its
 * acknowledgements of our alerts do not count.
 *
 * Nonces live in upd_dmc_nonces, owned by the caller, which persists them
 * between sessions (the engine updates them in place; a nonce counts once
 * the message carrying it was sent).
 * Errors: UPD_E_DM_AUTH (our credentials refused after the retries),
 * UPD_E_DM_PROTOCOL (the server broke the protocol: HTTP status other than
 * 200, a media type that is not SyncML DM, MsgID 0 or another SessionID,
 * more than 4096 messages in one session), UPD_E_DM_PARSE / UPD_E_DM_LIMIT
 * (codec; also an answer that needs more than 64 messages to fit the
 * server's MaxMsgSize), UPD_E_NET_* (HTTP transport: connect, timeout, TLS),
 * UPD_E_NOMEM, UPD_E_INVAL.
 * The engine never prints; LOG (optional) gets one line per step.
 */
#ifndef UPDELTA_DMCLIENT_H
#define UPDELTA_DMCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"
#include "dm.h"
#include "tree.h"

#define UPD_DMC_NONCE_MAX 64

/* The nonces of one server account, raw bytes. */
typedef struct {
    uint8_t client[UPD_DMC_NONCE_MAX];  /* issued by the server; our auth-md5 and HMAC use it */
    size_t client_len;
    uint8_t server[UPD_DMC_NONCE_MAX];  /* issued by us; the server's Cred and package #0 use it */
    size_t server_len;
    /* a server nonce sent in a message whose reply never came: the server
     * may have stored it (and uses it from then on) or not; checks that
     * fail with SERVER try it, and a match makes it SERVER */
    uint8_t server_unsure[UPD_DMC_NONCE_MAX];
    size_t server_unsure_len;
} upd_dmc_nonces;

typedef void (*upd_dmc_log_fn)(void *user, const char *line);

typedef struct {
    const char *server_url;     /* where Pkg #1 goes (later: the RespURI) */
    const char *server_id;      /* the server's id (SRVCRED user) */
    const char *server_pass;    /* SRVCRED secret; NULL: the server is not authenticated */
    const char *user;           /* CLCRED user; NULL: no client credentials */
    const char *pass;           /* CLCRED secret */
    const char *auth;           /* UPD_DM_AUTH_BASIC or UPD_DM_AUTH_MD5 (NULL: md5) */
    int hmac;                   /* 1: x-syncml-hmac on every request */
    upd_dm_encoding enc;        /* 0: XML */
    uint32_t max_msg_size;      /* what we accept, sent in SyncHdr Meta; 0: 65536 */
    long timeout_ms;            /* per HTTP request; 0: 30000 */
    const char *ca_file;        /* PEM CA bundle for an https server_url; NULL: the
                                   system's (verification is never off) */
    upd_dmc_log_fn log;
    void *log_user;
} upd_dmc_params;

/* A generic alert (1226) to send in Pkg #1. */
typedef struct {
    const char *source;         /* Item/Source/LocURI: the node that was Exec'd */
    const char *type;           /* Item/Meta/Type */
    const char *mark;           /* Item/Meta/Mark, NULL for none */
    const char *correlator;     /* NULL when none */
    int result;                 /* Item/Data (Meta/Format int) */
    int acked;                  /* out: 1 when the server answered 200 or 202 */
} upd_dmc_alert;

typedef struct {
    unsigned messages_sent;
    unsigned commands_run;      /* server commands executed */
    int server_authenticated;   /* 1 when the server's Cred was checked */
    int aborted;                /* 1 when the server sent Alert 1223 */
} upd_dmc_stats;

/* Make N's unsure server nonce the stored one, once the server proved it
 * holds it (a Cred, an HMAC or a package #0 digest that verified with it;
 * upd_dmc_session does this itself for the first two).  Cannot fail. */
UPD_API void upd_dmc_nonces_sure(upd_dmc_nonces *n);

/* Run one session.  SESSION_ID: the 16-bit id from package #0 (answering
 * with Alert 1200), or 0 for a client-initiated session (1201).  ALERTS
 * (N_ALERTS, may be 0) go in Pkg #1; their acked fields are set.  NONCES
 * (required) are read and updated.  ST optional.  The tree's hooks run
 * inside this call (an Exec that starts work returns 202 at once).
 * Returns 0 when the session ended normally (also after an abort by the
 * server).  Errors: see above. */
UPD_API int upd_dmc_session(const upd_dmc_params *p, upd_tree *tree, uint16_t session_id,
                            upd_dmc_alert *alerts, size_t n_alerts, upd_dmc_nonces *nonces,
                            upd_dmc_stats *st);

#endif /* UPDELTA_DMCLIENT_H */
