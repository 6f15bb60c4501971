/* The journal's validation log: one entry per finished segment, saying what
 * validating it added to the applier's state (the image ranges it wrote,
 * the old ranges it stashed, the image length).  A resumed run rebuilds
 * that state from the log instead of decoding the segments before the one
 * to resume, so it never needs their bytes: a download agent fetches only
 * the package prefix and the rest from that segment on (upd_applier_offset).
 *
 * An entry, little-endian, padded to the block size so that writing one
 * never tears the block of another:
 *   0   magic "UPDVLOG2"        8   segment index      16  record count
 *   24  image length after      32  low water after    40  stash log end after
 *   48  op counts by kind (8 x u64)                    112 zero up to 128
 *   128 records, 16 bytes each: offset, length | VLOG_STASH for a STASH,
 *       | VLOG_DROP for a DROP
 *   then the XXH3 of all the above, seeded with the run's salt and the index
 * The slot that first covers an entry carries the checksum of the bytes
 * appended since the slot before (journal.c), so an entry torn by a crash
 * is never trusted; the per-entry checksum guards the ones before. */
#include "applier.h"
#include "../common/check.h"

#include <string.h>
#include <xxhash.h>

#define VLOG_HEAD   128u
#define VLOG_REC    16u
#define VLOG_STASH  (1ull << 63)
#define VLOG_DROP   (1ull << 62)
#define VLOG_SEED   0x766c6f6731ull
static const uint8_t vmagic[8] = { 'U', 'P', 'D', 'V', 'L', 'O', 'G', '2' };

enum { V_SEG = 8, V_NREC = 16, V_SIZE = 24, V_LOW = 32, V_STASH = 40, V_OPS = 48 };

uint64_t upd_jr_vlog_cap(const upd_header *h)
{
    /* a record per op at most, and an entry's head, sum and padding */
    return h->op_count * VLOG_REC + (uint64_t)h->seg_count * (VLOG_HEAD + 8 + h->block_size);
}

static uint64_t vlog_seed(const upd_applier *a, uint32_t seg)
{
    return a->js.salt ^ VLOG_SEED ^ ((uint64_t)seg << 32);
}

/* Entry writer: bytes staged in the I/O buffer, written when it fills. */
typedef struct {
    upd_applier *a;
    XXH3_state_t *x;
    uint64_t at;       /* journal offset of the staged bytes */
    size_t   n;
} vwriter;

static int vw_flush(vwriter *w)
{
    XXH3_64bits_update(w->x, w->a->iobuf, w->n);
    UPD_CHECK(upd_io_write(w->a->p.journal, w->a->iobuf, w->n, w->at));
    w->at += w->n;
    w->n = 0;
    return 0;
}

static int vw_rec(vwriter *w, uint64_t off, uint64_t len)
{
    if (w->n + VLOG_REC > w->a->iobuf_size)
        UPD_CHECK(vw_flush(w));
    upd_wr64(w->a->iobuf + w->n, off);
    upd_wr64(w->a->iobuf + w->n + 8, len);
    w->n += VLOG_REC;
    return 0;
}

static int append(upd_applier *a, vwriter *w, const upd_seg_entry *e,
                  const uint64_t ops_before[UPD_OP_KINDS])
{
    /* no run resumes after the last segment */
    if (a->seg + 1 >= a->h.seg_count)
        return 0;
    uint64_t nrec = 0;
    for (int k = UPD_OP_COPY; k < UPD_OP_KINDS; k++)
        if (k != UPD_OP_RESIZE)
            nrec += a->st.ops[k] - ops_before[k];
    uint64_t start = a->vlog_end, body = VLOG_HEAD + nrec * VLOG_REC + 8;
    uint64_t len = (body + a->h.block_size - 1) / a->h.block_size * a->h.block_size;
    if (upd_range_exceeds(start, len, upd_jr_vlog_cap(&a->h)))
        return UPD_E_INTERNAL;
    w->at = upd_jr_vlog_base(a) + start;
    XXH3_64bits_reset_withSeed(w->x, vlog_seed(a, a->seg));
    uint8_t *h = a->iobuf;
    memset(h, 0, VLOG_HEAD);
    memcpy(h, vmagic, 8);
    upd_wr32(h + V_SEG, a->seg);
    upd_wr64(h + V_NREC, nrec);
    upd_wr64(h + V_SIZE, a->cur_size);
    upd_wr64(h + V_LOW, a->low_water);
    upd_wr64(h + V_STASH, a->stash_end);
    for (int k = 0; k < UPD_OP_KINDS; k++)
        upd_wr64(h + V_OPS + 8 * k, a->st.ops[k] - ops_before[k]);
    w->n = VLOG_HEAD;
    upd_op_cursor c;
    upd_op op;
    int rc;
    UPD_CHECK(upd_op_cursor_init(&c, a->dbuf, e->ctrl_len));
    while ((rc = upd_op_next(&c, &op)) > 0) {
        if (op.kind == UPD_OP_STASH)
            UPD_CHECK(vw_rec(w, op.src, op.len | VLOG_STASH));
        else if (op.kind == UPD_OP_DROP)
            UPD_CHECK(vw_rec(w, op.src, op.len | VLOG_DROP));
        else if (op.kind != UPD_OP_RESIZE)
            UPD_CHECK(vw_rec(w, op.dst, op.len));
    }
    UPD_CHECK(rc);
    if (w->n + 8 + a->h.block_size > a->iobuf_size)
        UPD_CHECK(vw_flush(w));
    XXH3_64bits_update(w->x, a->iobuf, w->n);
    upd_wr64(a->iobuf + w->n, XXH3_64bits_digest(w->x));
    size_t tail = (size_t)(len - (w->at - upd_jr_vlog_base(a) - start));
    memset(a->iobuf + w->n + 8, 0, tail - w->n - 8);
    UPD_CHECK(upd_io_write(a->p.journal, a->iobuf, tail, w->at));
    a->vlog_end = start + len;
    return 0;
}

int upd_jr_vlog_append(upd_applier *a, const upd_seg_entry *e,
                       const uint64_t ops_before[UPD_OP_KINDS])
{
    vwriter w = { .a = a, .x = XXH3_createState() };
    if (!w.x)
        return UPD_E_NOMEM;
    int rc = append(a, &w, e, ops_before);
    XXH3_freeState(w.x);
    return rc;
}

/* Entry reader: the log's bytes through the I/O buffer. */
typedef struct {
    upd_applier *a;
    uint64_t at, end;  /* journal offsets: next byte to load, end of the log */
    size_t   have, pos;
} vreader;

static int vr_need(vreader *r, size_t n, const uint8_t **p)
{
    if (r->have - r->pos < n) {
        size_t keep = r->have - r->pos;
        memmove(r->a->iobuf, r->a->iobuf + r->pos, keep);
        uint64_t k = r->a->iobuf_size - keep;
        if (k > r->end - r->at)
            k = r->end - r->at;
        if (keep + k < n)
            return UPD_E_JOURNAL;
        UPD_CHECK(upd_io_read(r->a->p.journal, r->a->iobuf + keep, (size_t)k, r->at));
        r->at += k;
        r->have = keep + (size_t)k;
        r->pos = 0;
    }
    *p = r->a->iobuf + r->pos;
    r->pos += n;
    return 0;
}

/* Replay one entry for segment SEG, checking every record against the
 * package's bounds: a log that lies cannot point reads outside the image
 * or the stash. */
static int replay_entry(upd_applier *a, vreader *r, XXH3_state_t *x, uint32_t seg)
{
    const upd_header *hd = &a->h;
    uint64_t most = hd->old_size > hd->new_size ? hd->old_size : hd->new_size;
    const uint8_t *p;
    XXH3_64bits_reset_withSeed(x, vlog_seed(a, seg));
    UPD_CHECK(vr_need(r, VLOG_HEAD, &p));
    XXH3_64bits_update(x, p, VLOG_HEAD);
    uint64_t nrec = upd_rd64(p + V_NREC), size = upd_rd64(p + V_SIZE), low = upd_rd64(p + V_LOW);
    uint64_t send = upd_rd64(p + V_STASH), ops[UPD_OP_KINDS];
    if (memcmp(p, vmagic, 8) || upd_rd32(p + V_SEG) != seg || nrec > hd->op_count
        || size > most || low > most || send > hd->stash_size)
        return UPD_E_JOURNAL;
    for (int k = 0; k < UPD_OP_KINDS; k++)
        ops[k] = upd_rd64(p + V_OPS + 8 * k);
    for (uint64_t i = 0; i < nrec; i++) {
        UPD_CHECK(vr_need(r, VLOG_REC, &p));
        XXH3_64bits_update(x, p, VLOG_REC);
        uint64_t off = upd_rd64(p), len = upd_rd64(p + 8) & ~(VLOG_STASH | VLOG_DROP);
        if ((upd_rd64(p + 8) & (VLOG_STASH | VLOG_DROP)) == VLOG_DROP) {
            if (upd_range_exceeds(off, len, hd->old_size)
                || upd_rangeset_remove(&a->saved, off, off + len) < 0)
                return UPD_E_JOURNAL;
        } else if (upd_rd64(p + 8) & VLOG_DROP) {
            return UPD_E_JOURNAL;
        } else if (upd_rd64(p + 8) & VLOG_STASH) {
            if (upd_range_exceeds(off, len, hd->old_size)
                || upd_range_exceeds(a->stash_end, len, hd->stash_size)
                || upd_rangemap_add(&a->saved, off, off + len, a->stash_end) < 0)
                return UPD_E_JOURNAL;
            a->stash_end += len;
        } else if (upd_range_exceeds(off, len, most)
                   || upd_rangeset_add(&a->written, off, off + len) < 0) {
            return UPD_E_JOURNAL;
        }
    }
    UPD_CHECK(vr_need(r, 8, &p));
    if (upd_rd64(p) != XXH3_64bits_digest(x) || a->stash_end != send)
        return UPD_E_JOURNAL;
    /* skip the padding to the next block */
    uint64_t used = VLOG_HEAD + nrec * VLOG_REC + 8, bs = hd->block_size;
    uint64_t pad = (used + bs - 1) / bs * bs - used;
    while (pad) {
        size_t k = pad < r->a->iobuf_size / 2 ? (size_t)pad : r->a->iobuf_size / 2;
        UPD_CHECK(vr_need(r, k, &p));
        pad -= k;
    }
    a->cur_size = size;
    a->low_water = low;
    for (int k = 0; k < UPD_OP_KINDS; k++)
        a->st.ops[k] += ops[k];
    return 0;
}

int upd_jr_vlog_replay(upd_applier *a)
{
    uint64_t base = upd_jr_vlog_base(a);
    vreader r = { .a = a, .at = base, .end = base + a->js.vlog_len };
    XXH3_state_t *x = XXH3_createState();
    if (!x)
        return UPD_E_NOMEM;
    int rc = 0;
    for (uint32_t s = 0; s < a->js.seg && rc == 0; s++)
        rc = replay_entry(a, &r, x, s);
    XXH3_freeState(x);
    UPD_CHECK(rc);
    /* the log holds exactly the entries before the unit's segment */
    if (r.at != r.end || r.pos != r.have)
        return UPD_E_JOURNAL;
    a->vlog_end = a->js.vlog_len;
    return 0;
}
