/* updelta apply: out of place (OLD PKG -o NEW) or in place (--in-place TARGET PKG).
 *
 * In place, a package in a regular file is first run through a dry-run
 * applier (every digest, every op validated, no image I/O), so a corrupt or
 * truncated file never touches the target, unless it has one segment and
 * is exactly the file's length: the real run then makes every check
 * before its first write (upd_pkg_one_pass_safe).  A streamed package
 * (PKG = -) is applied in one pass, each segment verified before it runs.
 * Out of place the new image goes to NEW.part, renamed over NEW only when
 * its hash has checked (and flushed), so the package is read once; the
 * directory is then flushed too, so that the new name survives a power
 * cut. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


typedef struct {
    const char *old, *pkg, *target, *stash_path;
    const char *package_id, *installed_version, *journal_path;
    int in_place, allow_downgrade, no_journal, journal_inline;
    int checks;                       /* in place: 0 streamed (each segment checked before
                                         it runs), 1 a dry run first, 2 one segment */
    uint32_t dry_ahead;               /* segments the dry run decoded beside the next */
    uint32_t journal_unit;
    size_t window;
    cli_trust trust;
    upd_keyring *keys;
    cli_opts o;
    cli_io io;
} apply_args;

/* Make the rename of NEW.part over PATH durable: fsync PATH's directory
 * (the file's bytes were flushed before the rename).  0 or an errno. */
static int sync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) + (slash == path) : 1;
    if (n >= sizeof dir)
        return ENAMETOOLONG;
    memcpy(dir, slash ? path : ".", n);
    dir[n] = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int e = fsync(fd) < 0 ? errno : 0;
    close(fd);
    return e;
}

/* The parameters both passes share: window, trust and policy. */
static upd_apply_params base_params(const apply_args *a, unsigned flags)
{
    upd_apply_params p = { .window = a->window, .keys = a->keys,
                           .package_id = a->package_id,
                           .installed_version = a->installed_version, .flags = flags };
    if (a->trust.insecure)
        p.flags |= UPD_APPLY_INSECURE;
    if (a->journal_inline)
        p.flags |= UPD_APPLY_JOURNAL_INLINE;
    if (a->allow_downgrade)
        p.flags |= UPD_APPLY_ALLOW_DOWNGRADE;
    return p;
}

static int parse(int argc, char **argv, apply_args *a)
{
    static const struct option lo[] = {
        { "output", required_argument, 0, 'o' }, { "in-place", no_argument, 0, 'i' },
        { "stash", required_argument, 0, 's' }, { "window", required_argument, 0, 'w' },
        { "quiet", no_argument, 0, 'q' }, { "verbose", no_argument, 0, 'v' },
        { "json", no_argument, 0, 'j' }, CLI_TRUST_OPTIONS,
        { "package-id", required_argument, 0, 'P' },
        { "installed-version", required_argument, 0, 'I' },
        { "allow-downgrade", no_argument, 0, 'D' }, { "journal", required_argument, 0, 'J' },
        { "no-journal", no_argument, 0, 'N' }, { "journal-unit", required_argument, 0, 'U' },
        { "journal-inline", no_argument, 0, 'L' },
        CLI_IO_OPTIONS, { 0, 0, 0, 0 }
    };
    uint64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qv", lo, NULL)) != -1) {
        int took = cli_trust_opt(&a->trust, c, optarg);
        if (!took)
            took = cli_io_opt(&a->io, c, optarg);
        if (took < 0)
            return -1;
        if (took)
            continue;
        switch (c) {
        case 'P': a->package_id = optarg; break;
        case 'I': a->installed_version = optarg; break;
        case 'D': a->allow_downgrade = 1; break;
        case 'J': a->journal_path = optarg; break;
        case 'N': a->no_journal = 1; break;
        case 'L': a->journal_inline = 1; break;
        case 'U':
            if (cli_parse_size(optarg, &v) || v < UPD_JOURNAL_UNIT_MIN || v > UINT32_MAX)
                return -1;
            a->journal_unit = (uint32_t)v;
            break;
        case 'o': a->target = optarg; break;
        case 'i': a->in_place = 1; break;
        case 's': a->stash_path = optarg; break;
        case 'w': if (cli_parse_size(optarg, &v) || v > SIZE_MAX) return -1; a->window = (size_t)v; break;
        case 'q': a->o.quiet = 1; break;
        case 'v': a->o.verbose = 1; break;
        case 'j': a->o.json = 1; break;
        default: return -1;
        }
    }
    if (argc - optind != 2)
        return -1;
    if (a->in_place) {
        if (a->target)
            return -1;
        a->target = argv[optind];
    } else {
        if (!a->target || a->stash_path)    /* out of place there is no stash */
            return -1;
        a->old = argv[optind];
    }
    a->pkg = argv[optind + 1];
    return 0;
}

static int open_pkg(const char *path, int *regular)
{
    struct stat st;
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
    *regular = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    return fd;
}

/* Dry run over a package file: everything but image I/O, before any file
 * is opened.  For a one-segment package of exactly the file's length (*LEN)
 * only its prefix (header, manifest, signature, policy): the real run
 * checks the segment whole before its first write anyway.  DIGEST gets the
 * package's, which the real run is pinned to (expect_package): the file is
 * read again, and may have changed in between. */
static int precheck(apply_args *args, int fd, uint8_t *buf, upd_header *h, uint64_t *len,
                    uint8_t digest[32])
{
    struct stat st;
    ssize_t got = fstat(fd, &st) == 0 ? pread(fd, buf, CLI_CHUNK, 0) : -1;
    /* the prefix of a one-segment package is at most UPD_HEADER_MAX +
     * UPD_SEG_ENTRY_SIZE + UPD_AUTH_SIZE bytes: all in BUF */
    int one = got > 0 && upd_pkg_one_pass_safe(buf, (size_t)got, (uint64_t)st.st_size)
           && upd_header_decode(buf, (size_t)got, h) == 0
           && upd_pkg_prefix_size(h) <= (uint64_t)got;
    args->checks = one ? 2 : 1;
    upd_apply_params p = base_params(args, UPD_APPLY_DRY_RUN);
    upd_applier *a;
    int rc = upd_applier_create(&a, &p);
    if (!rc && one) {
        *len = (uint64_t)st.st_size;
        rc = upd_applier_push(a, buf, (size_t)upd_pkg_prefix_size(h));
        if (!rc && !upd_applier_header(a))
            rc = UPD_E_PKG_TRUNCATED;
    } else if (!rc) {
        rc = cli_feed_fd(a, fd, buf, UINT64_MAX);
    }
    if (!rc) {
        upd_apply_stats ds;
        upd_applier_stats(a, &ds);
        args->dry_ahead = ds.segments_ahead;
        *h = *upd_applier_header(a);
        memcpy(digest, upd_applier_package(a), 32);
    }
    upd_applier_free(a);
    if (!rc && lseek(fd, 0, SEEK_SET) != 0)
        rc = UPD_E_IO_READ;
    return rc;
}

static void print_summary(const apply_args *args, const upd_applier *ap, upd_io *target)
{
    upd_apply_stats st;
    upd_applier_stats(ap, &st);
    const upd_header *h = upd_applier_header(ap);
    char a[32], b[32], c[32];
    if (args->o.json) {
        printf("{\"new_size\":%llu,\"bytes_written\":%llu,\"bytes_read\":%llu,\"stash_bytes\":%llu,"
               "\"journal_bytes\":%llu,\"units\":%llu,\"segments\":%u,\"mem_peak\":%zu,"
               "\"io\":\"%s\",\"flushes\":%llu,\"resumed\":%s,\"already_applied\":%s,"
               "\"t_check_base\":%.3f,\"t_apply\":%.3f,\"t_check_result\":%.3f,"
               "\"t_verify\":%.6f,\"signed\":%s}\n",
               (unsigned long long)h->new_size, (unsigned long long)st.bytes_written,
               (unsigned long long)st.bytes_read, (unsigned long long)st.stash_bytes,
               (unsigned long long)st.journal_bytes, (unsigned long long)st.units,
               st.segments_done, st.mem_peak, upd_io_name(target),
               (unsigned long long)st.flushes, st.resumed ? "true" : "false",
               st.already_applied ? "true" : "false", st.t_check_base, st.t_apply,
               st.t_check_result, st.t_verify, st.signature_verified ? "true" : "false");
        return;
    }
    if (args->o.quiet)
        return;
    if (st.already_applied) {
        printf("applied   already: the image is the package's new image (%s bytes, sha256 "
               "verified); nothing to do\n", cli_num(h->new_size, a));
        return;
    }
    if (st.resumed)
        printf("resumed   an interrupted update from its journal\n");
    printf("applied   %s: %s bytes, sha256 verified\n", args->in_place ? "in place" : "out of place",
           cli_num(h->new_size, a));
    printf("written   %s bytes to the image, %s to the journal (stash %s), %llu flushes\n",
           cli_num(st.bytes_written, a), cli_num(st.journal_bytes, b), cli_num(st.stash_bytes, c),
           (unsigned long long)st.flushes);
    printf("time      base check %.3f s, apply %.3f s, result check %.3f s, "
           "package verification %.3f s\n", st.t_check_base, st.t_apply, st.t_check_result,
           st.t_verify);
    if (!st.signature_verified)
        printf("warning   the package is not signed (accepted because of --insecure)\n");
    if (!args->o.verbose)
        return;
    char says[512];
    cli_io_says(&args->io, target, says, sizeof says);
    printf("io        %s\n", says);
    if (args->in_place && args->checks == 1)
        printf("checks    a dry run over the whole package first (%u of %u segments decoded "
               "beside the next)\n", args->dry_ahead, upd_applier_header(ap)->seg_count);
    else if (args->in_place)
        printf("checks    %s\n", args->checks == 2
                                    ? "one segment: all before the first write, no dry run"
                                    : "streamed: each segment before it runs");
    printf("engine    window %zu KiB, peak memory %zu KiB, %u segments (%u decoded beside the "
           "next), %llu units\n", (args->window ? args->window : UPD_DEFAULT_WINDOW) >> 10,
           st.mem_peak >> 10, st.segments_done, st.segments_ahead, (unsigned long long)st.units);
}

/* The files an apply works on, and their paths when the tool made them. */
typedef struct {
    upd_io *target, *source, *stash, *journal;
    char tmp[4096], stash_path[4096], journal_path[4096];
} apply_files;

/* In place the journal (unless --no-journal) holds the stash too; without a
 * journal (or with --stash) the stash is a file of its own, made only when
 * the package (H, NULL when not known yet) may need one.  Out of place there
 * is none. */
static int open_files(const apply_args *args, const upd_header *h, apply_files *f)
{
    int rc;
    if (args->in_place) {
        rc = cli_io_open(&args->io, &f->target, args->target, 0);
    } else {
        rc = cli_io_open(&args->io, &f->source, args->old, UPD_IO_RDONLY);
        char tmp[sizeof f->tmp];
        snprintf(tmp, sizeof tmp, "%s.part", args->target);
        if (!rc)
            rc = cli_io_open(&args->io, &f->target, tmp, UPD_IO_CREATE | UPD_IO_TRUNC);
        if (!rc)   /* only a .part this run made is removed on failure */
            memcpy(f->tmp, tmp, sizeof tmp);
    }
    int journal = args->in_place && !args->no_journal;
    if (!rc && journal) {
        if (args->journal_path)
            snprintf(f->journal_path, sizeof f->journal_path, "%s", args->journal_path);
        else
            cli_side_path(f->journal_path, args->target, f->target, "journal");
        rc = cli_io_open(&args->io, &f->journal, f->journal_path, UPD_IO_CREATE);
    }
    int need_stash = args->in_place && (!h || h->stash_size) && (!journal || args->stash_path);
    if (!rc && need_stash) {
        if (args->stash_path)
            snprintf(f->stash_path, sizeof f->stash_path, "%s", args->stash_path);
        else
            cli_side_path(f->stash_path, args->target, f->target, "stash");
        /* a journaled run may resume: its stash must survive */
        rc = cli_io_open(&args->io, &f->stash, f->stash_path,
                         UPD_IO_CREATE | (journal ? 0 : UPD_IO_TRUNC));
    }
    return rc;
}

/* Close everything; remove what a finished (or never started) run leaves.
 * PKG: this package's digest, when its header was verified. */
static void close_files(apply_files *f, int rc, const uint8_t *pkg)
{
    upd_journal_status js = { .state = UPD_JOURNAL_EMPTY };
    if (f->journal && rc)
        upd_journal_read_status(f->journal, &js);
    int resumable = js.state != UPD_JOURNAL_EMPTY;
    if (resumable && rc == UPD_E_JOURNAL)
        fprintf(stderr, "updelta: the journal %s holds an update this run cannot resume (another "
                        "journal version or a damaged save area); it is kept as it is\n",
                f->journal_path);
    else if (resumable && pkg && memcmp(js.package, pkg, sizeof js.package))
        fprintf(stderr, "updelta: the journal %s holds another update's progress (package "
                        "%02x%02x%02x%02x...), untouched: apply that package again to resume it\n",
                f->journal_path, js.package[0], js.package[1], js.package[2], js.package[3]);
    else if (resumable)
        fprintf(stderr, "updelta: the journal %s holds the update's progress: run the same "
                        "command again to resume it\n", f->journal_path);
    upd_io_close(f->target);
    upd_io_close(f->source);
    upd_io_close(f->stash);
    upd_io_close(f->journal);
    if (f->stash_path[0] && !resumable)
        remove(f->stash_path);
    if (f->journal_path[0] && !resumable)
        remove(f->journal_path);
    if (rc && f->tmp[0])
        remove(f->tmp);
}

int cmd_apply(int argc, char **argv)
{
    int status = cli_apply(argc, argv, NULL);
    return status < 0 ? 1 : status;
}

int cli_apply(int argc, char **argv, const cli_feeder *src)
{
    apply_args args = { .io = CLI_IO_DEFAULT };
    /* A fixed mmap threshold: glibc otherwise raises it after the first
     * large free, and the dry run's buffers would stay in the heap while the
     * real run allocates its own, doubling peak RSS past the window. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    if (parse(argc, argv, &args) < 0) {
        fprintf(stderr, "usage: updelta apply OLD PKG -o NEW | apply --in-place TARGET PKG\n"
                        "       (see updelta --help for trust and policy options)\n");
        return 2;
    }
    if (cli_trust_load(&args.trust, &args.keys) < 0)
        return 1;
    int regular = 0, rc = 0;
    int fd = src ? -1 : open_pkg(args.pkg, &regular);
    if (!src && fd < 0) {
        fprintf(stderr, "updelta: %s: %s\n", args.pkg, strerror(errno));
        upd_keyring_free(args.keys);
        return 1;
    }
    uint8_t *buf = malloc(CLI_CHUNK);
    upd_header h;
    int have_header = 0;
    if (!buf)
        rc = UPD_E_NOMEM;
    /* In place, a package that fails half-way would leave the target half
     * updated: a regular file is checked whole first (only its prefix when
     * the run checks its one segment whole before writing).  Out of place the
     * output is a temporary file, removed on failure, so the run itself
     * checks each segment before it writes, and nothing is read twice. */
    uint64_t pkg_len = UINT64_MAX;   /* a one-pass package: exactly the checked length */
    uint8_t checked[32];             /* the package the precheck passed */
    if (!rc && regular && args.in_place) {
        rc = precheck(&args, fd, buf, &h, &pkg_len, checked);
        have_header = !rc;
    }
    apply_files f = { 0 };
    int open_errno = 0;   /* no handle keeps this errno: an open, the rename, the
                             directory's flush */
    if (!rc && (rc = open_files(&args, have_header ? &h : NULL, &f)) == UPD_E_IO_OPEN)
        open_errno = errno;
    cli_progress pr;
    cli_progress_init(&pr, &args.o);
    /* a file is at hand: a segment may wait, decoded, for the next one */
    upd_apply_params p = base_params(&args, regular ? UPD_APPLY_PKG_AT_HAND : 0);
    p.target = f.target;
    p.source = f.source;
    p.stash = f.stash;
    p.journal = f.journal;
    p.journal_unit = args.journal_unit;
    p.expect_package = have_header ? checked : NULL;
    p.progress = cli_progress_cb;
    p.progress_user = &pr;
    upd_applier *ap = NULL;
    if (!rc)
        rc = upd_applier_create(&ap, &p);
    if (!rc)
        rc = src ? src->feed(src->user, ap) : cli_feed_fd(ap, fd, buf, pkg_len);
    cli_progress_end(&pr);
    if (!rc && f.tmp[0] && rename(f.tmp, args.target) != 0) {
        open_errno = errno;
        rc = UPD_E_IO_WRITE;
    } else if (!rc && f.tmp[0] && (open_errno = sync_dir_of(args.target)) != 0) {
        rc = UPD_E_IO_FLUSH;
    }
    if (rc) {
        int e = upd_io_last_errno(f.target) ? upd_io_last_errno(f.target)
              : upd_io_last_errno(f.source) ? upd_io_last_errno(f.source) : open_errno;
        cli_fail(args.pkg, rc);
        if (e)
            fprintf(stderr, "updelta: system error: %s\n", strerror(e));
    } else {
        print_summary(&args, ap, f.target);
    }
    uint8_t digest[32];
    const uint8_t *mine = upd_applier_package(ap);
    if (mine)
        memcpy(digest, mine, sizeof digest);
    upd_applier_free(ap);
    upd_keyring_free(args.keys);
    close_files(&f, rc, mine ? digest : NULL);
    if (fd >= 0 && fd != STDIN_FILENO)
        close(fd);
    free(buf);
    return rc < 0 ? rc : (rc ? 1 : 0);
}
