#define _GNU_SOURCE
/* Engine internals with their own contracts: the range set (against a
 * brute-force bitmap), the I/O layer (posix and memory backends) and the
 * save areas' compression jobs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include "helpers.h"
#include "io_model.h"
#include "../engine/common/parallel.h"
#include "../engine/common/rangeset.h"
#include "../engine/apply/applier.h"
#include "../engine/diff/diff_internal.h"
#include "../engine/io/io_internal.h"

#define SPACE 5000

Test(rangeset, matches_bitmap, .description = "random adds, removals and queries agree with a bitmap")
{
    uint64_t seed = 7;
    for (int round = 0; round < 20; round++) {
        upd_rangeset s;
        upd_rangeset_init(&s, 100000);
        uint8_t bits[SPACE] = { 0 };
        for (int i = 0; i < 400; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t lo = (seed >> 33) % SPACE, len = 1 + (seed >> 20) % 64;
            if (lo + len > SPACE)
                len = SPACE - lo;
            /* one step in four removes a range, up to 150 bytes */
            int del = (seed >> 60) % 4 == 1;
            if (del) {
                len = 1 + (seed >> 20) % 150;
                if (lo + len > SPACE)
                    len = SPACE - lo;
                cr_assert_eq(upd_rangeset_remove(&s, lo, lo + len), 0);
                memset(bits + lo, 0, len);
            } else {
                cr_assert_eq(upd_rangeset_add(&s, lo, lo + len), 0);
                memset(bits + lo, 1, len);
            }
            uint64_t qlo = (seed >> 7) % SPACE, qlen = 1 + (seed >> 45) % 100;
            if (qlo + qlen > SPACE)
                qlen = SPACE - qlo;
            int any = 0, all = 1;
            for (uint64_t k = qlo; k < qlo + qlen; k++) {
                any |= bits[k];
                all &= bits[k];
            }
            cr_assert_eq(!!upd_rangeset_intersects(&s, qlo, qlo + qlen), any, "round %d i %d", round, i);
            cr_assert_eq(!!upd_rangeset_covers(&s, qlo, qlo + qlen), all, "round %d i %d", round, i);
        }
        /* the set holds exactly the maximal runs of the bitmap */
        uint32_t runs = 0;
        for (int k = 0; k < SPACE; k++)
            runs += bits[k] && (k == 0 || !bits[k - 1]);
        cr_assert_eq(s.count, runs);
        upd_rangeset_free(&s);
    }
}

Test(rangeset, cap_is_enforced, .description = "more disjoint ranges than the cap: UPD_E_LIMIT")
{
    upd_rangeset s;
    upd_rangeset_init(&s, 10);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(upd_rangeset_add(&s, (uint64_t)i * 10, (uint64_t)i * 10 + 5), 0);
    cr_assert_eq(upd_rangeset_add(&s, 1000, 1001), UPD_E_LIMIT);
    cr_assert_eq(upd_rangeset_add(&s, 5, 10), 0, "a merge needs no new node");
    upd_rangeset_free(&s);
}

Test(rangeset, map_matches_reference, .description = "random disjoint map adds and removals: next() gives each byte's value; merges only when bytes and values run on")
{
    uint64_t seed = 11;
    for (int round = 0; round < 20; round++) {
        upd_rangeset m;
        upd_rangemap_init(&m, 100000);
        static uint64_t val[SPACE];     /* each byte's value + 1 (0: not in the map) */
        memset(val, 0, sizeof val);
        uint64_t next_val = 1000;
        for (int i = 0; i < 600; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t lo = (seed >> 33) % SPACE, len = 1 + (seed >> 20) % 32;
            if (lo + len > SPACE)
                len = SPACE - lo;
            int free_run = 1;
            for (uint64_t k = lo; k < lo + len; k++)
                free_run &= !val[k];
            /* half the adds continue the value run of the range just below */
            uint64_t v = (seed >> 9) & 1 && lo && val[lo - 1] ? val[lo - 1] + 1 : next_val + 1;
            next_val += 100;
            if (i % 3 == 2) {
                /* a removal, up to 100 bytes: cuts, trims or takes ranges */
                len = 1 + (seed >> 40) % 100;
                if (lo + len > SPACE)
                    len = SPACE - lo;
                cr_assert_eq(upd_rangeset_remove(&m, lo, lo + len), 0);
                memset(val + lo, 0, len * sizeof *val);
                continue;
            }
            int rc = upd_rangemap_add(&m, lo, lo + len, v - 1);
            cr_assert_eq(rc, free_run ? 0 : UPD_E_INVAL, "round %d i %d", round, i);
            for (uint64_t k = lo; free_run && k < lo + len; k++)
                val[k] = v + (k - lo);
        }
        uint32_t runs = 0;
        for (uint64_t pos = 0; pos < SPACE; pos++) {
            uint64_t lo, hi, v;
            if (!val[pos]) {
                cr_assert(!upd_rangeset_covers(&m, pos, pos + 1));
                continue;
            }
            cr_assert_eq(upd_rangeset_next(&m, pos, &lo, &hi, &v), 1);
            cr_assert(lo <= pos && pos < hi);
            cr_assert_eq(v + (pos - lo), val[pos] - 1, "byte %llu", (unsigned long long)pos);
            runs += pos == lo;
        }
        /* maximal runs where both bytes and values continue */
        uint32_t want = 0;
        for (int k = 0; k < SPACE; k++)
            want += val[k] && (k == 0 || val[k - 1] + 1 != val[k]);
        cr_assert_eq(m.count, want);
        cr_assert_eq(runs, want);
        cr_assert_eq(upd_rangeset_add(&m, 0, 1), UPD_E_INVAL, "a map takes no set add");
        upd_rangeset_free(&m);
    }
}

/* The first range of map M ending after POS is [LO, HI) with value V. */
static void expect_range(const upd_rangeset *m, uint64_t pos, uint64_t lo, uint64_t hi, uint64_t v)
{
    uint64_t l, h, val;
    cr_assert_eq(upd_rangeset_next(m, pos, &l, &h, &val), 1, "byte %llu", (unsigned long long)pos);
    cr_assert(l == lo && h == hi && val == v, "byte %llu: [%llu, %llu) -> %llu",
              (unsigned long long)pos, (unsigned long long)l, (unsigned long long)h,
              (unsigned long long)val);
}

Test(rangeset, map_joins_and_reuse, .description = "map: joins on the left, the right and both sides (freeing a node), none where values do not run on; freed nodes reused")
{
    upd_rangeset m;
    upd_rangemap_init(&m, 3);
    cr_assert_eq(upd_rangemap_add(&m, 0, 5, 100), 0);
    cr_assert_eq(upd_rangemap_add(&m, 10, 15, 110), 0);
    cr_assert_eq(upd_rangemap_add(&m, 20, 25, 500), 0);
    cr_assert_eq(m.count, 3);
    cr_assert_eq(upd_rangemap_add(&m, 5, 10, 105), 0, "joins both neighbours");
    cr_assert_eq(m.count, 2);
    expect_range(&m, 7, 0, 15, 100);
    cr_assert_eq(upd_rangemap_add(&m, 15, 20, 999), 0, "bytes run on, values do not: no join");
    cr_assert_eq(m.count, 3);
    cr_assert_eq(upd_rangemap_add(&m, 30, 35, 700), UPD_E_LIMIT, "the cap holds three");
    cr_assert_eq(upd_rangemap_add(&m, 25, 30, 505), 0, "joins on the left");
    cr_assert_eq(upd_rangemap_add(&m, 40, 45, 1000), UPD_E_LIMIT);
    cr_assert_eq(upd_rangemap_add(&m, 35, 40, 995), UPD_E_LIMIT, "no neighbour to join yet");
    upd_rangeset_free(&m);
    /* the both-sides join frees a node; the next fresh range takes it */
    upd_rangemap_init(&m, 3);
    cr_assert_eq(upd_rangemap_add(&m, 0, 5, 100), 0);
    cr_assert_eq(upd_rangemap_add(&m, 10, 15, 110), 0);
    cr_assert_eq(upd_rangemap_add(&m, 5, 10, 105), 0);
    cr_assert_eq(upd_rangemap_add(&m, 50, 55, 7), 0);
    cr_assert_eq(upd_rangemap_add(&m, 60, 65, 70), 0, "a freed node served: three held, cap three");
    cr_assert_eq(upd_rangemap_add(&m, 45, 50, 2), 0, "joins on the right");
    expect_range(&m, 46, 45, 55, 2);
    expect_range(&m, 62, 60, 65, 70);
    upd_rangeset_free(&m);
}

Test(rangeset, remove_cut_within_cap, .description = "removing the middle of a range needs a node: past the cap UPD_E_LIMIT, the map unchanged; removing a whole range frees its node")
{
    upd_rangeset m;
    upd_rangemap_init(&m, 2);
    cr_assert_eq(upd_rangemap_add(&m, 0, 10, 100), 0);
    cr_assert_eq(upd_rangemap_add(&m, 20, 30, 200), 0);
    cr_assert_eq(upd_rangeset_remove(&m, 4, 6), UPD_E_LIMIT);
    expect_range(&m, 0, 0, 10, 100);   /* unchanged after the refusal */
    cr_assert_eq(upd_rangeset_remove(&m, 20, 30), 0);
    cr_assert_eq(m.count, 1u);
    cr_assert_eq(upd_rangeset_remove(&m, 4, 6), 0, "the freed node serves the cut");
    cr_assert_eq(m.count, 2u);
    expect_range(&m, 0, 0, 4, 100);
    expect_range(&m, 4, 6, 10, 106);   /* the tail keeps its bytes' values */
    cr_assert_eq(upd_rangeset_remove(&m, 0, 100), 0);
    cr_assert_eq(m.count, 0u);
    uint64_t lo, hi, v;
    cr_assert_eq(upd_rangeset_next(&m, 0, &lo, &hi, &v), 0);
    upd_rangeset_free(&m);
}

Test(rangeset, stays_balanced, .description = "20,000 ranges added in ascending, then descending order: the treap stays logarithmically high")
{
    for (int desc = 0; desc < 2; desc++) {
        upd_rangeset s;
        upd_rangeset_init(&s, 20000);
        for (uint64_t i = 0; i < 20000; i++) {
            uint64_t k = desc ? 19999 - i : i;
            cr_assert_eq(upd_rangeset_add(&s, k * 4, k * 4 + 2), 0);
        }
        cr_assert_eq(s.count, 20000);
        /* a random treap of n keys is about 3 ln n = 30 high; a chain 20,000 */
        uint32_t h = upd_rangeset_height(&s);
        cr_assert_leq(h, 60, "height %u", h);
        upd_rangeset_free(&s);
    }
}

Test(rangeset, node_sizes, .description = "24 bytes a set node, 32 a map node (FORMAT.md's memory window)")
{
    cr_assert_eq(upd_rangeset_max_mem(9), 240);
    cr_assert_eq(upd_rangemap_max_mem(9), 320);
    upd_rangeset s, m;
    upd_rangeset_init(&s, 1000);
    upd_rangemap_init(&m, 1000);
    for (uint64_t i = 0; i < 100; i++) {
        cr_assert_eq(upd_rangeset_add(&s, i * 10, i * 10 + 5), 0);
        cr_assert_eq(upd_rangemap_add(&m, i * 10, i * 10 + 5, i * 77), 0);
    }
    cr_assert_eq(upd_rangeset_mem(&s), (size_t)s.alloc * 24);
    cr_assert_eq(upd_rangeset_mem(&m), (size_t)m.alloc * 32);
    cr_assert_eq(upd_rangemap_add(&s, 5000, 5001, 0), UPD_E_INVAL, "a set takes no map add");
    upd_rangeset_free(&s);
    upd_rangeset_free(&m);
}

/* An empty file of our own: PATH is a "/tmp/upd-io-XXXXXX" template. */
static void tmp_file(char *path)
{
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
}

Test(io, posix_file, .description = "posix backend: write, read, resize, flush, end-of-file")
{
    char path[] = "/tmp/upd-io-XXXXXX";
    tmp_file(path);
    upd_io *io;
    cr_assert_eq(upd_io_open_posix(&io, path, 0), 0);
    cr_assert_str_eq(upd_io_name(io), "posix");
    cr_assert_eq(upd_io_flags(io) & UPD_IO_FIXED_SIZE, 0);
    cr_assert_eq(upd_io_write(io, "hello world", 11, 100), 0);
    uint64_t sz;
    cr_assert_eq(upd_io_size(io, &sz), 0);
    cr_assert_eq(sz, 111);
    char buf[16] = { 0 };
    cr_assert_eq(upd_io_read(io, buf, 5, 106), 0);
    cr_assert_str_eq(buf, "world");
    cr_assert_eq(upd_io_read(io, buf, 10, 105), UPD_E_IO_READ, "read past the end");
    cr_assert_eq(upd_io_last_errno(io), ENODATA);
    cr_assert_eq(upd_io_flush(io), 0);
    cr_assert_eq(upd_io_resize(io, 50), 0);
    cr_assert_eq(upd_io_size(io, &sz), 0);
    cr_assert_eq(sz, 50);
    upd_io_stats st;
    upd_io_get_stats(io, &st);
    cr_assert_eq(st.bytes_written, 11);
    cr_assert_eq(st.flushes, 1);
    upd_io_close(io);
    cr_assert_eq(upd_io_open_posix(&io, path, UPD_IO_RDONLY), 0);
    cr_assert_eq(upd_io_write(io, "x", 1, 0), UPD_E_IO_WRITE, "read-only handle");
    upd_io_close(io);
    unlink(path);
    cr_assert_eq(upd_io_open_posix(&io, "/nonexistent/dir/file", 0), UPD_E_IO_OPEN);
    cr_assert_eq(upd_io_open_posix(&io, "/tmp", 0), UPD_E_IO_OPEN, "a directory is not an image");
}

/* A batch on the POSIX backend: requests that continue each other go in
 * one pwritev/preadv; a short one is finished request by request, so the
 * error named is the kernel's (ENODATA past the end, EFBIG over
 * RLIMIT_FSIZE), never a success. */
static int posix_short_batch_child(const char *path)
{
    static uint8_t a[65536], b[65536];
    struct rlimit rl = { 100000, 100000 };
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
        return 10;
    upd_io *io;
    if (upd_io_open_posix(&io, path, UPD_IO_TRUNC))
        return 11;
    upd_io_req w[2] = { { a, 0, sizeof a, UPD_IO_WRITE }, { b, sizeof a, sizeof b, UPD_IO_WRITE } };
    int rc = upd_io_submit(io, w, 2);
    int e = upd_io_last_errno(io);
    upd_io_close(io);
    struct stat st;
    if (stat(path, &st) < 0)
        return 12;
    return rc != UPD_E_IO_WRITE ? 13 : e != EFBIG ? 14 : st.st_size != 100000 ? 15 : 0;
}

Test(io, posix_batch_vectored, .description = "posix: contiguous requests of a batch in one call, short ones finished one by one")
{
    char path[] = "/tmp/upd-io-XXXXXX";
    tmp_file(path);
    upd_io *io;
    cr_assert_eq(upd_io_open_posix(&io, path, 0), 0);
    char x[] = "abc", y[] = "defg", z[] = "hi", far[] = "Z";
    upd_io_req w[4] = { { x, 10, 3, UPD_IO_WRITE }, { y, 13, 4, UPD_IO_WRITE },
                        { z, 17, 2, UPD_IO_WRITE }, { far, 30, 1, UPD_IO_WRITE } };
    cr_assert_eq(upd_io_submit(io, w, 4), 0);
    cr_assert_eq(upd_io_reap(io), 0);
    char p[5] = { 0 }, q[5] = { 0 }, r[5] = { 0 };
    upd_io_req rd[3] = { { p, 10, 4, UPD_IO_READ }, { q, 14, 4, UPD_IO_READ },
                         { r, 18, 4, UPD_IO_READ } };
    cr_assert_eq(upd_io_submit(io, rd, 2), 0);
    cr_assert(!strcmp(p, "abcd") && !strcmp(q, "efgh"), "%s %s", p, q);
    cr_assert_eq(upd_io_submit(io, rd, 3), 0, "bytes 19-29 are a hole, read as zeros");
    cr_assert(r[0] == 'i' && r[1] == 0 && r[3] == 0);
    rd[2].off = 29;
    rd[2].len = 2;
    cr_assert_eq(upd_io_submit(io, rd, 3), 0, "up to the last byte");
    cr_assert_eq(r[1], 'Z');
    rd[2].off = 30;
    cr_assert_eq(upd_io_submit(io, rd, 3), UPD_E_IO_READ, "the third read meets the end");
    cr_assert_eq(upd_io_last_errno(io), ENODATA);
    cr_assert_eq(upd_io_reap(io), UPD_E_IO_READ);
    upd_io_stats st;
    upd_io_get_stats(io, &st);
    cr_assert_eq(st.writes, 4);
    cr_assert_eq(st.bytes_written, 10);
    upd_io_close(io);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(posix_short_batch_child(path));
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "child status %d",
              WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
    unlink(path);
}

/* The run upd_io_gather makes of REQS[0..N): how many requests it takes,
 * and its iovecs are [off, off+total) in file order, holes into SINK. */
static unsigned gather_checked(const upd_io_req *reqs, unsigned n, uint8_t *sink)
{
    upd_io_span s;
    unsigned k = upd_io_gather(reqs, n, sink, &s);
    uint64_t at = s.off;
    size_t sum = 0;
    for (unsigned i = 0; i < s.niov; i++) {
        unsigned j = 0;
        while (j < k && !(reqs[j].off == at && reqs[j].buf == s.iov[i].iov_base
                          && reqs[j].len == s.iov[i].iov_len))
            j++;
        cr_assert(j < k || (s.iov[i].iov_base == sink && s.iov[i].iov_len <= UPD_IO_HOLE
                            && reqs[0].op == UPD_IO_READ),
                  "iovec %u at %llu is neither a request of the run nor a read's hole", i,
                  (unsigned long long)at);
        at += s.iov[i].iov_len;
        sum += s.iov[i].iov_len;
    }
    cr_assert_eq(sum, s.total);
    cr_assert_leq(s.niov, UPD_IO_IOV);
    return k;
}

Test(io, gather_runs, .description = "upd_io_gather: neighbours up or down the file in one run, read holes up to UPD_IO_HOLE bridged, writes never; a turn, an overlap or a change of direction ends a run")
{
    static uint8_t b[200][16];
    uint8_t sink[UPD_IO_HOLE];
    upd_io_req r[200];
    /* writes: down the file, next to each other */
    for (unsigned i = 0; i < 3; i++)
        r[i] = (upd_io_req){ b[i], 300 - 10 * i, 10, UPD_IO_WRITE };
    cr_assert_eq(gather_checked(r, 3, sink), 3);
    upd_io_span s;
    upd_io_gather(r, 3, sink, &s);
    cr_assert(s.off == 280 && s.total == 30 && s.niov == 3 && s.iov[0].iov_base == b[2]);
    r[1].off = 289;
    r[1].len = 9;
    cr_assert_eq(gather_checked(r, 3, sink), 1, "a two-byte hole between writes ends the run");
    r[1] = (upd_io_req){ b[1], 310, 10, UPD_IO_WRITE };
    cr_assert_eq(gather_checked(r, 3, sink), 2, "up, then down: the turn ends the run");
    r[1] = (upd_io_req){ b[1], 305, 10, UPD_IO_WRITE };
    cr_assert_eq(gather_checked(r, 3, sink), 1, "an overlap ends it");
    r[1] = (upd_io_req){ b[1], 310, 10, UPD_IO_READ };
    cr_assert_eq(gather_checked(r, 3, sink), 1, "so does a read after a write");
    /* reads: holes of UPD_IO_HOLE bytes at most, either way */
    r[0] = (upd_io_req){ b[0], 1000, 16, UPD_IO_READ };
    r[1] = (upd_io_req){ b[1], 1016 + UPD_IO_HOLE, 16, UPD_IO_READ };
    r[2] = (upd_io_req){ b[2], 1032 + 2 * UPD_IO_HOLE + 1, 16, UPD_IO_READ };
    cr_assert_eq(gather_checked(r, 3, sink), 2);
    upd_io_gather(r, 3, sink, &s);
    cr_assert(s.niov == 3 && s.iov[1].iov_base == sink && s.iov[1].iov_len == UPD_IO_HOLE);
    r[0].off = 5000 + UPD_IO_HOLE;
    r[1].off = r[0].off + 8;
    cr_assert_eq(gather_checked(r, 2, sink), 1, "overlapping reads");
    r[1].off = r[0].off - 16 - 7;
    r[2].off = r[1].off - 16 - UPD_IO_HOLE;
    cr_assert_eq(gather_checked(r, 3, sink), 3, "down, with holes of 7 bytes and of %u", UPD_IO_HOLE);
    /* a run spans at most UPD_IO_MAX_REQ bytes (gather touches no buffer) */
    const uint32_t half = UPD_IO_MAX_REQ / 2;
    r[0] = (upd_io_req){ b[0], 0, half, UPD_IO_WRITE };
    r[1] = (upd_io_req){ b[1], half, half, UPD_IO_WRITE };
    r[2] = (upd_io_req){ b[2], 2ull * half, 1, UPD_IO_WRITE };
    cr_assert_eq(gather_checked(r, 3, sink), 2);
    /* a run is at most UPD_IO_IOV iovecs */
    for (unsigned i = 0; i < 200; i++)
        r[i] = (upd_io_req){ b[i], 16 * i, 16, UPD_IO_READ };
    cr_assert_eq(gather_checked(r, 200, sink), UPD_IO_IOV);
    for (unsigned i = 0; i < 200; i++)
        r[i].off = 17 * i;
    cr_assert_eq(gather_checked(r, 200, sink), (UPD_IO_IOV + 1) / 2, "a read and a hole each");
}

Test(io, posix_runs, .description = "posix: writes down the file in one call, reads with holes up or down in one call a run; a run cut short by the end of the file names it")
{
    char path[] = "/tmp/upd-io-XXXXXX";
    tmp_file(path);
    upd_io *io;
    cr_assert_eq(upd_io_open_posix(&io, path, 0), 0);
    enum { N = 40, LEN = 100 };
    static uint8_t src[N][LEN], got[N][LEN];
    upd_io_req w[N], rd[N];
    for (unsigned i = 0; i < N; i++) {
        for (unsigned j = 0; j < LEN; j++)
            src[i][j] = (uint8_t)(i * 31 + j);
        /* down the file, each write ending where the one before began:
         * block B of the file gets src[N-1-B] */
        w[i] = (upd_io_req){ src[i], (uint64_t)(N - 1 - i) * LEN, LEN, UPD_IO_WRITE };
    }
    unsigned v = vec_calls[1];
    cr_assert_eq(upd_io_run(io, w, N), 0);
    cr_assert_eq(vec_calls[1], v + 1, "one pwritev for %d writes down the file", N);
    for (int down = 0; down < 2; down++) {
        /* the first half of each block: N reads, N-1 holes, so two runs */
        memset(got, 0, sizeof got);
        for (unsigned i = 0; i < N; i++) {
            unsigned b = down ? N - 1 - i : i;
            rd[i] = (upd_io_req){ got[b], (uint64_t)b * LEN, LEN / 2, UPD_IO_READ };
        }
        v = vec_calls[0];
        cr_assert_eq(upd_io_run(io, rd, N), 0);
        cr_assert_eq(vec_calls[0], v + 2, "down %d", down);
        for (unsigned b = 0; b < N; b++) {
            cr_assert(memcmp(got[b], src[N - 1 - b], LEN / 2) == 0, "block %u down %d", b, down);
            cr_assert_eq(got[b][LEN / 2], 0, "no byte past the read (block %u)", b);
        }
    }
    upd_io_req cut[2] = { { got[0], (N - 1) * LEN, 50, UPD_IO_READ },
                          { got[1], N * LEN - 20, 40, UPD_IO_READ } };
    cr_assert_eq(upd_io_run(io, cut, 2), UPD_E_IO_READ);
    cr_assert_eq(upd_io_last_errno(io), ENODATA);
    cr_assert(memcmp(got[0], src[0], 50) == 0, "the run's first read still done");
    upd_io_close(io);
    unlink(path);
}

static int open_posix(upd_io **io, const char *path)
{
    return upd_io_open_posix(io, path, 0);
}

Test(io, posix_batches_match_a_model, .timeout = 120,
     .description = "posix: 300 rounds of random write and read batches (runs up and down, holes, empty requests, reads past the end) agree with a model of the file")
{
    char path[] = "/tmp/upd-io-XXXXXX", why[160];
    tmp_file(path);
    cr_assert_eq(io_model_rounds(open_posix, path, 300, 0x5eed, why, sizeof why), 0, "%s", why);
    unlink(path);
}

Test(io, early_writeback, .description = "posix, once flushed: every 256 KiB of buffered writes starts their writeback over their span, on the caller's thread; a flush starts the count again; reads never; upd_io_writeback: the whole file, on a thread of its own (that the flush joins) once 8 MiB were written since the last flush")
{
    char path[] = "/tmp/upd-io-XXXXXX";
    tmp_file(path);
    upd_io *io;
    cr_assert_eq(upd_io_open_posix(&io, path, 0), 0);
    static uint8_t b[300 << 10];
    memset(b, 0x5a, sizeof b);
    unsigned c0 = wb_calls;
    cr_assert_eq(upd_io_write(io, b, sizeof b, 0), 0);
    cr_assert_eq(upd_io_write(io, b, sizeof b, 0), 0);
    cr_assert_eq(wb_calls, c0, "never flushed: the kernel's writeback is left alone");
    upd_io_writeback(io);
    cr_assert_eq(upd_io_flush(io), 0);
    cr_assert_eq(wb_calls, c0 + 1, "but upd_io_writeback starts it, flushed before or not");
    cr_assert(wb_log[c0 % WB_LOG_MAX].off == 0 && wb_log[c0 % WB_LOG_MAX].len == 0,
              "over the whole file");
    cr_assert_eq(wb_log[c0 % WB_LOG_MAX].flags, SYNC_FILE_RANGE_WRITE, "without waiting");
    cr_assert(!wb_log[c0 % WB_LOG_MAX].other_thread, "600 KiB written: on the caller's thread");
    c0 = wb_calls;
    cr_assert_eq(upd_io_write(io, b, 100 << 10, 1 << 20), 0);
    cr_assert_eq(wb_calls, c0, "100 KiB: not yet");
    cr_assert_eq(upd_io_write(io, b, 200 << 10, 0), 0);
    cr_assert_eq(wb_calls, c0 + 1, "300 KiB: one start");
    wb_call w = wb_log[c0 % WB_LOG_MAX];
    cr_assert_eq(w.off, 0);
    cr_assert_eq(w.len, (1 << 20) + (100 << 10), "the span of both writes");
    cr_assert_eq(w.flags, SYNC_FILE_RANGE_WRITE, "starts writeback, no WAIT flag");
    cr_assert(!w.other_thread, "on the caller's thread");
    cr_assert_eq(upd_io_write(io, b, 200 << 10, 0), 0);
    cr_assert_eq(upd_io_flush(io), 0);
    cr_assert_eq(upd_io_write(io, b, 100 << 10, 0), 0);
    cr_assert_eq(wb_calls, c0 + 1, "the flush took the 200 KiB before it");
    upd_io_req rd = { b, 0, sizeof b, UPD_IO_READ };
    cr_assert_eq(upd_io_run(io, &rd, 1), 0);
    cr_assert_eq(wb_calls, c0 + 1, "reads count for nothing");
    cr_assert_eq(upd_io_write(io, b, 156 << 10, 4096), 0);
    cr_assert_eq(wb_calls, c0 + 2);
    cr_assert_eq(wb_log[(c0 + 1) % WB_LOG_MAX].off, 0);
    cr_assert_eq(wb_log[(c0 + 1) % WB_LOG_MAX].len, 4096 + (156 << 10));
    upd_io_close(io);
    cr_assert_eq(upd_io_open_posix(&io, path, 0), 0);
    for (int i = 0; i < 28; i++)    /* 8.2 MiB, never flushed: no early start */
        cr_assert_eq(upd_io_write(io, b, sizeof b, (uint64_t)i * sizeof b), 0);
    c0 = wb_calls;
    upd_io_writeback(io);
    cr_assert_eq(upd_io_flush(io), 0);
    cr_assert_eq(wb_calls, c0 + 1);
    cr_assert(wb_log[c0 % WB_LOG_MAX].other_thread && wb_log[c0 % WB_LOG_MAX].len == 0,
              "8.2 MiB written: the whole file's, on a thread of its own");
    upd_io_close(io);
    unlink(path);
}

static void *mask_of(void *arg)
{
    pthread_sigmask(SIG_BLOCK, NULL, arg);
    return NULL;
}

Test(io, library_threads_block_signals, .description = "a thread the library starts (upd_thread_start) blocks every signal but a fault's, so the host's reach the host's threads; the caller's mask is left as it was")
{
    sigset_t m, mine;
    sigemptyset(&m);
    pthread_t t;
    cr_assert(upd_thread_start(&t, mask_of, &m, 64u << 10));
    pthread_join(t, NULL);
    cr_assert(sigismember(&m, SIGINT) && sigismember(&m, SIGTERM) && sigismember(&m, SIGUSR1)
              && sigismember(&m, SIGCHLD), "blocked in the library's thread");
    cr_assert(!sigismember(&m, SIGSEGV) && !sigismember(&m, SIGBUS) && !sigismember(&m, SIGFPE),
              "but not those a fault raises: a crash reaches the host's handler");
    pthread_sigmask(SIG_BLOCK, NULL, &mine);
    cr_assert(!sigismember(&mine, SIGINT) && !sigismember(&mine, SIGTERM), "not in the caller's");
}

Test(io, early_writeback_failures, .description = "a failed writeback start (early or upd_io_writeback) fails the next flush for good, even when fdatasync then succeeds; an unsupported one stops being tried")
{
    char path[] = "/tmp/upd-io-XXXXXX";
    tmp_file(path);
    upd_io *io;
    static uint8_t b[256 << 10];
    cr_assert_eq(upd_io_open_posix(&io, path, 0), 0);
    cr_assert_eq(upd_io_flush(io), 0);
    wb_fail = EIO;        /* as when ext4 drops pages it could not allocate */
    cr_assert_eq(upd_io_write(io, b, sizeof b, 0), 0, "a hint's failure does not fail the write");
    wb_fail = 0;
    cr_assert_eq(upd_io_write(io, b, 4096, 0), 0);
    cr_assert_eq(upd_io_flush(io), UPD_E_IO_FLUSH);
    cr_assert_eq(upd_io_last_errno(io), EIO);
    cr_assert_eq(upd_io_write(io, b, 1, 0), UPD_E_STATE, "a failed flush is final");
    unsigned c0 = wb_calls;
    upd_io_writeback(io);
    cr_assert_eq(wb_calls, c0, "a failed handle starts no writeback");
    upd_io_close(io);
    for (int big = 0; big < 2; big++) {   /* on this thread, then on its own */
        cr_assert_eq(upd_io_open_posix(&io, path, 0), 0);
        for (int i = 0; big && i < 33; i++)
            cr_assert_eq(upd_io_write(io, b, sizeof b, (uint64_t)i * sizeof b), 0);
        wb_fail = EIO;    /* until the flush has joined the start's thread */
        c0 = wb_calls;
        upd_io_writeback(io);
        cr_assert_eq(upd_io_flush(io), UPD_E_IO_FLUSH, "upd_io_writeback's failure too");
        cr_assert(wb_calls == c0 + 1 && wb_log[c0 % WB_LOG_MAX].other_thread == big);
        wb_fail = 0;
        upd_io_close(io);
    }
    cr_assert_eq(upd_io_open_posix(&io, path, 0), 0);
    for (int i = 0; i < 33; i++)
        cr_assert_eq(upd_io_write(io, b, sizeof b, (uint64_t)i * sizeof b), 0);
    c0 = wb_calls;
    unsigned d0 = __atomic_load_n(&wb_done, __ATOMIC_SEQ_CST);
    wb_delay_ms = 50;     /* a start still running when close comes */
    upd_io_writeback(io);
    upd_io_writeback(io);
    upd_io_close(io);
    wb_delay_ms = 0;
    cr_assert_eq(wb_calls, c0 + 2);
    cr_assert_eq(__atomic_load_n(&wb_done, __ATOMIC_SEQ_CST), d0 + 2,
                 "a second start joins the first; close joins the last");
    cr_assert(wb_log[c0 % WB_LOG_MAX].other_thread && wb_log[(c0 + 1) % WB_LOG_MAX].other_thread);
    cr_assert_eq(upd_io_open_posix(&io, path, 0), 0);
    cr_assert_eq(upd_io_flush(io), 0);
    wb_fail = ENOSYS;
    c0 = wb_calls;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(upd_io_write(io, b, sizeof b, 0), 0);
    upd_io_writeback(io);
    cr_assert_eq(wb_calls, c0 + 1, "tried once, then left alone");
    cr_assert_eq(upd_io_flush(io), 0, "unsupported is no failure");
    wb_fail = 0;
    upd_io_close(io);
    upd_io_writeback(NULL);
    unlink(path);
}

Test(io, mem_backend, .description = "memory backend honours its capacity")
{
    upd_io *io;
    cr_assert_eq(upd_io_open_mem(&io, "abc", 3, 8), 0);
    cr_assert_eq(upd_io_resize(io, 8), 0);
    cr_assert_eq(upd_io_resize(io, 9), UPD_E_IO_RESIZE);
    cr_assert_eq(upd_io_write(io, "xy", 2, 7), UPD_E_IO_WRITE, "write past the end");
    const uint8_t *d;
    size_t n;
    cr_assert_eq(upd_io_mem_view(io, &d, &n), 0);
    cr_assert_eq(n, 8);
    cr_assert_eq(memcmp(d, "abc\0\0\0\0\0", 8), 0);
    upd_io_close(io);
    cr_assert_eq(upd_io_open_mem(&io, "abc", 3, 2), UPD_E_INVAL);
}

/* A backend whose flush fails once: the handle must refuse every later
 * write (never retry an fsync and trust the data). */
static int ff_submit(void *c, const upd_io_req *r, unsigned n) { (void)c; (void)r; (void)n; return 0; }
static int ff_reap(void *c) { (void)c; return 0; }
static int ff_flush(void *c) { (void)c; return -EIO; }
static int ff_size(void *c, uint64_t *s) { (void)c; *s = 1 << 20; return 0; }
static int ff_resize(void *c, uint64_t s) { (void)c; (void)s; return 0; }
static const upd_io_methods failing_flush = { "ff", 0, ff_submit, ff_reap, ff_flush, ff_size,
                                              ff_resize, NULL };

Test(io, failed_flush_is_final, .description = "after a failed flush no write is accepted")
{
    upd_io *io;
    cr_assert_eq(upd_io_create(&io, &failing_flush, NULL), 0);
    cr_assert_eq(upd_io_write(io, "a", 1, 0), 0);
    cr_assert_eq(upd_io_flush(io), UPD_E_IO_FLUSH);
    cr_assert_eq(upd_io_last_errno(io), EIO);
    cr_assert_eq(upd_io_write(io, "a", 1, 0), UPD_E_STATE);
    cr_assert_eq(upd_io_flush(io), UPD_E_IO_FLUSH);
    upd_io_close(io);
}

/* Fixed-size (block-device-like) target: the applier must check capacity
 * instead of resizing, and leave bytes past the image alone. */
static int fx_size(void *c, uint64_t *s) { (void)c; *s = 3u << 20; return 0; }
static int fx_resize(void *c, uint64_t s) { (void)c; return s <= (3u << 20) ? 0 : -ENOSPC; }
static upd_io *fx_inner;
static int fx_submit(void *c, const upd_io_req *r, unsigned n)
{
    (void)c;
    for (unsigned i = 0; i < n; i++) {
        int rc = r[i].op == UPD_IO_READ ? upd_io_read(fx_inner, r[i].buf, r[i].len, r[i].off)
                                        : upd_io_write(fx_inner, r[i].buf, r[i].len, r[i].off);
        if (rc)
            return -EIO;
    }
    return 0;
}
static const upd_io_methods fixed = { "fixed", UPD_IO_FIXED_SIZE, fx_submit, ff_reap, ff_reap,
                                      fx_size, fx_resize, NULL };

/* A memory image that logs what the applier asks of it, in order: the
 * result check must start the writeback after the last write, hash (read)
 * while the device writes, and flush last. */
static upd_io *lg_inner;
static char lg_log[1 << 16];
static size_t lg_n;
static void lg_note(char c)
{
    if (lg_n + 1 < sizeof lg_log && (!lg_n || lg_log[lg_n - 1] != c))
        lg_log[lg_n++] = c;           /* runs of one kind logged once */
}
static int lg_submit(void *c, const upd_io_req *r, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        lg_note(r[i].op == UPD_IO_READ ? 'r' : 'w');
    return fx_submit(c, r, n);
}
static int lg_wb_fails, lg_wb_failed;   /* a writeback start fails; it did */
static int lg_flush(void *c) { (void)c; lg_note('F'); return lg_wb_failed ? -EIO : 0; }
static int lg_size(void *c, uint64_t *s) { (void)c; return upd_io_size(lg_inner, s); }
static int lg_resize(void *c, uint64_t s) { (void)c; return upd_io_resize(lg_inner, s); }
static void lg_writeback(void *c) { (void)c; lg_note('B'); lg_wb_failed = lg_wb_fails; }
static const upd_io_methods logging = { "logging", 0, lg_submit, ff_reap, lg_flush, lg_size,
                                        lg_resize, NULL, .writeback = lg_writeback };

Test(io, result_check_overlaps_writeback, .description = "the result check starts the target's writeback after the last write, hashes, then flushes; in place and out of place; a failed writeback fails the run with the flush")
{
    synth_pair sp;
    cr_assert_eq(synth_make("exe-like", 5, 1 << 20, &sp), 0);
    buf_t pkg;
    cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, NULL, &pkg), 0);
    for (int fail = 0; fail < 2; fail++)
    for (int oop = 0; oop < 2; oop++) {
        lg_wb_fails = fail;
        lg_wb_failed = 0;
        cr_assert_eq(upd_io_open_mem(&lg_inner, oop ? NULL : sp.old_img, oop ? 0 : sp.old_len,
                                     64u << 20), 0);
        fx_inner = lg_inner;
        upd_io *t, *s = NULL;
        cr_assert_eq(upd_io_create(&t, &logging, NULL), 0);
        if (oop)
            cr_assert_eq(upd_io_open_mem(&s, sp.old_img, sp.old_len, sp.old_len), 0);
        lg_n = 0;
        upd_apply_params ap = { .target = t, .source = s, .flags = UPD_APPLY_INSECURE };
        upd_apply_stats st;
        int rc = apply_io(&ap, pkg.p, pkg.n, 0, &st);
        cr_assert_eq(rc, fail ? UPD_E_IO_FLUSH : 0, "%s", upd_errname(rc));
        lg_log[lg_n] = 0;
        const char *b = strchr(lg_log, 'B');
        cr_assert(b && !strchr(b + 1, 'B'), "one writeback: %s", lg_log);
        cr_assert(!strchr(b, 'w'), "no write after it: %s", lg_log);
        cr_assert_str_eq(b, "BrF", "then the hash's reads, then the flush");
        const uint8_t *d;
        size_t n;
        upd_io_mem_view(lg_inner, &d, &n);
        cr_assert(n == sp.new_len && !memcmp(d, sp.new_img, n), "out of place %d", oop);
        upd_io_close(t);
        upd_io_close(s);
        upd_io_close(lg_inner);
    }
    buf_free(&pkg);
    synth_free(&sp);
}

/* A memory image that counts, per kind, the requests it is given and the
 * system calls a file backend would make of them (upd_io_gather's runs). */
typedef struct { upd_io *inner; uint64_t reqs[3], runs[3]; } counted;
static int cn_submit(void *c, const upd_io_req *r, unsigned n)
{
    counted *k = c;
    uint8_t sink[UPD_IO_HOLE];
    for (unsigned i = 0, m; i < n; i += m) {
        upd_io_span sp;
        m = upd_io_gather(r + i, n - i, sink, &sp);
        k->reqs[r[i].op] += m;
        k->runs[r[i].op]++;
    }
    for (unsigned i = 0; i < n; i++) {
        int rc = r[i].op == UPD_IO_READ ? upd_io_read(k->inner, r[i].buf, r[i].len, r[i].off)
                                        : upd_io_write(k->inner, r[i].buf, r[i].len, r[i].off);
        if (rc)
            return -EIO;
    }
    return 0;
}
static int cn_flush(void *c) { return upd_io_flush(((counted *)c)->inner) ? -EIO : 0; }
static int cn_size(void *c, uint64_t *s) { return upd_io_size(((counted *)c)->inner, s) ? -EIO : 0; }
static int cn_resize(void *c, uint64_t s) { return upd_io_resize(((counted *)c)->inner, s) ? -EIO : 0; }
static const upd_io_methods counting = { "counting", 0, cn_submit, ff_reap, cn_flush, cn_size,
                                         cn_resize, NULL };

/* Cycle-heavy pairs in place: a group's steps read from several places in
 * turn, in pieces that meet in the image; sent in file order, each place's
 * pieces join into one system call (upd_io_gather) instead of one each.
 * Likewise the stash: the group's reads of saved bytes, and the stash
 * bytes its STASH steps append, which follow each other in the stash. */
Test(io, group_requests_in_file_order, .description = "a group's image and stash reads go in file order and its stash writes as one batch, so that pieces from a few places join into few system calls")
{
    static const struct { const char *kind; int stash_reads; } pairs[] = {
        { "swap-small", 0 }, { "reverse-blocks", 1 }, { "transpose", 1 },
    };
    for (int k = 0; k < 3; k++) {
        synth_pair sp;
        cr_assert_eq(synth_make(pairs[k].kind, 7, 2u << 20, &sp), 0);
        buf_t pkg;
        cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, NULL, &pkg), 0);
        counted t = { 0 }, c = { 0 };
        cr_assert_eq(upd_io_open_mem(&t.inner, sp.old_img, sp.old_len, 4u << 20), 0);
        cr_assert_eq(upd_io_open_mem(&c.inner, NULL, 0, 4u << 20), 0);
        upd_io *ti, *ci;
        cr_assert_eq(upd_io_create(&ti, &counting, &t), 0);
        cr_assert_eq(upd_io_create(&ci, &counting, &c), 0);
        upd_apply_params ap = { .target = ti, .stash = ci, .flags = UPD_APPLY_INSECURE };
        int rc = apply_io(&ap, pkg.p, pkg.n, 0, NULL);
        cr_assert_eq(rc, 0, "%s: %s", pairs[k].kind, upd_errname(rc));
        const uint8_t *d;
        size_t n;
        upd_io_mem_view(t.inner, &d, &n);
        cr_assert(n == sp.new_len && !memcmp(d, sp.new_img, n), "%s: not exact", pairs[k].kind);
        #define CALLS(h, op, what, num, den) \
            cr_assert(h.reqs[op] > 64 && h.runs[op] * (den) <= h.reqs[op] * (num), \
                      "%s: %llu calls for %llu %s", pairs[k].kind, \
                      (unsigned long long)h.runs[op], (unsigned long long)h.reqs[op], what)
        CALLS(t, UPD_IO_READ, "image reads", 7, 10);   /* in step order: 0.36, 0.91, 0.88 */
        CALLS(c, UPD_IO_WRITE, "stash writes", 1, 4);  /* one STASH at a time: 1 */
        if (pairs[k].stash_reads)
            CALLS(c, UPD_IO_READ, "stash reads", 2, 3);  /* in step order: 0.89, 0.80 */
        #undef CALLS
        upd_io_close(ti);
        upd_io_close(ci);
        upd_io_close(t.inner);
        upd_io_close(c.inner);
        buf_free(&pkg);
        synth_free(&sp);
    }
}

/* In place, and out of place onto a device that holds junk (the old image
 * is copied onto it first there: a device has bytes of its own where a
 * file's holes are zeros; the STASH ops save nothing, the source stays). */
Test(io, fixed_size_target, .description = "apply onto a fixed-size device, in place and out of place: grow and shrink within capacity")
{
    static const char *const kinds[] = { "grow", "shrink", "transpose" };
    for (int k = 0; k < 3; k++) {
        synth_pair sp;
        cr_assert_eq(synth_make(kinds[k], 3, 1 << 20, &sp), 0);
        buf_t pkg;
        cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, NULL, &pkg), 0);
        for (int oop = 0; oop < 2; oop++) {
            uint8_t *dev = malloc(3u << 20);
            memset(dev, 0xee, 3u << 20);      /* junk past the image, as on a real device */
            if (!oop)
                memcpy(dev, sp.old_img, sp.old_len);
            cr_assert_eq(upd_io_open_mem(&fx_inner, dev, 3u << 20, 3u << 20), 0);
            upd_io *t, *s = NULL;
            cr_assert_eq(upd_io_create(&t, &fixed, NULL), 0);
            if (oop)
                cr_assert_eq(upd_io_open_mem(&s, sp.old_img, sp.old_len, sp.old_len), 0);
            upd_apply_params ap = { .target = t, .source = s, .flags = UPD_APPLY_INSECURE };
            upd_apply_stats st;
            int rc = apply_io(&ap, pkg.p, pkg.n, 0, &st);
            cr_assert_eq(rc, 0, "%s out of place %d: %s", kinds[k], oop, upd_errname(rc));
            const uint8_t *d;
            size_t n;
            upd_io_mem_view(fx_inner, &d, &n);
            cr_assert_eq(memcmp(d, sp.new_img, sp.new_len), 0, "%s out of place %d", kinds[k], oop);
            cr_assert(!oop || st.stash_bytes == 0, "out of place nothing is stashed");
            upd_io_close(t);
            upd_io_close(s);
            upd_io_close(fx_inner);
            free(dev);
        }
        buf_free(&pkg);
        synth_free(&sp);
    }
}

/* ---- save-area compression jobs (engine/apply/zjob.c) ---------------------- */

#define ZJ_JOBS 14
static const size_t zj_lens[ZJ_JOBS] = { UPD_ZJ_IN, UPD_ZJ_IN, 1, 0, 4096, UPD_ZJ_IN, 777,
                                         UPD_ZJ_IN, UPD_ZJ_IN - 1, 3, UPD_ZJ_IN, 100,
                                         UPD_ZJ_IN, UPD_ZJ_IN };

/* Job I's input: random bytes in odd jobs, repetitive ones in even jobs
 * (which also repeat the job before: a frame that reached back would
 * compress it differently). */
static void zj_input(uint8_t *src, int i)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    for (size_t k = 0; k < UPD_ZJ_IN; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        src[k] = i & 1 ? (uint8_t)(x >> 56) : (uint8_t)("updelta journal "[k % 16] + k / 4096);
    }
}

/* Jobs through Z, a full ring in flight as jarea.c runs them; each output must be
 * the frame a fresh context makes of that job alone. */
static void zj_run(upd_zjobs *z, const char *mode)
{
    ZSTD_CCtx *fresh = ZSTD_createCCtx();
    uint8_t *src = malloc(UPD_ZJ_IN), *want = malloc(UPD_ZJ_OUT), *back = malloc(UPD_ZJ_IN);
    cr_assert(fresh && src && want && back);
    int took = 0;
    for (int i = 0; i <= ZJ_JOBS; i++) {
        /* take the oldest when every job is pending, and all at the end */
        while ((i == ZJ_JOBS && upd_zj_pending(z)) || (i < ZJ_JOBS && !upd_zj_fill(z))) {
            const uint8_t *p;
            size_t n;
            cr_assert_eq(upd_zj_take(z, &p, &n), 1, "%s: job %d not taken", mode, took);
            zj_input(src, took);
            size_t len = zj_lens[took];
            cr_assert_eq(ZSTD_CCtx_reset(fresh, ZSTD_reset_session_and_parameters), 0);
            cr_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(fresh, ZSTD_c_compressionLevel, UPD_JR_ZSTD_LEVEL)));
            size_t wn = ZSTD_compress2(fresh, want, UPD_ZJ_OUT, src, len);
            cr_assert(!ZSTD_isError(wn));
            cr_assert(n == wn && !memcmp(p, want, n), "%s: job %d is not a frame of its own", mode, took);
            cr_assert_eq(ZSTD_findFrameCompressedSize(p, n), n, "%s: job %d: one frame", mode, took);
            cr_assert_eq(ZSTD_getFrameContentSize(p, n), len, "%s: job %d: length not pledged", mode, took);
            cr_assert_eq(ZSTD_decompress(back, UPD_ZJ_IN, p, n), len);
            cr_assert(len == 0 || !memcmp(back, src, len), "%s: job %d decodes wrong", mode, took);
            upd_zj_release(z);
            took++;
        }
        if (i == ZJ_JOBS)
            break;
        uint8_t *buf = upd_zj_fill(z);
        zj_input(buf, i);
        cr_assert_eq(upd_zj_submit(z, zj_lens[i]), 0);
    }
    cr_assert_eq(took, ZJ_JOBS);
    ZSTD_freeCCtx(fresh);
    free(src);
    free(want);
    free(back);
}

Test(zjob, frames_alike_threaded_and_inline,
     .description = "each job is a frame of its own, the same bytes with the worker thread or without")
{
    for (int threaded = 0; threaded < 2; threaded++) {
        upd_zjobs *z;
        cr_assert_eq(upd_zj_create(&z, threaded, UPD_JR_ZSTD_LEVEL), 0);
        /* a cancelled full ring changes nothing that follows */
        for (unsigned i = 0; i < UPD_ZJ_JOBS; i++) {
            zj_input(upd_zj_fill(z), 5);
            cr_assert_eq(upd_zj_submit(z, UPD_ZJ_IN), 0);
        }
        cr_assert_null(upd_zj_fill(z));
        upd_zj_cancel(z);
        cr_assert_eq(upd_zj_pending(z), 0);
        zj_run(z, threaded ? "threaded" : "inline");
        zj_run(z, threaded ? "threaded, again" : "inline, again");
        upd_zj_free(z);
    }
}

Test(zjob, context_within_budget,
     .description = "a compressor context for one job's frame fits UPD_ZJ_CCTX_MEM (UPD_JOURNAL_MEM counts two)")
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    uint8_t *src = malloc(UPD_ZJ_IN), *out = malloc(UPD_ZJ_OUT);
    cr_assert(c && src && out);
    cr_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, UPD_JR_ZSTD_LEVEL)));
    for (int i = 0; i < 3; i++) {
        zj_input(src, i);
        cr_assert(!ZSTD_isError(ZSTD_compress2(c, out, UPD_ZJ_OUT, src, UPD_ZJ_IN)));
    }
    cr_assert_leq(ZSTD_sizeof_CCtx(c), UPD_ZJ_CCTX_MEM, "context: %zu bytes", ZSTD_sizeof_CCtx(c));
    ZSTD_freeCCtx(c);
    free(src);
    free(out);
}

Test(xz, decoder_within_budget,
     .description = "liblzma's LZMA2 decoder for the format's dictionary fits UPD_LZMA_DEC_MEM, and "
                    "an LZMA2 package applies with a window of exactly its need, not a byte less")
{
    lzma_options_lzma opt = { .dict_size = UPD_LZMA_DICT };
    const lzma_filter chain[] = { { LZMA_FILTER_LZMA2, &opt }, { LZMA_VLI_UNKNOWN, NULL } };
    uint64_t use = lzma_raw_decoder_memusage(chain);
    cr_assert(use != UINT64_MAX && use <= UPD_LZMA_DEC_MEM, "liblzma asks for %llu bytes",
              (unsigned long long)use);
    synth_pair sp;
    cr_assert_eq(synth_make("exe-like", 3, 1u << 20, &sp), 0);
    upd_diff_params p;
    upd_diff_params_default(&p);
    p.level = 3;
    p.lzma = UPD_LZMA_ALWAYS;
    buf_t pkg, out;
    cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &p, &pkg), 0);
    cr_assert_gt(pkg_lzma_segments(&pkg), 0);
    upd_header h;
    cr_assert_eq(upd_header_decode(pkg.p, pkg.n, &h), 0);
    cr_assert(h.flags & UPD_PKG_LZMA);
    /* the I/O buffer is an eighth of the window: find the window whose
     * need it is */
    size_t w = 1u << 20;
    while (upd_applier_mem_need(&h, w) > w)
        w++;
    upd_apply_stats st;
    upd_apply_params ap = { .window = w, .flags = UPD_APPLY_INSECURE };
    cr_assert_eq(apply_mem_with(pkg.p, pkg.n, sp.old_img, sp.old_len, 0, 0, &ap, &out, &st), 0,
                 "window %zu", w);
    cr_assert(out.n == sp.new_len && !memcmp(out.p, sp.new_img, sp.new_len));
    cr_assert_leq(st.mem_peak, w, "held %zu of a %zu-byte window", st.mem_peak, w);
    buf_free(&out);
    ap.window = w - 1;
    cr_assert_eq(apply_mem_with(pkg.p, pkg.n, sp.old_img, sp.old_len, 0, 0, &ap, &out, NULL),
                 UPD_E_LIMIT);
    buf_free(&out);
    buf_free(&pkg);
    synth_free(&sp);
}

/* ---- covers after the scan (engine/diff/cover.c) ------------------------- */

#define CV_LEN 4096
#define CV_PAD 256
/* the images, with bytes around them that a cover growing past either
 * end would find agreeing (stays_inside_both_images sets them) */
static uint8_t cv_old_pad[CV_PAD + CV_LEN + CV_PAD], cv_new_pad[CV_PAD + CV_LEN + CV_PAD];
#define cv_old (cv_old_pad + CV_PAD)
#define cv_new (cv_new_pad + CV_PAD)

/* New = old but that, in [FROM, TO), one byte in every PERIOD that is not
 * among its first AGREE differs (period 10, agree 7: 70% agree). */
static void cover_images(size_t from, size_t to, unsigned agree, unsigned period)
{
    for (size_t i = 0; i < CV_LEN; i++)
        cv_old[i] = (uint8_t)(i * 2654435761u >> 13);
    memcpy(cv_new, cv_old, CV_LEN);
    for (size_t i = from; i < to; i++)
        if ((i - from) % period >= agree)
            cv_new[i] = (uint8_t)(cv_old[i] + 1 + (i & 7));
}

/* New [DST, DST+N) = old [SRC, SRC+N). */
static void cover_copy(size_t dst, size_t src, size_t n)
{
    memcpy(cv_new + dst, cv_old + src, n);
}

/* The N covers V refined over the images: how many are left. */
static size_t refined(upd_cover *v, size_t n)
{
    upd_covers cv = { v, n, n };
    cr_assert_eq(upd_covers_refine(cv_old, CV_LEN, cv_new, CV_LEN, &cv), 0);
    return cv.n;
}

Test(cover, grows_where_most_bytes_agree,
     .description = "a cover grows into a gap where 70% of the bytes agree, never past its neighbour, not at 40%")
{
    for (int pass = 0; pass < 2; pass++) {
        cover_images(1000, 2000, pass ? 4 : 7, 10);
        cover_copy(2000, 500, 1000);   /* another alignment: no joining */
        upd_cover v[2] = { { 0, 0, 1000 }, { 2000, 500, 1000 } };
        cr_assert_eq(refined(v, 2), 2);
        cr_assert(v[0].dst == 0 && v[0].src == 0);
        if (pass)
            cr_assert_eq(v[0].len, 1000, "grew to %llu where 40%% agree",
                         (unsigned long long)v[0].len);
        else
            cr_assert_geq(v[0].len, 1990, "grew to %llu", (unsigned long long)v[0].len);
        cr_assert_leq(v[0].len, v[1].dst, "overlaps its neighbour");
        cr_assert(v[1].dst == 2000 && v[1].src == 500 && v[1].len == 1000);
    }
}

Test(cover, joined_over_a_dropped_cover,
     .description = "a cover whose differences cost as much as literals goes; its neighbours on one alignment join over its place")
{
    cover_images(1000, 1095, 9, 10);   /* 90% agree at shift 0 */
    /* 32 bytes matched elsewhere (shift 512), not agreeing there */
    upd_cover v[3] = { { 0, 0, 1000 }, { 1034, 522, 32 }, { 1100, 1100, 2996 } };
    size_t n = refined(v, 3);
    cr_assert_eq(n, 1, "%zu covers", n);
    cr_assert(v[0].dst == 0 && v[0].src == 0 && v[0].len == CV_LEN, "%llu+%llu",
              (unsigned long long)v[0].dst, (unsigned long long)v[0].len);
}

Test(cover, join_up_to_511_bytes_apart,
     .description = "covers on one alignment join across a gap of 511 bytes, not of 512")
{
    for (size_t gap = 511; gap <= 512; gap++) {
        cover_images(1000, 1000 + gap, 0, 1);   /* nothing in the gap agrees */
        upd_cover v[2] = { { 0, 0, 1000 }, { 1000 + gap, 1000 + gap, CV_LEN - 1000 - gap } };
        size_t n = refined(v, 2);
        cr_assert_eq(n, gap == 511 ? 1 : 2, "gap %zu: %zu covers", gap, n);
        cr_assert(v[0].dst == 0 && v[0].src == 0);
        cr_assert_eq(v[n - 1].dst + v[n - 1].len, CV_LEN);
    }
}

Test(cover, first_cover_dropped,
     .description = "a first cover that does not pay goes; the next one grows back over the bytes that agree")
{
    cover_images(0, 100, 0, 1);   /* new [0, 100) agrees with nothing at shift 0 */
    upd_cover v[2] = { { 0, 2000, 100 }, { 500, 500, CV_LEN - 500 } };
    size_t n = refined(v, 2);
    cr_assert_eq(n, 1, "%zu covers", n);
    cr_assert(v[0].dst == 100 && v[0].src == 100 && v[0].len == CV_LEN - 100, "%llu+%llu",
              (unsigned long long)v[0].dst, (unsigned long long)v[0].len);
}

Test(cover, kept_when_they_pay,
     .description = "a short cover whose bytes all agree is kept; a long one whose differences cost as much as literals is not")
{
    cover_images(1000, CV_LEN, 0, 1);   /* from 1000 on, nothing agrees at shift 0 */
    cover_copy(1500, 3000, 40);         /* 40 bytes from elsewhere */
    cover_copy(2500, 200, 800);         /* 800 bytes from elsewhere */
    upd_cover v[4] = {
        { 0, 0, 1000 },
        { 1500, 3000, 40 },             /* short, all agree: kept */
        { 1700, 1900, 600 },            /* long, nothing agrees: dropped */
        { 2500, 200, 800 },
    };
    size_t n = refined(v, 4);
    cr_assert_eq(n, 3, "%zu covers", n);
    cr_assert(v[0].dst == 0 && v[1].dst == 1500 && v[1].src == 3000 && v[2].dst == 2500,
              "%llu %llu %llu", (unsigned long long)v[0].dst, (unsigned long long)v[1].dst,
              (unsigned long long)v[2].dst);
    cr_assert(v[1].len >= 40 && v[1].len < 48, "the short one: %llu bytes",
              (unsigned long long)v[1].len);
}

Test(cover, stays_inside_both_images,
     .description = "growth stops at both ends of the old image and at the new image's start, "
                    "though the bytes beyond them agree")
{
    cover_images(0, 0, 0, 1);
    cover_copy(0, 300, 100);
    cover_copy(1000, 0, 200);
    cover_copy(3000, CV_LEN - 100, 100);
    upd_cover v[3] = { { 0, 300, 100 }, { 1000, 0, 200 }, { 3000, CV_LEN - 100, 100 } };
    /* what each cover would find agreeing if it read past an end: before
     * new's start (cover 0, reading old before 300), before old's start
     * (cover 1), after old's end (cover 2) */
    for (size_t k = 1; k <= CV_PAD; k++) {
        cv_new[-(ptrdiff_t)k] = cv_old[300 - k];
        cv_old[-(ptrdiff_t)k] = cv_new[1000 - k];
        cv_old[CV_LEN - 1 + k] = cv_new[3100 - 1 + k];
    }
    cr_assert_eq(refined(v, 3), 3);
    cr_assert_eq(v[0].dst, 0, "grew back past new's start");
    cr_assert_eq(v[1].src, 0, "grew back past old's start");
    cr_assert_eq(v[1].dst, 1000);
    cr_assert_eq(v[2].src + v[2].len, CV_LEN, "grew on past old's end");
    for (size_t i = 0; i < 3; i++)
        cr_assert_leq(v[i].src + v[i].len, CV_LEN, "cover %zu reads past old", i);
}

/* ---- emit: the applier's op-order rule kept by the generator ---------------- */

/* N bytes as one frame at LEVEL, no size pledged (as emit.c does: a
 * continue before the end), against the prefix DICT[0..DLEN) when DLEN,
 * the chain table capped or not. */
static size_t frame_of(ZSTD_CCtx *cc, int level, const uint8_t *dict, size_t dlen,
                       const uint8_t *src, size_t n, int cap, uint8_t *out, size_t outcap)
{
    ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
    if (dlen) {
        ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 23);
        ZSTD_CCtx_refPrefix(cc, dict, dlen);
    }
    if (cap)
        upd_zstd_cap_chain(cc, level, dlen + n);
    ZSTD_outBuffer o = { out, outcap, 0 };
    ZSTD_inBuffer in = { src, n, 0 };
    size_t r = ZSTD_compressStream2(cc, &o, &in, ZSTD_e_continue);
    while (!ZSTD_isError(r) && (r = ZSTD_compressStream2(cc, &o, &in, ZSTD_e_end)) != 0)
        ;
    cr_assert(!ZSTD_isError(r), "%s", ZSTD_getErrorName(r));
    return o.pos;
}

Test(emit, chain_cap_keeps_the_frame, .timeout = 300,
     .description = "a chain table capped to the input gives the same frame at every level and size, with a prefix dictionary or without; at level 19 the context is at least a quarter smaller")
{
    enum { MAX = 3 << 20 };
    uint8_t *src = malloc(MAX), *a = malloc(MAX + MAX / 8), *b = malloc(MAX + MAX / 8);
    cr_assert(src && a && b);
    /* words from a small vocabulary: matches near and far */
    uint32_t x = 12345;
    for (size_t i = 0; i < MAX; i += 4) {
        x = x * 1103515245u + 12345u;
        uint32_t w = (x >> 16) % 97 * 2654435761u;
        memcpy(src + i, &w, 4);
    }
    ZSTD_CCtx *c0 = ZSTD_createCCtx(), *c1 = ZSTD_createCCtx();
    cr_assert(c0 && c1);
    static const int levels[] = { 1, 3, 5, 9, 13, 16, 19, 22 };
    static const size_t sizes[] = { 1000, 70000, 300000, 2000000 };
    for (size_t l = 0; l < sizeof levels / sizeof *levels; l++) {
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            if (levels[l] == 22 && sizes[k] == 2000000)
                continue;       /* (seconds, and nothing new) */
            for (int d = 0; d < 2; d++) {
                /* with a dictionary: the first half of the bytes, the
                 * second half compressed against it */
                size_t dlen = d ? sizes[k] / 2 : 0, n = sizes[k] - dlen;
                size_t na = frame_of(c0, levels[l], src, dlen, src + dlen, n, 0, a, MAX + MAX / 8);
                size_t nb = frame_of(c1, levels[l], src, dlen, src + dlen, n, 1, b, MAX + MAX / 8);
                cr_assert(na == nb && !memcmp(a, b, na),
                          "level %d, %zu bytes, dictionary %d: %zu vs %zu bytes", levels[l],
                          sizes[k], d, na, nb);
                if (levels[l] == 19)
                    cr_assert_lt(ZSTD_sizeof_CCtx(c1), ZSTD_sizeof_CCtx(c0) / 4 * 3,
                                 "%zu bytes: the capped context is %zu bytes, the level's %zu",
                                 sizes[k], ZSTD_sizeof_CCtx(c1), ZSTD_sizeof_CCtx(c0));
            }
        }
    }
    ZSTD_freeCCtx(c0);
    ZSTD_freeCCtx(c1);
    free(src);
    free(a);
    free(b);
}

Test(emit, drop_only_first_in_segment,
     .description = "upd_emit refuses a DROP after another kind of op of its segment (the applier's UPD_E_OP_DROP); DROPs at a segment's start, or a run of them there, are emitted and apply")
{
    static uint8_t img[8192];
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (uint8_t)(i * 131 + (i >> 7));
    const upd_gop stash = { UPD_OP_STASH, 0, 0, 100, 50, 100 };
    const upd_gop drop = { UPD_OP_DROP, 0, 0, 100, 50, 0 };
    const upd_gop copy = { UPD_OP_COPY, 0, 0, 0, sizeof img, 0 };
    const struct { upd_gop ops[4]; size_t n, cut; int rc; } cases[] = {
        { { stash, copy, drop }, 3, 0, UPD_E_PLAN },           /* after a COPY */
        { { stash, drop, copy }, 3, 0, UPD_E_PLAN },           /* after a STASH */
        { { stash, drop, copy }, 3, 1, 0 },                    /* first of segment 2 */
        { { stash, drop, drop, copy }, 4, 1, 0 },              /* a run of them */
        { { stash, copy, drop, drop }, 4, 2, 0 },              /* a segment of DROPs */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        upd_gops sched = { (upd_gop *)cases[c].ops, cases[c].n, cases[c].n };
        size_t cv[3] = { 0, cases[c].cut, cases[c].n };
        if (!cases[c].cut)
            cv[1] = cases[c].n;           /* one segment */
        upd_cuts cuts = { cv, cases[c].cut ? 3 : 2, 3 };
        upd_plan_info info = { .stash_size = 50, .write_ranges = 1, .stash_ranges = 1 };
        upd_diff_params p;
        upd_diff_params_default(&p);
        buf_t pkg = { 0 };
        upd_diff_stats st = { 0 };
        int rc = upd_emit(&sched, NULL, &cuts, img, sizeof img, img, sizeof img, &info, 0, 0, &p,
                          buf_sink, &pkg, &st);
        cr_assert_eq(rc, cases[c].rc, "case %zu: %s", c, upd_errname(rc));
        if (!rc) {
            uint8_t *t = malloc(sizeof img);
            memcpy(t, img, sizeof img);
            upd_io *io;
            cr_assert_eq(upd_io_open_mem(&io, t, sizeof img, sizeof img), 0);
            upd_apply_params ap = { .target = io, .flags = UPD_APPLY_INSECURE };
            upd_apply_stats as;
            rc = apply_io(&ap, pkg.p, pkg.n, 0, &as);
            cr_assert_eq(rc, 0, "case %zu applies: %s", c, upd_errname(rc));
            uint64_t drops = 0;
            for (size_t i = 0; i < cases[c].n; i++)
                drops += cases[c].ops[i].kind == UPD_OP_DROP;
            cr_assert_eq(as.ops[UPD_OP_DROP], drops, "case %zu", c);
            upd_io_close(io);
            free(t);
        }
        buf_free(&pkg);
    }
}

Test(emit, refuses_a_package_its_applier_would,
     .description = "upd_emit passes its package through a dry-run applier as it writes it: a header that declares too few written ranges fails the diff (UPD_E_INTERNAL) instead of reaching the caller as a package every applier refuses")
{
    static uint8_t old_img[8192], new_img[8192];
    for (size_t i = 0; i < sizeof old_img; i++)
        new_img[i] = old_img[i] = (uint8_t)(i * 131 + (i >> 7));
    for (size_t i = 0; i < 100; i++)
        new_img[i] ^= 0x55, new_img[200 + i] ^= 0xaa;
    upd_gop lits[] = { { UPD_OP_LIT, 0, 0, 0, 100, 0 }, { UPD_OP_LIT, 0, 200, 0, 100, 200 } };
    upd_gops sched = { lits, 2, 2 };
    size_t cv[2] = { 0, 2 };
    upd_cuts cuts = { cv, 2, 2 };
    upd_diff_params p;
    upd_diff_params_default(&p);
    for (uint32_t ranges = 1; ranges <= 2; ranges++) {
        upd_plan_info info = { .write_ranges = ranges };
        buf_t pkg = { 0 };
        upd_diff_stats st = { 0 };
        int rc = upd_emit(&sched, NULL, &cuts, old_img, sizeof old_img, new_img, sizeof new_img,
                          &info, 0, 0, &p, buf_sink, &pkg, &st);
        if (ranges == 1) {
            cr_assert_eq(rc, UPD_E_INTERNAL, "%s", upd_errname(rc));
        } else {
            cr_assert_eq(rc, 0, "%s", upd_errname(rc));
            buf_t out;
            cr_assert_eq(apply_mem(pkg.p, pkg.n, old_img, sizeof old_img, 1, 0, 0, &out), 0);
            cr_assert(out.n == sizeof new_img && !memcmp(out.p, new_img, out.n));
            buf_free(&out);
        }
        buf_free(&pkg);
    }
}

Test(emit, frozen_ranges_is_the_peak,
     .description = "frozen_ranges counts the most disjoint windows frozen at once, in segment order: a later window that joins two earlier ones does not lower it (chromium 150 -> 156: 73 at once, 72 at the end, and the applier refused the package)")
{
    static const struct { upd_window w[4]; size_t n; uint32_t peak; } cases[] = {
        { { { 0, 100 }, { 200, 100 }, { 100, 100 } }, 3, 2 },     /* joined at the end */
        { { { 0, 100 }, { 100, 100 }, { 300, 50 } }, 3, 2 },      /* touching windows merge */
        { { { 0, 100 }, { 0, 0 }, { 50, 100 } }, 3, 1 },          /* no window; overlap */
        { { { 500, 10 }, { 0, 10 }, { 100, 10 }, { 0, 600 } }, 4, 3 },
        { { { 0, 0 } }, 1, 0 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        uint32_t peak = 99;
        cr_assert_eq(upd_dict_frozen_peak(cases[c].w, cases[c].n, &peak), 0);
        cr_assert_eq(peak, cases[c].peak, "case %zu: %u", c, peak);
    }
}

/* ---- choosing among match trials (engine/diff/diff.c) -------------------- */

Test(trials, aim_before_size, .description = "a package within the aim beats a smaller one that only fits the window; then the smaller wins; a tie keeps the earlier")
{
    cr_assert(upd_trial_beats(1, 900, 0, 500), "within the aim beats a smaller one over it");
    cr_assert(!upd_trial_beats(0, 500, 1, 900), "only within the window never beats the aim");
    cr_assert(upd_trial_beats(1, 499, 1, 500));
    cr_assert(upd_trial_beats(0, 499, 0, 500));
    cr_assert(!upd_trial_beats(1, 500, 1, 500), "a tie keeps the earlier trial");
    cr_assert(!upd_trial_beats(1, 501, 1, 500));
}
