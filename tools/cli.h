/* Shared pieces of the updelta command-line tool. */
#ifndef UPD_CLI_H
#define UPD_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <updelta/updelta.h>

typedef struct {
    int quiet, verbose, json;
} cli_opts;

/* Progress bar on stderr when it is a terminal and not quiet. */
typedef struct {
    int      on;
    int      phase;
    double   t_start, t_last;
} cli_progress;

void cli_progress_init(cli_progress *p, const cli_opts *o);
void cli_progress_cb(void *user, int phase, uint64_t done, uint64_t total);
void cli_progress_end(cli_progress *p);
/* The download agent's progress (upd_dl_progress_fn) on the same bar. */
enum { CLI_PHASE_DOWNLOAD = 100 };
void cli_progress_download(void *user, uint64_t done, uint64_t total, double rate, double eta);

/* Parse "123", "64K", "16M", "2G"; -1 on error. */
int cli_parse_size(const char *s, uint64_t *out);
/* Read a whole file into memory (malloc'd); 0 or -1 with errno. */
int cli_read_file(const char *path, uint8_t **data, size_t *len);
/* Push everything readable from FD, but at most MAX bytes, into A through
 * BUF (CLI_CHUNK bytes), then finish A.  0 or an upd_err (UPD_E_IO_READ
 * when a read fails).
 * 64 KiB: the applier buffers a segment whole anyway, so a bigger read
 * buys only fewer system calls, and its pages count in the apply's RSS
 * (256 KiB put a 1 GiB in-place apply at the 16 MiB limit). */
#define CLI_CHUNK (64u << 10)
int cli_feed_fd(upd_applier *a, int fd, uint8_t *buf, uint64_t max);
/* Report a library error on stderr: "updelta: CONTEXT: text (NAME)". */
int cli_fail(const char *context, int code);
/* "1,234,567" */
const char *cli_num(uint64_t v, char buf[32]);

/* Trust options (apply, verify): --pubkey FILE (repeatable), --keydir DIR,
 * --insecure.  getopt codes for them: */
enum { CLI_OPT_PUBKEY = 0x100, CLI_OPT_KEYDIR, CLI_OPT_INSECURE };
#define CLI_MAX_KEYS 16
#define CLI_DEFAULT_KEYDIR "/etc/updelta/keys"
#define CLI_TRUST_OPTIONS \
    { "pubkey", required_argument, 0, CLI_OPT_PUBKEY }, \
    { "keydir", required_argument, 0, CLI_OPT_KEYDIR }, \
    { "insecure", no_argument, 0, CLI_OPT_INSECURE }
typedef struct {
    const char *pub[CLI_MAX_KEYS];
    unsigned    npub;
    const char *keydir;
    int         insecure;
} cli_trust;

/* Take option C if it is a trust option: 1 taken, 0 not one, -1 bad. */
int cli_trust_opt(cli_trust *t, int c, const char *arg);
/* The keyring T names (*OUT NULL when insecure with no keys); prints the
 * reason and returns an upd_err on failure (no key at all: UPD_E_SIG_MISSING). */
int cli_trust_load(const cli_trust *t, upd_keyring **out);
/* Sign the package file PATH with K in place (rewrites its auth block). */
int cli_sign_file(const char *path, const upd_key *k);
/* Load private key PATH and sign package file PKG; prints errors; 0 or 1. */
int cli_sign_with(const char *pkg, const char *path, int quiet);
/* Lower-case hex of P[0..N) into OUT (2N+1 bytes). */
void cli_hex(const uint8_t *p, size_t n, char *out);

/* OUT (4096 bytes) = TARGET.upd-SUFFIX beside a regular file, or
 * /var/tmp/updelta-NAME.SUFFIX for a block device (IO, the opened target,
 * says which): nothing may live on the device beside the image. */
void cli_side_path(char *out, const char *target, upd_io *io, const char *suffix);

/* I/O backend options (apply, status): --io=auto|uring|posix, --direct,
 * --io-depth N, --io-block SIZE.  getopt codes for them: */
enum { CLI_OPT_IO = 0x110, CLI_OPT_DIRECT, CLI_OPT_IO_DEPTH, CLI_OPT_IO_BLOCK };
#define CLI_IO_OPTIONS \
    { "io", required_argument, 0, CLI_OPT_IO }, \
    { "direct", no_argument, 0, CLI_OPT_DIRECT }, \
    { "io-depth", required_argument, 0, CLI_OPT_IO_DEPTH }, \
    { "io-block", required_argument, 0, CLI_OPT_IO_BLOCK }
typedef struct {
    upd_io_params p;
    unsigned      flags;    /* UPD_IO_DIRECT */
} cli_io;
/* The default backend is POSIX: measured (bench/io.sh), io_uring is no
 * faster for buffered writes on ext4, and its registered buffers pin the
 * whole memory window (+5 MiB peak RSS on a 128 MiB image); --io=auto or
 * --io=uring choose it. */
#define CLI_IO_DEFAULT { .p = { .backend = UPD_IO_POSIX } }

/* Take option C if it is an I/O option: 1 taken, 0 not one, -1 bad. */
int cli_io_opt(cli_io *io, int c, const char *arg);
/* Open PATH with the chosen backend (upd_io_open, FLAGS | --direct). */
int cli_io_open(const cli_io *io, upd_io **out, const char *path, unsigned flags);
/* What --io=auto picks here, into OUT: "uring", or "posix (io_uring
 * unavailable: REASON)".  Returns OUT. */
const char *cli_io_auto(char *out, size_t cap);
/* Which backend H runs and how, into OUT: upd_io_describe(), and when
 * --io=auto fell back to POSIX, why io_uring was not used. */
void cli_io_says(const cli_io *io, upd_io *h, char *out, size_t cap);

int cmd_diff(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_install(int argc, char **argv);

/* A package source other than a file for cli_apply(): FEED pushes the
 * whole package into A and finishes it; 0 or an upd_err. */
typedef struct {
    int  (*feed)(void *user, upd_applier *a);
    void *user;
} cli_feeder;
/* "updelta apply" with ARGV (ARGV[0] is the command name).  SRC NULL: PKG
 * is a file or - as usual; else SRC delivers the package, which is then
 * streamed (no dry run first) and PKG only names it in messages.  Returns
 * 0, the upd_err of a failed apply (already reported), or an exit status
 * (1 other failure, 2 usage). */
int cli_apply(int argc, char **argv, const cli_feeder *src);
int cmd_inspect(int argc, char **argv);

#endif
