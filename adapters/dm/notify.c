/* Notification package #0 (dm_notify.h): the bit-packed trigger header and
 * its digest. */
#define _POSIX_C_SOURCE 200809L   /* strnlen */
#include "dm_int.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include <updelta/dm_notify.h>

int upd_dm_notify_encode(const upd_dm_notify *n, const char *password, const void *nonce,
                         size_t nonce_len, uint8_t *out, size_t out_size)
{
    if (!n || !password || !out || n->version > 0x3FF || n->ui_mode > 3 || n->initiator > 1
        || n->session_id == 0 || (!n->vendor && n->vendor_len))
        return UPD_E_INVAL;
    size_t id_len = strnlen(n->server_id, sizeof n->server_id);
    if (id_len == 0 || id_len > UPD_DM_NOTIFY_MAX_SERVER_ID
        || n->vendor_len > (size_t)INT_MAX - 512 || out_size < UPD_DM_NOTIFY_HDR_LEN + id_len + n->vendor_len)
        return UPD_E_INVAL;
    uint64_t w = (uint64_t)n->version << 54 | (uint64_t)n->ui_mode << 52
                 | (uint64_t)n->initiator << 51 | (uint64_t)n->session_id << 8 | id_len;
    uint8_t *t = out + UPD_DM_NOTIFY_DIGEST_LEN;
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(w >> (56 - 8 * i));
    memcpy(t + 8, n->server_id, id_len);
    if (n->vendor_len)
        memcpy(t + 8 + id_len, n->vendor, n->vendor_len);
    size_t tlen = 8 + id_len + n->vendor_len;
    int rc = dm_digest(n->server_id, password, nonce, nonce_len, t, tlen, out);
    return rc < 0 ? rc : (int)(UPD_DM_NOTIFY_DIGEST_LEN + tlen);
}

int upd_dm_notify_decode(const void *buf, size_t len, upd_dm_notify *out)
{
    const uint8_t *p = buf;
    if (!p || !out)
        return UPD_E_INVAL;
    if (len < UPD_DM_NOTIFY_HDR_LEN)
        return UPD_E_DM_NOTIFY;
    uint64_t w = 0;
    for (int i = 0; i < 8; i++)
        w = w << 8 | p[UPD_DM_NOTIFY_DIGEST_LEN + i];
    unsigned version = (unsigned)(w >> 54) & 0x3FF;
    size_t id_len = w & 0xFF;
    uint16_t session = (uint16_t)(w >> 8);
    if ((version != 11 && version != 12) || (w >> 24 & 0x7FFFFFF) != 0 || session == 0
        || id_len == 0 || id_len > len - UPD_DM_NOTIFY_HDR_LEN)
        return UPD_E_DM_NOTIFY;
    const uint8_t *id = p + UPD_DM_NOTIFY_HDR_LEN;
    for (size_t i = 0; i < id_len; i++)
        if (id[i] < 0x20 || id[i] == 0x7F)
            return UPD_E_DM_NOTIFY;
    memset(out, 0, sizeof *out);
    out->version = version;
    out->ui_mode = (unsigned)(w >> 52) & 3;
    out->initiator = (unsigned)(w >> 51) & 1;
    out->session_id = session;
    memcpy(out->server_id, id, id_len);
    out->vendor_len = len - UPD_DM_NOTIFY_HDR_LEN - id_len;
    out->vendor = out->vendor_len ? id + id_len : NULL;
    return 0;
}

int upd_dm_notify_verify(const void *buf, size_t len, const char *server_id,
                         const char *password, const void *nonce, size_t nonce_len,
                         upd_dm_notify *out)
{
    if (!buf || !server_id || !password || (!nonce && nonce_len))
        return UPD_E_INVAL;
    upd_dm_notify n;
    if (upd_dm_notify_decode(buf, len, &n) < 0 || strcmp(n.server_id, server_id) != 0)
        return UPD_E_DM_NOTIFY;
    /* the stored nonce, then the reset nonces of the peers (the reference's
     * 2.2: AOSP's four zero bytes, libdmclient's text) */
    static const uint8_t zeros[4];
    const struct { const void *p; size_t n; } tries[] = {
        { nonce, nonce_len }, { zeros, sizeof zeros }, { "0x00000000", 10 },
    };
    const uint8_t *trigger = (const uint8_t *)buf + UPD_DM_NOTIFY_DIGEST_LEN;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        uint8_t d[16];
        int rc = dm_digest(server_id, password, tries[i].p, tries[i].n, trigger,
                           len - UPD_DM_NOTIFY_DIGEST_LEN, d);
        if (rc < 0)
            return rc;
        if (CRYPTO_memcmp(d, buf, 16) == 0) {
            if (out)
                *out = n;
            return i == 0 ? 0 : 1;
        }
    }
    return UPD_E_DM_NOTIFY;
}

int upd_dm_notify_session_text(uint16_t session_id, char out[5])
{
    if (!out || session_id == 0)
        return UPD_E_INVAL;
    return snprintf(out, 5, "%X", (unsigned)session_id);
}
