/* The journal file: two header slots, two save areas, the validation log,
 * then the stash.
 *
 *   0      slot 0 (512 bytes used of 4096)   \ written alternately: slot and
 *   4096   slot 1                             / area (seq & 1) belong together
 *   8192   save area 0 (area_cap bytes)
 *   ...    save area 1
 *   ...    validation log (vlog.c): what each finished segment added to the
 *          applier's range sets, so a resume skips those segments' bytes
 *   ...    stash region (the header's stash_size), when no stash handle is given
 *
 * A slot is valid when its magic, version and XXH3 checksum hold; it then
 * names the package (digest of header+manifest), the run's random salt, its
 * sequence number and the unit to run next.  A save area is trusted only
 * when its checksum, seeded with salt and seq, matches the slot's: a save
 * area left by an earlier run, or torn, never validates.  Layout details
 * and the invariants: docs/JOURNAL.md. */
#include "applier.h"
#include "../common/check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SLOT_SIZE   512u
#define SLOT_STRIDE 4096u     /* one slot per 4 KiB block: a torn write of one
                                 slot's block cannot reach the other */
#define AREA_BASE   (2u * SLOT_STRIDE)
#define DIR_HEAD    8u
#define DIR_MAX     (DIR_HEAD + 16u * UPD_JR_RANGES_MAX)
#define SLOT_SEED   0x7570646a726e6c31ull   /* "updjrnl1" */
#define JVERSION    3u        /* 2: the validation log; 3: save areas as
                                 frames of one job each */
#define JVERSION_MIN 2u       /* the oldest whose slot layout this one keeps */
static const uint8_t jmagic[8] = { 0x89, 'U', 'P', 'D', 'J', 'R', 'N', '\n' };

enum {  /* slot offsets */
    J_MAGIC = 0, J_VERSION = 8, J_DONE = 12, J_SALT = 16, J_SEQ = 24, J_PKG = 32,
    J_SEG = 64, J_OP = 68, J_STEP = 72, J_STASH = 80, J_SIZE = 88, J_CHUNK = 96,
    J_UNIT = 100, J_ALEN = 104, J_ASUM = 112, J_SFROM = 120, J_SSUM = 128,
    J_VFROM = 136, J_VLEN = 144, J_VSUM = 152, J_SUM = SLOT_SIZE - 8
};


#define AREA_ALIGN  (64u << 10) /* areas and the stash start block-aligned, so a
                                   torn write in one cannot reach another */

/* Saved bytes a unit may hold: what its budget moves (unit_bytes plus its
 * last step), a chunk of fringes, and a single step's worst case (a chunk
 * and two blocks); exec.c halves a unit that needs more. */
static uint64_t data_cap(uint32_t bs, const upd_jslot *s)
{
    return (uint64_t)s->unit_bytes + 2ull * s->chunk + 2ull * bs;
}

uint64_t upd_jr_data_cap(const upd_applier *a) { return data_cap(a->h.block_size, &a->js); }

/* The directory and the saved bytes' frames (jarea.c): one a job, each at
 * most UPD_ZJ_OUT; jobs are full but the last early one and the last. */
static uint64_t area_cap(uint32_t bs, const upd_jslot *s)
{
    uint64_t cap = DIR_MAX + (data_cap(bs, s) / UPD_ZJ_IN + 2) * UPD_ZJ_OUT;
    return (cap + AREA_ALIGN - 1) / AREA_ALIGN * AREA_ALIGN;
}

static uint64_t area_off(uint32_t bs, const upd_jslot *s, uint64_t seq)
{
    return AREA_BASE + (seq & 1) * area_cap(bs, s);
}

static uint64_t vlog_base_of(const upd_header *h, const upd_jslot *s)
{
    return AREA_BASE + 2 * area_cap(h->block_size, s);
}
uint64_t upd_jr_vlog_base(const upd_applier *a) { return vlog_base_of(&a->h, &a->js); }

/* Where the stash region starts (the journal's length without it). */
static uint64_t stash_base_of(const upd_header *h, const upd_jslot *s)
{
    uint64_t cap = upd_jr_vlog_cap(h);
    return vlog_base_of(h, s) + (cap + AREA_ALIGN - 1) / AREA_ALIGN * AREA_ALIGN;
}
static uint64_t stash_base(const upd_applier *a) { return stash_base_of(&a->h, &a->js); }

static void slot_encode(const upd_jslot *s, const uint8_t pkg[32], uint8_t *p)
{
    memset(p, 0, SLOT_SIZE);
    memcpy(p + J_MAGIC, jmagic, 8);
    upd_wr32(p + J_VERSION, JVERSION);
    upd_wr32(p + J_DONE, s->done);
    upd_wr64(p + J_SALT, s->salt);
    upd_wr64(p + J_SEQ, s->seq);
    memcpy(p + J_PKG, pkg, 32);
    upd_wr32(p + J_SEG, s->seg);
    upd_wr32(p + J_OP, s->op);
    upd_wr64(p + J_STEP, s->step);
    upd_wr64(p + J_STASH, s->stash_done);
    upd_wr64(p + J_SIZE, s->image_size);
    upd_wr32(p + J_CHUNK, s->chunk);
    upd_wr32(p + J_UNIT, s->unit_bytes);
    upd_wr64(p + J_ALEN, s->area_len);
    upd_wr64(p + J_ASUM, s->area_sum);
    upd_wr64(p + J_SFROM, s->stash_from);
    upd_wr64(p + J_SSUM, s->stash_sum);
    upd_wr64(p + J_VFROM, s->vlog_from);
    upd_wr64(p + J_VLEN, s->vlog_len);
    upd_wr64(p + J_VSUM, s->vlog_sum);
    upd_wr64(p + J_SUM, XXH3_64bits_withSeed(p, J_SUM, SLOT_SEED));
}

/* 1 when P holds a valid slot (then decoded into *S and PKG), else 0.  A
 * slot of an older version decodes too (same layout): its run is reported,
 * never resumed (its save areas are in another format). */
static int slot_decode(const uint8_t *p, upd_jslot *s, uint8_t pkg[32])
{
    uint32_t version = upd_rd32(p + J_VERSION);
    if (memcmp(p + J_MAGIC, jmagic, 8) || version < JVERSION_MIN || version > JVERSION
        || upd_rd64(p + J_SUM) != XXH3_64bits_withSeed(p, J_SUM, SLOT_SEED))
        return 0;
    *s = (upd_jslot){
        .version = version,
        .done = upd_rd32(p + J_DONE), .salt = upd_rd64(p + J_SALT), .seq = upd_rd64(p + J_SEQ),
        .seg = upd_rd32(p + J_SEG), .op = upd_rd32(p + J_OP), .step = upd_rd64(p + J_STEP),
        .stash_done = upd_rd64(p + J_STASH), .image_size = upd_rd64(p + J_SIZE),
        .chunk = upd_rd32(p + J_CHUNK), .unit_bytes = upd_rd32(p + J_UNIT),
        .area_len = upd_rd64(p + J_ALEN), .area_sum = upd_rd64(p + J_ASUM),
        .stash_from = upd_rd64(p + J_SFROM), .stash_sum = upd_rd64(p + J_SSUM),
        .vlog_from = upd_rd64(p + J_VFROM), .vlog_len = upd_rd64(p + J_VLEN),
        .vlog_sum = upd_rd64(p + J_VSUM)
    };
    memcpy(pkg, p + J_PKG, 32);
    return s->unit_bytes >= UPD_JOURNAL_UNIT_MIN && s->chunk > 0 && s->stash_from <= s->stash_done
           && s->vlog_from <= s->vlog_len;
}

/* Both slots; *N valid ones in OUT, newest first.  A journal shorter than
 * the slots (new, empty) has none. */
static int read_slots(upd_io *io, upd_jslot out[2], uint8_t pkg[2][32], int *n)
{
    uint64_t size;
    uint8_t buf[SLOT_SIZE];
    *n = 0;
    UPD_CHECK(upd_io_size(io, &size));
    for (uint32_t i = 0; i < 2 && size >= AREA_BASE; i++) {
        UPD_CHECK(upd_io_read(io, buf, SLOT_SIZE, i * SLOT_STRIDE));
        /* a slot lives at position seq & 1 (write_slot): one found at the
         * other (a tampered journal) is not this journal's */
        if (slot_decode(buf, &out[*n], pkg[*n]) && (out[*n].seq & 1) == i)
            (*n)++;
    }
    if (*n == 2 && out[1].seq > out[0].seq) {
        upd_jslot t = out[0];
        uint8_t tp[32];
        out[0] = out[1];
        out[1] = t;
        memcpy(tp, pkg[0], 32);
        memcpy(pkg[0], pkg[1], 32);
        memcpy(pkg[1], tp, 32);
    }
    return 0;
}

int upd_jlist_push(upd_jlist *l, uint64_t off, uint64_t len)
{
    upd_jrange *v = upd_grow(l->v, l->n, &l->cap, sizeof *v);
    if (!v)
        return UPD_E_NOMEM;
    l->v = v;
    v[l->n++] = (upd_jrange){ off, len, 0 };
    return 0;
}

/* XXH3 (seeded with SEED) of IO's bytes [off, off+len), through the I/O buffer. */
static int hash_range(upd_applier *a, upd_io *io, uint64_t off, uint64_t len, uint64_t seed,
                      uint64_t *out)
{
    XXH3_state_t *x = XXH3_createState();
    if (!x)
        return UPD_E_NOMEM;
    XXH3_64bits_reset_withSeed(x, seed);
    int rc = 0;
    while (len && rc == 0) {
        size_t k = len < a->iobuf_size ? (size_t)len : a->iobuf_size;
        rc = upd_io_read(io, a->iobuf, k, off);
        XXH3_64bits_update(x, a->iobuf, k);
        off += k;
        len -= k;
    }
    *out = XXH3_64bits_digest(x);
    XXH3_freeState(x);
    return rc;
}

/* Check slot S's save area against its checksum and load its directory. */
static int load_area(upd_applier *a, const upd_jslot *s)
{
    uint64_t base = area_off(a->h.block_size, s, s->seq);
    uint8_t *buf = a->iobuf;
    if (s->area_len < DIR_HEAD || s->area_len > area_cap(a->h.block_size, s))
        return 0;
    UPD_CHECK(upd_io_read(a->p.journal, buf, DIR_HEAD, base));
    uint32_t n = upd_rd32(buf);
    uint64_t dir = DIR_HEAD + 16ull * n;
    if (n > UPD_JR_RANGES_MAX || upd_rd32(buf + 4) || dir > s->area_len)
        return 0;
    uint64_t sum;
    UPD_CHECK(hash_range(a, a->p.journal, base, s->area_len, s->salt ^ s->seq, &sum));
    if (sum != s->area_sum)
        return 0;
    /* the directory fits the I/O buffer (DIR_MAX <= 128 KiB) */
    UPD_CHECK(upd_io_read(a->p.journal, buf, (size_t)dir, base));
    a->saved_dir.n = 0;
    uint64_t at = 0;   /* position in the decoded bytes */
    for (uint32_t i = 0; i < n; i++) {
        uint64_t off = upd_rd64(buf + DIR_HEAD + 16 * i), len = upd_rd64(buf + DIR_HEAD + 16 * i + 8);
        /* saved ranges lie inside the image or the stash: a journal that
         * says otherwise (a bug, or tampering) names nothing to write */
        uint64_t limit = off & UPD_JR_STASH ? a->h.stash_size
                         : a->h.old_size > a->h.new_size ? a->h.old_size : a->h.new_size;
        if (len == 0 || upd_range_exceeds(at, len, data_cap(a->h.block_size, s))
            || upd_range_exceeds(off & ~UPD_JR_STASH, len, limit))
            return 0;
        UPD_CHECK(upd_jlist_push(&a->saved_dir, off, len));
        a->saved_dir.v[i].at = at;
        at += len;
    }
    return 1;
}

/* Write the stash ranges of the loaded directory back into slot S's stash
 * region (the same bytes a replay of its unit restores first). */
static int restore_stash_fringe(upd_applier *a, const upd_jslot *s)
{
    for (size_t i = 0; i < a->saved_dir.n; i++)
        if (a->saved_dir.v[i].off & UPD_JR_STASH)
            return upd_jr_area_replay(a, area_off(a->h.block_size, s, s->seq), s->area_len, 1,
                                      stash_base_of(&a->h, s));
    return 0;
}

/* 1 when the bytes [FROM, TO) of the region at BASE that slot S appended
 * (and made durable with its own flush) hash to SUM. */
static int appended_ok(upd_applier *a, const upd_jslot *s, uint64_t base, uint64_t from,
                       uint64_t to, uint64_t sum)
{
    uint64_t got;
    if (from == to)
        return 1;
    UPD_CHECK(hash_range(a, a->p.journal, base + from, to - from, s->salt ^ s->seq, &got));
    return got == sum;
}

static int jflush(upd_applier *a);

int upd_jr_load(upd_applier *a)
{
    upd_jslot s[2];
    uint8_t pkg[2][32];
    int n;
    a->resume = 0;
    UPD_CHECK(read_slots(a->p.journal, s, pkg, &n));
    /* What this run reads may be a killed run's writes still in the page
     * cache: a power cut during this run could lose them after it acted on
     * them (written the target as a slot says, and flushed it).  So they
     * are made durable before they are trusted. */
    if (n > 0) {
        UPD_CHECK(jflush(a));
        if (a->p.stash)
            UPD_CHECK(upd_io_flush(a->p.stash));
    }
    int passed = -1;   /* a newer slot of this package that did not check out */
    for (int i = 0; i < n; i++) {
        if (memcmp(pkg[i], a->pkg_digest, 32))
            continue;
        if (s[i].done)
            return 0;   /* this package's last run finished: nothing to resume */
        if (s[i].version != JVERSION)
            return UPD_E_JOURNAL;   /* another format's run: kept, never misread */
        /* a newer slot whose area, or the stash the unit before it wrote,
         * is not intact was never acted on (its unit runs only after the
         * flush that makes all of them durable): fall back to the older */
        int ok = load_area(a, &s[i]);
        UPD_CHECK(ok);
        /* the stash block this slot's unit appends to may have been torn by
         * that unit: put back its saved copy before checking the stash (a
         * separate stash file has no appended range to check; the replay
         * puts its block back) */
        if (ok && !a->p.stash)
            UPD_CHECK(restore_stash_fringe(a, &s[i]));
        /* a slot whose numbers do not fit this package (a bug, or a
         * tampered journal) is never acted on */
        uint64_t most = a->h.old_size > a->h.new_size ? a->h.old_size : a->h.new_size;
        if (ok && (s[i].chunk > a->iobuf_size || s[i].seg >= a->h.seg_count
                   || s[i].image_size > most || s[i].stash_done > a->h.stash_size
                   || s[i].vlog_len > upd_jr_vlog_cap(&a->h)))
            return UPD_E_JOURNAL;
        if (ok)
            ok = appended_ok(a, &s[i], stash_base_of(&a->h, &s[i]), s[i].stash_from,
                             s[i].stash_done, s[i].stash_sum);
        if (ok > 0)
            ok = appended_ok(a, &s[i], vlog_base_of(&a->h, &s[i]), s[i].vlog_from,
                             s[i].vlog_len, s[i].vlog_sum);
        UPD_CHECK(ok);
        if (!ok) {
            passed = i;
            continue;
        }
        /* This run re-runs the older slot's unit with the same salt, so it
         * writes the newer slot's area and appended ranges again, byte for
         * byte: a crash after that would leave the newer slot valid, naming
         * a unit whose predecessor this run had not finished.  So it goes
         * (durably) before this run writes anything else. */
        if (passed >= 0) {
            uint8_t zero[SLOT_SIZE] = { 0 };
            uint64_t at = (s[passed].seq & 1) * SLOT_STRIDE;
            UPD_CHECK(upd_io_write(a->p.journal, zero, SLOT_SIZE, at));
            UPD_CHECK(jflush(a));
        }
        a->js = s[i];
        a->resume = 1;
        a->chunk = s[i].chunk;
        a->st.resumed = 1;
        return 0;
    }
    return 0;
}

static int jflush(upd_applier *a)
{
    a->st.flushes++;
    return upd_io_flush(a->p.journal);
}

int upd_jr_begin(upd_applier *a)
{
    uint8_t zero[SLOT_SIZE] = { 0 };
    uint32_t unit = a->p.journal_unit ? a->p.journal_unit : UPD_JOURNAL_UNIT_DEFAULT;
    a->js = (upd_jslot){ .salt = upd_random64(a), .chunk = (uint32_t)a->chunk,
                         .unit_bytes = unit, .image_size = a->h.old_size };
    /* the whole layout is allocated up front (the stash region by its own
     * resize): no write ever has to extend the file */
    UPD_CHECK(upd_io_resize(a->p.journal, stash_base(a) + (a->p.stash ? 0 : a->h.stash_size)));
    /* slots of other packages go; no flush: a slot of this package could
     * only be there had this run not resumed it */
    UPD_CHECK(upd_io_write(a->p.journal, zero, SLOT_SIZE, 0));
    return upd_io_write(a->p.journal, zero, SLOT_SIZE, SLOT_STRIDE);
}

static int write_slot(upd_applier *a)
{
    uint8_t buf[SLOT_SIZE];
    slot_encode(&a->js, a->pkg_digest, buf);
    UPD_CHECK(upd_io_write(a->p.journal, buf, SLOT_SIZE, (a->js.seq & 1) * SLOT_STRIDE));
    return jflush(a);
}

static int save_fits(const upd_applier *a, const upd_jlist *save)
{
    uint64_t total = 0;
    for (size_t i = 0; i < save->n; i++)
        total += save->v[i].len;
    return save->n <= UPD_JR_RANGES_MAX && total <= data_cap(a->h.block_size, &a->js);
}

int upd_jr_prepare(upd_applier *a, const upd_jlist *save, size_t n_early)
{
    /* the next unit's area is the one of the slot before this unit's: that
     * slot is stale once this unit's slot is durable, as it is now */
    const upd_jslot *s = &a->js;
    uint64_t seq = s->seq + 1;
    if (!save_fits(a, save))
        return UPD_E_INTERNAL;
    return upd_jr_area_open(a, save, n_early, area_off(a->h.block_size, s, seq),
                            area_cap(a->h.block_size, s), s->salt ^ seq);
}

int upd_jr_commit(upd_applier *a, uint32_t seg, uint32_t op, uint64_t step, const upd_jlist *save,
                  size_t n_early)
{
    upd_jslot *s = &a->js;
    uint64_t seq = s->seq + 1, base = area_off(a->h.block_size, s, seq), alen, sum, ssum = 0;
    if (!save_fits(a, save))
        return UPD_E_INTERNAL;
    UPD_CHECK(upd_jr_area_write(a, save, n_early, base, area_cap(a->h.block_size, s), s->salt ^ seq,
                                &alen, &sum));
    /* the stash bytes the previous unit appended are made durable by this
     * slot's flush, not one of their own: the slot carries their checksum,
     * so it is only trusted once they are there */
    uint64_t sfrom = a->stash == a->stash_view ? a->unit_stash_from : a->stash_done, vsum = 0;
    if (sfrom < a->stash_done)
        UPD_CHECK(hash_range(a, a->p.journal, stash_base(a) + sfrom, a->stash_done - sfrom,
                             s->salt ^ seq, &ssum));
    /* likewise the validation-log entries appended since the last slot */
    uint64_t vfrom = s->vlog_len;
    if (vfrom < a->vlog_end)
        UPD_CHECK(hash_range(a, a->p.journal, upd_jr_vlog_base(a) + vfrom, a->vlog_end - vfrom,
                             s->salt ^ seq, &vsum));
    *s = (upd_jslot){ .salt = s->salt, .seq = seq, .seg = seg, .op = op, .step = step,
                      .stash_done = a->stash_done, .image_size = a->exec_size,
                      .chunk = s->chunk, .unit_bytes = s->unit_bytes,
                      .area_len = alen, .area_sum = sum, .stash_from = sfrom,
                      .stash_sum = ssum, .vlog_from = vfrom, .vlog_len = a->vlog_end,
                      .vlog_sum = vsum };
    return write_slot(a);
}

int upd_jr_clear(upd_applier *a)
{
    /* a newer slot that says "done", not zeroed slots: zeroing the newest
     * first would leave the older one naming a unit that must not re-run
     * now, and zeroing the older first needs a flush in between */
    upd_jslot *s = &a->js;
    if (a->jw.open)
        return UPD_E_INTERNAL;   /* a save area is only prepared for a unit that follows */
    *s = (upd_jslot){ .salt = s->salt, .seq = s->seq + 1, .done = 1, .chunk = s->chunk,
                      .unit_bytes = s->unit_bytes, .stash_done = a->stash_done,
                      .stash_from = a->stash_done, .image_size = a->exec_size };
    return write_slot(a);
}

int upd_jr_restore(upd_applier *a)
{
    return upd_jr_area_replay(a, area_off(a->h.block_size, &a->js, a->js.seq), a->js.area_len, 0, 0);
}

/* ---- the stash region as an upd_io ------------------------------------- */

typedef struct { upd_io *base; uint64_t off; } view;

static int view_err(const view *v)
{
    int e = upd_io_last_errno(v->base);
    return -(e ? e : EIO);
}

/* REQS shifted by the view's offset, 16 at a time, to the base's submit,
 * or to its run when the caller reaps at once (RUN). */
static int view_pass(view *v, const upd_io_req *reqs, unsigned n, int run)
{
    upd_io_req batch[16];
    for (unsigned i = 0; i < n;) {
        unsigned k = 0;
        for (; k < 16 && i < n; k++, i++) {
            batch[k] = reqs[i];
            batch[k].off += v->off;
        }
        if ((run ? upd_io_run(v->base, batch, k) : upd_io_submit(v->base, batch, k)) < 0)
            return view_err(v);
    }
    return 0;
}

static int view_submit(void *ctx, const upd_io_req *reqs, unsigned n)
{
    return view_pass(ctx, reqs, n, 0);
}

static int view_run(void *ctx, const upd_io_req *reqs, unsigned n)
{
    return view_pass(ctx, reqs, n, 1);
}

static int view_reap(void *ctx)
{
    view *v = ctx;
    return upd_io_reap(v->base) < 0 ? view_err(v) : 0;
}

static int view_flush(void *ctx)
{
    view *v = ctx;
    return upd_io_flush(v->base) < 0 ? view_err(v) : 0;
}

static int view_size(void *ctx, uint64_t *size)
{
    view *v = ctx;
    uint64_t s;
    if (upd_io_size(v->base, &s) < 0)
        return view_err(v);
    *size = s > v->off ? s - v->off : 0;
    return 0;
}

static int view_resize(void *ctx, uint64_t size)
{
    view *v = ctx;
    return upd_io_resize(v->base, v->off + size) < 0 ? view_err(v) : 0;
}

static void view_close(void *ctx) { free(ctx); }

static const upd_io_methods view_methods = {
    .name = "journal-stash", .submit = view_submit, .reap = view_reap, .flush = view_flush,
    .size = view_size, .resize = view_resize, .close = view_close, .run = view_run
};

int upd_jr_open_stash(upd_applier *a)
{
    view *v = malloc(sizeof *v);
    if (!v)
        return UPD_E_NOMEM;
    *v = (view){ a->p.journal, stash_base(a) };
    int rc = upd_io_create(&a->stash_view, &view_methods, v);
    if (rc < 0) {
        free(v);
        return rc;
    }
    a->stash = a->stash_view;
    return 0;
}

int upd_journal_read_status(upd_io *io, upd_journal_status *st)
{
    if (!io || !st)
        return UPD_E_INVAL;
    upd_jslot s[2];
    uint8_t pkg[2][32];
    int n;
    memset(st, 0, sizeof *st);
    UPD_CHECK(read_slots(io, s, pkg, &n));
    if (!n || s[0].done)
        return 0;
    st->state = UPD_JOURNAL_RUNNING;
    st->seq = s[0].seq;
    memcpy(st->package, pkg[0], 32);
    st->segment = s[0].seg;
    st->op = s[0].op;
    st->step = s[0].step;
    st->stash_done = s[0].stash_done;
    st->image_size = s[0].image_size;
    return 0;
}

void upd_jr_fuzz_reseal(uint8_t *j, size_t len, const uint8_t pkg[32], const upd_header *h)
{
    uint32_t bs = h->block_size;
    for (uint32_t i = 0; i < 2 && len >= AREA_BASE; i++) {
        uint8_t *p = j + i * SLOT_STRIDE, dig[32];
        memcpy(p + J_MAGIC, jmagic, 8);
        upd_wr32(p + J_VERSION, JVERSION);
        memcpy(p + J_PKG, pkg, 32);
        upd_wr64(p + J_SUM, XXH3_64bits_withSeed(p, J_SUM, SLOT_SEED));
        upd_jslot s;
        if (!slot_decode(p, &s, dig))
            continue;
        uint64_t at = area_off(bs, &s, s.seq), sb = stash_base_of(h, &s), vb = vlog_base_of(h, &s);
        if (at <= len && s.area_len <= len - at)
            upd_wr64(p + J_ASUM, XXH3_64bits_withSeed(j + at, (size_t)s.area_len, s.salt ^ s.seq));
        if (sb <= len && s.stash_from <= s.stash_done && s.stash_done <= len - sb)
            upd_wr64(p + J_SSUM, XXH3_64bits_withSeed(j + sb + s.stash_from,
                                                      (size_t)(s.stash_done - s.stash_from),
                                                      s.salt ^ s.seq));
        if (vb <= len && s.vlog_len <= len - vb)
            upd_wr64(p + J_VSUM, XXH3_64bits_withSeed(j + vb + s.vlog_from,
                                                      (size_t)(s.vlog_len - s.vlog_from),
                                                      s.salt ^ s.seq));
        upd_wr64(p + J_SUM, XXH3_64bits_withSeed(p, J_SUM, SLOT_SEED));
    }
}
