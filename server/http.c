/* libmicrohttpd glue: the DM endpoint, the download server, the status
 * endpoint. */
#define _GNU_SOURCE
#include "server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A SyncML message bigger than this is refused (413): our MaxMsgSize is far
 * smaller, so only a broken or hostile client sends one. */
#define DM_BODY_MAX (1u << 20)

struct srv_http {
    struct MHD_Daemon *d;
    srv_http_params p;
    unsigned port;
    atomic_uint traced;       /* DM messages traced so far */
};

/* Per-request state: a POST's body while it arrives. */
typedef struct {
    srv_buf body;
    int too_big;
} request_ctx;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type,
                             void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r)
        return MHD_NO;
    if (type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned code, const char *text)
{
    return reply(c, code, "text/plain", (void *)text, strlen(text), MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result serve_file(struct srv_http *h, struct MHD_Connection *c, const char *name)
{
    if (!h->p.pkg_dir || !srv_name_ok(name, SRV_TEXT_MAX))
        return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", h->p.pkg_dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0)
            close(fd);
        return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
    }
    uint64_t size = (uint64_t)sb.st_size;
    char etag[64], lm[64], cr[96];
    srv_etag(etag, size, (int64_t)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
    struct tm tm;
    gmtime_r(&sb.st_mtim.tv_sec, &tm);
    strftime(lm, sizeof lm, "%a, %d %b %Y %H:%M:%S GMT", &tm);

    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    const char *ifr = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_RANGE);
    srv_range rg = srv_range_parse(range, size);
    if (rg.kind != SRV_RANGE_NONE && !srv_if_range_ok(ifr, etag, (int64_t)sb.st_mtim.tv_sec))
        rg.kind = SRV_RANGE_NONE;       /* changed since: the whole new file */

    struct MHD_Response *r;
    unsigned code;
    if (rg.kind == SRV_RANGE_UNSATISFIABLE) {
        close(fd);
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
        code = MHD_HTTP_RANGE_NOT_SATISFIABLE;
    } else {
        uint64_t off = rg.kind == SRV_RANGE_OK ? rg.first : 0;
        uint64_t len = rg.kind == SRV_RANGE_OK ? rg.last - rg.first + 1 : size;
        /* the file's own descriptor: MHD sends it with sendfile() and closes it */
        r = MHD_create_response_from_fd_at_offset64(len, fd, off);
        if (!r)
            close(fd);
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)rg.first,
                 (unsigned long long)rg.last, (unsigned long long)size);
        code = rg.kind == SRV_RANGE_OK ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK;
    }
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, lm);
    if (code != MHD_HTTP_OK)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result serve_status(struct srv_http *h, struct MHD_Connection *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int rc = f ? srv_status_write(h->p.store, f, 1) : UPD_E_NOMEM;
    if (f && fclose(f) != 0 && !rc)
        rc = UPD_E_NOMEM;
    if (rc) {
        free(buf);
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "status unavailable\n");
    }
    return reply(c, MHD_HTTP_OK, "application/json", buf, len, MHD_RESPMEM_MUST_FREE);
}

/* Write one traced message (best effort: tracing never fails a request). */
static void trace(const struct srv_http *h, unsigned n, const char *dir_tag, const char *type,
                  const uint8_t *p, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%06u-%s.%s", h->p.trace_dir, n, dir_tag,
             strstr(type, "wbxml") ? "wbxml" : "xml");
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, len, f);
        fclose(f);
    }
}

static enum MHD_Result serve_dm(struct srv_http *h, struct MHD_Connection *c, request_ctx *pc)
{
    if (pc->too_big)
        return reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "message too large\n");
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
    srv_dm_request rq = { ct ? ct : "", NULL, pc->body.p, pc->body.n, NULL, 0, NULL, "" };
    rq.hmac = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-syncml-hmac");
    int code = h->p.dm(h->p.dm_user, &rq);
    if (h->p.trace_dir) {
        unsigned n = atomic_fetch_add(&h->traced, 1) + 1;
        trace(h, n, "in", rq.content_type, rq.body, rq.len);
        if (rq.reply)
            trace(h, n, "out", rq.reply_type, rq.reply, rq.reply_len);
    }
    if (!rq.reply)
        return reply_text(c, code > 0 ? (unsigned)code : 500, "");
    struct MHD_Response *r = MHD_create_response_from_buffer(rq.reply_len, rq.reply,
                                                             MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(rq.reply);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rq.reply_type);
    if (rq.reply_hmac[0])
        MHD_add_response_header(r, "x-syncml-hmac", rq.reply_hmac);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    struct srv_http *h = cls;
    int is_get = !strcmp(method, MHD_HTTP_METHOD_GET), is_head = !strcmp(method, MHD_HTTP_METHOD_HEAD);
    /* answer only once the whole request is in: a response queued on the
       first call (headers only) makes MHD close the connection after it */
    request_ctx *rq = *con_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq)))
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    int is_dm = !strcmp(method, MHD_HTTP_METHOD_POST) && !strcmp(url, "/dm") && h->p.dm;
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (!is_dm)
            return MHD_YES;    /* a body nobody asked for: read and dropped */
        if (rq->too_big || rq->body.n + n > DM_BODY_MAX) {
            rq->too_big = 1;   /* keep reading, answer 413 at the end */
            return MHD_YES;
        }
        return srv_buf_append(&rq->body, upload, n) ? MHD_NO : MHD_YES;
    }
    if (is_dm)
        return serve_dm(h, c, rq);
    if ((is_get || is_head) && !strncmp(url, "/pkg/", 5))
        return serve_file(h, c, url + 5);
    if (is_get && !strcmp(url, "/status.json") && h->p.store)
        return serve_status(h, c);
    if (!is_get && !is_head && strcmp(method, MHD_HTTP_METHOD_POST))
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    request_ctx *pc = *con_cls;
    if (pc) {
        free(pc->body.p);
        free(pc);
        *con_cls = NULL;
    }
}

int srv_http_start(srv_http **out, const srv_http_params *p)
{
    *out = NULL;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)p->port);
    if (p->port > 65535 || inet_pton(AF_INET, p->bind ? p->bind : "127.0.0.1", &sa.sin_addr) != 1)
        return UPD_E_INVAL;
    struct srv_http *h = calloc(1, sizeof *h);
    if (!h)
        return UPD_E_NOMEM;
    h->p = *p;
    unsigned threads = p->threads ? p->threads : 4;
    int tls = p->tls_cert || p->tls_key;
    if (tls && (!p->tls_cert || !p->tls_key)) {
        free(h);
        return UPD_E_INVAL;
    }
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        free(h);
        return UPD_E_NET_TLS;
    }
    struct MHD_OptionItem tls_opts[] = {
        { MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)p->tls_cert },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)p->tls_key },
        { MHD_OPTION_END, 0, NULL },
    };
    h->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | (tls ? MHD_USE_TLS : 0), 0, NULL, NULL,
                            on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_THREAD_POOL_SIZE, threads,
                            MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_ARRAY, tls ? tls_opts : tls_opts + 2,
                            MHD_OPTION_END);
    if (!h->d) {
        free(h);
        return UPD_E_IO_OPEN;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : p->port;
    *out = h;
    return 0;
}

unsigned srv_http_port(const srv_http *h)
{
    return h->port;
}

void srv_http_stop(srv_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
