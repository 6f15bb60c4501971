/* The download agent: one retry loop over libcurl transfers, with two
 * sinks: a partial file made durable with its state (upd_download_file) or
 * an applier fed as bytes arrive (upd_download_stream). */
#define _GNU_SOURCE
#include "dl_internal.h"
#include "afile.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* fdatasync + state save after this many bytes or seconds: what a killed
 * process loses, against one flush per checkpoint */
#define CHECKPOINT_BYTES (4u << 20)
#define CHECKPOINT_SECS  0.25
#define MAX_RESTARTS     4            /* restarts from byte 0 within one call */
#define JUMP_MIN         (256u << 10) /* smaller gaps are received, not skipped by Range */

/* Callback outcomes that end a transfer without being a failure. */
enum { DL_RESTART = 1, DL_JUMP = 2 };

typedef struct {
    const upd_dl_params *p;
    CURL *curl;
    /* sink: a file (fd >= 0) or an applier */
    int fd;
    const char *state_path;
    upd_applier *ap;
    /* the package */
    uint64_t pos;          /* package offset of the next byte to store or push */
    uint64_t durable;      /* file: bytes fdatasync'ed and counted by the state file */
    uint64_t total;        /* 0 unknown */
    char validator[256];
    int validator_is_etag;
    int no_range;          /* stream: the server ignored a Range: skip, don't jump */
    /* the response being received */
    long status;
    int checked;           /* its headers passed check_response() */
    uint64_t discard;      /* body bytes to drop before POS (200 to a Range in stream mode) */
    char etag[256], lastmod[256], crange[128], clen[32];
    int err;               /* why a callback stopped the transfer (upd_err or DL_*) */
    int noticed;
    /* counters */
    upd_dl_stats st;
    double t0, t_progress, t_checkpoint;
    uint64_t pos0;
} dl;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;
static void global_init_once(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

int upd_download_global_init(void)
{
    pthread_once(&global_once, global_init_once);
    return global_rc == CURLE_OK ? 0 : UPD_E_NOMEM;
}

/* ---- file sink -------------------------------------------------------- */

static int save_state(dl *d)
{
    dl_state s = { .total = d->total, .done = d->durable,
                   .validator_is_etag = d->validator_is_etag };
    snprintf(s.url, sizeof s.url, "%s", d->p->url);
    snprintf(s.validator, sizeof s.validator, "%s", d->validator);
    return dl_state_save(d->state_path, &s);
}

/* Make everything written so far durable, then the state that counts it. */
static int checkpoint(dl *d)
{
    if (d->fd < 0 || d->durable == d->pos)
        return 0;
    if (fdatasync(d->fd) != 0)
        return UPD_E_IO_FLUSH;
    d->durable = d->pos;
    return save_state(d);
}

/* Forget the partial file: the next byte stored is byte 0 of a new file.
 * The state says so durably before any byte of the new file is written. */
static int reset_file(dl *d)
{
    d->pos = d->durable = 0;
    if (d->fd < 0)
        return 0;
    if (ftruncate(d->fd, 0) != 0)
        return UPD_E_IO_RESIZE;
    return save_state(d);
}

static int enough_space(const dl *d, const char *path)
{
    char dir[4096];
    upd_afile_dir_of(path, dir, sizeof dir);
    struct statvfs sv;
    if (statvfs(dir, &sv) != 0)
        return 0;   /* cannot tell: the writes will say */
    uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    return avail >= d->total - d->pos;
}

/* ---- response checks -------------------------------------------------- */

/* Take the validator of this response as the package's: a strong ETag,
 * else Last-Modified (If-Range never matches a weak ETag). */
static void adopt_validator(dl *d)
{
    d->validator_is_etag = d->etag[0] && strncmp(d->etag, "W/", 2) != 0;
    snprintf(d->validator, sizeof d->validator, "%s", d->validator_is_etag ? d->etag : d->lastmod);
}

/* Whether this response's validator differs from the one we hold. */
static int validator_changed(const dl *d)
{
    if (!d->validator[0])
        return 0;
    const char *v = d->validator_is_etag ? d->etag : d->lastmod;
    return v[0] && strcmp(v, d->validator) != 0;
}

static uint64_t parse_len(const char *s, int *ok)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    *ok = s[0] >= '0' && s[0] <= '9' && !errno && !*end;
    return v;
}

/* The headers of a final response are in: decide what its body is, before
 * one byte of it is stored.  Returns 0 to take the body, else an upd_err
 * or DL_RESTART (the stored bytes belong to another file). */
static int check_response(dl *d)
{
    int e = dl_map_http(d->status);
    if (e)
        return d->status == 416 && d->pos > 0 ? DL_RESTART : e;
    uint64_t total;
    if (d->status == 206) {
        dl_range r;
        if (dl_parse_content_range(d->crange, strlen(d->crange), &r) < 0 || r.first != d->pos)
            return UPD_E_NET_SERVER;
        total = r.total ? r.total : d->total;
        if (!total || (d->total && total != d->total) || r.last + 1 != total)
            return d->total && total != d->total ? DL_RESTART : UPD_E_NET_SERVER;
        if (validator_changed(d))
            return DL_RESTART;
    } else {
        int ok;
        total = parse_len(d->clen, &ok);
        if (!ok)
            return UPD_E_NET_SERVER;   /* a package needs a declared length */
        if (d->pos > 0) {
            /* the whole file again: the server ignored the Range or the
             * file changed (If-Range).  A stream cannot take other bytes:
             * the same file (same validator) is skipped up to POS. */
            if (d->ap) {
                if (total != d->total || validator_changed(d) ||
                    (!d->validator[0] && (d->etag[0] || d->lastmod[0])))
                    return UPD_E_NET_SERVER;
                d->discard = d->pos;
                d->no_range = 1;
            } else {
                d->pos = 0;   /* take this body as the new file */
                d->st.restarts++;
            }
        }
    }
    if (d->p->max_size ? total > d->p->max_size : total > (4ull << 30))
        return UPD_E_NET_TOO_LARGE;
    if (d->pos == 0) {
        d->total = total;
        adopt_validator(d);
        int rc = reset_file(d);
        if (rc)
            return rc;
    }
    if (d->fd >= 0 && !enough_space(d, d->state_path))
        return UPD_E_NO_SPACE;
    if (!d->noticed && d->p->notice)
        d->p->notice(d->p->user, d->p->url, d->total, d->st.resumed_from);
    d->noticed = 1;
    return 0;
}

static size_t on_header(char *line, size_t size, size_t n, void *user)
{
    dl *d = user;
    size_t len = size * n;
    if (len >= 5 && !strncmp(line, "HTTP/", 5)) {
        /* a new response (after a redirect or a 100): forget the last one */
        d->etag[0] = d->lastmod[0] = d->crange[0] = d->clen[0] = 0;
        d->status = 0;
        const char *sp = memchr(line, ' ', len);
        if (sp)
            d->status = strtol(sp + 1, NULL, 10);
        return len;
    }
    if (dl_header_value(line, len, "ETag", d->etag, sizeof d->etag) ||
        dl_header_value(line, len, "Last-Modified", d->lastmod, sizeof d->lastmod) ||
        dl_header_value(line, len, "Content-Range", d->crange, sizeof d->crange) ||
        dl_header_value(line, len, "Content-Length", d->clen, sizeof d->clen))
        return len;
    int blank = (len == 2 && line[0] == '\r') || (len == 1 && line[0] == '\n');
    if (!blank || d->status < 200 || (d->status >= 300 && d->status < 400))
        return len;
    d->st.last_http = (int)d->status;
    d->err = check_response(d);
    d->checked = !d->err;
    return d->err ? 0 : len;
}

/* ---- body --------------------------------------------------------------- */

static void report_progress(dl *d, int last)
{
    double t = now();
    if (!d->p->progress || (!last && t - d->t_progress < 0.1))
        return;
    d->t_progress = t;
    double el = t - d->t0, rate = el > 0 ? (double)(d->pos - d->pos0) / el : 0;
    double eta = d->total && rate > 0 ? (double)(d->total - d->pos) / rate : -1;
    d->p->progress(d->p->user, d->pos, d->total, rate, eta);
}

static int store(dl *d, const char *buf, size_t len)
{
    if (d->ap)
        return upd_applier_push(d->ap, buf, len);
    while (len) {
        ssize_t w = pwrite(d->fd, buf, len, (off_t)d->pos);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return errno == ENOSPC ? UPD_E_NO_SPACE : UPD_E_IO_WRITE;
        d->pos += (uint64_t)w;
        buf += w;
        len -= (size_t)w;
    }
    if (d->pos - d->durable < CHECKPOINT_BYTES && now() - d->t_checkpoint < CHECKPOINT_SECS)
        return 0;
    d->t_checkpoint = now();
    return checkpoint(d);
}

/* Stream: when the applier needs no bytes before a later offset (its
 * journal shows segments done), end this transfer and ask for the rest
 * with a Range request (DL_JUMP).  A short gap is cheaper to receive and
 * let the applier skip; so is any gap from a server that ignores Range. */
static int jump(dl *d)
{
    uint64_t need = upd_applier_offset(d->ap);
    if (need <= d->pos + JUMP_MIN || d->no_range)
        return 0;
    int rc = upd_applier_seek(d->ap, need);
    if (rc)
        return rc;
    d->pos = need;
    return DL_JUMP;
}

static size_t on_body(char *buf, size_t size, size_t n, void *user)
{
    dl *d = user;
    size_t len = size * n;
    d->st.bytes_received += len;
    if (!d->checked) {
        d->err = UPD_E_NET_SERVER;   /* a body without a final header block */
        return 0;
    }
    size_t skip = d->discard < len ? (size_t)d->discard : len;
    d->discard -= skip;
    buf += skip;
    len -= skip;
    if (!len)
        return size * n;
    if (len > d->total - d->pos) {
        d->err = UPD_E_NET_SERVER;   /* longer than announced */
        return 0;
    }
    int rc = store(d, buf, len);
    if (d->ap && !rc) {
        d->pos += len;
        rc = jump(d);
    }
    if (rc) {
        d->err = rc;
        return 0;
    }
    report_progress(d, 0);
    return size * n;
}

/* ---- the retry loop ----------------------------------------------------- */

static void setup(dl *d)
{
    const upd_dl_params *p = d->p;
    CURL *c = d->curl;
    curl_easy_setopt(c, CURLOPT_URL, p->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     p->connect_timeout_ms ? p->connect_timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, p->low_speed_time_s ? p->low_speed_time_s : 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, p->low_speed_bytes ? p->low_speed_bytes : 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, d);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "updelta-download/" "1");
    if (p->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, p->ca_file);
}

/* One request from d->pos; 0 when the package is complete. */
static int attempt(dl *d)
{
    char range[48], ifr[300];
    struct curl_slist *hdr = NULL;
    d->err = d->checked = 0;
    d->discard = 0;
    if (d->pos > 0 && !d->no_range) {
        snprintf(range, sizeof range, "%" PRIu64 "-", d->pos);
        curl_easy_setopt(d->curl, CURLOPT_RANGE, range);
        if (d->validator[0]) {
            snprintf(ifr, sizeof ifr, "If-Range: %s", d->validator);
            if (!(hdr = curl_slist_append(NULL, ifr)))
                return UPD_E_NOMEM;
        }
    } else {
        curl_easy_setopt(d->curl, CURLOPT_RANGE, NULL);
    }
    curl_easy_setopt(d->curl, CURLOPT_HTTPHEADER, hdr);
    d->st.requests++;
    CURLcode cc = curl_easy_perform(d->curl);
    curl_easy_setopt(d->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdr);
    if (d->err)
        return d->err;
    if (cc != CURLE_OK)
        return dl_map_curl(cc);
    if (!d->checked)
        return UPD_E_NET_SERVER;
    /* a body cut short without curl noticing (no length, chunked) */
    return d->pos == d->total ? 0 : UPD_E_NET_TRANSFER;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int run(dl *d)
{
    unsigned fails = 0, restarts = 0;
    const upd_dl_params *p = d->p;
    unsigned max_retries = p->max_retries ? p->max_retries : 5;
    for (;;) {
        /* whole before the last run could publish it, or a stream whose
         * applier needs nothing more */
        if (d->total && d->pos == d->total)
            return 0;
        uint64_t before = d->pos;
        int rc = attempt(d);
        int ck = checkpoint(d);
        if (!rc)
            rc = ck;
        if (!rc)
            return 0;
        if (rc == DL_JUMP)
            continue;
        if (rc == DL_RESTART) {
            if (++restarts > MAX_RESTARTS)
                return UPD_E_NET_SERVER;
            if (d->ap)   /* an applier cannot take another file */
                return UPD_E_NET_SERVER;
            d->st.restarts++;
            d->validator[0] = 0;
            d->total = 0;
            if ((rc = reset_file(d)) < 0)
                return rc;
            continue;
        }
        if (ck < 0 || !dl_retryable(rc))
            return ck < 0 ? ck : rc;
        /* progress forgives earlier failures, except for a stall: a
         * server that trickles a few bytes and stops must still end */
        if (d->pos > before && rc != UPD_E_NET_TIMEOUT)
            fails = 0;
        if (++fails > max_retries)
            return rc;
        d->st.retries++;
        uint32_t rnd = 0;
        if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
            rnd = (uint32_t)d->pos;
        sleep_ms(dl_backoff_ms(fails, p->backoff_base_ms ? p->backoff_base_ms : 500,
                               p->backoff_max_ms ? p->backoff_max_ms : 30000, rnd));
    }
}

static int begin(dl *d, const upd_dl_params *p)
{
    memset(d, 0, sizeof *d);
    d->p = p;
    d->fd = -1;
    d->t0 = d->t_checkpoint = now();
    if (!p || !p->url || strpbrk(p->url, "\r\n"))
        return UPD_E_INVAL;
    if (strlen(p->url) >= sizeof ((dl_state *)0)->url)
        return UPD_E_NET_URL;
    int rc = upd_download_global_init();
    if (rc)
        return rc;
    if (!(d->curl = curl_easy_init()))
        return UPD_E_NOMEM;
    setup(d);
    return 0;
}

static int end(dl *d, int rc, upd_dl_stats *st)
{
    if (!rc)
        report_progress(d, 1);
    curl_easy_cleanup(d->curl);
    d->st.total = d->total;
    d->st.seconds = now() - d->t0;
    if (st)
        *st = d->st;
    return rc;
}

/* Open PATH.part and take up what its state file vouches for. */
static int open_partial(dl *d, const char *part)
{
    d->fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d->fd < 0)
        return UPD_E_IO_OPEN;
    if (flock(d->fd, LOCK_EX | LOCK_NB) != 0)
        return UPD_E_STATE;   /* another download of this file runs */
    dl_state s;
    struct stat sb;
    if (dl_state_load(d->state_path, &s) == 0 && !strcmp(s.url, d->p->url) &&
        fstat(d->fd, &sb) == 0 && (uint64_t)sb.st_size >= s.done && s.total) {
        d->pos = d->durable = s.done;
        d->total = s.total;
        d->validator_is_etag = s.validator_is_etag;
        snprintf(d->validator, sizeof d->validator, "%s", s.validator);
    }
    /* bytes past the durable count may be torn: never trust them */
    if (ftruncate(d->fd, (off_t)d->pos) != 0)
        return UPD_E_IO_RESIZE;
    d->st.resumed_from = d->pos;
    d->pos0 = d->pos;
    return 0;
}

/* The package is whole in PART: make it PATH, durably, and drop the state. */
static int publish(dl *d, const char *part, const char *path)
{
    if (fdatasync(d->fd) != 0)
        return UPD_E_IO_FLUSH;
    if (rename(part, path) != 0)
        return UPD_E_IO_WRITE;
    int rc = upd_afile_sync_dir_of(path);
    unlink(d->state_path);
    return rc;
}

int upd_download_file(const upd_dl_params *p, const char *path, upd_dl_stats *st)
{
    dl d;
    char part[4200], state[4200];
    int rc = begin(&d, p);
    if (!rc && (!path || strlen(path) > 4000))
        rc = UPD_E_INVAL;
    if (!rc) {
        snprintf(part, sizeof part, "%s.part", path);
        snprintf(state, sizeof state, "%s.part.state", path);
        d.state_path = state;
        rc = open_partial(&d, part);
    }
    if (!rc)
        rc = run(&d);
    if (!rc)
        rc = publish(&d, part, path);
    if (d.fd >= 0)
        close(d.fd);
    return end(&d, rc, st);
}

int upd_download_stream(const upd_dl_params *p, upd_applier *a, upd_dl_stats *st)
{
    dl d;
    int rc = begin(&d, p);
    if (!rc && !a)
        rc = UPD_E_INVAL;
    d.ap = a;
    if (!rc)
        rc = run(&d);
    if (!rc)
        rc = upd_applier_finish(a);
    return end(&d, rc, st);
}
