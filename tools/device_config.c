/* The updelta-device config file: one "key = value" per line; '#' starts a
 * comment line; blank lines are ignored; an unknown key or a malformed line
 * is an error (named with its line number).
 *
 *   server_url      = http://127.0.0.1:8080/dm   DM server (required)
 *   server_id       = updelta-server              its id in package #0 and Cred (required)
 *   server_password = ...                        SRVCRED secret: checks package #0 digests and
 *                                                the server's Cred (required)
 *   user, password  = ...                        CLCRED (required)
 *   auth            = md5 | basic                 client credential scheme (default md5)
 *   hmac            = 0 | 1                       x-syncml-hmac integrity instead of Cred
 *   encoding        = xml | wbxml                 (default xml)
 *   dev_id, man, mod, lang                       DevInfo (dev_id required)
 *   state_dir       = /var/lib/updelta            FUMO records, nonces, downloads, journals (required)
 *   log_file        = /var/log/updelta-device.log (default: stderr only)
 *   ca_file         = /etc/updelta/ca.pem         PEM CA bundle for https server and package
 *                                                URLs (default: the system's CAs)
 *   keys_dir        = /etc/updelta/keys           trusted public keys (*.pub), required unless
 *   insecure        = 1                           accept unsigned packages (tests only)
 *   stream          = 0 | 1                       install while downloading (no staging file)
 *   notify_port     = 2948                        UDP port on 127.0.0.1 for package #0
 *   retry_ms        = 5000                        delay before re-sending an unacknowledged alert
 *   rom.<id>.name   = OS                          one block per ROM package (<id>: letters,
 *   rom.<id>.image  = /dev/mmcblk0p2              digits, '.', '_', '-'); image: the file or
 *   rom.<id>.version = 1.0.0                      block device updated in place; version: the
 *                                                installed version (the state dir's record of
 *                                                a later update wins)
 */
#define _POSIX_C_SOURCE 200809L
#include "device.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    *e = '\0';
    return s;
}

static dev_rom *rom_of(device *d, const char *id, size_t len)
{
    for (unsigned i = 0; i < d->n_rom; i++)
        if (strlen(d->rom[i].id) == len && memcmp(d->rom[i].id, id, len) == 0)
            return &d->rom[i];
    if (d->n_rom == DEV_MAX_ROM)
        return NULL;
    dev_rom *r = &d->rom[d->n_rom];
    if (!(r->id = strndup(id, len)))
        return NULL;
    d->n_rom++;
    return r;
}

static int set(char **dst, const char *v)
{
    free(*dst);
    *dst = strdup(v);
    return *dst ? 0 : -1;
}

static int flag(int *dst, const char *v)
{
    if (strcmp(v, "0") && strcmp(v, "1"))
        return -1;
    *dst = v[0] == '1';
    return 0;
}

static int apply_key(device *d, const char *k, const char *v)
{
    static const struct { const char *key; size_t off; } strs[] = {
        { "server_url", offsetof(device, server_url) },
        { "server_id", offsetof(device, server_id) },
        { "server_password", offsetof(device, server_pass) },
        { "user", offsetof(device, user) },
        { "password", offsetof(device, pass) },
        { "dev_id", offsetof(device, dev_id) },
        { "man", offsetof(device, man) },
        { "mod", offsetof(device, mod) },
        { "lang", offsetof(device, lang) },
        { "state_dir", offsetof(device, state_dir) },
        { "log_file", offsetof(device, log_file) },
        { "keys_dir", offsetof(device, keys_dir) },
        { "ca_file", offsetof(device, ca_file) },
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (strcmp(k, strs[i].key) == 0)
            return set((char **)((char *)d + strs[i].off), v);
    if (strcmp(k, "auth") == 0) {
        if (strcmp(v, "md5") && strcmp(v, "basic"))
            return -1;
        return set(&d->auth, strcmp(v, "md5") == 0 ? "syncml:auth-md5" : "syncml:auth-basic");
    }
    if (strcmp(k, "encoding") == 0) {
        if (strcmp(v, "xml") && strcmp(v, "wbxml"))
            return -1;
        d->wbxml = strcmp(v, "wbxml") == 0;
        return 0;
    }
    if (strcmp(k, "hmac") == 0)
        return flag(&d->hmac, v);
    if (strcmp(k, "stream") == 0)
        return flag(&d->stream, v);
    if (strcmp(k, "insecure") == 0)
        return flag(&d->insecure, v);
    if (strcmp(k, "notify_port") == 0 || strcmp(k, "retry_ms") == 0) {
        char *end;
        long x = strtol(v, &end, 10);
        if (end == v || *end || x < 1 || x > (k[0] == 'n' ? 65535 : 3600000))
            return -1;
        if (k[0] == 'n')
            d->notify_port = (int)x;
        else
            d->retry_ms = (unsigned)x;
        return 0;
    }
    if (strncmp(k, "rom.", 4) == 0) {
        const char *id = k + 4, *dot = strrchr(id, '.');
        if (!dot || dot == id)
            return -1;
        dev_rom *r = rom_of(d, id, (size_t)(dot - id));
        if (!r)
            return -1;
        if (strcmp(dot, ".name") == 0)
            return set(&r->name, v);
        if (strcmp(dot, ".image") == 0)
            return set(&r->image, v);
        if (strcmp(dot, ".version") == 0)
            return set(&r->version, v);
    }
    return -1;
}

int dev_config_load(device *d, const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        dev_log("config %s: cannot open", path);
        return -1;
    }
    d->notify_port = 2948;
    d->retry_ms = 5000;
    char line[4096];
    int ln = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, fp)) {
        ln++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = -1;
            break;
        }
        *eq = '\0';
        rc = apply_key(d, trim(s), trim(eq + 1));
    }
    fclose(fp);
    if (rc < 0) {
        dev_log("config %s:%d: malformed line or unknown key", path, ln);
        return -1;
    }
    const char *missing = !d->server_url ? "server_url" : !d->server_id ? "server_id"
                        : !d->server_pass ? "server_password" : !d->user ? "user"
                        : !d->pass ? "password" : !d->dev_id ? "dev_id"
                        : !d->state_dir ? "state_dir" : !d->n_rom ? "rom.<id>.*"
                        : (!d->keys_dir && !d->insecure) ? "keys_dir" : NULL;
    for (unsigned i = 0; !missing && i < d->n_rom; i++)
        if (!d->rom[i].image || !d->rom[i].version)
            missing = "rom.<id>.image / rom.<id>.version";
    if (missing) {
        dev_log("config %s: %s is required", path, missing);
        return -1;
    }
    return 0;
}

void dev_config_free(device *d)
{
    char **strs[] = { &d->server_url, &d->server_id, &d->server_pass, &d->user, &d->pass,
                      &d->auth, &d->dev_id, &d->man, &d->mod, &d->lang, &d->state_dir,
                      &d->log_file, &d->keys_dir, &d->ca_file };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    for (unsigned i = 0; i < d->n_rom; i++) {
        upd_fumo_free(d->rom[i].fumo);
        free(d->rom[i].id);
        free(d->rom[i].name);
        free(d->rom[i].image);
        free(d->rom[i].version);
    }
}
