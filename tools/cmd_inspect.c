/* updelta inspect PKG [--json]: header, manifest and a dry-run validation
 * of every segment (op counts by kind). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A header string as a JSON string body: printable ASCII, so only the
 * quote and the backslash need escaping. */
static const char *json_str(const char *s, char out[2 * UPD_ID_MAX + 1])
{
    size_t o = 0;
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            out[o++] = '\\';
        out[o++] = *s;
    }
    out[o] = 0;
    return out;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option lo[] = {
        { "json", no_argument, 0, 'j' }, { "quiet", no_argument, 0, 'q' }, { 0, 0, 0, 0 }
    };
    cli_opts o = { 0 };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "q", lo, NULL)) != -1) {
        if (c == 'j')
            o.json = 1;
        else if (c == 'q')
            o.quiet = 1;
        else
            return 2;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "usage: updelta inspect PKG [--json]\n");
        return 2;
    }
    uint8_t *pkg;
    size_t len;
    if (cli_read_file(argv[optind], &pkg, &len) < 0) {
        fprintf(stderr, "updelta: %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    upd_apply_params p = { .flags = UPD_APPLY_DRY_RUN };
    upd_applier *a = NULL;
    int rc = upd_applier_create(&a, &p);
    if (!rc)
        rc = upd_applier_push(a, pkg, len);
    if (!rc)
        rc = upd_applier_finish(a);
    const upd_header *h = a ? upd_applier_header(a) : NULL;
    if (!h) {
        upd_applier_free(a);
        free(pkg);
        return cli_fail(argv[optind], rc);
    }
    upd_apply_stats st;
    upd_applier_stats(a, &st);
    char osha[65], nsha[65];
    hex(h->old_sha256, 32, osha);
    hex(h->new_sha256, 32, nsha);
    const char *verdict = rc ? upd_errname(rc) : "ok";
    char jid[2 * UPD_ID_MAX + 1], jfrom[2 * UPD_ID_MAX + 1], jto[2 * UPD_ID_MAX + 1];
    if (o.json) {
        printf("{\"format\":%u,\"package_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
               "\"old_size\":%llu,\"new_size\":%llu,\"old_sha256\":\"%s\",\"new_sha256\":\"%s\","
               "\"block_size\":%u,\"segments\":%u,\"seg_max\":%u,\"seg_cmax\":%u,"
               "\"stash_size\":%llu,\"ops\":{\"copy\":%llu,\"diff\":%llu,\"lit\":%llu,"
               "\"fill\":%llu,\"stash\":%llu,\"resize\":%llu},\"package_size\":%zu,"
               "\"io\":\"none\",\"valid\":\"%s\"}\n",
               h->version, json_str(h->package_id, jid), json_str(h->from_version, jfrom),
               json_str(h->to_version, jto),
               (unsigned long long)h->old_size, (unsigned long long)h->new_size, osha, nsha,
               h->block_size, h->seg_count, h->seg_max, h->seg_cmax,
               (unsigned long long)h->stash_size, (unsigned long long)st.ops[UPD_OP_COPY],
               (unsigned long long)st.ops[UPD_OP_DIFF], (unsigned long long)st.ops[UPD_OP_LIT],
               (unsigned long long)st.ops[UPD_OP_FILL], (unsigned long long)st.ops[UPD_OP_STASH],
               (unsigned long long)st.ops[UPD_OP_RESIZE], len, verdict);
    } else if (!o.quiet) {
        char a1[32], a2[32];
        printf("format      updelta v%u, %s bytes, %u segments (largest %u decoded, %u compressed)\n",
               h->version, cli_num(len, a1), h->seg_count, h->seg_max, h->seg_cmax);
        printf("package     id '%s', %s -> %s\n", h->package_id, h->from_version, h->to_version);
        printf("old image   %s bytes, sha256 %s\n", cli_num(h->old_size, a1), osha);
        printf("new image   %s bytes, sha256 %s\n", cli_num(h->new_size, a2), nsha);
        printf("schedule    block %u, stash %llu bytes\n", h->block_size,
               (unsigned long long)h->stash_size);
        printf("ops         copy %llu, diff %llu, literal %llu, fill %llu, stash %llu, resize %llu\n",
               (unsigned long long)st.ops[UPD_OP_COPY], (unsigned long long)st.ops[UPD_OP_DIFF],
               (unsigned long long)st.ops[UPD_OP_LIT], (unsigned long long)st.ops[UPD_OP_FILL],
               (unsigned long long)st.ops[UPD_OP_STASH], (unsigned long long)st.ops[UPD_OP_RESIZE]);
        printf("io          none (inspection does no image I/O)\n");
        printf("validation  %s\n", rc ? upd_strerror(rc) : "ok: every digest and operation checks out");
    }
    upd_applier_free(a);
    free(pkg);
    return rc ? 1 : 0;
}
