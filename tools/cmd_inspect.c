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
    /* inspection shows the signature but does not check it (verify does):
     * note it, then validate everything else as an unsigned package */
    upd_auth au = { .sig_alg = UPD_SIG_NONE };
    upd_header hh;
    uint8_t *auth = NULL;
    if (upd_header_decode(pkg, len, &hh) == 0 && upd_pkg_prefix_size(&hh) <= len) {
        auth = pkg + upd_pkg_prefix_size(&hh) - UPD_AUTH_SIZE;
        if (upd_auth_decode(auth, &au) == 0 && au.sig_alg != UPD_SIG_NONE) {
            upd_auth bare = au;
            bare.sig_alg = UPD_SIG_NONE;
            memset(bare.key_id, 0, sizeof bare.key_id);
            memset(bare.sig, 0, sizeof bare.sig);
            upd_auth_encode(&bare, auth);
        }
    }
    upd_apply_params p = { .flags = UPD_APPLY_DRY_RUN | UPD_APPLY_INSECURE };
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
    cli_hex(h->old_sha256, 32, osha);
    cli_hex(h->new_sha256, 32, nsha);
    char keyid[2 * UPD_KEY_ID_SIZE + 1] = "";
    if (au.sig_alg == UPD_SIG_ED25519)
        cli_hex(au.key_id, UPD_KEY_ID_SIZE, keyid);
    const char *verdict = rc ? upd_errname(rc) : "ok";
    /* what an applier with the default window must hold (apply.h): the
     * figure an embedder sizes its memory by */
    uint64_t need = upd_applier_mem_need(h, 0);
    /* segments whose diff bytes are split into heads and tails (FORMAT.md
     * 6.5), and LZMA2 ones (5.2); -1 when a manifest entry cannot be read
     * (the verdict says why) */
    long split = 0, lzma = 0;
    for (uint32_t i = 0; split >= 0 && i < h->seg_count; i++) {
        size_t at = h->header_size + (size_t)i * UPD_SEG_ENTRY_SIZE;
        upd_seg_entry e;
        if (at + UPD_SEG_ENTRY_SIZE > len || upd_seg_entry_decode(pkg + at, h, &e) < 0) {
            split = lzma = -1;
        } else {
            split += e.dtail_len > 0;
            lzma += e.dense_len > 0;
        }
    }
    char nsplit[24] = "?", nlzma[24] = "?";
    if (split >= 0) {
        snprintf(nsplit, sizeof nsplit, "%ld", split);
        snprintf(nlzma, sizeof nlzma, "%ld", lzma);
    }
    char jid[2 * UPD_ID_MAX + 1], jfrom[2 * UPD_ID_MAX + 1], jto[2 * UPD_ID_MAX + 1];
    if (o.json) {
        printf("{\"format\":%u,\"package_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
               "\"old_size\":%llu,\"new_size\":%llu,\"old_sha256\":\"%s\",\"new_sha256\":\"%s\","
               "\"header_size\":%u,\"prefix_size\":%llu,"
               "\"block_size\":%u,\"segments\":%u,\"seg_max\":%u,\"seg_cmax\":%u,"
               "\"dict_max\":%u,\"frozen_ranges\":%u,\"stash_size\":%llu,"
               "\"write_ranges\":%u,\"stash_ranges\":%u,\"split_segments\":%s,"
               "\"lzma_segments\":%s,\"mem_need\":%llu,"
               "\"mem_need_journaled\":%llu,"
               "\"ops\":{\"copy\":%llu,\"diff\":%llu,\"lit\":%llu,"
               "\"fill\":%llu,\"stash\":%llu,\"resize\":%llu,\"drop\":%llu},\"package_size\":%zu,"
               "\"signature\":\"%s\",\"key_id\":\"%s\",\"io\":\"none\",\"io_auto\":\"%s\","
               "\"valid\":\"%s\"}\n",
               h->version, json_str(h->package_id, jid), json_str(h->from_version, jfrom),
               json_str(h->to_version, jto),
               (unsigned long long)h->old_size, (unsigned long long)h->new_size, osha, nsha,
               h->header_size, (unsigned long long)upd_pkg_prefix_size(h),
               h->block_size, h->seg_count, h->seg_max, h->seg_cmax, h->dict_max,
               h->frozen_ranges, (unsigned long long)h->stash_size,
               h->write_ranges, h->stash_ranges, split >= 0 ? nsplit : "null",
               lzma >= 0 ? nlzma : "null",
               (unsigned long long)need,
               (unsigned long long)(need + UPD_JOURNAL_MEM),
               (unsigned long long)st.ops[UPD_OP_COPY],
               (unsigned long long)st.ops[UPD_OP_DIFF], (unsigned long long)st.ops[UPD_OP_LIT],
               (unsigned long long)st.ops[UPD_OP_FILL], (unsigned long long)st.ops[UPD_OP_STASH],
               (unsigned long long)st.ops[UPD_OP_RESIZE], (unsigned long long)st.ops[UPD_OP_DROP],
               len,
               keyid[0] ? "ed25519" : "none", keyid, upd_io_uring_probe() ? "posix" : "uring",
               verdict);
    } else if (!o.quiet) {
        char a1[32], a2[32];
        printf("format      updelta v%u, %s bytes, %u segments (largest %u decoded, %u compressed)\n",
               h->version, cli_num(len, a1), h->seg_count, h->seg_max, h->seg_cmax);
        printf("package     id '%s', %s -> %s\n", h->package_id, h->from_version, h->to_version);
        printf("old image   %s bytes, sha256 %s\n", cli_num(h->old_size, a1), osha);
        printf("new image   %s bytes, sha256 %s\n", cli_num(h->new_size, a2), nsha);
        printf("prefix      %llu bytes: header %u, manifest %u x %u, auth block %u\n",
               (unsigned long long)upd_pkg_prefix_size(h), h->header_size, h->seg_count,
               UPD_SEG_ENTRY_SIZE, UPD_AUTH_SIZE);
        printf("schedule    block %u, stash %llu bytes", h->block_size,
               (unsigned long long)h->stash_size);
        if (h->dict_max)
            printf(", dictionaries up to %u bytes (%u frozen at once)", h->dict_max,
                   h->frozen_ranges);
        else
            printf(", no dictionaries");
        printf(", diff bytes split in %s of %u segments, LZMA2 in %s\n", nsplit, h->seg_count,
               nlzma);
        printf("memory      needs %s bytes of applier window (%s in place, journaled); "
               "at most %u ranges written, %u saved\n",
               cli_num(need, a1), cli_num(need + UPD_JOURNAL_MEM, a2), h->write_ranges,
               h->stash_ranges);
        printf("ops         copy %llu, diff %llu, literal %llu, fill %llu, stash %llu, resize %llu, "
               "drop %llu\n",
               (unsigned long long)st.ops[UPD_OP_COPY], (unsigned long long)st.ops[UPD_OP_DIFF],
               (unsigned long long)st.ops[UPD_OP_LIT], (unsigned long long)st.ops[UPD_OP_FILL],
               (unsigned long long)st.ops[UPD_OP_STASH], (unsigned long long)st.ops[UPD_OP_RESIZE],
               (unsigned long long)st.ops[UPD_OP_DROP]);
        if (keyid[0])
            printf("signature   ed25519, key id %s (not checked here: see updelta verify)\n", keyid);
        else
            printf("signature   none (unsigned: applies only with --insecure)\n");
        char io[128];
        printf("io          none (inspection does no image I/O); apply --io=auto would use %s\n",
               cli_io_auto(io, sizeof io));
        printf("validation  %s\n", rc ? upd_strerror(rc) : "ok: every digest and operation checks out");
    }
    upd_applier_free(a);
    free(pkg);
    return rc ? 1 : 0;
}
