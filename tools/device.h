/* updelta-device: the device agent daemon (shared by its files).  The
 * config format is documented in device_config.c and docs/ARCHITECTURE.md. */
#ifndef UPD_TOOLS_DEVICE_H
#define UPD_TOOLS_DEVICE_H

#include <stdint.h>
#include "updelta/updelta.h"
#include "updelta/tree.h"
#include "updelta/fumo.h"
#include "updelta/dmclient.h"

#define DEV_MAX_ROM 16

typedef struct {
    char *id, *name, *image, *version;    /* version: from the config, or the state dir */
    upd_fumo *fumo;
} dev_rom;

typedef struct {
    /* config */
    char *server_url, *server_id, *server_pass, *user, *pass, *auth;
    char *dev_id, *man, *mod, *lang;
    char *state_dir, *log_file, *keys_dir, *ca_file;
    int hmac, wbxml, stream, insecure, notify_port;
    unsigned retry_ms;
    dev_rom rom[DEV_MAX_ROM];
    unsigned n_rom;
    /* run time */
    upd_tree *tree;
    upd_dmc_nonces nonces;
    uint16_t last_session;      /* package #0 session id last answered */
    int work;                   /* an Exec started work */
    const char *crash_at;       /* test hook: UPD_DEVICE_CRASH_AT step name */
    char **argv;
} device;

/* device_config.c: read PATH into D.  Returns 0, or -1 after logging why. */
int dev_config_load(device *d, const char *path);
void dev_config_free(device *d);

/* device_log.c */
void dev_log_open(const char *path);
void dev_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dev_log_line(void *user, const char *line);   /* upd_dmc_log_fn */

/* device_update.c: carry every ROM package's FUMO job as far as it goes
 * (download, install, "reboot", verify).  May not return (execv). */
void dev_run_jobs(device *d);
/* Send the pending final alerts in a client-initiated session; returns 1
 * when some are still unacknowledged. */
int dev_report(device *d);
/* Run one session (SESSION_ID 0: client-initiated) with ALERTS. */
int dev_session(device *d, uint16_t session_id, upd_dmc_alert *alerts, size_t n);
/* Test hook: die with SIGKILL when STEP is the configured crash point. */
void dev_crash_point(const device *d, const char *step);
/* Log a FUMO state change of ROM package R. */
void dev_log_state(const dev_rom *r, int from);

#endif
