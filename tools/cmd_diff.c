/* updelta diff OLD NEW -o PKG */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { FILE *f; } file_sink;

static int sink_write(void *user, const void *data, size_t len)
{
    file_sink *s = user;
    return fwrite(data, 1, len, s->f) == len ? 0 : UPD_E_IO_WRITE;
}

static void print_summary(const upd_diff_stats *st, size_t new_len, const cli_opts *o)
{
    char a[32], b[32];
    double pct = new_len ? 100.0 * (double)st->pkg_size / (double)new_len : 0;
    if (o->json) {
        printf("{\"pkg_size\":%llu,\"new_size\":%zu,\"segments\":%u,"
               "\"ops\":{\"copy\":%llu,\"diff\":%llu,\"lit\":%llu,\"fill\":%llu,\"stash\":%llu,"
               "\"resize\":%llu,\"drop\":%llu},\"copy_bytes\":%llu,\"diff_bytes\":%llu,\"lit_bytes\":%llu,"
               "\"fill_bytes\":%llu,\"unchanged_bytes\":%llu,\"stash_size\":%llu,"
               "\"cycle_lit_bytes\":%llu,\"dict_segments\":%u,\"lzma_segments\":%u,"
               "\"t_index\":%.3f,\"t_match\":%.3f,"
               "\"t_plan\":%.3f,\"t_emit\":%.3f,\"trials\":%u,\"best_trial\":%u,\"trial_sizes\":[",
               (unsigned long long)st->pkg_size, new_len, st->segments,
               (unsigned long long)st->ops[UPD_OP_COPY], (unsigned long long)st->ops[UPD_OP_DIFF],
               (unsigned long long)st->ops[UPD_OP_LIT], (unsigned long long)st->ops[UPD_OP_FILL],
               (unsigned long long)st->ops[UPD_OP_STASH], (unsigned long long)st->ops[UPD_OP_RESIZE],
               (unsigned long long)st->ops[UPD_OP_DROP], (unsigned long long)st->copy_bytes, (unsigned long long)st->diff_bytes,
               (unsigned long long)st->lit_bytes, (unsigned long long)st->fill_bytes,
               (unsigned long long)st->unchanged_bytes, (unsigned long long)st->stash_size,
               (unsigned long long)st->cycle_lit_bytes, st->dict_segments, st->lzma_segments,
               st->t_index, st->t_match, st->t_plan, st->t_emit, st->trials, st->best_trial);
        for (unsigned t = 0; t < st->trials; t++)
            printf("%s%llu", t ? "," : "", (unsigned long long)st->trial_size[t]);
        printf("]}\n");
        return;
    }
    if (o->quiet)
        return;
    printf("package   %s bytes (%.2f%% of %s), %u segments\n", cli_num(st->pkg_size, a), pct,
           cli_num(new_len, b), st->segments);
    printf("time      index %.2f s, match %.2f s, plan %.2f s, emit %.2f s\n", st->t_index,
           st->t_match, st->t_plan, st->t_emit);
    if (o->verbose) {
        printf("ops       copy %llu, diff %llu, literal %llu, fill %llu, stash %llu, resize %llu, "
               "drop %llu\n",
               (unsigned long long)st->ops[UPD_OP_COPY], (unsigned long long)st->ops[UPD_OP_DIFF],
               (unsigned long long)st->ops[UPD_OP_LIT], (unsigned long long)st->ops[UPD_OP_FILL],
               (unsigned long long)st->ops[UPD_OP_STASH], (unsigned long long)st->ops[UPD_OP_RESIZE],
               (unsigned long long)st->ops[UPD_OP_DROP]);
        printf("bytes     unchanged %s, copy %llu, diff %llu, literal %llu, fill %llu\n",
               cli_num(st->unchanged_bytes, a), (unsigned long long)st->copy_bytes,
               (unsigned long long)st->diff_bytes, (unsigned long long)st->lit_bytes,
               (unsigned long long)st->fill_bytes);
        printf("in place  stash %llu bytes, cycle literals %llu bytes\n",
               (unsigned long long)st->stash_size, (unsigned long long)st->cycle_lit_bytes);
        printf("streams   ctrl %llu, diff %llu, literal %llu (before compression)\n",
               (unsigned long long)st->ctrl_raw, (unsigned long long)st->diff_raw,
               (unsigned long long)st->lit_raw);
        printf("literals  %u of %u segments compressed against a dictionary\n", st->dict_segments,
               st->segments);
        printf("lzma2     %u of %u segments\n", st->lzma_segments, st->segments);
        /* with LZMA2 allowed the kept trial is made again with it */
        printf("trials    %u, kept #%u (zstd):", st->trials, st->best_trial + 1);
        for (unsigned t = 0; t < st->trials; t++)
            printf(" %s", st->trial_size[t] ? cli_num(st->trial_size[t], a) : "(did not fit)");
        printf(" bytes\n");
    }
}

int cmd_diff(int argc, char **argv)
{
    static const struct option lo[] = {
        { "output", required_argument, 0, 'o' }, { "level", required_argument, 0, 'l' },
        { "segment-size", required_argument, 0, 's' }, { "stash-max", required_argument, 0, 'S' },
        { "block-size", required_argument, 0, 'b' }, { "threads", required_argument, 0, 't' },
        { "package-id", required_argument, 0, 'P' }, { "from", required_argument, 0, 'F' },
        { "to", required_argument, 0, 'T' }, { "quiet", no_argument, 0, 'q' },
        { "verbose", no_argument, 0, 'v' }, { "json", no_argument, 0, 'j' },
        { "sign", required_argument, 0, 'K' }, { "dict-max", required_argument, 0, 'D' },
        { "window", required_argument, 0, 'W' }, { "trials", required_argument, 0, 'R' },
        { "lzma", required_argument, 0, 'L' }, { 0, 0, 0, 0 }
    };
    const char *sign_key = NULL;
    upd_diff_params p;
    upd_diff_params_default(&p);
    cli_opts o = { 0 };
    const char *out = NULL;
    uint64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qv", lo, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'l': if (cli_parse_size(optarg, &v) || v > INT_MAX) goto bad; p.level = (int)v; break;
        case 's': if (cli_parse_size(optarg, &v) || v > UINT32_MAX) goto bad; p.segment_size = (uint32_t)v; break;
        case 'S': if (cli_parse_size(optarg, &v)) goto bad; p.stash_max = v; break;
        case 'D': if (cli_parse_size(optarg, &v) || v > UINT32_MAX) goto bad; p.dict_max = (uint32_t)v; break;
        case 'b': if (cli_parse_size(optarg, &v) || v > UINT32_MAX) goto bad; p.block_size = (uint32_t)v; break;
        case 'W': if (cli_parse_size(optarg, &v) || v > SIZE_MAX) goto bad; p.window = (size_t)v; break;
        case 't': if (cli_parse_size(optarg, &v) || v > UINT_MAX) goto bad; p.threads = (unsigned)v; break;
        case 'R': if (cli_parse_size(optarg, &v) || v > UINT_MAX) goto bad; p.trials = (unsigned)v; break;
        case 'L':
            if (!strcmp(optarg, "auto")) p.lzma = UPD_LZMA_AUTO;
            else if (!strcmp(optarg, "never")) p.lzma = UPD_LZMA_NEVER;
            else if (!strcmp(optarg, "always")) p.lzma = UPD_LZMA_ALWAYS;
            else goto bad;
            break;
        case 'P': p.package_id = optarg; break;
        case 'F': p.from_version = optarg; break;
        case 'T': p.to_version = optarg; break;
        case 'q': o.quiet = 1; break;
        case 'v': o.verbose = 1; break;
        case 'j': o.json = 1; break;
        case 'K': sign_key = optarg; break;
        default: goto bad;
        }
    }
    if (argc - optind != 2 || !out)
        goto bad;
    uint8_t *old = NULL, *nw = NULL;
    size_t old_len = 0, new_len = 0;
    if (cli_read_file(argv[optind], &old, &old_len) < 0) {
        fprintf(stderr, "updelta: %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    if (cli_read_file(argv[optind + 1], &nw, &new_len) < 0) {
        fprintf(stderr, "updelta: %s: %s\n", argv[optind + 1], strerror(errno));
        free(old);
        return 1;
    }
    cli_progress pr;
    cli_progress_init(&pr, &o);
    p.progress = cli_progress_cb;
    p.progress_user = &pr;
    /* write beside the target and rename, so a failed run leaves no half package */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.part", out);
    file_sink sink = { fopen(tmp, "wb") };
    if (!sink.f) {
        fprintf(stderr, "updelta: %s: %s\n", tmp, strerror(errno));
        free(old);
        free(nw);
        return 1;
    }
    upd_diff_stats st;
    int rc = upd_diff(old, old_len, nw, new_len, &p, sink_write, &sink, &st);
    cli_progress_end(&pr);
    free(old);
    free(nw);
    if (fclose(sink.f) != 0 && !rc)
        rc = UPD_E_IO_WRITE;
    if (rc) {
        remove(tmp);
        return cli_fail("diff", rc);
    }
    /* signed before the rename: PKG never exists unsigned when --sign is given */
    if (sign_key && cli_sign_with(tmp, sign_key, o.quiet || o.json) != 0) {
        remove(tmp);
        return 1;
    }
    if (rename(tmp, out) != 0) {
        remove(tmp);
        return cli_fail("diff", UPD_E_IO_WRITE);
    }
    print_summary(&st, new_len, &o);
    return 0;
bad:
    fprintf(stderr, "usage: updelta diff OLD NEW -o PKG [options] (see updelta --help)\n");
    return 2;
}
