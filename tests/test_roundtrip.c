/* Round trips: every synthetic kind, several sizes and seeds, out of place
 * and in place, whole-buffer and byte-trickled pushes, with and without a
 * stash budget: the result is bit-exact every time, in memory and on real
 * files through every file backend (POSIX, io_uring, io_uring O_DIRECT). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "helpers.h"

static void check_out(const buf_t *out, const synth_pair *sp, const char *what, const char *kind,
                      int in_place)
{
    cr_assert_eq(out->n, sp->new_len, "size %s %s in_place=%d", what, kind, in_place);
    cr_assert(sp->new_len == 0 || memcmp(out->p, sp->new_img, sp->new_len) == 0,
              "bytes differ: %s %s in_place=%d", what, kind, in_place);
}

static void roundtrip(const char *kind, uint64_t seed, size_t size, const upd_diff_params *p,
                      size_t chunk)
{
    synth_pair sp;
    cr_assert_eq(synth_make(kind, seed, size, &sp), 0, "synth %s", kind);
    buf_t pkg, out;
    int rc = make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, p, &pkg);
    cr_assert_eq(rc, 0, "diff %s/%llu/%zu: %s", kind, (unsigned long long)seed, size,
                 upd_strerror(rc));
    for (int in_place = 0; in_place < 2; in_place++) {
        rc = apply_mem(pkg.p, pkg.n, sp.old_img, sp.old_len, in_place, chunk, 0, &out);
        cr_assert_eq(rc, 0, "apply %s in_place=%d: %s", kind, in_place, upd_strerror(rc));
        check_out(&out, &sp, "mem", kind, in_place);
        buf_free(&out);
        /* files: in place with a journal (the CLI's default), out of place */
        for (size_t b = 0; b < sizeof file_backends / sizeof *file_backends; b++) {
            const file_backend *fb = &file_backends[b];
            rc = apply_file(fb, pkg.p, pkg.n, sp.old_img, sp.old_len, in_place, 1, &out);
            cr_assert_eq(rc, 0, "apply %s %s in_place=%d: %s", fb->name, kind, in_place,
                         upd_strerror(rc));
            check_out(&out, &sp, fb->name, kind, in_place);
            buf_free(&out);
        }
    }
    buf_free(&pkg);
    synth_free(&sp);
}

Test(roundtrip, every_kind_small, .description = "all kinds at 64 KiB, 3 seeds, both modes",
     .timeout = 120)
{
    for (const char *const *k = synth_kinds(); *k; k++)
        for (uint64_t seed = 1; seed <= 3; seed++)
            roundtrip(*k, seed, 64 << 10, NULL, 0);
}

Test(roundtrip, every_kind_medium, .description = "all kinds at 2 MiB: multi-piece ops, cycles",
     .timeout = 300)
{
    for (const char *const *k = synth_kinds(); *k; k++)
        roundtrip(*k, 11, 2 << 20, NULL, 0);
}

Test(roundtrip, tiny_sizes, .description = "images of 0..40 bytes in every kind", .timeout = 60)
{
    for (const char *const *k = synth_kinds(); *k; k++)
        for (size_t sz = 0; sz <= 40; sz += 5)
            roundtrip(*k, sz + 1, sz, NULL, 0);
}

Test(roundtrip, trickled_push, .description = "pushing 1, 7 and 4093 bytes at a time changes nothing",
     .timeout = 120)
{
    static const size_t chunks[] = { 1, 7, 4093 };
    for (size_t i = 0; i < 3; i++) {
        roundtrip("insert-delete", 5, 256 << 10, NULL, chunks[i]);
        roundtrip("transpose", 5, 256 << 10, NULL, chunks[i]);
    }
}

/* Every kind in KINDS through a generator with stash budget BUDGET. */
static void with_budget(uint64_t budget, const char *const *kinds, uint64_t seed)
{
    upd_diff_params p;
    upd_diff_params_default(&p);
    p.threads = 1;
    p.level = 3;
    p.stash_max = budget;
    for (; *kinds; kinds++)
        roundtrip(*kinds, seed, 1 << 20, &p, 0);
}

Test(roundtrip, no_stash_budget, .description = "stash-max 0: every cycle becomes literals, still exact",
     .timeout = 120)
{
    static const char *const kinds[] = { "transpose", "rotate", "reverse-blocks", "mixed", "exe-like", NULL };
    with_budget(0, kinds, 2);
}

Test(roundtrip, small_stash_budget, .description = "a 4 KiB stash budget: part stash, part literal",
     .timeout = 120)
{
    static const char *const kinds[] = { "transpose", "rotate", "reverse-blocks", "mixed", NULL };
    with_budget(4096, kinds, 3);
}

/* The defaults, on one thread at level 3: quick, and the same bytes on
 * every machine. */
static void quick_params(upd_diff_params *p)
{
    upd_diff_params_default(p);
    p->threads = 1;
    p->level = 3;
}

Test(roundtrip, saved_ranges_dropped, .timeout = 300,
     .description = "a window too small for every saved range: DROPs forget dead ones, fewer live at once, still exact both ways")
{
    static const char *const kinds[] = { "swap-small", "swap-small" };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        upd_diff_params p;
        quick_params(&p);
        p.trials = 1;   /* one schedule, with and without DROPs (the window can pick another trial) */
        synth_pair sp;
        cr_assert_eq(synth_make(kinds[i], 21 + i, (1u + 2 * i) << 20, &sp), 0);
        buf_t plain, dropping, out;
        upd_diff_stats st;
        cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &p, &plain), 0);
        cr_assert_eq(make_pkg_dropping(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &p,
                                       &dropping, &st), 0, "%s: never dropped", kinds[i]);
        upd_header h0, h1;
        cr_assert_eq(upd_header_decode(plain.p, plain.n, &h0), 0);
        cr_assert_eq(upd_header_decode(dropping.p, dropping.n, &h1), 0);
        cr_log_info("%s: %u saved ranges at once, %u with %llu DROPs; %zu -> %zu bytes", kinds[i],
                    h0.stash_ranges, h1.stash_ranges, (unsigned long long)st.ops[UPD_OP_DROP],
                    plain.n, dropping.n);
        cr_assert_lt(h1.stash_ranges, h0.stash_ranges, "%s: DROPs kept as many live", kinds[i]);
        cr_assert_eq(h1.stash_size, h0.stash_size, "%s: the same ranges saved", kinds[i]);
        for (int in_place = 0; in_place < 2; in_place++) {
            cr_assert_eq(apply_mem(dropping.p, dropping.n, sp.old_img, sp.old_len, in_place, 0, 0,
                                   &out), 0, "%s in place %d", kinds[i], in_place);
            check_out(&out, &sp, in_place ? "in place" : "out of place", kinds[i], 21);
            buf_free(&out);
        }
        buf_free(&plain);
        buf_free(&dropping);
        synth_free(&sp);
    }
}

Test(roundtrip, smallest_segments, .description = "2 MiB segments force many segments per package",
     .timeout = 120)
{
    upd_diff_params p;
    upd_diff_params_default(&p);
    p.threads = 2;
    p.level = 1;
    p.segment_size = 2u << 20;
    roundtrip("unrelated", 4, 6 << 20, &p, 0);
    roundtrip("grow", 4, 3 << 20, &p, 65536);
}

Test(roundtrip, any_thread_count_same_package, .timeout = 300,
     .description = "an 8 MiB image in LZMA2 segments, and a 24 MiB text whose zstd segments use "
                    "literal dictionaries, in 2 MiB segments, matched and compressed on 1 and on 3 "
                    "threads: the same package")
{
    for (int text = 0; text < 2; text++) {
        synth_pair sp;
        cr_assert_eq(text ? text_dict_pair(5, 24u << 20, 3000, &sp)
                          : synth_make("exe-like", 5, 8u << 20, &sp), 0);
        upd_diff_params p;
        upd_diff_params_default(&p);
        p.level = 1;
        p.segment_size = 2u << 20;
        /* an encoder reused from segment to segment carries nothing over either */
        p.lzma = text ? UPD_LZMA_NEVER : UPD_LZMA_ALWAYS;
        buf_t pkg[2];
        for (int i = 0; i < 2; i++) {
            p.threads = i ? 3 : 1;
            cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &p, &pkg[i]), 0);
        }
        /* a compression context reused from segment to segment (on one
         * thread every segment shares one) carries no parameter over: a
         * dictionary frame's window would change the next frame */
        if (text)
            cr_assert(pkg_dict_segments(&pkg[0]) > 0 && pkg_segments(&pkg[0]) > 2, "%d of %d",
                      pkg_dict_segments(&pkg[0]), pkg_segments(&pkg[0]));
        else
            cr_assert(pkg_lzma_segments(&pkg[0]) >= 2, "%d LZMA2 segments",
                      pkg_lzma_segments(&pkg[0]));
        cr_assert(pkg[0].n == pkg[1].n && !memcmp(pkg[0].p, pkg[1].p, pkg[0].n),
                  "text %d, 1 thread: %zu bytes, 3 threads: %zu bytes, or other bytes", text,
                  pkg[0].n, pkg[1].n);
        buf_t out;
        cr_assert_eq(apply_mem(pkg[0].p, pkg[0].n, sp.old_img, sp.old_len, 1, 0, 0, &out), 0);
        check_out(&out, &sp, "mem", text ? "text" : "exe-like", 1);
        buf_free(&out);
        buf_free(&pkg[0]);
        buf_free(&pkg[1]);
        synth_free(&sp);
    }
}

Test(roundtrip, stash_budget_is_respected, .description = "header stash size never exceeds --stash-max")
{
    synth_pair sp;
    cr_assert_eq(synth_make("reverse-blocks", 9, 1 << 20, &sp), 0);
    for (uint64_t budget = 0; budget <= (1u << 20); budget = budget ? budget * 4 : 1024) {
        upd_diff_params p;
        upd_diff_params_default(&p);
        p.level = 1;
        p.stash_max = budget;
        buf_t pkg;
        cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &p, &pkg), 0);
        upd_header h;
        cr_assert_eq(upd_header_decode(pkg.p, pkg.n, &h), 0);
        cr_assert_leq(h.stash_size, budget, "stash %llu > budget %llu",
                      (unsigned long long)h.stash_size, (unsigned long long)budget);
        buf_free(&pkg);
    }
    synth_free(&sp);
}

/* Out of place the old image is the source, which nothing writes: STASH
 * ops are validated but save nothing, no stash store is needed, and the
 * window need not hold an in-memory stash.  In place the same window is
 * too small without a stash handle. */
Test(roundtrip, out_of_place_needs_no_stash, .timeout = 60)
{
    synth_pair sp;
    cr_assert_eq(synth_make("transpose", 3, 4 << 20, &sp), 0);
    upd_diff_params dp;
    upd_diff_params_default(&dp);
    dp.level = 1;
    buf_t pkg, out;
    cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &dp, &pkg), 0);
    upd_header h;
    cr_assert_eq(upd_header_decode(pkg.p, pkg.n, &h), 0);
    cr_assert_gt(h.stash_size, 4096, "a transposition needs stash bytes in place");
    /* the smallest window (in 4 KiB steps) that holds everything but a stash */
    upd_apply_params base = { .flags = UPD_APPLY_INSECURE, .window = 1u << 20 };
    while (upd_applier_mem_need(&h, base.window) > base.window)
        base.window += 4096;
    cr_assert_gt(upd_applier_mem_need(&h, base.window) + h.stash_size, base.window);
    upd_apply_stats st;
    cr_assert_eq(apply_mem_with(pkg.p, pkg.n, sp.old_img, sp.old_len, 1, 0, &base, &out, &st),
                 UPD_E_LIMIT, "in place, an in-memory stash must fit the window");
    buf_free(&out);
    cr_assert_eq(apply_mem_with(pkg.p, pkg.n, sp.old_img, sp.old_len, 0, 0, &base, &out, &st), 0);
    check_out(&out, &sp, "mem", "transpose", 0);
    cr_assert_gt(st.ops[UPD_OP_STASH], 0, "the STASH ops were validated");
    cr_assert_eq(st.stash_bytes, 0, "out of place nothing is stashed");
    buf_free(&out);
    buf_free(&pkg);
    synth_free(&sp);
}

/* Apply PKG in place over SP's old image (with a journal in memory when
 * JOURNAL_BYTES is given: it gets the bytes written to the journal); the
 * target's I/O counters. */
static upd_io_stats apply_in_place_journal(const buf_t *pkg, const synth_pair *sp,
                                           uint64_t *journal_bytes)
{
    upd_io *t, *j = NULL;
    cr_assert_eq(upd_io_open_mem(&t, sp->old_img, sp->old_len, sp->old_len), 0);
    if (journal_bytes)
        cr_assert_eq(upd_io_open_mem(&j, NULL, 0, 64u << 20), 0);
    upd_applier *a;
    upd_apply_params ap = { .target = t, .journal = j, .flags = UPD_APPLY_INSECURE };
    cr_assert_eq(upd_applier_create(&a, &ap), 0);
    cr_assert_eq(upd_applier_push(a, pkg->p, pkg->n), 0);
    cr_assert_eq(upd_applier_finish(a), 0);
    const uint8_t *d;
    size_t n;
    cr_assert_eq(upd_io_mem_view(t, &d, &n), 0);
    cr_assert(n == sp->new_len && (n == 0 || memcmp(d, sp->new_img, n) == 0), "result differs");
    upd_io_stats st;
    upd_io_get_stats(t, &st);
    if (journal_bytes) {
        upd_apply_stats ast;
        upd_applier_stats(a, &ast);
        *journal_bytes = ast.journal_bytes;
    }
    upd_applier_free(a);
    upd_io_close(t);
    upd_io_close(j);
    return st;
}

static upd_io_stats apply_in_place_stats(const buf_t *pkg, const synth_pair *sp)
{
    return apply_in_place_journal(pkg, sp, NULL);
}

Test(roundtrip, identical_costs_nothing, .description = "identical images: no segment, no write")
{
    synth_pair sp;
    cr_assert_eq(synth_make("identical", 1, 1 << 20, &sp), 0);
    buf_t pkg;
    cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, NULL, &pkg), 0);
    upd_header h;
    cr_assert_eq(upd_header_decode(pkg.p, pkg.n, &h), 0);
    cr_assert_eq(h.seg_count, 0);
    cr_assert_eq(pkg.n, UPD_HEADER_MIN + UPD_AUTH_SIZE);   /* no ids: 252 bytes */
    upd_io_stats st = apply_in_place_stats(&pkg, &sp);
    cr_assert_eq(st.bytes_written, 0, "identical image must not be written");
    buf_free(&pkg);
    synth_free(&sp);
}

/* Apply PKG in place over OLD: the result is NEW.  Frees all three. */
static void in_place_exact_and_free(buf_t *pkg, uint8_t *old_img, size_t on, uint8_t *new_img,
                                    size_t nn)
{
    buf_t out;
    cr_assert_eq(apply_mem(pkg->p, pkg->n, old_img, on, 1, 0, 0, &out), 0);
    cr_assert(out.n == nn && memcmp(out.p, new_img, nn) == 0);
    buf_free(&out);
    buf_free(pkg);
    free(old_img);
    free(new_img);
}

Test(roundtrip, shifted_data_is_matched,
     .description = "random data shifted by inserts, deletes and byte edits is found, not sent")
{
    /* incompressible data: anything the matcher misses costs its full size */
    enum { N = 2 << 20, STEP = 65536, INS = 37, DEL = 50 };
    uint8_t *old_img = malloc(N), *new_img = malloc(2 * N);
    cr_assert(old_img && new_img);
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        old_img[i] = (uint8_t)x;
    }
    size_t nn = 0, inserted = 0;
    for (size_t b = 0; b < N / STEP; b++) {
        size_t cut = b % 2 ? DEL : 0;   /* odd blocks lose their first bytes */
        memcpy(new_img + nn, old_img + b * STEP + cut, STEP - cut);
        for (size_t i = 0; i < STEP - cut; i += 997)   /* edits keep the alignment */
            new_img[nn + i] ^= 0x5A;
        nn += STEP - cut;
        for (int i = 0; i < INS; i++, x ^= x << 13, x ^= x >> 7, x ^= x << 17)
            new_img[nn++] = (uint8_t)x;
        inserted += INS;
    }
    upd_diff_params p;
    upd_diff_params_default(&p);
    p.threads = 1;
    upd_diff_stats st;
    buf_t pkg = { 0 };
    cr_assert_eq(upd_diff(old_img, N, new_img, nn, &p, buf_sink, &pkg, &st), 0);
    /* inserted bytes are the only new data; byte edits ride in diffs */
    cr_assert_leq(st.lit_bytes, 2 * inserted, "%llu literal bytes for %zu inserted",
                  (unsigned long long)st.lit_bytes, inserted);
    cr_assert_geq(st.copy_bytes + st.diff_bytes + st.unchanged_bytes, nn - 2 * inserted);
    cr_assert_lt(pkg.n, nn / 50, "package %zu bytes for a %zu-byte image", pkg.n, nn);
    in_place_exact_and_free(&pkg, old_img, N, new_img, nn);
}

/* Not a timing test: the pair takes well under a second; before the
 * matcher reused long matches it took hours (each position of the last
 * 2 MiB of a zero run searched the whole run), so the timeout only
 * catches the quadratic scan coming back. */
Test(roundtrip, long_runs_match_in_linear_time, .timeout = 120,
     .description = "a zero run the alignment covers but for a few bytes is not searched at every position")
{
    enum { HEAD = 1 << 20, RUN = 8 << 20, TAIL = 4096, GAP = 256 << 10 };
    size_t on = HEAD + RUN + TAIL + RUN + TAIL, nn = HEAD + RUN + TAIL + TAIL;
    uint8_t *old_img = calloc(1, on), *new_img = calloc(1, nn);
    cr_assert(old_img && new_img);
    uint64_t x = 0x2545F4914F6CDD1Du;
    for (size_t i = 0; i < on; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (i < HEAD || (i >= HEAD + RUN && i < HEAD + RUN + TAIL) || i >= on - TAIL)
            old_img[i] = (uint8_t)(x | 1);
    }
    /* old: head, a zero run with 8 stray bytes near its end, a block, a
     * clean zero run, a block; new: head, a clean zero run, the block */
    for (int k = 1; k <= 8; k++)
        old_img[HEAD + RUN - (size_t)k * GAP] = 7;
    memcpy(new_img, old_img, HEAD);
    memcpy(new_img + HEAD + RUN, old_img + HEAD + RUN, TAIL);
    memcpy(new_img + HEAD + RUN + TAIL, old_img + on - TAIL, TAIL);
    buf_t pkg;
    cr_assert_eq(make_pkg(old_img, on, new_img, nn, NULL, &pkg), 0);
    cr_assert_lt(pkg.n, 16384, "package %zu bytes", pkg.n);
    in_place_exact_and_free(&pkg, old_img, on, new_img, nn);
}

/* Also a hang guard, not a timing test (0.3 s; before the fix over a
 * minute): the suffix array puts the old image's last suffixes (all zeros)
 * before longer zero strings; a search that took them for larger went the
 * wrong way, compared the whole run at every probe and found a 2-byte
 * match, at every position of the run. */
Test(roundtrip, run_at_the_old_image_end_is_searched_in_linear_time, .timeout = 120,
     .description = "new data that continues past a run which ends the old image")
{
    enum { HEAD = 1 << 20, RUN = 8 << 20, TAIL = 4096 };
    size_t on = HEAD + RUN, nn = HEAD + RUN + TAIL;
    uint8_t *old_img = calloc(1, on), *new_img = calloc(1, nn);
    cr_assert(old_img && new_img);
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < HEAD; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        old_img[i] = (uint8_t)x;
        new_img[i] = (uint8_t)(x >> 8);   /* a head of its own */
    }
    for (size_t i = HEAD + RUN; i < nn; i++)
        new_img[i] = (uint8_t)(i | 1);
    buf_t pkg;
    cr_assert_eq(make_pkg(old_img, on, new_img, nn, NULL, &pkg), 0);
    in_place_exact_and_free(&pkg, old_img, on, new_img, nn);
}

/* SP with two N-byte images: the old one xorshift bytes from SEED, the
 * new one empty (new_len 0) for the caller to fill. */
static void random_old(synth_pair *sp, size_t n, uint64_t seed)
{
    *sp = (synth_pair){ .old_len = n, .old_img = malloc(n), .new_img = malloc(n) };
    cr_assert(sp->old_img && sp->new_img);
    for (size_t i = 0; i < n; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        sp->old_img[i] = (uint8_t)seed;
    }
}

/* Deleting 4 bytes every 256 makes about 4,000 ops of 252 bytes that
 * write the image front to back without a gap.  Queued and joined, they
 * reach the target as a few large requests (one per I/O buffer or queue),
 * not one request per op; grouped, their reads go in batches of up to 64
 * steps; journaled, the same. */
Test(roundtrip, adjacent_writes_are_joined, .description = "small adjacent ops reach the target as few large requests")
{
    enum { N = 1 << 20, EVERY = 256, DEL = 4 };
    synth_pair sp;
    random_old(&sp, N, 0x243F6A8885A308D3u);
    for (size_t i = 0; i < N; i++)
        if (i % EVERY >= DEL)
            sp.new_img[sp.new_len++] = sp.old_img[i];
    buf_t pkg;
    cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, NULL, &pkg), 0);
    for (int journal = 0; journal < 2; journal++) {
        uint64_t jb = 0;
        upd_io_stats st = apply_in_place_journal(&pkg, &sp, journal ? &jb : NULL);
        cr_assert_geq(st.bytes_written, sp.new_len - sp.new_len / 8, "the image moved");
        cr_assert_leq(st.writes, sp.new_len / 65536 + 32,
                      "journal %d: %llu write requests for %zu bytes in ops of <= %d",
                      journal, (unsigned long long)st.writes, sp.new_len, EVERY);
        cr_assert_leq(st.batches, sp.new_len / EVERY / 16,
                      "journal %d: %llu batches for %llu reads of %zu ops",
                      journal, (unsigned long long)st.batches, (unsigned long long)st.reads,
                      sp.new_len / EVERY);
    }
    buf_free(&pkg);
    synth_free(&sp);
}

Test(roundtrip, sparse_edits_write_little, .description = "same-offset edits write about what changed")
{
    synth_pair sp;
    cr_assert_eq(synth_make("same-offset-edits", 2, 4 << 20, &sp), 0);
    size_t changed = 0;
    for (size_t i = 0; i < sp.new_len; i++)
        changed += sp.old_img[i] != sp.new_img[i];
    buf_t pkg;
    cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, NULL, &pkg), 0);
    upd_io_stats st = apply_in_place_stats(&pkg, &sp);
    /* the edits ride in DIFF ops over their own offsets with the unchanged
     * runs inside: runs shorter than 64 bytes are written through, longer
     * ones not at all, so at most 64 extra bytes per changed byte, far
     * below the image size (writing the ops whole writes all of it) */
    cr_assert_leq(st.bytes_written, changed * 65, "wrote %llu for %zu changed bytes",
                  (unsigned long long)st.bytes_written, changed);
    cr_assert_lt(st.bytes_written, sp.new_len / 8);
    buf_free(&pkg);
    synth_free(&sp);
}

/* Out of place onto OUT_IO (a memory target that may hold anything): the
 * result is SP's new image; the target's counters. */
static upd_io_stats out_of_place_onto(const buf_t *pkg, const uint8_t *old_img, size_t old_len,
                                      const uint8_t *new_img, size_t new_len, upd_io *out_io)
{
    upd_io *s;
    cr_assert_eq(upd_io_open_mem(&s, old_img, old_len, old_len), 0);
    upd_apply_params p = { .target = out_io, .source = s, .flags = UPD_APPLY_INSECURE };
    int rc = apply_io(&p, pkg->p, pkg->n, 0, NULL);
    cr_assert_eq(rc, 0, "%s", upd_errname(rc));
    const uint8_t *d;
    size_t n;
    cr_assert_eq(upd_io_mem_view(out_io, &d, &n), 0);
    cr_assert(n == new_len && (!n || !memcmp(d, new_img, n)), "out of place: not exact");
    upd_io_stats st;
    upd_io_get_stats(out_io, &st);
    upd_io_close(s);
    return st;
}

/* Out of place the target gets each new byte once: the ops' writes, then
 * the unchanged runs between them copied from the source (not the whole
 * old image first, then the ops over it); whatever a resizable target held
 * before does not survive. */
Test(roundtrip, out_of_place_writes_the_new_image_once, .timeout = 60)
{
    static const char *const kinds[] = { "same-offset-edits", "text-edits", "shrink", "grow",
                                         "transpose" };
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        synth_pair sp;
        cr_assert_eq(synth_make(kinds[k], 4, 1 << 20, &sp), 0);
        buf_t pkg;
        cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, NULL, &pkg), 0);
        size_t junk_len = sp.old_len + sp.new_len + 4096;
        uint8_t *junk = malloc(junk_len);
        cr_assert_not_null(junk);
        for (size_t i = 0; i < junk_len; i++)
            junk[i] = (uint8_t)(i * 131 + 17);
        upd_io *t;
        cr_assert_eq(upd_io_open_mem(&t, junk, junk_len, junk_len), 0);
        upd_io_stats st = out_of_place_onto(&pkg, sp.old_img, sp.old_len, sp.new_img, sp.new_len, t);
        cr_assert_leq(st.bytes_written, sp.new_len, "%s: %llu bytes written for a %zu-byte image",
                      kinds[k], (unsigned long long)st.bytes_written, sp.new_len);
        upd_io_close(t);
        free(junk);
        buf_free(&pkg);
        synth_free(&sp);
    }
}

/* The copy of the unchanged runs reports its own progress: from 0 to its
 * total (the unchanged bytes), never backwards, a bounded number of times. */
typedef struct {
    uint64_t first_done, last_done, total, calls;
    int backwards;
} copy_progress;

static void on_progress(void *user, int phase, uint64_t done, uint64_t total)
{
    copy_progress *c = user;
    if (phase != UPD_PHASE_COPY_UNCHANGED)
        return;
    if (!c->calls++)
        c->first_done = done;
    c->backwards |= done < c->last_done || (c->total && total != c->total);
    c->last_done = done;
    c->total = total;
}

Test(roundtrip, out_of_place_copy_reports_progress)
{
    synth_pair sp;
    cr_assert_eq(synth_make("exe-like", 5, 4 << 20, &sp), 0);
    buf_t pkg, out;
    cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, NULL, &pkg), 0);
    copy_progress c = { 0 };
    upd_apply_params base = { .flags = UPD_APPLY_INSECURE, .progress = on_progress,
                              .progress_user = &c };
    cr_assert_eq(apply_mem_with(pkg.p, pkg.n, sp.old_img, sp.old_len, 0, 0, &base, &out, NULL), 0);
    check_out(&out, &sp, "mem", "exe-like", 0);
    uint64_t same = 0;
    for (size_t i = 0; i < sp.new_len && i < sp.old_len; i++)
        same += sp.old_img[i] == sp.new_img[i];
    cr_assert(c.calls >= 2 && c.calls <= 300, "%llu calls", (unsigned long long)c.calls);
    cr_assert(!c.backwards && c.first_done == 0 && c.last_done == c.total);
    /* the unchanged runs no op covers: some of the bytes equal at the same
     * offset (short runs ride inside ops) */
    cr_assert(c.total > 0 && c.total <= same, "copied %llu of %llu unchanged bytes",
              (unsigned long long)c.total, (unsigned long long)same);
    buf_free(&out);
    c = (copy_progress){ 0 };
    cr_assert_eq(apply_mem_with(pkg.p, pkg.n, sp.old_img, sp.old_len, 1, 0, &base, &out, NULL), 0);
    cr_assert_eq(c.calls, 0, "in place nothing is copied");
    buf_free(&out);
    buf_free(&pkg);
    synth_free(&sp);
}

/* Old bytes cut off by a shrink are zeros once the image grows back, out
 * of place as in place: the unchanged runs copied from the source stop at
 * the smallest length the image had. */
Test(roundtrip, out_of_place_shrink_then_grow_leaves_zeros)
{
    enum { N = 64 << 10, CUT = 16 << 10 };
    uint8_t *old_img = malloc(N), *new_img = calloc(1, N);
    cr_assert(old_img && new_img);
    for (size_t i = 0; i < N; i++)
        old_img[i] = (uint8_t)(i * 29 + 1);
    memcpy(new_img, old_img, CUT);
    new_img[N - 1] = 0x77;
    craft_seg seg = { .ops = { { .kind = UPD_OP_RESIZE, .len = CUT },
                               { .kind = UPD_OP_RESIZE, .len = N },
                               { .kind = UPD_OP_FILL, .dst = N - 1, .len = 1, .fill = 0x77 } },
                      .nops = 3 };
    buf_t pkg;
    cr_assert_eq(craft_pkg(old_img, N, new_img, N, 0, &seg, 1, &pkg), 0);
    /* a target holding junk: none of it survives the shrink */
    uint8_t *junk = malloc(N);
    cr_assert_not_null(junk);
    memset(junk, 0xee, N);
    upd_io *t;
    cr_assert_eq(upd_io_open_mem(&t, junk, N, N), 0);
    free(junk);
    upd_io_stats st = out_of_place_onto(&pkg, old_img, N, new_img, N, t);
    cr_assert_eq(st.bytes_written, CUT + 1, "the bytes below the cut, and the fill");
    upd_io_close(t);
    buf_free(&pkg);
    free(old_img);
    free(new_img);
}

Test(roundtrip, scattered_edits_journal_little,
     .description = "in place, the journal saves the blocks same-offset edits touch, not their ops")
{
    /* incompressible data with a byte changed every 64 KiB: one DIFF op
     * per MiB, almost all of it a zero run the applier leaves alone */
    enum { N = 4 << 20, EVERY = 64 << 10 };
    synth_pair sp;
    random_old(&sp, N, 0x2545F4914F6CDD1Du);
    sp.new_len = N;
    memcpy(sp.new_img, sp.old_img, N);
    for (size_t i = EVERY / 2; i < N; i += EVERY)
        sp.new_img[i] ^= 0x5a;
    buf_t pkg;
    cr_assert_eq(make_pkg(sp.old_img, N, sp.new_img, N, NULL, &pkg), 0);
    uint64_t jbytes;
    upd_io_stats st = apply_in_place_journal(&pkg, &sp, &jbytes);
    const uint64_t blocks = N / EVERY;   /* 4 KiB blocks holding a change */
    cr_assert_leq(st.bytes_written, blocks, "wrote %llu bytes for %llu changed",
                  (unsigned long long)st.bytes_written, (unsigned long long)blocks);
    /* the changed bytes' blocks (a torn write may damage a whole block),
     * plus the journal's slots, directories and validation log; saving
     * the ops' whole ranges would take the image's 4 MiB */
    cr_assert_leq(jbytes, blocks * 4096 + (64u << 10), "journal %llu for %llu blocks",
                  (unsigned long long)jbytes, (unsigned long long)blocks);
    buf_free(&pkg);
    free(sp.old_img);
    free(sp.new_img);
}

/* One crafted DIFF of LEN bytes from SRC to DST over a 4 MiB image,
 * applied in place with the smallest window (1 MiB: 128 KiB steps; with
 * a journal, which takes 2 MiB more, 384 KiB steps): the result is exact.  Its diff mixes long and short zero
 * runs, non-zero stretches across step boundaries and runs that end on
 * them; SPLIT stores its diff bytes as heads then tails.  Returns the
 * bytes written to the target. */
static uint64_t sparse_op_in_place(uint64_t dst, uint64_t src, uint64_t len, int journal,
                                   int split)
{
    enum { N = 4 << 20, STEP = 128 << 10 };
    uint8_t *old_img = malloc(N), *new_img = malloc(N), *runs = malloc(len + 10);
    uint8_t *bytes = malloc(len);
    cr_assert(old_img && new_img && runs && bytes);
    for (size_t i = 0; i < N; i++)
        old_img[i] = (uint8_t)(i * 7 + (i >> 11));
    memcpy(new_img, old_img, N);
    for (uint64_t i = 0; i < len; i++) {
        uint8_t d = 0;
        if (i % 100000 < 3000 && i % 50)                      /* dense, short zero runs */
            d = (uint8_t)(i * 13 | 1);
        else if (i % 7919 == 0 || (i + 3) % STEP < 6 || i == STEP - 64)
            d = 0x5a;                                           /* isolated, at step edges */
        new_img[dst + i] = (uint8_t)(old_img[src + i] + d);
    }
    size_t nr, nb;
    upd_sparse_encode(old_img + src, new_img + dst, len, runs, &nr, bytes, &nb);
    long tails = split ? split_tails(runs, nr, bytes, nb, len) : 0;
    cr_assert(!split || (tails > 0 && (size_t)tails < nb), "heads and tails both: %ld", tails);
    craft_seg seg = { .ops = { { .kind = UPD_OP_DIFF, .dst = dst, .src = src, .len = len } },
                      .nops = 1, .diff = runs, .diff_len = nr, .dbytes = bytes, .dbyte_len = nb,
                      .dtail_len = (size_t)tails };
    buf_t pkg;
    cr_assert_eq(craft_pkg(old_img, N, new_img, N, 0, &seg, 1, &pkg), 0);
    upd_io *t, *j = NULL;
    cr_assert_eq(upd_io_open_mem(&t, old_img, N, N), 0);
    if (journal)
        cr_assert_eq(upd_io_open_mem(&j, NULL, 0, 64u << 20), 0);
    upd_apply_params p = { .target = t, .journal = j, .window = (journal ? 3u : 1u) << 20,
                           .journal_unit = 64u << 10, .flags = UPD_APPLY_INSECURE };
    upd_apply_stats st;
    int rc = apply_io(&p, pkg.p, pkg.n, 0, &st);
    cr_assert_eq(rc, 0, "%s", upd_errname(rc));
    const uint8_t *d;
    size_t n;
    cr_assert_eq(upd_io_mem_view(t, &d, &n), 0);
    cr_assert(n == N && !memcmp(d, new_img, N), "dst %llu src %llu journal %d split %d: not exact",
              (unsigned long long)dst, (unsigned long long)src, journal, split);
    upd_io_stats ios;
    upd_io_get_stats(t, &ios);
    upd_io_close(t);
    upd_io_close(j);
    buf_free(&pkg);
    free(old_img);
    free(new_img);
    free(runs);
    free(bytes);
    return ios.bytes_written;
}

Test(roundtrip, sparse_diff_steps_exact, .timeout = 120,
     .description = "a sparse DIFF over many steps, backward (overlapping) and over its own bytes, is exact, its diff bytes in record order or split")
{
    const uint64_t len = (3u << 20) + 4321;
    for (int k = 0; k < 4; k++) {
        int journal = k & 1, split = k >> 1;
        /* overlapping from below: walked last step first, everything written */
        cr_assert_eq(sparse_op_in_place(4099, 0, len, journal, split), len);
        /* from above: forward */
        cr_assert_eq(sparse_op_in_place(0, 4099, len, journal, split), len);
        /* over its own bytes: the long zero runs are left alone */
        uint64_t w = sparse_op_in_place(1000, 1000, len, journal, split);
        cr_assert_lt(w, len / 2, "wrote %llu of %llu", (unsigned long long)w,
                     (unsigned long long)len);
    }
}

Test(roundtrip, many_tiny_changes_fit_the_window, .timeout = 120,
     .description = "a byte changed every 100: the generator keeps the package within the applier's window")
{
    size_t n = 4u << 20;
    uint8_t *old_img = malloc(n), *new_img = malloc(n);
    for (size_t i = 0; i < n; i++)
        old_img[i] = (uint8_t)((i * 2654435761u) >> 13);
    memcpy(new_img, old_img, n);
    for (size_t i = 0; i < n; i += 100)
        new_img[i] ^= 0x5a;
    size_t window = 2u << 20;
    upd_diff_params p;
    upd_diff_params_default(&p);
    p.level = 1;
    p.segment_size = 512u << 10;   /* below the minimum: refused */
    buf_t pkg, out;
    cr_assert_eq(make_pkg(old_img, n, new_img, n, &p, &pkg), UPD_E_INVAL);
    p.segment_size = 2u << 20;
    p.window = 8u << 20;
    cr_assert_eq(make_pkg(old_img, n, new_img, n, &p, &pkg), 0);
    upd_header h;
    cr_assert_eq(upd_header_decode(pkg.p, pkg.n, &h), 0);
    cr_assert_leq(upd_applier_mem_need(&h, p.window), p.window);
    cr_assert_eq(apply_mem(pkg.p, pkg.n, old_img, n, 1, 0, p.window, &out), 0);
    cr_assert(memcmp(out.p, new_img, n) == 0);
    buf_free(&out);
    buf_free(&pkg);
    /* a window too small for even one segment: the generator says so */
    p.window = window;
    cr_assert_eq(make_pkg(old_img, n, new_img, n, &p, &pkg), UPD_E_LIMIT);
    buf_free(&pkg);
    free(old_img);
    free(new_img);
}

Test(roundtrip, aim_missed_window_kept, .timeout = 120,
     .description = "a package that cannot come within the aim (window - 6 MiB) is the first attempt that fits the window, not a failure")
{
    upd_diff_params p;
    quick_params(&p);
    synth_pair sp;
    cr_assert_eq(synth_make("exe-like", 3, 1u << 20, &sp), 0);
    buf_t def, tight;
    cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &p, &def), 0);
    /* the generator bounds a segment at 2 MiB decoded: with both buffers,
     * the journal and the I/O buffer, 7 MiB is out of reach of a 7 MiB aim */
    p.window = 13u << 20;
    cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &p, &tight), 0);
    cr_assert(def.n == tight.n && !memcmp(def.p, tight.p, def.n),
              "not the package the default window makes");
    buf_free(&tight);
    p.window = 7u << 20;   /* the aim is the window itself below 12 MiB */
    cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &p, &tight),
                 UPD_E_LIMIT);
    buf_free(&tight);
    buf_free(&def);
    synth_free(&sp);
}

/* Installs the full image PKG (of NEW_IMG) in place over bases longer and
 * shorter than it, journaled or not, each time checking the result. */
static void full_image_over_bases(const buf_t *pkg, const uint8_t *new_img, size_t new_len)
{
    const size_t sizes[] = { 0, 1, 4096, new_len + 12345, 3u << 20 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int journal = 0; journal < 2; journal++) {
            uint8_t *base = malloc(sizes[i] + 1);
            for (size_t k = 0; k < sizes[i]; k++)
                base[k] = (uint8_t)(k * 131 + i);
            upd_io *t, *j = NULL;
            cr_assert_eq(upd_io_open_mem(&t, base, sizes[i], 8u << 20), 0);
            if (journal)
                cr_assert_eq(upd_io_open_mem(&j, NULL, 0, 64u << 20), 0);
            upd_apply_params p = { .target = t, .journal = j, .flags = UPD_APPLY_INSECURE,
                                   .package_id = "os", .installed_version = "1.0" };
            int rc = apply_io(&p, pkg->p, pkg->n, 4096, NULL);
            cr_assert_eq(rc, 0, "base of %zu bytes, journal %d: %s", sizes[i], journal,
                         upd_errname(rc));
            const uint8_t *d;
            size_t n;
            cr_assert_eq(upd_io_mem_view(t, &d, &n), 0);
            cr_assert(n == new_len && (!n || !memcmp(d, new_img, n)), "base of %zu bytes: not exact",
                      sizes[i]);
            upd_io_close(t);
            upd_io_close(j);
            free(base);
        }
    }
}

/* A full image (a package from the empty image) installs in place over any
 * base, longer or shorter than the new image, journaled or not; it fits
 * any installed version, and the rollback check still holds.  The empty
 * image as a full image (no op at all) cuts the target to nothing. */
Test(roundtrip, full_image_over_any_base, .timeout = 120)
{
    synth_pair sp;
    cr_assert_eq(synth_make("exe-like", 5, 256 << 10, &sp), 0);
    upd_diff_params dp;
    upd_diff_params_default(&dp);
    dp.threads = 1;
    dp.package_id = "os";
    dp.from_version = "";
    dp.to_version = "2.0";
    buf_t pkg;
    cr_assert_eq(make_pkg(NULL, 0, sp.new_img, sp.new_len, &dp, &pkg), 0);
    full_image_over_bases(&pkg, sp.new_img, sp.new_len);
    buf_t empty;
    cr_assert_eq(make_pkg(NULL, 0, NULL, 0, &dp, &empty), 0);
    full_image_over_bases(&empty, NULL, 0);
    buf_free(&empty);
    /* anti-rollback still applies to a full image */
    upd_io *t;
    cr_assert_eq(upd_io_open_mem(&t, sp.old_img, sp.old_len, 8u << 20), 0);
    upd_apply_params p = { .target = t, .flags = UPD_APPLY_INSECURE, .installed_version = "3.0" };
    cr_assert_eq(apply_io(&p, pkg.p, pkg.n, 0, NULL), UPD_E_PKG_ROLLBACK);
    const uint8_t *d;
    size_t n;
    cr_assert_eq(upd_io_mem_view(t, &d, &n), 0);
    cr_assert(n == sp.old_len && !memcmp(d, sp.old_img, n), "refused full image wrote");
    upd_io_close(t);
    buf_free(&pkg);
    synth_free(&sp);
}

/* Text with lines made of pieces of the text before them: the literals
 * are compressed against a window of the image (lits.c).  A line of NUL
 * bytes among them matches nothing in the window but the segment's own
 * literals, which both sides zero: an applier that read them as they are
 * would decode other literals (the image would not hash right). */
Test(roundtrip, literal_dictionary, .timeout = 120)
{
    synth_pair sp;
    cr_assert_eq(text_dict_pair(21, 192 << 10, 24, &sp), 0);
    const uint8_t *new_img = sp.new_img;
    size_t nn = sp.new_len;
    upd_diff_params p;
    upd_diff_params_default(&p);
    p.threads = 1;
    buf_t with, without;
    cr_assert_eq(make_pkg(sp.old_img, sp.old_len, new_img, nn, &p, &with), 0);
    p.dict_max = 0;
    cr_assert_eq(make_pkg(sp.old_img, sp.old_len, new_img, nn, &p, &without), 0);
    cr_assert_gt(pkg_dict_segments(&with), 0);
    cr_assert_eq(pkg_dict_segments(&without), 0);
    cr_assert_lt(with.n, without.n - without.n / 20, "%zu bytes with a dictionary, %zu without",
                 with.n, without.n);
    for (int in_place = 0; in_place < 2; in_place++) {
        buf_t out;
        cr_assert_eq(apply_mem(with.p, with.n, sp.old_img, sp.old_len, in_place, 4096, 0, &out), 0);
        cr_assert(out.n == nn && !memcmp(out.p, new_img, nn), "in place %d: not exact", in_place);
        buf_free(&out);
    }
    /* journaled, and pushed a byte at a time */
    upd_io *t, *j;
    cr_assert_eq(upd_io_open_mem(&t, sp.old_img, sp.old_len, nn + sp.old_len), 0);
    cr_assert_eq(upd_io_open_mem(&j, NULL, 0, 64u << 20), 0);
    upd_apply_params ap = { .target = t, .journal = j, .flags = UPD_APPLY_INSECURE };
    cr_assert_eq(apply_io(&ap, with.p, with.n, 1, NULL), 0);
    const uint8_t *d;
    size_t n;
    cr_assert_eq(upd_io_mem_view(t, &d, &n), 0);
    cr_assert(n == nn && !memcmp(d, new_img, nn), "journaled: not exact");
    upd_io_close(t);
    upd_io_close(j);
    buf_free(&with);
    buf_free(&without);
    synth_free(&sp);
}

/* The frame of SRC[0..N) at LEVEL in one piece, with no size pledged, as
 * the generator made it before it cut blocks between streams: its size. */
static size_t one_block(const uint8_t *src, size_t n, int level)
{
    size_t cap = ZSTD_compressBound(n), r;
    uint8_t *out = malloc(cap);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    cr_assert(out && cc);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 0);
    ZSTD_outBuffer o = { out, cap, 0 };
    ZSTD_inBuffer in = { src, n, 0 };
    r = ZSTD_compressStream2(cc, &o, &in, ZSTD_e_continue);
    while (!ZSTD_isError(r) && (r = ZSTD_compressStream2(cc, &o, &in, ZSTD_e_end)))
        ;
    cr_assert(!ZSTD_isError(r));
    ZSTD_freeCCtx(cc);
    free(out);
    return o.pos;
}

/* 4 MiB of random bytes with every 16th one changed in place: DIFF ops
 * alone, so a segment of several blocks with no literal stream. */
static void edits_only(synth_pair *sp)
{
    size_t n = 4u << 20;
    random_old(sp, n, 7);
    for (size_t i = 0; i < n; i++)
        sp->new_img[i] = (uint8_t)(sp->old_img[i] + (i % 16 == 0));
    sp->new_len = n;
}

/* N random bytes holding a little-endian 32-bit address every 8 to 15
 * bytes, each 0x90 higher in the new image: what a relink does to code
 * that calls past an insertion (a changed low byte, then a carry or not).
 * RANDOM_DIFF: two random non-zero changes at each place instead. */
static void moved_addresses(synth_pair *sp, size_t n, int random_diff)
{
    random_old(sp, n, 11);
    memcpy(sp->new_img, sp->old_img, n);
    sp->new_len = n;
    uint64_t x = 11;
    for (size_t i = 0; i + 5 <= n; i += 8 + (size_t)(x >> 61)) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint8_t *a = sp->new_img + i + 1;
        if (random_diff) {
            a[0] = (uint8_t)(a[0] + ((x >> 40) | 1));
            a[1] = (uint8_t)(a[1] + ((x >> 48) | 1));
        } else {
            uint32_t v = (uint32_t)a[0] | (uint32_t)a[1] << 8 | (uint32_t)a[2] << 16
                         | (uint32_t)a[3] << 24;
            v += 0x90;
            for (int k = 0; k < 4; k++)
                a[k] = (uint8_t)(v >> 8 * k);
        }
    }
}

Test(roundtrip, diff_bytes_split_where_smaller, .timeout = 120,
     .description = "moved addresses get their diff bytes split into heads and tails, random "
                    "changes keep them in record order; both apply exactly")
{
    for (int random_diff = 0; random_diff < 2; random_diff++) {
        synth_pair sp;
        moved_addresses(&sp, 3u << 20, random_diff);
        upd_diff_params p;
        upd_diff_params_default(&p);
        p.threads = 1;
        buf_t pkg, out;
        cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &p, &pkg), 0);
        int n = pkg_segments(&pkg), split = 0;
        cr_assert_gt(n, 0);
        for (int i = 0; i < n; i++) {
            upd_seg_entry e;
            size_t at;
            cr_assert_eq(pkg_segment(&pkg, (uint32_t)i, &e, &at), 0);
            cr_assert(e.dbyte_len && e.dtail_len < e.dbyte_len, "segment %d: %u of %u tails", i,
                      e.dtail_len, e.dbyte_len);
            split += e.dtail_len > 0;
        }
        /* the carries are a stream of their own: 0x01 or nothing; random
         * tails gain nothing apart and cost a block */
        cr_assert_eq(split, random_diff ? 0 : n, "random %d: %d of %d segments split", random_diff,
                     split, n);
        for (int in_place = 0; in_place < 2; in_place++) {
            cr_assert_eq(apply_mem(pkg.p, pkg.n, sp.old_img, sp.old_len, in_place, 4093, 0, &out),
                         0);
            check_out(&out, &sp, "mem", random_diff ? "random changes" : "moved addresses",
                      in_place);
            buf_free(&out);
        }
        buf_free(&pkg);
        synth_free(&sp);
    }
}

Test(roundtrip, streams_get_blocks_of_their_own, .timeout = 120,
     .description = "a segment's zstd frame ends a block at every boundary between two non-empty "
                    "streams and with its last non-empty stream; streams of one block's bytes are "
                    "never larger than as one block")
{
    static const struct {
        const char *kind;     /* NULL: edits_only, or moved_addresses when SPLIT */
        size_t      size;
        int         big;      /* the segment must span several blocks */
        int         split;    /* ... and its diff bytes must be split */
    } c[] = { { "text-edits", 4 << 20, 1, 0 }, { "exe-like", 4 << 20, 1, 0 }, { NULL, 0, 1, 0 },
              { NULL, 4 << 20, 1, 1 }, { "text-edits", 48 << 10, 0, 0 },
              { "same-offset-edits", 64 << 10, 0, 0 } };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        const char *kind = c[i].kind ? c[i].kind : c[i].split ? "moved addresses" : "edits only";
        synth_pair sp;
        if (c[i].kind)
            cr_assert_eq(synth_make(c[i].kind, 7, c[i].size, &sp), 0);
        else if (c[i].split)
            moved_addresses(&sp, c[i].size, 0);
        else
            edits_only(&sp);
        upd_diff_params p;
        upd_diff_params_default(&p);
        p.threads = 1;
        p.dict_max = 0;      /* one frame per segment ... */
        p.lzma = UPD_LZMA_NEVER;   /* ... of zstd */
        buf_t pkg;
        cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &p, &pkg), 0);
        upd_seg_entry e;
        size_t at;
        cr_assert_eq(pkg_segment(&pkg, 0, &e, &at), 0, "%s", kind);
        size_t usize = (size_t)upd_seg_entry_usize(&e);
        const size_t len[] = { e.ctrl_len, e.diff_len, e.dbyte_len - e.dtail_len, e.dtail_len,
                               e.lit_len };
        size_t ends[4096];
        cr_assert(!c[i].split || e.dtail_len, "%s: not split", kind);
        int k = frame_block_ends(pkg.p + at, e.csize, usize, ends, 4096);
        cr_assert_gt(k, 0, "%s: not one frame", kind);
        cr_assert_eq(ends[k - 1], usize, "%s", kind);
        if (c[i].big) {
            /* the boundaries after the control region and each stream
             * after it that has bytes, but the last */
            cr_assert(len[1] && len[2] && usize > ZSTD_BLOCKSIZE_MAX && (c[i].kind || !len[4]),
                      "%s: streams %zu %zu %zu %zu %zu", kind, len[0], len[1], len[2], len[3],
                      len[4]);
            size_t b = 0;
            for (int s = 0; s < 4 && b + len[s] < usize; s++) {
                b += len[s];
                int found = 0;
                for (int x = 0; x < k && !found; x++)
                    found = ends[x] == b;
                cr_assert(found, "%s: no block ends at stream %d's end (%zu)", kind, s, b);
            }
            cr_assert(k > 1 && ends[k - 2] < usize, "%s: an empty last block", kind);
        } else {
            cr_assert_leq(usize, ZSTD_BLOCKSIZE_MAX, "%s", kind);
            uint8_t *raw = malloc(usize);
            cr_assert_not_null(raw);
            cr_assert_eq(ZSTD_decompress(raw, usize, pkg.p + at, e.csize), usize);
            cr_assert_leq(e.csize, one_block(raw, usize, p.level), "%s", kind);
            free(raw);
        }
        buf_free(&pkg);
        synth_free(&sp);
    }
}

/* upd_diff into *PKG with P, its stats into *ST. */
static void diff_with(const synth_pair *sp, const upd_diff_params *p, buf_t *pkg, upd_diff_stats *st)
{
    memset(pkg, 0, sizeof *pkg);
    int rc = upd_diff(sp->old_img, sp->old_len, sp->new_img, sp->new_len, p, buf_sink, pkg, st);
    cr_assert_eq(rc, 0, "diff: %s", upd_strerror(rc));
}

/* The defaults at level 3 on two threads, with LZMA2 segments as LZMA says. */
static upd_diff_params fast_params(unsigned lzma)
{
    upd_diff_params p;
    upd_diff_params_default(&p);
    p.threads = 2;
    p.level = 3;
    p.lzma = lzma;
    return p;
}

Test(roundtrip, trials_keep_the_smallest, .timeout = 300,
     .description = "every kind, every trial count: the smallest trial is emitted, trial 1 is "
                    "the one-trial package (its size, and its bytes where kept), and the result applies exactly")
{
    upd_diff_params p = fast_params(UPD_LZMA_NEVER);   /* trials_then_lzma has the rest */
    int varied = 0;
    for (const char *const *k = synth_kinds(); *k; k++) {
        synth_pair sp;
        cr_assert_eq(synth_make(*k, 7, 512 << 10, &sp), 0, "synth %s", *k);
        buf_t one, pkg;
        upd_diff_stats st1, st;
        p.trials = 1;
        diff_with(&sp, &p, &one, &st1);
        cr_assert(st1.trials == 1 && st1.best_trial == 0 && st1.trial_size[0] == one.n, "%s", *k);
        for (unsigned n = 2; n <= UPD_MAX_TRIALS; n++) {
            p.trials = n;
            diff_with(&sp, &p, &pkg, &st);
            cr_assert_eq(st.trials, n, "%s", *k);
            cr_assert_eq(st.trial_size[0], one.n, "%s: trial 1 is the one-trial package", *k);
            cr_assert(st.pkg_size == pkg.n && st.trial_size[st.best_trial] == pkg.n, "%s", *k);
            for (unsigned t = 0; t < n; t++) {
                cr_assert(st.trial_size[t] > 0 && st.trial_size[t] >= pkg.n,
                          "%s, %u trials: trial %u made %llu bytes, %zu emitted", *k, n, t + 1,
                          (unsigned long long)st.trial_size[t], pkg.n);
                varied |= st.trial_size[t] != st.trial_size[0];
            }
            if (st.best_trial == 0)
                cr_assert(pkg.n == one.n && !memcmp(pkg.p, one.p, one.n), "%s", *k);
            buf_t out;
            cr_assert_eq(apply_mem(pkg.p, pkg.n, sp.old_img, sp.old_len, 1, 0, 0, &out), 0, "%s", *k);
            check_out(&out, &sp, "mem", *k, 1);
            buf_free(&out);
            buf_free(&pkg);
        }
        buf_free(&one);
        synth_free(&sp);
    }
    cr_assert(varied, "no kind gave two trials different packages: the margins do nothing");
}

Test(roundtrip, trials_then_lzma, .timeout = 300,
     .description = "with LZMA2 allowed the trials rank zstd packages and the kept one is made "
                    "again with LZMA2 segments, kept only when smaller; it applies exactly")
{
    upd_diff_params p = fast_params(UPD_LZMA_AUTO);
    p.trials = 3;
    int chose = 0;
    for (const char *const *k = synth_kinds(); *k; k++) {
        synth_pair sp;
        cr_assert_eq(synth_make(*k, 7, 512 << 10, &sp), 0, "synth %s", *k);
        buf_t zstd, pkg, out;
        upd_diff_stats stz, st;
        p.lzma = UPD_LZMA_NEVER;
        diff_with(&sp, &p, &zstd, &stz);
        cr_assert_eq(pkg_lzma_segments(&zstd), 0, "%s", *k);
        p.lzma = UPD_LZMA_AUTO;
        diff_with(&sp, &p, &pkg, &st);
        /* the same trials, the same ranking */
        cr_assert(st.best_trial == stz.best_trial
                  && !memcmp(st.trial_size, stz.trial_size, sizeof st.trial_size), "%s", *k);
        cr_assert_leq(pkg.n, zstd.n, "%s: LZMA2 kept although larger", *k);
        cr_assert_eq(st.lzma_segments, (uint32_t)pkg_lzma_segments(&pkg), "%s", *k);
        if (!st.lzma_segments)
            cr_assert(pkg.n == zstd.n && !memcmp(pkg.p, zstd.p, zstd.n), "%s", *k);
        chose += st.lzma_segments > 0;
        for (int in_place = 0; in_place < 2; in_place++) {
            cr_assert_eq(apply_mem(pkg.p, pkg.n, sp.old_img, sp.old_len, in_place, 0, 0, &out), 0,
                         "%s", *k);
            check_out(&out, &sp, "mem", *k, in_place);
            buf_free(&out);
        }
        buf_free(&zstd);
        buf_free(&pkg);
        synth_free(&sp);
    }
    cr_assert_gt(chose, 0, "no kind got an LZMA2 segment");
}

Test(roundtrip, every_kind_lzma, .timeout = 300,
     .description = "every kind at 256 KiB and 2 MiB with UPD_LZMA_ALWAYS and three trials: LZMA2 "
                    "segments wherever their form fits a segment's bound, in memory and files, in "
                    "place journaled and out of place, pushed whole and in 4093-byte pieces")
{
    upd_diff_params p = fast_params(UPD_LZMA_ALWAYS);
    p.trials = 3;
    int all_lzma = 0;
    for (const char *const *k = synth_kinds(); *k; k++) {
        synth_pair sp;
        cr_assert_eq(synth_make(*k, 5, 256 << 10, &sp), 0);
        buf_t pkg;
        cr_assert_eq(make_pkg(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &p, &pkg), 0);
        /* a segment whose dense diff is far longer than its records (a
         * few changes in a long DIFF) can stay zstd: its LZMA2 form may
         * exceed what the header allows a segment of its decoded size */
        int lz = pkg_lzma_segments(&pkg), df = pkg_diff_segments(&pkg);
        cr_assert_leq(lz, df, "%s", *k);
        all_lzma += df > 0 && lz == df;
        buf_free(&pkg);
        synth_free(&sp);
        roundtrip(*k, 5, 256 << 10, &p, 0);
        roundtrip(*k, 6, 2 << 20, &p, 4093);
    }
    /* 8 of the kinds at these seeds (deterministic): fewer means ALWAYS
     * kept a zstd segment whose LZMA2 form fitted */
    cr_assert_geq(all_lzma, 8, "only %d kinds got LZMA2 in every segment with DIFF ops", all_lzma);
}

Test(roundtrip, trials_zero_is_default_and_too_many_refused)
{
    synth_pair sp;
    cr_assert_eq(synth_make("insert-delete", 2, 256 << 10, &sp), 0);
    upd_diff_params p;
    upd_diff_params_default(&p);
    p.level = 1;
    buf_t def, zero, pkg = { 0 };
    upd_diff_stats st;
    diff_with(&sp, &p, &def, &st);
    p.trials = 0;
    diff_with(&sp, &p, &zero, &st);
    cr_assert_eq(st.trials, UPD_DEFAULT_TRIALS);
    cr_assert(def.n == zero.n && !memcmp(def.p, zero.p, def.n), "trials 0 is not the default");
    p.trials = UPD_MAX_TRIALS + 1;
    cr_assert_eq(upd_diff(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &p, buf_sink, &pkg, NULL),
                 UPD_E_INVAL);
    cr_assert_eq(pkg.n, 0, "nothing written");
    buf_free(&def);
    buf_free(&zero);
    synth_free(&sp);
}

/* A sink that fails on its first call. */
static int failing_sink(void *user, const void *data, size_t len)
{
    (void)data;
    (void)len;
    ++*(int *)user;
    return -12345;
}

Test(roundtrip, trials_sink_error_returned,
     .description = "the winner reaches the sink in one call; the sink's error is returned as is")
{
    synth_pair sp;
    cr_assert_eq(synth_make("exe-like", 3, 256 << 10, &sp), 0);
    upd_diff_params p;
    upd_diff_params_default(&p);
    p.level = 1;
    for (unsigned n = 1; n <= UPD_MAX_TRIALS; n++) {
        int calls = 0;
        p.trials = n;
        cr_assert_eq(upd_diff(sp.old_img, sp.old_len, sp.new_img, sp.new_len, &p, failing_sink,
                              &calls, NULL),
                     -12345, "trials %u", n);
        cr_assert_eq(calls, 1, "trials %u: %d calls", n, calls);
    }
    synth_free(&sp);
}

typedef struct {
    pthread_t caller;
    int calls, elsewhere;
} progress_seen;

static void record_progress(void *user, int phase, uint64_t done, uint64_t total)
{
    progress_seen *ps = user;
    (void)phase;
    (void)done;
    (void)total;
    ps->calls++;
    ps->elsewhere += !pthread_equal(pthread_self(), ps->caller);
}

Test(roundtrip, trials_progress_on_callers_thread, .timeout = 120,
     .description = "with every trial on three threads, progress comes from the caller's thread alone")
{
    synth_pair sp;
    cr_assert_eq(synth_make("exe-like", 9, 3u << 20, &sp), 0);
    upd_diff_params p;
    upd_diff_params_default(&p);
    p.level = 1;
    p.threads = 3;
    p.trials = UPD_MAX_TRIALS;
    progress_seen ps = { pthread_self(), 0, 0 };
    p.progress = record_progress;
    p.progress_user = &ps;
    buf_t pkg;
    upd_diff_stats st;
    diff_with(&sp, &p, &pkg, &st);
    cr_assert_gt(ps.calls, 0);
    cr_assert_eq(ps.elsewhere, 0, "%d of %d progress calls from another thread", ps.elsewhere, ps.calls);
    buf_free(&pkg);
    synth_free(&sp);
}


Test(roundtrip, trials_over_several_chunks, .timeout = 300,
     .description = "a new image of two scan chunks: the first of two trials is the one-trial package, and the kept one applies exactly")
{
    synth_pair sp;
    cr_assert_eq(synth_make("exe-like", 13, 9u << 20, &sp), 0);
    cr_assert_gt(sp.new_len, 8u << 20, "one chunk only");
    upd_diff_params p;
    upd_diff_params_default(&p);
    p.level = 1;
    p.trials = 1;
    p.lzma = UPD_LZMA_NEVER;
    buf_t one, two, out;
    upd_diff_stats st;
    diff_with(&sp, &p, &one, &st);
    p.trials = 2;
    diff_with(&sp, &p, &two, &st);
    cr_assert_eq(st.trial_size[0], one.n, "trial 1 of 2: %llu bytes, one trial: %zu",
                 (unsigned long long)st.trial_size[0], one.n);
    cr_assert(st.best_trial != 0 || (two.n == one.n && !memcmp(two.p, one.p, one.n)));
    cr_assert_eq(apply_mem(two.p, two.n, sp.old_img, sp.old_len, 1, 0, 0, &out), 0);
    check_out(&out, &sp, "mem", "exe-like", 1);
    buf_free(&out);
    buf_free(&one);
    buf_free(&two);
    synth_free(&sp);
}
