/* LZMA2 segments (FORMAT.md 5.2): one raw LZMA2 stream of the control
 * region, the DIFF ops' diffs whole (zeros included) and the literals.
 * On a same-length rebuild of machine code the changed bytes sit in
 * aligned instruction words, which LZMA2's position and literal contexts
 * model and zstd's do not: arm64 libsystemd-shared 252.38 -> 252.39 takes
 * 61,973 bytes this way, 79,597 in zstd segments (bsdiff: 64,831).  The
 * decode work is the dense length, at most max(old_size, new_size) per
 * segment, where the zstd form's is its records.  The dense
 * diff is turned into the sparse streams of the zstd form as it decodes,
 * in pieces of UPD_LZMA_PIECE bytes, so everything after the decode
 * (validation, execution, the journal) sees one form, and memory does not
 * grow with the dense length. */
#include "applier.h"
#include "../common/check.h"

#include <lzma.h>
#include <stdlib.h>
#include <string.h>

/* The decoder's allocations, counted against UPD_LZMA_DEC_MEM: a header
 * in front of each keeps its size. */
typedef union { size_t n; max_align_t align; } xz_block;

static void *xz_alloc(void *opaque, size_t nmemb, size_t size)
{
    upd_applier *a = opaque;
    if (size && nmemb > (SIZE_MAX - sizeof(xz_block)) / size)
        return NULL;
    size_t n = nmemb * size;
    if (n > UPD_LZMA_DEC_MEM - a->xz_mem)
        return NULL;
    xz_block *b = malloc(sizeof *b + n);
    if (!b)
        return NULL;
    b->n = n;
    a->xz_mem += n;
    a->mem += n;
    return b + 1;
}

static void xz_free(void *opaque, void *p)
{
    upd_applier *a = opaque;
    if (!p)
        return;
    xz_block *b = (xz_block *)p - 1;
    a->xz_mem -= b->n;
    a->mem -= b->n;
    free(b);
}

/* a->xz */
typedef struct {
    lzma_stream s;
    lzma_allocator al;
} xz_state;

int upd_ap_xz_init(upd_applier *a)
{
    xz_state *x = malloc(sizeof *x);
    if (!x)
        return UPD_E_NOMEM;
    /* ready for upd_ap_xz_free before anything else can fail */
    *x = (xz_state){ .s = LZMA_STREAM_INIT, .al = { xz_alloc, xz_free, a } };
    x->s.allocator = &x->al;
    a->xz = x;
    a->xz_piece = malloc(UPD_LZMA_PIECE);
    if (!a->xz_piece)
        return UPD_E_NOMEM;
    a->mem += UPD_LZMA_PIECE;
    return 0;
}

void upd_ap_xz_free(upd_applier *a)
{
    xz_state *x = a->xz;
    if (x)
        lzma_end(&x->s);
    free(x);
    free(a->xz_piece);
}

/* The stream's next N bytes into OUT: UPD_E_SEG_DECODE when it is
 * malformed or ends first. */
static int xz_read(lzma_stream *s, uint8_t *out, size_t n)
{
    s->next_out = out;
    s->avail_out = n;
    while (s->avail_out) {
        lzma_ret r = lzma_code(s, LZMA_RUN);
        if (r == LZMA_MEM_ERROR)
            return UPD_E_NOMEM;
        /* LZMA_OK without progress: the input is used up */
        if (r != LZMA_OK || (s->avail_out && !s->avail_in))
            return s->avail_out ? UPD_E_SEG_DECODE : 0;
    }
    return 0;
}

/* The dense diffs of the segment's DIFF ops (control region in dbuf) into
 * the sparse streams.  A stream that the ops do not use up exactly, or
 * that spells more records than the manifest's lengths hold, is
 * UPD_E_OP_STREAM, as for the zstd form. */
static int dense_to_sparse(upd_applier *a, const upd_seg_entry *e)
{
    upd_op_cursor c;
    upd_op op;
    upd_sparse_writer w;
    uint64_t left = e->dense_len;
    uint8_t *runs = a->dbuf + e->ctrl_len;
    int rc;
    upd_sparse_writer_init(&w, runs, e->diff_len, runs + e->diff_len, e->dbyte_len);
    UPD_CHECK(upd_op_cursor_init(&c, a->dbuf, e->ctrl_len));
    while ((rc = upd_op_next(&c, &op)) > 0) {
        if (op.kind != UPD_OP_DIFF)
            continue;
        if (op.len > left)
            return UPD_E_OP_STREAM;
        left -= op.len;
        for (uint64_t done = 0; done < op.len;) {
            size_t n = op.len - done < UPD_LZMA_PIECE ? (size_t)(op.len - done) : UPD_LZMA_PIECE;
            UPD_CHECK(xz_read(&((xz_state *)a->xz)->s, a->xz_piece, n));
            if (upd_sparse_write(&w, a->xz_piece, n) < 0)
                return UPD_E_OP_STREAM;
            done += n;
        }
        if (upd_sparse_write_end(&w) < 0)
            return UPD_E_OP_STREAM;
    }
    UPD_CHECK(rc);
    if (left || w.run != w.run_end || w.byte != w.byte_end)
        return UPD_E_OP_STREAM;
    return 0;
}

int upd_ap_decode_xz(upd_applier *a, const upd_seg_entry *e)
{
    lzma_stream *s = &((xz_state *)a->xz)->s;
    lzma_options_lzma opt = { .dict_size = UPD_LZMA_DICT };
    const lzma_filter chain[] = { { LZMA_FILTER_LZMA2, &opt }, { LZMA_VLI_UNKNOWN, NULL } };
    lzma_ret r = lzma_raw_decoder(s, chain);
    if (r != LZMA_OK)
        return r == LZMA_MEM_ERROR ? UPD_E_NOMEM : UPD_E_SEG_DECODE;
    s->next_in = a->cbuf;
    s->avail_in = e->csize;
    UPD_CHECK(xz_read(s, a->dbuf, e->ctrl_len));
    UPD_CHECK(dense_to_sparse(a, e));
    UPD_CHECK(xz_read(s, a->dbuf + upd_seg_entry_usize(e) - e->lit_len, e->lit_len));
    /* then the stream's end, and nothing after it */
    uint8_t extra;
    s->next_out = &extra;
    s->avail_out = 1;
    r = lzma_code(s, LZMA_RUN);
    return r == LZMA_STREAM_END && s->avail_out && !s->avail_in ? 0 : UPD_E_SEG_DECODE;
}
