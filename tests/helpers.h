/* Shared test helpers: make packages, apply them in memory, craft hostile
 * packages with valid digests. */
#ifndef UPD_TEST_HELPERS_H
#define UPD_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <updelta/updelta.h>
#include "../corpora/synth.h"

#include "../engine/common/check.h"

typedef upd_bytes buf_t;   /* the engine's growing byte buffer */

void buf_free(buf_t *b);
int buf_sink(void *user, const void *data, size_t len);

/* Diff OLD->NEW with P (NULL: defaults, 1 thread) into *PKG; returns upd rc. */
/* A package made with P but the window lowered, 16 KiB at a time, until the
 * generator drops saved ranges (ST: its statistics); UPD_E_LIMIT if it
 * never does above 1 MiB. */
int make_pkg_dropping(const uint8_t *old_img, size_t old_len, const uint8_t *new_img,
                      size_t new_len, const upd_diff_params *p, buf_t *pkg, upd_diff_stats *st);
int make_pkg(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len,
             const upd_diff_params *p, buf_t *pkg);

/* Apply PKG to a memory image holding OLD, in place (SOURCE == NULL) or out
 * of place.  CHUNK: push size (0 = all at once).  On return *OUT holds the
 * resulting image (malloc'd copy, even on failure).  Returns upd rc. */
int apply_mem(const uint8_t *pkg, size_t pkg_len, const uint8_t *old_img, size_t old_len,
              int in_place, size_t chunk, size_t window, buf_t *out);

/* apply_mem with BASE's flags, window, keys and policy (its target and
 * source are ignored); ST (optional) receives the applier's counters. */
int apply_mem_with(const uint8_t *pkg, size_t pkg_len, const uint8_t *old_img, size_t old_len,
                   int in_place, size_t chunk, const upd_apply_params *base, buf_t *out,
                   upd_apply_stats *st);

/* Run PKG through an applier made with P (its handles, flags, journal),
 * pushed in CHUNK-byte pieces (0 = all at once), then finish.  ST
 * (optional) receives the counters.  Returns the first error or 0. */
int apply_io(const upd_apply_params *p, const uint8_t *pkg, size_t pkg_len, size_t chunk,
             upd_apply_stats *st);

/* As apply_io, but as a caller that can seek (a download with Range):
 * whenever upd_applier_offset() is ahead, seek there and never pass the
 * bytes in between; *SKIPPED counts them. */
int apply_io_seeking(const upd_apply_params *p, const uint8_t *pkg, size_t pkg_len, size_t chunk,
                     upd_apply_stats *st, uint64_t *skipped);

/* Cut the single segment of package IN into K segments (K <= 64, at op
 * boundaries, each with its payload bytes) into OUT, unsigned and
 * resealed: multi-segment packages from images smaller than the
 * generator's smallest segment.  IN's segment must be one frame (no
 * literal dictionary).  0, or -1 / an upd_err. */
int resegment(const buf_t *in, unsigned k, buf_t *out);
/* Segments of PKG whose literals use a dictionary (-1: bad package). */
int pkg_dict_segments(const buf_t *pkg);
/* LZMA2 segments of PKG, and segments with DIFF ops (-1: bad package). */
int pkg_lzma_segments(const buf_t *pkg);
int pkg_diff_segments(const buf_t *pkg);
/* Segments of PKG (-1: bad package). */
int pkg_segments(const buf_t *pkg);
/* Manifest entry I of PKG into *E, the offset of its bytes in *AT: 0, or
 * -1 for a bad package or no such segment. */
int pkg_segment(const buf_t *pkg, uint32_t i, upd_seg_entry *e, size_t *at);
/* The blocks of zstd frame F[0..N), which decodes without a dictionary to
 * at most CAP bytes: the decoded length through each block, in ENDS[0..MAX).
 * Their count, or -1 when F is not one such frame. */
int frame_block_ends(const uint8_t *f, size_t n, size_t cap, size_t *ends, int max);
/* A text pair whose new literals compress best against the text around
 * them (a literal dictionary, lits.c): text-edits (SEED, SIZE) with LINES
 * places in the new text each given 8 lines made of 16-byte pieces of the
 * 6400 bytes before, then a line mostly of NUL bytes.  0, or -1 when SIZE
 * is too small for LINES. */
int text_dict_pair(uint64_t seed, size_t size, unsigned lines, synth_pair *sp);
/* File backends a test runs over: POSIX, io_uring buffered, io_uring with
 * O_DIRECT (small blocks, so requests are cut and run concurrently). */
typedef struct {
    const char   *name;
    upd_io_params p;
    unsigned      flags;
} file_backend;
extern const file_backend file_backends[3];

/* apply_mem over real files in a fresh temporary directory, every handle
 * (target, source, and a journal when JOURNAL and in place) opened with
 * backend FB; *OUT holds the resulting file.  Returns upd rc. */
int apply_file(const file_backend *fb, const uint8_t *pkg, size_t pkg_len, const uint8_t *old_img,
               size_t old_len, int in_place, int journal, buf_t *out);

/* Make this process's io_uring_setup(2) fail with ERR (seccomp filter, as a
 * container runtime's default profile does).  Irreversible: call it in a
 * process of its own.  0, or -1 with errno. */
int deny_io_uring(int err);

/* Every sync_file_range(2) call a test binary makes (the engine's early
 * writeback) goes through and is logged here, the newest WB_LOG_MAX kept
 * (a call on another thread: read the log once that thread is joined). */
#define WB_LOG_MAX 64
typedef struct {
    int      fd;
    int64_t  off, len;
    unsigned flags;
    int      other_thread;       /* made on a thread other than the process's first */
} wb_call;
extern wb_call wb_log[WB_LOG_MAX];
extern unsigned wb_calls;        /* calls so far (may exceed WB_LOG_MAX) */
extern int wb_fail;              /* non-zero: the calls fail with this errno */
extern int wb_delay_ms;          /* each call returns this much later ... */
extern unsigned wb_done;         /* ... and then counts here (atomically) */

/* Calls of preadv [0] and pwritev [1] (the file backends' vectored
 * transfers) this test binary made: they are interposed and counted. */
extern unsigned vec_calls[2];

/* Dry-run only: every check, no image. */
int dry_run(const uint8_t *pkg, size_t pkg_len);

/* A hand-made package: ops encoded as given, payload streams as given, the
 * digests correct so the applier reaches the op checks. */
typedef struct {
    upd_op   ops[64];
    size_t   nops;
    const uint8_t *diff;  size_t diff_len;         /* diff-runs: the DIFF ops' varints */
    const uint8_t *dbytes; size_t dbyte_len;       /* diff-bytes: their non-zero bytes */
    size_t   dtail_len;                            /* ... the last of them tails (0: in
                                                      record order; split_tails) */
    const uint8_t *lit;   size_t lit_len;
    const uint8_t *raw_ctrl; size_t raw_ctrl_len;  /* used instead of OPS when set */
    uint32_t raw_nops;                             /* op count claimed for RAW_CTRL */
    const uint8_t *raw_frame; size_t raw_frame_len;/* segment bytes instead of a zstd frame */
    uint64_t dict_off; uint32_t dict_len;          /* literal frame's dictionary (0: one frame) */
    size_t   lit_frame_pad;                        /* bytes of 0xab after the literals in
                                                      their frame (it then decodes too long) */
    int      lit_frame_checksum;                   /* the literal frame carries a zstd
                                                      content checksum */
    const uint8_t *dense; size_t dense_len;        /* set: an LZMA2 segment of the control
                                                      region, this dense diff and the
                                                      literals (DIFF, DBYTES: only the
                                                      lengths the manifest claims) */
    uint64_t dense_claim;                          /* the manifest's dense_len, when not
                                                      DENSE_LEN (0: DENSE_LEN) */
} craft_seg;

int craft_pkg(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len,
              uint64_t stash_size, const craft_seg *segs, size_t nsegs, buf_t *pkg);

/* IN[0..N) as the raw LZMA2 stream of an LZMA2 segment (FORMAT.md 5.2),
 * at xz's preset 0, into OUT[0..CAP); its length, 0 if it does not fit. */
size_t lzma2_raw(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* The diff bytes BYTES[0..NB) of the records RUNS[0..NR) of one DIFF op of
 * LEN bytes, rewritten in place as heads then tails (upd_sparse_cursor);
 * returns the number of tails, or -1 when the records do not spell an op
 * of LEN exactly. */
long split_tails(const uint8_t *runs, size_t nr, uint8_t *bytes, size_t nb, uint64_t len);

/* Re-seal a package after its header or manifest was edited: recompute the
 * header||manifest digest in the auth block (found by the raw header_size
 * and seg_count fields).  Returns 0, -1 if too short. */
int reseal(uint8_t *pkg, size_t len);

#endif
