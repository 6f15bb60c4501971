/* Status of every device: text for `updelta-server status`, JSON for
 * GET /status.json and `status --json`. */
#define _POSIX_C_SOURCE 200809L
#include "server.h"

#include <string.h>

#define ROMS_MAX 64

typedef struct {
    srv_store *st;
    FILE *out;
    int json, first;
} status_ctx;

/* S as a JSON string (quotes included). */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int one_device(void *user, const srv_device *d)
{
    status_ctx *x = user;
    FILE *f = x->out;
    srv_rom roms[ROMS_MAX];
    int n = srv_rom_current(x->st, d->id, roms, ROMS_MAX);
    if (n < 0)
        return n;
    if (n > ROMS_MAX)
        n = ROMS_MAX;
    srv_job job;
    int has_job = srv_job_last(x->st, d->id, NULL, &job);
    if (has_job < 0)
        return has_job;
    if (x->json) {
        fprintf(f, "%s{\"dev_id\":", x->first ? "" : ",");
        json_str(f, d->dev_id);
        fputs(",\"state\":", f);
        json_str(f, d->state);
        fputs(",\"reason\":", f);
        json_str(f, d->reason);
        fprintf(f, ",\"last_seen\":%lld,\"packages\":[", (long long)d->last_seen);
    } else {
        fprintf(f, "%-24s %-9s%s%s\n", d->dev_id, d->state, d->reason[0] ? " " : "", d->reason);
    }
    for (int i = 0; i < n; i++) {
        char latest[SRV_VERSION_MAX + 1] = "";
        int rc = srv_cat_latest(x->st, roms[i].pkg_id, latest);
        if (rc < 0)
            return rc;
        if (x->json) {
            fprintf(f, "%s{\"pkg_id\":", i ? "," : "");
            json_str(f, roms[i].pkg_id);
            fputs(",\"name\":", f);
            json_str(f, roms[i].name);
            fputs(",\"version\":", f);
            json_str(f, roms[i].version);
            fputs(",\"latest\":", f);
            json_str(f, latest);
            fputc('}', f);
        } else {
            fprintf(f, "  %-22s %-12s latest %s\n", roms[i].pkg_id, roms[i].version,
                    latest[0] ? latest : "-");
        }
    }
    if (x->json) {
        fputs("],\"last_job\":", f);
        if (has_job) {
            fputs("{\"pkg_id\":", f);
            json_str(f, job.pkg_id);
            fputs(",\"from\":", f);
            json_str(f, job.from);
            fputs(",\"to\":", f);
            json_str(f, job.to);
            fputs(",\"state\":", f);
            json_str(f, job.state);
            fprintf(f, ",\"result\":%d,\"reason\":", job.result);
            json_str(f, job.reason);
            fputc('}', f);
        } else {
            fputs("null", f);
        }
        fputc('}', f);
    } else if (has_job) {
        fprintf(f, "  last job: %s %s -> %s %s (result %d)%s%s\n", job.pkg_id,
                job.from[0] ? job.from : "(full)", job.to, job.state, job.result,
                job.reason[0] ? ": " : "", job.reason);
    }
    x->first = 0;
    return 0;
}

int srv_status_write(srv_store *st, FILE *out, int json)
{
    status_ctx x = { st, out, json, 1 };
    if (json)
        fputs("{\"devices\":[", out);
    int rc = srv_device_each(st, one_device, &x);
    if (json)
        fputs("]}\n", out);
    if (!rc && ferror(out))
        rc = UPD_E_IO_WRITE;
    return rc;
}
