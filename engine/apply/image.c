/* Whole-image passes: the base check before the first write and the result
 * check after the last, and out of place the copy of the old bytes no op
 * writes.  They stream through the applier's I/O buffer, so they cost no
 * memory beyond the window. */
#include "applier.h"
#include "../common/check.h"
#include "../io/io_internal.h"

#include <string.h>

/* Stream IO[0..LEN) through the I/O buffer: hash it into OUT when OUT is
 * set, write every chunk to COPY_TO at the same offset when that is set.
 * Read-ahead: the buffer's two halves alternate, the next chunk's read is
 * submitted before this chunk is hashed, so an asynchronous backend
 * (io_uring) reads while the CPU hashes. */
static int stream_image_run(upd_applier *a, upd_io *io, uint64_t len, upd_io *copy_to,
                            int phase, uint8_t *out)
{
    const size_t half = a->iobuf_size / 2;
    uint8_t *buf[2] = { a->iobuf, a->iobuf + half };
    size_t n = len < half ? (size_t)len : half;
    upd_io_req r = { buf[0], 0, (uint32_t)n, UPD_IO_READ };
    int rc = len ? upd_io_submit(io, &r, 1) : 0;
    for (uint64_t off = 0, cur = 0; off < len; off += n, n = r.len, cur ^= 1) {
        int rr = upd_io_reap(io);     /* chunk OFF is in buf[cur] */
        UPD_CHECK(rc ? rc : rr);
        uint64_t next = off + n;
        r = (upd_io_req){ buf[cur ^ 1], next, (uint32_t)(len - next < half ? len - next : half),
                          UPD_IO_READ };
        rc = next < len ? upd_io_submit(io, &r, 1) : 0;
        if (out)
            upd_sha256_update(a->hash, buf[cur], n);
        if (!rc && copy_to)
            rc = upd_io_write(copy_to, buf[cur], n, off);
        if (rc) {
            (void)upd_io_reap(io);    /* no read in flight into the buffer */
            return rc;
        }
        a->st.bytes_read += n;
        upd_ap_progress(a, phase, next, len);
    }
    if (out)
        upd_sha256_final(a->hash, out);
    return 0;
}

/* stream_image_run, and on failure a->hash left fresh for the next use
 * (a failed check may be followed by others: is_new_image) */
static int stream_image(upd_applier *a, upd_io *io, uint64_t len, upd_io *copy_to, int phase,
                        uint8_t *out)
{
    int rc = stream_image_run(a, io, len, copy_to, phase, out);
    if (rc < 0 && out) {
        uint8_t junk[32];
        upd_sha256_final(a->hash, junk);
    }
    return rc;
}

/* ---- out of place: the old bytes no op writes ------------------------------ */

/* Out of place onto a resizable target (a file) the target starts as a
 * sparse file of the old length and gets only what the ops write; the
 * unchanged runs between them (no op writes them: in place they simply
 * stay) are copied from the source afterwards, and read from it where a
 * literal frame's window needs them.  Those bytes are the part of
 * [0, E) outside the written set, E = min(old size, low water): past E a
 * byte no op wrote is, in place too, a zero left by a grow.  A fixed-size
 * target (a block device) holds bytes of its own there, so it gets the
 * whole old image first, as in place. */
int upd_ap_fills_gaps(const upd_applier *a)
{
    return a->p.source && !(upd_io_flags(a->p.target) & UPD_IO_FIXED_SIZE);
}

/* The next run of [*pos, hi) that no op wrote and the source still holds:
 * 1 with [*lo, *hi) and *POS past it, 0 when there is none. */
static int next_gap(const upd_applier *a, uint64_t *pos, uint64_t end, uint64_t *lo,
                    uint64_t *hi)
{
    uint64_t e = a->h.old_size < a->low_water ? a->h.old_size : a->low_water;
    if (end > e)
        end = e;
    while (*pos < end) {
        uint64_t wlo, whi, val;
        int found = upd_rangeset_next(&a->written, *pos, &wlo, &whi, &val);
        if (found && wlo <= *pos) {
            *pos = whi;
            continue;
        }
        *lo = *pos;
        *hi = found && wlo < end ? wlo : end;
        *pos = *hi;
        return 1;
    }
    return 0;
}

#define GAP_REQS 64

/* Run REQS[0..*N) on IO (upd_io_run); *N back to 0. */
static int gap_batch(upd_io *io, upd_io_req *reqs, unsigned *n)
{
    unsigned k = *n;
    *n = 0;
    return k ? upd_io_run(io, reqs, k) : 0;
}

int upd_ap_gaps_read(upd_applier *a, uint64_t lo, uint64_t hi, uint8_t *buf)
{
    upd_io_req rq[GAP_REQS];
    unsigned n = 0;
    uint64_t glo, ghi;
    for (uint64_t pos = lo; next_gap(a, &pos, hi, &glo, &ghi);) {
        for (uint64_t x = glo; x < ghi;) {
            uint64_t k = ghi - x < UPD_IO_MAX_REQ ? ghi - x : UPD_IO_MAX_REQ;
            if (n == GAP_REQS)
                UPD_CHECK(gap_batch(a->p.source, rq, &n));
            rq[n++] = (upd_io_req){ buf + (x - lo), x, (uint32_t)k, UPD_IO_READ };
            a->st.bytes_read += k;
            x += k;
        }
    }
    return gap_batch(a->p.source, rq, &n);
}

/* After the last segment: copy every gap from the source, packed into the
 * I/O buffer, a batch of reads then a batch of writes at a time; progress
 * in bytes of all the gaps, reported about every 1/256 of them. */
static int fill_gaps(upd_applier *a)
{
    upd_io_req rd[GAP_REQS], wr[GAP_REQS];
    unsigned n = 0;
    size_t used = 0;
    uint64_t glo, ghi, total = 0, done = 0, shown = 0;
    for (uint64_t pos = 0; next_gap(a, &pos, UINT64_MAX, &glo, &ghi);)
        total += ghi - glo;
    upd_ap_progress(a, UPD_PHASE_COPY_UNCHANGED, 0, total);
    for (uint64_t pos = 0; next_gap(a, &pos, UINT64_MAX, &glo, &ghi);) {
        for (uint64_t x = glo; x < ghi;) {
            if (n == GAP_REQS || used == a->iobuf_size) {
                unsigned m = n;
                UPD_CHECK(gap_batch(a->p.source, rd, &n));
                UPD_CHECK(gap_batch(a->p.target, wr, &m));
                used = 0;
                if (done - shown >= total / 256) {
                    upd_ap_progress(a, UPD_PHASE_COPY_UNCHANGED, done, total);
                    shown = done;
                }
            }
            /* at the address congruent to X modulo the buffer alignment,
             * so that an O_DIRECT target takes the aligned middle directly */
            size_t at = (used + UPD_IO_BUF_ALIGN - 1) / UPD_IO_BUF_ALIGN * UPD_IO_BUF_ALIGN
                        + (size_t)(x % UPD_IO_BUF_ALIGN);
            if (at >= a->iobuf_size) {
                used = a->iobuf_size;
                continue;
            }
            size_t k = ghi - x < a->iobuf_size - at ? (size_t)(ghi - x) : a->iobuf_size - at;
            rd[n] = (upd_io_req){ a->iobuf + at, x, (uint32_t)k, UPD_IO_READ };
            wr[n++] = (upd_io_req){ a->iobuf + at, x, (uint32_t)k, UPD_IO_WRITE };
            a->st.bytes_read += k;
            used = at + k;
            x += k;
            done += k;
        }
    }
    unsigned m = n;
    UPD_CHECK(gap_batch(a->p.source, rd, &n));
    UPD_CHECK(gap_batch(a->p.target, wr, &m));
    upd_ap_progress(a, UPD_PHASE_COPY_UNCHANGED, total, total);
    return 0;
}

/* Size rule: a resizable image must be exactly NEED long; a fixed-size one
 * (block device) must hold at least FIT bytes. */
static int check_size(upd_io *io, uint64_t need, uint64_t fit)
{
    uint64_t sz;
    UPD_CHECK(upd_io_size(io, &sz));
    if (upd_io_flags(io) & UPD_IO_FIXED_SIZE)
        return sz >= fit ? 0 : UPD_E_BASE_SIZE;
    return sz == need ? 0 : UPD_E_BASE_SIZE;
}

/* In place, whether the target already holds exactly the new image (a
 * finished update run again is then a no-op, not a wrong base). */
static int is_new_image(upd_applier *a)
{
    const upd_header *h = &a->h;
    uint8_t got[32];
    if (check_size(a->p.target, h->new_size, h->new_size) < 0
        || stream_image(a, a->p.target, h->new_size, NULL, UPD_PHASE_CHECK_BASE, got) < 0)
        return 0;
    return !memcmp(got, h->new_sha256, 32);
}

/* In place: the target must hold exactly the old image.  Out of place: the
 * source must; only once it has hashed right is the target touched (sized
 * to the old length, or given a copy of the old image: see fill_gaps), so a
 * wrong base never touches the target in either mode.  Returns 1 when, in
 * place, the target already is the new image. */
int upd_ap_check_base(upd_applier *a)
{
    const upd_header *h = &a->h;
    uint64_t fit = h->old_size > h->new_size ? h->old_size : h->new_size;
    upd_io *old = upd_ap_old(a);
    double t0 = upd_now();
    /* A full image (a package from the empty image) reads nothing of the
     * old one and writes every byte of the new one (its first op sets the
     * length), so in place it installs over whatever the target holds;
     * only a fixed-size target must be large enough. */
    if (!a->p.source && h->old_size == 0) {
        if (is_new_image(a))
            return 1;
        if (upd_io_flags(a->p.target) & UPD_IO_FIXED_SIZE)
            UPD_CHECK(check_size(a->p.target, 0, fit));
        a->st.t_check_base = upd_now() - t0;
        return 0;
    }
    int rc = check_size(old, h->old_size, a->p.source ? h->old_size : fit);
    if (!rc && a->p.source && (upd_io_flags(a->p.target) & UPD_IO_FIXED_SIZE))
        UPD_CHECK(check_size(a->p.target, 0, fit));
    uint8_t got[32];
    if (!rc)
        UPD_CHECK(stream_image(a, old, h->old_size, NULL, UPD_PHASE_CHECK_BASE, got));
    if (!rc && memcmp(got, h->old_sha256, 32))
        rc = UPD_E_BASE_HASH;
    if ((rc == UPD_E_BASE_HASH || rc == UPD_E_BASE_SIZE) && !a->p.source)
        rc = is_new_image(a) ? 1 : rc;
    if (rc)
        return rc;
    /* (a resizable target's bytes past the old length go; those below it
     * that no op writes are replaced by the gap copy) */
    if (upd_ap_fills_gaps(a))
        UPD_CHECK(upd_io_resize(a->p.target, h->old_size));
    else if (a->p.source)
        UPD_CHECK(stream_image(a, old, h->old_size, a->p.target, UPD_PHASE_CHECK_BASE, NULL));
    a->st.t_check_base = upd_now() - t0;
    return 0;
}

/* The empty image as a full image has no op, so none sets the target's
 * length.  It is cut to nothing only here, after the whole package has been
 * read and checked (so a dry run and a real run fail alike), and only when
 * the header's new hash is the empty image's (else nothing is touched). */
static int install_empty(upd_applier *a)
{
    uint8_t empty[32];
    UPD_CHECK(upd_sha256("", 0, empty));
    if (memcmp(empty, a->h.new_sha256, 32))
        return UPD_E_RESULT_HASH;
    return upd_io_resize(a->p.target, 0);
}

int upd_ap_check_result(upd_applier *a)
{
    const upd_header *h = &a->h;
    double t0 = upd_now();
    if (upd_ap_fills_gaps(a)) {
        UPD_CHECK(fill_gaps(a));     /* the last of the apply phase */
        a->st.t_apply += upd_now() - t0;
        t0 = upd_now();
    }
    if (!a->p.source && h->old_size == 0 && h->new_size == 0
        && !(upd_io_flags(a->p.target) & UPD_IO_FIXED_SIZE))
        UPD_CHECK(install_empty(a));
    if (!(upd_io_flags(a->p.target) & UPD_IO_FIXED_SIZE)) {
        uint64_t sz;
        UPD_CHECK(upd_io_size(a->p.target, &sz));
        if (sz != h->new_size)
            return UPD_E_RESULT_SIZE;
    }
    /* the device writes while the result is hashed; the flush after it
     * then waits only for the rest (a read sees the written bytes whether
     * they are durable yet or not) */
    upd_io_writeback(a->p.target);
    uint8_t got[32];
    UPD_CHECK(stream_image(a, a->p.target, h->new_size, NULL, UPD_PHASE_CHECK_RESULT, got));
    UPD_CHECK(upd_io_flush(a->p.target));
    a->st.t_check_result = upd_now() - t0;
    return memcmp(got, h->new_sha256, 32) ? UPD_E_RESULT_HASH : 0;
}
