/* Private to adapters/dmclient: the session state shared by its files. */
#ifndef UPD_DMC_INT_H
#define UPD_DMC_INT_H

#include "updelta/dmclient.h"
#include "updelta/dm_auth.h"

#define DMC_CHECK(e) do { int rc_ = (e); if (rc_ < 0) return rc_; } while (0)

typedef struct {
    uint8_t *body;
    size_t len, cap;
    int http;
    char ctype[128];
    char hmac[512];
} dmc_reply;

/* POST LEN bytes of BODY with Content-Type CTYPE (and the x-syncml-hmac
 * value HMAC when not NULL) to URL, trusting CA_FILE (NULL: the system's
 * CAs) for https; *R gets the reply (free with dmc_reply_free).
 * Errors: UPD_E_NET_*, UPD_E_DM_LIMIT, UPD_E_NOMEM. */
int dmc_http_post(const char *url, const char *ctype, const uint8_t *body, size_t len,
                  const char *hmac, long timeout_ms, const char *ca_file, dmc_reply *r);
void dmc_reply_free(dmc_reply *r);

/* A large object being received (MoreData chunks of one item). */
typedef struct {
    char *uri;
    upd_dm_cmd_type cmd;
    int format;
    int64_t size;
    uint8_t *buf;
    size_t len, cap;
} dmc_large;

typedef struct {
    const upd_dmc_params *p;
    upd_tree *tree;
    upd_dmc_nonces *nonces;
    upd_dmc_stats st;
    dmc_large lo;
    uint32_t server_msg_id;     /* MsgID of the message being answered */
    int server_ok;              /* the server's Cred was accepted */
    uint8_t next_server_nonce[16];  /* in the Chal of the message being built: */
    int next_server_nonce_set;      /* it counts once that message is sent */
    int server_required;        /* the server must authenticate */
    int server_mac;             /* the last reply's x-syncml-hmac: 1 valid, -1 wrong, 0 none */
} dmc;

/* Execute the commands of IN (from the server) on the tree, appending the
 * Status (and Results) of each to OUT.  Errors: UPD_E_NOMEM. */
int dmc_run_commands(dmc *s, const upd_dm_msg *in, upd_dm_msg *out, int allowed, int deny_code);

/* Drop a half-received large object. */
void dmc_large_free(dmc *s);

/* Log one formatted line through the caller's log callback. */
void dmc_log(const dmc *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
