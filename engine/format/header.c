/* Fixed parts of a package: header, manifest entries, auth block.
 * Layout tables are in docs/FORMAT.md; every decode checks every field. */
#include "updelta/format.h"
#include "../common/check.h"

#include <string.h>
#include <zstd.h>

enum {  /* header offsets */
    H_MAGIC = 0, H_VERSION = 8, H_HSIZE = 10, H_FLAGS = 12, H_BLOCK = 16,
    H_SEGS = 20, H_SEGMAX = 24, H_SEGCMAX = 28, H_OLD = 32, H_NEW = 40,
    H_STASH = 48, H_OPS = 56, H_OLDSHA = 64, H_NEWSHA = 96, H_ID = 128,
    H_FROM = 176, H_TO = 208, H_WRANGES = 240, H_SRANGES = 244, H_RSV = 248
};
enum {  /* manifest entry offsets */
    M_CSIZE = 0, M_CTRL = 4, M_DIFF = 8, M_LIT = 12, M_OPS = 16, M_DBYTE = 20, M_RSV = 24,
    M_SHA = 32
};
enum {  /* auth block offsets */
    A_DIGEST = 0, A_ALG = 32, A_RSV1 = 34, A_KEYID = 40, A_SIG = 48, A_RSV2 = 112
};

#define KNOWN_FLAGS 0u   /* no header flags are defined (version 2) */

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* A NUL-padded printable-ASCII field: canonical (zeros after the first NUL). */
static int decode_str(const uint8_t *p, size_t n, char *out)
{
    size_t len = 0;
    while (len < n && p[len])
        len++;
    for (size_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return UPD_E_PKG_HEADER;
    if (!all_zero(p + len, n - len))
        return UPD_E_PKG_HEADER;
    memcpy(out, p, len);
    out[len] = 0;
    return 0;
}

static int encode_str(const char *s, uint8_t *p, size_t n)
{
    size_t len = strlen(s);
    if (len > n)
        return UPD_E_PKG_HEADER;
    memset(p, 0, n);
    memcpy(p, s, len);
    return 0;
}

static int check_header(const upd_header *h)
{
    if (h->version != UPD_FORMAT_VERSION)
        return UPD_E_PKG_VERSION;
    if (h->flags & ~(uint32_t)KNOWN_FLAGS)
        return UPD_E_PKG_HEADER;
    if (h->block_size < UPD_MIN_BLOCK || h->block_size > UPD_MAX_BLOCK
        || (h->block_size & (h->block_size - 1)))
        return UPD_E_PKG_HEADER;
    if (h->seg_count > UPD_MAX_SEGMENTS || h->seg_max > UPD_MAX_SEG_SIZE
        || h->seg_cmax > ZSTD_COMPRESSBOUND(h->seg_max))
        return UPD_E_PKG_HEADER;
    if ((h->seg_count == 0) != (h->seg_max == 0) || (h->seg_count == 0) != (h->seg_cmax == 0))
        return UPD_E_PKG_HEADER;
    /* saved ranges are disjoint ranges of the old image */
    if (h->old_size > UPD_MAX_IMAGE || h->new_size > UPD_MAX_IMAGE
        || h->stash_size > h->old_size)
        return UPD_E_PKG_HEADER;
    /* every op takes at least two control bytes */
    if (h->op_count > (uint64_t)h->seg_count * (h->seg_max / 2) || (h->seg_count && !h->op_count))
        return UPD_E_PKG_HEADER;
    /* range peaks are bounded by the ops that add ranges */
    if (h->write_ranges > h->op_count || h->stash_ranges > h->op_count)
        return UPD_E_PKG_HEADER;
    return 0;
}

int upd_header_decode(const void *buf, size_t len, upd_header *h)
{
    const uint8_t *p = buf;
    if (!buf || !h)
        return UPD_E_INVAL;
    if (len < UPD_HEADER_SIZE)
        return UPD_E_PKG_TRUNCATED;
    if (memcmp(p + H_MAGIC, UPD_MAGIC, 8))
        return UPD_E_PKG_MAGIC;
    memset(h, 0, sizeof *h);
    h->version = upd_rd16(p + H_VERSION);
    if (h->version != UPD_FORMAT_VERSION)
        return UPD_E_PKG_VERSION;
    if (upd_rd16(p + H_HSIZE) != UPD_HEADER_SIZE)
        return UPD_E_PKG_HEADER;
    h->flags = upd_rd32(p + H_FLAGS);
    h->block_size = upd_rd32(p + H_BLOCK);
    h->seg_count = upd_rd32(p + H_SEGS);
    h->seg_max = upd_rd32(p + H_SEGMAX);
    h->seg_cmax = upd_rd32(p + H_SEGCMAX);
    h->old_size = upd_rd64(p + H_OLD);
    h->new_size = upd_rd64(p + H_NEW);
    h->stash_size = upd_rd64(p + H_STASH);
    h->op_count = upd_rd64(p + H_OPS);
    memcpy(h->old_sha256, p + H_OLDSHA, 32);
    memcpy(h->new_sha256, p + H_NEWSHA, 32);
    h->write_ranges = upd_rd32(p + H_WRANGES);
    h->stash_ranges = upd_rd32(p + H_SRANGES);
    if (!all_zero(p + H_RSV, UPD_HEADER_SIZE - H_RSV))
        return UPD_E_PKG_HEADER;
    UPD_CHECK(decode_str(p + H_ID, UPD_ID_MAX, h->package_id));
    UPD_CHECK(decode_str(p + H_FROM, UPD_VERSION_MAX, h->from_version));
    UPD_CHECK(decode_str(p + H_TO, UPD_VERSION_MAX, h->to_version));
    return check_header(h);
}

int upd_header_encode(const upd_header *h, void *out)
{
    uint8_t *p = out;
    if (!h || !out)
        return UPD_E_INVAL;
    UPD_CHECK(check_header(h));
    memset(p, 0, UPD_HEADER_SIZE);
    memcpy(p + H_MAGIC, UPD_MAGIC, 8);
    upd_wr16(p + H_VERSION, h->version);
    upd_wr16(p + H_HSIZE, UPD_HEADER_SIZE);
    upd_wr32(p + H_FLAGS, h->flags);
    upd_wr32(p + H_BLOCK, h->block_size);
    upd_wr32(p + H_SEGS, h->seg_count);
    upd_wr32(p + H_SEGMAX, h->seg_max);
    upd_wr32(p + H_SEGCMAX, h->seg_cmax);
    upd_wr64(p + H_OLD, h->old_size);
    upd_wr64(p + H_NEW, h->new_size);
    upd_wr64(p + H_STASH, h->stash_size);
    upd_wr64(p + H_OPS, h->op_count);
    memcpy(p + H_OLDSHA, h->old_sha256, 32);
    memcpy(p + H_NEWSHA, h->new_sha256, 32);
    upd_wr32(p + H_WRANGES, h->write_ranges);
    upd_wr32(p + H_SRANGES, h->stash_ranges);
    UPD_CHECK(encode_str(h->package_id, p + H_ID, UPD_ID_MAX));
    UPD_CHECK(encode_str(h->from_version, p + H_FROM, UPD_VERSION_MAX));
    UPD_CHECK(encode_str(h->to_version, p + H_TO, UPD_VERSION_MAX));
    /* round-trip through the decoder so the encoder can never emit what
     * readers refuse (printable ids, canonical padding) */
    upd_header back;
    return upd_header_decode(p, UPD_HEADER_SIZE, &back);
}

int upd_seg_entry_decode(const void *buf, const upd_header *h, upd_seg_entry *e)
{
    const uint8_t *p = buf;
    if (!buf || !h || !e)
        return UPD_E_INVAL;
    e->csize = upd_rd32(p + M_CSIZE);
    e->ctrl_len = upd_rd32(p + M_CTRL);
    e->diff_len = upd_rd32(p + M_DIFF);
    e->lit_len = upd_rd32(p + M_LIT);
    e->op_count = upd_rd32(p + M_OPS);
    e->dbyte_len = upd_rd32(p + M_DBYTE);
    memcpy(e->sha256, p + M_SHA, 32);
    /* every diff byte follows a run varint of at least one byte */
    if (e->csize == 0 || e->csize > h->seg_cmax || upd_seg_entry_usize(e) > h->seg_max
        || e->dbyte_len > e->diff_len
        || e->op_count == 0 || e->op_count > e->ctrl_len / 2
        || !all_zero(p + M_RSV, M_SHA - M_RSV))
        return UPD_E_PKG_MANIFEST;
    return 0;
}

void upd_seg_entry_encode(const upd_seg_entry *e, void *out)
{
    uint8_t *p = out;
    memset(p, 0, UPD_SEG_ENTRY_SIZE);
    upd_wr32(p + M_CSIZE, e->csize);
    upd_wr32(p + M_CTRL, e->ctrl_len);
    upd_wr32(p + M_DIFF, e->diff_len);
    upd_wr32(p + M_LIT, e->lit_len);
    upd_wr32(p + M_OPS, e->op_count);
    upd_wr32(p + M_DBYTE, e->dbyte_len);
    memcpy(p + M_SHA, e->sha256, 32);
}

uint64_t upd_seg_entry_usize(const upd_seg_entry *e)
{
    return (uint64_t)e->ctrl_len + e->diff_len + e->dbyte_len + e->lit_len;
}

int upd_auth_decode(const void *buf, upd_auth *a)
{
    const uint8_t *p = buf;
    if (!buf || !a)
        return UPD_E_INVAL;
    memcpy(a->digest, p + A_DIGEST, 32);
    a->sig_alg = upd_rd16(p + A_ALG);
    memcpy(a->key_id, p + A_KEYID, 8);
    memcpy(a->sig, p + A_SIG, 64);
    if (a->sig_alg > UPD_SIG_ED25519 || !all_zero(p + A_RSV1, A_KEYID - A_RSV1)
        || !all_zero(p + A_RSV2, UPD_AUTH_SIZE - A_RSV2))
        return UPD_E_PKG_SIGNATURE;
    if (a->sig_alg == UPD_SIG_NONE && !all_zero(p + A_KEYID, A_RSV2 - A_KEYID))
        return UPD_E_PKG_SIGNATURE;
    return 0;
}

void upd_auth_encode(const upd_auth *a, void *out)
{
    uint8_t *p = out;
    memset(p, 0, UPD_AUTH_SIZE);
    memcpy(p + A_DIGEST, a->digest, 32);
    upd_wr16(p + A_ALG, a->sig_alg);
    memcpy(p + A_KEYID, a->key_id, 8);
    memcpy(p + A_SIG, a->sig, 64);
}

uint64_t upd_pkg_prefix_size(const upd_header *h)
{
    return UPD_HEADER_SIZE + (uint64_t)h->seg_count * UPD_SEG_ENTRY_SIZE + UPD_AUTH_SIZE;
}
