/* updelta-device -c CONFIG: the device agent.  Waits for OMA DM
 * notifications (package #0 over UDP on 127.0.0.1, our stand-in for SMS /
 * WAP push), runs the sessions, downloads and installs updates in place,
 * "reboots" (re-executes itself), verifies the new image, reports the
 * result in a generic alert 1226 until the server acknowledges it, and
 * answers the server's version checks from the ROMPackage nodes.  Killed
 * at any instant and restarted, it carries on from its state directory. */
#define _POSIX_C_SOURCE 200809L
#include "device.h"
#include "updelta/dm_auth.h"
#include "updelta/dm_notify.h"
#include "updelta/download.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

void dev_crash_point(const device *d, const char *step)
{
    if (d->crash_at && strcmp(d->crash_at, step) == 0) {
        dev_log("test crash point '%s': SIGKILL", step);
        raise(SIGKILL);
    }
}

void dev_log_state(const dev_rom *r, int from)
{
    upd_fumo_record rec;
    upd_fumo_get(r->fumo, &rec);
    if ((int)rec.state != from)
        dev_log("%s: State %d -> %d (%s)", r->id, from, (int)rec.state,
                upd_fumo_state_name((int)rec.state));
}

/* ---- nonces: dm.nonces in the state dir ----------------------------------- */

static void hex(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = '\0';
}

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
    size_t n = 0;
    unsigned b;
    while (n < max && sscanf(s + 2 * n, "%2x", &b) == 1)
        out[n++] = (uint8_t)b;
    return n;
}

static void nonces_load(device *d)
{
    char path[4096], line[512];
    snprintf(path, sizeof path, "%s/dm.nonces", d->state_dir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "client = ", 9) == 0)
            d->nonces.client_len = unhex(line + 9, d->nonces.client, UPD_DMC_NONCE_MAX);
        else if (strncmp(line, "server = ", 9) == 0)
            d->nonces.server_len = unhex(line + 9, d->nonces.server, UPD_DMC_NONCE_MAX);
        else if (strncmp(line, "unsure = ", 9) == 0)
            d->nonces.server_unsure_len = unhex(line + 9, d->nonces.server_unsure,
                                                UPD_DMC_NONCE_MAX);
        else if (strncmp(line, "session = ", 10) == 0)
            d->last_session = (uint16_t)strtoul(line + 10, NULL, 10);
    }
    fclose(fp);
}

static void nonces_save(device *d)
{
    char c[2 * UPD_DMC_NONCE_MAX + 1], s[2 * UPD_DMC_NONCE_MAX + 1], u[2 * UPD_DMC_NONCE_MAX + 1];
    char buf[640];
    hex(c, d->nonces.client, d->nonces.client_len);
    hex(s, d->nonces.server, d->nonces.server_len);
    hex(u, d->nonces.server_unsure, d->nonces.server_unsure_len);
    int n = snprintf(buf, sizeof buf, "client = %s\nserver = %s\nunsure = %s\nsession = %u\n", c,
                     s, u, (unsigned)d->last_session);
    int rc = upd_fumo_store_file(d->state_dir, "dm.nonces", buf, (size_t)n, NULL);
    if (rc < 0)
        dev_log("cannot save the nonces: %s", upd_strerror(rc));
}

/* ---- sessions ------------------------------------------------------------- */

int dev_session(device *d, uint16_t session_id, upd_dmc_alert *alerts, size_t n)
{
    upd_dmc_params p = {
        .server_url = d->server_url, .server_id = d->server_id, .server_pass = d->server_pass,
        .user = d->user, .pass = d->pass, .auth = d->auth, .hmac = d->hmac,
        .enc = d->wbxml ? UPD_DM_WBXML : UPD_DM_XML, .log = dev_log_line,
        .ca_file = d->ca_file,
    };
    upd_dmc_stats st;
    int rc = upd_dmc_session(&p, d->tree, session_id, alerts, n, &d->nonces, &st);
    nonces_save(d);
    dev_log("session done: %s (%u messages, %u commands%s)", rc < 0 ? upd_strerror(rc) : "ok",
            st.messages_sent, st.commands_run, st.server_authenticated ? ", server authenticated" : "");
    return rc;
}

int dev_report(device *d)
{
    upd_dmc_alert alerts[DEV_MAX_ROM];
    dev_rom *owner[DEV_MAX_ROM];
    size_t n = 0;
    for (unsigned i = 0; i < d->n_rom; i++) {
        upd_fumo_alert a;
        if (!upd_fumo_alert_get(d->rom[i].fumo, &a))
            continue;
        alerts[n] = (upd_dmc_alert){ .source = a.source, .type = a.type, .mark = a.mark,
                                     .correlator = a.correlator, .result = a.result };
        owner[n++] = &d->rom[i];
        dev_log("%s: final alert 1226 result %d correlator %s", d->rom[i].id, a.result,
                a.correlator ? a.correlator : "(none)");
    }
    if (!n)
        return 0;
    dev_session(d, 0, alerts, n);
    dev_crash_point(d, "reported");
    int left = 0;
    for (size_t i = 0; i < n; i++) {
        if (!alerts[i].acked) {
            left = 1;
            continue;
        }
        /* the result is delivered: the data goes (20, 70 -> 80, 90 -> 100)
         * before the record says so; a kill in between only repeats the alert */
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.pkg", d->state_dir, owner[i]->id);
        upd_fumo_record rec;
        upd_fumo_get(owner[i]->fumo, &rec);
        if (rec.state != UPD_FUMO_ST_READY) {
            unlink(path);
            snprintf(path, sizeof path, "%s/%s.journal", d->state_dir, owner[i]->id);
            unlink(path);
        }
        int rc = upd_fumo_alert_acked(owner[i]->fumo);
        if (rc < 0) {
            dev_log("%s: cannot record the acknowledgement: %s", owner[i]->id, upd_strerror(rc));
            left = 1;
            continue;
        }
        dev_log_state(owner[i], (int)rec.state);
    }
    return left;
}

/* ---- start-up ------------------------------------------------------------- */

static void on_start(void *user, upd_fumo_op op)
{
    device *d = user;
    d->work = 1;
    dev_log("Exec accepted (202): %s", op == UPD_FUMO_OP_DOWNLOAD ? "Download"
                                       : op == UPD_FUMO_OP_UPDATE ? "Update" : "DownloadAndUpdate");
    dev_crash_point(d, "exec");
}

static int build_tree(device *d)
{
    const unsigned G = UPD_TREE_GET;
    struct { const char *uri, *v; } info[] = {
        { "./DevInfo/DevId", d->dev_id }, { "./DevInfo/Man", d->man ? d->man : "updelta" },
        { "./DevInfo/Mod", d->mod ? d->mod : "updelta-device" }, { "./DevInfo/DmV", "1.2" },
        { "./DevInfo/Lang", d->lang ? d->lang : "en-US" },
    };
    int rc = upd_tree_create(&d->tree);
    for (size_t i = 0; rc == 0 && i < sizeof info / sizeof info[0]; i++)
        rc = upd_tree_set(d->tree, info[i].uri, UPD_TREE_CHR, G, NULL, info[i].v, strlen(info[i].v));
    for (unsigned i = 0; rc == 0 && i < d->n_rom; i++) {
        dev_rom *r = &d->rom[i];
        char path[4096], uri[1100];
        /* a version installed by an update outranks the config's */
        snprintf(path, sizeof path, "%s/rom-%s.version", d->state_dir, r->id);
        FILE *fp = fopen(path, "r");
        if (fp) {
            char v[256];
            if (fgets(v, sizeof v, fp) && (v[strcspn(v, "\n")] = '\0', v[0])) {
                free(r->version);
                r->version = strdup(v);
            }
            fclose(fp);
        }
        if ((rc = upd_fumo_open(&r->fumo, d->state_dir, r->id, NULL)) < 0)
            break;
        const char *name = r->name ? r->name : r->id;
        snprintf(uri, sizeof uri, "./Vendor/updelta/ROMPackage/%s/PkgName", r->id);
        if ((rc = upd_tree_set(d->tree, uri, UPD_TREE_CHR, G, NULL, name, strlen(name))) < 0)
            break;
        snprintf(uri, sizeof uri, "./Vendor/updelta/ROMPackage/%s/PkgVersion", r->id);
        if ((rc = upd_tree_set(d->tree, uri, UPD_TREE_CHR, G, NULL, r->version,
                               strlen(r->version))) < 0)
            break;
        snprintf(uri, sizeof uri, "./FwUpdate/%s", r->id);
        snprintf(path, sizeof path, "%s/%s.pkg", d->state_dir, r->id);
        rc = upd_fumo_attach(r->fumo, d->tree, uri, name, r->version, path, on_start, d);
        upd_fumo_record rec;
        upd_fumo_get(r->fumo, &rec);
        dev_log("%s: %s version %s, image %s, State %d (%s)", r->id, name, r->version, r->image,
                (int)rec.state, upd_fumo_state_name((int)rec.state));
    }
    if (rc < 0)
        dev_log("cannot build the management tree: %s", upd_strerror(rc));
    return rc;
}

static int open_socket(const device *d)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)d->notify_port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    if (s >= 0)
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
        dev_log("cannot listen on udp 127.0.0.1:%d: %s", d->notify_port, strerror(errno));
        if (s >= 0)
            close(s);
        return -1;
    }
    return s;
}

/* Package #0: verified against the configured server id and secret before
 * anything else; a bad one is logged and dropped. */
static void on_notification(device *d, const uint8_t *buf, size_t len)
{
    upd_dm_notify n;
    int rc = upd_dm_notify_verify(buf, len, d->server_id, d->server_pass, d->nonces.server,
                                  d->nonces.server_len, &n);
    /* the server may hold the nonce of a message whose reply never came */
    if (rc < 0 && d->nonces.server_unsure_len
        && upd_dm_notify_verify(buf, len, d->server_id, d->server_pass, d->nonces.server_unsure,
                                d->nonces.server_unsure_len, &n) == 0) {
        upd_dmc_nonces_sure(&d->nonces);
        rc = 2;
    }
    if (rc < 0) {
        upd_dm_notify peek;
        const char *why = upd_dm_notify_decode(buf, len, &peek) < 0 ? "malformed trigger"
                          : strcmp(peek.server_id, d->server_id) != 0 ? "unknown server id"
                          : "bad digest";
        dev_log("notification rejected (%zu bytes): %s", len, why);
        return;
    }
    if (n.session_id == d->last_session) {
        dev_log("notification for session %04X again: ignored", n.session_id);
        return;
    }
    dev_log("notification accepted: server %s session %04X ui-mode %u%s", n.server_id,
            n.session_id, n.ui_mode, rc == 1 ? " (reset nonce)"
            : rc == 2 ? " (nonce of a message left unanswered)" : "");
    d->last_session = n.session_id;
    nonces_save(d);
    dev_session(d, n.session_id, NULL, 0);
}

int main(int argc, char **argv)
{
    const char *cfg = NULL;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            cfg = argv[++i];
    if (!cfg) {
        fprintf(stderr, "usage: updelta-device -c CONFIG\n");
        return 2;
    }
    device d = { .argv = argv, .crash_at = getenv("UPD_DEVICE_CRASH_AT") };
    if (dev_config_load(&d, cfg) < 0) {
        dev_config_free(&d);
        return 1;
    }
    dev_log_open(d.log_file);
    mkdir(d.state_dir, 0755);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    int rc = upd_download_global_init();
    nonces_load(&d);
    int sock = -1;
    if (rc < 0 || build_tree(&d) < 0 || (sock = open_socket(&d)) < 0) {
        upd_tree_free(d.tree);
        dev_config_free(&d);
        return 1;
    }
    dev_log("started: server %s, %u ROM packages, notifications on udp 127.0.0.1:%d",
            d.server_url, d.n_rom, d.notify_port);
    dev_run_jobs(&d);
    /* an alert left from before a restart goes out now, then every retry_ms
     * until acknowledged */
    int pending = dev_report(&d);
    while (!stop) {
        struct pollfd pfd = { .fd = sock, .events = POLLIN };
        int pr = poll(&pfd, 1, pending ? (int)d.retry_ms : -1);
        if (pr == 0) {
            pending = dev_report(&d);
            continue;
        }
        if (pr > 0 && (pfd.revents & POLLIN)) {
            uint8_t buf[2048];
            ssize_t len = recv(sock, buf, sizeof buf, 0);
            if (len > 0)
                on_notification(&d, buf, (size_t)len);
        }
        if (d.work) {
            d.work = 0;
            dev_run_jobs(&d);
        }
        pending = 0;
        for (unsigned i = 0; i < d.n_rom; i++) {
            upd_fumo_record rec;
            upd_fumo_get(d.rom[i].fumo, &rec);
            pending |= rec.alert_pending;
        }
    }
    dev_log("stopping");
    close(sock);
    upd_tree_free(d.tree);
    dev_config_free(&d);
    return 0;
}
