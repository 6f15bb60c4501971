/* updelta-device: one ROM package's FUMO job, step by step: download (the
 * download agent), install in place (journaled applier, signed package),
 * "reboot" (execv), verify the new image.  Each step starts from the
 * persisted State, so a restart at any instant continues where it stopped. */
#define _POSIX_C_SOURCE 200809L
#include "device.h"
#include "updelta/download.h"
#include "updelta/fumo_result.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A crash point part-way through a long step: the download at 3/4 (past
 * the agent's first durable checkpoint for a package of a few MiB), the
 * dry run and the install half-way.  ID names the ROM package in the
 * download agent's progress lines. */
typedef struct {
    device *d;
    const char *step;
    int fired;
    const char *id;
} half_way;

/* The download agent's progress "bar": one line per report (the agent
 * reports at most ~10 times a second and once at the end). */
static void on_dl_progress(void *user, uint64_t done, uint64_t total, double rate, double eta)
{
    half_way *h = user;
    dev_log("%s: download progress %llu/%llu bytes, %.0f B/s, eta %.1f s", h->id,
            (unsigned long long)done, (unsigned long long)total, rate, eta);
    if (total && !h->fired && done * 4 >= total * 3 && done < total) {
        h->fired = 1;
        dev_crash_point(h->d, h->step);
    }
}

static void on_dl_notice(void *user, const char *url, uint64_t total, uint64_t from)
{
    (void)user;
    dev_log("download agent: new update available: %s, %llu bytes%s", url,
            (unsigned long long)total, from ? " (resuming)" : "");
    if (from)
        dev_log("download agent: resuming at byte %llu", (unsigned long long)from);
}

static void on_apply_progress(void *user, int phase, uint64_t done, uint64_t total)
{
    half_way *h = user;
    if (phase == UPD_PHASE_APPLY && total && !h->fired && done * 2 >= total && done < total) {
        h->fired = 1;
        dev_crash_point(h->d, h->step);
    }
}

static void side_path(char *out, size_t n, const device *d, const dev_rom *r, const char *ext)
{
    snprintf(out, n, "%s/%s.%s", d->state_dir, r->id, ext);
}

/* Move R's FUMO by EV and log the change; a persistence failure is logged
 * (the next start repeats the step). */
static int step(dev_rom *r, upd_fumo_ev ev, int result)
{
    upd_fumo_record rec;
    upd_fumo_get(r->fumo, &rec);
    int rc = upd_fumo_event(r->fumo, ev, result);
    if (rc < 0)
        dev_log("%s: State %d: cannot record the change: %s", r->id, (int)rec.state,
                upd_strerror(rc));
    else
        dev_log_state(r, (int)rec.state);
    return rc;
}

static void dl_params(upd_dl_params *p, const char *url, half_way *h)
{
    *p = (upd_dl_params){ .url = url, .progress = on_dl_progress, .notice = on_dl_notice,
                          .user = h, .max_retries = 3, .backoff_base_ms = 200,
                          .backoff_max_ms = 2000, .ca_file = h->d->ca_file };
}

/* An applier for R's image with its journal and the trusted keys; with
 * DRY_RUN only the keys (no image I/O). */
static int make_applier(device *d, dev_rom *r, unsigned flags, const uint8_t *expect,
                        upd_io **img, upd_io **jrn, upd_keyring **kr, half_way *h,
                        upd_applier **a)
{
    char jpath[4096];
    side_path(jpath, sizeof jpath, d, r, "journal");
    int rc = 0;
    if (!(flags & UPD_APPLY_DRY_RUN)) {
        rc = upd_io_open_posix(img, r->image, 0);
        if (rc == 0)
            rc = upd_io_open_posix(jrn, jpath, UPD_IO_CREATE);
    }
    if (rc == 0 && d->keys_dir) {
        rc = upd_keyring_create(kr);
        if (rc == 0)
            rc = upd_keyring_load_dir(*kr, d->keys_dir);
    }
    if (rc < 0)
        return rc;
    upd_apply_params ap = { .target = *img, .journal = *jrn, .keys = *kr,
                            .flags = flags | (d->insecure ? UPD_APPLY_INSECURE : 0),
                            .package_id = r->id, .installed_version = r->version,
                            .expect_package = expect, .progress = on_apply_progress,
                            .progress_user = h };
    return upd_applier_create(a, &ap);
}

/* After a successful install: remember what the image must now be, then
 * "reboot" into it. */
static void installed(device *d, dev_rom *r, const upd_header *hd)
{
    char note[256], hx[65];
    for (int i = 0; i < 32; i++)
        sprintf(hx + 2 * i, "%02x", hd->new_sha256[i]);
    snprintf(note, sizeof note, "installed %s %s", hx, hd->to_version);
    int rc = upd_fumo_set_note(r->fumo, note);
    if (rc < 0) {
        dev_log("%s: cannot record the install: %s", r->id, upd_strerror(rc));
        return;
    }
    dev_log("%s: installed version %s in place; rebooting", r->id, hd->to_version);
    dev_crash_point(d, "installed");
    execv("/proc/self/exe", d->argv);
    dev_log("reboot (execv) failed: continuing in this process");
}

static void close_all(upd_applier *a, upd_io *img, upd_io *jrn, upd_keyring *kr)
{
    upd_applier_free(a);
    upd_io_close(img);
    upd_io_close(jrn);
    upd_keyring_free(kr);
}

/* Run the package file PKG, at most MAX bytes of it, through a new applier
 * (FLAGS; refusing any package but the one with digest EXPECT, unless NULL)
 * and finish it; on success *HD gets its header, DIGEST (unless NULL) its
 * digest and *ST the counters. */
static int apply_file(device *d, dev_rom *r, const char *pkg, uint64_t max, unsigned flags,
                      const uint8_t *expect, half_way *h, upd_header *hd, uint8_t digest[32],
                      upd_apply_stats *st)
{
    upd_io *img = NULL, *jrn = NULL;
    upd_keyring *kr = NULL;
    upd_applier *a = NULL;
    int rc = make_applier(d, r, flags, expect, &img, &jrn, &kr, h, &a);
    FILE *fp = rc == 0 ? fopen(pkg, "rb") : NULL;
    if (rc == 0 && !fp)
        rc = UPD_E_IO_OPEN;
    static uint8_t buf[1 << 20];
    size_t n;
    while (rc == 0 && max) {
        n = fread(buf, 1, max < sizeof buf ? (size_t)max : sizeof buf, fp);
        if (n == 0)
            break;
        rc = upd_applier_push(a, buf, n);
        max -= n;
    }
    if (rc == 0 && ferror(fp))
        rc = UPD_E_IO_READ;
    if (fp)
        fclose(fp);
    if (rc == 0)
        rc = upd_applier_finish(a);
    if (rc == 0) {
        *hd = *upd_applier_header(a);
        if (digest)
            memcpy(digest, upd_applier_package(a), 32);
        upd_applier_stats(a, st);
    }
    close_all(a, img, jrn, kr);
    return rc;
}

/* Whether the package file PKG needs its dry run (upd_pkg_one_pass_safe):
 * when in doubt, it does.  When not, *LEN is the length checked, all the
 * install may read, and DIGEST names the package whose prefix (header,
 * manifest, signature, policy) a dry run over the probed bytes passed: the
 * install is pinned to it, as the file is read again. */
static int needs_dry_run(device *d, dev_rom *r, const char *pkg, uint64_t *len,
                         uint8_t digest[32])
{
    uint8_t probe[UPD_PKG_PROBE_SIZE + UPD_AUTH_SIZE];
    struct stat st;
    upd_header h;
    int fd = open(pkg, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 && fstat(fd, &st) == 0 ? pread(fd, probe, sizeof probe, 0) : -1;
    if (fd >= 0)
        close(fd);
    if (got <= 0 || !upd_pkg_one_pass_safe(probe, (size_t)got, (uint64_t)st.st_size)
        || upd_header_decode(probe, (size_t)got, &h) || upd_pkg_prefix_size(&h) > (uint64_t)got)
        return 1;
    upd_io *img = NULL, *jrn = NULL;
    upd_keyring *kr = NULL;
    upd_applier *a = NULL;
    half_way check = { d, "verify", 0, r->id };
    int rc = make_applier(d, r, UPD_APPLY_DRY_RUN, NULL, &img, &jrn, &kr, &check, &a);
    if (rc == 0)
        rc = upd_applier_push(a, probe, (size_t)upd_pkg_prefix_size(&h));
    const uint8_t *named = rc == 0 ? upd_applier_package(a) : NULL;
    if (named) {
        memcpy(digest, named, 32);
        *len = (uint64_t)st.st_size;
    }
    close_all(a, img, jrn, kr);
    return !named;   /* refused: the whole dry run names why */
}

/* State 60: apply the staged package in place (resuming from the journal),
 * after a dry run over the whole package unless the real run checks it
 * all before its first write: a corrupt or truncated one is refused
 * before the image is touched, as the CLI does. */
static void install(device *d, dev_rom *r)
{
    char pkg[4096];
    side_path(pkg, sizeof pkg, d, r, "pkg");
    half_way check = { d, "verify", 0, r->id }, h = { d, "install", 0, r->id };
    upd_header hd;
    upd_apply_stats st;
    int rc = 0;
    uint64_t len = UINT64_MAX;
    uint8_t checked[32];   /* the install applies only the package checked */
    if (needs_dry_run(d, r, pkg, &len, checked)) {
        dev_log("%s: verifying %s", r->id, pkg);
        rc = apply_file(d, r, pkg, UINT64_MAX, UPD_APPLY_DRY_RUN, NULL, &check, &hd, checked,
                        &st);
    } else {
        dev_log("%s: %s has one segment: the install checks it before writing", r->id, pkg);
    }
    if (rc == 0) {
        dev_log("%s: installing into %s", r->id, r->image);
        rc = apply_file(d, r, pkg, len, UPD_APPLY_PKG_AT_HAND, checked, &h, &hd, NULL, &st);
    }
    if (rc < 0) {
        dev_log("%s: install failed: %s (%s)", r->id, upd_strerror(rc), upd_errname(rc));
        step(r, UPD_FUMO_EV_UPD_FAILED, upd_fumo_result(rc));
        return;
    }
    dev_log("%s: applied %llu package bytes%s%s", r->id, (unsigned long long)st.pkg_bytes,
            st.resumed ? ", resumed from the journal" : "",
            st.already_applied ? ", image already new" : "");
    installed(d, r, &hd);
}

/* State 30 in streaming mode: download straight into the applier. */
static void stream(device *d, dev_rom *r, const char *url)
{
    upd_io *img = NULL, *jrn = NULL;
    upd_keyring *kr = NULL;
    upd_applier *a = NULL;
    half_way h = { d, "download", 0, r->id };
    upd_dl_params p;
    dl_params(&p, url, &h);
    dev_log("%s: streaming %s into %s (install while downloading)", r->id, url, r->image);
    int rc = make_applier(d, r, 0, NULL, &img, &jrn, &kr, &h, &a);
    upd_dl_stats st = { 0 };
    if (rc == 0)
        rc = upd_download_stream(&p, a, &st);
    if (rc < 0) {
        dev_log("%s: streaming install failed: %s (%s)", r->id, upd_strerror(rc), upd_errname(rc));
        close_all(a, img, jrn, kr);
        if (rc <= UPD_E_NET_URL && rc >= UPD_E_NO_SPACE) {
            step(r, UPD_FUMO_EV_DL_FAILED, upd_fumo_result(rc));
        } else if (step(r, UPD_FUMO_EV_DL_DONE, 0) == 0 && step(r, UPD_FUMO_EV_PROCEED, 0) == 0) {
            step(r, UPD_FUMO_EV_UPD_FAILED, upd_fumo_result(rc));
        }
        return;
    }
    upd_header hd = *upd_applier_header(a);
    upd_apply_stats ast;
    upd_applier_stats(a, &ast);
    dev_log("%s: streamed %llu bytes in %u requests%s", r->id, (unsigned long long)st.bytes_received,
            st.requests, ast.resumed ? ", resumed from the journal" : "");
    close_all(a, img, jrn, kr);
    if (step(r, UPD_FUMO_EV_DL_DONE, 0) == 0 && step(r, UPD_FUMO_EV_PROCEED, 0) == 0)
        installed(d, r, &hd);
}

/* State 30: fetch the package into the state dir (resuming). */
static void download(device *d, dev_rom *r, const char *url)
{
    if (d->stream) {
        stream(d, r, url);
        return;
    }
    char pkg[4096];
    side_path(pkg, sizeof pkg, d, r, "pkg");
    half_way h = { d, "download", 0, r->id };
    upd_dl_params p;
    dl_params(&p, url, &h);
    upd_dl_stats st = { 0 };
    int rc = upd_download_file(&p, pkg, &st);
    if (rc < 0) {
        dev_log("%s: download failed: %s (%s)", r->id, upd_strerror(rc), upd_errname(rc));
        step(r, UPD_FUMO_EV_DL_FAILED, upd_fumo_result(rc));
        return;
    }
    dev_log("%s: downloaded %llu bytes (%u requests, resumed from %llu)", r->id,
            (unsigned long long)st.total, st.requests, (unsigned long long)st.resumed_from);
    if (step(r, UPD_FUMO_EV_DL_DONE, 0) == 0)
        dev_crash_point(d, "downloaded");
}

static int sha256_file(const char *path, uint8_t out[32])
{
    FILE *fp = fopen(path, "rb");
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = fp && c && EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    static uint8_t buf[1 << 20];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, fp)) > 0)
        ok = EVP_DigestUpdate(c, buf, n);
    ok = ok && !ferror(fp) && EVP_DigestFinal_ex(c, out, NULL);
    if (fp)
        fclose(fp);
    EVP_MD_CTX_free(c);
    return ok ? 0 : -1;
}

/* State 60 after the reboot: the image must hash to what the package
 * promised; then the new version is recorded and the user told. */
static void verify_after_reboot(device *d, dev_rom *r, const char *note)
{
    dev_crash_point(d, "rebooted");
    char want[65] = "", version[128] = "";
    if (sscanf(note, "installed %64s %127s", want, version) != 2) {
        step(r, UPD_FUMO_EV_UPD_FAILED, UPD_FUMO_UPDATE_FAILED);
        return;
    }
    uint8_t got[32];
    char hx[65] = "";
    if (sha256_file(r->image, got) == 0)
        for (int i = 0; i < 32; i++)
            sprintf(hx + 2 * i, "%02x", got[i]);
    if (strcmp(hx, want) != 0) {
        dev_log("%s: after reboot the image does not hash to the new version's digest", r->id);
        step(r, UPD_FUMO_EV_UPD_FAILED, UPD_FUMO_UPDATE_FAILED);
        return;
    }
    char name[160];
    snprintf(name, sizeof name, "rom-%s.version", r->id);
    char line[160];
    int n = snprintf(line, sizeof line, "%s\n", version);
    int rc = upd_fumo_store_file(d->state_dir, name, line, (size_t)n, NULL);
    if (rc < 0) {
        dev_log("%s: cannot record version %s: %s", r->id, version, upd_strerror(rc));
        return;
    }
    char *v = strdup(version);
    if (v) {
        free(r->version);
        r->version = v;
    }
    char uri[1100];
    snprintf(uri, sizeof uri, "./Vendor/updelta/ROMPackage/%s/PkgVersion", r->id);
    upd_tree_set(d->tree, uri, UPD_TREE_CHR, UPD_TREE_GET, NULL, version, strlen(version));
    if (step(r, UPD_FUMO_EV_UPD_DONE, 0) == 0) {
        dev_log("PROMPT: The update was installed successfully. %s is now version %s.",
                r->name ? r->name : r->id, version);
        dev_crash_point(d, "verified");
    }
}

void dev_run_jobs(device *d)
{
    for (unsigned i = 0; i < d->n_rom; i++) {
        dev_rom *r = &d->rom[i];
        for (;;) {
            upd_fumo_record rec;
            upd_fumo_get(r->fumo, &rec);
            char note[256];   /* rec's strings do not survive a change */
            snprintf(note, sizeof note, "%s", rec.note);
            int state = (int)rec.state;
            if (state == UPD_FUMO_ST_DL_PROGRESS) {
                download(d, r, rec.url);
            } else if (state == UPD_FUMO_ST_DL_COMPLETE) {
                if (step(r, UPD_FUMO_EV_PROCEED, 0) < 0)
                    break;
            } else if (state == UPD_FUMO_ST_UPD_PROGRESS) {
                if (strncmp(note, "installed ", 10) == 0)
                    verify_after_reboot(d, r, note);
                else
                    install(d, r);
            } else {
                break;
            }
            upd_fumo_record now;
            upd_fumo_get(r->fumo, &now);
            if ((int)now.state == state && strcmp(now.note, note) == 0)
                break;   /* no progress (a logged failure): try again at the next start */
            if (now.alert_pending && dev_report(d))
                dev_log("%s: result not yet acknowledged; will retry", r->id);
        }
    }
}
