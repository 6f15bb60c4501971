/*
 * updelta: the generator (old image + new image -> delta package).
 *
 * Pipeline (docs/ARCHITECTURE.md):
 *   1. index   suffix array over the old image (libdivsufsort);
 *   2. match   bsdiff-style approximate matches of the new image against
 *              the old: COPY/DIFF covers with LIT between; same-offset
 *              unchanged runs produce no operation at all;
 *   3. plan    in-place schedule (every package is in-place safe; the
 *              applier enforces it in both modes): read/write conflict graph between ops,
 *              ordered so every op reads old bytes before any op overwrites
 *              them; cycles broken by stashing the needed bytes within the
 *              stash budget, literals past it (cheapest first); the result is
 *              checked by a simulator before anything is emitted;
 *   4. emit    ops packed into segments (control, diff, literal streams),
 *              each an independent zstd frame, hashed into the manifest.
 * Step 2 runs once per match trial (upd_diff_params.trials), on one
 * index, and steps 3-4 once per distinct set of matches it finds; the
 * smallest package is kept.
 *
 * Memory: about 5x the old image (suffix array) plus 2x the new image;
 * with trials, every trial's matches until its turn and two packages.
 * Both images are held in memory by the caller.
 */
#ifndef UPDELTA_DIFF_H
#define UPDELTA_DIFF_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"
#include "apply.h"

#define UPD_DEFAULT_LEVEL      19
#define UPD_DEFAULT_BLOCK      4096u
/* 2 MiB segments keep an in-place apply of a 100 MiB image within 16 MiB
 * of peak RSS (libraries included): the biome pair (99.7 MB) peaks at
 * 14.8 MiB with them and 17.8 MiB with 4 MiB ones, whose decoded and
 * compressed buffers are resident together; its package grows 1.1%
 * (mariadbd 0.1%; pairs of one small segment not at all). */
#define UPD_DEFAULT_SEGMENT    (2u << 20)
#define UPD_DEFAULT_STASH_MAX  (64ull << 20)
/* Larger dictionaries gain little more on the real pairs (libcrypto 0.35%
 * at 1 MiB) and cost resident memory the window check does not see: an
 * in-place apply of a 128 MiB image peaks at 15.2 MiB RSS with 512 KiB,
 * 15.7 MiB with 1 MiB, 16.7 MiB with 2 MiB (14.3 MiB without). */
#define UPD_DEFAULT_DICT       (512u << 10)
/* What an applier process holds resident besides the engine's memory:
 * the generator aims for a package that needs at most the window less
 * this, so that an in-place apply with the CLI stays within the window's
 * size of RSS whatever the image (16 MiB by default).  Measured (1 GiB
 * image, smaps at the peak, the CLI with shared libraries): 5.3 MiB of
 * mapped libraries (libcrypto 2.8, libc 1.5, libzstd 0.5), RSS = the
 * engine's need + 4.8 MiB in all; the CLI as built by default (static
 * libcrypto and zstd) holds about 0.7 MiB less, a program linking the
 * shared libraries (updelta-device) does not. */
#define UPD_DIFF_PROCESS_RESERVE UPD_PROCESS_RESERVE   /* apply.h */
/* Match trials: the scan runs with up to UPD_MAX_TRIALS resync margins
 * (8, the one bsdiff uses, then 4, 2, 16: how many bytes a new exact match
 * must beat the current alignment by) and the smallest package is kept.
 * The scan is greedy, and no margin is best on every pair
 * (docs/ARCHITECTURE.md "Match trials" has the sizes and times). */
#define UPD_DEFAULT_TRIALS     3u
#define UPD_MAX_TRIALS         4u
#define UPD_MAX_THREADS        64u   /* upd_diff_params.threads at most */
/* upd_diff_params.lzma: where segments may be LZMA2 (FORMAT.md 5.2), whose
 * applier holds an LZMA2 decoder (about 1.2 MiB more memory) and decodes
 * them at a fraction of zstd's speed. */
#define UPD_LZMA_AUTO          0u    /* a segment with DIFF ops whose LZMA2 form is
                                        more than a 32nd smaller, when the memory the
                                        package may need has room for the decoder */
#define UPD_LZMA_NEVER         1u    /* zstd only */
#define UPD_LZMA_ALWAYS        2u    /* every segment with DIFF ops, in every trial
                                        (when there is room, and where the form fits
                                        the header's bound of a segment) */

typedef struct {
    int      level;           /* zstd level, 1..22 */
    uint32_t block_size;      /* recorded in the header; power of two */
    uint32_t segment_size;    /* target decoded bytes per segment (2 MiB..UPD_MAX_SEG_SIZE/2) */
    uint64_t stash_max;       /* in-place stash budget: bytes saved in all; 0 turns every
                                 cycle into literals */
    unsigned threads;         /* matching and compression threads (1..UPD_MAX_THREADS) */
    size_t   window;          /* applier memory the package may need, journal
                                 included (upd_applier_mem_need + UPD_JOURNAL_MEM),
                                 default UPD_DEFAULT_WINDOW; aimed at less
                                 UPD_DIFF_PROCESS_RESERVE when it is at least
                                 twice that */
    uint32_t dict_max;        /* largest dictionary for a segment's literals (bytes,
                                 at most UPD_MAX_SEG_SIZE), cut to what the window
                                 leaves; 0: literals compressed on their own */
    unsigned trials;          /* match trials, 1..UPD_MAX_TRIALS (1: bsdiff's scan
                                 alone, fastest; 0: UPD_DEFAULT_TRIALS); the
                                 smallest package is kept */
    unsigned lzma;            /* UPD_LZMA_* (0: AUTO) */
    const char *package_id;   /* ROM package id, at most UPD_ID_MAX bytes ("" if NULL) */
    const char *from_version; /* at most UPD_VERSION_MAX bytes */
    const char *to_version;
    upd_progress_fn progress; /* optional */
    void    *progress_user;
} upd_diff_params;

typedef struct {
    uint64_t pkg_size;
    uint64_t ops[UPD_OP_KINDS];                  /* indexed by upd_op_kind */
    uint64_t copy_bytes, diff_bytes, lit_bytes, fill_bytes;
    uint64_t unchanged_bytes;         /* same-offset bytes that need no write */
    uint64_t stash_size;              /* stash log the schedule needs (bytes saved) */
    uint64_t cycle_lit_bytes;         /* bytes turned into literals past the stash budget */
    uint64_t ctrl_raw, diff_raw, lit_raw;   /* stream bytes before compression */
    uint32_t segments;
    uint32_t dict_segments;           /* segments whose literals use a dictionary */
    uint32_t lzma_segments;           /* LZMA2 segments */
    unsigned trials, best_trial;      /* trials asked for; the one emitted (0-based) */
    uint64_t trial_size[UPD_MAX_TRIALS];   /* each trial's package bytes (0: none,
                                              it did not fit the window); with
                                              UPD_LZMA_AUTO and several trials,
                                              its zstd package's (upd_diff) */
    /* The other counts are the emitted package's; the times add up every
     * trial's (each scan, refine, plan and emit). */
    double   t_index, t_match, t_plan, t_emit;   /* seconds */
} upd_diff_stats;

/* Fill *P with the defaults above (threads = 2). */
UPD_API void upd_diff_params_default(upd_diff_params *p);

/* Sink for package bytes: 0 on success, a negative value to abort (returned
 * by upd_diff as is). */
typedef int (*upd_write_fn)(void *user, const void *data, size_t len);

/* Make a package that turns OLD[0..OLD_LEN) into NEW[0..NEW_LEN) and hand
 * it to OUT front to back.  ST (optional) receives statistics.  The inputs
 * are only read.  When the schedule needs more applier memory than the
 * aim (P->window less UPD_DIFF_PROCESS_RESERVE), saved ranges are
 * forgotten after their last reader (DROP, on ever shorter segments), and
 * (many tiny changes make many written ranges) unchanged runs are left out
 * of ops only from longer lengths, up to 64 KiB.  If no attempt fits the
 * aim, the first that fits P->window is emitted; if none does, UPD_E_LIMIT.
 * With P->trials above 1 each trial's package is made in memory (two at a
 * time, each as large as a package) and only one reaches OUT, in one call:
 * the smallest of those that fit the aim, else the smallest that fits the
 * window; a trial that fits no window is passed over (UPD_E_LIMIT when
 * none fits).  With UPD_LZMA_AUTO the trials are ranked on zstd
 * packages, and the kept trial is then made again with LZMA2 segments
 * where they are smaller, which is emitted when it beats the zstd one
 * (the zstd one stands when the remake runs out of room or memory).  The
 * same inputs and parameters give the same bytes, whatever P->threads.
 * Every package is checked as it goes out by a dry-run applier with
 * P->window (digests, ops, header counts, memory), so OUT never gets one an
 * applier refuses.
 * Errors: UPD_E_INVAL (bad params, strings too long),
 * UPD_E_DIFF_TOO_LARGE (old image >= 2 GiB), UPD_E_NOMEM, UPD_E_COMPRESS,
 * UPD_E_PLAN (internal schedule check failed), UPD_E_INTERNAL (the package
 * failed the dry run: a generator bug; OUT has then had part of it),
 * UPD_E_LIMIT, or OUT's own error. */
UPD_API int upd_diff(const uint8_t *old_img, size_t old_len,
                     const uint8_t *new_img, size_t new_len,
                     const upd_diff_params *p,
                     upd_write_fn out, void *out_user, upd_diff_stats *st);

#endif /* UPDELTA_DIFF_H */
