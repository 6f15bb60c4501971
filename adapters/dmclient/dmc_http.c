/* One DM message over HTTP: POST with libcurl, collect the reply body and
 * the headers the session needs (Content-Type, x-syncml-hmac). */
#define _POSIX_C_SOURCE 200809L
#include "dmc_int.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DMC_REPLY_MAX (8u << 20)   /* more than any MaxMsgSize we announce */

static size_t on_body(char *p, size_t sz, size_t n, void *user)
{
    dmc_reply *r = user;
    size_t len = sz * n;
    if (len > DMC_REPLY_MAX - r->len)
        return 0;   /* aborts the transfer */
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 16384;
        while (cap < r->len + len + 1)
            cap *= 2;
        uint8_t *b = realloc(r->body, cap);
        if (!b)
            return 0;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, p, len);
    r->len += len;
    r->body[r->len] = 0;
    return len;
}

/* Copy the value of header NAME from LINE (N bytes) into OUT. */
static void take_header(const char *line, size_t n, const char *name, char *out, size_t out_size)
{
    size_t nl = strlen(name);
    if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    const char *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
        e--;
    size_t vl = (size_t)(e - v) < out_size - 1 ? (size_t)(e - v) : out_size - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t n, void *user)
{
    dmc_reply *r = user;
    take_header(p, sz * n, "Content-Type", r->ctype, sizeof r->ctype);
    take_header(p, sz * n, UPD_DM_HMAC_HEADER, r->hmac, sizeof r->hmac);
    return sz * n;
}

static int curl_err(CURLcode c)
{
    switch (c) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:     return UPD_E_NET_URL;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:   return UPD_E_NET_CONNECT;
    case CURLE_OPERATION_TIMEDOUT: return UPD_E_NET_TIMEOUT;
    case CURLE_OUT_OF_MEMORY:     return UPD_E_NOMEM;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION: return UPD_E_NET_TLS;
    case CURLE_WRITE_ERROR:       return UPD_E_DM_LIMIT;   /* reply too large */
    default:                      return UPD_E_NET_TRANSFER;
    }
}

int dmc_http_post(const char *url, const char *ctype, const uint8_t *body, size_t len,
                  const char *hmac, long timeout_ms, const char *ca_file, dmc_reply *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    if (!c)
        return UPD_E_NOMEM;
    char ct[128], hm[512];
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
    struct curl_slist *h = curl_slist_append(NULL, ct);
    struct curl_slist *h2 = h ? curl_slist_append(h, "Accept: " UPD_DM_MIME_XML ", " UPD_DM_MIME_WBXML) : NULL;
    if (h2 && hmac) {
        snprintf(hm, sizeof hm, "%s: %s", UPD_DM_HMAC_HEADER, hmac);
        h2 = curl_slist_append(h2, hm);
    }
    if (!h2) {
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        return UPD_E_NOMEM;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h2);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h2);
    curl_easy_cleanup(c);
    r->http = (int)code;
    if (cc != CURLE_OK) {
        dmc_reply_free(r);
        return curl_err(cc);
    }
    return 0;
}

void dmc_reply_free(dmc_reply *r)
{
    free(r->body);
    r->body = NULL;
    r->len = r->cap = 0;
}
