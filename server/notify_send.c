/* Package #0: the server-initiated session trigger, sent over UDP (the
 * loopback stand-in for the WAP push an SMS carries). */
#define _POSIX_C_SOURCE 200809L
#include "server.h"

#include <netdb.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <updelta/dm_notify.h>

/* Send LEN bytes at P to "HOST:PORT". */
static int udp_send(const char *addr, const uint8_t *p, size_t len)
{
    char host[SRV_TEXT_MAX + 1];
    snprintf(host, sizeof host, "%s", addr);
    char *colon = strrchr(host, ':');
    if (!colon || !colon[1])
        return UPD_E_INVAL;
    *colon = 0;
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
        return UPD_E_NET_CONNECT;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    int rc = fd >= 0 && sendto(fd, p, len, 0, ai->ai_addr, ai->ai_addrlen) == (ssize_t)len
             ? 0 : UPD_E_NET_CONNECT;
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return rc;
}

int srv_notify_send(srv_store *st, const char *server_id, const char *dev_id, unsigned ui_mode,
                    uint16_t *session_id)
{
    srv_device d;
    int rc = srv_device_get(st, dev_id, &d);
    if (rc <= 0)
        return rc < 0 ? rc : UPD_E_INVAL;
    if (!d.notify[0] || strlen(server_id) > UPD_DM_NOTIFY_MAX_SERVER_ID)
        return UPD_E_INVAL;
    upd_dm_notify n;
    memset(&n, 0, sizeof n);
    n.version = UPD_DM_NOTIFY_VERSION;
    n.ui_mode = ui_mode;
    n.initiator = 1;
    /* a fresh id per session (1..0xFFFF): a repeated one starts no new session */
    do {
        if (getrandom(&n.session_id, sizeof n.session_id, 0) != (ssize_t)sizeof n.session_id)
            return UPD_E_INTERNAL;
    } while (n.session_id == 0);
    memcpy(n.server_id, server_id, strlen(server_id) + 1);
    uint8_t nonce[SRV_NONCE_MAX];
    int nl = srv_nonce_get(st, d.id, SRV_NONCE_SERVER, nonce);
    if (nl < 0)
        return nl;
    uint8_t pkg[UPD_DM_NOTIFY_HDR_LEN + UPD_DM_NOTIFY_MAX_SERVER_ID];
    int len = upd_dm_notify_encode(&n, d.server_secret, nonce, (size_t)nl, pkg, sizeof pkg);
    if (len < 0)
        return len;
    rc = udp_send(d.notify, pkg, (size_t)len);
    char sid[5], text[SRV_TEXT_MAX + 1];
    upd_dm_notify_session_text(n.session_id, sid);
    snprintf(text, sizeof text, "package #0 to %.100s: session %s, ui mode %u, %d bytes%s", d.notify,
             sid, ui_mode, len, rc ? ": send failed" : "");
    int erc = srv_event(st, d.id, 0, "notify", text);
    if (!rc && session_id)
        *session_id = n.session_id;
    return rc ? rc : erc;
}
