/* LZMA2 segments (FORMAT.md 5.2): the control region, the DIFF ops'
 * diffs whole and the literals as one raw LZMA2 stream, streamed through
 * the encoder in pieces so that no dense copy of a segment is made. */
#include "diff_internal.h"

#include <lzma.h>
#include <stdlib.h>
#include <string.h>

#define XZ_PIECE (64u << 10)

struct upd_xz {
    lzma_stream s;
    uint8_t piece[XZ_PIECE];
};

int upd_xz_create(upd_xz **out)
{
    upd_xz *x = malloc(sizeof *x);
    if (!x)
        return UPD_E_NOMEM;
    lzma_stream init = LZMA_STREAM_INIT;
    x->s = init;
    *out = x;
    return 0;
}

void upd_xz_free(upd_xz *x)
{
    if (!x)
        return;
    lzma_end(&x->s);
    free(x);
}

/* N more bytes into the stream: 0, 1 when the output is full (the stream
 * would not be smaller than the limit), or an error. */
static int feed(lzma_stream *s, const uint8_t *p, size_t n, lzma_action how)
{
    s->next_in = p;
    s->avail_in = n;
    for (;;) {
        lzma_ret r = lzma_code(s, how);
        if (r == LZMA_STREAM_END)
            return 0;
        if (r == LZMA_MEM_ERROR)
            return UPD_E_NOMEM;
        if (r != LZMA_OK)
            return UPD_E_COMPRESS;
        if (!s->avail_out)
            return 1;
        if (how == LZMA_RUN && !s->avail_in)
            return 0;
    }
}

int upd_xz_segment(upd_xz *x, int level, const uint8_t *ctrl, size_t ctrl_len,
                   const upd_gop *ops, size_t n, const uint8_t *old_img, const uint8_t *new_img,
                   uint8_t *out, size_t cap, size_t *out_len, uint64_t *dense)
{
    lzma_options_lzma opt;
    /* xz's presets: 9 with the extra effort for zstd's strongest levels */
    if (lzma_lzma_preset(&opt, level >= 19 ? 9 | LZMA_PRESET_EXTREME : 6))
        return UPD_E_COMPRESS;
    opt.dict_size = UPD_LZMA_DICT;
    const lzma_filter chain[] = { { LZMA_FILTER_LZMA2, &opt }, { LZMA_VLI_UNKNOWN, NULL } };
    lzma_ret r = lzma_raw_encoder(&x->s, chain);
    if (r != LZMA_OK)
        return r == LZMA_MEM_ERROR ? UPD_E_NOMEM : UPD_E_COMPRESS;
    x->s.next_out = out;
    x->s.avail_out = cap;
    *dense = 0;
    int rc = feed(&x->s, ctrl, ctrl_len, LZMA_RUN);
    for (size_t i = 0; !rc && i < n; i++) {
        const upd_gop *g = &ops[i];
        for (uint64_t at = 0; !rc && g->kind == UPD_OP_DIFF && at < g->len; at += XZ_PIECE) {
            size_t k = g->len - at < XZ_PIECE ? (size_t)(g->len - at) : XZ_PIECE;
            const uint8_t *o = old_img + g->data + at, *w = new_img + g->dst + at;
            for (size_t j = 0; j < k; j++)
                x->piece[j] = (uint8_t)(w[j] - o[j]);
            rc = feed(&x->s, x->piece, k, LZMA_RUN);
        }
        *dense += g->kind == UPD_OP_DIFF ? g->len : 0;
    }
    for (size_t i = 0; !rc && i < n; i++)
        if (ops[i].kind == UPD_OP_LIT)
            rc = feed(&x->s, new_img + ops[i].dst, ops[i].len, LZMA_RUN);
    if (!rc)
        rc = feed(&x->s, NULL, 0, LZMA_FINISH);
    *out_len = cap - x->s.avail_out;
    return rc;
}
