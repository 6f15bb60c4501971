/* fuzz_make_dm_seeds OUTDIR: the seed corpora of the OMA DM targets,
 * OUTDIR/fuzz_dm_{xml,wbxml,notify}/<name> (fuzz/make_seeds.sh runs it).
 *
 *   fuzz_dm_xml     every sample message of tests/dm_samples.c, a few
 *                   hostile documents (entity declarations, deep nesting)
 *   fuzz_dm_wbxml   every sample in WBXML
 *   fuzz_dm_notify  the reference's package #0 vectors' shapes: each ui
 *                   mode, a vendor part, an empty nonce and a reset nonce
 * Deterministic. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <updelta/dm_notify.h>

#include "../tests/dm_samples.h"

static const char *outdir;

static void save(const char *target, const char *name, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, target);
    if (mkdir(path, 0755) && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void message_seeds(void)
{
    for (size_t i = 0; i < DM_SAMPLE_COUNT; i++) {
        upd_dm_msg *m = dm_sample(i);
        for (int enc = UPD_DM_XML; enc <= UPD_DM_WBXML; enc++) {
            uint8_t *out;
            size_t len;
            if (upd_dm_write(m, enc, &out, &len) != 0) {
                fprintf(stderr, "make_dm_seeds: cannot write %s\n", dm_sample_name(i));
                exit(1);
            }
            save(enc == UPD_DM_XML ? "fuzz_dm_xml" : "fuzz_dm_wbxml", dm_sample_name(i), out, len);
            free(out);
        }
        upd_dm_msg_free(m);
    }
    static const char bomb[] =
        "<!DOCTYPE SyncML [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><SyncML>&b;</SyncML>";
    save("fuzz_dm_xml", "hostile-entities", bomb, sizeof bomb - 1);
    char deep[1024] = "<SyncML>";
    for (int i = 0; i < 40; i++)
        strcat(deep, "<Item>");
    save("fuzz_dm_xml", "hostile-deep", deep, strlen(deep));
}

static void notify_seeds(void)
{
    static const struct { const char *name; unsigned ui; const char *vendor; const char *nonce;
                          size_t nonce_len; } specs[] = {
        { "ui0", 0, NULL, "", 0 },          { "ui1-reset", 1, NULL, "\0\0\0\0", 4 },
        { "ui2-vendor", 2, "vendor-bytes", "nonce", 5 }, { "ui3", 3, NULL, "0x00000000", 10 },
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        upd_dm_notify n = { .version = UPD_DM_NOTIFY_VERSION, .ui_mode = specs[i].ui,
                            .initiator = 1, .session_id = (uint16_t)(0x2A + i) };
        strcpy(n.server_id, "com.example.dm");
        if (specs[i].vendor) {
            n.vendor = (const uint8_t *)specs[i].vendor;
            n.vendor_len = strlen(specs[i].vendor);
        }
        uint8_t out[128];
        int len = upd_dm_notify_encode(&n, "srvpwd", specs[i].nonce, specs[i].nonce_len, out, sizeof out);
        if (len < 0) {
            fprintf(stderr, "make_dm_seeds: cannot encode %s\n", specs[i].name);
            exit(1);
        }
        save("fuzz_dm_notify", specs[i].name, out, (size_t)len);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_make_dm_seeds OUTDIR\n");
        return 1;
    }
    outdir = argv[1];
    message_seeds();
    notify_seeds();
    return 0;
}
