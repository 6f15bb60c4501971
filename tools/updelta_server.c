/* updelta-server: the reference OMA DM server and download server.
 *
 *   updelta-server init    --db DB --server-id ID [--download-url URL]
 *                          [--rompkg-root URI]   (default ./Vendor/updelta/ROMPackage; Windows Mobile: ./Vendor/MSFT/ROMPackage)
 *   updelta-server device  --db DB DEVID --user U --secret S --server-secret S2
 *                          [--notify HOST:PORT]
 *   updelta-server publish --db DB --repo DIR --key KEY --package-id ID
 *                          [--full] [--direct] VERSION=IMAGE...
 *   updelta-server plan    --db DB --package-id ID --from VERSION
 *   updelta-server serve   --db DB --repo DIR [--bind ADDR] [--port N]
 *                          [--port-file F] [--threads N] [--events]
 *                          [--download-url URL]   (default http[s]://BIND:PORT/pkg)
 *                          [--trace DIR]          (every DM message in and out, to files)
 *                          [--tls-cert PEM --tls-key PEM]  (HTTPS only, DM and downloads)
 *   updelta-server notify  --db DB (DEVID | --all) [--ui MODE]
 *   updelta-server status  --db DB [--json]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <openssl/crypto.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

enum {
    O_DB = 0x100, O_REPO, O_KEY, O_PKG, O_FULL, O_DIRECT, O_FROM, O_BIND, O_PORT, O_PORT_FILE,
    O_THREADS, O_EVENTS, O_JSON, O_SERVER_ID, O_DL_URL, O_USER, O_SECRET, O_SRV_SECRET, O_NOTIFY,
    O_UI, O_ROMPKG, O_ALL, O_TRACE, O_TLS_CERT, O_TLS_KEY
};

static const struct option long_opts[] = {
    { "db", required_argument, 0, O_DB }, { "repo", required_argument, 0, O_REPO },
    { "key", required_argument, 0, O_KEY }, { "package-id", required_argument, 0, O_PKG },
    { "full", no_argument, 0, O_FULL }, { "direct", no_argument, 0, O_DIRECT },
    { "from", required_argument, 0, O_FROM }, { "bind", required_argument, 0, O_BIND },
    { "port", required_argument, 0, O_PORT }, { "port-file", required_argument, 0, O_PORT_FILE },
    { "threads", required_argument, 0, O_THREADS }, { "events", no_argument, 0, O_EVENTS },
    { "json", no_argument, 0, O_JSON }, { "server-id", required_argument, 0, O_SERVER_ID },
    { "download-url", required_argument, 0, O_DL_URL }, { "user", required_argument, 0, O_USER },
    { "secret", required_argument, 0, O_SECRET },
    { "server-secret", required_argument, 0, O_SRV_SECRET },
    { "notify", required_argument, 0, O_NOTIFY }, { "ui", required_argument, 0, O_UI },
    { "rompkg-root", required_argument, 0, O_ROMPKG }, { "all", no_argument, 0, O_ALL },
    { "trace", required_argument, 0, O_TRACE },
    { "tls-cert", required_argument, 0, O_TLS_CERT },
    { "tls-key", required_argument, 0, O_TLS_KEY },
    { 0, 0, 0, 0 }
};

typedef struct {
    const char *db, *repo, *key, *pkg, *from, *bind, *port_file, *server_id, *dl_url;
    const char *user, *secret, *srv_secret, *notify, *rompkg, *trace, *tls_cert, *tls_key;
    unsigned port, threads, ui;
    int full, direct, events, json, all;
} opts;

static int usage(void)
{
    fputs("usage: updelta-server init    --db DB --server-id ID [--download-url URL]\n"
          "                              [--rompkg-root URI]\n"
          "       updelta-server device  --db DB DEVID --user U --secret S --server-secret S2\n"
          "                              [--notify HOST:PORT]\n"
          "       updelta-server publish --db DB --repo DIR --key KEY --package-id ID\n"
          "                              [--full] [--direct] VERSION=IMAGE...\n"
          "       updelta-server plan    --db DB --package-id ID --from VERSION\n"
          "       updelta-server serve   --db DB --repo DIR [--bind ADDR] [--port N]\n"
          "                              [--port-file F] [--threads N] [--events]\n"
          "                              [--download-url URL] [--trace DIR]\n"
          "                              [--tls-cert PEM --tls-key PEM]\n"
          "       updelta-server notify  --db DB (DEVID | --all) [--ui MODE]\n"
          "       updelta-server status  --db DB [--json]\n", stderr);
    return 2;
}

static int parse_opts(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        switch (c) {
        case O_DB: o->db = optarg; break;
        case O_REPO: o->repo = optarg; break;
        case O_KEY: o->key = optarg; break;
        case O_PKG: o->pkg = optarg; break;
        case O_FULL: o->full = 1; break;
        case O_DIRECT: o->direct = 1; break;
        case O_FROM: o->from = optarg; break;
        case O_BIND: o->bind = optarg; break;
        case O_PORT: o->port = (unsigned)strtoul(optarg, NULL, 10); break;
        case O_PORT_FILE: o->port_file = optarg; break;
        case O_THREADS: o->threads = (unsigned)strtoul(optarg, NULL, 10); break;
        case O_EVENTS: o->events = 1; break;
        case O_JSON: o->json = 1; break;
        case O_SERVER_ID: o->server_id = optarg; break;
        case O_DL_URL: o->dl_url = optarg; break;
        case O_USER: o->user = optarg; break;
        case O_SECRET: o->secret = optarg; break;
        case O_SRV_SECRET: o->srv_secret = optarg; break;
        case O_NOTIFY: o->notify = optarg; break;
        case O_ROMPKG: o->rompkg = optarg; break;
        case O_ALL: o->all = 1; break;
        case O_TRACE: o->trace = optarg; break;
        case O_TLS_CERT: o->tls_cert = optarg; break;
        case O_TLS_KEY: o->tls_key = optarg; break;
        case O_UI: o->ui = (unsigned)strtoul(optarg, NULL, 10); break;
        default: return -1;
        }
    }
    return o->db ? 0 : -1;
}

static int fail(const char *what, int rc, srv_store *st)
{
    const char *db = st ? srv_store_errmsg(st) : "";
    fprintf(stderr, "updelta-server: %s: %s (%s)%s%s\n", what, upd_strerror(rc), upd_errname(rc),
            db[0] ? ": " : "", db);
    return 1;
}

static int open_store(const opts *o, srv_store **st)
{
    int rc = srv_store_open(st, o->db);
    if (rc)
        fprintf(stderr, "updelta-server: %s: %s (%s)\n", o->db, upd_strerror(rc), upd_errname(rc));
    return rc;
}

static int cmd_init(const opts *o)
{
    srv_store *st;
    if (!o->server_id)
        return usage();
    if (open_store(o, &st))
        return 1;
    int rc = srv_config_set(st, "server_id", o->server_id);
    if (!rc && o->dl_url)
        rc = srv_config_set(st, "download_url", o->dl_url);
    if (!rc && o->rompkg)
        rc = srv_config_set(st, "rompkg_root", o->rompkg);
    int ret = rc ? fail("init", rc, st) : 0;
    if (!rc)
        printf("database  %s (schema %d), server id %s\n", o->db, srv_store_schema_version(st),
               o->server_id);
    srv_store_close(st);
    return ret;
}

static int cmd_device(const opts *o, int argc, char **argv)
{
    if (optind + 1 != argc || !o->user || !o->secret || !o->srv_secret)
        return usage();
    srv_device d;
    memset(&d, 0, sizeof d);
    if (strlen(argv[optind]) > SRV_NAME_MAX) {
        fprintf(stderr, "updelta-server: device id too long\n");
        return 1;
    }
    snprintf(d.dev_id, sizeof d.dev_id, "%s", argv[optind]);
    snprintf(d.user, sizeof d.user, "%s", o->user);
    snprintf(d.secret, sizeof d.secret, "%s", o->secret);
    snprintf(d.server_secret, sizeof d.server_secret, "%s", o->srv_secret);
    snprintf(d.notify, sizeof d.notify, "%s", o->notify ? o->notify : "");
    srv_store *st;
    if (open_store(o, &st))
        return 1;
    int rc = srv_device_add(st, &d);
    int ret = rc ? fail(d.dev_id, rc, st) : 0;
    srv_store_close(st);
    return ret;
}

static int cmd_publish(const opts *o, int argc, char **argv)
{
    int n = argc - optind;
    if (!o->repo || !o->key || !o->pkg || n < 1)
        return usage();
    const char **vers = calloc((size_t)n, sizeof *vers), **files = calloc((size_t)n, sizeof *files);
    char **copies = calloc((size_t)n, sizeof *copies);
    int ret = 1;
    upd_key *key = NULL;
    srv_store *st = NULL;
    if (!vers || !files || !copies)
        goto out;
    for (int i = 0; i < n; i++) {
        copies[i] = strdup(argv[optind + i]);
        char *eq = copies[i] ? strchr(copies[i], '=') : NULL;
        if (!eq || eq == copies[i] || !eq[1]) {
            fprintf(stderr, "updelta-server: %s: expected VERSION=IMAGE\n", argv[optind + i]);
            goto out;
        }
        *eq = 0;
        vers[i] = copies[i];
        files[i] = eq + 1;
    }
    int rc = upd_key_load(&key, o->key);
    if (rc) {
        fail(o->key, rc, NULL);
        goto out;
    }
    if (open_store(o, &st))
        goto out;
    srv_publish_params p = { o->pkg, o->repo, key, o->full, o->direct, stdout };
    rc = srv_publish(st, &p, vers, files, (size_t)n);
    ret = rc ? fail("publish", rc, st) : 0;
out:
    for (int i = 0; copies && i < n; i++)
        free(copies[i]);
    free(copies);
    free(vers);
    free(files);
    upd_key_free(key);
    srv_store_close(st);
    return ret;
}

static int cmd_plan(const opts *o)
{
    if (!o->pkg || !o->from)
        return usage();
    srv_store *st;
    if (open_store(o, &st))
        return 1;
    srv_plan plan;
    int rc = srv_plan_update(st, o->pkg, o->from, &plan);
    static const char *const kind[] = { "none", "direct", "chain", "full" };
    if (!rc) {
        printf("%s %s -> %s: %s, %u step(s), %llu bytes\n", o->pkg, o->from, plan.target,
               kind[plan.kind], plan.n, (unsigned long long)plan.bytes);
        for (unsigned i = 0; i < plan.n; i++) {
            srv_cat c;
            if (srv_cat_get(st, plan.step[i], &c) == 1)
                printf("  %s -> %s  %s (%llu bytes)\n", c.from[0] ? c.from : "(empty)", c.to,
                       c.file, (unsigned long long)c.size);
        }
    }
    int ret = rc ? fail("plan", rc, st) : 0;
    srv_store_close(st);
    return ret;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void skip_event(void *user, const srv_event_row *e)
{
    (void)user, (void)e;
}

static void print_event(void *user, const srv_event_row *e)
{
    (void)user;
    char t[16];
    time_t at = (time_t)e->at;
    struct tm tm;
    strftime(t, sizeof t, "%H:%M:%S", localtime_r(&at, &tm));
    printf("%s %-8s %-20s %s\n", t, e->kind, e->dev_id[0] ? e->dev_id : "-", e->text);
}

/* Serve until a signal; CERT and KEY (PEM text, or NULL for plain HTTP)
 * stay valid as long as the daemon runs. */
static int serve(const opts *o, const char *cert, const char *key)
{
    srv_store *st;
    if (open_store(o, &st))
        return 1;
    char pkg_dir[4096], server_id[SRV_NAME_MAX + 1], dl[SRV_TEXT_MAX + 1];
    snprintf(pkg_dir, sizeof pkg_dir, "%s/pkg", o->repo);
    int rc = srv_config_get(st, "server_id", "", server_id, sizeof server_id);
    if (!rc && !server_id[0]) {
        fprintf(stderr, "updelta-server: %s has no server id (run init first)\n", o->db);
        srv_store_close(st);
        return 1;
    }
    srv_dm *dm = NULL;
    if (!rc)
        rc = srv_dm_create(&dm, st, server_id);
    srv_http_params hp = { o->bind, o->port, pkg_dir, o->threads, srv_dm_handle, dm, st, o->trace,
                           cert, key };
    srv_http *h = NULL;
    if (!rc)
        rc = srv_http_start(&h, &hp);
    /* the default download URL names the port, known only now; nobody
       knows the port before it is printed, so no session can miss it */
    if (!rc) {
        if (o->dl_url)
            snprintf(dl, sizeof dl, "%s", o->dl_url);
        else
            rc = srv_config_get(st, "download_url", "", dl, sizeof dl);
        if (!rc && !dl[0])
            snprintf(dl, sizeof dl, "%s://%s:%u/pkg", cert ? "https" : "http",
                     o->bind ? o->bind : "127.0.0.1", srv_http_port(h));
        if (!rc)
            rc = srv_dm_set_download_url(dm, dl);
    }
    if (rc) {
        fail("serve", rc, st);
        srv_http_stop(h);
        srv_dm_free(dm);
        srv_store_close(st);
        return 1;
    }
    unsigned port = srv_http_port(h);
    if (o->port_file) {
        /* written whole then renamed: a test polling for it never reads half */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", o->port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmp, o->port_file)) {
            fprintf(stderr, "updelta-server: %s: %s\n", o->port_file, strerror(errno));
            srv_http_stop(h);
            srv_dm_free(dm);
            srv_store_close(st);
            return 1;
        }
    }
    printf("serving   %s://%s:%u/ (dm /dm, packages /pkg/, status /status.json), "
           "packages at %s/\n", cert ? "https" : "http", o->bind ? o->bind : "127.0.0.1", port, dl);
    fflush(stdout);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* print only what happens from now on, not the history of earlier runs */
    int64_t seen = srv_event_each(st, 0, skip_event, NULL);
    if (seen < 0)
        seen = 0;
    while (!stop) {
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        if (o->events) {
            int64_t r = srv_event_each(st, seen, print_event, NULL);
            if (r >= 0)
                seen = r;
            fflush(stdout);
        }
    }
    srv_http_stop(h);
    srv_dm_free(dm);
    srv_store_close(st);
    return 0;
}

typedef struct {
    srv_store *st;
    const char *server_id;
    unsigned ui;
    int sent, failed;
} notify_ctx;


static int cmd_serve(const opts *o)
{
    if (!o->repo || !o->tls_cert != !o->tls_key)
        return usage();
    srv_buf cert = { 0 }, key = { 0 };
    int rc = 0;
    if (o->tls_cert) {
        rc = srv_buf_read_file(o->tls_cert, &cert);
        if (!rc)
            rc = srv_buf_read_file(o->tls_key, &key);
    }
    int ret = 1;
    if (rc)
        fprintf(stderr, "updelta-server: serve: %s: %s\n", cert.p ? o->tls_key : o->tls_cert,
                upd_strerror(rc));
    else
        ret = serve(o, (const char *)cert.p, (const char *)key.p);
    free(cert.p);
    if (key.p)
        OPENSSL_cleanse(key.p, key.n);   /* the private key leaves no copy behind */
    free(key.p);
    return ret;
}
static int notify_one(void *user, const srv_device *d)
{
    notify_ctx *x = user;
    if (!d->notify[0])
        return 0;
    uint16_t sid = 0;
    int rc = srv_notify_send(x->st, x->server_id, d->dev_id, x->ui, &sid);
    if (rc) {
        fail(d->dev_id, rc, NULL);
        x->failed++;
    } else {
        printf("notified  %s: package #0, session %X\n", d->dev_id, sid);
        x->sent++;
    }
    return 0;
}

static int cmd_notify(const opts *o, int argc, char **argv)
{
    if ((optind + 1 != argc) == !o->all)
        return usage();
    srv_store *st;
    if (open_store(o, &st))
        return 1;
    char server_id[SRV_NAME_MAX + 1];
    notify_ctx x = { st, server_id, o->ui, 0, 0 };
    int rc = srv_config_get(st, "server_id", "", server_id, sizeof server_id);
    if (!rc && o->all) {
        rc = srv_device_each(st, notify_one, &x);
    } else if (!rc) {
        srv_device d;
        rc = srv_device_get(st, argv[optind], &d);
        if (rc == 1 && !d.notify[0])
            fprintf(stderr, "updelta-server: %s has no notify address\n", d.dev_id);
        rc = rc < 0 ? rc : rc == 0 || !d.notify[0] ? UPD_E_INVAL : notify_one(&x, &d);
    }
    int ret = rc ? fail("notify", rc, st) : x.failed != 0;
    srv_store_close(st);
    return ret;
}

static int cmd_status(const opts *o)
{
    srv_store *st;
    if (open_store(o, &st))
        return 1;
    int rc = srv_status_write(st, stdout, o->json);
    int ret = rc ? fail("status", rc, st) : 0;
    srv_store_close(st);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *cmd = argv[1];
    opts o;
    if (parse_opts(argc - 1, argv + 1, &o) != 0)
        return usage();
    /* getopt permuted argv + 1: operands are at optind there */
    argc -= 1;
    argv += 1;
    if (!strcmp(cmd, "init"))
        return cmd_init(&o);
    if (!strcmp(cmd, "device"))
        return cmd_device(&o, argc, argv);
    if (!strcmp(cmd, "publish"))
        return cmd_publish(&o, argc, argv);
    if (!strcmp(cmd, "plan"))
        return cmd_plan(&o);
    if (!strcmp(cmd, "serve"))
        return cmd_serve(&o);
    if (!strcmp(cmd, "notify"))
        return cmd_notify(&o, argc, argv);
    if (!strcmp(cmd, "status"))
        return cmd_status(&o);
    return usage();
}
