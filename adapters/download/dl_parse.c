/* HTTP header parsing, retry delays and error mapping for the download agent. */
#include "dl_internal.h"

#include <curl/curl.h>
#include <string.h>
#include <strings.h>

static const char *skip_sp(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Decimal number at *P (no sign), advanced past it; -1 when none or overflow. */
static int parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
    }
    if (s == *p)
        return -1;
    *p = s;
    *out = v;
    return 0;
}

int dl_parse_content_range(const char *v, size_t len, dl_range *r)
{
    const char *end = v + len;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    const char *p = skip_sp(v, end);
    if (end - p < 5 || strncasecmp(p, "bytes", 5) != 0)
        return -1;
    p = skip_sp(p + 5, end);
    if (p < end && *p == '=')
        p = skip_sp(p + 1, end);
    if (parse_u64(&p, end, &r->first) < 0)
        return -1;
    p = skip_sp(p, end);
    if (p == end || *p++ != '-')
        return -1;
    p = skip_sp(p, end);
    if (parse_u64(&p, end, &r->last) < 0 || r->last < r->first)
        return -1;
    p = skip_sp(p, end);
    if (p == end || *p++ != '/')
        return -1;
    p = skip_sp(p, end);
    if (p < end && *p == '*') {
        r->total = 0;
        p++;
    } else if (parse_u64(&p, end, &r->total) < 0 || r->last >= r->total) {
        return -1;
    }
    return skip_sp(p, end) == end ? 0 : -1;
}

int dl_header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return 0;
    const char *end = line + len;
    while (end > line + n + 1 && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
                                  end[-1] == '\t'))
        end--;
    const char *p = skip_sp(line + n + 1, end);
    size_t vlen = (size_t)(end - p);
    if (vlen >= cap)
        return 0;
    memcpy(out, p, vlen);
    out[vlen] = 0;
    return 1;
}

unsigned dl_backoff_ms(unsigned attempt, unsigned base, unsigned cap, uint32_t rnd)
{
    uint64_t d = base;
    for (unsigned i = 1; i < attempt && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    uint64_t half = d / 2;
    return (unsigned)(d - half + rnd % (half + 1));
}

int dl_map_curl(int curl_code)
{
    switch ((CURLcode)curl_code) {
    case CURLE_OK:
        return 0;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return UPD_E_NET_URL;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        return UPD_E_NET_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return UPD_E_NET_TIMEOUT;
    case CURLE_LOGIN_DENIED:
        return UPD_E_NET_AUTH;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
        return UPD_E_NET_TLS;
    case CURLE_OUT_OF_MEMORY:
        return UPD_E_NOMEM;
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_RANGE_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return UPD_E_NET_SERVER;
    default:
        /* 18 partial file, 52 got nothing, 55/56 send/recv, and the rest:
         * the connection failed mid-way */
        return UPD_E_NET_TRANSFER;
    }
}

int dl_map_http(long status)
{
    if (status == 200 || status == 206)
        return 0;
    if (status == 401 || status == 403 || status == 407)
        return UPD_E_NET_AUTH;
    if (status == 404 || status == 410)
        return UPD_E_NET_NOT_FOUND;
    return UPD_E_NET_SERVER;
}

int dl_retryable(int code)
{
    return code == UPD_E_NET_CONNECT || code == UPD_E_NET_TIMEOUT ||
           code == UPD_E_NET_SERVER || code == UPD_E_NET_TRANSFER;
}
