/*
 * updelta: the delta package format, version 6 (docs/FORMAT.md is the spec).
 *
 * A package is read front to back, once:
 *
 *   header    header_size bytes (UPD_HEADER_MIN..UPD_HEADER_MAX): sizes,
 *             hashes, limits, then the ids as length-prefixed strings
 *   manifest  seg_count entries of UPD_SEG_ENTRY_SIZE bytes
 *   auth      UPD_AUTH_SIZE bytes: SHA-256 of header||manifest and a
 *             signature slot over the same bytes
 *   segments  seg_count independent frames: zstd, or where the header's
 *             UPD_PKG_LZMA allows it, raw LZMA2 with the diff stored dense
 *
 * Each segment decodes to four parts laid end to end: the control region
 * (the operations, itself four streams of their fields), diff runs and diff bytes (the DIFF ops' sparse payload, see
 * upd_sparse_next) and literal bytes.  The manifest gives every
 * segment's compressed size, stream lengths, op count and SHA-256, so a
 * reader verifies a segment before running any of its operations and can
 * restart at any segment boundary without decoder state.
 *
 * This header offers the pieces a reader, an inspector or a fuzzer needs:
 * decoding and checking the fixed parts, and decoding operations.  It does
 * no I/O and allocates nothing.  Everything is little-endian; every length
 * and count is checked against the bounds below before use.
 */
#ifndef UPDELTA_FORMAT_H
#define UPDELTA_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"

#define UPD_MAGIC            "\x89UPDLTA\n"   /* 8 bytes */
#define UPD_FORMAT_VERSION   7   /* 2: sparse DIFF payload; 3: variable-length header,
                                    literal-frame dictionaries; 4: the control stream
                                    split by field, sources coded by shift; 5: DROP;
                                    6: diff bytes split into heads and tails; 7: LZMA2
                                    segments with a dense diff */
#define UPD_ID_MAX           48    /* package id string, bytes */
#define UPD_VERSION_MAX      32    /* from/to version strings, bytes */
#define UPD_HEADER_PREAMBLE  12    /* magic, version, header_size: what sizes the rest */
#define UPD_HEADER_FIXED     144   /* the preamble and every fixed-width field */
#define UPD_HEADER_MIN       (UPD_HEADER_FIXED + 3)   /* three empty strings */
#define UPD_HEADER_MAX       (UPD_HEADER_MIN + UPD_ID_MAX + 2 * UPD_VERSION_MAX)
#define UPD_SEG_ENTRY_SIZE   84
#define UPD_AUTH_SIZE        105
#define UPD_AUTH_SIGNED      41    /* auth bytes the signature covers: digest, alg, key id */

/* Bounds every reader enforces (a package outside them is malformed). */
#define UPD_MAX_IMAGE        (1ull << 48)     /* 256 TiB */
#define UPD_MAX_SEGMENTS     (1u << 16)
#define UPD_MAX_SEG_SIZE     (64u << 20)      /* decoded segment, bytes */
#define UPD_MIN_BLOCK        512u
#define UPD_MAX_BLOCK        (1u << 20)

/* Header flags. */
#define UPD_PKG_LZMA         1u    /* segments may be LZMA2 (upd_seg_entry.dense_len): the
                                      applier then holds an LZMA2 decoder */
/* An LZMA2 segment's matches reach back at most this far: the decoder's
 * dictionary, whatever the segment's size. */
#define UPD_LZMA_DICT        (1u << 20)

/* Signature algorithms in the auth block. */
#define UPD_SIG_NONE         0
#define UPD_SIG_ED25519      1

typedef struct {
    uint16_t version;
    uint16_t header_size;      /* encoded length (set by upd_header_decode) */
    uint32_t flags;
    uint32_t block_size;       /* power of two: I/O and journal granularity */
    uint32_t seg_count;
    uint32_t seg_max;          /* largest decoded segment (all four streams) */
    uint32_t seg_cmax;         /* largest compressed segment */
    uint64_t old_size, new_size;
    uint64_t stash_size;       /* stash log length: all bytes the schedule saves */
    uint64_t op_count;         /* total operations in all segments */
    uint32_t write_ranges;     /* most disjoint image ranges written at once (the
                                  applier's stale-read tracking; 0 if nothing is written) */
    uint32_t stash_ranges;     /* most disjoint old ranges saved in the stash map */
    uint32_t dict_max;         /* largest dictionary window of a segment (bytes) */
    uint32_t frozen_ranges;    /* most disjoint dictionary windows frozen at once */
    uint8_t  old_sha256[32], new_sha256[32];
    char     package_id[UPD_ID_MAX + 1];
    char     from_version[UPD_VERSION_MAX + 1];
    char     to_version[UPD_VERSION_MAX + 1];
} upd_header;

typedef struct {
    uint32_t csize;            /* compressed frame size */
    uint32_t ctrl_len;
    uint32_t diff_len;         /* diff-runs stream: the varints */
    uint32_t lit_len;
    uint32_t op_count;
    uint32_t dbyte_len;        /* diff-bytes stream: the non-zero bytes */
    uint32_t dtail_len;        /* the last dtail_len of them are the tails (0: the
                                  stream is in record order; upd_sparse_next) */
    uint32_t lit_csize;        /* the literal frame at the segment's end (0: the
                                  segment is one frame of all four streams) */
    uint32_t dict_len;         /* the literal frame's dictionary: image bytes */
    uint64_t dict_off;         /* [dict_off, dict_off + dict_len) (0, 0: none) */
    uint64_t dense_len;        /* > 0: the segment is one raw LZMA2 stream of the
                                  control region, then the DIFF ops' diffs whole
                                  (dense_len bytes: every op's len, zeros included),
                                  then the literals; the applier turns the dense
                                  diff into the sparse streams above as it decodes
                                  (upd_sparse_writer).  0: zstd */
    uint8_t  sha256[32];       /* of the compressed frame */
} upd_seg_entry;

typedef struct {
    uint8_t  digest[32];       /* SHA-256(header || manifest) */
    uint8_t  sig_alg;          /* UPD_SIG_* */
    uint8_t  key_id[8];
    uint8_t  sig[64];
} upd_auth;

/* The length of the header that starts BUF, read from its first
 * UPD_HEADER_PREAMBLE bytes (LEN may be just that): returns header_size,
 * UPD_HEADER_MIN..UPD_HEADER_MAX.  Errors: UPD_E_PKG_TRUNCATED (LEN below
 * the preamble), UPD_E_PKG_MAGIC, UPD_E_PKG_VERSION, UPD_E_PKG_HEADER
 * (header_size out of range). */
UPD_API int upd_header_size(const void *buf, size_t len);

/* Decode and check the header in BUF[0..header_size); H->header_size
 * receives its length.  Errors: those of upd_header_size,
 * UPD_E_PKG_TRUNCATED (LEN below header_size), UPD_E_PKG_HEADER (any
 * field out of range, a string too long, not printable ASCII or not
 * ending exactly at header_size). */
UPD_API int upd_header_decode(const void *buf, size_t len, upd_header *h);

/* Encode H into OUT[0..CAP); its length follows from the strings
 * (H->header_size is not read: a header built by hand need not set it).
 * Returns the bytes written, UPD_HEADER_MIN..UPD_HEADER_MAX (a CAP of
 * UPD_HEADER_MAX always suffices).  Errors: UPD_E_PKG_HEADER (H fails
 * upd_header_decode's checks), UPD_E_INVAL (CAP too small). */
UPD_API int upd_header_encode(const upd_header *h, void *out, size_t cap);

/* Decode one manifest entry (UPD_SEG_ENTRY_SIZE bytes) and check it
 * against H.  Errors: UPD_E_PKG_MANIFEST (a field out of range, more diff
 * bytes than diff-run bytes, more tails than diff bytes, a literal frame
 * or dictionary that does not fit its segment, H's dict_max or the
 * images; an LZMA2 segment without H's UPD_PKG_LZMA, with tails, a
 * literal frame, no diff runs, or fewer dense bytes than diff bytes). */
UPD_API int upd_seg_entry_decode(const void *buf, const upd_header *h, upd_seg_entry *e);
UPD_API void upd_seg_entry_encode(const upd_seg_entry *e, void *out);

/* Decode the auth block (UPD_AUTH_SIZE bytes).  Errors: UPD_E_PKG_SIGNATURE
 * (unknown algorithm, key id or signature bytes without an algorithm). */
UPD_API int upd_auth_decode(const void *buf, upd_auth *a);
UPD_API void upd_auth_encode(const upd_auth *a, void *out);

/* Decoded bytes of E's segment: its four streams. */
UPD_API uint64_t upd_seg_entry_usize(const upd_seg_entry *e);

/* Byte offset of the first segment: header + manifest + auth block
 * (H->header_size as upd_header_decode set it). */
UPD_API uint64_t upd_pkg_prefix_size(const upd_header *h);

/* ---- operations ---------------------------------------------------------
 * A segment's control region is a sequence of operations.  Offsets are
 * absolute after decoding; the encoding delta-codes them (FORMAT.md).
 *   COPY   dst <- old[src]               (src in the old image)
 *   DIFF   dst <- old[src] + diff bytes  (bytewise add mod 256, bsdiff style)
 *   LIT    dst <- literal bytes
 *   FILL   dst <- LEN copies of one byte
 *   STASH  save old[src, src+len) at the end of the stash log, so that ops
 *          after the write that destroys those bytes still read them (the
 *          applier serves such reads from the stash: readers never name it)
 *   RESIZE image length <- len (grow before writes past the end, shrink last)
 *   DROP   forget every saved range within old [src, src+len): no later op
 *          reads those bytes from the stash, so the applier's map of saved
 *          ranges (bounded memory) holds only the live ones.  DROPs come
 *          first in their segment, before any other op.
 * Every read of the old image sees old bytes: from the image where no op
 * has written yet, from the stash where an earlier STASH saved them (and
 * no DROP forgot them since).
 */
typedef enum {
    UPD_OP_COPY = 1, UPD_OP_DIFF = 2, UPD_OP_LIT = 3,
    UPD_OP_FILL = 4, UPD_OP_STASH = 5, UPD_OP_RESIZE = 6,
    UPD_OP_DROP = 7
} upd_op_kind;

#define UPD_OP_KINDS 8         /* size of an array indexed by upd_op_kind */

typedef struct {
    upd_op_kind kind;
    uint64_t dst;              /* image offset written (COPY, DIFF, LIT, FILL) */
    uint64_t src;              /* old-image offset read (COPY, DIFF, STASH), or
                                  forgotten (DROP) */
    uint64_t len;              /* bytes; for RESIZE the new image length */
    uint8_t  fill;             /* FILL byte */
} upd_op;

/* Cursor over a control region: four streams, each op's kind byte in the
 * first and its fields in the others (FORMAT.md 6). */
typedef struct {
    const uint8_t *s[4], *end[4];  /* next unread byte and end of the kind,
                                      destination, source and length streams */
    uint64_t prev_end;         /* the destination base: the previous image
                                  write (COPY, DIFF, LIT, FILL) in this
                                  region, its end if it was coded up, its
                                  start if down */
    int64_t prev_shift;        /* the source base: src - dst of the previous
                                  COPY or DIFF in this region (0 before one) */
} upd_op_cursor;

/* Start C on the control region CTRL[0..LEN).  Errors: UPD_E_OP_DECODE
 * (stream lengths malformed or past LEN). */
UPD_API int upd_op_cursor_init(upd_op_cursor *c, const void *ctrl, size_t len);

/* Decode the next operation into *OP.  Returns 1 when an op was decoded,
 * 0 at the end of the region (every stream consumed exactly),
 * UPD_E_OP_DECODE on malformed bytes (unknown kind or flags, a DOWN flag
 * that is not the canonical choice, overlong or overflowing varint, zero
 * length, offsets that wrap, a field past its stream's end, bytes left in a
 * stream after the last op).  Only encoding is checked here; bounds are the
 * applier's job. */
UPD_API int upd_op_next(upd_op_cursor *c, upd_op *op);

/* The delta bases an encoder keeps, zero at the start of every region. */
typedef struct {
    uint64_t prev_end;
    int64_t prev_shift;
} upd_op_base;

/* Encode OP against the bases *B into OUT (at most UPD_OP_MAX_ENCODED
 * bytes): its part of the kind, destination, source and length streams,
 * one after the other, their lengths in PART[0..3].  Returns the bytes
 * written and moves *B.  Fields OP's kind does not have are ignored (the
 * src of LIT, FILL and RESIZE, the dst of RESIZE, fill unless FILL), except
 * that a STASH or DROP must have dst 0.  A write's destination is coded up from the base
 * or down from it, whichever value is smaller (FORMAT.md 6.2).
 * UPD_E_INVAL for an op the decoder would refuse. */
#define UPD_OP_MAX_ENCODED 40
UPD_API int upd_op_encode(const upd_op *op, upd_op_base *b, uint8_t *out, uint8_t part[4]);

/* The control region of OPS[0..N) into OUT (CAP bytes; upd_ctrl_bound(N)
 * always suffice), its length in *LEN.  Errors: UPD_E_INVAL (an op
 * upd_op_encode refuses), UPD_E_LIMIT (CAP too small, or OUT or LEN
 * NULL). */
#define UPD_CTRL_HEAD_MAX 30
UPD_API int upd_ctrl_encode(const upd_op *ops, size_t n, void *out, size_t cap, size_t *len);
UPD_API size_t upd_ctrl_bound(size_t n);

/* ---- sparse DIFF payload ------------------------------------------------
 * A DIFF op of LEN bytes adds (mod 256) to its source the bytes its records
 * spell, in op order: a record is a run of Z zero bytes (a canonical LEB128
 * varint in the diff-runs stream) followed by one non-zero byte (the next
 * byte of the diff-bytes stream), except the op's last record, whose run
 * ends exactly at LEN (Z may be 0) and has no byte.  A segment's DIFF ops
 * consume both streams exactly, in op order.
 *
 * Split diff bytes: when a segment's entry has dtail_len > 0, its
 * diff-bytes stream holds the heads (the bytes of records with Z > 0, in
 * order) and then dtail_len tails (those of records with Z = 0: a byte
 * right after another).  On code the two are distinct sources: a changed
 * address's first byte and its carries (FORMAT.md 6.5). */
typedef struct {
    const uint8_t *run, *run_end;     /* next unread varint of diff-runs */
    const uint8_t *byte, *byte_end;   /* next unread byte of diff-bytes (heads) */
    const uint8_t *tail, *tail_end;   /* next unread tail (NULL: not split) */
} upd_sparse_cursor;

/* A cursor at the start of a segment's diff-runs RUNS[0..RUNS_LEN) and
 * diff-bytes BYTES[0..BYTES_LEN), whose last TAIL_LEN bytes are the tails
 * (TAIL_LEN 0: one stream in record order; TAIL_LEN <= BYTES_LEN, as
 * upd_seg_entry_decode checks). */
UPD_API void upd_sparse_init(upd_sparse_cursor *c, const void *runs, size_t runs_len,
                             const void *bytes, size_t bytes_len, size_t tail_len);

/* The record at position POS of an op of LEN bytes: *Z zero bytes, then
 * either the non-zero byte *B (returns 1; the next record starts at
 * POS + *Z + 1) or the op's end (returns 0; POS + *Z == LEN).  Errors:
 * UPD_E_OP_STREAM (diff-runs, the heads or the tails end before the op does),
 * UPD_E_OP_DECODE (overlong varint, a run past LEN, a zero diff byte). */
UPD_API int upd_sparse_next(upd_sparse_cursor *c, uint64_t pos, uint64_t len, uint64_t *z,
                            uint8_t *b);

/* Every record of an op of LEN bytes, checked as upd_sparse_next does. */
UPD_API int upd_sparse_skip(upd_sparse_cursor *c, uint64_t len);

/* The records of the next DIFF op of LEN bytes at C, a cursor in record
 * order (TAIL_LEN 0), with their bytes sorted into the split form: those
 * after a zero run appended at HEADS[*NH], the others at TAILS[*NT] (each
 * count advanced).  Returns 0 at the op's end, or upd_sparse_next's error. */
UPD_API int upd_sparse_split_op(upd_sparse_cursor *c, uint64_t len, uint8_t *heads, size_t *nh,
                                uint8_t *tails, size_t *nt);

/* Writes a DIFF payload from dense diffs in record order, as an LZMA2
 * segment's decoder does: the diff of each DIFF op in pieces of any size,
 * then the op's end. */
typedef struct {
    uint8_t *run, *run_end;           /* next free byte of diff-runs, and its end */
    uint8_t *byte, *byte_end;         /* the same for diff-bytes */
    uint64_t zeros;                   /* the zero run so far */
} upd_sparse_writer;

/* W writing at RUNS[0..RUNS_CAP) and BYTES[0..BYTES_CAP). */
UPD_API void upd_sparse_writer_init(upd_sparse_writer *w, void *runs, size_t runs_cap,
                                    void *bytes, size_t bytes_cap);
/* The next N diff bytes D of the current op.  Errors: UPD_E_LIMIT (a
 * stream is full; W is then unusable). */
UPD_API int upd_sparse_write(upd_sparse_writer *w, const uint8_t *d, size_t n);
/* The current op ends (its last record).  Errors: UPD_E_LIMIT. */
UPD_API int upd_sparse_write_end(upd_sparse_writer *w);

/* The records of NEW[i] - OLD[i] (mod 256), i < LEN, appended at RUNS
 * (at most LEN + 10 bytes) and BYTES (at most LEN bytes); *RUNS_LEN and
 * *BYTES_LEN get the counts.  RUNS and BYTES may be NULL: counts only. */
UPD_API void upd_sparse_encode(const uint8_t *old_img, const uint8_t *new_img, size_t len,
                               uint8_t *runs, size_t *runs_len, uint8_t *bytes,
                               size_t *bytes_len);

#endif /* UPDELTA_FORMAT_H */
