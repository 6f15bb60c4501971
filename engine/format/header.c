/* Fixed parts of a package: header, manifest entries, auth block.
 * Layout tables are in docs/FORMAT.md; every decode checks every field. */
#include "updelta/format.h"
#include "../common/check.h"

#include <string.h>
#include <zstd.h>

enum {  /* header offsets; the three strings follow at H_STR */
    H_MAGIC = 0, H_VERSION = 8, H_HSIZE = 10, H_FLAGS = 12, H_BLOCK = 16,
    H_SEGS = 20, H_SEGMAX = 24, H_SEGCMAX = 28, H_OLD = 32, H_NEW = 40,
    H_STASH = 48, H_OPS = 56, H_OLDSHA = 64, H_NEWSHA = 96, H_WRANGES = 128,
    H_SRANGES = 132, H_DICTMAX = 136, H_FROZEN = 140, H_STR = UPD_HEADER_FIXED
};
enum {  /* manifest entry offsets */
    M_CSIZE = 0, M_CTRL = 4, M_DIFF = 8, M_LIT = 12, M_OPS = 16, M_DBYTE = 20, M_LITC = 24,
    M_DICTLEN = 28, M_DICTOFF = 32, M_DTAIL = 40, M_DENSE = 44, M_SHA = 52
};
enum {  /* auth block offsets */
    A_DIGEST = 0, A_ALG = 32, A_KEYID = 33, A_SIG = 41
};

#define KNOWN_FLAGS UPD_PKG_LZMA

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* A length-prefixed printable-ASCII string of at most MAX bytes at *POS,
 * inside a header of END bytes; *POS moves past it. */
static int decode_str(const uint8_t *p, size_t *pos, size_t end, size_t max, char *out)
{
    if (*pos >= end)
        return UPD_E_PKG_HEADER;
    size_t len = p[*pos];
    const uint8_t *s = p + *pos + 1;
    if (len > max || len > end - *pos - 1)
        return UPD_E_PKG_HEADER;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return UPD_E_PKG_HEADER;
    memcpy(out, s, len);
    out[len] = 0;
    *pos += 1 + len;
    return 0;
}

static int encode_str(const char *s, size_t max, uint8_t *p, size_t *pos)
{
    const char *nul = memchr(s, 0, max + 1);
    if (!nul)
        return UPD_E_PKG_HEADER;
    size_t len = (size_t)(nul - s);
    p[*pos] = (uint8_t)len;
    memcpy(p + *pos + 1, s, len);
    *pos += 1 + len;
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
    /* a generator saves each old byte once at most (a byte could be saved
     * again after a DROP, but none needs to be): a bound, not a rule of
     * the ops */
    if (h->old_size > UPD_MAX_IMAGE || h->new_size > UPD_MAX_IMAGE
        || h->stash_size > h->old_size)
        return UPD_E_PKG_HEADER;
    /* every op takes at least two control bytes */
    if (h->op_count > (uint64_t)h->seg_count * (h->seg_max / 2) || (h->seg_count && !h->op_count))
        return UPD_E_PKG_HEADER;
    /* range peaks are bounded by the ops that add ranges */
    if (h->write_ranges > h->op_count || h->stash_ranges > h->op_count)
        return UPD_E_PKG_HEADER;
    /* each segment freezes at most one dictionary window */
    if (h->dict_max > UPD_MAX_SEG_SIZE || h->frozen_ranges > h->seg_count
        || (h->seg_count == 0 && h->dict_max))
        return UPD_E_PKG_HEADER;
    return 0;
}

int upd_header_size(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    if (!buf)
        return UPD_E_INVAL;
    if (len < UPD_HEADER_PREAMBLE)
        return UPD_E_PKG_TRUNCATED;
    if (memcmp(p + H_MAGIC, UPD_MAGIC, 8))
        return UPD_E_PKG_MAGIC;
    if (upd_rd16(p + H_VERSION) != UPD_FORMAT_VERSION)
        return UPD_E_PKG_VERSION;
    uint16_t size = upd_rd16(p + H_HSIZE);
    if (size < UPD_HEADER_MIN || size > UPD_HEADER_MAX)
        return UPD_E_PKG_HEADER;
    return size;
}

int upd_header_decode(const void *buf, size_t len, upd_header *h)
{
    const uint8_t *p = buf;
    if (!buf || !h)
        return UPD_E_INVAL;
    int size = upd_header_size(buf, len);
    UPD_CHECK(size);
    if (len < (size_t)size)
        return UPD_E_PKG_TRUNCATED;
    memset(h, 0, sizeof *h);
    h->version = upd_rd16(p + H_VERSION);
    h->header_size = (uint16_t)size;
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
    h->dict_max = upd_rd32(p + H_DICTMAX);
    h->frozen_ranges = upd_rd32(p + H_FROZEN);
    size_t pos = H_STR;
    UPD_CHECK(decode_str(p, &pos, (size_t)size, UPD_ID_MAX, h->package_id));
    UPD_CHECK(decode_str(p, &pos, (size_t)size, UPD_VERSION_MAX, h->from_version));
    UPD_CHECK(decode_str(p, &pos, (size_t)size, UPD_VERSION_MAX, h->to_version));
    /* header_size is exactly what the strings take: one encoding per header */
    if (pos != (size_t)size)
        return UPD_E_PKG_HEADER;
    return check_header(h);
}

int upd_header_encode(const upd_header *h, void *out, size_t cap)
{
    uint8_t p[UPD_HEADER_MAX];
    if (!h || !out)
        return UPD_E_INVAL;
    UPD_CHECK(check_header(h));
    memcpy(p + H_MAGIC, UPD_MAGIC, 8);
    upd_wr16(p + H_VERSION, h->version);
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
    upd_wr32(p + H_DICTMAX, h->dict_max);
    upd_wr32(p + H_FROZEN, h->frozen_ranges);
    size_t size = H_STR;
    UPD_CHECK(encode_str(h->package_id, UPD_ID_MAX, p, &size));
    UPD_CHECK(encode_str(h->from_version, UPD_VERSION_MAX, p, &size));
    UPD_CHECK(encode_str(h->to_version, UPD_VERSION_MAX, p, &size));
    upd_wr16(p + H_HSIZE, (uint16_t)size);
    /* round-trip through the decoder so the encoder can never emit what
     * readers refuse (printable ids) */
    upd_header back;
    UPD_CHECK(upd_header_decode(p, size, &back));
    if (cap < size)
        return UPD_E_INVAL;
    memcpy(out, p, size);
    return (int)size;
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
    e->lit_csize = upd_rd32(p + M_LITC);
    e->dict_len = upd_rd32(p + M_DICTLEN);
    e->dict_off = upd_rd64(p + M_DICTOFF);
    e->dtail_len = upd_rd32(p + M_DTAIL);
    e->dense_len = upd_rd64(p + M_DENSE);
    memcpy(e->sha256, p + M_SHA, 32);
    /* every diff byte follows a run varint of at least one byte */
    if (e->csize == 0 || e->csize > h->seg_cmax || upd_seg_entry_usize(e) > h->seg_max
        || e->dbyte_len > e->diff_len || e->dtail_len > e->dbyte_len
        || e->op_count == 0 || e->ctrl_len < 3 || e->op_count > (e->ctrl_len - 3) / 2)
        return UPD_E_PKG_MANIFEST;
    /* a literal frame follows the main frame inside csize, holds literals
     * and comes with its dictionary: an image window */
    uint64_t image = h->old_size > h->new_size ? h->old_size : h->new_size;
    if (e->lit_csize >= e->csize || (e->lit_csize == 0) != (e->dict_len == 0)
        || (e->lit_csize && !e->lit_len) || e->dict_len > h->dict_max
        || (!e->dict_len && e->dict_off) || upd_range_exceeds(e->dict_off, e->dict_len, image))
        return UPD_E_PKG_MANIFEST;
    /* an LZMA2 segment's dense diff holds every diff byte (in record
     * order), and its ops lie in the images */
    if (e->dense_len && (!(h->flags & UPD_PKG_LZMA) || e->dtail_len || e->lit_csize
                         || !e->diff_len || e->dense_len < e->dbyte_len || e->dense_len > image))
        return UPD_E_PKG_MANIFEST;
    return 0;
}

void upd_seg_entry_encode(const upd_seg_entry *e, void *out)
{
    uint8_t *p = out;
    upd_wr32(p + M_CSIZE, e->csize);
    upd_wr32(p + M_CTRL, e->ctrl_len);
    upd_wr32(p + M_DIFF, e->diff_len);
    upd_wr32(p + M_LIT, e->lit_len);
    upd_wr32(p + M_OPS, e->op_count);
    upd_wr32(p + M_DBYTE, e->dbyte_len);
    upd_wr32(p + M_LITC, e->lit_csize);
    upd_wr32(p + M_DICTLEN, e->dict_len);
    upd_wr64(p + M_DICTOFF, e->dict_off);
    upd_wr32(p + M_DTAIL, e->dtail_len);
    upd_wr64(p + M_DENSE, e->dense_len);
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
    a->sig_alg = p[A_ALG];
    memcpy(a->key_id, p + A_KEYID, 8);
    memcpy(a->sig, p + A_SIG, 64);
    if (a->sig_alg > UPD_SIG_ED25519)
        return UPD_E_PKG_SIGNATURE;
    if (a->sig_alg == UPD_SIG_NONE && !all_zero(p + A_KEYID, UPD_AUTH_SIZE - A_KEYID))
        return UPD_E_PKG_SIGNATURE;
    return 0;
}

void upd_auth_encode(const upd_auth *a, void *out)
{
    uint8_t *p = out;
    memcpy(p + A_DIGEST, a->digest, 32);
    p[A_ALG] = a->sig_alg;
    memcpy(p + A_KEYID, a->key_id, 8);
    memcpy(p + A_SIG, a->sig, 64);
}

uint64_t upd_pkg_prefix_size(const upd_header *h)
{
    return h->header_size + (uint64_t)h->seg_count * UPD_SEG_ENTRY_SIZE + UPD_AUTH_SIZE;
}
