/* The applier's private state, shared by its files:
 *   reader.c  the push state machine: header, manifest, auth, segments
 *   segment.c per-segment validation (pass 1)
 *   exec.c    execution (pass 2): steps, commit units, replay after a crash
 *   journal.c the journal's slots, save areas and in-journal stash
 *   jarea.c   save areas: write and replay
 *   vlog.c    the journal's validation log: resume without the done segments
 *   image.c   base-image and result-image checks; out of place, the old
 *             bytes no op writes */
#ifndef UPD_APPLIER_H
#define UPD_APPLIER_H

#include "updelta/apply.h"
#include "../common/rangeset.h"
#include "../crypto/digest.h"

#include <pthread.h>
#include <zstd.h>

enum { ST_HEADER, ST_MANIFEST, ST_AUTH, ST_SEGMENT, ST_DONE };

/* Target writes queued before one submission: one io_uring_enter for the
 * lot, and the POSIX backend's pwritev for contiguous ones. */
#define UPD_WQ_MAX 256

/* A range [off, off+len) saved at byte AT of a save area: of the target,
 * or of the stash when OFF has UPD_JR_STASH set. */
typedef struct { uint64_t off, len, at; } upd_jrange;

/* Where a run stands: the unit that starts at (seg, op, step). */
typedef struct {
    uint64_t salt, seq;
    uint32_t seg, op;
    uint64_t step;
    uint64_t stash_done, image_size;
    uint32_t chunk, unit_bytes;
    uint32_t done;             /* the run finished: nothing to resume */
    uint32_t version;          /* the journal format that wrote the slot */
    uint64_t area_len, area_sum;
    uint64_t stash_from, stash_sum;  /* stash bytes [stash_from, stash_done) the
                                        unit before appended, and their checksum */
    uint64_t vlog_from, vlog_len;    /* validation-log bytes: those appended since
                                        the slot before, and all of them ... */
    uint64_t vlog_sum;               /* ... with the appended ones' checksum */
} upd_jslot;

/* Growable list of ranges. */
typedef struct { upd_jrange *v; size_t n, cap; } upd_jlist;

/* zjob.c: save-area compression jobs, on a worker thread (THREADED) and
 * the caller's, or on the caller's alone.  Each job of at most UPD_ZJ_IN
 * bytes becomes a zstd frame of its own at LEVEL (the same bytes whichever
 * thread compresses it): fill a free job's buffer, submit; outputs are
 * taken back in submission order (take, then release).
 * Errors: UPD_E_NOMEM, UPD_E_COMPRESS. */
#define UPD_ZJ_IN  (64u << 10)
/* Jobs in the ring: with two, the applier's thread compressed a third of
 * the jobs itself while the worker idled between bursts; four took the 1
 * GiB pair's journaled apply phase from 3.2-3.3 s to 2.8-3.0 s, eight no
 * further (docs/JOURNAL.md, "A ring of four compression jobs"). */
#define UPD_ZJ_JOBS 4u
#define UPD_ZJ_OUT (ZSTD_COMPRESSBOUND(UPD_ZJ_IN) + 64)   /* one job's frame at most */
typedef struct upd_zjobs upd_zjobs;
int  upd_zj_create(upd_zjobs **out, int threaded, int level);
void upd_zj_free(upd_zjobs *z);
/* The next job's input buffer (UPD_ZJ_IN bytes), or NULL while it is pending. */
uint8_t *upd_zj_fill(upd_zjobs *z);
/* Queue the filled job's LEN bytes. */
int  upd_zj_submit(upd_zjobs *z, size_t len);
/* The oldest job's output: 1 and *P, *N (compressing queued jobs on this
 * thread while it is not done), 0 when no job is pending, or its error. */
int  upd_zj_take(upd_zjobs *z, const uint8_t **p, size_t *n);
void upd_zj_release(upd_zjobs *z);
/* Drop every pending job (waiting for one being compressed). */
void upd_zj_cancel(upd_zjobs *z);
/* Jobs submitted and not yet released. */
int  upd_zj_pending(upd_zjobs *z);

/* A save area being written (jarea.c); its directory is a->saved_dir. */
typedef struct {
    int       open, ended;      /* ended: the area's last job is submitted */
    size_t    n_early;
    uint64_t  early, fed;       /* bytes of the early ranges; bytes read so far */
    size_t    ri;               /* the next byte to read: range ri ... */
    uint64_t  rdone;            /* ... at this offset in it */
    uint64_t  base, at, limit, seed;
    void     *x;                /* XXH3 state over the area */
} upd_jwriter;

struct upd_applier {
    upd_apply_params p;
    int       err;              /* sticky first error */
    int       state;
    int       header_ok;        /* header+manifest digest verified */
    upd_header h;
    upd_seg_entry *manifest;
    uint32_t  seg;              /* segment being received */
    uint64_t  pkg_total;        /* whole package length, once the manifest is known */
    uint64_t  pos;              /* package offset of the next byte pushed */
    uint64_t  skip_to;          /* bytes below this offset are not needed (resume) */
    int       base_pending;     /* the base check waits for the first segment */
    int       begin_pending;    /* the base matched; the journal and stash wait
                                   until the first segment checked out whole */

    uint8_t   fix[UPD_HEADER_MAX];    /* staging: the header, a manifest entry, or the
                                       digest and the auth block */
    size_t    fix_have;
    upd_sha256_ctx *hash;           /* header||manifest, then each segment */

    uint8_t  *cbuf;             /* compressed segment (seg_cmax) */
    size_t    cbuf_have;
    uint8_t  *dbuf;             /* decoded segment: ctrl | diff runs | diff bytes | lit
                                   (seg_max) */
    uint8_t  *iobuf;            /* source chunks, diff added in place */
    size_t    iobuf_size;
    ZSTD_DCtx *dctx;
    void     *xz;               /* LZMA2 segments: the decoder (xz.c; NULL: none) */
    uint8_t  *xz_piece;         /* ... a piece of a dense diff */
    size_t    xz_mem;           /* ... the decoder's allocations */

    upd_io   *stash;            /* params' stash, or the in-memory one below */
    upd_io   *stash_mem;
    upd_rangeset written;       /* image ranges written so far */
    upd_rangeset saved;         /* old ranges saved -> their stash offsets */
    upd_rangeset frozen;        /* dictionary windows of the segments before: no op
                                   may write into them (a resume decodes again) */
    uint8_t  *dict;             /* a literal frame's dictionary (dict_max) */
    int       lits_ready;       /* the segment's literal frame is decoded for real */
    uint64_t  stash_end;        /* stash log length after the ops validated */
    uint64_t  stash_done;       /* stash log length after the ops run */
    uint64_t  cur_size;         /* image length as the ops have set it */
    uint64_t  low_water;        /* smallest length the image has had */

    upd_apply_stats st;
    size_t    mem;              /* bytes held now */

    uint8_t   pkg_digest[32];   /* SHA-256(header||manifest): names the package */
    uint8_t   expect_pkg[32];   /* the caller's p.expect_package, which points here */
    uint64_t  chunk;            /* bytes per execution step */
    uint64_t  exec_size;        /* image length as the executed ops left it */
    /* journal (exec.c, journal.c) */
    upd_io   *stash_view;       /* the stash region of the journal */
    upd_jslot js;               /* the slot of the unit running (or to resume) */
    int       resume;           /* js names a unit to re-run */
    upd_jlist saved_dir;        /* a save area's directory: the one loaded to resume
                                   (until its unit re-ran), else the one written */
    upd_jlist rd, wr;           /* unit planning: image reads, image writes */
    upd_jlist save;             /* unit planning: what the unit saves */
    upd_zjobs *zj;              /* save areas: compressor */
    upd_jwriter jw;             /* save areas: the one being written */
    uint64_t  unit_stash_from;  /* stash log length when the last unit started */
    uint64_t  stash_from;       /* unit planning: the stash log length before ... */
    uint64_t  stash_done_planned; /* ... and after the unit, */
    uint64_t  size_planned;     /* the image length after it, */
    int       resize_planned;   /* and whether it changes that length */
    uint64_t  vlog_end;         /* validation-log bytes written */
    /* exec.c: target writes queued and submitted together (their bytes in
     * iobuf [0, wq_used) or in the decoded segment) */
    upd_io_req wq[UPD_WQ_MAX];
    unsigned  wq_n;
    size_t    wq_used;
    size_t    wq_hold;          /* iobuf [0, wq_hold) holds a group's rooms */
    uint64_t  wq_lo, wq_hi;     /* the queued writes' hull */
    /* two segments decoded at once (reader.c, "twin") */
    struct upd_applier *twin;   /* holds the second decoder's state only, or NULL */
    const upd_seg_entry *ahead; /* (in the twin) the segment it decodes, a->seg - 1,
                                   or NULL */
    int       ahead_rc;         /* (in the twin) that decode's verdict */
    int       ahead_thread;     /* a thread decodes it: join before reading */
    pthread_t ahead_tid;
};

/* The image old bytes are read from: the source out of place, else the target. */
static inline upd_io *upd_ap_old(upd_applier *a) { return a->p.source ? a->p.source : a->p.target; }

/* image.c: base check (1: in place, the image already is the new one) */
int upd_ap_check_base(upd_applier *a);
int upd_ap_check_result(upd_applier *a);
/* image.c: whether the target gets only the ops' writes, the old bytes no
 * op writes being copied after the last segment (out of place onto a
 * resizable target; see there). */
int upd_ap_fills_gaps(const upd_applier *a);
/* image.c: read into BUF[0..hi-lo) the parts of image range [lo, hi) that
 * hold old bytes in place but not yet in such a target, from the source.
 * Errors: UPD_E_IO_*. */
int upd_ap_gaps_read(upd_applier *a, uint64_t lo, uint64_t hi, uint8_t *buf);

/* xz.c: LZMA2 segments.  The decoder's allocations are held to
 * UPD_LZMA_DEC_MEM (liblzma 5.4 estimates 1,114,168 bytes for the format's
 * dictionary), and a dense diff is decoded UPD_LZMA_PIECE bytes at a time:
 * UPD_LZMA_MEM in all, which upd_applier_mem_need counts when the header
 * has UPD_PKG_LZMA. */
#define UPD_LZMA_DEC_MEM (1152u << 10)
#define UPD_LZMA_PIECE   (64u << 10)
#define UPD_LZMA_MEM     (UPD_LZMA_DEC_MEM + UPD_LZMA_PIECE)
/* Make the decoder (on a header with UPD_PKG_LZMA).  Errors: UPD_E_NOMEM. */
int  upd_ap_xz_init(upd_applier *a);
void upd_ap_xz_free(upd_applier *a);
/* Decode E's segment (dense_len > 0) from cbuf into dbuf, its dense diff
 * as the sparse streams.  Errors: UPD_E_SEG_DECODE (a malformed stream,
 * one that ends early or goes on), UPD_E_OP_DECODE, UPD_E_OP_STREAM (the
 * DIFF ops do not use up the dense diff exactly, or it spells other
 * stream lengths than E's), UPD_E_NOMEM. */
int  upd_ap_decode_xz(upd_applier *a, const upd_seg_entry *e);

/* segment.c: validate every op of the decoded segment E. */
int upd_ap_validate_segment(upd_applier *a, const upd_seg_entry *e);
/* A cursor over the sparse DIFF payload of E's segment (decoded in dbuf). */
void upd_ap_sparse_init(const upd_applier *a, const upd_seg_entry *e, upd_sparse_cursor *c);
/* Old bytes [x, x+n): the stash offset of the part at X when a STASH that
 * already ran (below STASH_DONE) saved it, and the length of that part
 * (which is served from the stash) or of the part served from the image.
 * Out of place every old byte is served from the source, which nothing
 * writes: the stash is never used. */
int upd_ap_old_part(const upd_applier *a, uint64_t x, uint64_t end, uint64_t stash_done,
                    uint64_t *stash_off, uint64_t *part);

/* segment.c: decode E's segment from cbuf into dbuf, the literal frame
 * (if any) against a zeroed dictionary: whether it decodes does not depend
 * on the dictionary's bytes, only what it decodes to.  UPD_E_SEG_DECODE. */
int upd_ap_decode_segment(upd_applier *a, const upd_seg_entry *e);
/* segment.c: decode E's literal frame again against its real dictionary,
 * the target's window with the bytes of E's own LIT ops zeroed (they are
 * written as the frame is used, so a re-run after a crash sees them in
 * another state).  Errors: UPD_E_IO_*, UPD_E_SEG_DECODE. */
int upd_ap_decode_lits(upd_applier *a, const upd_seg_entry *e);
/* segment.c: add the windows of segments [0, SEG) to the frozen set. */
int upd_ap_freeze_before(upd_applier *a, uint32_t seg);

/* exec.c: run the validated segment E (from the resume point when resuming). */
int upd_ap_execute_segment(upd_applier *a, const upd_seg_entry *e);
/* exec.c: before reading target bytes [off, off+len) other than through
 * the steps: submit the queued writes if one of them overlaps. */
int upd_ap_wq_guard(upd_applier *a, uint64_t off, uint64_t len);

/* journal.c */
#define UPD_JR_RANGES_MAX 8191      /* saved ranges per unit (then the unit ends): the
                                       directory, 8 + 16 bytes a range, fits the
                                       smallest I/O buffer (128 KiB) */
#define UPD_JR_ZSTD_LEVEL 1        /* save-area frames */
/* One compressor context's memory for frames of UPD_ZJ_IN bytes at
 * UPD_JR_ZSTD_LEVEL (zstd 1.5.4: 297 KiB; test_engine_parts checks it). */
#define UPD_ZJ_CCTX_MEM (320u << 10)
/* UPD_JOURNAL_MEM (journal.h) covers the range lists (a unit's reads,
 * writes and save list, and the save-area directory) at their largest,
 * 768 KiB; the save areas' two compressor contexts (the worker's and the
 * applier's) and their jobs' buffers (replay reads through one). */
_Static_assert(4ull * (UPD_JR_RANGES_MAX + 1) * sizeof(upd_jrange) + 2ull * UPD_ZJ_CCTX_MEM
               + (unsigned long long)UPD_ZJ_JOBS * (UPD_ZJ_IN + UPD_ZJ_OUT) <= UPD_JOURNAL_MEM,
               "UPD_JOURNAL_MEM too small");
#define UPD_JR_STASH (1ull << 63)   /* a saved range of the stash, not the target */
/* Find this package's run in the journal: sets a->resume and a->js, loads
 * the save-area directory.  Errors: UPD_E_IO_*, UPD_E_JOURNAL, UPD_E_NOMEM. */
int upd_jr_load(upd_applier *a);
/* Start a fresh run: new salt, both slots cleared and flushed. */
int upd_jr_begin(upd_applier *a);
/* Open the stash region inside the journal as a->stash (when no stash is given). */
int upd_jr_open_stash(upd_applier *a);
/* Before unit (seg, op, step) runs: save the image ranges in SAVE
 * (disjoint; the first N_EARLY early, see upd_jr_area_open), write the next
 * slot, flush the journal. */
int upd_jr_commit(upd_applier *a, uint32_t seg, uint32_t op, uint64_t step,
                  const upd_jlist *save, size_t n_early);
/* While the unit just committed runs: start the next unit's save area. */
int upd_jr_prepare(upd_applier *a, const upd_jlist *save, size_t n_early);
/* The update is verified: a final slot saying so (flushed). */
int upd_jr_clear(upd_applier *a);
/* jarea.c: save areas.  SAVE's ranges (SAVE may be a->saved_dir) (the first N_EARLY of them hold
 * bytes no earlier unit writes) become the area at journal offset BASE (at
 * most CAP bytes), checksummed with SEED.  open writes the directory and
 * may run while the unit before runs; pump (after DONE of that unit's
 * TOTAL steps) reads and hands to the compressor early bytes in proportion;
 * write finishes the
 * area (opening it first unless the open one is the same) and returns its
 * length and XXH3; abort drops an open one.  Errors: UPD_E_IO_*,
 * UPD_E_NOMEM, UPD_E_COMPRESS. */
int upd_jr_area_open(upd_applier *a, const upd_jlist *save, size_t n_early, uint64_t base,
                     uint64_t cap, uint64_t seed);
int upd_jr_area_pump(upd_applier *a, uint64_t done, uint64_t total);
int upd_jr_area_write(upd_applier *a, const upd_jlist *save, size_t n_early, uint64_t base,
                      uint64_t cap, uint64_t seed, uint64_t *len, uint64_t *sum);
void upd_jr_area_abort(upd_applier *a);
/* Decode the save area at BASE (AREA_LEN bytes, directory in a->saved_dir)
 * and write its ranges back: all of them, or only the stash ones (into the
 * journal at STASH_AT + offset) when STASH_ONLY. */
int upd_jr_area_replay(upd_applier *a, uint64_t base, uint64_t area_len, int stash_only,
                       uint64_t stash_at);
/* Fuzzing only (fuzz/fuzz_journal.c; not exported from the shared
 * library): make both slots of the journal image J valid for package
 * digest PKG with block size BS, with their area and stash checksums, so
 * that a fuzzer's bytes reach the recovery code behind the checksums. */
void upd_jr_fuzz_reseal(uint8_t *j, size_t len, const uint8_t pkg[32], const upd_header *h);
/* Saved bytes one unit's save area holds. */
uint64_t upd_jr_data_cap(const upd_applier *a);
/* Before a unit re-runs: put every range its save area holds back where
 * it was, so the unit starts from the state it first started from. */
int upd_jr_restore(upd_applier *a);
/* vlog.c: the validation log.  Its capacity for package header H, and
 * where it starts in the journal. */
uint64_t upd_jr_vlog_cap(const upd_header *h);
uint64_t upd_jr_vlog_base(const upd_applier *a);
/* After segment E ran (its ops still decoded in dbuf; OPS_BEFORE the op
 * counts before it): append what its validation added to the range sets. */
int upd_jr_vlog_append(upd_applier *a, const upd_seg_entry *e,
                       const uint64_t ops_before[UPD_OP_KINDS]);
/* On resume: rebuild the validation state segments [0, js.seg) left, from
 * the log the resumed slot covers.  Errors: UPD_E_JOURNAL, UPD_E_IO_*. */
int upd_jr_vlog_replay(upd_applier *a);
/* Append [off, off+len) to L. */
int upd_jlist_push(upd_jlist *l, uint64_t off, uint64_t len);

void upd_ap_progress(upd_applier *a, int phase, uint64_t done, uint64_t total);

/* exec.c: DST[i] += SRC[i] mod 256, the DIFF op's hot loop (also timed by
 * bench/micro.c, which links the static library). */
void upd_ap_add_bytes(uint8_t *dst, const uint8_t *src, size_t n);

#endif
