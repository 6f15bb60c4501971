/* The applier's front end: a push state machine over the package bytes.
 *
 *   ST_HEADER -> ST_MANIFEST -> ST_AUTH -> ST_SEGMENT x seg_count -> ST_DONE
 *
 * Nothing touches the image before ST_AUTH has checked the digest over
 * header||manifest and the base image has been hashed.  Each segment is
 * buffered whole (bounded by the header's seg_cmax, which the window must
 * hold), hashed while it arrives, and checked before it is decoded.
 * A resumed run jumps from ST_AUTH to the segment its journal names (the
 * validation log stands in for the segments before it): the bytes in
 * between are skipped unread, and a caller that can seek does not fetch
 * them at all.  An image that already is the new one still has every
 * segment checked (nothing runs), so its verdict is the dry run's. */
#include "applier.h"
#include "../common/check.h"
#include "../common/parallel.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

/* fix stages the header, then manifest entries, then digest and auth block */
_Static_assert(UPD_HEADER_MAX >= UPD_SEG_ENTRY_SIZE && UPD_HEADER_MAX >= 32 + UPD_AUTH_SIZE,
               "the staging buffer holds every fixed part");

#define IOBUF_MAX   (1u << 20)
#define DCTX_BOUND  (160u << 10)  /* a zstd 1.5 decoder context is about 96 KiB, and a
                                     referenced prefix's dictionary object 27 KiB */

/* The big buffers (I/O, compressed and decoded segment) come from the
 * target's backend, so that io_uring transfers straight from registered
 * memory; they count against the window like the rest. */
static void *ap_count(upd_applier *a, void *p, size_t n)
{
    if (p) {
        a->mem += n;
        if (a->mem > a->st.mem_peak)
            a->st.mem_peak = a->mem;
    }
    return p;
}

static void *ap_alloc(upd_applier *a, size_t n) { return ap_count(a, malloc(n ? n : 1), n); }

static void *ap_buf(upd_applier *a, size_t n)
{
    return ap_count(a, upd_io_buf_alloc(a->p.target, n), n);
}

void upd_ap_progress(upd_applier *a, int phase, uint64_t done, uint64_t total)
{
    if (a->p.progress)
        a->p.progress(a->p.progress_user, phase, done, total);
}

static size_t iobuf_size(size_t window)
{
    return window / 8 < IOBUF_MAX ? window / 8 : IOBUF_MAX;
}

uint64_t upd_applier_mem_need(const upd_header *h, size_t window)
{
    if (!window)
        window = UPD_DEFAULT_WINDOW;
    return iobuf_size(window) + DCTX_BOUND + (uint64_t)h->seg_cmax + h->seg_max + h->dict_max
         + (uint64_t)h->seg_count * sizeof(upd_seg_entry)
         + upd_rangeset_max_mem(h->write_ranges) + upd_rangemap_max_mem(h->stash_ranges)
         + upd_rangeset_max_mem(h->frozen_ranges) + (h->flags & UPD_PKG_LZMA ? UPD_LZMA_MEM : 0);
}

int upd_pkg_one_pass_safe(const void *buf, size_t len, uint64_t size)
{
    upd_header h;
    upd_seg_entry e = { .csize = 0 };
    if (!buf || upd_header_decode(buf, len, &h) < 0 || h.seg_count > 1)
        return 0;
    if (h.seg_count) {
        if (len - h.header_size < UPD_SEG_ENTRY_SIZE
            || upd_seg_entry_decode((const uint8_t *)buf + h.header_size, &h, &e) < 0)
            return 0;
    }
    return size == upd_pkg_prefix_size(&h) + e.csize;
}

int upd_applier_create(upd_applier **out, const upd_apply_params *p)
{
    const unsigned known = UPD_APPLY_DRY_RUN | UPD_APPLY_INSECURE | UPD_APPLY_ALLOW_DOWNGRADE
                           | UPD_APPLY_JOURNAL_INLINE | UPD_APPLY_ONE_THREAD
                           | UPD_APPLY_PKG_AT_HAND;
    if (!out || !p || (!p->target && !(p->flags & UPD_APPLY_DRY_RUN))
        || (p->window && p->window < (1u << 20)) || (p->flags & ~known)
        || (p->source && p->source == p->target))
        return UPD_E_INVAL;
    if (p->journal && (p->source || (p->journal_unit && p->journal_unit < UPD_JOURNAL_UNIT_MIN)))
        return UPD_E_INVAL;
    if (!p->keys && !(p->flags & UPD_APPLY_INSECURE))
        return UPD_E_SIG_MISSING;
    upd_applier *a = calloc(1, sizeof *a);
    if (!a)
        return UPD_E_NOMEM;
    a->p = *p;
    if (p->expect_package)
        a->p.expect_package = memcpy(a->expect_pkg, p->expect_package, 32);
    if (!a->p.window)
        a->p.window = UPD_DEFAULT_WINDOW;
    a->hash = upd_sha256_new();
    a->dctx = ZSTD_createDCtx();
    a->iobuf_size = iobuf_size(a->p.window);
    a->iobuf = ap_buf(a, a->iobuf_size);
    a->mem += ZSTD_sizeof_DCtx(a->dctx);
    if (!a->hash || !a->dctx || !a->iobuf) {
        upd_applier_free(a);
        return UPD_E_NOMEM;
    }
    *out = a;
    return 0;
}

void upd_applier_free(upd_applier *a)
{
    if (!a)
        return;
    if (a->ahead_thread)
        pthread_join(a->ahead_tid, NULL);
    upd_applier_free(a->twin);
    upd_sha256_free(a->hash);
    ZSTD_freeDCtx(a->dctx);
    upd_ap_xz_free(a);
    upd_io_buf_free(a->p.target, a->iobuf, a->iobuf_size);
    upd_io_buf_free(a->p.target, a->cbuf, a->h.seg_cmax);
    upd_io_buf_free(a->p.target, a->dbuf, a->h.seg_max);
    upd_io_buf_free(a->p.target, a->dict, a->h.dict_max);
    free(a->manifest);
    upd_io_close(a->stash_mem);
    upd_io_close(a->stash_view);
    free(a->saved_dir.v);
    free(a->rd.v);
    free(a->save.v);
    upd_zj_free(a->zj);   /* stops the worker */
    XXH3_freeState(a->jw.x);
    free(a->wr.v);
    upd_rangeset_free(&a->written);
    upd_rangeset_free(&a->saved);
    upd_rangeset_free(&a->frozen);
    free(a);
}

const upd_header *upd_applier_header(const upd_applier *a)
{
    return a && a->header_ok ? &a->h : NULL;
}

const uint8_t *upd_applier_package(const upd_applier *a)
{
    return a && a->header_ok ? a->pkg_digest : NULL;
}

void upd_applier_stats(const upd_applier *a, upd_apply_stats *st)
{
    if (!a || !st)
        return;
    *st = a->st;
    if (a->p.target && !(a->p.flags & UPD_APPLY_DRY_RUN)) {
        upd_io_stats ios;
        upd_io_get_stats(a->p.target, &ios);
        st->bytes_written = ios.bytes_written;
    }
    if (a->p.journal) {
        upd_io_stats js;
        upd_io_get_stats(a->p.journal, &js);
        st->journal_bytes = js.bytes_written;
    }
}

/* The window must hold both segment buffers, the I/O buffer, the manifest,
 * the decoder, both range sets at the sizes the header declares, and an
 * in-memory stash.  All of it is known here, so a package too large for the
 * window is refused before the first write, and a dry run reaches the same
 * verdict as the real run (except for the in-memory stash, which only the
 * real run holds). */
static void twin_create(upd_applier *a, uint64_t need);

static int on_header(upd_applier *a)
{
    UPD_CHECK(upd_header_decode(a->fix, a->h.header_size, &a->h));
    const upd_header *h = &a->h;
    uint64_t need = upd_applier_mem_need(h, a->p.window) + (a->p.journal ? UPD_JOURNAL_MEM : 0);
    int mem_stash = !a->p.stash && !a->p.journal && !a->p.source && h->stash_size
                    && !(a->p.flags & UPD_APPLY_DRY_RUN);
    if (mem_stash)
        need += h->stash_size;
    if (need > a->p.window)
        return UPD_E_LIMIT;
    upd_rangeset_init(&a->written, h->write_ranges);
    upd_rangemap_init(&a->saved, h->stash_ranges);
    upd_rangeset_init(&a->frozen, h->frozen_ranges);
    a->manifest = ap_alloc(a, (size_t)h->seg_count * sizeof(upd_seg_entry));
    a->cbuf = ap_buf(a, h->seg_cmax);
    a->dbuf = ap_buf(a, h->seg_max);
    a->dict = h->dict_max ? ap_buf(a, h->dict_max) : NULL;
    if (!a->manifest || !a->cbuf || !a->dbuf || (h->dict_max && !a->dict))
        return UPD_E_NOMEM;
    if (h->flags & UPD_PKG_LZMA)
        UPD_CHECK(upd_ap_xz_init(a));
    twin_create(a, need);
    if (mem_stash) {
        UPD_CHECK(upd_io_open_mem(&a->stash_mem, NULL, 0, (size_t)h->stash_size));
        UPD_CHECK(upd_io_resize(a->stash_mem, h->stash_size));
        a->mem += (size_t)h->stash_size;
        a->stash = a->stash_mem;
    } else {
        a->stash = a->p.source ? NULL : a->p.stash;    /* out of place: no stash */
    }
    a->state = h->seg_count ? ST_MANIFEST : ST_AUTH;
    if (!h->seg_count)
        upd_sha256_final(a->hash, a->fix);   /* digest parked in fix[0..32) */
    return 0;
}

static int on_entry(upd_applier *a)
{
    upd_seg_entry *e = &a->manifest[a->seg];
    UPD_CHECK(upd_seg_entry_decode(a->fix, &a->h, e));
    if (++a->seg < a->h.seg_count)
        return 0;
    uint64_t ops = 0, total = upd_pkg_prefix_size(&a->h);
    for (uint32_t i = 0; i < a->h.seg_count; i++) {
        ops += a->manifest[i].op_count;
        total += a->manifest[i].csize;
    }
    if (ops != a->h.op_count)
        return UPD_E_PKG_MANIFEST;
    a->pkg_total = total;
    a->seg = 0;
    a->state = ST_AUTH;
    upd_sha256_final(a->hash, a->fix);
    return 0;
}

/* The update policy: which package, from which version, to which. */
static int check_policy(const upd_applier *a)
{
    const upd_apply_params *p = &a->p;
    const upd_header *h = &a->h;
    if (p->package_id && strcmp(p->package_id, h->package_id))
        return UPD_E_PKG_WRONG_ID;
    const char *installed = p->installed_version ? p->installed_version : h->from_version;
    if (!*installed)
        return 0;
    /* rollback first: a replayed old package is named as what it is */
    if (!(p->flags & UPD_APPLY_ALLOW_DOWNGRADE) && upd_version_cmp(h->to_version, installed) <= 0)
        return UPD_E_PKG_ROLLBACK;
    /* a full image (from the empty image, no from-version) fits any
     * installed version; the rollback check above still holds */
    if (strcmp(h->from_version, installed) && !(h->old_size == 0 && !*h->from_version))
        return UPD_E_PKG_WRONG_FROM;
    return 0;
}

/* Package offset of segment SEG. */
static uint64_t segment_offset(const upd_applier *a, uint32_t seg)
{
    uint64_t off = upd_pkg_prefix_size(&a->h);
    for (uint32_t i = 0; i < seg; i++)
        off += a->manifest[i].csize;
    return off;
}

/* A resumed run starts at the journal's segment; the state the segments
 * before it left comes from the validation log. */
static int jump_to_resume(upd_applier *a)
{
    UPD_CHECK(upd_jr_vlog_replay(a));
    UPD_CHECK(upd_ap_freeze_before(a, a->js.seg));
    a->seg = a->js.seg;
    a->st.segments_done = a->js.seg;
    a->skip_to = segment_offset(a, a->seg);
    return 0;
}

/* The journal's stash, and its length (on resume too: a crash may have
 * lost the resize, never the data written after it, which a flush made
 * durable together with it). */
static int open_stash(upd_applier *a)
{
    if (a->p.journal && !a->p.stash)
        UPD_CHECK(upd_jr_open_stash(a));
    if (a->stash && a->stash != a->stash_mem && a->h.stash_size)
        UPD_CHECK(upd_io_resize(a->stash, a->h.stash_size));
    return 0;
}

/* After the base check gave RC: the run is to begin, unless the image
 * already is the new one, whose segments are still checked, as a dry run
 * would. */
static int base_checked(upd_applier *a, int rc)
{
    UPD_CHECK(rc);
    a->st.already_applied = rc == 1;
    a->begin_pending = !a->st.already_applied;
    return 0;
}

/* The run begins (journal, stash) only once the first segment checked out
 * whole, or the package has none: a refused package leaves a pending
 * journal of another update, and a stash, as they were. */
static int begin_run(upd_applier *a)
{
    if (!a->begin_pending)
        return 0;
    a->begin_pending = 0;
    if (a->p.journal)
        UPD_CHECK(upd_jr_begin(a));
    return open_stash(a);
}

/* The final length is known once the last segment validated (or at the
 * header, with no segment): a wrong one is refused before the run writes. */
static int check_final_size(const upd_applier *a)
{
    return a->seg + 1 >= a->h.seg_count && a->cur_size != a->h.new_size ? UPD_E_RESULT_SIZE : 0;
}

/* The base check reads and hashes the image; decoding the first segment
 * touches only memory (its buffers, decoder, and the memory count the
 * check leaves alone).  With more than one CPU online they run side by
 * side: the check on the caller's thread (an io_uring handle belongs to
 * it, progress is reported there), the decoding on a thread of its own,
 * unless the segment is under SIDE_MIN bytes, whose decoding costs less
 * than starting the thread (lodash: 3.27 ms a run, 3.34 with the thread;
 * esbuild 58.2 -> 52.4 ms, mariadbd 169.5 -> 156.5, out of place).  The
 * check's verdict comes first, as if it had run first.  Returns the
 * check's result, the decoding's in *DECODED. */
#define SIDE_MIN   (16u << 10)
#define SIDE_STACK (512u << 10)   /* the decoders need little; a device may not
                                     overcommit the default 8 MiB */

typedef struct {
    upd_applier *a;
    const upd_seg_entry *e;
    int rc;
} first_decode;

static void *decode_first(void *arg)
{
    first_decode *f = arg;
    f->rc = upd_ap_decode_segment(f->a, f->e);
    return NULL;
}

static int check_base_beside_decode(upd_applier *a, const upd_seg_entry *e, int *decoded)
{
    first_decode f = { a, e, 0 };
    pthread_t t;
    int side = !(a->p.flags & UPD_APPLY_ONE_THREAD) && e->csize >= SIDE_MIN
               && sysconf(_SC_NPROCESSORS_ONLN) > 1
               && upd_thread_start(&t, decode_first, &f, SIDE_STACK);
    int rc = upd_ap_check_base(a);
    if (side)
        pthread_join(t, NULL);
    else if (rc >= 0)
        decode_first(&f);
    *decoded = f.rc;
    return rc;
}

static int on_auth(upd_applier *a, const uint8_t *blk)
{
    upd_auth au;
    UPD_CHECK(upd_auth_decode(blk, &au));
    if (memcmp(au.digest, a->fix, 32))
        return UPD_E_PKG_DIGEST;
    if (a->p.expect_package && memcmp(a->fix, a->p.expect_package, 32))
        return UPD_E_PKG_CHANGED;
    /* INSECURE admits unsigned packages only: a signature that is present
     * is always checked, and without a keyring its key is unknown */
    if (au.sig_alg != UPD_SIG_NONE || !(a->p.flags & UPD_APPLY_INSECURE)) {
        double t0 = upd_now();
        int rc = a->p.keys ? upd_keyring_verify(a->p.keys, blk) : UPD_E_SIG_KEY_UNKNOWN;
        a->st.t_verify += upd_now() - t0;
        UPD_CHECK(rc);
        a->st.signature_verified = 1;
        memcpy(a->st.key_id, au.key_id, UPD_KEY_ID_SIZE);
    }
    UPD_CHECK(check_policy(a));
    if (!a->h.seg_count)
        a->pkg_total = upd_pkg_prefix_size(&a->h);
    a->header_ok = 1;
    a->cur_size = a->low_water = a->exec_size = a->h.old_size;
    a->state = a->h.seg_count ? ST_SEGMENT : ST_DONE;
    memcpy(a->pkg_digest, a->fix, 32);
    a->chunk = a->iobuf_size;
    /* with no segment the final length is known now: a dry run says so
     * where a real run does, after its base check */
    if (a->p.flags & UPD_APPLY_DRY_RUN)
        return a->h.seg_count ? 0 : check_final_size(a);
    if (a->p.journal)
        UPD_CHECK(upd_jr_load(a));
    if (a->resume) {
        UPD_CHECK(jump_to_resume(a));
        return open_stash(a);
    }
    /* the base check waits for the first segment, to run beside its
     * decoding (check_base_beside_decode); nothing is written before */
    if (a->h.seg_count) {
        a->base_pending = 1;
        return 0;
    }
    UPD_CHECK(base_checked(a, upd_ap_check_base(a)));
    UPD_CHECK(check_final_size(a));
    return begin_run(a);
}

/* Whether segment a->seg runs (not in a dry run, not when the image
 * already is the new one). */
static int segment_runs(const upd_applier *a)
{
    return !(a->p.flags & UPD_APPLY_DRY_RUN) && !a->st.already_applied;
}

/* Segment a->seg (entry E), decoded: validate it, then, unless a dry run,
 * run it. */
static int segment_decoded(upd_applier *a, const upd_seg_entry *e)
{
    uint64_t ops_before[UPD_OP_KINDS];
    memcpy(ops_before, a->st.ops, sizeof ops_before);
    UPD_CHECK(upd_ap_validate_segment(a, e));
    UPD_CHECK(check_final_size(a));
    UPD_CHECK(begin_run(a));
    if (segment_runs(a)) {
        double t0 = upd_now();
        UPD_CHECK(upd_ap_execute_segment(a, e));
        if (a->p.journal)
            UPD_CHECK(upd_jr_vlog_append(a, e, ops_before));
        a->st.t_apply += upd_now() - t0;
    }
    /* the range sets grow inside their own allocations: count them too */
    size_t now = a->mem + (a->twin ? a->twin->mem : 0) + upd_rangeset_mem(&a->written)
               + upd_rangeset_mem(&a->saved);
    if (now > a->st.mem_peak)
        a->st.mem_peak = now;
    a->cbuf_have = 0;
    a->st.segments_done++;
    if (++a->seg == a->h.seg_count)
        a->state = ST_DONE;
    upd_ap_progress(a, UPD_PHASE_APPLY, a->pos, a->pkg_total);
    return 0;
}

/* Two segments decode at once: segment k, once its bytes are in and their
 * digest holds, goes to a twin applier that holds only decoding state
 * (buffers, decoders) and decodes it on a thread of its own, while segment
 * k+1's bytes arrive and the caller's thread decodes them; then k is
 * validated (and run), then k+1, so the verdicts, counts, progress reports
 * and every image, journal and stash request are the serial run's, in its
 * order.  Only later: k's verdict (and a real run's writes of k) come with
 * the push that completes k+1 (or at finish), its pkg_bytes then counting
 * k+1's bytes too.  Decoding is four fifths of a dry run (callgrind,
 * mariadbd's package: LZMA2 67%, the sparse writer 10%, copies 3%), and
 * validation needs the segments before (range sets), and running them the
 * image they left, so decoding is the part that runs side by side.  The
 * first segment of a real run decodes beside the base check instead
 * (check_base_beside_decode).  A real run holds segment k until k+1 is
 * in, so only when the caller has the whole package
 * (UPD_APPLY_PKG_AT_HAND): a stream cut before then would lose k's
 * progress.  Only with more than one CPU, several segments, and room for
 * the twin beside what the run needs (NEED) in the window with
 * UPD_PROCESS_RESERVE to spare (the share of it the generator leaves to
 * the process), so that the tool's peak RSS stays where the generator
 * aimed it; otherwise, or when the twin or its thread cannot be had,
 * segments decode one after the other. */
static void twin_create(upd_applier *a, uint64_t need)
{
    const upd_header *h = &a->h;
    uint64_t extra = DCTX_BOUND + (uint64_t)h->seg_cmax + h->seg_max + h->dict_max
                   + (h->flags & UPD_PKG_LZMA ? UPD_LZMA_MEM : 0);
    if ((a->p.flags & UPD_APPLY_ONE_THREAD) || h->seg_count < 2
        || !(a->p.flags & (UPD_APPLY_DRY_RUN | UPD_APPLY_PKG_AT_HAND))
        || a->p.window < UPD_PROCESS_RESERVE || need + extra > a->p.window - UPD_PROCESS_RESERVE
        || sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    upd_applier *t = calloc(1, sizeof *t);
    if (!t)
        return;
    t->p = a->p;
    t->h = *h;
    t->dctx = ZSTD_createDCtx();
    t->cbuf = ap_buf(t, h->seg_cmax);
    t->dbuf = ap_buf(t, h->seg_max);
    t->dict = h->dict_max ? ap_buf(t, h->dict_max) : NULL;
    if (!t->dctx || !t->cbuf || !t->dbuf || (h->dict_max && !t->dict)
        || ((h->flags & UPD_PKG_LZMA) && upd_ap_xz_init(t) < 0)) {
        upd_applier_free(t);
        return;
    }
    t->mem += ZSTD_sizeof_DCtx(t->dctx);
    a->twin = t;
}

static void *twin_decode(void *arg)
{
    upd_applier *t = arg;
    t->ahead_rc = upd_ap_decode_segment(t, t->ahead);
    return NULL;
}

/* Whether the twin holds a segment not yet validated. */
static int twin_busy(const upd_applier *a)
{
    return a->twin && a->twin->ahead;
}

/* The segment buffers of A and the twin T trade places. */
static void swap_bufs(upd_applier *a, upd_applier *t)
{
    uint8_t *c = a->cbuf, *d = a->dbuf;
    a->cbuf = t->cbuf;
    a->dbuf = t->dbuf;
    t->cbuf = c;
    t->dbuf = d;
}

/* Hand segment a->seg (entry E, digest checked) to the twin, when there is
 * one, a segment follows, E is worth a thread (SIDE_MIN), and it is not the
 * first of a real run (which decodes beside the base check): 1 then. */
static int go_ahead(upd_applier *a, const upd_seg_entry *e)
{
    upd_applier *t = a->twin;
    if (!t || a->seg + 1 >= a->h.seg_count || e->csize < SIDE_MIN || a->base_pending)
        return 0;
    swap_bufs(a, t);        /* the twin takes the bytes; its buffers take the next */
    t->ahead = e;
    t->pos = a->pos;        /* where its progress is reported */
    a->ahead_thread = upd_thread_start(&a->ahead_tid, twin_decode, t, SIDE_STACK);
    if (!a->ahead_thread)
        twin_decode(t);
    a->st.segments_ahead += (uint32_t)a->ahead_thread;
    a->seg++;
    a->cbuf_have = 0;
    return 1;
}

/* The twin's segment: wait for its decode, then validate (and run) it in
 * the caller's state, with the twin's segment buffers (a literal frame
 * with a dictionary decodes again from the compressed bytes when it runs),
 * as if the next one had not begun (its bytes so far, the package offset
 * progress reports). */
static int settle_ahead(upd_applier *a)
{
    upd_applier *t = a->twin;
    const upd_seg_entry *e = t->ahead;
    if (a->ahead_thread)
        pthread_join(a->ahead_tid, NULL);
    a->ahead_thread = 0;
    t->ahead = NULL;
    UPD_CHECK(t->ahead_rc);
    size_t have = a->cbuf_have;
    uint64_t pos = a->pos;
    swap_bufs(a, t);
    a->pos = t->pos;
    a->seg--;
    int rc = segment_decoded(a, e);
    swap_bufs(a, t);
    a->pos = pos;
    a->cbuf_have = have;
    return rc;
}

static int on_segment(upd_applier *a)
{
    const upd_seg_entry *e = &a->manifest[a->seg];
    uint8_t got[32];
    upd_sha256_final(a->hash, got);
    int digest_ok = !memcmp(got, e->sha256, 32);
    if (twin_busy(a)) {
        /* this one decodes while the twin's does; the twin's verdict first */
        int rc = digest_ok ? upd_ap_decode_segment(a, e) : UPD_E_SEG_DIGEST;
        UPD_CHECK(settle_ahead(a));
        UPD_CHECK(rc);
        return segment_decoded(a, e);
    }
    if (digest_ok && go_ahead(a, e))
        return 0;
    if (a->base_pending) {
        /* the base verdict first, as ever; the decoding beside it only
         * when the bytes are the signed ones */
        int decoded = 0;
        a->base_pending = 0;
        UPD_CHECK(digest_ok ? base_checked(a, check_base_beside_decode(a, e, &decoded))
                            : upd_ap_check_base(a));
        UPD_CHECK(decoded);
    } else if (digest_ok) {
        UPD_CHECK(upd_ap_decode_segment(a, e));
    }
    if (!digest_ok)
        return UPD_E_SEG_DIGEST;
    return segment_decoded(a, e);
}

/* Hash package bytes, timing it: the verification cost is reported. */
static void hash_in(upd_applier *a, const uint8_t *p, size_t n)
{
    double t0 = upd_now();
    upd_sha256_update(a->hash, p, n);
    a->st.t_verify += upd_now() - t0;
}

/* Take up to WANT - *HAVE bytes into DST; returns the bytes taken. */
static size_t take(uint8_t *dst, size_t *have, size_t want, const uint8_t *src, size_t len)
{
    size_t n = want - *have < len ? want - *have : len;
    memcpy(dst + *have, src, n);
    *have += n;
    return n;
}

static int push(upd_applier *a, const uint8_t *p, size_t len)
{
    while (len) {
        size_t n;
        if (a->pos < a->skip_to) {
            n = a->skip_to - a->pos < len ? (size_t)(a->skip_to - a->pos) : len;
            a->pos += n;
            p += n;
            len -= n;
            continue;
        }
        switch (a->state) {
        case ST_HEADER: {
            /* the preamble, then the rest of the header it sizes
             * (h.header_size stays 0 until the preamble is in) */
            size_t want = a->h.header_size ? a->h.header_size : UPD_HEADER_PREAMBLE;
            n = take(a->fix, &a->fix_have, want, p, len);
            hash_in(a, p, n);
            if (a->fix_have == want && !a->h.header_size) {
                int size = upd_header_size(a->fix, want);
                UPD_CHECK(size);
                a->h.header_size = (uint16_t)size;
            } else if (a->fix_have == want) {
                a->fix_have = 0;
                UPD_CHECK(on_header(a));
            }
            break;
        }
        case ST_MANIFEST:
            n = take(a->fix, &a->fix_have, UPD_SEG_ENTRY_SIZE, p, len);
            hash_in(a, p, n);
            if (a->fix_have == UPD_SEG_ENTRY_SIZE) {
                a->fix_have = 0;
                UPD_CHECK(on_entry(a));
            }
            break;
        case ST_AUTH:
            /* the digest sits in fix[0..32); the block goes after it */
            n = take(a->fix + 32, &a->fix_have, UPD_AUTH_SIZE, p, len);
            if (a->fix_have == UPD_AUTH_SIZE) {
                a->fix_have = 0;
                UPD_CHECK(on_auth(a, a->fix + 32));
            }
            break;
        case ST_SEGMENT:
            n = take(a->cbuf, &a->cbuf_have, a->manifest[a->seg].csize, p, len);
            hash_in(a, p, n);
            if (a->cbuf_have == a->manifest[a->seg].csize) {
                a->st.pkg_bytes += n;
                a->pos += n;
                p += n;
                len -= n;
                UPD_CHECK(on_segment(a));
                continue;
            }
            break;
        default:
            return UPD_E_PKG_TRAILING;
        }
        a->st.pkg_bytes += n;
        a->pos += n;
        p += n;
        len -= n;
    }
    return 0;
}

int upd_applier_push(upd_applier *a, const void *data, size_t len)
{
    if (!a || (!data && len))
        return UPD_E_INVAL;
    if (a->err)
        return a->err;
    int rc = push(a, data, len);
    if (rc < 0)
        a->err = rc;
    return rc;
}

uint64_t upd_applier_offset(const upd_applier *a)
{
    if (!a)
        return 0;
    return a->pos > a->skip_to ? a->pos : a->skip_to;
}

int upd_applier_seek(upd_applier *a, uint64_t off)
{
    if (!a)
        return UPD_E_INVAL;
    if (a->err)
        return a->err;
    if (off < a->pos || off > upd_applier_offset(a))
        return UPD_E_STATE;
    a->pos = off;
    return 0;
}

/* Every segment ran (the last unit's flush made it durable): verify the
 * new image, then clear the journal. */
static int finish_image(upd_applier *a)
{
    int journaled = a->p.journal && !a->st.already_applied;
    UPD_CHECK(upd_ap_check_result(a));
    return journaled ? upd_jr_clear(a) : 0;
}

int upd_applier_finish(upd_applier *a)
{
    if (!a)
        return UPD_E_INVAL;
    if (a->err)
        return a->err;
    /* a segment still with the twin is judged (and run) before the cut */
    int rc = twin_busy(a) ? settle_ahead(a) : 0;
    /* cut before the first segment ended: the base verdict first (the
     * hash, holding part of that segment, starts afresh for it) */
    if (rc >= 0 && a->base_pending) {
        uint8_t part[32];
        upd_sha256_final(a->hash, part);
        rc = upd_ap_check_base(a);
        a->base_pending = 0;
    }
    if (rc >= 0)
        rc = a->state != ST_DONE                  ? UPD_E_PKG_TRUNCATED
             : a->cur_size != a->h.new_size       ? UPD_E_RESULT_SIZE
             : a->p.flags & UPD_APPLY_DRY_RUN     ? 0
                                                  : finish_image(a);
    if (rc < 0)
        a->err = rc;
    return rc;
}
