/* The generator's private types, shared by its stages:
 *   match.c   suffix array + bsdiff scan -> covers
 *   cover.c   covers refined: kept where they pay, grown into their gaps
 *   build.c   covers -> operations (unchanged runs dropped, fills found)
 *   plan.c    in-place schedule + simulator check
 *   drops.c   DROPs: saved ranges forgotten after their last reader
 *   lits.c    literals last in their segment, and their dictionary windows
 *   emit.c    segments, compression, package bytes
 *   xz.c      LZMA2 segments
 *   diff.c    upd_diff(): the pipeline */
#ifndef UPD_DIFF_INTERNAL_H
#define UPD_DIFF_INTERNAL_H

#include "updelta/diff.h"
#include "updelta/format.h"

#include <stddef.h>
#include <stdint.h>

/* An approximate match: new[dst, dst+len) ~ old[src, src+len). */
typedef struct {
    uint64_t dst, src, len;
} upd_cover;

typedef struct {
    upd_cover *v;
    size_t     n, cap;
} upd_covers;

/* A generator operation: upd_op plus DATA, the old-image offset its diff is
 * taken against (equal to SRC for every op that reads). */
typedef struct {
    uint8_t  kind;         /* upd_op_kind */
    uint8_t  fill;
    uint64_t dst, src, len, data;
} upd_gop;

typedef struct {
    upd_gop *v;
    size_t   n, cap;
} upd_gops;

int upd_gops_push(upd_gops *a, const upd_gop *op);

/* Non-zero for the ops that write image bytes (COPY, DIFF, LIT, FILL). */
static inline int upd_gop_writes(const upd_gop *g) { return g->kind <= UPD_OP_FILL; }

/* Find covers of NEW in OLD (bsdiff's scan over a libdivsufsort suffix
 * array), once for each of the N_MARGINS resync margins (how many bytes a
 * new exact match must beat the current alignment by), into OUT[0..N),
 * which must be empty.  Covers come out in increasing dst order,
 * non-overlapping.  One index serves every margin, and all scans share
 * P->threads.  Errors: UPD_E_DIFF_TOO_LARGE, UPD_E_NOMEM. */
int upd_match(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len,
              const unsigned *margins, size_t n_margins, upd_covers *out,
              const upd_diff_params *p, upd_diff_stats *st);

/* Whether a trial's package, AIMED (1: within the aim, 0: only within the
 * window) and SIZE bytes, beats the best one so far: a package within the
 * aim beats any that only fits the window (the aim leaves room for the
 * applier's process, diff.c diff_aim), then the smaller wins; on a tie the
 * earlier trial stays. */
static inline int upd_trial_beats(int aimed, uint64_t size, int best_aimed, uint64_t best_size)
{
    return aimed != best_aimed ? aimed > best_aimed : size < best_size;
}

/* After the scan (cover.c): keep the covers whose differences cost less
 * than literals (estimated), join those on one alignment close together,
 * and grow every cover into the gaps beside it while enough of its bytes
 * agree.  CV stays in dst order, non-overlapping.  Errors: UPD_E_NOMEM. */
int upd_covers_refine(const uint8_t *old_img, size_t old_len, const uint8_t *new_img,
                      size_t new_len, upd_covers *cv);

/* Turn covers into ops in dst order, at most PIECE bytes each; unchanged
 * same-offset runs of SAME_RUN bytes or more get no op, except inside a
 * cover over its own offset (one DIFF: the applier skips them in place). */
int upd_build_ops(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len,
                  const upd_covers *cv, uint64_t same_run, upd_gops *out, upd_diff_stats *st);

/* Order OPS for in-place application within the stash budget; OUT gets the
 * schedule with STASH and RESIZE ops, and *STASH_SIZE the
 * stash area it needs.  Cuts that save at most BLOCK_SIZE bytes follow the
 * preferred write order, larger ones go cheapest first.  Then replay it in
 * memory (upd_plan_check). */
int upd_plan(const upd_gops *ops, uint64_t old_len, uint64_t new_len, uint64_t stash_max,
             uint32_t block_size, upd_gops *out, uint64_t *stash_size, upd_diff_stats *st);

/* What the schedule needs from an applier, recorded in the header. */
typedef struct {
    uint64_t stash_size;
    uint32_t write_ranges, stash_ranges;   /* range-set peaks */
} upd_plan_info;

/* The simulator: replay SCHED on a copy of OLD with the applier's own rules
 * (no read of overwritten bytes, stash reads see what was stashed, the
 * result equals NEW) and measure the applier's range-set peaks into INFO.
 * UPD_E_PLAN on any violation. */
int upd_plan_check(const upd_gops *sched, const uint8_t *old_img, size_t old_len,
                   const uint8_t *new_img, size_t new_len, upd_plan_info *info);

/* Decoded payload bytes of G in a segment: its literals, or its sparse
 * diff records (upd_sparse_encode). */
uint64_t upd_gop_payload(const upd_gop *g, const uint8_t *old_img, const uint8_t *new_img);

/* Segment boundaries: segment k holds the ops sched[v[k], v[k+1]). */
typedef struct {
    size_t *v;
    size_t  n, cap;
} upd_cuts;

/* Append a boundary AT to C.  Errors: UPD_E_NOMEM. */
int upd_cuts_push(upd_cuts *c, size_t at);

/* Cut SCHED into segments of about TARGET decoded bytes each (its ops'
 * encodings and payloads), and of at most MAX_STASH STASH ops when it is
 * not 0 (DROPs come between segments: shorter ones keep fewer saved ranges
 * live); a segment's first op always fits. */
int upd_emit_cut(const upd_gops *sched, const uint8_t *old_img, const uint8_t *new_img,
                 uint32_t target, uint32_t max_stash, upd_cuts *out);

/* SCHED cut by CUTS, with DROPs (drops.c) at the start of each segment for
 * the saved ranges no op of it or after it reads, into *OUT cut by
 * *OUT_CUTS (both reset first).  *DROP_BYTES: the most control bytes the
 * DROPs add to one segment (a bound); *SAVED_PEAK: the most saved ranges
 * the applier then holds at once (what upd_plan_check would measure, for a
 * fraction of its work).  Errors: UPD_E_NOMEM. */
int upd_plan_drops(const upd_gops *sched, const upd_cuts *cuts, upd_gops *out,
                   upd_cuts *out_cuts, uint64_t *drop_bytes, uint32_t *saved_peak);

/* Move every LIT op to the end of its segment, keeping the order of the
 * LITs and of the others: the ops before them have then written their bytes
 * when the applier reads the literals' dictionary.  Always valid in place:
 * a LIT reads nothing, and writing later never makes a read stale. */
int upd_lits_last(upd_gops *sched, const upd_cuts *cuts);

/* An image window [off, off+len): the dictionary of a segment's literals. */
typedef struct {
    uint64_t off;
    uint32_t len;
} upd_window;

/* For each segment with LIT ops, the window of at most MAX bytes that ends
 * at its literals' last byte and holds no byte any later segment writes
 * (nor cuts off with a shrink): when the applier takes it, every other
 * byte in it already is the new image's.  W[k].len is 0 when there is none. */
int upd_dict_windows(const upd_gops *sched, const upd_cuts *cuts, uint32_t max, upd_window *w);

/* The header's frozen_ranges for the windows W[0..N) (len 0: none), taken
 * in this order: the most disjoint ranges they make at once, merged as the
 * applier's frozen set merges them.  A later window can join two earlier
 * ones, so the count at the end can be below the peak the set must hold.
 * Errors: UPD_E_NOMEM. */
int upd_dict_frozen_peak(const upd_window *w, size_t n, uint32_t *peak);

/* An LZMA2 encoder (xz.c), reused from segment to segment: its tables
 * are about 13 MiB. */
typedef struct upd_xz upd_xz;
int  upd_xz_create(upd_xz **out);
void upd_xz_free(upd_xz *x);
/* The LZMA2 form of the segment of OPS[0..N) (FORMAT.md 5.2): its control
 * region CTRL[0..CTRL_LEN), the DIFF ops' diffs whole, the LIT ops'
 * bytes, at a preset that follows zstd's LEVEL, into OUT[0..CAP), its
 * length in *OUT_LEN and the DIFF ops' bytes in *DENSE.  Returns 0, or 1
 * when it does not fit CAP (the caller's limit: the zstd form's size).
 * Errors: UPD_E_NOMEM, UPD_E_COMPRESS. */
int  upd_xz_segment(upd_xz *x, int level, const uint8_t *ctrl, size_t ctrl_len,
                    const upd_gop *ops, size_t n, const uint8_t *old_img,
                    const uint8_t *new_img, uint8_t *out, size_t cap, size_t *out_len,
                    uint64_t *dense);

/* Before a zstd frame at LEVEL of N bytes (a prefix dictionary's
 * included) with no size pledged, on CC after its reset: the level's
 * parameters, but a chain table only as large as N needs where that keeps
 * the frame the same, so that zstd clears far less memory (emit.c). */
struct ZSTD_CCtx_s;
void upd_zstd_cap_chain(struct ZSTD_CCtx_s *cc, int level, uint64_t n);

/* Pack the schedule into the segments CUTS gives, compress (literals
 * against a window of at most DICT_BUDGET bytes where that pays: such a
 * segment's ops are encoded in LITS_LAST's order, SCHED with each segment's
 * LITs last; NULL: no dictionaries; segments with DIFF ops as LZMA2 where
 * XZ allows it and that is smaller by UPD_XZ_GAIN), and write the package.
 * A DROP after another kind of op in its segment is UPD_E_PLAN (the
 * applier's rule). */
int upd_emit(const upd_gops *sched, const upd_gops *lits_last, const upd_cuts *cuts,
             const uint8_t *old_img, size_t old_len,
             const uint8_t *new_img, size_t new_len, const upd_plan_info *info,
             uint32_t dict_budget, int xz, const upd_diff_params *p, upd_write_fn out,
             void *out_user, upd_diff_stats *st);

#define UPD_PIECE (1u << 20)   /* largest op before scheduling */

#endif
