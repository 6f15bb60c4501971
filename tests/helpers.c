#define _GNU_SOURCE
#include "helpers.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <lzma.h>
#include <openssl/sha.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

wb_call wb_log[WB_LOG_MAX];
unsigned wb_calls;
int wb_fail;
int wb_delay_ms;
unsigned wb_done;

/* Interposes libc's: the engine's calls resolve to this one, which logs
 * them and calls libc's (or fails with wb_fail). */
int sync_file_range(int fd, off64_t off, off64_t len, unsigned int flags)
{
    static int (*real)(int, off64_t, off64_t, unsigned int);
    wb_log[wb_calls++ % WB_LOG_MAX] = (wb_call){ fd, off, len, flags,
                                                 (pid_t)syscall(SYS_gettid) != getpid() };
    if (!real)
        real = (int (*)(int, off64_t, off64_t, unsigned int))dlsym(RTLD_NEXT, "sync_file_range");
    int rc = wb_fail ? (errno = wb_fail, -1) : real(fd, off, len, flags);
    int saved = errno;
    if (wb_delay_ms)
        usleep((useconds_t)wb_delay_ms * 1000);
    __atomic_add_fetch(&wb_done, 1, __ATOMIC_SEQ_CST);
    errno = saved;
    return rc;
}

unsigned vec_calls[2];

/* Vectored transfers, counted (vec_calls) and passed on to libc's
 * (test_io_uring.c interposes preadv2 its own way). */
typedef ssize_t (*vec_fn)(int, const struct iovec *, int, off_t);

static ssize_t vec_call(unsigned which, const char *name, int fd, const struct iovec *iov,
                        int n, off_t off)
{
    static vec_fn real[2];
    vec_calls[which]++;
    if (!real[which])
        real[which] = (vec_fn)dlsym(RTLD_NEXT, name);
    return real[which](fd, iov, n, off);
}

ssize_t preadv(int fd, const struct iovec *iov, int n, off_t off)
{
    return vec_call(0, "preadv", fd, iov, n, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    return vec_call(1, "pwritev", fd, iov, n, off);
}

void buf_free(buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

int buf_sink(void *user, const void *data, size_t len)
{
    return upd_bytes_put(user, data, len);
}

int make_pkg(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len,
             const upd_diff_params *p, buf_t *pkg)
{
    upd_diff_params d;
    if (!p) {
        upd_diff_params_default(&d);
        d.threads = 1;
        d.level = 3;
        p = &d;
    }
    memset(pkg, 0, sizeof *pkg);
    return upd_diff(old_img, old_len, new_img, new_len, p, buf_sink, pkg, NULL);
}

/* upd_diff with window W: 1 when it makes a package with DROPs, 0 without,
 * the error otherwise (PKG freed unless it has DROPs). */
static int diff_drops(const uint8_t *old_img, size_t old_len, const uint8_t *new_img,
                      size_t new_len, const upd_diff_params *p, size_t w, buf_t *pkg,
                      upd_diff_stats *st)
{
    upd_diff_params d = *p;
    d.window = w;
    memset(pkg, 0, sizeof *pkg);
    int rc = upd_diff(old_img, old_len, new_img, new_len, &d, buf_sink, pkg, st);
    if (rc == 0 && st->ops[UPD_OP_DROP])
        return 1;
    buf_free(pkg);
    return rc;
}

int make_pkg_dropping(const uint8_t *old_img, size_t old_len, const uint8_t *new_img,
                      size_t new_len, const upd_diff_params *p, buf_t *pkg, upd_diff_stats *st)
{
    /* the smallest window the package fits without DROPs (bisection), then
     * just below it, where a few saved ranges too many must go */
    size_t lo = 1u << 20, hi = p->window;
    int rc = diff_drops(old_img, old_len, new_img, new_len, p, hi, pkg, st);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    while (hi - lo > 1024) {
        size_t mid = lo + (hi - lo) / 2;
        rc = diff_drops(old_img, old_len, new_img, new_len, p, mid, pkg, st);
        if (rc == 1)
            return 0;
        if (rc == 0)
            hi = mid;
        else if (rc == UPD_E_LIMIT)
            lo = mid;
        else
            return rc;
    }
    for (size_t w = hi - 1024; w > hi - (64u << 10) && w >= (1u << 20); w -= 1024) {
        rc = diff_drops(old_img, old_len, new_img, new_len, p, w, pkg, st);
        if (rc == 1)
            return 0;
        if (rc < 0 && rc != UPD_E_LIMIT)
            return rc;
    }
    return UPD_E_LIMIT;
}

int apply_mem(const uint8_t *pkg, size_t pkg_len, const uint8_t *old_img, size_t old_len,
              int in_place, size_t chunk, size_t window, buf_t *out)
{
    upd_apply_params p = { .window = window, .flags = UPD_APPLY_INSECURE };
    return apply_mem_with(pkg, pkg_len, old_img, old_len, in_place, chunk, &p, out, NULL);
}

int apply_mem_with(const uint8_t *pkg, size_t pkg_len, const uint8_t *old_img, size_t old_len,
                   int in_place, size_t chunk, const upd_apply_params *base, buf_t *out,
                   upd_apply_stats *st)
{
    upd_io *target = NULL, *source = NULL;
    const size_t cap = 1u << 30;
    int rc = in_place ? upd_io_open_mem(&target, old_img, old_len, cap)
                      : upd_io_open_mem(&target, NULL, 0, cap);
    if (!rc && !in_place)
        rc = upd_io_open_mem(&source, old_img, old_len, old_len);
    upd_apply_params p = *base;
    p.target = target;
    p.source = source;
    if (!rc)
        rc = apply_io(&p, pkg, pkg_len, chunk, st);
    memset(out, 0, sizeof *out);
    const uint8_t *d;
    size_t n;
    if (target && upd_io_mem_view(target, &d, &n) == 0)
        buf_sink(out, d, n);
    upd_io_close(target);
    upd_io_close(source);
    return rc;
}

/* Push PKG in CHUNK-byte pieces; with SKIPPED, as a caller that can seek. */
static int feed(const upd_apply_params *p, const uint8_t *pkg, size_t pkg_len, size_t chunk,
                upd_apply_stats *st, uint64_t *skipped)
{
    upd_applier *a = NULL;
    int rc = upd_applier_create(&a, p);
    if (st)
        memset(st, 0, sizeof *st);
    if (!chunk)
        chunk = pkg_len ? pkg_len : 1;
    for (size_t off = 0; !rc && off < pkg_len;) {
        uint64_t want = upd_applier_offset(a);
        if (skipped && want > off) {
            /* the applier needs nothing before WANT: never pass those bytes */
            rc = upd_applier_seek(a, want);
            *skipped += want - off;
            off = (size_t)want;
            continue;
        }
        size_t n = pkg_len - off < chunk ? pkg_len - off : chunk;
        rc = upd_applier_push(a, pkg + off, n);
        off += n;
    }
    if (!rc)
        rc = upd_applier_finish(a);
    if (st && a)
        upd_applier_stats(a, st);
    upd_applier_free(a);
    return rc;
}

int apply_io(const upd_apply_params *p, const uint8_t *pkg, size_t pkg_len, size_t chunk,
             upd_apply_stats *st)
{
    return feed(p, pkg, pkg_len, chunk, st, NULL);
}

const file_backend file_backends[3] = {
    { "posix", { UPD_IO_POSIX, 0, 0 }, 0 },
    { "uring", { UPD_IO_URING, 0, 0 }, 0 },
    { "uring-direct", { UPD_IO_URING, 8, 64u << 10 }, UPD_IO_DIRECT },
};

static int write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return UPD_E_IO_OPEN;
    int ok = n == 0 || fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : UPD_E_IO_WRITE;
}

static int read_back(upd_io *io, buf_t *out)
{
    uint64_t n;
    int rc = upd_io_size(io, &n);
    if (rc || !n)
        return rc;
    if (!(out->p = malloc((size_t)n)))
        return UPD_E_NOMEM;
    out->n = out->cap = (size_t)n;
    return upd_io_read(io, out->p, (size_t)n, 0);
}

int apply_file(const file_backend *fb, const uint8_t *pkg, size_t pkg_len, const uint8_t *old_img,
               size_t old_len, int in_place, int journal, buf_t *out)
{
    char dir[] = "/tmp/upd-file-XXXXXX", old_p[64], new_p[64], jr_p[64];
    memset(out, 0, sizeof *out);
    if (!mkdtemp(dir))
        return UPD_E_IO_OPEN;
    snprintf(old_p, sizeof old_p, "%s/old", dir);
    snprintf(new_p, sizeof new_p, "%s/new", dir);
    snprintf(jr_p, sizeof jr_p, "%s/journal", dir);
    upd_io *target = NULL, *source = NULL, *jr = NULL;
    int rc = write_file(old_p, old_img, old_len);
    if (!rc && in_place)
        rc = upd_io_open(&target, old_p, fb->flags, &fb->p);
    if (!rc && !in_place)
        rc = upd_io_open(&source, old_p, fb->flags | UPD_IO_RDONLY, &fb->p);
    if (!rc && !in_place)
        rc = upd_io_open(&target, new_p, fb->flags | UPD_IO_CREATE, &fb->p);
    if (!rc && in_place && journal)
        rc = upd_io_open(&jr, jr_p, fb->flags | UPD_IO_CREATE, &fb->p);
    if (!rc && strcmp(upd_io_name(target), fb->p.backend == UPD_IO_URING ? "uring" : "posix"))
        rc = UPD_E_INTERNAL;
    upd_apply_params p = { .target = target, .source = source, .journal = jr,
                           .flags = UPD_APPLY_INSECURE };
    if (!rc)
        rc = apply_io(&p, pkg, pkg_len, 0, NULL);
    if (target) {
        int rb = read_back(target, out);
        rc = rc ? rc : rb;
    }
    upd_io_close(target);
    upd_io_close(source);
    upd_io_close(jr);
    remove(old_p);
    remove(new_p);
    remove(jr_p);
    rmdir(dir);
    return rc;
}

#if defined(__x86_64__)
#define THIS_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_ARCH AUDIT_ARCH_AARCH64
#endif

int deny_io_uring(int err)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof f / sizeof *f, f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0 ? -1 : 0;
}

int dry_run(const uint8_t *pkg, size_t pkg_len)
{
    upd_apply_params p = { .flags = UPD_APPLY_DRY_RUN | UPD_APPLY_INSECURE };
    upd_applier *a;
    int rc = upd_applier_create(&a, &p);
    if (!rc)
        rc = upd_applier_push(a, pkg, pkg_len);
    if (!rc)
        rc = upd_applier_finish(a);
    upd_applier_free(a);
    return rc;
}

size_t lzma2_raw(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    lzma_options_lzma opt;
    if (lzma_lzma_preset(&opt, 0))
        return 0;
    opt.dict_size = UPD_LZMA_DICT;
    const lzma_filter chain[] = { { LZMA_FILTER_LZMA2, &opt }, { LZMA_VLI_UNKNOWN, NULL } };
    size_t pos = 0;
    return lzma_raw_buffer_encode(chain, NULL, in, n, out, &pos, cap) == LZMA_OK ? pos : 0;
}

int craft_pkg(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len,
              uint64_t stash_size, const craft_seg *segs, size_t nsegs, buf_t *pkg)
{
    upd_header h = { .version = UPD_FORMAT_VERSION, .block_size = 4096,
                     .seg_count = (uint32_t)nsegs, .old_size = old_len, .new_size = new_len,
                     .stash_size = stash_size };
    SHA256(old_img, old_len, h.old_sha256);
    SHA256(new_img, new_len, h.new_sha256);
    uint8_t *raw[16], *comp[16];
    upd_seg_entry ent[16];
    if (nsegs > 16)
        return -1;
    for (size_t s = 0; s < nsegs; s++) {
        uint8_t ctrl[UPD_CTRL_HEAD_MAX + 64 * UPD_OP_MAX_ENCODED];
        size_t cl = 0;
        if (segs[s].raw_ctrl) {
            memcpy(ctrl, segs[s].raw_ctrl, segs[s].raw_ctrl_len);
            cl = segs[s].raw_ctrl_len;
        } else {
            int rc = upd_ctrl_encode(segs[s].ops, segs[s].nops, ctrl, sizeof ctrl, &cl);
            if (rc < 0)
                return rc;
        }
        size_t usize = cl + segs[s].diff_len + segs[s].dbyte_len + segs[s].lit_len;
        size_t wire = segs[s].dense ? cl + segs[s].dense_len + segs[s].lit_len : usize;
        raw[s] = malloc((usize > wire ? usize : wire) + 1);
        memcpy(raw[s], ctrl, cl);
        if (segs[s].dense)
            memcpy(raw[s] + cl, segs[s].dense, segs[s].dense_len);
        if (segs[s].diff_len && !segs[s].dense)
            memcpy(raw[s] + cl, segs[s].diff, segs[s].diff_len);
        if (segs[s].dbyte_len && !segs[s].dense)
            memcpy(raw[s] + cl + segs[s].diff_len, segs[s].dbytes, segs[s].dbyte_len);
        if (segs[s].lit_len)
            memcpy(raw[s] + wire - segs[s].lit_len, segs[s].lit, segs[s].lit_len);
        size_t pad = segs[s].lit_frame_pad, lits = segs[s].lit_len + pad;
        size_t bound = ZSTD_compressBound(usize > wire ? usize : wire) + ZSTD_compressBound(lits)
                       + segs[s].raw_frame_len;
        comp[s] = malloc(bound);
        size_t cs, lcs = 0;
        if (segs[s].dense) {
            cs = lzma2_raw(raw[s], wire, comp[s], bound);
            h.flags |= UPD_PKG_LZMA;
        } else if (segs[s].dict_len) {
            /* the literals in a frame of their own (needing nothing of its
             * dictionary, so any dictionary decodes it) */
            uint8_t *l = malloc(lits + 1);
            memcpy(l, raw[s] + usize - segs[s].lit_len, segs[s].lit_len);
            memset(l + segs[s].lit_len, 0xab, pad);
            cs = ZSTD_compress(comp[s], bound, raw[s], usize - segs[s].lit_len, 1);
            ZSTD_CCtx *cc = ZSTD_createCCtx();
            ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, segs[s].lit_frame_checksum);
            lcs = ZSTD_compress2(cc, comp[s] + cs, bound - cs, l, lits);
            ZSTD_freeCCtx(cc);
            cs += lcs;
            free(l);
        } else {
            cs = ZSTD_compress(comp[s], bound, raw[s], usize, 1);
        }
        if (segs[s].raw_frame) {
            memcpy(comp[s], segs[s].raw_frame, segs[s].raw_frame_len);
            cs = segs[s].raw_frame_len;
        }
        uint32_t nops = segs[s].raw_ctrl ? segs[s].raw_nops : (uint32_t)segs[s].nops;
        ent[s] = (upd_seg_entry){ .csize = (uint32_t)cs, .ctrl_len = (uint32_t)cl,
                                  .diff_len = (uint32_t)segs[s].diff_len,
                                  .dbyte_len = (uint32_t)segs[s].dbyte_len,
                                  .dtail_len = (uint32_t)segs[s].dtail_len,
                                  .lit_len = (uint32_t)segs[s].lit_len, .op_count = nops,
                                  .lit_csize = (uint32_t)lcs, .dict_len = segs[s].dict_len,
                                  .dict_off = segs[s].dict_off,
                                  .dense_len = segs[s].dense_claim ? segs[s].dense_claim
                                                                   : segs[s].dense_len };
        SHA256(comp[s], cs, ent[s].sha256);
        if (segs[s].dict_len > h.dict_max)
            h.dict_max = segs[s].dict_len;
        h.frozen_ranges += segs[s].dict_len != 0;
        h.op_count += nops;
        if (usize > h.seg_max)
            h.seg_max = (uint32_t)usize;
        if (cs > h.seg_cmax)
            h.seg_cmax = (uint32_t)cs;
    }
    /* the most range-set room a header may claim: crafted ops are judged by
     * the op checks, not by the window */
    h.write_ranges = h.stash_ranges = (uint32_t)h.op_count;
    memset(pkg, 0, sizeof *pkg);
    uint8_t hdr[UPD_HEADER_MAX];
    int rc = upd_header_encode(&h, hdr, sizeof hdr);
    if (rc > 0)
        rc = buf_sink(pkg, hdr, (size_t)rc);
    for (size_t s = 0; !rc && s < nsegs; s++) {
        uint8_t e[UPD_SEG_ENTRY_SIZE];
        upd_seg_entry_encode(&ent[s], e);
        buf_sink(pkg, e, sizeof e);
    }
    uint8_t auth[UPD_AUTH_SIZE] = { 0 };
    if (!rc) {
        buf_sink(pkg, auth, sizeof auth);
        reseal(pkg->p, pkg->n);
    }
    for (size_t s = 0; s < nsegs; s++) {
        if (!rc)
            buf_sink(pkg, comp[s], ent[s].csize);
        free(raw[s]);
        free(comp[s]);
    }
    return rc;
}

int reseal(uint8_t *pkg, size_t len)
{
    if (len < UPD_HEADER_FIXED)
        return -1;
    size_t hsize = (size_t)pkg[10] | (size_t)pkg[11] << 8;
    uint32_t segs = (uint32_t)pkg[20] | (uint32_t)pkg[21] << 8 | (uint32_t)pkg[22] << 16
                  | (uint32_t)pkg[23] << 24;
    size_t hm = hsize + (size_t)segs * UPD_SEG_ENTRY_SIZE;
    if (segs > UPD_MAX_SEGMENTS || len < hm + UPD_AUTH_SIZE)
        return -1;
    SHA256(pkg, hm, pkg + hm);
    return 0;
}

long split_tails(const uint8_t *runs, size_t nr, uint8_t *bytes, size_t nb, uint64_t len)
{
    uint8_t *tails = malloc(nb + 1);
    upd_sparse_cursor c;
    size_t nh = 0, nt = 0;
    upd_sparse_init(&c, runs, nr, bytes, nb, 0);
    /* heads are written over BYTES, never ahead of the cursor reading them */
    int rc = tails ? upd_sparse_split_op(&c, len, bytes, &nh, tails, &nt) : UPD_E_NOMEM;
    if (rc < 0 || c.run != c.run_end || c.byte != c.byte_end) {
        free(tails);
        return -1;
    }
    memcpy(bytes + nh, tails, nt);
    free(tails);
    return (long)nt;
}

/* One op stream cut at op boundaries: segment S of K takes ops
 * [S*n/K, (S+1)*n/K) with their diff records and literal bytes. */
static int resegment_one(const uint8_t *raw, const upd_seg_entry *e, unsigned k, unsigned s,
                         buf_t *seg, upd_seg_entry *out)
{
    uint64_t first = (uint64_t)e->op_count * s / k, last = (uint64_t)e->op_count * (s + 1) / k;
    const uint8_t *runs = raw + e->ctrl_len, *lit = runs + e->diff_len + e->dbyte_len;
    buf_t ctrl = { 0 }, rpart = { 0 }, bpart = { 0 }, tpart = { 0 }, lpart = { 0 };
    upd_op_cursor c;
    upd_sparse_cursor sc;
    upd_op op, *ops = malloc((last - first + 1) * sizeof *ops);
    uint64_t i = 0, loff = 0;
    size_t nops = 0;
    int rc = upd_op_cursor_init(&c, raw, e->ctrl_len);
    if (rc < 0 || !ops) {
        free(ops);
        return rc < 0 ? rc : UPD_E_NOMEM;
    }
    upd_sparse_init(&sc, runs, e->diff_len, runs + e->diff_len, e->dbyte_len, e->dtail_len);
    while ((rc = upd_op_next(&c, &op)) > 0) {
        uint64_t ll = op.kind == UPD_OP_LIT ? op.len : 0;
        upd_sparse_cursor before = sc;
        if (op.kind == UPD_OP_DIFF && (rc = upd_sparse_skip(&sc, op.len)) < 0)
            break;
        if (i >= first && i < last) {
            ops[nops++] = op;
            buf_sink(&rpart, before.run, (size_t)(sc.run - before.run));
            buf_sink(&bpart, before.byte, (size_t)(sc.byte - before.byte));
            buf_sink(&tpart, before.tail, before.tail ? (size_t)(sc.tail - before.tail) : 0);
            buf_sink(&lpart, lit + loff, (size_t)ll);
        }
        loff += ll;
        i++;
    }
    size_t cl = 0;
    ctrl.p = rc < 0 ? NULL : malloc(upd_ctrl_bound(nops));
    if (ctrl.p)
        rc = upd_ctrl_encode(ops, nops, ctrl.p, upd_ctrl_bound(nops), &cl);
    free(ops);
    ctrl.n = cl;
    if (rc < 0 || !ctrl.p) {
        buf_free(&ctrl);
        buf_free(&rpart);
        buf_free(&bpart);
        buf_free(&tpart);
        buf_free(&lpart);
        return rc < 0 ? rc : UPD_E_NOMEM;
    }
    buf_t dec = { 0 };
    buf_sink(&dec, ctrl.p, ctrl.n);
    buf_sink(&dec, rpart.p, rpart.n);
    buf_sink(&dec, bpart.p, bpart.n);
    buf_sink(&dec, tpart.p, tpart.n);
    buf_sink(&dec, lpart.p, lpart.n);
    size_t bound = ZSTD_compressBound(dec.n);
    uint8_t *comp = malloc(bound);
    size_t cs = ZSTD_compress(comp, bound, dec.p, dec.n, 1);
    *out = (upd_seg_entry){ .csize = (uint32_t)cs, .ctrl_len = (uint32_t)ctrl.n,
                            .diff_len = (uint32_t)rpart.n,
                            .dbyte_len = (uint32_t)(bpart.n + tpart.n),
                            .dtail_len = (uint32_t)tpart.n,
                            .lit_len = (uint32_t)lpart.n, .op_count = (uint32_t)(last - first) };
    SHA256(comp, cs, out->sha256);
    memset(seg, 0, sizeof *seg);
    buf_sink(seg, comp, cs);
    free(comp);
    buf_free(&ctrl);
    buf_free(&rpart);
    buf_free(&bpart);
    buf_free(&tpart);
    buf_free(&lpart);
    buf_free(&dec);
    return 0;
}

int resegment(const buf_t *in, unsigned k, buf_t *out)
{
    upd_header h;
    upd_seg_entry e, ent[64];
    buf_t seg[64];
    if (upd_header_decode(in->p, in->n, &h) < 0 || h.seg_count != 1 || k < 1 || k > 64
        || upd_seg_entry_decode(in->p + h.header_size, &h, &e) < 0 || e.op_count < k)
        return -1;
    size_t usize = (size_t)upd_seg_entry_usize(&e);
    uint8_t *raw = malloc(usize);
    const uint8_t *frame = in->p + upd_pkg_prefix_size(&h);
    if (ZSTD_decompress(raw, usize, frame, e.csize) != usize) {
        free(raw);
        return -1;
    }
    int rc = 0;
    h.seg_count = k;
    h.seg_max = h.seg_cmax = 0;
    for (unsigned s = 0; s < k && !rc; s++) {
        rc = resegment_one(raw, &e, k, s, &seg[s], &ent[s]);
        uint32_t u = (uint32_t)upd_seg_entry_usize(&ent[s]);
        h.seg_max = u > h.seg_max ? u : h.seg_max;
        h.seg_cmax = ent[s].csize > h.seg_cmax ? ent[s].csize : h.seg_cmax;
    }
    free(raw);
    uint8_t hdr[UPD_HEADER_MAX], auth[UPD_AUTH_SIZE] = { 0 };
    memset(out, 0, sizeof *out);
    int hsize = rc ? rc : upd_header_encode(&h, hdr, sizeof hdr);
    rc = hsize < 0 ? hsize : 0;
    if (!rc) {
        buf_sink(out, hdr, (size_t)hsize);
        for (unsigned s = 0; s < k; s++) {
            uint8_t b[UPD_SEG_ENTRY_SIZE];
            upd_seg_entry_encode(&ent[s], b);
            buf_sink(out, b, sizeof b);
        }
        buf_sink(out, auth, sizeof auth);
        rc = reseal(out->p, out->n);
        for (unsigned s = 0; s < k; s++)
            buf_sink(out, seg[s].p, seg[s].n);
    }
    for (unsigned s = 0; s < k; s++)
        buf_free(&seg[s]);
    return rc;
}

/* The manifest of PKG into E (at most MAX entries): their count, or -1. */
static int pkg_manifest(const buf_t *pkg, upd_seg_entry *e, size_t max)
{
    upd_header h;
    if (upd_header_decode(pkg->p, pkg->n, &h) < 0 || h.seg_count > max
        || upd_pkg_prefix_size(&h) > pkg->n)
        return -1;
    size_t at = h.header_size;
    for (uint32_t i = 0; i < h.seg_count; i++)
        if (upd_seg_entry_decode(pkg->p + at + i * UPD_SEG_ENTRY_SIZE, &h, &e[i]) < 0)
            return -1;
    return (int)h.seg_count;
}

int pkg_segment(const buf_t *pkg, uint32_t i, upd_seg_entry *e, size_t *at)
{
    upd_seg_entry all[256];
    upd_header h;
    int n = pkg_manifest(pkg, all, 256);
    if (n < 0 || i >= (uint32_t)n || upd_header_decode(pkg->p, pkg->n, &h) < 0)
        return -1;
    *at = (size_t)upd_pkg_prefix_size(&h);
    for (uint32_t k = 0; k < i; k++)
        *at += all[k].csize;
    *e = all[i];
    return *at + e->csize <= pkg->n ? 0 : -1;
}

/* PKG's manifest entries for which IS holds (-1: bad package). */
static int count_entries(const buf_t *pkg, int (*is)(const upd_seg_entry *))
{
    upd_seg_entry e[256];
    int n = pkg_manifest(pkg, e, 256), d = 0;
    for (int i = 0; i < n; i++)
        d += is(&e[i]);
    return n < 0 ? -1 : d;
}

static int has_dict(const upd_seg_entry *e) { return e->dict_len != 0; }
static int is_lzma(const upd_seg_entry *e) { return e->dense_len != 0; }
static int has_diff(const upd_seg_entry *e) { return e->diff_len != 0; }

int pkg_dict_segments(const buf_t *pkg) { return count_entries(pkg, has_dict); }
int pkg_lzma_segments(const buf_t *pkg) { return count_entries(pkg, is_lzma); }
int pkg_diff_segments(const buf_t *pkg) { return count_entries(pkg, has_diff); }

/* A line of pieces of the NL bytes of text before it: PIECES pieces of
 * PIECE bytes, NL / PIECES apart, into OUT.  A piece is longer than the
 * text's common words (which the literals' own frame finds) and shorter
 * than a cover pays for: only the window has it. */
enum { PIECES = 4, PIECE = 16, MIXED = 8, MIX_SPAN = 6400 };
static size_t mixed_line(const uint8_t *text, size_t nl, uint8_t *out)
{
    size_t n = 0;
    for (size_t k = 0; k < PIECES; k++) {
        memcpy(out + n, text + k * (nl / PIECES), PIECE);
        n += PIECE;
    }
    out[n++] = '\n';
    return n;
}

/* A line of NUL bytes matches nothing in the window but the segment's own
 * literals, which both sides zero: an applier that read them as they are
 * would decode other literals (the image would not hash right). */
int text_dict_pair(uint64_t seed, size_t size, unsigned lines, synth_pair *sp)
{
    static const char nul_line[] = "\0\0\0\0\0\0(\0\0\0\0\0);\n";
    if (synth_make("text-edits", seed, size, sp) < 0)
        return -1;
    size_t nl = sizeof nul_line - 1, o = 0, from = 0;
    uint8_t *img = malloc(sp->new_len + lines * (nl + MIXED * (PIECES * PIECE + 1)));
    for (size_t k = 0; img && k < lines; k++) {
        /* at a line start */
        size_t at = (k + 1) * (sp->new_len / (lines + 1));
        while (at > from && sp->new_img[at - 1] != '\n')
            at--;
        memcpy(img + o, sp->new_img + from, at - from);
        o += at - from;
        if (o < MIX_SPAN)
            break;
        /* each from its own stretch of the text before: no piece twice */
        for (size_t m = 0; m < MIXED; m++)
            o += mixed_line(img + o - MIX_SPAN + (MIX_SPAN / MIXED) * m, MIX_SPAN / MIXED,
                            img + o);
        memcpy(img + o, nul_line, nl);
        o += nl;
        from = at;
    }
    if (!img || o < MIX_SPAN) {
        free(img);
        synth_free(sp);
        return -1;
    }
    memcpy(img + o, sp->new_img + from, sp->new_len - from);
    free(sp->new_img);
    sp->new_img = img;
    sp->new_len = o + sp->new_len - from;
    return 0;
}

/* Fed one whole block at a time, a zstd stream decoder puts out each
 * block's bytes before it sees the next block's header. */
int frame_block_ends(const uint8_t *f, size_t n, size_t cap, size_t *ends, int max)
{
    static const size_t did_size[4] = { 0, 1, 2, 4 };
    if (n < 6 || f[0] != 0x28 || f[1] != 0xB5 || f[2] != 0x2F || f[3] != 0xFD)
        return -1;
    unsigned fcs = f[4] >> 6, single = (f[4] >> 5) & 1;
    size_t at = 5 + !single + did_size[f[4] & 3] + (fcs ? 1u << fcs : single);
    ZSTD_DStream *d = ZSTD_createDStream();
    uint8_t *dst = malloc(cap ? cap : 1);
    ZSTD_outBuffer o = { dst, cap, 0 };
    ZSTD_inBuffer in = { f, at, 0 };
    int k = 0, last = 0;
    size_t r = d && dst && at <= n ? ZSTD_decompressStream(d, &o, &in) : (size_t)-1;
    while (!ZSTD_isError(r) && in.pos == in.size && !last && k < max && at + 3 <= n) {
        uint32_t bh = f[at] | (uint32_t)f[at + 1] << 8 | (uint32_t)f[at + 2] << 16;
        size_t body = ((bh >> 1) & 3) == 1 ? 1 : bh >> 3;   /* an RLE block stores 1 byte */
        last = bh & 1;
        if (at + 3 + body > n)
            break;
        in = (ZSTD_inBuffer){ f, at + 3 + body, at };
        r = ZSTD_decompressStream(d, &o, &in);
        at += 3 + body;
        ends[k++] = o.pos;
    }
    int ok = !ZSTD_isError(r) && r == 0 && last && at == n;
    ZSTD_freeDStream(d);
    free(dst);
    return ok ? k : -1;
}

int pkg_segments(const buf_t *pkg)
{
    upd_seg_entry e[256];
    return pkg_manifest(pkg, e, 256);
}

int apply_io_seeking(const upd_apply_params *p, const uint8_t *pkg, size_t pkg_len, size_t chunk,
                     upd_apply_stats *st, uint64_t *skipped)
{
    *skipped = 0;
    return feed(p, pkg, pkg_len, chunk, st, skipped);
}
